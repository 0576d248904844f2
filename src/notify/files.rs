//! `delivery = "files"`, the embedded default: every message becomes a file a newcomer can
//! open — `sms/<key>.txt`, `email/<key>.eml`, `pec/<key>.eml`, `post/<key>.pdf` (the same
//! letter live post spools) under `notify.files_dir`. Idempotent by file name: a resend of
//! the same key finds its file and writes nothing.

use super::Channel;
use super::channel::{ConfigError, Outgoing, SendError, Sender, file_stem, io_error, write_once};
use super::{email, post};
use crate::config::NotifyConfig;
use lettre::message::Mailbox;
use std::path::PathBuf;

type Render<'a> = Box<dyn Fn() -> Result<Vec<u8>, SendError> + 'a>;

#[derive(Clone)]
pub struct FileSink {
    dir: PathBuf,
    sms_sender: String,
    email_from: Mailbox,
    pec_from: Mailbox,
}

impl FileSink {
    pub fn new(cfg: &NotifyConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            dir: cfg.files_dir.clone(),
            sms_sender: cfg.sms_sender.clone(),
            email_from: email::parse_from(&cfg.email_from)?,
            pec_from: email::parse_from(&cfg.pec_from)?,
        })
    }
}

impl Sender for FileSink {
    fn send(&self, msg: &Outgoing<'_>) -> Result<(), SendError> {
        let stem = file_stem(msg.idempotency_key);
        let (path, render): (PathBuf, Render<'_>) = match msg.channel {
            Channel::Sms => (
                self.dir.join("sms").join(format!("{stem}.txt")),
                Box::new(|| {
                    Ok(format!(
                        "To: {}\nFrom: {}\nIdempotency-Key: {}\n\n{}\n",
                        msg.recipient, self.sms_sender, msg.idempotency_key, msg.content.sms
                    )
                    .into_bytes())
                }),
            ),
            Channel::Email | Channel::Pec => {
                let (sub, from) = if msg.channel == Channel::Pec {
                    ("pec", &self.pec_from)
                } else {
                    ("email", &self.email_from)
                };
                (
                    self.dir.join(sub).join(format!("{stem}.eml")),
                    Box::new(move || Ok(email::build_message(from, msg)?.formatted())),
                )
            }
            Channel::Post => (
                self.dir.join("post").join(format!("{stem}.pdf")),
                Box::new(|| post::letter_pdf(msg.content, &stem, msg.now)),
            ),
        };
        if path.exists() {
            return Ok(());
        }
        let bytes = render()?;
        write_once(&path, &bytes).map_err(|e| io_error("the message file", &path, &e))?;
        Ok(())
    }
}
