//! Liveness, readiness, metrics and request ids.

use crate::helpers::{TestApp, blocking};
use actix_web::test::TestRequest;

#[actix_web::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
}

#[actix_web::test]
async fn readyz_names_each_check() {
    let app = TestApp::spawn().await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["status"], "ready");
    for check in ["database", "migrations", "signing_keys"] {
        assert_eq!(body["checks"][check]["status"], "ok", "{check}: {body}");
    }
    assert_eq!(
        body["checks"]["signing_keys"]["active_kid"],
        app.state.keys.signing_key(app.clock_now()).kid
    );
}

#[actix_web::test]
async fn readyz_fails_while_migrations_are_pending() {
    let app = TestApp::spawn().await;
    let mut conn = app.conn();
    blocking(move || procura::db::migrate::revert_all(&mut conn).unwrap()).await;
    let r = app.get("/readyz").await;
    let p = r.assert_problem(503, "not-ready");
    assert_eq!(p["checks"]["migrations"]["status"], "failed", "{p}");
    assert_eq!(p["checks"]["database"]["status"], "ok", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("migrations"), "{p}");
}

#[actix_web::test]
async fn readyz_fails_when_no_database_connection_can_be_had() {
    let app = TestApp::spawn_with(|c| {
        c.database.pool_max_size = 1;
        c.database.connect_timeout_secs = 1;
    })
    .await;
    let held = app.conn();
    let r = app.get("/readyz").await;
    drop(held);
    let p = r.assert_problem(503, "not-ready");
    assert_eq!(p["checks"]["database"]["status"], "failed", "{p}");
    // The reason is generic: driver messages (hosts, users) stay in the log.
    assert_eq!(
        p["checks"]["database"]["reason"],
        "no database connection could be had in time"
    );
}

#[actix_web::test]
async fn metrics_count_requests_per_route_and_status() {
    let app = TestApp::spawn().await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/route").await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = r.text();
    for line in [
        r#"procura_http_requests_total{method="GET",route="/healthz",status="200"} 2"#,
        r#"procura_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"procura_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 2"#,
        "procura_db_pool_max_size 4",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert!(text.contains("procura_db_pool_connections "), "{text}");
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let generated = app.get("/healthz").await;
    let id = generated.header("x-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    let echoed = app
        .call(
            TestRequest::get()
                .uri("/healthz")
                .insert_header(("x-request-id", "trace-42.a_b")),
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("trace-42.a_b"));

    let replaced = app
        .call(
            TestRequest::get()
                .uri("/healthz")
                .insert_header(("x-request-id", "a b;c")),
        )
        .await;
    assert_ne!(replaced.header("x-request-id"), Some("a b;c"));

    let error = app.get("/nowhere").await;
    assert!(error.header("x-request-id").is_some());
}
