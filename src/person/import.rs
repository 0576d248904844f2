//! `procura persons import FILE.csv`: loads the persons registry from a CSV export.
//!
//! The file is streamed (memory stays flat whatever its size) and imported in **one
//! transaction**: every row is validated, and if any row is wrong nothing is written and
//! every bad row is reported with its line number and reason. Rows are keyed by codice
//! fiscale, so importing again updates people instead of duplicating them; within one file
//! a later row for the same code wins. Columns are matched by header name (any order); the
//! delimiter (`,` or `;`) is detected from the header line.

use super::contact::{normalize_email, normalize_mobile};
use super::{CodiceFiscale, Person, registry};
use crate::audit::{self, AuditKey, Event, Outcome, Party};
use crate::db::{DbConn, DbError, bulk};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use std::io::{BufRead, BufReader, Read};

/// The columns, as named in the header. The first nine are required.
pub const COLUMNS: [&str; 12] = [
    "codice_fiscale",
    "cognome",
    "nome",
    "data_nascita",
    "sesso",
    "indirizzo",
    "cap",
    "comune",
    "provincia",
    "cellulare",
    "email",
    "pec",
];
const REQUIRED: usize = 9;
/// How many bad rows are listed one by one; the rest are only counted.
pub const MAX_LISTED_ERRORS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: Option<&'static str>,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.column {
            Some(c) => write!(f, "line {}, {c}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows read (the header excluded).
    pub rows: u64,
    pub inserted: u64,
    pub updated: u64,
    /// Rows with at least one error.
    pub rejected_rows: u64,
    /// The first `MAX_LISTED_ERRORS` errors.
    pub errors: Vec<RowError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the header is not usable: {0}")]
    Header(String),
    #[error("cannot read the file: {0}")]
    Read(String),
    #[error("{} of {} rows are invalid; nothing was imported", .0.rejected_rows, .0.rows)]
    Rejected(ImportReport),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ImportError {
    fn from(e: diesel::result::Error) -> Self {
        ImportError::Db(e.into())
    }
}

/// Imports `input` in one transaction and records it in the audit log (a refused import too).
pub fn import_csv(
    conn: &mut DbConn,
    key: &AuditKey,
    input: impl Read,
    source: &str,
    actor: Party,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    let result = conn.write_transaction(|c| {
        let before = registry::count(c)?;
        let mut report = load_rows(c, input, now)?;
        let after = registry::count(c)?;
        report.inserted = u64::try_from(after - before).unwrap_or_default();
        report.updated = report.rows - report.inserted;
        let event = Event::new(actor.clone(), "persons.import", Outcome::Success).detail(json!({
            "source": source,
            "rows": report.rows,
            "inserted": report.inserted,
            "updated": report.updated,
        }));
        audit::append(c, key, now, event)?;
        Ok(report)
    });
    // Housekeeping after the commit: the import has succeeded whatever happens here.
    if result.is_ok()
        && let Err(e) = bulk::checkpoint_after_bulk(conn)
    {
        tracing::warn!(error = %e, "persons import: WAL checkpoint failed");
    }
    if let Err(ImportError::Rejected(report)) = &result {
        let event = Event::new(actor, "persons.import", Outcome::Failure).detail(json!({
            "source": source,
            "rows": report.rows,
            "rejected_rows": report.rejected_rows,
        }));
        audit::append_alone(conn, key, now, event)?;
    }
    result
}

fn load_rows(
    conn: &mut DbConn,
    input: impl Read,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let delimiter = detect_delimiter(&mut input)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(input);
    let columns = ColumnMap::from_header(
        reader
            .headers()
            .map_err(|e| ImportError::Header(e.to_string()))?,
    )?;

    let today = now.date_naive();
    let stamp = now.naive_utc();
    let mut report = ImportReport::default();
    let mut batch: Vec<Person> = Vec::with_capacity(bulk::PERSONS_BATCH);
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                report.rows += 1;
                let line = record.position().map_or(line, csv::Position::line);
                match columns.person(&record, today, stamp) {
                    Ok(p) if report.rejected_rows == 0 => {
                        batch.push(p);
                        if batch.len() >= bulk::PERSONS_BATCH {
                            bulk::upsert_persons(conn, &batch)?;
                            batch.clear();
                        }
                    }
                    // After the first bad row nothing will be kept: validate only.
                    Ok(_) => {}
                    Err(errs) => reject(
                        &mut report,
                        errs.into_iter().map(|(column, reason)| RowError {
                            line,
                            column: Some(column),
                            reason,
                        }),
                    ),
                }
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. } => {
                    report.rows += 1;
                    let line = e.position().map_or(line, csv::Position::line);
                    let reason = match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8 text".to_owned(),
                        _ => format!(
                            "the row does not have {} fields like the header",
                            columns.width
                        ),
                    };
                    reject(
                        &mut report,
                        [RowError {
                            line,
                            column: None,
                            reason,
                        }],
                    );
                }
                _ => return Err(ImportError::Read(e.to_string())),
            },
        }
    }
    if report.rejected_rows > 0 {
        return Err(ImportError::Rejected(report));
    }
    bulk::upsert_persons(conn, &batch)?;
    Ok(report)
}

fn reject(report: &mut ImportReport, errors: impl IntoIterator<Item = RowError>) {
    report.rejected_rows += 1;
    for e in errors {
        if report.errors.len() < MAX_LISTED_ERRORS {
            report.errors.push(e);
        }
    }
}

/// `;` when the header line has semicolons and no commas (Italian spreadsheet exports), else `,`.
fn detect_delimiter(input: &mut impl BufRead) -> Result<u8, ImportError> {
    let head = input
        .fill_buf()
        .map_err(|e| ImportError::Read(e.to_string()))?;
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let has = |c: u8| first_line.contains(&c);
    Ok(if has(b';') && !has(b',') { b';' } else { b',' })
}

/// Where each known column sits in the file.
struct ColumnMap {
    index: [Option<usize>; 12],
    width: usize,
}

impl ColumnMap {
    fn from_header(header: &csv::StringRecord) -> Result<Self, ImportError> {
        let mut index = [None; 12];
        for (pos, name) in header.iter().enumerate() {
            let name = name.trim().to_ascii_lowercase();
            let known = COLUMNS.iter().position(|c| *c == name).ok_or_else(|| {
                ImportError::Header(format!(
                    "unknown column `{name}` (known columns: {})",
                    COLUMNS.join(", ")
                ))
            })?;
            let slot = index
                .get_mut(known)
                .ok_or_else(|| ImportError::Header(name.clone()))?;
            if slot.replace(pos).is_some() {
                return Err(ImportError::Header(format!(
                    "column `{name}` appears twice"
                )));
            }
        }
        let missing: Vec<&str> = COLUMNS
            .iter()
            .zip(index.iter())
            .take(REQUIRED)
            .filter(|(_, i)| i.is_none())
            .map(|(c, _)| *c)
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::Header(format!(
                "missing required column(s): {}",
                missing.join(", ")
            )));
        }
        Ok(Self {
            index,
            width: header.len(),
        })
    }

    fn get<'r>(&self, record: &'r csv::StringRecord, column: usize) -> &'r str {
        self.index
            .get(column)
            .copied()
            .flatten()
            .and_then(|i| record.get(i))
            .unwrap_or("")
    }

    /// Validates one row; every wrong field is reported, not just the first.
    fn person(
        &self,
        r: &csv::StringRecord,
        today: NaiveDate,
        stamp: chrono::NaiveDateTime,
    ) -> Result<Person, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let mut check = |column: &'static str, outcome: Result<String, String>| match outcome {
            Ok(v) => v,
            Err(reason) => {
                errors.push((column, reason));
                String::new()
            }
        };
        let cf = CodiceFiscale::parse(self.get(r, 0));
        let codice_fiscale = check(
            "codice_fiscale",
            cf.as_ref()
                .map(|c| c.as_str().to_owned())
                .map_err(|e| format!("{} ({e})", e.reason())),
        );
        let family_name = check("cognome", personal_name(self.get(r, 1)));
        let given_name = check("nome", personal_name(self.get(r, 2)));
        let birth_date = parse_date(self.get(r, 3)).and_then(|d| {
            if d > today {
                return Err("the birth date is in the future".to_owned());
            }
            match &cf {
                Ok(c) if c.birth_date(d) != d => {
                    Err("the birth date differs from the one in the codice fiscale".to_owned())
                }
                _ => Ok(d),
            }
        });
        let sex = match (self.get(r, 4).to_ascii_uppercase().as_str(), &cf) {
            (s @ ("M" | "F"), Ok(c)) if c.sex().as_str() != s => {
                Err("the sex differs from the one in the codice fiscale".to_owned())
            }
            (s @ ("M" | "F"), _) => Ok(s.to_owned()),
            _ => Err("must be M or F".to_owned()),
        };
        let sex = check("sesso", sex);
        let address = check("indirizzo", text(self.get(r, 5), 200));
        let province = check("provincia", province(self.get(r, 8)));
        let postal_code = check("cap", postal_code(self.get(r, 6), &province));
        let municipality = check("comune", text(self.get(r, 7), 100));
        let mut optional = |column: &'static str, idx: usize, f: fn(&str) -> Result<String, _>| {
            let raw = self.get(r, idx);
            if raw.is_empty() {
                return None;
            }
            Some(check(
                column,
                f(raw).map_err(|e: super::contact::ContactError| e.to_string()),
            ))
        };
        let mobile = optional("cellulare", 9, normalize_mobile);
        let email = optional("email", 10, normalize_email);
        let pec = optional("pec", 11, normalize_email);
        let birth_date = match birth_date {
            Ok(d) => Some(d),
            Err(reason) => {
                errors.push(("data_nascita", reason));
                None
            }
        };
        match (errors.is_empty(), birth_date) {
            (true, Some(birth_date)) => Ok(Person {
                codice_fiscale,
                given_name,
                family_name,
                birth_date,
                sex,
                address,
                postal_code,
                municipality,
                province,
                mobile,
                email,
                pec,
                created_at: stamp,
                updated_at: stamp,
            }),
            _ => Err(errors),
        }
    }
}

fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d/%m/%Y"))
        .map_err(|_| "not a date (expected YYYY-MM-DD or DD/MM/YYYY)".to_owned())
}

/// Letters (accented too), spaces, apostrophes, hyphens and dots: "D'Angelo", "De Santis-Ré".
fn personal_name(raw: &str) -> Result<String, String> {
    let ok = raw
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '’' | '-' | '.'));
    match raw.chars().count() {
        0 => Err("is empty".to_owned()),
        n if n > 100 => Err("is longer than 100 characters".to_owned()),
        _ if !ok || !raw.chars().any(char::is_alphabetic) => {
            Err("may contain only letters, spaces, apostrophes, hyphens and dots".to_owned())
        }
        _ => Ok(raw.to_owned()),
    }
}

fn text(raw: &str, max: usize) -> Result<String, String> {
    match raw.chars().count() {
        0 => Err("is empty".to_owned()),
        n if n > max => Err(format!("is longer than {max} characters")),
        _ if raw.chars().any(char::is_control) => Err("contains control characters".to_owned()),
        _ => Ok(raw.to_owned()),
    }
}

/// Two-letter sigla; `EE` for residence abroad.
fn province(raw: &str) -> Result<String, String> {
    let p = raw.to_ascii_uppercase();
    if p.len() == 2 && p.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(p)
    } else {
        Err("must be the two-letter province code (EE for abroad)".to_owned())
    }
}

/// Five digits in Italy; abroad (province EE) foreign postal codes vary.
fn postal_code(raw: &str, province: &str) -> Result<String, String> {
    if province == "EE" {
        return text(raw, 12);
    }
    if raw.len() == 5 && raw.chars().all(|c| c.is_ascii_digit()) {
        Ok(raw.to_owned())
    } else {
        Err("must be five digits".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "Rossi",
            "D'Angelo",
            "De Santis-Ré",
            "Maria Grazia",
            "O’Neill",
        ] {
            assert!(personal_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "R2D2", "Rossi;", "--", &"a".repeat(101)] {
            assert!(personal_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_in_both_forms() {
        let d = NaiveDate::from_ymd_opt(1985, 12, 10).unwrap();
        assert_eq!(parse_date("1985-12-10"), Ok(d));
        assert_eq!(parse_date("10/12/1985"), Ok(d));
        assert!(parse_date("1985-13-10").is_err());
        assert!(parse_date("10-12-1985").is_err());
    }

    #[test]
    fn postal_codes_depend_on_the_province() {
        assert!(postal_code("00100", "RM").is_ok());
        assert!(postal_code("0010", "RM").is_err());
        assert!(postal_code("SW1A 1AA", "EE").is_ok());
        assert!(province("rm").is_ok());
        assert!(province("Roma").is_err());
    }

    #[test]
    fn semicolons_are_detected() {
        let mut semi = BufReader::new("codice_fiscale;cognome\n".as_bytes());
        assert_eq!(detect_delimiter(&mut semi).unwrap(), b';');
        let mut comma = BufReader::new("codice_fiscale,cognome\nX;Y\n".as_bytes());
        assert_eq!(detect_delimiter(&mut comma).unwrap(), b',');
    }
}
