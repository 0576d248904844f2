//! The console's own sessions, server-side (`console_sessions`): started after a login
//! through the broker, ended by logout, by `operator.console_idle_timeout_secs` without a
//! request, or at `operator.console_max_age_secs`. The cookie carries a random token; the
//! table keeps its SHA-256. Starting and ending are audited with the operator as actor.

use crate::audit::{self, AuditKey, Event, Outcome, Party};
use crate::db::schema::console_sessions;
use crate::db::{DbConn, DbError};
use crate::oauth::token_hash;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions)]
pub struct ConsoleSession {
    pub id: String,
    pub csrf_token: String,
    pub operator_id: String,
    pub codice_fiscale: String,
    pub display_name: String,
    pub roles: String,
    pub acr: String,
    pub grant_id: String,
    pub access_jti: String,
    pub id_token: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
}

impl ConsoleSession {
    pub fn csrf_matches(&self, sent: &str) -> bool {
        token_hash::eq(sent.as_bytes(), self.csrf_token.as_bytes())
    }

    /// The role names the token carried.
    pub fn token_roles(&self) -> impl Iterator<Item = &str> {
        self.roles.split(' ').filter(|r| !r.is_empty())
    }
}

/// What a login gives the new session.
pub struct NewSession {
    pub operator_id: String,
    pub codice_fiscale: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub acr: String,
    pub grant_id: String,
    pub access_jti: String,
    pub id_token: String,
}

/// Why a cookie opens no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No such session, or it ended (logout, maximum age).
    None,
    /// Ended now: too long without a request.
    Idle,
}

/// Starts a session for the cookie `token` (random; only its hash is stored) with the form
/// token `csrf`.
pub fn start(
    conn: &mut DbConn,
    key: &AuditKey,
    (token, csrf): (&str, String),
    new: NewSession,
    max_age: Duration,
    request_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<ConsoleSession, DbError> {
    let now = crate::clock::to_micros(now);
    let row = ConsoleSession {
        id: token_hash::hash(token),
        csrf_token: csrf,
        operator_id: new.operator_id,
        codice_fiscale: new.codice_fiscale,
        display_name: new.display_name,
        roles: new.roles.join(" "),
        acr: new.acr,
        grant_id: new.grant_id,
        access_jti: new.access_jti,
        id_token: new.id_token,
        created_at: now.naive_utc(),
        last_seen_at: now.naive_utc(),
        expires_at: (now + max_age).naive_utc(),
        ended_at: None,
    };
    let mut event = Event::new(
        Party::operator(&row.operator_id),
        "console.session.started",
        Outcome::Success,
    )
    .detail(json!({ "roles": new.roles, "acr": row.acr }));
    if let Some(id) = request_id {
        event = event.request_id(id);
    }
    conn.write_transaction(|c| {
        diesel::insert_into(console_sessions::table)
            .values(&row)
            .execute(c)?;
        audit::append(c, key, now, event)?;
        Ok::<_, DbError>(())
    })?;
    Ok(row)
}

/// The live session of a cookie token, its last request moved to `now`; an idle one is
/// ended (and audited) instead.
pub fn touch(
    conn: &mut DbConn,
    key: &AuditKey,
    token: &str,
    idle: Duration,
    now: DateTime<Utc>,
) -> Result<Result<ConsoleSession, Lookup>, DbError> {
    let now = crate::clock::to_micros(now);
    let id = token_hash::hash(token);
    conn.write_transaction(|c| {
        let found = console_sessions::table
            .find(&id)
            .filter(console_sessions::ended_at.is_null())
            .filter(console_sessions::expires_at.gt(now.naive_utc()))
            .select(ConsoleSession::as_select())
            .first(c)
            .optional()?;
        let Some(mut s) = found else {
            return Ok(Err(Lookup::None));
        };
        if s.last_seen_at + idle <= now.naive_utc() {
            end_in(c, key, &s, "idle", now)?;
            return Ok(Err(Lookup::Idle));
        }
        diesel::update(console_sessions::table.find(&id))
            .set(console_sessions::last_seen_at.eq(now.naive_utc()))
            .execute(c)?;
        s.last_seen_at = now.naive_utc();
        Ok(Ok(s))
    })
}

fn end_in(
    c: &mut DbConn,
    key: &AuditKey,
    s: &ConsoleSession,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = diesel::update(
        console_sessions::table
            .find(&s.id)
            .filter(console_sessions::ended_at.is_null()),
    )
    .set(console_sessions::ended_at.eq(Some(now.naive_utc())))
    .execute(c)?;
    if n > 0 {
        let event = Event::new(
            Party::operator(&s.operator_id),
            "console.session.ended",
            Outcome::Success,
        )
        .detail(json!({ "reason": reason }));
        audit::append(c, key, now, event)?;
    }
    Ok(n > 0)
}

/// Ends a session (`reason`: logout, disabled, …), audited; `false` when it had ended.
pub fn end(
    conn: &mut DbConn,
    key: &AuditKey,
    s: &ConsoleSession,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let now = crate::clock::to_micros(now);
    conn.write_transaction(|c| end_in(c, key, s, reason, now))
}
