//! The JWTs procura signs: ID tokens (OIDC Core §2) and access tokens (RFC 9068), ES256
//! with the `kid` of the signing key, and their verification against the published keys.

use super::keys::KeySet;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Header, Validation};
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

/// The `act` claim (RFC 8693 §4.1): who acts on behalf of the token's subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    pub fiscal_number: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("cannot sign the token: {0}")]
    Sign(jsonwebtoken::errors::Error),
    #[error("the token is not a valid JWT from this issuer: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
}

/// Signs `claims` with the key signing at `now`.
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
    jsonwebtoken::encode(&header, claims, key.encoding_key()).map_err(JwtError::Sign)
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

/// Claims sets with an expiry, checked against the injected clock.
pub trait Expiring {
    fn exp(&self) -> i64;
}

impl Expiring for IdTokenClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

impl Expiring for AccessTokenClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// Verifies signature (with a currently published key), issuer, audience, `typ` and, if
/// asked, expiry against the injected clock.
pub fn verify<T: for<'de> Deserialize<'de> + Expiring>(
    keys: &KeySet,
    token: &str,
    expect: &Expect<'_>,
) -> Result<T, JwtError> {
    let invalid = |e: &dyn std::fmt::Display| JwtError::Invalid(e.to_string());
    let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(&e))?;
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
    let mut validation = Validation::new(key.algorithm());
    validation.validate_exp = false; // checked below against the injected clock
    validation.validate_nbf = false;
    validation.set_issuer(&[expect.issuer]);
    validation.set_required_spec_claims(&["iss", "exp"]);
    match expect.audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    let claims = jsonwebtoken::decode::<T>(token, key.decoding_key(), &validation)
        .map_err(|e| invalid(&e))?
        .claims;
    if expect.check_expiry && claims.exp() <= expect.now.timestamp() {
        return Err(JwtError::Expired);
    }
    Ok(claims)
}
