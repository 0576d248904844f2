//! Notifications through real parts: a recording HTTP server as the SMS gateway, a real SMTP
//! server (Python's aiosmtpd) on loopback, `pdftotext` (poppler) reading the letters, and the
//! `procura notify dispatch --loop` binary killed mid-send.

use crate::helpers::{AUDIT_KEY_HEX, TestApp, blocking};
use diesel::prelude::*;
use procura::config::{Config, Delivery, Secret};
use procura::db::schema::outbox_messages as om;
use procura::notify::channel::{Outgoing, Sender, file_stem};
use procura::notify::{
    Channel, DispatchReport, Dispatcher, NewMessage, PostalAddress, Template, email, post,
    templates,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// A recording SMS gateway.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ok,
    /// Answer 503.
    Fail,
    /// Never answer the next request (hold it), then behave as `Ok`.
    HangOnce,
}

#[derive(Debug, Clone)]
struct Recorded {
    key: String,
    authorization: Option<String>,
    body: Value,
}

#[derive(Default)]
struct GatewayState {
    mode: Option<Mode>,
    requests: Vec<Recorded>,
    /// Deduplicated by Idempotency-Key, as a real gateway does: what reached a phone.
    delivered: Vec<String>,
}

struct Gateway {
    url: String,
    state: Arc<Mutex<GatewayState>>,
}

impl Gateway {
    fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/messages", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(GatewayState {
            mode: Some(mode),
            ..Default::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve_connection(stream, &shared));
            }
        });
        Self { url, state }
    }

    fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    fn delivered(&self) -> Vec<String> {
        self.state.lock().unwrap().delivered.clone()
    }
}

fn serve_connection(stream: TcpStream, state: &Mutex<GatewayState>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut headers = HashMap::new();
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let key = headers.get("idempotency-key").cloned().unwrap_or_default();
        let mode = {
            let mut s = state.lock().unwrap();
            s.requests.push(Recorded {
                key: key.clone(),
                authorization: headers.get("authorization").cloned(),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            let mode = s.mode.unwrap_or(Mode::Ok);
            if mode != Mode::Fail && !s.delivered.contains(&key) {
                s.delivered.push(key.clone());
            }
            if mode == Mode::HangOnce {
                s.mode = Some(Mode::Ok);
            }
            mode
        };
        match mode {
            Mode::Ok => {
                let _ = out.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}",
                );
            }
            Mode::Fail => {
                let _ =
                    out.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
            }
            Mode::HangOnce => {
                // Hold the request unanswered until the client goes away.
                let mut buf = [0_u8; 1];
                let _ = reader.read(&mut buf);
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// A real SMTP server: aiosmtpd, storing what it receives in a Maildir.

struct Smtpd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Smtpd {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run python3 ({e}): the e-mail tests need python3 with aiosmtpd; run scripts/deps.sh")
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!(
                    "aiosmtpd did not start ({status}): {err}\nthe e-mail tests need Python's aiosmtpd; run scripts/deps.sh"
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen in time");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, dir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received, raw.
    fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// pdftotext.

pub fn pdftotext(pdf: &Path, args: &[&str]) -> String {
    let out = Command::new("pdftotext")
        .args(args)
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run pdftotext ({e}): install poppler-utils (scripts/deps.sh)")
        });
    assert!(
        out.status.success(),
        "pdftotext could not read {}: {}",
        pdf.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn without_spaces(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

// ---------------------------------------------------------------------------------------
// Messages and the outbox.

const REFERENCE: &str = "PR-2026-000042";

fn address() -> PostalAddress {
    PostalAddress {
        name: "Mario Rossi".into(),
        street: "Via Giuseppe Verdi 12".into(),
        postal_code: "20121".into(),
        municipality: "Milano".into(),
        province: "mi".into(),
    }
}

fn message(key: &str, channel: Channel, recipient: &str, half: Option<&str>) -> NewMessage {
    let template = match (channel, half) {
        (Channel::Post, _) => Template::PinSecondHalf,
        (_, Some(_)) => Template::PinFirstHalf,
        (_, None) => Template::PinRequestCallback,
    };
    NewMessage {
        idempotency_key: key.into(),
        channel,
        recipient: recipient.into(),
        template,
        params: json!({
            "reference": REFERENCE,
            "given_name": "Mario",
            "address": address(),
        }),
        secret: half.map(str::to_owned),
        source_ref: Some("req-1".into()),
    }
}

async fn enqueue(app: &TestApp, msgs: Vec<NewMessage>) {
    let key = app.state.outbox_key.clone();
    app.with_db(move |c, _, now| {
        c.write_transaction(|c| {
            for m in msgs {
                procura::notify::enqueue(c, &key, m, now)?;
            }
            Ok::<_, procura::notify::EnqueueError>(())
        })
        .unwrap()
    })
    .await
}

async fn dispatch(app: &TestApp) -> DispatchReport {
    let d = Dispatcher::from_state(&app.state).unwrap();
    blocking(move || d.dispatch_due().unwrap()).await
}

#[derive(Debug, Queryable)]
struct Row {
    idempotency_key: String,
    status: String,
    attempts: i64,
    sealed_secret: Option<Vec<u8>>,
    last_error: Option<String>,
    next_attempt_at: chrono::NaiveDateTime,
    claimed_until: Option<chrono::NaiveDateTime>,
    sent_at: Option<chrono::NaiveDateTime>,
}

async fn rows(app: &TestApp) -> Vec<Row> {
    app.with_db(|c, _, _| {
        om::table
            .select((
                om::idempotency_key,
                om::status,
                om::attempts,
                om::sealed_secret,
                om::last_error,
                om::next_attempt_at,
                om::claimed_until,
                om::sent_at,
            ))
            .order(om::idempotency_key.asc())
            .load::<Row>(c)
            .unwrap()
    })
    .await
}

async fn row(app: &TestApp, key: &str) -> Row {
    rows(app)
        .await
        .into_iter()
        .find(|r| r.idempotency_key == key)
        .unwrap()
}

fn live(config: &mut Config, gateway: Option<&Gateway>, smtp: Option<&Smtpd>) {
    let n = &mut config.notify;
    n.delivery = Delivery::Live;
    n.sms_gateway_url = gateway.map(|g| g.url.clone());
    n.sms_gateway_token = Some(Secret::from("gw-token-123"));
    n.smtp_url = smtp.map(|s| Secret(s.url()));
    n.pec_smtp_url = smtp.map(|s| Secret(s.url()));
    n.send_timeout_secs = 5;
}

// ---------------------------------------------------------------------------------------
// Each channel delivers.

#[actix_web::test]
async fn notify_sms_goes_to_the_gateway_with_its_idempotency_key_and_token() {
    let gw = Gateway::start(Mode::Ok);
    let app = TestApp::spawn_with(|c| live(c, Some(&gw), None)).await;
    enqueue(
        &app,
        vec![message(
            "pin:1:first",
            Channel::Sms,
            "+393331234567",
            Some("K7QM2XHT"),
        )],
    )
    .await;

    let report = dispatch(&app).await;
    assert_eq!((report.claimed, report.sent), (1, 1), "{report:?}");
    let reqs = gw.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.key, "pin:1:first");
    assert_eq!(r.authorization.as_deref(), Some("Bearer gw-token-123"));
    assert_eq!(r.body["to"], "+393331234567");
    assert_eq!(r.body["sender"], "INPS");
    let text = r.body["text"].as_str().unwrap();
    assert!(
        text.contains("K7QM2XHT") && text.contains(REFERENCE),
        "{text}"
    );
    assert!(text.contains("caratteri"), "Italian text: {text}");

    let row = row(&app, "pin:1:first").await;
    assert_eq!(row.status, "sent");
    assert_eq!(row.attempts, 1);
    assert!(
        row.sealed_secret.is_none(),
        "the sealed half is erased once sent"
    );
    assert!(row.sent_at.is_some() && row.claimed_until.is_none());

    // Nothing is due any more.
    assert_eq!(dispatch(&app).await, DispatchReport::default());
    assert_eq!(gw.requests().len(), 1);
}

#[actix_web::test]
async fn notify_email_and_pec_reach_a_real_smtp_server() {
    let smtp = Smtpd::start();
    let app = TestApp::spawn_with(|c| live(c, None, Some(&smtp))).await;
    enqueue(
        &app,
        vec![
            message(
                "pin:2:first",
                Channel::Email,
                "mario.rossi@example.it",
                Some("AB12CD34"),
            ),
            message(
                "pin:3:callback",
                Channel::Pec,
                "mario.rossi@pec.example.it",
                None,
            ),
        ],
    )
    .await;
    let report = dispatch(&app).await;
    assert_eq!(report.sent, 2, "{report:?} {:?}", rows(&app).await);

    let mails = smtp.messages();
    assert_eq!(mails.len(), 2);
    let from_email: lettre::message::Mailbox = app.config.notify.email_from.parse().unwrap();
    let from_pec: lettre::message::Mailbox = app.config.notify.pec_from.parse().unwrap();
    let mail = mails
        .iter()
        .find(|m| m.contains("To: mario.rossi@example.it"))
        .unwrap();
    let id = email::message_id("pin:2:first", &from_email);
    assert!(mail.contains(&format!("Message-ID: {id}")), "{mail}");
    assert!(mail.contains("From: INPS <noreply@inps.it>"), "{mail}");
    assert!(mail.contains(&format!(
        "Subject: INPS - Prima parte del PIN (richiesta {REFERENCE})"
    )));
    let body = mail.replace("=\r\n", "").replace("=\n", "");
    assert!(body.contains("AB12CD34"), "{mail}");
    assert!(body.contains("Gentile Mario,"), "{mail}");

    let pec = mails
        .iter()
        .find(|m| m.contains("To: mario.rossi@pec.example.it"))
        .unwrap();
    assert!(pec.contains(&email::message_id("pin:3:callback", &from_pec)));
    assert!(
        pec.contains("From: INPS <pin@postacert.inps.gov.it>"),
        "{pec}"
    );
    assert!(pec.contains("Contact Center"), "{pec}");
}

#[actix_web::test]
async fn notify_post_spools_a_letter_that_renders_with_the_address_in_the_window() {
    let app = TestApp::spawn_with(|c| live(c, None, None)).await;
    enqueue(
        &app,
        vec![message(
            "pin:4:second",
            Channel::Post,
            "Mario Rossi",
            Some("ZX98QW76"),
        )],
    )
    .await;
    assert_eq!(dispatch(&app).await.sent, 1);

    let spool = app.config.notify.print_spool_dir.clone();
    let pdf = spool.join(format!("{}.pdf", file_stem("pin:4:second")));
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-1.4"));
    let text = pdftotext(&pdf, &["-layout"]);
    for needle in [
        "INPS",
        "Mario Rossi",
        "Via Giuseppe Verdi 12",
        "20121 MILANO MI",
        "Gentile Mario Rossi,",
        "seconda parte del suo PIN",
        "Riferimento della richiesta: PR-2026-000042",
        "Roma, 22 novembre 2026",
    ] {
        assert!(text.contains(needle), "letter lacks {needle:?}:\n{text}");
    }
    // Accents survive (WinAnsiEncoding).
    assert!(text.contains("sarà chiesto"), "{text}");
    // The half, spaced for reading, is there.
    assert!(text.contains("Z X 9 8"), "{text}");
    assert!(without_spaces(&text).contains("ZX98QW76"));

    // The addressee's name sits in the envelope window (110 mm from the left, 50 mm from
    // the top: 311.8 pt and 141.7 pt; the window is about 90 × 45 mm).
    let bbox = pdftotext(&pdf, &["-bbox"]);
    let mm = 72.0 / 25.4;
    let word = bbox
        .lines()
        .find(|l| l.contains(">Mario</word>"))
        .unwrap_or_else(|| panic!("no word Mario in {bbox}"));
    let attr = |name: &str| -> f64 {
        let start = word.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        word[start..].split('"').next().unwrap().parse().unwrap()
    };
    let (x, y) = (attr("xMin") / mm, attr("yMin") / mm);
    assert!((109.0..=115.0).contains(&x), "name at x = {x} mm");
    assert!((50.0..=90.0).contains(&y), "name at y = {y} mm");

    // The manifest names the letter, with its checksum, and never the half.
    let manifest = std::fs::read_to_string(spool.join(post::MANIFEST)).unwrap();
    assert_eq!(manifest.lines().count(), 1);
    let entry: post::ManifestEntry = serde_json::from_str(manifest.trim()).unwrap();
    assert_eq!(entry.file, pdf.file_name().unwrap().to_string_lossy());
    assert_eq!(entry.postal_code, "20121");
    assert_eq!(entry.reference.as_deref(), Some(REFERENCE));
    use sha2::Digest;
    assert_eq!(entry.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    assert!(!manifest.contains("ZX98QW76"));

    // A resend of the same key (a crash before bookkeeping) changes nothing.
    let content = templates::render(
        Template::PinSecondHalf,
        &json!({"reference": REFERENCE, "address": address()}),
        Some("ZX98QW76"),
    )
    .unwrap();
    let spool_sender = post::PrintSpool::new(&spool);
    let later = app.clock_now() + chrono::Duration::days(1);
    spool_sender
        .send(&Outgoing {
            message_id: "m",
            idempotency_key: "pin:4:second",
            channel: Channel::Post,
            recipient: "Mario Rossi",
            content: &content,
            now: later,
        })
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(spool.join(post::MANIFEST)).unwrap(),
        manifest
    );
    assert_eq!(std::fs::read(&pdf).unwrap(), bytes);
    let files = std::fs::read_dir(&spool).unwrap().count();
    assert_eq!(
        files, 2,
        "only the letter and the manifest, no temporary files"
    );
}

#[actix_web::test]
async fn notify_files_delivery_writes_the_sms_text_the_email_and_the_letter_pdf() {
    let app = TestApp::spawn().await;
    assert_eq!(app.config.notify.delivery, Delivery::Files);
    enqueue(
        &app,
        vec![
            message(
                "pin:5:first",
                Channel::Sms,
                "+393331234567",
                Some("QQ11WW22"),
            ),
            message(
                "pin:5:email",
                Channel::Email,
                "mario@example.it",
                Some("EE33RR44"),
            ),
            message(
                "pin:5:second",
                Channel::Post,
                "Mario Rossi",
                Some("TT55YY66"),
            ),
        ],
    )
    .await;
    assert_eq!(dispatch(&app).await.sent, 3);

    let dir: PathBuf = app.config.notify.files_dir.clone();
    let sms = std::fs::read_to_string(
        dir.join("sms")
            .join(format!("{}.txt", file_stem("pin:5:first"))),
    )
    .unwrap();
    assert!(
        sms.contains("To: +393331234567") && sms.contains("QQ11WW22"),
        "{sms}"
    );
    let eml = std::fs::read_to_string(
        dir.join("email")
            .join(format!("{}.eml", file_stem("pin:5:email"))),
    )
    .unwrap();
    assert!(eml.contains("Message-ID: <notify."), "{eml}");
    assert!(eml.replace("=\r\n", "").contains("EE33RR44"), "{eml}");
    let pdf = dir
        .join("post")
        .join(format!("{}.pdf", file_stem("pin:5:second")));
    let text = pdftotext(&pdf, &["-layout"]);
    assert!(text.contains("20121 MILANO MI"), "{text}");
    assert!(without_spaces(&text).contains("TT55YY66"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Retries, secrets, concurrency, crashes.

#[actix_web::test]
async fn notify_gateway_failures_are_retried_with_backoff_then_marked_failed() {
    let gw = Gateway::start(Mode::Fail);
    let app = TestApp::spawn_with(|c| {
        live(c, Some(&gw), None);
        c.notify.max_attempts = 4;
        c.notify.backoff_base_secs = 30;
        c.notify.backoff_max_secs = 50;
    })
    .await;
    let start = app.clock_now().naive_utc();
    enqueue(
        &app,
        vec![message(
            "pin:6:first",
            Channel::Sms,
            "+393330000006",
            Some("FA11ED22"),
        )],
    )
    .await;

    let r = dispatch(&app).await;
    assert_eq!((r.claimed, r.retried), (1, 1), "{r:?}");
    let m = row(&app, "pin:6:first").await;
    assert_eq!((m.status.as_str(), m.attempts), ("pending", 1));
    assert_eq!(m.next_attempt_at, start + chrono::Duration::seconds(30));
    assert!(m.last_error.as_deref().unwrap().contains("503"), "{m:?}");
    assert!(m.sealed_secret.is_some() && m.claimed_until.is_none());

    // Not before the backoff has passed.
    app.clock.advance(chrono::Duration::seconds(29));
    assert_eq!(dispatch(&app).await.claimed, 0);
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(dispatch(&app).await.retried, 1);
    // Doubled (60 s), capped at backoff_max_secs (50 s).
    let m = row(&app, "pin:6:first").await;
    assert_eq!(m.attempts, 2);
    assert_eq!(
        m.next_attempt_at,
        start + chrono::Duration::seconds(30 + 50)
    );
    app.clock.advance(chrono::Duration::seconds(50));
    assert_eq!(dispatch(&app).await.retried, 1);
    app.clock.advance(chrono::Duration::seconds(50));
    let r = dispatch(&app).await;
    assert_eq!(r.failed, 1, "{r:?}");
    let m = row(&app, "pin:6:first").await;
    assert_eq!((m.status.as_str(), m.attempts), ("failed", 4));
    assert!(m.sealed_secret.is_none(), "a failed message keeps no half");
    assert!(!m.last_error.unwrap().contains("FA11ED22"));
    assert_eq!(gw.requests().len(), 4);
    assert!(gw.requests().iter().all(|r| r.key == "pin:6:first"));

    // A gateway that recovers: the retry goes through.
    enqueue(
        &app,
        vec![message(
            "pin:7:first",
            Channel::Sms,
            "+393330000007",
            Some("RE11CO22"),
        )],
    )
    .await;
    assert_eq!(dispatch(&app).await.retried, 1);
    gw.set_mode(Mode::Ok);
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(dispatch(&app).await.sent, 1);
    let m = row(&app, "pin:7:first").await;
    assert_eq!((m.status.as_str(), m.attempts), ("sent", 2));
    assert!(m.last_error.is_none() && m.sealed_secret.is_none());
}

/// The environment that makes the `procura` binary use the test app's database, keys and
/// notification settings.
fn child_env(app: &TestApp, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let n = &app.config.notify;
    let mut env = vec![
        (
            "PROCURA_DATABASE__URL".into(),
            app.database_url().to_owned(),
        ),
        (
            "PROCURA_KEYS__DIR".into(),
            app.config.keys.dir.display().to_string(),
        ),
        ("PROCURA_AUDIT__HMAC_KEY".into(), AUDIT_KEY_HEX.into()),
        (
            "PROCURA_NOTIFY__FILES_DIR".into(),
            n.files_dir.display().to_string(),
        ),
        (
            "PROCURA_NOTIFY__PRINT_SPOOL_DIR".into(),
            n.print_spool_dir.display().to_string(),
        ),
        ("PROCURA_NOTIFY__SEND_TIMEOUT_SECS".into(), "5".into()),
    ];
    if n.delivery == Delivery::Live {
        env.push(("PROCURA_NOTIFY__DELIVERY".into(), "live".into()));
        env.push((
            "PROCURA_NOTIFY__SMS_GATEWAY_TOKEN".into(),
            "gw-token-123".into(),
        ));
        for (name, value) in [
            ("SMS_GATEWAY_URL", n.sms_gateway_url.clone()),
            (
                "SMTP_URL",
                n.smtp_url.as_ref().map(|s| s.expose().to_owned()),
            ),
            (
                "PEC_SMTP_URL",
                n.pec_smtp_url.as_ref().map(|s| s.expose().to_owned()),
            ),
        ] {
            if let Some(v) = value {
                env.push((format!("PROCURA_NOTIFY__{name}"), v));
            }
        }
    }
    for (k, v) in extra {
        env.push(((*k).to_owned(), v.clone()));
    }
    env
}

fn procura_command(args: &[&str], env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_procura"));
    cmd.args(args).env("PROCURA_LOG__FILTER", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

type TextColumns = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

#[actix_web::test]
async fn notify_the_half_never_appears_in_the_database_or_the_logs() {
    let gw = Gateway::start(Mode::Ok);
    let smtp = Smtpd::start();
    let app = TestApp::spawn_with(|c| live(c, Some(&gw), Some(&smtp))).await;
    // The binary runs on the system clock: enqueue at that time, so the messages are due.
    app.clock.set(chrono::Utc::now());
    let halves = ["HA11LF01", "HA22LF02", "HA33LF03", "HA44LF04", "HA55LF05"];
    enqueue(
        &app,
        vec![
            message("s:1", Channel::Sms, "+393330000001", Some(halves[0])),
            message("s:2", Channel::Email, "mario@example.it", Some(halves[1])),
            message("s:3", Channel::Pec, "mario@pec.example.it", Some(halves[2])),
            message("s:4", Channel::Post, "Mario Rossi", Some(halves[3])),
            // Refused for good (no valid address): the failure path logs too.
            message("s:5", Channel::Email, "not an address", Some(halves[4])),
        ],
    )
    .await;

    // Sealed before dispatch already: no half in clear in any row.
    let before = format!("{:?}", rows(&app).await);
    assert!(halves.iter().all(|h| !before.contains(h)));

    // One round by the binary, logging everything it can.
    let env = child_env(&app, &[]);
    let out = blocking(move || {
        procura_command(&["notify", "dispatch"], &env)
            .env("PROCURA_LOG__FILTER", "trace")
            .output()
            .unwrap()
    })
    .await;
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{logs}");
    assert!(
        logs.contains("claimed 5, sent 4, to retry 0, failed 1"),
        "{logs}"
    );
    assert!(
        logs.contains("message handed over"),
        "logs were captured: {logs}"
    );
    assert!(logs.contains("FAILED for good"), "{logs}");
    for h in halves {
        assert!(!logs.contains(h), "half {h} in the logs:\n{logs}");
    }
    // Nor the gateway token, nor wire dumps (which would carry both, hex-encoded).
    assert!(!logs.contains("gw-token-123"), "{logs}");
    assert!(
        !logs.contains("ureq_proto::util"),
        "wire dump in the logs:\n{logs}"
    );
    // The messages did carry them.
    assert!(
        gw.requests()[0].body["text"]
            .as_str()
            .unwrap()
            .contains(halves[0])
    );

    let after = rows(&app).await;
    assert!(after.iter().all(|r| r.sealed_secret.is_none()), "{after:?}");
    let dump = format!("{after:?}");
    for h in halves {
        assert!(!dump.contains(h), "half {h} in the rows: {dump}");
    }
    // Every column of every row, as the database returns it.
    let all: Vec<TextColumns> = app
        .with_db(|c, _, _| {
            om::table
                .select((
                    om::id,
                    om::idempotency_key,
                    om::channel,
                    om::recipient,
                    om::template,
                    om::params,
                    om::last_error,
                    om::source_ref,
                ))
                .load(c)
                .unwrap()
        })
        .await;
    let all = format!("{all:?}");
    assert!(halves.iter().all(|h| !all.contains(h)), "{all}");
    // SQLite: the database file itself (and its WAL), byte for byte.
    if let Some(path) = app.database_url().strip_prefix("sqlite://") {
        for file in [path.to_owned(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                for h in halves {
                    assert!(
                        !bytes.windows(h.len()).any(|w| w == h.as_bytes()),
                        "half {h} in {file}"
                    );
                }
            }
        }
    }
}

#[actix_web::test]
async fn notify_concurrent_dispatchers_never_send_a_message_twice() {
    let gw = Gateway::start(Mode::Ok);
    let app = TestApp::spawn_with(|c| {
        live(c, Some(&gw), None);
        c.notify.batch_size = 4;
    })
    .await;
    let keys: Vec<String> = (0..30).map(|i| format!("c:{i}")).collect();
    enqueue(
        &app,
        keys.iter()
            .enumerate()
            .map(|(i, k)| message(k, Channel::Sms, &format!("+39333{i:07}"), Some("CC00CC00")))
            .collect(),
    )
    .await;

    let mut workers = Vec::new();
    for _ in 0..2 {
        let d = Dispatcher::from_state(&app.state).unwrap();
        workers.push(std::thread::spawn(move || {
            let mut sent = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let r = d.dispatch_due().unwrap();
                sent += r.sent;
                if r.claimed == 0 {
                    break;
                }
            }
            sent
        }));
    }
    let sent: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(sent.iter().sum::<usize>(), 30, "{sent:?}");

    let mut per_key: HashMap<String, usize> = HashMap::new();
    for r in gw.requests() {
        *per_key.entry(r.key).or_default() += 1;
    }
    assert_eq!(per_key.len(), 30);
    assert!(per_key.values().all(|n| *n == 1), "{per_key:?}");
    assert!(rows(&app).await.iter().all(|r| r.status == "sent"));
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[actix_web::test]
async fn notify_a_dispatcher_killed_mid_send_delivers_each_message_exactly_once_after_restart() {
    let gw = Arc::new(Gateway::start(Mode::HangOnce));
    let app = TestApp::spawn_with(|c| live(c, Some(&gw), None)).await;
    app.clock.set(chrono::Utc::now());
    let recipients: Vec<String> = (1..=3).map(|i| format!("+39333000010{i}")).collect();
    enqueue(
        &app,
        recipients
            .iter()
            .enumerate()
            .map(|(i, to)| message(&format!("k:{i}"), Channel::Sms, to, Some("KI11LL22")))
            .collect(),
    )
    .await;

    let env = child_env(
        &app,
        &[
            ("PROCURA_NOTIFY__LEASE_SECS", "2".into()),
            ("PROCURA_NOTIFY__DISPATCH_INTERVAL_MS", "100".into()),
        ],
    );
    let spawn = |env: &[(String, String)]| {
        procura_command(&["notify", "dispatch", "--loop"], env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    // First dispatcher: claims all three, hands the first to the gateway, which holds it.
    let mut first = spawn(&env);
    let g = gw.clone();
    blocking(move || {
        wait_for("the first request", Duration::from_secs(30), || {
            !g.requests().is_empty()
        })
    })
    .await;
    first.kill().unwrap(); // SIGKILL: no bookkeeping, no clean-up
    first.wait().unwrap();
    let leased = rows(&app).await;
    assert!(
        leased
            .iter()
            .all(|r| r.status == "pending" && r.claimed_until.is_some()),
        "killed between hand-over and bookkeeping: {leased:?}"
    );

    // Restarted: once the lease runs out, everything is sent.
    let mut second = spawn(&env);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if rows(&app).await.iter().all(|r| r.status == "sent") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all sent: {:?}",
            rows(&app).await
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();

    // Each message reached the gateway under its own key, every time; the one in flight at
    // the crash was offered twice with the same key, and the gateway delivered it once.
    let reqs = gw.requests();
    for (i, to) in recipients.iter().enumerate() {
        let keys: Vec<&str> = reqs
            .iter()
            .filter(|r| r.body["to"] == to.as_str())
            .map(|r| r.key.as_str())
            .collect();
        assert!(!keys.is_empty(), "message {i} lost");
        assert!(keys.iter().all(|k| *k == format!("k:{i}")), "{keys:?}");
    }
    assert_eq!(
        reqs.len(),
        4,
        "only the message in flight is offered again: {reqs:?}"
    );
    let mut delivered = gw.delivered();
    delivered.sort();
    assert_eq!(delivered, ["k:0", "k:1", "k:2"]);
    assert!(rows(&app).await.iter().all(|r| r.sealed_secret.is_none()));
}

#[actix_web::test]
async fn notify_a_leased_message_is_left_alone_until_its_lease_ends() {
    let gw = Gateway::start(Mode::Ok);
    let app = TestApp::spawn_with(|c| live(c, Some(&gw), None)).await;
    enqueue(
        &app,
        vec![message(
            "l:1",
            Channel::Sms,
            "+393330000201",
            Some("LE11AS22"),
        )],
    )
    .await;
    // Another dispatcher holds it for 60 s.
    let until = (app.clock_now() + chrono::Duration::seconds(60)).naive_utc();
    app.with_db(move |c, _, _| {
        diesel::update(om::table)
            .set(om::claimed_until.eq(Some(until)))
            .execute(c)
            .unwrap()
    })
    .await;
    assert_eq!(dispatch(&app).await.claimed, 0);
    app.clock.advance(chrono::Duration::seconds(59));
    assert_eq!(dispatch(&app).await.claimed, 0);
    assert!(gw.requests().is_empty());
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(dispatch(&app).await.sent, 1);
    assert_eq!(gw.requests().len(), 1);
}
