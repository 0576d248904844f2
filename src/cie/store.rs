//! CIE relying-party state in the database, so that any instance can take any step:
//! - the last-known-good trust chain of each provider;
//! - authorization requests waiting for their callback, spent once;
//! - what logout needs of each browser session started with CIE.

use crate::db::schema::{cie_requests, cie_sessions, cie_trust_chains};
use crate::db::{DbConn, DbError};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

/// A stored trust chain: the resolved `openid_provider` metadata and its statements.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cie_trust_chains)]
pub struct StoredChain {
    pub provider: String,
    pub trust_anchor: String,
    /// JSON object.
    pub metadata: String,
    /// JSON array of compact JWS.
    pub statements: String,
    pub expires_at: NaiveDateTime,
    pub fetched_at: NaiveDateTime,
}

impl StoredChain {
    pub fn metadata(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::from_str(&self.metadata) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }

    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now.naive_utc()
    }
}

/// Replaces the stored chain of `chain.provider` (delete and insert, in one transaction:
/// portable across both backends).
pub fn store_chain(conn: &mut DbConn, chain: &StoredChain) -> Result<(), DbError> {
    conn.write_transaction(|c| {
        diesel::delete(cie_trust_chains::table.find(&chain.provider)).execute(c)?;
        diesel::insert_into(cie_trust_chains::table)
            .values(chain)
            .execute(c)?;
        Ok(())
    })
}

pub fn find_chain(conn: &mut DbConn, provider: &str) -> Result<Option<StoredChain>, DbError> {
    Ok(cie_trust_chains::table
        .find(provider)
        .select(StoredChain::as_select())
        .first(conn)
        .optional()?)
}

pub fn all_chains(conn: &mut DbConn) -> Result<Vec<StoredChain>, DbError> {
    Ok(cie_trust_chains::table
        .order(cie_trust_chains::provider)
        .select(StoredChain::as_select())
        .load(conn)?)
}

/// An authorization request sent to a provider.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cie_requests)]
pub struct PendingRequest {
    pub state: String,
    pub provider: String,
    pub nonce: String,
    pub code_verifier: String,
    /// The lowest level accepted, as its URI.
    pub level: String,
    pub browser_hash: String,
    pub flow_id: Option<String>,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub consumed_at: Option<NaiveDateTime>,
}

pub fn insert_request(conn: &mut DbConn, request: &PendingRequest) -> Result<(), DbError> {
    diesel::insert_into(cie_requests::table)
        .values(request)
        .execute(conn)?;
    Ok(())
}

/// Spends the request with this `state`, if it is still waiting: the first callback that
/// names it (on any instance) gets it, whatever comes of the checks after.
pub fn take_request(
    conn: &mut DbConn,
    state: &str,
    now: DateTime<Utc>,
) -> Result<Option<PendingRequest>, DbError> {
    conn.write_transaction(|c| {
        let live = cie_requests::table
            .find(state)
            .filter(cie_requests::consumed_at.is_null())
            .filter(cie_requests::expires_at.gt(now.naive_utc()));
        let found = live
            .select(PendingRequest::as_select())
            .first(c)
            .optional()?;
        if found.is_none() {
            return Ok(None);
        }
        let spent = diesel::update(live)
            .set(cie_requests::consumed_at.eq(now.naive_utc()))
            .execute(c)?;
        Ok(found.filter(|_| spent == 1))
    })
}

/// A browser session started with CIE: the provider's access token, sealed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cie_sessions)]
pub struct CieSession {
    pub browser_session_id: String,
    pub provider: String,
    pub access_token: Vec<u8>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_session(conn: &mut DbConn, session: &CieSession) -> Result<(), DbError> {
    diesel::insert_into(cie_sessions::table)
        .values(session)
        .execute(conn)?;
    Ok(())
}

/// Removes and returns the CIE part of a browser session (at logout).
pub fn take_session(
    conn: &mut DbConn,
    browser_session_id: &str,
) -> Result<Option<CieSession>, DbError> {
    conn.write_transaction(|c| {
        let found = cie_sessions::table
            .find(browser_session_id)
            .select(CieSession::as_select())
            .first(c)
            .optional()?;
        if found.is_some() {
            diesel::delete(cie_sessions::table.find(browser_session_id)).execute(c)?;
        }
        Ok(found)
    })
}

/// Deletes requests and sessions past their expiry; returns how many rows went.
pub fn delete_expired(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, DbError> {
    let requests =
        diesel::delete(cie_requests::table.filter(cie_requests::expires_at.le(now.naive_utc())))
            .execute(conn)?;
    let sessions =
        diesel::delete(cie_sessions::table.filter(cie_sessions::expires_at.le(now.naive_utc())))
            .execute(conn)?;
    Ok(requests + sessions)
}
