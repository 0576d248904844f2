//! The family-unit check behind a parent's online registration (messaggio 171/2022: INPS
//! checks the family unit against ANPR). [`FamilyRegister`] is the seam: today it is answered
//! from procura's own `family_links` table ([`LocalFamilyRegister`]), loaded with
//! `procura persons link`; an ANPR client can implement the trait instead.

use crate::audit::{self, AuditKey, Event, Outcome, Party};
use crate::db::schema::family_links;
use crate::db::{DbConn, DbError};
use crate::person::CodiceFiscale;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Answers whether `parent` is a parent of `child` in the population register.
pub trait FamilyRegister: Send + Sync {
    fn is_child_of(&self, conn: &mut DbConn, parent: &str, child: &str) -> Result<bool, DbError>;
}

/// The links kept in procura's database.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalFamilyRegister;

impl FamilyRegister for LocalFamilyRegister {
    fn is_child_of(&self, conn: &mut DbConn, parent: &str, child: &str) -> Result<bool, DbError> {
        Ok(family_links::table
            .find((parent, child))
            .select(family_links::child_cf)
            .first::<String>(conn)
            .optional()?
            .is_some())
    }
}

/// Records (audited) that `parent` is a parent of `child`; `false` when the link was
/// already there.
pub fn link(
    conn: &mut DbConn,
    key: &AuditKey,
    actor: Party,
    parent: &CodiceFiscale,
    child: &CodiceFiscale,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let done = conn.write_transaction(|c| {
        diesel::insert_into(family_links::table)
            .values((
                family_links::parent_cf.eq(parent.as_str()),
                family_links::child_cf.eq(child.as_str()),
                family_links::created_at.eq(now.naive_utc()),
            ))
            .execute(c)?;
        audit::append(
            c,
            key,
            now,
            Event::new(actor, "family.linked", Outcome::Success)
                .on_behalf_of(Party::person(child))
                .detail(serde_json::json!({ "parent": Party::person(parent).as_str() })),
        )
    });
    match done {
        Ok(_) => Ok(true),
        Err(DbError::Query(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
