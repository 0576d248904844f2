//! Trust anchors of the CNS validation: the CA certificates of a PEM directory and/or the
//! CNS services of the AgID trusted list, as one OpenSSL store.
//!
//! The store checks chains only: validity dates are checked by procura against its own
//! clock (`NO_CHECK_TIME`), and an anchor may be an intermediate CA (`PARTIAL_CHAIN`): the
//! trusted list names the issuing "CA Cittadini", not always their roots.

use super::fetch;
use super::tsl;
use crate::config::CnsConfig;
use chrono::{DateTime, Utc};
use openssl::asn1::Asn1Time;
use openssl::x509::X509;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("no trust anchor configured: set cns.trust_anchors_dir or cns.tsl")]
    NotConfigured,
    #[error("{0}: {1}")]
    File(String, String),
    #[error(transparent)]
    Tsl(#[from] tsl::TslError),
    #[error("trusted list: {0}")]
    Fetch(#[from] fetch::FetchError),
    #[error("no usable trust anchor (all expired or none of the configured service types)")]
    Empty,
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// The whole download of the trusted list (some megabytes), at most.
const TSL_FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// The CA certificates cards may chain to.
pub struct TrustAnchors {
    pub store: X509Store,
    pub certificates: Vec<X509>,
}

impl TrustAnchors {
    /// The anchors of `certificates` that are valid at `now`.
    pub fn new(certificates: Vec<X509>, now: DateTime<Utc>) -> Result<Self, TrustError> {
        let at = Asn1Time::from_unix(now.timestamp())?;
        let certificates: Vec<X509> = certificates
            .into_iter()
            .filter(|c| c.not_after() >= at && c.not_before() <= at)
            .collect();
        if certificates.is_empty() {
            return Err(TrustError::Empty);
        }
        let mut builder = X509StoreBuilder::new()?;
        for cert in &certificates {
            builder.add_cert(cert.clone())?;
        }
        builder.set_flags(X509VerifyFlags::NO_CHECK_TIME | X509VerifyFlags::PARTIAL_CHAIN)?;
        Ok(Self {
            store: builder.build(),
            certificates,
        })
    }

    /// Loads the anchors `config` names (a fetch of the trusted list runs here: call from a
    /// blocking context).
    pub fn load(config: &CnsConfig, now: DateTime<Utc>) -> Result<Self, TrustError> {
        let mut certificates = Vec::new();
        if let Some(dir) = &config.trust_anchors_dir {
            certificates.extend(pem_directory(dir)?);
        }
        if let Some(source) = config.tsl.as_deref().filter(|s| !s.trim().is_empty()) {
            certificates.extend(from_tsl(config, source)?);
        } else if config.trust_anchors_dir.is_none() {
            return Err(TrustError::NotConfigured);
        }
        Self::new(certificates, now)
    }
}

/// Every certificate of the `*.pem`, `*.crt` and `*.cer` files (PEM) in `dir`.
pub fn pem_directory(dir: &Path) -> Result<Vec<X509>, TrustError> {
    let shown = dir.display().to_string();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| TrustError::File(shown.clone(), e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "pem" | "crt" | "cer"))
        })
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for path in entries {
        out.extend(pem_file(&path)?);
    }
    Ok(out)
}

/// The CA certificates of the configured service types in the trusted list at `source`
/// (a file or an http(s) URL), its signature checked first.
pub fn from_tsl(config: &CnsConfig, source: &str) -> Result<Vec<X509>, TrustError> {
    let mut signers = Vec::new();
    for path in &config.tsl_signer_certificates {
        signers.extend(pem_file(path)?);
    }
    let bytes = if source.starts_with("http://") || source.starts_with("https://") {
        fetch::fetch(source, None, TSL_FETCH_TIMEOUT, config.tsl_max_bytes)?
    } else {
        let len = std::fs::metadata(source)
            .map_err(|e| TrustError::File(source.to_owned(), e.to_string()))?
            .len();
        if len > config.tsl_max_bytes as u64 {
            return Err(tsl::TslError::TooLarge(config.tsl_max_bytes).into());
        }
        std::fs::read(source).map_err(|e| TrustError::File(source.to_owned(), e.to_string()))?
    };
    let text = String::from_utf8(bytes).map_err(|_| tsl::TslError::Xml("not UTF-8".to_owned()))?;
    let signed = tsl::verify(&text, &signers, config.tsl_max_bytes)?;
    let services = tsl::ca_services(&signed, &config.tsl_service_types, config.tsl_max_bytes)?;
    tracing::info!(services = services.len(), "CNS trusted list verified");
    Ok(services.into_iter().flat_map(|s| s.certificates).collect())
}

/// Every certificate of one PEM file.
fn pem_file(path: &Path) -> Result<Vec<X509>, TrustError> {
    let text = std::fs::read(path)
        .map_err(|e| TrustError::File(path.display().to_string(), e.to_string()))?;
    X509::stack_from_pem(&text)
        .map_err(|e| TrustError::File(path.display().to_string(), e.to_string()))
}
