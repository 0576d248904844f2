//! OAuth parameter parsing (`/token`, `/introspect`, `/revoke`, `/authorize`, and the
//! pages' forms and query strings): what `Params::parse` costs for the worst bodies the
//! body limit (`server.body_limit_bytes`, 256 KiB) lets through.
//!
//! ```text
//! nice cargo bench --bench oauth_params               # 3 s per run
//! BENCH_SECONDS=1 cargo bench --bench oauth_params    # CI
//! ```
//!
//! A plain `main`, like `spid_acs`. Every body is 256 KiB at most; the worst one for a
//! parser that kept its repeated names in a list is the first: every name different and
//! sent twice, so the list of repeats grows with the body and each repeat scans it.
//!
//! | run | body |
//! |---|---|
//! | each name twice | `a=1&a=1&b=1&b=1&…`, distinct short names, each repeated once |
//! | one name | `a=1&a=1&…`, one name repeated throughout |
//! | distinct names | `a=1&b=1&…`, no repeat at all |
//! | a valid /token body | `grant_type=refresh_token&refresh_token=…` (the usual case) |
//!
//! For each run: calls, mean latency, and what the parse said (a repeat, or the cap).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use procura::oauth::params::Params;
use std::hint::black_box;
use std::time::{Duration, Instant};

const LIMIT: usize = 256 * 1024;

/// A short distinct name for `i`: base 36, letters first.
fn name(mut i: usize) -> String {
    const DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = vec![DIGITS[i % 26]];
    i /= 26;
    while i > 0 {
        out.push(DIGITS[i % 36]);
        i /= 36;
    }
    String::from_utf8(out).unwrap()
}

/// `name(i)=1` pairs, each sent `times` times, as many as fit in `LIMIT` bytes.
fn pairs(times: usize, distinct: bool) -> String {
    let mut body = String::with_capacity(LIMIT);
    'fill: for i in 0.. {
        let n = if distinct { name(i) } else { "a".to_owned() };
        for _ in 0..times {
            let pair = format!("{}{n}=1", if body.is_empty() { "" } else { "&" });
            if body.len() + pair.len() > LIMIT {
                break 'fill;
            }
            body.push_str(&pair);
        }
    }
    body
}

fn run(label: &str, body: &str, seconds: f64) {
    let pairs = body.split('&').count();
    let verdict = match Params::parse(body) {
        None => "refused: too many parameters".to_owned(),
        Some(p) => match p.duplicated() {
            Some(d) => format!("first repeat: {d}"),
            None => "accepted".to_owned(),
        },
    };
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget || calls == 0 {
        black_box(Params::parse(black_box(body)));
        calls += 1;
    }
    let mean = start.elapsed() / u32::try_from(calls).unwrap_or(u32::MAX);
    println!(
        "{label:<22} {:>7} B {pairs:>6} pairs  {calls:>9} calls  mean {mean:>12.3?}  {verdict}",
        body.len()
    );
}

fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let token = format!(
        "grant_type=refresh_token&refresh_token={}&scope=openid%20profile",
        "x".repeat(43)
    );
    run("each name twice", &pairs(2, true), seconds);
    run("one name", &pairs(1, false), seconds);
    run("distinct names", &pairs(1, true), seconds);
    run("a valid /token body", &token, seconds);
}
