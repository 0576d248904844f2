//! What the benchmark binaries share: database configuration and throwaway PostgreSQL
//! databases. Each binary uses a part of it, hence `dead_code` is allowed here.
#![allow(dead_code, clippy::expect_used)]

pub mod persons_csv;

use diesel::{Connection, PgConnection, RunQueryDsl};
use procura::config::{DatabaseConfig, Secret};

pub fn database_config(url: &str, pool_max_size: u32) -> DatabaseConfig {
    DatabaseConfig {
        url: Secret::from(url),
        pool_max_size,
        ..DatabaseConfig::default()
    }
}

/// A PostgreSQL database of our own, dropped when this goes out of scope (even on panic).
pub struct ScratchDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl ScratchDatabase {
    pub fn create(admin_url: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("procura_bench_{}_{nanos}", std::process::id());
        let mut admin = PgConnection::establish(admin_url).expect("connect to BENCH_DATABASE_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("CREATE DATABASE");
        Self {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    /// `pg_database_size`, in bytes.
    pub fn size(&self) -> u64 {
        #[derive(diesel::QueryableByName)]
        struct Size {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            bytes: i64,
        }
        let mut conn = PgConnection::establish(&self.url).expect("connect to the bench database");
        let size: Size = diesel::sql_query("SELECT pg_database_size(current_database()) AS bytes")
            .get_result(&mut conn)
            .expect("pg_database_size");
        u64::try_from(size.bytes).unwrap_or(0)
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let dropped = PgConnection::establish(&self.admin_url).and_then(|mut admin| {
            diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop the database {}: {e}", self.name);
        }
    }
}

/// The admin URL with its database (the path) replaced; query parameters are kept.
pub fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}
