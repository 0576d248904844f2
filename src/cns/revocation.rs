//! Whether a card's certificate is revoked: OCSP first (the responder named in the
//! certificate's AIA), answers shared by every instance through the database until the
//! responder's nextUpdate; the CRL of the certificate's distribution point as the fallback,
//! kept in memory until its nextUpdate. Every answer is signature-checked against the issuer
//! and read against procura's clock. Runs on the blocking pool (it may fetch).

use super::fetch;
use super::store;
use super::trust::TrustAnchors;
use crate::config::CnsConfig;
use crate::db::DbConn;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use openssl::asn1::{Asn1GeneralizedTimeRef, Asn1Time};
use openssl::hash::MessageDigest;
use openssl::ocsp::{
    OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse, OcspResponseStatus,
};
use openssl::stack::Stack;
use openssl::x509::{CrlStatus, X509, X509Crl, X509Ref};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Clock difference tolerated on OCSP and CRL times.
const SKEW_SECS: i64 = 300;

/// What a source said about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked,
    /// The source could not tell (down, unknown certificate, stale or badly signed answer).
    Unknown(String),
}

/// Which source decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Ocsp,
    Crl,
}

/// The verdict on a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Good(Source),
    Revoked(Source),
    /// Neither source answered; the reasons, for the log.
    Unavailable(String),
}

/// A downloaded CRL and when it was fetched.
type FetchedCrl = (Arc<X509Crl>, DateTime<Utc>);

/// CRLs downloaded by this instance, by URL.
#[derive(Default)]
pub struct CrlCache {
    crls: Mutex<HashMap<String, FetchedCrl>>,
}

/// The inputs of a revocation check.
pub struct Check<'a> {
    pub config: &'a CnsConfig,
    pub anchors: &'a TrustAnchors,
    pub crls: &'a CrlCache,
    pub leaf: &'a X509Ref,
    pub issuer: &'a X509Ref,
    pub now: DateTime<Utc>,
}

impl Check<'_> {
    pub fn run(&self, conn: &mut DbConn) -> Verdict {
        let mut reasons = Vec::new();
        if self.config.ocsp {
            match self.ocsp(conn) {
                Status::Good => return Verdict::Good(Source::Ocsp),
                Status::Revoked => return Verdict::Revoked(Source::Ocsp),
                Status::Unknown(why) => reasons.push(format!("OCSP: {why}")),
            }
        }
        match self.crl() {
            Status::Good => Verdict::Good(Source::Crl),
            Status::Revoked => Verdict::Revoked(Source::Crl),
            Status::Unknown(why) => {
                reasons.push(format!("CRL: {why}"));
                Verdict::Unavailable(reasons.join("; "))
            }
        }
    }

    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.fetch_timeout_secs.max(1))
    }

    /// Cache key: the issuer certificate and the serial number.
    fn cert_key(&self) -> Option<String> {
        let issuer = self.issuer.to_der().ok()?;
        let serial = self.leaf.serial_number().to_bn().ok()?.to_hex_str().ok()?;
        Some(format!(
            "{}:{}",
            hex::encode(Sha256::digest(issuer)),
            &*serial
        ))
    }

    fn ocsp(&self, conn: &mut DbConn) -> Status {
        let Some(key) = self.cert_key() else {
            return Status::Unknown("unreadable certificate".into());
        };
        match store::cached_ocsp(conn, &key, self.now) {
            Ok(Some(der)) => {
                if let (status @ (Status::Good | Status::Revoked), _) = self.read_ocsp(&der) {
                    return status;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "OCSP cache unreadable"),
        }
        let urls: Vec<String> = match self.leaf.ocsp_responders() {
            Ok(list) => list.iter().map(|s| s.to_string()).collect(),
            Err(_) => Vec::new(),
        };
        if urls.is_empty() {
            return Status::Unknown("no responder in the certificate".into());
        }
        let request = match self.ocsp_request() {
            Ok(r) => r,
            Err(e) => return Status::Unknown(format!("request: {e}")),
        };
        let mut last = Status::Unknown("no responder answered".into());
        for url in urls {
            let answer = fetch::fetch(
                &url,
                Some((&request, "application/ocsp-request")),
                self.timeout(),
                self.config.ocsp_max_bytes,
            );
            let der = match answer {
                Ok(d) => d,
                Err(e) => {
                    last = Status::Unknown(format!("{url}: {e}"));
                    continue;
                }
            };
            let (status, next_update) = self.read_ocsp(&der);
            if matches!(status, Status::Good | Status::Revoked) {
                let longest = self.now + secs(self.config.ocsp_cache_max_secs);
                let until = next_update.map_or(longest, |n| n.min(longest));
                if until > self.now
                    && let Err(e) = store::cache_ocsp(conn, &key, &der, self.now, until)
                {
                    tracing::debug!(error = %e, "OCSP answer not cached");
                }
                return status;
            }
            last = status;
        }
        last
    }

    fn cert_id(&self) -> Result<OcspCertId, openssl::error::ErrorStack> {
        // RFC 6960 CertID: SHA-1 is what every responder understands.
        OcspCertId::from_cert(MessageDigest::sha1(), self.leaf, self.issuer)
    }

    fn ocsp_request(&self) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut request = OcspRequest::new()?;
        request.add_id(self.cert_id()?)?;
        request.to_der()
    }

    /// Reads an OCSP answer about the leaf: its signature (by the issuer, or a responder the
    /// issuer delegated to), the certificate's status, and its times against procura's clock.
    fn read_ocsp(&self, der: &[u8]) -> (Status, Option<DateTime<Utc>>) {
        let unknown = |why: &str| (Status::Unknown(why.to_owned()), None);
        let Ok(response) = OcspResponse::from_der(der) else {
            return unknown("unreadable answer");
        };
        if response.status() != OcspResponseStatus::SUCCESSFUL {
            return unknown("responder refused the request");
        }
        let Ok(basic) = response.basic() else {
            return unknown("no basic response");
        };
        let mut certs = match Stack::<X509>::new() {
            Ok(s) => s,
            Err(_) => return unknown("OpenSSL"),
        };
        if certs.push(self.issuer.to_owned()).is_err() {
            return unknown("OpenSSL");
        }
        if basic
            .verify(&certs, &self.anchors.store, OcspFlag::empty())
            .is_err()
        {
            return unknown("answer not signed by the issuer or its responder");
        }
        let Ok(id) = self.cert_id() else {
            return unknown("OpenSSL");
        };
        let Some(status) = basic.find_status(&id) else {
            return unknown("answer is about another certificate");
        };
        let Some(this_update) = generalized(status.this_update) else {
            return unknown("unreadable thisUpdate");
        };
        let next_update = status.next_update().and_then(generalized);
        if this_update > self.now + Duration::seconds(SKEW_SECS) {
            return unknown("answer from the future");
        }
        if next_update.is_some_and(|n| n < self.now - Duration::seconds(SKEW_SECS)) {
            return unknown("stale answer");
        }
        let verdict = if status.status == OcspCertStatus::GOOD {
            Status::Good
        } else if status.status == OcspCertStatus::REVOKED {
            Status::Revoked
        } else {
            Status::Unknown("responder does not know the certificate".into())
        };
        (verdict, next_update)
    }

    fn crl(&self) -> Status {
        let urls: Vec<String> = self
            .leaf
            .crl_distribution_points()
            .map(|points| {
                points
                    .iter()
                    .filter_map(|p| p.distpoint())
                    .filter_map(|d| d.fullname())
                    .flat_map(|names| {
                        names
                            .iter()
                            .filter_map(|n| n.uri().map(str::to_owned))
                            .collect::<Vec<_>>()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if urls.is_empty() {
            return Status::Unknown("no distribution point in the certificate".into());
        }
        let mut last = Status::Unknown("no CRL".into());
        for url in urls {
            match self.crl_from(&url) {
                Ok(crl) => return self.read_crl(&crl),
                Err(why) => last = Status::Unknown(format!("{url}: {why}")),
            }
        }
        last
    }

    /// The CRL at `url`: the cached copy while fresh, else downloaded and checked (issuer
    /// signature, issuer name, nextUpdate) before it replaces the cached one.
    fn crl_from(&self, url: &str) -> Result<Arc<X509Crl>, String> {
        let max_age = secs(self.config.crl_cache_max_secs);
        if let Ok(cache) = self.crls.crls.lock()
            && let Some((crl, fetched)) = cache.get(url)
            && *fetched + max_age > self.now
            && self.crl_usable(crl).is_ok()
        {
            return Ok(Arc::clone(crl));
        }
        let bytes = fetch::fetch(url, None, self.timeout(), self.config.crl_max_bytes)
            .map_err(|e| e.to_string())?;
        let crl = X509Crl::from_der(&bytes)
            .or_else(|_| X509Crl::from_pem(&bytes))
            .map_err(|_| "unreadable CRL".to_owned())?;
        self.crl_usable(&crl)?;
        let crl = Arc::new(crl);
        if let Ok(mut cache) = self.crls.crls.lock() {
            cache.insert(url.to_owned(), (Arc::clone(&crl), self.now));
        }
        Ok(crl)
    }

    fn crl_usable(&self, crl: &X509Crl) -> Result<(), String> {
        let same_issuer = match (
            crl.issuer_name().to_der(),
            self.issuer.subject_name().to_der(),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same_issuer {
            return Err("CRL of another issuer".into());
        }
        let key = self.issuer.public_key().map_err(|e| e.to_string())?;
        if !crl.verify(&key).unwrap_or(false) {
            return Err("CRL not signed by the issuer".into());
        }
        let now = Asn1Time::from_unix(self.now.timestamp()).map_err(|e| e.to_string())?;
        let late = Asn1Time::from_unix((self.now - Duration::seconds(SKEW_SECS)).timestamp())
            .map_err(|e| e.to_string())?;
        if crl.last_update() > now {
            return Err("CRL from the future".into());
        }
        match crl.next_update() {
            Some(next) if next < late => Err("stale CRL".into()),
            _ => Ok(()),
        }
    }

    fn read_crl(&self, crl: &X509Crl) -> Status {
        match crl.get_by_serial(self.leaf.serial_number()) {
            CrlStatus::NotRevoked => Status::Good,
            CrlStatus::Revoked(_) => Status::Revoked,
            // Removed from a delta CRL's hold: not revoked.
            CrlStatus::RemoveFromCrl(_) => Status::Good,
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000))
}

/// An ASN.1 GeneralizedTime as OpenSSL prints it (`Nov 22 10:00:00 2026 GMT`).
fn generalized(t: &Asn1GeneralizedTimeRef) -> Option<DateTime<Utc>> {
    let text = t.to_string();
    NaiveDateTime::parse_from_str(text.trim_end_matches(" GMT"), "%b %e %H:%M:%S %Y")
        .ok()
        .map(|n| n.and_utc())
}
