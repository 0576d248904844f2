//! A SPID identity provider for the tests: its own RSA key and certificate, a metadata file
//! procura is configured with, and Responses shaped like an accredited IdP's (signed for
//! real), with knobs for every way a Response can be wrong.

use crate::oidc_support::LiveApp;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use procura::spid::certificate::{self, Generated, Subject};
use procura::spid::dsig::{self, SigningKey};
use procura::spid::time;
use std::io::Read;
use std::path::PathBuf;

pub const IDP_ENTITY_ID: &str = "https://idp.spid.test";
pub const IDP_SSO: &str = "https://idp.spid.test/sso";
pub const IDP_SLO: &str = "https://idp.spid.test/slo";

/// An RSA key and a self-signed certificate for a test party, made the way
/// `procura spid certificate` makes the SP's.
pub fn generated(name: &str) -> Generated {
    let slug = name.to_lowercase().replace(' ', "-");
    let subject = Subject {
        common_name: name.into(),
        organization_name: name.into(),
        entity_id: format!("https://{slug}.example"),
        organization_identifier: "PA:IT-test".into(),
        locality: "Roma".into(),
    };
    certificate::generate(&subject, 30, Utc::now()).unwrap()
}

/// The same, as (private key PEM, certificate PEM).
pub fn key_and_certificate(name: &str) -> (String, String) {
    let pair = generated(name);
    (pair.private_key_pem, pair.certificate_pem)
}

/// The test IdP.
pub struct FakeIdp {
    pub entity_id: String,
    pub key: SigningKey,
    pub metadata_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakeIdp {
    pub fn new() -> Self {
        Self::with_entity_id(IDP_ENTITY_ID)
    }

    /// Another IdP, with its own key; its endpoints are those of the first.
    pub fn with_entity_id(entity_id: &str) -> Self {
        Self::build(entity_id, IDP_SSO, IDP_SLO, None)
    }

    /// An IdP whose SingleSignOnService is at `sso` and SingleLogoutService at `slo` (a test server's, for a real browser),
    /// with an `mdui:Logo` when given.
    pub fn at(sso: &str, slo: &str, logo: Option<&str>) -> Self {
        Self::build(IDP_ENTITY_ID, sso, slo, logo)
    }

    fn build(entity_id: &str, sso: &str, slo: &str, logo: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (key_pem, cert_pem) = key_and_certificate("Fake SPID IdP");
        let key = SigningKey::from_pem(&key_pem, &cert_pem).unwrap();
        let metadata_path = dir.path().join("idp-metadata.xml");
        std::fs::write(
            &metadata_path,
            Self::metadata(entity_id, &key.certificate_base64(), sso, slo, logo),
        )
        .unwrap();
        Self {
            entity_id: entity_id.to_owned(),
            key,
            metadata_path,
            _dir: dir,
        }
    }

    fn metadata(entity_id: &str, cert: &str, sso: &str, slo: &str, logo: Option<&str>) -> String {
        let extensions = logo.map_or_else(String::new, |l| {
            format!(
                r#"<md:Extensions><mdui:UIInfo xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui"><mdui:Logo height="32" width="120">{l}</mdui:Logo></mdui:UIInfo></md:Extensions>"#
            )
        });
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="true">
{extensions}<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{slo}"/>
<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso}"/>
</md:IDPSSODescriptor>
<md:Organization><md:OrganizationName xml:lang="it">IdP di prova</md:OrganizationName><md:OrganizationDisplayName xml:lang="it">IdP di prova</md:OrganizationDisplayName><md:OrganizationURL xml:lang="it">https://idp.spid.test</md:OrganizationURL></md:Organization>
</md:EntityDescriptor>"#
        )
    }
}

/// A live procura with SPID on, trusting `idp`.
pub async fn spid_app(idp: &FakeIdp) -> LiveApp {
    spid_app_trusting(&[idp]).await
}

/// A live procura with SPID on, trusting each of `idps`.
pub async fn spid_app_trusting(idps: &[&FakeIdp]) -> LiveApp {
    let paths: Vec<String> = idps
        .iter()
        .map(|i| i.metadata_path.display().to_string())
        .collect();
    LiveApp::spawn_with(move |c| {
        c.login.methods = vec!["pin".into(), "spid".into()];
        c.spid.idp_metadata = paths;
    })
    .await
}

/// An AuthnRequest as the IdP receives it (from the HTTP-Redirect Location).
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub xml: String,
    pub id: String,
    pub issue_instant: String,
    pub level: String,
    pub relay_state: String,
}

/// Reads the AuthnRequest out of a redirect to the IdP (signature checked by the tests that
/// care: here we only need its fields).
pub fn received_request(location: &str) -> ReceivedRequest {
    assert!(location.starts_with(IDP_SSO), "{location}");
    received_request_at(location)
}

/// [`received_request`] for an IdP at any address.
pub fn received_request_at(location: &str) -> ReceivedRequest {
    let url = reqwest::Url::parse(location).unwrap();
    let param = |n: &str| {
        url.query_pairs()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {n} in {location}"))
    };
    let deflated = STANDARD.decode(param("SAMLRequest")).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    let level = root
        .descendants()
        .find(|n| n.has_tag_name("AuthnContextClassRef"))
        .and_then(|n| n.text())
        .unwrap()
        .to_owned();
    ReceivedRequest {
        id: root.attribute("ID").unwrap().to_owned(),
        issue_instant: root.attribute("IssueInstant").unwrap().to_owned(),
        level,
        relay_state: param("RelayState"),
        xml: xml.clone(),
    }
}

/// A Response to `request`, correct unless a knob says otherwise.
#[derive(Debug, Clone)]
pub struct ResponseSpec {
    pub request_id: String,
    pub acs_url: String,
    pub audience: String,
    pub issuer: String,
    pub level: String,
    pub now: DateTime<Utc>,
    /// NotOnOrAfter of SubjectConfirmationData and Conditions.
    pub not_on_or_after: DateTime<Utc>,
    pub assertion_id: String,
    pub fiscal_number: String,
    pub sign_response: bool,
    /// `Some` signs the assertion with that key instead of the IdP's.
    pub wrong_key: Option<(String, String)>,
    /// Whether the Issuers carry `Format` (the CIE IdP's do not).
    pub issuer_format: bool,
}

impl ResponseSpec {
    pub fn for_request(live: &LiveApp, request: &ReceivedRequest) -> Self {
        let now = live.app.clock_now();
        Self {
            request_id: request.id.clone(),
            acs_url: format!("{}/spid/acs", live.base),
            audience: format!("{}/spid/metadata", live.base),
            issuer: IDP_ENTITY_ID.into(),
            level: request.level.clone(),
            now,
            not_on_or_after: now + Duration::minutes(5),
            assertion_id: format!("_a{}", uuid::Uuid::new_v4().simple()),
            fiscal_number: "TINIT-GDASDV00A01H501J".into(),
            sign_response: true,
            wrong_key: None,
            issuer_format: true,
        }
    }

    fn format_attribute(&self) -> &'static str {
        if self.issuer_format {
            r#" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity""#
        } else {
            ""
        }
    }

    pub fn assertion_xml(&self) -> String {
        let format = self.format_attribute();
        format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{aid}" Version="2.0" IssueInstant="{now}">
<saml:Issuer{format}>{issuer}</saml:Issuer>
<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" NameQualifier="{issuer}">_transient-{aid}</saml:NameID>
<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="{rid}" NotOnOrAfter="{noa}" Recipient="{acs}"/></saml:SubjectConfirmation></saml:Subject>
<saml:Conditions NotBefore="{now}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>
<saml:AuthnStatement AuthnInstant="{now}" SessionIndex="_s{aid}"><saml:AuthnContext><saml:AuthnContextClassRef>{level}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>
<saml:AttributeStatement>
<saml:Attribute Name="fiscalNumber" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">{cf}</saml:AttributeValue></saml:Attribute>
<saml:Attribute Name="name"><saml:AttributeValue xsi:type="xs:string">Mario</saml:AttributeValue></saml:Attribute>
<saml:Attribute Name="familyName"><saml:AttributeValue xsi:type="xs:string">Rossi</saml:AttributeValue></saml:Attribute>
<saml:Attribute Name="dateOfBirth"><saml:AttributeValue xsi:type="xs:date">1985-12-10</saml:AttributeValue></saml:Attribute>
</saml:AttributeStatement>
</saml:Assertion>"#,
            aid = self.assertion_id,
            now = time::format(self.now),
            issuer = self.issuer,
            rid = self.request_id,
            noa = time::format(self.not_on_or_after),
            acs = self.acs_url,
            aud = self.audience,
            level = self.level,
            cf = self.fiscal_number,
        )
    }

    pub fn signed_assertion(&self, idp: &FakeIdp) -> String {
        let xml = self.assertion_xml();
        match &self.wrong_key {
            None => dsig::sign_enveloped(&xml, &idp.key).unwrap(),
            Some((k, c)) => {
                dsig::sign_enveloped(&xml, &SigningKey::from_pem(k, c).unwrap()).unwrap()
            }
        }
    }

    /// The Response XML around `assertion` (already signed, or not).
    pub fn response_around(&self, assertion: &str, idp: &FakeIdp) -> String {
        let xml = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{aid}" Version="2.0" IssueInstant="{now}" Destination="{acs}" InResponseTo="{rid}"><saml:Issuer{format}>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{assertion}</samlp:Response>"#,
            aid = self.assertion_id,
            now = time::format(self.now),
            acs = self.acs_url,
            rid = self.request_id,
            issuer = self.issuer,
            format = self.format_attribute(),
        );
        if self.sign_response {
            dsig::sign_enveloped(&xml, &idp.key).unwrap()
        } else {
            xml
        }
    }

    /// The whole Response, signed as an IdP signs it.
    pub fn build(&self, idp: &FakeIdp) -> String {
        self.response_around(&self.signed_assertion(idp), idp)
    }
}

/// POSTs a Response to the ACS as the browser would (auto-submitted form from the IdP).
pub async fn post_response(
    browser: &reqwest::Client,
    live: &LiveApp,
    xml: &str,
    relay_state: &str,
) -> reqwest::Response {
    post_response_to(
        browser,
        &format!("{}/spid/acs", live.base),
        xml,
        relay_state,
    )
    .await
}

/// POSTs a Response to the ACS at `acs`.
pub async fn post_response_to(
    browser: &reqwest::Client,
    acs: &str,
    xml: &str,
    relay_state: &str,
) -> reqwest::Response {
    browser
        .post(acs)
        .form(&[
            ("SAMLResponse", STANDARD.encode(xml.as_bytes())),
            ("RelayState", relay_state.to_owned()),
        ])
        .send()
        .await
        .unwrap()
}

/// An IdP-signed HTTP-Redirect message to procura's SLO endpoint.
pub fn idp_redirect(
    idp: &FakeIdp,
    param: dsig::RedirectParam,
    xml: &str,
    relay: Option<&str>,
) -> String {
    dsig::encode_redirect(param, xml, relay, &idp.key).unwrap()
}
