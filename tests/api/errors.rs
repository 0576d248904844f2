//! Every error of the REST API is RFC 9457 problem+json with a stable type.

use crate::helpers::TestApp;
use actix_web::test::TestRequest;

const CHECK: &str = "/v1/codice-fiscale/check";

#[actix_web::test]
async fn broken_json_is_a_400_problem() {
    let app = TestApp::spawn().await;
    for body in [
        "{\"codice_fiscale\": ",
        "not json",
        "{\"codice_fiscale\": \"x\",}",
        "",
    ] {
        let r = app.post_json(CHECK, body).await;
        let p = r.assert_problem(400, "malformed-json");
        assert!(p["detail"].as_str().unwrap().contains("JSON"), "{p}");
    }
}

#[actix_web::test]
async fn json_of_the_wrong_shape_is_a_422_problem() {
    let app = TestApp::spawn().await;
    for body in [
        "{}",
        "{\"codice_fiscale\": 42}",
        "[]",
        "{\"codice_fiscale\": \"x\", \"extra\": 1}",
    ] {
        app.post_json(CHECK, body)
            .await
            .assert_problem(422, "validation-failed");
    }
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_a_415_problem() {
    let app = TestApp::spawn().await;
    let r = app
        .call(
            TestRequest::post()
                .uri(CHECK)
                .insert_header(("content-type", "text/plain"))
                .set_payload("RSSMRA85T10A562S"),
        )
        .await;
    r.assert_problem(415, "unsupported-media-type");
}

#[actix_web::test]
async fn oversized_bodies_are_a_413_problem_at_the_configured_limit() {
    let app = TestApp::spawn_with(|c| c.server.body_limit_bytes = 64).await;
    let small = format!("{{\"codice_fiscale\": \"{}\"}}", "RSSMRA85T10A562S");
    assert_eq!(app.post_json(CHECK, &small).await.status, 200);
    let big = format!("{{\"codice_fiscale\": \"{}\"}}", "X".repeat(100));
    let p = app
        .post_json(CHECK, &big)
        .await
        .assert_problem(413, "payload-too-large");
    assert!(p["detail"].as_str().unwrap().contains("64"), "{p}");
}

#[actix_web::test]
async fn unknown_routes_are_a_404_problem() {
    let app = TestApp::spawn().await;
    app.get("/v1/nothing/here")
        .await
        .assert_problem(404, "not-found");
    app.post_json("/v2/codice-fiscale/check", "{}")
        .await
        .assert_problem(404, "not-found");
}

#[actix_web::test]
async fn wrong_methods_are_a_405_problem_with_allow() {
    let app = TestApp::spawn().await;
    let r = app.call(TestRequest::delete().uri("/healthz")).await;
    r.assert_problem(405, "method-not-allowed");
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = app.get(CHECK).await;
    r.assert_problem(405, "method-not-allowed");
    assert_eq!(r.header("allow"), Some("POST"));
}

#[actix_web::test]
async fn get_resources_answer_head() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = app
            .call(
                TestRequest::default()
                    .method(actix_web::http::Method::HEAD)
                    .uri(path),
            )
            .await;
        assert_eq!(r.status, 200, "HEAD {path}");
    }
    let r = app
        .call(
            TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri(CHECK),
        )
        .await;
    r.assert_problem(405, "method-not-allowed");
}

#[actix_web::test]
async fn body_errors_on_citizen_routes_are_in_italian() {
    let app = TestApp::spawn_with(|c| c.server.body_limit_bytes = 64).await;
    let p = app
        .post_json(CHECK, "{")
        .await
        .assert_problem(400, "malformed-json");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("I dati inviati non sono JSON valido"),
        "{p}"
    );
    let p = app
        .post_json(CHECK, "{}")
        .await
        .assert_problem(422, "validation-failed");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("I dati inviati non hanno i campi attesi"),
        "{p}"
    );
    let big = format!("{{\"codice_fiscale\": \"{}\"}}", "X".repeat(100));
    let p = app
        .post_json(CHECK, &big)
        .await
        .assert_problem(413, "payload-too-large");
    assert_eq!(
        p["detail"],
        "La richiesta supera la dimensione massima di 64 byte."
    );
}

#[actix_web::test]
async fn json_nested_past_the_depth_limit_is_a_422_problem_wherever_the_nesting_is() {
    use procura::http::json_depth::MAX_DEPTH;
    let app = TestApp::spawn().await;
    let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    let deep = nested(100_000);
    // In a member's value, in a member no field takes, and as the whole body.
    for body in [
        format!("{{\"codice_fiscale\": {deep}}}"),
        format!("{{\"codice_fiscale\": \"RSSMRA85T10A562S\", \"extra\": {deep}}}"),
        deep.clone(),
        format!("{{\"a\": \"[[[[\", \"b\": {deep}}}"),
    ] {
        let p = app
            .post_json(CHECK, &body)
            .await
            .assert_problem(422, "validation-failed");
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("annidati oltre {MAX_DEPTH} livelli")),
            "{p}"
        );
    }
    // At the limit (the object is level 1), the body is parsed and judged on its fields.
    let within = format!("{{\"codice_fiscale\": {}}}", nested(MAX_DEPTH - 1));
    let p = app
        .post_json(CHECK, &within)
        .await
        .assert_problem(422, "validation-failed");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("I dati inviati non hanno i campi attesi"),
        "{p}"
    );
    let past = format!("{{\"codice_fiscale\": {}}}", nested(MAX_DEPTH));
    let p = app
        .post_json(CHECK, &past)
        .await
        .assert_problem(422, "validation-failed");
    assert!(p["detail"].as_str().unwrap().contains("annidati"), "{p}");
    // Brackets inside strings are text.
    let text = format!(
        "{{\"codice_fiscale\": \"RSSMRA85T10A562S\", \"x\": \"{}\"}}",
        "[".repeat(1000)
    );
    let p = app
        .post_json(CHECK, &text)
        .await
        .assert_problem(422, "validation-failed");
    assert!(p["detail"].as_str().unwrap().contains("`x`"), "{p}");
}
