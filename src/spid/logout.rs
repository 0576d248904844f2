//! Single Logout messages (RT `single-logout.rst`, protocols.md §1.7): the LogoutRequest
//! procura sends when a person leaves, the LogoutResponse it answers an IdP's request with,
//! and reading the IdP's messages once their signature has been checked.

use super::dsig::{self, RedirectParam, VerifyingKey};
use super::form::{FormError, PostForm};
use super::idp::IdentityProvider;
use super::registry::IdpRegistry;
use super::xml::{self, XmlError, escape_attr, escape_text};
use super::{ns, time, uri};
use chrono::{DateTime, Duration, Utc};
use roxmltree::Node;
use std::sync::Arc;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogoutError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error(transparent)]
    Signature(#[from] dsig::DsigError),
    #[error(transparent)]
    Form(#[from] FormError),
    #[error("no SAML message")]
    NoMessage,
    #[error("not a {0}")]
    WrongMessage(&'static str),
    #[error("{0} missing")]
    Missing(&'static str),
    #[error("{0} Version is not 2.0")]
    Version(&'static str),
    #[error("{0} is not an xs:dateTime")]
    BadTime(&'static str),
    #[error("the Issuer is not a known identity provider")]
    UnknownIdp,
    #[error("Destination is not this service provider's logout URL")]
    Destination,
    #[error("IssueInstant is outside the clock skew")]
    IssueInstant,
    #[error("NotOnOrAfter has passed")]
    Expired,
    #[error("the status is not a SAML status")]
    Status,
}

impl LogoutError {
    /// A stable identifier of the refusal, for logs.
    pub fn code(&self) -> &'static str {
        match self {
            LogoutError::Xml(XmlError::Limit(..) | XmlError::TooLarge(_)) => "xml_limit",
            LogoutError::Xml(_) => "malformed",
            // Too large or not DEFLATE/base64: the query was unreadable, not badly signed.
            LogoutError::Signature(dsig::DsigError::Xml(_)) => "malformed",
            LogoutError::Signature(_) => "signature",
            LogoutError::Form(_) => "form",
            LogoutError::NoMessage => "no_message",
            LogoutError::WrongMessage(_) => "wrong_message",
            LogoutError::Missing(_) => "missing",
            LogoutError::Version(_) => "version",
            LogoutError::BadTime(_) => "bad_time",
            LogoutError::UnknownIdp => "unknown_idp",
            LogoutError::Destination => "destination",
            LogoutError::IssueInstant => "issue_instant",
            LogoutError::Expired => "expired",
            LogoutError::Status => "status",
        }
    }
}

fn issuer_xml(sp_entity_id: &str) -> String {
    format!(
        "<saml:Issuer Format=\"{}\" NameQualifier=\"{}\">{}</saml:Issuer>",
        uri::NAMEID_ENTITY,
        escape_attr(sp_entity_id),
        escape_text(sp_entity_id)
    )
}

/// The LogoutRequest procura sends to the IdP that authenticated the person.
pub struct LogoutRequest<'a> {
    pub id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub destination: &'a str,
    pub sp_entity_id: &'a str,
    pub name_id: &'a str,
    pub name_qualifier: &'a str,
    pub session_index: Option<&'a str>,
}

impl LogoutRequest<'_> {
    pub fn to_xml(&self) -> String {
        let session_index = self.session_index.map_or_else(String::new, |s| {
            format!(
                "<samlp:SessionIndex>{}</samlp:SessionIndex>",
                escape_text(s)
            )
        });
        format!(
            "<samlp:LogoutRequest xmlns:samlp=\"{samlp}\" xmlns:saml=\"{saml}\" ID=\"{id}\" \
Version=\"2.0\" IssueInstant=\"{instant}\" Destination=\"{dest}\">{issuer}\
<saml:NameID Format=\"{transient}\" NameQualifier=\"{nq}\">{name_id}</saml:NameID>\
{session_index}</samlp:LogoutRequest>",
            samlp = ns::SAMLP,
            saml = ns::SAML,
            id = escape_attr(self.id),
            instant = time::format(self.issue_instant),
            dest = escape_attr(self.destination),
            issuer = issuer_xml(self.sp_entity_id),
            transient = uri::NAMEID_TRANSIENT,
            nq = escape_attr(self.name_qualifier),
            name_id = escape_text(self.name_id),
        )
    }
}

/// The LogoutResponse procura answers an IdP's LogoutRequest with.
pub struct LogoutResponse<'a> {
    pub id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub destination: &'a str,
    pub in_response_to: &'a str,
    pub sp_entity_id: &'a str,
    /// `Success`, or `Requester` when the request could not be read.
    pub status: &'a str,
}

impl LogoutResponse<'_> {
    pub fn to_xml(&self) -> String {
        format!(
            "<samlp:LogoutResponse xmlns:samlp=\"{samlp}\" xmlns:saml=\"{saml}\" ID=\"{id}\" \
Version=\"2.0\" IssueInstant=\"{instant}\" Destination=\"{dest}\" InResponseTo=\"{irt}\">{issuer}\
<samlp:Status><samlp:StatusCode Value=\"{status}\"/></samlp:Status></samlp:LogoutResponse>",
            samlp = ns::SAMLP,
            saml = ns::SAML,
            id = escape_attr(self.id),
            instant = time::format(self.issue_instant),
            dest = escape_attr(self.destination),
            irt = escape_attr(self.in_response_to),
            issuer = issuer_xml(self.sp_entity_id),
            status = escape_attr(self.status),
        )
    }
}

/// An IdP's LogoutRequest, read from signed content only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingLogoutRequest {
    pub id: String,
    pub issuer: String,
    pub name_id: String,
    pub session_index: Option<String>,
    pub destination: String,
    pub issue_instant: DateTime<Utc>,
    pub not_on_or_after: Option<DateTime<Utc>>,
}

/// An IdP's LogoutResponse, read from signed content only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingLogoutResponse {
    pub in_response_to: String,
    pub issuer: String,
    /// The top-level StatusCode.
    pub status: String,
    /// The second-level StatusCode (`PartialLogout`), if any.
    pub sub_status: Option<String>,
    pub destination: String,
    pub issue_instant: DateTime<Utc>,
}

/// How a LogoutResponse says the IdP's logout went (RT `single-logout.rst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutOutcome {
    Success,
    /// `Requester` + `PartialLogout`: some sessions at the IdP's other SPs may remain.
    Partial,
    Failed,
}

impl IncomingLogoutResponse {
    pub fn outcome(&self) -> LogoutOutcome {
        match (self.status.as_str(), self.sub_status.as_deref()) {
            (uri::STATUS_SUCCESS, _) => LogoutOutcome::Success,
            (_, Some(uri::STATUS_PARTIAL_LOGOUT)) => LogoutOutcome::Partial,
            _ => LogoutOutcome::Failed,
        }
    }
}

/// What an IdP's Single Logout message is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    /// procura's SingleLogoutService URL, the only right Destination.
    pub slo_url: &'a str,
    pub now: DateTime<Utc>,
    pub skew: Duration,
}

impl Expectations<'_> {
    fn destination(&self, destination: &str) -> Result<(), LogoutError> {
        if destination == self.slo_url {
            Ok(())
        } else {
            Err(LogoutError::Destination)
        }
    }

    /// Within the skew of now, either way.
    fn recent(&self, at: DateTime<Utc>) -> Result<(), LogoutError> {
        let skew = self.skew.abs();
        if at < self.now - skew || at > self.now + skew {
            return Err(LogoutError::IssueInstant);
        }
        Ok(())
    }
}

impl IncomingLogoutRequest {
    /// Destination is procura's SLO URL, IssueInstant within the skew of now, NotOnOrAfter
    /// (when given) not passed.
    pub fn check(&self, expected: &Expectations<'_>) -> Result<(), LogoutError> {
        expected.destination(&self.destination)?;
        expected.recent(self.issue_instant)?;
        if self
            .not_on_or_after
            .is_some_and(|until| until <= expected.now - expected.skew.abs())
        {
            return Err(LogoutError::Expired);
        }
        Ok(())
    }

    /// Until when its ID must be remembered: after that its IssueInstant is out of the skew,
    /// so the same message is refused anyway.
    pub fn remember_until(&self, skew: Duration) -> DateTime<Utc> {
        self.issue_instant + skew.abs() + Duration::seconds(1)
    }
}

impl IncomingLogoutResponse {
    /// Destination is procura's SLO URL, IssueInstant not in the future beyond the skew (how
    /// old it may be is bounded by the pending logout it answers, which expires).
    pub fn check(&self, expected: &Expectations<'_>) -> Result<(), LogoutError> {
        expected.destination(&self.destination)?;
        if self.issue_instant > expected.now + expected.skew.abs() {
            return Err(LogoutError::IssueInstant);
        }
        Ok(())
    }
}

/// A Single Logout message from an IdP, its signature checked and its fields checked.
#[derive(Debug)]
pub enum FromIdp {
    Request {
        idp: Arc<IdentityProvider>,
        request: IncomingLogoutRequest,
        relay_state: Option<String>,
    },
    Response {
        idp: Arc<IdentityProvider>,
        response: IncomingLogoutResponse,
    },
}

/// A Single Logout message as it arrived.
#[derive(Debug, Clone, Copy)]
pub enum Received<'a> {
    /// HTTP-Redirect: the query string exactly as received.
    Query(&'a str),
    /// HTTP-POST: the form body.
    Form(&'a [u8]),
}

/// Reads an IdP's LogoutRequest or LogoutResponse: the Issuer must be a known IdP whose key
/// signed the message (the query with HTTP-Redirect, the root element with HTTP-POST); only
/// the signed content is read, and it must pass [`IncomingLogoutRequest::check`] or
/// [`IncomingLogoutResponse::check`]. Replay of a LogoutRequest is the caller's to refuse
/// (the database knows the IDs seen).
pub fn receive(
    registry: &IdpRegistry,
    received: Received<'_>,
    limits: &xml::Limits,
    expected: &Expectations<'_>,
) -> Result<FromIdp, LogoutError> {
    let (param, signed, relay_state, idp) = match received {
        Received::Query(raw) => {
            let (_, peeked) = dsig::peek_redirect(raw, limits.max_bytes)?;
            let idp = known_issuer(registry, &xml::parse(&peeked, limits)?)?;
            let message = dsig::decode_redirect(raw, &idp.signing_keys, limits.max_bytes)?;
            // The query signature covers the whole message: it is read as it came.
            (message.param, message.xml, message.relay_state, idp)
        }
        Received::Form(body) => {
            let form = PostForm::parse(body)?;
            let (param, encoded) = form.message().ok_or(LogoutError::NoMessage)?;
            let text = xml::decode_base64(encoded, limits.max_bytes)?;
            let doc = xml::parse(&text, limits)?;
            let idp = known_issuer(registry, &doc)?;
            let verified = dsig::verify_enveloped(doc.root_element(), &idp.signing_keys)?;
            (param, verified.signed_xml, form.relay_state.clone(), idp)
        }
    };
    // The canonical form of a POSTed message may declare namespaces further down.
    let limits = limits.canonical();
    match param {
        RedirectParam::SamlRequest => {
            let request = read_request(&signed, limits)?;
            if request.issuer != idp.entity_id {
                return Err(LogoutError::UnknownIdp);
            }
            request.check(expected)?;
            Ok(FromIdp::Request {
                idp,
                request,
                relay_state,
            })
        }
        RedirectParam::SamlResponse => {
            let response = read_response(&signed, limits)?;
            if response.issuer != idp.entity_id {
                return Err(LogoutError::UnknownIdp);
            }
            response.check(expected)?;
            Ok(FromIdp::Response { idp, response })
        }
    }
}

/// The IdP the message names as its Issuer (not yet trusted: only to pick the keys).
fn known_issuer(
    registry: &IdpRegistry,
    doc: &roxmltree::Document<'_>,
) -> Result<Arc<IdentityProvider>, LogoutError> {
    let issuer = issuer_of(doc.root_element())?;
    registry.find(&issuer).ok_or(LogoutError::UnknownIdp)
}

fn issuer_of(root: Node<'_, '_>) -> Result<String, LogoutError> {
    xml::child(root, ns::SAML, "Issuer")
        .map(xml::text)
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::Missing("Issuer"))
}

/// Who sent a message, before anything is trusted: only used to pick the keys to verify with.
pub fn peek_issuer(text: &str, limits: impl Into<xml::Limits>) -> Result<String, LogoutError> {
    issuer_of(xml::parse(text, limits)?.root_element())
}

/// For the POST binding: verifies the enveloped signature of the root with the IdP's keys
/// and returns the signed content. (The Redirect binding's query signature is checked by
/// `dsig::decode_redirect` and covers the whole message.)
pub fn verified_post(
    text: &str,
    keys: &[VerifyingKey],
    limits: impl Into<xml::Limits>,
) -> Result<String, LogoutError> {
    let doc = xml::parse(text, limits)?;
    Ok(dsig::verify_enveloped(doc.root_element(), keys)?.signed_xml)
}

/// ID, Version, IssueInstant and Destination of a message's root.
fn header(root: Node<'_, '_>, what: &'static str) -> Result<(DateTime<Utc>, String), LogoutError> {
    if root.attribute("Version") != Some("2.0") {
        return Err(LogoutError::Version(what));
    }
    let issue_instant = root
        .attribute("IssueInstant")
        .ok_or(LogoutError::Missing("IssueInstant"))?;
    let issue_instant = time::parse(issue_instant).ok_or(LogoutError::BadTime("IssueInstant"))?;
    let destination = root
        .attribute("Destination")
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::Missing("Destination"))?;
    Ok((issue_instant, destination.to_owned()))
}

/// Reads a LogoutRequest out of signed text.
pub fn read_request(
    signed: &str,
    limits: impl Into<xml::Limits>,
) -> Result<IncomingLogoutRequest, LogoutError> {
    let doc = xml::parse(signed, limits)?;
    let root = doc.root_element();
    if !xml::is(root, ns::SAMLP, "LogoutRequest") {
        return Err(LogoutError::WrongMessage("LogoutRequest"));
    }
    let id = root
        .attribute("ID")
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::Missing("ID"))?;
    let (issue_instant, destination) = header(root, "LogoutRequest")?;
    let not_on_or_after = root
        .attribute("NotOnOrAfter")
        .map(|v| time::parse(v).ok_or(LogoutError::BadTime("NotOnOrAfter")))
        .transpose()?;
    let issuer = issuer_of(root)?;
    let name_id = xml::child(root, ns::SAML, "NameID")
        .map(xml::text)
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::Missing("NameID"))?;
    let session_index = xml::child(root, ns::SAMLP, "SessionIndex")
        .map(xml::text)
        .filter(|s| !s.is_empty());
    Ok(IncomingLogoutRequest {
        id: id.to_owned(),
        issuer,
        name_id,
        session_index,
        destination,
        issue_instant,
        not_on_or_after,
    })
}

/// Reads a LogoutResponse out of signed text.
pub fn read_response(
    signed: &str,
    limits: impl Into<xml::Limits>,
) -> Result<IncomingLogoutResponse, LogoutError> {
    let doc = xml::parse(signed, limits)?;
    let root = doc.root_element();
    if !xml::is(root, ns::SAMLP, "LogoutResponse") {
        return Err(LogoutError::WrongMessage("LogoutResponse"));
    }
    let in_response_to = root
        .attribute("InResponseTo")
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::Missing("InResponseTo"))?;
    let (issue_instant, destination) = header(root, "LogoutResponse")?;
    let issuer = issuer_of(root)?;
    let code = xml::child(root, ns::SAMLP, "Status")
        .and_then(|s| xml::child(s, ns::SAMLP, "StatusCode"))
        .ok_or(LogoutError::Missing("StatusCode"))?;
    let status = code
        .attribute("Value")
        .ok_or(LogoutError::Missing("StatusCode"))?;
    let sub_status = xml::child(code, ns::SAMLP, "StatusCode").and_then(|c| c.attribute("Value"));
    let is_status = |v: &str| v.starts_with("urn:oasis:names:tc:SAML:2.0:status:");
    if !is_status(status) || sub_status.is_some_and(|s| !is_status(s)) {
        return Err(LogoutError::Status);
    }
    Ok(IncomingLogoutResponse {
        in_response_to: in_response_to.to_owned(),
        issuer,
        status: status.to_owned(),
        sub_status: sub_status.map(str::to_owned),
        destination,
        issue_instant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        time::parse("2026-11-30T10:00:00Z").unwrap_or_default()
    }

    #[test]
    fn request_round_trips() -> Result<(), LogoutError> {
        let text = LogoutRequest {
            id: "_l1",
            issue_instant: at(),
            destination: "https://idp.example/slo",
            sp_entity_id: "https://sp.example",
            name_id: "transient-1",
            name_qualifier: "https://idp.example",
            session_index: Some("s1"),
        }
        .to_xml();
        let read = read_request(&text, 1 << 16)?;
        assert_eq!(read.id, "_l1");
        assert_eq!(read.issuer, "https://sp.example");
        assert_eq!(read.name_id, "transient-1");
        assert_eq!(read.session_index.as_deref(), Some("s1"));
        assert_eq!(peek_issuer(&text, 1 << 16)?, "https://sp.example");
        Ok(())
    }

    #[test]
    fn response_round_trips() -> Result<(), LogoutError> {
        let text = LogoutResponse {
            id: "_r1",
            issue_instant: at(),
            destination: "https://idp.example/slo",
            in_response_to: "_l1",
            sp_entity_id: "https://sp.example",
            status: uri::STATUS_SUCCESS,
        }
        .to_xml();
        let read = read_response(&text, 1 << 16)?;
        assert_eq!(read.in_response_to, "_l1");
        assert_eq!(read.status, uri::STATUS_SUCCESS);
        assert_eq!(
            read_request(&text, 1 << 16),
            Err(LogoutError::WrongMessage("LogoutRequest"))
        );
        Ok(())
    }

    fn request_at(instant: &str, extra: &str) -> String {
        format!(
            r#"<samlp:LogoutRequest xmlns:samlp="{}" xmlns:saml="{}" ID="_x" Version="2.0" IssueInstant="{instant}" Destination="https://sp.example/spid/slo"{extra}><saml:Issuer>https://idp.example</saml:Issuer><saml:NameID>n</saml:NameID></samlp:LogoutRequest>"#,
            ns::SAMLP,
            ns::SAML
        )
    }

    fn expectations(slo_url: &str) -> Expectations<'_> {
        Expectations {
            slo_url,
            now: at(),
            skew: Duration::seconds(30),
        }
    }

    #[test]
    fn a_logout_request_is_checked_for_place_and_time() -> Result<(), LogoutError> {
        let here = expectations("https://sp.example/spid/slo");
        let ok = |text: &str| read_request(text, 1 << 16).and_then(|r| r.check(&here));
        assert_eq!(ok(&request_at("2026-11-30T10:00:20Z", "")), Ok(()));
        assert_eq!(ok(&request_at("2026-11-30T09:59:40Z", "")), Ok(()));
        assert_eq!(
            ok(&request_at("2026-11-30T09:59:29Z", "")),
            Err(LogoutError::IssueInstant)
        );
        assert_eq!(
            ok(&request_at("2026-11-30T10:00:31Z", "")),
            Err(LogoutError::IssueInstant)
        );
        assert_eq!(
            ok(&request_at(
                "2026-11-30T10:00:00Z",
                r#" NotOnOrAfter="2026-11-30T09:59:00Z""#
            )),
            Err(LogoutError::Expired)
        );
        assert_eq!(
            ok(&request_at(
                "2026-11-30T10:00:00Z",
                r#" NotOnOrAfter="soon""#
            )),
            Err(LogoutError::BadTime("NotOnOrAfter"))
        );
        let elsewhere = expectations("https://other.example/spid/slo");
        let request = read_request(&request_at("2026-11-30T10:00:00Z", ""), 1 << 16)?;
        assert_eq!(request.check(&elsewhere), Err(LogoutError::Destination));
        assert_eq!(
            request.remember_until(Duration::seconds(30)),
            at() + Duration::seconds(31)
        );
        let old =
            request_at("2026-11-30T10:00:00Z", "").replace("Version=\"2.0\"", "Version=\"1.1\"");
        assert_eq!(
            read_request(&old, 1 << 16),
            Err(LogoutError::Version("LogoutRequest"))
        );
        Ok(())
    }

    #[test]
    fn a_logout_response_status_is_read() -> Result<(), LogoutError> {
        let response = |status: &str| {
            format!(
                r#"<samlp:LogoutResponse xmlns:samlp="{}" xmlns:saml="{}" ID="_r" Version="2.0" IssueInstant="2026-11-30T10:00:00Z" Destination="https://sp.example/spid/slo" InResponseTo="_l"><saml:Issuer>https://idp.example</saml:Issuer><samlp:Status>{status}</samlp:Status></samlp:LogoutResponse>"#,
                ns::SAMLP,
                ns::SAML
            )
        };
        let code = |v: &str, inner: &str| {
            format!(r#"<samlp:StatusCode Value="{v}">{inner}</samlp:StatusCode>"#)
        };
        let partial = code(uri::STATUS_REQUESTER, &code(uri::STATUS_PARTIAL_LOGOUT, ""));
        for (status, outcome) in [
            (code(uri::STATUS_SUCCESS, ""), LogoutOutcome::Success),
            (partial, LogoutOutcome::Partial),
            (code(uri::STATUS_RESPONDER, ""), LogoutOutcome::Failed),
        ] {
            let read = read_response(&response(&status), 1 << 16)?;
            assert_eq!(read.outcome(), outcome);
            assert_eq!(
                read.check(&expectations("https://sp.example/spid/slo")),
                Ok(())
            );
        }
        assert_eq!(
            read_response(&response(&code("fine", "")), 1 << 16),
            Err(LogoutError::Status)
        );
        assert_eq!(
            read_response(&response(""), 1 << 16),
            Err(LogoutError::Missing("StatusCode"))
        );
        let read = read_response(&response(&code(uri::STATUS_SUCCESS, "")), 1 << 16)?;
        assert_eq!(
            read.check(&expectations("https://other.example/spid/slo")),
            Err(LogoutError::Destination)
        );
        let future = Expectations {
            now: at() - Duration::minutes(5),
            ..expectations("https://sp.example/spid/slo")
        };
        assert_eq!(read.check(&future), Err(LogoutError::IssueInstant));
        Ok(())
    }
}
