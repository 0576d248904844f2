//! Token signing keys: ES256 (P-256) key pairs kept as PKCS#8 PEM files in `keys.dir`.
//!
//! Each key is named by its `kid`, the RFC 7638 JWK thumbprint of its public part
//! (`<kid>.es256.pem`); the file `ACTIVE` names the key that signs. Every key in the
//! directory is published in the JWKS, so verifiers know a key before it starts signing
//! and after it stops.

use crate::secret_file;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

const SUFFIX: &str = ".es256.pem";
const ACTIVE_FILE: &str = "ACTIVE";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing key in {0}: run `procura keys generate`")]
    NoKeys(PathBuf),
    #[error("{dir}/ACTIVE names key `{kid}`, which is not in the directory")]
    ActiveMissing { dir: PathBuf, kid: String },
    #[error("signing key file {path} is not a P-256 PKCS#8 PEM key: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("cannot read or write {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// A public key as published in the JWKS (RFC 7517).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub y: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
}

pub struct SigningKey {
    pub kid: String,
    pub jwk: Jwk,
    encoding: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    pub fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    fn from_pem(pem_text: &[u8], path: &Path) -> Result<Self, KeyError> {
        let malformed = |reason: String| KeyError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let block = pem::parse(pem_text).map_err(|e| malformed(e.to_string()))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, block.contents())
            .map_err(|e| malformed(e.to_string()))?;
        let jwk = public_jwk(pair.public_key().as_ref())
            .ok_or_else(|| malformed("bad public point".into()))?;
        let encoding = EncodingKey::from_ec_der(block.contents());
        Ok(Self {
            kid: jwk.kid.clone(),
            jwk,
            encoding,
        })
    }
}

/// The JWK of an uncompressed P-256 point (0x04 ‖ x ‖ y), with its thumbprint as `kid`.
fn public_jwk(point: &[u8]) -> Option<Jwk> {
    let (tag, xy) = point.split_first()?;
    if *tag != 0x04 || xy.len() != 64 {
        return None;
    }
    let (x, y) = xy.split_at(32);
    let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
    // RFC 7638: the required members, in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    Some(Jwk {
        kty: "EC",
        crv: "P-256",
        x,
        y,
        kid,
        use_: "sig",
        alg: "ES256",
    })
}

/// The keys loaded from the directory: the active one signs, all are published.
#[derive(Debug)]
pub struct KeySet {
    active: SigningKey,
    others: Vec<SigningKey>,
}

#[derive(Debug, Serialize)]
pub struct Jwks<'a> {
    pub keys: Vec<&'a Jwk>,
}

impl KeySet {
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    pub fn jwks(&self) -> Jwks<'_> {
        Jwks {
            keys: std::iter::once(&self.active.jwk)
                .chain(self.others.iter().map(|k| &k.jwk))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        1 + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reads every `*.es256.pem` in `dir`; the active key is the one `ACTIVE` names, or the
    /// only key when there is one.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let io = |path: &Path, e: std::io::Error| KeyError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::NoKeys(dir.to_path_buf()));
            }
            Err(e) => return Err(io(dir, e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| io(dir, e))?.path();
            if path.to_string_lossy().ends_with(SUFFIX) {
                let text = std::fs::read(&path).map_err(|e| io(&path, e))?;
                keys.push(SigningKey::from_pem(&text, &path)?);
            }
        }
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        let active_path = dir.join(ACTIVE_FILE);
        let active_kid = match std::fs::read_to_string(&active_path) {
            Ok(kid) => kid.trim().to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match keys.as_slice() {
                [only] => only.kid.clone(),
                [] => return Err(KeyError::NoKeys(dir.to_path_buf())),
                _ => return Err(io(&active_path, e)),
            },
            Err(e) => return Err(io(&active_path, e)),
        };
        let pos = keys
            .iter()
            .position(|k| k.kid == active_kid)
            .ok_or_else(|| KeyError::ActiveMissing {
                dir: dir.to_path_buf(),
                kid: active_kid,
            })?;
        let active = keys.remove(pos);
        Ok(Self {
            active,
            others: keys,
        })
    }
}

/// Creates a new key pair in `dir`; it becomes active when no key is active yet.
/// Returns its `kid`.
pub fn generate(dir: &Path) -> Result<String, KeyError> {
    let io = |path: &Path, e: std::io::Error| KeyError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|e| io(dir, std::io::Error::other(e.to_string())))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|e| io(dir, std::io::Error::other(e.to_string())))?;
    let jwk = public_jwk(pair.public_key().as_ref())
        .ok_or_else(|| io(dir, std::io::Error::other("bad public point")))?;
    let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
    let path = dir.join(format!("{}{SUFFIX}", jwk.kid));
    secret_file::write_new(&path, pem_text.as_bytes()).map_err(|e| io(&path, e))?;
    let active = dir.join(ACTIVE_FILE);
    if !active.exists() {
        std::fs::write(&active, format!("{}\n", jwk.kid)).map_err(|e| io(&active, e))?;
    }
    Ok(jwk.kid)
}

/// Loads the keys, first creating a development key when there is none and `allowed`.
/// Returns the set and the `kid` created, if any.
pub fn load_or_create_dev(dir: &Path, allowed: bool) -> Result<(KeySet, Option<String>), KeyError> {
    match KeySet::load(dir) {
        Err(KeyError::NoKeys(_)) if allowed => {
            let kid = generate(dir)?;
            Ok((KeySet::load(dir)?, Some(kid)))
        }
        other => other.map(|k| (k, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Header, Validation, decode, encode};

    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    #[test]
    fn generated_key_signs_tokens_that_its_jwk_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path()).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.active().kid, kid);

        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.clone());
        let claims = Claims {
            sub: "x".into(),
            exp: 4_000_000_000,
        };
        let token = encode(&header, &claims, set.active().encoding_key()).unwrap();

        let jwk = &set.jwks().keys[0];
        let key = DecodingKey::from_ec_components(&jwk.x, &jwk.y).unwrap();
        let data = decode::<Claims>(&token, &key, &Validation::new(Algorithm::ES256)).unwrap();
        assert_eq!(data.claims, claims);
        assert_eq!(data.header.kid.as_deref(), Some(kid.as_str()));
    }

    #[test]
    fn second_key_is_published_but_not_active() {
        let dir = tempfile::tempdir().unwrap();
        let first = generate(dir.path()).unwrap();
        let second = generate(dir.path()).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.active().kid, first);
        let kids: Vec<&str> = set.jwks().keys.iter().map(|k| k.kid.as_str()).collect();
        assert!(kids.contains(&second.as_str()) && kids.len() == 2);
    }

    #[test]
    fn missing_and_broken_keys_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(KeySet::load(dir.path()), Err(KeyError::NoKeys(_))));
        std::fs::write(dir.path().join(format!("bad{SUFFIX}")), "not a key").unwrap();
        assert!(matches!(
            KeySet::load(dir.path()),
            Err(KeyError::Malformed { .. })
        ));
    }

    #[test]
    fn dev_keys_only_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_or_create_dev(dir.path(), false).is_err());
        let (_, created) = load_or_create_dev(dir.path(), true).unwrap();
        assert!(created.is_some());
        let (_, again) = load_or_create_dev(dir.path(), true).unwrap();
        assert!(again.is_none());
    }
}
