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

use chrono::{DateTime, Utc};

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
    _private: (),
}

impl SigningKey {
    pub fn from_pem(_private_key_pem: &str, _certificate_pem: &str) -> Result<Self, DsigError> {
        Err(DsigError::Unimplemented)
    }
    pub fn certificate_der(&self) -> &[u8] {
        &[]
    }
    /// The certificate as `<ds:X509Certificate>` carries it (base64, one line).
    pub fn certificate_base64(&self) -> String {
        String::new()
    }
    /// RSASSA-PKCS1-v1_5 with SHA-256 over `data`.
    pub fn sign(&self, _data: &[u8]) -> Result<Vec<u8>, DsigError> {
        Err(DsigError::Unimplemented)
    }
}

/// A public key taken from a certificate in an IdP's metadata.
#[derive(Clone, Debug)]
pub struct VerifyingKey {
    _private: (),
}

impl VerifyingKey {
    pub fn from_certificate_der(_der: &[u8]) -> Result<Self, DsigError> {
        Err(DsigError::Unimplemented)
    }
    /// The content of a `<ds:X509Certificate>` (base64, whitespace allowed).
    pub fn from_certificate_base64(_text: &str) -> Result<Self, DsigError> {
        Err(DsigError::Unimplemented)
    }
    pub fn from_certificate_pem(_pem: &str) -> Result<Self, DsigError> {
        Err(DsigError::Unimplemented)
    }
    pub fn certificate_der(&self) -> &[u8] {
        &[]
    }
    pub fn not_after(&self) -> Option<DateTime<Utc>> {
        None
    }
}

/// Signs the root element of `xml` (see the module contract).
pub fn sign_enveloped(_xml: &str, _key: &SigningKey) -> Result<String, DsigError> {
    Err(DsigError::Unimplemented)
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

pub fn verify_enveloped(
    _element: roxmltree::Node<'_, '_>,
    _keys: &[VerifyingKey],
) -> Result<Verified, DsigError> {
    Err(DsigError::Unimplemented)
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
pub fn encode_redirect(
    _param: RedirectParam,
    _xml: &str,
    _relay_state: Option<&str>,
    _key: &SigningKey,
) -> Result<String, DsigError> {
    Err(DsigError::Unimplemented)
}

/// A verified HTTP-Redirect message.
#[derive(Debug)]
pub struct RedirectMessage {
    pub param: RedirectParam,
    pub xml: String,
    pub relay_state: Option<String>,
}

pub fn decode_redirect(
    _raw_query: &str,
    _keys: &[VerifyingKey],
    _max_bytes: usize,
) -> Result<RedirectMessage, DsigError> {
    Err(DsigError::Unimplemented)
}
