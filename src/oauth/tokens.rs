//! Minting the tokens of a token response from a grant, or for a client on its own.

use super::grant::Grant;
use super::jwt::{self, ACCESS_TOKEN_TYP, AccessTokenClaims, IdTokenClaims, JwtError};
use super::keys::KeySet;
use super::scope::ScopeSet;
use crate::config::OauthConfig;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: the type of the token a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

pub struct Minter<'a> {
    pub config: &'a OauthConfig,
    pub keys: &'a KeySet,
    pub now: DateTime<Utc>,
}

/// The `amr` claim of a grant's login method (unknown names are passed through).
fn amr(method: &str) -> Vec<String> {
    crate::login::Method::parse(method).map_or_else(|| vec![method.to_owned()], |m| m.amr())
}

impl Minter<'_> {
    fn jti() -> Result<String, JwtError> {
        super::token_hash::new_id().map_err(|e| JwtError::Invalid(e.to_string()))
    }

    /// Access token (and ID token when `openid` was granted) for a person's grant. `roles`
    /// are the person's operator roles, looked up now by the caller (`None`: no claim).
    pub fn for_grant(
        &self,
        grant: &Grant,
        scope: &ScopeSet,
        refresh_token: Option<String>,
        with_nonce: bool,
        roles: Option<Vec<String>>,
    ) -> Result<TokenResponse, JwtError> {
        let iat = self.now.timestamp();
        let auth_time = grant.auth_time.and_utc().timestamp();
        let access = AccessTokenClaims {
            iss: self.config.issuer.clone(),
            sub: grant.sub.clone(),
            aud: self.config.access_token_audience.clone(),
            exp: iat + secs(self.config.access_token_ttl_secs),
            iat,
            jti: Self::jti()?,
            client_id: grant.client_id.clone(),
            scope: scope.to_string(),
            auth_time: Some(auth_time),
            acr: Some(grant.acr.clone()),
            amr: Some(amr(&grant.method)),
            fiscal_number: Some(jwt::fiscal_number(&grant.codice_fiscale)),
            sid: grant.session_id.clone(),
            gid: Some(grant.id.clone()),
            roles: roles.clone(),
            act: None,
            delegation_id: None,
        };
        let id_token = if scope.contains("openid") {
            let profile = scope.contains("profile");
            let claims = IdTokenClaims {
                iss: self.config.issuer.clone(),
                sub: grant.sub.clone(),
                aud: grant.client_id.clone(),
                azp: grant.client_id.clone(),
                exp: iat + secs(self.config.id_token_ttl_secs),
                iat,
                auth_time,
                nonce: grant.nonce.clone().filter(|_| with_nonce),
                acr: grant.acr.clone(),
                amr: amr(&grant.method),
                sid: grant.session_id.clone(),
                fiscal_number: jwt::fiscal_number(&grant.codice_fiscale),
                given_name: grant.given_name.clone().filter(|_| profile),
                family_name: grant.family_name.clone().filter(|_| profile),
                roles,
            };
            Some(jwt::sign(self.keys, self.now, "JWT", &claims)?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token: jwt::sign(self.keys, self.now, ACCESS_TOKEN_TYP, &access)?,
            token_type: "Bearer",
            expires_in: self.config.access_token_ttl_secs,
            scope: scope.to_string(),
            refresh_token,
            id_token,
            issued_token_type: None,
        })
    }

    /// RFC 9068 §2.2: for the client credentials grant, `sub` is the client itself.
    pub fn for_client(&self, client_id: &str, scope: &ScopeSet) -> Result<TokenResponse, JwtError> {
        let iat = self.now.timestamp();
        let access = AccessTokenClaims::for_client(
            self.config.issuer.clone(),
            self.config.access_token_audience.clone(),
            client_id,
            scope.to_string(),
            (iat, iat + secs(self.config.access_token_ttl_secs)),
            Self::jti()?,
        );
        Ok(TokenResponse {
            access_token: jwt::sign(self.keys, self.now, ACCESS_TOKEN_TYP, &access)?,
            token_type: "Bearer",
            expires_in: self.config.access_token_ttl_secs,
            scope: scope.to_string(),
            refresh_token: None,
            id_token: None,
            issued_token_type: None,
        })
    }

    /// RFC 8693: signs the claims built by [`super::exchange::exchange`]; no refresh token,
    /// no ID token (the delegate logs in as themselves, not as the delegator).
    pub fn for_exchange(&self, claims: &AccessTokenClaims) -> Result<TokenResponse, JwtError> {
        let expires_in = u64::try_from(claims.exp - self.now.timestamp()).unwrap_or(0);
        Ok(TokenResponse {
            access_token: jwt::sign(self.keys, self.now, ACCESS_TOKEN_TYP, claims)?,
            token_type: "Bearer",
            expires_in,
            scope: claims.scope.clone(),
            refresh_token: None,
            id_token: None,
            issued_token_type: Some(super::exchange::ACCESS_TOKEN_TYPE),
        })
    }
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / 2)
}
