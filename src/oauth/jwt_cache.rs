//! A per-instance memory of access tokens whose signature has been verified, so that a
//! service introspecting (or presenting) the same token many times costs one ES256
//! verification, not one per request.
//!
//! - The key is the SHA-256 of the whole token: a token differing in any byte (another
//!   signature under the same header and payload included) is another key, and is verified
//!   in full. Only tokens that verified are remembered.
//! - An entry is never used at or past the token's `exp` (by the service clock): it is
//!   dropped when met then, and expired entries are dropped first whenever one is added.
//! - The entry keeps the `kid` that verified the token, and a hit is answered only while
//!   that key still verifies tokens ([`KeySet::verifying_key`]): a key that leaves the
//!   schedule, or is removed from the key directory and reloaded, stops its tokens at once.
//! - Bounded by `oauth.jwt_cache_entries` entries and `oauth.jwt_cache_max_bytes` bytes
//!   (estimated: the claims' JSON plus [`ENTRY_OVERHEAD`]); past either bound the entries
//!   nearest their expiry make room. Either set to 0 turns the cache off.
//!
//! What it remembers is only that the bytes carry our valid signature: revocation of the
//! token, the state of its grant and of its delegation are read from the database on every
//! request by the caller.

use super::jwt::{self, AccessTokenClaims, Expect, JwtError};
use super::keys::KeySet;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Bytes counted per entry beyond the claims' JSON: the map and expiry-index slots, the
/// key, the `kid` and the allocations' headers (an estimate on the generous side).
pub const ENTRY_OVERHEAD: usize = 256;

type Key = [u8; 32];

struct Entry {
    claims: Arc<AccessTokenClaims>,
    kid: Arc<str>,
    /// Position in the expiry index: `(exp, insertion number)`.
    slot: (i64, u64),
    bytes: usize,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    by_expiry: BTreeMap<(i64, u64), Key>,
    bytes: usize,
    next: u64,
}

impl Inner {
    fn remove(&mut self, key: &Key) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_expiry.remove(&entry.slot);
            self.bytes -= entry.bytes;
        }
    }

    /// Drops the entry nearest its expiry; `false` when there is none.
    fn pop_soonest(&mut self) -> bool {
        match self.by_expiry.pop_first() {
            Some((_, key)) => {
                if let Some(entry) = self.entries.remove(&key) {
                    self.bytes -= entry.bytes;
                }
                true
            }
            None => false,
        }
    }
}

pub struct VerifiedTokens {
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl VerifiedTokens {
    /// At most `max_entries` tokens and about `max_bytes` bytes; either 0: off.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries,
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn is_off(&self) -> bool {
        self.max_entries == 0 || self.max_bytes == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change keeps the map, the index and the byte count in step before it
        // returns; nothing in between can panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many tokens are remembered now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every token (all of them verify again on their next use).
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }

    /// [`jwt::verify`] of an access token, answered from memory when this very token was
    /// verified before, is not expired at `expect.now` and its key still verifies. An
    /// expectation that accepts expired tokens is never answered from memory.
    pub fn verify(
        &self,
        keys: &KeySet,
        token: &str,
        expect: &Expect<'_>,
    ) -> Result<AccessTokenClaims, JwtError> {
        if self.is_off() || !expect.check_expiry {
            return jwt::verify(keys, token, expect);
        }
        let key: Key = Sha256::digest(token.as_bytes()).into();
        let now = expect.now.timestamp();
        let hit = {
            let mut inner = self.lock();
            let found = inner
                .entries
                .get(&key)
                .map(|e| (e.claims.clone(), e.kid.clone()));
            if found.as_ref().is_some_and(|(claims, _)| claims.exp <= now) {
                inner.remove(&key);
                return Err(JwtError::Expired);
            }
            found
        };
        if let Some((claims, kid)) = hit {
            if keys
                .verifying_key(&kid, expect.now, expect.max_jwt_ttl)
                .is_some()
            {
                return Ok((*claims).clone());
            }
            self.lock().remove(&key);
            return Err(JwtError::Invalid("unknown kid".into()));
        }
        let (claims, kid) = jwt::verify_with_kid::<AccessTokenClaims>(keys, token, expect)?;
        self.put(key, &claims, kid, token, now);
        Ok(claims)
    }

    fn put(&self, key: Key, claims: &AccessTokenClaims, kid: String, token: &str, now: i64) {
        // The claims' JSON is the payload part, base64url-decoded (4 characters: 3 bytes).
        let payload = token.split('.').nth(1).map_or(0, str::len);
        let bytes = payload * 3 / 4 + kid.len() + ENTRY_OVERHEAD;
        if bytes > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        // Expired entries go first, then the ones nearest their expiry, until there is room.
        while inner
            .by_expiry
            .first_key_value()
            .is_some_and(|((exp, _), _)| *exp <= now)
        {
            inner.pop_soonest();
        }
        inner.remove(&key);
        while inner.entries.len() >= self.max_entries || inner.bytes + bytes > self.max_bytes {
            if !inner.pop_soonest() {
                break;
            }
        }
        let slot = (claims.exp, inner.next);
        inner.next += 1;
        inner.by_expiry.insert(slot, key);
        inner.bytes += bytes;
        inner.entries.insert(
            key,
            Entry {
                claims: Arc::new(claims.clone()),
                kid: kid.into(),
                slot,
                bytes,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::jwt::fixtures::{AUD, ISS, client_claims as claims, now};
    use crate::oauth::jwt::{ACCESS_TOKEN_TYP, sign};
    use crate::oauth::keys;
    use chrono::{DateTime, Duration, Utc};

    fn expect(at: DateTime<Utc>) -> Expect<'static> {
        Expect {
            issuer: ISS,
            audience: Some(AUD),
            typ: Some(ACCESS_TOKEN_TYP),
            check_expiry: true,
            now: at,
            max_jwt_ttl: Duration::hours(1),
        }
    }

    fn key_set() -> (tempfile::TempDir, KeySet) {
        let dir = tempfile::tempdir().unwrap();
        keys::generate(dir.path()).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        (dir, set)
    }

    #[test]
    fn entries_and_bytes_stay_within_their_bounds_nearest_expiry_leaving_first() {
        let (_dir, set) = key_set();
        let cache = VerifiedTokens::new(3, usize::MAX);
        let tokens: Vec<String> = (0..5)
            .map(|i| {
                let c = claims(&format!("j{i}"), 600 - i);
                sign(&set, now(), ACCESS_TOKEN_TYP, &c).unwrap()
            })
            .collect();
        for t in &tokens {
            cache.verify(&set, t, &expect(now())).unwrap();
        }
        assert_eq!(cache.len(), 3);
        // j3 (exp +597) pushed out j2 (+598), then j4 (+596) pushed out j3.
        let inner = cache.lock();
        let mut exps: Vec<i64> = inner
            .entries
            .values()
            .map(|e| e.claims.exp - now().timestamp())
            .collect();
        exps.sort_unstable();
        assert_eq!(exps, [596, 599, 600]);
        assert_eq!(inner.by_expiry.len(), 3);
        let counted: usize = inner.entries.values().map(|e| e.bytes).sum();
        assert_eq!(inner.bytes, counted);
        drop(inner);

        let one = tokens[0].split('.').nth(1).unwrap().len() * 3 / 4 + 43 + ENTRY_OVERHEAD;
        let small = VerifiedTokens::new(100, 2 * one + one / 2);
        for t in &tokens {
            small.verify(&set, t, &expect(now())).unwrap();
        }
        assert_eq!(small.len(), 2);
        assert!(small.lock().bytes <= 2 * one + one / 2);
    }

    #[test]
    fn expired_entries_are_never_answered_and_make_room_first() {
        let (_dir, set) = key_set();
        let cache = VerifiedTokens::new(10, usize::MAX);
        let short = sign(&set, now(), ACCESS_TOKEN_TYP, &claims("short", 10)).unwrap();
        cache.verify(&set, &short, &expect(now())).unwrap();
        assert_eq!(cache.len(), 1);
        let later = now() + Duration::seconds(10);
        assert!(matches!(
            cache.verify(&set, &short, &expect(later)),
            Err(JwtError::Expired)
        ));
        assert!(cache.is_empty());

        cache.verify(&set, &short, &expect(now())).unwrap();
        let long = sign(&set, now(), ACCESS_TOKEN_TYP, &claims("long", 600)).unwrap();
        cache.verify(&set, &long, &expect(later)).unwrap();
        assert_eq!(cache.len(), 1, "the expired entry left as another came");
    }

    #[test]
    fn a_token_differing_in_its_signature_is_verified_in_full() {
        let (_dir, set) = key_set();
        let cache = VerifiedTokens::new(10, usize::MAX);
        let token = sign(&set, now(), ACCESS_TOKEN_TYP, &claims("j", 600)).unwrap();
        cache.verify(&set, &token, &expect(now())).unwrap();
        let (head, sig) = token.rsplit_once('.').unwrap();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        let tampered = format!("{head}.{flipped}{}", &sig[1..]);
        assert!(matches!(
            cache.verify(&set, &tampered, &expect(now())),
            Err(JwtError::Invalid(_))
        ));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn off_remembers_nothing() {
        let (_dir, set) = key_set();
        for cache in [
            VerifiedTokens::new(0, usize::MAX),
            VerifiedTokens::new(10, 0),
        ] {
            let token = sign(&set, now(), ACCESS_TOKEN_TYP, &claims("j", 600)).unwrap();
            cache.verify(&set, &token, &expect(now())).unwrap();
            assert!(cache.is_empty());
        }
    }
}
