//! SPID: procura as a SAML 2.0 service provider under the AgID technical rules.
//!
//! - [`xml`]: the hardened parser (no DTD, size limit) and escaping for the XML we write.
//! - [`c14n`] and [`dsig`]: exclusive canonicalization and XML signatures (enveloped,
//!   RSA-SHA256), plus the signed query of the HTTP-Redirect binding.
//! - [`time`]: xs:dateTime as SAML writes it (any fraction, `Z` or an offset).
//! - [`certificate`]: the SP certificate (Avviso 29 v3 subject).
//! - [`sp_metadata`]: the signed SP metadata, served as exact bytes.
//! - [`idp`] and [`registry`]: IdP metadata, the AgID aggregate and its last-known-good copy.
//! - [`authn_request`], [`store`]: AuthnRequests and their state in the database.
//! - [`response`]: every check on a Response, on the signed part only.
//! - [`logout`]: Single Logout in both directions.

pub mod authn_request;
pub mod c14n;
pub mod certificate;
pub mod dsig;
pub mod idp;
pub mod logout;
pub mod registry;
pub mod response;
pub mod sp_metadata;
pub mod store;
pub mod time;
pub mod xml;

/// SAML namespaces.
pub mod ns {
    pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
    pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
    pub const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
    pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    pub const SPID: &str = "https://spid.gov.it/saml-extensions";
    pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
    pub const XS: &str = "http://www.w3.org/2001/XMLSchema";
}

/// Fixed SAML URIs.
pub mod uri {
    pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
    pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
    pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
    pub const NAMEID_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
    pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
    pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
    pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
    pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
    pub const STATUS_PARTIAL_LOGOUT: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";
    pub const ATTRNAME_BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
}
