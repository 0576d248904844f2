//! The `procura` command line.

use crate::audit::AuditKey;
use crate::audit::{self, Party};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::person::import::{self, ImportError};
use crate::{AppState, Application, Migrations, db, oauth, telemetry};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// procura: identity and delegation-authorization service for INPS online services.
///
/// Configuration comes from procura.toml (if present, or the file given with --config)
/// and PROCURA_* environment variables (PROCURA_DATABASE__URL sets database.url).
/// With no configuration at all it uses an embedded SQLite database under ./data/.
#[derive(Debug, Parser)]
#[command(name = "procura", version, about, long_about)]
pub struct Cli {
    /// Configuration file (default: ./procura.toml when it exists).
    #[arg(long, global = true, env = "PROCURA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (applies pending migrations first, unless configured not to).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the persons registry.
    #[command(subcommand)]
    Persons(PersonsCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new ES256 signing key in keys.dir; it becomes active if none is.
    Generate,
}

#[derive(Debug, Subcommand)]
pub enum PersonsCommand {
    /// Import (insert or update) persons from a CSV file, all or nothing.
    ///
    /// Columns, by header name in any order, delimiter `,` or `;`:
    /// codice_fiscale, cognome, nome, data_nascita (YYYY-MM-DD or DD/MM/YYYY), sesso (M/F),
    /// indirizzo, cap, comune, provincia (EE abroad), and optionally cellulare, email, pec.
    Import {
        /// The CSV file (UTF-8).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; exits 1 naming the first broken record.
    Verify,
}

pub fn run(cli: Cli) -> ExitCode {
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log);
    let result = match cli.command {
        Command::Serve => serve(config),
        Command::Migrate => migrate(&config),
        Command::Keys(KeysCommand::Generate) => keys_generate(&config),
        Command::Persons(PersonsCommand::Import { file }) => persons_import(config, &file),
        Command::Audit(AuditCommand::Verify) => audit_verify(config),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let migrations = if config.database.migrate_on_start {
        Migrations::Apply
    } else {
        Migrations::Require
    };
    let state = AppState::init(config, Arc::new(SystemClock), migrations)?;
    actix_web::rt::System::new().block_on(async move {
        Application::build(state)?.run_until_stopped().await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let mut conn = db::connect(&config.database)?;
    let applied = db::migrate::run_pending(&mut conn)?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for name in applied {
        println!("applied {name}");
    }
    Ok(ExitCode::SUCCESS)
}

fn keys_generate(config: &Config) -> anyhow::Result<ExitCode> {
    let kid = oauth::keys::generate(&config.keys.dir)?;
    println!("created signing key {kid} in {}", config.keys.dir.display());
    Ok(ExitCode::SUCCESS)
}

fn persons_import(config: Config, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let mut conn = open_migrated(&config)?;
    let (audit_key, created) = AuditKey::load(&config, true)?;
    if created {
        tracing::warn!("created a DEVELOPMENT audit HMAC key; set audit.hmac_key in production");
    }
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let started = Instant::now();
    let source = file.display().to_string();
    let result = import::import_csv(
        &mut conn,
        &audit_key,
        input,
        &source,
        cli_party(),
        SystemClock.now(),
    );
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(r) => {
            println!(
                "imported {} rows from {source} ({} new, {} updated) in {seconds:.1} s ({:.0} rows/s)",
                r.rows,
                r.inserted,
                r.updated,
                r.rows as f64 / seconds.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Rejected(r)) => {
            for e in &r.errors {
                eprintln!("{e}");
            }
            let unlisted = r.rejected_rows.saturating_sub(r.errors.len() as u64);
            if unlisted > 0 {
                eprintln!(
                    "… and more errors in further rows (only the first {} are listed)",
                    r.errors.len()
                );
            }
            eprintln!(
                "error: {} of {} rows are invalid; nothing was imported",
                r.rejected_rows, r.rows
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

fn audit_verify(config: Config) -> anyhow::Result<ExitCode> {
    let mut conn = open_migrated(&config)?;
    let (audit_key, _) = AuditKey::load(&config, false)?;
    match audit::verify(&mut conn, &audit_key)? {
        Ok(v) => {
            println!(
                "audit log intact: {} records; head hash {}",
                v.count, v.head_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            eprintln!("audit log BROKEN: {broken}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// One connection to a database whose migrations are all applied.
fn open_migrated(config: &Config) -> anyhow::Result<db::DbConn> {
    let mut conn = db::connect(&config.database)?;
    if db::migrate::has_pending(&mut conn)? {
        anyhow::bail!("the database has pending migrations: run `procura migrate` first");
    }
    Ok(conn)
}

/// The operating-system account running the command, as the audit actor.
fn cli_party() -> Party {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    Party::cli(&user)
}
