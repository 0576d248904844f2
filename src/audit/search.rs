//! Finding records: by the person they are about (or who acted), by actor, by action (a
//! whole name, or every action under a prefix ending in `.`) and by time, newest first, a
//! page at a time (keyset on `seq`, so a page costs the same however deep it is).

use super::Record;
use crate::db::schema::audit_log;
use crate::db::{DbConn, DbError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// The most records one page may hold.
pub const MAX_PAGE: i64 = 200;

/// What to look for; every field set must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A party (`person:…`) the record is about or that acted.
    pub party: Option<String>,
    /// The acting party exactly (`operator:…`, `cli:…`, …).
    pub actor: Option<String>,
    /// An action (`operator.disabled`), or a prefix ending in `.` (`operator.`).
    pub action: Option<String>,
    /// From this time (inclusive).
    pub from: Option<NaiveDateTime>,
    /// Before this time (exclusive).
    pub until: Option<NaiveDateTime>,
    /// Only records numbered below this one (the next page).
    pub before_seq: Option<i64>,
}

/// One page of matches, newest first, and whether more follow (`next` is then the
/// `before_seq` of the next page).
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Record>,
    pub next: Option<i64>,
}

/// The records matching `filter`, at most `limit` (capped at [`MAX_PAGE`]).
pub fn search(conn: &mut DbConn, filter: &Filter, limit: i64) -> Result<Page, DbError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut q = audit_log::table.into_boxed();
    if let Some(p) = &filter.party {
        q = q.filter(
            audit_log::subject
                .eq(p.clone())
                .or(audit_log::actor.eq(p.clone())),
        );
    }
    if let Some(a) = &filter.actor {
        q = q.filter(audit_log::actor.eq(a.clone()));
    }
    match filter.action.as_deref() {
        // Every action under the prefix: `operator.` ≤ action < `operator/` ('/' follows '.').
        Some(prefix) if prefix.ends_with('.') => {
            let end = format!("{}/", &prefix[..prefix.len() - 1]);
            q = q.filter(
                audit_log::action
                    .ge(prefix.to_owned())
                    .and(audit_log::action.lt(end)),
            );
        }
        Some(action) => q = q.filter(audit_log::action.eq(action.to_owned())),
        None => {}
    }
    if let Some(t) = filter.from {
        q = q.filter(audit_log::occurred_at.ge(t));
    }
    if let Some(t) = filter.until {
        q = q.filter(audit_log::occurred_at.lt(t));
    }
    if let Some(seq) = filter.before_seq {
        q = q.filter(audit_log::seq.lt(seq));
    }
    let mut records: Vec<Record> = q
        .order(audit_log::seq.desc())
        .limit(limit + 1)
        .select(Record::as_select())
        .load(conn)?;
    let more = records.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    records.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        records.last().map(|r| r.seq)
    } else {
        None
    };
    Ok(Page { records, next })
}
