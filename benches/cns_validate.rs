//! CNS certificate validation benchmark: what `cns::verify` costs for a valid card (RSA-2048
//! and RSA-1024), and what the dearest hostile chains cost to refuse.
//!
//! ```text
//! nice cargo bench --bench cns_validate               # 3 s per run
//! BENCH_SECONDS=1 cargo bench --bench cns_validate    # CI
//! ```
//!
//! A plain `main`, like `spid_acs`. Revocation is left out (it is network and database work:
//! an OCSP answer from the shared cache is one row read and one RSA verification; the test
//! suite covers it): the cards carry no OCSP or CRL address and `cns.revocation` is
//! `soft_fail`, so a valid card is accepted after the chain, dates, profile and codice
//! fiscale checks, which is everything that runs on the blocking pool before any fetch.
//!
//! | run | input |
//! |---|---|
//! | valid RSA-2048 | the card alone, issued by the anchor |
//! | valid RSA-1024 | the same with a CNS v1.0 key |
//! | proxy header, valid | the card as a proxy forwards it (URL-escaped PEM), decoded then validated |
//! | look-alike issuers | the card of a stranger plus 24 intermediates all named like its issuer, each with its own key (~32 KiB of PEM, about what one header or a TLS chain can carry): refused |
//! | untrusted, no chain | a stranger's card alone: refused |
//!
//! For each run: calls, calls/s, mean latency, the calling thread's CPU time per call, and
//! the process's peak RSS. Every result is checked (the expected codice fiscale, or the
//! expected refusal); anything else stops the benchmark.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use chrono::Utc;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use openssl::x509::{X509, X509Builder, X509Extension, X509Name, X509NameBuilder};
use procura::cns::proxy;
use procura::cns::revocation::CrlCache;
use procura::cns::trust::TrustAnchors;
use procura::cns::verify::{Refusal, Validation};
use procura::config::{CnsConfig, CnsRevocationFailure};
use procura::person::codice_fiscale::check_character;
use std::time::{Duration, Instant};

fn name(cn: &str) -> X509Name {
    let mut n = X509NameBuilder::new().unwrap();
    n.append_entry_by_nid(Nid::COUNTRYNAME, "IT").unwrap();
    n.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    n.build()
}

/// A certificate of `subject` for `key`, signed by `issuer_key` as `issuer`.
fn certificate(
    subject: &X509Name,
    key: &PKey<Private>,
    issuer: &X509Name,
    issuer_key: &PKey<Private>,
    ca: bool,
    serial: u32,
) -> X509 {
    let now = Utc::now().timestamp();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(subject).unwrap();
    b.set_issuer_name(issuer).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(now - 86_400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now + 86_400 * 365).unwrap())
        .unwrap();
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    } else {
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .build()
                .unwrap(),
        )
        .unwrap();
        b.append_extension(ExtendedKeyUsage::new().client_auth().build().unwrap())
            .unwrap();
        // certificatePolicies: SEQUENCE { SEQUENCE { OID 1.3.76.16.2.1 } }
        let der = [
            0x30, 0x09, 0x30, 0x07, 0x06, 0x05, 0x2B, 0x4C, 0x10, 0x02, 0x01,
        ];
        b.append_extension(
            X509Extension::new_from_der(
                &openssl::asn1::Asn1Object::from_str("2.5.29.32").unwrap(),
                false,
                &openssl::asn1::Asn1OctetString::new_from_bytes(&der).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
    }
    b.sign(issuer_key, MessageDigest::sha256()).unwrap();
    b.build()
}

fn rsa(bits: u32) -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap()
}

fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn run(label: &str, seconds: f64, mut call: impl FnMut()) {
    let (start, cpu) = (Instant::now(), thread_cpu());
    let mut calls = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        call();
        calls += 1;
    }
    let wall = start.elapsed();
    let cpu = thread_cpu().saturating_sub(cpu);
    println!(
        "{label:<22} {calls:>7} calls  {:>9.0}/s  {:>8.1} µs/call  {:>8.1} µs CPU/call  peak RSS {} KiB",
        calls as f64 / wall.as_secs_f64(),
        wall.as_secs_f64() * 1e6 / calls as f64,
        cpu.as_secs_f64() * 1e6 / calls as f64,
        peak_rss_kib()
    );
}

fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let now = Utc::now();
    let first15 = "RSSMRA85T10H501";
    let cf = format!("{first15}{}", check_character(first15).unwrap());
    let card_name = name(&format!(
        "{cf}/6120016461039008.i1ZpZfaCX/eKyikBfnF8to+M2T8="
    ));

    let (ca_name, ca_key) = (name("CA Cittadini di prova"), rsa(2048));
    let ca = certificate(&ca_name, &ca_key, &ca_name, &ca_key, true, 1);
    let card_2048 = certificate(&card_name, &rsa(2048), &ca_name, &ca_key, false, 2);
    let card_1024 = certificate(&card_name, &rsa(1024), &ca_name, &ca_key, false, 3);
    // A stranger's card and 24 look-alike intermediates, all named like its issuer.
    let (fake_name, fake_key) = (name("CA Cittadini di prova 2"), rsa(2048));
    let stranger = certificate(&card_name, &rsa(2048), &fake_name, &fake_key, false, 4);
    let look_alikes: Vec<X509> = (0..24)
        .map(|i| {
            let key = rsa(2048);
            certificate(&fake_name, &key, &ca_name, &key, true, 100 + i)
        })
        .collect();
    let mut hostile = vec![stranger.clone()];
    hostile.extend(look_alikes);
    let hostile_pem: usize = hostile.iter().map(|c| c.to_pem().unwrap().len()).sum();

    let config = CnsConfig {
        revocation: CnsRevocationFailure::SoftFail,
        ..CnsConfig::default()
    };
    let anchors = TrustAnchors::new(vec![ca], now).unwrap();
    let crls = CrlCache::default();
    let validation = Validation {
        config: &config,
        anchors: &anchors,
        crls: &crls,
        now,
    };
    let accept = |chain: &[X509]| {
        let card = validation.validate(chain, || None).unwrap();
        assert_eq!(card.subject.codice_fiscale.as_str(), cf);
    };
    let refuse = |chain: &[X509]| {
        let refusal = validation.validate(chain, || None).unwrap_err();
        assert!(
            matches!(refusal, Refusal::UntrustedIssuer(_)),
            "{refusal:?}"
        );
    };
    let escaped: String = card_2048
        .to_pem()
        .unwrap()
        .iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (*b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();

    println!(
        "CNS validation, {seconds} s per run; look-alike chain: {} certificates, {hostile_pem} bytes of PEM",
        hostile.len()
    );
    run("valid RSA-2048", seconds, || {
        accept(std::slice::from_ref(&card_2048))
    });
    run("valid RSA-1024", seconds, || {
        accept(std::slice::from_ref(&card_1024))
    });
    run("proxy header, valid", seconds, || {
        match proxy::decode(escaped.as_bytes()) {
            proxy::Forwarded::Chain(chain) => accept(&chain),
            other => panic!("{other:?}"),
        }
    });
    run("look-alike issuers", seconds, || refuse(&hostile));
    run("untrusted, no chain", seconds, || {
        refuse(std::slice::from_ref(&stranger))
    });
}
