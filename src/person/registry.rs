//! The persons registry: one row per codice fiscale.

use crate::db::schema::persons;
use crate::db::{DbConn, DbError};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

/// A person as the institute's archive knows them.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
// `treat_none_as_default_value = false` lets SQLite take these rows in multi-row inserts
// (its DEFAULT keyword cannot appear there); no column has a default anyway.
#[diesel(table_name = persons, treat_none_as_default_value = false)]
pub struct Person {
    pub codice_fiscale: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    /// "M" or "F", as encoded in the codice fiscale.
    pub sex: String,
    /// Street and house number.
    pub address: String,
    pub postal_code: String,
    pub municipality: String,
    /// Two-letter province code; `EE` for residence abroad.
    pub province: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub pec: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConn, codice_fiscale: &str) -> Result<Option<Person>, DbError> {
    Ok(persons::table
        .find(codice_fiscale)
        .select(Person::as_select())
        .first(conn)
        .optional()?)
}

pub fn count(conn: &mut DbConn) -> Result<i64, DbError> {
    Ok(persons::table.count().get_result(conn)?)
}
