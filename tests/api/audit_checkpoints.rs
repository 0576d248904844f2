//! Signed checkpoints of the audit head: the one defence against cutting the tail of the log
//! and rewinding its head — written by `serve` (at start, on its interval, at shutdown) and
//! checked by `procura audit verify --checkpoints DIR`.

use crate::audit::{event, seed, tamper, verify};
use crate::helpers::{AUDIT_KEY_HEX, TestApp, blocking};
use procura::audit::checkpoint::{self, Anchor, Writer};
use procura::audit::{self, Broken};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Writes a checkpoint of the current head as `serve` does; returns its file.
async fn checkpoint_now(app: &TestApp, dir: &Path) -> PathBuf {
    let writer = Writer::new(
        app.state.db.clone(),
        app.state.keys.clone(),
        app.state.clock.clone(),
        dir.to_path_buf(),
    );
    writer.write_now().await.unwrap().expect("a new checkpoint")
}

async fn anchors(app: &TestApp, dir: &Path) -> Vec<Anchor> {
    checkpoint::read_dir(dir, &app.state.keys).unwrap()
}

async fn verify_against(app: &TestApp, anchors: Vec<Anchor>) -> Result<audit::Verified, Broken> {
    let mut conn = app.conn();
    let key = app.state.audit_key.clone();
    blocking(move || audit::verify_against(&mut conn, &key, &anchors).unwrap()).await
}

/// `procura audit verify --checkpoints DIR`.
async fn verify_cli(app: &TestApp, dir: &Path) -> (bool, String) {
    let url = app.database_url().to_owned();
    let keys = app.config.keys.dir.clone();
    let dir = dir.to_path_buf();
    blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_procura"))
            .args(["audit", "verify", "--checkpoints"])
            .arg(&dir)
            .env("PROCURA_DATABASE__URL", url)
            .env("PROCURA_KEYS__DIR", keys)
            .env("PROCURA_AUDIT__HMAC_KEY", AUDIT_KEY_HEX)
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

/// Removes records from `from` on and rewinds the head to the record before: what an
/// attacker with database access does so that the chain alone still looks intact.
async fn cut_tail_and_rewind(app: &TestApp, from: i64) {
    let delete = format!("DELETE FROM audit_log WHERE seq >= {from}");
    let rewind = format!(
        "UPDATE audit_head SET last_seq = {last}, last_hash = \
         (SELECT hash FROM audit_log WHERE seq = {last})",
        last = from - 1
    );
    tamper(app, &[&delete, &rewind]).await;
}

#[actix_web::test]
async fn a_cut_tail_with_a_rewound_head_is_caught_by_a_checkpoint() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    seed(&app, 4).await;
    checkpoint_now(&app, dir.path()).await;
    let (ok, text) = verify_cli(&app, dir.path()).await;
    assert!(ok, "{text}");
    assert!(
        text.contains("audit log intact: 4 records")
            && text.contains("matches all 1 signed checkpoints (the latest: record #4"),
        "{text}"
    );

    cut_tail_and_rewind(&app, 3).await;
    // The chain alone cannot tell.
    assert_eq!(verify(&app).await.unwrap().count, 2);
    let file = "audit-checkpoint-00000000000000000004-".to_owned();
    match verify_against(&app, anchors(&app, dir.path()).await).await {
        Err(Broken::ShorterThanCheckpoint {
            file: f,
            seq: 4,
            last: 2,
        }) => assert!(f.starts_with(&file), "{f}"),
        other => panic!("{other:?}"),
    }
    let (ok, text) = verify_cli(&app, dir.path()).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("audit log BROKEN: the log ends at record #2 but checkpoint")
            && text.contains(&file)
            && text.contains("signed when it reached #4"),
        "{text}"
    );
}

#[actix_web::test]
async fn a_log_cut_and_written_anew_differs_from_its_checkpoint() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    seed(&app, 4).await;
    checkpoint_now(&app, dir.path()).await;
    cut_tail_and_rewind(&app, 3).await;
    // New records 3 and 4, chained with the key (an insider with it, or procura itself
    // appending after the cut): as long as before, but not the same records.
    app.with_db(|conn, key, now| {
        for i in 10..12 {
            audit::append_alone(conn, key, now, event(i)).unwrap();
        }
    })
    .await;
    assert_eq!(verify(&app).await.unwrap().count, 4);
    assert!(matches!(
        verify_against(&app, anchors(&app, dir.path()).await).await,
        Err(Broken::DiffersFromCheckpoint { seq: 4, .. })
    ));
    let (ok, text) = verify_cli(&app, dir.path()).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("record #4 is not the record checkpoint"),
        "{text}"
    );
}

#[actix_web::test]
async fn a_tampered_or_foreign_checkpoint_fails_the_command() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    seed(&app, 2).await;
    let path = checkpoint_now(&app, dir.path()).await;
    seed(&app, 1).await;
    checkpoint_now(&app, dir.path()).await;
    let (ok, text) = verify_cli(&app, dir.path()).await;
    assert!(
        ok && text.contains("matches all 2 signed checkpoints"),
        "{text}"
    );

    // The payload edited (another hash), the signature kept.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jws = std::fs::read_to_string(&path).unwrap();
    let parts: Vec<&str> = jws.trim().split('.').collect();
    let claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    let mut edited = claims.clone();
    edited["at"] = "2020-01-01T00:00:00.000000Z".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(edited.to_string()),
        parts[2]
    );
    std::fs::write(&path, forged).unwrap();
    let (ok, text) = verify_cli(&app, dir.path()).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("audit checkpoint BAD")
            && text.contains("audit-checkpoint-00000000000000000002-")
            && text.contains("its signature does not verify"),
        "{text}"
    );

    // Signed by a key that is not procura's.
    let stranger = tempfile::tempdir().unwrap();
    procura::oauth::keys::generate(stranger.path()).unwrap();
    let stranger = procura::oauth::keys::KeySet::load(stranger.path()).unwrap();
    std::fs::remove_file(&path).unwrap();
    let head = checkpoint::Checkpoint {
        seq: 2,
        hash: claims["hash"].as_str().unwrap().to_owned(),
        at: app.clock_now(),
    };
    checkpoint::write(dir.path(), &head, &stranger.signing_key(app.clock_now()))
        .unwrap()
        .unwrap();
    let (ok, text) = verify_cli(&app, dir.path()).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("which is not in the signing key directory"),
        "{text}"
    );
}

#[actix_web::test]
async fn the_writer_runs_on_its_interval_and_skips_an_unchanged_head() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let count = || {
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let writer = Arc::new(Writer::new(
        app.state.db.clone(),
        app.state.keys.clone(),
        app.state.clock.clone(),
        dir.path().to_path_buf(),
    ));
    // An empty log has no head worth signing.
    assert_eq!(writer.write_now().await.unwrap(), None);
    seed(&app, 1).await;
    let task = actix_web::rt::spawn(writer.clone().run_periodically(Duration::from_millis(100)));
    let wait_for = |n: usize| async move {
        for _ in 0..100 {
            if count() == n {
                return true;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(wait_for(1).await);
    seed(&app, 2).await;
    assert!(wait_for(2).await);
    // Ten more ticks with nothing appended: nothing more written.
    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(count(), 2);
    task.abort();
    let found = anchors(&app, dir.path()).await;
    let seqs: Vec<i64> = found.iter().map(|a| a.checkpoint.seq).collect();
    assert_eq!(seqs, [1, 3]);
    assert_eq!(verify_against(&app, found).await.unwrap().checkpoints, 2);
}

/// A real `procura serve`: a checkpoint when it starts, and one at shutdown (SIGTERM) of
/// what was appended since.
#[actix_web::test]
async fn serve_writes_a_checkpoint_at_start_and_at_shutdown() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    seed(&app, 2).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_procura"))
        .arg("serve")
        .env("PROCURA_DATABASE__URL", app.database_url())
        .env("PROCURA_KEYS__DIR", &app.config.keys.dir)
        .env("PROCURA_AUDIT__HMAC_KEY", AUDIT_KEY_HEX)
        .env("PROCURA_AUDIT__CHECKPOINT_DIR", dir.path())
        .env("PROCURA_AUDIT__CHECKPOINT_INTERVAL_SECS", "3600")
        .env("PROCURA_NOTIFY__FILES_DIR", &app.config.notify.files_dir)
        .env(
            "PROCURA_NOTIFY__PRINT_SPOOL_DIR",
            &app.config.notify.print_spool_dir,
        )
        .env("PROCURA_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("PROCURA_LOG__FILTER", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let names = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut started = false;
    for _ in 0..200 {
        if names().len() == 1 {
            started = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    seed(&app, 1).await;
    // The interval is an hour: nothing more until shutdown.
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let before_shutdown = names();
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = blocking(move || child.wait_with_output().unwrap()).await;
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started, "no checkpoint at start:\n{logs}");
    assert_eq!(before_shutdown.len(), 1, "{before_shutdown:?}");
    assert!(
        before_shutdown[0].starts_with("audit-checkpoint-00000000000000000002-"),
        "{before_shutdown:?}"
    );
    assert!(out.status.success(), "{logs}");
    let after = names();
    assert_eq!(after.len(), 2, "{after:?}\n{logs}");
    assert!(
        after[1].starts_with("audit-checkpoint-00000000000000000003-"),
        "{after:?}"
    );
    assert!(logs.contains("audit checkpoint written"), "{logs}");
    let (ok, text) = verify_cli(&app, dir.path()).await;
    assert!(
        ok && text.contains("matches all 2 signed checkpoints"),
        "{text}"
    );
}
