//! The JWTs procura signs: ID tokens (OIDC Core §2) and access tokens (RFC 9068), ES256
//! with the `kid` of the signing key, and their verification against the published keys.

use super::keys::{KeySet, SignError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

/// `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The `fiscal_number` claim carries the codice fiscale as SPID does: `TINIT-<code>`.
pub fn fiscal_number(codice_fiscale: &str) -> String {
    format!("TINIT-{codice_fiscale}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: String,
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub fiscal_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// An active operator's roles, with scope `operator` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// RFC 9068 access token claims. For `client_credentials` tokens `sub` is the client id and
/// the person-related claims are absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_number: Option<String>,
    /// The browser session the login belongs to (ends with logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The grant (refresh-token family) the token comes from; revoking it ends the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// An active operator's roles when the token was issued, with scope `operator` only.
    /// Informative: the operator API asks the database, so a disabled operator is refused
    /// while their token still names roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// A token obtained by token exchange (RFC 8693 §4.1): the delegate acting, while `sub`
    /// and `fiscal_number` name the delegator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The delegation a token-exchange token was issued under; the token is live only while
    /// the delegation is in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation_id: Option<String>,
}

impl AccessTokenClaims {
    /// A token a client holds for itself (`client_credentials`): `sub` is the client, and no
    /// person, session, grant, roles or delegation.
    pub fn for_client(
        iss: String,
        aud: String,
        client_id: &str,
        scope: String,
        (iat, exp): (i64, i64),
        jti: String,
    ) -> Self {
        Self {
            iss,
            sub: client_id.to_owned(),
            aud,
            exp,
            iat,
            jti,
            client_id: client_id.to_owned(),
            scope,
            auth_time: None,
            acr: None,
            amr: None,
            fiscal_number: None,
            sid: None,
            gid: None,
            roles: None,
            act: None,
            delegation_id: None,
        }
    }
}

/// The `act` claim (RFC 8693 §4.1): who acts on behalf of the token's subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    pub fiscal_number: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("cannot sign the token: {0}")]
    Sign(#[from] SignError),
    #[error("the token is not a valid JWT from this issuer: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
}

/// Signs `claims` with the key signing at `now` (parsed when the keys were loaded).
pub fn sign<T: Serialize>(
    keys: &KeySet,
    now: DateTime<Utc>,
    typ: &str,
    claims: &T,
) -> Result<String, JwtError> {
    let key = keys.signing_key(now);
    let mut header = Header::new(key.algorithm());
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid.clone());
    Ok(key.sign_compact(&header, claims)?)
}

/// What a verification expects of a token.
pub struct Expect<'a> {
    pub issuer: &'a str,
    /// `None`: any audience (ID-token hints are checked against their client separately).
    pub audience: Option<&'a str>,
    pub typ: Option<&'a str>,
    /// `false` accepts expired tokens (RP-initiated logout accepts expired ID-token hints).
    pub check_expiry: bool,
    pub now: DateTime<Utc>,
    pub max_jwt_ttl: Duration,
}

/// Claims sets with the registered claims a verification checks: issuer, audience (one
/// string: procura issues no multi-audience tokens) and expiry.
pub trait Registered {
    fn iss(&self) -> &str;
    fn aud(&self) -> &str;
    fn exp(&self) -> i64;
}

impl Registered for IdTokenClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn aud(&self) -> &str {
        &self.aud
    }
    fn exp(&self) -> i64 {
        self.exp
    }
}

impl Registered for AccessTokenClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn aud(&self) -> &str {
        &self.aud
    }
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// Verifies signature (with a currently published key, parsed when the keys were loaded),
/// `alg` (ES256 only), issuer, audience, `typ` and, if asked, expiry against the injected
/// clock.
pub fn verify<T: for<'de> Deserialize<'de> + Registered>(
    keys: &KeySet,
    token: &str,
    expect: &Expect<'_>,
) -> Result<T, JwtError> {
    verify_with_kid(keys, token, expect).map(|(claims, _)| claims)
}

/// [`verify`], also answering the `kid` of the key that verified the token (what a cache of
/// verified tokens must check again before answering from memory).
pub fn verify_with_kid<T: for<'de> Deserialize<'de> + Registered>(
    keys: &KeySet,
    token: &str,
    expect: &Expect<'_>,
) -> Result<(T, String), JwtError> {
    let invalid = |e: &dyn std::fmt::Display| JwtError::Invalid(e.to_string());
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(&"not a compact JWS (three parts)"));
    };
    let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(&e))?;
    if header.alg != Algorithm::ES256 {
        return Err(invalid(&"alg is not ES256"));
    }
    if let Some(typ) = expect.typ {
        let matches = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(typ) || t.eq_ignore_ascii_case(&format!("application/{typ}"))
        });
        if !matches {
            return Err(JwtError::Invalid(format!("typ is not {typ}")));
        }
    }
    let kid = header.kid.ok_or_else(|| invalid(&"no kid"))?;
    let key = keys
        .verifying_key(&kid, expect.now, expect.max_jwt_ttl)
        .ok_or_else(|| invalid(&"unknown kid"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|e| invalid(&e))?;
    let message = &token[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verifies(message.as_bytes(), &signature) {
        return Err(invalid(&"InvalidSignature"));
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|e| invalid(&e))?;
    let claims: T = serde_json::from_slice(&payload).map_err(|e| invalid(&e))?;
    if claims.iss() != expect.issuer {
        return Err(invalid(&"InvalidIssuer"));
    }
    if expect.audience.is_some_and(|aud| claims.aud() != aud) {
        return Err(invalid(&"InvalidAudience"));
    }
    if expect.check_expiry && claims.exp() <= expect.now.timestamp() {
        return Err(JwtError::Expired);
    }
    Ok((claims, kid))
}

/// A fixed issuer, audience, clock and client token for the tests of this module and of
/// [`super::jwt_cache`].
#[cfg(test)]
pub(crate) mod fixtures {
    use super::AccessTokenClaims;
    use chrono::{DateTime, Utc};

    pub const ISS: &str = "https://procura.example";
    pub const AUD: &str = "https://servizi.example";

    pub fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    /// A `client_credentials` token of `client-a`, issued now, expiring `exp_in` s later.
    pub fn client_claims(jti: &str, exp_in: i64) -> AccessTokenClaims {
        let iat = now().timestamp();
        AccessTokenClaims::for_client(
            ISS.into(),
            AUD.into(),
            "client-a",
            "access".into(),
            (iat, iat + exp_in),
            jti.into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{AUD, ISS, client_claims, now};
    use super::*;
    use crate::oauth::keys::{self, SigningKey};
    use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
    use std::sync::Arc;

    fn claims(exp_in: i64) -> AccessTokenClaims {
        client_claims("j1", exp_in)
    }

    fn expect<'a>(issuer: &'a str, audience: &'a str) -> Expect<'a> {
        Expect {
            issuer,
            audience: Some(audience),
            typ: Some(ACCESS_TOKEN_TYP),
            check_expiry: true,
            now: now(),
            max_jwt_ttl: Duration::hours(1),
        }
    }

    fn key_set() -> (tempfile::TempDir, KeySet, Arc<SigningKey>) {
        let dir = tempfile::tempdir().unwrap();
        keys::generate(dir.path()).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        let key = set.signing_key(now());
        (dir, set, key)
    }

    #[test]
    fn signed_tokens_verify_here_and_with_the_published_jwk() {
        let (_dir, set, key) = key_set();
        let token = sign(&set, now(), ACCESS_TOKEN_TYP, &claims(600)).unwrap();
        let got: AccessTokenClaims = verify(&set, &token, &expect(ISS, AUD)).unwrap();
        assert_eq!(got, claims(600));

        // An independent verifier (jsonwebtoken, from the JWKS entry) accepts it too.
        let jwk = &set.jwks(now(), Duration::hours(1)).keys[0];
        let decoding = DecodingKey::from_ec_components(&jwk.x, &jwk.y).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.set_audience(&[AUD]);
        let data =
            jsonwebtoken::decode::<AccessTokenClaims>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims, claims(600));
        assert_eq!(data.header.kid.as_deref(), Some(key.kid.as_str()));
        assert_eq!(data.header.typ.as_deref(), Some(ACCESS_TOKEN_TYP));

        // And tokens signed by jsonwebtoken with the same key verify here.
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(key.kid.clone());
        let other = jsonwebtoken::encode(&header, &claims(600), key.encoding_key()).unwrap();
        let got: AccessTokenClaims = verify(&set, &other, &expect(ISS, AUD)).unwrap();
        assert_eq!(got, claims(600));
    }

    #[test]
    fn wrong_issuer_audience_expiry_typ_and_tampering_are_refused() {
        let (_dir, set, _key) = key_set();
        let token = sign(&set, now(), ACCESS_TOKEN_TYP, &claims(600)).unwrap();
        let refused = |token: &str, expect: &Expect<'_>| {
            verify::<AccessTokenClaims>(&set, token, expect).unwrap_err()
        };
        assert!(matches!(
            refused(&token, &expect("https://altro.example", AUD)),
            JwtError::Invalid(_)
        ));
        assert!(matches!(
            refused(&token, &expect(ISS, "https://altro.example")),
            JwtError::Invalid(_)
        ));
        let mut id_token = expect(ISS, AUD);
        id_token.typ = Some("JWT");
        assert!(matches!(refused(&token, &id_token), JwtError::Invalid(_)));

        let expired = sign(&set, now(), ACCESS_TOKEN_TYP, &claims(0)).unwrap();
        assert!(matches!(
            refused(&expired, &expect(ISS, AUD)),
            JwtError::Expired
        ));
        let mut lax = expect(ISS, AUD);
        lax.check_expiry = false;
        assert!(verify::<AccessTokenClaims>(&set, &expired, &lax).is_ok());

        // Another payload under the same signature.
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims(600);
        forged.scope = "operator".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert!(matches!(
            refused(&tampered, &expect(ISS, AUD)),
            JwtError::Invalid(_)
        ));
        // A fourth part, a missing signature, a signature that is not base64url.
        for bad in [
            format!("{token}.x"),
            format!("{}.{}.", parts[0], parts[1]),
            format!("{}.{}.***", parts[0], parts[1]),
            format!("{}.{}", parts[0], parts[1]),
        ] {
            assert!(
                matches!(refused(&bad, &expect(ISS, AUD)), JwtError::Invalid(_)),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_algorithms_and_unknown_keys_are_refused() {
        let (_dir, set, key) = key_set();
        // HS256 keyed with the public key's bytes: the classic algorithm confusion.
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(key.kid.clone());
        let hmac = EncodingKey::from_secret(key.jwk.x.as_bytes());
        let token = jsonwebtoken::encode(&header, &claims(600), &hmac).unwrap();
        let err = verify::<AccessTokenClaims>(&set, &token, &expect(ISS, AUD)).unwrap_err();
        assert!(err.to_string().contains("ES256"), "{err}");

        // A well-formed ES256 token from a key that is not ours.
        let (_other_dir, other, _) = key_set();
        let foreign = sign(&other, now(), ACCESS_TOKEN_TYP, &claims(600)).unwrap();
        let err = verify::<AccessTokenClaims>(&set, &foreign, &expect(ISS, AUD)).unwrap_err();
        assert!(err.to_string().contains("unknown kid"), "{err}");
        // The same, relabelled with our kid: the signature does not verify.
        let parts: Vec<&str> = foreign.split('.').collect();
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(key.kid.clone());
        let relabelled = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            parts[1],
            parts[2]
        );
        let err = verify::<AccessTokenClaims>(&set, &relabelled, &expect(ISS, AUD)).unwrap_err();
        assert!(err.to_string().contains("InvalidSignature"), "{err}");
    }
}
