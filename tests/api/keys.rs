//! Signing keys: `procura keys generate` and `procura keys rotate` run as an operator would,
//! and a running server picking up a rotation made by another process.

use crate::helpers::{TestApp, blocking, procura, text};
use chrono::{DateTime, Duration, Utc};
use procura::clock::Clock;
use procura::oauth::keys::KeySet;
use std::path::Path;

/// `(kid, activates_at)` of each key in `keyring.json`, as written.
fn schedule(dir: &Path) -> Vec<(String, DateTime<Utc>)> {
    let text = std::fs::read_to_string(dir.join("keyring.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let at = DateTime::parse_from_rfc3339(k["activates_at"].as_str().unwrap()).unwrap();
            (
                k["kid"].as_str().unwrap().to_owned(),
                at.with_timezone(&Utc),
            )
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn generate_then_rotate_schedules_the_new_key_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let keys_env = keys.to_str().unwrap();
    assert!(text(&procura(&["keys", "--help"], &[])).contains("rotate"));

    let out = procura(&["keys", "generate"], &[("PROCURA_KEYS__DIR", keys_env)]);
    assert!(out.status.success(), "{}", text(&out));
    let first = schedule(&keys);
    assert_eq!(first.len(), 1);
    let (old, old_at) = first[0].clone();
    assert_eq!(old_at, DateTime::UNIX_EPOCH, "the first key signs at once");
    assert!(text(&out).contains(&old), "{}", text(&out));

    // A second `generate` would put a key beside the first without a schedule: refused.
    let again = procura(&["keys", "generate"], &[("PROCURA_KEYS__DIR", keys_env)]);
    assert!(!again.status.success());
    assert!(text(&again).contains("keys rotate"), "{}", text(&again));
    assert_eq!(schedule(&keys).len(), 1);

    let before = Utc::now();
    let out = procura(
        &["keys", "rotate"],
        &[
            ("PROCURA_KEYS__DIR", keys_env),
            ("PROCURA_KEYS__ROTATION_DELAY_SECS", "7200"),
        ],
    );
    let after = Utc::now();
    assert!(out.status.success(), "{}", text(&out));
    let both = schedule(&keys);
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(both[0], (old.clone(), old_at));
    let (new, new_at) = both[1].clone();
    assert!(text(&out).contains(&new), "{}", text(&out));
    let delay = Duration::hours(2);
    assert!(
        new_at > before + delay - Duration::seconds(1) && new_at <= after + delay,
        "{new_at}"
    );
    assert_eq!(mode(&keys.join(format!("{new}.es256.pem"))), 0o600);

    // What a server loading this directory does with it.
    let ttl = Duration::minutes(10);
    let set = KeySet::load(&keys).unwrap();
    let published =
        |now| -> Vec<String> { set.jwks(now, ttl).keys.into_iter().map(|k| k.kid).collect() };
    let waiting = new_at - Duration::seconds(1);
    assert_eq!(set.signing_key(waiting).kid, old);
    assert_eq!(published(waiting), [old.as_str(), new.as_str()]);
    assert_eq!(set.signing_key(new_at).kid, new);
    assert_eq!(published(new_at + ttl - Duration::seconds(1)).len(), 2);
    assert_eq!(published(new_at + ttl), [new.as_str()]);
}

#[test]
fn rotate_without_a_key_says_to_generate_one() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = procura(
        &["keys", "rotate"],
        &[("PROCURA_KEYS__DIR", keys.to_str().unwrap())],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("run `procura keys generate`"),
        "{}",
        text(&out)
    );
    assert!(!keys.join("keyring.json").exists());
}

#[actix_web::test]
async fn a_running_server_sees_a_rotation_made_by_another_process() {
    let app = TestApp::spawn().await;
    let keys = app.config.keys.dir.clone();
    let now = app.clock.now();
    let old = app.state.keys.signing_key(now).kid.clone();

    let keys_env = keys.display().to_string();
    let out = blocking(move || {
        procura(
            &["keys", "rotate"],
            &[
                ("PROCURA_KEYS__DIR", &keys_env),
                ("PROCURA_KEYS__ROTATION_DELAY_SECS", "86400"),
            ],
        )
    })
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let (new, new_at) = schedule(&keys)[1].clone();

    // Not seen until the server reloads its keys.
    app.clock.set(new_at - Duration::seconds(1));
    let r = app.get("/readyz").await;
    assert_eq!(
        r.json()["checks"]["signing_keys"]["published"],
        1,
        "{}",
        r.text()
    );
    app.state.keys.reload().unwrap();

    // Published at once, signing from the scheduled instant.
    let r = app.get("/readyz").await;
    let check = &r.json()["checks"]["signing_keys"];
    assert_eq!(check["active_kid"], old.as_str(), "{check}");
    assert_eq!(check["published"], 2, "{check}");

    app.clock.set(new_at);
    let r = app.get("/readyz").await;
    let check = &r.json()["checks"]["signing_keys"];
    assert_eq!(check["active_kid"], new.as_str(), "{check}");
    assert_eq!(check["published"], 2, "{check}");

    // The old key leaves once every token it signed has expired.
    let ttl = i64::try_from(app.config.oauth.longest_jwt_ttl_secs()).unwrap();
    app.clock.set(new_at + Duration::seconds(ttl));
    let r = app.get("/readyz").await;
    let check = &r.json()["checks"]["signing_keys"];
    assert_eq!(check["active_kid"], new.as_str(), "{check}");
    assert_eq!(check["published"], 1, "{check}");
}
