//! Grants: one per login of a person at a client. Authorization codes and refresh tokens
//! belong to a grant; access tokens name it (`gid`). Revoking the grant ends them all —
//! what happens when a code is replayed, a rotated refresh token is reused, the browser
//! session ends, or the client revokes a refresh token.

use super::scope::ScopeSet;
use super::session::{BrowserSession, PendingAuthorization};
use super::token_hash;
use crate::db::schema::{authorization_codes, oauth_grants, refresh_tokens, revoked_access_tokens};
use crate::db::{DbConn, DbError};
use crate::login::{Level, Method};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_grants)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub session_id: Option<String>,
    pub codice_fiscale: String,
    pub sub: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub scope: String,
    pub method: String,
    pub acr: String,
    pub auth_time: NaiveDateTime,
    pub nonce: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

impl Grant {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now.naive_utc()
    }

    pub fn level(&self) -> Option<Level> {
        Level::parse(&self.acr)
    }

    pub fn method(&self) -> Option<Method> {
        Method::parse(&self.method)
    }
}

/// How long codes and grants (refresh-token families) live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub code: Duration,
    pub grant: Duration,
}

/// Creates the grant for a login through `session` and its authorization code; returns the
/// code (shown once, to the client through the browser).
pub fn issue_code(
    conn: &mut DbConn,
    session: &BrowserSession,
    request: &PendingAuthorization,
    scope: &str,
    sub: &str,
    now: DateTime<Utc>,
    lifetimes: Lifetimes,
) -> Result<String, DbError> {
    let (code_ttl, grant_ttl) = (lifetimes.code, lifetimes.grant);
    let grant_id = token_hash::new_id()?;
    let code = token_hash::new_token()?;
    diesel::insert_into(oauth_grants::table)
        .values((
            oauth_grants::id.eq(&grant_id),
            oauth_grants::client_id.eq(&request.client_id),
            oauth_grants::session_id.eq(&session.id),
            oauth_grants::codice_fiscale.eq(&session.codice_fiscale),
            oauth_grants::sub.eq(sub),
            oauth_grants::given_name.eq(&session.given_name),
            oauth_grants::family_name.eq(&session.family_name),
            oauth_grants::scope.eq(scope),
            oauth_grants::method.eq(&session.method),
            oauth_grants::acr.eq(&session.acr),
            oauth_grants::auth_time.eq(session.auth_time),
            oauth_grants::nonce.eq(&request.nonce),
            oauth_grants::created_at.eq(now.naive_utc()),
            oauth_grants::expires_at.eq((now + grant_ttl).naive_utc()),
        ))
        .execute(conn)?;
    diesel::insert_into(authorization_codes::table)
        .values((
            authorization_codes::code_hash.eq(token_hash::hash(&code)),
            authorization_codes::grant_id.eq(&grant_id),
            authorization_codes::redirect_uri.eq(&request.redirect_uri),
            authorization_codes::code_challenge.eq(&request.code_challenge),
            authorization_codes::expires_at.eq((now + code_ttl).naive_utc()),
        ))
        .execute(conn)?;
    Ok(code)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = authorization_codes)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub grant_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

/// Why a code or refresh token was refused (all `invalid_grant` to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Expired,
    WrongClient,
    WrongRedirectUri,
    PkceMismatch,
    /// Used before: the grant it produced has now been revoked.
    Replayed,
    Revoked,
    /// A refresh asked for more than the grant holds (`invalid_scope`); nothing was spent.
    WiderScope,
}

impl Refusal {
    pub fn description(self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown or malformed grant",
            Refusal::Expired => "the grant has expired",
            Refusal::WrongClient => "the grant was issued to another client",
            Refusal::WrongRedirectUri => "redirect_uri does not match the authorization request",
            Refusal::PkceMismatch => "code_verifier does not match the code_challenge",
            Refusal::Replayed => "the grant was already used; everything it produced is revoked",
            Refusal::Revoked => "the grant has been revoked",
            Refusal::WiderScope => "a refresh may only narrow the scope originally granted",
        }
    }
}

/// What redeeming a code or a refresh token yields.
#[derive(Debug)]
pub struct Redeemed {
    pub grant: Grant,
    /// The new refresh token, when the client may refresh.
    pub refresh_token: Option<String>,
}

/// Redeems an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6), in one transaction: single
/// use, bound to client, redirect URI and PKCE challenge. A second use revokes the grant.
pub fn redeem_code(
    conn: &mut DbConn,
    code: &str,
    client_id: &str,
    redirect_uri: &str,
    code_verifier: &str,
    issue_refresh_token: bool,
    now: DateTime<Utc>,
) -> Result<Result<Redeemed, Refusal>, DbError> {
    conn.write_transaction(|c| {
        let Some(row) = authorization_codes::table
            .find(token_hash::hash(code))
            .select(AuthorizationCode::as_select())
            .first(c)
            .optional()?
        else {
            return Ok(Err(Refusal::Unknown));
        };
        let grant = find_grant(c, &row.grant_id)?.ok_or(diesel::result::Error::NotFound)?;
        if grant.client_id != client_id {
            return Ok(Err(Refusal::WrongClient));
        }
        if row.used_at.is_some() {
            revoke_grant(c, &grant.id, now)?;
            return Ok(Err(Refusal::Replayed));
        }
        if row.expires_at <= now.naive_utc() {
            return Ok(Err(Refusal::Expired));
        }
        if row.redirect_uri != redirect_uri {
            return Ok(Err(Refusal::WrongRedirectUri));
        }
        if !pkce_s256_matches(code_verifier, &row.code_challenge) {
            return Ok(Err(Refusal::PkceMismatch));
        }
        if !grant.is_live(now) {
            return Ok(Err(Refusal::Revoked));
        }
        let marked = diesel::update(
            authorization_codes::table
                .find(&row.code_hash)
                .filter(authorization_codes::used_at.is_null()),
        )
        .set(authorization_codes::used_at.eq(now.naive_utc()))
        .execute(c)?;
        if marked != 1 {
            revoke_grant(c, &grant.id, now)?;
            return Ok(Err(Refusal::Replayed));
        }
        let refresh_token = if issue_refresh_token {
            Some(insert_refresh_token(c, &grant.id, now)?)
        } else {
            None
        };
        Ok(Ok(Redeemed {
            grant,
            refresh_token,
        }))
    })
}

/// Rotates a refresh token (RFC 9700 §4.14.2): the presented one is spent and a new one
/// returned; presenting a spent one revokes the whole family.
pub fn rotate_refresh_token(
    conn: &mut DbConn,
    token: &str,
    client_id: &str,
    narrowed_scope: Option<&ScopeSet>,
    now: DateTime<Utc>,
) -> Result<Result<Redeemed, Refusal>, DbError> {
    conn.write_transaction(|c| {
        let Some((token_hash, grant_id, rotated_at)) = refresh_tokens::table
            .find(token_hash::hash(token))
            .select((
                refresh_tokens::token_hash,
                refresh_tokens::grant_id,
                refresh_tokens::rotated_at,
            ))
            .first::<(String, String, Option<NaiveDateTime>)>(c)
            .optional()?
        else {
            return Ok(Err(Refusal::Unknown));
        };
        let grant = find_grant(c, &grant_id)?.ok_or(diesel::result::Error::NotFound)?;
        if grant.client_id != client_id {
            return Ok(Err(Refusal::WrongClient));
        }
        if rotated_at.is_some() {
            revoke_grant(c, &grant.id, now)?;
            return Ok(Err(Refusal::Replayed));
        }
        if grant.revoked_at.is_some() {
            return Ok(Err(Refusal::Revoked));
        }
        if grant.expires_at <= now.naive_utc() {
            return Ok(Err(Refusal::Expired));
        }
        if narrowed_scope.is_some_and(|s| !s.is_subset(&ScopeSet::parse(&grant.scope))) {
            return Ok(Err(Refusal::WiderScope));
        }
        let spent = diesel::update(
            refresh_tokens::table
                .find(&token_hash)
                .filter(refresh_tokens::rotated_at.is_null()),
        )
        .set(refresh_tokens::rotated_at.eq(now.naive_utc()))
        .execute(c)?;
        if spent != 1 {
            revoke_grant(c, &grant.id, now)?;
            return Ok(Err(Refusal::Replayed));
        }
        let refresh_token = Some(insert_refresh_token(c, &grant.id, now)?);
        Ok(Ok(Redeemed {
            grant,
            refresh_token,
        }))
    })
}

/// The grant a live refresh token of `client_id` belongs to (introspection, revocation).
pub fn grant_of_refresh_token(
    conn: &mut DbConn,
    token: &str,
) -> Result<Option<(Grant, bool)>, DbError> {
    // One statement: the token's row joined to its grant.
    Ok(refresh_tokens::table
        .inner_join(oauth_grants::table)
        .filter(refresh_tokens::token_hash.eq(token_hash::hash(token)))
        .select((Grant::as_select(), refresh_tokens::rotated_at))
        .first::<(Grant, Option<NaiveDateTime>)>(conn)
        .optional()?
        .map(|(g, rotated_at)| (g, rotated_at.is_none())))
}

fn insert_refresh_token(
    conn: &mut DbConn,
    grant_id: &str,
    now: DateTime<Utc>,
) -> Result<String, DbError> {
    let token = token_hash::new_token()?;
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(token_hash::hash(&token)),
            refresh_tokens::grant_id.eq(grant_id),
            refresh_tokens::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(token)
}

pub fn find_grant(conn: &mut DbConn, id: &str) -> Result<Option<Grant>, DbError> {
    Ok(oauth_grants::table
        .find(id)
        .select(Grant::as_select())
        .first(conn)
        .optional()?)
}

pub fn revoke_grant(conn: &mut DbConn, id: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(
        oauth_grants::table
            .find(id)
            .filter(oauth_grants::revoked_at.is_null()),
    )
    .set(oauth_grants::revoked_at.eq(now.naive_utc()))
    .execute(conn)?;
    Ok(())
}

/// Revokes one access token (RFC 7009) until it would have expired anyway.
pub fn revoke_access_token(
    conn: &mut DbConn,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    // A second revocation of the same token is fine: the row is already there.
    let inserted = conn.transaction(|c| {
        diesel::insert_into(revoked_access_tokens::table)
            .values((
                revoked_access_tokens::jti.eq(jti),
                revoked_access_tokens::expires_at.eq(expires_at.naive_utc()),
            ))
            .execute(c)
    });
    match inserted {
        Ok(_)
        | Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// RFC 7636 S256: BASE64URL(SHA256(verifier)) == challenge; the verifier must be 43–128
/// unreserved characters.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    let computed =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
    token_hash::eq(computed.as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(!pkce_s256_matches("short", challenge));
    }
}
