//! The family-unit check behind a parent's online registration (messaggio 171/2022: INPS
//! checks the family unit against ANPR). [`FamilyRegister`] is the seam: today it is answered
//! from procura's own `family_links` table ([`LocalFamilyRegister`]), loaded with
//! `procura persons link`; an ANPR client can implement the trait instead.

use crate::db::schema::family_links;
use crate::db::{DbConn, DbError};
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

/// Records that `parent` is a parent of `child`; `false` when the link was already there.
pub fn link(
    conn: &mut DbConn,
    parent: &str,
    child: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    match diesel::insert_into(family_links::table)
        .values((
            family_links::parent_cf.eq(parent),
            family_links::child_cf.eq(child),
            family_links::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
