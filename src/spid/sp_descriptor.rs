//! What the SPID (Avviso 29 v3) and CIE SAML service-provider metadata have in common: the
//! entity and SP descriptors up to the AssertionConsumerService, an AttributeConsumingService,
//! the Organization, the end of the ContactPerson, the ID, the required settings and the
//! signature. Each model adds its own parts ([`super::sp_metadata`], [`crate::cie::saml`]).

use super::dsig::{self, SigningKey};
use super::sp_metadata::MetadataError;
use super::xml::{escape_attr, escape_text};
use super::{ns, uri};
use crate::config::SpidConfig;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// The metadata ID: an NCName derived from the entityID, stable across instances.
pub fn document_id(entity_id: &str) -> String {
    let digest = Sha256::digest(entity_id.as_bytes());
    format!("_{}", hex::encode(digest.get(..16).unwrap_or_default()))
}

/// Where an SP is reached, and how it signs.
pub struct Descriptor<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    pub slo_url: &'a str,
    pub certificate_base64: &'a str,
    /// The prefix and namespace of the model's ContactPerson extensions.
    pub extensions: (&'a str, &'a str),
}

/// Opens the EntityDescriptor and the SPSSODescriptor and writes its KeyDescriptor, the
/// SingleLogoutService (HTTP-Redirect first, then HTTP-POST), the transient NameIDFormat
/// and the AssertionConsumerService (index 0, HTTP-POST); the AttributeConsumingServices
/// come next.
pub fn open(x: &mut String, d: &Descriptor<'_>) {
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let (prefix, namespace) = d.extensions;
    let _ = write!(
        x,
        r#"<md:EntityDescriptor xmlns:md="{md}" xmlns:ds="{ds}" xmlns:{prefix}="{namespace}" entityID="{eid}" ID="{id}">"#,
        md = ns::MD,
        ds = ns::DS,
        eid = escape_attr(d.entity_id),
        id = document_id(d.entity_id),
    );
    let _ = write!(
        x,
        r#"<md:SPSSODescriptor protocolSupportEnumeration="{PROTOCOL}" AuthnRequestsSigned="true" WantAssertionsSigned="true">"#
    );
    let _ = write!(
        x,
        r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
        escape_text(d.certificate_base64)
    );
    for binding in [uri::BINDING_REDIRECT, uri::BINDING_POST] {
        let _ = write!(
            x,
            r#"<md:SingleLogoutService Binding="{binding}" Location="{}"/>"#,
            escape_attr(d.slo_url)
        );
    }
    let _ = write!(
        x,
        "<md:NameIDFormat>{}</md:NameIDFormat>",
        uri::NAMEID_TRANSIENT
    );
    let _ = write!(
        x,
        r#"<md:AssertionConsumerService index="0" isDefault="true" Binding="{}" Location="{}"/>"#,
        uri::BINDING_POST,
        escape_attr(d.acs_url)
    );
}

/// One AttributeConsumingService asking for `attributes` (basic name format).
pub fn attribute_consuming_service<'a>(
    x: &mut String,
    index: u16,
    service_name: &str,
    attributes: impl IntoIterator<Item = &'a str>,
) {
    let _ = write!(
        x,
        r#"<md:AttributeConsumingService index="{index}"><md:ServiceName xml:lang="it">{}</md:ServiceName>"#,
        escape_text(service_name)
    );
    for name in attributes {
        let _ = write!(
            x,
            r#"<md:RequestedAttribute Name="{}" NameFormat="{}"/>"#,
            escape_attr(name),
            uri::ATTRNAME_BASIC
        );
    }
    x.push_str("</md:AttributeConsumingService>");
}

/// Closes the SPSSODescriptor and writes the Organization (`spid.organization_*`).
pub fn organization(x: &mut String, spid: &SpidConfig) {
    x.push_str("</md:SPSSODescriptor>");
    let _ = write!(
        x,
        r#"<md:Organization><md:OrganizationName xml:lang="it">{}</md:OrganizationName><md:OrganizationDisplayName xml:lang="it">{}</md:OrganizationDisplayName><md:OrganizationURL xml:lang="it">{}</md:OrganizationURL></md:Organization>"#,
        escape_text(&spid.organization_name),
        escape_text(&spid.organization_display_name),
        escape_text(&spid.organization_url),
    );
}

/// The end of the ContactPerson after its Extensions: Company (the organization's name),
/// EmailAddress, TelephoneNumber when set; then the end of the document.
pub fn close_contact(x: &mut String, spid: &SpidConfig) {
    let _ = write!(
        x,
        "<md:Company>{}</md:Company><md:EmailAddress>{}</md:EmailAddress>",
        escape_text(&spid.organization_name),
        escape_text(&spid.contact_email),
    );
    if !spid.contact_phone.is_empty() {
        let _ = write!(
            x,
            "<md:TelephoneNumber>{}</md:TelephoneNumber>",
            escape_text(&spid.contact_phone)
        );
    }
    x.push_str("</md:ContactPerson></md:EntityDescriptor>");
}

/// The organisation settings every SP descriptor prints, and `extra` ones, must be filled in
/// (`missing` words the error from the setting's name), and `spid.contact_phone` must have no
/// spaces.
pub fn require(
    spid: &SpidConfig,
    extra: &[(&str, &str)],
    missing: impl Fn(&str) -> String,
) -> Result<(), MetadataError> {
    let organisation = [
        ("spid.organization_name", spid.organization_name.as_str()),
        (
            "spid.organization_display_name",
            spid.organization_display_name.as_str(),
        ),
        ("spid.organization_url", spid.organization_url.as_str()),
        ("spid.ipa_code", spid.ipa_code.as_str()),
        ("spid.contact_email", spid.contact_email.as_str()),
    ];
    if let Some((what, _)) = organisation
        .iter()
        .chain(extra)
        .find(|(_, v)| v.trim().is_empty())
    {
        return Err(MetadataError::Config(missing(what)));
    }
    if spid.contact_phone.contains(char::is_whitespace) {
        return Err(MetadataError::Config(
            "spid.contact_phone must have no spaces (e.g. +390659051)".into(),
        ));
    }
    Ok(())
}

/// The signed document, as the exact bytes to serve.
pub fn sign(xml: &str, key: &SigningKey) -> Result<Vec<u8>, MetadataError> {
    Ok(dsig::sign_enveloped(xml, key)?.into_bytes())
}
