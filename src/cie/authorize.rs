//! The authorization request to a CIE provider (`authorization_endpoint.rst`): a GET whose
//! `request` parameter is a request object signed with the relying-party signing key, with
//! PKCE (S256), `state` and `nonce` of 64 alphanumeric characters (the rules want at least
//! 32), `acr_values`, `prompt=consent login` and the `claims` asked for. The query repeats
//! `client_id`, `response_type`, `scope` and the code challenge, as the rules require.

use super::jose::{self, JoseError};
use super::store::PendingRequest;
use super::{RelyingParty, secs};
use crate::config::Config;
use crate::login::Level;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

pub const SCOPE: &str = "openid profile";
pub const FISCAL_NUMBER: &str = "https://attributes.eid.gov.it/fiscal_number";
/// The claim name the first SPID/CIE OIDC rules used (still in the userinfo example).
pub const LEGACY_FISCAL_NUMBER: &str = "https://attributes.spid.gov.it/fiscal_number";

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("the provider's metadata has no {0}")]
    Metadata(&'static str),
    #[error(transparent)]
    Sign(#[from] JoseError),
    #[error("no randomness: {0}")]
    Random(String),
}

/// 32 random bytes as 64 hex digits: alphanumeric, as `state` and `nonce` must be.
fn random_alnum() -> Result<String, AuthorizeError> {
    crate::secret_file::random_bytes::<32>()
        .map(hex::encode)
        .map_err(|e| AuthorizeError::Random(e.to_string()))
}

/// The level to ask for: the configured one, or what the relying party of the login asks
/// for when that is more (a PIN level asks nothing of CIE).
pub fn requested_level(configured: Level, asked: Option<Level>) -> Level {
    match asked {
        Some(asked) if asked.rank() > configured.rank() => match asked.rank() {
            3 => Level::SpidL3,
            _ => Level::SpidL2,
        },
        _ => configured,
    }
}

/// The `claims` parameter: the fiscal number and the names, in the ID token and in userinfo.
pub fn claims_parameter() -> Value {
    let wanted = json!({
        FISCAL_NUMBER: { "essential": true },
        "given_name": { "essential": true },
        "family_name": { "essential": true },
    });
    json!({ "id_token": wanted, "userinfo": wanted })
}

/// What the browser is sent to, and the row to store.
pub struct Started {
    pub url: String,
    pub request: PendingRequest,
}

pub struct Input<'a> {
    pub provider: &'a str,
    pub metadata: &'a Map<String, Value>,
    pub level: Level,
    pub flow_id: Option<String>,
    pub browser_hash: String,
    pub now: DateTime<Utc>,
}

/// Builds and signs the authorization request.
pub fn start(
    rp: &RelyingParty,
    config: &Config,
    input: Input<'_>,
) -> Result<Started, AuthorizeError> {
    let endpoint = input
        .metadata
        .get("authorization_endpoint")
        .and_then(Value::as_str)
        .ok_or(AuthorizeError::Metadata("authorization_endpoint"))?;
    let state = random_alnum()?;
    let nonce = random_alnum()?;
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    let now = input.now;
    let issuer = input
        .metadata
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or(input.provider);
    let object = json!({
        "iss": rp.entity_id,
        "client_id": rp.entity_id,
        "aud": issuer,
        "iat": now.timestamp(),
        "exp": (now + secs(config.cie.request_ttl_secs.min(600))).timestamp(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "response_type": "code",
        "scope": SCOPE,
        "redirect_uri": rp.redirect_uri,
        "state": state,
        "nonce": nonce,
        "prompt": "consent login",
        "acr_values": input.level.uri(),
        "claims": claims_parameter(),
        "code_challenge": challenge.as_str(),
        "code_challenge_method": "S256",
    });
    let claims = match object {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let key = rp.keys.signing.signing_key(now);
    let signed = jose::sign(&claims, Some("JWT"), &key)?;
    let query = serde_urlencoded::to_string([
        ("client_id", rp.entity_id.as_str()),
        ("response_type", "code"),
        ("scope", SCOPE),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("request", signed.as_str()),
    ])
    .unwrap_or_default();
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    Ok(Started {
        url: format!("{endpoint}{sep}{query}"),
        request: PendingRequest {
            state,
            provider: input.provider.to_owned(),
            nonce,
            code_verifier: verifier.secret().clone(),
            level: input.level.uri().to_owned(),
            browser_hash: input.browser_hash,
            flow_id: input.flow_id,
            issued_at: now.naive_utc(),
            expires_at: (now + secs(config.cie.request_ttl_secs)).naive_utc(),
            consumed_at: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_asked_is_the_configured_one_unless_the_service_wants_more() {
        assert_eq!(requested_level(Level::SpidL3, None), Level::SpidL3);
        assert_eq!(
            requested_level(Level::SpidL2, Some(Level::SpidL3)),
            Level::SpidL3
        );
        assert_eq!(
            requested_level(Level::SpidL2, Some(Level::PinDispositivo)),
            Level::SpidL2
        );
        assert_eq!(
            requested_level(Level::SpidL1, Some(Level::SpidL2)),
            Level::SpidL2
        );
        assert_eq!(
            requested_level(Level::SpidL3, Some(Level::SpidL2)),
            Level::SpidL3
        );
    }
}
