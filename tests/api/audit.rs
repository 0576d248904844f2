//! The audit log: written in the action's transaction, chained, and every kind of tampering
//! (edit, delete, reorder, truncate) detected — by the library and by `procura audit verify`.

use crate::helpers::{TestApp, blocking};
use diesel::prelude::*;
use procura::audit::{self, Broken, Event, Outcome, Party, Record};
use procura::db::schema::audit_log;
use procura::db::{DbConn, DbError};

pub fn all_records(conn: &mut DbConn) -> Vec<Record> {
    audit_log::table
        .order(audit_log::seq.asc())
        .select(Record::as_select())
        .load(conn)
        .unwrap()
}

pub fn event(n: usize) -> Event {
    Event::new(
        Party::operator(&format!("op{n}")),
        "test.action",
        Outcome::Success,
    )
    .on_behalf_of(Party::system())
    .request_id(format!("req-{n}"))
    .detail(serde_json::json!({ "n": n }))
}

/// Appends `n` records, one transaction each.
pub async fn seed(app: &TestApp, n: usize) {
    app.with_db(move |conn, key, now| {
        for i in 1..=n {
            audit::append_alone(conn, key, now, event(i)).unwrap();
        }
    })
    .await;
}

pub async fn verify(app: &TestApp) -> Result<audit::Verified, Broken> {
    let mut conn = app.conn();
    let key = app.state.audit_key.clone();
    blocking(move || audit::verify(&mut conn, &key).unwrap()).await
}

/// Runs SQL that the append-only triggers would refuse: tampering, as an attacker with
/// database access would do it.
pub async fn tamper(app: &TestApp, statements: &[&str]) {
    let statements: Vec<String> = statements.iter().map(|s| (*s).to_owned()).collect();
    let mut conn = app.conn();
    blocking(move || {
        let disable = match &*conn {
            DbConn::Sqlite(_) => {
                "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; \
                 DROP TRIGGER audit_log_seq_positive;"
            }
            DbConn::Postgres(_) => {
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change; \
                 ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_truncate; \
                 ALTER TABLE audit_log DROP CONSTRAINT audit_log_seq_positive;"
            }
        };
        diesel::connection::SimpleConnection::batch_execute(&mut *conn, disable).unwrap();
        for sql in statements {
            diesel::sql_query(sql).execute(&mut *conn).unwrap();
        }
    })
    .await;
}

#[actix_web::test]
async fn an_untouched_log_verifies() {
    let app = TestApp::spawn().await;
    assert_eq!(verify(&app).await.unwrap().count, 0);
    seed(&app, 5).await;
    let v = verify(&app).await.unwrap();
    assert_eq!(v.count, 5);
    assert_eq!(v.head_hash.len(), 64);
}

#[actix_web::test]
async fn records_carry_who_on_whose_behalf_what_when_outcome_and_request_id() {
    let app = TestApp::spawn().await;
    seed(&app, 1).await;
    let mut conn = app.conn();
    let r = blocking(move || all_records(&mut conn)).await.remove(0);
    assert_eq!(r.seq, 1);
    assert_eq!(r.actor, "operator:op1");
    assert_eq!(r.subject.as_deref(), Some("system:procura"));
    assert_eq!(r.action, "test.action");
    assert_eq!(r.outcome, "success");
    assert_eq!(r.request_id.as_deref(), Some("req-1"));
    assert_eq!(r.occurred_at, app.clock_now().naive_utc());
}

#[actix_web::test]
async fn a_record_exists_only_if_its_transaction_commits() {
    let app = TestApp::spawn().await;
    app.with_db(move |conn, key, now| {
        let rolled_back: Result<(), DbError> = conn.write_transaction(|c| {
            audit::append(c, key, now, event(1))?;
            Err(DbError::Migration("the action failed".into()))
        });
        assert!(rolled_back.is_err());
        conn.write_transaction(|c| audit::append(c, key, now, event(2)))
            .unwrap();
    })
    .await;
    let mut conn = app.conn();
    let records = blocking(move || all_records(&mut conn)).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].seq, records[0].actor.as_str()),
        (1, "operator:op2")
    );
    assert_eq!(verify(&app).await.unwrap().count, 1);
}

#[actix_web::test]
async fn the_database_refuses_updates_and_deletes() {
    let app = TestApp::spawn().await;
    seed(&app, 1).await;
    let mut conn = app.conn();
    blocking(move || {
        let update =
            diesel::sql_query("UPDATE audit_log SET outcome = 'denied'").execute(&mut conn);
        assert!(update.unwrap_err().to_string().contains("append-only"));
        let delete = diesel::sql_query("DELETE FROM audit_log").execute(&mut conn);
        assert!(delete.unwrap_err().to_string().contains("append-only"));
    })
    .await;
}

#[actix_web::test]
async fn an_edited_field_is_detected() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    tamper(
        &app,
        &["UPDATE audit_log SET outcome = 'denied' WHERE seq = 3"],
    )
    .await;
    assert_eq!(verify(&app).await, Err(Broken::Altered { seq: 3 }));
}

#[actix_web::test]
async fn a_deleted_record_is_detected() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    tamper(&app, &["DELETE FROM audit_log WHERE seq = 2"]).await;
    assert_eq!(
        verify(&app).await,
        Err(Broken::Missing {
            expected: 2,
            found: 3
        })
    );
}

#[actix_web::test]
async fn swapped_records_are_detected() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    tamper(
        &app,
        &[
            "UPDATE audit_log SET seq = -2 WHERE seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = -2",
        ],
    )
    .await;
    assert_eq!(verify(&app).await, Err(Broken::Unlinked { seq: 2 }));
}

#[actix_web::test]
async fn a_truncated_tail_is_detected() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    tamper(&app, &["DELETE FROM audit_log WHERE seq = 4"]).await;
    assert_eq!(
        verify(&app).await,
        Err(Broken::HeadMismatch { last: 3, head: 4 })
    );
}

#[actix_web::test]
async fn a_chain_forged_without_the_key_is_detected() {
    let app = TestApp::spawn().await;
    seed(&app, 2).await;
    // Re-hashing with plain SHA-256 (no key) is what a forger without the key can do.
    tamper(&app, &["UPDATE audit_log SET hash = '0000000000000000000000000000000000000000000000000000000000000001' WHERE seq = 2"]).await;
    assert_eq!(verify(&app).await, Err(Broken::Altered { seq: 2 }));
}

#[actix_web::test]
async fn concurrent_appends_keep_one_linear_chain() {
    let app = TestApp::spawn_with(|c| c.database.pool_max_size = 8).await;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let pool = app.state.db.clone();
            let key = app.state.audit_key.clone();
            let now = app.clock_now();
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                for i in 0..25 {
                    audit::append_alone(&mut conn, &key, now, event(t * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(verify(&app).await.unwrap().count, 200);
}

/// `procura audit verify`, the command an operator runs, against the same database.
pub async fn verify_cli(app: &TestApp) -> (bool, String) {
    let url = app.database_url().to_owned();
    let keys = app.config.keys.dir.clone();
    blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_procura"))
            .args(["audit", "verify"])
            .env("PROCURA_DATABASE__URL", url)
            .env("PROCURA_KEYS__DIR", keys)
            .env("PROCURA_AUDIT__HMAC_KEY", crate::helpers::AUDIT_KEY_HEX)
            .env("PROCURA_LOG__FILTER", "error")
            .output()
            .unwrap();
        let text = format!(
            "{}{}[{}]",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status
        );
        (out.status.success(), text)
    })
    .await
}

#[actix_web::test]
async fn the_verify_command_prints_the_count_or_names_the_broken_record() {
    let app = TestApp::spawn().await;
    seed(&app, 3).await;
    let (ok, text) = verify_cli(&app).await;
    assert!(ok, "{text}");
    assert!(text.contains("audit log intact: 3 records"), "{text}");

    tamper(
        &app,
        &["UPDATE audit_log SET actor = 'operator:someone-else' WHERE seq = 2"],
    )
    .await;
    let (ok, text) = verify_cli(&app).await;
    assert!(!ok, "{text}");
    assert!(text.contains("record #2 has been altered"), "{text}");
}

#[actix_web::test]
async fn a_record_numbered_below_one_is_refused_and_if_forged_reported() {
    let app = TestApp::spawn().await;
    seed(&app, 3).await;
    const FORGED: &str = "INSERT INTO audit_log (seq, occurred_at, actor, action, outcome, \
        prev_hash, hash) VALUES ({seq}, '2026-11-22 10:00:00', 'cli:root', 'x', 'success', 'p', 'h')";
    let mut conn = app.conn();
    blocking(move || {
        for seq in ["0", "-1"] {
            let refused = diesel::sql_query(FORGED.replace("{seq}", seq)).execute(&mut conn);
            assert!(refused.is_err(), "seq {seq} accepted");
        }
    })
    .await;
    assert_eq!(verify(&app).await.unwrap().count, 3);
    // With the rule dropped by someone with database access, verify still sees the row.
    tamper(&app, &[]).await;
    let mut conn = app.conn();
    blocking(move || {
        diesel::sql_query(FORGED.replace("{seq}", "-5"))
            .execute(&mut conn)
            .unwrap();
    })
    .await;
    assert_eq!(verify(&app).await, Err(Broken::Forged { seq: -5, head: 3 }));
}

#[actix_web::test]
async fn records_past_a_rewound_head_are_reported_as_forged() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    tamper(&app, &["UPDATE audit_head SET last_seq = 3"]).await;
    assert_eq!(verify(&app).await, Err(Broken::Forged { seq: 4, head: 3 }));
}

#[actix_web::test]
async fn postgres_refuses_truncate() {
    let app = TestApp::spawn().await;
    seed(&app, 2).await;
    let mut conn = app.conn();
    let postgres = matches!(&*conn, DbConn::Postgres(_));
    if !postgres {
        return; // SQLite has no TRUNCATE; DELETE is refused (see above).
    }
    blocking(move || {
        for table in ["audit_log", "audit_head"] {
            let e = diesel::sql_query(format!("TRUNCATE {table}"))
                .execute(&mut conn)
                .unwrap_err();
            assert!(e.to_string().contains("TRUNCATE refused"), "{e}");
        }
    })
    .await;
    assert_eq!(verify(&app).await.unwrap().count, 2);
}

#[actix_web::test]
async fn records_past_the_head_are_forged_whatever_their_number_or_hash() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    const FORGED: &str = "INSERT INTO audit_log (seq, occurred_at, actor, action, outcome, \
        prev_hash, hash) VALUES ({seq}, '2026-11-22 10:00:00', 'cli:root', 'x', 'success', 'p', 'h')";
    // The next number (a bad hash, which verify used to call "altered") and one far out
    // (which it used to call a missing record).
    for (seq, first) in [("5", 5), ("10", 5)] {
        let mut conn = app.conn();
        blocking(move || {
            diesel::sql_query(FORGED.replace("{seq}", seq))
                .execute(&mut conn)
                .unwrap();
        })
        .await;
        assert_eq!(
            verify(&app).await,
            Err(Broken::Forged {
                seq: first,
                head: 4
            })
        );
    }
    let (ok, text) = verify_cli(&app).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("record #5 lies outside 1..4") && text.contains("forged"),
        "{text}"
    );
}
