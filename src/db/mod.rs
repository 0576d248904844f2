//! The database: the one place that knows there are two backends.
//!
//! `DbConn` is a diesel `MultiConnection` over SQLite (the embedded default) and PostgreSQL.
//! Domain modules write portable diesel queries against it; whatever differs between the
//! two (connection set-up, `BEGIN IMMEDIATE`, upserts, bulk loads) lives here.

pub mod bulk;
mod end_writes;
pub mod migrate;
pub mod schema;
pub mod statements;
mod url;

pub use self::end_writes::at_end;
pub use self::url::{Backend, DatabaseUrl, UrlError};

use crate::config::DatabaseConfig;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use statements::{Counting, StatementCounts};
use std::sync::Arc;
use std::time::Duration;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// How many times [`DbConn::write_transaction_retrying`] tries in all.
pub const TRANSIENT_TRIES: u64 = 4;

/// An error that may not happen again if the same transaction is tried again.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for diesel::result::Error {
    fn is_transient(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
            // A pooled connection found dead (the pool does not test them on check-out): it
            // is discarded, and the next try gets another.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
            Error::DatabaseError(_, info) => {
                let m = info.message();
                // PostgreSQL 40P01 (diesel has no kind for it); SQLite SQLITE_BUSY.
                m.starts_with("deadlock detected") || m.contains("database is locked")
            }
            _ => false,
        }
    }
}

impl Transient for DbError {
    fn is_transient(&self) -> bool {
        matches!(self, DbError::Query(e) if e.is_transient())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] ConnectionError),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("the blocking task was cancelled")]
    Cancelled,
    /// The group-commit batch holding an audit record was not committed (the reason, as
    /// told to every request of the batch).
    #[error("the audit batch was not committed: {0}")]
    AuditBatch(String),
    /// Not the database's fault, but met in the same places: ids and tokens written with
    /// a row come from the system CSPRNG, which can (in theory) fail.
    #[error("the system random number generator failed: {0}")]
    Entropy(#[from] std::io::Error),
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Postgres(_) => Backend::Postgres,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A read-write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write
    /// lock up front: a deferred transaction that reads and then writes can fail with
    /// SQLITE_BUSY when another writer got there in between, and busy_timeout cannot help.
    ///
    /// Writes handed to [`at_end`] during `f` run after `f` succeeded, just before the commit
    /// (this is how audit records come last; see [`crate::audit`] for the lock order).
    pub fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        match self {
            DbConn::Sqlite(c) => {
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
            }
            DbConn::Postgres(_) => {
                <Self as Connection>::TransactionManager::begin_transaction(self)?
            }
        }
        let scope = end_writes::Scope::enter(self);
        let outcome = f(self).and_then(|value| match scope.run(self) {
            Ok(()) => Ok(value),
            Err(e) => Err(E::from(e)),
        });
        match outcome {
            Ok(value) => {
                if let Err(e) = <Self as Connection>::TransactionManager::commit_transaction(self) {
                    // Leave the connection usable; the commit error is what the caller sees.
                    let _ = <Self as Connection>::TransactionManager::rollback_transaction(self);
                    return Err(e.into());
                }
                Ok(value)
            }
            Err(e) => {
                <Self as Connection>::TransactionManager::rollback_transaction(self)?;
                Err(e)
            }
        }
    }

    /// A read-only transaction that sees one consistent snapshot of the database for all its
    /// statements (PostgreSQL `REPEATABLE READ, READ ONLY`; on SQLite a deferred transaction,
    /// whose first read fixes the snapshot), for reads that span many statements while
    /// others write, such as walking the audit log of a running service.
    pub fn snapshot_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        match self {
            DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")?,
            DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction_sql(
                c,
                "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            )?,
        }
        let outcome = f(self);
        // Nothing was written: ending it either way is the same; commit unless `f` failed.
        match outcome {
            Ok(value) => {
                <Self as Connection>::TransactionManager::commit_transaction(self)?;
                Ok(value)
            }
            Err(e) => {
                <Self as Connection>::TransactionManager::rollback_transaction(self)?;
                Err(e)
            }
        }
    }

    /// [`write_transaction`](Self::write_transaction), run again (up to `TRANSIENT_TRIES`
    /// times in all) when it failed for a reason that another try can cure: a PostgreSQL
    /// serialization failure or deadlock, an SQLite database still locked after
    /// busy_timeout. `f` must be safe to repeat (each try starts from a rolled-back state).
    pub fn write_transaction_retrying<T, E, F>(&mut self, mut f: F) -> Result<T, E>
    where
        F: FnMut(&mut DbConn) -> Result<T, E>,
        E: From<diesel::result::Error> + Transient,
    {
        let mut tries = 1;
        loop {
            match self.write_transaction(&mut f) {
                Err(e) if e.is_transient() && tries < TRANSIENT_TRIES => {
                    tracing::warn!(tries, "transient database conflict; trying again");
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10 * tries));
                }
                other => return other,
            }
        }
    }

    fn ping(&mut self) -> QueryResult<()> {
        match self {
            DbConn::Postgres(c) => c.ping(),
            DbConn::Sqlite(c) => c.ping(),
        }
    }
}

/// An r2d2 manager that opens exactly the backend the URL's scheme names. (Diesel's generic
/// manager tries each backend in turn, and SQLite accepts any string as a file name, so a
/// mistyped PostgreSQL URL would quietly create a file.)
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    sqlite_busy_timeout: Duration,
    statements: Arc<StatementCounts>,
}

impl Manager {
    pub fn new(url: DatabaseUrl, sqlite_busy_timeout: Duration) -> Self {
        Self {
            url,
            sqlite_busy_timeout,
            statements: Arc::default(),
        }
    }

    /// The counts the connections this manager opens add to.
    pub fn statement_counts(&self) -> Arc<StatementCounts> {
        self.statements.clone()
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    pub fn connect(&self) -> Result<DbConn, DbError> {
        match self.url.backend() {
            Backend::Postgres => {
                init_tls_without_exit_cleanup();
                let mut c = diesel::PgConnection::establish(self.url.connection_string())?;
                c.set_instrumentation(Counting(self.statements.clone()));
                Ok(DbConn::Postgres(c))
            }
            Backend::Sqlite => {
                self.url.prepare_sqlite_file()?;
                let mut c = diesel::SqliteConnection::establish(self.url.connection_string())?;
                // WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                    self.sqlite_busy_timeout.as_millis()
                ))?;
                c.set_instrumentation(Counting(self.statements.clone()));
                Ok(DbConn::Sqlite(c))
            }
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        Manager::connect(self)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        Ok(conn.ping()?)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        if FAILED_PING.with(|f| f.replace(false)) {
            return true;
        }
        match conn {
            DbConn::Postgres(c) => c.is_broken(),
            DbConn::Sqlite(c) => c.is_broken(),
        }
    }
}

/// Initialises OpenSSL, which libpq uses for TLS to PostgreSQL, the way the `openssl` crate
/// does: without OpenSSL's clean-up at process exit. Were libpq the first to initialise it,
/// that clean-up would free OpenSSL's state while pool and audit-writer threads may still
/// close their TLS connections, and the process would crash as it exits. Idempotent.
pub fn init_tls_without_exit_cleanup() {
    openssl::init();
}

/// One connection, no pool: for one-shot commands, which then leave no background pool
/// threads still connecting when the process exits.
pub fn connect(cfg: &DatabaseConfig) -> Result<DbConn, DbError> {
    let url = DatabaseUrl::parse(cfg.url.expose())?;
    Manager::new(url, Duration::from_millis(cfg.sqlite_busy_timeout_ms)).connect()
}

/// Opens the pool. One connection is made first, outside the pool, so that a wrong URL,
/// a refused connection or a bad password is reported as itself rather than as a pool timeout.
pub fn build_pool(cfg: &DatabaseConfig) -> Result<Pool, DbError> {
    Ok(build_counted_pool(cfg)?.0)
}

/// [`build_pool`], with the statement counts of its connections.
pub fn build_counted_pool(cfg: &DatabaseConfig) -> Result<(Pool, Arc<StatementCounts>), DbError> {
    let url = DatabaseUrl::parse(cfg.url.expose())?;
    let manager = Manager::new(url, Duration::from_millis(cfg.sqlite_busy_timeout_ms));
    let counts = manager.statement_counts();
    let first = manager.connect()?;
    drop(first);
    let pool = r2d2::Pool::builder()
        .max_size(cfg.pool_max_size.max(1))
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(cfg.connect_timeout_secs.max(1)))
        // No `SELECT 1` before every use (a round trip per request on PostgreSQL): a dead
        // connection is found by the work that fails on it, and `with_conn` discards it.
        .test_on_check_out(false)
        .error_handler(Box::new(LogPoolErrors))
        .build(manager)?;
    Ok((pool, counts))
}

#[derive(Debug)]
struct LogPoolErrors;

impl r2d2::HandleError<DbError> for LogPoolErrors {
    fn handle_error(&self, error: DbError) {
        tracing::error!(%error, "database pool error");
    }
}

thread_local! {
    /// Set just before a pooled connection whose ping failed goes back to the pool, read (and
    /// cleared) by [`Manager::has_broken`] on the same thread as it goes back.
    static FAILED_PING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with a pooled connection (on the calling thread). The pool does not test a
/// connection before handing it out; when `f` fails, the connection is pinged, and one that
/// no longer answers is discarded rather than handed to the next request (which would fail
/// too). The error of `f` is still this caller's (a closed connection is
/// [`Transient`]: a retry gets another one).
pub fn with_conn<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<DbError>,
{
    let mut conn = pool.get().map_err(DbError::from)?;
    let result = f(&mut conn);
    if result.is_err() && conn.ping().is_err() {
        tracing::warn!("discarding a database connection that no longer answers");
        FAILED_PING.with(|f| f.set(true));
    }
    drop(conn);
    FAILED_PING.with(|f| f.set(false));
    result
}

/// The one async→blocking bridge: takes a pooled connection on the blocking thread pool and
/// runs `f` with it ([`with_conn`]), so diesel never blocks an async worker.
pub async fn run<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || with_conn(&pool, f))
        .await
        .map_err(|_| E::from(DbError::Cancelled))?
}
