//! PIN login through HTTP, as a citizen meets it: the login page, the PIN form, the lockout
//! (also under 50 parallel guesses), the per-address rate limit, the forced change of the
//! 16-character PIN and of an expired PIN, deactivation, the level a PIN type reaches, the
//! audit records and the session cookie (domain §2, §6.6, §6.7).

use crate::helpers::TestApp;
use crate::oidc_support::*;
use crate::persons_import::cf;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use procura::Application;
use procura::config::Config;
use procura::db::schema::audit_log;
use procura::person::CodiceFiscale;
use procura::pin::PinType;
use procura::pin::credential::{self, CredentialState};
use sha2::{Digest, Sha256};
use std::net::TcpListener;

const SCOPE: &str = "openid inps:read";
const LOCKED: &str = "Il PIN è bloccato per troppi tentativi errati. Riprova tra";
const BLOCKED: &str = "Il PIN è bloccato per troppi tentativi errati: recuperalo con «Hai \
     dimenticato il PIN?» oppure richiedine uno nuovo.";
const WRONG_MESSAGE: &str = "Codice fiscale o PIN non corretti.";

/// A live app like [`LiveApp::spawn`], with the configuration changed by `adjust` first.
async fn live_with(adjust: impl FnOnce(&mut Config)) -> LiveApp {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let issuer = base.clone();
    let app = TestApp::spawn_with(move |c| {
        c.oauth.issuer = issuer;
        c.server.workers = 2;
        adjust(c);
    })
    .await;
    let server = Application::build_on(app.state.clone(), listener).unwrap();
    actix_web::rt::spawn(server.run_until_stopped());
    LiveApp { app, base }
}

/// A live app whose per-address limit is far above what any test here sends, so only the
/// per-PIN lockout decides.
async fn live_raised_limit() -> LiveApp {
    live_with(|c| c.pin.attempts_per_minute_per_address = 100_000).await
}

/// A PKCE verifier and the authorization URL of `myinps-web` asking for `scope`.
fn authorization(base: &str, scope: &str) -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    assert_eq!(challenge.len(), 43);
    let mut url = reqwest::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "myinps-web")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", scope)
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    (url.to_string(), verifier)
}

/// A citizen at the login page: their browser, the page's URL and HTML, the PKCE verifier.
struct AtPage {
    browser: reqwest::Client,
    url: String,
    page: String,
    verifier: String,
}

/// A new browser that starts a flow asking for `scope` and lands on the login page.
async fn fresh_page(live: &LiveApp, scope: &str) -> AtPage {
    let browser = browser();
    let (auth, verifier) = authorization(&live.base, scope);
    let (url, page) = open_login_page(&browser, &live.base, &auth).await;
    AtPage {
        browser,
        url,
        page,
        verifier,
    }
}

/// Posts the PIN form of `at`'s page; returns the status, the response and its body.
async fn pin_login(
    live: &LiveApp,
    at: &AtPage,
    code: &str,
    pin: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = post_form(
        &at.browser,
        &live.base,
        "/pin/login",
        &at.page,
        &[("codice_fiscale", code), ("pin", pin)],
    )
    .await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

/// Posts a form with exactly these fields (no flow or CSRF token added).
async fn post_raw(
    browser: &reqwest::Client,
    base: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    browser
        .post(format!("{base}{path}"))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// The text of an HTML fragment: tags dropped, entities of the templates decoded, spaces
/// collapsed.
pub fn plain_text(fragment: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in fragment.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The messages in a form page's error summary (`id="errori"`), if any, one per line.
pub fn error_text(html: &str) -> Option<String> {
    let start = html.find("id=\"errori\"")?;
    let list = html[start..].find("<ul>")? + start + 4;
    let end = html[list..].find("</ul>")? + list;
    let items: Vec<String> = html[list..end]
        .split("</li>")
        .map(plain_text)
        .filter(|t| !t.is_empty())
        .collect();
    Some(items.join("\n"))
}

/// The message of an error page (its alert box, `id="messaggio"`).
pub fn alert_text(html: &str) -> String {
    let start = html
        .find("id=\"messaggio\"")
        .unwrap_or_else(|| panic!("no alert in {html}"));
    let open = html[start..].find('>').unwrap() + start + 1;
    let end = html[open..].find("</div>").unwrap() + open;
    plain_text(&html[open..end])
}

/// Every PIN the helpers below use as a wrong guess: distinct, never the right one.
fn wrong_pin(n: usize) -> String {
    format!("WRONG{n:03}")
}

/// `n` wrong PINs in a row on `at`'s page, numbered from `first`; returns the answers.
async fn wrong_pins(
    live: &LiveApp,
    at: &AtPage,
    code: &CodiceFiscale,
    first: usize,
    n: usize,
) -> Vec<(u16, String)> {
    let mut answers = Vec::new();
    for i in first..first + n {
        let (status, _, body) = pin_login(live, at, code.as_str(), &wrong_pin(i)).await;
        answers.push((status, body));
    }
    answers
}

async fn credential_state(app: &TestApp, code: &CodiceFiscale) -> CredentialState {
    let code = code.clone();
    app.with_db(move |conn, _, _| credential::status(conn, &code).unwrap().unwrap())
        .await
}

/// The clock's current time as stored in the database.
fn db_now(app: &TestApp) -> NaiveDateTime {
    app.clock_now().naive_utc()
}

/// (action, outcome, actor, subject, detail) of every audit record, in order.
type AuditRow = (String, String, String, Option<String>, Option<String>);

async fn audit_rows(app: &TestApp) -> Vec<AuditRow> {
    app.with_db(|conn, _, _| {
        audit_log::table
            .order(audit_log::seq.asc())
            .select((
                audit_log::action,
                audit_log::outcome,
                audit_log::actor,
                audit_log::subject,
                audit_log::detail,
            ))
            .load::<AuditRow>(conn)
            .unwrap()
    })
    .await
}

fn count(rows: &[AuditRow], action: &str, outcome: &str) -> usize {
    rows.iter()
        .filter(|r| r.0 == action && r.1 == outcome)
        .count()
}

/// The `code` of a redirect back to the client, checking where it goes.
fn code_from(status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> String {
    assert_eq!(status, 303, "{body}");
    let back = headers
        .get("location")
        .unwrap_or_else(|| panic!("no Location: {headers:?}"))
        .to_str()
        .unwrap()
        .to_owned();
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("s"), "{back}");
    query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"))
}

fn jwt_payload(jwt: &str) -> serde_json::Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------
// The page and the flow

#[actix_web::test]
async fn the_login_page_is_italian_labelled_and_without_scripts() {
    let live = LiveApp::spawn().await;
    mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;
    let (auth, _) = authorization(&live.base, SCOPE);
    let browser = browser();
    let resp = browser.get(&auth).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let login_url = format!("{}{}", live.base, location(&resp));
    let resp = browser.get(&login_url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = resp.text().await.unwrap();

    assert!(page.contains("<html lang=\"it\">"), "{page}");
    assert!(page.contains("Accedi ai servizi INPS"), "{page}");
    assert!(!page.to_lowercase().contains("<script"), "{page}");
    assert!(
        page.contains("<form method=\"post\" action=\"/pin/login?flow="),
        "the PIN form is offered: {page}"
    );
    // The flow and the CSRF token travel as hidden fields.
    let flow = input_value(&page, "flow");
    assert_eq!(query_param(&login_url, "flow").as_deref(), Some(&*flow));
    assert!(page.contains(&format!(
        "<input type=\"hidden\" name=\"flow\" value=\"{flow}\">"
    )));
    let csrf = input_value(&page, "csrf");
    assert!(csrf.len() >= 16, "{csrf}");
    assert!(page.contains("<input type=\"hidden\" name=\"csrf\""));
    assert_ne!(csrf, flow);
    // Every visible input has a label pointing at it.
    let labelled = assert_inputs_labelled(&page);
    assert_eq!(labelled, ["f-codice_fiscale", "f-pin"]);
}

/// Asserts every non-hidden `<input>` has an id named by a `<label for=…>`; returns the ids.
fn assert_inputs_labelled(page: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for (at, _) in page.match_indices("<input") {
        let tag = &page[at..at + page[at..].find('>').unwrap()];
        if tag.contains("type=\"hidden\"") {
            continue;
        }
        let id_at = tag
            .find(" id=\"")
            .unwrap_or_else(|| panic!("input without id: {tag}"))
            + 5;
        let id = &tag[id_at..id_at + tag[id_at..].find('"').unwrap()];
        assert!(
            page.contains(&format!("<label for=\"{id}\">")),
            "no label for {id}: {page}"
        );
        ids.push(id.to_owned());
    }
    ids
}

#[actix_web::test]
async fn an_unknown_or_expired_flow_gets_a_400_page() {
    let live = LiveApp::spawn().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;

    for path in ["/login?flow=nessuno", "/login"] {
        let resp = browser()
            .get(format!("{}{path}", live.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path}");
        let page = resp.text().await.unwrap();
        assert!(page.contains("<html lang=\"it\">"), "{page}");
        assert!(alert_text(&page).contains("scaduta"), "{page}");
    }

    // session.login_flow_ttl_secs = 900: still there just before, gone at the end.
    let at = fresh_page(&live, SCOPE).await;
    live.app.clock.advance(Duration::seconds(899));
    let resp = at.browser.get(&at.url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    live.app.clock.advance(Duration::seconds(2));
    let resp = at.browser.get(&at.url).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(alert_text(&resp.text().await.unwrap()).contains("scaduta"));
    // Its form no longer logs anyone in, even with the right PIN.
    let (status, _, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    assert_eq!(status, 400, "{body}");
    assert!(alert_text(&body).contains("scaduta"), "{body}");
}

#[actix_web::test]
async fn a_flow_opened_in_another_browser_is_refused() {
    let live = LiveApp::spawn().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;
    let at = fresh_page(&live, SCOPE).await;

    // Another cookie jar, and no cookies at all.
    let other = browser();
    let no_cookies = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for client in [&other, &no_cookies] {
        let resp = client.get(&at.url).send().await.unwrap();
        assert_eq!(resp.status(), 400);
        assert!(alert_text(&resp.text().await.unwrap()).contains("altro browser"));
        // Posting the first browser's form with the right PIN does not log in.
        let resp = post_form(
            client,
            &live.base,
            "/pin/login",
            &at.page,
            &[("codice_fiscale", mario.as_str()), ("pin", PERSONAL_PIN)],
        )
        .await;
        assert_eq!(resp.status(), 400);
        assert!(resp.headers().get("location").is_none());
    }
    // The browser that opened it still can.
    let resp = at.browser.get(&at.url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (status, headers, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    code_from(status, &headers, &body);
}

#[actix_web::test]
async fn a_form_with_a_wrong_csrf_token_is_forbidden() {
    let live = LiveApp::spawn().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;
    let at = fresh_page(&live, SCOPE).await;
    let flow = input_value(&at.page, "flow");
    let csrf = input_value(&at.page, "csrf");

    let last = if csrf.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &csrf[..csrf.len() - 1]);
    for fields in [
        vec![
            ("flow", flow.as_str()),
            ("csrf", forged.as_str()),
            ("codice_fiscale", mario.as_str()),
            ("pin", PERSONAL_PIN),
        ],
        vec![
            ("flow", flow.as_str()),
            ("codice_fiscale", mario.as_str()),
            ("pin", PERSONAL_PIN),
        ],
        vec![
            ("flow", flow.as_str()),
            ("csrf", forged.as_str()),
            ("codice_fiscale", mario.as_str()),
            ("pin", "WRONG001"),
        ],
    ] {
        let resp = post_raw(&at.browser, &live.base, "/pin/login", &fields).await;
        assert_eq!(resp.status(), 403, "{fields:?}");
        assert!(resp.headers().get("location").is_none());
        let page = resp.text().await.unwrap();
        assert!(alert_text(&page).contains("non proviene"), "{page}");
    }
    // The change form checks it too.
    let resp = post_raw(
        &at.browser,
        &live.base,
        "/pin/change",
        &[
            ("flow", &flow),
            ("csrf", &forged),
            ("new_pin", "H4K8N2P6"),
            ("confirm_pin", "H4K8N2P6"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 403);
    // Nothing was checked: no failure counted.
    assert_eq!(credential_state(&live.app, &mario).await.failures, 0);
    // With the right token the same browser logs in.
    let resp = post_raw(
        &at.browser,
        &live.base,
        "/pin/login",
        &[
            ("flow", &flow),
            ("csrf", &csrf),
            ("codice_fiscale", mario.as_str()),
            ("pin", PERSONAL_PIN),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
}

// ---------------------------------------------------------------------------------------
// Answers to a wrong PIN

#[actix_web::test]
async fn a_wrong_pin_and_an_unknown_codice_fiscale_get_the_same_answer() {
    let live = live_raised_limit().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    let no_pin = CodiceFiscale::parse(&cf("BNCLGU90A01F205")).unwrap();
    add_person(&live.app, &no_pin, "Luigi", "Bianchi").await;
    let unknown = CodiceFiscale::parse(&cf("VRDGPP80A01L219")).unwrap();
    web_frontend(&live.app).await;
    let at = fresh_page(&live, SCOPE).await;

    let mut answers = Vec::new();
    for (code, pin) in [
        (&mario, "WRONG001"),
        (&unknown, PERSONAL_PIN),
        (&no_pin, PERSONAL_PIN),
    ] {
        let (status, headers, body) = pin_login(&live, &at, code.as_str(), pin).await;
        assert!(headers.get("location").is_none());
        // The page is shown again, with the code typed.
        assert_eq!(input_value(&body, "codice_fiscale"), code.as_str());
        answers.push((status, error_text(&body)));
    }
    assert_eq!(
        answers[0],
        (401, Some(WRONG_MESSAGE.to_owned())),
        "{answers:?}"
    );
    assert_eq!(answers[1], answers[0]);
    assert_eq!(answers[2], answers[0]);
    assert_eq!(credential_state(&live.app, &mario).await.failures, 1);
}

#[actix_web::test]
async fn a_malformed_codice_fiscale_gets_400_with_the_reason_in_italian() {
    let live = LiveApp::spawn().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;
    let at = fresh_page(&live, SCOPE).await;

    let last = mario.as_str().chars().last().unwrap();
    let wrong_check = format!(
        "{}{}",
        &mario.as_str()[..15],
        if last == 'A' { 'B' } else { 'A' }
    );
    for (typed, reason) in [
        (
            &mario.as_str()[..15],
            "Il codice fiscale ha 16 caratteri: ne hai scritti 15.",
        ),
        (
            &wrong_check[..],
            "l'ultimo carattere non corrisponde agli altri",
        ),
        ("12345678901", "11 cifre (una partita IVA"),
    ] {
        let (status, _, body) = pin_login(&live, &at, typed, PERSONAL_PIN).await;
        assert_eq!(status, 400, "{typed}: {body}");
        let message = error_text(&body).unwrap_or_else(|| panic!("no error box: {body}"));
        assert!(message.contains(reason), "{typed}: {message}");
    }
    assert_eq!(credential_state(&live.app, &mario).await.failures, 0);
}

// ---------------------------------------------------------------------------------------
// Lockout (domain §6.6)

#[actix_web::test]
async fn wrong_pins_lock_for_15_then_30_minutes_and_20_block_the_pin() {
    let live = live_raised_limit().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;
    let app = &live.app;

    // Four wrong PINs: counted, not locked.
    let at = fresh_page(&live, SCOPE).await;
    for i in 1..=4 {
        let (status, _, body) = pin_login(&live, &at, mario.as_str(), &wrong_pin(i)).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(error_text(&body).as_deref(), Some(WRONG_MESSAGE));
        assert_eq!(credential_state(app, &mario).await.failures, i as i64);
    }
    // The fifth answer already says locked, for 15 minutes.
    let (status, _, body) = pin_login(&live, &at, mario.as_str(), &wrong_pin(5)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        error_text(&body).as_deref(),
        Some(&*format!(
            "{LOCKED} 15 minuti, oppure recupera il PIN con «Hai dimenticato il PIN?»."
        ))
    );
    let s = credential_state(app, &mario).await;
    assert_eq!((s.failures, s.locks), (5, 1));
    assert_eq!(s.locked_until, Some(db_now(app) + Duration::minutes(15)));
    // Even the right PIN is refused now, and a further guess is not counted.
    let (status, headers, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    assert_eq!(status, 403, "{body}");
    assert!(headers.get("location").is_none());
    assert!(error_text(&body).unwrap().contains("bloccato"), "{body}");
    let (status, _, _) = pin_login(&live, &at, mario.as_str(), &wrong_pin(6)).await;
    assert_eq!(status, 403);
    assert_eq!(credential_state(app, &mario).await.failures, 5);
    // One second before the end, still locked.
    app.clock
        .advance(Duration::minutes(15) - Duration::seconds(1));
    let (status, _, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    assert_eq!(status, 403, "{body}");
    assert!(error_text(&body).unwrap().contains("bloccato"));

    // After 15 minutes the right PIN works again and resets the counters.
    app.clock.advance(Duration::seconds(1));
    let at = fresh_page(&live, SCOPE).await;
    let (status, headers, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    code_from(status, &headers, &body);
    let s = credential_state(app, &mario).await;
    assert_eq!((s.failures, s.locks, s.locked_until), (0, 0, None));

    // Five more wrong: locked for 15 minutes again (the success reset the doubling).
    let at = fresh_page(&live, SCOPE).await;
    let answers = wrong_pins(&live, &at, &mario, 10, 5).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 403]);
    assert_eq!(
        error_text(&answers[4].1).as_deref(),
        Some(&*format!(
            "{LOCKED} 15 minuti, oppure recupera il PIN con «Hai dimenticato il PIN?»."
        ))
    );
    let s = credential_state(app, &mario).await;
    assert_eq!((s.failures, s.locks), (5, 1));
    assert_eq!(s.locked_until, Some(db_now(app) + Duration::minutes(15)));

    // Once it ends, five more: 30 minutes.
    app.clock.advance(Duration::minutes(15));
    let at = fresh_page(&live, SCOPE).await;
    let answers = wrong_pins(&live, &at, &mario, 20, 5).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 403]);
    assert_eq!(
        error_text(&answers[4].1).as_deref(),
        Some(&*format!(
            "{LOCKED} 30 minuti, oppure recupera il PIN con «Hai dimenticato il PIN?»."
        ))
    );
    let s = credential_state(app, &mario).await;
    assert_eq!((s.failures, s.locks), (10, 2));
    assert_eq!(s.locked_until, Some(db_now(app) + Duration::minutes(30)));
    // Fifteen minutes are not enough this time.
    app.clock.advance(Duration::minutes(29));
    let at = fresh_page(&live, SCOPE).await;
    let (status, _, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    assert_eq!(status, 403, "{body}");
    assert!(error_text(&body).unwrap().starts_with(LOCKED), "{body}");

    // Then 60 minutes.
    app.clock.advance(Duration::minutes(1));
    let at = fresh_page(&live, SCOPE).await;
    let answers = wrong_pins(&live, &at, &mario, 30, 5).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 403]);
    let s = credential_state(app, &mario).await;
    assert_eq!((s.failures, s.locks), (15, 3));
    assert_eq!(s.locked_until, Some(db_now(app) + Duration::minutes(60)));

    // The 20th consecutive failure blocks the PIN for good.
    app.clock.advance(Duration::minutes(60));
    let at = fresh_page(&live, SCOPE).await;
    let answers = wrong_pins(&live, &at, &mario, 40, 5).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 403]);
    assert_eq!(error_text(&answers[4].1).as_deref(), Some(BLOCKED));
    let s = credential_state(app, &mario).await;
    assert_eq!(s.failures, 20);
    assert_eq!(s.blocked_at, Some(db_now(app)));
    let (status, _, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    assert_eq!(status, 403);
    assert_eq!(error_text(&body).as_deref(), Some(BLOCKED));
    // A year later, still blocked.
    app.clock.advance(Duration::days(365));
    let at = fresh_page(&live, SCOPE).await;
    let (status, _, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    assert_eq!(status, 403);
    assert_eq!(error_text(&body).as_deref(), Some(BLOCKED));
}

#[actix_web::test]
async fn fifty_parallel_wrong_guesses_count_as_five() {
    let live = live_raised_limit().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;
    let at = fresh_page(&live, SCOPE).await;
    let before = audit_rows(&live.app).await.len();

    let mut tasks = Vec::new();
    for i in 0..50 {
        let (browser, base, page) = (at.browser.clone(), live.base.clone(), at.page.clone());
        let code = mario.as_str().to_owned();
        tasks.push(actix_web::rt::spawn(async move {
            let resp = post_form(
                &browser,
                &base,
                "/pin/login",
                &page,
                &[("codice_fiscale", &code), ("pin", &wrong_pin(i))],
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
    let wrong = answers
        .iter()
        .filter(|(s, b)| *s == 401 && error_text(b).as_deref() == Some(WRONG_MESSAGE))
        .count();
    let locked = answers
        .iter()
        .filter(|(s, b)| *s == 403 && error_text(b).is_some_and(|m| m.starts_with(LOCKED)))
        .count();
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    // Five PINs were checked: four answer "wrong"; the fifth, whose failure applied the
    // lock, already says locked (as in a sequence); the other 45 were never checked.
    assert_eq!((wrong, locked), (4, 46), "{statuses:?}");

    let s = credential_state(&live.app, &mario).await;
    assert_eq!((s.failures, s.locks), (5, 1));
    assert_eq!(
        s.locked_until,
        Some(db_now(&live.app) + Duration::minutes(15))
    );
    let rows = audit_rows(&live.app).await;
    let new = &rows[before..];
    assert_eq!(count(new, "pin.locked", "success"), 1);
    assert_eq!(count(new, "pin.login", "failure"), 5);
    assert_eq!(count(new, "pin.login", "denied"), 45);
}

#[actix_web::test]
async fn the_eleventh_quick_attempt_from_one_address_gets_429_before_any_check() {
    let live = LiveApp::spawn().await;
    assert_eq!(live.app.config.pin.attempts_per_minute_per_address, 10);
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    let unknown = CodiceFiscale::parse(&cf("VRDGPP80A01L219")).unwrap();
    web_frontend(&live.app).await;
    let at = fresh_page(&live, SCOPE).await;

    // Ten attempts: four wrong PINs for Mario (not enough to lock), six for an unknown code.
    for (i, (status, body)) in wrong_pins(&live, &at, &mario, 1, 4)
        .await
        .iter()
        .enumerate()
    {
        assert_eq!(*status, 401, "attempt {i}: {body}");
    }
    for (i, (status, body)) in wrong_pins(&live, &at, &unknown, 5, 6)
        .await
        .iter()
        .enumerate()
    {
        assert_eq!(*status, 401, "attempt {}: {body}", i + 4);
    }
    let audited = audit_rows(&live.app).await;
    assert_eq!(count(&audited, "pin.login", "failure"), 10);

    // The eleventh is refused at the door: 429, Retry-After, nothing counted or audited.
    let (status, headers, body) = pin_login(&live, &at, mario.as_str(), &wrong_pin(11)).await;
    assert_eq!(status, 429, "{body}");
    let retry: u64 = headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {headers:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=6).contains(&retry), "{retry}");
    let message = error_text(&body).unwrap();
    assert!(message.starts_with("Troppi tentativi"), "{message}");
    assert!(body.contains("<html lang=\"it\">"));
    assert_eq!(credential_state(&live.app, &mario).await.failures, 4);
    // Even the right PIN, or a malformed code: refused before anything is looked at.
    let (status, headers, _) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    assert_eq!(status, 429);
    assert!(headers.get("location").is_none());
    let (status, _, _) = pin_login(&live, &at, "XYZ", PERSONAL_PIN).await;
    assert_eq!(status, 429);
    let s = credential_state(&live.app, &mario).await;
    assert_eq!((s.failures, s.last_used_at), (4, None));
    assert_eq!(audit_rows(&live.app).await, audited);
}

// ---------------------------------------------------------------------------------------
// Forced change, expiry, deactivation (domain §6.7)

#[actix_web::test]
async fn the_initial_pin_leads_to_a_change_that_follows_the_rules() {
    let live = LiveApp::spawn().await;
    let mario = mario();
    add_person(&live.app, &mario, "Mario", "Rossi").await;
    give_pin(&live.app, &mario, INITIAL_PIN, PinType::Dispositivo, true).await;
    web_frontend(&live.app).await;

    // The change form refuses a flow where no PIN was checked yet.
    let at = fresh_page(&live, SCOPE).await;
    let resp = post_form(
        &at.browser,
        &live.base,
        "/pin/change",
        &at.page,
        &[("new_pin", "H4K8N2P6"), ("confirm_pin", "H4K8N2P6")],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        error_text(&resp.text().await.unwrap()).as_deref(),
        Some("Accedi prima con il tuo PIN attuale.")
    );

    let (status, headers, change) = pin_login(&live, &at, mario.as_str(), INITIAL_PIN).await;
    assert_eq!(status, 200, "{change}");
    assert!(headers.get("location").is_none());
    assert!(
        change.contains("<h1>Scegli il tuo nuovo PIN</h1>"),
        "{change}"
    );
    assert!(change.contains("16 caratteri"), "{change}");
    assert!(change.contains("<html lang=\"it\">") && !change.contains("<script"));
    assert_eq!(
        assert_inputs_labelled(&change),
        ["f-new_pin", "f-confirm_pin"]
    );
    // Reloading the page shows the change form again, not the PIN form.
    let reloaded = at.browser.get(&at.url).send().await.unwrap();
    assert!(
        reloaded
            .text()
            .await
            .unwrap()
            .contains("action=\"/pin/change?")
    );

    let given_name_pin = "MARIO123";
    let family_name_pin = "7ROSSI42";
    let cf_window = &mario.as_str()[4..12];
    for (new, confirm, message) in [
        (
            "H4K8N2P6",
            "H4K8N2P7",
            "I due PIN inseriti non coincidono: scrivi lo stesso PIN due volte.",
        ),
        (
            "A1B2C3",
            "A1B2C3",
            "Il PIN deve essere di 8 caratteri (ne sono stati inseriti 6).",
        ),
        (
            "73915284",
            "73915284",
            "Il PIN deve contenere almeno una lettera.",
        ),
        (
            given_name_pin,
            given_name_pin,
            "Il PIN non può contenere il nome o il cognome.",
        ),
        (
            family_name_pin,
            family_name_pin,
            "Il PIN non può contenere il nome o il cognome.",
        ),
        (
            cf_window,
            cf_window,
            "Il PIN non può contenere 8 caratteri consecutivi del codice fiscale.",
        ),
    ] {
        let resp = post_form(
            &at.browser,
            &live.base,
            "/pin/change",
            &change,
            &[("new_pin", new), ("confirm_pin", confirm)],
        )
        .await;
        assert_eq!(resp.status(), 400, "{new}/{confirm}");
        let body = resp.text().await.unwrap();
        assert_eq!(error_text(&body).as_deref(), Some(message), "{new}");
        assert!(body.contains("action=\"/pin/change?"), "{body}");
    }
    // Nothing changed yet.
    assert!(credential_state(&live.app, &mario).await.initial);

    let resp = post_form(
        &at.browser,
        &live.base,
        "/pin/change",
        &change,
        &[("new_pin", PERSONAL_PIN), ("confirm_pin", PERSONAL_PIN)],
    )
    .await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    code_from(status, &headers, &resp.text().await.unwrap());
    let s = credential_state(&live.app, &mario).await;
    assert!(!s.initial);
    assert_eq!(s.expires_at, db_now(&live.app) + Duration::days(180));
    // The flow is spent: its change form cannot be used again.
    let resp = post_form(
        &at.browser,
        &live.base,
        "/pin/change",
        &change,
        &[("new_pin", "H4K8N2P6"), ("confirm_pin", "H4K8N2P6")],
    )
    .await;
    assert_eq!(resp.status(), 400);

    // The 16-character PIN no longer works; the new one does, with no change asked.
    let at = fresh_page(&live, SCOPE).await;
    let (status, _, body) = pin_login(&live, &at, mario.as_str(), INITIAL_PIN).await;
    assert_eq!(status, 401, "{body}");
    let (status, headers, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    code_from(status, &headers, &body);
}

#[actix_web::test]
async fn a_personal_pin_must_be_changed_after_180_days() {
    let live = LiveApp::spawn().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;

    // On day 179 it still works as it is.
    live.app.clock.advance(Duration::days(179));
    let at = fresh_page(&live, SCOPE).await;
    let (status, headers, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    code_from(status, &headers, &body);

    // On day 181 the right PIN leads to the change form.
    live.app.clock.advance(Duration::days(2));
    let at = fresh_page(&live, SCOPE).await;
    let (status, headers, change) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    assert_eq!(status, 200, "{change}");
    assert!(headers.get("location").is_none());
    assert!(change.contains("Il tuo PIN è scaduto"), "{change}");
    // The same PIN again is refused.
    let resp = post_form(
        &at.browser,
        &live.base,
        "/pin/change",
        &change,
        &[("new_pin", PERSONAL_PIN), ("confirm_pin", PERSONAL_PIN)],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        error_text(&resp.text().await.unwrap()).as_deref(),
        Some("Il nuovo PIN deve essere diverso da quello attuale.")
    );
    // Also typed in lower case: PINs are case-insensitive.
    let lower = PERSONAL_PIN.to_lowercase();
    let resp = post_form(
        &at.browser,
        &live.base,
        "/pin/change",
        &change,
        &[("new_pin", &lower), ("confirm_pin", &lower)],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let resp = post_form(
        &at.browser,
        &live.base,
        "/pin/change",
        &change,
        &[("new_pin", "H4K8N2P6"), ("confirm_pin", "H4K8N2P6")],
    )
    .await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    code_from(status, &headers, &resp.text().await.unwrap());
    assert_eq!(
        credential_state(&live.app, &mario).await.expires_at,
        db_now(&live.app) + Duration::days(180)
    );
    let at = fresh_page(&live, SCOPE).await;
    let (status, _, _) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    assert_eq!(status, 401);
    let (status, headers, body) = pin_login(&live, &at, mario.as_str(), "H4K8N2P6").await;
    code_from(status, &headers, &body);
}

#[actix_web::test]
async fn an_initial_pin_never_used_for_180_days_is_deactivated() {
    let live = LiveApp::spawn().await;
    let mario = mario();
    add_person(&live.app, &mario, "Mario", "Rossi").await;
    give_pin(&live.app, &mario, INITIAL_PIN, PinType::Dispositivo, true).await;
    // Luigi uses his initial PIN once on the first day (and leaves before changing it).
    let luigi = CodiceFiscale::parse(&cf("BNCLGU90A01F205")).unwrap();
    add_person(&live.app, &luigi, "Luigi", "Bianchi").await;
    give_pin(&live.app, &luigi, INITIAL_PIN, PinType::Dispositivo, true).await;
    web_frontend(&live.app).await;
    let at = fresh_page(&live, SCOPE).await;
    let (status, _, body) = pin_login(&live, &at, luigi.as_str(), INITIAL_PIN).await;
    assert_eq!(status, 200, "{body}");

    live.app.clock.advance(Duration::days(181));
    let at = fresh_page(&live, SCOPE).await;
    let (status, headers, body) = pin_login(&live, &at, mario.as_str(), INITIAL_PIN).await;
    assert_eq!(status, 403, "{body}");
    assert!(headers.get("location").is_none());
    let message = error_text(&body).unwrap();
    assert!(message.contains("disattivato"), "{message}");
    assert!(!body.contains("action=\"/pin/change?"));
    // Luigi's was used, so it is only expired: the change form.
    let (status, _, body) = pin_login(&live, &at, luigi.as_str(), INITIAL_PIN).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("action=\"/pin/change?"), "{body}");
}

// ---------------------------------------------------------------------------------------
// Levels, audit, cookies

/// Logs Mario in with a PIN of `pin_type` asking for inps:apply; returns the token response.
async fn tokens_for(pin_type: PinType) -> serde_json::Value {
    let live = LiveApp::spawn().await;
    let mario = mario_with_pin(&live.app, pin_type).await;
    let (client_id, secret) = web_frontend(&live.app).await;
    let at = fresh_page(&live, "openid inps:read inps:apply").await;
    let (status, headers, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    let code = code_from(status, &headers, &body);
    let resp = reqwest::Client::new()
        .post(format!("{}/token", live.base))
        .basic_auth(&client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &at.verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn scopes(tokens: &serde_json::Value) -> Vec<String> {
    let mut s: Vec<String> = tokens["scope"]
        .as_str()
        .unwrap_or_else(|| panic!("no scope: {tokens}"))
        .split(' ')
        .map(str::to_owned)
        .collect();
    s.sort();
    s
}

#[actix_web::test]
async fn a_pin_ordinario_cannot_obtain_inps_apply() {
    let tokens = tokens_for(PinType::Ordinario).await;
    assert_eq!(scopes(&tokens), ["inps:read", "openid"]);
    let acr = "https://procura.inps.it/acr/pin-ordinario";
    let access = jwt_payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["acr"], acr, "{access}");
    assert_eq!(access["scope"], tokens["scope"]);
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], acr, "{id}");
}

#[actix_web::test]
async fn a_pin_dispositivo_keeps_inps_apply() {
    let tokens = tokens_for(PinType::Dispositivo).await;
    assert_eq!(scopes(&tokens), ["inps:apply", "inps:read", "openid"]);
    let acr = "https://procura.inps.it/acr/pin-dispositivo";
    let access = jwt_payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["acr"], acr, "{access}");
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], acr, "{id}");
}

#[actix_web::test]
async fn logins_failures_and_locks_are_audited_without_the_pin() {
    let live = live_raised_limit().await;
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;
    let person = format!("person:{}", mario.as_str());

    let at = fresh_page(&live, SCOPE).await;
    let (status, headers, body) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    code_from(status, &headers, &body);
    let at = fresh_page(&live, SCOPE).await;
    let answers = wrong_pins(&live, &at, &mario, 1, 5).await;
    assert_eq!(answers[4].0, 403);
    let (status, _, _) = pin_login(&live, &at, mario.as_str(), PERSONAL_PIN).await;
    assert_eq!(status, 403);

    let rows = audit_rows(&live.app).await;
    let logins: Vec<&AuditRow> = rows.iter().filter(|r| r.0 == "pin.login").collect();
    let outcomes: Vec<&str> = logins.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "success", "failure", "failure", "failure", "failure", "failure", "denied"
        ]
    );
    // Success: the person acted; failures and denials: procura, about the person.
    assert_eq!(logins[0].2, person);
    assert!(
        logins[1..].iter().all(|r| r.2 == "system:procura"),
        "{logins:?}"
    );
    assert!(logins.iter().all(|r| r.3.as_deref() == Some(&*person)));
    let locked: Vec<&AuditRow> = rows.iter().filter(|r| r.0 == "pin.locked").collect();
    assert_eq!(locked.len(), 1, "{rows:?}");
    assert_eq!(locked[0].3.as_deref(), Some(&*person));

    // No record holds a PIN, in any case.
    let mut pins: Vec<String> = (1..=5).map(wrong_pin).collect();
    pins.push(PERSONAL_PIN.to_owned());
    for row in &rows {
        let text = format!("{} {} {:?} {:?}", row.0, row.2, row.3, row.4).to_uppercase();
        for pin in &pins {
            assert!(!text.contains(pin), "{pin} in {row:?}");
        }
    }
    // The details say why.
    let details: Vec<serde_json::Value> = logins
        .iter()
        .map(|r| serde_json::from_str(r.4.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(details[1]["reason"], "wrong_pin");
    assert_eq!(details[6]["reason"], "locked");
}

#[actix_web::test]
async fn the_session_cookie_is_httponly_lax_and_not_secure_over_http() {
    let live = LiveApp::spawn().await;
    assert!(live.base.starts_with("http://"));
    let mario = mario_with_pin(&live.app, PinType::Dispositivo).await;
    web_frontend(&live.app).await;
    let (auth, _) = authorization(&live.base, SCOPE);
    let browser = browser();
    let resp = browser.get(&auth).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let browser_cookie = set_cookie(resp.headers(), "procura_browser");
    let login_url = format!("{}{}", live.base, location(&resp));
    let page = browser
        .get(&login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = post_form(
        &browser,
        &live.base,
        "/pin/login",
        &page,
        &[("codice_fiscale", mario.as_str()), ("pin", PERSONAL_PIN)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let session_cookie = set_cookie(resp.headers(), "procura_session");
    for cookie in [&browser_cookie, &session_cookie] {
        let attributes: Vec<String> = cookie
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_lowercase())
            .collect();
        assert!(attributes.iter().any(|a| a == "httponly"), "{cookie}");
        assert!(attributes.iter().any(|a| a == "samesite=lax"), "{cookie}");
        assert!(attributes.iter().any(|a| a == "path=/"), "{cookie}");
        assert!(!attributes.iter().any(|a| a == "secure"), "{cookie}");
    }
    assert!(
        session_cookie.contains(&format!("Max-Age={}", live.app.config.session.max_age_secs)),
        "{session_cookie}"
    );
    // The value is an opaque token, not the codice fiscale.
    let value = session_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("procura_session=");
    assert!(value.len() >= 32, "{session_cookie}");
    assert!(!session_cookie.contains(mario.as_str()));
}

/// The raw `Set-Cookie` header that sets `name`.
fn set_cookie(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {headers:?}"))
}
