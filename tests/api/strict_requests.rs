//! Strict request bodies and every 4xx a problem: JSON bodies must be objects (an array in
//! a struct's field order is refused), the query minimums of openapi.yaml hold, and a walk
//! over every documented operation with bad inputs — wrong content type, malformed JSON,
//! arrays, bad query strings; anonymous, as a citizen and as an operator — finds no 4xx
//! that is not problem+json (except the RFC 6749 JSON errors and HTML pages the spec
//! declares with `x-error-format`) and no 5xx.

use crate::auth_support::{login_for_tokens, person_with_pin, token_client};
use crate::oidc_support::LiveApp;
use crate::openapi::{ErrorFormat, essence, operations, spec};
use actix_web::test::{self, TestRequest};
use procura::audit::Party;
use procura::operator::{self, Acting, NewOperator};
use procura::pin::PinType;

const PROBLEM_JSON: &str = "application/problem+json";
const CHECK: &str = "/v1/codice-fiscale/check";

/// A citizen and an operator with every role, logged in through the broker.
async fn tokens(live: &LiveApp) -> (String, String) {
    let app = &live.app;
    let citizen = person_with_pin(app, "RSSMRA85T10H501", PinType::Dispositivo).await;
    let scopes = "openid delegations:read delegations:write credentials:write bookings";
    let client = token_client(app, "myinps", scopes).await;
    let citizen = login_for_tokens(live, &client, &citizen, scopes)
        .await
        .access_token;
    let staff = person_with_pin(app, "NNAVRD80A41H501", PinType::Dispositivo).await;
    let new = NewOperator {
        codice_fiscale: staff.as_str().to_owned(),
        display_name: "Operatrice di prova".into(),
        roles: ["sportello", "contact_center", "web_meeting", "admin"]
            .map(str::to_owned)
            .to_vec(),
        office: Some("Sede di Roma".into()),
    };
    app.with_db(move |c, key, now| {
        operator::add(c, key, &new, &Acting::new(Party::system()), now).unwrap()
    })
    .await;
    let client = token_client(app, "console", "openid operator").await;
    let operator = login_for_tokens(live, &client, &staff, "openid operator")
        .await
        .access_token;
    (citizen, operator)
}

#[actix_web::test]
async fn a_json_array_in_field_order_is_refused_on_every_kind_of_json_route() {
    let live = LiveApp::spawn().await;
    let app = &live.app;
    let (_, operator) = tokens(&live).await;
    // Accepted as an object, refused as the same values in an array (which serde alone
    // would take as the struct's fields in order).
    let object = app
        .post_json(CHECK, r#"{"codice_fiscale": "RSSMRA85T10A562S"}"#)
        .await;
    assert_eq!(object.status, 200, "{}", object.text());
    let p = app
        .post_json(CHECK, r#"["RSSMRA85T10A562S"]"#)
        .await
        .assert_problem(422, "validation-failed");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("deve essere un oggetto JSON"), "{p}");

    // A bearer route reading its body after the token check (`json_body`).
    let revoke = |body: &'static str| {
        TestRequest::post()
            .uri("/v1/operator/pin/revoke")
            .insert_header(("authorization", format!("Bearer {operator}")))
            .insert_header(("content-type", "application/json"))
            .set_payload(body)
    };
    let r = app
        .call(revoke(
            r#"["RSSMRA85T10A562S", "Smarrimento dichiarato al telefono"]"#,
        ))
        .await;
    let p = r.assert_problem(422, "validation-failed");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("expected a JSON object"),
        "{p}"
    );
    // The same values as an object get past the body check (to the missing PIN).
    let r = app
        .call(revoke(
            r#"{"codice_fiscale": "RSSMRA85T10A562S", "reason": "Smarrimento dichiarato al telefono"}"#,
        ))
        .await;
    assert_ne!(r.status, 422, "{}", r.text());
}

#[actix_web::test]
async fn query_minimums_of_the_spec_are_refused_as_problems() {
    let live = LiveApp::spawn().await;
    let (_, operator) = tokens(&live).await;
    for query in ["offset=-1", "limit=0", "limit=201", "limit=x", "offset=1.5"] {
        let r = live
            .app
            .call(
                TestRequest::get()
                    .uri(&format!("/v1/operator/pin/queue?{query}"))
                    .insert_header(("authorization", format!("Bearer {operator}"))),
            )
            .await;
        r.assert_problem(400, "invalid-query");
    }
}

/// The inputs tried on every operation: (label, query, content type, body).
const BAD_INPUTS: [(&str, &str, Option<&str>, &[u8]); 9] = [
    (
        "array in field order",
        "",
        Some("application/json"),
        br#"["RSSMRA85T10A562S", "x", "y", 1, true, null]"#,
    ),
    ("malformed JSON", "", Some("application/json"), b"{\"a\": "),
    ("JSON string", "", Some("application/json"), b"\"x\""),
    ("wrong content type", "", Some("text/plain"), b"x"),
    ("no content type", "", None, b"{}"),
    (
        "broken multipart",
        "",
        Some("multipart/form-data; boundary=zz"),
        b"--zz\r\nbroken",
    ),
    (
        "broken form",
        "",
        Some("application/x-www-form-urlencoded"),
        b"%zz=%zz&a&=",
    ),
    (
        "negative numbers",
        "?limit=-1&offset=-1&from=-1&to=-1",
        None,
        b"",
    ),
    (
        "malformed query",
        "?%zz=%zz&date=2026-13-45&month=x&day=x&flow=x&code=&state=",
        None,
        b"",
    ),
];

#[actix_web::test]
async fn every_4xx_of_every_operation_is_problem_json() {
    let live = LiveApp::spawn_with(|c| {
        // Not the subject here: keep the per-address limits out of the way.
        c.issuance.online_requests_per_minute_per_address = 100_000;
        c.pin.attempts_per_minute_per_address = 100_000;
    })
    .await;
    let (citizen, operator) = tokens(&live).await;
    let root = spec();
    let svc = test::init_service(procura::http::app(live.app.state.clone())).await;
    let mut wrong = Vec::new();
    let mut tried = 0;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut arrays_refused = 0;
    for (method, path, op) in operations(&root) {
        let format = ErrorFormat::of(op).unwrap();
        // Path parameters: a value of the right look for none of them in particular.
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "0" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for (who, token) in [
            ("anonymous", None),
            ("citizen", Some(&citizen)),
            ("operator", Some(&operator)),
        ] {
            for (label, query, content_type, body) in BAD_INPUTS {
                let mut req = TestRequest::default()
                    .method(method.parse().unwrap())
                    .uri(&format!("{concrete}{query}"))
                    .insert_header(("accept", "application/json"));
                if let Some(t) = token {
                    req = req.insert_header(("authorization", format!("Bearer {t}")));
                }
                if let Some(ct) = content_type {
                    req = req.insert_header(("content-type", ct));
                }
                if method != "GET" && method != "HEAD" {
                    req = req.set_payload(body);
                }
                let resp = test::call_service(&svc, req.to_request()).await;
                tried += 1;
                let status = resp.status();
                *statuses.entry(status.as_u16()).or_default() += 1;
                if label == "array in field order" && status == 422 {
                    arrays_refused += 1;
                }
                let media = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(|v| essence(v).to_owned())
                    .unwrap_or_default();
                let allowed = media == PROBLEM_JSON
                    || (status != 405 && format.own_media() == Some(media.as_str()));
                if status.is_server_error() || (status.is_client_error() && !allowed) {
                    wrong.push(format!(
                        "{method} {path} ({who}, {label}): {status} {media:?}"
                    ));
                }
            }
        }
    }
    eprintln!("{tried} requests; statuses {statuses:?}; {arrays_refused} arrays refused");
    assert!(tried > 1000, "only {tried} requests");
    // The walk gets past the token checks to the bodies: arrays refused on many routes.
    assert!(arrays_refused > 20, "{arrays_refused} arrays refused");
    assert!(
        wrong.is_empty(),
        "{} of {tried} answers are not problem+json:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// What actix's HTTP/1 parser answers itself, before any of procura's code runs (README
/// says so): a bare status line, no body, the connection closed.
#[actix_web::test]
async fn the_http_parser_answers_bad_heads_itself_without_a_body() {
    let live = LiveApp::spawn().await;
    let addr = live.base.trim_start_matches("http://").to_owned();
    let many_headers: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(String, &str)> = vec![
        (
            format!("GET /healthz HTTP/1.1\r\nHost: a\r\n{many_headers}\r\n"),
            "HTTP/1.1 431",
        ),
        (
            format!(
                "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
                "a".repeat(140_000)
            ),
            "HTTP/1.1 431",
        ),
        ("NOT A REQUEST LINE\r\n\r\n".to_owned(), "HTTP/1.1 400"),
        (
            "GET /healthz HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n".to_owned(),
            "HTTP/1.1 400",
        ),
    ];
    for (request, expected) in cases {
        let addr = addr.clone();
        let answer = crate::helpers::blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            // The server may stop reading (and reset) before the whole head is sent.
            let _ = s.write_all(request.as_bytes());
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        })
        .await;
        assert!(answer.starts_with(expected), "{expected}: {answer:?}");
        assert!(
            !answer.to_ascii_lowercase().contains("content-type"),
            "{answer:?}"
        );
    }
}
