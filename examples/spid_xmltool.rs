//! procura's exclusive c14n, XML signing and verification, for the differential tests against
//! libxml2 and xmlsec1 (`scripts/spid-differential.sh`). Test tooling, not part of the service.
//!
//! ```text
//! spid_xmltool c14n   DIR               # each DIR/N.xml + DIR/N.case -> DIR/N.procura.c14n
//! spid_xmltool sign   DIR KEY.pem CERT.pem   # each DIR/N.xml -> DIR/N.procura.xml
//! spid_xmltool verify DIR CERT.pem      # each DIR/N.xmlsec.xml -> DIR/N.procura.verify
//! ```
//!
//! Whole directories at a time, so that hundreds of cases cost one process start.
//! - `N.case` holds two lines: the index of the element to canonicalize among the document's
//!   elements in document order (0: the root), and the InclusiveNamespaces PrefixList (may be
//!   empty). The output is the canonical form, or `ERROR: …`.
//! - `sign` signs the Assertion of a Response (a `saml:Assertion` child holding its own
//!   namespace declarations, as IdPs write it), then the Response, as an IdP does.
//! - `verify` writes one line per signature of the Response (`response ok`, `assertion ok`, or
//!   the refusal), checked with the certificate's key only.

use procura::spid::c14n::{self, Options};
use procura::spid::dsig::{self, SigningKey, VerifyingKey};
use procura::spid::{ns, xml};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The cases are small; the limits here only keep a broken generator from running away.
const LIMITS: xml::Limits = xml::Limits::metadata(16 << 20);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["c14n", dir] => each(dir, ".case", c14n_case),
        ["sign", dir, key, cert] => {
            signer(key, cert).and_then(|k| each(dir, ".xml", |xml_path| sign_case(xml_path, &k)))
        }
        ["verify", dir, cert] => verifier(cert)
            .and_then(|k| each(dir, ".xmlsec.xml", |xml_path| verify_case(xml_path, &k))),
        _ => Err("usage: spid_xmltool c14n DIR | sign DIR KEY CERT | verify DIR CERT".into()),
    };
    match result {
        Ok(n) => {
            eprintln!("spid_xmltool: {n} case(s)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spid_xmltool: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Runs `case` on every file of `dir` whose name ends with `suffix` (and has no other dot
/// before it, so `N.xml` but not `N.procura.xml`).
fn each(dir: &str, suffix: &str, mut case: impl FnMut(&Path) -> Result<()>) -> Result<usize> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(suffix))
                .is_some_and(|stem| !stem.contains('.'))
        })
        .collect();
    paths.sort();
    for path in &paths {
        case(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(paths.len())
}

fn with_suffix(path: &Path, old: &str, new: &str) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    path.with_file_name(format!("{}{new}", name.strip_suffix(old).unwrap_or(name)))
}

fn c14n_case(case_path: &Path) -> Result<()> {
    let case = std::fs::read_to_string(case_path)?;
    let mut lines = case.lines();
    let index: usize = lines.next().unwrap_or("0").trim().parse()?;
    let prefixes: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    // As every XML that reaches procura: line ends normalized first (see xml::normalize_line_ends).
    let text = xml::normalize_line_ends(std::fs::read_to_string(with_suffix(
        case_path, ".case", ".xml",
    ))?);
    let out = match canonical(&text, index, &prefixes) {
        Ok(c) => c,
        Err(e) => format!("ERROR: {e}"),
    };
    std::fs::write(with_suffix(case_path, ".case", ".procura.c14n"), out)?;
    Ok(())
}

fn canonical(text: &str, index: usize, prefixes: &[&str]) -> Result<String> {
    let doc = xml::parse(text, LIMITS)?;
    let element = doc
        .descendants()
        .filter(|n| n.is_element())
        .nth(index)
        .ok_or("no such element")?;
    let options = Options {
        omit: None,
        inclusive_prefixes: prefixes,
    };
    Ok(c14n::canonicalize(element, &options)?)
}

fn signer(key: &str, cert: &str) -> Result<SigningKey> {
    Ok(SigningKey::from_pem(
        &std::fs::read_to_string(key)?,
        &std::fs::read_to_string(cert)?,
    )?)
}

fn verifier(cert: &str) -> Result<VerifyingKey> {
    Ok(VerifyingKey::from_certificate_pem(
        &std::fs::read_to_string(cert)?,
    )?)
}

/// The Assertion signed on its own and put back, then the whole Response signed.
fn sign_case(xml_path: &Path, key: &SigningKey) -> Result<()> {
    let text = xml::normalize_line_ends(std::fs::read_to_string(xml_path)?);
    let (start, end) = {
        let doc = xml::parse(&text, LIMITS)?;
        let assertion =
            xml::child(doc.root_element(), ns::SAML, "Assertion").ok_or("no Assertion")?;
        (assertion.range().start, assertion.range().end)
    };
    let signed_assertion = dsig::sign_enveloped(text.get(start..end).ok_or("range")?, key)?;
    let with_assertion = format!(
        "{}{}{}",
        text.get(..start).ok_or("range")?,
        strip_declaration(&signed_assertion),
        text.get(end..).ok_or("range")?
    );
    let signed = dsig::sign_enveloped(&with_assertion, key)?;
    std::fs::write(with_suffix(xml_path, ".xml", ".procura.xml"), signed)?;
    Ok(())
}

fn strip_declaration(text: &str) -> &str {
    match text.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or(text, |(_, body)| body.trim_start()),
        None => text,
    }
}

fn verify_case(xml_path: &Path, key: &VerifyingKey) -> Result<()> {
    let text = xml::normalize_line_ends(std::fs::read_to_string(xml_path)?);
    let keys = std::slice::from_ref(key);
    let mut report = String::new();
    match xml::parse(&text, LIMITS) {
        Err(e) => report.push_str(&format!("unreadable: {e}\n")),
        Ok(doc) => {
            let root = doc.root_element();
            let assertion = xml::child(root, ns::SAML, "Assertion");
            for (name, element) in [("response", Some(root)), ("assertion", assertion)] {
                let Some(element) = element.filter(|e| dsig::has_signature(*e)) else {
                    continue;
                };
                match dsig::verify_enveloped(element, keys) {
                    Ok(_) => report.push_str(&format!("{name} ok\n")),
                    Err(e) => report.push_str(&format!("{name} refused: {e}\n")),
                }
            }
        }
    }
    std::fs::write(
        with_suffix(xml_path, ".xmlsec.xml", ".procura.verify"),
        report,
    )?;
    Ok(())
}
