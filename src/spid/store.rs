//! SPID state in the database, so that any instance behind the load balancer can take the
//! Response to a request another instance sent (issue 6 §3):
//! - outstanding AuthnRequests, consumed once;
//! - accepted Assertion IDs, until they expire (replay cache);
//! - what Single Logout needs of each SPID browser session;
//! - LogoutRequests sent, waiting for their LogoutResponse;
//! - LogoutRequests received, by ID, so that each is accepted once.

use crate::db::schema::{
    browser_sessions, spid_assertions, spid_logout_requests, spid_received_logouts, spid_requests,
    spid_sessions,
};
use crate::db::{DbConn, DbError};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// An AuthnRequest sent to an IdP.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = spid_requests)]
pub struct OutstandingRequest {
    pub id: String,
    pub idp_entity_id: String,
    pub acs_url: String,
    /// The requested level, as its AgID URI.
    pub level: String,
    /// IssueInstant exactly as sent.
    pub issue_instant: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub browser_hash: String,
    pub relay_state: String,
    pub flow_id: Option<String>,
    pub consumed_at: Option<NaiveDateTime>,
}

pub fn insert_request(conn: &mut DbConn, request: &OutstandingRequest) -> Result<(), DbError> {
    diesel::insert_into(spid_requests::table)
        .values(request)
        .execute(conn)?;
    Ok(())
}

/// The request with this ID if it is still waiting (not consumed, not expired).
pub fn find_request(
    conn: &mut DbConn,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<OutstandingRequest>, DbError> {
    Ok(spid_requests::table
        .find(id)
        .filter(spid_requests::consumed_at.is_null())
        .filter(spid_requests::expires_at.gt(now.naive_utc()))
        .select(OutstandingRequest::as_select())
        .first(conn)
        .optional()?)
}

/// Marks the request used; false when another Response (on any instance) got there first.
pub fn consume_request(conn: &mut DbConn, id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
    let n = diesel::update(
        spid_requests::table
            .find(id)
            .filter(spid_requests::consumed_at.is_null())
            .filter(spid_requests::expires_at.gt(now.naive_utc())),
    )
    .set(spid_requests::consumed_at.eq(now.naive_utc()))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records an accepted Assertion ID until `expires_at`; false when it was seen before.
pub fn remember_assertion(
    conn: &mut DbConn,
    idp_entity_id: &str,
    assertion_id: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let inserted = diesel::insert_into(spid_assertions::table)
        .values((
            spid_assertions::idp_entity_id.eq(idp_entity_id),
            spid_assertions::assertion_id.eq(assertion_id),
            spid_assertions::expires_at.eq(expires_at.naive_utc()),
        ))
        .execute(conn);
    first_time(inserted)
}

/// Whether an insert went in; false when a UNIQUE constraint refused it (seen before).
fn first_time(inserted: diesel::QueryResult<usize>) -> Result<bool, DbError> {
    match inserted {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// What SLO needs of a browser session started with SPID.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = spid_sessions)]
pub struct SpidSession {
    pub browser_session_id: String,
    pub idp_entity_id: String,
    pub name_id: String,
    pub name_qualifier: String,
    pub session_index: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert_session(conn: &mut DbConn, session: &SpidSession) -> Result<(), DbError> {
    diesel::insert_into(spid_sessions::table)
        .values(session)
        .execute(conn)?;
    Ok(())
}

pub fn find_session(
    conn: &mut DbConn,
    browser_session_id: &str,
) -> Result<Option<SpidSession>, DbError> {
    Ok(spid_sessions::table
        .find(browser_session_id)
        .select(SpidSession::as_select())
        .first(conn)
        .optional()?)
}

/// The browser sessions an IdP's LogoutRequest names: by NameID, narrowed to the
/// SessionIndex when the IdP gave one.
pub fn sessions_for_name_id(
    conn: &mut DbConn,
    idp_entity_id: &str,
    name_id: &str,
    session_index: Option<&str>,
) -> Result<Vec<String>, DbError> {
    let mut query = spid_sessions::table
        .filter(spid_sessions::idp_entity_id.eq(idp_entity_id))
        .filter(spid_sessions::name_id.eq(name_id))
        .select(spid_sessions::browser_session_id)
        .into_boxed();
    if let Some(index) = session_index {
        query = query.filter(spid_sessions::session_index.eq(index));
    }
    Ok(query.load(conn)?)
}

/// A LogoutRequest procura sent, waiting for the IdP's answer.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = spid_logout_requests)]
pub struct PendingLogout {
    pub id: String,
    pub idp_entity_id: String,
    /// Where the browser goes once the IdP answered (the relying party's post-logout URI).
    pub return_to: Option<String>,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub consumed_at: Option<NaiveDateTime>,
}

pub fn insert_logout(conn: &mut DbConn, logout: &PendingLogout) -> Result<(), DbError> {
    diesel::insert_into(spid_logout_requests::table)
        .values(logout)
        .execute(conn)?;
    Ok(())
}

/// Takes the pending logout with this ID that went to `idp_entity_id` (once): a LogoutResponse
/// from another IdP, even a trusted one, does not answer it.
pub fn consume_logout(
    conn: &mut DbConn,
    id: &str,
    idp_entity_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<PendingLogout>, DbError> {
    conn.write_transaction(|c| {
        let found = spid_logout_requests::table
            .find(id)
            .filter(spid_logout_requests::idp_entity_id.eq(idp_entity_id))
            .filter(spid_logout_requests::consumed_at.is_null())
            .filter(spid_logout_requests::expires_at.gt(now.naive_utc()))
            .select(PendingLogout::as_select())
            .first(c)
            .optional()?;
        if found.is_some() {
            diesel::update(spid_logout_requests::table.find(id))
                .set(spid_logout_requests::consumed_at.eq(now.naive_utc()))
                .execute(c)?;
        }
        Ok(found)
    })
}

/// Records the ID of a LogoutRequest an IdP sent, until `expires_at`; false when it was seen
/// before (on any instance). On PostgreSQL a refused insert spoils the transaction around it:
/// call it first, and end the transaction when it answers false.
pub fn remember_logout_request(
    conn: &mut DbConn,
    idp_entity_id: &str,
    request_id: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let inserted = diesel::insert_into(spid_received_logouts::table)
        .values((
            spid_received_logouts::idp_entity_id.eq(idp_entity_id),
            spid_received_logouts::request_id.eq(request_id),
            spid_received_logouts::received_at.eq(now.naive_utc()),
            spid_received_logouts::expires_at.eq(expires_at.naive_utc()),
        ))
        .execute(conn);
    first_time(inserted)
}

/// Drops what has expired; run by the periodic clean-up.
pub fn delete_expired(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, DbError> {
    let now = now.naive_utc();
    let mut n = diesel::delete(spid_requests::table.filter(spid_requests::expires_at.le(now)))
        .execute(conn)?;
    n += diesel::delete(spid_assertions::table.filter(spid_assertions::expires_at.le(now)))
        .execute(conn)?;
    n += diesel::delete(
        spid_logout_requests::table.filter(spid_logout_requests::expires_at.le(now)),
    )
    .execute(conn)?;
    n += diesel::delete(
        spid_received_logouts::table.filter(spid_received_logouts::expires_at.le(now)),
    )
    .execute(conn)?;
    // SLO data of browser sessions the OAuth clean-up has already removed.
    n += diesel::delete(
        spid_sessions::table.filter(
            spid_sessions::browser_session_id
                .ne_all(browser_sessions::table.select(browser_sessions::id)),
        ),
    )
    .execute(conn)?;
    Ok(n)
}
