//! Database URLs. The scheme picks the backend, strictly:
//! `postgres://…` / `postgresql://…`, or `sqlite://path`, `sqlite:path`, `sqlite::memory:`.
//! A SQLite path with a query string is passed on as an SQLite URI
//! (`sqlite:name?mode=memory&cache=shared`).

use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver receives: the whole URL for PostgreSQL, a path or URI for SQLite.
    target: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("the database URL is empty")]
    Empty,
    #[error(
        "unsupported database URL scheme `{0}`: use sqlite://path/to/file.db or postgres://user@host/db"
    )]
    UnsupportedScheme(String),
    #[error(
        "the database URL has no scheme: use sqlite://path/to/file.db or postgres://user@host/db"
    )]
    NoScheme,
    #[error("the SQLite URL names no file")]
    NoSqlitePath,
    #[error("cannot create the directory for the SQLite file {path}: {reason}")]
    SqliteDirectory { path: String, reason: String },
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::Empty);
        }
        let Some((scheme, rest)) = raw.split_once(':') else {
            return Err(UrlError::NoScheme);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Ok(Self {
                backend: Backend::Postgres,
                target: raw.to_owned(),
            }),
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return Err(UrlError::NoSqlitePath);
                }
                let target = if path.contains('?') && !path.starts_with("file:") {
                    format!("file:{path}")
                } else {
                    path.to_owned()
                };
                Ok(Self {
                    backend: Backend::Sqlite,
                    target,
                })
            }
            other => Err(UrlError::UnsupportedScheme(other.to_owned())),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn connection_string(&self) -> &str {
        &self.target
    }

    /// The file behind a SQLite URL, if it is a plain file (not memory, not a URI).
    pub fn sqlite_file(&self) -> Option<&Path> {
        let is_file = self.backend == Backend::Sqlite
            && self.target != ":memory:"
            && !self.target.starts_with("file:");
        is_file.then(|| Path::new(&self.target))
    }

    /// Creates the directory a SQLite file lives in (`./data/` on first run).
    pub fn prepare_sqlite_file(&self) -> Result<(), UrlError> {
        if let Some(dir) = self.sqlite_file().and_then(Path::parent)
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| UrlError::SqliteDirectory {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}

/// Never print a PostgreSQL password.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.backend {
            Backend::Sqlite => write!(f, "sqlite:{}", self.target),
            Backend::Postgres => {
                // scheme://user:password@host → scheme://user:***@host
                let shown = match (self.target.find("://"), self.target.rfind('@')) {
                    (Some(s), Some(at)) if at > s => {
                        let creds = self.target.get(s + 3..at).unwrap_or_default();
                        match creds.split_once(':') {
                            Some((user, _)) => format!(
                                "{}{user}:***{}",
                                self.target.get(..s + 3).unwrap_or_default(),
                                self.target.get(at..).unwrap_or_default()
                            ),
                            None => self.target.clone(),
                        }
                    }
                    _ => self.target.clone(),
                };
                f.write_str(&shown)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_pick_the_backend() {
        let cases = [
            (
                "sqlite://data/procura.db",
                Backend::Sqlite,
                "data/procura.db",
            ),
            ("sqlite:data/procura.db", Backend::Sqlite, "data/procura.db"),
            ("sqlite:///tmp/p.db", Backend::Sqlite, "/tmp/p.db"),
            ("sqlite::memory:", Backend::Sqlite, ":memory:"),
            (
                "sqlite:t1?mode=memory&cache=shared",
                Backend::Sqlite,
                "file:t1?mode=memory&cache=shared",
            ),
            (
                "postgres://u@localhost/p",
                Backend::Postgres,
                "postgres://u@localhost/p",
            ),
            (
                "postgresql://localhost/p",
                Backend::Postgres,
                "postgresql://localhost/p",
            ),
        ];
        for (raw, backend, target) in cases {
            let u = DatabaseUrl::parse(raw).unwrap();
            assert_eq!(u.backend(), backend, "{raw}");
            assert_eq!(u.connection_string(), target, "{raw}");
        }
    }

    #[test]
    fn bad_urls_name_the_problem() {
        assert_eq!(DatabaseUrl::parse(""), Err(UrlError::Empty));
        assert_eq!(
            DatabaseUrl::parse("data/procura.db"),
            Err(UrlError::NoScheme)
        );
        assert_eq!(DatabaseUrl::parse("sqlite://"), Err(UrlError::NoSqlitePath));
        assert_eq!(
            DatabaseUrl::parse("mysql://localhost/p"),
            Err(UrlError::UnsupportedScheme("mysql".into()))
        );
    }

    #[test]
    fn passwords_are_hidden() {
        let u = DatabaseUrl::parse("postgres://procura:s3cret@db:5432/procura").unwrap();
        assert_eq!(u.to_string(), "postgres://procura:***@db:5432/procura");
        assert!(!format!("{u:?}").contains("s3cret"));
    }
}
