//! The PIN credential of a person: its hash, its validity and its lockout (domain §6.6, §6.7).
//!
//! # Lifecycle
//! - [`set_credential`] gives a person a PIN (issuance, reissue): the initial 16-character PIN
//!   or a personal 8-character one, replacing any previous credential, counters cleared.
//! - [`authenticate`] checks a PIN. An initial PIN that was never used by the end of its
//!   validity is *deactivated*. Otherwise a correct PIN is accepted and the caller is told
//!   whether it must be changed first: always for the initial PIN, and once the PIN is
//!   expired (180 days for citizens, 90 for intermediaries, from when it was set).
//! - [`change_pin`] replaces the PIN with a personal one checked against
//!   [`rules`](super::rules), and restarts its validity.
//!
//! # Lockout
//! `lock_after_failures` (5) consecutive wrong PINs lock the PIN for `lock_minutes` (15);
//! each further lock doubles (30, 60, …); `block_after_failures` (20) consecutive wrong PINs
//! block it until recovery or reissue. A correct PIN resets the count. 0 disables a limit.
//!
//! The count must hold under parallel guessing, yet the argon2 check is too slow to run
//! inside a transaction. So every attempt:
//! 1. **reserves** an attempt, in one write transaction, with a conditional
//!    `UPDATE … SET failures = failures + 1 WHERE` not blocked, not locked, `locks` as read
//!    and `failures` under the next limit. PostgreSQL re-evaluates the `WHERE` on the locked
//!    row and SQLite runs write transactions one at a time (`BEGIN IMMEDIATE`), so no more
//!    attempts than the limit allows can be in flight: the others are answered `Locked`
//!    without checking the PIN;
//! 2. checks the hash, outside any transaction;
//! 3. settles, in a second write transaction: a correct PIN resets the counters (unless the
//!    PIN was blocked or replaced meanwhile); a wrong one leaves its reservation counted and,
//!    if the count reached a limit, applies the lock (compare-and-set on `locks`, so only one
//!    of several parallel attempts does) or the block.
//!
//! An attempt abandoned between 1 and 3 (the client went away) stays counted as a failure.
//! If it was the one that should have applied a lock, the next attempt applies it once the
//! reservation is more than a minute old.
//!
//! # Answers and secrecy
//! An unknown codice fiscale, or a person without a PIN, gets [`PinLogin::Rejected`] after a
//! check against a dummy hash: the same answer, in about the same time, as a wrong PIN.
//! PINs and hashes are never logged or audited; the codice fiscale is masked in logs.
//!
//! Audit records: `pin.credential.set`, `pin.login` (success: actor the person; failure and
//! denial: actor procura, subject the person), `pin.locked` and `pin.blocked` (actor procura),
//! `pin.changed`.

use super::rules::{self, PinRuleViolation};
use super::{Holder, PinType};
use crate::audit::{self, AuditKey, Event, Outcome, Party};
use crate::clock::to_micros;
use crate::config::PinConfig;
use crate::db::schema::pin_credentials as pc;
use crate::db::{self, DbConn, DbError, Pool};
use crate::password::{PasswordError, PasswordHasher};
use crate::person::{CodiceFiscale, registry};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use serde_json::json;

const ACTION_SET: &str = "pin.credential.set";
const ACTION_LOGIN: &str = "pin.login";
const ACTION_LOCKED: &str = "pin.locked";
const ACTION_BLOCKED: &str = "pin.blocked";
const ACTION_CHANGED: &str = "pin.changed";

/// Reservation attempts before giving up when the row keeps changing under us.
const RESERVE_TRIES: usize = 4;
/// While every allowed attempt is taken by attempts still being checked, a new attempt
/// waits for them to settle (a correct PIN among them clears the count, wrong ones apply the
/// lock) rather than answering "locked" before it is: up to this many polls…
const IN_FLIGHT_POLLS: u32 = 60;
/// …this far apart.
const IN_FLIGHT_POLL: std::time::Duration = std::time::Duration::from_millis(50);
/// Longest single lock (the doubling is capped when blocking is disabled).
const MAX_LOCK_DAYS: i64 = 365;
/// A lock or block due but not applied for this long is applied by the next attempt.
fn abandoned_after() -> TimeDelta {
    TimeDelta::minutes(1)
}

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Hash(#[from] PasswordError),
    #[error("no such person in the registry")]
    UnknownPerson,
    /// The citizen-facing (Italian) message of the rule broken.
    #[error("{0}")]
    Rule(#[from] PinRuleViolation),
    #[error("the new PIN is the same as the current one")]
    SameAsCurrent,
    #[error("this person has no PIN (or it was replaced meanwhile)")]
    NoCredential,
}

impl From<diesel::result::Error> for PinError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// Why a correct PIN must be changed before going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeReason {
    /// The issued 16-character PIN: swap it for a personal one.
    Initial,
    /// The PIN's validity is over.
    Expired,
}

impl ChangeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeReason::Initial => "initial",
            ChangeReason::Expired => "expired",
        }
    }
}

/// A lock or block that a wrong PIN has just triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lockout {
    Locked { until: DateTime<Utc> },
    Blocked,
}

/// The answer to a PIN login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinLogin {
    /// The PIN is correct. With `change_required`, the person must set a new PIN first.
    Verified {
        pin_type: PinType,
        change_required: Option<ChangeReason>,
    },
    /// The PIN was checked and is wrong; also the answer for an unknown codice fiscale or a
    /// person without a PIN. `lockout` says whether this failure locked or blocked the PIN.
    Rejected { lockout: Option<Lockout> },
    /// Too many wrong PINs: no attempt is accepted before `until` (the PIN was not checked).
    Locked { until: DateTime<Utc> },
    /// Too many wrong PINs: only recovery or reissue helps (the PIN was not checked).
    Blocked,
    /// An initial PIN never used during its whole validity (the PIN was not checked).
    Deactivated,
}

/// A credential's state, without its hash (for operators and tests).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = pc)]
pub struct CredentialState {
    pub initial: bool,
    pub pin_type: String,
    pub holder: String,
    pub set_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub failures: i64,
    pub locks: i64,
    pub locked_until: Option<NaiveDateTime>,
    pub blocked_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

/// The credential of `cf`, if any, without its hash.
pub fn status(conn: &mut DbConn, cf: &CodiceFiscale) -> Result<Option<CredentialState>, DbError> {
    Ok(pc::table
        .find(cf.as_str())
        .select(CredentialState::as_select())
        .first(conn)
        .optional()?)
}

/// The type of the PIN held by the code `cf`, if any.
pub fn pin_type(conn: &mut DbConn, cf: &str) -> Result<Option<PinType>, DbError> {
    Ok(pc::table
        .find(cf)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(|row| row.pin_type()))
}

/// What an attempt needs from the row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = pc)]
struct Row {
    pin_hash: String,
    initial: bool,
    pin_type: String,
    holder: String,
    expires_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    failures: i64,
    locks: i64,
    locked_until: Option<NaiveDateTime>,
    blocked_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

impl Row {
    /// An unknown value (not written by procura) reads as the weaker type.
    fn pin_type(&self) -> PinType {
        PinType::parse(&self.pin_type).unwrap_or_else(|| {
            tracing::error!(value = %self.pin_type, "unknown pin_type in pin_credentials");
            PinType::Ordinario
        })
    }

    /// An unknown value reads as the shorter validity.
    fn holder(&self) -> Holder {
        Holder::parse(&self.holder).unwrap_or_else(|| {
            tracing::error!(value = %self.holder, "unknown holder in pin_credentials");
            Holder::Intermediario
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = pc, treat_none_as_default_value = false)]
struct NewRow<'a> {
    codice_fiscale: &'a str,
    pin_hash: &'a str,
    initial: bool,
    pin_type: &'a str,
    holder: &'a str,
    set_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    failures: i64,
    locks: i64,
    locked_until: Option<NaiveDateTime>,
    blocked_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

fn read(conn: &mut DbConn, cf: &str) -> Result<Option<Row>, DbError> {
    Ok(pc::table
        .find(cf)
        .select(Row::as_select())
        .first(conn)
        .optional()?)
}

fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    to_micros(t).naive_utc()
}

fn plus(t: NaiveDateTime, d: TimeDelta) -> NaiveDateTime {
    t.checked_add_signed(d).unwrap_or(NaiveDateTime::MAX)
}

fn expiry(now: NaiveDateTime, holder: Holder, policy: &PinConfig) -> NaiveDateTime {
    plus(
        now,
        TimeDelta::days(i64::from(holder.validity_days(policy))),
    )
}

/// Failures at which the next lock falls, after `locks` locks; `None` when locking is off.
fn lock_threshold(policy: &PinConfig, locks: i64) -> Option<i64> {
    let every = i64::from(policy.lock_after_failures);
    (every > 0).then(|| locks.saturating_add(1).saturating_mul(every))
}

/// Failures at which the PIN is blocked; `None` when blocking is off.
fn block_threshold(policy: &PinConfig) -> Option<i64> {
    let at = i64::from(policy.block_after_failures);
    (at > 0).then_some(at)
}

/// Failures below which a new attempt may still be reserved.
fn reservation_limit(policy: &PinConfig, locks: i64) -> i64 {
    lock_threshold(policy, locks)
        .unwrap_or(i64::MAX)
        .min(block_threshold(policy).unwrap_or(i64::MAX))
}

/// Length of the lock that follows `locks` earlier ones: `lock_minutes × 2^locks`.
fn lock_duration(policy: &PinConfig, locks: i64) -> TimeDelta {
    let factor = u32::try_from(locks)
        .ok()
        .and_then(|l| 2_i64.checked_pow(l))
        .unwrap_or(i64::MAX);
    let minutes = i64::from(policy.lock_minutes).saturating_mul(factor);
    let max = TimeDelta::days(MAX_LOCK_DAYS);
    TimeDelta::try_minutes(minutes).map_or(max, |d| d.min(max))
}

/// A refusal that the stored state already decides.
fn standing_refusal(row: &Row, now: NaiveDateTime) -> Option<PinLogin> {
    if row.blocked_at.is_some() {
        return Some(PinLogin::Blocked);
    }
    if let Some(until) = row.locked_until
        && until > now
    {
        return Some(PinLogin::Locked {
            until: until.and_utc(),
        });
    }
    if row.initial && row.last_used_at.is_none() && now >= row.expires_at {
        return Some(PinLogin::Deactivated);
    }
    None
}

/// A lock or block the count has reached but nobody has applied yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Lock,
    Block,
}

fn due(row: &Row, policy: &PinConfig) -> Option<Due> {
    if row.blocked_at.is_some() {
        return None;
    }
    if block_threshold(policy).is_some_and(|at| row.failures >= at) {
        return Some(Due::Block);
    }
    if lock_threshold(policy, row.locks).is_some_and(|at| row.failures >= at) {
        return Some(Due::Lock);
    }
    None
}

/// Applies a due lock or block, unless a parallel attempt already did. Returns what this
/// call applied and the audit record to append for it: the caller appends it as the last
/// write of its transaction (the lock order of [`crate::audit`]).
fn apply_due(
    conn: &mut DbConn,
    cf: &CodiceFiscale,
    row: &Row,
    policy: &PinConfig,
    now: DateTime<Utc>,
) -> Result<Option<(Lockout, Event)>, DbError> {
    let at = naive(now);
    match due(row, policy) {
        None => Ok(None),
        Some(Due::Block) => {
            let applied = diesel::update(pc::table.find(cf.as_str()))
                .filter(pc::blocked_at.is_null())
                .set((pc::blocked_at.eq(Some(at)), pc::updated_at.eq(at)))
                .execute(conn)?;
            if applied == 0 {
                return Ok(None);
            }
            let event = Event::new(Party::system(), ACTION_BLOCKED, Outcome::Success)
                .on_behalf_of(Party::person(cf))
                .detail(json!({ "failures": row.failures }));
            tracing::warn!(cf = %cf.masked(), failures = row.failures, "PIN blocked");
            Ok(Some((Lockout::Blocked, event)))
        }
        Some(Due::Lock) => {
            let until = plus(at, lock_duration(policy, row.locks));
            let locks = row.locks.saturating_add(1);
            let applied = diesel::update(pc::table.find(cf.as_str()))
                .filter(pc::blocked_at.is_null())
                .filter(pc::locks.eq(row.locks))
                .set((
                    pc::locks.eq(locks),
                    pc::locked_until.eq(Some(until)),
                    pc::updated_at.eq(at),
                ))
                .execute(conn)?;
            if applied == 0 {
                return Ok(None);
            }
            let until = until.and_utc();
            let event = Event::new(Party::system(), ACTION_LOCKED, Outcome::Success)
                .on_behalf_of(Party::person(cf))
                .detail(json!({
                    "failures": row.failures,
                    "locks": locks,
                    "until": until.to_rfc3339(),
                }));
            tracing::info!(cf = %cf.masked(), failures = row.failures, locks, %until, "PIN locked");
            Ok(Some((Lockout::Locked { until }, event)))
        }
    }
}

/// The `pin.login` record of an attempt that did not succeed.
fn login_refused(cf: &CodiceFiscale, outcome: Outcome, detail: serde_json::Value) -> Event {
    Event::new(Party::system(), ACTION_LOGIN, outcome)
        .on_behalf_of(Party::person(cf))
        .detail(detail)
}

fn refusal_reason(answer: &PinLogin) -> &'static str {
    match answer {
        PinLogin::Verified { .. } => "verified",
        PinLogin::Rejected { .. } => "wrong_pin",
        PinLogin::Locked { .. } => "locked",
        PinLogin::Blocked => "blocked",
        PinLogin::Deactivated => "deactivated",
    }
}

/// What the first transaction of an attempt decided.
enum Reservation {
    /// No credential for this code.
    Missing,
    /// Answered without checking the PIN.
    Refused(PinLogin),
    /// One attempt reserved; check the PIN against this row's hash.
    Reserved(Row),
    /// Every allowed attempt is being checked right now: the answer if they all fail.
    InFlight(PinLogin),
}

fn reserve(
    conn: &mut DbConn,
    key: &AuditKey,
    cf: &CodiceFiscale,
    policy: &PinConfig,
    now: DateTime<Utc>,
) -> Result<Reservation, DbError> {
    let at = naive(now);
    conn.write_transaction_retrying(|conn| {
        let mut refusal = None;
        let mut applied = None;
        for _ in 0..RESERVE_TRIES {
            let Some(row) = read(conn, cf.as_str())? else {
                return Ok(Reservation::Missing);
            };
            if let Some(answer) = standing_refusal(&row, at) {
                refusal = Some(answer);
                break;
            }
            if let Some(due) = due(&row, policy) {
                // Every allowed attempt is taken; the lock or block falls when they settle,
                // or now if the attempt that should apply it was abandoned.
                if row.updated_at <= plus(at, -abandoned_after()) {
                    match apply_due(conn, cf, &row, policy, now)? {
                        Some((lockout, event)) => {
                            refusal = Some(match lockout {
                                Lockout::Blocked => PinLogin::Blocked,
                                Lockout::Locked { until } => PinLogin::Locked { until },
                            });
                            applied = Some(event);
                        }
                        None => continue,
                    }
                } else {
                    // Nothing written: the caller waits for the attempts in flight.
                    return Ok(Reservation::InFlight(match due {
                        Due::Block => PinLogin::Blocked,
                        Due::Lock => PinLogin::Locked {
                            until: plus(at, lock_duration(policy, row.locks)).and_utc(),
                        },
                    }));
                }
                break;
            }
            let reserved = diesel::update(pc::table.find(cf.as_str()))
                .filter(pc::blocked_at.is_null())
                .filter(pc::locked_until.is_null().or(pc::locked_until.le(at)))
                .filter(pc::locks.eq(row.locks))
                .filter(pc::failures.lt(reservation_limit(policy, row.locks)))
                .set((pc::failures.eq(pc::failures + 1_i64), pc::updated_at.eq(at)))
                .execute(conn)?;
            if reserved == 1 {
                return Ok(Reservation::Reserved(row));
            }
            // The row changed between the read and the update (a parallel attempt, a
            // success, a reissue): look again.
        }
        let answer = refusal.unwrap_or_else(|| {
            tracing::warn!(cf = %cf.masked(), "PIN attempt not reserved: the row kept changing");
            PinLogin::Locked {
                until: plus(at, lock_duration(policy, 0)).and_utc(),
            }
        });
        // Audit records last: every row write of this transaction is done.
        if let Some(event) = applied {
            audit::append(conn, key, now, event)?;
        }
        audit::append(
            conn,
            key,
            now,
            login_refused(
                cf,
                Outcome::Denied,
                json!({ "method": "pin", "reason": refusal_reason(&answer) }),
            ),
        )?;
        Ok(Reservation::Refused(answer))
    })
}

/// The second transaction after a correct PIN.
fn settle_success(
    conn: &mut DbConn,
    key: &AuditKey,
    cf: &CodiceFiscale,
    row: &Row,
    now: DateTime<Utc>,
) -> Result<PinLogin, DbError> {
    let at = naive(now);
    conn.write_transaction_retrying(|conn| {
        let reset = diesel::update(pc::table.find(cf.as_str()))
            .filter(pc::pin_hash.eq(&row.pin_hash))
            .filter(pc::blocked_at.is_null())
            .set((
                pc::failures.eq(0_i64),
                pc::locks.eq(0_i64),
                pc::locked_until.eq(None::<NaiveDateTime>),
                pc::last_used_at.eq(Some(at)),
                pc::updated_at.eq(at),
            ))
            .execute(conn)?;
        if reset == 0 {
            // Blocked by a parallel attempt, or replaced, while the hash was being checked.
            let blocked = read(conn, cf.as_str())?.is_some_and(|r| r.blocked_at.is_some());
            let (answer, outcome, reason) = if blocked {
                (PinLogin::Blocked, Outcome::Denied, "blocked")
            } else {
                (
                    PinLogin::Rejected { lockout: None },
                    Outcome::Failure,
                    "credential_replaced",
                )
            };
            audit::append(
                conn,
                key,
                now,
                login_refused(cf, outcome, json!({ "method": "pin", "reason": reason })),
            )?;
            return Ok(answer);
        }
        let change_required = if row.initial {
            Some(ChangeReason::Initial)
        } else if at >= row.expires_at {
            Some(ChangeReason::Expired)
        } else {
            None
        };
        let pin_type = row.pin_type();
        audit::append(
            conn,
            key,
            now,
            Event::new(Party::person(cf), ACTION_LOGIN, Outcome::Success)
                .on_behalf_of(Party::person(cf))
                .detail(json!({
                    "method": "pin",
                    "pin_type": pin_type.as_str(),
                    "change_required": change_required.map(ChangeReason::as_str),
                })),
        )?;
        Ok(PinLogin::Verified {
            pin_type,
            change_required,
        })
    })
}

/// The second transaction after a wrong PIN: the reservation stays counted.
fn settle_failure(
    conn: &mut DbConn,
    key: &AuditKey,
    cf: &CodiceFiscale,
    verified_hash: &str,
    policy: &PinConfig,
    now: DateTime<Utc>,
) -> Result<PinLogin, DbError> {
    conn.write_transaction_retrying(|conn| {
        let row = read(conn, cf.as_str())?.filter(|r| r.pin_hash == verified_hash);
        let failures = row.as_ref().map(|r| r.failures);
        let applied = match &row {
            Some(row) => apply_due(conn, cf, row, policy, now)?,
            None => None,
        };
        // Audit records last (lock order): the failure, then the lock it brought.
        audit::append(
            conn,
            key,
            now,
            login_refused(
                cf,
                Outcome::Failure,
                json!({ "method": "pin", "reason": "wrong_pin", "failures": failures }),
            ),
        )?;
        let lockout = match applied {
            Some((lockout, event)) => {
                audit::append(conn, key, now, event)?;
                Some(lockout)
            }
            None => None,
        };
        Ok(PinLogin::Rejected { lockout })
    })
}

/// Checks `pin` for the codice fiscale typed as `cf_text`; see the module documentation for
/// the protocol. `pin` is normalised ([`rules::normalize`]) first.
///
/// # Errors
///
/// The database or the hasher failed. Every answer about the PIN is a [`PinLogin`].
pub async fn authenticate(
    pool: &Pool,
    hasher: &PasswordHasher,
    audit_key: &AuditKey,
    policy: &PinConfig,
    cf_text: &str,
    pin: &str,
    now: DateTime<Utc>,
) -> Result<PinLogin, PinError> {
    let pin = rules::normalize(pin);
    let cf = CodiceFiscale::parse(cf_text).ok();
    let mut polls = 0;
    let reservation = loop {
        let reservation = match &cf {
            None => Reservation::Missing,
            Some(cf) => {
                let (cf, key, policy) = (cf.clone(), audit_key.clone(), policy.clone());
                db::run(pool, move |conn| reserve(conn, &key, &cf, &policy, now)).await?
            }
        };
        match (reservation, &cf) {
            (Reservation::InFlight(_), _) if polls < IN_FLIGHT_POLLS => {
                polls += 1;
                actix_web::rt::time::sleep(IN_FLIGHT_POLL).await;
            }
            (Reservation::InFlight(answer), Some(cf)) => {
                // Still in flight after the wait (attempts abandoned mid-check): refuse as if
                // they had failed, and record it.
                let event = login_refused(
                    cf,
                    Outcome::Denied,
                    json!({ "method": "pin", "reason": refusal_reason(&answer) }),
                );
                let key = audit_key.clone();
                db::run(pool, move |conn| {
                    audit::append_alone(conn, &key, now, event)
                })
                .await?;
                break Reservation::Refused(answer);
            }
            (other, _) => break other,
        }
    };
    let row = match reservation {
        Reservation::Refused(answer) => return Ok(answer),
        Reservation::InFlight(answer) => return Ok(answer),
        Reservation::Missing => return reject_unknown(pool, hasher, audit_key, cf, pin, now).await,
        Reservation::Reserved(row) => row,
    };
    // The CodiceFiscale exists here: a reservation needs one.
    let Some(cf) = cf else {
        return Ok(PinLogin::Rejected { lockout: None });
    };
    let correct = hasher.verify(Some(row.pin_hash.clone()), pin).await?;
    let (key, policy) = (audit_key.clone(), policy.clone());
    let answer = db::run(pool, move |conn| {
        if correct {
            settle_success(conn, &key, &cf, &row, now)
        } else {
            settle_failure(conn, &key, &cf, &row.pin_hash, &policy, now)
        }
    })
    .await?;
    Ok(answer)
}

/// No credential (or not even a valid code): check against the dummy hash so the answer
/// takes as long as a wrong PIN, record it, and answer as for a wrong PIN.
async fn reject_unknown(
    pool: &Pool,
    hasher: &PasswordHasher,
    audit_key: &AuditKey,
    cf: Option<CodiceFiscale>,
    pin: String,
    now: DateTime<Utc>,
) -> Result<PinLogin, PinError> {
    hasher.verify(None, pin).await?;
    let event = match &cf {
        Some(cf) => login_refused(
            cf,
            Outcome::Failure,
            json!({ "method": "pin", "reason": "no_credential" }),
        ),
        None => Event::new(Party::system(), ACTION_LOGIN, Outcome::Failure)
            .detail(json!({ "method": "pin", "reason": "malformed_codice_fiscale" })),
    };
    let key = audit_key.clone();
    db::run(pool, move |conn| {
        audit::append_alone(conn, &key, now, event)
    })
    .await?;
    Ok(PinLogin::Rejected { lockout: None })
}

/// Gives `cf` a PIN, replacing any credential it had: validity from `now` by `holder`,
/// counters cleared, audited as `pin.credential.set` by `actor`. An initial PIN must be 16
/// letters or digits; a personal one must pass [`rules::check_personal_pin`]. `pin` is
/// normalised first.
///
/// # Errors
///
/// `UnknownPerson` when `cf` is not in the registry, `Rule` for a PIN of the wrong shape,
/// or the database or the hasher failed.
#[allow(clippy::too_many_arguments)]
pub async fn set_credential(
    pool: &Pool,
    hasher: &PasswordHasher,
    audit_key: &AuditKey,
    policy: &PinConfig,
    cf: &CodiceFiscale,
    pin: &str,
    pin_type: PinType,
    holder: Holder,
    initial: bool,
    actor: Party,
    now: DateTime<Utc>,
) -> Result<(), PinError> {
    let pin = rules::normalize(pin);
    let code = cf.as_str().to_owned();
    let person = db::run(pool, move |conn| registry::find(conn, &code))
        .await?
        .ok_or(PinError::UnknownPerson)?;
    if initial {
        rules::check_initial_pin(&pin)?;
    } else {
        rules::check_personal_pin(&pin, cf, &person.given_name, &person.family_name)?;
    }
    let hash = hasher.hash(pin).await?;
    let masked = cf.masked().to_string();
    let (cf, key, policy) = (cf.clone(), audit_key.clone(), policy.clone());
    db::run(pool, move |conn| {
        conn.write_transaction(|conn| {
            let stored = StoredCredential {
                pin_hash: &hash,
                pin_type,
                holder,
                initial,
            };
            store_credential(conn, &key, &policy, &cf, stored, actor, now)
        })
    })
    .await?;
    tracing::info!(cf = %masked, %pin_type, %holder, initial, "PIN set");
    Ok(())
}

/// A PIN hash to store, with what it allows.
pub struct StoredCredential<'a> {
    /// The argon2id PHC string (see [`PasswordHasher::hash`]).
    pub pin_hash: &'a str,
    pub pin_type: PinType,
    pub holder: Holder,
    pub initial: bool,
}

/// Writes `cf`'s credential, replacing any previous one with counters cleared, and audits it
/// as `pin.credential.set`. Runs inside the caller's write transaction, so issuance can store
/// the PIN, its request and its messages all at once.
pub fn store_credential(
    conn: &mut DbConn,
    key: &AuditKey,
    policy: &PinConfig,
    cf: &CodiceFiscale,
    stored: StoredCredential<'_>,
    actor: Party,
    now: DateTime<Utc>,
) -> Result<(), PinError> {
    let at = naive(now);
    let expires_at = expiry(at, stored.holder, policy);
    diesel::delete(pc::table.find(cf.as_str())).execute(conn)?;
    diesel::insert_into(pc::table)
        .values(NewRow {
            codice_fiscale: cf.as_str(),
            pin_hash: stored.pin_hash,
            initial: stored.initial,
            pin_type: stored.pin_type.as_str(),
            holder: stored.holder.as_str(),
            set_at: at,
            expires_at,
            last_used_at: None,
            failures: 0,
            locks: 0,
            locked_until: None,
            blocked_at: None,
            updated_at: at,
        })
        .execute(conn)?;
    audit::append(
        conn,
        key,
        now,
        Event::new(actor, ACTION_SET, Outcome::Success)
            .on_behalf_of(Party::person(cf))
            .detail(json!({
                "pin_type": stored.pin_type.as_str(),
                "holder": stored.holder.as_str(),
                "initial": stored.initial,
                "expires_at": expires_at.and_utc().to_rfc3339(),
            })),
    )?;
    Ok(())
}

/// Replaces `cf`'s PIN with `new_pin` (normalised, then checked against the rules with the
/// names in the registry): no longer initial, valid again from `now`, counters cleared,
/// audited as `pin.changed`. The caller has authenticated the person.
///
/// # Errors
///
/// `NoCredential` (none, or replaced meanwhile), `UnknownPerson`, `Rule`, `SameAsCurrent`,
/// or the database or the hasher failed.
pub async fn change_pin(
    pool: &Pool,
    hasher: &PasswordHasher,
    audit_key: &AuditKey,
    policy: &PinConfig,
    cf: &CodiceFiscale,
    new_pin: &str,
    now: DateTime<Utc>,
) -> Result<(), PinError> {
    let code = cf.as_str().to_owned();
    let (current, person) = db::run(pool, move |conn| {
        Ok::<_, DbError>((read(conn, &code)?, registry::find(conn, &code)?))
    })
    .await?;
    let current = current.ok_or(PinError::NoCredential)?;
    let person = person.ok_or(PinError::UnknownPerson)?;
    let pin = rules::normalize(new_pin);
    rules::check_personal_pin(&pin, cf, &person.given_name, &person.family_name)?;
    if hasher
        .verify(Some(current.pin_hash.clone()), pin.clone())
        .await?
    {
        return Err(PinError::SameAsCurrent);
    }
    let hash = hasher.hash(pin).await?;
    let at = naive(now);
    let expires_at = expiry(at, current.holder(), policy);
    let (cf, key) = (cf.clone(), audit_key.clone());
    db::run(pool, move |conn| {
        conn.write_transaction(|conn| {
            let changed = diesel::update(pc::table.find(cf.as_str()))
                .filter(pc::pin_hash.eq(&current.pin_hash))
                .set((
                    pc::pin_hash.eq(&hash),
                    pc::initial.eq(false),
                    pc::set_at.eq(at),
                    pc::expires_at.eq(expires_at),
                    pc::failures.eq(0_i64),
                    pc::locks.eq(0_i64),
                    pc::locked_until.eq(None::<NaiveDateTime>),
                    pc::updated_at.eq(at),
                ))
                .execute(conn)?;
            if changed == 0 {
                return Err(PinError::NoCredential);
            }
            audit::append(
                conn,
                &key,
                now,
                Event::new(Party::person(&cf), ACTION_CHANGED, Outcome::Success)
                    .on_behalf_of(Party::person(&cf))
                    .detail(json!({
                        "was_initial": current.initial,
                        "expires_at": expires_at.and_utc().to_rfc3339(),
                    })),
            )?;
            tracing::info!(cf = %cf.masked(), "PIN changed");
            Ok(())
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_policy() {
        let policy = PinConfig::default();
        assert_eq!(lock_threshold(&policy, 0), Some(5));
        assert_eq!(lock_threshold(&policy, 3), Some(20));
        assert_eq!(block_threshold(&policy), Some(20));
        assert_eq!(reservation_limit(&policy, 0), 5);
        assert_eq!(reservation_limit(&policy, 3), 20);
        assert_eq!(reservation_limit(&policy, 9), 20);

        let off = PinConfig {
            lock_after_failures: 0,
            block_after_failures: 0,
            ..PinConfig::default()
        };
        assert_eq!(lock_threshold(&off, 0), None);
        assert_eq!(block_threshold(&off), None);
        assert_eq!(reservation_limit(&off, 0), i64::MAX);
    }

    #[test]
    fn locks_double_and_are_capped() {
        let policy = PinConfig::default();
        assert_eq!(lock_duration(&policy, 0), TimeDelta::minutes(15));
        assert_eq!(lock_duration(&policy, 1), TimeDelta::minutes(30));
        assert_eq!(lock_duration(&policy, 2), TimeDelta::minutes(60));
        assert_eq!(lock_duration(&policy, 40), TimeDelta::days(MAX_LOCK_DAYS));
        assert_eq!(
            lock_duration(&policy, i64::MAX),
            TimeDelta::days(MAX_LOCK_DAYS)
        );
        assert_eq!(lock_duration(&policy, -1), TimeDelta::days(MAX_LOCK_DAYS));
    }
}
