//! Persons-import benchmark: one `import_csv` of a large generated CSV, per backend.
//!
//! # Running it
//!
//! ```text
//! # SQLite only (1,000,000 rows by default):
//! nice cargo bench --bench persons_import
//! # SQLite and PostgreSQL: give an admin URL; a throwaway database
//! # `procura_bench_<pid>_<time>` is created there and dropped (WITH (FORCE)) at the end.
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     nice cargo bench --bench persons_import
//! # A quick smoke run:
//! BENCH_ROWS=20000 cargo bench --bench persons_import
//! # or bench/persons_import.sh, which picks up a local PostgreSQL by itself.
//! ```
//!
//! A plain `main` rather than criterion: one import of a million rows *is* the measurement,
//! and criterion's ten-plus samples would take far too long.
//!
//! # What it measures
//!
//! 1. It writes a CSV of `BENCH_ROWS` (default 1,000,000) deterministic pseudo-random valid
//!    persons to a temporary file, streaming: unique valid codici fiscali (women, births in
//!    both centuries, abroad, about 3 % omocodic), names with accents and apostrophes,
//!    addresses (some quoted because of a comma), CAP, comune, provincia (a few `EE`
//!    residents abroad), dates in both accepted formats, mobiles on most rows, e-mail on many,
//!    PEC on some. The generator's time is reported but not part of any measurement.
//! 2. For each backend (SQLite always, on a temporary file with the pragmas the app sets: WAL,
//!    `synchronous = NORMAL`; PostgreSQL when `BENCH_DATABASE_URL` is set) it starts from a
//!    fresh database, runs the migrations, and times `import_csv` — the whole public call:
//!    CSV parsing, validation of every row, the upserts, the audit record and the commit —
//!    twice on the same file: the first pass inserts every row, the second updates every row.
//!    The report's counts are asserted (inserted = N then updated = N) so that a failing
//!    import cannot pass for a fast one.
//! 3. Once, on SQLite, a "validate only" pass: the same file with one invalid row put first.
//!    The import then parses and validates every row but writes nothing, which shows how much
//!    of an import is CSV parsing and validation rather than the database.
//!
//! For each pass it prints rows, seconds, rows/s and this process's peak RSS (`VmHWM` from
//! `/proc/self/status`, reset before each pass through `/proc/self/clear_refs` where the
//! kernel allows it, so each figure is that pass's own peak). A flat peak RSS whatever
//! `BENCH_ROWS` is shows that the import streams. PostgreSQL's own memory is in its server
//! processes and is not counted. A summary table follows at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use chrono::Utc;
use common::ScratchDatabase;
use common::persons_csv::{LETTER_SPACE, generate_csv};
use diesel::RunQueryDsl;
use procura::audit::{AuditKey, Party};
use procura::db::{self, DbConn};
use procura::person::import::{ImportError, ImportReport, import_csv};
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEFAULT_ROWS: u64 = 1_000_000;

fn main() {
    let rows = std::env::var("BENCH_ROWS")
        .ok()
        .map(|v| {
            v.replace('_', "")
                .parse::<u64>()
                .expect("BENCH_ROWS must be a positive number")
        })
        .unwrap_or(DEFAULT_ROWS);
    assert!(
        (1..LETTER_SPACE).contains(&rows),
        "BENCH_ROWS must be between 1 and {LETTER_SPACE}"
    );
    let pg_admin = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());

    let dir = tempfile::tempdir().expect("temporary directory");
    let csv_path = dir.path().join("persons.csv");
    println!("persons_import benchmark: {rows} rows");
    println!("  baseline RSS: {}", kib(rss().current));
    let started = Instant::now();
    generate_csv(&csv_path, rows).expect("write the CSV");
    let csv_bytes = std::fs::metadata(&csv_path).expect("CSV metadata").len();
    println!(
        "  generated {} ({}) in {:.2} s; generator peak RSS {}",
        csv_path.display(),
        mib(csv_bytes),
        started.elapsed().as_secs_f64(),
        kib(rss().peak)
    );

    let key = AuditKey::from_bytes(&[0x5a; 32]).expect("audit key");
    let mut results = Vec::new();

    // SQLite: a file next to the CSV, opened through the app's pool (and so its pragmas).
    let sqlite_path = dir.path().join("bench.db");
    let config = common::database_config(&format!("sqlite://{}", sqlite_path.display()), 2);
    {
        let pool = db::build_pool(&config).expect("open the SQLite database");
        let mut conn = pool.get().expect("SQLite connection");
        db::migrate::run_pending(&mut conn).expect("SQLite migrations");
        println!("\nsqlite ({})", sqlite_path.display());
        results.extend(import_twice("sqlite", &mut conn, &key, &csv_path, rows));
        let wal = PathBuf::from(format!("{}-wal", sqlite_path.display()));
        println!(
            "  database file {}, WAL {}",
            mib(file_len(&sqlite_path)),
            mib(file_len(&wal))
        );
        results.push(validate_only("sqlite", &mut conn, &key, &csv_path, rows));
    }

    match &pg_admin {
        None => println!(
            "\npostgres: skipped (set BENCH_DATABASE_URL to an admin URL, e.g. \
             postgres://postgres@127.0.0.1:5432/postgres)"
        ),
        Some(admin) => {
            let scratch = ScratchDatabase::create(admin);
            println!("\npostgres (database {})", scratch.name);
            {
                let pool = db::build_pool(&common::database_config(&scratch.url, 2))
                    .expect("open the PostgreSQL database");
                let mut conn = pool.get().expect("PostgreSQL connection");
                db::migrate::run_pending(&mut conn).expect("PostgreSQL migrations");
                results.extend(import_twice("postgres", &mut conn, &key, &csv_path, rows));
            }
            println!("  database size {}", mib(scratch.size()));
        }
    }

    print_summary(rows, csv_bytes, &results);
}

// ---- measurement ---------------------------------------------------------------------

struct Measurement {
    backend: &'static str,
    pass: &'static str,
    rows: u64,
    elapsed: Duration,
    /// User + system CPU time of this process.
    cpu: Duration,
    /// CPU time of the PostgreSQL backend process serving the connection, when it runs on
    /// this machine and `/proc` shows it.
    server_cpu: Option<Duration>,
    peak_rss_kib: u64,
    rss_after_kib: u64,
}

impl Measurement {
    fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn print(&self) {
        println!(
            "  {:<16} {:>9} rows {:>8.2} s {:>9.0} rows/s   peak RSS {}   CPU: bench {}, server {}",
            self.pass,
            self.rows,
            self.elapsed.as_secs_f64(),
            self.rows_per_second(),
            kib(self.peak_rss_kib),
            seconds(Some(self.cpu)),
            seconds(self.server_cpu),
        );
    }
}

/// Runs `f` with the peak RSS reset (when the kernel allows) and records what it cost.
/// `server` is the PID of the PostgreSQL backend serving the connection, if known.
fn measure<T>(
    backend: &'static str,
    pass: &'static str,
    rows: u64,
    server: Option<u32>,
    f: impl FnOnce() -> T,
) -> (T, Measurement) {
    let server_cpu_before = server.and_then(process_cpu);
    reset_peak_rss();
    let cpu_before = process_cpu(std::process::id()).unwrap_or_default();
    let started = Instant::now();
    let value = f();
    let elapsed = started.elapsed();
    let cpu = process_cpu(std::process::id())
        .unwrap_or_default()
        .saturating_sub(cpu_before);
    let server_cpu = server
        .and_then(process_cpu)
        .zip(server_cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let memory = rss();
    let m = Measurement {
        backend,
        pass,
        rows,
        elapsed,
        cpu,
        server_cpu,
        peak_rss_kib: memory.peak,
        rss_after_kib: memory.current,
    };
    m.print();
    (value, m)
}

fn import_twice(
    backend: &'static str,
    conn: &mut DbConn,
    key: &AuditKey,
    csv: &Path,
    rows: u64,
) -> Vec<Measurement> {
    let server = backend_pid(conn);
    let mut out = Vec::new();
    for (pass, inserted, updated) in [("insert (1st)", rows, 0), ("update (2nd)", 0, rows)] {
        let file = File::open(csv).expect("open the CSV");
        let (result, m) = measure(backend, pass, rows, server, || {
            import_csv(
                conn,
                key,
                file,
                "bench/persons.csv",
                Party::cli("bench"),
                Utc::now(),
            )
        });
        let report = expect_report(result);
        assert_eq!(
            report,
            ImportReport {
                rows,
                inserted,
                updated,
                rejected_rows: 0,
                errors: Vec::new(),
            },
            "{backend} {pass}: unexpected report"
        );
        out.push(m);
    }
    out
}

/// The file with one invalid row put first: every row is parsed and validated, none written.
fn validate_only(
    backend: &'static str,
    conn: &mut DbConn,
    key: &AuditKey,
    csv: &Path,
    rows: u64,
) -> Measurement {
    let mut body = BufReader::new(File::open(csv).expect("open the CSV"));
    let mut header = String::new();
    body.read_line(&mut header).expect("read the CSV header");
    let bad_row = "RSSMRA85T10A562T,Rossi,Mario,1985-12-10,M,Via Roma 1,00100,Roma,RM,,,\n";
    let input = Cursor::new(format!("{header}{bad_row}")).chain(body);
    let (result, m) = measure(backend, "validate only", rows, None, || {
        import_csv(
            conn,
            key,
            input,
            "bench/invalid.csv",
            Party::cli("bench"),
            Utc::now(),
        )
    });
    match result {
        Err(ImportError::Rejected(r)) => {
            assert_eq!((r.rows, r.rejected_rows), (rows + 1, 1), "{r:?}");
            assert_eq!(r.errors.len(), 1, "{r:?}");
            assert_eq!(r.errors[0].line, 2, "{r:?}");
        }
        other => panic!("the invalid file was not rejected as expected: {other:?}"),
    }
    m
}

fn expect_report(result: Result<ImportReport, ImportError>) -> ImportReport {
    match result {
        Ok(report) => report,
        Err(ImportError::Rejected(r)) => {
            for e in &r.errors {
                eprintln!("  {e}");
            }
            panic!(
                "the generated file was rejected: {} of {} rows invalid",
                r.rejected_rows, r.rows
            );
        }
        Err(e) => panic!("import failed: {e}"),
    }
}

fn print_summary(rows: u64, csv_bytes: u64, results: &[Measurement]) {
    println!(
        "\nsummary: {rows} rows, CSV {}, {} CPU(s)",
        mib(csv_bytes),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let rule = "-".repeat(102);
    println!("{rule}");
    println!(
        "{:<9} {:<14} {:>9} {:>9} {:>10} {:>10} {:>10} {:>11} {:>11}",
        "backend",
        "pass",
        "rows",
        "seconds",
        "rows/s",
        "bench CPU",
        "server CPU",
        "peak RSS",
        "RSS after"
    );
    println!("{rule}");
    for m in results {
        println!(
            "{:<9} {:<14} {:>9} {:>9.2} {:>10.0} {:>10} {:>10} {:>11} {:>11}",
            m.backend,
            m.pass,
            m.rows,
            m.elapsed.as_secs_f64(),
            m.rows_per_second(),
            seconds(Some(m.cpu)),
            seconds(m.server_cpu),
            kib(m.peak_rss_kib),
            kib(m.rss_after_kib)
        );
    }
    println!("{rule}");
    println!(
        "bench CPU: user + system time of this process (CSV parsing, validation, diesel, and \
         SQLite itself);\nserver CPU: the PostgreSQL backend serving the import, when it runs \
         on this machine."
    );
    if !PEAK_RESET_WORKS.load(std::sync::atomic::Ordering::Relaxed) {
        println!("note: /proc/self/clear_refs is not writable: peak RSS is the process's so far");
    }
}

// ---- memory ---------------------------------------------------------------------------

static PEAK_RESET_WORKS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

struct Rss {
    /// VmHWM, KiB.
    peak: u64,
    /// VmRSS, KiB.
    current: u64,
}

fn rss() -> Rss {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Rss {
        peak: field("VmHWM:"),
        current: field("VmRSS:"),
    }
}

/// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
fn reset_peak_rss() {
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        PEAK_RESET_WORKS.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// User + system CPU time of a process, from `/proc/<pid>/stat` (in USER_HZ = 1/100 s).
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or_else(|| "n/a".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
}

fn kib(k: u64) -> String {
    format!("{:.1} MiB", k as f64 / 1024.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

// ---- databases ------------------------------------------------------------------------

/// The PID of the PostgreSQL backend serving `conn` (None for SQLite).
fn backend_pid(conn: &mut DbConn) -> Option<u32> {
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    match conn {
        DbConn::Postgres(c) => diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(c)
            .ok()
            .and_then(|p| u32::try_from(p.pid).ok()),
        DbConn::Sqlite(_) => None,
    }
}
