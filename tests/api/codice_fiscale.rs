//! `POST /v1/codice-fiscale/check`: what a typed code encodes, or why it is wrong (in Italian).

use crate::helpers::TestApp;

const CHECK: &str = "/v1/codice-fiscale/check";

async fn check(app: &TestApp, code: &str) -> crate::helpers::TestResponse {
    app.post_json(
        CHECK,
        &serde_json::json!({ "codice_fiscale": code }).to_string(),
    )
    .await
}

#[actix_web::test]
async fn a_valid_code_is_decoded() {
    let app = TestApp::spawn().await;
    let r = check(&app, " rssmra85t10a562s ").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["codice_fiscale"], "RSSMRA85T10A562S");
    assert_eq!(body["sex"], "M");
    assert_eq!(body["birth_date"], "1985-12-10");
    assert_eq!(body["birth_place_code"], "A562");
    assert_eq!(body["born_abroad"], false);
    assert_eq!(body["omocodic"], false);
}

#[actix_web::test]
async fn the_century_follows_the_clock() {
    let app = TestApp::spawn().await; // clock: 2026-11-22
    // Born 2024 (yy=24 is not in the future), a woman (day 41 = 1st), in Italy.
    let code = format!(
        "BNCLRA24A41H501{}",
        procura::person::codice_fiscale::check_character("BNCLRA24A41H501").unwrap()
    );
    let body = check(&app, &code).await.json();
    assert_eq!(body["birth_date"], "2024-01-01", "{body}");
    assert_eq!(body["sex"], "F");
}

#[actix_web::test]
async fn a_wrong_code_gets_the_precise_reason_in_italian() {
    let app = TestApp::spawn().await;
    let cases = [
        ("RSSMRA85T10A562T", "wrong_check_character", "controllo"),
        ("RSSMRA85T10A562", "wrong_length", "16 caratteri"),
        ("RSSMRA85X10A562S", "invalid_month", "mese"),
        ("12345678901", "numeric_code", ""),
    ];
    for (code, reason, words) in cases {
        let p = check(&app, code)
            .await
            .assert_problem(422, "invalid-codice-fiscale");
        assert_eq!(p["reason"], reason, "{code}: {p}");
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.starts_with("Codice fiscale non valido"), "{detail}");
        assert!(detail.contains(words), "{code}: {detail}");
    }
}

#[actix_web::test]
async fn an_empty_code_is_a_validation_problem_naming_the_field() {
    let app = TestApp::spawn().await;
    let p = check(&app, "")
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(p["errors"][0]["field"], "codice_fiscale", "{p}");
    assert_eq!(p["errors"][0]["message"], "indicare il codice fiscale");
}
