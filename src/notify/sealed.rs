//! PIN halves at rest in the outbox: AES-256-GCM under the outbox key, with the message id as
//! associated data so a sealed half cannot be moved to another message. The half is opened
//! only by the dispatcher, just before hand-over, and the sealed bytes are erased once sent.

use crate::config::Config;
use crate::secret_file;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use std::fmt;
use std::path::PathBuf;

pub const DEV_KEY_FILE: &str = "outbox.dev.key";
const KEY_LEN: usize = 32;

pub struct OutboxKey(LessSafeKey);

impl fmt::Debug for OutboxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OutboxKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxKeyError {
    #[error("notify.outbox_key must be hex or base64 encoding exactly {KEY_LEN} bytes")]
    Malformed,
    #[error(
        "no outbox key: set notify.outbox_key (PROCURA_NOTIFY__OUTBOX_KEY), or allow development keys with keys.generate_if_missing"
    )]
    Missing,
    #[error("cannot read or write the outbox key file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

/// Sealing or opening failed: a wrong key, or bytes altered at rest.
#[derive(Debug, thiserror::Error)]
#[error("the sealed secret cannot be opened (wrong outbox key or altered data)")]
pub struct SealError;

impl OutboxKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OutboxKeyError> {
        if bytes.len() != KEY_LEN {
            return Err(OutboxKeyError::Malformed);
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| OutboxKeyError::Malformed)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// Hex or (standard) base64.
    pub fn decode(text: &str) -> Result<Self, OutboxKeyError> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .ok_or(OutboxKeyError::Malformed)?;
        Self::from_bytes(&bytes)
    }

    /// The configured key, else the development key file (created when the configuration
    /// allows it). Returns the key and whether a development key was just created.
    pub fn load(config: &Config) -> Result<(Self, bool), OutboxKeyError> {
        if let Some(k) = &config.notify.outbox_key {
            return Ok((Self::decode(k.expose())?, false));
        }
        let path = config.keys.dir.join(DEV_KEY_FILE);
        match secret_file::read_or_create_dev_key(&path, config.keys.generate_if_missing) {
            Ok(Some((text, created))) => Ok((Self::decode(&text)?, created)),
            Ok(None) => Err(OutboxKeyError::Missing),
            Err(e) => Err(OutboxKeyError::File {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// `nonce || ciphertext || tag`, bound to `message_id`.
    pub fn seal(&self, message_id: &str, secret: &str) -> Result<Vec<u8>, SealError> {
        let nonce_bytes = secret_file::random_bytes::<NONCE_LEN>().map_err(|_| SealError)?;
        let mut in_out = secret.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(message_id.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| SealError)?;
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    pub fn open(&self, message_id: &str, sealed: &[u8]) -> Result<String, SealError> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN).ok_or(SealError)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(message_id.as_bytes()), &mut in_out)
            .map_err(|_| SealError)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> OutboxKey {
        OutboxKey::from_bytes(&[7; 32]).unwrap()
    }

    #[test]
    fn a_sealed_half_opens_only_for_its_message() {
        let sealed = key().seal("m1", "K7QM2XHT").unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"K7QM2XHT"));
        assert_eq!(key().open("m1", &sealed).unwrap(), "K7QM2XHT");
        assert!(key().open("m2", &sealed).is_err());
        let other = OutboxKey::from_bytes(&[8; 32]).unwrap();
        assert!(other.open("m1", &sealed).is_err());
        let mut altered = sealed.clone();
        if let Some(b) = altered.last_mut() {
            *b ^= 1;
        }
        assert!(key().open("m1", &altered).is_err());
        assert!(key().open("m1", &sealed[..5]).is_err());
    }

    #[test]
    fn keys_must_be_32_bytes_and_debug_hides_them() {
        assert!(OutboxKey::decode(&"ab".repeat(32)).is_ok());
        assert!(OutboxKey::decode(&"ab".repeat(16)).is_err());
        assert!(OutboxKey::decode("nope!").is_err());
        assert_eq!(format!("{:?}", key()), "OutboxKey([redacted])");
    }
}
