//! Races and two instances on one database: parallel wrong PINs never end in a server
//! error (one lock order for `audit_head`) and the lock state stays right; parallel
//! identical PIN requests or recoveries give one PIN (the issuance guard).

use crate::helpers::TestApp;
use crate::oidc_support::*;
use crate::pin_login::error_text;
use diesel::prelude::*;
use procura::Application;
use procura::db::schema::{audit_log, pin_credentials};
use procura::person::CodiceFiscale;
use procura::pin::PinType;
use procura::pin::{credential, recovery};
use std::net::TcpListener;

const SCOPE: &str = "openid inps:read";
const LOCKED: &str = "Il PIN è bloccato per troppi tentativi errati. Riprova tra";
const WRONG_MESSAGE: &str = "Codice fiscale o PIN non corretti.";

/// A second instance of `live`'s service, on the same database, listening on its own port;
/// returns its base URL.
pub async fn serve_another(app: &TestApp) -> String {
    let state = app.another_instance().await;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = Application::build_on(state, listener).unwrap();
    actix_web::rt::spawn(server.run_until_stopped());
    base
}

/// Two instances whose per-address limit is far above what the tests send.
async fn two_instances() -> (LiveApp, String) {
    let live = LiveApp::spawn_with(|c| {
        c.pin.attempts_per_minute_per_address = 100_000;
        c.issuance.online_requests_per_minute_per_address = 100_000;
        c.database.pool_max_size = 8;
    })
    .await;
    let other = serve_another(&live.app).await;
    (live, other)
}

/// Sets `code`'s counters back to a fresh credential's, as if the round before never was.
async fn clear_counters(app: &TestApp, code: &CodiceFiscale) {
    let code = code.as_str().to_owned();
    app.with_db(move |conn, _, _| {
        diesel::update(pin_credentials::table.find(code))
            .set((
                pin_credentials::failures.eq(0_i64),
                pin_credentials::locks.eq(0_i64),
                pin_credentials::locked_until.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;
}

async fn audit_count(app: &TestApp, action: &'static str, outcome: &'static str) -> i64 {
    app.with_db(move |conn, _, _| {
        audit_log::table
            .filter(audit_log::action.eq(action))
            .filter(audit_log::outcome.eq(outcome))
            .count()
            .get_result(conn)
            .unwrap()
    })
    .await
}

#[actix_web::test]
async fn fifty_parallel_wrong_pins_on_two_instances_never_fail_for_ten_rounds() {
    let (live, other) = two_instances().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;
    let browser = browser();
    let (auth, _) = {
        let (url, verifier) = authorization(&live.base);
        (url, verifier)
    };
    let (_, page) = open_login_page(&browser, &live.base, &auth).await;
    let mut server_errors = 0;
    for round in 1..=10_i64 {
        clear_counters(&live.app, &mario).await;
        let mut tasks = Vec::new();
        for i in 0..50 {
            let base = if i % 2 == 0 {
                live.base.clone()
            } else {
                other.clone()
            };
            let (browser, page, code) = (browser.clone(), page.clone(), mario.as_str().to_owned());
            tasks.push(actix_web::rt::spawn(async move {
                let pin = format!("WRONG{i:03}");
                let resp = post_form(
                    &browser,
                    &base,
                    "/pin/login",
                    &page,
                    &[("codice_fiscale", &code), ("pin", &pin)],
                )
                .await;
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap())
            }));
        }
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        server_errors += answers.iter().filter(|(s, _)| *s >= 500).count();
        let wrong = answers
            .iter()
            .filter(|(s, b)| *s == 401 && error_text(b).as_deref() == Some(WRONG_MESSAGE))
            .count();
        let locked = answers
            .iter()
            .filter(|(s, b)| *s == 403 && error_text(b).is_some_and(|m| m.starts_with(LOCKED)))
            .count();
        let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        assert_eq!((wrong, locked), (4, 46), "round {round}: {statuses:?}");
        let code = mario.clone();
        let s = live
            .app
            .with_db(move |conn, _, _| credential::status(conn, &code).unwrap().unwrap())
            .await;
        assert_eq!((s.failures, s.locks), (5, 1), "round {round}");
        assert!(
            s.locked_until.is_some() && s.blocked_at.is_none(),
            "round {round}"
        );
        assert_eq!(audit_count(&live.app, "pin.locked", "success").await, round);
        assert_eq!(
            audit_count(&live.app, "pin.login", "failure").await,
            5 * round
        );
    }
    assert_eq!(server_errors, 0);
    let key_check = live
        .app
        .with_db(|conn, key, _| procura::audit::verify(conn, key).unwrap())
        .await;
    assert!(key_check.is_ok(), "{key_check:?}");
}

/// The authorization URL of `myinps-web` asking for [`SCOPE`], and its PKCE verifier.
fn authorization(base: &str) -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    use base64::Engine;
    use sha2::Digest;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut url = reqwest::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "myinps-web")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", SCOPE)
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    (url.to_string(), verifier)
}

/// Mario's online request, matching the registry.
fn mario_request() -> serde_json::Value {
    serde_json::json!({
        "codice_fiscale": mario().as_str(),
        "given_name": "Mario",
        "family_name": "Rossi",
        "birth_date": "1985-12-10",
        "address": "Via Roma 1",
        "postal_code": "00100",
        "municipality": "Roma",
        "province": "RM",
        "mobile": "3331234567",
        "email": "mario.rossi@example.it",
        "first_half_channel": "sms",
    })
}

/// (channel, template) of every outbox message.
async fn outbox(app: &TestApp) -> Vec<(String, String)> {
    use procura::db::schema::outbox_messages;
    app.with_db(|conn, _, _| {
        outbox_messages::table
            .select((outbox_messages::channel, outbox_messages::template))
            .order(outbox_messages::created_at.asc())
            .load(conn)
            .unwrap()
    })
    .await
}

#[actix_web::test]
async fn twenty_identical_pin_requests_on_two_instances_issue_one_pin() {
    let (live, other) = two_instances().await;
    add_person(&live.app, &mario(), "Mario", "Rossi").await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let base = if i % 2 == 0 {
            live.base.clone()
        } else {
            other.clone()
        };
        let client = client.clone();
        tasks.push(actix_web::rt::spawn(async move {
            let resp = client
                .post(format!("{base}/v1/pin/requests"))
                .json(&mario_request())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, content_type, resp.text().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    for (status, content_type, body) in answers.iter().filter(|a| a.0 != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
        let p: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            p["type"],
            "https://procura.inps.it/problems/pin-already-active"
        );
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .starts_with("Risulta già un PIN attivo"),
            "{p}"
        );
    }
    let sent = outbox(&live.app).await;
    let pairs: Vec<(&str, &str)> = sent.iter().map(|(c, t)| (c.as_str(), t.as_str())).collect();
    assert_eq!(
        pairs,
        [("sms", "pin_first_half"), ("post", "pin_second_half")],
        "one SMS and one letter"
    );
    assert_eq!(audit_count(&live.app, "pin.issued", "success").await, 1);
    assert_eq!(
        audit_count(&live.app, "pin.credential.set", "success").await,
        1
    );
}

#[actix_web::test]
async fn parallel_recoveries_issue_one_new_pin() {
    let live =
        LiveApp::spawn_with(|c| c.issuance.online_requests_per_minute_per_address = 1000).await;
    add_person(&live.app, &mario(), "Mario", "Rossi").await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/pin/requests", live.base))
        .json(&mario_request())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    // The PIN has been used once (recovery is for a PIN in use).
    let code = mario().as_str().to_owned();
    live.app
        .with_db(move |conn, _, now| {
            diesel::update(pin_credentials::table.find(code))
                .set((
                    pin_credentials::initial.eq(false),
                    pin_credentials::last_used_at.eq(Some(now.naive_utc())),
                ))
                .execute(conn)
                .unwrap();
        })
        .await;
    let before = outbox(&live.app).await.len();
    let other = live.app.another_instance().await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let state = if i % 2 == 0 {
            live.app.state.clone()
        } else {
            other.clone()
        };
        let now = live.app.clock_now();
        tasks.push(actix_web::rt::spawn(async move {
            let given = recovery::Contacts {
                mobile: Some("+393331234567".into()),
                email: Some("mario.rossi@example.it".into()),
                pec: None,
            };
            recovery::recover(&state, &mario(), &given, now)
                .await
                .unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let sent = outcomes
        .iter()
        .filter(|o| **o == recovery::Recovery::Sent)
        .count();
    assert_eq!(sent, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, recovery::Recovery::Sent | recovery::Recovery::NeverUsed)),
        "{outcomes:?}"
    );
    let halves = outbox(&live.app).await.len() - before;
    assert_eq!(halves, 2);
    assert_eq!(audit_count(&live.app, "pin.recovered", "success").await, 1);
}

/// Posts `fields` to `path` of `page`'s form `n` times at once; returns the answers.
async fn post_at_once(
    browser: &reqwest::Client,
    bases: [&str; 2],
    path: &'static str,
    page: &str,
    fields: &[(&'static str, &'static str)],
    n: usize,
) -> Vec<(u16, String)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (browser, base, page) = (browser.clone(), bases[i % 2].to_owned(), page.to_owned());
        let fields = fields.to_vec();
        tasks.push(actix_web::rt::spawn(async move {
            let resp = post_form(&browser, &base, path, &page, &fields).await;
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[actix_web::test]
async fn ten_posts_of_the_right_pin_on_one_form_never_say_locked() {
    let (live, other) = two_instances().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;
    let browser = browser();
    let (auth, _) = authorization(&live.base);
    let (_, page) = open_login_page(&browser, &live.base, &auth).await;
    let code: &'static str = Box::leak(mario.as_str().to_owned().into_boxed_str());
    let answers = post_at_once(
        &browser,
        [&live.base, &other],
        "/pin/login",
        &page,
        &[("codice_fiscale", code), ("pin", PERSONAL_PIN)],
        10,
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert!(statuses.iter().all(|s| *s < 500), "{statuses:?}");
    assert!(
        answers.iter().all(|(_, b)| !b.contains("bloccato")),
        "{statuses:?}"
    );
    assert!(statuses.contains(&303), "{statuses:?}");
    // The rest found the flow already spent by the first: the page says so in Italian.
    for (status, body) in answers.iter().filter(|a| a.0 != 303) {
        assert_eq!(*status, 400, "{body}");
        assert!(body.contains("Pagina di accesso scaduta"), "{body}");
    }
    let s = live
        .app
        .with_db(move |conn, _, _| credential::status(conn, &mario).unwrap().unwrap())
        .await;
    assert_eq!((s.failures, s.locks, s.locked_until), (0, 0, None));
}

#[actix_web::test]
async fn ten_posts_of_the_pin_change_form_give_one_change_and_clear_pages() {
    let (live, other) = two_instances().await;
    let mario = mario();
    add_person(&live.app, &mario, "Mario", "Rossi").await;
    give_pin(&live.app, &mario, INITIAL_PIN, PinType::Dispositivo, true).await;
    web_frontend(&live.app).await;
    let browser = browser();
    let (auth, _) = authorization(&live.base);
    let (_, page) = open_login_page(&browser, &live.base, &auth).await;
    let resp = post_form(
        &browser,
        &live.base,
        "/pin/login",
        &page,
        &[("codice_fiscale", mario.as_str()), ("pin", INITIAL_PIN)],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let change = resp.text().await.unwrap();
    assert!(change.contains("Scegli il tuo nuovo PIN"), "{change}");
    let answers = post_at_once(
        &browser,
        [&live.base, &other],
        "/pin/change",
        &change,
        &[("new_pin", "H4K8N2P6"), ("confirm_pin", "H4K8N2P6")],
        10,
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert!(statuses.iter().all(|s| *s < 500), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    for (status, body) in answers.iter().filter(|a| a.0 != 303) {
        assert!(
            (*status == 409 && body.contains("Il PIN è già stato cambiato"))
                || (*status == 400 && body.contains("Pagina di accesso scaduta")),
            "{status}: {body}"
        );
    }
}
