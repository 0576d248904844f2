//! The language policy of problem details (issue 19): Italian on citizen-facing and unknown
//! routes, English on operator, admin and service routes; a parser's English never inside
//! an Italian sentence.

use crate::helpers::TestApp;
use actix_web::test::TestRequest;

const CHECK: &str = "/v1/codice-fiscale/check";

/// Words of serde's and actix's English that must not reach an Italian `detail`.
const ENGLISH: [&str; 8] = [
    "missing field",
    "invalid type",
    "expected",
    "unknown field",
    "line ",
    "column",
    "No resource",
    "accepts only",
];

#[track_caller]
fn assert_italian(detail: &str) {
    for word in ENGLISH {
        assert!(
            !detail.contains(word),
            "English `{word}` in an Italian detail: {detail}"
        );
    }
}

#[actix_web::test]
async fn citizen_routes_answer_in_italian_only() {
    let app = TestApp::spawn().await;
    let p = app
        .post_json(CHECK, "{}")
        .await
        .assert_problem(422, "validation-failed");
    let d = p["detail"].as_str().unwrap();
    assert_eq!(
        d,
        "I dati inviati non hanno i campi attesi: manca il campo `codice_fiscale` (riga 1, colonna 2)."
    );
    assert_italian(d);

    let p = app
        .post_json(CHECK, r#"{"codice_fiscale": 5}"#)
        .await
        .assert_problem(422, "validation-failed");
    let d = p["detail"].as_str().unwrap();
    assert!(
        d.contains("un valore è di tipo diverso da quello atteso"),
        "{d}"
    );
    assert_italian(d);

    let p = app
        .post_json(CHECK, r#"{"codice_fiscale": "RSSMRA85T10A562S", "x": 1}"#)
        .await
        .assert_problem(422, "validation-failed");
    assert_italian(p["detail"].as_str().unwrap());

    let p = app
        .post_json(CHECK, "{\"codice")
        .await
        .assert_problem(400, "malformed-json");
    let d = p["detail"].as_str().unwrap();
    assert!(
        d.starts_with("I dati inviati non sono JSON valido (riga 1"),
        "{d}"
    );
    assert_italian(d);

    let p = app.get("/nope").await.assert_problem(404, "not-found");
    let d = p["detail"].as_str().unwrap();
    assert_eq!(d, "Non c'è nessuna risorsa all'indirizzo /nope.");

    let p = app
        .get(CHECK)
        .await
        .assert_problem(405, "method-not-allowed");
    let d = p["detail"].as_str().unwrap();
    assert_eq!(d, "Questo indirizzo accetta solo le richieste POST.");
}

#[actix_web::test]
async fn operator_and_service_routes_answer_in_english() {
    let app = TestApp::spawn().await;
    let p = app
        .get("/v1/operator/nope")
        .await
        .assert_problem(404, "not-found");
    assert_eq!(p["detail"], "No resource at /v1/operator/nope.");

    // An unknown client at the access check: one sentence, not the reason twice.
    let r = app
        .call(
            TestRequest::post()
                .uri("/v1/access/check")
                .insert_header(("authorization", "Basic bm9ib2R5OnNlY3JldA=="))
                .insert_header(("content-type", "application/json"))
                .set_payload(r#"{"actor":"RSSMRA85T10A562S","subject":"RSSMRA85T10A562S","scope":"inps:read"}"#),
        )
        .await;
    let p = r.assert_problem(401, "unauthorized");
    assert_eq!(p["detail"], "Client authentication failed.");
}
