//! The keys of procura as a CIE OpenID Connect Federation relying party, kept apart from the
//! ES256 token-signing keys (the CIE rules and OpenID Federation want federation keys
//! separate from the protocol keys):
//!
//! | set | directory (under `cie.keys_dir`) | signs or decrypts |
//! |---|---|---|
//! | federation | `federation/` | the entity configuration (RSA, RS256) |
//! | relying party signing | `rp-signing/` | request objects and `private_key_jwt` client assertions (RSA, RS256) |
//! | relying party encryption | `rp-encryption/` | JWE ID tokens and userinfo: RSA-OAEP(-256) |
//! | relying party encryption, EC | `rp-encryption-ec/` | JWE from providers that offer ECDH-ES (P-256) |
//!
//! Each directory is a schedule exactly like the token keys ([`crate::oauth::keys`]): one PEM
//! file per key named by its RFC 7638 thumbprint, and `keyring.json` saying which key is
//! current from when. A rotation publishes the new key at once (in the entity configuration
//! and the relying-party JWKS) and starts using it after `keys.rotation_delay_secs`; the old
//! key stays published while anything it signed can still be checked. For the federation key
//! the trust anchor must learn the new key (onboarding portal) before it activates: its
//! statement about procura lists the keys that may sign procura's entity configuration.

use crate::oauth::keys::{self, KeyError, KeyFile, KeySet};
use crate::secret_file;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use sha2::{Digest, Sha256};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bits of the RSA keys procura makes (the CIE rules: at least 2048, 4096 recommended).
pub const RSA_BITS: u32 = 3072;

/// What kind of key a [`PemKey`] holds.
pub trait KeyKind: fmt::Debug + Send + Sync + 'static {
    const SUFFIX: &'static str;
    /// A new private key, PKCS#8 PEM.
    fn generate() -> Result<Vec<u8>, String>;
    /// The public JWK of a private key in PEM (no `kid`, `use` or `alg` yet).
    fn public_jwk(pem: &[u8]) -> Result<Jwk, String>;
    /// The RFC 7638 members of a public JWK, in lexicographic order.
    fn thumbprint_input(jwk: &Jwk) -> Option<String>;
}

#[derive(Debug)]
pub struct Rsa;

#[derive(Debug)]
pub struct P256;

fn member(jwk: &Jwk, name: &str) -> Option<String> {
    jwk.parameter(name)?.as_str().map(str::to_owned)
}

impl KeyKind for Rsa {
    const SUFFIX: &'static str = ".rsa.pem";

    fn generate() -> Result<Vec<u8>, String> {
        let pair = RsaKeyPair::generate(RSA_BITS).map_err(|e| e.to_string())?;
        Ok(josekit::jwk::KeyPair::to_pem_private_key(&pair))
    }

    fn public_jwk(pem: &[u8]) -> Result<Jwk, String> {
        let pair = RsaKeyPair::from_pem(pem).map_err(|e| e.to_string())?;
        if (pair.key_len() as usize) * 8 < super::jose::MIN_RSA_BITS {
            return Err(format!(
                "an RSA key of {} bits; the CIE rules want at least {}",
                pair.key_len() * 8,
                super::jose::MIN_RSA_BITS
            ));
        }
        Ok(josekit::jwk::KeyPair::to_jwk_public_key(&pair))
    }

    fn thumbprint_input(jwk: &Jwk) -> Option<String> {
        Some(format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            member(jwk, "e")?,
            member(jwk, "n")?
        ))
    }
}

impl KeyKind for P256 {
    const SUFFIX: &'static str = ".p256.pem";

    fn generate() -> Result<Vec<u8>, String> {
        let pair = EcKeyPair::generate(EcCurve::P256).map_err(|e| e.to_string())?;
        Ok(josekit::jwk::KeyPair::to_pem_private_key(&pair))
    }

    fn public_jwk(pem: &[u8]) -> Result<Jwk, String> {
        let pair = EcKeyPair::from_pem(pem, Some(EcCurve::P256)).map_err(|e| e.to_string())?;
        Ok(josekit::jwk::KeyPair::to_jwk_public_key(&pair))
    }

    fn thumbprint_input(jwk: &Jwk) -> Option<String> {
        Some(format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            member(jwk, "x")?,
            member(jwk, "y")?
        ))
    }
}

/// One key: its private PEM (to sign or decrypt with) and its public JWK with the `kid`.
pub struct PemKey<K> {
    kid: String,
    pem: Vec<u8>,
    public: Jwk,
    kind: PhantomData<K>,
}

impl<K> fmt::Debug for PemKey<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PemKey({})", self.kid)
    }
}

impl<K: KeyKind> PemKey<K> {
    /// The private key, PKCS#8 PEM.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK with `kid`, `use` and, when given, `alg`.
    pub fn public_jwk(&self, key_use: &str, alg: Option<&str>) -> Jwk {
        let mut jwk = self.public.clone();
        jwk.set_key_use(key_use);
        if let Some(alg) = alg {
            jwk.set_algorithm(alg);
        }
        jwk
    }

    fn from_pem(pem: Vec<u8>, path: &Path) -> Result<Self, KeyError> {
        let malformed = |reason: String| KeyError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let mut public = K::public_jwk(&pem).map_err(malformed)?;
        let input = K::thumbprint_input(&public)
            .ok_or_else(|| malformed("the public key lacks its members".into()))?;
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes()));
        public.set_key_id(kid.clone());
        Ok(Self {
            kid,
            pem,
            public,
            kind: PhantomData,
        })
    }
}

impl<K: KeyKind> KeyFile for PemKey<K> {
    const SUFFIX: &'static str = K::SUFFIX;

    fn read(path: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read(path).map_err(|e| KeyError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_pem(pem, path)
    }

    fn kid(&self) -> &str {
        &self.kid
    }

    fn create(dir: &Path) -> Result<String, KeyError> {
        let failed = |reason: String| KeyError::Io {
            path: dir.to_path_buf(),
            reason: format!("key generation: {reason}"),
        };
        let pem = K::generate().map_err(failed)?;
        let key = Self::from_pem(pem, dir)?;
        let path = dir.join(format!("{}{}", key.kid, K::SUFFIX));
        secret_file::write_new(&path, &key.pem).map_err(|e| KeyError::Io {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(key.kid)
    }
}

pub type RsaKey = PemKey<Rsa>;
pub type EcKey = PemKey<P256>;

/// The four key sets, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Federation,
    Signing,
    Encryption,
    EncryptionEc,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Federation,
        Role::Signing,
        Role::Encryption,
        Role::EncryptionEc,
    ];

    /// The directory of the set, under `cie.keys_dir`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Role::Federation => "federation",
            Role::Signing => "rp-signing",
            Role::Encryption => "rp-encryption",
            Role::EncryptionEc => "rp-encryption-ec",
        }
    }

    /// As `procura keys cie-… ` names it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.dir_name() == name)
    }

    fn is_ec(self) -> bool {
        self == Role::EncryptionEc
    }
}

/// Every key set of the relying party, shared by the workers; [`CieKeys::reload`] picks up a
/// rotation made by `procura keys` in another process.
#[derive(Debug)]
pub struct CieKeys {
    pub dir: PathBuf,
    pub federation: KeySet<RsaKey>,
    pub signing: KeySet<RsaKey>,
    pub encryption: KeySet<RsaKey>,
    pub encryption_ec: KeySet<EcKey>,
}

impl CieKeys {
    /// Loads the four sets from `dir`, first creating development keys for any set that has
    /// none when `create` is set. Returns the sets and the roles whose key was created.
    pub fn load(dir: &Path, create: bool) -> Result<(Self, Vec<Role>), KeyError> {
        let mut created = Vec::new();
        let mut note = |role: Role, kid: Option<String>| {
            if kid.is_some() {
                created.push(role);
            }
        };
        let (federation, k) =
            keys::load_or_create_dev_as::<RsaKey>(&dir.join("federation"), create)?;
        note(Role::Federation, k);
        let (signing, k) = keys::load_or_create_dev_as::<RsaKey>(&dir.join("rp-signing"), create)?;
        note(Role::Signing, k);
        let (encryption, k) =
            keys::load_or_create_dev_as::<RsaKey>(&dir.join("rp-encryption"), create)?;
        note(Role::Encryption, k);
        let (encryption_ec, k) =
            keys::load_or_create_dev_as::<EcKey>(&dir.join("rp-encryption-ec"), create)?;
        note(Role::EncryptionEc, k);
        Ok((
            Self {
                dir: dir.to_path_buf(),
                federation,
                signing,
                encryption,
                encryption_ec,
            },
            created,
        ))
    }

    pub fn reload(&self) -> Result<(), KeyError> {
        self.federation.reload()?;
        self.signing.reload()?;
        self.encryption.reload()?;
        self.encryption_ec.reload()
    }
}

/// `procura keys cie generate|rotate --set ROLE`: the directory of a set.
pub fn set_dir(keys_dir: &Path, role: Role) -> PathBuf {
    keys_dir.join(role.dir_name())
}

/// Creates the first key of a set (refused when it has keys).
pub fn generate(keys_dir: &Path, role: Role) -> Result<String, KeyError> {
    let dir = set_dir(keys_dir, role);
    if role.is_ec() {
        keys::generate_as::<EcKey>(&dir)
    } else {
        keys::generate_as::<RsaKey>(&dir)
    }
}

/// Starts a rotation of a set: the new key is published now and used from `now + delay`.
pub fn rotate(
    keys_dir: &Path,
    role: Role,
    now: chrono::DateTime<chrono::Utc>,
    delay: chrono::Duration,
) -> Result<keys::RotateOutcome, KeyError> {
    let dir = set_dir(keys_dir, role);
    if role.is_ec() {
        keys::rotate_as::<EcKey>(&dir, now, delay)
    } else {
        keys::rotate_as::<RsaKey>(&dir, now, delay)
    }
}

/// The published public keys of one set, read from `keys_dir` (for `procura keys cie-jwks`),
/// with the `use` and `alg` the entity configuration gives them.
pub fn public_jwks(
    keys_dir: &Path,
    role: Role,
    now: chrono::DateTime<chrono::Utc>,
    keep: chrono::Duration,
) -> Result<Vec<Jwk>, KeyError> {
    let dir = set_dir(keys_dir, role);
    Ok(match role {
        Role::Federation | Role::Signing => published(
            &KeySet::<RsaKey>::open(&dir)?,
            now,
            keep,
            "sig",
            Some("RS256"),
        ),
        Role::Encryption => published(&KeySet::<RsaKey>::open(&dir)?, now, keep, "enc", None),
        Role::EncryptionEc => published(&KeySet::<EcKey>::open(&dir)?, now, keep, "enc", None),
    })
}

/// The published public keys of `set` as JWKs with `use` (and `alg`).
pub fn published<K: KeyKind>(
    set: &KeySet<PemKey<K>>,
    now: chrono::DateTime<chrono::Utc>,
    keep: chrono::Duration,
    key_use: &str,
    alg: Option<&str>,
) -> Vec<Jwk> {
    set.published(now, keep)
        .iter()
        .map(|k: &Arc<PemKey<K>>| k.public_jwk(key_use, alg))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_named_and_read_back_by_thumbprint() {
        let dir = tempfile::tempdir().unwrap();
        let (set, created) = CieKeys::load(dir.path(), true).unwrap();
        assert_eq!(created, Role::ALL.to_vec());
        let now = chrono::Utc::now();
        let fed = set.federation.signing_key(now);
        assert_eq!(fed.kid().len(), 43);
        assert!(
            dir.path()
                .join("federation")
                .join(format!("{}.rsa.pem", fed.kid()))
                .exists()
        );
        let jwk = fed.public_jwk("sig", Some("RS256"));
        assert_eq!(jwk.key_type(), "RSA");
        assert_eq!(jwk.key_use(), Some("sig"));
        assert!(jwk.parameter("d").is_none(), "no private member");
        let ec = set.encryption_ec.signing_key(now);
        assert_eq!(ec.public_jwk("enc", None).curve(), Some("P-256"));
        // Loading again creates nothing and finds the same keys.
        let (again, created) = CieKeys::load(dir.path(), true).unwrap();
        assert!(created.is_empty());
        assert_eq!(again.federation.signing_key(now).kid(), fed.kid());
        // Every set is separate.
        assert_ne!(set.signing.signing_key(now).kid(), fed.kid());
    }

    #[test]
    fn a_weak_rsa_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pair = RsaKeyPair::generate(1024).unwrap();
        let pem = josekit::jwk::KeyPair::to_pem_private_key(&pair);
        std::fs::write(dir.path().join("weak.rsa.pem"), pem).unwrap();
        let err = KeySet::<RsaKey>::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("1024 bits"), "{err}");
    }
}
