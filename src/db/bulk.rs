//! Upserts and bulk loads: the statements whose form differs between the backends.

use super::schema::persons;
use super::{DbConn, DbError};
use crate::person::Person;
use diesel::prelude::*;
use diesel::upsert::excluded;
use std::collections::HashMap;

/// Most rows sent in one statement: 14 parameters each, under both PostgreSQL's 65,535
/// and SQLite's 32,766 bound parameters.
pub const PERSONS_BATCH: usize = 1_000;

/// Inserts or updates persons by codice fiscale; a row met again updates every field but
/// `created_at`. Later rows win over earlier ones with the same code.
pub fn upsert_persons(conn: &mut DbConn, rows: &[Person]) -> Result<(), DbError> {
    macro_rules! changes {
        () => {
            (
                persons::given_name.eq(excluded(persons::given_name)),
                persons::family_name.eq(excluded(persons::family_name)),
                persons::birth_date.eq(excluded(persons::birth_date)),
                persons::sex.eq(excluded(persons::sex)),
                persons::address.eq(excluded(persons::address)),
                persons::postal_code.eq(excluded(persons::postal_code)),
                persons::municipality.eq(excluded(persons::municipality)),
                persons::province.eq(excluded(persons::province)),
                persons::mobile.eq(excluded(persons::mobile)),
                persons::email.eq(excluded(persons::email)),
                persons::pec.eq(excluded(persons::pec)),
                persons::updated_at.eq(excluded(persons::updated_at)),
            )
        };
    }
    // Multi-row statements on both backends: diesel does not cache upsert statements, so
    // one statement per row would spend most of its time re-preparing SQL.
    for chunk in rows.chunks(PERSONS_BATCH) {
        match conn {
            DbConn::Postgres(c) => {
                // PostgreSQL refuses to touch a row twice in one statement, so a code
                // repeated within the chunk keeps only its last row.
                let mut last: HashMap<&str, usize> = HashMap::with_capacity(chunk.len());
                for (i, p) in chunk.iter().enumerate() {
                    last.insert(p.codice_fiscale.as_str(), i);
                }
                let unique: Vec<&Person> = chunk
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| last.get(p.codice_fiscale.as_str()) == Some(i))
                    .map(|(_, p)| p)
                    .collect();
                diesel::insert_into(persons::table)
                    .values(unique)
                    .on_conflict(persons::codice_fiscale)
                    .do_update()
                    .set(changes!())
                    .execute(c)?;
            }
            // SQLite applies the rows in order, so a later row for the same code wins.
            DbConn::Sqlite(c) => {
                diesel::insert_into(persons::table)
                    .values(chunk)
                    .on_conflict(persons::codice_fiscale)
                    .do_update()
                    .set(changes!())
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// After a bulk load on SQLite, fold the write-ahead log back into the database file and
/// truncate it (one large transaction leaves a WAL as big as the data it wrote).
pub fn checkpoint_after_bulk(conn: &mut DbConn) -> Result<(), DbError> {
    if let DbConn::Sqlite(c) = conn {
        diesel::connection::SimpleConnection::batch_execute(c, "PRAGMA wal_checkpoint(TRUNCATE)")?;
    }
    Ok(())
}

/// Makes sure `delegate_counters` has a row for `delegate_cf` (at 0 when new), so the
/// per-delegate limit can be taken with one conditional UPDATE. Runs inside the caller's
/// transaction; a row inserted by a parallel registration is left as it is.
pub fn ensure_delegate_counter(conn: &mut DbConn, delegate_cf: &str) -> Result<(), DbError> {
    use super::schema::delegate_counters as dc;
    let row = (
        dc::delegate_cf.eq(delegate_cf),
        dc::active_fiducia.eq(0_i64),
    );
    match conn {
        DbConn::Postgres(c) => {
            diesel::insert_into(dc::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c)?;
        }
        DbConn::Sqlite(c) => {
            diesel::insert_into(dc::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c)?;
        }
    }
    Ok(())
}

/// Makes sure `booking_slots` has a row for the slot (with `capacity`, nothing taken), so its
/// places can be taken with one conditional UPDATE. Inside the caller's transaction; a row
/// inserted meanwhile by a parallel booking is left as it is.
pub fn ensure_booking_slot(
    conn: &mut DbConn,
    desk_id: &str,
    starts_at: chrono::NaiveDateTime,
    capacity: i64,
) -> Result<(), DbError> {
    use super::schema::booking_slots as bs;
    let row = (
        bs::desk_id.eq(desk_id),
        bs::starts_at.eq(starts_at),
        bs::capacity.eq(capacity),
        bs::taken.eq(0_i64),
    );
    match conn {
        DbConn::Postgres(c) => {
            diesel::insert_into(bs::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c)?;
        }
        DbConn::Sqlite(c) => {
            diesel::insert_into(bs::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c)?;
        }
    }
    Ok(())
}

/// Makes sure `booking_people` has a row for `person_cf`: the row a booking locks so that
/// the person's open bookings are counted by one transaction at a time.
pub fn ensure_booking_person(
    conn: &mut DbConn,
    person_cf: &str,
    now: chrono::NaiveDateTime,
) -> Result<(), DbError> {
    use super::schema::booking_people as bp;
    let row = (bp::person_cf.eq(person_cf), bp::touched_at.eq(now));
    match conn {
        DbConn::Postgres(c) => {
            diesel::insert_into(bp::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c)?;
        }
        DbConn::Sqlite(c) => {
            diesel::insert_into(bp::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c)?;
        }
    }
    Ok(())
}
