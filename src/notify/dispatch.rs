//! The dispatcher: claims due messages with a lease, hands them over, then records the
//! outcome — each step its own short transaction, the hand-over outside any.
//!
//! Crash safety: a dispatcher killed after the hand-over and before its bookkeeping leaves
//! the row `pending` with a lease; once the lease runs out another round sends it again with
//! the same idempotency key, which the channel makes harmless (gateway header, Message-ID,
//! spool file name). A message is therefore delivered at least once by procura and exactly
//! once by the provider, and never lost.

use super::channel::{ConfigError, Outgoing, SendError, Senders};
use super::templates;
use super::{Channel, OutboxKey, Template};
use crate::AppState;
use crate::clock::Clock;
use crate::config::NotifyConfig;
use crate::db::schema::outbox_messages as om;
use crate::db::{DbConn, DbError, Pool};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchReport {
    /// Messages claimed by this round.
    pub claimed: usize,
    pub sent: usize,
    /// Failed this time, to be retried after the backoff.
    pub retried: usize,
    /// Failed for good (permanent error, or the last attempt).
    pub failed: usize,
    /// Claimed, but taken over by another dispatcher before its turn came (lease expired).
    pub skipped: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for DispatchError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

pub struct Dispatcher {
    db: Pool,
    key: Arc<OutboxKey>,
    clock: Arc<dyn Clock>,
    cfg: NotifyConfig,
    senders: Senders,
}

/// A claimed row: what the hand-over needs.
struct Claimed {
    id: String,
    idempotency_key: String,
    channel: String,
    recipient: String,
    template: String,
    params: String,
    sealed_secret: Option<Vec<u8>>,
    attempts: i64,
}

type ClaimedRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<Vec<u8>>,
    i64,
);

impl Dispatcher {
    pub fn new(
        db: Pool,
        key: Arc<OutboxKey>,
        clock: Arc<dyn Clock>,
        cfg: &NotifyConfig,
    ) -> Result<Self, ConfigError> {
        if cfg.lease_secs <= cfg.send_timeout_secs {
            tracing::warn!(
                lease_secs = cfg.lease_secs,
                send_timeout_secs = cfg.send_timeout_secs,
                "notify.lease_secs should exceed notify.send_timeout_secs, or a slow hand-over \
                 may be repeated (harmlessly, by idempotency key) by another dispatcher"
            );
        }
        Ok(Self {
            db,
            key,
            clock,
            senders: Senders::from_config(cfg)?,
            cfg: cfg.clone(),
        })
    }

    pub fn from_state(state: &AppState) -> Result<Self, ConfigError> {
        Self::new(
            state.db.clone(),
            state.outbox_key.clone(),
            state.clock.clone(),
            &state.config.notify,
        )
    }

    pub fn batch_size(&self) -> usize {
        self.cfg.batch_size.max(1) as usize
    }

    /// One round: claim up to `batch_size` due messages, send each, record each outcome.
    /// Blocking (database and channels): call it from a blocking thread.
    pub fn dispatch_due(&self) -> Result<DispatchReport, DispatchError> {
        let mut report = DispatchReport::default();
        let claimed = {
            let mut conn = self.db.get().map_err(DbError::from)?;
            self.claim(&mut conn)?
        };
        report.claimed = claimed.len();
        for (msg, claim_lease) in claimed {
            // Renew the lease just before this hand-over, so that a slow batch never sends a
            // message whose lease ran out; if another dispatcher took it over meanwhile, the
            // message is theirs now.
            let lease = lease_end(self.clock.now(), self.cfg.lease_secs);
            {
                let mut conn = self.db.get().map_err(DbError::from)?;
                if !renew_lease(&mut conn, &msg.id, claim_lease, lease)? {
                    report.skipped += 1;
                    continue;
                }
            }
            let outcome = self.deliver(&msg);
            let now = self.clock.now();
            let mut conn = self.db.get().map_err(DbError::from)?;
            match outcome {
                Ok(()) => {
                    mark_sent(&mut conn, &msg, now)?;
                    tracing::info!(
                        message_id = %msg.id,
                        channel = %msg.channel,
                        template = %msg.template,
                        "message handed over"
                    );
                    report.sent += 1;
                }
                Err(e) => {
                    let attempts = msg.attempts + 1;
                    let permanent = matches!(e, SendError::Permanent(_));
                    let error = scrub(&e.to_string(), &msg, &self.key);
                    if permanent || attempts >= i64::from(self.cfg.max_attempts.max(1)) {
                        mark_failed(&mut conn, &msg, lease, attempts, &error)?;
                        tracing::warn!(
                            message_id = %msg.id,
                            channel = %msg.channel,
                            attempts,
                            error = %error,
                            "message FAILED for good; an operator must look at it"
                        );
                        report.failed += 1;
                    } else {
                        let next = now + self.backoff(attempts);
                        mark_retry(&mut conn, &msg, lease, attempts, next, &error)?;
                        tracing::warn!(
                            message_id = %msg.id,
                            channel = %msg.channel,
                            attempts,
                            next_attempt_at = %next,
                            error = %error,
                            "message not handed over; will retry"
                        );
                        report.retried += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Takes due rows under a lease in one short transaction. PostgreSQL: `FOR UPDATE SKIP
    /// LOCKED`, so concurrent dispatchers each take other rows without waiting. SQLite: the
    /// IMMEDIATE write transaction serialises claims. Either way a claimed row carries
    /// `claimed_until` in the future, which every other claim skips.
    fn claim(&self, conn: &mut DbConn) -> Result<Vec<(Claimed, NaiveDateTime)>, DispatchError> {
        let now = self.clock.now();
        let lease = lease_end(now, self.cfg.lease_secs);
        let limit = i64::try_from(self.batch_size()).unwrap_or(50);
        conn.write_transaction(|c| {
            let now = now.naive_utc();
            let due = om::table
                .filter(om::status.eq("pending"))
                .filter(om::next_attempt_at.le(now))
                .filter(om::claimed_until.is_null().or(om::claimed_until.le(now)))
                .order((om::next_attempt_at.asc(), om::id.asc()))
                .limit(limit)
                .select((
                    om::id,
                    om::idempotency_key,
                    om::channel,
                    om::recipient,
                    om::template,
                    om::params,
                    om::sealed_secret,
                    om::attempts,
                ));
            let rows: Vec<ClaimedRow> = match c {
                DbConn::Postgres(pg) => due.for_update().skip_locked().load(pg)?,
                DbConn::Sqlite(lite) => due.load(lite)?,
            };
            let mut claimed = Vec::with_capacity(rows.len());
            for row in rows {
                diesel::update(om::table.filter(om::id.eq(&row.0)))
                    .set(om::claimed_until.eq(Some(lease)))
                    .execute(c)?;
                claimed.push((
                    Claimed {
                        id: row.0,
                        idempotency_key: row.1,
                        channel: row.2,
                        recipient: row.3,
                        template: row.4,
                        params: row.5,
                        sealed_secret: row.6,
                        attempts: row.7,
                    },
                    lease,
                ));
            }
            Ok(claimed)
        })
    }

    /// Opens the secret, renders, hands over. No database work here.
    fn deliver(&self, msg: &Claimed) -> Result<(), SendError> {
        let channel = Channel::parse(&msg.channel)
            .ok_or_else(|| SendError::Permanent(format!("unknown channel `{}`", msg.channel)))?;
        let template = Template::parse(&msg.template)
            .ok_or_else(|| SendError::Permanent(format!("unknown template `{}`", msg.template)))?;
        let params: serde_json::Value = serde_json::from_str(&msg.params)
            .map_err(|_| SendError::Permanent("params are not JSON".into()))?;
        // A wrong outbox key on this instance may be corrected: retry rather than give up.
        let secret = msg
            .sealed_secret
            .as_deref()
            .map(|s| self.key.open(&msg.id, s))
            .transpose()
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let content = templates::render(template, &params, secret.as_deref())
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let outgoing = Outgoing {
            message_id: &msg.id,
            idempotency_key: &msg.idempotency_key,
            channel,
            recipient: &msg.recipient,
            content: &content,
            now: self.clock.now(),
        };
        self.senders.for_channel(channel).send(&outgoing)
    }

    /// `backoff_base_secs × 2^(attempts−1)`, at most `backoff_max_secs`.
    fn backoff(&self, attempts: i64) -> chrono::Duration {
        let exp = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(32);
        let secs = self
            .cfg
            .backoff_base_secs
            .saturating_mul(1_u64 << exp)
            .min(self.cfg.backoff_max_secs);
        chrono::Duration::try_seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
            .unwrap_or(chrono::Duration::MAX)
    }
}

fn lease_end(now: DateTime<Utc>, lease_secs: u64) -> NaiveDateTime {
    let secs = i64::try_from(lease_secs.max(1)).unwrap_or(3600);
    (now + chrono::Duration::try_seconds(secs).unwrap_or(chrono::Duration::hours(1))).naive_utc()
}

/// An error text for the database and the logs: the secret, should any layer ever echo it,
/// is cut out.
fn scrub(error: &str, msg: &Claimed, key: &OutboxKey) -> String {
    let mut text: String = error.chars().take(500).collect();
    if let Some(secret) = msg
        .sealed_secret
        .as_deref()
        .and_then(|s| key.open(&msg.id, s).ok())
        .filter(|s| !s.is_empty())
    {
        text = text.replace(&secret, "[redacted]");
    }
    text
}

/// Moves our lease on; false when it is no longer ours.
fn renew_lease(
    conn: &mut DbConn,
    id: &str,
    ours: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<bool, DispatchError> {
    let n = diesel::update(
        om::table
            .filter(om::id.eq(id))
            .filter(om::status.eq("pending"))
            .filter(om::claimed_until.eq(ours)),
    )
    .set(om::claimed_until.eq(Some(until)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Sent: the sealed half is erased in the same UPDATE.
fn mark_sent(conn: &mut DbConn, msg: &Claimed, now: DateTime<Utc>) -> Result<(), DispatchError> {
    diesel::update(
        om::table
            .filter(om::id.eq(&msg.id))
            .filter(om::status.eq("pending")),
    )
    .set((
        om::status.eq("sent"),
        om::sent_at.eq(Some(now.naive_utc())),
        om::sealed_secret.eq(None::<Vec<u8>>),
        om::claimed_until.eq(None::<NaiveDateTime>),
        om::attempts.eq(msg.attempts + 1),
        om::last_error.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Failed for good: the half is erased too (a new PIN must be issued; a half that will
/// never be sent has no business staying at rest).
fn mark_failed(
    conn: &mut DbConn,
    msg: &Claimed,
    lease: NaiveDateTime,
    attempts: i64,
    error: &str,
) -> Result<(), DispatchError> {
    // Only while the lease is ours: a dispatcher whose lease ran out must not undo the
    // work of the one that took the message over.
    diesel::update(
        om::table
            .filter(om::id.eq(&msg.id))
            .filter(om::status.eq("pending"))
            .filter(om::claimed_until.eq(lease)),
    )
    .set((
        om::status.eq("failed"),
        om::sealed_secret.eq(None::<Vec<u8>>),
        om::claimed_until.eq(None::<NaiveDateTime>),
        om::attempts.eq(attempts),
        om::last_error.eq(Some(error)),
    ))
    .execute(conn)?;
    Ok(())
}

fn mark_retry(
    conn: &mut DbConn,
    msg: &Claimed,
    lease: NaiveDateTime,
    attempts: i64,
    next: DateTime<Utc>,
    error: &str,
) -> Result<(), DispatchError> {
    diesel::update(
        om::table
            .filter(om::id.eq(&msg.id))
            .filter(om::status.eq("pending"))
            .filter(om::claimed_until.eq(lease)),
    )
    .set((
        om::claimed_until.eq(None::<NaiveDateTime>),
        om::attempts.eq(attempts),
        om::next_attempt_at.eq(next.naive_utc()),
        om::last_error.eq(Some(error)),
    ))
    .execute(conn)?;
    Ok(())
}

/// `serve`'s background dispatcher: a round every `dispatch_interval_ms`, at once again
/// when a round found a full batch; the rounds run on the blocking pool.
pub async fn run_periodically(dispatcher: Arc<Dispatcher>, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            let d = dispatcher.clone();
            let full = d.batch_size();
            match tokio::task::spawn_blocking(move || d.dispatch_due()).await {
                Ok(Ok(report)) if report.claimed >= full => continue,
                Ok(Ok(_)) => break,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "notification dispatch round failed");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "notification dispatch task died");
                    break;
                }
            }
        }
    }
}

/// The same loop for `procura notify dispatch --loop`, on the calling thread.
pub fn run_blocking(dispatcher: &Dispatcher, interval: Duration) -> ! {
    loop {
        match dispatcher.dispatch_due() {
            Ok(report) if report.claimed >= dispatcher.batch_size() => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "notification dispatch round failed"),
        }
        std::thread::sleep(interval.max(Duration::from_millis(10)));
    }
}
