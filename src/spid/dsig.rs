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

    // The signature value first, over SignedInfo (a few elements), as xmlsec does: nothing
    // the signer did not write is canonicalized or digested at the length of the document.
    if keys.is_empty() {
        return Err(DsigError::Invalid("no trusted key"));
    }
    prefixes_occur(parts.signed_info, &parts.signed_info_prefixes)?;
    let signed_info = c14n::canonicalize(
        parts.signed_info,
        &Options {
            omit: None,
            inclusive_prefixes: &parts.signed_info_prefixes,
        },
    )
    .map_err(xml_error)?;
    if !keys
        .iter()
        .any(|k| k.verifies(parts.method, signed_info.as_bytes(), &parts.signature_value))
    {
        return Err(DsigError::Invalid(
            "signature value does not match a trusted key",
        ));
    }

    // Then the reference: its transforms, PrefixList included, were signed.
    prefixes_occur(element, &parts.reference_prefixes)?;
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
    Ok(Verified { signed_xml })
}

/// Each prefix of a PrefixList must occur in the element it canonicalizes: in scope there, or
/// declared inside it (`#default` always does). A prefix that occurs nowhere would change
/// nothing in the output; naming it is either a mistake or a way to make c14n work harder.
fn prefixes_occur(element: Node<'_, '_>, prefixes: &[&str]) -> Result<(), DsigError> {
    let source = element.document().input_text();
    let inside = source.get(element.range()).unwrap_or("");
    for prefix in prefixes.iter().filter(|p| **p != "#default") {
        if element.lookup_namespace_uri(Some(prefix)).is_some() {
            continue;
        }
        let declared = inside.match_indices("xmlns:").any(|(at, _)| {
            inside
                .get(at + "xmlns:".len()..)
                .and_then(|rest| rest.strip_prefix(prefix))
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        if !declared {
            return Err(DsigError::Invalid(
                "an inclusive prefix does not occur in the signed element",
            ));
        }
    }
    Ok(())
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
            let mut prefixes: Vec<&'a str> = Vec::new();
            for token in inclusive
                .attribute("PrefixList")
                .unwrap_or("")
                .split_ascii_whitespace()
            {
                if prefixes.len() == c14n::MAX_INCLUSIVE_PREFIXES {
                    return Err(DsigError::Invalid("too many inclusive prefixes"));
                }
                if token != "#default" && (token.contains(':') || token.starts_with('#')) {
                    return Err(DsigError::Invalid("an inclusive prefix is not a prefix"));
                }
                if !prefixes.contains(&token) {
                    prefixes.push(token);
                }
            }
            Ok(prefixes)
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

/// The parameters of an HTTP-Redirect query, still encoded as received.
struct RedirectQuery<'a> {
    param: RedirectParam,
    encoded: &'a str,
    relay_state: Option<&'a str>,
    sig_alg: Option<&'a str>,
    signature: Option<&'a str>,
}

/// Splits a query into the binding's parameters, refusing an oversized query, repeated
/// parameters and both or neither of `SAMLRequest` and `SAMLResponse`.
fn parse_redirect_query(raw_query: &str, max_bytes: usize) -> Result<RedirectQuery<'_>, DsigError> {
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
    Ok(RedirectQuery {
        param,
        encoded,
        relay_state,
        sig_alg,
        signature,
    })
}

/// The XML of a Redirect message: base64, then raw DEFLATE, inflated within `max_bytes`.
fn inflate_message(encoded: &str, max_bytes: usize) -> Result<String, DsigError> {
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
    String::from_utf8(inflated)
        .map(xml::normalize_line_ends)
        .map_err(|_| DsigError::Xml("not UTF-8".to_owned()))
}

/// The message of a Redirect query, NOT verified: only to learn who sent it, so as to pick
/// the keys `decode_redirect` then verifies it with.
pub fn peek_redirect(
    raw_query: &str,
    max_bytes: usize,
) -> Result<(RedirectParam, String), DsigError> {
    let query = parse_redirect_query(raw_query, max_bytes)?;
    Ok((query.param, inflate_message(query.encoded, max_bytes)?))
}

/// Verifies and decodes a signed HTTP-Redirect query (`raw_query` exactly as received).
pub fn decode_redirect(
    raw_query: &str,
    keys: &[VerifyingKey],
    max_bytes: usize,
) -> Result<RedirectMessage, DsigError> {
    let RedirectQuery {
        param,
        encoded,
        relay_state,
        sig_alg,
        signature,
    } = parse_redirect_query(raw_query, max_bytes)?;
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

    let xml = inflate_message(encoded, max_bytes)?;
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
pub(super) fn form_decode(raw: &str) -> Result<String, DsigError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

    const MAX: usize = 1 << 20;

    /// A throwaway RSA-2048 key and its self-signed certificate, as PEM.
    struct TestKey {
        key_pem: String,
        cert_pem: String,
    }

    impl TestKey {
        fn new(name: &str) -> TestResult<Self> {
            let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?;
            let params = rcgen::CertificateParams::new(vec![name.to_owned()])?;
            let cert = params.self_signed(&key_pair)?;
            Ok(Self {
                key_pem: key_pair.serialize_pem(),
                cert_pem: cert.pem(),
            })
        }
        fn signing(&self) -> TestResult<SigningKey> {
            Ok(SigningKey::from_pem(&self.key_pem, &self.cert_pem)?)
        }
        fn verifying(&self) -> TestResult<VerifyingKey> {
            Ok(VerifyingKey::from_certificate_pem(&self.cert_pem)?)
        }
        /// Writes `key.pem` and `cert.pem` into `dir`.
        fn write(&self, dir: &Path) -> TestResult<(PathBuf, PathBuf)> {
            let key = dir.join("key.pem");
            let cert = dir.join("cert.pem");
            std::fs::write(&key, &self.key_pem)?;
            std::fs::write(&cert, &self.cert_pem)?;
            Ok((key, cert))
        }
    }

    /// An external tool the interoperability tests need: fail loudly when it is missing.
    fn tool(name: &str) -> TestResult<Command> {
        let found = Command::new(name).arg("--version").output();
        if found.is_err() {
            return Err(format!(
                "`{name}` is required by this test and was not found: run scripts/deps.sh \
                 (Debian packages xmlsec1, openssl, python3)"
            )
            .into());
        }
        Ok(Command::new(name))
    }

    fn run(mut command: Command) -> TestResult<String> {
        let output = command.output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() {
            return Err(format!("{command:?} failed: {text}").into());
        }
        Ok(text)
    }

    const METADATA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:spid="https://spid.gov.it/saml-extensions" entityID="https://procura.example/spid" ID="_m1">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="true" WantAssertionsSigned="true">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://procura.example/spid/acs?a=1&amp;b=&lt;2&gt;" index="0" isDefault="true"/>
    <md:AttributeConsumingService index="0"><md:ServiceName xml:lang="it">Procura &amp; deleghe</md:ServiceName><md:RequestedAttribute Name="fiscalNumber"/></md:AttributeConsumingService>
  </md:SPSSODescriptor>
  <md:Organization><md:OrganizationName xml:lang="it">Ente "prova"</md:OrganizationName></md:Organization>
  <md:ContactPerson contactType="other"><md:Extensions><spid:VATNumber>IT12345678901</spid:VATNumber><spid:Public/></md:Extensions></md:ContactPerson>
</md:EntityDescriptor>
"#;

    const AUTHN_REQUEST: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-11-30T10:00:00Z" Destination="https://localhost:8443/samlsso" AssertionConsumerServiceIndex="0" AttributeConsumingServiceIndex="0" ForceAuthn="true"><saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity" NameQualifier="https://procura.example/spid">https://procura.example/spid</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient"/><samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>https://www.spid.gov.it/SpidL2</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"#;

    #[test]
    fn sign_then_verify_metadata_with_signature_first() -> TestResult {
        let key = TestKey::new("procura.example")?;
        let signed = sign_enveloped(METADATA, &key.signing()?)?;
        assert!(
            signed.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<md:EntityDescriptor")
        );
        let doc = xml::parse(&signed, MAX)?;
        let root = doc.root_element();
        let first = root.children().find(|c| c.is_element()).ok_or("empty")?;
        assert!(xml::is(first, ns::DS, "Signature"));
        let verified = verify_enveloped(root, &[key.verifying()?])?;
        assert!(verified.signed_xml.starts_with(r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_m1" entityID="#));
        assert!(!verified.signed_xml.contains("Signature"));
        // The certificate travels in KeyInfo.
        let cert = xml::descendants(root, ns::DS, "X509Certificate")
            .next()
            .ok_or("no cert")?;
        assert_eq!(xml::text(cert), key.signing()?.certificate_base64());
        Ok(())
    }

    #[test]
    fn sign_then_verify_authn_request_with_signature_after_issuer() -> TestResult {
        let key = TestKey::new("procura.example")?;
        let signed = sign_enveloped(AUTHN_REQUEST, &key.signing()?)?;
        let doc = xml::parse(&signed, MAX)?;
        let root = doc.root_element();
        let names: Vec<&str> = root
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name())
            .collect();
        assert_eq!(
            names,
            [
                "Issuer",
                "Signature",
                "NameIDPolicy",
                "RequestedAuthnContext"
            ]
        );
        verify_enveloped(root, &[key.verifying()?])?;
        Ok(())
    }

    #[test]
    fn empty_root_is_signed_too() -> TestResult {
        let key = TestKey::new("procura.example")?;
        for text in [
            r#"<a:r xmlns:a="urn:a" ID="x"/>"#,
            r#"<a:r xmlns:a="urn:a" ID="x"></a:r>"#,
        ] {
            let signed = sign_enveloped(text, &key.signing()?)?;
            let doc = xml::parse(&signed, MAX)?;
            verify_enveloped(doc.root_element(), &[key.verifying()?])?;
        }
        assert!(matches!(
            sign_enveloped("<r/>", &key.signing()?),
            Err(DsigError::Xml(_))
        ));
        Ok(())
    }

    #[test]
    fn tampered_content_is_refused() -> TestResult {
        let key = TestKey::new("procura.example")?;
        let signed = sign_enveloped(AUTHN_REQUEST, &key.signing()?)?;
        for (from, to) in [
            ("SpidL2", "SpidL1"),
            ("ForceAuthn=\"true\"", "ForceAuthn=\"false\""),
            ("<samlp:NameIDPolicy", "<!-- c --><samlp:NameIDPolicy"),
        ] {
            let tampered = signed.replacen(from, to, 1);
            assert_ne!(tampered, signed);
            let doc = xml::parse(&tampered, MAX)?;
            let result = verify_enveloped(doc.root_element(), &[key.verifying()?]);
            if from.starts_with("<samlp") {
                // A comment is not part of the canonical form: still the same signed content.
                assert!(result.is_ok());
            } else {
                assert_eq!(result.err(), Some(DsigError::Invalid("digest mismatch")));
            }
        }
        // Tampering with SignedInfo breaks the signature value instead.
        let tampered = signed.replacen("<ds:Reference URI=", "<ds:Reference Type=\"x\" URI=", 1);
        let doc = xml::parse(&tampered, MAX)?;
        assert_eq!(
            verify_enveloped(doc.root_element(), &[key.verifying()?]).err(),
            Some(DsigError::Invalid(
                "signature value does not match a trusted key"
            ))
        );
        Ok(())
    }

    #[test]
    fn wrong_key_is_refused_and_any_trusted_key_is_enough() -> TestResult {
        let key = TestKey::new("procura.example")?;
        let other = TestKey::new("someone.else")?;
        let signed = sign_enveloped(AUTHN_REQUEST, &key.signing()?)?;
        let doc = xml::parse(&signed, MAX)?;
        let root = doc.root_element();
        assert_eq!(
            verify_enveloped(root, &[other.verifying()?]).err(),
            Some(DsigError::Invalid(
                "signature value does not match a trusted key"
            ))
        );
        assert_eq!(
            verify_enveloped(root, &[]).err(),
            Some(DsigError::Invalid("no trusted key"))
        );
        // IdPs publish several keys during a rotation.
        verify_enveloped(root, &[other.verifying()?, key.verifying()?])?;
        Ok(())
    }

    #[test]
    fn key_and_certificate_must_match() -> TestResult {
        let key = TestKey::new("procura.example")?;
        let other = TestKey::new("someone.else")?;
        assert!(matches!(
            SigningKey::from_pem(&key.key_pem, &other.cert_pem),
            Err(DsigError::Key(_))
        ));
        assert!(matches!(
            SigningKey::from_pem(&key.cert_pem, &key.cert_pem),
            Err(DsigError::Key(_))
        ));
        let verifying = key.verifying()?;
        assert!(verifying.not_after().is_some());
        let base64 = STANDARD.encode(verifying.certificate_der());
        let wrapped: String = base64
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\n  ", String::from_utf8_lossy(c)))
            .collect();
        let again = VerifyingKey::from_certificate_base64(&wrapped)?;
        assert_eq!(again.certificate_der(), verifying.certificate_der());
        Ok(())
    }

    #[test]
    fn pkcs1_private_keys_are_accepted() -> TestResult {
        let dir = tempfile::tempdir()?;
        let key = dir.path().join("rsa.pem");
        let cert = dir.path().join("cert.pem");
        let mut genrsa = tool("openssl")?;
        genrsa
            .args(["genrsa", "-traditional", "-out"])
            .arg(&key)
            .arg("2048");
        run(genrsa)?;
        let mut req = tool("openssl")?;
        req.args([
            "req",
            "-new",
            "-x509",
            "-subj",
            "/CN=pkcs1.test",
            "-days",
            "2",
            "-key",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert);
        run(req)?;
        let key_pem = std::fs::read_to_string(&key)?;
        assert!(key_pem.contains("BEGIN RSA PRIVATE KEY"));
        let signing = SigningKey::from_pem(&key_pem, &std::fs::read_to_string(&cert)?)?;
        let signed = sign_enveloped(AUTHN_REQUEST, &signing)?;
        let doc = xml::parse(&signed, MAX)?;
        verify_enveloped(doc.root_element(), &[signing.verifying_key()])?;
        Ok(())
    }

    /// `xmlsec1 --verify`, as spid-sp-test checks our metadata and POST requests.
    fn xmlsec_verify(signed: &str, root: &str, extra: &[&std::ffi::OsStr]) -> TestResult<String> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("signed.xml");
        std::fs::write(&file, signed)?;
        let mut command = tool("xmlsec1")?;
        command
            .args(["--verify", "--insecure", "--id-attr:ID", root])
            .args(extra)
            .arg(&file);
        run(command)
    }

    #[test]
    fn xmlsec1_verifies_what_we_sign() -> TestResult {
        let key = TestKey::new("procura.example")?;
        let dir = tempfile::tempdir()?;
        let (_, cert) = key.write(dir.path())?;
        let cert_arg = cert.into_os_string();
        for (text, root) in [
            (
                METADATA,
                "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
            ),
            (
                AUTHN_REQUEST,
                "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest",
            ),
        ] {
            let signed = sign_enveloped(text, &key.signing()?)?;
            // With the key taken from KeyInfo (how spid-sp-test checks metadata)…
            let out = xmlsec_verify(&signed, root, &[])?;
            assert!(out.contains("OK"), "{out}");
            // …and with the certificate given outside the document.
            let out = xmlsec_verify(
                &signed,
                root,
                &[std::ffi::OsStr::new("--pubkey-cert-pem"), &cert_arg],
            )?;
            assert!(out.contains("OK"), "{out}");
            // xmlsec1 refuses a tampered copy, as we do.
            let tampered = signed.replacen("index=\"0\"", "index=\"1\"", 1);
            if tampered != signed {
                assert!(xmlsec_verify(&tampered, root, &[]).is_err());
            }
        }
        Ok(())
    }

    /// spid-sp-test's signature template (responses/settings.py SIGNATURE_TMPL): `ds` declared
    /// on the Response, an empty X509Certificate.
    fn signature_template(id: &str) -> String {
        format!(
            r##"
    <ds:Signature>
        <ds:SignedInfo>
            <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#" />
            <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" />
            <ds:Reference URI="#{id}">
                <ds:Transforms>
                    <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature" />
                    <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#" />
                </ds:Transforms>
                <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256" />
                    <ds:DigestValue />
            </ds:Reference>
        </ds:SignedInfo>
        <ds:SignatureValue />

        <ds:KeyInfo>
            <ds:X509Data>
                <ds:X509Certificate />
            </ds:X509Data>
        </ds:KeyInfo>

    </ds:Signature>
"##
        )
    }

    /// A Response shaped like spid-sp-test's templates/base.xml.
    const RESPONSE: &str = r#"<samlp:Response Destination="https://procura.example/spid/acs" ID="_resp" InResponseTo="_r1" IssueInstant="2026-11-30T10:00:00Z" Version="2.0"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"
    xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">
    <saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">https://localhost:8443</saml:Issuer>
    <!-- Response Signature here -->
    <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
    <saml:Assertion ID="_assert" IssueInstant="2026-11-30T10:00:00Z"
        Version="2.0" xmlns:xs="http://www.w3.org/2001/XMLSchema"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">https://localhost:8443</saml:Issuer>
        <!-- Assertion Signature here -->
        <saml:Subject>
            <saml:NameID
                Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
                NameQualifier="https://localhost:8443">
                    _genuine_subject
            </saml:NameID>
        </saml:Subject>
        <saml:AttributeStatement>
    <saml:Attribute Name="fiscalNumber">
    <saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema"
                         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                         xsi:type="xs:string"
                         >TINIT-RSSMRA80A01H501U</saml:AttributeValue>
    </saml:Attribute>
        </saml:AttributeStatement>
    </saml:Assertion>
</samlp:Response>
"#;

    /// Signs the Assertion, then the Response, with `xmlsec1 --sign` as spid-sp-test does.
    fn xmlsec_signed_response(key: &TestKey) -> TestResult<String> {
        xmlsec_signed_response_with(key, "")
    }

    /// The same, with the Assertion's exclusive c14n transform naming `prefix_list` (when not
    /// empty) in an InclusiveNamespaces element.
    fn xmlsec_signed_response_with(key: &TestKey, prefix_list: &str) -> TestResult<String> {
        let dir = tempfile::tempdir()?;
        let (key_file, _) = key.write(dir.path())?;
        let mut text = RESPONSE.to_owned();
        if !prefix_list.is_empty() {
            let transform = format!(
                r#"<ds:Transform Algorithm="{c14n}"><ec:InclusiveNamespaces xmlns:ec="{c14n}" PrefixList="{prefix_list}"/></ds:Transform>"#,
                c14n = algorithm::EXC_C14N
            );
            let template = signature_template("_assert").replacen(
                r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#" />"#,
                &transform,
                1,
            );
            text = text.replace("<!-- Assertion Signature here -->", &template);
            text = xmlsec_sign(
                &key_file,
                &text,
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            )?;
        }
        for (placeholder, id, root) in [
            (
                "<!-- Assertion Signature here -->",
                "_assert",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ),
            (
                "<!-- Response Signature here -->",
                "_resp",
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            ),
        ] {
            if !text.contains(placeholder) {
                continue;
            }
            text = text.replace(placeholder, &signature_template(id));
            text = xmlsec_sign(&key_file, &text, root)?;
        }
        Ok(text)
    }

    /// `xmlsec1 --sign` of the signature templates in `text` on the element `root` (by ID).
    fn xmlsec_sign(key_file: &Path, text: &str, root: &str) -> TestResult<String> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("template.xml");
        std::fs::write(&file, text)?;
        let mut command = tool("xmlsec1")?;
        command
            .args(["--sign", "--privkey-pem"])
            .arg(key_file)
            .args(["--id-attr:ID", root])
            .arg(&file);
        let output = command.output()?;
        if !output.status.success() {
            return Err(format!(
                "xmlsec1 --sign: {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    #[test]
    fn the_signature_value_is_checked_before_any_digest() -> TestResult {
        let key = TestKey::new("localhost")?;
        let keys = [key.verifying()?];
        let signed = xmlsec_signed_response(&key)?;
        let assertion = (ns::SAML, "Assertion");
        // Content changed: the signature over SignedInfo holds, the digest does not.
        let tampered = signed.replacen("_genuine_subject", "_another_subject", 1);
        assert_eq!(
            refusal(&tampered, assertion, &keys)?,
            DsigError::Invalid("digest mismatch")
        );
        // Content changed and SignedInfo forged: refused on the signature value, so the
        // digest of the (attacker's) content was never computed.
        let at = tampered.find("<saml:Assertion").ok_or("no assertion")?;
        let (head, tail) = tampered.split_at(at);
        let forged = format!("{head}{}", tail.replacen("#sha256\"", "#sha512\"", 1));
        assert_ne!(forged, tampered);
        assert_eq!(
            refusal(&forged, assertion, &keys)?,
            DsigError::Invalid("signature value does not match a trusted key")
        );
        Ok(())
    }

    #[test]
    fn inclusive_prefix_lists_are_bounded_and_must_occur() -> TestResult {
        let key = TestKey::new("localhost")?;
        let keys = [key.verifying()?];
        let assertion = (ns::SAML, "Assertion");
        // `xs`, declared on the Assertion and used in xsi:type values: what PrefixList is for.
        let signed = xmlsec_signed_response_with(&key, "xs")?;
        let doc = xml::parse(&signed, MAX)?;
        let verified = verify_enveloped(first(doc.root_element(), ns::SAML, "Assertion")?, &keys)?;
        assert!(
            verified
                .signed_xml
                .starts_with("<saml:Assertion xmlns:saml=")
        );
        // A prefix that occurs nowhere in the Assertion, validly signed: refused.
        let signed = xmlsec_signed_response_with(&key, "xs nowhere")?;
        assert_eq!(
            refusal(&signed, assertion, &keys)?,
            DsigError::Invalid("an inclusive prefix does not occur in the signed element")
        );
        // More than MAX_INCLUSIVE_PREFIXES: refused before any canonicalization.
        let many: Vec<String> = (0..=c14n::MAX_INCLUSIVE_PREFIXES)
            .map(|i| format!("p{i}"))
            .collect();
        let too_many = signed.replacen("xs nowhere", &many.join(" "), 1);
        assert_eq!(
            refusal(&too_many, assertion, &keys)?,
            DsigError::Invalid("too many inclusive prefixes")
        );
        Ok(())
    }

    fn first<'a, 'i>(
        root: Node<'a, 'i>,
        ns: &'static str,
        local: &'static str,
    ) -> TestResult<Node<'a, 'i>> {
        Ok(xml::descendants(root, ns, local).next().ok_or(local)?)
    }

    #[test]
    fn we_verify_what_xmlsec1_signs() -> TestResult {
        let key = TestKey::new("localhost")?;
        let signed = xmlsec_signed_response(&key)?;
        let doc = xml::parse(&signed, MAX)?;
        let response = doc.root_element();
        let assertion = first(response, ns::SAML, "Assertion")?;
        let keys = [key.verifying()?];
        let verified = verify_enveloped(assertion, &keys)?;
        // What the caller re-parses is the assertion alone, without its signature.
        let reparsed = xml::parse(&verified.signed_xml, MAX)?;
        let root = reparsed.root_element();
        assert!(xml::is(root, ns::SAML, "Assertion"));
        assert!(!has_signature(root));
        assert_eq!(
            xml::text(first(root, ns::SAML, "NameID")?),
            "_genuine_subject"
        );
        assert!(verified.signed_xml.contains(r#"xsi:type="xs:string""#));
        verify_enveloped(response, &keys)?;
        // A tampered attribute value breaks the assertion signature (and the response's).
        let tampered = signed.replace("RSSMRA80A01H501U", "VRDGPP80A01H501U");
        let doc = xml::parse(&tampered, MAX)?;
        let assertion = first(doc.root_element(), ns::SAML, "Assertion")?;
        assert_eq!(
            verify_enveloped(assertion, &keys).err(),
            Some(DsigError::Invalid("digest mismatch"))
        );
        assert!(verify_enveloped(doc.root_element(), &keys).is_err());
        Ok(())
    }

    /// The parts of the xmlsec1-signed Response that the wrapping attacks rearrange.
    struct Pieces {
        start: String,
        end: String,
        issuer: String,
        response_signature: String,
        status: String,
        assertion: String,
        assertion_unsigned: String,
    }

    impl Pieces {
        fn of(signed: &str) -> TestResult<Self> {
            let doc = xml::parse(signed, MAX)?;
            let root = doc.root_element();
            let text = |range: std::ops::Range<usize>| -> TestResult<String> {
                Ok(signed.get(range).ok_or("range")?.to_owned())
            };
            let first_child = root.first_child().ok_or("empty")?;
            let last_child = root.last_child().ok_or("empty")?;
            let assertion = xml::child(root, ns::SAML, "Assertion").ok_or("no assertion")?;
            let assertion_signature =
                xml::child(assertion, ns::DS, "Signature").ok_or("assertion unsigned")?;
            let response_signature =
                xml::child(root, ns::DS, "Signature").ok_or("response unsigned")?;
            Ok(Self {
                start: text(root.range().start..first_child.range().start)?,
                end: text(last_child.range().end..root.range().end)?,
                issuer: text(
                    xml::child(root, ns::SAML, "Issuer")
                        .ok_or("issuer")?
                        .range(),
                )?,
                response_signature: text(response_signature.range())?,
                status: text(
                    xml::child(root, ns::SAMLP, "Status")
                        .ok_or("status")?
                        .range(),
                )?,
                assertion: text(assertion.range())?,
                assertion_unsigned: text(
                    assertion.range().start..assertion_signature.range().start,
                )? + &text(
                    assertion_signature.range().end..assertion.range().end,
                )?,
            })
        }
        /// The same Response without its own signature.
        fn response_unsigned(&self) -> String {
            [
                &self.start,
                &self.issuer,
                &self.status,
                &self.assertion,
                &self.end,
            ]
            .into_iter()
            .map(String::as_str)
            .collect()
        }
    }

    fn with_id(text: &str, old: &str, new: &str) -> String {
        text.replacen(&format!("ID=\"{old}\""), &format!("ID=\"{new}\""), 1)
    }

    /// An unsigned copy that says something else.
    fn evil(unsigned_assertion: &str) -> String {
        unsigned_assertion.replace("_genuine_subject", "_evil_subject")
    }

    /// `text` with `extra` added as the last child of its last `</tag>`.
    fn append_inside(text: &str, tag: &str, extra: &str) -> TestResult<String> {
        let close = format!("</{tag}>");
        let at = text.rfind(&close).ok_or("no such element")?;
        let (before, after) = text.split_at(at);
        Ok(format!("{before}{extra}{after}"))
    }

    /// The shapes of spid-sp-test's responses/response_wraps.py, keeping namespaces (the
    /// originals also strip them, which makes every signature disappear).
    fn wrapped_responses(p: &Pieces) -> TestResult<Vec<(&'static str, String)>> {
        let evil_unsigned = evil(&p.assertion_unsigned);
        let evil_new_id = with_id(&evil_unsigned, "_assert", "_evil");
        let renamed_start = with_id(&p.start, "_resp", "_evil_resp");
        let signed_with_new_id = with_id(&p.assertion, "_assert", "_evil");
        Ok(vec![
            // Response re-identified, the original inside its signature, assertion unsigned.
            (
                "xsw1",
                [
                    renamed_start.clone(),
                    p.issuer.clone(),
                    append_inside(
                        &p.response_signature,
                        "ds:Signature",
                        &p.response_unsigned(),
                    )?,
                    p.status.clone(),
                    evil_unsigned.clone(),
                    p.end.clone(),
                ]
                .concat(),
            ),
            // The original Response nested in a re-identified one that carries an evil assertion.
            (
                "xsw2",
                [
                    renamed_start,
                    p.issuer.clone(),
                    p.status.clone(),
                    p.response_unsigned(),
                    p.response_signature.clone(),
                    evil_new_id.clone(),
                    p.end.clone(),
                ]
                .concat(),
            ),
            // An evil assertion before the signed one.
            (
                "xsw3",
                [
                    p.start.clone(),
                    p.issuer.clone(),
                    p.status.clone(),
                    evil_new_id.clone(),
                    p.assertion.clone(),
                    p.end.clone(),
                ]
                .concat(),
            ),
            // The signed assertion inside an evil one.
            (
                "xsw4",
                [
                    p.start.clone(),
                    p.issuer.clone(),
                    p.status.clone(),
                    append_inside(&evil_new_id, "saml:Assertion", &p.assertion)?,
                    p.end.clone(),
                ]
                .concat(),
            ),
            // The signed assertion re-identified, an unsigned copy takes its ID.
            (
                "xsw5",
                [
                    p.start.clone(),
                    p.issuer.clone(),
                    p.status.clone(),
                    signed_with_new_id.clone(),
                    evil_unsigned.clone(),
                    p.end.clone(),
                ]
                .concat(),
            ),
            // Same, the copy inside the signature.
            (
                "xsw6",
                [
                    p.start.clone(),
                    p.issuer.clone(),
                    p.status.clone(),
                    append_inside(&signed_with_new_id, "ds:Signature", &evil_unsigned)?,
                    p.end.clone(),
                ]
                .concat(),
            ),
            // An unsigned copy with the same ID in Extensions, before the signed one.
            (
                "xsw7",
                [
                    p.start.clone(),
                    p.issuer.clone(),
                    format!("<samlp:Extensions>{evil_unsigned}</samlp:Extensions>"),
                    p.status.clone(),
                    p.assertion.clone(),
                    p.end.clone(),
                ]
                .concat(),
            ),
            // An unsigned copy with the same ID in a ds:Object of the assertion's signature.
            (
                "xsw8",
                [
                    p.start.clone(),
                    p.issuer.clone(),
                    p.status.clone(),
                    append_inside(
                        &p.assertion,
                        "ds:Signature",
                        &format!("<ds:Object>{evil_unsigned}</ds:Object>"),
                    )?,
                    p.end.clone(),
                ]
                .concat(),
            ),
        ])
    }

    #[test]
    fn signature_wrapping_never_yields_unsigned_content() -> TestResult {
        let key = TestKey::new("localhost")?;
        let keys = [key.verifying()?];
        let signed = xmlsec_signed_response(&key)?;
        let doc = xml::parse(&signed, MAX)?;
        let genuine = [
            verify_enveloped(doc.root_element(), &keys)?.signed_xml,
            verify_enveloped(first(doc.root_element(), ns::SAML, "Assertion")?, &keys)?.signed_xml,
        ];
        let pieces = Pieces::of(&signed)?;
        for (name, wrapped) in wrapped_responses(&pieces)? {
            assert!(
                wrapped.contains("_evil_subject") || name == "xsw1",
                "{name}"
            );
            let doc = xml::parse(&wrapped, MAX)?;
            let root = doc.root_element();
            // What an SP looks at: the Response and its Assertion child.
            assert!(
                verify_enveloped(root, &keys).is_err(),
                "{name}: response accepted"
            );
            let assertion = xml::child(root, ns::SAML, "Assertion").ok_or("no assertion")?;
            assert!(
                verify_enveloped(assertion, &keys).is_err(),
                "{name}: assertion accepted"
            );
            // Whatever element is asked about, nothing but genuinely signed content comes out.
            for node in root.descendants().filter(|n| {
                xml::is(*n, ns::SAML, "Assertion") || xml::is(*n, ns::SAMLP, "Response")
            }) {
                if let Ok(verified) = verify_enveloped(node, &keys) {
                    assert!(
                        genuine.contains(&verified.signed_xml),
                        "{name}: unsigned content"
                    );
                    assert!(!verified.signed_xml.contains("_evil"), "{name}");
                }
            }
        }
        Ok(())
    }

    fn refusal(
        text: &str,
        target: (&'static str, &'static str),
        keys: &[VerifyingKey],
    ) -> TestResult<DsigError> {
        let doc = xml::parse(text, MAX)?;
        let node = first(doc.root_element(), target.0, target.1)?;
        match verify_enveloped(node, keys) {
            Ok(_) => Err("accepted".into()),
            Err(e) => Ok(e),
        }
    }

    #[test]
    fn xslt_and_other_transforms_are_refused() -> TestResult {
        let key = TestKey::new("localhost")?;
        let keys = [key.verifying()?];
        let signed = xmlsec_signed_response(&key)?;
        // spid-sp-test's xslt case: a Transform carrying a stylesheet, first in the list.
        let payload = r#"<ds:Transform xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
                  <xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
                     <xsl:template match="doc">
                        <xsl:value-of select="unparsed-text('http://localhost:19000/')" />
                     </xsl:template>
                  </xsl:stylesheet>
               </ds:Transform>"#;
        let xslt = signed.replacen("<ds:Transforms>", &format!("<ds:Transforms>{payload}"), 1);
        let expected =
            DsigError::Invalid("transforms must be enveloped-signature and exclusive c14n");
        assert_eq!(refusal(&xslt, (ns::SAMLP, "Response"), &keys)?, expected);
        let xslt_assertion = {
            let at = signed.find("<saml:Assertion").ok_or("no assertion")?;
            let (head, tail) = signed.split_at(at);
            format!(
                "{head}{}",
                tail.replacen("<ds:Transforms>", &format!("<ds:Transforms>{payload}"), 1)
            )
        };
        assert_eq!(
            refusal(&xslt_assertion, (ns::SAML, "Assertion"), &keys)?,
            expected
        );
        // An XPath filter, inclusive c14n: refused before any digest is computed.
        for (from, to) in [
            (
                algorithm::ENVELOPED_SIGNATURE,
                "http://www.w3.org/TR/1999/REC-xpath-19991116",
            ),
            (
                "Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
                "Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"",
            ),
        ] {
            let changed = signed.replacen(from, to, 1);
            assert_eq!(refusal(&changed, (ns::SAMLP, "Response"), &keys)?, expected);
        }
        Ok(())
    }

    #[test]
    fn weak_or_unknown_algorithms_are_refused() -> TestResult {
        let key = TestKey::new("localhost")?;
        let keys = [key.verifying()?];
        let signed = xmlsec_signed_response(&key)?;
        for (from, to, error) in [
            (
                algorithm::RSA_SHA256,
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                "signature method not allowed",
            ),
            (
                algorithm::RSA_SHA256,
                "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
                "signature method not allowed",
            ),
            (
                algorithm::SHA256,
                "http://www.w3.org/2000/09/xmldsig#sha1",
                "digest method not allowed",
            ),
            (
                "CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
                "CanonicalizationMethod Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"",
                "canonicalization is not exclusive c14n",
            ),
        ] {
            let changed = signed.replacen(from, to, 1);
            assert_eq!(
                refusal(&changed, (ns::SAMLP, "Response"), &keys)?,
                DsigError::Invalid(error)
            );
        }
        Ok(())
    }

    #[test]
    fn identifiers_and_references_are_checked() -> TestResult {
        let key = TestKey::new("localhost")?;
        let keys = [key.verifying()?];
        let signed = xmlsec_signed_response(&key)?;
        let assertion = (ns::SAML, "Assertion");
        // Another element anywhere with the same ID.
        let duplicate = signed.replacen(
            "</samlp:Response>",
            "<x ID=\"_assert\"/></samlp:Response>",
            1,
        );
        assert_eq!(
            refusal(&duplicate, assertion, &keys)?,
            DsigError::Invalid("the signed ID occurs more than once")
        );
        // A reference to the whole document, or to nothing.
        for uri in ["", "#", "#_resp"] {
            let changed = signed.replacen("URI=\"#_assert\"", &format!("URI=\"{uri}\""), 1);
            assert_eq!(
                refusal(&changed, assertion, &keys)?,
                DsigError::Invalid("the reference is not to the signed element")
            );
        }
        // Two signatures on one element.
        let pieces = Pieces::of(&signed)?;
        let doubled = signed.replacen(
            "<saml:Subject>",
            &format!("{}<saml:Subject>", pieces.response_signature),
            1,
        );
        assert_eq!(
            refusal(&doubled, assertion, &keys)?,
            DsigError::Invalid("several signatures")
        );
        // No signature at all.
        assert_eq!(
            refusal(&pieces.response_unsigned(), (ns::SAMLP, "Response"), &keys)?,
            DsigError::Missing
        );
        Ok(())
    }

    #[test]
    fn redirect_roundtrip() -> TestResult {
        let key = TestKey::new("procura.example")?;
        let keys = [key.verifying()?];
        for (param, relay_state) in [
            (RedirectParam::SamlRequest, Some("a b/c=d&e~f+g_h.i-j%àé")),
            (RedirectParam::SamlResponse, None),
        ] {
            let query = encode_redirect(param, AUTHN_REQUEST, relay_state, &key.signing()?)?;
            let names: Vec<&str> = query
                .split('&')
                .filter_map(|p| p.split('=').next())
                .collect();
            match relay_state {
                Some(_) => assert_eq!(names, [param.as_str(), "RelayState", "SigAlg", "Signature"]),
                None => assert_eq!(names, [param.as_str(), "SigAlg", "Signature"]),
            }
            let message = decode_redirect(&query, &keys, MAX)?;
            assert_eq!(message.param, param);
            assert_eq!(message.xml, AUTHN_REQUEST);
            assert_eq!(message.relay_state.as_deref(), relay_state);
            // The order of the parameters in the query does not matter.
            let mut parts: Vec<&str> = query.split('&').collect();
            parts.reverse();
            decode_redirect(&parts.join("&"), &keys, MAX)?;
        }
        Ok(())
    }

    #[test]
    fn redirect_refusals() -> TestResult {
        let key = TestKey::new("procura.example")?;
        let other = TestKey::new("someone.else")?;
        let keys = [key.verifying()?];
        let query = encode_redirect(
            RedirectParam::SamlRequest,
            AUTHN_REQUEST,
            Some("abc"),
            &key.signing()?,
        )?;
        let unsigned = query.split("&Signature=").next().ok_or("split")?;
        assert_eq!(
            decode_redirect(unsigned, &keys, MAX).err(),
            Some(DsigError::Missing)
        );
        let no_sig_alg = query.replacen("&SigAlg=", "&Other=", 1);
        assert_eq!(
            decode_redirect(&no_sig_alg, &keys, MAX).err(),
            Some(DsigError::Missing)
        );
        let sha1 = query.replacen(
            &quote_plus(algorithm::RSA_SHA256),
            &quote_plus("http://www.w3.org/2000/09/xmldsig#rsa-sha1"),
            1,
        );
        assert_eq!(
            decode_redirect(&sha1, &keys, MAX).err(),
            Some(DsigError::Invalid("signature algorithm not allowed"))
        );
        let mismatch = Some(DsigError::Invalid(
            "signature value does not match a trusted key",
        ));
        let relay = query.replacen("RelayState=abc", "RelayState=abd", 1);
        assert_eq!(decode_redirect(&relay, &keys, MAX).err(), mismatch);
        // Dropping RelayState changes the signed octets too.
        let dropped = query.replacen("&RelayState=abc", "", 1);
        assert_eq!(decode_redirect(&dropped, &keys, MAX).err(), mismatch);
        assert_eq!(
            decode_redirect(&query, &[other.verifying()?], MAX).err(),
            mismatch
        );
        let repeated = format!("{query}&RelayState=abc");
        assert_eq!(
            decode_redirect(&repeated, &keys, MAX).err(),
            Some(DsigError::Invalid("repeated parameter"))
        );
        let both = format!("{query}&SAMLResponse=x");
        assert_eq!(
            decode_redirect(&both, &keys, MAX).err(),
            Some(DsigError::Invalid("more than one SAML message"))
        );
        Ok(())
    }

    #[test]
    fn redirect_is_verified_over_the_octets_received() -> TestResult {
        // A sender encoding with lower-case hex signs those very octets.
        let key = TestKey::new("idp.example")?;
        let signing = key.signing()?;
        let mut deflater =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        deflater.write_all(AUTHN_REQUEST.as_bytes())?;
        let encoded = STANDARD
            .encode(deflater.finish()?)
            .replace('+', "%2b")
            .replace('/', "%2f")
            .replace('=', "%3d");
        let signed = format!(
            "SAMLRequest={encoded}&RelayState=x%2fy&SigAlg=http%3a%2f%2fwww.w3.org%2f2001%2f04%2fxmldsig-more%23rsa-sha256"
        );
        let signature = quote_plus(&STANDARD.encode(signing.sign(signed.as_bytes())?));
        let query = format!("{signed}&Signature={signature}");
        let message = decode_redirect(&query, &[key.verifying()?], MAX)?;
        assert_eq!(message.xml, AUTHN_REQUEST);
        assert_eq!(message.relay_state.as_deref(), Some("x/y"));
        // Re-encoded the usual way, the same parameters no longer match that signature.
        let reencoded = format!(
            "SAMLRequest={}&RelayState=x%2Fy&SigAlg={}&Signature={signature}",
            quote_plus(&form_decode(&encoded)?),
            quote_plus(algorithm::RSA_SHA256)
        );
        assert!(decode_redirect(&reencoded, &[key.verifying()?], MAX).is_err());
        Ok(())
    }

    #[test]
    fn redirect_inflation_is_bounded() -> TestResult {
        let key = TestKey::new("procura.example")?;
        let big = format!("<r ID=\"x\">{}</r>", "a".repeat(200_000));
        let query = encode_redirect(RedirectParam::SamlRequest, &big, None, &key.signing()?)?;
        assert!(query.len() < 10_000);
        assert!(matches!(
            decode_redirect(&query, &[key.verifying()?], 10_000),
            Err(DsigError::Xml(_))
        ));
        assert_eq!(
            decode_redirect(&query, &[key.verifying()?], 300_000)?.xml,
            big
        );
        Ok(())
    }

    #[test]
    fn quote_plus_matches_python() -> TestResult {
        let samples = [
            "a b/c=d&e~f+g_h.i-j",
            "àé€ 😀",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "*!'()",
        ];
        let mut python = tool("python3")?;
        python.args([
            "-c",
            "import sys, urllib.parse\nfor a in sys.argv[1:]: print(urllib.parse.quote_plus(a))",
        ]);
        python.args(samples);
        let expected = run(python)?;
        let ours: String = samples.iter().map(|s| quote_plus(s) + "\n").collect();
        assert_eq!(ours, expected);
        Ok(())
    }

    /// spid-sp-test's check of a Redirect AuthnRequest (authn_request.py `test_xmldsig`):
    /// decode the parameters, re-encode them with `quote_plus` in the order received, and
    /// `openssl dgst -sha256 -verify` the signature over that.
    #[test]
    fn openssl_verifies_redirect_signature_after_python_reencoding() -> TestResult {
        let key = TestKey::new("procura.example")?;
        let dir = tempfile::tempdir()?;
        let (_, cert) = key.write(dir.path())?;
        let query = encode_redirect(
            RedirectParam::SamlRequest,
            AUTHN_REQUEST,
            Some("state with spaces/slashes=and&more~"),
            &key.signing()?,
        )?;
        let mut python = tool("python3")?;
        python.args([
            "-c",
            concat!(
                "import sys, base64, urllib.parse\n",
                "query, out = sys.argv[1], sys.argv[2]\n",
                "values = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}\n",
                "payload = '&'.join(f'{k}={urllib.parse.quote_plus(values[k])}' for k in values if k != 'Signature')\n",
                "open(out + '/payload', 'wb').write(payload.encode())\n",
                "open(out + '/signature', 'wb').write(base64.b64decode(values['Signature'].encode()))\n",
            ),
        ]);
        python.arg(&query).arg(dir.path());
        run(python)?;
        let mut pubkey = tool("openssl")?;
        pubkey.args(["x509", "-noout", "-pubkey", "-in"]).arg(&cert);
        std::fs::write(dir.path().join("pub.pem"), run(pubkey)?)?;
        let mut dgst = tool("openssl")?;
        dgst.args(["dgst", "-sha256", "-verify"])
            .arg(dir.path().join("pub.pem"))
            .arg("-signature")
            .arg(dir.path().join("signature"))
            .arg(dir.path().join("payload"));
        let out = run(dgst)?;
        assert!(out.contains("Verified OK"), "{out}");
        Ok(())
    }
}
