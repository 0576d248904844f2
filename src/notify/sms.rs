//! SMS through the configured HTTP gateway: `POST {to, sender, text}` as JSON with the
//! message's `Idempotency-Key`, so the gateway drops a resend of a message it already took.
//! ureq (blocking, rustls) fits: the dispatcher already runs on a blocking thread, and an
//! async client would need a runtime of its own there.

use super::channel::{Outgoing, SendError, Sender};
use std::time::Duration;

pub struct SmsGateway {
    agent: ureq::Agent,
    url: String,
    token: Option<String>,
    sender: String,
}

impl SmsGateway {
    pub fn new(url: &str, token: Option<String>, sender: &str, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            url: url.to_owned(),
            token,
            sender: sender.to_owned(),
        }
    }
}

impl Sender for SmsGateway {
    fn send(&self, msg: &Outgoing<'_>) -> Result<(), SendError> {
        let body = serde_json::json!({
            "to": msg.recipient,
            "sender": self.sender,
            "text": msg.content.sms,
        })
        .to_string();
        let mut req = self
            .agent
            .post(&self.url)
            .header("Idempotency-Key", msg.idempotency_key);
        if let Some(token) = &self.token {
            req = req.header("Authorization", &format!("Bearer {token}"));
        }
        // The error names the kind of failure only: ureq's messages carry no body or header.
        let resp = req
            .content_type("application/json")
            .send(body.as_str())
            .map_err(|e| SendError::Transient(format!("SMS gateway unreachable: {e}")))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(()),
            // The gateway refused this very message (a malformed number): retrying won't help.
            400 | 422 => Err(SendError::Permanent(format!(
                "SMS gateway refused the message (HTTP {status})"
            ))),
            _ => Err(SendError::Transient(format!(
                "SMS gateway answered HTTP {status}"
            ))),
        }
    }
}
