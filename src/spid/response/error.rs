//! Why a Response was refused, with a stable code for logs and audit, and the courtesy
//! texts AgID prescribes for the user anomalies an IdP reports (RT `messaggi-errore`).
//!
//! Messages name the element or attribute at fault, never personal data.

use crate::login::Level;
use crate::spid::dsig::DsigError;
use crate::spid::xml::XmlError;

/// Longest status text kept from a refused Response (it comes from outside).
const STATUS_TEXT_LIMIT: usize = 200;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResponseError {
    #[error("response unreadable: {0}")]
    Malformed(#[from] XmlError),
    #[error("not a samlp:Response")]
    NotAResponse,
    /// Several assertions, an assertion out of place, encrypted assertions or Advice: the
    /// shapes signature wrapping needs.
    #[error("response shape refused: {0}")]
    Shape(&'static str),
    /// An element the rules allow once appears several times.
    #[error("{0} appears more than once")]
    Duplicate(&'static str),
    #[error("response signature refused: {0}")]
    ResponseSignature(DsigError),
    #[error("assertion not signed")]
    AssertionUnsigned,
    #[error("assertion signature refused: {0}")]
    AssertionSignature(DsigError),
    /// A required element or attribute is absent or empty.
    #[error("{0} missing or empty")]
    Missing(&'static str),
    #[error("{0} Version is not 2.0")]
    Version(&'static str),
    #[error("{0} is not an xs:dateTime")]
    BadTime(&'static str),
    #[error("{0} is earlier than the request")]
    IssuedBeforeRequest(&'static str),
    #[error("{0} is in the future")]
    IssuedInFuture(&'static str),
    #[error("{0} is in the future")]
    NotYetValid(&'static str),
    #[error("{0} has passed")]
    Expired(&'static str),
    #[error("{0} does not match the request ID")]
    InResponseTo(&'static str),
    #[error("Destination is not this ACS")]
    Destination,
    #[error("Recipient is not this ACS")]
    Recipient,
    #[error("{0} is not the identity provider")]
    Issuer(&'static str),
    #[error("{0} Format refused")]
    IssuerFormat(&'static str),
    #[error("authentication not successful: {status}")]
    Status {
        status: String,
        sub_status: Option<String>,
        message: Option<String>,
    },
    #[error("NameID {0}")]
    NameId(&'static str),
    #[error("SubjectConfirmation Method is not bearer")]
    SubjectConfirmationMethod,
    #[error("Audience is not this service provider")]
    Audience,
    #[error("AuthnContextClassRef is not a SPID level")]
    UnknownLevel,
    #[error("level {got:?} does not satisfy the requested {requested:?}")]
    LevelTooLow { got: Level, requested: Level },
    #[error("attributes refused: {0}")]
    Attributes(&'static str),
    #[error("attribute {0} missing")]
    MissingAttribute(String),
    #[error("attribute {0} malformed")]
    BadAttribute(&'static str),
}

impl ResponseError {
    /// A status error; the texts are cut to a bounded length.
    pub(super) fn status(status: &str, sub_status: Option<&str>, message: Option<&str>) -> Self {
        let bounded = |s: &str| s.chars().take(STATUS_TEXT_LIMIT).collect::<String>();
        ResponseError::Status {
            status: bounded(status),
            sub_status: sub_status.map(bounded),
            message: message.map(bounded),
        }
    }

    /// A stable identifier of the kind of refusal, for logs and the audit trail.
    pub fn code(&self) -> &'static str {
        match self {
            ResponseError::Malformed(XmlError::Limit(..) | XmlError::TooLarge(_)) => "xml_limit",
            ResponseError::Malformed(_) => "malformed",
            ResponseError::NotAResponse => "not_a_response",
            ResponseError::Shape(_) => "shape",
            ResponseError::Duplicate(_) => "duplicate",
            ResponseError::ResponseSignature(_) => "response_signature",
            ResponseError::AssertionUnsigned => "assertion_unsigned",
            ResponseError::AssertionSignature(_) => "assertion_signature",
            ResponseError::Missing(_) => "missing",
            ResponseError::Version(_) => "version",
            ResponseError::BadTime(_) => "bad_time",
            ResponseError::IssuedBeforeRequest(_) => "issued_before_request",
            ResponseError::IssuedInFuture(_) => "issued_in_future",
            ResponseError::NotYetValid(_) => "not_yet_valid",
            ResponseError::Expired(_) => "expired",
            ResponseError::InResponseTo(_) => "in_response_to",
            ResponseError::Destination => "destination",
            ResponseError::Recipient => "recipient",
            ResponseError::Issuer(_) => "issuer",
            ResponseError::IssuerFormat(_) => "issuer_format",
            ResponseError::Status { .. } => "status",
            ResponseError::NameId(_) => "name_id",
            ResponseError::SubjectConfirmationMethod => "subject_confirmation_method",
            ResponseError::Audience => "audience",
            ResponseError::UnknownLevel => "unknown_level",
            ResponseError::LevelTooLow { .. } => "level_too_low",
            ResponseError::Attributes(_) => "attributes",
            ResponseError::MissingAttribute(_) => "missing_attribute",
            ResponseError::BadAttribute(_) => "bad_attribute",
        }
    }

    /// The SPID user-anomaly code (19–30) of a non-Success Response whose StatusMessage is
    /// `ErrorCode nrNN`.
    pub fn spid_error_code(&self) -> Option<u8> {
        match self {
            ResponseError::Status {
                message: Some(message),
                ..
            } => parse_error_code(message),
            _ => None,
        }
    }
}

/// `ErrorCode nr19` → 19; only the user anomalies 19–30 (nr01–18 are IdP and request faults,
/// shown generically).
fn parse_error_code(message: &str) -> Option<u8> {
    let digits = message.trim().strip_prefix("ErrorCode nr")?;
    if digits.len() != 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| (19..=30).contains(n))
}

/// The message AgID prescribes for the courtesy page of a user anomaly (RT
/// `messaggi-errore`, anomalie utente); `None` for the codes that get a generic page.
pub fn courtesy_message_it(code: u8) -> Option<&'static str> {
    Some(match code {
        19 => {
            "Autenticazione fallita per ripetuta sottomissione di credenziali errate \
             (superato numero tentativi secondo le policy adottate)"
        }
        20 => {
            "Utente privo di credenziali compatibili con il livello richiesto dal fornitore del servizio"
        }
        21 => "Timeout durante l'autenticazione utente",
        22 => "Utente nega il consenso all'invio di dati al SP in caso di sessione vigente",
        23 => "Utente con identità sospesa/revocata o con credenziali bloccate",
        25 => "Processo di autenticazione annullato dall'utente",
        30 => "L'identità digitale utilizzata non è un'identità digitale del tipo atteso",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_from_status_messages() {
        let with = |m: &str| ResponseError::status("urn:x:Responder", None, Some(m));
        assert_eq!(with("ErrorCode nr19").spid_error_code(), Some(19));
        assert_eq!(with(" ErrorCode nr25 ").spid_error_code(), Some(25));
        assert_eq!(with("ErrorCode nr30").spid_error_code(), Some(30));
        assert_eq!(with("ErrorCode nr08").spid_error_code(), None);
        assert_eq!(with("ErrorCode nr31").spid_error_code(), None);
        assert_eq!(with("ErrorCode nr2").spid_error_code(), None);
        assert_eq!(with("ErrorCode nr+5").spid_error_code(), None);
        assert_eq!(with("Errore").spid_error_code(), None);
        assert_eq!(ResponseError::Destination.spid_error_code(), None);
    }

    #[test]
    fn courtesy_messages_for_user_anomalies_only() {
        for code in [19, 20, 21, 22, 23, 25, 30] {
            assert!(courtesy_message_it(code).is_some(), "{code}");
        }
        for code in [1, 18, 24, 26, 29, 31] {
            assert_eq!(courtesy_message_it(code), None, "{code}");
        }
        assert_eq!(
            courtesy_message_it(25),
            Some("Processo di autenticazione annullato dall'utente")
        );
    }

    #[test]
    fn status_texts_are_bounded() {
        let long = "x".repeat(10_000);
        let ResponseError::Status {
            status, message, ..
        } = ResponseError::status(&long, None, Some(&long))
        else {
            panic!("not a status error");
        };
        assert_eq!(status.len(), STATUS_TEXT_LIMIT);
        assert_eq!(message.map(|m| m.len()), Some(STATUS_TEXT_LIMIT));
    }
}
