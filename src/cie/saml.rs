//! "Entra con CIE" through the Ministry of the Interior's SAML IdP: procura as a CIE SAML
//! service provider. It runs on the SPID SAML code ([`crate::spid`]: parser and limits, XML
//! signatures, AuthnRequests, Response checks, the SAML threads and tables) with the CIE
//! profile ([`Profile::Cie`]); what is CIE's own is here: the metadata (CIE-SAML
//! `federazione.rst`, protocols.md §2.1) and the service provider put together from it.
//!
//! The metadata follow the single CIE model: signed AuthnRequests and assertions, Single
//! Logout with HTTP-Redirect (and POST), one AttributeConsumingService asking only for the
//! eIDAS minimum dataset, and an `administrative` ContactPerson whose Extensions, in
//! `https://www.cartaidentita.interno.gov.it/saml-extensions`, say `Public`, the IPA code and
//! the municipality (Belfiore code) of the organization.

use crate::config::Config;
use crate::spid::dsig::SigningKey;
use crate::spid::profile::Profile;
use crate::spid::sp_descriptor::{self, Descriptor};
use crate::spid::sp_metadata::MetadataError;
use crate::spid::xml::{self, escape_text};
use crate::spid::{ServiceProvider, certificate, pool, registry};
use anyhow::Context;
use std::fmt::Write as _;
use std::sync::Arc;

/// The namespace of the CIE metadata extensions.
pub const CIE_NS: &str = "https://www.cartaidentita.interno.gov.it/saml-extensions";

/// The only attributes a CIE SP may ask for (the eIDAS minimum dataset; spid-sp-test
/// `CIE_ATTRIBUTES`).
pub const CIE_ATTRIBUTES: &[&str] = &["name", "familyName", "dateOfBirth", "fiscalNumber"];

fn issuer(config: &Config) -> &str {
    config.oauth.issuer.trim_end_matches('/')
}

/// Where the metadata is served.
pub fn metadata_url(config: &Config) -> String {
    format!("{}{}/metadata", issuer(config), Profile::Cie.path())
}

/// The SP entityID: `cie.saml.entity_id`, else the metadata URL.
pub fn entity_id(config: &Config) -> String {
    match config.cie.saml.entity_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => metadata_url(config),
    }
}

/// The AssertionConsumerService (index 0, HTTP-POST).
pub fn acs_url(config: &Config) -> String {
    format!("{}{}/acs", issuer(config), Profile::Cie.path())
}

/// The SingleLogoutService (HTTP-Redirect and HTTP-POST).
pub fn slo_url(config: &Config) -> String {
    format!("{}{}/slo", issuer(config), Profile::Cie.path())
}

fn validate(config: &Config) -> Result<(), MetadataError> {
    let (spid, cie) = (&config.spid, &config.cie.saml);
    sp_descriptor::require(
        spid,
        &[
            ("cie.saml.service_name", cie.service_name.as_str()),
            ("cie.saml.municipality", cie.municipality.as_str()),
        ],
        |what| format!("{what} is required in the CIE SAML metadata"),
    )
}

/// The CIE metadata before signing: the common SP descriptor ([`sp_descriptor`]) with one
/// AttributeConsumingService for [`CIE_ATTRIBUTES`], and a ContactPerson `administrative`
/// with the CIE extensions.
pub fn unsigned(config: &Config, certificate_base64: &str) -> Result<String, MetadataError> {
    validate(config)?;
    let (spid, cie) = (&config.spid, &config.cie.saml);
    let entity_id = entity_id(config);
    let (acs, slo) = (acs_url(config), slo_url(config));
    let mut x = String::with_capacity(4096);
    // The SingleLogoutService has HTTP-Redirect first: the CIE IdP needs at least that one.
    sp_descriptor::open(
        &mut x,
        &Descriptor {
            entity_id: &entity_id,
            acs_url: &acs,
            slo_url: &slo,
            certificate_base64,
            extensions: ("cie", CIE_NS),
        },
    );
    sp_descriptor::attribute_consuming_service(
        &mut x,
        0,
        &cie.service_name,
        CIE_ATTRIBUTES.iter().copied(),
    );
    sp_descriptor::organization(&mut x, spid);
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = write!(
        x,
        "<md:ContactPerson contactType=\"administrative\"><md:Extensions><cie:Public/><cie:IPACode>{}</cie:IPACode>",
        escape_text(&spid.ipa_code)
    );
    if let Some(category) = cie.ipa_category.as_deref().filter(|c| !c.trim().is_empty()) {
        let _ = write!(
            x,
            "<cie:IPACategory>{}</cie:IPACategory>",
            escape_text(category)
        );
    }
    let _ = write!(
        x,
        "<cie:Municipality>{}</cie:Municipality>",
        escape_text(&cie.municipality)
    );
    for (element, value) in [("Province", &cie.province), ("Country", &cie.country)] {
        if !value.trim().is_empty() {
            let _ = write!(x, "<cie:{element}>{}</cie:{element}>", escape_text(value));
        }
    }
    // Company is mandatory for CIE and equals OrganizationName (written by `close_contact`).
    x.push_str("</md:Extensions>");
    sp_descriptor::close_contact(&mut x, spid);
    Ok(x)
}

/// The signed metadata, as the exact bytes to serve.
pub fn build(config: &Config, key: &SigningKey) -> Result<Vec<u8>, MetadataError> {
    sp_descriptor::sign(&unsigned(config, &key.certificate_base64())?, key)
}

/// The signing pair: `cie.saml.certificate` and `cie.saml.private_key` when set, else the
/// SPID pair.
fn signing_key(config: &Config) -> anyhow::Result<SigningKey> {
    let cie = &config.cie.saml;
    match (&cie.certificate, &cie.private_key) {
        (None, None) => certificate::load_or_generate(config),
        (Some(cert), Some(key)) => {
            let key_pem = std::fs::read_to_string(key)
                .with_context(|| format!("cannot read {}", key.display()))?;
            let cert_pem = std::fs::read_to_string(cert)
                .with_context(|| format!("cannot read {}", cert.display()))?;
            SigningKey::from_pem(&key_pem, &cert_pem)
                .with_context(|| format!("the CIE SAML key {} is unusable", key.display()))
        }
        _ => anyhow::bail!("cie.saml.certificate and cie.saml.private_key go together"),
    }
}

/// The CIE SAML service provider: the SPID engine with the CIE profile, identity and
/// metadata. The registry starts empty; the caller fills it from the database.
pub fn service_provider(
    config: &Config,
    pool: Arc<pool::SamlPool>,
) -> anyhow::Result<ServiceProvider> {
    let key = signing_key(config).context("CIE SAML certificate")?;
    let metadata = build(config, &key).context("CIE SAML metadata")?;
    let cie = &config.cie.saml;
    Ok(ServiceProvider {
        profile: Profile::Cie,
        binding: cie.binding,
        default_level: cie.default_level,
        attribute_set: 0,
        entity_id: entity_id(config),
        acs_url: acs_url(config),
        slo_url: slo_url(config),
        key,
        metadata,
        registry: registry::IdpRegistry::for_profile(
            Profile::Cie,
            xml::Limits::for_metadata(&config.spid),
        ),
        message_limits: xml::Limits::for_messages(&config.spid),
        pool,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spid::{dsig, ns, uri};

    fn config() -> Config {
        let mut c = Config::default();
        c.oauth.issuer = "https://procura.example/".into();
        c
    }

    fn names(parent: roxmltree::Node<'_, '_>) -> Vec<(Option<String>, String)> {
        parent
            .children()
            .filter(|c| c.is_element())
            .map(|c| {
                (
                    c.tag_name().namespace().map(str::to_owned),
                    c.tag_name().name().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn urls_hang_off_the_issuer_apart_from_spid() {
        let mut c = config();
        assert_eq!(entity_id(&c), "https://procura.example/cie/saml/metadata");
        assert_eq!(acs_url(&c), "https://procura.example/cie/saml/acs");
        assert_eq!(slo_url(&c), "https://procura.example/cie/saml/slo");
        c.cie.saml.entity_id = Some("https://sp.inps.it/cie".into());
        assert_eq!(entity_id(&c), "https://sp.inps.it/cie");
        assert_ne!(
            entity_id(&config()),
            crate::spid::sp_metadata::entity_id(&config())
        );
    }

    #[test]
    fn layout_follows_the_cie_model() -> Result<(), Box<dyn std::error::Error>> {
        let mut c = config();
        c.spid.contact_phone = "+390659051".into();
        c.cie.saml.ipa_category = Some("L6".into());
        let text = unsigned(&c, "QUJD")?;
        let doc = xml::parse(&text, 1 << 20)?;
        let root = doc.root_element();
        let sp = xml::child(root, ns::MD, "SPSSODescriptor").ok_or("no SPSSODescriptor")?;
        assert_eq!(sp.attribute("AuthnRequestsSigned"), Some("true"));
        assert_eq!(sp.attribute("WantAssertionsSigned"), Some("true"));
        let slo = xml::child(sp, ns::MD, "SingleLogoutService").ok_or("no SLO")?;
        assert_eq!(slo.attribute("Binding"), Some(uri::BINDING_REDIRECT));
        let asked: Vec<_> = xml::descendants(sp, ns::MD, "RequestedAttribute")
            .filter_map(|a| a.attribute("Name"))
            .collect();
        assert_eq!(asked, CIE_ATTRIBUTES);
        let contact = xml::child(root, ns::MD, "ContactPerson").ok_or("no contact")?;
        assert_eq!(contact.attribute("contactType"), Some("administrative"));
        let ext = xml::child(contact, ns::MD, "Extensions").ok_or("no extensions")?;
        let cie = |n: &str| (Some(CIE_NS.to_owned()), n.to_owned());
        assert_eq!(
            names(ext),
            [
                cie("Public"),
                cie("IPACode"),
                cie("IPACategory"),
                cie("Municipality"),
                cie("Province"),
                cie("Country")
            ]
        );
        let company = xml::child(contact, ns::MD, "Company").ok_or("no Company")?;
        assert_eq!(xml::text(company), c.spid.organization_name);
        assert!(!text.contains("spid-extensions") && !text.contains("spidCode"));
        Ok(())
    }

    #[test]
    fn signed_metadata_verifies_with_the_signature_first() -> Result<(), Box<dyn std::error::Error>>
    {
        let c = config();
        let pair = certificate::generate(
            &certificate::Subject::from_config(&c),
            30,
            chrono::Utc::now(),
        )?;
        let key = SigningKey::from_pem(&pair.private_key_pem, &pair.certificate_pem)?;
        let text = String::from_utf8(build(&c, &key)?)?;
        let doc = xml::parse(&text, 1 << 20)?;
        let root = doc.root_element();
        let first = root.children().find(|n| n.is_element()).ok_or("empty")?;
        assert!(xml::is(first, ns::DS, "Signature"));
        let verified = dsig::verify_enveloped(root, &[key.verifying_key()])?;
        assert!(verified.signed_xml.contains("cie:Municipality"));
        Ok(())
    }

    #[test]
    fn half_a_pair_is_refused() {
        let mut c = config();
        c.cie.saml.certificate = Some("/nonexistent/cert.pem".into());
        assert!(signing_key(&c).is_err());
    }
}
