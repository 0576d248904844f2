//! The AuthnRequest procura sends to a SPID or CIE identity provider (protocols.md §1.2, §2.1):
//! signed, transient NameID, `Comparison="minimum"`, `ForceAuthn` from level 2 (CIE: always), the ACS and the
//! attribute set named by index as the metadata declares them.

use super::xml::{escape_attr, escape_text};
use super::{ns, time, uri};
use crate::login::Level;
use chrono::{DateTime, Utc};

/// A new request ID: an NCName (starts with `_`), 128 random bits.
pub fn new_id() -> String {
    format!("_{}", uuid::Uuid::new_v4().simple())
}

/// Everything an AuthnRequest says.
#[derive(Debug, Clone)]
pub struct AuthnRequest<'a> {
    pub id: &'a str,
    pub issue_instant: DateTime<Utc>,
    /// The IdP's SingleSignOnService Location for the binding used.
    pub destination: &'a str,
    pub sp_entity_id: &'a str,
    /// Index of the AssertionConsumerService in the metadata (0, the default).
    pub acs_index: u16,
    /// Index of the AttributeConsumingService in the metadata.
    pub attribute_set: u16,
    /// SpidL1, SpidL2 or SpidL3.
    pub level: Level,
    /// `ForceAuthn="true"`: SPID from level 2, CIE always ([`super::profile::Profile::force_authn`]).
    pub force_authn: bool,
}

impl AuthnRequest<'_> {
    /// The unsigned XML; the POST binding signs it with `dsig::sign_enveloped`, the Redirect
    /// binding signs the query instead.
    pub fn to_xml(&self) -> String {
        let force = if self.force_authn {
            " ForceAuthn=\"true\""
        } else {
            ""
        };
        format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{samlp}\" xmlns:saml=\"{saml}\" ID=\"{id}\" \
Version=\"2.0\" IssueInstant=\"{instant}\" Destination=\"{dest}\"{force} \
AssertionConsumerServiceIndex=\"{acs}\" AttributeConsumingServiceIndex=\"{attrs}\">\
<saml:Issuer Format=\"{entity_fmt}\" NameQualifier=\"{sp_attr}\">{sp_text}</saml:Issuer>\
<samlp:NameIDPolicy Format=\"{transient}\"/>\
<samlp:RequestedAuthnContext Comparison=\"minimum\">\
<saml:AuthnContextClassRef>{level}</saml:AuthnContextClassRef>\
</samlp:RequestedAuthnContext></samlp:AuthnRequest>",
            samlp = ns::SAMLP,
            saml = ns::SAML,
            id = escape_attr(self.id),
            instant = time::format(self.issue_instant),
            dest = escape_attr(self.destination),
            acs = self.acs_index,
            attrs = self.attribute_set,
            entity_fmt = uri::NAMEID_ENTITY,
            sp_attr = escape_attr(self.sp_entity_id),
            sp_text = escape_text(self.sp_entity_id),
            transient = uri::NAMEID_TRANSIENT,
            level = self.level.uri(),
        )
    }
}

/// The SPID level to ask for: the relying party's minimum mapped onto SPID's three levels
/// (a PIN-level minimum is SPID L1), else the configured default.
pub fn spid_level(requested: Option<Level>, default: Level) -> Level {
    match requested {
        None => spid_level(Some(default), Level::SpidL2),
        Some(Level::SpidL3) => Level::SpidL3,
        Some(Level::SpidL2) => Level::SpidL2,
        Some(Level::SpidL1 | Level::PinOrdinario | Level::PinDispositivo) => Level::SpidL1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spid::xml;

    fn request(level: Level) -> String {
        let at = time::parse("2026-11-30T10:00:00Z").unwrap_or_default();
        AuthnRequest {
            id: "_abc",
            issue_instant: at,
            destination: "https://idp.example/sso",
            sp_entity_id: "https://procura.example/spid/metadata",
            acs_index: 0,
            attribute_set: 1,
            level,
            force_authn: crate::spid::profile::Profile::Spid.force_authn(level),
        }
        .to_xml()
    }

    #[test]
    fn carries_what_agid_requires() -> Result<(), xml::XmlError> {
        let text = request(Level::SpidL2);
        let doc = xml::parse(&text, 1 << 16)?;
        let root = doc.root_element();
        assert!(xml::is(root, ns::SAMLP, "AuthnRequest"));
        assert_eq!(root.attribute("ForceAuthn"), Some("true"));
        assert_eq!(root.attribute("IsPassive"), None);
        assert_eq!(root.attribute("AttributeConsumingServiceIndex"), Some("1"));
        assert_eq!(root.attribute("AssertionConsumerServiceURL"), None);
        assert_eq!(
            root.attribute("IssueInstant"),
            Some("2026-11-30T10:00:00.000Z")
        );
        let issuer = xml::child(root, ns::SAML, "Issuer");
        assert_eq!(
            issuer.and_then(|i| i.attribute("NameQualifier")),
            Some("https://procura.example/spid/metadata")
        );
        let policy = xml::child(root, ns::SAMLP, "NameIDPolicy");
        assert_eq!(policy.and_then(|p| p.attribute("AllowCreate")), None);
        let context = xml::child(root, ns::SAMLP, "RequestedAuthnContext");
        assert_eq!(
            context.and_then(|c| c.attribute("Comparison")),
            Some("minimum")
        );
        let class = context.and_then(|c| xml::child(c, ns::SAML, "AuthnContextClassRef"));
        assert_eq!(
            class.map(xml::text).as_deref(),
            Some("https://www.spid.gov.it/SpidL2")
        );
        Ok(())
    }

    #[test]
    fn level_one_does_not_force_authentication() {
        assert!(!request(Level::SpidL1).contains("ForceAuthn"));
        assert!(request(Level::SpidL3).contains("ForceAuthn=\"true\""));
    }

    #[test]
    fn levels_map_onto_spid() {
        assert_eq!(spid_level(None, Level::SpidL2), Level::SpidL2);
        assert_eq!(
            spid_level(Some(Level::PinDispositivo), Level::SpidL2),
            Level::SpidL1
        );
        assert_eq!(
            spid_level(Some(Level::SpidL3), Level::SpidL1),
            Level::SpidL3
        );
        assert_eq!(new_id().len(), 33);
        assert!(new_id().starts_with('_'));
    }
}
