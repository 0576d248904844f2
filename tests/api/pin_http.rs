//! PIN issuance through HTTP, as citizens and operators meet it: a live server, operators
//! logged in through the broker with scope `operator`, the dispatcher writing the messages as
//! files (the embedded default), and the halves read back from the SMS text and the letter
//! PDF (with `pdftotext`) to log in.

use crate::auth_support::{Tokens, login_for_tokens, person_with_pin, token_client};
use crate::helpers::{AUDIT_KEY_HEX, blocking};
use crate::notify::pdftotext;
use crate::oidc_support::{LiveApp, add_person, mario};
use crate::persons_import::cf;
use diesel::prelude::*;
use procura::audit::Party;
use procura::db::schema::outbox_messages;
use procura::notify::dispatch::Dispatcher;
use procura::operator::{self, Acting, NewOperator};
use procura::person::CodiceFiscale;
use procura::pin::{PinLogin, PinType, credential};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

struct Setup {
    live: LiveApp,
    http: reqwest::Client,
}

async fn setup() -> Setup {
    let live =
        LiveApp::spawn_with(|c| c.issuance.online_requests_per_minute_per_address = 1000).await;
    Setup {
        live,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.live.base)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// An operator with `roles`, logged in through the broker; returns the access token.
    async fn operator(&self, first15: &str, roles: &[&str]) -> String {
        let app = &self.live.app;
        let code = person_with_pin(app, first15, PinType::Dispositivo).await;
        let new = NewOperator {
            codice_fiscale: code.as_str().to_owned(),
            display_name: format!("Operatore {first15}"),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            office: Some("Sede di Roma".into()),
        };
        app.with_db(move |c, key, now| {
            operator::add(c, key, &new, &Acting::new(Party::system()), now).unwrap()
        })
        .await;
        let client = token_client(app, &format!("console-{first15}"), "openid operator").await;
        login_for_tokens(&self.live, &client, &code, "openid operator")
            .await
            .access_token
    }

    /// A citizen with a personal PIN, logged in with `credentials:write`.
    async fn citizen(&self, code: &CodiceFiscale) -> Tokens {
        let app = &self.live.app;
        crate::oidc_support::give_pin(
            app,
            code,
            crate::oidc_support::PERSONAL_PIN,
            PinType::Dispositivo,
            false,
        )
        .await;
        let client = token_client(app, "myinps", "openid credentials:write").await;
        login_for_tokens(&self.live, &client, code, "openid credentials:write").await
    }

    async fn dispatch(&self) {
        let d = Dispatcher::from_state(&self.live.app.state).unwrap();
        let report = blocking(move || d.dispatch_due().unwrap()).await;
        assert_eq!(report.failed, 0, "{report:?}");
    }

    fn files(&self, channel: &str) -> Vec<PathBuf> {
        let dir = self.live.app.config.notify.files_dir.join(channel);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    async fn login(&self, code: &str, pin: &str) -> PinLogin {
        let s = &self.live.app.state;
        credential::authenticate(
            &s.db,
            &s.hasher,
            &s.audit_key,
            &s.config.pin,
            code,
            pin,
            self.live.app.clock_now(),
        )
        .await
        .unwrap()
    }
}

fn mario_form() -> Value {
    json!({
        "codice_fiscale": mario().as_str(),
        "given_name": "Mario",
        "family_name": "Rossi",
        "birth_date": "1985-12-10",
        "address": "Via Roma 1",
        "postal_code": "00100",
        "municipality": "Roma",
        "province": "RM",
        "mobile": "+39 333 1234567",
        "email": "mario.rossi@example.it",
        "first_half_channel": "sms",
    })
}

/// The half in an SMS text ("… del suo PIN (richiesta …) sono KGHRTMEB. …").
fn half_in_sms(path: &Path) -> String {
    half_in_sms_opt(path).unwrap_or_else(|| {
        panic!(
            "no half in the SMS: {}",
            std::fs::read_to_string(path).unwrap_or_default()
        )
    })
}

/// The spaced 8 characters of the letter ("Z X 9 8   Q W 7 6"), read with pdftotext.
fn half_in_letter(path: &Path) -> String {
    let text = pdftotext(path, &["-layout"]);
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| {
            w.len() == 8
                && w.iter()
                    .all(|c| c.len() == 1 && c.chars().all(|c| c.is_ascii_alphanumeric()))
        })
        .map(|w| w.concat())
        .unwrap_or_else(|| panic!("no half in the letter:\n{text}"))
}

#[actix_web::test]
async fn online_pass_the_sms_file_and_the_letter_pdf_hold_the_halves_that_log_in() {
    let s = setup().await;
    let code = mario();
    add_person(&s.live.app, &code, "Mario", "Rossi").await;
    let (status, body) = s.post("/v1/pin/requests", None, &mario_form()).await;
    assert_eq!(status, 201, "{body}");
    s.dispatch().await;

    let sms = s.files("sms");
    let letters = s.files("post");
    assert_eq!((sms.len(), letters.len()), (1, 1), "{sms:?} {letters:?}");
    let letter_text = pdftotext(&letters[0], &[]);
    assert!(
        letter_text.contains("VIA ROMA 1") || letter_text.contains("Via Roma 1"),
        "{letter_text}"
    );
    assert!(
        letter_text.contains(body["reference"].as_str().unwrap()),
        "{letter_text}"
    );
    let pin = format!("{}{}", half_in_sms(&sms[0]), half_in_letter(&letters[0]));
    assert_eq!(
        s.login(code.as_str(), &pin).await,
        PinLogin::Verified {
            pin_type: PinType::Ordinario,
            change_required: Some(procura::pin::ChangeReason::Initial),
        }
    );
    // Sent: the sealed halves are erased.
    let sealed: Vec<Option<Vec<u8>>> = s
        .live
        .app
        .with_db(|c, _, _| {
            outbox_messages::table
                .select(outbox_messages::sealed_secret)
                .load(c)
                .unwrap()
        })
        .await;
    assert!(sealed.iter().all(Option::is_none));
}

#[actix_web::test]
async fn online_fail_is_queued_then_claimed_validated_by_the_contact_centre_and_logs_in() {
    let s = setup().await;
    let code = mario();
    add_person(&s.live.app, &code, "Mario", "Rossi").await;
    let anna = s.operator("NNAVRD80A41H501", &["contact_center"]).await;
    let bruno = s.operator("BRNBNC75B01H501", &["contact_center"]).await;
    let desk_only = s.operator("SPRDSK70C01H501", &["sportello"]).await;

    let mut form = mario_form();
    form["address"] = json!("Via Milano 3");
    let (status, body) = s.post("/v1/pin/requests", None, &form).await;
    assert_eq!(status, 202, "{body}");

    // The queue, for the contact centre only.
    assert_eq!(s.get("/v1/operator/pin/queue", &desk_only).await.0, 403);
    let (status, queue) = s.get("/v1/operator/pin/queue?failure=address", &anna).await;
    assert_eq!(status, 200, "{queue}");
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["check_failures"], json!(["address"]));
    assert_eq!(items[0]["address"], "Via Milano 3");
    let id = items[0]["id"].as_str().unwrap().to_owned();
    let (_, none) = s
        .get("/v1/operator/pin/queue?failure=birth_date", &anna)
        .await;
    assert_eq!(none["items"], json!([]));
    assert_eq!(
        s.get("/v1/operator/pin/queue?failure=%25", &anna).await.0,
        400
    );
    // The minimums openapi.yaml declares are enforced, not quietly clamped.
    for query in ["offset=-1", "limit=0", "limit=201"] {
        let (status, p) = s
            .get(&format!("/v1/operator/pin/queue?{query}"), &anna)
            .await;
        assert_eq!(status, 400, "{query}: {p}");
        assert_eq!(p["type"], "https://procura.inps.it/problems/invalid-query");
    }

    // Anna claims it; Bruno cannot, nor record an outcome.
    let claim = format!("/v1/operator/pin/requests/{id}/claim");
    let (status, claimed) = s.post(&claim, Some(&anna), &json!({})).await;
    assert_eq!(status, 200, "{claimed}");
    assert!(claimed["claimed_by"].is_string());
    let (status, p) = s.post(&claim, Some(&bruno), &json!({})).await;
    assert_eq!(
        (status, p["type"].as_str()),
        (
            409,
            Some("https://procura.inps.it/problems/pin-request-claimed")
        )
    );
    let outcome = format!("/v1/operator/pin/requests/{id}/outcome");
    let (status, _) = s
        .post(&outcome, Some(&bruno), &json!({"outcome": "validated"}))
        .await;
    assert_eq!(status, 409);
    let (status, _) = s
        .post(&outcome, Some(&anna), &json!({"outcome": "maybe"}))
        .await;
    assert_eq!(status, 422);

    let (status, done) = s
        .post(&outcome, Some(&anna), &json!({"outcome": "validated"}))
        .await;
    assert_eq!(status, 200, "{done}");
    let first_half = done["first_half"].as_str().unwrap().to_owned();
    s.dispatch().await;
    let sms = s.files("sms");
    // The call-back notice and the first half went by SMS; the half read on the phone is the sent one.
    assert!(
        sms.iter()
            .any(|p| half_in_sms_opt(p).as_deref() == Some(first_half.as_str()))
    );
    let pin = format!("{first_half}{}", half_in_letter(&s.files("post")[0]));
    assert!(matches!(
        s.login(code.as_str(), &pin).await,
        PinLogin::Verified { .. }
    ));
    let (status, shown) = s
        .get(&format!("/v1/operator/pin/requests/{id}"), &anna)
        .await;
    assert_eq!((status, shown["status"].as_str()), (200, Some("issued")));

    // Every operator step, reads included, is audited with the operator as actor.
    let audited: Vec<(String, String)> = s
        .live
        .app
        .with_db(|c, _, _| {
            use procura::db::schema::audit_log;
            audit_log::table
                .filter(audit_log::actor.like("operator:%"))
                .select((audit_log::actor, audit_log::action))
                .order(audit_log::seq.asc())
                .load(c)
                .unwrap()
        })
        .await;
    let actions: Vec<&str> = audited.iter().map(|(_, a)| a.as_str()).collect();
    for a in [
        "pin.queue.listed",
        "pin.request.claimed",
        "pin.request.validated",
        "pin.issued",
        "pin.request.viewed",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
}

fn half_in_sms_opt(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let after = text.split(" sono ").nth(1)?;
    let half: String = after.chars().take(8).collect();
    (half.len() == 8 && half.chars().all(|c| c.is_ascii_alphanumeric())).then_some(half)
}

#[actix_web::test]
async fn the_contact_centre_takes_an_inbound_request_and_issues_on_the_spot() {
    let s = setup().await;
    let code = mario();
    add_person(&s.live.app, &code, "Mario", "Rossi").await;
    let anna = s.operator("NNAVRD80A41H501", &["contact_center"]).await;
    let (status, body) = s
        .post("/v1/operator/pin/inbound", Some(&anna), &mario_form())
        .await;
    assert_eq!(status, 201, "{body}");
    let first_half = body["first_half"].as_str().unwrap().to_owned();
    s.dispatch().await;
    let pin = format!("{first_half}{}", half_in_letter(&s.files("post")[0]));
    assert!(matches!(
        s.login(code.as_str(), &pin).await,
        PinLogin::Verified { .. }
    ));

    // Data that do not match: the queue path.
    let other = CodiceFiscale::parse(&cf("VRDLCU90A41H501")).unwrap();
    add_person(&s.live.app, &other, "Lucia", "Verdi").await;
    let mut form = mario_form();
    form["codice_fiscale"] = json!(other.as_str());
    form["given_name"] = json!("Lucia");
    form["family_name"] = json!("Verdi");
    form["birth_date"] = json!("1990-01-01");
    form["address"] = json!("Via Napoli 9");
    let (status, body) = s.post("/v1/operator/pin/inbound", Some(&anna), &form).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("queued")),
        "{body}"
    );
    assert!(body.get("first_half").is_none());
}

/// A multipart body with a JSON part and files.
fn multipart(json: &Value, files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "procura-test-boundary-7KQ2MX9T";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"request\"\r\nContent-Type: application/json\r\n\r\n{json}\r\n").as_bytes());
    for (name, filename, bytes) in files {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 0xFF, 0xD9,
];

#[actix_web::test]
async fn the_desk_issues_a_whole_pin_with_a_printable_envelope() {
    let s = setup().await;
    let code = mario();
    add_person(&s.live.app, &code, "Mario", "Rossi").await;
    let desk = s.operator("SPRDSK70C01H501", &["sportello"]).await;
    let cc = s.operator("NNAVRD80A41H501", &["contact_center"]).await;
    let send = |token: String, content_type: String, body: Vec<u8>| {
        let (http, url) = (s.http.clone(), s.url("/v1/operator/pin/desk"));
        async move {
            let resp = http
                .post(url)
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let no_store = resp
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, no_store, resp.json::<Value>().await.unwrap())
        }
    };
    let request = json!({ "codice_fiscale": code.as_str() });

    // Role first: the contact centre cannot issue at the desk.
    let (ct, body) = multipart(
        &request,
        &[("mv35", "mv35.pdf", PDF), ("id_document", "ci.jpg", JPEG)],
    );
    assert_eq!(send(cc.clone(), ct, body).await.0, 403);
    // A file that is not what it claims.
    let (ct, body) = multipart(
        &request,
        &[
            ("mv35", "mv35.pdf", b"MZ\x90\x00 not a pdf"),
            ("id_document", "ci.jpg", JPEG),
        ],
    );
    let (status, _, p) = send(desk.clone(), ct, body).await;
    assert_eq!(
        (status, p["type"].as_str()),
        (
            422,
            Some("https://procura.inps.it/problems/document-rejected")
        ),
        "{p}"
    );
    // A missing ID scan.
    let (ct, body) = multipart(&request, &[("mv35", "mv35.pdf", PDF)]);
    let (status, _, p) = send(desk.clone(), ct, body).await;
    assert_eq!(
        (status, p["document"].as_str()),
        (422, Some("id_document")),
        "{p}"
    );
    // Too large (over document_max_bytes, 3 MiB): cut off while streaming.
    let mut big = PDF.to_vec();
    big.resize(3 * 1024 * 1024 + 10, b' ');
    let (ct, body) = multipart(
        &request,
        &[("mv35", "mv35.pdf", &big), ("id_document", "ci.jpg", JPEG)],
    );
    let (status, _, p) = send(desk.clone(), ct, body).await;
    assert_eq!(
        (status, p["type"].as_str()),
        (
            422,
            Some("https://procura.inps.it/problems/document-rejected")
        ),
        "{p}"
    );
    // A delegate at the desk.
    let as_delegate = json!({ "codice_fiscale": code.as_str(), "requester": { "codice_fiscale": cf("VRDGPP60A01H501"), "role": "delegato" } });
    let (ct, body) = multipart(
        &as_delegate,
        &[("mv35", "mv35.pdf", PDF), ("id_document", "ci.jpg", JPEG)],
    );
    let (status, _, p) = send(desk.clone(), ct, body).await;
    assert_eq!(
        (status, p["refusal"].as_str()),
        (403, Some("third_party")),
        "{p}"
    );

    let (ct, body) = multipart(
        &request,
        &[("mv35", "mv35.pdf", PDF), ("id_document", "ci.jpg", JPEG)],
    );
    let (status, no_store, issued) = send(desk.clone(), ct, body).await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(no_store.as_deref(), Some("no-store"));
    let pin = issued["pin"].as_str().unwrap();
    assert_eq!(issued["pin_type"], "dispositivo");
    assert_eq!(
        s.login(code.as_str(), pin).await,
        PinLogin::Verified {
            pin_type: PinType::Dispositivo,
            change_required: Some(procura::pin::ChangeReason::Initial)
        }
    );
    // The envelope renders and holds the PIN, spaced.
    use base64::Engine;
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(issued["envelope_pdf"].as_str().unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busta.pdf");
    std::fs::write(&path, pdf).unwrap();
    let text = pdftotext(&path, &[]);
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(compact.contains(pin), "{text}");
    assert!(
        text.contains("Mario Rossi") && text.contains("dispositivo"),
        "{text}"
    );
}

#[actix_web::test]
async fn recovery_revocation_and_the_phone_pin_through_http() {
    let s = setup().await;
    let code = mario();
    add_person(&s.live.app, &code, "Mario", "Rossi").await;
    let anna = s.operator("NNAVRD80A41H501", &["contact_center"]).await;

    // Recovery: one contact is a 422; two that do not match get the same answer as a match.
    let (status, p) = s
        .post(
            "/v1/pin/recovery",
            None,
            &json!({"codice_fiscale": code.as_str(), "mobile": "3331234567"}),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    let (status, body) = s
        .post("/v1/pin/recovery", None, &json!({"codice_fiscale": code.as_str(), "mobile": "3339999999", "email": "x@example.it"}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("Se i dati"));

    // A logged-in citizen creates a phone PIN; the contact centre checks it.
    let tokens = s.citizen(&code).await;
    let (status, created) = s
        .post(
            "/v1/me/phone-pin",
            Some(&tokens.access_token),
            &json!({"validity": "1w"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let phone_code = created["code"].as_str().unwrap();
    let (status, p) = s
        .post(
            "/v1/me/phone-pin",
            Some(&tokens.access_token),
            &json!({"validity": "2y"}),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    let check = |code_text: String| {
        let body = json!({"codice_fiscale": code.as_str(), "code": code_text});
        let anna = anna.clone();
        let s = &s;
        async move {
            s.post("/v1/operator/pin/phone-check", Some(&anna), &body)
                .await
        }
    };
    let (status, ok) = check(phone_code.to_owned()).await;
    assert_eq!((status, ok["valid"].as_bool()), (200, Some(true)), "{ok}");
    let (_, wrong) = check("00000000".into()).await;
    assert_eq!(wrong["valid"], false);
    // Only the contact centre checks phone PINs; a citizen token is refused.
    let (status, _) = s
        .post(
            "/v1/operator/pin/phone-check",
            Some(&tokens.access_token),
            &json!({"codice_fiscale": code.as_str(), "code": phone_code}),
        )
        .await;
    assert_eq!(status, 403);

    // The citizen revokes their PIN: gone at once; again is a 404.
    let (status, _) = s
        .post("/v1/me/pin/revoke", Some(&tokens.access_token), &json!({}))
        .await;
    assert_eq!(status, 204);
    assert!(matches!(
        s.login(code.as_str(), crate::oidc_support::PERSONAL_PIN)
            .await,
        PinLogin::Rejected { .. }
    ));
    let (status, _) = s
        .post("/v1/me/pin/revoke", Some(&tokens.access_token), &json!({}))
        .await;
    assert_eq!(status, 404);
    // Without a token: 401.
    let (status, _) = s.post("/v1/me/pin/revoke", None, &json!({})).await;
    assert_eq!(status, 401);

    // An operator revokes with a reason.
    crate::oidc_support::give_pin(
        &s.live.app,
        &code,
        crate::oidc_support::PERSONAL_PIN,
        PinType::Dispositivo,
        false,
    )
    .await;
    let (status, p) = s
        .post(
            "/v1/operator/pin/revoke",
            Some(&anna),
            &json!({"codice_fiscale": code.as_str(), "reason": ""}),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    let (status, _) = s
        .post("/v1/operator/pin/revoke", Some(&anna), &json!({"codice_fiscale": code.as_str(), "reason": "Smarrimento dichiarato al telefono"}))
        .await;
    assert_eq!(status, 204);
    assert!(matches!(
        s.login(code.as_str(), crate::oidc_support::PERSONAL_PIN)
            .await,
        PinLogin::Rejected { .. }
    ));
}

#[actix_web::test]
async fn no_half_appears_in_the_logs_or_the_database_file_of_a_real_server() {
    // A real `procura serve` logging at trace level, files delivery, on this test's database.
    let s = setup().await;
    let app = &s.live.app;
    let code = mario();
    add_person(app, &code, "Mario", "Rossi").await;
    app.clock.set(chrono::Utc::now());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let n = &app.config.notify;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_procura"))
        .arg("serve")
        .env("PROCURA_DATABASE__URL", app.database_url())
        .env(
            "PROCURA_KEYS__DIR",
            app.config.keys.dir.display().to_string(),
        )
        .env("PROCURA_AUDIT__HMAC_KEY", AUDIT_KEY_HEX)
        .env(
            "PROCURA_NOTIFY__FILES_DIR",
            n.files_dir.display().to_string(),
        )
        .env(
            "PROCURA_NOTIFY__PRINT_SPOOL_DIR",
            n.print_spool_dir.display().to_string(),
        )
        .env("PROCURA_NOTIFY__DISPATCH_INTERVAL_MS", "100")
        .env("PROCURA_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("PROCURA_LOG__FILTER", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
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
    let resp = http
        .post(format!("{base}/v1/pin/requests"))
        .json(&mario_form())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let mut sent = false;
    for _ in 0..100 {
        if s.files("sms").len() == 1 && s.files("post").len() == 1 {
            sent = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Let the dispatcher finish its bookkeeping, then stop the server.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
    let _ = child.kill();
    let out = blocking(move || child.wait_with_output().unwrap()).await;
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sent, "messages not dispatched:\n{logs}");
    let (first, second) = (
        half_in_sms(&s.files("sms")[0]),
        half_in_letter(&s.files("post")[0]),
    );
    assert!(
        logs.contains("PIN issued"),
        "the server logged nothing useful:\n{logs}"
    );
    assert!(logs.contains("RSSMRA*****"), "{logs}");
    for secret in [first.as_str(), second.as_str(), &format!("{first}{second}")] {
        assert!(!logs.contains(secret), "a half is in the logs");
    }
    assert!(
        !logs.contains(code.as_str()),
        "an unmasked codice fiscale is in the logs"
    );
    // The database: every text column of the outbox and the audit, and (SQLite) the raw files.
    let dump: String = app
        .with_db(|c, _, _| {
            let rows: Vec<(String, String, Option<Vec<u8>>, String)> = outbox_messages::table
                .select((
                    outbox_messages::params,
                    outbox_messages::status,
                    outbox_messages::sealed_secret,
                    outbox_messages::recipient,
                ))
                .load(c)
                .unwrap();
            let audit: Vec<Option<String>> = procura::db::schema::audit_log::table
                .select(procura::db::schema::audit_log::detail)
                .load(c)
                .unwrap();
            assert!(
                rows.iter().all(|r| r.1 == "sent" && r.2.is_none()),
                "{rows:?}"
            );
            format!("{rows:?}{audit:?}")
        })
        .await;
    assert!(!dump.contains(&first) && !dump.contains(&second));
    if let Some(path) = app.database_url().strip_prefix("sqlite://") {
        for file in [path.to_owned(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let raw = String::from_utf8_lossy(&bytes);
                assert!(
                    !raw.contains(&first) && !raw.contains(&second),
                    "a half is in {file}"
                );
            }
        }
    }
}
