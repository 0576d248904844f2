//! Identity provider metadata: one `md:EntityDescriptor`, or an `md:EntitiesDescriptor`
//! aggregate (AgID's registry), read into what the SP needs of each IdP.
//!
//! Keys come only from `IDPSSODescriptor/KeyDescriptor` (use absent or `signing`), and all of
//! them are kept: IdPs publish several during a rotation. The metadata signer's certificate,
//! which sits in the aggregate's own `ds:Signature`, is never an IdP key (protocols.md §0.8).

use super::dsig::VerifyingKey;
use super::{ns, time, uri, xml};
use crate::config::SpidBinding;
use chrono::{DateTime, Utc};
use roxmltree::Node;

/// Most nested `EntitiesDescriptor` levels followed.
const MAX_DEPTH: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdpError {
    #[error(transparent)]
    Xml(#[from] xml::XmlError),
    #[error("not SAML metadata: the root is neither EntityDescriptor nor EntitiesDescriptor")]
    NotMetadata,
    #[error("the metadata expired at {0}")]
    Expired(String),
    #[error("metadata validUntil `{0}` is not an xs:dateTime")]
    BadValidUntil(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub binding: String,
    pub location: String,
    pub response_location: Option<String>,
}

/// What the SP knows of one identity provider.
#[derive(Debug, Clone)]
pub struct IdentityProvider {
    pub entity_id: String,
    /// Organization DisplayName (or Name) in Italian, else the entityID.
    pub display_name: String,
    pub single_sign_on: Vec<Endpoint>,
    pub single_logout: Vec<Endpoint>,
    /// Every signing key of the IdP (all are tried).
    pub signing_keys: Vec<VerifyingKey>,
    pub want_authn_requests_signed: bool,
    pub valid_until: Option<DateTime<Utc>>,
    /// The IdP's logo for the login button (`mdui:Logo`): an `https:` URL or a `data:image/`
    /// URI, when the metadata has one.
    pub logo: Option<String>,
}

impl IdentityProvider {
    /// The SingleSignOnService Location for `binding` (an `uri::BINDING_*`).
    pub fn sso_location(&self, binding: &str) -> Option<&str> {
        find(&self.single_sign_on, binding).map(|e| e.location.as_str())
    }

    /// The SingleLogoutService for `binding`.
    pub fn slo_endpoint(&self, binding: &str) -> Option<&Endpoint> {
        find(&self.single_logout, binding)
    }

    /// The SingleSignOnService for the `preferred` binding, else for the other one.
    pub fn sso_for(&self, preferred: SpidBinding) -> Option<(SpidBinding, &Endpoint)> {
        prefer(&self.single_sign_on, preferred)
    }

    /// The SingleLogoutService for the `preferred` binding, else for the other one.
    pub fn slo_for(&self, preferred: SpidBinding) -> Option<(SpidBinding, &Endpoint)> {
        prefer(&self.single_logout, preferred)
    }
}

fn find<'a>(endpoints: &'a [Endpoint], binding: &str) -> Option<&'a Endpoint> {
    endpoints.iter().find(|e| e.binding == binding)
}

fn prefer(endpoints: &[Endpoint], preferred: SpidBinding) -> Option<(SpidBinding, &Endpoint)> {
    [preferred, preferred.other()]
        .into_iter()
        .find_map(|b| find(endpoints, b.uri()).map(|e| (b, e)))
}

/// The limits metadata are parsed within: [`xml::Limits`], or a byte count alone for the
/// built-in metadata limits of that size (not the message limits a bare count means elsewhere).
pub struct MetadataLimits(pub xml::Limits);

impl From<usize> for MetadataLimits {
    fn from(max_bytes: usize) -> Self {
        Self(xml::Limits::metadata(max_bytes))
    }
}

impl From<&xml::Limits> for MetadataLimits {
    fn from(limits: &xml::Limits) -> Self {
        Self(*limits)
    }
}

/// An entity left out, and why (logged by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub entity_id: String,
    pub reason: String,
}

/// The identity providers found in a metadata document.
#[derive(Debug, Default)]
pub struct Parsed {
    pub idps: Vec<IdentityProvider>,
    pub skipped: Vec<Skipped>,
    /// The document's own validUntil (the root's), when present.
    pub valid_until: Option<DateTime<Utc>>,
}

/// Parses IdP metadata text within `limits` (a byte count alone means the built-in metadata
/// limits of that size) as of `now`.
pub fn parse(
    text: &str,
    limits: impl Into<MetadataLimits>,
    now: DateTime<Utc>,
) -> Result<Parsed, IdpError> {
    let doc = xml::parse(text, limits.into().0)?;
    parse_node(doc.root_element(), now)
}

/// Reads the IdPs under `root` (an EntityDescriptor or EntitiesDescriptor already parsed,
/// e.g. the re-parsed signed part of an aggregate).
pub fn parse_node(root: Node<'_, '_>, now: DateTime<Utc>) -> Result<Parsed, IdpError> {
    let is_entities = xml::is(root, ns::MD, "EntitiesDescriptor");
    if !is_entities && !xml::is(root, ns::MD, "EntityDescriptor") {
        return Err(IdpError::NotMetadata);
    }
    let valid_until = valid_until(root)?;
    if let Some(until) = valid_until
        && until <= now
    {
        return Err(IdpError::Expired(time::format(until)));
    }
    let mut parsed = Parsed {
        valid_until,
        ..Parsed::default()
    };
    collect(root, valid_until, now, 0, &mut parsed);
    Ok(parsed)
}

fn valid_until(node: Node<'_, '_>) -> Result<Option<DateTime<Utc>>, IdpError> {
    node.attribute("validUntil")
        .map(|v| time::parse(v).ok_or_else(|| IdpError::BadValidUntil(v.to_owned())))
        .transpose()
}

/// The earlier of two optional instants.
fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn collect(
    node: Node<'_, '_>,
    inherited: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    depth: usize,
    out: &mut Parsed,
) {
    let entity_id = node.attribute("entityID").unwrap_or("").to_owned();
    let skip = |out: &mut Parsed, reason: String| {
        out.skipped.push(Skipped {
            entity_id: entity_id.clone(),
            reason,
        })
    };
    let until = match valid_until(node) {
        Ok(own) => earliest(inherited, own),
        Err(e) => return skip(out, e.to_string()),
    };
    if until.is_some_and(|u| u <= now) {
        return skip(out, "validUntil has passed".into());
    }
    if xml::is(node, ns::MD, "EntitiesDescriptor") {
        if depth >= MAX_DEPTH {
            return skip(out, "EntitiesDescriptor nested too deep".into());
        }
        for child in node.children().filter(|c| c.is_element()) {
            if xml::is(child, ns::MD, "EntityDescriptor")
                || xml::is(child, ns::MD, "EntitiesDescriptor")
            {
                collect(child, until, now, depth + 1, out);
            }
        }
        return;
    }
    // An EntityDescriptor: only identity providers matter (SPs in an aggregate are skipped
    // silently).
    let Some(sso) = xml::child(node, ns::MD, "IDPSSODescriptor") else {
        return;
    };
    if entity_id.is_empty() {
        return skip(out, "IdP without entityID".into());
    }
    match identity_provider(node, sso, &entity_id, until, now) {
        Ok(idp) => out.idps.push(idp),
        Err(reason) => skip(out, reason),
    }
}

fn identity_provider(
    entity: Node<'_, '_>,
    sso: Node<'_, '_>,
    entity_id: &str,
    entity_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<IdentityProvider, String> {
    let until = earliest(entity_until, valid_until(sso).map_err(|e| e.to_string())?);
    if until.is_some_and(|u| u <= now) {
        return Err("IDPSSODescriptor validUntil has passed".into());
    }
    let mut signing_keys = Vec::new();
    let mut unreadable = 0_usize;
    for kd in xml::children(sso, ns::MD, "KeyDescriptor") {
        if !matches!(kd.attribute("use"), None | Some("signing")) {
            continue;
        }
        for cert in xml::descendants(kd, ns::DS, "X509Certificate") {
            match VerifyingKey::from_certificate_base64(&xml::text(cert)) {
                Ok(key) => signing_keys.push(key),
                Err(_) => unreadable += 1,
            }
        }
    }
    if signing_keys.is_empty() {
        return Err(if unreadable > 0 {
            format!("none of its {unreadable} signing certificates is readable")
        } else {
            "no signing key in IDPSSODescriptor".into()
        });
    }
    if unreadable > 0 {
        tracing::warn!(
            idp = entity_id,
            unreadable,
            "IdP metadata has signing certificates that cannot be read; using the others"
        );
    }
    let single_sign_on = endpoints(sso, "SingleSignOnService");
    if single_sign_on.is_empty() {
        return Err("no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding".into());
    }
    Ok(IdentityProvider {
        entity_id: entity_id.to_owned(),
        display_name: display_name(entity).unwrap_or_else(|| entity_id.to_owned()),
        single_sign_on,
        single_logout: endpoints(sso, "SingleLogoutService"),
        signing_keys,
        want_authn_requests_signed: matches!(
            sso.attribute("WantAuthnRequestsSigned"),
            Some("true" | "1")
        ),
        valid_until: until,
        logo: logo(entity, sso),
    })
}

/// The MDUI namespace of `mdui:UIInfo` (SAML V2.0 Metadata Extensions for Login and
/// Discovery User Interface).
const MDUI: &str = "urn:oasis:names:tc:SAML:metadata:ui";
/// Longest logo accepted (a `data:` URI carries the whole image).
const MAX_LOGO_CHARS: usize = 64 * 1024;

/// The first usable `mdui:Logo` of the IDPSSODescriptor, else of the entity: an `https:` URL
/// or a PNG/SVG/JPEG `data:` URI (shown in an `<img>`, where an SVG runs no script).
fn logo(entity: Node<'_, '_>, sso: Node<'_, '_>) -> Option<String> {
    let usable = |text: String| {
        let t = text.trim();
        let ok = t.len() <= MAX_LOGO_CHARS
            && !t.chars().any(|c| c.is_whitespace() || c == '"' || c == '<')
            && (t.starts_with("https://")
                || t.starts_with("data:image/png;base64,")
                || t.starts_with("data:image/svg+xml;base64,")
                || t.starts_with("data:image/jpeg;base64,"));
        ok.then(|| t.to_owned())
    };
    [sso, entity].into_iter().find_map(|scope| {
        let extensions = xml::child(scope, ns::MD, "Extensions")?;
        let info = xml::child(extensions, MDUI, "UIInfo")?;
        xml::children(info, MDUI, "Logo").find_map(|l| usable(xml::text(l)))
    })
}

/// The endpoints named `local` with the Redirect or POST binding, in document order.
fn endpoints(sso: Node<'_, '_>, local: &'static str) -> Vec<Endpoint> {
    xml::children(sso, ns::MD, local)
        .filter_map(|e| {
            let binding = e.attribute("Binding")?;
            if binding != uri::BINDING_REDIRECT && binding != uri::BINDING_POST {
                return None;
            }
            let location = e.attribute("Location")?.trim();
            if location.is_empty() {
                return None;
            }
            Some(Endpoint {
                binding: binding.to_owned(),
                location: location.to_owned(),
                response_location: e
                    .attribute("ResponseLocation")
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            })
        })
        .collect()
}

/// Organization DisplayName in Italian, else Name in Italian, else the first DisplayName.
fn display_name(entity: Node<'_, '_>) -> Option<String> {
    let org = xml::child(entity, ns::MD, "Organization")?;
    let italian = |local: &'static str| {
        xml::children(org, ns::MD, local)
            .find(|n| n.attribute((roxmltree::NS_XML_URI, "lang")) == Some("it"))
            .map(xml::text)
            .filter(|t| !t.is_empty())
    };
    italian("OrganizationDisplayName")
        .or_else(|| italian("OrganizationName"))
        .or_else(|| {
            xml::children(org, ns::MD, "OrganizationDisplayName")
                .map(xml::text)
                .find(|t| !t.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spid::certificate::{self, Subject};
    use chrono::TimeZone;

    fn cert() -> Result<String, Box<dyn std::error::Error>> {
        let subject = Subject {
            common_name: "idp".into(),
            organization_name: "idp".into(),
            entity_id: "https://idp.example".into(),
            organization_identifier: "PA:IT-test".into(),
            locality: "Roma".into(),
        };
        let pair = certificate::generate(&subject, 30, Utc::now())?;
        Ok(pem::parse(&pair.certificate_pem).map(|p| {
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, p.contents())
        })?)
    }

    fn entity(id: &str, key: &str, extra: &str) -> String {
        format!(
            r#"<md:EntityDescriptor entityID="{id}" {extra}><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{key}<md:SingleSignOnService Binding="{}" Location="{id}/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            uri::BINDING_POST
        )
    }

    fn aggregate(attrs: &str, body: &str) -> String {
        format!(
            r#"<md:EntitiesDescriptor xmlns:md="{}" xmlns:ds="{}" {attrs}>{body}</md:EntitiesDescriptor>"#,
            ns::MD,
            ns::DS
        )
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn idps_without_keys_or_past_valid_until_are_skipped() -> Result<(), Box<dyn std::error::Error>>
    {
        let key = format!(
            "<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
            cert()?
        );
        let enc_only = key.replace(
            "<md:KeyDescriptor>",
            r#"<md:KeyDescriptor use="encryption">"#,
        );
        let text = aggregate(
            "",
            &[
                entity("https://ok.example", &key, ""),
                entity("https://nokey.example", &enc_only, ""),
                entity(
                    "https://old.example",
                    &key,
                    r#"validUntil="2026-11-30T09:00:00Z""#,
                ),
                aggregate("", &entity("https://nested.example", &key, "")),
            ]
            .concat(),
        );
        let parsed = parse(&text, 1 << 20, now())?;
        let ids: Vec<&str> = parsed.idps.iter().map(|i| i.entity_id.as_str()).collect();
        assert_eq!(ids, ["https://ok.example", "https://nested.example"]);
        let skipped: Vec<&str> = parsed
            .skipped
            .iter()
            .map(|s| s.entity_id.as_str())
            .collect();
        assert_eq!(skipped, ["https://nokey.example", "https://old.example"]);
        Ok(())
    }

    #[test]
    fn an_expired_or_foreign_document_is_refused() {
        let expired = aggregate(r#"validUntil="2026-11-29T00:00:00Z""#, "");
        assert!(matches!(
            parse(&expired, 1 << 20, now()),
            Err(IdpError::Expired(_))
        ));
        let bad = aggregate(r#"validUntil="yesterday""#, "");
        assert!(matches!(
            parse(&bad, 1 << 20, now()),
            Err(IdpError::BadValidUntil(_))
        ));
        assert_eq!(
            parse("<x/>", 1 << 20, now()).err(),
            Some(IdpError::NotMetadata)
        );
        let big = aggregate("", &" ".repeat(2000));
        assert!(matches!(parse(&big, 1000, now()), Err(IdpError::Xml(_))));
    }
}
