//! Messages to citizens through a transactional outbox (design §3): a state change writes
//! its messages with [`enqueue`] in its own transaction; the dispatcher sends them later,
//! with retries, and an idempotency key per message so that a crash never sends twice nor
//! loses one. Channels: SMS, e-mail, PEC and post (a PDF letter per recipient).
//!
//! - [`templates`]: the Italian texts.
//! - [`channel`]: the `Sender` trait and the choice of senders (`delivery`); one sender per
//!   channel in [`sms`], [`email`] (e-mail and PEC), [`post`] (PDF letters to the print
//!   spool), and [`files`] for the embedded default.
//! - [`dispatch`]: claims due messages, sends them, records the outcome.

pub mod booking_texts;
pub mod channel;
pub mod dispatch;
pub mod email;
pub mod files;
pub mod pdf;
pub mod post;
pub mod sealed;
pub mod sms;
pub mod templates;

use crate::db::schema::outbox_messages;
use crate::db::{DbConn, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

pub use dispatch::{DispatchReport, Dispatcher};
pub use sealed::OutboxKey;

/// How a message reaches its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Email,
    Pec,
    Post,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Pec => "pec",
            Channel::Post => "post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            "pec" => Some(Channel::Pec),
            "post" => Some(Channel::Post),
            _ => None,
        }
    }
}

/// The Italian texts procura sends. Each names the parameters it needs in its doc comment;
/// `secret` is the PIN half, when the message carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    /// The first 8 characters of a new PIN (SMS, e-mail, PEC). Params: `reference`,
    /// `given_name`. Secret: the half.
    PinFirstHalf,
    /// The letter with the last 8 characters (post). Params: `reference`, `address`
    /// ([`PostalAddress`]). Secret: the half.
    PinSecondHalf,
    /// One half of a PIN issued again after a loss (SMS, e-mail, PEC): `part` is 1 or 2.
    /// Params: `reference`, `given_name`, `part`. Secret: the half.
    PinRecoveryHalf,
    /// The online request could not be checked automatically: the contact centre will call.
    /// Params: `reference`, `given_name`.
    PinRequestCallback,
    /// The request was refused. Params: `reference`, `given_name`, `reason`.
    PinRequestRejected,
    /// The contact centre could not reach the person; the request is closed.
    /// Params: `reference`, `given_name`.
    PinRequestClosed,
    /// The PIN was revoked. Params: `given_name`.
    PinRevoked,
    /// A delegation was registered. Params: `given_name`, `counterpart`, `role` (`delegator`
    /// or `delegate`, the recipient's side), optional `end_date`.
    DelegationRegistered,
    /// A representation waiting for verification was confirmed. Same params.
    DelegationActivated,
    /// A delegation ends soon. Params: `given_name`, `counterpart`, `role`, `end_date`.
    DelegationEndingSoon,
    /// A delegation ended. Params: `given_name`, `counterpart`, `role`.
    DelegationEnded,
    /// A desk booking was confirmed (seed 000's SMS). Params: `desk`, `office`, `kind`, `mode`,
    /// `date`, `time`, `reference`, `myinps` (booked with an identity), optional `location`,
    /// `join_from` (web meeting).
    BookingConfirmed,
    /// The reminder about 30 minutes before. Same params.
    BookingReminder,
    /// A booking was cancelled. Same params, and `cancelled_by` (`person`, `operator`,
    /// `closure`) with an optional `reason`.
    BookingCancelled,
}

impl Template {
    pub fn as_str(self) -> &'static str {
        match self {
            Template::PinFirstHalf => "pin_first_half",
            Template::PinSecondHalf => "pin_second_half",
            Template::PinRecoveryHalf => "pin_recovery_half",
            Template::PinRequestCallback => "pin_request_callback",
            Template::PinRequestRejected => "pin_request_rejected",
            Template::PinRequestClosed => "pin_request_closed",
            Template::PinRevoked => "pin_revoked",
            Template::DelegationRegistered => "delegation_registered",
            Template::DelegationActivated => "delegation_activated",
            Template::DelegationEndingSoon => "delegation_ending_soon",
            Template::DelegationEnded => "delegation_ended",
            Template::BookingConfirmed => "booking_confirmed",
            Template::BookingReminder => "booking_reminder",
            Template::BookingCancelled => "booking_cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Template::PinFirstHalf,
            Template::PinSecondHalf,
            Template::PinRecoveryHalf,
            Template::PinRequestCallback,
            Template::PinRequestRejected,
            Template::PinRequestClosed,
            Template::PinRevoked,
            Template::DelegationRegistered,
            Template::DelegationActivated,
            Template::DelegationEndingSoon,
            Template::DelegationEnded,
            Template::BookingConfirmed,
            Template::BookingReminder,
            Template::BookingCancelled,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// A residence address as a letter shows it (from the persons registry, never as typed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    /// The addressee: "Mario Rossi".
    pub name: String,
    pub street: String,
    pub postal_code: String,
    pub municipality: String,
    pub province: String,
}

/// A message to send, as a state change asks for it.
pub struct NewMessage {
    /// Unique per message and stable across retries of the same business step, e.g.
    /// `pin-request:<id>:first-half`; enqueueing the same key twice fails.
    pub idempotency_key: String,
    pub channel: Channel,
    /// Phone number, e-mail address, or (post) the addressee's name.
    pub recipient: String,
    pub template: Template,
    /// Non-secret template parameters.
    pub params: serde_json::Value,
    /// A PIN half: sealed with the outbox key before it touches the database.
    pub secret: Option<String>,
    /// The record the message belongs to (e.g. the PIN request id).
    pub source_ref: Option<String>,
}

impl std::fmt::Debug for NewMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMessage")
            .field("idempotency_key", &self.idempotency_key)
            .field("channel", &self.channel)
            .field("template", &self.template)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Seal(#[from] sealed::SealError),
}

impl From<diesel::result::Error> for EnqueueError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Writes `msg` to the outbox. Call it inside the transaction of the state change that
/// causes it: the message exists exactly when the change does. Returns the message id.
pub fn enqueue(
    conn: &mut DbConn,
    key: &OutboxKey,
    msg: NewMessage,
    now: DateTime<Utc>,
) -> Result<String, EnqueueError> {
    let id = crate::oauth::token_hash::new_id().map_err(DbError::from)?;
    let sealed = msg
        .secret
        .as_deref()
        .map(|s| key.seal(&id, s))
        .transpose()?;
    diesel::insert_into(outbox_messages::table)
        .values((
            outbox_messages::id.eq(&id),
            outbox_messages::idempotency_key.eq(&msg.idempotency_key),
            outbox_messages::channel.eq(msg.channel.as_str()),
            outbox_messages::recipient.eq(&msg.recipient),
            outbox_messages::template.eq(msg.template.as_str()),
            outbox_messages::params.eq(msg.params.to_string()),
            outbox_messages::sealed_secret.eq(sealed),
            outbox_messages::status.eq("pending"),
            outbox_messages::attempts.eq(0_i64),
            outbox_messages::next_attempt_at.eq(now.naive_utc()),
            outbox_messages::source_ref.eq(&msg.source_ref),
            outbox_messages::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(id)
}
