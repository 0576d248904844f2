//! The audit log: append-only security events, chained by a keyed hash.
//!
//! Each record stores `hash = HMAC-SHA256(key, prev_hash ‖ fields)`, where `prev_hash` is
//! the previous record's hash. Editing a field, deleting or reordering records breaks the
//! chain, and without the key nobody can forge a new one. `append` runs inside the caller's
//! transaction, so a record exists exactly when the action it records was committed.
//!
//! What the chain cannot show on its own: the tail cut off *and* `audit_head` rewound to
//! match. Against that, `serve` writes signed checkpoints of the head outside the database
//! ([`checkpoint`]) and [`verify_against`] checks the log still holds each of them.
//!
//! # Lock order
//!
//! Every audited transaction updates the single `audit_head` row, so it is the one lock all
//! of them share. The rule: **`audit_head` is locked last**, after every other row write of
//! the transaction. [`append`] enforces it: inside a `DbConn::write_transaction` it only
//! queues the record ([`crate::db::at_end`]) and the records are written, in the order they
//! were appended, once the transaction's own work has succeeded, just before the commit. A
//! transaction holding `audit_head` therefore never waits for another row lock, and no
//! two transactions can wait on each other through it (on PostgreSQL: no `deadlock
//! detected`; SQLite's `BEGIN IMMEDIATE` serialises writers anyway). Code must not read
//! `audit_head` or `audit_log` inside a transaction and expect its own appends to be there.
//!
//! # Group commit
//!
//! A request whose only write is its audit record (the access check) does not open a
//! transaction of its own: [`batch::Appender`] appends the records of concurrent requests in
//! one transaction per batch, one `audit_head` lock for all of them, and the request is
//! answered once its batch has committed. The batch transaction writes nothing but audit
//! rows, so the lock order above holds for it too.

pub mod batch;
mod chain;
pub mod checkpoint;
mod key;
pub mod search;

pub use chain::{Broken, Verified, verify, verify_against};
pub use key::{AuditKey, AuditKeyError};

use crate::db::schema::{audit_head, audit_log};
use crate::db::{self, DbConn, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use std::fmt;

/// Who acted, or on whose behalf: `kind:identifier`.
#[derive(Clone, PartialEq, Eq)]
pub struct Party(String);

/// A party as it may be logged: a person's codice fiscale masked.
fn masked_party(party: &str) -> String {
    match party.strip_prefix("person:") {
        Some(code) => format!("person:{}", crate::person::codice_fiscale::mask_text(code)),
        None => party.to_owned(),
    }
}

impl fmt::Debug for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Party({})", masked_party(&self.0))
    }
}

impl Party {
    pub fn person(codice_fiscale: &crate::person::CodiceFiscale) -> Self {
        Self(format!("person:{}", codice_fiscale.as_str()))
    }
    pub fn operator(id: &str) -> Self {
        Self(format!("operator:{id}"))
    }
    pub fn client(id: &str) -> Self {
        Self(format!("client:{id}"))
    }
    /// Someone at the command line on the server; `user` is the OS account.
    pub fn cli(user: &str) -> Self {
        Self(format!("cli:{user}"))
    }
    /// procura itself (scheduled jobs).
    pub fn system() -> Self {
        Self("system:procura".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One security event to record.
#[derive(Debug, Clone)]
pub struct Event {
    pub actor: Party,
    pub subject: Option<Party>,
    /// Dotted name of what was done, e.g. `persons.import`.
    pub action: &'static str,
    pub outcome: Outcome,
    pub request_id: Option<String>,
    /// Free-form facts (JSON). Never secrets, PINs or tokens.
    pub detail: Option<serde_json::Value>,
}

impl Event {
    pub fn new(actor: Party, action: &'static str, outcome: Outcome) -> Self {
        Self {
            actor,
            subject: None,
            action,
            outcome,
            request_id: None,
            detail: None,
        }
    }
    pub fn on_behalf_of(mut self, subject: Party) -> Self {
        self.subject = Some(subject);
        self
    }
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// A stored record.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct Record {
    pub seq: i64,
    pub occurred_at: chrono::NaiveDateTime,
    pub actor: String,
    pub subject: Option<String>,
    pub action: String,
    pub outcome: String,
    pub request_id: Option<String>,
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("seq", &self.seq)
            .field("occurred_at", &self.occurred_at)
            .field("actor", &masked_party(&self.actor))
            .field("subject", &self.subject.as_deref().map(masked_party))
            .field("action", &self.action)
            .field("outcome", &self.outcome)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// Appends `event`. Call it inside the `DbConn::write_transaction` of the action it records:
/// the record is then written as the last work of that transaction (see the lock order
/// above), and exists exactly when the transaction commits. Outside a write transaction it
/// is written at once.
pub fn append(
    conn: &mut DbConn,
    key: &AuditKey,
    now: DateTime<Utc>,
    event: Event,
) -> Result<(), DbError> {
    let key = key.clone();
    db::at_end(conn, move |c| write_record(c, &key, now, event))?;
    Ok(())
}

/// Writes the record: the first statement locks `audit_head`, so concurrent appenders queue
/// up and the chain stays linear (on SQLite the transaction must be IMMEDIATE, which
/// `write_transaction` is).
fn write_record(
    conn: &mut DbConn,
    key: &AuditKey,
    now: DateTime<Utc>,
    event: Event,
) -> QueryResult<()> {
    write_records(conn, key, std::iter::once((now, event)))
}

/// Writes `events` in the order given, as consecutive records: one `audit_head` lock (the
/// first statement, which also reads the head), the chain computed from it, the rows (on
/// PostgreSQL one multi-row insert per [`batch::MAX_BATCH`] records), the new head hash last.
pub(crate) fn write_records(
    conn: &mut DbConn,
    key: &AuditKey,
    events: impl ExactSizeIterator<Item = (DateTime<Utc>, Event)>,
) -> QueryResult<()> {
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    if count == 0 {
        return Ok(());
    }
    // One statement takes the lock and reads the head it now owns: one round trip fewer
    // while every other appender waits (RETURNING: PostgreSQL, SQLite 3.35+).
    let claim = diesel::update(audit_head::table.find(1_i64))
        .set(audit_head::last_seq.eq(audit_head::last_seq + count))
        .returning((audit_head::last_seq, audit_head::last_hash));
    let (last_seq, mut prev_hash): (i64, String) = match conn {
        DbConn::Postgres(c) => claim.get_result(c)?,
        DbConn::Sqlite(c) => claim.get_result(c)?,
    };
    let mut records = Vec::with_capacity(events.len());
    for (seq, (now, event)) in (last_seq - count + 1..).zip(events) {
        let mut record = Record {
            seq,
            occurred_at: now.naive_utc(),
            actor: event.actor.0,
            subject: event.subject.map(|s| s.0),
            action: event.action.to_owned(),
            outcome: event.outcome.as_str().to_owned(),
            request_id: event.request_id,
            detail: event.detail.map(|d| d.to_string()),
            prev_hash,
            hash: String::new(),
        };
        record.hash = chain::record_hash(key, &record);
        prev_hash = record.hash.clone();
        records.push(record);
    }
    match conn {
        // PostgreSQL: one round trip per chunk.
        DbConn::Postgres(c) => {
            for chunk in records.chunks(batch::MAX_BATCH) {
                diesel::insert_into(audit_log::table)
                    .values(chunk)
                    .execute(c)?;
            }
        }
        // SQLite has no round trips: a single-row insert is prepared once per connection
        // (its text never changes), and, unlike a multi-row insert inside a transaction, needs
        // no statement journal — a temporary file created, written and deleted every batch.
        DbConn::Sqlite(c) => {
            for record in &records {
                diesel::insert_into(audit_log::table)
                    .values(record)
                    .execute(c)?;
            }
        }
    }
    diesel::update(audit_head::table.find(1_i64))
        .set(audit_head::last_hash.eq(&prev_hash))
        .execute(conn)?;
    Ok(())
}

/// Appends `event` in a transaction of its own (for events with no other state change,
/// such as a refused import whose work was rolled back).
pub fn append_alone(
    conn: &mut DbConn,
    key: &AuditKey,
    now: DateTime<Utc>,
    event: Event,
) -> Result<(), DbError> {
    conn.write_transaction(|c| append(c, key, now, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_people() {
        let cf = crate::person::CodiceFiscale::parse("RSSMRA85T10A562S").unwrap();
        let shown = format!(
            "{:?}",
            Event::new(Party::person(&cf), "x", Outcome::Success)
        );
        assert!(shown.contains("person:RSSMRA*****562S"), "{shown}");
        assert!(!shown.contains("RSSMRA85T10A562S"), "{shown}");
        assert_eq!(
            format!("{:?}", Party::operator("op1")),
            "Party(operator:op1)"
        );
    }
}
