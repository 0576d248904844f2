//! Signed checkpoints of the audit head, kept outside the database.
//!
//! The chain shows every edit, deletion and reordering but one: records cut off the end
//! *and* `audit_head` rewound to match. A checkpoint is the head — the last record's `seq`
//! and hash, and when it was read — signed with the service's ES256 token signing key (a
//! compact JWS, `typ` [`TYP`]), so that nobody without that key can make one. `serve` writes
//! one to `audit.checkpoint_dir` every `audit.checkpoint_interval_secs` when the log has
//! grown, and once more at shutdown. A log shorter than a checkpoint, or whose record at a
//! checkpoint's `seq` has another hash, was cut (and perhaps written anew): `procura audit
//! verify` checks the log against every checkpoint ([`super::verify_against`]).
//!
//! Each checkpoint is one file named `audit-checkpoint-<seq, 20 digits>-<first 16 hex
//! digits of the hash>.jws`. It is written to a temporary file, synced, then hard-linked to
//! that name — which fails when the name exists — so a checkpoint appears whole or not at
//! all and is never overwritten (instances sharing the directory and writing the same head
//! produce the same name; a different head for the same `seq` gets another name).

use crate::clock::Clock;
use crate::db::schema::audit_head;
use crate::db::{self, DbConn, DbError, Pool};
use crate::oauth::keys::{KeySet, SigningKey};
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The JWS `typ` of a checkpoint: no token procura signs for clients has it.
pub const TYP: &str = "audit-checkpoint+jwt";
const PURPOSE: &str = "procura audit checkpoint";
const PREFIX: &str = "audit-checkpoint-";
const SUFFIX: &str = ".jws";

/// The audit head at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
}

/// A checkpoint read back from its file, its signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The file name (within the checkpoint directory).
    pub file: String,
    pub checkpoint: Checkpoint,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot use the checkpoint directory {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("cannot sign the checkpoint: {0}")]
    Sign(jsonwebtoken::errors::Error),
    #[error("checkpoint {file} is not a valid signed checkpoint: {reason}")]
    Invalid { file: String, reason: String },
    #[error("checkpoint {file} was signed by key {kid}, which is not in the signing key directory")]
    UnknownKey { file: String, kid: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Claims {
    purpose: String,
    seq: i64,
    hash: String,
    at: String,
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> CheckpointError + '_ {
    move |e| CheckpointError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The head as it is now (`seq` 0 for an empty log).
pub fn current(conn: &mut DbConn, now: DateTime<Utc>) -> QueryResult<Checkpoint> {
    let (seq, hash) = audit_head::table
        .find(1_i64)
        .select((audit_head::last_seq, audit_head::last_hash))
        .first(conn)?;
    Ok(Checkpoint { seq, hash, at: now })
}

impl Checkpoint {
    /// The file name this checkpoint is written under.
    pub fn file_name(&self) -> String {
        let short: String = self.hash.chars().take(16).collect();
        format!("{PREFIX}{:020}-{short}{SUFFIX}", self.seq.max(0))
    }

    /// The compact JWS of this checkpoint.
    pub fn sign(&self, key: &SigningKey) -> Result<String, CheckpointError> {
        let mut header = Header::new(key.algorithm());
        header.typ = Some(TYP.to_owned());
        header.kid = Some(key.kid.clone());
        let claims = Claims {
            purpose: PURPOSE.to_owned(),
            seq: self.seq,
            hash: self.hash.clone(),
            at: self.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        };
        jsonwebtoken::encode(&header, &claims, key.encoding_key()).map_err(CheckpointError::Sign)
    }
}

/// Signs `checkpoint` with `key` and writes it to `dir` (created, owner-only, if missing).
/// Returns the new file, or `None` when a file of that name was there already.
pub fn write(
    dir: &Path,
    checkpoint: &Checkpoint,
    key: &SigningKey,
) -> Result<Option<PathBuf>, CheckpointError> {
    let jws = checkpoint.sign(key)?;
    create_dir(dir).map_err(io_error(dir))?;
    let target = dir.join(checkpoint.file_name());
    let nonce = hex::encode(crate::secret_file::random_bytes::<8>().map_err(io_error(dir))?);
    let temp = dir.join(format!(".{}.{nonce}.tmp", checkpoint.file_name()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(jws.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        match std::fs::hard_link(&temp, &target) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&temp);
    let written = written.map_err(io_error(&target))?;
    if written {
        // The new name itself must survive a crash.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    Ok(written.then_some(target))
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Reads and checks one checkpoint: its signature (by any key of the schedule in `keys`,
/// retired ones included), `typ`, purpose, and that its name matches its content.
pub fn read(path: &Path, keys: &KeySet) -> Result<Anchor, CheckpointError> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let invalid = |reason: String| CheckpointError::Invalid {
        file: file.clone(),
        reason,
    };
    // A checkpoint is a few hundred bytes; refuse to read anything much larger.
    let meta = std::fs::metadata(path).map_err(io_error(path))?;
    if meta.len() > 8 * 1024 {
        return Err(invalid("larger than any checkpoint".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let token = text.trim();
    let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(e.to_string()))?;
    if header.typ.as_deref() != Some(TYP) {
        return Err(invalid(format!("its typ is not {TYP}")));
    }
    let kid = header
        .kid
        .ok_or_else(|| invalid("it names no key".into()))?;
    let key = keys
        .scheduled_key(&kid)
        .ok_or_else(|| CheckpointError::UnknownKey {
            file: file.clone(),
            kid: kid.clone(),
        })?;
    let mut validation = Validation::new(key.algorithm());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims::<&str>(&[]);
    let claims = jsonwebtoken::decode::<Claims>(token, key.decoding_key(), &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                invalid("its signature does not verify".into())
            }
            _ => invalid(e.to_string()),
        })?
        .claims;
    if claims.purpose != PURPOSE {
        return Err(invalid("it is not an audit checkpoint".into()));
    }
    let at = DateTime::parse_from_rfc3339(&claims.at)
        .map_err(|e| invalid(format!("bad time: {e}")))?
        .with_timezone(&Utc);
    let checkpoint = Checkpoint {
        seq: claims.seq,
        hash: claims.hash,
        at,
    };
    if checkpoint.file_name() != file {
        return Err(invalid(
            "its name does not match the seq and hash it signs".into(),
        ));
    }
    Ok(Anchor { file, checkpoint })
}

/// Every checkpoint in `dir` (files named `audit-checkpoint-*.jws`; others, such as
/// temporary files, are skipped), checked, in order of `seq`. The first bad one is the
/// error.
pub fn read_dir(dir: &Path, keys: &KeySet) -> Result<Vec<Anchor>, CheckpointError> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PREFIX) && name.ends_with(SUFFIX) {
            paths.push(entry.path());
        }
    }
    paths.sort();
    let mut anchors = paths
        .iter()
        .map(|p| read(p, keys))
        .collect::<Result<Vec<_>, _>>()?;
    anchors.sort_by_key(|a| a.checkpoint.seq);
    Ok(anchors)
}

/// Writes checkpoints of the audit head for `serve`.
pub struct Writer {
    pub pool: Pool,
    pub keys: Arc<KeySet>,
    pub clock: Arc<dyn Clock>,
    pub dir: PathBuf,
    /// The head last written (or found written), not to write it again.
    last: std::sync::Mutex<Option<(i64, String)>>,
}

impl Writer {
    pub fn new(pool: Pool, keys: Arc<KeySet>, clock: Arc<dyn Clock>, dir: PathBuf) -> Self {
        Self {
            pool,
            keys,
            clock,
            dir,
            last: std::sync::Mutex::new(None),
        }
    }

    /// Writes a checkpoint of the head unless it is empty or already written. Returns the
    /// new file, if any.
    pub async fn write_now(&self) -> Result<Option<PathBuf>, CheckpointError> {
        let now = self.clock.now();
        let head = db::run(&self.pool, move |c| current(c, now).map_err(DbError::from)).await?;
        let seen = Some((head.seq, head.hash.clone()));
        if head.seq < 1 || *self.last.lock().unwrap_or_else(|p| p.into_inner()) == seen {
            return Ok(None);
        }
        let key = self.keys.signing_key(now);
        let dir = self.dir.clone();
        let written = actix_web::rt::task::spawn_blocking(move || write(&dir, &head, &key))
            .await
            .map_err(|_| CheckpointError::Db(DbError::Cancelled))??;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = seen;
        Ok(written)
    }

    /// [`Writer::write_now`], logging the outcome.
    pub async fn write_logged(&self) {
        match self.write_now().await {
            Ok(Some(path)) => {
                tracing::info!(file = %path.display(), "audit checkpoint written")
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "writing the audit checkpoint failed"),
        }
    }

    /// Writes a checkpoint every `every` (the first at once), for `serve`.
    pub async fn run_periodically(self: Arc<Self>, every: std::time::Duration) {
        let mut tick = tokio::time::interval(every.max(std::time::Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.write_logged().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            seq: 42,
            hash: "ab".repeat(32),
            at: Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap(),
        }
    }

    fn keys(dir: &Path) -> KeySet {
        crate::oauth::keys::generate(dir).unwrap();
        KeySet::load(dir).unwrap()
    }

    #[test]
    fn written_once_read_back_and_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let keys = keys(&tmp.path().join("keys"));
        let dir = tmp.path().join("checkpoints");
        let key = keys.signing_key(Utc::now());
        let path = write(&dir, &checkpoint(), &key).unwrap().unwrap();
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            "audit-checkpoint-00000000000000000042-abababababababab.jws"
        );
        let first = std::fs::read(&path).unwrap();
        let mut later = checkpoint();
        later.at += chrono::Duration::hours(1);
        assert_eq!(write(&dir, &later, &key).unwrap(), None);
        assert_eq!(std::fs::read(&path).unwrap(), first);
        let anchors = read_dir(&dir, &keys).unwrap();
        assert_eq!(anchors.len(), 1, "no temporary file is left behind");
        assert_eq!(anchors[0].checkpoint, checkpoint());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn a_changed_or_foreign_signature_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let keys = keys(&tmp.path().join("keys"));
        let dir = tmp.path().join("checkpoints");
        let path = write(&dir, &checkpoint(), &keys.signing_key(Utc::now()))
            .unwrap()
            .unwrap();
        // Another seq in the payload, the signature kept.
        let jws = std::fs::read_to_string(&path).unwrap();
        let parts: Vec<&str> = jws.trim().split('.').collect();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap();
        let forged = b64.encode(payload.replace("\"seq\":42", "\"seq\":43"));
        std::fs::write(&path, format!("{}.{forged}.{}", parts[0], parts[2])).unwrap();
        let e = read(&path, &keys).unwrap_err().to_string();
        assert!(e.contains("signature does not verify"), "{e}");

        // Signed by a key procura does not have.
        let other = tempfile::tempdir().unwrap();
        let stranger = self::keys(other.path());
        std::fs::remove_file(&path).unwrap();
        let path = write(&dir, &checkpoint(), &stranger.signing_key(Utc::now()))
            .unwrap()
            .unwrap();
        let e = read(&path, &keys).unwrap_err();
        assert!(matches!(e, CheckpointError::UnknownKey { .. }), "{e}");
    }
}
