//! Audit-log append benchmark: how many audited actions per second the hash chain admits.
//!
//! # Running it
//!
//! ```text
//! # SQLite only, 5 s per run:
//! nice cargo bench --bench audit_append
//! # SQLite and PostgreSQL: give an admin URL; a throwaway database
//! # `procura_bench_<pid>_<nanos>` is created there and dropped (WITH (FORCE)) at the end.
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     nice cargo bench --bench audit_append
//! # Shorter (or longer) runs: BENCH_SECONDS is the length of each run, decimals allowed.
//! BENCH_SECONDS=1 cargo bench --bench audit_append
//! ```
//!
//! A plain `main` rather than criterion: the quantity of interest is a throughput under
//! contention between threads, not the time of one call.
//!
//! # What it measures
//!
//! `audit::append` locks the single `audit_head` row with its first statement (on SQLite the
//! whole database is write-locked earlier still, by the `BEGIN IMMEDIATE` of
//! `write_transaction`) and that lock is held until the transaction has committed. Every
//! audited action therefore queues on that one lock, and the throughput is about
//! 1 / (time the lock is held): the append's four statements, whatever else the transaction
//! does after the append, and the commit — on PostgreSQL including the WAL flush, which the
//! waiting transactions cannot share because they cannot reach their own commit before the
//! lock is released.
//!
//! For each backend (SQLite always, on a temporary file opened through the app's pool and so
//! with its pragmas: WAL, `synchronous = NORMAL`, busy_timeout; PostgreSQL when
//! `BENCH_DATABASE_URL` is set) it starts from a fresh database, runs the migrations, opens a
//! pool of 16 connections and does these runs of `BENCH_SECONDS` (default 5) each, every
//! thread holding its own pooled connection and looping until the time is up:
//!
//! | run            | threads   | each transaction                                          |
//! |----------------|-----------|-----------------------------------------------------------|
//! | append_alone   | 1, 4, 16  | `append_alone`: one record in a write transaction of its own |
//! | write, append  | 16        | UPDATE of the thread's own row of a bench-made table, then `append` (the app's own order: `import_csv` writes, then appends) |
//! | append, write  | 16        | `append`, then that UPDATE: since `append` queues the record until the transaction's work is done (the lock order of `audit`), the head is locked no longer than in "write, append" |
//! | 2 appends/tx   | 16        | two `append`s: the head is held twice as long, but one commit serves two records |
//!
//! Events look like real ones: actor `Party::operator`, subject `Party::system()` or a person
//! (a valid codice fiscale), a UUIDv7 request id, a small JSON detail, mostly successes.
//!
//! For each run it reports transactions, records, records/s, the p50/p99/max latency of one
//! transaction (one `append_alone` call in the first three runs; the pool checkout is not
//! included), and how busy the machine's CPUs were (all processes, so PostgreSQL's too:
//! low figures mean the time goes into waiting — on the lock, on fsync — not computing).
//!
//! Nothing is measured on faith: any error stops the benchmark; and after each run
//! `audit::verify` walks the whole log, which must be intact (no gap, no repeat, every link
//! and hash right) and hold exactly the records appended so far. Its rate (records/s) is reported too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use chrono::Utc;
use common::ScratchDatabase;
use diesel::connection::SimpleConnection;
use diesel::{QueryableByName, RunQueryDsl};
use procura::audit::{self, AuditKey, Event, Outcome, Party};
use procura::db::{self, DbConn, DbError, Pool};
use procura::person::CodiceFiscale;
use procura::person::codice_fiscale::check_character;
use serde_json::json;
use std::sync::Barrier;
use std::time::{Duration, Instant};

const POOL_SIZE: u32 = 16;
const DEFAULT_SECONDS: f64 = 5.0;
/// Rows of the bench's own table, one per thread (at most 16 threads).
const SCRATCH_ROWS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Alone,
    WriteThenAppend,
    AppendThenWrite,
    TwoAppends,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Alone => "append_alone",
            Workload::WriteThenAppend => "write, append",
            Workload::AppendThenWrite => "append, write",
            Workload::TwoAppends => "2 appends/tx",
        }
    }
}

const RUNS: [(Workload, usize); 6] = [
    (Workload::Alone, 1),
    (Workload::Alone, 4),
    (Workload::Alone, 16),
    (Workload::WriteThenAppend, 16),
    (Workload::AppendThenWrite, 16),
    (Workload::TwoAppends, 16),
];

fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map_or(DEFAULT_SECONDS, |v| {
            v.trim()
                .parse::<f64>()
                .expect("BENCH_SECONDS must be a number of seconds")
        });
    assert!(
        seconds.is_finite() && seconds > 0.0,
        "BENCH_SECONDS must be positive"
    );
    let duration = Duration::from_secs_f64(seconds);
    let pg_admin = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());

    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "audit_append benchmark: {seconds} s per run, pool of {POOL_SIZE} connections, {cpus} CPU(s)"
    );
    let key = AuditKey::from_bytes(&[0x5a; 32]).expect("audit key");
    let people = people();
    let mut results = Vec::new();

    let dir = tempfile::tempdir().expect("temporary directory");
    let sqlite_path = dir.path().join("bench.db");
    {
        let pool = db::build_pool(&common::database_config(
            &format!("sqlite://{}", sqlite_path.display()),
            POOL_SIZE,
        ))
        .expect("open the SQLite database");
        println!(
            "\nsqlite ({}; WAL, synchronous = NORMAL: the app's pragmas)",
            sqlite_path.display()
        );
        results.extend(run_all("sqlite", &pool, &key, &people, duration));
    }

    match &pg_admin {
        None => println!(
            "\npostgres: skipped (set BENCH_DATABASE_URL to an admin URL, e.g. \
             postgres://postgres@127.0.0.1:5432/postgres)"
        ),
        Some(admin) => {
            let scratch = ScratchDatabase::create(admin);
            {
                let pool = db::build_pool(&common::database_config(&scratch.url, POOL_SIZE))
                    .expect("open the PostgreSQL database");
                println!(
                    "\npostgres (database {}; {})",
                    scratch.name,
                    pg_settings(&pool)
                );
                results.extend(run_all("postgres", &pool, &key, &people, duration));
            }
        }
    }

    print_summary(seconds, cpus, &results);
}

// ---- runs ----------------------------------------------------------------------------

struct RunResult {
    backend: &'static str,
    workload: Workload,
    threads: usize,
    transactions: u64,
    records: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Share of all CPUs of the machine busy during the run, in percent.
    cpu_busy: Option<f64>,
    /// Records in the log after the run, all verified.
    log_len: u64,
    verify: Duration,
}

impl RunResult {
    fn records_per_second(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn verify_per_second(&self) -> f64 {
        self.log_len as f64 / self.verify.as_secs_f64().max(1e-9)
    }
}

fn run_all(
    backend: &'static str,
    pool: &Pool,
    key: &AuditKey,
    people: &[CodiceFiscale],
    duration: Duration,
) -> Vec<RunResult> {
    {
        let mut conn = pool.get().expect("a connection");
        db::migrate::run_pending(&mut conn).expect("migrations");
        let rows: Vec<String> = (0..SCRATCH_ROWS).map(|i| format!("({i}, 0)")).collect();
        conn.batch_execute(&format!(
            "CREATE TABLE bench_scratch (id BIGINT PRIMARY KEY NOT NULL, hits BIGINT NOT NULL); \
             INSERT INTO bench_scratch (id, hits) VALUES {};",
            rows.join(", ")
        ))
        .expect("create the bench's table");
    }
    let mut log_len = 0_u64;
    let mut out = Vec::new();
    for (workload, threads) in RUNS {
        let r = run(
            backend, pool, key, people, workload, threads, duration, log_len,
        );
        println!(
            "  {:<14} {:>2} thread(s): {:>7} records {:>9.0} records/s   tx p50 {} p99 {} max {} ms   CPU {}   verify {} records {:>9.0}/s",
            workload.name(),
            threads,
            r.records,
            r.records_per_second(),
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            percent(r.cpu_busy),
            r.log_len,
            r.verify_per_second()
        );
        log_len = r.log_len;
        out.push(r);
    }
    out
}

/// What one thread did.
#[derive(Default)]
struct Work {
    /// Per transaction.
    latencies: Vec<Duration>,
    /// Records appended in committed transactions.
    records: u64,
    error: Option<DbError>,
}

#[allow(clippy::too_many_arguments)]
fn run(
    backend: &'static str,
    pool: &Pool,
    key: &AuditKey,
    people: &[CodiceFiscale],
    workload: Workload,
    threads: usize,
    duration: Duration,
    log_before: u64,
) -> RunResult {
    assert!(threads <= SCRATCH_ROWS && threads <= POOL_SIZE as usize);
    let barrier = Barrier::new(threads + 1);
    let (works, elapsed, cpu_busy) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    // Checked out before the clock starts: the pool is not what is measured.
                    let mut conn = pool.get().expect("a pooled connection");
                    barrier.wait();
                    work(&mut conn, key, people, workload, t, duration)
                })
            })
            .collect();
        barrier.wait();
        let cpu_before = cpu_ticks();
        let started = Instant::now();
        let works: Vec<Work> = handles
            .into_iter()
            .map(|h| h.join().expect("a bench thread panicked"))
            .collect();
        let elapsed = started.elapsed();
        let cpu_busy = cpu_before.zip(cpu_ticks()).and_then(|(b, a)| {
            let total = a.total.checked_sub(b.total)?;
            let busy = a.busy.checked_sub(b.busy)?;
            (total > 0).then(|| 100.0 * busy as f64 / total as f64)
        });
        (works, elapsed, cpu_busy)
    });

    let failures: Vec<&DbError> = works.iter().filter_map(|w| w.error.as_ref()).collect();
    if let Some(first) = failures.first() {
        panic!(
            "{backend} {} with {threads} threads: {} thread(s) failed, the first with: {first}",
            workload.name(),
            failures.len()
        );
    }
    let transactions = works.iter().map(|w| w.latencies.len() as u64).sum();
    let mut latencies: Vec<Duration> = works.iter().flat_map(|w| w.latencies.clone()).collect();
    latencies.sort_unstable();
    let records: u64 = works.iter().map(|w| w.records).sum();

    let mut conn = pool.get().expect("a connection for verify");
    let started = Instant::now();
    let verified = audit::verify(&mut conn, key)
        .expect("verify: database error")
        .unwrap_or_else(|broken| panic!("{backend}: the chain is broken: {broken}"));
    let verify = started.elapsed();
    assert_eq!(
        verified.count,
        log_before + records,
        "{backend}: the log does not hold exactly the records appended"
    );

    RunResult {
        backend,
        workload,
        threads,
        transactions,
        records,
        elapsed,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: latencies.last().copied().unwrap_or_default(),
        cpu_busy,
        log_len: verified.count,
        verify,
    }
}

/// One thread's loop: transactions until `duration` has passed.
fn work(
    conn: &mut DbConn,
    key: &AuditKey,
    people: &[CodiceFiscale],
    workload: Workload,
    thread: usize,
    duration: Duration,
) -> Work {
    let bump = format!("UPDATE bench_scratch SET hits = hits + 1 WHERE id = {thread}");
    let mut out = Work::default();
    let started = Instant::now();
    let mut n = 0_u64;
    while started.elapsed() < duration {
        let ev = event(people, thread, n);
        n += 1;
        let t0 = Instant::now();
        let appended: Result<u64, DbError> = match workload {
            Workload::Alone => audit::append_alone(conn, key, Utc::now(), ev).map(|()| 1),
            Workload::WriteThenAppend => conn.write_transaction(|c| {
                c.batch_execute(&bump)?;
                audit::append(c, key, Utc::now(), ev)?;
                Ok(1)
            }),
            Workload::AppendThenWrite => conn.write_transaction(|c| {
                audit::append(c, key, Utc::now(), ev)?;
                c.batch_execute(&bump)?;
                Ok(1)
            }),
            Workload::TwoAppends => {
                let second = event(people, thread, n);
                n += 1;
                conn.write_transaction(|c| {
                    audit::append(c, key, Utc::now(), ev)?;
                    audit::append(c, key, Utc::now(), second)?;
                    Ok(2)
                })
            }
        };
        let latency = t0.elapsed();
        match appended {
            Ok(records) => {
                out.latencies.push(latency);
                out.records += records;
            }
            Err(e) => {
                out.error = Some(e);
                break;
            }
        }
    }
    out
}

/// An operator's login on behalf of a citizen (or of procura itself), as the app records it.
fn event(people: &[CodiceFiscale], thread: usize, n: u64) -> Event {
    let outcome = match n % 25 {
        0 => Outcome::Failure,
        1 => Outcome::Denied,
        _ => Outcome::Success,
    };
    let subject = if n.is_multiple_of(5) {
        Party::system()
    } else {
        Party::person(&people[(n as usize + thread) % people.len()])
    };
    Event::new(
        Party::operator(&format!("op-{:03}", thread * 7 + 100)),
        "auth.login",
        outcome,
    )
    .on_behalf_of(subject)
    .request_id(uuid::Uuid::now_v7().to_string())
    .detail(json!({
        "client": "portale-inps",
        "method": if n.is_multiple_of(3) { "cie" } else { "spid" },
        "channel": "web",
        "attempt": n % 3 + 1,
    }))
}

/// A few valid codici fiscali (the check character is computed, not typed).
fn people() -> Vec<CodiceFiscale> {
    [
        "RSSMRA85T10A562",
        "BNCGLI90A41F205",
        "VRDLCU75M22H501",
        "FRRLRA88D52L219",
        "SPSGPP62B14F839",
        "CSTNNA99E63G273",
        "GLLMTT01H05Z404",
    ]
    .iter()
    .map(|first| {
        let check = check_character(first).expect("15 valid characters");
        CodiceFiscale::parse(&format!("{first}{check}")).expect("a valid codice fiscale")
    })
    .collect()
}

/// Nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_summary(seconds: f64, cpus: usize, results: &[RunResult]) {
    println!("\nsummary: {seconds} s per run, {cpus} CPU(s)");
    let rule = "-".repeat(118);
    println!("{rule}");
    println!(
        "{:<9} {:<14} {:>3} {:>8} {:>8} {:>10} {:>9} {:>9} {:>9} {:>6} {:>8} {:>12}",
        "backend",
        "run",
        "thr",
        "tx",
        "records",
        "records/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "CPU",
        "log",
        "verify rec/s"
    );
    println!("{rule}");
    for r in results {
        println!(
            "{:<9} {:<14} {:>3} {:>8} {:>8} {:>10.0} {:>9} {:>9} {:>9} {:>6} {:>8} {:>12.0}",
            r.backend,
            r.workload.name(),
            r.threads,
            r.transactions,
            r.records,
            r.records_per_second(),
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            percent(r.cpu_busy),
            r.log_len,
            r.verify_per_second()
        );
    }
    println!("{rule}");
    println!(
        "latencies are per transaction (one append_alone call; for 2 appends/tx, both);\n\
         CPU: share of all the machine's CPUs busy during the run (every process, the database \
         server's too);\nlog: records in the log after the run, every one checked by \
         audit::verify, whose rate is the last column."
    );
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "n/a".to_owned(), |p| format!("{p:.0}%"))
}

struct CpuTicks {
    busy: u64,
    total: u64,
}

/// Machine-wide CPU time from the first line of `/proc/stat`; iowait counts as idle.
fn cpu_ticks() -> Option<CpuTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8) // user nice system idle iowait irq softirq steal
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some(CpuTicks {
        busy: total - idle,
        total,
    })
}

// ---- databases ------------------------------------------------------------------------

/// The server settings that decide what a commit costs.
fn pg_settings(pool: &Pool) -> String {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let mut conn = pool.get().expect("a connection");
    let DbConn::Postgres(c) = &mut *conn else {
        return String::new();
    };
    [
        "synchronous_commit",
        "fsync",
        "wal_sync_method",
        "commit_delay",
    ]
    .iter()
    .map(|name| {
        let value = diesel::sql_query("SELECT current_setting($1) AS value")
            .bind::<diesel::sql_types::Text, _>(*name)
            .get_result::<Setting>(c)
            .map_or_else(|e| format!("? ({e})"), |s| s.value);
        format!("{name} = {value}")
    })
    .collect::<Vec<_>>()
    .join(", ")
}
