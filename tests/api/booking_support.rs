//! Fixtures for the booking and web-meeting tests: a live server whose access tokens outlive
//! the days the tests move the clock through, citizens and operators logged in through the
//! real broker with a PIN, desks created and staffed through the admin API, and the outbox read
//! back with the Italian texts rendered.

use crate::auth_support::{TokenClient, login_for_tokens, token_client};
use crate::helpers::TestApp;
use crate::oidc_support::{LiveApp, PERSONAL_PIN, give_pin};
use crate::persons_import::cf;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use procura::audit::Party;
use procura::db::schema::outbox_messages;
use procura::notify::Template;
use procura::notify::templates::render;
use procura::operator::{self, Acting, NewOperator};
use procura::person::CodiceFiscale;
use procura::person::import::import_csv;
use procura::pin::PinType;
use serde_json::{Value, json};

pub const CITIZEN_SCOPES: &str = "openid bookings delegations:read";
/// A tiny but whole PDF (header and end marker).
pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

pub struct World {
    pub live: LiveApp,
    pub http: reqwest::Client,
    pub myinps: TokenClient,
    /// An operator with the `admin` role.
    pub admin: String,
}

/// An answer: status and JSON body (or the text as a JSON string).
pub type Answer = (u16, Value);

#[track_caller]
pub fn assert_problem(got: &Answer, status: u16, slug: &str) -> Value {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(
        got.1["type"],
        format!("https://procura.inps.it/problems/{slug}"),
        "{}",
        got.1
    );
    got.1.clone()
}

/// `2026-12-01T08:00:00Z` → instant.
pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

impl World {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut procura::config::Config)) -> Self {
        let live = LiveApp::spawn_with(|c| {
            // The tests move the clock by days: tokens must outlive that.
            c.oauth.access_token_ttl_secs = 400 * 24 * 3600;
            c.oauth.refresh_token_ttl_secs = 400 * 24 * 3600;
            c.session.max_age_secs = 400 * 24 * 3600;
            c.booking.guest_requests_per_minute_per_address = 0;
            c.booking.calendar_requests_per_minute_per_address = 0;
            c.booking.horizon_days = 120;
            adjust(c);
        })
        .await;
        let myinps = token_client(&live.app, "myinps", CITIZEN_SCOPES).await;
        let mut w = Self {
            live,
            http: reqwest::Client::new(),
            myinps,
            admin: String::new(),
        };
        w.admin = w.operator("MMNSTR70A01H501", &["admin"]).await.0;
        w
    }

    pub fn app(&self) -> &TestApp {
        &self.live.app
    }

    pub fn set_clock(&self, t: &str) {
        self.app().clock.set(at(t));
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.live.base)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.send(self.http.put(self.url(path)).bearer_auth(token).json(body))
            .await
    }

    /// A guest call with the booking token.
    pub async fn guest(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut req = match method {
            "GET" => self.http.get(self.url(path)),
            _ => self.http.post(self.url(path)),
        }
        .header("Booking-Token", token);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.send(req).await
    }

    /// A person in the registry (birth date from the code) with a mobile when given.
    pub async fn person(&self, first15: &str, given: &str, mobile: Option<&str>) -> CodiceFiscale {
        let code = CodiceFiscale::parse(&cf(first15)).unwrap();
        let csv = format!(
            "codice_fiscale,cognome,nome,data_nascita,sesso,indirizzo,cap,comune,provincia,cellulare\n\
             {},Cognome,{given},{},{},Via Roma 1,00100,Roma,RM,{}\n",
            code.as_str(),
            code.birth_date(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()),
            code.sex(),
            mobile.unwrap_or(""),
        );
        self.app()
            .with_db(move |conn, key, now| {
                import_csv(conn, key, csv.as_bytes(), "test", Party::system(), now).unwrap();
            })
            .await;
        code
    }

    /// A person logged in at MyINPS with a PIN: (code, access token with scope `bookings`).
    pub async fn citizen(
        &self,
        first15: &str,
        given: &str,
        mobile: Option<&str>,
    ) -> (CodiceFiscale, String) {
        let code = self.person(first15, given, mobile).await;
        give_pin(self.app(), &code, PERSONAL_PIN, PinType::Dispositivo, false).await;
        let token = login_for_tokens(&self.live, &self.myinps, &code, CITIZEN_SCOPES)
            .await
            .access_token;
        (code, token)
    }

    /// An operator with `roles`, logged in through the broker: (access token, operator id).
    pub async fn operator(&self, first15: &str, roles: &[&str]) -> (String, String) {
        let app = self.app();
        let code = self.person(first15, "Operatore", None).await;
        give_pin(app, &code, PERSONAL_PIN, PinType::Dispositivo, false).await;
        let new = NewOperator {
            codice_fiscale: code.as_str().to_owned(),
            display_name: format!("Operatore {first15}"),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            office: Some("Sede di Roma".into()),
        };
        let op = app
            .with_db(move |c, key, now| {
                operator::add(c, key, &new, &Acting::new(Party::system()), now).unwrap()
            })
            .await;
        let client = token_client(app, &format!("console-{first15}"), "openid operator").await;
        let token = login_for_tokens(&self.live, &client, &code, "openid operator")
            .await
            .access_token;
        (token, op.id)
    }

    /// Creates a desk through the admin API; its id.
    pub async fn desk(&self, body: Value) -> String {
        let got = self
            .post("/v1/operator/desks", Some(&self.admin), &body)
            .await;
        assert_eq!(got.0, 201, "{}", got.1);
        got.1["id"].as_str().unwrap().to_owned()
    }

    /// Puts `operators` on duty at `desk` from `first` to `last`.
    pub async fn duty(&self, desk: &str, first: &str, last: &str, operators: &[&str]) -> Value {
        let got = self
            .put(
                &format!("/v1/operator/desks/{desk}/duty"),
                &self.admin,
                &json!({ "first_day": first, "last_day": last, "operator_ids": operators }),
            )
            .await;
        assert_eq!(got.0, 200, "{}", got.1);
        got.1
    }

    /// The free slots of `date` at `desk` (no login).
    pub async fn slots(&self, desk: &str, date: &str) -> Value {
        let got = self
            .get(&format!("/v1/desks/{desk}/slots?date={date}"), None)
            .await;
        assert_eq!(got.0, 200, "{}", got.1);
        got.1
    }

    /// Holds `starts_at` at `desk` as the logged-in person.
    pub async fn hold(&self, token: &str, desk: &str, starts_at: &str) -> Answer {
        self.post(
            "/v1/bookings",
            Some(token),
            &json!({ "desk_id": desk, "starts_at": starts_at }),
        )
        .await
    }

    /// Holds and confirms with a mobile; the booking.
    pub async fn book(&self, token: &str, desk: &str, starts_at: &str, extra: Value) -> Value {
        let held = self.hold(token, desk, starts_at).await;
        assert_eq!(held.0, 201, "{}", held.1);
        let id = held.1["id"].as_str().unwrap().to_owned();
        let mut body = json!({ "mobile": "333 123 4567", "reason": "informazioni" });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let got = self
            .post(&format!("/v1/bookings/{id}/confirm"), Some(token), &body)
            .await;
        assert_eq!(got.0, 200, "{}", got.1);
        got.1
    }

    /// Runs the booking job once at the clock's time.
    pub async fn run_job(&self) -> procura::booking::jobs::JobReport {
        let state = self.app().state.clone();
        let now = self.app().clock_now();
        crate::helpers::blocking(move || {
            let mut c = state.db.get().unwrap();
            procura::booking::jobs::run_due(&mut c, &state, now).unwrap()
        })
        .await
    }
}

/// An outbox message, rendered.
#[derive(Debug, Clone)]
pub struct Sent {
    pub recipient: String,
    pub channel: String,
    pub sms: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub idempotency_key: String,
}

/// The messages queued with `template`, oldest first, rendered in Italian.
pub async fn outbox(app: &TestApp, template: &'static str) -> Vec<Sent> {
    app.with_db(move |c, _, _| {
        let rows: Vec<(String, String, String, chrono::NaiveDateTime, String)> =
            outbox_messages::table
                .filter(outbox_messages::template.eq(template))
                .order((outbox_messages::created_at.asc(), outbox_messages::id.asc()))
                .select((
                    outbox_messages::recipient,
                    outbox_messages::channel,
                    outbox_messages::params,
                    outbox_messages::created_at,
                    outbox_messages::idempotency_key,
                ))
                .load(c)
                .unwrap();
        rows.into_iter()
            .map(|(recipient, channel, params, created, key)| {
                let t = Template::parse(template).unwrap();
                let r = render(t, &serde_json::from_str(&params).unwrap(), None).unwrap();
                Sent {
                    recipient,
                    channel,
                    sms: r.sms.clone(),
                    body: r.plain_text(),
                    created_at: created.and_utc(),
                    idempotency_key: key,
                }
            })
            .collect()
    })
    .await
}

/// `20` distinct valid codici fiscali for people born in 1980 (`prefix` keeps sets apart).
pub fn people(prefix: char, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let a = (b'A' + (i / 26) as u8) as char;
            let b = (b'A' + (i % 26) as u8) as char;
            cf(&format!("{prefix}{a}{b}MRA80A01H501"))
        })
        .collect()
}
