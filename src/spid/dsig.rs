//! XML signatures as SPID uses them, and the signed query of the HTTP-Redirect binding.
//!
//! CONTRACT (the implementation replaces these stubs; callers rely on it):
//! - `sign_enveloped` signs the root element of `xml` (it must carry an `ID`): exclusive
//!   c14n, enveloped-signature + exc-c14n transforms, SHA-256 digest, RSA-SHA256, KeyInfo
//!   with the X509Certificate. The `<ds:Signature>` goes right after the root's
//!   `saml:Issuer` child when there is one, else it is the root's first child (metadata).
//! - `verify_enveloped` verifies the `<ds:Signature>` that is a direct child of `element`,
//!   with the given keys only (KeyInfo is ignored). It refuses: no or several signatures,
//!   a Reference whose URI is not `#` + the element's own `ID`, an `ID` that occurs more
//!   than once in the document, transforms other than enveloped-signature and exc-c14n,
//!   other canonicalization methods, digests other than SHA-256/384/512, signature methods
//!   other than RSA-SHA256/384/512. On success it returns the exclusive canonical form of
//!   the element without its signature: callers re-parse that text and read only it.
//! - `encode_redirect` builds the query of an HTTP-Redirect message (DEFLATE + base64,
//!   `SigAlg` RSA-SHA256, `Signature` over `SAMLRequest|SAMLResponse=…&RelayState=…&SigAlg=…`
//!   as transmitted, form-urlencoded). `decode_redirect` verifies such a query over the raw
//!   octets received, refuses an unsigned one, and inflates within `max_bytes`.

use super::c14n::{self, Options};
use super::{ns, xml};
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, RsaKeyPair, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use roxmltree::Node;
use std::io::{Read, Write};

/// Algorithm URIs of XML Signature (and of `SigAlg` in the Redirect binding).
pub mod algorithm {
    pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
    pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    pub const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
    pub const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
    pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
    pub const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
    pub const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";
}

/// Largest document `sign_enveloped` accepts (SP metadata, requests: a few kB).
const SIGN_MAX_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DsigError {
    #[error("key or certificate unreadable: {0}")]
    Key(String),
    #[error("XML unreadable: {0}")]
    Xml(String),
    #[error("no signature")]
    Missing,
    #[error("signature refused: {0}")]
    Invalid(&'static str),
    #[error("signing failed")]
    Signing,
    #[error("not implemented yet")]
    Unimplemented,
}

/// procura's own signing key (RSA) and the certificate that carries its public part.
pub struct SigningKey {
    key_pair: RsaKeyPair,
    verifying: VerifyingKey,
    certificate_base64: String,
}

impl SigningKey {
    /// `private_key_pem`: PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`); the certificate
    /// must carry the public part of that very key.
    pub fn from_pem(private_key_pem: &str, certificate_pem: &str) -> Result<Self, DsigError> {
        let block = pem::parse(private_key_pem.trim())
            .map_err(|e| DsigError::Key(format!("private key PEM: {e}")))?;
        let key_pair = match block.tag() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(block.contents()),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(block.contents()),
            other => return Err(DsigError::Key(format!("unexpected PEM block {other}"))),
        }
        .map_err(|e| DsigError::Key(format!("RSA private key: {e}")))?;
        let verifying = VerifyingKey::from_certificate_pem(certificate_pem)?;
        if signature::KeyPair::public_key(&key_pair).as_ref() != verifying.public_key.as_slice() {
            return Err(DsigError::Key(
                "the certificate does not match the private key".to_owned(),
            ));
        }
        let certificate_base64 = STANDARD.encode(verifying.certificate_der());
        Ok(Self {
            key_pair,
            verifying,
            certificate_base64,
        })
    }
    pub fn certificate_der(&self) -> &[u8] {
        self.verifying.certificate_der()
    }
    /// The certificate as `<ds:X509Certificate>` carries it (base64, one line).
    pub fn certificate_base64(&self) -> String {
        self.certificate_base64.clone()
    }
    /// The public half, as a verifier holds it.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying.clone()
    }
    /// RSASSA-PKCS1-v1_5 with SHA-256 over `data`.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, DsigError> {
        let mut out = vec![0; self.key_pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key_pair
            .sign(&signature::RSA_PKCS1_SHA256, &rng, data, &mut out)
            .map_err(|_| DsigError::Signing)?;
        Ok(out)
    }
}

/// A public key taken from a certificate in an IdP's metadata.
#[derive(Clone, Debug)]
pub struct VerifyingKey {
    certificate_der: Vec<u8>,
    /// PKCS#1 `RSAPublicKey`, as aws-lc-rs verifies with it.
    public_key: Vec<u8>,
    not_after: Option<DateTime<Utc>>,
}

impl VerifyingKey {
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, DsigError> {
        let (rest, certificate) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| DsigError::Key(format!("certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(DsigError::Key(
                "trailing bytes after the certificate".to_owned(),
            ));
        }
        let spki = certificate.public_key();
        if spki.algorithm.algorithm.to_id_string() != "1.2.840.113549.1.1.1" {
            return Err(DsigError::Key("not an RSA public key".to_owned()));
        }
        let not_after = DateTime::from_timestamp(certificate.validity().not_after.timestamp(), 0);
        Ok(Self {
            certificate_der: der.to_vec(),
            public_key: spki.subject_public_key.data.to_vec(),
            not_after,
        })
    }
    /// The content of a `<ds:X509Certificate>` (base64, whitespace allowed).
    pub fn from_certificate_base64(text: &str) -> Result<Self, DsigError> {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD
            .decode(compact)
            .map_err(|_| DsigError::Key("certificate is not base64".to_owned()))?;
        Self::from_certificate_der(&der)
    }
    pub fn from_certificate_pem(pem: &str) -> Result<Self, DsigError> {
        let block =
            pem::parse(pem.trim()).map_err(|e| DsigError::Key(format!("certificate PEM: {e}")))?;
        if block.tag() != "CERTIFICATE" {
            return Err(DsigError::Key(format!(
                "unexpected PEM block {}",
                block.tag()
            )));
        }
        Self::from_certificate_der(block.contents())
    }
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }
    pub fn not_after(&self) -> Option<DateTime<Utc>> {
        self.not_after
    }
    fn verifies(
        &self,
        method: &'static dyn VerificationAlgorithm,
        data: &[u8],
        sig: &[u8],
    ) -> bool {
        UnparsedPublicKey::new(method, &self.public_key)
            .verify(data, sig)
            .is_ok()
    }
}

/// Signs the root element of `xml` (see the module contract).
pub fn sign_enveloped(xml: &str, key: &SigningKey) -> Result<String, DsigError> {
    let doc = xml::parse(xml, SIGN_MAX_BYTES).map_err(|e| DsigError::Xml(e.to_string()))?;
    let root = doc.root_element();
    let id = root
        .attribute("ID")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| DsigError::Xml("the root element has no ID".to_owned()))?;
    if has_signature(root) {
        return Err(DsigError::Xml(
            "the root element is already signed".to_owned(),
        ));
    }
    let canonical = c14n::canonicalize(root, &Options::default()).map_err(xml_error)?;
    let digest = STANDARD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
    let signed_info = signed_info_xml(id, &digest);
    let at = insertion_point(root)?;

    // Canonicalize SignedInfo where it will sit, so the bytes are the ones a verifier computes.
    let draft = insert(xml, &at, &signature_xml(&signed_info, "", ""));
    let draft_doc = xml::parse(&draft, SIGN_MAX_BYTES.saturating_mul(2))
        .map_err(|e| DsigError::Xml(e.to_string()))?;
    let draft_signed_info = xml::child(draft_doc.root_element(), ns::DS, "Signature")
        .and_then(|s| xml::child(s, ns::DS, "SignedInfo"))
        .ok_or(DsigError::Signing)?;
    let signed_info_c14n =
        c14n::canonicalize(draft_signed_info, &Options::default()).map_err(xml_error)?;
    let value = STANDARD.encode(key.sign(signed_info_c14n.as_bytes())?);

    let signed = insert(
        xml,
        &at,
        &signature_xml(&signed_info, &value, &key.certificate_base64),
    );
    // What we hand out must verify as any verifier would check it.
    let check = xml::parse(&signed, SIGN_MAX_BYTES.saturating_mul(2))
        .map_err(|e| DsigError::Xml(e.to_string()))?;
    verify_enveloped(check.root_element(), &[key.verifying_key()])
        .map_err(|_| DsigError::Signing)?;
    Ok(signed)
}

fn xml_error(e: c14n::C14nError) -> DsigError {
    DsigError::Xml(e.to_string())
}

fn signed_info_xml(id: &str, digest: &str) -> String {
    format!(
        concat!(
            r#"<ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{c14n}"/>"#,
            r##"<ds:SignatureMethod Algorithm="{method}"/><ds:Reference URI="#{id}"><ds:Transforms>"##,
            r#"<ds:Transform Algorithm="{enveloped}"/><ds:Transform Algorithm="{c14n}"/>"#,
            r#"</ds:Transforms><ds:DigestMethod Algorithm="{digest_method}"/>"#,
            r#"<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"#
        ),
        c14n = algorithm::EXC_C14N,
        method = algorithm::RSA_SHA256,
        id = xml::escape_attr(id),
        enveloped = algorithm::ENVELOPED_SIGNATURE,
        digest_method = algorithm::SHA256,
        digest = digest,
    )
}

fn signature_xml(signed_info: &str, value: &str, certificate: &str) -> String {
    format!(
        concat!(
            r#"<ds:Signature xmlns:ds="{ds}">{signed_info}"#,
            r#"<ds:SignatureValue>{value}</ds:SignatureValue>"#,
            r#"<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate>"#,
            r#"</ds:X509Data></ds:KeyInfo></ds:Signature>"#
        ),
        ds = ns::DS,
        signed_info = signed_info,
        value = value,
        certificate = certificate,
    )
}

/// Where the signature goes in the source text.
struct InsertionPoint {
    at: usize,
    /// For an empty root written `<x/>`: the bytes `/>` become `>` … `</x>`.
    close_self: Option<String>,
}

fn insertion_point(root: Node<'_, '_>) -> Result<InsertionPoint, DsigError> {
    if let Some(issuer) = xml::child(root, ns::SAML, "Issuer") {
        return Ok(InsertionPoint {
            at: issuer.range().end,
            close_self: None,
        });
    }
    if let Some(first) = root.first_child() {
        return Ok(InsertionPoint {
            at: first.range().start,
            close_self: None,
        });
    }
    let source = root.document().input_text();
    let range = root.range();
    let text = source.get(range.clone()).unwrap_or("");
    if text.ends_with("/>") {
        return Ok(InsertionPoint {
            at: range.end.saturating_sub(2),
            close_self: Some(xml::qname(root).to_owned()),
        });
    }
    let close = text
        .rfind("</")
        .ok_or_else(|| DsigError::Xml("unreadable root element".to_owned()))?;
    Ok(InsertionPoint {
        at: range.start.saturating_add(close),
        close_self: None,
    })
}

fn insert(xml: &str, point: &InsertionPoint, signature: &str) -> String {
    let (before, after) = xml.split_at(point.at.min(xml.len()));
    match &point.close_self {
        None => format!("{before}{signature}{after}"),
        Some(qname) => {
            let after = after.strip_prefix("/>").unwrap_or(after);
            format!("{before}>{signature}</{qname}>{after}")
        }
    }
}

/// Whether `element` has a `<ds:Signature>` child.
pub fn has_signature(element: roxmltree::Node<'_, '_>) -> bool {
    element
        .children()
        .any(|c| super::xml::is(c, super::ns::DS, "Signature"))
}

/// What a verified enveloped signature covers: the exclusive canonical form of the signed
/// element without its signature.
#[derive(Debug)]
pub struct Verified {
    pub signed_xml: String,
}

/// Verifies the enveloped signature of `element` (see the module contract).
///
/// The checks are written against signature wrapping: the signature must be a child of the
/// element it signs, reference it by an ID that nothing else in the document carries, use
/// only the two transforms SAML needs (no XPath, no XSLT), and carry nothing besides
/// SignedInfo, SignatureValue and KeyInfo. What is returned is rebuilt from the very nodes
/// that were digested, so a caller that reads only it cannot be shown anything unsigned.
pub fn verify_enveloped(
    element: roxmltree::Node<'_, '_>,
    keys: &[VerifyingKey],
) -> Result<Verified, DsigError> {
    if !element.is_element() {
        return Err(DsigError::Xml("not an element".to_owned()));
    }
    let mut signatures = xml::children(element, ns::DS, "Signature");
    let signature = signatures.next().ok_or(DsigError::Missing)?;
    if signatures.next().is_some() {
        return Err(DsigError::Invalid("several signatures"));
    }
    let id = element
        .attribute("ID")
        .filter(|id| !id.is_empty())
        .ok_or(DsigError::Invalid("the signed element has no ID"))?;
    if id_occurrences(element, id) != 1 {
        return Err(DsigError::Invalid("the signed ID occurs more than once"));
    }

    let parts = SignatureParts::read(signature)?;
    if parts.reference_uri != format!("#{id}") {
        return Err(DsigError::Invalid(
            "the reference is not to the signed element",
        ));
    }

    let signed_xml = c14n::canonicalize(
        element,
        &Options {
            omit: Some(signature.id()),
            inclusive_prefixes: &parts.reference_prefixes,
        },
    )
    .map_err(xml_error)?;
    let digest = digest::digest(parts.digest, signed_xml.as_bytes());
    if digest.as_ref() != parts.digest_value.as_slice() {
        return Err(DsigError::Invalid("digest mismatch"));
    }

    let signed_info = c14n::canonicalize(
        parts.signed_info,
        &Options {
            omit: None,
            inclusive_prefixes: &parts.signed_info_prefixes,
        },
    )
    .map_err(xml_error)?;
    if keys.is_empty() {
        return Err(DsigError::Invalid("no trusted key"));
    }
    if !keys
        .iter()
        .any(|k| k.verifies(parts.method, signed_info.as_bytes(), &parts.signature_value))
    {
        return Err(DsigError::Invalid(
            "signature value does not match a trusted key",
        ));
    }
    Ok(Verified { signed_xml })
}

/// How many elements in the whole document carry `id` as an identifier.
fn id_occurrences(element: Node<'_, '_>, id: &str) -> usize {
    element
        .document()
        .descendants()
        .filter(|n| n.is_element())
        .filter(|n| {
            n.attributes().any(|a| {
                let identifier = match a.namespace() {
                    None => matches!(a.name(), "ID" | "Id" | "id" | "AssertionID"),
                    Some(uri) => uri == "http://www.w3.org/XML/1998/namespace" && a.name() == "id",
                };
                identifier && a.value() == id
            })
        })
        .count()
}

/// The parts of a `<ds:Signature>` that verification uses, read strictly.
struct SignatureParts<'a, 'i> {
    signed_info: Node<'a, 'i>,
    signed_info_prefixes: Vec<&'a str>,
    method: &'static dyn VerificationAlgorithm,
    reference_uri: &'a str,
    reference_prefixes: Vec<&'a str>,
    digest: &'static digest::Algorithm,
    digest_value: Vec<u8>,
    signature_value: Vec<u8>,
}

impl<'a, 'i> SignatureParts<'a, 'i> {
    fn read(signature: Node<'a, 'i>) -> Result<Self, DsigError> {
        let children = element_children(signature)?;
        let [signed_info, signature_value, rest @ ..] = children.as_slice() else {
            return Err(DsigError::Invalid("incomplete signature"));
        };
        expect(*signed_info, "SignedInfo")?;
        expect(*signature_value, "SignatureValue")?;
        match rest {
            [] => {}
            [key_info] => expect(*key_info, "KeyInfo")?,
            _ => return Err(DsigError::Invalid("unexpected content in the signature")),
        }

        let Ok([c14n_method, signature_method, reference]) =
            <[Node<'a, 'i>; 3]>::try_from(element_children(*signed_info)?)
        else {
            return Err(DsigError::Invalid(
                "SignedInfo must hold exactly one reference",
            ));
        };
        expect(c14n_method, "CanonicalizationMethod")?;
        expect(signature_method, "SignatureMethod")?;
        expect(reference, "Reference")?;
        if algorithm_of(c14n_method) != algorithm::EXC_C14N {
            return Err(DsigError::Invalid("canonicalization is not exclusive c14n"));
        }
        let signed_info_prefixes = inclusive_prefixes(c14n_method)?;
        if !element_children(signature_method)?.is_empty() {
            return Err(DsigError::Invalid("unexpected signature method parameters"));
        }
        let method: &'static dyn VerificationAlgorithm = match algorithm_of(signature_method) {
            algorithm::RSA_SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            algorithm::RSA_SHA384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            algorithm::RSA_SHA512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            _ => return Err(DsigError::Invalid("signature method not allowed")),
        };

        let reference_uri = reference
            .attribute("URI")
            .ok_or(DsigError::Invalid("the reference has no URI"))?;
        let Ok([transforms, digest_method, digest_value]) =
            <[Node<'a, 'i>; 3]>::try_from(element_children(reference)?)
        else {
            return Err(DsigError::Invalid("unexpected reference content"));
        };
        expect(transforms, "Transforms")?;
        expect(digest_method, "DigestMethod")?;
        expect(digest_value, "DigestValue")?;
        let reference_prefixes = read_transforms(transforms)?;
        if !element_children(digest_method)?.is_empty() {
            return Err(DsigError::Invalid("unexpected digest method parameters"));
        }
        let digest: &'static digest::Algorithm = match algorithm_of(digest_method) {
            algorithm::SHA256 => &digest::SHA256,
            algorithm::SHA384 => &digest::SHA384,
            algorithm::SHA512 => &digest::SHA512,
            _ => return Err(DsigError::Invalid("digest method not allowed")),
        };

        Ok(Self {
            signed_info: *signed_info,
            signed_info_prefixes,
            method,
            reference_uri,
            reference_prefixes,
            digest,
            digest_value: base64_content(digest_value)?,
            signature_value: base64_content(*signature_value)?,
        })
    }
}

/// Exactly enveloped-signature then exclusive c14n; returns the latter's PrefixList.
fn read_transforms<'a>(transforms: Node<'a, '_>) -> Result<Vec<&'a str>, DsigError> {
    let Ok([enveloped, exclusive]) = <[Node<'a, '_>; 2]>::try_from(element_children(transforms)?)
    else {
        return Err(DsigError::Invalid(
            "transforms must be enveloped-signature and exclusive c14n",
        ));
    };
    expect(enveloped, "Transform")?;
    expect(exclusive, "Transform")?;
    if algorithm_of(enveloped) != algorithm::ENVELOPED_SIGNATURE
        || algorithm_of(exclusive) != algorithm::EXC_C14N
        || !element_children(enveloped)?.is_empty()
    {
        return Err(DsigError::Invalid(
            "transforms must be enveloped-signature and exclusive c14n",
        ));
    }
    inclusive_prefixes(exclusive)
}

/// The PrefixList of an optional `<ec:InclusiveNamespaces>`, the only child allowed.
fn inclusive_prefixes<'a>(method: Node<'a, '_>) -> Result<Vec<&'a str>, DsigError> {
    match element_children(method)?.as_slice() {
        [] => Ok(Vec::new()),
        [inclusive] if xml::is(*inclusive, algorithm::EXC_C14N, "InclusiveNamespaces") => {
            if !element_children(*inclusive)?.is_empty() {
                return Err(DsigError::Invalid("unexpected canonicalization parameters"));
            }
            Ok(inclusive
                .attribute("PrefixList")
                .unwrap_or("")
                .split_ascii_whitespace()
                .collect())
        }
        _ => Err(DsigError::Invalid("unexpected canonicalization parameters")),
    }
}

/// The element children of a signature part; text other than whitespace is refused.
fn element_children<'a, 'i>(node: Node<'a, 'i>) -> Result<Vec<Node<'a, 'i>>, DsigError> {
    let mut elements = Vec::new();
    for child in node.children() {
        if child.is_element() {
            elements.push(child);
        } else if child.is_text() && !child.text().unwrap_or("").trim().is_empty() {
            return Err(DsigError::Invalid("unexpected text in the signature"));
        }
    }
    Ok(elements)
}

fn expect(node: Node<'_, '_>, local: &str) -> Result<(), DsigError> {
    if node.tag_name().namespace() == Some(ns::DS) && node.tag_name().name() == local {
        Ok(())
    } else {
        Err(DsigError::Invalid("unexpected element in the signature"))
    }
}

fn algorithm_of<'a>(node: Node<'a, '_>) -> &'a str {
    node.attribute("Algorithm").unwrap_or("")
}

fn base64_content(node: Node<'_, '_>) -> Result<Vec<u8>, DsigError> {
    let text: String = node
        .children()
        .filter_map(|c| if c.is_text() { c.text() } else { None })
        .flat_map(|t| t.chars())
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if node.children().any(|c| c.is_element()) {
        return Err(DsigError::Invalid("unexpected element in a value"));
    }
    STANDARD
        .decode(text)
        .map_err(|_| DsigError::Invalid("value is not base64"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectParam {
    SamlRequest,
    SamlResponse,
}

impl RedirectParam {
    pub fn as_str(self) -> &'static str {
        match self {
            RedirectParam::SamlRequest => "SAMLRequest",
            RedirectParam::SamlResponse => "SAMLResponse",
        }
    }
}

/// The query string (without `?`) of a signed HTTP-Redirect message.
///
/// Parameters are written in the order the binding signs them, each form-urlencoded as
/// Python's `quote_plus` does, so a checker that re-encodes the decoded values gets the same
/// octets.
pub fn encode_redirect(
    param: RedirectParam,
    xml: &str,
    relay_state: Option<&str>,
    key: &SigningKey,
) -> Result<String, DsigError> {
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater
        .write_all(xml.as_bytes())
        .map_err(|_| DsigError::Signing)?;
    let deflated = deflater.finish().map_err(|_| DsigError::Signing)?;
    let mut query = format!(
        "{}={}",
        param.as_str(),
        quote_plus(&STANDARD.encode(deflated))
    );
    if let Some(relay_state) = relay_state {
        query.push_str("&RelayState=");
        query.push_str(&quote_plus(relay_state));
    }
    query.push_str("&SigAlg=");
    query.push_str(&quote_plus(algorithm::RSA_SHA256));
    let signature = key.sign(query.as_bytes())?;
    query.push_str("&Signature=");
    query.push_str(&quote_plus(&STANDARD.encode(signature)));
    Ok(query)
}

/// Python's `urllib.parse.quote_plus`: unreserved characters as they are, space as `+`,
/// everything else as upper-case `%XX` of its UTF-8 bytes.
pub fn quote_plus(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push_str(&format!("{byte:02X}"));
            }
        }
    }
    out
}

/// A verified HTTP-Redirect message.
#[derive(Debug)]
pub struct RedirectMessage {
    pub param: RedirectParam,
    pub xml: String,
    pub relay_state: Option<String>,
}

/// Verifies and decodes a signed HTTP-Redirect query (`raw_query` exactly as received).
pub fn decode_redirect(
    raw_query: &str,
    keys: &[VerifyingKey],
    max_bytes: usize,
) -> Result<RedirectMessage, DsigError> {
    // Deflate rarely more than halves SAML; URL-encoded base64 stays within 3x of that.
    if raw_query.len() > max_bytes.saturating_mul(4).saturating_add(8192) {
        return Err(DsigError::Xml(format!(
            "message larger than {max_bytes} bytes"
        )));
    }
    let mut message: Option<(RedirectParam, &str)> = None;
    let mut relay_state: Option<&str> = None;
    let mut sig_alg: Option<&str> = None;
    let mut signature: Option<&str> = None;
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "SAMLRequest" | "SAMLResponse" => {
                let param = if name == "SAMLRequest" {
                    RedirectParam::SamlRequest
                } else {
                    RedirectParam::SamlResponse
                };
                if message.replace((param, value)).is_some() {
                    return Err(DsigError::Invalid("more than one SAML message"));
                }
                continue;
            }
            "RelayState" => &mut relay_state,
            "SigAlg" => &mut sig_alg,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(DsigError::Invalid("repeated parameter"));
        }
    }
    let (param, encoded) = message.ok_or_else(|| DsigError::Xml("no SAML message".to_owned()))?;
    let (Some(raw_sig_alg), Some(raw_signature)) = (sig_alg, signature) else {
        return Err(DsigError::Missing);
    };

    let method: &'static dyn VerificationAlgorithm = match form_decode(raw_sig_alg)?.as_str() {
        algorithm::RSA_SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        algorithm::RSA_SHA384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        algorithm::RSA_SHA512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return Err(DsigError::Invalid("signature algorithm not allowed")),
    };
    // The signed octets are the parameters as received, in the order the binding fixes.
    let mut signed = format!("{}={encoded}", param.as_str());
    if let Some(relay_state) = relay_state {
        signed.push_str("&RelayState=");
        signed.push_str(relay_state);
    }
    signed.push_str("&SigAlg=");
    signed.push_str(raw_sig_alg);
    let signature_bytes = decode_base64_param(raw_signature, 4096)?;
    if keys.is_empty() {
        return Err(DsigError::Invalid("no trusted key"));
    }
    if !keys
        .iter()
        .any(|k| k.verifies(method, signed.as_bytes(), &signature_bytes))
    {
        return Err(DsigError::Invalid(
            "signature value does not match a trusted key",
        ));
    }

    let deflated = decode_base64_param(encoded, max_bytes)?;
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(
            u64::try_from(max_bytes)
                .unwrap_or(u64::MAX)
                .saturating_add(1),
        )
        .read_to_end(&mut inflated)
        .map_err(|_| DsigError::Xml("not DEFLATE".to_owned()))?;
    if inflated.len() > max_bytes {
        return Err(DsigError::Xml(format!(
            "message larger than {max_bytes} bytes"
        )));
    }
    let xml = String::from_utf8(inflated).map_err(|_| DsigError::Xml("not UTF-8".to_owned()))?;
    let relay_state = relay_state.map(form_decode).transpose()?;
    Ok(RedirectMessage {
        param,
        xml,
        relay_state,
    })
}

/// A base64 parameter; a `+` sent unencoded arrives as a space and is taken back.
fn decode_base64_param(raw: &str, max_bytes: usize) -> Result<Vec<u8>, DsigError> {
    let text: String = form_decode(raw)?
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('+'),
            '\r' | '\n' | '\t' => None,
            c => Some(c),
        })
        .collect();
    if text.len() > max_bytes.saturating_mul(4) / 3 + 4 {
        return Err(DsigError::Xml(format!(
            "message larger than {max_bytes} bytes"
        )));
    }
    STANDARD
        .decode(text)
        .map_err(|_| DsigError::Xml("not base64".to_owned()))
}

/// `application/x-www-form-urlencoded` decoding of one value.
fn form_decode(raw: &str) -> Result<String, DsigError> {
    let bad = || DsigError::Xml("malformed query".to_owned());
    let mut bytes = Vec::with_capacity(raw.len());
    let mut input = raw.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = input
                    .next()
                    .and_then(|b| char::from(b).to_digit(16))
                    .ok_or_else(bad)?;
                let low = input
                    .next()
                    .and_then(|b| char::from(b).to_digit(16))
                    .ok_or_else(bad)?;
                bytes.push(u8::try_from(high * 16 + low).map_err(|_| bad())?);
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}
