//! The web-meeting desk for delegations (msg 3026/2022; seed 000, the guide), on top of
//! [`crate::booking`]: the future delegate books a slot at a desk of kind `web_meeting`,
//! naming the delegator; on the day both appear on camera with an operator, consent to the
//! recording, show their identity documents and send the signed AA08; the operator then
//! registers the delegation, active at once.
//!
//! - [`join`]: the person's side — refused before the window opens (15 minutes before, with
//!   the guide's message), a waiting room until an operator takes the booking in charge, then
//!   the meeting link built from `webmeeting.meeting_url_template` (procura hosts no video).
//! - [`session`]: the operator's side — take in charge, identity checks, consents (a refusal
//!   ends the session), documents, close.
//! - [`complete`]: the registration through the delegations registry (channel `web_meeting`),
//!   possible only with both consents, both identity checks and the three documents.
//!
//! Every operator step is one transaction with its audit record (the operator as actor, the
//! delegator as subject, the delegate in the detail), appended as its last write.

pub mod complete;
pub mod join;
pub mod session;

use crate::booking::{self, Booking, BookingError, DeskKind};
use crate::db::schema::webmeeting_sessions;
use crate::db::{DbConn, DbError};
use crate::delegation::registry::DelegationError;
use crate::notify::EnqueueError;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

/// Which of the two people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The person who booked, who will receive the delegation.
    Delegate,
    /// The person who gives it.
    Delegator,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Delegate => "delegate",
            Side::Delegator => "delegator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delegate" => Some(Side::Delegate),
            "delegator" => Some(Side::Delegator),
            _ => None,
        }
    }
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    InProgress,
    /// Delegate or delegator refused the recording: the service cannot be given this way.
    ConsentRefused,
    /// The delegation was registered.
    Completed,
    /// Closed by the operator without a delegation, with a reason.
    Closed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::InProgress => "in_progress",
            SessionStatus::ConsentRefused => "consent_refused",
            SessionStatus::Completed => "completed",
            SessionStatus::Closed => "closed",
        }
    }
}

/// The identity documents an operator may record.
pub const DOCUMENT_TYPES: [&str; 5] = [
    "carta_identita",
    "carta_identita_elettronica",
    "passaporto",
    "patente_di_guida",
    "altro",
];

/// A session as stored.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = webmeeting_sessions)]
pub struct Session {
    pub booking_id: String,
    pub operator_id: String,
    pub room: String,
    pub status: String,
    pub taken_at: NaiveDateTime,
    pub delegate_document_type: Option<String>,
    pub delegate_document_number: Option<String>,
    pub delegate_document_expires_on: Option<NaiveDate>,
    pub delegate_checked_at: Option<NaiveDateTime>,
    pub delegator_document_type: Option<String>,
    pub delegator_document_number: Option<String>,
    pub delegator_document_expires_on: Option<NaiveDate>,
    pub delegator_checked_at: Option<NaiveDateTime>,
    pub delegate_consent: Option<bool>,
    pub delegate_consent_at: Option<NaiveDateTime>,
    pub delegator_consent: Option<bool>,
    pub delegator_consent_at: Option<NaiveDateTime>,
    pub delegation_id: Option<String>,
    pub ended_at: Option<NaiveDateTime>,
    pub end_reason: Option<String>,
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for Session {
    // Document numbers are personal data: not in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("booking_id", &self.booking_id)
            .field("operator_id", &self.operator_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn in_progress(&self) -> bool {
        self.status == SessionStatus::InProgress.as_str()
    }

    /// The steps still missing before completion, by name.
    pub fn missing_steps(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.delegate_checked_at.is_none() {
            out.push("delegate_identity");
        }
        if self.delegator_checked_at.is_none() {
            out.push("delegator_identity");
        }
        if self.delegate_consent != Some(true) {
            out.push("delegate_consent");
        }
        if self.delegator_consent != Some(true) {
            out.push("delegator_consent");
        }
        out
    }
}

/// Why a web-meeting step was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebMeetingError {
    #[error(transparent)]
    Booking(#[from] BookingError),
    #[error("the booking is not at a web-meeting desk")]
    NotWebMeeting,
    #[error("the booking is not confirmed (it is {0})")]
    NotConfirmed(String),
    /// The guide's message, with the time the session opens.
    #[error("{message}")]
    TooEarly {
        message: String,
        opens_at: chrono::DateTime<chrono::Utc>,
    },
    #[error("La sessione di web meeting non è più disponibile per questa prenotazione.")]
    JoinClosed,
    #[error("the booking is taken in charge by another operator")]
    TakenByAnother,
    #[error("nobody has taken the booking in charge yet")]
    NotTaken,
    #[error("the session has ended ({0})")]
    Ended(String),
    #[error("the {0} identity document expired on {1}")]
    DocumentExpired(&'static str, NaiveDate),
    #[error("the session cannot be completed yet: missing {}", .0.join(", "))]
    Incomplete(Vec<&'static str>),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("document `{0}`: {1}")]
    Document(String, String),
    #[error(transparent)]
    Delegation(#[from] DelegationError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the outbox refused a message: {0}")]
    Enqueue(#[from] EnqueueError),
}

impl From<diesel::result::Error> for WebMeetingError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// The session of a booking, if an operator took it in charge.
pub fn find_session(conn: &mut DbConn, booking_id: &str) -> Result<Option<Session>, DbError> {
    Ok(webmeeting_sessions::table
        .find(booking_id)
        .select(Session::as_select())
        .first(conn)
        .optional()?)
}

/// The booking, checked to be for the web-meeting desk.
pub fn web_meeting_booking(
    conn: &mut DbConn,
    booking_id: &str,
) -> Result<(Booking, booking::Desk), WebMeetingError> {
    let b = booking::find(conn, booking_id)?.ok_or(BookingError::NotFound)?;
    if b.kind() != Some(DeskKind::WebMeeting) {
        return Err(WebMeetingError::NotWebMeeting);
    }
    let desk = booking::find_desk(conn, &b.desk_id)?.ok_or(BookingError::DeskNotFound)?;
    Ok((b, desk))
}

/// The link to the video call: the template with the room and the booking code filled in.
pub fn meeting_url(template: &str, session: &Session, b: &Booking) -> String {
    template
        .replace("{room}", &session.room)
        .replace("{reference}", &b.reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_round_trip() {
        for s in [Side::Delegate, Side::Delegator] {
            assert_eq!(Side::parse(s.as_str()), Some(s));
        }
        assert_eq!(Side::parse("both"), None);
    }
}
