//! E-mail and PEC through SMTP (lettre). The Message-ID is derived from the idempotency key,
//! so a resend after a crash carries the same Message-ID and is recognisable as a duplicate
//! by the provider (PEC providers reject it outright) and by the recipient's mail client.

use super::channel::{ConfigError, Outgoing, SendError, Sender};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{Message, SmtpTransport, Transport};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub struct SmtpSender {
    transport: SmtpTransport,
    from: Mailbox,
}

impl SmtpSender {
    /// `url` as lettre reads it: `smtp://host:port` (plain, for loopback and tests),
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://user:password@host` (TLS).
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Self, ConfigError> {
        // The URL may hold a password: the error does not repeat it.
        let transport = SmtpTransport::from_url(url)
            .map_err(|_| ConfigError("an SMTP URL is not valid (smtp:// or smtps://)".into()))?
            .timeout(Some(timeout))
            .build();
        Ok(Self {
            transport,
            from: parse_from(from)?,
        })
    }
}

pub fn parse_from(from: &str) -> Result<Mailbox, ConfigError> {
    from.parse()
        .map_err(|_| ConfigError(format!("sender address `{from}` is not a valid mailbox")))
}

/// `<notify.{32 hex}@{sender's domain}>`: the same key always gives the same id.
pub fn message_id(idempotency_key: &str, from: &Mailbox) -> String {
    let digest = Sha256::digest(idempotency_key.as_bytes());
    let hex = hex::encode(digest.get(..16).unwrap_or_default());
    format!("<notify.{hex}@{}>", from.email.domain())
}

/// The message as sent (and as `files` delivery writes it to a `.eml` file).
pub fn build_message(from: &Mailbox, msg: &Outgoing<'_>) -> Result<Message, SendError> {
    let to: Mailbox = msg
        .recipient
        .parse()
        .map_err(|_| SendError::Permanent("the recipient is not a valid e-mail address".into()))?;
    // Quoted-printable keeps the (mostly ASCII) Italian text readable in the raw message
    // and needs no 8BITMIME from the server.
    let body = Body::new_with_encoding(
        msg.content.plain_text(),
        ContentTransferEncoding::QuotedPrintable,
    )
    .map_err(|_| SendError::Permanent("the e-mail body cannot be encoded".into()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(msg.content.subject.clone())
        .date(msg.now.into())
        .message_id(Some(message_id(msg.idempotency_key, from)))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| SendError::Permanent(format!("the e-mail cannot be built: {e}")))
}

impl Sender for SmtpSender {
    fn send(&self, msg: &Outgoing<'_>) -> Result<(), SendError> {
        let email = build_message(&self.from, msg)?;
        // lettre's error text has the SMTP code and the server's reply, never the message.
        self.transport.send(&email).map(drop).map_err(|e| {
            if e.is_permanent() {
                SendError::Permanent(format!("SMTP server refused the message: {e}"))
            } else {
                SendError::Transient(format!("SMTP delivery failed: {e}"))
            }
        })
    }
}
