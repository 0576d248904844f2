//! At most one PIN issuance per person in flight, enforced by the database.
//!
//! Every channel that gives a person a new PIN (online and contact-centre requests, the
//! call-back, the desk, recovery) calls [`take`] as the first write of its transaction. It
//! writes the person's row of `pin_issuance_guards`, which locks it until the transaction
//! ends (PostgreSQL: a row lock; SQLite: `BEGIN IMMEDIATE` already serialises writers). A
//! parallel issuance for the same person waits there, then checks the credential again and
//! finds the PIN the first one stored. Taken first, before any other row and long before
//! `audit_head` (see the lock order in [`crate::audit`]).

use crate::db::schema::pin_issuance_guards as guards;
use crate::db::{DbConn, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

/// Locks `codice_fiscale`'s issuance guard for the rest of the caller's write transaction.
pub fn take(conn: &mut DbConn, codice_fiscale: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    let at = now.naive_utc();
    let row = (
        guards::codice_fiscale.eq(codice_fiscale),
        guards::taken_at.eq(at),
    );
    match conn {
        DbConn::Postgres(c) => diesel::insert_into(guards::table)
            .values(row)
            .on_conflict(guards::codice_fiscale)
            .do_update()
            .set(guards::taken_at.eq(at))
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(guards::table)
            .values(row)
            .on_conflict(guards::codice_fiscale)
            .do_update()
            .set(guards::taken_at.eq(at))
            .execute(c)?,
    };
    Ok(())
}
