//! Slow hashing of low-entropy secrets (PINs): argon2id with m = 19456 KiB, t = 2, p = 1
//! (OWASP's first recommended setting; design §4), stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
//!
//! Each hash costs about 19 MiB and tens of milliseconds of one core, so [`PasswordHasher`]:
//! - runs the work on threads of its own ([`crate::worker_pool`], named `argon2-<n>`), one per
//!   admitted hash, never on an async worker nor on tokio's blocking pool (which runs every
//!   database call and would queue them behind the hashes);
//! - runs those threads at a lower priority (`pin.hasher_nice`), so that under contention the
//!   kernel gives the CPU to the HTTP workers, the database threads and the audit writer first
//!   (issue 13: the access check while PIN logins saturate the hasher);
//! - admits at most `max_parallel` hashes at once (a semaphore no wider than the cores), so a
//!   burst of logins queues instead of exhausting memory and starving everything else;
//! - keeps a dummy hash made at construction, so that checking a PIN for an account that does
//!   not exist costs the same time as checking a real one ([`PasswordHasher::verify`] with
//!   `None`).
//!
//! High-entropy random tokens are *not* hashed here: they are stored as SHA-256
//! ([`crate::oauth::token_hash`]). Rate limits are checked before anything reaches this module.

use crate::worker_pool::WorkerPool;
use argon2::password_hash::{self, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use std::fmt;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Memory cost, KiB.
pub const MEMORY_KIB: u32 = 19_456;
/// Passes over the memory.
pub const TIME_COST: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;
/// Salt bytes (password-hash's recommended length).
const SALT_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// argon2 refused its input, or a stored hash is not a valid PHC string.
    #[error("password hashing failed: {0}")]
    Argon2(password_hash::Error),
    #[error("the system random number generator failed")]
    Random,
    /// The hashing job panicked, or the hasher's threads could not take it.
    #[error("the hashing task was cancelled")]
    Cancelled,
    #[error("the hashing threads could not be started: {0}")]
    Threads(std::io::Error),
}

impl From<password_hash::Error> for PasswordError {
    fn from(e: password_hash::Error) -> Self {
        Self::Argon2(e)
    }
}

/// A secret in clear (a PIN as typed). `Debug` prints nothing of it, and its bytes are
/// overwritten when it is dropped. That is best effort: copies the caller made, or that a
/// `String` left behind when it grew, are out of reach.
pub struct SecretText(String);

impl SecretText {
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretText {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(..)")
    }
}

impl Drop for SecretText {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        // Keeps the writes from being optimised away as dead stores.
        std::hint::black_box(&bytes);
    }
}

/// argon2id hashing off the async workers, at most `width` at a time.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    width: usize,
    /// `width` threads; the semaphore keeps at most `width` jobs in it, so its queue (as long)
    /// never refuses one.
    threads: WorkerPool,
    /// PHC string of a random secret: what unknown accounts are checked against.
    dummy: Arc<str>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher admitting `max_parallel` hashes at once, capped at the number of cores
    /// (and at least 1), on as many threads at nice value `nice` (`pin.hasher_nice`; 0: as
    /// the process). Computes the dummy hash, so it blocks for one hash: build it at
    /// start-up, not on an async worker mid-request.
    ///
    /// # Errors
    ///
    /// The random number generator failed (no salt), argon2 refused the parameters, or the
    /// threads could not be started.
    pub fn new(max_parallel: usize, nice: i32) -> Result<Self, PasswordError> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let width = max_parallel.clamp(1, cores);
        let threads =
            WorkerPool::new("argon2", width, width, nice).map_err(PasswordError::Threads)?;
        let argon2 = argon2id()?;
        let mut dummy_secret = [0_u8; 32];
        aws_lc_rs::rand::fill(&mut dummy_secret).map_err(|_| PasswordError::Random)?;
        let dummy = hash_blocking(&argon2, &dummy_secret)?;
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(width)),
            width,
            threads,
            dummy: dummy.into(),
        })
    }

    /// How many hashes may run at once.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Hashes `secret` with a fresh random salt; returns the PHC string.
    ///
    /// # Errors
    ///
    /// See [`PasswordError`].
    pub async fn hash(&self, secret: String) -> Result<String, PasswordError> {
        let secret = SecretText::new(secret);
        let argon2 = self.argon2.clone();
        self.run(move || hash_blocking(&argon2, secret.expose().as_bytes()))
            .await
    }

    /// Whether `candidate` matches the PHC string `phc`. With `None` (no such account) the
    /// candidate is checked against the dummy hash and the answer is `false`, in about the
    /// time a real check takes.
    ///
    /// # Errors
    ///
    /// `phc` is not a valid PHC string, or see [`PasswordError`].
    pub async fn verify(
        &self,
        phc: Option<String>,
        candidate: String,
    ) -> Result<bool, PasswordError> {
        let candidate = SecretText::new(candidate);
        let argon2 = self.argon2.clone();
        let dummy = self.dummy.clone();
        self.run(move || {
            let (stored, real) = match &phc {
                Some(phc) => (phc.as_str(), true),
                None => (&*dummy, false),
            };
            let parsed = PasswordHash::new(stored)?;
            match argon2.verify_password(candidate.expose().as_bytes(), &parsed) {
                Ok(()) => Ok(real),
                Err(password_hash::Error::Password) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Runs `work` on the hasher's threads once a permit is free. The permit moves into the
    /// job, so a caller that gives up waiting does not free a slot the work still uses (and a
    /// job that panics frees it as it unwinds).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Cancelled)?;
        self.threads
            .run(move || {
                let result = work();
                drop(permit);
                result
            })
            .await
            .map_err(|_| PasswordError::Cancelled)?
    }
}

fn argon2id() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(MEMORY_KIB, TIME_COST, PARALLELISM, None)
        .map_err(password_hash::Error::from)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(argon2: &Argon2<'static>, secret: &[u8]) -> Result<String, PasswordError> {
    let mut salt = [0_u8; SALT_BYTES];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError::Random)?;
    let salt = password_hash::SaltString::encode_b64(&salt)?;
    Ok(argon2.hash_password(secret, &salt)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn hash_then_verify() {
        let hasher = PasswordHasher::new(2, 0).unwrap();
        let phc = hasher.hash("AB12CD34".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("AB12CD34"));
        assert!(
            hasher
                .verify(Some(phc.clone()), "AB12CD34".into())
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(Some(phc.clone()), "AB12CD35".into())
                .await
                .unwrap()
        );
        // A fresh salt every time.
        let again = hasher.hash("AB12CD34".into()).await.unwrap();
        assert_ne!(phc, again);
    }

    #[actix_web::test]
    async fn unknown_accounts_never_verify() {
        let hasher = PasswordHasher::new(1, 0).unwrap();
        assert!(!hasher.verify(None, String::new()).await.unwrap());
        assert!(!hasher.verify(None, "AB12CD34".into()).await.unwrap());
    }

    #[actix_web::test]
    async fn a_malformed_hash_is_an_error_not_a_mismatch() {
        let hasher = PasswordHasher::new(1, 0).unwrap();
        let result = hasher.verify(Some("not a phc".into()), "x".into()).await;
        assert!(
            matches!(result, Err(PasswordError::Argon2(_))),
            "{result:?}"
        );
    }

    #[test]
    fn width_is_capped_by_the_cores_and_at_least_one() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(PasswordHasher::new(0, 0).unwrap().width(), 1);
        assert_eq!(PasswordHasher::new(10_000, 0).unwrap().width(), cores);
    }

    #[actix_web::test]
    async fn parallel_hashes_queue_and_all_finish() {
        let hasher = Arc::new(PasswordHasher::new(2, 0).unwrap());
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let hasher = hasher.clone();
                actix_web::rt::spawn(async move { hasher.hash(format!("PIN{i}")).await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().unwrap().starts_with("$argon2id$"));
        }
        assert_eq!(hasher.permits.available_permits(), hasher.width());
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn hashes_run_on_threads_at_the_configured_nice() {
        let base = crate::worker_pool::current_thread_nice().unwrap();
        let hasher = PasswordHasher::new(2, 12).unwrap();
        assert_eq!(hasher.threads.threads(), hasher.width());
        for _ in 0..4 {
            let (name, nice) = hasher
                .run(|| {
                    let name = std::thread::current().name().map(str::to_owned);
                    Ok((name, crate::worker_pool::current_thread_nice().unwrap()))
                })
                .await
                .unwrap();
            assert!(
                name.as_deref().is_some_and(|n| n.starts_with("argon2-")),
                "{name:?}"
            );
            assert_eq!(nice, 12.max(base));
        }
        // The caller's thread keeps its own.
        assert_eq!(crate::worker_pool::current_thread_nice().unwrap(), base);
    }

    #[actix_web::test]
    async fn a_panicking_job_loses_neither_its_thread_nor_its_permit() {
        let hasher = PasswordHasher::new(1, 10).unwrap();
        let lost: Result<(), _> = hasher.run(|| panic!("boom")).await;
        assert!(matches!(lost, Err(PasswordError::Cancelled)), "{lost:?}");
        assert_eq!(hasher.permits.available_permits(), 1);
        // The one thread still hashes.
        let phc = hasher.hash("AB12CD34".into()).await.unwrap();
        assert!(hasher.verify(Some(phc), "AB12CD34".into()).await.unwrap());
        assert_eq!(hasher.threads.threads(), 1);
    }

    #[test]
    fn secret_text_debug_hides_the_secret() {
        let s = SecretText::new("AB12CD34".into());
        assert_eq!(format!("{s:?}"), "SecretText(..)");
        assert_eq!(s.expose(), "AB12CD34");
    }
}
