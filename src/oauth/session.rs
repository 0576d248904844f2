//! Browser state kept server-side (design §5: any instance can serve any request):
//! - login flows: an authorization request waiting for the person to log in, bound to the
//!   browser that started it and protected by a CSRF token;
//! - browser sessions: single sign-on after a login, until logout or the maximum age.
//!
//! Cookies carry only random tokens; the database keeps their SHA-256.

use super::token_hash;
use crate::db::schema::{browser_sessions, login_flows, oauth_grants};
use crate::db::{DbConn, DbError};
use crate::login::{Level, LoginOutcome, Method};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

/// An authorization request, validated, waiting for a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub acr_min: Option<Level>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = login_flows)]
pub struct LoginFlow {
    pub id: String,
    pub browser_hash: String,
    pub csrf_token: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub acr_min: Option<String>,
    pub pending_codice_fiscale: Option<String>,
    pub pending_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

impl LoginFlow {
    pub fn request(&self) -> PendingAuthorization {
        PendingAuthorization {
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            scope: self.scope.clone(),
            state: self.state.clone(),
            nonce: self.nonce.clone(),
            code_challenge: self.code_challenge.clone(),
            acr_min: self.acr_min.as_deref().and_then(Level::parse),
        }
    }

    pub fn acr_min(&self) -> Option<Level> {
        self.acr_min.as_deref().and_then(Level::parse)
    }

    /// Whether `browser_token` (the browser cookie) is the one that started the flow.
    pub fn belongs_to(&self, browser_token: Option<&str>) -> bool {
        browser_token.is_some_and(|t| {
            token_hash::eq(token_hash::hash(t).as_bytes(), self.browser_hash.as_bytes())
        })
    }

    pub fn csrf_matches(&self, csrf: &str) -> bool {
        token_hash::eq(csrf.as_bytes(), self.csrf_token.as_bytes())
    }
}

pub fn create_flow(
    conn: &mut DbConn,
    request: &PendingAuthorization,
    browser_token: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<LoginFlow, DbError> {
    let id = token_hash::new_token()?;
    let csrf = token_hash::new_token()?;
    diesel::insert_into(login_flows::table)
        .values((
            login_flows::id.eq(&id),
            login_flows::browser_hash.eq(token_hash::hash(browser_token)),
            login_flows::csrf_token.eq(&csrf),
            login_flows::client_id.eq(&request.client_id),
            login_flows::redirect_uri.eq(&request.redirect_uri),
            login_flows::scope.eq(&request.scope),
            login_flows::state.eq(&request.state),
            login_flows::nonce.eq(&request.nonce),
            login_flows::code_challenge.eq(&request.code_challenge),
            login_flows::acr_min.eq(request.acr_min.map(Level::uri)),
            login_flows::created_at.eq(now.naive_utc()),
            login_flows::expires_at.eq((now + ttl).naive_utc()),
        ))
        .execute(conn)?;
    find_flow(conn, &id, now)?.ok_or(DbError::Query(diesel::result::Error::NotFound))
}

/// The flow, unless it does not exist or has expired.
pub fn find_flow(
    conn: &mut DbConn,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<LoginFlow>, DbError> {
    Ok(login_flows::table
        .find(id)
        .filter(login_flows::expires_at.gt(now.naive_utc()))
        .select(LoginFlow::as_select())
        .first(conn)
        .optional()?)
}

/// Records that the person behind the flow must change their PIN before going on.
pub fn set_pending_change(
    conn: &mut DbConn,
    id: &str,
    codice_fiscale: &str,
    reason: &str,
) -> Result<(), DbError> {
    diesel::update(login_flows::table.find(id))
        .set((
            login_flows::pending_codice_fiscale.eq(codice_fiscale),
            login_flows::pending_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes the flow; `false` when it was already gone (used once, or by a parallel request).
pub fn consume_flow(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(login_flows::table.find(id)).execute(conn)? == 1)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = browser_sessions)]
pub struct BrowserSession {
    pub id: String,
    pub cookie_hash: String,
    pub csrf_token: String,
    pub codice_fiscale: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub method: String,
    pub acr: String,
    pub auth_time: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
}

impl BrowserSession {
    pub fn level(&self) -> Option<Level> {
        Level::parse(&self.acr)
    }

    pub fn method(&self) -> Option<Method> {
        Method::parse(&self.method)
    }

    pub fn auth_time(&self) -> DateTime<Utc> {
        self.auth_time.and_utc()
    }

    pub fn csrf_matches(&self, csrf: &str) -> bool {
        token_hash::eq(csrf.as_bytes(), self.csrf_token.as_bytes())
    }
}

/// Starts a session for a completed login; returns it and the cookie value (shown once).
pub fn create_session(
    conn: &mut DbConn,
    outcome: &LoginOutcome,
    now: DateTime<Utc>,
    max_age: Duration,
) -> Result<(BrowserSession, String), DbError> {
    let id = token_hash::new_id()?;
    let cookie = token_hash::new_token()?;
    let csrf = token_hash::new_token()?;
    diesel::insert_into(browser_sessions::table)
        .values((
            browser_sessions::id.eq(&id),
            browser_sessions::cookie_hash.eq(token_hash::hash(&cookie)),
            browser_sessions::csrf_token.eq(&csrf),
            browser_sessions::codice_fiscale.eq(outcome.person.codice_fiscale.as_str()),
            browser_sessions::given_name.eq(&outcome.person.given_name),
            browser_sessions::family_name.eq(&outcome.person.family_name),
            browser_sessions::method.eq(outcome.method.as_str()),
            browser_sessions::acr.eq(outcome.level.uri()),
            browser_sessions::auth_time.eq(now.naive_utc()),
            browser_sessions::expires_at.eq((now + max_age).naive_utc()),
        ))
        .execute(conn)?;
    let session = browser_sessions::table
        .find(&id)
        .select(BrowserSession::as_select())
        .first(conn)?;
    Ok((session, cookie))
}

/// The live session behind a session cookie, if any.
pub fn find_session(
    conn: &mut DbConn,
    cookie: &str,
    now: DateTime<Utc>,
) -> Result<Option<BrowserSession>, DbError> {
    Ok(browser_sessions::table
        .filter(browser_sessions::cookie_hash.eq(token_hash::hash(cookie)))
        .filter(browser_sessions::expires_at.gt(now.naive_utc()))
        .filter(browser_sessions::ended_at.is_null())
        .select(BrowserSession::as_select())
        .first(conn)
        .optional()?)
}

/// Ends a session and revokes every grant (refresh-token family, and so the access tokens)
/// obtained through it. Returns whether the session was still live.
pub fn end_session(conn: &mut DbConn, id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
    conn.write_transaction(|c| {
        let ended = diesel::update(
            browser_sessions::table
                .find(id)
                .filter(browser_sessions::ended_at.is_null()),
        )
        .set(browser_sessions::ended_at.eq(now.naive_utc()))
        .execute(c)?;
        diesel::update(
            oauth_grants::table
                .filter(oauth_grants::session_id.eq(id))
                .filter(oauth_grants::revoked_at.is_null()),
        )
        .set(oauth_grants::revoked_at.eq(now.naive_utc()))
        .execute(c)?;
        Ok(ended == 1)
    })
}
