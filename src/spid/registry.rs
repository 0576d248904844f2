//! The identity providers procura trusts, and their last-known-good metadata.
//!
//! Sources (configuration): `spid.registry`, AgID's signed aggregate, whose signature must
//! verify against the pinned `spid.registry_certificate` (only the verified, re-parsed part
//! is kept); and each `spid.idp_metadata` entry, trusted as configured (test IdPs). The CIE
//! SAML IdP comes from `cie.saml.idp_metadata`, trusted as configured; each row says which
//! [`Profile`] it belongs to, and each registry reads only its own.
//!
//! [`refresh`] fetches every source and stores what passed into `spid_idp_metadata`; a source
//! that fails keeps its stored copy and is reported (and logged as an alert). Every instance
//! builds its in-memory [`IdpRegistry`] from those rows, so all instances agree whichever of
//! them fetched. Everything here blocks (HTTP, XML, database): run it on the blocking pool.

use super::dsig::{self, VerifyingKey};
use super::idp::{self, IdentityProvider};
use super::profile::Profile;
use super::xml;
use crate::config::Config;
use crate::db::schema::spid_idp_metadata as md;
use crate::db::{DbConn, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Largest metadata document fetched or parsed by default (`spid.max_metadata_bytes`; AgID's
/// aggregate is a few hundred kB).
pub const MAX_METADATA_BYTES: usize = 16 * 1024 * 1024;
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RegistryError {
    fn from(e: diesel::result::Error) -> Self {
        RegistryError::Db(DbError::Query(e))
    }
}

/// Why a source was not stored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("cannot fetch: {0}")]
    Fetch(String),
    #[error("larger than {0} bytes")]
    TooLarge(usize),
    #[error("the pinned registry certificate: {0}")]
    PinnedCertificate(String),
    #[error("signature refused: {0}")]
    Signature(#[from] dsig::DsigError),
    #[error("metadata unreadable: {0}")]
    Metadata(#[from] idp::IdpError),
    #[error("XML unreadable: {0}")]
    Xml(#[from] xml::XmlError),
    #[error("no usable identity provider in it")]
    Empty,
}

/// What a refresh did, per source.
#[derive(Debug, Default)]
pub struct RefreshReport {
    /// Sources fetched, verified and stored.
    pub stored: Vec<String>,
    /// Sources that failed, with why; their last good copy (if any) stays.
    pub failed: Vec<(String, SourceError)>,
    /// Stored rows of sources no longer configured, removed.
    pub removed: Vec<String>,
}

impl RefreshReport {
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    /// The AgID aggregate: signature checked against the pinned certificate.
    Registry,
    /// A single IdP's metadata, trusted as configured.
    Single,
}

/// Fetches every configured source and stores each one that passes, one transaction per
/// source. A failure is reported and logged, never fatal: the stored copy stays.
pub fn refresh(
    conn: &mut DbConn,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<RefreshReport, RegistryError> {
    refresh_profile(conn, config, Profile::Spid, now)
}

/// The configured sources of `profile`'s IdPs.
fn sources(config: &Config, profile: Profile) -> Vec<(String, SourceKind)> {
    let mut sources: Vec<(String, SourceKind)> = Vec::new();
    let singles = match profile {
        Profile::Spid => {
            let registry = config.spid.registry.as_deref();
            if let Some(registry) = registry.filter(|s| !s.trim().is_empty()) {
                sources.push((registry.trim().to_owned(), SourceKind::Registry));
            }
            &config.spid.idp_metadata
        }
        Profile::Cie => &config.cie.saml.idp_metadata,
    };
    for single in singles {
        if !single.trim().is_empty() {
            sources.push((single.trim().to_owned(), SourceKind::Single));
        }
    }
    sources
}

/// [`refresh`] for the IdPs of `profile`.
pub fn refresh_profile(
    conn: &mut DbConn,
    config: &Config,
    profile: Profile,
    now: DateTime<Utc>,
) -> Result<RefreshReport, RegistryError> {
    let sources = sources(config, profile);
    let limits = xml::Limits::for_metadata(&config.spid);
    let mut report = RefreshReport::default();
    for (source, kind) in &sources {
        let checked = fetch(source, limits.max_bytes).and_then(|text| match kind {
            SourceKind::Registry => verified_registry(config, &text, now, &limits),
            SourceKind::Single => checked_single(text, now, &limits),
        });
        match checked {
            Ok(stored) => {
                store(conn, profile, source, &stored, now)?;
                tracing::info!(source = %source, idps = stored.idps, "IdP metadata refreshed");
                report.stored.push(source.clone());
            }
            Err(error) => {
                tracing::warn!(
                    alert = true,
                    source = %source,
                    %error,
                    "IdP metadata refresh failed; keeping the last good copy"
                );
                report.failed.push((source.clone(), error));
            }
        }
    }
    report.removed = remove_unconfigured(conn, profile, &sources)?;
    Ok(report)
}

/// What goes into a row: the metadata text to read back, and its facts.
struct Checked {
    xml: String,
    valid_until: Option<DateTime<Utc>>,
    idps: usize,
}

/// The aggregate: its root signature must verify with the pinned certificate; what is kept
/// is the verified canonical form (signature removed), parsed again here to be sure it
/// yields identity providers.
fn verified_registry(
    config: &Config,
    text: &str,
    now: DateTime<Utc>,
    limits: &xml::Limits,
) -> Result<Checked, SourceError> {
    let pinned = pinned_key(config)?;
    let doc = xml::parse(text, limits)?;
    let verified = dsig::verify_enveloped(doc.root_element(), std::slice::from_ref(&pinned))?;
    // The canonical form keeps within the same limits, except that namespace declarations
    // move down to where they are used; what is stored must also parse again on reload.
    checked_single(verified.signed_xml, now, &limits.canonical())
}

fn pinned_key(config: &Config) -> Result<VerifyingKey, SourceError> {
    let path = config.spid.registry_certificate.as_ref().ok_or_else(|| {
        SourceError::PinnedCertificate(
            "spid.registry is set but spid.registry_certificate is not".into(),
        )
    })?;
    let pem = std::fs::read_to_string(path)
        .map_err(|e| SourceError::PinnedCertificate(format!("{}: {e}", path.display())))?;
    VerifyingKey::from_certificate_pem(&pem)
        .map_err(|e| SourceError::PinnedCertificate(format!("{}: {e}", path.display())))
}

fn checked_single(
    text: String,
    now: DateTime<Utc>,
    limits: &xml::Limits,
) -> Result<Checked, SourceError> {
    let parsed = idp::parse(&text, limits, now)?;
    log_skipped(&parsed.skipped);
    if parsed.idps.is_empty() {
        return Err(SourceError::Empty);
    }
    Ok(Checked {
        idps: parsed.idps.len(),
        valid_until: parsed.valid_until,
        xml: text,
    })
}

fn log_skipped(skipped: &[idp::Skipped]) {
    for s in skipped {
        tracing::warn!(idp = %s.entity_id, reason = %s.reason, "identity provider left out");
    }
}

/// Reads a source: an `https://` URL, an `http://` URL on the loopback interface (local
/// test IdPs), or a file path (`file://` optional).
fn fetch(source: &str, max_bytes: usize) -> Result<String, SourceError> {
    if let Some(rest) = source.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(SourceError::Fetch(
                "plain http is allowed only on the loopback interface: use https".into(),
            ));
        }
        return fetch_url(source, max_bytes);
    }
    if source.starts_with("https://") {
        return fetch_url(source, max_bytes);
    }
    let path = source.strip_prefix("file://").unwrap_or(source);
    let file = std::fs::File::open(path).map_err(|e| SourceError::Fetch(format!("{path}: {e}")))?;
    read_bounded(file, max_bytes)
}

fn fetch_url(url: &str, max_bytes: usize) -> Result<String, SourceError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| SourceError::Fetch(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(SourceError::Fetch(format!("HTTP {status}")));
    }
    read_bounded(response.body_mut().as_reader(), max_bytes)
}

fn read_bounded(reader: impl Read, max_bytes: usize) -> Result<String, SourceError> {
    let mut bytes = Vec::new();
    reader
        .take(
            u64::try_from(max_bytes)
                .unwrap_or(u64::MAX)
                .saturating_add(1),
        )
        .read_to_end(&mut bytes)
        .map_err(|e| SourceError::Fetch(e.to_string()))?;
    if bytes.len() > max_bytes {
        return Err(SourceError::TooLarge(max_bytes));
    }
    String::from_utf8(bytes)
        .map(xml::normalize_line_ends)
        .map_err(|_| SourceError::Xml(xml::XmlError::Utf8))
}

fn store(
    conn: &mut DbConn,
    profile: Profile,
    source: &str,
    checked: &Checked,
    now: DateTime<Utc>,
) -> Result<(), RegistryError> {
    let sha256 = hex::encode(Sha256::digest(checked.xml.as_bytes()));
    conn.write_transaction(|c| {
        // Delete and insert: portable across both backends, atomic in the transaction.
        diesel::delete(md::table.filter(md::source.eq(source))).execute(c)?;
        diesel::insert_into(md::table)
            .values((
                md::source.eq(source),
                md::xml.eq(&checked.xml),
                md::sha256.eq(&sha256),
                md::fetched_at.eq(now.naive_utc()),
                md::valid_until.eq(checked.valid_until.map(|t| t.naive_utc())),
                md::profile.eq(profile.as_str()),
            ))
            .execute(c)?;
        Ok::<_, RegistryError>(())
    })
}

/// Removes the stored copies of `profile`'s sources no longer configured.
fn remove_unconfigured(
    conn: &mut DbConn,
    profile: Profile,
    configured: &[(String, SourceKind)],
) -> Result<Vec<String>, RegistryError> {
    let stored: Vec<String> = md::table
        .filter(md::profile.eq(profile.as_str()))
        .select(md::source)
        .load(conn)?;
    let gone: Vec<String> = stored
        .into_iter()
        .filter(|s| !configured.iter().any(|(c, _)| c == s))
        .collect();
    if !gone.is_empty() {
        diesel::delete(md::table.filter(md::source.eq_any(&gone))).execute(conn)?;
        for source in &gone {
            tracing::info!(source = %source, "IdP metadata of a source no longer configured removed");
        }
    }
    Ok(gone)
}

/// One stored source, as `procura spid idps` shows it.
#[derive(Debug, Clone, Queryable)]
pub struct StoredSource {
    pub source: String,
    pub sha256: String,
    pub fetched_at: chrono::NaiveDateTime,
    pub valid_until: Option<chrono::NaiveDateTime>,
}

pub fn stored_sources(conn: &mut DbConn) -> Result<Vec<StoredSource>, RegistryError> {
    stored_sources_of(conn, Profile::Spid)
}

/// The stored sources of `profile`'s IdPs.
pub fn stored_sources_of(
    conn: &mut DbConn,
    profile: Profile,
) -> Result<Vec<StoredSource>, RegistryError> {
    Ok(md::table
        .filter(md::profile.eq(profile.as_str()))
        .order(md::source)
        .select((md::source, md::sha256, md::fetched_at, md::valid_until))
        .load(conn)?)
}

struct Snapshot {
    by_id: HashMap<String, Arc<IdentityProvider>>,
    /// (entity ID, display name), sorted by name for the login page.
    listing: Vec<(String, String)>,
}

impl Snapshot {
    fn new(idps: Vec<IdentityProvider>) -> Self {
        let mut by_id = HashMap::with_capacity(idps.len());
        for idp in idps {
            if by_id.contains_key(&idp.entity_id) {
                tracing::warn!(idp = %idp.entity_id, "IdP described twice; keeping the first");
                continue;
            }
            by_id.insert(idp.entity_id.clone(), Arc::new(idp));
        }
        let mut listing: Vec<(String, String)> = by_id
            .values()
            .map(|i| (i.entity_id.clone(), i.display_name.clone()))
            .collect();
        listing.sort_by(|a, b| {
            a.1.to_lowercase()
                .cmp(&b.1.to_lowercase())
                .then_with(|| a.0.cmp(&b.0))
        });
        Self { by_id, listing }
    }
}

/// The identity providers in memory: cheap to clone, shared by every worker; replaced
/// whole by [`IdpRegistry::reload`].
#[derive(Clone)]
pub struct IdpRegistry {
    current: Arc<RwLock<Arc<Snapshot>>>,
    /// What the stored metadata are parsed within on reload.
    limits: xml::Limits,
    /// Whose IdPs: the rows of this profile only.
    profile: Profile,
}

impl std::fmt::Debug for IdpRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdpRegistry({} IdPs)", self.snapshot().by_id.len())
    }
}

impl Default for IdpRegistry {
    fn default() -> Self {
        Self::from_idps(Vec::new())
    }
}

/// The built-in metadata limits with the default size.
const DEFAULT_LIMITS: xml::Limits = xml::Limits::metadata(MAX_METADATA_BYTES);

impl IdpRegistry {
    pub fn from_idps(idps: Vec<IdentityProvider>) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(Snapshot::new(idps)))),
            limits: DEFAULT_LIMITS,
            profile: Profile::Spid,
        }
    }

    /// An empty registry whose stored metadata are read within `limits` (the configured
    /// metadata limits: [`xml::Limits::for_metadata`]).
    pub fn new(limits: xml::Limits) -> Self {
        Self::for_profile(Profile::Spid, limits)
    }

    /// An empty registry of `profile`'s IdPs (see [`IdpRegistry::new`]).
    pub fn for_profile(profile: Profile, limits: xml::Limits) -> Self {
        Self {
            limits,
            profile,
            ..Self::default()
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock still holds a whole snapshot (it is only ever swapped).
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn find(&self, entity_id: &str) -> Option<Arc<IdentityProvider>> {
        self.snapshot().by_id.get(entity_id).cloned()
    }

    /// Every IdP (in no particular order: the login button shuffles them).
    pub fn idps(&self) -> Vec<Arc<IdentityProvider>> {
        self.snapshot().by_id.values().cloned().collect()
    }

    /// (entity ID, display name) of every IdP, sorted by name.
    pub fn list(&self) -> Vec<(String, String)> {
        self.snapshot().listing.clone()
    }

    pub fn len(&self) -> usize {
        self.snapshot().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A registry built from the stored rows (see [`idps_from_db`]).
    pub fn load_from_db(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Self, RegistryError> {
        Ok(Self::from_idps(idps_from_db(conn, now)?))
    }

    /// Replaces the contents with the stored rows; returns how many IdPs there are now.
    pub fn reload(&self, conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, RegistryError> {
        let snapshot = Arc::new(Snapshot::new(idps_within(
            conn,
            self.profile,
            now,
            &self.limits,
        )?));
        let count = snapshot.by_id.len();
        match self.current.write() {
            Ok(mut guard) => *guard = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
        Ok(count)
    }
}

/// The IdPs of every stored row, in source order. A row that no longer parses (or has
/// expired) is logged and left out; it does not take the others with it.
pub fn idps_from_db(
    conn: &mut DbConn,
    now: DateTime<Utc>,
) -> Result<Vec<IdentityProvider>, RegistryError> {
    idps_within(conn, Profile::Spid, now, &DEFAULT_LIMITS)
}

/// [`idps_from_db`], reading the stored metadata within `limits` (and their canonical form,
/// which the aggregate is stored as).
fn idps_within(
    conn: &mut DbConn,
    profile: Profile,
    now: DateTime<Utc>,
    limits: &xml::Limits,
) -> Result<Vec<IdentityProvider>, RegistryError> {
    let limits = limits.canonical();
    let rows: Vec<(String, String)> = md::table
        .filter(md::profile.eq(profile.as_str()))
        .order(md::source)
        .select((md::source, md::xml))
        .load(conn)?;
    let mut by_source: BTreeMap<String, Vec<IdentityProvider>> = BTreeMap::new();
    for (source, text) in rows {
        match idp::parse(&text, &limits, now) {
            Ok(parsed) => {
                log_skipped(&parsed.skipped);
                by_source.insert(source, parsed.idps);
            }
            Err(error) => {
                tracing::warn!(alert = true, source = %source, %error, "stored IdP metadata unusable");
            }
        }
    }
    Ok(by_source.into_values().flatten().collect())
}
