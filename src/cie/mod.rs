//! CIE login through OpenID Connect: procura as a relying party of the SPID/CIE OpenID
//! Connect Federation (AgID/IPZS technical rules).
//!
//! - [`keys`]: the federation and relying-party key sets, apart from the token keys.
//! - [`jose`]: JWS/JWE on josekit, restricted to the algorithms the rules allow.
//! - [`fetch`]: outbound HTTP, bounded in time and size.
//! - [`federation`] and [`policy`]: trust chains up to the trust anchor and metadata policy —
//!   the part no crate offers.
//! - [`entity_configuration`]: procura's own signed entity configuration.
//! - [`chains`]: the last-known-good trust chain of each provider, in the database.
//! - [`authorize`]: the signed request object with PKCE, state and nonce.
//! - [`callback`]: the code redeemed with `private_key_jwt`, the ID token and userinfo
//!   decrypted and verified, the claims read.
//! - [`store`]: requests and sessions in the database, so any instance takes any step.
//! - [`saml`]: "Entra con CIE" through the CIE SAML IdP instead, on the SPID SAML code.
//!
//! Everything here blocks (HTTP, RSA): the HTTP layer runs it on the blocking pool.

pub mod authorize;
pub mod callback;
pub mod chains;
pub mod entity_configuration;
pub mod federation;
pub mod fetch;
pub mod jose;
pub mod keys;
pub mod policy;
pub mod saml;
pub mod store;

use crate::config::{CieProviderConfig, Config};
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use josekit::jwk::Jwk;
use std::sync::{Arc, Mutex};

/// procura as a CIE relying party: its identity, its keys, the pinned trust anchor keys.
pub struct RelyingParty {
    /// The client_id and federation entity identifier (`oauth.issuer`).
    pub entity_id: String,
    pub redirect_uri: String,
    pub keys: keys::CieKeys,
    /// The trust anchor's federation keys, from `cie.trust_anchor_jwks`.
    pub anchor_keys: Vec<Jwk>,
    /// The signed entity configuration last made, reused for a while (signing costs an RSA
    /// operation and the route is public).
    signed: Mutex<Option<(DateTime<Utc>, Arc<String>)>>,
    /// One trust-chain resolution at a time on this instance (the others wait and then
    /// find the stored chain).
    pub resolving: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RelyingParty({})", self.entity_id)
    }
}

/// How long a signed entity configuration is served before it is signed again.
const RESIGN_AFTER_SECS: i64 = 600;

impl RelyingParty {
    /// Loads (in development, creates) the key sets and the pinned trust anchor keys.
    /// Returns the relying party and the key sets created.
    pub fn load(config: &Config) -> anyhow::Result<(Self, Vec<keys::Role>)> {
        let dir = config.cie_keys_dir();
        let (keys, created) = keys::CieKeys::load(&dir, config.keys.generate_if_missing)
            .with_context(|| format!("CIE keys in {}", dir.display()))?;
        let path = config.cie.trust_anchor_jwks.as_ref().context(
            "cie.trust_anchor_jwks is not set: the trust anchor's federation keys must be pinned",
        )?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cie.trust_anchor_jwks {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("cie.trust_anchor_jwks {} is not JSON", path.display()))?;
        let anchor_keys = jose::signature_keys(&value);
        if anchor_keys.is_empty() {
            anyhow::bail!(
                "cie.trust_anchor_jwks {} holds no usable key (RSA >= 2048 or P-256)",
                path.display()
            );
        }
        if config.cie.providers.is_empty() {
            anyhow::bail!("cie.providers is empty: name at least one CIE OpenID provider");
        }
        let entity_id = config.oauth.issuer.trim_end_matches('/').to_owned();
        Ok((
            Self {
                redirect_uri: format!("{entity_id}/cie/callback"),
                entity_id,
                keys,
                anchor_keys,
                signed: Mutex::new(None),
                resolving: tokio::sync::Mutex::new(()),
            },
            created,
        ))
    }

    /// The signed entity configuration at `now` (signed again every few minutes).
    pub fn entity_configuration(
        &self,
        config: &Config,
        now: DateTime<Utc>,
    ) -> Result<Arc<String>, jose::JoseError> {
        let mut cached = self.signed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, jwt)) = cached.as_ref()
            && *at <= now
            && now - *at < Duration::seconds(RESIGN_AFTER_SECS)
        {
            return Ok(jwt.clone());
        }
        let jwt = Arc::new(entity_configuration::sign(self, config, now)?);
        *cached = Some((now, jwt.clone()));
        Ok(jwt)
    }

    /// The configured provider with this entity id.
    pub fn provider<'c>(
        &self,
        config: &'c Config,
        entity_id: &str,
    ) -> Option<&'c CieProviderConfig> {
        config
            .cie
            .providers
            .iter()
            .find(|p| p.entity_id == entity_id)
    }

    /// The outbound limits of `config`.
    pub fn limits(config: &Config) -> fetch::Limits {
        fetch::Limits {
            timeout: std::time::Duration::from_secs(config.cie.fetch_timeout_secs.max(1)),
            max_bytes: config.cie.max_document_bytes,
        }
    }

    /// Keys (of any set) stay published this long after a successor activates: the longest
    /// anything they signed or encrypted for may still be in flight or cached.
    pub fn keep_retired(config: &Config) -> Duration {
        secs(
            config
                .cie
                .entity_configuration_ttl_secs
                .max(config.cie.request_ttl_secs),
        )
    }
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000))
}

/// The CIE background work of `serve`, every five minutes (the first round at start):
/// resolve again each provider's trust chain when the stored copy is older than
/// `cie.refresh_interval_secs` or near its expiry — whichever instance gets there first, the
/// others then find it fresh — reload the key sets (a rotation by `procura keys`), and drop
/// expired requests and sessions.
pub async fn maintain(state: crate::AppState) {
    let Some(rp) = state.cie.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        tick.tick().await;
        let now = state.clock.now();
        if let Err(e) = rp.keys.reload() {
            tracing::warn!(error = %e, "CIE keys: reload failed; keeping the loaded keys");
        }
        for provider in &state.config.cie.providers {
            let refreshed = chains::refresh_if_stale(&state, &rp, &provider.entity_id, now).await;
            if let Err(e) = refreshed {
                tracing::warn!(
                    alert = true,
                    provider = %provider.entity_id,
                    reason = e.reason(),
                    error = %e,
                    "CIE trust chain refresh failed; keeping the stored chain until it expires"
                );
            }
        }
        match crate::db::run(&state.db, move |c| store::delete_expired(c, now)).await {
            Ok(n) => tracing::debug!(purged = n, "CIE maintenance"),
            Err(e) => tracing::warn!(error = %e, "CIE maintenance failed"),
        }
    }
}
