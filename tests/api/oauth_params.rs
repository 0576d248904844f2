//! The parameters of /token and /introspect: RFC 6749 §3.1 ("parameters MUST NOT be included
//! more than once") and the cap on how many a request may carry, refused as an RFC 6749 §5.2
//! `invalid_request` that says which rule was broken. Each refusal is paired with the request
//! just inside the rule.

use crate::oidc_support::*;
use procura::oauth::params::MAX_PARAMS;
use serde_json::Value;

struct Rp {
    live: LiveApp,
    http: reqwest::Client,
    client_id: String,
    secret: String,
}

impl Rp {
    async fn spawn() -> Self {
        let live = LiveApp::spawn().await;
        let (client_id, secret) = web_frontend(&live.app).await;
        Self {
            live,
            http: reqwest::Client::new(),
            client_id,
            secret,
        }
    }

    /// POSTs `body` as a form to `path` with the client's Basic credentials.
    async fn post(&self, path: &str, body: String) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.live.base))
            .basic_auth(&self.client_id, Some(&self.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, json)
    }
}

/// `grant_type` and `refresh_token` followed by fillers, `total` pairs in all.
fn refresh_with_fillers(total: usize) -> String {
    let mut body = "grant_type=refresh_token&refresh_token=unknown".to_owned();
    for i in 2..total {
        body.push_str(&format!("&x{i}=1"));
    }
    body
}

#[actix_web::test]
async fn token_and_introspect_refuse_more_than_max_params_pairs() {
    let rp = Rp::spawn().await;
    // At the cap, the request reaches the grant (an unknown refresh token).
    let (status, body) = rp.post("/token", refresh_with_fillers(MAX_PARAMS)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // One more pair: refused before the grant, saying why.
    let (status, body) = rp
        .post("/token", refresh_with_fillers(MAX_PARAMS + 1))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains(&format!("more than {MAX_PARAMS} parameters")),
        "{body}"
    );

    let fillers = |n: usize| (1..n).map(|i| format!("&x{i}=1")).collect::<String>();
    let (status, body) = rp
        .post(
            "/introspect",
            format!("token=unknown{}", fillers(MAX_PARAMS)),
        )
        .await;
    assert_eq!(
        (status, &body["active"]),
        (200, &Value::Bool(false)),
        "{body}"
    );
    let (status, body) = rp
        .post(
            "/introspect",
            format!("token=unknown{}", fillers(MAX_PARAMS + 1)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
}

#[actix_web::test]
async fn token_refuses_a_repeat_among_many_names_and_names_the_first() {
    let rp = Rp::spawn().await;
    // Every filler sent twice, after a repeated grant_type: the first repeat is reported.
    let mut body = "grant_type=refresh_token&grant_type=refresh_token&refresh_token=x".to_owned();
    for i in 0..40 {
        body.push_str(&format!("&x{i}=1&x{i}=2"));
    }
    let (status, answer) = rp.post("/token", body).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_request")),
        "{answer}"
    );
    assert_eq!(
        answer["error_description"].as_str(),
        Some("parameter grant_type is repeated"),
        "{answer}"
    );
    // A repeat with an empty value is an absent parameter (RFC 6749 §3.1), not a repeat.
    let (status, answer) = rp
        .post(
            "/token",
            "grant_type=refresh_token&refresh_token=x&refresh_token=".to_owned(),
        )
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant")),
        "{answer}"
    );
}
