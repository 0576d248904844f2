//! Seeding step of the acting-on-behalf benchmark (`bench/acting.sh`): persons, delegations,
//! delegated tokens, and the files the load generator cycles through.
//!
//! A `harness = false` bench target rather than a test or a `src/bin`: it is built with the
//! release profile by `cargo bench`, shares `benches/common` (the persons CSV generator of
//! `persons_import`), may use the dev-dependencies, and ships nothing in the `procura` binary.
//! Without `BENCH_OUT` (a plain `cargo bench`) it only says what it is for.
//!
//! It reads the same configuration as `procura serve` (`PROCURA_*`: the database URL, the keys
//! directory, the issuer), so what it writes is what the server reads and the tokens it mints
//! are signed with the server's key. The database must be migrated (`procura migrate`).
//!
//! Settings (environment):
//! - `BENCH_OUT`: directory for `pairs.txt`, `tokens.txt` and `plans.txt` (required).
//! - `BENCH_PERSONS` (1,000,000): persons imported with `import_csv` from the generated CSV,
//!   when the registry is empty; otherwise the same CSV is only generated again to know the
//!   codes (it is deterministic).
//! - `BENCH_DELEGATIONS` (300,000): delegations wanted in total. Only the missing ones are
//!   inserted, so a run at 10,000 followed by a run at 300,000 grows the same registry.
//! - `BENCH_TOKENS` (2,000): delegated access tokens to mint (fresh ones on every run, for
//!   delegations anywhere in the registry), `BENCH_PAIRS` (20,000): pairs for
//!   the access check, `BENCH_CLIENT` (`bench-frontend`): the client the tokens are for.
//!
//! Delegation `i` links delegator `perm[i]` to delegate `perm[N - 1 - i / 3]` (a fixed
//! shuffle of the persons; each delegator gives one, each delegate holds at most three, as the
//! domain allows). Its kind and state come from a PRNG seeded by `i` alone:
//! - 80 % fiducia and 5 % legal representation (tutore, curatore, amministratore di sostegno,
//!   genitore), active and in force, half of them with an end date in the future;
//! - 3 % revoked, 2 % renounced, 2 % expired (ended, with `ended_at` and a reason);
//! - 2 % still `active` but past their end date (the expiry job has not run yet), 1 % active
//!   but not started yet: the in-force query must filter on the dates, not only the status;
//! - 5 % in force when the tokens are minted, then revoked: their tokens must introspect as
//!   inactive.
//!
//! Delegated tokens go through the real code: a grant row for the delegate's login (what the
//! authorization-code flow writes), the delegate's access token minted by [`Minter::for_grant`]
//! and verified like `/token` does, then [`exchange::exchange`] (which checks the delegation
//! and appends the audit record) and [`Minter::for_exchange`]. Only the browser login is
//! skipped: it is not what this benchmark measures.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

mod common;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use common::persons_csv::{Rng, generate_csv};
use diesel::prelude::*;
use procura::audit::{AuditKey, Party};
use procura::config::Config;
use procura::db::schema::{delegations, oauth_grants, persons};
use procura::db::{self, DbConn};
use procura::oauth::exchange::{self, Exchange};
use procura::oauth::jwt::{self, ACCESS_TOKEN_TYP, AccessTokenClaims, Expect};
use procura::oauth::scope::ScopeSet;
use procura::oauth::tokens::Minter;
use procura::oauth::{grant::Grant, keys, subject, token_hash};
use procura::person::CodiceFiscale;
use procura::person::import::import_csv;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

const BATCH: usize = 1000;
const SCOPE: &str = "inps:read";
const FRONTEND_SCOPES: &str = "openid profile inps:read inps:apply delegations:read";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().map_or(default, |v| {
        v.replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    })
}

fn main() {
    let Some(out) = std::env::var_os("BENCH_OUT").map(PathBuf::from) else {
        println!(
            "acting_seed: the seeding step of bench/acting.sh (set BENCH_OUT to run it alone)"
        );
        return;
    };
    let n_persons = env_u64("BENCH_PERSONS", 1_000_000);
    let n_delegations = env_u64("BENCH_DELEGATIONS", 300_000);
    let n_tokens = env_u64("BENCH_TOKENS", 2_000);
    let n_pairs = env_u64("BENCH_PAIRS", 20_000);
    let client_id = std::env::var("BENCH_CLIENT").unwrap_or_else(|_| "bench-frontend".into());
    assert!(
        n_delegations + n_delegations / 3 < n_persons,
        "BENCH_DELEGATIONS is too large for BENCH_PERSONS (each delegator gives one)"
    );
    std::fs::create_dir_all(&out).expect("BENCH_OUT");

    let config = Config::load(None).expect("configuration (PROCURA_*)");
    let mut conn = db::connect(&config.database).expect("database");
    assert!(
        !db::migrate::has_pending(&mut conn).expect("migrations"),
        "run `procura migrate` first"
    );
    let (audit_key, _) = AuditKey::load(&config, true).expect("audit key");
    let (key_set, _) = keys::load_or_create_dev(&config.keys.dir, config.keys.generate_if_missing)
        .expect("signing keys");

    // Persons.
    let started = Instant::now();
    let csv = out.join("persons.csv");
    generate_csv(&csv, n_persons).expect("persons CSV");
    let existing: i64 = persons::table.count().get_result(&mut conn).expect("count");
    if existing == 0 {
        let t = Instant::now();
        let file = std::fs::File::open(&csv).expect("open the CSV");
        let report = import_csv(
            &mut conn,
            &audit_key,
            file,
            "bench/persons.csv",
            Party::cli("bench"),
            Utc::now(),
        )
        .expect("import");
        assert_eq!(report.inserted, n_persons, "{report:?}");
        println!(
            "persons: imported {n_persons} in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    } else {
        assert_eq!(
            existing, n_persons as i64,
            "the registry holds other persons"
        );
        println!("persons: {existing} already there");
    }
    let codes = read_codes(&csv);
    std::fs::remove_file(&csv).ok();
    let mut perm: Vec<u32> = (0..n_persons as u32).collect();
    let mut rng = Rng(0x5EED_0FDE_1E6A_7E00);
    for i in (1..perm.len()).rev() {
        perm.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let delegator = |i: u64| &codes[perm[i as usize] as usize];
    let delegate = |i: u64| &codes[perm[(n_persons - 1 - i / 3) as usize] as usize];

    // Delegations.
    let now = Utc::now();
    let have: i64 = delegations::table
        .count()
        .get_result(&mut conn)
        .expect("count");
    let have = have as u64;
    let t = Instant::now();
    let mut revoke_later = Vec::new();
    let mut i = have;
    while i < n_delegations {
        let end = (i + BATCH as u64).min(n_delegations);
        let rows: Vec<_> = (i..end)
            .map(|j| {
                let d = Plan::of(j, now);
                if d.class == Class::RevokedLater {
                    revoke_later.push(id_of(j));
                }
                (
                    delegations::id.eq(id_of(j)),
                    delegations::delegator_cf.eq(delegator(j).clone()),
                    delegations::delegate_cf.eq(delegate(j).clone()),
                    delegations::kind.eq(d.kind),
                    delegations::channel.eq(d.channel),
                    delegations::status.eq(d.status),
                    delegations::starts_at.eq(d.starts_at),
                    delegations::ends_at.eq(d.ends_at),
                    delegations::created_at.eq(d.starts_at),
                    delegations::updated_at.eq(d.starts_at),
                    delegations::ended_at.eq(d.ended_at),
                    delegations::end_reason.eq(d.end_reason),
                    delegations::end_notice_sent.eq(false),
                )
            })
            .collect();
        // diesel's MultiConnection has no multi-row INSERT: one per backend.
        let insert = diesel::insert_into(delegations::table).values(rows);
        match &mut conn {
            DbConn::Sqlite(c) => insert.execute(c),
            DbConn::Postgres(c) => insert.execute(c),
        }
        .expect("insert delegations");
        i = end;
    }
    println!(
        "delegations: {have} already there, inserted {} in {:.1} s",
        n_delegations - have,
        t.elapsed().as_secs_f64()
    );

    // Delegated tokens, for delegations in force anywhere in the registry, and for the new ones
    // revoked just after (whose tokens must then introspect as inactive).
    let t = Instant::now();
    let mut token_candidates: Vec<u64> = (0..n_delegations)
        .filter(|&j| match Plan::of(j, now).class {
            Class::InForce => true,
            Class::RevokedLater => j >= have,
            _ => false,
        })
        .collect();
    let mut pick = Rng(0x70C3_2345 ^ n_delegations);
    let want = (n_tokens as usize).min(token_candidates.len());
    for k in 0..want {
        let j = k + pick.below((token_candidates.len() - k) as u64) as usize;
        token_candidates.swap(k, j);
    }
    token_candidates.truncate(want);
    let mut tokens = String::new();
    let mut active = 0;
    for &j in &token_candidates {
        let token = delegated_token(
            &mut conn,
            &config,
            &key_set,
            &audit_key,
            &client_id,
            delegate(j),
            &id_of(j),
            now,
        );
        let live = Plan::of(j, now).class == Class::InForce;
        active += usize::from(live);
        writeln!(tokens, "{token} {live}").unwrap();
    }
    for chunk in revoke_later.chunks(500) {
        diesel::update(delegations::table.filter(delegations::id.eq_any(chunk)))
            .set((
                delegations::status.eq("revoked"),
                delegations::ended_at.eq(Some(now.naive_utc())),
                delegations::end_reason.eq(Some("revoked_by_delegator")),
                delegations::updated_at.eq(now.naive_utc()),
            ))
            .execute(&mut conn)
            .expect("revoke");
    }
    std::fs::write(out.join("tokens.txt"), tokens).expect("tokens.txt");
    println!(
        "tokens: {want} delegated tokens ({active} backed by a delegation in force) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Pairs for the access check: 70 % in force, 15 % a delegation not in force, 15 % two
    // unrelated persons. Each line: actor (the delegate), subject (the delegator), expected.
    let mut rng = Rng(0xC4EC_4000 ^ n_delegations);
    let mut pairs = String::new();
    let mut allowed = 0;
    let mut written = 0;
    while written < n_pairs {
        let roll = rng.below(100);
        let want_in_force = roll < 70;
        let mut j = rng.below(n_delegations);
        while roll < 85 && Plan::of(j, now).class.in_force() != want_in_force {
            j = rng.below(n_delegations);
        }
        let (actor, subject, expected) = if roll < 85 {
            (delegate(j), delegator(j), want_in_force)
        } else {
            let (a, b) = (rng.below(n_persons), rng.below(n_persons));
            if a == b {
                continue;
            }
            (&codes[a as usize], &codes[b as usize], false)
        };
        allowed += usize::from(expected);
        writeln!(pairs, "{actor} {subject} {expected}").unwrap();
        written += 1;
    }
    std::fs::write(out.join("pairs.txt"), pairs).expect("pairs.txt");
    println!("pairs: {n_pairs} ({allowed} expected allowed)");

    if let DbConn::Postgres(c) = &mut conn {
        // Autovacuum analyses a table this much changed within a minute; done now so the
        // plans below and the run are not taken on stale statistics.
        diesel::sql_query("ANALYZE delegations")
            .execute(c)
            .expect("ANALYZE");
    }
    let j = (0..n_delegations)
        .find(|&j| Plan::of(j, now).class.in_force())
        .unwrap_or(0);
    let plans = query_plans(&mut conn, delegate(j), delegator(j), &id_of(j), now);
    std::fs::write(out.join("plans.txt"), &plans).expect("plans.txt");
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
}

fn id_of(i: u64) -> String {
    format!("bench-delegation-{i:08}")
}

fn read_codes(csv: &Path) -> Vec<String> {
    let mut reader = ::csv::Reader::from_path(csv).expect("read the CSV");
    reader
        .records()
        .map(|r| r.expect("a CSV record")[0].to_owned())
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    InForce,
    Ended,
    PastEnd,
    NotStarted,
    RevokedLater,
}

impl Class {
    /// In force once the seeding is over.
    fn in_force(self) -> bool {
        self == Class::InForce
    }
}

struct Plan {
    class: Class,
    kind: &'static str,
    channel: &'static str,
    status: &'static str,
    starts_at: NaiveDateTime,
    ends_at: Option<NaiveDateTime>,
    ended_at: Option<NaiveDateTime>,
    end_reason: Option<&'static str>,
}

impl Plan {
    /// Delegation `i`: depends on `i` (and the day) only, so that every run agrees.
    fn of(i: u64, now: DateTime<Utc>) -> Plan {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ i.wrapping_mul(0xD134_2543_DE82_EF95) | 1);
        r.next();
        let roll = r.below(100);
        let day = |d: u64| Duration::days(i64::try_from(d).unwrap());
        let started = now - day(1 + r.below(700));
        let later = now + day(30 + r.below(700));
        let open_end = r.percent(50);
        let mut p = Plan {
            class: Class::InForce,
            kind: "fiducia",
            channel: if r.percent(70) {
                "online"
            } else {
                "sportello_aa08"
            },
            status: "active",
            starts_at: started.naive_utc(),
            ends_at: (!open_end).then_some(later.naive_utc()),
            ended_at: None,
            end_reason: None,
        };
        match roll {
            0..80 => {}
            80..85 => {
                p.kind = *r.pick(&[
                    "tutore",
                    "curatore",
                    "amministratore_di_sostegno",
                    "genitore",
                ]);
                p.channel = if p.kind == "genitore" {
                    "online_genitore"
                } else {
                    "sportello_aa10"
                };
            }
            85..92 => {
                let (status, reason) = *r.pick(&[
                    ("revoked", "revoked_by_delegator"),
                    ("revoked", "revoked_by_delegator"),
                    ("revoked", "revoked_by_delegator"),
                    ("renounced", "renounced_by_delegate"),
                    ("renounced", "renounced_by_delegate"),
                    ("expired", "end_date"),
                    ("expired", "end_date"),
                ]);
                let ended = now - day(r.below(60));
                p.class = Class::Ended;
                p.status = status;
                p.starts_at = (ended - day(1 + r.below(300))).naive_utc();
                p.ended_at = Some(ended.naive_utc());
                p.end_reason = Some(reason);
                if status == "expired" {
                    p.ends_at = Some(ended.naive_utc());
                }
            }
            92..94 => {
                p.class = Class::PastEnd;
                p.ends_at = Some((now - Duration::hours(1 + r.below(48) as i64)).naive_utc());
                p.starts_at = (now - day(31 + r.below(300))).naive_utc();
            }
            94..95 => {
                p.class = Class::NotStarted;
                p.starts_at = (now + day(1 + r.below(30))).naive_utc();
            }
            _ => p.class = Class::RevokedLater,
        }
        p
    }
}

/// A delegated access token for delegation `id`, obtained as `/token` would: the delegate's
/// login grant and access token, then the exchange (audited) and its signature.
#[allow(clippy::too_many_arguments)]
fn delegated_token(
    conn: &mut DbConn,
    config: &Config,
    key_set: &keys::KeySet,
    audit_key: &AuditKey,
    client_id: &str,
    delegate: &str,
    id: &str,
    now: DateTime<Utc>,
) -> String {
    let at = now.naive_utc();
    let sub = subject::sub_for(conn, delegate, now).expect("sub");
    let grant = Grant {
        id: token_hash::new_id().expect("grant id"),
        client_id: client_id.to_owned(),
        session_id: None,
        codice_fiscale: delegate.to_owned(),
        sub,
        given_name: None,
        family_name: None,
        scope: FRONTEND_SCOPES.to_owned(),
        method: "spid".into(),
        acr: "https://www.spid.gov.it/SpidL2".into(),
        auth_time: at,
        nonce: None,
        created_at: at,
        expires_at: at + Duration::seconds(config.oauth.refresh_token_ttl_secs as i64),
        revoked_at: None,
    };
    diesel::insert_into(oauth_grants::table)
        .values((
            oauth_grants::id.eq(&grant.id),
            oauth_grants::client_id.eq(&grant.client_id),
            oauth_grants::codice_fiscale.eq(&grant.codice_fiscale),
            oauth_grants::sub.eq(&grant.sub),
            oauth_grants::scope.eq(&grant.scope),
            oauth_grants::method.eq(&grant.method),
            oauth_grants::acr.eq(&grant.acr),
            oauth_grants::auth_time.eq(grant.auth_time),
            oauth_grants::created_at.eq(grant.created_at),
            oauth_grants::expires_at.eq(grant.expires_at),
        ))
        .execute(conn)
        .expect("grant");
    let minter = Minter {
        config: &config.oauth,
        keys: key_set,
        now,
    };
    let scope = ScopeSet::parse(FRONTEND_SCOPES);
    let actor_token = minter
        .for_grant(&grant, &scope, None, false, None)
        .expect("actor token")
        .access_token;
    let expect = Expect {
        issuer: &config.oauth.issuer,
        audience: Some(&config.oauth.access_token_audience),
        typ: Some(ACCESS_TOKEN_TYP),
        check_expiry: true,
        now,
        max_jwt_ttl: Duration::seconds(config.oauth.longest_jwt_ttl_secs() as i64),
    };
    let actor: AccessTokenClaims =
        jwt::verify(key_set, &actor_token, &expect).expect("actor token verifies");
    let person = CodiceFiscale::parse(delegate).expect("codice fiscale");
    let asked = ScopeSet::parse(SCOPE);
    let scope = exchange::exchanged_scope(&scope, Some(&asked)).expect("scope");
    let ask = Exchange {
        config: &config.oauth,
        client_id,
        actor: &actor,
        actor_person: &person,
        delegation_id: id,
        scope: &scope,
        ttl_secs: config.delegation.exchanged_token_ttl_secs,
        request_id: None,
    };
    let claims = exchange::exchange(conn, audit_key, &ask, now)
        .expect("exchange")
        .expect("the delegation is in force");
    minter
        .for_exchange(&claims)
        .expect("delegated token")
        .access_token
}

/// EXPLAIN of the lookups the two endpoints make, with real values.
fn query_plans(
    conn: &mut DbConn,
    delegate: &str,
    delegator: &str,
    id: &str,
    now: DateTime<Utc>,
) -> String {
    let at = now.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    // What `delegation::in_force_between` sends (the access check), and the primary-key read
    // of `delegation::find` (introspection of a delegated token).
    let columns = "id, delegator_cf, delegate_cf, kind, channel, status, starts_at, ends_at, \
                   min_end_at, decree_reference, operator_id, created_at, updated_at, ended_at, \
                   end_reason, end_notice_sent";
    let queries = [
        (
            "in force between (access check)",
            format!(
                "SELECT {columns} FROM delegations WHERE delegate_cf = '{delegate}' \
                 AND delegator_cf = '{delegator}' AND status = 'active' \
                 AND starts_at <= '{at}' AND (ends_at IS NULL OR ends_at > '{at}') \
                 ORDER BY id LIMIT 1"
            ),
        ),
        (
            "find by id (introspection)",
            format!("SELECT {columns} FROM delegations WHERE id = '{id}' LIMIT 1"),
        ),
    ];
    let mut text = String::new();
    for (name, sql) in queries {
        writeln!(text, "-- {name}\n{sql}").unwrap();
        let lines: Vec<String> = match conn {
            DbConn::Sqlite(c) => {
                #[derive(QueryableByName)]
                struct Step {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    detail: String,
                }
                diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                    .load::<Step>(c)
                    .map(|v| v.into_iter().map(|l| l.detail).collect())
                    .unwrap_or_else(|e| vec![format!("(EXPLAIN QUERY PLAN failed: {e})")])
            }
            DbConn::Postgres(c) => {
                #[derive(QueryableByName)]
                struct PgLine {
                    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
                    line: String,
                }
                diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
                    .load::<PgLine>(c)
                    .map(|v| v.into_iter().map(|l| l.line).collect())
                    .unwrap_or_else(|e| vec![format!("(EXPLAIN failed: {e})")])
            }
        };
        for l in lines {
            writeln!(text, "   {l}").unwrap();
        }
    }
    text
}
