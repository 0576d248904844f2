//! The AgID trusted list (ETSI TS 119 612 TSL XML, `TSL-IT.xml`): its enveloped XML signature
//! checked against pinned signer certificates, then the CA certificates of the services of
//! the configured types (CNS: `…/Svctype/IdV`) taken from the signed bytes only.
//!
//! The signature is checked on top of procura's own exclusive c14n ([`crate::spid::c14n`]),
//! with the rules of [`crate::spid::dsig`] adapted to a trusted list: the document reference
//! is `URI=""` (or `#` + the list's `Id`) with exactly the enveloped-signature and exclusive
//! c14n transforms; further references may cover XAdES `SignedProperties` inside the
//! signature's own `ds:Object`, each with exclusive c14n. SignatureValue is checked before
//! any digest; KeyInfo is ignored (keys come only from configuration). Inclusive c14n,
//! XPath and XSLT are refused: the signature would not verify here and the list is refused
//! (the last good copy stays).

use crate::spid::c14n::{self, Options};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;
use roxmltree::{Document, Node, NodeId, ParsingOptions};

const TSL_NS: &str = "http://uri.etsi.org/02231/v2#";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// Most nodes a trusted list may have (the Italian list has some tens of thousands).
const NODES_LIMIT: u32 = 1_000_000;
/// Most references one signature may carry (the document, XAdES properties).
const MAX_REFERENCES: usize = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TslError {
    #[error("trusted list larger than {0} bytes")]
    TooLarge(usize),
    #[error("trusted list unreadable: {0}")]
    Xml(String),
    #[error("not a trusted list (TrustServiceStatusList)")]
    NotATsl,
    #[error("trusted list signature refused: {0}")]
    Signature(&'static str),
    #[error("no signer certificate configured (cns.tsl_signer_certificates)")]
    NoSigner,
}

/// A CA service of the list.
#[derive(Debug, Clone)]
pub struct CaService {
    pub name: String,
    pub certificates: Vec<X509>,
}

fn parse(text: &str, max_bytes: usize) -> Result<Document<'_>, TslError> {
    if text.len() > max_bytes {
        return Err(TslError::TooLarge(max_bytes));
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, options).map_err(|e| TslError::Xml(e.to_string()))
}

fn is(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == local
}

fn elements<'a, 'i>(node: Node<'a, 'i>) -> Result<Vec<Node<'a, 'i>>, TslError> {
    let mut out = Vec::new();
    for c in node.children() {
        if c.is_element() {
            out.push(c);
        } else if c.is_text() && !c.text().unwrap_or("").trim().is_empty() {
            return Err(TslError::Signature("unexpected text in the signature"));
        }
    }
    Ok(out)
}

fn expect_ds(node: Node<'_, '_>, local: &'static str) -> Result<(), TslError> {
    if is(node, DS_NS, local) {
        Ok(())
    } else {
        Err(TslError::Signature("unexpected element in the signature"))
    }
}

fn algorithm<'a>(node: Node<'a, '_>) -> &'a str {
    node.attribute("Algorithm").unwrap_or("")
}

fn base64_of(node: Node<'_, '_>) -> Result<Vec<u8>, TslError> {
    if node.children().any(|c| c.is_element()) {
        return Err(TslError::Signature("unexpected element in a value"));
    }
    let text: Vec<u8> = node
        .children()
        .filter_map(|c| c.text())
        .flat_map(str::bytes)
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(text)
        .map_err(|_| TslError::Signature("value is not base64"))
}

/// The PrefixList of an exclusive c14n method or transform (its only allowed child).
fn prefixes<'a>(method: Node<'a, '_>) -> Result<Vec<&'a str>, TslError> {
    match elements(method)?.as_slice() {
        [] => Ok(Vec::new()),
        [inc] if is(*inc, EXC_C14N, "InclusiveNamespaces") => Ok(inc
            .attribute("PrefixList")
            .unwrap_or("")
            .split_ascii_whitespace()
            .collect()),
        _ => Err(TslError::Signature(
            "unexpected canonicalization parameters",
        )),
    }
}

fn digest_of(uri: &str) -> Result<MessageDigest, TslError> {
    match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => Ok(MessageDigest::sha256()),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Ok(MessageDigest::sha384()),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Ok(MessageDigest::sha512()),
        _ => Err(TslError::Signature("digest method not allowed")),
    }
}

fn signature_digest(uri: &str) -> Result<MessageDigest, TslError> {
    match uri {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => Ok(MessageDigest::sha256()),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => Ok(MessageDigest::sha384()),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => Ok(MessageDigest::sha512()),
        _ => Err(TslError::Signature("signature method not allowed")),
    }
}

/// The element carrying `id` as its `Id`/`ID`/`id` attribute; refused unless exactly one.
fn element_by_id<'a, 'i>(doc: &'a Document<'i>, id: &str) -> Result<Node<'a, 'i>, TslError> {
    let mut found = doc.descendants().filter(|n| {
        n.is_element()
            && n.attributes().any(|a| {
                a.namespace().is_none() && matches!(a.name(), "Id" | "ID" | "id") && a.value() == id
            })
    });
    match (found.next(), found.next()) {
        (Some(n), None) => Ok(n),
        (None, _) => Err(TslError::Signature("a reference names no element")),
        _ => Err(TslError::Signature("a referenced ID occurs more than once")),
    }
}

fn is_inside(node: Node<'_, '_>, ancestor: NodeId) -> bool {
    node.ancestors().any(|a| a.id() == ancestor)
}

/// Verifies the list's signature with one of `signers`; returns the exclusive canonical
/// form of the list without its signature: the only bytes the caller may read.
pub fn verify(text: &str, signers: &[X509], max_bytes: usize) -> Result<String, TslError> {
    if signers.is_empty() {
        return Err(TslError::NoSigner);
    }
    let doc = parse(text, max_bytes)?;
    let root = doc.root_element();
    if !is(root, TSL_NS, "TrustServiceStatusList") {
        return Err(TslError::NotATsl);
    }
    let mut signatures = root.children().filter(|c| is(*c, DS_NS, "Signature"));
    let signature = signatures
        .next()
        .ok_or(TslError::Signature("the list is not signed"))?;
    if signatures.next().is_some() {
        return Err(TslError::Signature("several signatures"));
    }
    let parts = elements(signature)?;
    let [signed_info, signature_value, rest @ ..] = parts.as_slice() else {
        return Err(TslError::Signature("incomplete signature"));
    };
    expect_ds(*signed_info, "SignedInfo")?;
    expect_ds(*signature_value, "SignatureValue")?;
    for extra in rest {
        if !(is(*extra, DS_NS, "KeyInfo") || is(*extra, DS_NS, "Object")) {
            return Err(TslError::Signature("unexpected content in the signature"));
        }
    }
    let info = elements(*signed_info)?;
    let [c14n_method, signature_method, references @ ..] = info.as_slice() else {
        return Err(TslError::Signature("incomplete SignedInfo"));
    };
    expect_ds(*c14n_method, "CanonicalizationMethod")?;
    expect_ds(*signature_method, "SignatureMethod")?;
    if algorithm(*c14n_method) != EXC_C14N {
        return Err(TslError::Signature(
            "canonicalization is not exclusive c14n",
        ));
    }
    if references.is_empty() || references.len() > MAX_REFERENCES {
        return Err(TslError::Signature("unexpected number of references"));
    }
    let method = signature_digest(algorithm(*signature_method))?;

    // SignatureValue first: nothing else is looked at for a signature no signer made.
    let info_prefixes = prefixes(*c14n_method)?;
    let canonical_info = c14n::canonicalize(
        *signed_info,
        &Options {
            omit: None,
            inclusive_prefixes: &info_prefixes,
        },
    )
    .map_err(|e| TslError::Xml(e.to_string()))?;
    let value = base64_of(*signature_value)?;
    let signed_by_a_signer = signers.iter().any(|cert| {
        cert.public_key().is_ok_and(|key| {
            Verifier::new(method, &key)
                .and_then(|mut v| v.verify_oneshot(&value, canonical_info.as_bytes()))
                .unwrap_or(false)
        })
    });
    if !signed_by_a_signer {
        return Err(TslError::Signature(
            "signature value does not match a pinned signer",
        ));
    }

    let root_id = root.attribute("Id").unwrap_or("");
    let mut document_xml = None;
    for reference in references {
        expect_ds(*reference, "Reference")?;
        let uri = reference
            .attribute("URI")
            .ok_or(TslError::Signature("a reference has no URI"))?;
        let children = elements(*reference)?;
        let (transforms, digest_method, digest_value) = match children.as_slice() {
            [t, m, v] => (Some(*t), *m, *v),
            [m, v] => (None, *m, *v),
            _ => return Err(TslError::Signature("unexpected reference content")),
        };
        expect_ds(digest_method, "DigestMethod")?;
        expect_ds(digest_value, "DigestValue")?;
        let digest = digest_of(algorithm(digest_method))?;
        let transforms = match transforms {
            Some(t) => {
                expect_ds(t, "Transforms")?;
                elements(t)?
            }
            None => Vec::new(),
        };
        let whole_list = uri.is_empty() || (!root_id.is_empty() && uri == format!("#{root_id}"));
        let (target, omit, exclusive) = if whole_list {
            if document_xml.is_some() {
                return Err(TslError::Signature("the list is referenced twice"));
            }
            let [enveloped, exclusive] = transforms.as_slice() else {
                return Err(TslError::Signature(
                    "the list's transforms must be enveloped-signature and exclusive c14n",
                ));
            };
            if algorithm(*enveloped) != ENVELOPED || !elements(*enveloped)?.is_empty() {
                return Err(TslError::Signature(
                    "the list's transforms must be enveloped-signature and exclusive c14n",
                ));
            }
            (root, Some(signature.id()), *exclusive)
        } else {
            let id = uri
                .strip_prefix('#')
                .ok_or(TslError::Signature("only same-document references"))?;
            let target = element_by_id(&doc, id)?;
            // Anything but the list itself must be signature properties inside ds:Object.
            let in_object = target
                .ancestors()
                .any(|a| is(a, DS_NS, "Object") && is_inside(a, signature.id()));
            let [exclusive] = transforms.as_slice() else {
                return Err(TslError::Signature(
                    "a property reference needs exclusive c14n",
                ));
            };
            if !in_object {
                return Err(TslError::Signature(
                    "a reference points outside the signature",
                ));
            }
            (target, None, *exclusive)
        };
        expect_ds(exclusive, "Transform")?;
        if algorithm(exclusive) != EXC_C14N {
            return Err(TslError::Signature("only exclusive c14n is supported"));
        }
        let inclusive = prefixes(exclusive)?;
        let canonical = c14n::canonicalize(
            target,
            &Options {
                omit,
                inclusive_prefixes: &inclusive,
            },
        )
        .map_err(|e| TslError::Xml(e.to_string()))?;
        let computed = openssl::hash::hash(digest, canonical.as_bytes())
            .map_err(|_| TslError::Signature("digest failed"))?;
        if computed.as_ref() != base64_of(digest_value)?.as_slice() {
            return Err(TslError::Signature("digest mismatch"));
        }
        if whole_list {
            document_xml = Some(canonical);
        }
    }
    document_xml.ok_or(TslError::Signature("the signature does not cover the list"))
}

/// The services of `service_types` in the signed list (as returned by [`verify`]) that are
/// not withdrawn, with their CA certificates.
pub fn ca_services(
    signed_xml: &str,
    service_types: &[String],
    max_bytes: usize,
) -> Result<Vec<CaService>, TslError> {
    let doc = parse(signed_xml, max_bytes)?;
    let mut out = Vec::new();
    for service in doc.descendants().filter(|n| is(*n, TSL_NS, "TSPService")) {
        let Some(info) = service
            .children()
            .find(|c| is(*c, TSL_NS, "ServiceInformation"))
        else {
            continue;
        };
        let text_of = |local: &str| {
            info.children()
                .find(|c| is(*c, TSL_NS, local))
                .and_then(|n| n.text())
                .map(str::trim)
                .unwrap_or("")
        };
        if !service_types
            .iter()
            .any(|t| t == text_of("ServiceTypeIdentifier"))
        {
            continue;
        }
        let status = text_of("ServiceStatus");
        if status.ends_with("/withdrawn") || status.ends_with("/deprecatedatnationallevel") {
            continue;
        }
        let name = info
            .children()
            .find(|c| is(*c, TSL_NS, "ServiceName"))
            .and_then(|n| n.children().find(|c| is(*c, TSL_NS, "Name")))
            .and_then(|n| n.text())
            .unwrap_or("")
            .trim()
            .to_owned();
        let mut certificates = Vec::new();
        if let Some(identity) = info
            .children()
            .find(|c| is(*c, TSL_NS, "ServiceDigitalIdentity"))
        {
            for cert in identity
                .descendants()
                .filter(|n| is(*n, TSL_NS, "X509Certificate"))
            {
                let der = base64_of(cert)
                    .map_err(|_| TslError::Xml(format!("certificate of {name} is not base64")))?;
                match X509::from_der(&der) {
                    Ok(c) => certificates.push(c),
                    Err(_) => {
                        tracing::warn!(service = %name, "unreadable CA certificate in the TSL")
                    }
                }
            }
        }
        out.push(CaService { name, certificates });
    }
    Ok(out)
}
