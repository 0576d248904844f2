//! A per-address rate limiter for attempts that cost an argon2 hash (PIN logins), checked
//! before any hashing.
//!
//! Algorithm: a token bucket per address, in its GCRA form (one timestamp per address).
//! An address may make `per_minute` attempts at once; after that the bucket refills
//! continuously, one attempt every `60 s / per_minute`. Over any rolling minute an address
//! therefore gets `per_minute` attempts at a steady pace, and at most `2 × per_minute − 1`
//! if it saves a full burst for the window's edge. `per_minute = 0` means unlimited.
//!
//! Keys: an IPv4 address as is (an IPv4-mapped IPv6 address counts as its IPv4 address);
//! an IPv6 address by its /64 prefix, since one host usually holds a whole /64.
//!
//! Memory is bounded: an address whose bucket is full again holds no information and is
//! pruned (at least once a minute, and whenever the table is full); the table holds at most
//! `max_keys` addresses. When it is full of addresses still being limited, a new address is
//! refused until the soonest one frees a slot: under a flood that large the limiter fails
//! closed rather than letting new addresses guess unchecked.
//!
//! The state is a `Mutex<HashMap>` inside one instance, so limits are per process: with N
//! instances behind a load balancer an address gets up to N times the limit. The per-account
//! lockout (in the database) is what bounds guesses against one PIN across instances.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window the limit is expressed in.
const WINDOW: Duration = Duration::from_secs(60);
/// Default bound on tracked addresses (each entry is a few tens of bytes).
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Refused: try again after this long (for a `Retry-After` header, see [`RetryAfter::secs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many attempts from this address; retry after {} s", self.secs())]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up, at least 1.
    pub fn secs(&self) -> u64 {
        let whole = self.0.as_secs();
        let secs = if self.0.subsec_nanos() > 0 {
            whole.saturating_add(1)
        } else {
            whole
        };
        secs.max(1)
    }
}

/// Per-address limiter; see the module documentation.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    /// Time one attempt takes to refill: `WINDOW / per_minute`.
    interval: Duration,
    /// How far ahead of `now` an address's schedule may run: `WINDOW - interval`.
    tolerance: Duration,
    max_keys: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Per key, the theoretical arrival time of its next attempt; the bucket is full again
    /// once it is not after `now`.
    next: HashMap<IpAddr, Instant>,
    /// When to sweep full buckets out next.
    next_prune: Option<Instant>,
}

impl RateLimiter {
    /// `per_minute` attempts per address per minute (0 = unlimited), tracking at most
    /// [`DEFAULT_MAX_KEYS`] addresses.
    pub fn new(per_minute: u32) -> Self {
        Self::with_max_keys(per_minute, DEFAULT_MAX_KEYS)
    }

    /// As [`new`](Self::new), tracking at most `max_keys` addresses (at least 1).
    pub fn with_max_keys(per_minute: u32, max_keys: usize) -> Self {
        let interval = WINDOW.checked_div(per_minute).unwrap_or(WINDOW);
        Self {
            per_minute,
            interval,
            tolerance: WINDOW.saturating_sub(interval),
            max_keys: max_keys.max(1),
            state: Mutex::new(State {
                next: HashMap::new(),
                next_prune: None,
            }),
        }
    }

    /// Counts one attempt from `key` at `now`, or refuses it.
    ///
    /// # Errors
    ///
    /// [`RetryAfter`] when the address has used up its attempts (or, under a flood of
    /// distinct addresses, the table is full).
    pub fn check(&self, key: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let key = bucket_key(key);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.next_prune.is_none_or(|at| now >= at) {
            state.prune(now);
            state.next_prune = now.checked_add(WINDOW);
        }
        let scheduled = match state.next.get(&key) {
            Some(&next) => next.max(now),
            None => {
                if state.next.len() >= self.max_keys {
                    state.prune(now);
                    if state.next.len() >= self.max_keys {
                        return Err(RetryAfter(state.soonest_free(now)));
                    }
                }
                now
            }
        };
        let ahead = scheduled.saturating_duration_since(now);
        if ahead > self.tolerance {
            return Err(RetryAfter(ahead.saturating_sub(self.tolerance)));
        }
        let next = scheduled.checked_add(self.interval).unwrap_or(scheduled);
        state.next.insert(key, next);
        Ok(())
    }

    /// Addresses currently tracked (for metrics and tests).
    pub fn tracked(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next
            .len()
    }
}

impl State {
    /// Drops every address whose bucket is full again.
    fn prune(&mut self, now: Instant) {
        self.next.retain(|_, next| *next > now);
    }

    /// How long until some tracked address's bucket is full again (frees a slot).
    fn soonest_free(&self, now: Instant) -> Duration {
        self.next
            .values()
            .min()
            .map_or(Duration::ZERO, |next| next.saturating_duration_since(now))
    }
}

/// IPv4 as is (mapped IPv6 included); IPv6 by its /64.
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_burst_of_n_then_one_every_interval() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        for _ in 0..10 {
            limiter.check(v4(1), t0).unwrap();
        }
        assert_eq!(limiter.check(v4(1), t0), Err(RetryAfter(secs(6))));
        // Another address is not affected.
        limiter.check(v4(2), t0).unwrap();
        // One attempt refills every 6 s.
        assert_eq!(limiter.check(v4(1), t0 + secs(5)), Err(RetryAfter(secs(1))));
        limiter.check(v4(1), t0 + secs(6)).unwrap();
        assert!(limiter.check(v4(1), t0 + secs(6)).is_err());
        // After a full minute of silence the whole burst is back.
        let later = t0 + secs(6) + WINDOW;
        for _ in 0..10 {
            limiter.check(v4(1), later).unwrap();
        }
        assert!(limiter.check(v4(1), later).is_err());
    }

    #[test]
    fn a_steady_pace_never_exceeds_n_per_minute() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        // One attempt per second for ten minutes.
        let allowed: Vec<u64> = (0..600)
            .filter(|s| limiter.check(v4(1), t0 + secs(*s)).is_ok())
            .collect();
        for window_start in 0..540 {
            let in_window = allowed
                .iter()
                .filter(|s| (window_start..window_start + 60).contains(*s))
                .count();
            assert!(in_window <= 19, "{in_window} in window at {window_start}");
        }
        // After the first burst, exactly one every 6 s.
        let after_burst = allowed.iter().filter(|s| **s >= 60).count();
        assert_eq!(after_burst, 90);
    }

    #[test]
    fn zero_means_unlimited() {
        let limiter = RateLimiter::new(0);
        let t0 = Instant::now();
        for _ in 0..1_000 {
            limiter.check(v4(1), t0).unwrap();
        }
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        limiter.check(IpAddr::V6(a), t0).unwrap();
        limiter.check(IpAddr::V6(b), t0).unwrap();
        assert!(limiter.check(IpAddr::V6(a), t0).is_err());
        limiter.check(IpAddr::V6(other), t0).unwrap();

        let mapped = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped();
        limiter.check(IpAddr::V6(mapped), t0).unwrap();
        limiter.check(v4(7), t0).unwrap();
        assert!(limiter.check(v4(7), t0).is_err());
    }

    #[test]
    fn stale_entries_are_pruned() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        for i in 0..50 {
            limiter.check(v4(i), t0).unwrap();
        }
        assert_eq!(limiter.tracked(), 50);
        // A minute later every bucket is full again: the periodic sweep drops them all.
        limiter.check(v4(200), t0 + WINDOW).unwrap();
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn the_table_is_bounded_and_fails_closed_when_full() {
        let limiter = RateLimiter::with_max_keys(10, 3);
        let t0 = Instant::now();
        for i in 0..3 {
            limiter.check(v4(i), t0).unwrap();
        }
        // Full of addresses still being limited: a new one waits for the soonest slot.
        assert_eq!(limiter.check(v4(9), t0), Err(RetryAfter(secs(6))));
        assert_eq!(limiter.tracked(), 3);
        // Known addresses keep working.
        limiter.check(v4(0), t0).unwrap();
        // Once buckets refill their slots free up.
        limiter.check(v4(9), t0 + secs(6)).unwrap();
        assert!(limiter.tracked() <= 3);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).secs(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(6_001)).secs(), 7);
        assert_eq!(RetryAfter(secs(6)).secs(), 6);
        assert_eq!(RetryAfter(Duration::ZERO).secs(), 1);
    }
}
