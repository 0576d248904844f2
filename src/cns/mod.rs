//! CNS login: the smart card of the Carta Nazionale dei Servizi (Tessera Sanitaria-CNS) as
//! a TLS client certificate, asked for on a dedicated host either by procura's own OpenSSL
//! listener ([`listener`]) or by a TLS-terminating proxy that forwards it in a header
//! ([`proxy`]). Either way procura validates the certificate itself ([`verify`]): chain to
//! the trust anchors of a PEM directory or the AgID trusted list ([`trust`], [`tsl`]),
//! validity, the CNS profile ([`profile`]), revocation by OCSP with the CRL as fallback
//! ([`revocation`]). A validated card becomes a short ticket ([`store`]) that the browser
//! carries back to procura's own host, where the login completes.

pub mod fetch;
pub mod listener;
pub mod profile;
pub mod proxy;
pub mod revocation;
pub mod store;
pub mod trust;
pub mod tsl;
pub mod verify;

use crate::config::Config;
use chrono::{DateTime, Utc};
use openssl::x509::X509;
use std::sync::{Arc, RwLock};
use trust::TrustAnchors;

/// The CNS side of procura, in `AppState` when `cns` is a login method.
pub struct Cns {
    anchors: RwLock<Arc<TrustAnchors>>,
    pub crls: revocation::CrlCache,
    pub proxies: Vec<proxy::Network>,
}

impl Cns {
    /// Loads the trust anchors (fetching the trusted list when one is configured: call from
    /// a blocking context) and checks the configuration.
    pub fn load(config: &Config, now: DateTime<Utc>) -> anyhow::Result<Self> {
        let cns = &config.cns;
        if cns.public_url.trim().is_empty() {
            anyhow::bail!("cns.public_url must name the CNS host (e.g. https://cns.example.it)");
        }
        if cns.listen.trim().is_empty() && cns.trusted_proxies.is_empty() {
            anyhow::bail!(
                "CNS needs a way in: cns.listen (own TLS listener) or cns.trusted_proxies (behind a proxy)"
            );
        }
        let proxies = proxy::networks(&cns.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("cns.trusted_proxies: {e}"))?;
        let anchors = TrustAnchors::load(cns, now)?;
        tracing::info!(
            anchors = anchors.certificates.len(),
            "CNS trust anchors loaded"
        );
        Ok(Self {
            anchors: RwLock::new(Arc::new(anchors)),
            crls: revocation::CrlCache::default(),
            proxies,
        })
    }

    /// The trust anchors in force.
    pub fn anchors(&self) -> Arc<TrustAnchors> {
        self.anchors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads the anchors again (the trusted list may have changed); on failure the anchors
    /// in force stay and the error is returned for the log.
    pub fn reload(&self, config: &Config, now: DateTime<Utc>) -> Result<usize, trust::TrustError> {
        let fresh = TrustAnchors::load(&config.cns, now)?;
        let n = fresh.certificates.len();
        *self.anchors.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        Ok(n)
    }

    /// Whether a request from `peer` may carry the proxy's certificate header.
    pub fn is_trusted_proxy(&self, peer: std::net::IpAddr) -> bool {
        self.proxies.iter().any(|n| n.contains(peer))
    }

    /// Validates a presented chain now (blocking: OpenSSL work and maybe OCSP/CRL fetches).
    pub fn validate(
        &self,
        config: &Config,
        pool: &crate::db::Pool,
        chain: &[X509],
        now: DateTime<Utc>,
    ) -> Result<verify::ValidCard, verify::Refusal> {
        let anchors = self.anchors();
        verify::Validation {
            config: &config.cns,
            anchors: &anchors,
            crls: &self.crls,
            now,
        }
        .validate(chain, || pool.get().ok())
    }
}

/// The CNS background work of `serve`: the trusted list fetched again every
/// `cns.tsl_refresh_interval_secs` (the anchors in force stay when that fails), and expired
/// tickets and OCSP answers dropped every ten minutes.
pub async fn maintain(state: crate::AppState) {
    let Some(cns) = state.cns.clone() else {
        return;
    };
    let refresh_every =
        std::time::Duration::from_secs(state.config.cns.tsl_refresh_interval_secs.max(60));
    let mut last_refresh = std::time::Instant::now();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        if last_refresh.elapsed() >= refresh_every {
            last_refresh = std::time::Instant::now();
            let (cns, config, now) = (cns.clone(), state.config.clone(), state.clock.now());
            match actix_web::web::block(move || cns.reload(&config, now)).await {
                Ok(Ok(n)) => tracing::info!(anchors = n, "CNS trust anchors reloaded"),
                Ok(Err(e)) => {
                    tracing::warn!(alert = true, error = %e, "CNS trust anchors not reloaded; the previous ones stay")
                }
                Err(e) => tracing::warn!(error = %e, "CNS trust anchors not reloaded"),
            }
        }
        let now = state.clock.now();
        match crate::db::run(&state.db, move |c| store::delete_expired(c, now)).await {
            Ok(n) => tracing::debug!(purged = n, "CNS maintenance"),
            Err(e) => tracing::warn!(error = %e, "CNS maintenance failed"),
        }
    }
}
