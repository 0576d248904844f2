//! The `sub` of a person: opaque, random, stable for ever (OIDC Core §2: never reassigned).
//! Created on the first login; keyed by codice fiscale so every method reaches the same one.

use crate::db::schema::subjects;
use crate::db::{DbConn, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The person's `sub`, created if this is their first login.
pub fn sub_for(
    conn: &mut DbConn,
    codice_fiscale: &str,
    now: DateTime<Utc>,
) -> Result<String, DbError> {
    if let Some(sub) = find(conn, codice_fiscale)? {
        return Ok(sub);
    }
    let sub = uuid::Uuid::new_v4().simple().to_string();
    // A savepoint, so a lost race does not abort the caller's PostgreSQL transaction.
    let inserted = conn.transaction(|c| {
        diesel::insert_into(subjects::table)
            .values((
                subjects::codice_fiscale.eq(codice_fiscale),
                subjects::sub.eq(&sub),
                subjects::created_at.eq(now.naive_utc()),
            ))
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(sub),
        // Two first logins at once: the other one won; use its `sub`.
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            find(conn, codice_fiscale)?.ok_or(DbError::Query(DieselError::NotFound))
        }
        Err(e) => Err(e.into()),
    }
}

fn find(conn: &mut DbConn, codice_fiscale: &str) -> Result<Option<String>, DbError> {
    Ok(subjects::table
        .find(codice_fiscale)
        .select(subjects::sub)
        .first(conn)
        .optional()?)
}
