//! Single Logout messages (RT `single-logout.rst`, protocols.md §1.7): the LogoutRequest
//! procura sends when a person leaves, the LogoutResponse it answers an IdP's request with,
//! and reading the IdP's messages once their signature has been checked.

use super::dsig::{self, VerifyingKey};
use super::xml::{self, XmlError, escape_attr, escape_text};
use super::{ns, time, uri};
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogoutError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error(transparent)]
    Signature(#[from] dsig::DsigError),
    #[error("not a {0}")]
    WrongMessage(&'static str),
    #[error("{0} missing")]
    Missing(&'static str),
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
}

/// An IdP's LogoutResponse, read from signed content only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingLogoutResponse {
    pub in_response_to: String,
    pub issuer: String,
    pub status: String,
}

/// Who sent a message, before anything is trusted: only used to pick the keys to verify with.
pub fn peek_issuer(text: &str, max_bytes: usize) -> Result<String, LogoutError> {
    let doc = xml::parse(text, max_bytes)?;
    xml::child(doc.root_element(), ns::SAML, "Issuer")
        .map(xml::text)
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::Missing("Issuer"))
}

/// For the POST binding: verifies the enveloped signature of the root with the IdP's keys
/// and returns the signed content. (The Redirect binding's query signature is checked by
/// `dsig::decode_redirect` and covers the whole message.)
pub fn verified_post(
    text: &str,
    keys: &[VerifyingKey],
    max_bytes: usize,
) -> Result<String, LogoutError> {
    let doc = xml::parse(text, max_bytes)?;
    Ok(dsig::verify_enveloped(doc.root_element(), keys)?.signed_xml)
}

/// Reads a LogoutRequest out of signed text.
pub fn read_request(signed: &str, max_bytes: usize) -> Result<IncomingLogoutRequest, LogoutError> {
    let doc = xml::parse(signed, max_bytes)?;
    let root = doc.root_element();
    if !xml::is(root, ns::SAMLP, "LogoutRequest") {
        return Err(LogoutError::WrongMessage("LogoutRequest"));
    }
    let id = root
        .attribute("ID")
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::Missing("ID"))?;
    let issuer = xml::child(root, ns::SAML, "Issuer")
        .map(xml::text)
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::Missing("Issuer"))?;
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
    })
}

/// Reads a LogoutResponse out of signed text.
pub fn read_response(
    signed: &str,
    max_bytes: usize,
) -> Result<IncomingLogoutResponse, LogoutError> {
    let doc = xml::parse(signed, max_bytes)?;
    let root = doc.root_element();
    if !xml::is(root, ns::SAMLP, "LogoutResponse") {
        return Err(LogoutError::WrongMessage("LogoutResponse"));
    }
    let in_response_to = root
        .attribute("InResponseTo")
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::Missing("InResponseTo"))?;
    let issuer = xml::child(root, ns::SAML, "Issuer")
        .map(xml::text)
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::Missing("Issuer"))?;
    let status = xml::child(root, ns::SAMLP, "Status")
        .and_then(|s| xml::child(s, ns::SAMLP, "StatusCode"))
        .and_then(|c| c.attribute("Value"))
        .ok_or(LogoutError::Missing("StatusCode"))?;
    Ok(IncomingLogoutResponse {
        in_response_to: in_response_to.to_owned(),
        issuer,
        status: status.to_owned(),
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
}
