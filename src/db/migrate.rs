//! Embedded migrations, one tree per backend with the same names in both.

use super::{DbConn, DbError};
use diesel::migration::{Migration, MigrationSource};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

fn source_for(conn: &DbConn) -> EmbeddedMigrations {
    match conn {
        DbConn::Postgres(_) => POSTGRES,
        DbConn::Sqlite(_) => SQLITE,
    }
}

fn err(e: impl std::fmt::Display) -> DbError {
    DbError::Migration(e.to_string())
}

/// Applies every pending migration; returns the names applied.
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let source = source_for(conn);
    let applied = match conn {
        DbConn::Postgres(c) => c.run_pending_migrations(source).map_err(err)?,
        DbConn::Sqlite(c) => c.run_pending_migrations(source).map_err(err)?,
    };
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Reverts every applied migration, newest first (used by the migration tests).
pub fn revert_all(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let source = source_for(conn);
    let reverted = match conn {
        DbConn::Postgres(c) => c.revert_all_migrations(source).map_err(err)?,
        DbConn::Sqlite(c) => c.revert_all_migrations(source).map_err(err)?,
    };
    Ok(reverted.iter().map(ToString::to_string).collect())
}

/// Whether migrations embedded in this binary are still to be applied (readiness check).
pub fn has_pending(conn: &mut DbConn) -> Result<bool, DbError> {
    let source = source_for(conn);
    match conn {
        DbConn::Postgres(c) => c.has_pending_migration(source).map_err(err),
        DbConn::Sqlite(c) => c.has_pending_migration(source).map_err(err),
    }
}

/// The migration names embedded for one backend, in order.
pub fn names(source: &EmbeddedMigrations) -> Result<Vec<String>, DbError> {
    let list = MigrationSource::<diesel::sqlite::Sqlite>::migrations(source).map_err(err)?;
    Ok(list.iter().map(|m| m.name().to_string()).collect())
}
