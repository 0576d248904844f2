//! The temporary telephone PIN (domain §2.6): a logged-in person creates one, valid 1 day,
//! 1 week, 1 month or 3 months, to identify themselves when they call the contact centre; a
//! new one cancels the old. Eight digits (easy to read out on a keypad), stored as an argon2id
//! hash, shown once. Being short, it is guessable: every check reserves an attempt first, in
//! one atomic UPDATE, and after [`MAX_FAILURES`] wrong codes the phone PIN stops working.

use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::db::schema::phone_pins;
use crate::db::{self, DbError};
use crate::person::CodiceFiscale;
use crate::pin::PinError;
use chrono::{DateTime, Months, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use serde_json::json;

pub const PHONE_PIN_LENGTH: usize = 8;
/// Wrong codes after which the phone PIN no longer works (a new one must be created).
pub const MAX_FAILURES: i64 = 5;

/// How long a phone PIN lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    OneDay,
    OneWeek,
    OneMonth,
    ThreeMonths,
}

impl Validity {
    pub const ALL: [Validity; 4] = [
        Validity::OneDay,
        Validity::OneWeek,
        Validity::OneMonth,
        Validity::ThreeMonths,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Validity::OneDay => "1d",
            Validity::OneWeek => "1w",
            Validity::OneMonth => "1m",
            Validity::ThreeMonths => "3m",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn end(self, from: DateTime<Utc>) -> DateTime<Utc> {
        let months = |n| from.checked_add_months(Months::new(n)).unwrap_or(from);
        match self {
            Validity::OneDay => from + TimeDelta::days(1),
            Validity::OneWeek => from + TimeDelta::weeks(1),
            Validity::OneMonth => months(1),
            Validity::ThreeMonths => months(3),
        }
    }
}

/// A new phone PIN, shown once.
pub struct Created {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("code", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

fn new_code() -> std::io::Result<String> {
    let mut code = String::with_capacity(PHONE_PIN_LENGTH);
    // 250 = 25 × 10: rejection sampling keeps every digit equally likely.
    while code.len() < PHONE_PIN_LENGTH {
        for b in crate::secret_file::random_bytes::<16>()? {
            if b < 250 && code.len() < PHONE_PIN_LENGTH {
                code.push(char::from(b'0' + b % 10));
            }
        }
    }
    Ok(code)
}

/// Creates `cf`'s phone PIN, cancelling any previous one. The person is logged in.
pub async fn create(
    state: &AppState,
    cf: &CodiceFiscale,
    validity: Validity,
    now: DateTime<Utc>,
) -> Result<Created, PinError> {
    let code = new_code().map_err(DbError::from)?;
    let hash = state.hasher.hash(code.clone()).await?;
    let expires_at = validity.end(now);
    let (cf, key) = (cf.clone(), state.audit_key.clone());
    db::run(&state.db, move |c| {
        c.write_transaction(|c| {
            diesel::delete(phone_pins::table.find(cf.as_str())).execute(c)?;
            diesel::insert_into(phone_pins::table)
                .values((
                    phone_pins::codice_fiscale.eq(cf.as_str()),
                    phone_pins::pin_hash.eq(&hash),
                    phone_pins::failures.eq(0_i64),
                    phone_pins::created_at.eq(now.naive_utc()),
                    phone_pins::expires_at.eq(expires_at.naive_utc()),
                ))
                .execute(c)?;
            audit::append(
                c,
                &key,
                now,
                Event::new(Party::person(&cf), "pin.phone.created", Outcome::Success).detail(
                    json!({ "validity": validity.as_str(), "expires_at": expires_at.to_rfc3339() }),
                ),
            )?;
            Ok::<_, PinError>(())
        })
    })
    .await?;
    Ok(Created { code, expires_at })
}

/// The answer to a contact-centre check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneCheck {
    /// The caller gave the right code.
    Valid { expires_at: DateTime<Utc> },
    /// Wrong code, expired, or no phone PIN: the same answer for all three.
    Invalid,
    /// Too many wrong codes: the person must create a new phone PIN.
    Exhausted,
}

/// Checks the code a caller reads out; audited with the operator as actor.
pub async fn check(
    state: &AppState,
    operator_id: &str,
    cf: &CodiceFiscale,
    code: &str,
    now: DateTime<Utc>,
) -> Result<PhoneCheck, PinError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let at = now.naive_utc();
    let cf2 = cf.clone();
    // Reserve an attempt: only a live, not exhausted phone PIN is checked at all.
    let reserved: Result<(String, NaiveDateTime), PhoneCheck> = db::run(&state.db, move |c| {
        c.write_transaction(|c| {
            let n = diesel::update(
                phone_pins::table
                    .find(cf2.as_str())
                    .filter(phone_pins::failures.lt(MAX_FAILURES))
                    .filter(phone_pins::expires_at.gt(at)),
            )
            .set(phone_pins::failures.eq(phone_pins::failures + 1))
            .execute(c)?;
            let row: Option<(String, NaiveDateTime, i64)> = phone_pins::table
                .find(cf2.as_str())
                .select((
                    phone_pins::pin_hash,
                    phone_pins::expires_at,
                    phone_pins::failures,
                ))
                .first(c)
                .optional()?;
            Ok::<_, DbError>(match (n, row) {
                (1, Some((hash, expires_at, _))) => Ok((hash, expires_at)),
                (_, Some((_, expires_at, failures)))
                    if failures >= MAX_FAILURES && expires_at > at =>
                {
                    Err(PhoneCheck::Exhausted)
                }
                _ => Err(PhoneCheck::Invalid),
            })
        })
    })
    .await?;
    let answer = match reserved {
        Ok((hash, expires_at)) => {
            if state.hasher.verify(Some(hash), code).await? {
                let cf2 = cf.clone();
                db::run(&state.db, move |c| {
                    diesel::update(phone_pins::table.find(cf2.as_str()))
                        .set(phone_pins::failures.eq(0_i64))
                        .execute(c)
                        .map_err(DbError::from)
                })
                .await?;
                PhoneCheck::Valid {
                    expires_at: expires_at.and_utc(),
                }
            } else {
                PhoneCheck::Invalid
            }
        }
        Err(PhoneCheck::Invalid) => {
            // Same time as a real check: an unknown or expired phone PIN reveals nothing.
            state.hasher.verify(None, code).await?;
            PhoneCheck::Invalid
        }
        Err(other) => other,
    };
    let (cf, key, op) = (cf.clone(), state.audit_key.clone(), operator_id.to_owned());
    db::run(&state.db, move |c| {
        audit::append_alone(
            c,
            &key,
            now,
            Event::new(
                Party::operator(&op),
                "pin.phone.checked",
                if matches!(answer, PhoneCheck::Valid { .. }) {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
            )
            .on_behalf_of(Party::person(&cf))
            .detail(json!({ "exhausted": answer == PhoneCheck::Exhausted })),
        )
    })
    .await?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_random_digits() {
        let (a, b) = (new_code().unwrap(), new_code().unwrap());
        assert_ne!(a, b);
        assert!(a.len() == 8 && a.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn validities() {
        let t = DateTime::parse_from_rfc3339("2026-01-31T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            Validity::OneDay.end(t).to_rfc3339(),
            "2026-02-01T10:00:00+00:00"
        );
        assert_eq!(
            Validity::OneWeek.end(t).to_rfc3339(),
            "2026-02-07T10:00:00+00:00"
        );
        assert_eq!(
            Validity::OneMonth.end(t).to_rfc3339(),
            "2026-02-28T10:00:00+00:00"
        );
        assert_eq!(
            Validity::ThreeMonths.end(t).to_rfc3339(),
            "2026-04-30T10:00:00+00:00"
        );
        assert_eq!(Validity::parse("3m"), Some(Validity::ThreeMonths));
        assert_eq!(Validity::parse("2w"), None);
    }
}
