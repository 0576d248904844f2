//! The persons registry: one row per codice fiscale.

use super::codice_fiscale::mask_text;
use crate::db::schema::persons;
use crate::db::{DbConn, DbError};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

/// A person as the institute's archive knows them.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
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

/// Personal data stays out of logs: only the masked code is shown.
impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("codice_fiscale", &mask_text(&self.codice_fiscale))
            .finish_non_exhaustive()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_personal_data() {
        let stamp = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let p = Person {
            codice_fiscale: "RSSMRA85T10A562S".into(),
            given_name: "Mario".into(),
            family_name: "Rossi".into(),
            birth_date: NaiveDate::from_ymd_opt(1985, 12, 10).unwrap(),
            sex: "M".into(),
            address: "Via Roma 1".into(),
            postal_code: "00100".into(),
            municipality: "Roma".into(),
            province: "RM".into(),
            mobile: Some("+393331234567".into()),
            email: None,
            pec: None,
            created_at: stamp,
            updated_at: stamp,
        };
        let shown = format!("{p:?}");
        assert!(shown.contains("RSSMRA*****562S"), "{shown}");
        for secret in [
            "RSSMRA85T10A562S",
            "Mario",
            "Rossi",
            "Via Roma",
            "3331234567",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
