//! The threads SAML work runs on: parsing, signature checks and signing of every SPID message.
//!
//! Anyone can post SAML, so its cost must not spill onto the rest of the service (issue 11 §3).
//! The work runs on a few threads of its own ([`crate::worker_pool`]) rather than on the shared
//! blocking pool, which also runs every database call: at most `spid.workers` SAML jobs at
//! once, however many arrive, at a lower priority (`spid.workers_nice`) so that under
//! contention the kernel gives the HTTP workers and the database threads the CPU first; and at
//! most `spid.queue` jobs waiting, beyond which a SPID request is answered 503 at once instead
//! of queueing without bound.

pub use crate::worker_pool::PoolError;
use crate::worker_pool::WorkerPool;

/// The SAML threads.
#[derive(Debug)]
pub struct SamlPool(WorkerPool);

impl SamlPool {
    /// `threads` workers (0: half the cores, at least one) at nice value `nice`, with
    /// room for `queue` waiting jobs. The threads end when the pool is dropped.
    pub fn new(threads: usize, queue: usize, nice: i32) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = if threads == 0 { cores / 2 } else { threads }.max(1);
        WorkerPool::new("saml", threads, queue, nice).map(Self)
    }

    pub fn threads(&self) -> usize {
        self.0.threads()
    }

    /// Runs `job` on a SAML thread and waits for it without blocking the caller's thread.
    ///
    /// # Errors
    ///
    /// Too much SAML work is waiting ([`PoolError::Busy`]), or the job panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        self.0.run(job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_means_half_the_cores_at_least_one() -> std::io::Result<()> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(SamlPool::new(0, 1, 0)?.threads(), (cores / 2).max(1));
        assert_eq!(SamlPool::new(3, 1, 0)?.threads(), 3);
        Ok(())
    }
}
