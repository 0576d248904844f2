//! `TestApp`: the real application (same `http::app` as `serve`) on a throwaway database —
//! an SQLite file in a temporary directory, or, when `TEST_DATABASE_URL` names a PostgreSQL
//! server, a fresh database on it that is dropped with the `TestApp`.
//!
//! SQLite uses a file rather than shared-cache `:memory:`: shared-cache mode reports
//! SQLITE_LOCKED to concurrent writers, which busy_timeout does not wait out, so tests
//! with parallel writers would see errors production (WAL file) never does.

use actix_web::body::to_bytes;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use chrono::{TimeZone, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use procura::clock::ManualClock;
use procura::config::{Config, Secret};
use procura::db::PooledConn;
use procura::{AppState, Migrations, http};
use std::sync::Arc;
use tempfile::TempDir;

/// 32 bytes, hex: the audit key of every test app.
pub const AUDIT_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub struct TestApp {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    _dirs: TempDir,
    _db: TestDb,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem of the given status and type slug; returns its body.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str) -> serde_json::Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let p = self.json();
        assert_eq!(
            p["type"],
            format!("https://procura.inps.it/problems/{slug}"),
            "{p}"
        );
        assert_eq!(p["status"], status, "{p}");
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        assert!(p["detail"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        p
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A test app whose configuration `adjust` may change first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dirs = tempfile::tempdir().unwrap();
        let db = TestDb::create(&dirs);
        let mut config = Config::default();
        config.database.url = Secret(db.url.clone());
        config.database.pool_max_size = 4;
        config.keys.dir = dirs.path().join("keys");
        config.notify.files_dir = dirs.path().join("outbox");
        config.notify.print_spool_dir = dirs.path().join("print-spool");
        config.audit.hmac_key = Some(Secret::from(AUDIT_KEY_HEX));
        // The test binary runs dozens of apps at once at nice 0: argon2 threads at nice 10
        // would wait behind their neighbours, and tests that count on ten PIN checks fitting
        // in a rate limiter's refill time (6 s) would fail on a loaded machine. The lower
        // priority itself is tested in `password` and `worker_pool`.
        config.pin.hasher_nice = 0;
        adjust(&mut config);
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
        ));
        let cfg = config.clone();
        let clock_dyn: Arc<dyn procura::clock::Clock> = clock.clone();
        let state = actix_web::rt::task::spawn_blocking(move || {
            AppState::init(cfg, clock_dyn, Migrations::Apply)
        })
        .await
        .unwrap()
        .unwrap();
        Self {
            state,
            clock,
            config,
            _dirs: dirs,
            _db: db,
        }
    }

    /// Another instance of the service on the same database: its own pool and in-memory
    /// state, the same configuration and clock (as a second `serve` behind a balancer).
    pub async fn another_instance(&self) -> AppState {
        let cfg = self.config.clone();
        let clock: Arc<dyn procura::clock::Clock> = self.clock.clone();
        actix_web::rt::task::spawn_blocking(move || AppState::init(cfg, clock, Migrations::Apply))
            .await
            .unwrap()
            .unwrap()
    }

    /// The database URL, for running the `procura` binary against the same database.
    pub fn database_url(&self) -> &str {
        self.config.database.url.expose()
    }

    pub fn conn(&self) -> PooledConn {
        self.state.db.get().unwrap()
    }

    pub async fn call(&self, req: TestRequest) -> TestResponse {
        let app = test::init_service(http::app(self.state.clone())).await;
        let resp = test::call_service(&app, req.to_request()).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = to_bytes(resp.into_body())
            .await
            .unwrap_or_default()
            .to_vec();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.call(TestRequest::get().uri(path)).await
    }

    pub async fn post_json(&self, path: &str, body: &str) -> TestResponse {
        self.call(
            TestRequest::post()
                .uri(path)
                .insert_header(("content-type", "application/json"))
                .set_payload(body.to_owned()),
        )
        .await
    }
}

/// The throwaway database behind a `TestApp`.
struct TestDb {
    url: String,
    /// For PostgreSQL: the server's admin URL and the database to drop.
    postgres: Option<(String, String)>,
}

impl TestDb {
    fn create(dirs: &TempDir) -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if admin.starts_with("postgres") => {
                let name = format!("procura_test_{}", uuid::Uuid::new_v4().simple());
                // Before libpq's first TLS connection: no OpenSSL clean-up racing the pool
                // threads of other tests' apps as the test process exits.
                procura::db::init_tls_without_exit_cleanup();
                let mut conn = PgConnection::establish(&admin)
                    .unwrap_or_else(|e| panic!("TEST_DATABASE_URL unreachable: {e}"));
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
                Self {
                    url: with_database(&admin, &name),
                    postgres: Some((admin, name)),
                }
            }
            Ok(other) if !other.is_empty() => {
                panic!("TEST_DATABASE_URL must be a postgres:// URL, not {other}")
            }
            _ => Self {
                url: format!("sqlite://{}", dirs.path().join("procura.db").display()),
                postgres: None,
            },
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            // FORCE closes the pool's connections, still open while the TestApp drops.
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// `postgres://u@h:5432/admin?x=y` → `postgres://u@h:5432/<name>?x=y`.
fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = admin
        .split_once('?')
        .map_or((admin, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Runs blocking database work off the test's async thread.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    actix_web::rt::task::spawn_blocking(f).await.unwrap()
}

impl TestApp {
    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        use procura::clock::Clock;
        self.clock.now()
    }

    /// Runs `f` off the async thread (diesel blocks) with a pooled connection, the app's
    /// audit key and the clock's current time: what domain functions take.
    pub async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut procura::db::DbConn, &procura::audit::AuditKey, chrono::DateTime<Utc>) -> T
        + Send
        + 'static,
    ) -> T {
        let pool = self.state.db.clone();
        let key = self.state.audit_key.clone();
        let now = self.clock_now();
        blocking(move || f(&mut pool.get().unwrap(), &key, now)).await
    }
}

/// Runs the `procura` binary with `env` added (logs at error level only).
pub fn procura(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_procura"));
    cmd.args(args).env("PROCURA_LOG__FILTER", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Everything a command printed, and how it exited: for assertion messages.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}[{}]",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status
    )
}
