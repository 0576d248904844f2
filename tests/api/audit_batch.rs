//! Group commit of the access check's audit records: many concurrent checks on two instances
//! of one database are each answered with their record written (found by request id), the
//! chain verifies, and when a batch cannot be committed no check is answered (503).

use crate::acting_support::*;
use crate::audit::all_records;
use crate::concurrency::serve_another;
use crate::oidc_support::*;
use crate::persons_import::cf;
use procura::db::DbConn;
use procura::person::CodiceFiscale;
use std::collections::HashMap;

fn code(first15: &str) -> CodiceFiscale {
    CodiceFiscale::parse(&cf(first15)).unwrap()
}

/// `POST /v1/access/check` at `base` with the request id `id`; (status, body).
async fn check_at(
    http: &reqwest::Client,
    base: &str,
    client: &crate::auth_support::TokenClient,
    id: &str,
    actor: &str,
    subject: &str,
) -> (u16, serde_json::Value) {
    let resp = http
        .post(format!("{base}/v1/access/check"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("x-request-id", id)
        .json(&serde_json::json!({ "actor": actor, "subject": subject, "scope": "inps:read" }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[actix_web::test]
async fn concurrent_access_checks_on_two_instances_are_each_answered_with_their_record() {
    let live = LiveApp::spawn_with(|c| c.database.pool_max_size = 8).await;
    let other = serve_another(&live.app).await;
    let delegator = code("VRDGLI40A41H501");
    let delegate = code("RSSMRA85T10H501");
    let stranger = code("BNCLCU70C15F205");
    insert_delegation(&live.app, &delegator, &delegate, "fiducia", None).await;
    let service = service_client(&live.app, "pensioni", "inps:read access:check").await;
    let http = reqwest::Client::new();
    let mut expected = HashMap::new();
    for round in 0..4 {
        let calls = (0..50).map(|i| {
            let (base, actor) = match i % 4 {
                0 => (&live.base, &delegate),
                1 => (&other, &delegate),
                2 => (&live.base, &stranger),
                _ => (&other, &stranger),
            };
            let id = format!("check-{round}-{i}");
            let allowed = actor == &delegate;
            expected.insert(id.clone(), allowed);
            let (http, service, delegator) = (&http, &service, &delegator);
            async move {
                let answer =
                    check_at(http, base, service, &id, actor.as_str(), delegator.as_str()).await;
                (id, answer)
            }
        });
        for (id, (status, body)) in futures_util::future::join_all(calls).await {
            assert_eq!(status, 200, "{id}: {body}");
            assert_eq!(body["allowed"], expected[&id], "{id}");
        }
    }
    let records = live.app.with_db(|c, _, _| all_records(c)).await;
    let checks: HashMap<String, &procura::audit::Record> = records
        .iter()
        .filter(|r| r.action == "access.check")
        .map(|r| (r.request_id.clone().unwrap(), r))
        .collect();
    assert_eq!(checks.len(), expected.len());
    for (id, allowed) in &expected {
        let record = checks
            .get(id)
            .unwrap_or_else(|| panic!("no record of {id}"));
        assert_eq!(record.actor, "client:pensioni");
        let outcome = if *allowed { "success" } else { "denied" };
        assert_eq!(record.outcome, outcome, "{id}");
        let detail: serde_json::Value =
            serde_json::from_str(record.detail.as_deref().unwrap()).unwrap();
        assert_eq!(detail["allowed"], *allowed, "{id}");
    }
    let verified = live
        .app
        .with_db(|c, key, _| procura::audit::verify(c, key).unwrap())
        .await
        .expect("the chain verifies");
    assert_eq!(verified.count, u64::try_from(records.len()).unwrap());
}

/// Moves the audit table away (as a broken database would) or back.
async fn hide_audit_log(live: &LiveApp, hide: bool) {
    let (from, to) = if hide {
        ("audit_log", "audit_log_away")
    } else {
        ("audit_log_away", "audit_log")
    };
    live.app
        .with_db(move |c, _, _| {
            use diesel::connection::SimpleConnection;
            let sql = format!("ALTER TABLE {from} RENAME TO {to}");
            match c {
                DbConn::Postgres(c) => c.batch_execute(&sql).unwrap(),
                DbConn::Sqlite(c) => c.batch_execute(&sql).unwrap(),
            }
        })
        .await;
}

#[actix_web::test]
async fn no_answer_when_the_batch_holding_its_record_fails() {
    let live = LiveApp::spawn_with(|c| c.database.pool_max_size = 8).await;
    let delegator = code("VRDGLI40A41H501");
    let delegate = code("RSSMRA85T10H501");
    insert_delegation(&live.app, &delegator, &delegate, "fiducia", None).await;
    let service = service_client(&live.app, "pensioni", "inps:read access:check").await;
    let http = reqwest::Client::new();
    hide_audit_log(&live, true).await;
    let calls = (0..20).map(|i| {
        let (http, service, base) = (&http, &service, &live.base);
        let (actor, subject) = (delegate.as_str(), delegator.as_str());
        async move { check_at(http, base, service, &format!("failing-{i}"), actor, subject).await }
    });
    for (status, body) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 503, "{body}");
        assert_eq!(
            body["type"],
            "https://procura.inps.it/problems/service-unavailable"
        );
        assert!(body.get("allowed").is_none(), "{body}");
    }
    hide_audit_log(&live, false).await;
    let (status, body) = check_at(
        &http,
        &live.base,
        &service,
        "after",
        delegate.as_str(),
        delegator.as_str(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed"], true);
    let records = live.app.with_db(|c, _, _| all_records(c)).await;
    let checks: Vec<_> = records
        .iter()
        .filter(|r| r.action == "access.check")
        .collect();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].request_id.as_deref(), Some("after"));
    live.app
        .with_db(|c, key, _| procura::audit::verify(c, key).unwrap())
        .await
        .expect("the chain verifies");
}

/// A real `procura serve` on this test's database, killed with SIGKILL while 16 callers keep
/// asking access checks: every check it answered has its record, and the chain verifies.
#[actix_web::test]
async fn kill_9_under_load_loses_no_record_of_an_answered_check() {
    let live = LiveApp::spawn().await;
    let app = &live.app;
    let service = service_client(app, "pensioni", "inps:read access:check").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_procura"))
        .arg("serve")
        .env("PROCURA_DATABASE__URL", app.database_url())
        .env(
            "PROCURA_KEYS__DIR",
            app.config.keys.dir.display().to_string(),
        )
        .env("PROCURA_AUDIT__HMAC_KEY", crate::helpers::AUDIT_KEY_HEX)
        .env("PROCURA_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("PROCURA_LOG__FILTER", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            ready = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "procura serve did not start");
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let callers: Vec<_> = (0..16)
        .map(|caller| {
            let (http, base, service) = (http.clone(), base.clone(), service.clone());
            let answered = answered.clone();
            actix_web::rt::spawn(async move {
                for n in 0.. {
                    let id = format!("crash-{caller}-{n}");
                    let sent = http
                        .post(format!("{base}/v1/access/check"))
                        .basic_auth(&service.id, Some(&service.secret))
                        .header("x-request-id", &id)
                        .json(&serde_json::json!({
                            "actor": "RSSMRA85T10A562S",
                            "subject": "BNCLCU70C15F205J",
                            "scope": "inps:read",
                        }))
                        .send()
                        .await;
                    let Ok(resp) = sent else { break };
                    let status = resp.status().as_u16();
                    let Ok(body) = resp.json::<serde_json::Value>().await else {
                        break;
                    };
                    if status == 200 && body["allowed"] == false {
                        answered.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect();
    // Kill once the load is well under way.
    for _ in 0..200 {
        if answered.lock().unwrap().len() >= 300 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for caller in callers {
        caller.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= 100, "only {} answers", answered.len());
    let records = app.with_db(|c, _, _| all_records(c)).await;
    let recorded: std::collections::HashSet<String> = records
        .iter()
        .filter(|r| r.action == "access.check")
        .filter_map(|r| r.request_id.clone())
        .collect();
    for id in &answered {
        assert!(recorded.contains(id), "{id} was answered but has no record");
    }
    app.with_db(|c, key, _| procura::audit::verify(c, key).unwrap())
        .await
        .expect("the chain verifies");
}

/// The pool does not test connections before handing them out: on PostgreSQL, connections
/// killed under it fail at most one request each (503, retry) and are then replaced.
#[actix_web::test]
async fn dead_database_connections_are_replaced() {
    let live = LiveApp::spawn_with(|c| c.database.pool_max_size = 4).await;
    if !live.app.database_url().starts_with("postgres") {
        return; // SQLite connections are files: nothing to kill
    }
    let delegator = code("VRDGLI40A41H501");
    let delegate = code("RSSMRA85T10H501");
    let service = service_client(&live.app, "pensioni", "inps:read access:check").await;
    let http = reqwest::Client::new();
    let ask = |n: usize| {
        let (http, base, service) = (&http, &live.base, &service);
        let (actor, subject) = (delegate.as_str(), delegator.as_str());
        async move { check_at(http, base, service, &format!("dead-{n}"), actor, subject).await }
    };
    for n in 0..8 {
        assert_eq!(ask(n).await.0, 200);
    }
    live.app
        .with_db(|c, _, _| {
            use diesel::connection::SimpleConnection;
            if let DbConn::Postgres(c) = c {
                c.batch_execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .unwrap();
            }
        })
        .await;
    let mut failed = 0;
    for n in 8..20 {
        let (status, body) = ask(n).await;
        match status {
            200 => {}
            503 => failed += 1,
            other => panic!("{other}: {body}"),
        }
    }
    assert!(failed <= 5, "{failed} requests failed");
    for n in 20..30 {
        assert_eq!(ask(n).await.0, 200, "dead connections are still handed out");
    }
}
