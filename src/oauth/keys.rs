//! Token signing keys: ES256 (P-256) key pairs kept as PKCS#8 PEM files in `keys.dir`, and
//! the schedule saying which one signs when.
//!
//! Each key file is named by its `kid`, the RFC 7638 JWK thumbprint of its public part
//! (`<kid>.es256.pem`). The schedule is `keyring.json` beside them:
//!
//! ```json
//! {
//!   "keys": [
//!     { "kid": "…", "activates_at": "1970-01-01T00:00:00Z" },
//!     { "kid": "…", "activates_at": "2026-11-23T10:00:00Z" }
//!   ]
//! }
//! ```
//!
//! - The key that signs at `now` is the one with the latest `activates_at <= now` (ties: the
//!   greater `kid`); before any key's activation, the earliest one signs.
//! - A key stops signing (is superseded) when the next key in the schedule activates; it stays
//!   in the JWKS until `superseded_at + max_jwt_ttl`, when every token it signed has expired,
//!   and then drops out (its file and entry may stay; removing both by hand is safe then).
//! - Keys scheduled for the future are published at once, so verifiers caching the JWKS
//!   learn them before they sign.
//! - Without `keyring.json`, a directory holding exactly one `*.es256.pem` loads that key as
//!   the signing key (keys provisioned by hand); several keys need the schedule.
//!
//! [`generate`] creates the first key (active from the epoch, i.e. at once) and refuses when
//! keys exist; [`rotate`] adds a key that is published at once and signs after a delay. The
//! running server sees a rotation made by another process through [`KeySet::reload`] (see
//! [`reload_every`]); the schedule itself switches keys at the right instant without a
//! reload, so a reload only has to happen within the rotation delay.

use crate::secret_file;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    ParsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

const SUFFIX: &str = ".es256.pem";
/// The schedule, beside the key files.
pub const MANIFEST_FILE: &str = "keyring.json";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing key in {0}: run `procura keys generate`")]
    NoKeys(PathBuf),
    #[error(
        "{dir} already holds signing keys: use `procura keys rotate` to add one to the schedule"
    )]
    AlreadyExists { dir: PathBuf },
    #[error(
        "{dir} holds {count} signing keys but no {MANIFEST_FILE} saying which one signs: \
         keep one key, or write the schedule (see keys/README.md)"
    )]
    NoSchedule { dir: PathBuf, count: usize },
    #[error("the key schedule {path} is invalid: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error(
        "the key schedule {path} names key `{kid}`, but no key file in that directory holds it"
    )]
    MissingKey { path: PathBuf, kid: String },
    #[error("key file {path} is not a usable PKCS#8 PEM key: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("cannot read or write {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("the rotation delay ({0}) puts the activation beyond any representable date")]
    DelayTooLarge(Duration),
}

fn io_error(path: &Path, e: impl fmt::Display) -> KeyError {
    KeyError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
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

/// The JWKS document: `{"keys":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// A kind of key kept as one PEM file per key, named `<kid><SUFFIX>`, under a schedule
/// (`keyring.json`): the ES256 token signing keys here, the CIE federation and relying-party
/// keys in [`crate::cie::keys`].
pub trait KeyFile: Sized + fmt::Debug + Send + Sync + 'static {
    /// The file name suffix of this kind of key (after the kid).
    const SUFFIX: &'static str;
    /// Reads and checks one key file.
    fn read(path: &Path) -> Result<Self, KeyError>;
    /// The key id: the RFC 7638 thumbprint of the public key.
    fn kid(&self) -> &str;
    /// Creates a new key file in `dir` (mode 0600); returns its kid.
    fn create(dir: &Path) -> Result<String, KeyError>;
}

impl KeyFile for SigningKey {
    const SUFFIX: &'static str = SUFFIX;

    fn read(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read(path).map_err(|e| io_error(path, e))?;
        Self::from_pem(&text, path)
    }

    fn kid(&self) -> &str {
        &self.kid
    }

    fn create(dir: &Path) -> Result<String, KeyError> {
        new_key_file(dir)
    }
}

/// An ES256 key, parsed once when loaded: signing and verifying reuse the parsed private key
/// and public point (parsing a private key runs a pairwise consistency test, costlier than a
/// signature).
pub struct SigningKey {
    pub kid: String,
    pub jwk: Jwk,
    pair: EcdsaKeyPair,
    public: ParsedPublicKey,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// A JWS could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot serialise the JWS: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the ECDSA signature failed")]
    Crypto,
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

    /// The key as `jsonwebtoken` takes it (parsed again on every use: prefer
    /// [`Self::sign_compact`] on hot paths).
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The compact JWS (RFC 7515 §7.1) of `claims` under `header` (whose `alg` must be ES256),
    /// signed with the key parsed at load.
    pub fn sign_compact<T: Serialize>(
        &self,
        header: &jsonwebtoken::Header,
        claims: &T,
    ) -> Result<String, SignError> {
        debug_assert_eq!(header.alg, Algorithm::ES256);
        let mut jws = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut jws);
        let signature = self
            .pair
            .sign(&SystemRandom::new(), jws.as_bytes())
            .map_err(|_| SignError::Crypto)?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jws);
        Ok(jws)
    }

    /// Whether `signature` (the raw 64-byte r ‖ s of ES256) signs `message` under this key,
    /// with the public point parsed at load.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.public.verify_sig(message, signature).is_ok()
    }

    /// The public key, for verifying what this key signed.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
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
        let decoding = DecodingKey::from_ec_components(&jwk.x, &jwk.y)
            .map_err(|e| malformed(e.to_string()))?;
        let public = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
            .map_err(|e| malformed(e.to_string()))?;
        let encoding = EncodingKey::from_ec_der(block.contents());
        Ok(Self {
            kid: jwk.kid.clone(),
            jwk,
            pair,
            public,
            encoding,
            decoding,
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

/// `keyring.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    keys: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestEntry {
    kid: String,
    #[serde(with = "rfc3339")]
    activates_at: DateTime<Utc>,
}

/// RFC 3339 in UTC with `Z`, fractional seconds only when there are any.
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("`{text}` is not RFC 3339: {e}")))
    }
}

/// A kid as procura makes them: an unpadded base64url SHA-256 (also keeps paths inside `dir`).
pub(crate) fn valid_kid(kid: &str) -> bool {
    kid.len() == 43
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Manifest {
    fn path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST_FILE)
    }

    /// The schedule in `dir`, or `None` when there is no `keyring.json`.
    fn read(dir: &Path) -> Result<Option<Self>, KeyError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        let invalid = |reason: String| KeyError::Manifest {
            path: path.clone(),
            reason,
        };
        let manifest: Self = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if manifest.keys.is_empty() {
            return Err(invalid("it lists no key".into()));
        }
        for (i, entry) in manifest.keys.iter().enumerate() {
            if !valid_kid(&entry.kid) {
                return Err(invalid(format!(
                    "`{}` is not a key id (43 base64url characters)",
                    entry.kid
                )));
            }
            if manifest.keys.iter().skip(i + 1).any(|e| e.kid == entry.kid) {
                return Err(invalid(format!("key `{}` is listed twice", entry.kid)));
            }
        }
        Ok(Some(manifest))
    }

    /// Writes the schedule atomically: a temporary file in `dir`, synced, renamed over it.
    fn write(&self, dir: &Path) -> Result<(), KeyError> {
        let path = Self::path(dir);
        let mut text = serde_json::to_string_pretty(self).map_err(|e| io_error(&path, e))?;
        text.push('\n');
        let tmp = dir.join(format!(".{MANIFEST_FILE}.{}.tmp", uuid::Uuid::new_v4()));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_error(&path, e));
        }
        // Make the rename itself durable (best effort: not every platform syncs directories).
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// The `*<suffix>` files in `dir`, sorted; `None` when `dir` does not exist.
fn pem_files(dir: &Path, suffix: &str) -> Result<Option<Vec<PathBuf>>, KeyError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(suffix))
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(Some(files))
}

/// The key `kid` of the schedule: `<kid><SUFFIX>`, or else any key file in `dir` whose
/// thumbprint is `kid` (a hand-provisioned key under another name).
fn find_key<K: KeyFile>(dir: &Path, kid: &str) -> Result<K, KeyError> {
    let missing = || KeyError::MissingKey {
        path: Manifest::path(dir),
        kid: kid.to_owned(),
    };
    let path = dir.join(format!("{kid}{}", K::SUFFIX));
    if path.exists() {
        let key = K::read(&path)?;
        if key.kid() != kid {
            return Err(KeyError::Malformed {
                path,
                reason: format!("its thumbprint is {}, not the name of the file", key.kid()),
            });
        }
        return Ok(key);
    }
    pem_files(dir, K::SUFFIX)?
        .unwrap_or_default()
        .iter()
        .filter_map(|p| K::read(p).ok())
        .find(|k| k.kid() == kid)
        .ok_or_else(missing)
}

/// One key of the schedule.
#[derive(Debug)]
struct Scheduled<K> {
    key: Arc<K>,
    activates_at: DateTime<Utc>,
}

/// The keys as last read from the directory, in activation order (never empty).
#[derive(Debug)]
struct Snapshot<K> {
    /// Sorted by (`activates_at`, `kid`).
    keys: Vec<Scheduled<K>>,
    /// The earliest key: signs before any activation.
    earliest: Arc<K>,
}

impl<K: KeyFile> Snapshot<K> {
    fn read(dir: &Path) -> Result<Self, KeyError> {
        let mut keys = match Manifest::read(dir)? {
            Some(manifest) => manifest
                .keys
                .into_iter()
                .map(|e| {
                    Ok(Scheduled {
                        key: Arc::new(find_key::<K>(dir, &e.kid)?),
                        activates_at: e.activates_at,
                    })
                })
                .collect::<Result<Vec<_>, KeyError>>()?,
            None => {
                let files = pem_files(dir, K::SUFFIX)?.unwrap_or_default();
                match files.as_slice() {
                    [] => return Err(KeyError::NoKeys(dir.to_path_buf())),
                    [only] => vec![Scheduled {
                        key: Arc::new(K::read(only)?),
                        activates_at: DateTime::UNIX_EPOCH,
                    }],
                    _ => {
                        return Err(KeyError::NoSchedule {
                            dir: dir.to_path_buf(),
                            count: files.len(),
                        });
                    }
                }
            }
        };
        keys.sort_by(|a, b| (a.activates_at, a.key.kid()).cmp(&(b.activates_at, b.key.kid())));
        let earliest = keys
            .first()
            .map(|s| s.key.clone())
            .ok_or_else(|| KeyError::NoKeys(dir.to_path_buf()))?;
        Ok(Self { keys, earliest })
    }

    fn signing(&self, now: DateTime<Utc>) -> &Arc<K> {
        self.keys
            .iter()
            .rev()
            .find(|s| s.activates_at <= now)
            .map_or(&self.earliest, |s| &s.key)
    }

    /// The published keys, the signing one first, then the others in activation order.
    /// A key is published until its successor's activation plus `max_jwt_ttl`: the current
    /// and future keys always, a superseded one while tokens it signed may still be valid.
    fn published(
        &self,
        now: DateTime<Utc>,
        max_jwt_ttl: Duration,
    ) -> impl Iterator<Item = &Arc<K>> {
        let ttl = max_jwt_ttl.max(Duration::zero());
        let signing = self.signing(now);
        let successors = self.keys.iter().skip(1).map(Some).chain([None]);
        let others = self
            .keys
            .iter()
            .zip(successors)
            .filter(move |(_, next)| match next {
                None => true,
                Some(next) => next
                    .activates_at
                    .checked_add_signed(ttl)
                    .is_none_or(|retired_at| now < retired_at),
            })
            .map(|(s, _)| &s.key)
            .filter(move |k| k.kid() != signing.kid());
        std::iter::once(signing).chain(others)
    }
}

/// The signing keys and their schedule, as last read from `dir`. Shared by every worker;
/// [`KeySet::reload`] swaps in a fresh reading of the directory.
#[derive(Debug)]
pub struct KeySet<K: KeyFile = SigningKey> {
    dir: PathBuf,
    current: RwLock<Arc<Snapshot<K>>>,
}

impl<K: KeyFile> KeySet<K> {
    /// Reads the schedule and the keys it names from `dir` (see the module documentation).
    pub fn open(dir: &Path) -> Result<Self, KeyError> {
        Ok(Self {
            dir: dir.to_path_buf(),
            current: RwLock::new(Arc::new(Snapshot::read(dir)?)),
        })
    }

    /// Reads the directory again (after `procura keys rotate` in another process). On error
    /// the keys in use stay as they were.
    pub fn reload(&self) -> Result<(), KeyError> {
        let fresh = Arc::new(Snapshot::read(&self.dir)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    fn snapshot(&self) -> Arc<Snapshot<K>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The key that signs at `now`.
    pub fn signing_key(&self, now: DateTime<Utc>) -> Arc<K> {
        self.snapshot().signing(now).clone()
    }

    /// The keys published at `now` (the signing one first), when nothing they signed lives
    /// longer than `max_jwt_ttl`.
    pub fn published(&self, now: DateTime<Utc>, max_jwt_ttl: Duration) -> Vec<Arc<K>> {
        self.snapshot()
            .published(now, max_jwt_ttl)
            .cloned()
            .collect()
    }

    /// The key `kid`, if it is published at `now` (only those verify tokens).
    pub fn verifying_key(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        max_jwt_ttl: Duration,
    ) -> Option<Arc<K>> {
        self.snapshot()
            .published(now, max_jwt_ttl)
            .find(|k| k.kid() == kid)
            .cloned()
    }

    /// The key `kid`, whatever its place in the schedule (published, future or retired):
    /// for checking what it signed long ago, such as an audit checkpoint.
    pub fn scheduled_key(&self, kid: &str) -> Option<Arc<K>> {
        self.snapshot()
            .keys
            .iter()
            .find(|s| s.key.kid() == kid)
            .map(|s| s.key.clone())
    }

    /// How many keys are published at `now`.
    pub fn published_count(&self, now: DateTime<Utc>, max_jwt_ttl: Duration) -> usize {
        self.snapshot().published(now, max_jwt_ttl).count()
    }

    /// How many keys the schedule holds (published or retired).
    pub fn len(&self) -> usize {
        self.snapshot().keys.len()
    }

    /// Never true: a key set holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.snapshot().keys.is_empty()
    }
}

impl KeySet<SigningKey> {
    /// Reads the token signing keys from `dir` ([`KeySet::open`] for this kind of key).
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        Self::open(dir)
    }

    /// The JWKS to publish at `now`, when no token lives longer than `max_jwt_ttl`.
    pub fn jwks(&self, now: DateTime<Utc>, max_jwt_ttl: Duration) -> Jwks {
        Jwks {
            keys: self
                .snapshot()
                .published(now, max_jwt_ttl)
                .map(|k| k.jwk.clone())
                .collect(),
        }
    }
}

/// Reloads `keys` every `period`, for `serve` (spawn it on the runtime). A failed reload is
/// logged and the keys in use stay.
pub async fn reload_every<K: KeyFile>(keys: Arc<KeySet<K>>, period: std::time::Duration) {
    // `interval` panics on a zero period.
    let mut ticks = tokio::time::interval(period.max(std::time::Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; the keys were just loaded
    loop {
        ticks.tick().await;
        let k = keys.clone();
        match tokio::task::spawn_blocking(move || k.reload()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "signing keys: reload failed; keeping the loaded keys")
            }
            Err(e) => tracing::warn!(error = %e, "signing keys: reload task failed"),
        }
    }
}

/// A new key pair written to `dir` (mode 0600); returns its `kid`.
fn new_key_file(dir: &Path) -> Result<String, KeyError> {
    let failed = |e: aws_lc_rs::error::Unspecified| io_error(dir, format!("key generation: {e}"));
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(failed)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|e| io_error(dir, format!("key generation: {e}")))?;
    let jwk = public_jwk(pair.public_key().as_ref())
        .ok_or_else(|| io_error(dir, "key generation: bad public point"))?;
    let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
    let path = dir.join(format!("{}{SUFFIX}", jwk.kid));
    secret_file::write_new(&path, pem_text.as_bytes()).map_err(|e| io_error(&path, e))?;
    Ok(jwk.kid)
}

/// Creates the first signing key in `dir` (and the directory), scheduled from the epoch so it
/// signs at once. Refuses when `dir` already holds keys or a schedule: a new key beside
/// others must go through [`rotate`], so verifiers learn it before it signs.
/// Returns its `kid`.
pub fn generate(dir: &Path) -> Result<String, KeyError> {
    generate_as::<SigningKey>(dir)
}

/// [`generate`] for any kind of key.
pub fn generate_as<K: KeyFile>(dir: &Path) -> Result<String, KeyError> {
    let has_keys = pem_files(dir, K::SUFFIX)?.is_some_and(|f| !f.is_empty());
    if has_keys || Manifest::path(dir).exists() {
        return Err(KeyError::AlreadyExists {
            dir: dir.to_path_buf(),
        });
    }
    let kid = K::create(dir)?;
    Manifest {
        keys: vec![ManifestEntry {
            kid: kid.clone(),
            activates_at: DateTime::UNIX_EPOCH,
        }],
    }
    .write(dir)?;
    Ok(kid)
}

/// What [`rotate`] scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateOutcome {
    pub kid: String,
    /// When the new key starts signing (whole seconds); it is published from now.
    pub activates_at: DateTime<Utc>,
}

/// Starts a rotation: creates a new key in `dir` and schedules it to sign from `now + delay`
/// (truncated to the second). Until then the current key signs and both are published; the
/// old key leaves the JWKS `max_jwt_ttl` after the new one activates. `dir` must hold a valid
/// key set (a lone key without schedule gets one). Do not run two rotations at once.
pub fn rotate(dir: &Path, now: DateTime<Utc>, delay: Duration) -> Result<RotateOutcome, KeyError> {
    rotate_as::<SigningKey>(dir, now, delay)
}

/// [`rotate`] for any kind of key.
pub fn rotate_as<K: KeyFile>(
    dir: &Path,
    now: DateTime<Utc>,
    delay: Duration,
) -> Result<RotateOutcome, KeyError> {
    let current = Snapshot::<K>::read(dir)?;
    let activates_at = now
        .checked_add_signed(delay.max(Duration::zero()))
        .ok_or(KeyError::DelayTooLarge(delay))?;
    let activates_at = activates_at
        .duration_trunc(Duration::seconds(1))
        .unwrap_or(activates_at);
    let kid = K::create(dir)?;
    let mut keys: Vec<ManifestEntry> = current
        .keys
        .iter()
        .map(|s| ManifestEntry {
            kid: s.key.kid().to_owned(),
            activates_at: s.activates_at,
        })
        .collect();
    keys.push(ManifestEntry {
        kid: kid.clone(),
        activates_at,
    });
    Manifest { keys }.write(dir)?;
    tracing::info!(
        %kid,
        activates_at = %activates_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "signing key rotation scheduled"
    );
    Ok(RotateOutcome { kid, activates_at })
}

/// Loads the keys, first creating a development key when there is none and `allowed`.
/// Returns the set and the `kid` created, if any.
pub fn load_or_create_dev(dir: &Path, allowed: bool) -> Result<(KeySet, Option<String>), KeyError> {
    load_or_create_dev_as::<SigningKey>(dir, allowed)
}

/// [`load_or_create_dev`] for any kind of key.
pub fn load_or_create_dev_as<K: KeyFile>(
    dir: &Path,
    allowed: bool,
) -> Result<(KeySet<K>, Option<String>), KeyError> {
    match KeySet::<K>::open(dir) {
        Err(KeyError::NoKeys(_)) if allowed => {
            let kid = generate_as::<K>(dir)?;
            Ok((KeySet::open(dir)?, Some(kid)))
        }
        other => other.map(|k| (k, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use jsonwebtoken::{Header, Validation, decode, encode};

    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
    }

    fn ttl() -> Duration {
        Duration::minutes(10)
    }

    fn kids(set: &KeySet, now: DateTime<Utc>) -> Vec<String> {
        set.jwks(now, ttl())
            .keys
            .into_iter()
            .map(|k| k.kid)
            .collect()
    }

    #[test]
    fn generated_key_signs_tokens_that_its_jwk_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path()).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        let key = set.signing_key(t0());
        assert_eq!(key.kid, kid);
        assert_eq!(set.signing_key(DateTime::UNIX_EPOCH).kid, kid);

        let mut header = Header::new(key.algorithm());
        header.kid = Some(kid.clone());
        let claims = Claims {
            sub: "x".into(),
            exp: 4_000_000_000,
        };
        let token = encode(&header, &claims, key.encoding_key()).unwrap();

        let jwks = set.jwks(t0(), ttl());
        assert_eq!(jwks.keys.len(), 1);
        let jwk = &jwks.keys[0];
        let from_jwk = DecodingKey::from_ec_components(&jwk.x, &jwk.y).unwrap();
        let validation = Validation::new(Algorithm::ES256);
        let data = decode::<Claims>(&token, &from_jwk, &validation).unwrap();
        assert_eq!(data.claims, claims);
        assert_eq!(data.header.kid.as_deref(), Some(kid.as_str()));
        let verifier = set.verifying_key(&kid, t0(), ttl()).unwrap();
        let data = decode::<Claims>(&token, verifier.decoding_key(), &validation).unwrap();
        assert_eq!(data.claims, claims);

        let json = serde_json::to_value(&jwks).unwrap();
        assert_eq!(json["keys"][0]["kty"], "EC");
        assert_eq!(json["keys"][0]["crv"], "P-256");
        assert_eq!(json["keys"][0]["use"], "sig");
        assert_eq!(json["keys"][0]["alg"], "ES256");
        assert_eq!(json["keys"][0]["kid"], kid.as_str());
    }

    #[test]
    fn generate_writes_a_readable_schedule_and_refuses_a_second_key() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(
            text.contains(&format!(r#""kid": "{kid}""#))
                && text.contains(r#""activates_at": "1970-01-01T00:00:00Z""#),
            "{text}"
        );
        let err = generate(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::AlreadyExists { .. }), "{err}");
        assert!(err.to_string().contains("keys rotate"), "{err}");
    }

    #[test]
    fn rotation_publishes_first_signs_after_the_delay_and_retires_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let old = generate(dir.path()).unwrap();
        let delay = Duration::hours(24);
        let out = rotate(dir.path(), t0(), delay).unwrap();
        assert_eq!(out.activates_at, t0() + delay);
        let new = out.kid;
        assert_ne!(new, old);
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.len(), 2);

        // Published at once, signing only from the activation.
        assert_eq!(set.signing_key(t0()).kid, old);
        assert_eq!(kids(&set, t0()), [old.as_str(), new.as_str()]);
        assert!(set.verifying_key(&new, t0(), ttl()).is_some());
        let just_before = t0() + delay - Duration::seconds(1);
        assert_eq!(set.signing_key(just_before).kid, old);

        // From the activation the new key signs; the old one stays for the token lifetime.
        let switch = t0() + delay;
        assert_eq!(set.signing_key(switch).kid, new);
        assert_eq!(kids(&set, switch), [new.as_str(), old.as_str()]);
        let last = switch + ttl() - Duration::seconds(1);
        assert!(set.verifying_key(&old, last, ttl()).is_some());
        assert_eq!(set.published_count(last, ttl()), 2);

        // Then every token it signed has expired: it leaves the JWKS.
        let gone = switch + ttl();
        assert_eq!(kids(&set, gone), [new.as_str()]);
        assert!(set.verifying_key(&old, gone, ttl()).is_none());
        assert!(set.verifying_key(&new, gone, ttl()).is_some());
        assert_eq!(set.published_count(gone, ttl()), 1);
        // Its file stays.
        assert!(dir.path().join(format!("{old}{SUFFIX}")).exists());
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn rotation_keys_are_owner_only_and_the_schedule_is_rfc3339() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path()).unwrap();
        let at = t0() + Duration::microseconds(1_500_000);
        let out = rotate(dir.path(), at, Duration::zero()).unwrap();
        // Truncated to the second: a zero delay signs at once.
        assert_eq!(out.activates_at, t0() + Duration::seconds(1));
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.signing_key(at).kid, out.kid);
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(
            text.contains(r#""activates_at": "2026-11-22T10:00:01Z""#),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let pem = dir.path().join(format!("{}{SUFFIX}", out.kid));
            let mode = std::fs::metadata(pem).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        let stray: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }

    #[test]
    fn successive_rotations_keep_each_key_until_its_successor_plus_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let a = generate(dir.path()).unwrap();
        let b = rotate(dir.path(), t0(), Duration::hours(1)).unwrap().kid;
        let c = rotate(dir.path(), t0(), Duration::hours(2)).unwrap().kid;
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(kids(&set, t0()), [a.as_str(), b.as_str(), c.as_str()]);
        let after_b = t0() + Duration::hours(1) + ttl();
        assert_eq!(set.signing_key(after_b).kid, b);
        assert_eq!(kids(&set, after_b), [b.as_str(), c.as_str()]);
        let after_c = t0() + Duration::hours(2) + ttl();
        assert_eq!(kids(&set, after_c), [c.as_str()]);
    }

    #[test]
    fn reload_sees_a_rotation_made_elsewhere_and_keeps_the_keys_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let old = generate(dir.path()).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        // Another process (`procura keys rotate`) writes to the directory.
        let new = rotate(dir.path(), t0(), Duration::hours(1)).unwrap().kid;
        assert_eq!(kids(&set, t0()), [old.as_str()]);
        set.reload().unwrap();
        assert_eq!(kids(&set, t0()), [old.as_str(), new.as_str()]);
        assert_eq!(set.signing_key(t0() + Duration::hours(1)).kid, new);

        std::fs::write(dir.path().join(MANIFEST_FILE), "{ not json").unwrap();
        let err = set.reload().unwrap_err();
        assert!(matches!(err, KeyError::Manifest { .. }), "{err}");
        assert_eq!(kids(&set, t0()), [old.as_str(), new.as_str()]);
    }

    #[test]
    fn a_broken_schedule_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path()).unwrap();
        let manifest = dir.path().join(MANIFEST_FILE);
        let load_err = |text: &str| {
            std::fs::write(&manifest, text).unwrap();
            KeySet::load(dir.path()).unwrap_err().to_string()
        };
        let err = load_err("{ not json");
        assert!(err.contains("keyring.json is invalid"), "{err}");
        let err = load_err(&format!(
            r#"{{"keys":[{{"kid":"{kid}","activates_at":"tomorrow"}}]}}"#
        ));
        assert!(err.contains("`tomorrow` is not RFC 3339"), "{err}");
        let err = load_err(r#"{"keys":[]}"#);
        assert!(err.contains("lists no key"), "{err}");
        let err = load_err(
            r#"{"keys":[{"kid":"../../etc/passwd","activates_at":"2026-01-01T00:00:00Z"}]}"#,
        );
        assert!(err.contains("is not a key id"), "{err}");
        let err = load_err(&format!(
            r#"{{"keys":[{{"kid":"{kid}","activates_at":"2026-01-01T00:00:00Z","active":true}}]}}"#
        ));
        assert!(err.contains("unknown field `active`"), "{err}");
        let entry = format!(r#"{{"kid":"{kid}","activates_at":"2026-01-01T00:00:00Z"}}"#);
        let err = load_err(&format!(r#"{{"keys":[{entry},{entry}]}}"#));
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn a_schedule_naming_a_missing_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path()).unwrap();
        let missing = "A".repeat(43);
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            format!(
                r#"{{"keys":[{{"kid":"{kid}","activates_at":"1970-01-01T00:00:00Z"}},
                   {{"kid":"{missing}","activates_at":"2026-01-01T00:00:00Z"}}]}}"#
            ),
        )
        .unwrap();
        let err = KeySet::load(dir.path()).unwrap_err();
        assert!(
            matches!(&err, KeyError::MissingKey { kid, .. } if *kid == missing),
            "{err}"
        );
        assert!(err.to_string().contains(&missing), "{err}");
    }

    #[test]
    fn a_lone_pem_without_schedule_loads_and_can_be_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join(MANIFEST_FILE)).unwrap();
        // Provisioned by hand under another name.
        std::fs::rename(
            dir.path().join(format!("{kid}{SUFFIX}")),
            dir.path().join(format!("production{SUFFIX}")),
        )
        .unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.signing_key(t0()).kid, kid);
        assert_eq!(kids(&set, t0()), [kid.as_str()]);

        let new = rotate(dir.path(), t0(), Duration::hours(1)).unwrap().kid;
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.signing_key(t0()).kid, kid);
        assert_eq!(set.signing_key(t0() + Duration::hours(1)).kid, new);
    }

    #[test]
    fn several_pems_without_schedule_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path()).unwrap();
        rotate(dir.path(), t0(), Duration::hours(1)).unwrap();
        std::fs::remove_file(dir.path().join(MANIFEST_FILE)).unwrap();
        let err = KeySet::load(dir.path()).unwrap_err();
        assert!(
            matches!(err, KeyError::NoSchedule { count: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn before_any_activation_the_earliest_key_signs() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path()).unwrap();
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            format!(r#"{{"keys":[{{"kid":"{kid}","activates_at":"2030-01-01T00:00:00Z"}}]}}"#),
        )
        .unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.signing_key(t0()).kid, kid);
        assert_eq!(kids(&set, t0()), [kid.as_str()]);
    }

    #[test]
    fn missing_and_broken_keys_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(KeySet::load(dir.path()), Err(KeyError::NoKeys(_))));
        assert!(matches!(
            KeySet::load(&dir.path().join("absent")),
            Err(KeyError::NoKeys(_))
        ));
        assert!(matches!(
            rotate(dir.path(), t0(), Duration::zero()),
            Err(KeyError::NoKeys(_))
        ));
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
