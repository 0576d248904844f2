//! How many statements the connections of a pool have sent, and how many of them diesel
//! prepared into its statement cache: the cost of a request counted in round trips, not
//! timed (shown by `/metrics` as `procura_db_statements_total` and
//! `procura_db_statements_prepared_total`).
//!
//! Diesel keeps a statement prepared per connection when it deems the query safe to cache
//! (a fixed SQL text: no `eq_any` over a list of variable length, no raw `sql_query`, no
//! boxed query) and prepares it again on every use otherwise; "prepared" counts the first
//! kind, once per connection and statement. A statement sent without a new "prepared" was
//! either found in the cache or is not cacheable — a connection's first use of a cacheable
//! statement always counts one.

use diesel::connection::{Instrumentation, InstrumentationEvent};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct StatementCounts {
    sent: AtomicU64,
    prepared: AtomicU64,
}

impl StatementCounts {
    /// Statements sent (queries, and transaction control such as `BEGIN`/`COMMIT`).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Statements prepared into a connection's statement cache.
    pub fn prepared(&self) -> u64 {
        self.prepared.load(Ordering::Relaxed)
    }
}

/// The per-connection hook feeding a pool's [`StatementCounts`].
pub(super) struct Counting(pub(super) Arc<StatementCounts>);

impl Instrumentation for Counting {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                self.0.sent.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::CacheQuery { .. } => {
                self.0.prepared.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}
