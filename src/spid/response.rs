//! Every check procura makes on a SAML Response from a SPID identity provider
//! (protocols.md §1.5; the 111 response cases of spid-sp-test).
//!
//! Pure and synchronous: the caller runs it on the blocking pool, first [`in_response_to`]
//! (an untrusted peek) to load the stored AuthnRequest, then [`validate`] with what that
//! request fixed, and afterwards the database parts (consume the request, replay cache).
//!
//! Order of work, so that nothing unsigned is ever believed:
//! 1. the document's shape: at most one `saml:Assertion` anywhere, and it is a direct child
//!    of the Response; no `EncryptedAssertion`, no `Advice` (the shapes XSW needs);
//! 2. a Response signature, if present, must verify with the IdP's metadata keys; the
//!    Response-level checks then read the re-parsed signed form;
//! 3. Response-level checks (ID, Version, IssueInstant, InResponseTo, Destination, Issuer),
//!    then Status: a non-Success status is refused here, with its `ErrorCode nrNN`;
//! 4. the Assertion signature is mandatory; every assertion check reads only the assertion
//!    re-parsed from its own verified canonical form.

mod attributes;
mod error;
mod fields;
#[cfg(test)]
pub(crate) mod test_keys;
#[cfg(test)]
mod tests;

pub use error::{ResponseError, courtesy_message_it};

use crate::login::Level;
use crate::spid::{dsig, ns, uri, xml};
use chrono::{DateTime, NaiveDate, Utc};
use fields::{Clock, instant, required, single, text};
use roxmltree::{Document, Node};
use std::fmt;

/// The `Comparison` of the request's RequestedAuthnContext. procura always sends `minimum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Exact,
    Minimum,
    Better,
    Maximum,
}

impl Comparison {
    /// Whether an assertion at `got` answers a request for `requested`. A higher level is
    /// always accepted, whatever the comparison (RT single-sign-on: using a higher level
    /// "non deve comportare un esito negativo"; protocols.md §0.4); a lower one only under
    /// `maximum`.
    pub fn accepts(self, got: Level, requested: Level) -> bool {
        match self {
            Comparison::Exact | Comparison::Minimum => got.rank() >= requested.rank(),
            Comparison::Better => got.rank() > requested.rank(),
            Comparison::Maximum => true,
        }
    }
}

/// What the caller knows from the stored AuthnRequest, and its settings.
pub struct Expected<'a> {
    pub request_id: &'a str,
    pub request_issue_instant: DateTime<Utc>,
    pub idp_entity_id: &'a str,
    /// Signing keys from the IdP's metadata (all of them, for key rotation).
    pub idp_keys: &'a [dsig::VerifyingKey],
    /// The URL the Response arrived at (the request's ACS).
    pub acs_url: &'a str,
    pub sp_entity_id: &'a str,
    /// SpidL1, SpidL2 or SpidL3.
    pub requested_level: Level,
    pub comparison: Comparison,
    /// Whether the Assertion's Issuer must carry `Format` (SPID yes, CIE no:
    /// [`crate::spid::profile::Profile::assertion_issuer_format_required`]).
    pub assertion_issuer_format_required: bool,
    /// Attributes without which the login is refused (`fiscalNumber` always is).
    pub required_attributes: &'a [&'a str],
    pub now: DateTime<Utc>,
    pub skew: chrono::Duration,
    /// What the decoded Response may be: its size and shape (`xml::Limits::for_messages`).
    pub limits: xml::Limits,
}

/// A verified SPID login.
#[derive(Clone, PartialEq, Eq)]
pub struct SpidLogin {
    pub level: Level,
    /// `fiscalNumber` without `TINIT-`, upper-case (checksum not verified here).
    pub codice_fiscale: String,
    pub fiscal_number_raw: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub email: Option<String>,
    pub mobile_phone: Option<String>,
    /// `digitalAddress`.
    pub pec: Option<String>,
    /// Every attribute value, in document order.
    pub attributes: Vec<(String, String)>,
    /// The transient NameID and its NameQualifier, kept for Single Logout.
    pub name_id: String,
    pub name_qualifier: String,
    pub session_index: Option<String>,
    pub assertion_id: String,
    /// The earliest of the assertion's NotOnOrAfter (SubjectConfirmationData, Conditions):
    /// it is accepted until this instant + skew, so the replay cache keeps its ID that long.
    pub assertion_not_on_or_after: DateTime<Utc>,
    pub response_id: String,
}

impl fmt::Debug for SpidLogin {
    // Personal data stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpidLogin")
            .field("level", &self.level)
            .field("assertion_id", &self.assertion_id)
            .field("response_id", &self.response_id)
            .finish_non_exhaustive()
    }
}

/// The Response's `InResponseTo`, read WITHOUT any verification: only to find the stored
/// request whose data [`validate`] then checks everything against.
pub fn in_response_to(
    saml_response_b64: &str,
    limits: impl Into<xml::Limits>,
) -> Result<String, ResponseError> {
    let limits = limits.into();
    let text = xml::decode_base64(saml_response_b64, limits.max_bytes)?;
    let doc = xml::parse(&text, limits)?;
    let root = doc.root_element();
    if !xml::is(root, ns::SAMLP, "Response") {
        return Err(ResponseError::NotAResponse);
    }
    Ok(required(root, "InResponseTo", "Response InResponseTo")?.to_owned())
}

/// Validates a base64 `SAMLResponse` against the request it answers.
pub fn validate(
    saml_response_b64: &str,
    expected: &Expected<'_>,
) -> Result<SpidLogin, ResponseError> {
    let clock = Clock {
        now: expected.now,
        skew: expected.skew,
        request_issued: expected.request_issue_instant,
    };
    let text = xml::decode_base64(saml_response_b64, expected.limits.max_bytes)?;
    let doc = xml::parse(&text, expected.limits)?;
    let root = doc.root_element();
    if !xml::is(root, ns::SAMLP, "Response") {
        return Err(ResponseError::NotAResponse);
    }
    let assertion = check_shape(root)?;

    let signed_response = if dsig::has_signature(root) {
        let verified = dsig::verify_enveloped(root, expected.idp_keys)
            .map_err(ResponseError::ResponseSignature)?;
        Some(verified.signed_xml)
    } else {
        None
    };
    let signed_doc = signed_response
        .as_deref()
        .map(|t| xml::parse(t, expected.limits.canonical()))
        .transpose()?;
    let response = match &signed_doc {
        Some(d) => {
            let signed_root = d.root_element();
            // What was signed must have the same shape as what arrived.
            if !xml::is(signed_root, ns::SAMLP, "Response") {
                return Err(ResponseError::NotAResponse);
            }
            check_shape(signed_root)?;
            signed_root
        }
        None => root,
    };
    let response_id = check_response(response, expected, &clock)?;
    check_status(response)?;

    let assertion = assertion.ok_or(ResponseError::Missing("Assertion"))?;
    if !dsig::has_signature(assertion) {
        return Err(ResponseError::AssertionUnsigned);
    }
    let verified = dsig::verify_enveloped(assertion, expected.idp_keys)
        .map_err(ResponseError::AssertionSignature)?;
    let assertion_doc = xml::parse(&verified.signed_xml, expected.limits.canonical())?;
    let checked = check_assertion(&assertion_doc, expected, &clock)?;
    let mapped = attributes::read(assertion_doc.root_element(), expected.required_attributes)?;

    Ok(SpidLogin {
        level: checked.level,
        codice_fiscale: mapped.codice_fiscale,
        fiscal_number_raw: mapped.fiscal_number_raw,
        given_name: mapped.given_name,
        family_name: mapped.family_name,
        date_of_birth: mapped.date_of_birth,
        email: mapped.email,
        mobile_phone: mapped.mobile_phone,
        pec: mapped.pec,
        attributes: mapped.all,
        name_id: checked.name_id,
        name_qualifier: checked.name_qualifier,
        session_index: checked.session_index,
        assertion_id: checked.assertion_id,
        assertion_not_on_or_after: checked.not_on_or_after,
        response_id,
    })
}

/// At most one `saml:Assertion` in the whole document, a direct child of the Response; no
/// encrypted assertion, no Advice anywhere. Returns the assertion, if any.
fn check_shape<'a, 'i>(root: Node<'a, 'i>) -> Result<Option<Node<'a, 'i>>, ResponseError> {
    if xml::descendants(root, ns::SAML, "EncryptedAssertion")
        .next()
        .is_some()
    {
        return Err(ResponseError::Shape("EncryptedAssertion"));
    }
    if xml::descendants(root, ns::SAML, "Advice").next().is_some() {
        return Err(ResponseError::Shape("Advice"));
    }
    let mut assertions = xml::descendants(root, ns::SAML, "Assertion");
    let assertion = assertions.next();
    if assertions.next().is_some() {
        return Err(ResponseError::Shape("more than one Assertion"));
    }
    match assertion {
        Some(a) if a.parent_element() != Some(root) => Err(ResponseError::Shape(
            "Assertion not a child of the Response",
        )),
        other => Ok(other),
    }
}

/// The Response's own attributes and Issuer. Returns its ID.
fn check_response(
    response: Node<'_, '_>,
    expected: &Expected<'_>,
    clock: &Clock,
) -> Result<String, ResponseError> {
    let id = required(response, "ID", "Response ID")?;
    if response.attribute("Version") != Some("2.0") {
        return Err(ResponseError::Version("Response"));
    }
    let issued = instant(response, "IssueInstant", "Response IssueInstant")?;
    clock.issued(issued, "Response IssueInstant")?;
    if required(response, "InResponseTo", "Response InResponseTo")? != expected.request_id {
        return Err(ResponseError::InResponseTo("Response InResponseTo"));
    }
    if required(response, "Destination", "Response Destination")? != expected.acs_url {
        return Err(ResponseError::Destination);
    }
    let issuer = single(response, ns::SAML, "Issuer", "Response Issuer")?;
    if text(issuer, "Response Issuer")? != expected.idp_entity_id {
        return Err(ResponseError::Issuer("Response Issuer"));
    }
    // Optional on the Response; if present it must say "entity" (cases 30, 31).
    if issuer
        .attribute("Format")
        .is_some_and(|f| f != uri::NAMEID_ENTITY)
    {
        return Err(ResponseError::IssuerFormat("Response Issuer"));
    }
    Ok(id.to_owned())
}

/// Success, or the refusal carrying the IdP's status (and `ErrorCode nrNN`).
fn check_status(response: Node<'_, '_>) -> Result<(), ResponseError> {
    let status = single(response, ns::SAMLP, "Status", "Status")?;
    let code = single(status, ns::SAMLP, "StatusCode", "StatusCode")?;
    let value = required(code, "Value", "StatusCode Value")?;
    if value == uri::STATUS_SUCCESS {
        return Ok(());
    }
    let sub_status = xml::child(code, ns::SAMLP, "StatusCode").and_then(|s| s.attribute("Value"));
    let message = xml::child(status, ns::SAMLP, "StatusMessage").map(xml::text);
    Err(ResponseError::status(value, sub_status, message.as_deref()))
}

/// What the assertion checks keep.
struct CheckedAssertion {
    level: Level,
    assertion_id: String,
    name_id: String,
    name_qualifier: String,
    session_index: Option<String>,
    not_on_or_after: DateTime<Utc>,
}

/// Every check on the verified assertion, in the order of the RT list (attributes apart).
fn check_assertion(
    doc: &Document<'_>,
    expected: &Expected<'_>,
    clock: &Clock,
) -> Result<CheckedAssertion, ResponseError> {
    let assertion = doc.root_element();
    if !xml::is(assertion, ns::SAML, "Assertion") {
        return Err(ResponseError::Missing("Assertion"));
    }
    // The whole document was checked already; this is the tree we read, so check it too.
    let wrapped = assertion.descendants().skip(1).any(|n| {
        ["Assertion", "EncryptedAssertion", "Advice"]
            .into_iter()
            .any(|local| xml::is(n, ns::SAML, local))
    });
    if wrapped {
        return Err(ResponseError::Shape("nested assertion or Advice"));
    }
    let assertion_id = required(assertion, "ID", "Assertion ID")?.to_owned();
    if assertion.attribute("Version") != Some("2.0") {
        return Err(ResponseError::Version("Assertion"));
    }
    let issued = instant(assertion, "IssueInstant", "Assertion IssueInstant")?;
    clock.issued(issued, "Assertion IssueInstant")?;

    let issuer = single(assertion, ns::SAML, "Issuer", "Assertion Issuer")?;
    if text(issuer, "Assertion Issuer")? != expected.idp_entity_id {
        return Err(ResponseError::Issuer("Assertion Issuer"));
    }
    // Mandatory on a SPID Assertion (cases 70–72); the CIE IdP leaves it out, but when present
    // it must say "entity" there too.
    let format = if expected.assertion_issuer_format_required {
        Some(required(issuer, "Format", "Assertion Issuer Format")?)
    } else {
        issuer.attribute("Format")
    };
    if format.is_some_and(|f| f != uri::NAMEID_ENTITY) {
        return Err(ResponseError::IssuerFormat("Assertion Issuer"));
    }

    let subject = single(assertion, ns::SAML, "Subject", "Subject")?;
    let name_id = single(subject, ns::SAML, "NameID", "NameID")?;
    if required(name_id, "Format", "NameID Format")? != uri::NAMEID_TRANSIENT {
        return Err(ResponseError::NameId("Format is not transient"));
    }
    let name_qualifier = required(name_id, "NameQualifier", "NameID NameQualifier")?.to_owned();
    let name_id_value = text(name_id, "NameID")?;

    let confirmation = single(
        subject,
        ns::SAML,
        "SubjectConfirmation",
        "SubjectConfirmation",
    )?;
    if required(confirmation, "Method", "SubjectConfirmation Method")? != uri::CM_BEARER {
        return Err(ResponseError::SubjectConfirmationMethod);
    }
    let data = single(
        confirmation,
        ns::SAML,
        "SubjectConfirmationData",
        "SubjectConfirmationData",
    )?;
    if required(data, "Recipient", "SubjectConfirmationData Recipient")? != expected.acs_url {
        return Err(ResponseError::Recipient);
    }
    if required(data, "InResponseTo", "SubjectConfirmationData InResponseTo")?
        != expected.request_id
    {
        return Err(ResponseError::InResponseTo(
            "SubjectConfirmationData InResponseTo",
        ));
    }
    let confirmation_until = instant(data, "NotOnOrAfter", "SubjectConfirmationData NotOnOrAfter")?;
    clock.unexpired(confirmation_until, "SubjectConfirmationData NotOnOrAfter")?;
    if data.attribute("NotBefore").is_some() {
        let from = instant(data, "NotBefore", "SubjectConfirmationData NotBefore")?;
        clock.reached(from, "SubjectConfirmationData NotBefore")?;
    }

    let conditions = single(assertion, ns::SAML, "Conditions", "Conditions")?;
    let valid_from = instant(conditions, "NotBefore", "Conditions NotBefore")?;
    clock.reached(valid_from, "Conditions NotBefore")?;
    let valid_until = instant(conditions, "NotOnOrAfter", "Conditions NotOnOrAfter")?;
    clock.unexpired(valid_until, "Conditions NotOnOrAfter")?;
    check_audience(conditions, expected.sp_entity_id)?;

    let statement = single(assertion, ns::SAML, "AuthnStatement", "AuthnStatement")?;
    let context = single(statement, ns::SAML, "AuthnContext", "AuthnContext")?;
    let class_ref = single(
        context,
        ns::SAML,
        "AuthnContextClassRef",
        "AuthnContextClassRef",
    )?;
    let level =
        spid_level(&text(class_ref, "AuthnContextClassRef")?).ok_or(ResponseError::UnknownLevel)?;
    if !expected.comparison.accepts(level, expected.requested_level) {
        return Err(ResponseError::LevelTooLow {
            got: level,
            requested: expected.requested_level,
        });
    }
    // Present only for L1 (RT), so never required.
    let session_index = statement
        .attribute("SessionIndex")
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned);

    Ok(CheckedAssertion {
        level,
        assertion_id,
        name_id: name_id_value,
        name_qualifier,
        session_index,
        not_on_or_after: confirmation_until.min(valid_until),
    })
}

/// At least one AudienceRestriction, and each names this SP (SAML core 2.5.1.4: all
/// restrictions must hold, any Audience within one satisfies it).
fn check_audience(conditions: Node<'_, '_>, sp_entity_id: &str) -> Result<(), ResponseError> {
    let mut restrictions = 0usize;
    for restriction in xml::children(conditions, ns::SAML, "AudienceRestriction") {
        restrictions += 1;
        let audiences: Vec<String> = xml::children(restriction, ns::SAML, "Audience")
            .map(xml::text)
            .collect();
        if audiences.iter().all(String::is_empty) {
            return Err(ResponseError::Missing("Audience"));
        }
        if !audiences.iter().any(|a| a == sp_entity_id) {
            return Err(ResponseError::Audience);
        }
    }
    if restrictions == 0 {
        return Err(ResponseError::Missing("AudienceRestriction"));
    }
    Ok(())
}

/// Only the three AgID URIs (the legacy `urn:oasis:…:SpidL1` is refused, case 97).
fn spid_level(class_ref: &str) -> Option<Level> {
    [Level::SpidL1, Level::SpidL2, Level::SpidL3]
        .into_iter()
        .find(|l| l.uri() == class_ref)
}
