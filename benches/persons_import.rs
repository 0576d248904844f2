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

use chrono::{Datelike, NaiveDate, Utc};
use common::ScratchDatabase;
use diesel::RunQueryDsl;
use procura::audit::{AuditKey, Party};
use procura::db::{self, DbConn};
use procura::person::codice_fiscale::check_character;
use procura::person::import::{COLUMNS, ImportError, ImportReport, import_csv};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEFAULT_ROWS: u64 = 1_000_000;
/// The six name letters encode the row number through a bijection of 0..26^6, so codes are
/// unique without keeping a set of them (which would also inflate the measured RSS).
const LETTER_SPACE: u64 = 26 * 26 * 26 * 26 * 26 * 26;
/// Coprime with 26: `i * LETTER_MULTIPLIER mod 26^6` is a permutation.
const LETTER_MULTIPLIER: u64 = 48_271;
const LETTER_OFFSET: u64 = 123_456_789;

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

// ---- the CSV --------------------------------------------------------------------------

/// xorshift64*: deterministic, no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent` / 100.
    fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const SURNAMES: &[&str] = &[
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "D'Angelo",
    "De Santis",
    "Fabbri",
    "Caruso",
    "Ferrara",
    "Santoro",
    "Marchetti",
    "Leone",
    "Longo",
    "Martinelli",
    "Vitale",
    "Serra",
    "Coppola",
    "Cattaneo",
    "Orlando",
    "Barbieri",
    "D'Amico",
    "Pellegrino",
    "Palumbo",
    "Sanna",
    "Fontana",
    "Lo Russo",
    "Parisi",
    "Villa",
    "Farina",
    "Gentile",
    "Benedetti",
    "Mele",
    "Fumagalli",
    "Nicolò",
];

const MEN: &[&str] = &[
    "Mario",
    "Giuseppe",
    "Giovanni",
    "Antonio",
    "Luca",
    "Marco",
    "Francesco",
    "Alessandro",
    "Andrea",
    "Matteo",
    "Lorenzo",
    "Davide",
    "Simone",
    "Federico",
    "Niccolò",
    "Gian Luca",
    "Salvatore",
    "Vincenzo",
    "Pietro",
    "Tommaso",
];

const WOMEN: &[&str] = &[
    "Maria",
    "Anna",
    "Giulia",
    "Francesca",
    "Chiara",
    "Sara",
    "Laura",
    "Valentina",
    "Alessia",
    "Martina",
    "Elena",
    "Silvia",
    "Federica",
    "Maria Grazia",
    "Lucia",
    "Rosa",
    "Angela",
    "Paola",
    "Beatrice",
    "Noemi",
];

/// Belfiore codes of birth places (a few foreign countries, `Z…`).
const BIRTH_PLACES: &[&str] = &[
    "H501", "F205", "F839", "L219", "G273", "A944", "D612", "A662", "C351", "L736", "D969", "L424",
    "G224", "B157", "E506", "L049", "M082", "A271", "Z404", "Z133", "Z600", "Z112",
];

/// Comune, provincia, first three digits of the CAP.
const RESIDENCES: &[(&str, &str, &str)] = &[
    ("Roma", "RM", "001"),
    ("Milano", "MI", "201"),
    ("Napoli", "NA", "801"),
    ("Torino", "TO", "101"),
    ("Palermo", "PA", "901"),
    ("Genova", "GE", "161"),
    ("Bologna", "BO", "401"),
    ("Firenze", "FI", "501"),
    ("Bari", "BA", "701"),
    ("Catania", "CT", "951"),
    ("Venezia", "VE", "301"),
    ("Verona", "VR", "371"),
    ("Padova", "PD", "351"),
    ("Trieste", "TS", "341"),
    ("Brescia", "BS", "251"),
    ("Reggio nell'Emilia", "RE", "421"),
    ("Forlì", "FC", "471"),
    ("Sant'Antioco", "SU", "090"),
    ("L'Aquila", "AQ", "671"),
    ("Cagliari", "CA", "091"),
];

/// Residence abroad: comune is the foreign town, CAP the foreign postal code.
const ABROAD: &[(&str, &str)] = &[
    ("Zürich", "8001"),
    ("London", "SW1A 1AA"),
    ("Buenos Aires", "C1002"),
    ("München", "80331"),
];

const STREETS: &[&str] = &[
    "Via Roma",
    "Via Garibaldi",
    "Corso Italia",
    "Piazza del Popolo",
    "Viale Mazzini",
    "Via dei Mille",
    "Via XX Settembre",
    "Corso Vittorio Emanuele II",
    "Via Sant'Anna",
    "Largo Argentina",
];

const MONTH_LETTERS: [char; 12] = ['A', 'B', 'C', 'D', 'E', 'H', 'L', 'M', 'P', 'R', 'S', 'T'];
const OMOCODIA_LETTERS: [char; 10] = ['L', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'V'];
/// Numeric positions (0-based), in the order the Agenzia delle Entrate replaces them.
const OMOCODIA_ORDER: [usize; 7] = [14, 13, 12, 10, 9, 7, 6];

fn generate_csv(path: &Path, rows: u64) -> std::io::Result<()> {
    let file = BufWriter::with_capacity(256 * 1024, File::create(path)?);
    let mut out = csv::Writer::from_writer(file);
    out.write_record(COLUMNS)?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut fields: [String; 12] = Default::default();
    for i in 0..rows {
        person_row(i, &mut rng, &mut fields);
        out.write_record(&fields)?;
    }
    out.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .flush()
}

/// Row `i`, written into `f` in `COLUMNS` order.
fn person_row(i: u64, rng: &mut Rng, f: &mut [String; 12]) {
    use std::fmt::Write as _;
    for s in f.iter_mut() {
        s.clear();
    }
    let woman = rng.percent(50);
    let family = *rng.pick(SURNAMES);
    let given = *rng.pick(if woman { WOMEN } else { MEN });
    let birth = birth_date(rng);

    // Codice fiscale: six letters from `i` (unique), then date, sex, place, check.
    let mut letters = (i * LETTER_MULTIPLIER + LETTER_OFFSET) % LETTER_SPACE;
    let mut code: Vec<char> = Vec::with_capacity(16);
    for _ in 0..6 {
        code.push(char::from(b'A' + (letters % 26) as u8));
        letters /= 26;
    }
    let day = birth.day() + if woman { 40 } else { 0 };
    let date_part = format!(
        "{:02}{}{day:02}",
        birth.year() % 100,
        MONTH_LETTERS[birth.month0() as usize]
    );
    code.extend(date_part.chars());
    code.extend(rng.pick(BIRTH_PLACES).chars());
    if rng.percent(3) {
        let replaced = 1 + rng.below(3) as usize;
        for &pos in &OMOCODIA_ORDER[..replaced] {
            let digit = code[pos].to_digit(10).expect("a digit") as usize;
            code[pos] = OMOCODIA_LETTERS[digit];
        }
    }
    let fifteen: String = code.iter().collect();
    let check = check_character(&fifteen).expect("15 alphanumerics");
    f[0].push_str(&fifteen);
    f[0].push(check);

    f[1].push_str(family);
    f[2].push_str(given);
    if rng.percent(10) {
        write!(f[3], "{}", birth.format("%d/%m/%Y")).unwrap();
    } else {
        write!(f[3], "{}", birth.format("%Y-%m-%d")).unwrap();
    }
    f[4].push_str(if woman { "F" } else { "M" });
    // Some addresses have a comma, so the writer quotes them.
    let street = rng.pick(STREETS);
    let number = 1 + rng.below(250);
    if rng.percent(20) {
        write!(f[5], "{street}, {number}").unwrap();
    } else {
        write!(f[5], "{street} {number}").unwrap();
    }
    if rng.percent(1) {
        let (town, postal) = rng.pick(ABROAD);
        f[6].push_str(postal);
        f[7].push_str(town);
        f[8].push_str("EE");
    } else {
        let (comune, provincia, cap) = rng.pick(RESIDENCES);
        write!(f[6], "{cap}{:02}", rng.below(100)).unwrap();
        f[7].push_str(comune);
        f[8].push_str(provincia);
    }
    if rng.percent(85) {
        write!(
            f[9],
            "+39 3{:02} {:07}",
            20 + rng.below(80),
            rng.below(10_000_000)
        )
        .unwrap();
    }
    let local: String = format!("{given}.{family}")
        .chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == '.')
        .collect::<String>()
        .to_ascii_lowercase();
    if rng.percent(60) {
        write!(f[10], "{local}{}@example.it", i % 1000).unwrap();
    }
    if rng.percent(15) {
        write!(f[11], "{local}{}@pec.example.it", i % 1000).unwrap();
    }
}

/// A birth date from 1930 to 2007 (so both centuries occur in the codes).
fn birth_date(rng: &mut Rng) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(1930, 1, 1).expect("a date");
    let last = NaiveDate::from_ymd_opt(2007, 12, 31).expect("a date");
    let span = (last - first).num_days() as u64;
    first + chrono::Days::new(rng.below(span + 1))
}
