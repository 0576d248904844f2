//! `ApiError`: every error of the REST API, rendered as RFC 9457 `application/problem+json`
//! with a stable `type` URI per kind (each listed in openapi.yaml).
//!
//! A 5xx tells the caller nothing beyond its kind; the cause is logged with the request id.

use crate::db::DbError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

pub const PROBLEM_JSON: &str = "application/problem+json";
const TYPE_BASE: &str = "https://procura.inps.it/problems/";

/// The kinds of problem, each with a stable `type` URI, a status and a title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    MalformedJson,
    UnsupportedMediaType,
    PayloadTooLarge,
    RequestTimeout,
    InvalidPath,
    InvalidQuery,
    ValidationFailed,
    InvalidCodiceFiscale,
    Unauthorized,
    InsufficientAuthentication,
    Forbidden,
    NotFound,
    Conflict,
    MethodNotAllowed,
    NotReady,
    ServiceUnavailable,
    Internal,
    // PIN issuance
    PinThirdParty,
    PinNotEligible,
    PinRepresentationInvalid,
    PinAlreadyActive,
    PinRequestPending,
    PersonNotInRegistry,
    PinRequestNotQueued,
    PinRequestClaimed,
    PinRequestNotClaimed,
    DocumentMissing,
    DocumentRejected,
    TooManyRequests,
    MalformedMultipart,
    // Delegations
    DelegationSelf,
    DelegationDelegateMinor,
    DelegationMinorNeedsParent,
    DelegationNotAMinor,
    DelegationRepresentationByOperator,
    DelegationChannelNotForKind,
    DelegationNotFamily,
    DelegationDecreeMissing,
    DelegationEndInPast,
    DelegationEndBeforeMinimum,
    DelegationWithinMinimum,
    DelegationRepresentationEndsByOperator,
    DelegationFiduciaExists,
    DelegationDelegateLimit,
    DelegationNameMismatch,
    DelegationNotActive,
    DelegationNotPending,
    DelegationSameOperator,
    DelegationLoginLevel,
    // Bookings and the web meeting
    BookingDeskInactive,
    BookingGuestNotAllowed,
    BookingNotASlot,
    BookingSlotPast,
    BookingBeyondHorizon,
    BookingDayClosed,
    BookingSlotFull,
    BookingDeskTypeLimit,
    BookingOpenLimit,
    BookingHoldExpired,
    BookingNotHeld,
    BookingNotCancellable,
    WebMeetingNotWebMeeting,
    WebMeetingNotConfirmed,
    WebMeetingTooEarly,
    WebMeetingClosed,
    WebMeetingTakenByAnother,
    WebMeetingNotTaken,
    WebMeetingEnded,
    WebMeetingDocumentExpired,
    WebMeetingIncomplete,
    DelegationConsentMissing,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 71] = [
        ProblemKind::MalformedJson,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::PayloadTooLarge,
        ProblemKind::RequestTimeout,
        ProblemKind::InvalidPath,
        ProblemKind::InvalidQuery,
        ProblemKind::ValidationFailed,
        ProblemKind::InvalidCodiceFiscale,
        ProblemKind::Unauthorized,
        ProblemKind::InsufficientAuthentication,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::Conflict,
        ProblemKind::MethodNotAllowed,
        ProblemKind::NotReady,
        ProblemKind::ServiceUnavailable,
        ProblemKind::Internal,
        ProblemKind::PinThirdParty,
        ProblemKind::PinNotEligible,
        ProblemKind::PinRepresentationInvalid,
        ProblemKind::PinAlreadyActive,
        ProblemKind::PinRequestPending,
        ProblemKind::PersonNotInRegistry,
        ProblemKind::PinRequestNotQueued,
        ProblemKind::PinRequestClaimed,
        ProblemKind::PinRequestNotClaimed,
        ProblemKind::DocumentMissing,
        ProblemKind::DocumentRejected,
        ProblemKind::TooManyRequests,
        ProblemKind::MalformedMultipart,
        ProblemKind::DelegationSelf,
        ProblemKind::DelegationDelegateMinor,
        ProblemKind::DelegationMinorNeedsParent,
        ProblemKind::DelegationNotAMinor,
        ProblemKind::DelegationRepresentationByOperator,
        ProblemKind::DelegationChannelNotForKind,
        ProblemKind::DelegationNotFamily,
        ProblemKind::DelegationDecreeMissing,
        ProblemKind::DelegationEndInPast,
        ProblemKind::DelegationEndBeforeMinimum,
        ProblemKind::DelegationWithinMinimum,
        ProblemKind::DelegationRepresentationEndsByOperator,
        ProblemKind::DelegationFiduciaExists,
        ProblemKind::DelegationDelegateLimit,
        ProblemKind::DelegationNameMismatch,
        ProblemKind::DelegationNotActive,
        ProblemKind::DelegationNotPending,
        ProblemKind::DelegationSameOperator,
        ProblemKind::DelegationLoginLevel,
        ProblemKind::BookingDeskInactive,
        ProblemKind::BookingGuestNotAllowed,
        ProblemKind::BookingNotASlot,
        ProblemKind::BookingSlotPast,
        ProblemKind::BookingBeyondHorizon,
        ProblemKind::BookingDayClosed,
        ProblemKind::BookingSlotFull,
        ProblemKind::BookingDeskTypeLimit,
        ProblemKind::BookingOpenLimit,
        ProblemKind::BookingHoldExpired,
        ProblemKind::BookingNotHeld,
        ProblemKind::BookingNotCancellable,
        ProblemKind::WebMeetingNotWebMeeting,
        ProblemKind::WebMeetingNotConfirmed,
        ProblemKind::WebMeetingTooEarly,
        ProblemKind::WebMeetingClosed,
        ProblemKind::WebMeetingTakenByAnother,
        ProblemKind::WebMeetingNotTaken,
        ProblemKind::WebMeetingEnded,
        ProblemKind::WebMeetingDocumentExpired,
        ProblemKind::WebMeetingIncomplete,
        ProblemKind::DelegationConsentMissing,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "malformed-json",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::RequestTimeout => "request-timeout",
            ProblemKind::InvalidPath => "invalid-path",
            ProblemKind::InvalidQuery => "invalid-query",
            ProblemKind::ValidationFailed => "validation-failed",
            ProblemKind::InvalidCodiceFiscale => "invalid-codice-fiscale",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::InsufficientAuthentication => "insufficient-authentication",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::Conflict => "conflict",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::NotReady => "not-ready",
            ProblemKind::ServiceUnavailable => "service-unavailable",
            ProblemKind::Internal => "internal",
            ProblemKind::PinThirdParty => "pin-third-party",
            ProblemKind::PinNotEligible => "pin-not-eligible",
            ProblemKind::PinRepresentationInvalid => "pin-representation-invalid",
            ProblemKind::PinAlreadyActive => "pin-already-active",
            ProblemKind::PinRequestPending => "pin-request-pending",
            ProblemKind::PersonNotInRegistry => "person-not-in-registry",
            ProblemKind::PinRequestNotQueued => "pin-request-not-queued",
            ProblemKind::PinRequestClaimed => "pin-request-claimed",
            ProblemKind::PinRequestNotClaimed => "pin-request-not-claimed",
            ProblemKind::DocumentMissing => "document-missing",
            ProblemKind::DocumentRejected => "document-rejected",
            ProblemKind::TooManyRequests => "too-many-requests",
            ProblemKind::MalformedMultipart => "malformed-multipart",
            ProblemKind::DelegationSelf => "delegation-self",
            ProblemKind::DelegationDelegateMinor => "delegation-delegate-minor",
            ProblemKind::DelegationMinorNeedsParent => "delegation-minor-needs-parent",
            ProblemKind::DelegationNotAMinor => "delegation-not-a-minor",
            ProblemKind::DelegationRepresentationByOperator => {
                "delegation-representation-by-operator"
            }
            ProblemKind::DelegationChannelNotForKind => "delegation-channel-not-for-kind",
            ProblemKind::DelegationNotFamily => "delegation-not-family",
            ProblemKind::DelegationDecreeMissing => "delegation-decree-missing",
            ProblemKind::DelegationEndInPast => "delegation-end-in-past",
            ProblemKind::DelegationEndBeforeMinimum => "delegation-end-before-minimum",
            ProblemKind::DelegationWithinMinimum => "delegation-within-minimum",
            ProblemKind::DelegationRepresentationEndsByOperator => {
                "delegation-representation-ends-by-operator"
            }
            ProblemKind::DelegationFiduciaExists => "delegation-fiducia-exists",
            ProblemKind::DelegationDelegateLimit => "delegation-delegate-limit",
            ProblemKind::DelegationNameMismatch => "delegation-name-mismatch",
            ProblemKind::DelegationNotActive => "delegation-not-active",
            ProblemKind::DelegationNotPending => "delegation-not-pending",
            ProblemKind::DelegationSameOperator => "delegation-same-operator",
            ProblemKind::DelegationLoginLevel => "delegation-login-level",
            ProblemKind::BookingDeskInactive => "booking-desk-inactive",
            ProblemKind::BookingGuestNotAllowed => "booking-guest-not-allowed",
            ProblemKind::BookingNotASlot => "booking-not-a-slot",
            ProblemKind::BookingSlotPast => "booking-slot-past",
            ProblemKind::BookingBeyondHorizon => "booking-beyond-horizon",
            ProblemKind::BookingDayClosed => "booking-day-closed",
            ProblemKind::BookingSlotFull => "booking-slot-full",
            ProblemKind::BookingDeskTypeLimit => "booking-desk-type-limit",
            ProblemKind::BookingOpenLimit => "booking-open-limit",
            ProblemKind::BookingHoldExpired => "booking-hold-expired",
            ProblemKind::BookingNotHeld => "booking-not-held",
            ProblemKind::BookingNotCancellable => "booking-not-cancellable",
            ProblemKind::WebMeetingNotWebMeeting => "webmeeting-not-web-meeting",
            ProblemKind::WebMeetingNotConfirmed => "webmeeting-not-confirmed",
            ProblemKind::WebMeetingTooEarly => "webmeeting-too-early",
            ProblemKind::WebMeetingClosed => "webmeeting-closed",
            ProblemKind::WebMeetingTakenByAnother => "webmeeting-taken-by-another",
            ProblemKind::WebMeetingNotTaken => "webmeeting-not-taken",
            ProblemKind::WebMeetingEnded => "webmeeting-ended",
            ProblemKind::WebMeetingDocumentExpired => "webmeeting-document-expired",
            ProblemKind::WebMeetingIncomplete => "webmeeting-incomplete",
            ProblemKind::DelegationConsentMissing => "delegation-consent-missing",
        }
    }

    pub fn type_uri(self) -> String {
        format!("{TYPE_BASE}{}", self.slug())
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::MalformedJson | ProblemKind::InvalidPath | ProblemKind::InvalidQuery => {
                StatusCode::BAD_REQUEST
            }
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ProblemKind::ValidationFailed | ProblemKind::InvalidCodiceFiscale => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ProblemKind::Unauthorized | ProblemKind::InsufficientAuthentication => {
                StatusCode::UNAUTHORIZED
            }
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::NotReady | ProblemKind::ServiceUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemKind::PinThirdParty => StatusCode::FORBIDDEN,
            ProblemKind::PinNotEligible => StatusCode::FORBIDDEN,
            ProblemKind::PinRepresentationInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::PinAlreadyActive => StatusCode::CONFLICT,
            ProblemKind::PinRequestPending => StatusCode::CONFLICT,
            ProblemKind::PersonNotInRegistry => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::PinRequestNotQueued => StatusCode::CONFLICT,
            ProblemKind::PinRequestClaimed => StatusCode::CONFLICT,
            ProblemKind::PinRequestNotClaimed => StatusCode::CONFLICT,
            ProblemKind::DocumentMissing => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::DocumentRejected => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ProblemKind::MalformedMultipart => StatusCode::BAD_REQUEST,
            ProblemKind::DelegationSelf => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::DelegationDelegateMinor => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::DelegationMinorNeedsParent => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::DelegationNotAMinor => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::DelegationRepresentationByOperator => StatusCode::FORBIDDEN,
            ProblemKind::DelegationChannelNotForKind => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::DelegationNotFamily => StatusCode::FORBIDDEN,
            ProblemKind::DelegationDecreeMissing => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::DelegationEndInPast => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::DelegationEndBeforeMinimum => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::DelegationWithinMinimum => StatusCode::CONFLICT,
            ProblemKind::DelegationRepresentationEndsByOperator => StatusCode::FORBIDDEN,
            ProblemKind::DelegationFiduciaExists => StatusCode::CONFLICT,
            ProblemKind::DelegationDelegateLimit => StatusCode::CONFLICT,
            ProblemKind::DelegationNameMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::DelegationNotActive => StatusCode::CONFLICT,
            ProblemKind::DelegationNotPending => StatusCode::CONFLICT,
            ProblemKind::DelegationSameOperator => StatusCode::CONFLICT,
            ProblemKind::DelegationLoginLevel => StatusCode::FORBIDDEN,
            ProblemKind::BookingDeskInactive => StatusCode::CONFLICT,
            ProblemKind::BookingGuestNotAllowed => StatusCode::FORBIDDEN,
            ProblemKind::BookingNotASlot => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::BookingSlotPast => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::BookingBeyondHorizon => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::BookingDayClosed => StatusCode::CONFLICT,
            ProblemKind::BookingSlotFull => StatusCode::CONFLICT,
            ProblemKind::BookingDeskTypeLimit => StatusCode::CONFLICT,
            ProblemKind::BookingOpenLimit => StatusCode::CONFLICT,
            ProblemKind::BookingHoldExpired => StatusCode::CONFLICT,
            ProblemKind::BookingNotHeld => StatusCode::CONFLICT,
            ProblemKind::BookingNotCancellable => StatusCode::CONFLICT,
            ProblemKind::WebMeetingNotWebMeeting => StatusCode::CONFLICT,
            ProblemKind::WebMeetingNotConfirmed => StatusCode::CONFLICT,
            ProblemKind::WebMeetingTooEarly => StatusCode::CONFLICT,
            ProblemKind::WebMeetingClosed => StatusCode::CONFLICT,
            ProblemKind::WebMeetingTakenByAnother => StatusCode::CONFLICT,
            ProblemKind::WebMeetingNotTaken => StatusCode::CONFLICT,
            ProblemKind::WebMeetingEnded => StatusCode::CONFLICT,
            ProblemKind::WebMeetingDocumentExpired => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::WebMeetingIncomplete => StatusCode::CONFLICT,
            ProblemKind::DelegationConsentMissing => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "Malformed JSON body",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::PayloadTooLarge => "Request body too large",
            ProblemKind::RequestTimeout => "Request body not received in time",
            ProblemKind::InvalidPath => "Invalid path parameter",
            ProblemKind::InvalidQuery => "Invalid query string",
            ProblemKind::ValidationFailed => "Validation failed",
            ProblemKind::InvalidCodiceFiscale => "Invalid codice fiscale",
            ProblemKind::Unauthorized => "Authentication required",
            ProblemKind::InsufficientAuthentication => "Stronger authentication required",
            ProblemKind::Forbidden => "Forbidden",
            ProblemKind::NotFound => "Not found",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::NotReady => "Not ready",
            ProblemKind::ServiceUnavailable => "Service unavailable",
            ProblemKind::Internal => "Internal error",
            ProblemKind::PinThirdParty => "PIN requests by third parties are refused",
            ProblemKind::PinNotEligible => "Not eligible for a PIN",
            ProblemKind::PinRepresentationInvalid => "Legal representation not acceptable",
            ProblemKind::PinAlreadyActive => "A PIN is already active",
            ProblemKind::PinRequestPending => "A PIN request is already pending",
            ProblemKind::PersonNotInRegistry => "Person not in the registry",
            ProblemKind::PinRequestNotQueued => "PIN request not waiting for the contact centre",
            ProblemKind::PinRequestClaimed => "PIN request held by another operator",
            ProblemKind::PinRequestNotClaimed => "PIN request not claimed",
            ProblemKind::DocumentMissing => "Required document missing",
            ProblemKind::DocumentRejected => "Document not accepted",
            ProblemKind::TooManyRequests => "Too many requests",
            ProblemKind::MalformedMultipart => "Malformed multipart body",
            ProblemKind::DelegationSelf => "Self-delegation refused",
            ProblemKind::DelegationDelegateMinor => "Delegate under 18",
            ProblemKind::DelegationMinorNeedsParent => "A minor is represented by a parent",
            ProblemKind::DelegationNotAMinor => "Parent delegation for an adult",
            ProblemKind::DelegationRepresentationByOperator => {
                "Legal representation registered by operators only"
            }
            ProblemKind::DelegationChannelNotForKind => "Channel does not register this kind",
            ProblemKind::DelegationNotFamily => "Family-unit check failed",
            ProblemKind::DelegationDecreeMissing => "Court decree reference missing",
            ProblemKind::DelegationEndInPast => "End date not in the future",
            ProblemKind::DelegationEndBeforeMinimum => "End date inside the 30-day minimum",
            ProblemKind::DelegationWithinMinimum => "Inside the 30-day minimum",
            ProblemKind::DelegationRepresentationEndsByOperator => {
                "Legal representation ended by operators only"
            }
            ProblemKind::DelegationFiduciaExists => {
                "The delegator already has a fiduciary delegate"
            }
            ProblemKind::DelegationDelegateLimit => {
                "The delegate holds the most delegations allowed"
            }
            ProblemKind::DelegationNameMismatch => "Delegate's names do not match the registry",
            ProblemKind::DelegationNotActive => "Delegation not active",
            ProblemKind::DelegationNotPending => "Delegation not waiting for verification",
            ProblemKind::DelegationSameOperator => "Verification by the operator who registered it",
            ProblemKind::DelegationLoginLevel => "Login level too low to register a delegation",
            ProblemKind::BookingDeskInactive => "Desk not taking bookings",
            ProblemKind::BookingGuestNotAllowed => "Guest booking not allowed at this desk",
            ProblemKind::BookingNotASlot => "Not a slot of the desk",
            ProblemKind::BookingSlotPast => "Slot in the past",
            ProblemKind::BookingBeyondHorizon => "Slot beyond the booking horizon",
            ProblemKind::BookingDayClosed => "Desk closed on that day",
            ProblemKind::BookingSlotFull => "No free place in the slot",
            ProblemKind::BookingDeskTypeLimit => "One open booking per desk type",
            ProblemKind::BookingOpenLimit => "Too many open bookings",
            ProblemKind::BookingHoldExpired => "Hold expired",
            ProblemKind::BookingNotHeld => "Booking not waiting for confirmation",
            ProblemKind::BookingNotCancellable => "Booking cannot be cancelled",
            ProblemKind::WebMeetingNotWebMeeting => "Not a web-meeting booking",
            ProblemKind::WebMeetingNotConfirmed => "Booking not confirmed",
            ProblemKind::WebMeetingTooEarly => "Web meeting not open yet",
            ProblemKind::WebMeetingClosed => "Web meeting no longer available",
            ProblemKind::WebMeetingTakenByAnother => "Booking held by another operator",
            ProblemKind::WebMeetingNotTaken => "Booking not taken in charge",
            ProblemKind::WebMeetingEnded => "Web-meeting session ended",
            ProblemKind::WebMeetingDocumentExpired => "Identity document expired",
            ProblemKind::WebMeetingIncomplete => "Web-meeting session incomplete",
            ProblemKind::DelegationConsentMissing => "Recording consent missing",
        }
    }
}

/// One invalid field, for `validation-failed` problems.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub kind: ProblemKind,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra members of the problem object (e.g. the readiness checks). Boxed, like the
    /// headers below, to keep `Result<_, ApiError>` small (clippy's `result_large_err`).
    pub extensions: Option<Box<serde_json::Value>>,
    /// What went wrong inside, for the log only; never sent.
    pub cause: Option<Box<str>>,
    pub allow: Option<Box<str>>,
    /// `WWW-Authenticate` to send (RFC 6750 §3 for bearer-token refusals).
    pub challenge: Option<Box<str>>,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u32>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'static str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extensions: Option<&'a serde_json::Value>,
}

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: None,
            cause: None,
            allow: None,
            retry_after: None,
            challenge: None,
        }
    }

    pub fn internal(cause: impl fmt::Display) -> Self {
        let mut e = Self::new(
            ProblemKind::Internal,
            "The server could not complete the request; it has been logged.",
        );
        e.cause = Some(cause.to_string().into_boxed_str());
        e
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::NotFound, detail)
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn with_extensions(mut self, ext: serde_json::Value) -> Self {
        self.extensions = Some(Box::new(ext));
        self
    }

    pub fn with_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.challenge = Some(challenge.into().into_boxed_str());
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.slug(), self.detail)?;
        if let Some(c) = &self.cause {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind.status()
    }

    fn error_response(&self) -> HttpResponse {
        if self.kind.status().is_server_error() {
            tracing::error!(problem = self.kind.slug(), cause = ?self.cause, "request failed");
        }
        let body = ProblemBody {
            type_uri: self.kind.type_uri(),
            title: self.kind.title(),
            status: self.kind.status().as_u16(),
            detail: &self.detail,
            errors: &self.errors,
            extensions: self.extensions.as_deref(),
        };
        let mut resp = HttpResponse::build(self.kind.status());
        resp.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let Some(allow) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            resp.insert_header((header::ALLOW, allow));
        }
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(challenge) = self
            .challenge
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            resp.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        match serde_json::to_vec(&body) {
            Ok(bytes) => resp.body(bytes),
            Err(_) => resp.finish(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            // No free connection in time: the caller may retry; it is not their mistake.
            DbError::Pool(_) => {
                let mut a = ApiError::new(
                    ProblemKind::ServiceUnavailable,
                    "The service is busy; retry shortly.",
                );
                a.cause = Some(e.to_string().into_boxed_str());
                a
            }
            // The audit record of the answer could not be committed: no answer without it.
            DbError::AuditBatch(_) => {
                tracing::error!(error = %e, "answer withheld: its audit record was not committed");
                let mut a = ApiError::new(
                    ProblemKind::ServiceUnavailable,
                    "Il servizio è momentaneamente occupato: riprova tra qualche secondo.",
                );
                a.retry_after = Some(1);
                a.cause = Some(e.to_string().into_boxed_str());
                a
            }
            // A conflict with a parallel transaction that outlived its retries: try again.
            ref transient if crate::db::Transient::is_transient(transient) => {
                tracing::warn!(error = %transient, "transient database conflict");
                let mut a = ApiError::new(
                    ProblemKind::ServiceUnavailable,
                    "Il servizio è momentaneamente occupato: riprova tra qualche secondo.",
                );
                a.retry_after = Some(1);
                a.cause = Some(e.to_string().into_boxed_str());
                a
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::person::CodiceFiscaleError> for ApiError {
    fn from(e: crate::person::CodiceFiscaleError) -> Self {
        ApiError::new(
            ProblemKind::InvalidCodiceFiscale,
            format!("Codice fiscale non valido: {e}."),
        )
        .with_extensions(serde_json::json!({ "reason": e.reason() }))
    }
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errs: validator::ValidationErrors) -> Self {
        let mut list: Vec<FieldError> = errs
            .field_errors()
            .into_iter()
            .flat_map(|(field, errs)| {
                errs.iter().map(move |e| FieldError {
                    field: field.to_string(),
                    reason: e.code.to_string(),
                    message: e
                        .message
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| format!("{field} non è valido")),
                })
            })
            .collect();
        list.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::new(
            ProblemKind::ValidationFailed,
            "Alcuni dati non sono validi: correggerli e riprovare.",
        )
        .with_errors(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_kind_has_a_distinct_type_uri() {
        let uris: HashSet<String> = ProblemKind::ALL.iter().map(|k| k.type_uri()).collect();
        assert_eq!(uris.len(), ProblemKind::ALL.len());
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::internal("password authentication failed for user x");
        let resp = e.error_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.detail.contains("password"));
    }
}
