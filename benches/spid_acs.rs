//! SPID assertion consumer benchmark: how fast `spid::response::validate` checks a signed
//! SAML Response, what a hostile input costs to refuse, and the memory it takes.
//!
//! # Running it
//!
//! ```text
//! nice cargo bench --bench spid_acs                    # 5 s per run
//! BENCH_SECONDS=1 cargo bench --bench spid_acs         # CI: 1 s per run (decimals allowed)
//! ```
//!
//! A plain `main` rather than criterion: one figure per run (validations/s, latency
//! percentiles, CPU time, peak RSS), checked as it goes. No database: `validate` is pure;
//! the ACS handler's database work (consuming the stored request, the replay cache) is
//! measured by the other benchmarks' kind of queries, not here.
//!
//! # What it measures
//!
//! The Response is shaped like spid-sp-test's `base.xml` (and like what the production IdPs
//! send): indented, SpidL2, a transient NameID, 12 attributes (`spidCode`, `name`,
//! `familyName`, `placeOfBirth`, `countyOfBirth`, `dateOfBirth`, `gender`, `fiscalNumber`,
//! `email`, `mobilePhone`, `digitalAddress`, `address`), the Assertion and then the whole
//! Response signed (enveloped, exclusive c14n, RSA-SHA256) with a fresh RSA-2048 key and its
//! self-signed certificate, as an IdP does. The IdP's metadata carry two signing keys with
//! the right one second, as during a key rotation: each of the two signatures is first
//! tried against the wrong key, so a validation costs four RSA-2048 verifications. One run
//! with the right key alone shows what the rotation costs.
//!
//! | run                        | threads | input                                            |
//! |----------------------------|---------|--------------------------------------------------|
//! | validate, 2 keys           | 1, 2    | the signed Response, base64 as POSTed (~14 kB)    |
//! | validate, 1 key            | 1       | the same, metadata with the right key only        |
//! | over the size limit        | 1       | 1 MiB decoded, 256 KiB limit (the default)        |
//! | node flood                 | 1       | 1 MiB of empty elements, limit raised to 2 MiB   |
//! | two assertions             | 1       | an evil 1 MiB assertion beside the signed one (XSW shape), 2 MiB limit |
//! | forged signature           | 1       | 1 MiB assertion whose digest is wrong, 2 MiB limit |
//! | DTD entity bomb            | 1       | billion laughs, then 1 MiB of padding, 2 MiB limit |
//! | forged, 240 KiB            | 1       | the forged signature just under the default limit |
//!
//! The hostile inputs run with the limit raised so that they reach the parser and the
//! checks after it: with the default limit all of them stop at the first length test (or,
//! for the node flood, at the parse limits). The forged signature keeps a genuine Assertion
//! signature over changed content, so its SignedInfo verifies (the RSA check comes first) and
//! the refusal costs decode, parse, the Response checks, c14n and SHA-256 of the whole
//! assertion: only someone holding a Response an IdP signed can cause it. What anyone can
//! send is measured by `benches/spid_worst_case.rs`.
//!
//! For each run: calls, calls/s (wall clock), calls per CPU-second of the calling threads
//! (their user + system time from `/proc/thread-self/stat`: the per-core figure that the
//! other builders sharing the machine do not distort), p50/p99/max latency of one call (from
//! a fixed-size histogram, under 1 % coarse, so that recording them takes no memory), and
//! the peak RSS of the process during the run (`VmHWM`, reset before each run through
//! `/proc/self/clear_refs` where the kernel allows it; otherwise the peak so far).
//!
//! Nothing is measured on faith: before the runs, the Response must validate to the expected
//! person (codice fiscale, names, date of birth, level, all 12 attributes), a copy with one
//! letter of the codice fiscale changed after signing and a Response whose key is missing
//! from the metadata must both be refused as a bad Response signature, and each hostile input
//! must be refused with its expected error. During the runs every single result is checked
//! again (Ok with the expected codice fiscale, or the expected refusal); any other outcome
//! stops the benchmark.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use procura::login::Level;
use procura::person::CodiceFiscale;
use procura::person::codice_fiscale::check_character;
use procura::spid::dsig::{self, SigningKey, VerifyingKey};
use procura::spid::response::{Comparison, Expected, ResponseError, SpidLogin, validate};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DEFAULT_SECONDS: f64 = 5.0;
/// `[spid] max_message_bytes`' default.
const DEFAULT_LIMIT: usize = 256 * 1024;
/// The limit the hostile inputs run with, so that they reach the parser.
const RAISED_LIMIT: usize = 2 * 1024 * 1024;
const HOSTILE_BYTES: usize = 1024 * 1024;

const REQUEST_ID: &str = "_6c3a1f0e-2b7d-4e8a-9c41-5f0d2a7b8e93";
const ACS: &str = "https://procura.inps.example/spid/acs";
const SP: &str = "https://procura.inps.example/spid";
const IDP: &str = "https://identity.idp.example";
const ISSUED: &str = "2026-11-30T10:00:00Z";
const AUTHN_INSTANT: &str = "2026-11-30T10:00:05Z";
const NOT_ON_OR_AFTER: &str = "2026-11-30T10:05:05Z";
const RESPONSE_ID: &str = "_0f9e8d7c-6b5a-4948-8372-615a4b3c2d1e";
const ASSERTION_ID: &str = "_1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d";
/// The first fifteen characters of the person's codice fiscale (the check character is
/// computed, not typed).
const CF_FIRST_FIFTEEN: &str = "RSSMRA85T50H501";
/// What procura asks for in its default attribute set.
const REQUIRED: &[&str] = &[
    "fiscalNumber",
    "name",
    "familyName",
    "dateOfBirth",
    "email",
    "mobilePhone",
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
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    println!("spid_acs benchmark: {seconds} s per run, {cpus} CPU(s)");

    let started = Instant::now();
    let retired = IdpKey::generate("idp-2025.idp.example");
    let current = IdpKey::generate("idp-2026.idp.example");
    let rotation = [retired.verifying.clone(), current.verifying.clone()];
    let right_only = [current.verifying.clone()];
    let retired_only = [retired.verifying.clone()];
    let cf = codice_fiscale();
    let response = response_xml(&cf, &current.signing);
    let encoded = STANDARD.encode(&response);
    println!(
        "two RSA-2048 IdP keys and certificates generated, Response signed in {:.2} s: \
         {} bytes of XML, {} bytes base64",
        started.elapsed().as_secs_f64(),
        response.len(),
        encoded.len()
    );

    let person = Person::expected(&cf);
    sanity_checks(&response, &encoded, &person, &rotation, &retired_only);
    let hostile = hostile_inputs(&response, &cf);
    for h in &hostile {
        let got = validate(&h.encoded, &expected(&rotation, h.limit));
        assert_eq!(
            refusal(&got),
            Some(h.code),
            "{}: expected a refusal `{}`, got {}",
            h.name,
            h.code,
            describe(&got)
        );
    }
    println!(
        "checked: the Response validates to the expected person; a tampered copy, a key \
         missing from the metadata and the {} hostile inputs are refused as expected",
        hostile.len()
    );
    let baseline = rss();
    println!(
        "RSS before the runs: {} KiB (peak so far {} KiB)\n",
        baseline.current, baseline.peak
    );

    let mut results = Vec::new();
    for (name, keys, threads) in [
        ("validate, 2 keys", &rotation[..], 1),
        ("validate, 2 keys", &rotation[..], 2),
        ("validate, 1 key", &right_only[..], 1),
    ] {
        let check = Check::Valid(cf.clone());
        let r = run(
            name,
            threads,
            duration,
            &encoded,
            &expected(keys, DEFAULT_LIMIT),
            &check,
        );
        print_run(&r);
        results.push(r);
    }
    for h in &hostile {
        let check = Check::Refused(h.code);
        let r = run(
            h.name,
            1,
            duration,
            &h.encoded,
            &expected(&rotation, h.limit),
            &check,
        );
        print_run(&r);
        results.push(r);
    }
    print_summary(seconds, cpus, &results, &hostile);
}

// ---- the identity provider's keys -------------------------------------------------------

struct IdpKey {
    signing: SigningKey,
    verifying: VerifyingKey,
}

impl IdpKey {
    /// A fresh RSA-2048 key and a self-signed certificate for `host`.
    fn generate(host: &str) -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let der = AsDer::<Pkcs8V1Der<'_>>::as_der(&pair).expect("PKCS#8");
        let key_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
        let signer =
            rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
                .expect("rcgen key pair");
        let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
            .and_then(|params| params.self_signed(&signer))
            .expect("self-signed certificate");
        let signing = SigningKey::from_pem(&key_pem, &cert.pem()).expect("signing key");
        let verifying = signing.verifying_key();
        IdpKey { signing, verifying }
    }
}

// ---- the Response ------------------------------------------------------------------------

fn codice_fiscale() -> String {
    let check = check_character(CF_FIRST_FIFTEEN).expect("15 valid characters");
    let cf = format!("{CF_FIRST_FIFTEEN}{check}");
    CodiceFiscale::parse(&cf).expect("a valid codice fiscale");
    cf
}

/// The person's attributes, as the IdP sends them: (name, xs type, value).
fn person_attributes(cf: &str) -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("spidCode", "string", "IDPX-0021XJ7Q4M".into()),
        ("name", "string", "Maria".into()),
        ("familyName", "string", "Rossi".into()),
        ("placeOfBirth", "string", "H501".into()),
        ("countyOfBirth", "string", "RM".into()),
        ("dateOfBirth", "date", "1985-12-10".into()),
        ("gender", "string", "F".into()),
        ("fiscalNumber", "string", format!("TINIT-{cf}")),
        ("email", "string", "maria.rossi@example.it".into()),
        ("mobilePhone", "string", "+393331234567".into()),
        (
            "digitalAddress",
            "string",
            "maria.rossi@pec.example.it".into(),
        ),
        (
            "address",
            "string",
            "Via Ciro il Grande 21 00144 Roma RM".into(),
        ),
    ]
}

/// The Assertion, unsigned; it declares the namespaces it uses, so that it can be signed on
/// its own and then embedded.
fn assertion_xml(cf: &str, extra_attribute: &str) -> String {
    let attributes: String = person_attributes(cf)
        .iter()
        .map(|(name, ty, value)| attribute(name, ty, value))
        .collect();
    format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{ASSERTION_ID}" IssueInstant="{ISSUED}"
        Version="2.0" xmlns:xs="http://www.w3.org/2001/XMLSchema"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{IDP}</saml:Issuer>
        <saml:Subject>
            <saml:NameID
                Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
                NameQualifier="{IDP}">
                    _3fc08efa-a851-4855-9f03-9b881df8ca06
            </saml:NameID>
            <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
                <saml:SubjectConfirmationData
                    InResponseTo="{REQUEST_ID}"
                    NotOnOrAfter="{NOT_ON_OR_AFTER}"
                    Recipient="{ACS}" />
            </saml:SubjectConfirmation>
        </saml:Subject>
        <saml:Conditions
            NotBefore="{ISSUED}"
            NotOnOrAfter="{NOT_ON_OR_AFTER}" >
            <saml:AudienceRestriction>
                <saml:Audience>{SP}</saml:Audience>
            </saml:AudienceRestriction>
        </saml:Conditions>
        <saml:AuthnStatement
            AuthnInstant="{AUTHN_INSTANT}">
            <saml:AuthnContext>
                <saml:AuthnContextClassRef>https://www.spid.gov.it/SpidL2</saml:AuthnContextClassRef>
            </saml:AuthnContext>
        </saml:AuthnStatement>
        <saml:AttributeStatement>{attributes}{extra_attribute}
        </saml:AttributeStatement>
    </saml:Assertion>"#
    )
}

fn attribute(name: &str, ty: &str, value: &str) -> String {
    format!(
        r#"
            <saml:Attribute Name="{name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">
                <saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema"
                                     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                                     xsi:type="xs:{ty}">{value}</saml:AttributeValue>
            </saml:Attribute>"#
    )
}

/// The Response around `assertion` (signed or not), unsigned.
fn response_around(assertion: &str) -> String {
    format!(
        r#"<samlp:Response
    Destination="{ACS}"
    ID="{RESPONSE_ID}"
    InResponseTo="{REQUEST_ID}"
    IssueInstant="{ISSUED}"
    Version="2.0"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"
    xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">
    <saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{IDP}</saml:Issuer>
    <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
    {assertion}
</samlp:Response>"#
    )
}

/// The Assertion signed, then the Response around it signed: what the IdP POSTs.
fn response_xml(cf: &str, key: &SigningKey) -> String {
    let assertion = sign(&assertion_xml(cf, ""), key);
    sign(&response_around(&assertion), key)
}

fn sign(xml: &str, key: &SigningKey) -> String {
    let signed = dsig::sign_enveloped(xml, key).expect("sign_enveloped");
    without_declaration(&signed).to_owned()
}

/// Drops an XML declaration the signer may have written (the part gets embedded).
fn without_declaration(xml: &str) -> &str {
    match xml.trim_start().strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or(xml, |(_, body)| body.trim_start()),
        None => xml,
    }
}

/// What the stored AuthnRequest fixed, and the settings, a few seconds after the request.
fn expected(keys: &[VerifyingKey], max_bytes: usize) -> Expected<'_> {
    let issued: DateTime<Utc> = ISSUED.parse().expect("ISSUED");
    Expected {
        request_id: REQUEST_ID,
        request_issue_instant: issued,
        idp_entity_id: IDP,
        idp_keys: keys,
        acs_url: ACS,
        sp_entity_id: SP,
        requested_level: Level::SpidL2,
        comparison: Comparison::Minimum,
        assertion_issuer_format_required: true,
        required_attributes: REQUIRED,
        now: issued + ChronoDuration::seconds(7),
        skew: ChronoDuration::seconds(60),
        limits: procura::spid::xml::Limits::message(max_bytes),
    }
}

// ---- checks -------------------------------------------------------------------------------

/// The login the Response must give.
struct Person {
    codice_fiscale: String,
    attributes: Vec<(String, String)>,
}

impl Person {
    fn expected(cf: &str) -> Self {
        Person {
            codice_fiscale: cf.to_owned(),
            attributes: person_attributes(cf)
                .into_iter()
                .map(|(name, _, value)| (name.to_owned(), value))
                .collect(),
        }
    }

    fn assert_is(&self, login: &SpidLogin) {
        assert_eq!(login.codice_fiscale, self.codice_fiscale);
        assert_eq!(
            login.fiscal_number_raw,
            format!("TINIT-{}", self.codice_fiscale)
        );
        assert_eq!(login.level, Level::SpidL2);
        assert_eq!(login.given_name.as_deref(), Some("Maria"));
        assert_eq!(login.family_name.as_deref(), Some("Rossi"));
        assert_eq!(login.date_of_birth, NaiveDate::from_ymd_opt(1985, 12, 10));
        assert_eq!(login.pec.as_deref(), Some("maria.rossi@pec.example.it"));
        assert_eq!(login.attributes, self.attributes);
        assert_eq!(login.assertion_id, ASSERTION_ID);
        assert_eq!(login.response_id, RESPONSE_ID);
        assert_eq!(login.name_id, "_3fc08efa-a851-4855-9f03-9b881df8ca06");
    }
}

fn sanity_checks(
    response: &str,
    encoded: &str,
    person: &Person,
    rotation: &[VerifyingKey],
    retired_only: &[VerifyingKey],
) {
    let login = validate(encoded, &expected(rotation, DEFAULT_LIMIT))
        .unwrap_or_else(|e| panic!("the Response is refused: {e}"));
    person.assert_is(&login);

    // One letter of the codice fiscale changed after signing: both digests now disagree,
    // and the Response signature is checked first.
    let needle = format!("TINIT-{}", person.codice_fiscale);
    assert_eq!(response.matches(&needle).count(), 1);
    let tampered = response.replacen(&needle, &needle.replacen("RSS", "RSX", 1), 1);
    let got = validate(
        &STANDARD.encode(&tampered),
        &expected(rotation, DEFAULT_LIMIT),
    );
    assert_eq!(
        refusal(&got),
        Some("response_signature"),
        "a tampered Response: {}",
        describe(&got)
    );

    // The metadata hold only the retired key.
    let got = validate(encoded, &expected(retired_only, DEFAULT_LIMIT));
    assert_eq!(
        refusal(&got),
        Some("response_signature"),
        "a Response signed by a key not in the metadata: {}",
        describe(&got)
    );
}

fn refusal(got: &Result<SpidLogin, ResponseError>) -> Option<&'static str> {
    got.as_ref().err().map(ResponseError::code)
}

fn describe(got: &Result<SpidLogin, ResponseError>) -> String {
    match got {
        Ok(_) => "Ok".to_owned(),
        Err(e) => format!("`{}` ({e})", e.code()),
    }
}

// ---- hostile inputs -----------------------------------------------------------------------

struct Hostile {
    name: &'static str,
    encoded: String,
    /// Decoded size.
    bytes: usize,
    limit: usize,
    code: &'static str,
}

impl Hostile {
    fn new(name: &'static str, xml: &str, limit: usize, code: &'static str) -> Self {
        Hostile {
            name,
            encoded: STANDARD.encode(xml),
            bytes: xml.len(),
            limit,
            code,
        }
    }
}

fn hostile_inputs(response: &str, cf: &str) -> Vec<Hostile> {
    let padding = |n: usize| "A".repeat(n);
    // The real Response with 1 MiB of comment inside: only its size is wrong.
    let oversized = response.replacen(
        "<samlp:Status>",
        &format!("<!--{}--><samlp:Status>", padding(HOSTILE_BYTES)),
        1,
    );
    let flood = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">{}</samlp:Response>"#,
        "<a/>".repeat(HOSTILE_BYTES / 4)
    );
    // Signature wrapping: an evil unsigned assertion of 1 MiB after the real one.
    let big_attribute = |n: usize| attribute("registeredOffice", "string", &padding(n));
    let evil = assertion_xml(cf, &big_attribute(HOSTILE_BYTES))
        .replacen(ASSERTION_ID, "_evil", 1)
        .replacen("Rossi", "Bianchi", 1);
    let two = response.replacen("</samlp:Response>", &format!("{evil}</samlp:Response>"), 1);
    // The real signed assertion with 1 MiB added after signing, in an unsigned Response:
    // refused on the digest, after c14n and SHA-256 of it all.
    let signed_assertion = {
        let start = response.find("<saml:Assertion").expect("an assertion");
        let end =
            response.rfind("</saml:Assertion>").expect("an assertion") + "</saml:Assertion>".len();
        &response[start..end]
    };
    let forged = |n: usize| {
        response_around(&signed_assertion.replacen(
            "</saml:AttributeStatement>",
            &format!("{}</saml:AttributeStatement>", big_attribute(n)),
            1,
        ))
    };
    let laughs: String = (1..10)
        .map(|i| {
            let previous = format!("&l{};", i - 1);
            format!(r#"<!ENTITY l{i} "{}">"#, previous.repeat(10))
        })
        .collect();
    let bomb = format!(
        r#"<?xml version="1.0"?><!DOCTYPE samlp:Response [<!ENTITY l0 "lol">{laughs}]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&l9;<!--{}--></samlp:Response>"#,
        padding(HOSTILE_BYTES)
    );
    vec![
        Hostile::new(
            "over the size limit",
            &oversized,
            DEFAULT_LIMIT,
            "xml_limit",
        ),
        Hostile::new("node flood", &flood, RAISED_LIMIT, "xml_limit"),
        Hostile::new("two assertions", &two, RAISED_LIMIT, "shape"),
        Hostile::new(
            "forged signature",
            &forged(HOSTILE_BYTES),
            RAISED_LIMIT,
            "assertion_signature",
        ),
        // The dearest refusal under the default limit.
        Hostile::new(
            "forged, 240 KiB",
            &forged(240 * 1024),
            DEFAULT_LIMIT,
            "assertion_signature",
        ),
        Hostile::new("DTD entity bomb", &bomb, RAISED_LIMIT, "malformed"),
    ]
}

// ---- runs ---------------------------------------------------------------------------------

/// What every result of a run must be.
enum Check {
    /// Ok, with this codice fiscale.
    Valid(String),
    /// Refused with this error code.
    Refused(&'static str),
}

impl Check {
    fn holds(&self, got: &Result<SpidLogin, ResponseError>) -> bool {
        match (self, got) {
            (Check::Valid(cf), Ok(login)) => login.codice_fiscale == *cf,
            (Check::Refused(code), Err(e)) => e.code() == *code,
            _ => false,
        }
    }
}

struct RunResult {
    name: &'static str,
    threads: usize,
    input_bytes: usize,
    calls: u64,
    elapsed: Duration,
    /// User + system time of the calling threads.
    cpu: Option<Duration>,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// VmHWM after the run, KiB.
    peak_rss: u64,
}

impl RunResult {
    fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn per_cpu_second(&self) -> Option<f64> {
        self.cpu
            .filter(|c| !c.is_zero())
            .map(|c| self.calls as f64 / c.as_secs_f64())
    }
}

/// Latencies in a log-linear histogram: exact below 1,024 ns, then 128 buckets per power of
/// two (under 1 % apart). Its size is fixed, so millions of sub-microsecond refusals do not
/// show in the peak RSS they are measured with.
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: Duration,
}

const EXACT_NS: u64 = 1024;
const SUB_BUCKETS: u64 = 128;
/// Up to 2^40 ns (18 minutes), far more than any call.
const TOP_EXPONENT: u64 = 40;

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; (EXACT_NS + (TOP_EXPONENT - 10) * SUB_BUCKETS) as usize],
            total: 0,
            max: Duration::ZERO,
        }
    }

    fn bucket(ns: u64) -> usize {
        if ns < EXACT_NS {
            return ns as usize;
        }
        let exponent = u64::from(63 - ns.leading_zeros()).min(TOP_EXPONENT - 1);
        let mantissa = (ns >> (exponent - 7)) & (SUB_BUCKETS - 1);
        (EXACT_NS + (exponent - 10) * SUB_BUCKETS + mantissa) as usize
    }

    /// The smallest latency that falls in `bucket`.
    fn lower_bound(bucket: usize) -> Duration {
        let b = bucket as u64;
        if b < EXACT_NS {
            return Duration::from_nanos(b);
        }
        let exponent = (b - EXACT_NS) / SUB_BUCKETS + 10;
        let mantissa = (b - EXACT_NS) % SUB_BUCKETS;
        Duration::from_nanos((1 << exponent) + (mantissa << (exponent - 7)))
    }

    fn record(&mut self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        let last = self.counts.len() - 1;
        self.counts[Self::bucket(ns).min(last)] += 1;
        self.total += 1;
        self.max = self.max.max(latency);
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Nearest rank, as the lower bound of its bucket.
    fn percentile(&self, p: f64) -> Duration {
        let rank = (((p / 100.0) * self.total as f64).ceil() as u64).clamp(1, self.total.max(1));
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::lower_bound(bucket);
            }
        }
        self.max
    }
}

/// What one thread did.
struct Work {
    latencies: Histogram,
    cpu: Option<Duration>,
    /// The first result that was not the expected one.
    wrong: Option<String>,
}

fn run(
    name: &'static str,
    threads: usize,
    duration: Duration,
    encoded: &str,
    expected: &Expected<'_>,
    check: &Check,
) -> RunResult {
    // One call outside the clock, so that lazy initialisations are not in the figures.
    assert!(check.holds(&validate(encoded, expected)), "{name}: warm-up");
    reset_peak_rss();
    let barrier = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let (works, elapsed) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (barrier, stop) = (&barrier, &stop);
                s.spawn(move || {
                    barrier.wait();
                    work(encoded, expected, check, duration, stop)
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let works: Vec<Work> = handles
            .into_iter()
            .map(|h| h.join().expect("a bench thread panicked"))
            .collect();
        (works, started.elapsed())
    });
    if let Some(wrong) = works.iter().find_map(|w| w.wrong.as_ref()) {
        panic!("{name}: {wrong}");
    }
    let mut latencies = Histogram::new();
    for w in &works {
        latencies.merge(&w.latencies);
    }
    let cpu = works.iter().map(|w| w.cpu).sum::<Option<Duration>>();
    RunResult {
        name,
        threads,
        input_bytes: encoded.len(),
        calls: latencies.total,
        elapsed,
        cpu,
        p50: latencies.percentile(50.0),
        p99: latencies.percentile(99.0),
        max: latencies.max,
        peak_rss: rss().peak,
    }
}

/// One thread's loop: validations until `duration` has passed (or another thread failed).
fn work(
    encoded: &str,
    expected: &Expected<'_>,
    check: &Check,
    duration: Duration,
    stop: &AtomicBool,
) -> Work {
    let cpu_before = thread_cpu();
    let started = Instant::now();
    let mut latencies = Histogram::new();
    let mut wrong = None;
    while started.elapsed() < duration && !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let got = validate(encoded, expected);
        latencies.record(t0.elapsed());
        if !check.holds(&got) {
            wrong = Some(format!("unexpected result {}", describe(&got)));
            stop.store(true, Ordering::Relaxed);
            break;
        }
    }
    let cpu = thread_cpu()
        .zip(cpu_before)
        .and_then(|(after, before)| after.checked_sub(before));
    Work {
        latencies,
        cpu,
        wrong,
    }
}

// ---- the process --------------------------------------------------------------------------

/// User + system time of the calling thread, from `/proc/thread-self/stat` (USER_HZ ticks,
/// taken as 1/100 s).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

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

static PEAK_RESET_WORKS: AtomicBool = AtomicBool::new(true);

/// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
fn reset_peak_rss() {
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        PEAK_RESET_WORKS.store(false, Ordering::Relaxed);
    }
}

// ---- output -------------------------------------------------------------------------------

fn print_run(r: &RunResult) {
    println!(
        "  {:<20} {} thread(s): {:>8} calls {:>10.0}/s {:>10}/CPU-s   p50 {} p99 {} max {} µs   peak RSS {} KiB",
        r.name,
        r.threads,
        r.calls,
        r.per_second(),
        per_cpu(r),
        us(r.p50),
        us(r.p99),
        us(r.max),
        r.peak_rss
    );
}

fn print_summary(seconds: f64, cpus: usize, results: &[RunResult], hostile: &[Hostile]) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "\nsummary: {seconds} s per run, {cpus} CPU(s), load average {}",
        load.join(" ")
    );
    let rule = "-".repeat(112);
    println!("{rule}");
    println!(
        "{:<20} {:>3} {:>9} {:>9} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "run",
        "thr",
        "input B",
        "calls",
        "calls/s",
        "calls/CPU-s",
        "p50 µs",
        "p99 µs",
        "max µs",
        "peak KiB"
    );
    println!("{rule}");
    for r in results {
        println!(
            "{:<20} {:>3} {:>9} {:>9} {:>10.0} {:>12} {:>10} {:>10} {:>10} {:>10}",
            r.name,
            r.threads,
            r.input_bytes,
            r.calls,
            r.per_second(),
            per_cpu(r),
            us(r.p50),
            us(r.p99),
            us(r.max),
            r.peak_rss
        );
    }
    println!("{rule}");
    for h in hostile {
        println!(
            "{:<20} {} bytes decoded, limit {} KiB, refused as `{}`",
            h.name,
            h.bytes,
            h.limit / 1024,
            h.code
        );
    }
    let end = rss();
    println!(
        "input B: the base64 SAMLResponse as POSTed; calls/CPU-s: calls per second of CPU time \
         of the calling threads\n(the per-core rate, whatever else the machine runs); \
         latencies are wall clock, one validate call each;\npeak KiB: the process's VmHWM {} \
         (the whole process: binary, keys, inputs, threads). At the end: RSS {} KiB, peak {} KiB.",
        if PEAK_RESET_WORKS.load(Ordering::Relaxed) {
            "during the run (reset before each)"
        } else {
            "so far (this kernel does not let it be reset)"
        },
        end.current,
        end.peak
    );
}

fn per_cpu(r: &RunResult) -> String {
    r.per_cpu_second()
        .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}"))
}

fn us(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e6)
}
