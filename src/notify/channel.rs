//! One [`Sender`] per channel, behind one trait. Senders block (HTTP, SMTP, files): the
//! dispatcher calls them on a blocking thread, never on an async worker.
//!
//! Every sender passes the message's idempotency key to the other side (gateway header,
//! e-mail Message-ID, spool file name), so a resend after a crash is recognised there.

use super::templates::Rendered;
use super::{Channel, email, files, post, sms};
use crate::config::{Delivery, NotifyConfig};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A message ready for hand-over.
pub struct Outgoing<'a> {
    pub message_id: &'a str,
    pub idempotency_key: &'a str,
    pub channel: Channel,
    /// Phone number, e-mail address, or (post) the addressee's name.
    pub recipient: &'a str,
    pub content: &'a Rendered,
    pub now: DateTime<Utc>,
}

/// Why a hand-over failed. Texts never contain the message's content.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later (network, gateway 5xx, SMTP 4xx, a full disk).
    #[error("{0}")]
    Transient(String),
    /// Will never succeed as it is (bad recipient, missing parameter): no retry.
    #[error("{0}")]
    Permanent(String),
}

pub trait Sender: Send + Sync {
    fn send(&self, msg: &Outgoing<'_>) -> Result<(), SendError>;
}

/// A live channel left unconfigured: messages wait (and retry) until it is configured.
struct Unconfigured(&'static str);

impl Unconfigured {
    fn boxed(setting: &'static str) -> Box<dyn Sender> {
        tracing::warn!(
            setting,
            "notify.delivery is live but a channel is not configured; its messages will wait"
        );
        Box::new(Self(setting))
    }
}

impl Sender for Unconfigured {
    fn send(&self, _: &Outgoing<'_>) -> Result<(), SendError> {
        Err(SendError::Transient(format!(
            "{} is not configured",
            self.0
        )))
    }
}

/// The sender of each channel, as the configuration chooses.
pub struct Senders {
    sms: Box<dyn Sender>,
    email: Box<dyn Sender>,
    pec: Box<dyn Sender>,
    post: Box<dyn Sender>,
}

#[derive(Debug, thiserror::Error)]
#[error("notify configuration: {0}")]
pub struct ConfigError(pub String);

impl Senders {
    pub fn from_config(cfg: &NotifyConfig) -> Result<Self, ConfigError> {
        let timeout = std::time::Duration::from_secs(cfg.send_timeout_secs.max(1));
        match cfg.delivery {
            Delivery::Files => {
                let sink = files::FileSink::new(cfg)?;
                Ok(Self {
                    sms: Box::new(sink.clone()),
                    email: Box::new(sink.clone()),
                    pec: Box::new(sink.clone()),
                    post: Box::new(sink),
                })
            }
            Delivery::Live => Ok(Self {
                sms: match &cfg.sms_gateway_url {
                    Some(url) => Box::new(sms::SmsGateway::new(
                        url,
                        cfg.sms_gateway_token
                            .as_ref()
                            .map(|t| t.expose().to_owned()),
                        &cfg.sms_sender,
                        timeout,
                    )),
                    None => Unconfigured::boxed("notify.sms_gateway_url"),
                },
                email: match &cfg.smtp_url {
                    Some(url) => Box::new(email::SmtpSender::new(
                        url.expose(),
                        &cfg.email_from,
                        timeout,
                    )?),
                    None => Unconfigured::boxed("notify.smtp_url"),
                },
                pec: match &cfg.pec_smtp_url {
                    Some(url) => Box::new(email::SmtpSender::new(
                        url.expose(),
                        &cfg.pec_from,
                        timeout,
                    )?),
                    None => Unconfigured::boxed("notify.pec_smtp_url"),
                },
                post: Box::new(post::PrintSpool::new(&cfg.print_spool_dir)),
            }),
        }
    }

    pub fn for_channel(&self, channel: Channel) -> &dyn Sender {
        match channel {
            Channel::Sms => self.sms.as_ref(),
            Channel::Email => self.email.as_ref(),
            Channel::Pec => self.pec.as_ref(),
            Channel::Post => self.post.as_ref(),
        }
    }
}

/// A file name for an idempotency key: the key itself where it is made of safe characters,
/// otherwise the key with `_` for each unsafe one plus a short hash (so `a:b` and `a_b`
/// stay apart). The same key always gives the same name: that is what makes files idempotent.
pub fn file_stem(idempotency_key: &str) -> String {
    let safe: String = idempotency_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == idempotency_key && !safe.starts_with('.') && !safe.is_empty() {
        safe
    } else {
        let digest = Sha256::digest(idempotency_key.as_bytes());
        let short = hex::encode(digest.get(..6).unwrap_or_default());
        format!("{}-{short}", safe.trim_start_matches('.'))
    }
}

/// Writes `bytes` to `path` unless it exists: the bytes go to a temporary file beside it,
/// are flushed to disk, and are renamed into place, so a reader (or a print provider) never
/// sees half a file. Returns whether it wrote.
pub fn write_once(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()))
}

pub fn io_error(what: &str, path: &Path, e: &std::io::Error) -> SendError {
    SendError::Transient(format!("cannot write {what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_are_safe_stable_and_distinct() {
        assert_eq!(file_stem("abc-1.x_y"), "abc-1.x_y");
        let a = file_stem("pin-request:42:first-half");
        assert!(a.starts_with("pin-request_42_first-half-"), "{a}");
        assert_eq!(a, file_stem("pin-request:42:first-half"));
        assert_ne!(file_stem("a:b"), file_stem("a_b"));
        assert!(!file_stem("../etc/passwd").contains('/'));
        assert!(!file_stem("..").starts_with('.'));
    }

    #[test]
    fn write_once_does_not_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.txt");
        assert!(write_once(&path, b"one").unwrap());
        assert!(!write_once(&path, b"two").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
