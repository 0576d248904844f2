#![no_main]
//! Whatever reaches the assertion consumer service and the Single Logout endpoint, read the
//! way procura reads it: the `SAMLResponse` field (base64 of the bytes, and the bytes as they
//! are), the XML inside, its signatures, its times, signed HTTP-Redirect queries, and SLO
//! messages by either binding.
//!
//! Besides "never panic, never hang" (fuzz/run.sh gives each input one second, and inputs as
//! large as the body limit): the fuzz IdP's private key signed exactly one thing, the Assertion
//! of `seeds/spid_response/response.xml`, and was then destroyed. So every signature that
//! verifies must cover that same Assertion, every accepted login must carry what it says, and
//! no Redirect query and no Single Logout message can verify. Anything else is a
//! signature-wrapping hole.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use libfuzzer_sys::fuzz_target;
use procura::login::Level;
use procura::spid::dsig::{self, VerifyingKey};
use procura::spid::idp;
use procura::spid::logout::{self, Expectations, Received};
use procura::spid::registry::IdpRegistry;
use procura::spid::response::{self, Comparison, Expected, SpidLogin};
use procura::spid::{time, xml};
use std::sync::OnceLock;

/// `spid.max_message_bytes` by default.
const MAX_BYTES: usize = 256 * 1024;

/// The fuzz IdP's certificate; its key signed only the seed Assertion.
const IDP_CERTIFICATE: &str = "
-----BEGIN CERTIFICATE-----
MIIDlzCCAn+gAwIBAgIUdnK/kWXAtA8dX2LyepDArfa+jXswDQYJKoZIhvcNAQEL
BQAwWzELMAkGA1UEBhMCSVQxMTAvBgNVBAoMKHByb2N1cmEgZnV6eiBJZFAgKHBy
aXZhdGUga2V5IGRlc3Ryb3llZCkxGTAXBgNVBAMMEGZ1enotaWRwLmV4YW1wbGUw
HhcNMjYxMTMwMDMwNzU3WhcNMzYxMTI3MDMwNzU3WjBbMQswCQYDVQQGEwJJVDEx
MC8GA1UECgwocHJvY3VyYSBmdXp6IElkUCAocHJpdmF0ZSBrZXkgZGVzdHJveWVk
KTEZMBcGA1UEAwwQZnV6ei1pZHAuZXhhbXBsZTCCASIwDQYJKoZIhvcNAQEBBQAD
ggEPADCCAQoCggEBALS/1L9hA0bu2YbhDlNOVGK5oIFd4eRk1DjPqt85mlGnfbBl
Kpri6xlCDRQ1wC6avuenOr8rBXJFFRxbmaLlcDJBSHy3KALeRd7k3baQR+KtU7MY
OraixlQ00F2PDa6kdYh3xOYcZxS/9KA+TGhTtU6KSeax1QtX+IEubqxhbvd3AGFe
zASFQV5o5tsWnK5SmRxQdlNh2RDnIkKphfNP9Lca1BmYAhESrrhH6cnM1ZhnhGWF
TRfEWWuJrmuqf5AeKpXFdFs90RLnIYH9LiCGnv4HVDqRZ9DsAzoEVp9Z9OKoVAcr
L6QFETQTT7EbsXAFaDLpEqiisKTQs76o9+zf8p8CAwEAAaNTMFEwHQYDVR0OBBYE
FHmr0uK1PQlPRBXQ2mtlT2uqwiJ1MB8GA1UdIwQYMBaAFHmr0uK1PQlPRBXQ2mtl
T2uqwiJ1MA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADggEBAIeXU9vY
WDbUUAmnQpZXXAY9SxZGg11Ki+qJiRcbTrGfbC97PBwgfY6wIRXvyL1JWTO277ui
PWRpAUcYtvT93ANMUAXusScGovs+TrvynoFiBtgbit67B03foff3DoHNQUqxNPlm
a/xp4iVhd2NFS27ax+l0sgLJdNkbxbnvRec5uwmnAGrtyaa7dLIow6rskGmKM1S/
/4bNoHwrqHtoIwt14xoY8zBYPeR7GCCIrTZwNsnlt/FGw642yL0zMFFOaaubkpWI
8W6JSXquuA5K++h2LBx6aKYUEhnr+XQQUlqgfN/kRVRGZ45EUcSrqJQXP8yclahN
+5Z1uoHuvFsE8Fk=
-----END CERTIFICATE-----
";

struct Fixture {
    keys: Vec<VerifyingKey>,
    /// The fuzz IdP, as the registry holds it for Single Logout.
    registry: IdpRegistry,
    request_issued: DateTime<Utc>,
    now: DateTime<Utc>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = match VerifyingKey::from_certificate_pem(IDP_CERTIFICATE) {
            Ok(key) => key,
            Err(e) => panic!("the fuzz IdP certificate does not load: {e}"),
        };
        let at = |s| time::parse(s).unwrap_or_else(|| panic!("fixture time {s}"));
        let metadata = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            IDP_CERTIFICATE
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>()
        );
        let idps = match idp::parse(&metadata, 1 << 20, at("2026-11-30T10:00:00Z")) {
            Ok(parsed) => parsed.idps,
            Err(e) => panic!("the fuzz IdP metadata do not load: {e}"),
        };
        Fixture {
            registry: IdpRegistry::from_idps(idps),
            keys: vec![key],
            request_issued: at("2026-11-30T10:00:00Z"),
            now: at("2026-11-30T10:01:00Z"),
        }
    })
}

/// The stored request the seed Response answers, as the ACS would rebuild it.
fn expected(f: &Fixture) -> Expected<'_> {
    Expected {
        request_id: "_q1",
        request_issue_instant: f.request_issued,
        idp_entity_id: "https://idp.example",
        idp_keys: &f.keys,
        acs_url: "https://procura.example/spid/acs",
        sp_entity_id: "https://procura.example/spid/metadata",
        requested_level: Level::SpidL2,
        comparison: Comparison::Minimum,
        assertion_issuer_format_required: true,
        required_attributes: &["fiscalNumber"],
        now: f.now,
        skew: Duration::seconds(30),
        limits: xml::Limits::message(MAX_BYTES),
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    // As the form field carries it: base64 of the bytes.
    field(f, &STANDARD.encode(data));
    if let Ok(text) = std::str::from_utf8(data) {
        // The bytes as they are: a field that may not be base64, the XML itself, a query.
        field(f, text);
        document(f, text);
        if let Ok(decoded) = xml::decode_base64(text, MAX_BYTES) {
            document(f, &decoded);
        }
        if dsig::decode_redirect(text, &f.keys, MAX_BYTES).is_ok() {
            panic!("a Redirect query verified, but the fuzz IdP never signed one");
        }
        single_logout(f, Received::Query(text));
    }
    single_logout(f, Received::Form(data));
});

/// No Single Logout message was ever signed by the fuzz IdP: none may be accepted.
fn single_logout(f: &Fixture, received: Received<'_>) {
    let expected = Expectations {
        slo_url: "https://procura.example/spid/slo",
        now: f.now,
        skew: Duration::seconds(30),
    };
    let limits = xml::Limits::message(MAX_BYTES);
    if let Ok(message) = logout::receive(&f.registry, received, &limits, &expected) {
        panic!("a Single Logout message was accepted: {message:?}");
    }
}

fn field(f: &Fixture, saml_response: &str) {
    let _ = response::in_response_to(saml_response, MAX_BYTES);
    if let Ok(login) = response::validate(saml_response, &expected(f)) {
        same_as_first("accepted login", signed_content(&login));
    }
}

/// What an accepted login takes from the signed Assertion (the Response around it may be
/// unsigned, so its own ID is not compared).
fn signed_content(login: &SpidLogin) -> String {
    format!(
        "{:?}|{}|{}|{:?}|{}|{}|{:?}|{}|{}",
        login.level,
        login.codice_fiscale,
        login.fiscal_number_raw,
        login.attributes,
        login.name_id,
        login.name_qualifier,
        login.session_index,
        login.assertion_id,
        login.assertion_not_on_or_after,
    )
}

fn document(f: &Fixture, text: &str) {
    let Ok(doc) = xml::parse(text, xml::Limits::message(MAX_BYTES)) else {
        return;
    };
    for node in doc.descendants().filter(|n| n.is_element()) {
        let _ = xml::qname(node);
        let _ = xml::prefix(node);
        let _ = time::parse(&xml::text(node));
        for attribute in node.attributes() {
            let _ = time::parse(attribute.value());
        }
        if dsig::has_signature(node) {
            if let Ok(verified) = dsig::verify_enveloped(node, &f.keys) {
                same_as_first("verified signed XML", verified.signed_xml);
            }
        }
    }
}

/// Every value of `what` accepted in this process must be the first one: only one thing was
/// ever signed.
fn same_as_first(what: &'static str, value: String) {
    static FIRST: OnceLock<std::sync::Mutex<Vec<(&'static str, String)>>> = OnceLock::new();
    let seen = FIRST.get_or_init(Default::default);
    let mut seen = match seen.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    match seen.iter().find(|(w, _)| *w == what) {
        Some((_, first)) => assert_eq!(first, &value, "{what} differs from the one the key signed"),
        None => {
            eprintln!("fuzz: first {what} (the seed); any later one must be the same");
            seen.push((what, value));
        }
    }
}
