//! A short-lived, per-instance memory of successful `client_secret_basic` authentications,
//! so that a downstream service calling the access check, introspection or the token
//! endpoint many times a second costs one database trip per request, not two.
//!
//! An entry is keyed by the client id and the SHA-256 of the secret that authenticated it:
//! a request presenting another secret never matches it and is checked against the database
//! (and a wrong secret is never remembered). An entry lives `oauth.client_cache_secs`
//! (default 5 s; 0 turns the cache off): **a removed client, a rotated secret or changed
//! scopes take effect within that time on every instance**, as each instance forgets its
//! entries by then. Assertions (`private_key_jwt`) are not cached: each carries a `jti`
//! that must be checked for replay in the database.

use super::client::{self, Client, ClientAuthError, Credentials};
use super::token_hash;
use crate::db::{self, DbConn, DbError, Pool};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most this many clients are remembered; past it the cache starts afresh (there are far
/// fewer registered confidential clients than this).
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    secret_hash: String,
    client: Client,
    until: Instant,
}

pub struct ClientCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for ClientCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl ClientCache {
    /// `ttl` zero: nothing is remembered.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map holds no invariant a panic could break half-way.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The client `client_id` authenticated with the secret hashed `secret_hash` within the
    /// last `ttl`.
    fn get(&self, client_id: &str, secret_hash: &str, now: Instant) -> Option<Client> {
        let mut entries = self.lock();
        let entry = entries.get(client_id)?;
        if entry.until <= now {
            entries.remove(client_id);
            return None;
        }
        token_hash::eq(entry.secret_hash.as_bytes(), secret_hash.as_bytes())
            .then(|| entry.client.clone())
    }

    fn put(&self, secret_hash: String, client: &Client, now: Instant) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            client.client_id.clone(),
            Entry {
                secret_hash,
                client: client.clone(),
                until: now + self.ttl,
            },
        );
    }

    /// What memory knows of `credentials` before any database work: the client, when a
    /// `client_secret_basic` client authenticated with the same secret within the TTL.
    pub fn recall(&self, credentials: Credentials, audiences: Vec<String>) -> Known {
        let secret_hash = match (&credentials, self.ttl.is_zero()) {
            (Credentials::Basic { client_id, secret }, false) => {
                let hash = token_hash::hash(secret);
                if let Some(client) = self.get(client_id, &hash, Instant::now()) {
                    return Known::Client(client);
                }
                Some(hash)
            }
            _ => None,
        };
        Known::Unknown(Pending {
            credentials,
            audiences,
            secret_hash,
        })
    }

    /// [`client::authenticate`] of credentials memory did not know, with a connection the
    /// caller already holds (so the request's other reads share its trip to the blocking
    /// pool); a success with a secret is remembered.
    pub fn authenticate_in(
        &self,
        conn: &mut DbConn,
        pending: Pending,
        now: DateTime<Utc>,
    ) -> Result<Client, ClientAuthError> {
        let auds: Vec<&str> = pending.audiences.iter().map(String::as_str).collect();
        let result = client::authenticate(conn, &pending.credentials, &auds, now);
        if let (Ok(client), Some(hash)) = (&result, pending.secret_hash) {
            self.put(hash, client, Instant::now());
        }
        result
    }

    /// [`client::authenticate`], answered from memory for a `client_secret_basic` client
    /// that authenticated with the same secret within the TTL, else on the blocking pool.
    pub async fn authenticate(
        self: &Arc<Self>,
        pool: &Pool,
        credentials: Credentials,
        audiences: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<Result<Client, ClientAuthError>, DbError> {
        match self.recall(credentials, audiences) {
            Known::Client(client) => Ok(Ok(client)),
            Known::Unknown(pending) => {
                let cache = self.clone();
                db::run(pool, move |c| {
                    Ok::<_, DbError>(cache.authenticate_in(c, pending, now))
                })
                .await
            }
        }
    }
}

/// A client known from memory, or credentials still to check in the database.
pub enum Known {
    Client(Client),
    Unknown(Pending),
}

/// Credentials to check in the database ([`ClientCache::authenticate_in`]).
pub struct Pending {
    credentials: Credentials,
    audiences: Vec<String>,
    secret_hash: Option<String>,
}
