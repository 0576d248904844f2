//! The secret key that chains the audit log.

use crate::config::Config;
use crate::secret_file;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::path::PathBuf;

pub const DEV_KEY_FILE: &str = "audit-hmac.dev.key";
const MIN_LEN: usize = 32;

#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error("audit.hmac_key must be hex or base64 encoding at least {MIN_LEN} bytes")]
    Malformed,
    #[error(
        "no audit HMAC key: set audit.hmac_key (PROCURA_AUDIT__HMAC_KEY), or allow development keys with keys.generate_if_missing"
    )]
    Missing,
    #[error("cannot read or write the audit key file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

impl AuditKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuditKeyError> {
        if bytes.len() < MIN_LEN {
            return Err(AuditKeyError::Malformed);
        }
        Ok(Self(bytes.to_vec()))
    }

    /// Hex or (standard or URL-safe) base64.
    pub fn decode(text: &str) -> Result<Self, AuditKeyError> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .or_else(|| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text)
                    .ok()
            })
            .ok_or(AuditKeyError::Malformed)?;
        Self::from_bytes(&bytes)
    }

    /// The configured key, else the development key file (created when `create` and the
    /// configuration allow it). Returns the key and whether a development key was just
    /// created. Checking the log must never create a key: a new key would make every
    /// record look altered.
    pub fn load(config: &Config, create: bool) -> Result<(Self, bool), AuditKeyError> {
        if let Some(k) = &config.audit.hmac_key {
            return Ok((Self::decode(k.expose())?, false));
        }
        let path = config.keys.dir.join(DEV_KEY_FILE);
        let file_err = |e: std::io::Error| AuditKeyError::File {
            path: path.clone(),
            reason: e.to_string(),
        };
        match secret_file::read_or_create_dev_key(&path, create && config.keys.generate_if_missing)
            .map_err(file_err)?
        {
            Some((text, created)) => Ok((Self::decode(&text)?, created)),
            None => Err(AuditKeyError::Missing),
        }
    }

    pub(super) fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; the error branch cannot happen.
        Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()))
    }

    /// A secret of procura's own derived from this key for `purpose` (base64url, 43
    /// characters): every instance sharing the key derives the same one, and nothing else
    /// can. The input is prefixed so it can never be an audit record's.
    pub fn derive_secret(&self, purpose: &str) -> String {
        let mut mac = self.mac();
        mac.update(b"procura derived secret\0");
        mac.update(purpose.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_hex_and_base64_and_refuses_short_keys() {
        assert!(AuditKey::decode(&"ab".repeat(32)).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([1_u8; 32]);
        assert!(AuditKey::decode(&b64).is_ok());
        assert!(matches!(
            AuditKey::decode("abcd"),
            Err(AuditKeyError::Malformed)
        ));
        assert!(matches!(
            AuditKey::decode("not a key!"),
            Err(AuditKeyError::Malformed)
        ));
    }

    #[test]
    fn debug_hides_the_key() {
        let k = AuditKey::from_bytes(&[0xAB; 32]).unwrap();
        assert!(!format!("{k:?}").contains("ab"));
    }

    #[test]
    fn development_key_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.keys.dir = dir.path().to_path_buf();
        let not_yet = AuditKey::load(&config, false);
        assert!(matches!(not_yet, Err(AuditKeyError::Missing)));
        let (k1, created1) = AuditKey::load(&config, true).unwrap();
        let (k2, created2) = AuditKey::load(&config, true).unwrap();
        assert!(created1 && !created2);
        assert_eq!(k1.0, k2.0);
        config.keys.generate_if_missing = false;
        config.keys.dir = dir.path().join("elsewhere");
        assert!(matches!(
            AuditKey::load(&config, true),
            Err(AuditKeyError::Missing)
        ));
    }
}
