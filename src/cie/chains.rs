//! The trust chain of each configured provider, last-known-good in the database
//! (`cie_trust_chains`) like the SPID IdP registry: every instance reads the same row; a
//! login finds the stored chain and resolves only when there is none or it has expired; the
//! maintenance task resolves again when the row is older than `cie.refresh_interval_secs` or
//! within that interval of its expiry, and a failed refresh keeps the stored chain — never
//! past its expiry, the earliest `exp` of its statements.

use super::federation::{self, Anchor, ChainError, Http, Times, TrustChain};
use super::store::{self, StoredChain};
use super::{RelyingParty, secs};
use crate::AppState;
use crate::db::{self, DbError};
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum ChainFailure {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the resolution task was cancelled")]
    Cancelled,
}

impl ChainFailure {
    pub fn reason(&self) -> &'static str {
        match self {
            ChainFailure::Chain(e) => e.reason(),
            ChainFailure::Db(_) => "database",
            ChainFailure::Cancelled => "cancelled",
        }
    }
}

/// Resolves `provider` now (on the blocking pool) and stores the chain.
async fn resolve_and_store(
    state: &AppState,
    rp: &RelyingParty,
    provider: &str,
    now: DateTime<Utc>,
) -> Result<StoredChain, ChainFailure> {
    let config = state.config.clone();
    let anchor_keys = rp.anchor_keys.clone();
    let subject = provider.to_owned();
    let resolved: TrustChain = actix_web::web::block(move || {
        let source = Http(RelyingParty::limits(&config));
        federation::resolve(
            &source,
            &subject,
            Anchor {
                entity_id: &config.cie.trust_anchor,
                keys: &anchor_keys,
            },
            Times {
                now,
                skew: secs(config.cie.clock_skew_secs),
            },
        )
    })
    .await
    .map_err(|_| ChainFailure::Cancelled)??;
    let row = StoredChain {
        provider: resolved.subject.clone(),
        trust_anchor: resolved.trust_anchor.clone(),
        metadata: serde_json::Value::Object(resolved.metadata.clone()).to_string(),
        statements: serde_json::Value::from(resolved.statements.clone()).to_string(),
        expires_at: resolved.expires_at.naive_utc(),
        fetched_at: now.naive_utc(),
    };
    let stored = row.clone();
    db::run(&state.db, move |c| store::store_chain(c, &stored)).await?;
    tracing::info!(
        provider = %row.provider,
        expires_at = %resolved.expires_at,
        statements = resolved.statements.len(),
        "CIE trust chain resolved"
    );
    Ok(row)
}

async fn stored(state: &AppState, provider: &str) -> Result<Option<StoredChain>, DbError> {
    let p = provider.to_owned();
    db::run(&state.db, move |c| store::find_chain(c, &p)).await
}

/// The chain to use for a login with `provider` at `now`: the stored one while it has not
/// expired, else a fresh resolution (one at a time per instance).
pub async fn current(
    state: &AppState,
    rp: &RelyingParty,
    provider: &str,
    now: DateTime<Utc>,
) -> Result<StoredChain, ChainFailure> {
    if let Some(chain) = stored(state, provider)
        .await?
        .filter(|c| c.is_valid_at(now))
    {
        return Ok(chain);
    }
    let _one_at_a_time = rp.resolving.lock().await;
    if let Some(chain) = stored(state, provider)
        .await?
        .filter(|c| c.is_valid_at(now))
    {
        return Ok(chain);
    }
    resolve_and_store(state, rp, provider, now).await
}

/// Resolves again when the stored chain is missing, older than the refresh interval, or
/// within that interval of its expiry. A failure leaves the stored chain as it was.
pub async fn refresh_if_stale(
    state: &AppState,
    rp: &RelyingParty,
    provider: &str,
    now: DateTime<Utc>,
) -> Result<(), ChainFailure> {
    let interval = secs(state.config.cie.refresh_interval_secs.max(60));
    let fresh = stored(state, provider).await?.is_some_and(|c| {
        c.fetched_at > (now - interval).naive_utc() && c.expires_at > (now + interval).naive_utc()
    });
    if fresh {
        return Ok(());
    }
    let _one_at_a_time = rp.resolving.lock().await;
    resolve_and_store(state, rp, provider, now)
        .await
        .map(|_| ())
}
