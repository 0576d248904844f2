//! A fixed set of threads of their own, at a lower priority, for CPU-heavy work that must not
//! take its CPU from the HTTP workers, the shared blocking pool (every database call) or the
//! audit batch writer: SAML parsing and signatures (`spid::pool`) and argon2 PIN hashes
//! (`password`).
//!
//! - `threads` threads, each setting its own nice value (Linux: per thread) before its first
//!   job, so that under contention the kernel gives the rest of the service the CPU first;
//! - one bounded queue of `queue` waiting jobs, beyond which [`WorkerPool::submit`] refuses at
//!   once ([`PoolError::Busy`]) instead of queueing without bound;
//! - a panic loses that one job (its caller gets [`PoolError::Lost`]), never the thread;
//! - [`WorkerPool::run`] waits for the result without blocking the caller's thread.
//!
//! The threads end when the pool is dropped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    #[error("too much work waiting for the worker threads")]
    Busy,
    #[error("the work was lost (it panicked, or the pool is gone)")]
    Lost,
}

/// A fixed set of threads taking jobs from one bounded queue.
pub struct WorkerPool {
    jobs: SyncSender<Job>,
    threads: usize,
    name: &'static str,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorkerPool({}, {} threads)", self.name, self.threads)
    }
}

impl WorkerPool {
    /// `threads` workers (at least one) named `{name}-{i}`, at nice value `nice` (0 or less:
    /// left as inherited; above 19: 19), with room for `queue` waiting jobs.
    pub fn new(
        name: &'static str,
        threads: usize,
        queue: usize,
        nice: i32,
    ) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..threads {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || work(&receiver, name, nice))?;
        }
        Ok(Self {
            jobs,
            threads,
            name,
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job` on one of the threads and waits for it without blocking the caller's thread.
    ///
    /// # Errors
    ///
    /// The queue is full ([`PoolError::Busy`]), or the job panicked ([`PoolError::Lost`]).
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        self.submit(job)?.await.map_err(|_| PoolError::Lost)
    }

    /// Queues `job`, or refuses it at once when the queue is full.
    ///
    /// # Errors
    ///
    /// See [`WorkerPool::run`].
    pub fn submit<T: Send + 'static>(
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

fn work(jobs: &Mutex<Receiver<Job>>, name: &str, nice: i32) {
    lower_priority(name, nice);
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
            tracing::error!(pool = name, "a worker job panicked");
        }
    }
}

/// Sets this thread's nice value (Linux: per thread). Raising it needs no privilege; a
/// failure only costs the isolation, so it is logged and the thread works on.
fn lower_priority(name: &str, nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let this = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(this), nice.min(19)) {
            tracing::warn!(pool = name, error = %e, "could not lower the priority of a worker thread");
        }
    }
}

/// The nice value of the calling thread, read from `/proc/thread-self/stat` (Linux; for
/// tests).
///
/// # Errors
///
/// The file is unreadable or not as expected.
#[cfg(target_os = "linux")]
pub fn current_thread_nice() -> std::io::Result<i32> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
    // pid (comm) state ppid ... : after the closing parenthesis of comm, nice is the 17th
    // field (field 19 of proc(5), counting from pid).
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| std::io::Error::other("no ')' in /proc/thread-self/stat"))?;
    after
        .split_whitespace()
        .nth(16)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| std::io::Error::other("no nice field in /proc/thread-self/stat"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn runs_jobs_and_refuses_beyond_the_queue() -> Result<(), Box<dyn std::error::Error>> {
        let pool = WorkerPool::new("test", 1, 1, 5)?;
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
        let pool = WorkerPool::new("test", 1, 4, 0)?;
        let lost: Result<(), _> = pool.run(|| panic!("boom")).await;
        assert_eq!(lost, Err(PoolError::Lost));
        assert_eq!(pool.run(|| "still here").await, Ok("still here"));
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn the_threads_run_at_the_configured_nice() -> Result<(), Box<dyn std::error::Error>> {
        let base = current_thread_nice()?;
        let pool = WorkerPool::new("test", 2, 4, 7)?;
        let nice = pool.run(current_thread_nice).await??;
        // Raising the nice value needs no privilege; a thread starts at its creator's.
        assert_eq!(nice, 7.max(base));
        let capped = WorkerPool::new("test", 1, 1, 40)?;
        assert_eq!(capped.run(current_thread_nice).await??, 19);
        // This thread is untouched.
        assert_eq!(current_thread_nice()?, base);
        Ok(())
    }
}
