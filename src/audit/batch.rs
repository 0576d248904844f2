//! Group commit: records of requests that write nothing else, appended in batches.
//!
//! An access check only reads; its one write is its audit record. Appended in a
//! transaction of its own, each such record locks `audit_head` and waits for every other
//! appender (about seven round trips each on PostgreSQL), so concurrent checks are
//! serialised on that row. The [`Appender`] instead hands every record to one thread, which
//! takes whatever records are waiting (up to [`MAX_BATCH`]) and appends them in one
//! transaction: one `audit_head` lock, the chain computed in arrival order inside it, one
//! multi-row insert, one commit. While a batch is being written the next one gathers, so
//! under load the batches grow on their own and when idle a record is written at once.
//!
//! Never an answer without its trace: [`Appender::append`] returns only after the batch
//! holding the record has committed; when the batch fails, every request in it gets the
//! error (and answers 503, not the result). A process killed at any moment therefore loses
//! only records of requests that were not yet answered.
//!
//! Several instances on one PostgreSQL each have their own appender; the `audit_head` row
//! lock serialises their batches (not their records), and each batch reads the head after
//! locking it, so the chain stays one line. State-changing operations do not come here: their
//! record stays in their own transaction ([`super::append`]), so it exists exactly when the
//! change does.

use super::{AuditKey, Event};
use crate::db::{DbError, Pool};
use chrono::{DateTime, Utc};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// The most records one transaction appends (ten bound values each: far below SQLite's
/// limit on one statement).
pub const MAX_BATCH: usize = 256;

/// Why a batch was not committed, told to every request in it.
pub type Failure = String;

struct Pending {
    now: DateTime<Utc>,
    event: Event,
    done: oneshot::Sender<Result<(), Failure>>,
}

/// The group-commit appender of one instance: a thread of its own and a queue.
pub struct Appender {
    queue: Option<mpsc::Sender<Pending>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender").finish_non_exhaustive()
    }
}

impl Appender {
    /// Starts the writer thread; dropping the appender writes what is queued and joins it
    /// (so its pool connections are closed before the drop returns, not while the process
    /// exits).
    pub fn start(pool: Pool, key: AuditKey) -> std::io::Result<Self> {
        let (queue, waiting) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("procura-audit".into())
            .spawn(move || write_batches(&waiting, &pool, &key))?;
        Ok(Self {
            queue: Some(queue),
            writer: Some(writer),
        })
    }

    /// Appends `event` with the next batch; returns once that batch has committed.
    pub async fn append(&self, now: DateTime<Utc>, event: Event) -> Result<(), DbError> {
        let (done, committed) = oneshot::channel();
        self.queue
            .as_ref()
            .ok_or_else(|| DbError::AuditBatch("the audit writer has stopped".into()))?
            .send(Pending { now, event, done })
            .map_err(|_| DbError::AuditBatch("the audit writer has stopped".into()))?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(DbError::AuditBatch(why)),
            Err(_) => Err(DbError::AuditBatch("the audit writer has stopped".into())),
        }
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn write_batches(waiting: &mpsc::Receiver<Pending>, pool: &Pool, key: &AuditKey) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Blocks until a record comes; ends when every sender is gone.
    while let Ok(first) = waiting.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let result = write_batch(pool, key, &batch).map_err(|e| {
            tracing::error!(error = %e, records = batch.len(), "audit batch failed");
            e.to_string()
        });
        for pending in batch.drain(..) {
            // A request that has gone away (client closed) needs no answer; its record is
            // written all the same.
            let _ = pending.done.send(result.clone());
        }
    }
}

fn write_batch(pool: &Pool, key: &AuditKey, batch: &[Pending]) -> Result<(), DbError> {
    crate::db::with_conn(pool, |conn| {
        conn.write_transaction_retrying(|c| {
            super::write_records(c, key, batch.iter().map(|p| (p.now, p.event.clone())))
                .map_err(DbError::from)
        })
    })
}
