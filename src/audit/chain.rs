//! The keyed hash that links records, and the walk that checks it.

use super::checkpoint::Anchor;
use super::{AuditKey, Record};
use crate::db::schema::{audit_head, audit_log};
use crate::db::{DbConn, DbError};
use diesel::prelude::*;
use hmac::Mac;

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const PAGE: i64 = 1_000;

/// HMAC over the previous hash and every field, each length-prefixed so that no two
/// different records encode to the same bytes.
pub(super) fn record_hash(key: &AuditKey, r: &Record) -> String {
    let mut mac = key.mac();
    let occurred_at = r.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let seq = r.seq.to_string();
    let fields: [Option<&str>; 9] = [
        Some(&r.prev_hash),
        Some(&seq),
        Some(&occurred_at),
        Some(&r.actor),
        r.subject.as_deref(),
        Some(&r.action),
        Some(&r.outcome),
        r.request_id.as_deref(),
        r.detail.as_deref(),
    ];
    for field in fields {
        match field {
            Some(v) => {
                mac.update(&u32::try_from(v.len()).unwrap_or(u32::MAX - 1).to_be_bytes());
                mac.update(v.as_bytes());
            }
            None => mac.update(&u32::MAX.to_be_bytes()),
        }
    }
    hex::encode(mac.finalize().into_bytes())
}

/// An intact log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub count: u64,
    /// The hash of the last record: keep it elsewhere to detect a later truncation.
    pub head_hash: String,
    /// How many checkpoints the log was checked against (all matched).
    pub checkpoints: usize,
}

/// The first record where the chain breaks, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("record #{expected} is missing (the next record found is #{found})")]
    Missing { expected: i64, found: i64 },
    #[error(
        "record #{seq} does not follow the record before it (reordered, or its predecessor was replaced)"
    )]
    Unlinked { seq: i64 },
    #[error("record #{seq} has been altered (its content does not match its hash)")]
    Altered { seq: i64 },
    #[error(
        "the log ends at record #{last} but its head says #{head}: records were removed from the end or the head was changed"
    )]
    HeadMismatch { last: i64, head: i64 },
    #[error(
        "record #{seq} lies outside 1..{head}, the numbers the log has given out: it was forged"
    )]
    Forged { seq: i64, head: i64 },
    #[error(
        "the log ends at record #{last} but checkpoint {file} was signed when it reached #{seq}: records were removed from the end (and the head rewound)"
    )]
    ShorterThanCheckpoint { file: String, seq: i64, last: i64 },
    #[error(
        "record #{seq} is not the record checkpoint {file} signed: the log was cut there and written anew"
    )]
    DiffersFromCheckpoint { file: String, seq: i64 },
}

/// Walks the whole chain in order, a page at a time (memory stays flat however long the log).
pub fn verify(conn: &mut DbConn, key: &AuditKey) -> Result<Result<Verified, Broken>, DbError> {
    verify_against(conn, key, &[])
}

/// [`verify`], and checks that the log holds every checkpoint in `anchors` (sorted by
/// `seq`): the record at each checkpoint's `seq` exists and has its hash. The walk reads one
/// snapshot of the database, so records appended meanwhile by a running service do not
/// disturb it; read the checkpoints *before* calling this, so that each of them describes a
/// head the snapshot includes.
pub fn verify_against(
    conn: &mut DbConn,
    key: &AuditKey,
    anchors: &[Anchor],
) -> Result<Result<Verified, Broken>, DbError> {
    conn.snapshot_transaction(|c| walk(c, key, anchors))
}

fn walk(
    conn: &mut DbConn,
    key: &AuditKey,
    anchors: &[Anchor],
) -> Result<Result<Verified, Broken>, DbError> {
    let (head_seq, head_hash): (i64, String) = audit_head::table
        .find(1_i64)
        .select((audit_head::last_seq, audit_head::last_hash))
        .first(conn)?;
    // Rows numbered below 1, or past the head, lie outside the numbers the log gave out.
    let forged: Option<i64> = audit_log::table
        .filter(audit_log::seq.lt(1_i64).or(audit_log::seq.gt(head_seq)))
        .order(audit_log::seq.asc())
        .select(audit_log::seq)
        .first(conn)
        .optional()?;
    if let Some(seq) = forged {
        return Ok(Err(Broken::Forged {
            seq,
            head: head_seq,
        }));
    }
    let anchors_len = anchors.len();
    let mut anchors = anchors.iter().peekable();
    let mut expected_seq = 1_i64;
    let mut prev = GENESIS.to_owned();
    loop {
        let page: Vec<Record> = audit_log::table
            .filter(audit_log::seq.ge(expected_seq))
            .order(audit_log::seq.asc())
            .limit(PAGE)
            .select(Record::as_select())
            .load(conn)?;
        let done = page.len() < usize::try_from(PAGE).unwrap_or(usize::MAX);
        for r in page {
            if r.seq != expected_seq {
                return Ok(Err(Broken::Missing {
                    expected: expected_seq,
                    found: r.seq,
                }));
            }
            if r.prev_hash != prev {
                return Ok(Err(Broken::Unlinked { seq: r.seq }));
            }
            let recomputed = record_hash(key, &r);
            if !constant_time_eq(recomputed.as_bytes(), r.hash.as_bytes()) {
                return Ok(Err(Broken::Altered { seq: r.seq }));
            }
            while let Some(a) = anchors.next_if(|a| a.checkpoint.seq <= r.seq) {
                if a.checkpoint.seq == r.seq
                    && !constant_time_eq(a.checkpoint.hash.as_bytes(), r.hash.as_bytes())
                {
                    return Ok(Err(Broken::DiffersFromCheckpoint {
                        file: a.file.clone(),
                        seq: r.seq,
                    }));
                }
            }
            prev = r.hash;
            expected_seq += 1;
        }
        if done {
            break;
        }
    }
    let last = expected_seq - 1;
    if let Some(a) = anchors.last() {
        return Ok(Err(Broken::ShorterThanCheckpoint {
            file: a.file.clone(),
            seq: a.checkpoint.seq,
            last,
        }));
    }
    if head_seq != last || head_hash != prev {
        return Ok(Err(Broken::HeadMismatch {
            last,
            head: head_seq,
        }));
    }
    Ok(Ok(Verified {
        count: u64::try_from(last).unwrap_or_default(),
        head_hash: prev,
        checkpoints: anchors_len,
    }))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn record() -> Record {
        Record {
            seq: 1,
            occurred_at: NaiveDate::from_ymd_opt(2026, 1, 1)
                .unwrap()
                .and_hms_micro_opt(10, 0, 0, 123_456)
                .unwrap(),
            actor: "cli:root".into(),
            subject: None,
            action: "persons.import".into(),
            outcome: "success".into(),
            request_id: None,
            detail: Some("{\"rows\":3}".into()),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn every_field_is_covered() {
        let key = AuditKey::from_bytes(&[7; 32]).unwrap();
        let base = record_hash(&key, &record());
        let edits: [fn(&mut Record); 9] = [
            |r| r.seq = 2,
            |r| r.occurred_at += chrono::Duration::microseconds(1),
            |r| r.actor = "cli:rooT".into(),
            |r| r.subject = Some(String::new()),
            |r| r.action = "persons.imports".into(),
            |r| r.outcome = "failure".into(),
            |r| r.request_id = Some("x".into()),
            |r| r.detail = None,
            |r| r.prev_hash = "1".repeat(64),
        ];
        for edit in edits {
            let mut r = record();
            edit(&mut r);
            assert_ne!(record_hash(&key, &r), base);
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let key = AuditKey::from_bytes(&[7; 32]).unwrap();
        let mut a = record();
        a.actor = "ab".into();
        a.action = "c".into();
        let mut b = record();
        b.actor = "a".into();
        b.action = "bc".into();
        assert_ne!(record_hash(&key, &a), record_hash(&key, &b));
    }

    #[test]
    fn another_key_gives_another_hash() {
        let k1 = AuditKey::from_bytes(&[7; 32]).unwrap();
        let k2 = AuditKey::from_bytes(&[8; 32]).unwrap();
        assert_ne!(record_hash(&k1, &record()), record_hash(&k2, &record()));
    }
}
