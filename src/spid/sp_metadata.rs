//! procura's SP metadata: the Avviso 29 v3 layout (protocols.md §1.3), signed, served as the
//! exact bytes made here (editing them after signing breaks the signature).
//!
//! The document is a pure function of the configuration and the key (the ID is derived from
//! the entityID and RSA PKCS#1 v1.5 signatures are deterministic), so every instance serves
//! the same bytes.

use super::dsig::{self, DsigError};
use super::ns;
use super::sp_descriptor::{self, Descriptor};
use super::xml::escape_text;
use crate::config::Config;
use std::collections::HashSet;
use std::fmt::Write as _;

/// The attributes an SP may ask a SPID IdP for (AgID list; spid-sp-test `SPID_ATTRIBUTES`).
pub const SPID_ATTRIBUTES: &[&str] = &[
    "spidCode",
    "name",
    "familyName",
    "placeOfBirth",
    "countyOfBirth",
    "dateOfBirth",
    "gender",
    "companyName",
    "registeredOffice",
    "fiscalNumber",
    "ivaCode",
    "idCard",
    "companyFiscalNumber",
    "mobilePhone",
    "email",
    "digitalAddress",
    "expirationDate",
    "address",
    "domicileStreetAddress",
    "domicilePostalCode",
    "domicileMunicipality",
    "domicileProvince",
    "domicileNation",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    #[error("spid configuration: {0}")]
    Config(String),
    #[error("signing the metadata failed: {0}")]
    Signing(#[from] DsigError),
}

fn issuer(config: &Config) -> &str {
    config.oauth.issuer.trim_end_matches('/')
}

/// The SP entityID: `spid.entity_id`, else `{oauth.issuer}/spid/metadata`.
pub fn entity_id(config: &Config) -> String {
    match config.spid.entity_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => metadata_url(config),
    }
}

/// Where the metadata is served.
pub fn metadata_url(config: &Config) -> String {
    format!("{}/spid/metadata", issuer(config))
}

/// The AssertionConsumerService (index 0, HTTP-POST).
pub fn acs_url(config: &Config) -> String {
    format!("{}/spid/acs", issuer(config))
}

/// The SingleLogoutService (HTTP-Redirect and HTTP-POST).
pub fn slo_url(config: &Config) -> String {
    format!("{}/spid/slo", issuer(config))
}

/// Checks `spid.attribute_sets`: at least one; indexes unique; each with a service name and
/// at least one attribute, every attribute from the SPID list and none twice; and
/// `spid.attribute_set` names one of them. Run when the configuration is loaded.
pub fn validate_attribute_sets(config: &Config) -> Result<(), MetadataError> {
    let spid = &config.spid;
    let bad = |m: String| Err(MetadataError::Config(m));
    if spid.attribute_sets.is_empty() {
        return bad("spid.attribute_sets is empty: at least one set is required".into());
    }
    let mut indexes = HashSet::new();
    for set in &spid.attribute_sets {
        if !indexes.insert(set.index) {
            return bad(format!("attribute set index {} appears twice", set.index));
        }
        if set.name.trim().is_empty() {
            return bad(format!("attribute set {} has no name", set.index));
        }
        if set.attributes.is_empty() {
            return bad(format!("attribute set {} asks for no attribute", set.index));
        }
        let mut seen = HashSet::new();
        for name in &set.attributes {
            if !SPID_ATTRIBUTES.contains(&name.as_str()) {
                return bad(format!(
                    "attribute set {}: `{name}` is not a SPID attribute",
                    set.index
                ));
            }
            if !seen.insert(name.as_str()) {
                return bad(format!(
                    "attribute set {}: `{name}` appears twice",
                    set.index
                ));
            }
        }
    }
    if !indexes.contains(&spid.attribute_set) {
        return bad(format!(
            "spid.attribute_set = {} names no configured attribute set",
            spid.attribute_set
        ));
    }
    Ok(())
}

fn validate(config: &Config) -> Result<(), MetadataError> {
    validate_attribute_sets(config)?;
    sp_descriptor::require(&config.spid, &[], |what| {
        format!("{what} is required in the metadata")
    })
}

/// The metadata before signing: the common SP descriptor ([`sp_descriptor`]) with every
/// `spid.attribute_sets`, and a ContactPerson `other` with the SPID extensions.
pub fn unsigned(config: &Config, certificate_base64: &str) -> Result<String, MetadataError> {
    validate(config)?;
    let spid = &config.spid;
    let entity_id = entity_id(config);
    let (acs, slo) = (acs_url(config), slo_url(config));
    let mut x = String::with_capacity(4096);
    sp_descriptor::open(
        &mut x,
        &Descriptor {
            entity_id: &entity_id,
            acs_url: &acs,
            slo_url: &slo,
            certificate_base64,
            extensions: ("spid", ns::SPID),
        },
    );
    for set in &spid.attribute_sets {
        sp_descriptor::attribute_consuming_service(
            &mut x,
            set.index,
            &set.name,
            set.attributes.iter().map(String::as_str),
        );
    }
    sp_descriptor::organization(&mut x, spid);
    // `write!` into a String cannot fail.
    let _ = write!(
        x,
        r#"<md:ContactPerson contactType="other"><md:Extensions><spid:IPACode>{}</spid:IPACode><spid:Public/></md:Extensions>"#,
        escape_text(&spid.ipa_code),
    );
    sp_descriptor::close_contact(&mut x, spid);
    Ok(x)
}

/// The signed metadata, as the exact bytes to serve (`application/samlmetadata+xml`).
pub fn build(config: &Config, key: &dsig::SigningKey) -> Result<Vec<u8>, MetadataError> {
    sp_descriptor::sign(&unsigned(config, &key.certificate_base64())?, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spid::xml;

    fn config() -> Config {
        let mut c = Config::default();
        c.oauth.issuer = "https://procura.example/".into();
        c
    }

    #[test]
    fn urls_hang_off_the_issuer() {
        let mut c = config();
        assert_eq!(entity_id(&c), "https://procura.example/spid/metadata");
        assert_eq!(acs_url(&c), "https://procura.example/spid/acs");
        assert_eq!(slo_url(&c), "https://procura.example/spid/slo");
        c.spid.entity_id = Some("https://sp.inps.it".into());
        assert_eq!(entity_id(&c), "https://sp.inps.it");
        assert_eq!(metadata_url(&c), "https://procura.example/spid/metadata");
    }

    fn element_names(parent: roxmltree::Node<'_, '_>) -> Vec<String> {
        parent
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name().to_owned())
            .collect()
    }

    #[test]
    fn layout_follows_avviso_29() -> Result<(), Box<dyn std::error::Error>> {
        let mut c = config();
        c.spid.contact_phone = "+390659051".into();
        let text = unsigned(&c, "QUJD")?;
        let doc = xml::parse(&text, 1 << 20)?;
        let root = doc.root_element();
        assert!(xml::is(root, ns::MD, "EntityDescriptor"));
        assert_eq!(
            root.attribute("entityID"),
            Some("https://procura.example/spid/metadata")
        );
        assert!(root.attribute("ID").is_some_and(|id| id.starts_with('_')));
        assert_eq!(
            element_names(root),
            ["SPSSODescriptor", "Organization", "ContactPerson"]
        );
        let sp = xml::child(root, ns::MD, "SPSSODescriptor").ok_or("no SPSSODescriptor")?;
        assert_eq!(sp.attribute("AuthnRequestsSigned"), Some("true"));
        assert_eq!(sp.attribute("WantAssertionsSigned"), Some("true"));
        assert_eq!(
            element_names(sp),
            [
                "KeyDescriptor",
                "SingleLogoutService",
                "SingleLogoutService",
                "NameIDFormat",
                "AssertionConsumerService",
                "AttributeConsumingService",
                "AttributeConsumingService",
            ]
        );
        let acs = xml::child(sp, ns::MD, "AssertionConsumerService").ok_or("no ACS")?;
        assert_eq!(acs.attribute("index"), Some("0"));
        assert_eq!(acs.attribute("isDefault"), Some("true"));
        assert_eq!(
            acs.attribute("Location"),
            Some("https://procura.example/spid/acs")
        );
        let cert = xml::descendants(sp, ns::DS, "X509Certificate")
            .next()
            .ok_or("no certificate")?;
        assert_eq!(xml::text(cert), "QUJD");
        let contact = xml::child(root, ns::MD, "ContactPerson").ok_or("no contact")?;
        assert_eq!(
            element_names(contact),
            ["Extensions", "Company", "EmailAddress", "TelephoneNumber"]
        );
        let ext = xml::child(contact, ns::MD, "Extensions").ok_or("no extensions")?;
        let ext_names: Vec<_> = ext
            .children()
            .filter(|c| c.is_element())
            .map(|c| (c.tag_name().namespace(), c.tag_name().name()))
            .collect();
        assert_eq!(
            ext_names,
            [(Some(ns::SPID), "IPACode"), (Some(ns::SPID), "Public")]
        );

        c.spid.contact_phone.clear();
        let text = unsigned(&c, "QUJD")?;
        assert!(!text.contains("TelephoneNumber"));
        Ok(())
    }

    #[test]
    fn attribute_sets_are_checked() {
        let mut c = config();
        assert_eq!(validate_attribute_sets(&c), Ok(()));
        c.spid.attribute_sets[0].attributes.push("shoeSize".into());
        assert!(validate_attribute_sets(&c).is_err());
        let mut c = config();
        c.spid.attribute_sets[0].attributes.push("email".into());
        assert!(validate_attribute_sets(&c).is_err());
        let mut c = config();
        c.spid.attribute_sets[1].index = 0;
        assert!(validate_attribute_sets(&c).is_err());
        let mut c = config();
        c.spid.attribute_set = 7;
        assert!(validate_attribute_sets(&c).is_err());
    }

    #[test]
    fn text_is_escaped() -> Result<(), Box<dyn std::error::Error>> {
        let mut c = config();
        c.spid.organization_name = "A & B <Roma>".into();
        let text = unsigned(&c, "QUJD")?;
        let doc = xml::parse(&text, 1 << 20)?;
        let name = xml::descendants(doc.root_element(), ns::MD, "OrganizationName")
            .next()
            .ok_or("no name")?;
        assert_eq!(xml::text(name), "A & B <Roma>");
        Ok(())
    }

    /// Set `PROCURA_WRITE_SP_METADATA=/path/meta.xml` to keep the signed bytes, e.g. for
    /// `spid_sp_test --metadata-url file:///path/meta.xml`.
    #[test]
    fn signed_metadata_verifies_with_the_signature_first() -> Result<(), Box<dyn std::error::Error>>
    {
        let c = config();
        let pair = crate::spid::certificate::generate(
            &crate::spid::certificate::Subject::from_config(&c),
            30,
            chrono::Utc::now(),
        )?;
        let key = dsig::SigningKey::from_pem(&pair.private_key_pem, &pair.certificate_pem)?;
        let bytes = build(&c, &key)?;
        assert_eq!(
            bytes,
            build(&c, &key)?,
            "the same configuration gives the same bytes"
        );
        let text = String::from_utf8(bytes)?;
        let doc = xml::parse(&text, 1 << 20)?;
        let root = doc.root_element();
        let first = root.children().find(|n| n.is_element()).ok_or("empty")?;
        assert!(xml::is(first, ns::DS, "Signature"));
        assert!(
            xml::descendants(first, ns::DS, "X509Certificate")
                .next()
                .is_some()
        );
        let verified = dsig::verify_enveloped(root, &[key.verifying_key()])?;
        assert!(verified.signed_xml.contains("SPSSODescriptor"));
        if let Ok(path) = std::env::var("PROCURA_WRITE_SP_METADATA") {
            std::fs::write(path, &text)?;
        }
        Ok(())
    }
}
