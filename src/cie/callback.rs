//! The way back from a CIE provider (`token_endpoint.rst`, `userinfo_endpoint.rst`):
//!
//! 1. the code is redeemed at the token endpoint with `private_key_jwt` (a client assertion
//!    signed with the relying-party signing key) and the PKCE verifier;
//! 2. the ID token is decrypted when it is a JWE, then verified with the `openidconnect`
//!    crate against the provider's keys from the trust chain: signature (RS256, RS512 or
//!    ES256 only), `iss`, `aud`, `exp`, `nonce`, `at_hash`; its `acr` must reach the level
//!    asked for;
//! 3. userinfo is fetched with the access token, decrypted (JWE) and its signature verified
//!    with the same keys; its `sub` must be the ID token's, its `iss`/`aud` (when present)
//!    the provider and procura;
//! 4. the fiscal number (`https://attributes.eid.gov.it/fiscal_number`, or the older
//!    `https://attributes.spid.gov.it/fiscal_number`) and the names are read.
//!
//! Blocking (HTTP, RSA): run on the blocking pool.

use super::authorize::{FISCAL_NUMBER, LEGACY_FISCAL_NUMBER};
use super::fetch::{self, FetchError, Limits};
use super::jose::{self, DecryptionKeys, JoseError};
use super::{RelyingParty, secs};
use crate::login::Level;
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreIdToken, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{AccessToken, AccessTokenHash, ClientId, IdTokenVerifier, IssuerUrl, Nonce};
use serde_json::{Map, Value, json};

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("the provider's metadata has no {0}")]
    Metadata(&'static str),
    #[error("token endpoint: {0}")]
    Token(FetchError),
    #[error("token response: {0}")]
    TokenResponse(String),
    #[error("ID token: {0}")]
    IdToken(String),
    #[error("ID token acr {got:?} is below the level asked for ({wanted})")]
    Level { got: Option<String>, wanted: String },
    #[error("userinfo endpoint: {0}")]
    Userinfo(FetchError),
    #[error("userinfo response: {0}")]
    UserinfoResponse(String),
    #[error("no fiscal number in the ID token or userinfo")]
    NoFiscalNumber,
    #[error(transparent)]
    Jose(#[from] JoseError),
}

impl CallbackError {
    /// A short stable reason for logs and the audit.
    pub fn reason(&self) -> &'static str {
        match self {
            CallbackError::Metadata(_) => "provider_metadata",
            CallbackError::Token(_) | CallbackError::TokenResponse(_) => "token_request",
            CallbackError::IdToken(_) => "id_token_invalid",
            CallbackError::Level { .. } => "level_too_low",
            CallbackError::Userinfo(_) | CallbackError::UserinfoResponse(_) => "userinfo",
            CallbackError::NoFiscalNumber => "no_fiscal_number",
            CallbackError::Jose(_) => "jose",
        }
    }
}

/// What a provider said about the person, checked.
#[derive(Clone)]
pub struct CieLogin {
    /// The fiscal number as sent (`TINIT-<codice fiscale>`).
    pub fiscal_number: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub level: Level,
    pub subject: String,
    /// The provider's access token (revoked at logout) and when it expires.
    pub access_token: String,
    pub access_token_expires: DateTime<Utc>,
}

impl std::fmt::Debug for CieLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CieLogin")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// A `private_key_jwt` client assertion for `audience` (the endpoint called).
pub fn client_assertion(
    rp: &RelyingParty,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<String, JoseError> {
    let claims = json!({
        "iss": rp.entity_id,
        "sub": rp.entity_id,
        "aud": audience,
        "iat": now.timestamp(),
        "exp": (now + Duration::minutes(5)).timestamp(),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let key = rp.keys.signing.signing_key(now);
    match claims {
        Value::Object(m) => jose::sign(&m, Some("JWT"), &key),
        _ => Err(JoseError::Sign("claims".into())),
    }
}

/// The inputs of the callback.
pub struct Redeem<'a> {
    pub provider: &'a str,
    pub metadata: &'a Map<String, Value>,
    pub code: &'a str,
    pub code_verifier: &'a str,
    pub nonce: &'a str,
    pub level: Level,
    pub now: DateTime<Utc>,
    pub skew: Duration,
    pub limits: Limits,
}

fn endpoint<'m>(
    metadata: &'m Map<String, Value>,
    name: &'static str,
) -> Result<&'m str, CallbackError> {
    metadata
        .get(name)
        .and_then(Value::as_str)
        .ok_or(CallbackError::Metadata(name))
}

/// The provider's `iss` (metadata `issuer`, else its entity id).
pub fn issuer<'m>(provider: &'m str, metadata: &'m Map<String, Value>) -> &'m str {
    metadata
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or(provider)
}

/// A compact JWE is decrypted with procura's keys (its plaintext is the inner JWS); a JWS is
/// returned as is.
fn decrypted(rp: &RelyingParty, token: &str, now: DateTime<Utc>) -> Result<String, JoseError> {
    if !jose::is_jwe(token) {
        return Ok(token.to_owned());
    }
    let keep = Duration::days(3650); // every published key may still decrypt
    let rsa = rp.keys.encryption.published(now, keep);
    let ec = rp.keys.encryption_ec.published(now, keep);
    let plain = jose::decrypt(token, &DecryptionKeys { rsa: &rsa, ec: &ec })?;
    String::from_utf8(plain)
        .map(|s| s.trim().to_owned())
        .map_err(|_| JoseError::Malformed("the decrypted content is not text"))
}

/// Redeems the code and reads the person: steps 1–4 of the module documentation.
pub fn redeem(rp: &RelyingParty, input: &Redeem<'_>) -> Result<CieLogin, CallbackError> {
    let token_endpoint = endpoint(input.metadata, "token_endpoint")?;
    let userinfo_endpoint = endpoint(input.metadata, "userinfo_endpoint")?;
    let jwks = input
        .metadata
        .get("jwks")
        .ok_or(CallbackError::Metadata("jwks"))?;
    let provider_keys = jose::signature_keys(jwks);
    let issuer = issuer(input.provider, input.metadata);

    // 1. The token request.
    let assertion = client_assertion(rp, token_endpoint, input.now)?;
    let response = fetch::post_form(
        token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", input.code),
            ("redirect_uri", rp.redirect_uri.as_str()),
            ("client_id", rp.entity_id.as_str()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
            ("code_verifier", input.code_verifier),
        ],
        input.limits,
    )
    .map_err(CallbackError::Token)?;
    let tokens: Map<String, Value> = match serde_json::from_str(&response.body) {
        Ok(Value::Object(m)) => m,
        _ => return Err(CallbackError::TokenResponse("not a JSON object".into())),
    };
    let text = |name: &'static str| {
        tokens
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| CallbackError::TokenResponse(format!("no {name}")))
    };
    let access_token = text("access_token")?.to_owned();
    let id_token = text("id_token")?;
    if !text("token_type")?.eq_ignore_ascii_case("bearer") {
        return Err(CallbackError::TokenResponse(
            "token_type is not Bearer".into(),
        ));
    }
    let expires_in = tokens
        .get("expires_in")
        .and_then(Value::as_i64)
        .unwrap_or(600);

    // 2. The ID token.
    let id_jws = decrypted(rp, id_token, input.now)?;
    let id_claims = verify_id_token(&id_jws, &provider_keys, issuer, rp, input, &access_token)?;
    let acr = id_claims
        .get("acr")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let level = acr.as_deref().and_then(Level::parse);
    let Some(level) = level.filter(|l| l.satisfies(input.level)) else {
        return Err(CallbackError::Level {
            got: acr,
            wanted: input.level.uri().to_owned(),
        });
    };
    let subject = id_claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    // 3. Userinfo.
    let answer = fetch::get(userinfo_endpoint, Some(&access_token), input.limits)
        .map_err(CallbackError::Userinfo)?;
    let userinfo = read_userinfo(rp, &answer.body, &provider_keys, input.now)?;
    if userinfo.get("sub").and_then(Value::as_str) != Some(subject.as_str()) {
        return Err(CallbackError::UserinfoResponse(
            "sub is not the ID token's".into(),
        ));
    }
    if let Some(iss) = userinfo.get("iss")
        && iss.as_str() != Some(issuer)
    {
        return Err(CallbackError::UserinfoResponse(
            "iss is not the provider".into(),
        ));
    }
    if let Some(aud) = userinfo.get("aud") {
        let ours = match aud {
            Value::String(a) => a == &rp.entity_id,
            Value::Array(a) => a.iter().any(|v| v.as_str() == Some(rp.entity_id.as_str())),
            _ => false,
        };
        if !ours {
            return Err(CallbackError::UserinfoResponse("aud is not procura".into()));
        }
    }

    // 4. The person: userinfo first, the ID token (CIE puts the claims in both) otherwise.
    let claim = |name: &str| {
        [&userinfo, &id_claims]
            .into_iter()
            .find_map(|c| c.get(name).and_then(Value::as_str))
            .map(str::to_owned)
    };
    let fiscal_number = claim(FISCAL_NUMBER)
        .or_else(|| claim(LEGACY_FISCAL_NUMBER))
        .ok_or(CallbackError::NoFiscalNumber)?;
    Ok(CieLogin {
        fiscal_number,
        given_name: claim("given_name"),
        family_name: claim("family_name"),
        level,
        subject,
        access_token,
        access_token_expires: input.now
            + secs(u64::try_from(expires_in.clamp(1, 86_400)).unwrap_or(600)),
    })
}

/// Verifies the ID token with `openidconnect`; returns its (verified) payload.
fn verify_id_token(
    jws: &str,
    keys: &[josekit::jwk::Jwk],
    issuer: &str,
    rp: &RelyingParty,
    input: &Redeem<'_>,
    access_token: &str,
) -> Result<Map<String, Value>, CallbackError> {
    let bad = |e: &dyn std::fmt::Display| CallbackError::IdToken(e.to_string());
    let key_set: CoreJsonWebKeySet =
        serde_json::from_value(jose::jwks_value(keys)).map_err(|e| bad(&e))?;
    let token: CoreIdToken =
        serde_json::from_value(Value::String(jws.to_owned())).map_err(|e| bad(&e))?;
    let issuer_url = IssuerUrl::new(issuer.to_owned()).map_err(|e| bad(&e))?;
    // exp is checked against the injected clock, with the configured skew.
    let lenient_now = input.now - input.skew;
    let verifier = IdTokenVerifier::new_public_client(
        ClientId::new(rp.entity_id.clone()),
        issuer_url,
        key_set,
    )
    .set_allowed_algs([
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    ])
    .set_time_fn(move || lenient_now);
    let now = input.now;
    let skew = input.skew;
    let verifier = verifier.set_issue_time_verifier_fn(move |iat| {
        if iat > now + skew {
            Err("issued in the future".into())
        } else {
            Ok(())
        }
    });
    let claims = token
        .claims(&verifier, &Nonce::new(input.nonce.to_owned()))
        .map_err(|e| bad(&e))?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = token.signing_alg().map_err(|e| bad(&e))?;
        let key = token.signing_key(&verifier).map_err(|e| bad(&e))?;
        let actual =
            AccessTokenHash::from_token(&AccessToken::new(access_token.to_owned()), alg, key)
                .map_err(|e| bad(&e))?;
        if actual != *expected {
            return Err(CallbackError::IdToken(
                "at_hash does not match the access token".into(),
            ));
        }
    }
    // The signature and claims are verified: the payload can be read for the rest.
    Ok(jose::peek_payload(jws)?)
}

/// Userinfo as CIE answers it (`application/jwt`: JWE of a JWS, or a JWS), verified.
fn read_userinfo(
    rp: &RelyingParty,
    body: &str,
    keys: &[josekit::jwk::Jwk],
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, CallbackError> {
    let token = body.trim();
    if token.starts_with('{') {
        // Plain JSON userinfo carries no signature: refused (CIE signs and encrypts it).
        return Err(CallbackError::UserinfoResponse("unsigned JSON".into()));
    }
    let jws = decrypted(rp, token, now)?;
    Ok(jose::verify(&jws, keys)?.payload)
}

/// Revokes `access_token` at the provider (at logout); `Ok(false)` when the provider has no
/// revocation endpoint.
pub fn revoke(
    rp: &RelyingParty,
    metadata: &Map<String, Value>,
    access_token: &str,
    now: DateTime<Utc>,
    limits: Limits,
) -> Result<bool, CallbackError> {
    let Some(endpoint) = metadata.get("revocation_endpoint").and_then(Value::as_str) else {
        return Ok(false);
    };
    let assertion = client_assertion(rp, endpoint, now)?;
    fetch::post_form(
        endpoint,
        &[
            ("token", access_token),
            ("token_type_hint", "access_token"),
            ("client_id", rp.entity_id.as_str()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ],
        limits,
    )
    .map_err(CallbackError::Token)?;
    Ok(true)
}
