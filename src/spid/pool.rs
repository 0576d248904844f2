//! The threads SAML work runs on: parsing, signature checks and signing of every SPID message.
//!
//! Anyone can post SAML, so its cost must not spill onto the rest of the service (issue 11 §3).
//! The work runs on a few threads of its own rather than on the shared blocking pool, which
//! also runs every database call: at most `spid.workers` SAML jobs at once, however many arrive,
//! at a lower priority (`spid.workers_nice`) so that under contention the kernel gives the
//! HTTP workers and the database threads the CPU first; and at most `spid.queue` jobs waiting,
//! beyond which a SPID request is answered 503 at once instead of queueing without bound.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    #[error("too much SAML work waiting")]
    Busy,
    #[error("the SAML work was lost")]
    Lost,
}

/// A fixed set of threads taking jobs from one bounded queue.
pub struct SamlPool {
    jobs: SyncSender<Job>,
    threads: usize,
}

impl std::fmt::Debug for SamlPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SamlPool({} threads)", self.threads)
    }
}

impl SamlPool {
    /// `threads` workers (0: half the cores, at least one) at nice value `nice`, with
    /// room for `queue` waiting jobs. The threads end when the pool is dropped.
    pub fn new(threads: usize, queue: usize, nice: i32) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = if threads == 0 { cores / 2 } else { threads }.max(1);
        let (jobs, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..threads {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("saml-{i}"))
                .spawn(move || work(&receiver, nice))?;
        }
        Ok(Self { jobs, threads })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job` on a SAML thread and waits for it without blocking the caller's thread.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        self.submit(job)?.await.map_err(|_| PoolError::Lost)
    }

    /// Queues `job`, or refuses it at once when the queue is full.
    fn submit<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<T>, PoolError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (client disconnected): nobody to tell.
            let _ = done.send(job());
        });
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => PoolError::Busy,
            TrySendError::Disconnected(_) => PoolError::Lost,
        })?;
        Ok(result)
    }
}

fn work(jobs: &Mutex<Receiver<Job>>, nice: i32) {
    lower_priority(nice);
    loop {
        let next = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = next else {
            return; // the pool was dropped
        };
        // A panic loses that one job (its caller gets `Lost`), not the thread.
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a SAML job panicked");
        }
    }
}

/// Sets this thread's nice value (Linux: per thread). Raising it needs no privilege; a
/// failure only costs the isolation, so it is logged and the thread works on.
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let this = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(this), nice.min(19)) {
            tracing::warn!(error = %e, "could not lower the priority of a SAML thread");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn runs_jobs_and_refuses_beyond_the_queue() -> Result<(), Box<dyn std::error::Error>> {
        let pool = SamlPool::new(1, 1, 5)?;
        assert_eq!(pool.run(|| 6 * 7).await, Ok(42));

        // One job holds the thread, one waits: the next is refused at once.
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let busy = pool.submit(move || {
            let _ = started.send(());
            let _ = gate.recv();
        })?;
        running.recv()?;
        let waiting = pool.submit(|| 1)?;
        assert_eq!(pool.submit(|| 2).err(), Some(PoolError::Busy));
        release.send(())?;
        busy.await?;
        assert_eq!(waiting.await?, 1);
        Ok(())
    }

    #[actix_web::test]
    async fn a_panic_loses_only_its_job() -> Result<(), Box<dyn std::error::Error>> {
        let pool = SamlPool::new(1, 4, 0)?;
        let lost: Result<(), _> = pool.run(|| panic!("boom")).await;
        assert_eq!(lost, Err(PoolError::Lost));
        assert_eq!(pool.run(|| "still here").await, Ok("still here"));
        Ok(())
    }
}
