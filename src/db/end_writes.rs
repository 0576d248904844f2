//! Writes that must be the last of their transaction.
//!
//! [`at_end`] called inside [`DbConn::write_transaction`](super::DbConn::write_transaction)
//! (on the same connection) keeps the write until the transaction's work has succeeded and
//! runs it just before the commit, in the order the writes were handed over; called anywhere
//! else it runs at once. The audit log uses it so that `audit_head`, the one row every
//! audited transaction updates, is always locked last (see [`crate::audit`]).
//!
//! The queue is per thread: a transaction runs on one thread from begin to commit (diesel
//! is synchronous), and a scope drops its queue however it ends.

use super::DbConn;
use diesel::QueryResult;
use std::cell::RefCell;

type Write = Box<dyn FnOnce(&mut DbConn) -> QueryResult<()>>;

struct Open {
    /// The connection of the transaction (its address, only compared).
    conn: usize,
    writes: Vec<Write>,
}

thread_local! {
    static OPEN: RefCell<Vec<Open>> = const { RefCell::new(Vec::new()) };
}

fn address(conn: &DbConn) -> usize {
    std::ptr::from_ref(conn) as usize
}

/// Runs `write` as the last work of the write transaction open on `conn`, or now when there
/// is none. Errors of a kept write fail (and roll back) the transaction.
pub fn at_end(
    conn: &mut DbConn,
    write: impl FnOnce(&mut DbConn) -> QueryResult<()> + 'static,
) -> QueryResult<()> {
    let here = address(conn);
    let kept = OPEN.with(|open| {
        let mut open = open.borrow_mut();
        match open.last_mut() {
            Some(tx) if tx.conn == here => {
                tx.writes.push(Box::new(write));
                None
            }
            _ => Some(write),
        }
    });
    match kept {
        Some(write) => write(conn),
        None => Ok(()),
    }
}

/// One open write transaction's queue; dropping it discards what was not run.
pub(super) struct Scope {
    depth: usize,
}

impl Scope {
    pub(super) fn enter(conn: &DbConn) -> Self {
        let conn = address(conn);
        let depth = OPEN.with(|open| {
            let mut open = open.borrow_mut();
            open.push(Open {
                conn,
                writes: Vec::new(),
            });
            open.len()
        });
        Scope { depth }
    }

    /// Runs the kept writes in order (writes they queue in turn run too).
    pub(super) fn run(&self, conn: &mut DbConn) -> QueryResult<()> {
        loop {
            let next = OPEN.with(|open| {
                let mut open = open.borrow_mut();
                open.get_mut(self.depth - 1)
                    .filter(|tx| !tx.writes.is_empty())
                    .map(|tx| tx.writes.remove(0))
            });
            match next {
                Some(write) => write(conn)?,
                None => return Ok(()),
            }
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        OPEN.with(|open| open.borrow_mut().truncate(self.depth - 1));
    }
}
