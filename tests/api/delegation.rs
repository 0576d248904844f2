//! Delegations: the rules with their problem types, every channel, every ending, the limits
//! under parallel registrations, and the expiry job driven by the clock. Citizens and
//! operators log in through the real broker (with a PIN, so the online routes are tested
//! with `delegation.online_min_level` lowered to `pin-dispositivo`, and once at the default
//! to see the PIN refused).

use crate::auth_support::{TokenClient, login_for_tokens, token_client};
use crate::helpers::{TestApp, blocking};
use crate::oidc_support::{LiveApp, PERSONAL_PIN, give_pin};
use crate::persons_import::cf;
use chrono::{Duration, NaiveDate};
use diesel::prelude::*;
use procura::audit::Party;
use procura::db::schema::{audit_log, delegate_counters, delegations, outbox_messages};
use procura::delegation::family;
use procura::delegation::registry::{
    self, DelegationError, DocumentKind, NamedDelegate, OperatorRegistration,
};
use procura::delegation::{Channel, Kind};
use procura::login::Level;
use procura::operator::{self, Acting, NewOperator};
use procura::person::CodiceFiscale;
use procura::person::import::import_csv;
use procura::pin::PinType;
use serde_json::{Value, json};

const SCOPES: &str = "openid delegations:read delegations:write";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

/// Adds a person (birth date from the code) with a mobile number when `mobile` is given.
async fn person(app: &TestApp, first15: &str, given: &str, mobile: Option<&str>) -> CodiceFiscale {
    let code = CodiceFiscale::parse(&cf(first15)).unwrap();
    let csv = format!(
        "codice_fiscale,cognome,nome,data_nascita,sesso,indirizzo,cap,comune,provincia,cellulare\n\
         {},Cognome,{given},{},{},Via Roma 1,00100,Roma,RM,{}\n",
        code.as_str(),
        code.birth_date(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()),
        code.sex(),
        mobile.unwrap_or(""),
    );
    app.with_db(move |conn, key, now| {
        import_csv(conn, key, csv.as_bytes(), "test", Party::system(), now).unwrap();
    })
    .await;
    code
}

struct Setup {
    live: LiveApp,
    http: reqwest::Client,
    client: TokenClient,
}

async fn setup_with(min_level: Level) -> Setup {
    setup_adjusted(move |c| c.delegation.online_min_level = min_level).await
}

async fn setup_adjusted(adjust: impl FnOnce(&mut procura::config::Config)) -> Setup {
    let live = LiveApp::spawn_with(adjust).await;
    let client = token_client(&live.app, "myinps", SCOPES).await;
    Setup {
        live,
        http: reqwest::Client::new(),
        client,
    }
}

/// Online routes accept the PIN logins the tests can make.
async fn setup() -> Setup {
    setup_with(Level::PinDispositivo).await
}

impl Setup {
    fn app(&self) -> &TestApp {
        &self.live.app
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.live.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.post(self.url(path)).bearer_auth(token).json(body))
            .await
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(self.http.get(self.url(path)).bearer_auth(token))
            .await
    }

    async fn multipart(&self, token: &str, form: &Value, files: &[(&str, &[u8])]) -> (u16, Value) {
        let boundary = "procura-test-boundary-D3L3GA";
        let mut body = Vec::new();
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"registration\"\r\nContent-Type: application/json\r\n\r\n{form}\r\n").as_bytes());
        for (name, bytes) in files {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").as_bytes());
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.send(
            self.http
                .post(self.url("/v1/operator/delegations"))
                .bearer_auth(token)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body),
        )
        .await
    }

    /// `code` (already in the registry) logs in with a PIN; the access token.
    async fn citizen(&self, code: &CodiceFiscale) -> String {
        give_pin(self.app(), code, PERSONAL_PIN, PinType::Dispositivo, false).await;
        self.login(code).await
    }

    /// Logs in again (after the clock moved past the last token's expiry).
    async fn login(&self, code: &CodiceFiscale) -> String {
        login_for_tokens(&self.live, &self.client, code, SCOPES)
            .await
            .access_token
    }

    /// An operator with `roles`, logged in through the broker; the access token.
    async fn operator(&self, first15: &str, roles: &[&str]) -> String {
        let app = self.app();
        let code = person(app, first15, "Operatore", None).await;
        give_pin(app, &code, PERSONAL_PIN, PinType::Dispositivo, false).await;
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
}

fn assert_problem(got: &(u16, Value), status: u16, slug: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(
        got.1["type"],
        format!("https://procura.inps.it/problems/{slug}"),
        "{}",
        got.1
    );
}

/// Messages queued with `template` (recipients without +39, sorted).
async fn outbox(app: &TestApp, template: &'static str) -> Vec<String> {
    app.with_db(move |c, _, _| {
        let mut r: Vec<String> = outbox_messages::table
            .filter(outbox_messages::template.eq(template))
            .select(outbox_messages::recipient)
            .load::<String>(c)
            .unwrap()
            .into_iter()
            .map(|n| n.trim_start_matches("+39").to_owned())
            .collect();
        r.sort();
        r
    })
    .await
}

async fn counter(app: &TestApp, delegate: &CodiceFiscale) -> i64 {
    let code = delegate.as_str().to_owned();
    app.with_db(move |c, _, _| {
        delegate_counters::table
            .find(code)
            .select(delegate_counters::active_fiducia)
            .first(c)
            .optional()
            .unwrap()
            .unwrap_or(0)
    })
    .await
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let id = id.to_owned();
    app.with_db(move |c, _, _| {
        delegations::table
            .find(id)
            .select(delegations::status)
            .first(c)
            .unwrap()
    })
    .await
}

#[actix_web::test]
async fn delegation_online_refuses_a_pin_login_at_the_default_level() {
    let s = setup_with(Level::SpidL2).await;
    let mario = person(s.app(), "RSSMRA85T10H501", "Mario", None).await;
    let luigi = person(s.app(), "VRDLGU80A01H501", "Luigi", None).await;
    let token = s.citizen(&mario).await;
    let body = json!({ "delegate": {
        "codice_fiscale": luigi.as_str(), "given_name": "Luigi", "family_name": "Cognome" } });
    let got = s.post("/v1/delegations", &token, &body).await;
    assert_problem(&got, 403, "delegation-login-level");
    assert_eq!(got.1["acr_values"], "https://www.spid.gov.it/SpidL2");
    assert!(got.1["detail"].as_str().unwrap().contains("PIN"));
    let got = s
        .post(
            "/v1/delegations/minor",
            &token,
            &json!({ "child_codice_fiscale": luigi.as_str() }),
        )
        .await;
    assert_problem(&got, 403, "delegation-login-level");
}

#[actix_web::test]
async fn delegation_online_rules_revocation_and_renounce() {
    let s = setup().await;
    let app = s.app();
    let mario = person(app, "RSSMRA85T10H501", "Mario", Some("3331111111")).await;
    let luigi = person(app, "VRDLGU80A01H501", "Luigi", Some("3332222222")).await;
    let anna = person(app, "BNCNNA75A41H501", "Anna", None).await;
    let minor = person(app, "BNCLCU12A01H501", "Luca", None).await;
    let token = s.citizen(&mario).await;
    let register = |cf: &CodiceFiscale, given: &str, ends_on: Option<NaiveDate>| {
        json!({
            "delegate": { "codice_fiscale": cf.as_str(), "given_name": given, "family_name": "Cognome" },
            "ends_on": ends_on,
        })
    };
    let today = app.clock_now().date_naive();

    let got = s
        .post("/v1/delegations", &token, &register(&mario, "Mario", None))
        .await;
    assert_problem(&got, 422, "delegation-self");
    assert_eq!(got.1["refusal"], "self_delegation");
    let got = s
        .post("/v1/delegations", &token, &register(&minor, "Luca", None))
        .await;
    assert_problem(&got, 422, "delegation-delegate-minor");
    assert!(got.1["detail"].as_str().unwrap().contains("maggiorenne"));
    let got = s
        .post("/v1/delegations", &token, &register(&luigi, "Paolo", None))
        .await;
    assert_problem(&got, 422, "delegation-name-mismatch");
    let mut tutore = register(&luigi, "Luigi", None);
    tutore["kind"] = json!("tutore");
    let got = s.post("/v1/delegations", &token, &tutore).await;
    assert_problem(&got, 403, "delegation-representation-by-operator");
    tutore["kind"] = json!("zio");
    assert_problem(
        &s.post("/v1/delegations", &token, &tutore).await,
        422,
        "validation-failed",
    );
    let got = s
        .post(
            "/v1/delegations",
            &token,
            &register(&luigi, "Luigi", Some(today + Duration::days(10))),
        )
        .await;
    assert_problem(&got, 422, "delegation-end-before-minimum");
    let got = s
        .post(
            "/v1/delegations",
            &token,
            &register(&luigi, "Luigi", Some(today)),
        )
        .await;
    assert_problem(&got, 422, "delegation-end-in-past");

    // Active at once, 30-day minimum, the delegate told by SMS.
    let got = s
        .post(
            "/v1/delegations",
            &token,
            &register(&luigi, " luigi ", None),
        )
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    let id = got.1["id"].as_str().unwrap().to_owned();
    assert_eq!(got.1["status"], "active");
    assert_eq!(got.1["channel"], "online");
    assert_eq!(got.1["min_end_at"], "2026-12-22T10:00:00Z");
    assert_eq!(outbox(app, "delegation_registered").await, ["3332222222"]);
    assert_eq!(counter(app, &luigi).await, 1);

    // One fiduciary delegate per delegator.
    let got = s
        .post("/v1/delegations", &token, &register(&anna, "Anna", None))
        .await;
    assert_problem(&got, 409, "delegation-fiducia-exists");

    // A minor cannot delegate: a parent represents them.
    let minor_token = s.citizen(&minor).await;
    let got = s
        .post(
            "/v1/delegations",
            &minor_token,
            &register(&anna, "Anna", None),
        )
        .await;
    assert_problem(&got, 422, "delegation-minor-needs-parent");

    // Inside the 30 days only an operator revokes; someone else's delegation is not found.
    let revoke = format!("/v1/delegations/{id}/revoke");
    assert_problem(
        &s.post(&revoke, &token, &json!({})).await,
        409,
        "delegation-within-minimum",
    );
    let luigi_token = s.citizen(&luigi).await;
    assert_problem(
        &s.post(&revoke, &luigi_token, &json!({})).await,
        404,
        "not-found",
    );
    app.clock.advance(Duration::days(30));
    let token = s.login(&mario).await;
    let luigi_token = s.login(&luigi).await;
    let got = s.post(&revoke, &token, &json!({})).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["status"], "revoked");
    assert_eq!(got.1["end_reason"], "revoked_by_delegator");
    assert_eq!(outbox(app, "delegation_ended").await, ["3332222222"]);
    assert_eq!(counter(app, &luigi).await, 0);
    assert_problem(
        &s.post(&revoke, &token, &json!({})).await,
        409,
        "delegation-not-active",
    );

    // A new one, which the delegate renounces: the delegator is told.
    let got = s
        .post("/v1/delegations", &token, &register(&luigi, "Luigi", None))
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    let id2 = got.1["id"].as_str().unwrap().to_owned();
    let renounce = format!("/v1/delegations/{id2}/renounce");
    assert_problem(
        &s.post(&renounce, &token, &json!({})).await,
        404,
        "not-found",
    );
    let got = s.post(&renounce, &luigi_token, &json!({})).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["status"], "renounced");
    assert_eq!(
        outbox(app, "delegation_ended").await,
        ["3331111111", "3332222222"]
    );
    assert_eq!(counter(app, &luigi).await, 0);

    let got = s.get("/v1/delegations/given", &token).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let statuses: Vec<&str> = got.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["renounced", "revoked"]);
}

#[actix_web::test]
async fn delegation_parent_for_a_minor_ends_at_the_eighteenth_birthday() {
    let s = setup().await;
    let app = s.app();
    let parent = person(app, "BNCGPP70A01H501", "Giuseppe", Some("3334444444")).await;
    // Turns 18 on 2026-12-15; the clock starts on 2026-11-22.
    let child = person(app, "BNCGNN08T15H501", "Gianni", Some("3335555555")).await;
    let adult = person(app, "BNCLRA90A01H501", "Lara", None).await;
    let token = s.citizen(&parent).await;
    let minor = |c: &CodiceFiscale| json!({ "child_codice_fiscale": c.as_str() });

    assert_problem(
        &s.post("/v1/delegations/minor", &token, &minor(&child))
            .await,
        403,
        "delegation-not-family",
    );
    let (p, c, a) = (parent.clone(), child.clone(), adult.clone());
    app.with_db(move |conn, key, now| {
        assert!(family::link(conn, key, Party::system(), &p, &c, now).unwrap());
        assert!(!family::link(conn, key, Party::system(), &p, &c, now).unwrap());
        family::link(conn, key, Party::system(), &p, &a, now).unwrap();
    })
    .await;
    assert_problem(
        &s.post("/v1/delegations/minor", &token, &minor(&adult))
            .await,
        422,
        "delegation-not-a-minor",
    );
    let got = s
        .post(
            "/v1/delegations/minor",
            &token,
            &json!({ "child_codice_fiscale": child.as_str(), "ends_on": "2030-01-01" }),
        )
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    let id = got.1["id"].as_str().unwrap().to_owned();
    assert_eq!(got.1["kind"], "genitore");
    assert_eq!(got.1["channel"], "online_genitore");
    assert_eq!(got.1["delegator_codice_fiscale"], child.as_str());
    assert_eq!(got.1["ends_at"], "2026-12-15T00:00:00Z");
    assert_eq!(
        outbox(app, "delegation_registered").await,
        ["3334444444", "3335555555"]
    );
    // The parent cannot renounce online; the exempt kind takes no place of the limit.
    assert_problem(
        &s.post(
            &format!("/v1/delegations/{id}/renounce"),
            &token,
            &json!({}),
        )
        .await,
        403,
        "delegation-representation-ends-by-operator",
    );
    assert_eq!(counter(app, &parent).await, 0);

    // The job: the notice once (inside the 30 days), then the end on the birthday.
    let state = app.state.clone();
    let run = |now| {
        let state = state.clone();
        blocking(move || {
            let mut c = state.db.get().unwrap();
            registry::expire_due(&mut c, &state, now).unwrap()
        })
    };
    let r = run(app.clock_now()).await;
    assert_eq!((r.noticed, r.expired), (1, 0));
    assert_eq!(
        outbox(app, "delegation_ending_soon").await,
        ["3334444444", "3335555555"]
    );
    let r = run(app.clock_now()).await;
    assert_eq!((r.noticed, r.expired), (0, 0));
    app.clock.advance(Duration::days(22));
    assert_eq!(run(app.clock_now()).await.expired, 0);
    assert_eq!(status_of(app, &id).await, "active");
    app.clock.advance(Duration::days(1));
    let r = run(app.clock_now()).await;
    assert_eq!((r.noticed, r.expired), (0, 1));
    assert_eq!(status_of(app, &id).await, "expired");
    assert_eq!(
        outbox(app, "delegation_ended").await,
        ["3334444444", "3335555555"]
    );
    // The parent gave nothing: the delegation is the child's.
    let token = s.login(&parent).await;
    let got = s.get("/v1/delegations/given", &token).await;
    assert_eq!(got.1["items"].as_array().unwrap().len(), 0, "{}", got.1);
}

#[actix_web::test]
async fn delegation_end_date_expiry_with_the_notice_before() {
    let app = TestApp::spawn().await;
    let mario = person(&app, "RSSMRA85T10H501", "Mario", Some("3331111111")).await;
    let luigi = person(&app, "VRDLGU80A01H501", "Luigi", Some("3332222222")).await;
    let state = app.state.clone();
    let ends_on = app.clock_now().date_naive() + Duration::days(40);
    let (m, l) = (mario.clone(), luigi.clone());
    let now = app.clock_now();
    let d = blocking(move || {
        let mut c = state.db.get().unwrap();
        registry::register_online(
            &mut c,
            &state,
            &m,
            Kind::Fiducia,
            &NamedDelegate {
                codice_fiscale: l,
                given_name: "Luigi".into(),
                family_name: "Cognome".into(),
            },
            Some(ends_on),
            now,
        )
        .unwrap()
    })
    .await;
    let state = app.state.clone();
    let run = |now| {
        let state = state.clone();
        blocking(move || {
            let mut c = state.db.get().unwrap();
            registry::expire_due(&mut c, &state, now).unwrap()
        })
    };
    assert_eq!(run(app.clock_now()).await.noticed, 0);
    app.clock.advance(Duration::days(11));
    assert_eq!(run(app.clock_now()).await.noticed, 1);
    assert_eq!(run(app.clock_now()).await.noticed, 0);
    assert_eq!(
        outbox(&app, "delegation_ending_soon").await,
        ["3331111111", "3332222222"]
    );
    app.clock.advance(Duration::days(29));
    assert_eq!(run(app.clock_now()).await.expired, 1);
    assert_eq!(status_of(&app, &d.id).await, "expired");
    assert_eq!(counter(&app, &luigi).await, 0);
    assert_eq!(
        outbox(&app, "delegation_ended").await,
        ["3331111111", "3332222222"]
    );
    let id = d.id.clone();
    let actions: Vec<String> = app
        .with_db(move |c, _, _| {
            audit_log::table
                .filter(audit_log::detail.like(format!("%{id}%")))
                .order(audit_log::seq.asc())
                .select(audit_log::action)
                .load(c)
                .unwrap()
        })
        .await;
    assert_eq!(
        actions,
        [
            "delegation.registered",
            "delegation.end_notice",
            "delegation.expired"
        ]
    );
}

fn first15(prefix: char, i: usize) -> String {
    // Distinct surnames: AAA…, ABA…; a valid code for someone born in 1980.
    let a = (b'A' + (i / 26) as u8) as char;
    let b = (b'A' + (i % 26) as u8) as char;
    format!("{prefix}{a}{b}MRA80A01H501")
}

#[actix_web::test]
async fn delegation_limits_hold_under_parallel_registrations() {
    let app = TestApp::spawn().await;
    let delegate = person(&app, "VRDLGU80A01H501", "Luigi", None).await;
    let mut delegators = Vec::new();
    for i in 0..10 {
        delegators.push(person(&app, &first15('D', i), "Nome", None).await);
    }
    let now = app.clock_now();
    let register = |delegator: CodiceFiscale, delegate: CodiceFiscale| {
        let state = app.state.clone();
        blocking(move || {
            let mut c = state.db.get().unwrap();
            registry::register_online(
                &mut c,
                &state,
                &delegator,
                Kind::Fiducia,
                &NamedDelegate {
                    codice_fiscale: delegate,
                    given_name: "Luigi".into(),
                    family_name: "Cognome".into(),
                },
                None,
                now,
            )
        })
    };
    let results = futures_util::future::join_all(
        delegators
            .iter()
            .map(|d| register(d.clone(), delegate.clone())),
    )
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let limited = results
        .iter()
        .filter(|r| matches!(r, Err(DelegationError::DelegateLimit)))
        .count();
    assert_eq!((ok, limited), (3, 7), "{results:?}");
    assert_eq!(counter(&app, &delegate).await, 3);
    let code = delegate.as_str().to_owned();
    let active: i64 = app
        .with_db(move |c, _, _| {
            delegations::table
                .filter(delegations::delegate_cf.eq(code))
                .filter(delegations::status.eq("active"))
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(active, 3);

    // Two at once for one delegator (to two delegates with room): exactly one.
    let one = person(&app, "SLVNNA70A41H501", "Anna", None).await;
    let d1 = person(&app, &first15('E', 1), "Luigi", None).await;
    let d2 = person(&app, &first15('E', 2), "Luigi", None).await;
    let both = futures_util::future::join_all([
        register(one.clone(), d1.clone()),
        register(one.clone(), d2.clone()),
    ])
    .await;
    let ok = both.iter().filter(|r| r.is_ok()).count();
    let exists = both
        .iter()
        .filter(|r| matches!(r, Err(DelegationError::FiduciaExists)))
        .count();
    assert_eq!((ok, exists), (1, 1), "{both:?}");
    assert_eq!(counter(&app, &d1).await + counter(&app, &d2).await, 1);

    // Representation is exempt: a tutore with a decree at the desk, past the limit.
    let state = app.state.clone();
    let (represented, tutore) = (delegators[9].clone(), delegate.clone());
    {
        let d = blocking(move || {
            let mut c = state.db.get().unwrap();
            registry::register_by_operator(
                &mut c,
                &state,
                "op-1",
                OperatorRegistration {
                    channel: Channel::SportelloAa10,
                    kind: Kind::Tutore,
                    delegator: represented,
                    delegate: tutore,
                    ends_on: None,
                    decree_reference: Some("Tribunale di Roma, decreto 12/2026".into()),
                    documents: vec![
                        registry::check_document(DocumentKind::Aa10, PDF.to_vec(), 1 << 20)
                            .unwrap(),
                        registry::check_document(DocumentKind::Decree, PDF.to_vec(), 1 << 20)
                            .unwrap(),
                        registry::check_document(
                            DocumentKind::DelegatorIdDocument,
                            PDF.to_vec(),
                            1 << 20,
                        )
                        .unwrap(),
                        registry::check_document(
                            DocumentKind::DelegateIdDocument,
                            PDF.to_vec(),
                            1 << 20,
                        )
                        .unwrap(),
                    ],
                    recording_consented: false,
                },
                now,
            )
            .unwrap()
        })
        .await;
        assert_eq!(d.status, "active");
        assert_eq!(counter(&app, &delegate).await, 3);
    }

    // An operator's revocation frees a place.
    let first_ok = results
        .iter()
        .find_map(|r| r.as_ref().ok())
        .unwrap()
        .id
        .clone();
    let state = app.state.clone();
    blocking(move || {
        let mut c = state.db.get().unwrap();
        registry::revoke_by_operator(&mut c, &state, "op-1", &first_ok, "richiesta", now).unwrap()
    })
    .await;
    assert_eq!(counter(&app, &delegate).await, 2);
}

#[actix_web::test]
async fn delegation_desk_pec_verification_and_operator_revocation() {
    // One place per delegate, to meet the limit over HTTP.
    let s = setup_adjusted(|c| c.delegation.max_fiducia_per_delegate = 1).await;
    let app = s.app();
    let mario = person(app, "RSSMRA85T10H501", "Mario", Some("3331111111")).await;
    let luigi = person(app, "VRDLGU80A01H501", "Luigi", Some("3332222222")).await;
    let anna = person(app, "BNCNNA75A41H501", "Anna", None).await;
    let desk = s.operator("SPRDSK70C01H501", &["sportello"]).await;
    // Another desk operator checks the self-declarations (four eyes).
    let checker = s.operator("SPRCHK71C01H501", &["sportello"]).await;
    let cc = s.operator("NNAVRD80A41H501", &["contact_center"]).await;
    let form = |channel: &str, kind: &str, delegator: &CodiceFiscale, reference: Option<&str>| {
        json!({
            "channel": channel, "kind": kind,
            "delegator_codice_fiscale": delegator.as_str(),
            "delegate_codice_fiscale": luigi.as_str(),
            "decree_reference": reference,
        })
    };
    let aa08 = form("sportello_aa08", "fiducia", &mario, None);

    assert_eq!(s.multipart(&cc, &aa08, &[("aa08", PDF)]).await.0, 403);
    assert_problem(
        &s.multipart(&desk, &aa08, &[("aa08", b"MZ not a pdf")])
            .await,
        422,
        "document-rejected",
    );
    assert_problem(
        &s.multipart(&desk, &aa08, &[]).await,
        422,
        "document-missing",
    );
    assert_problem(
        &s.multipart(
            &desk,
            &form("sportello_aa09", "fiducia", &mario, None),
            &[("aa09", PDF)],
        )
        .await,
        422,
        "document-missing",
    );
    assert_problem(
        &s.multipart(
            &desk,
            &form("sportello_aa10", "fiducia", &mario, None),
            &[("aa10", PDF)],
        )
        .await,
        422,
        "delegation-channel-not-for-kind",
    );
    assert_problem(
        &s.multipart(
            &desk,
            &form("pec", "tutore", &anna, None),
            &[("self_declaration", PDF)],
        )
        .await,
        422,
        "delegation-decree-missing",
    );

    // AA08: active on registration, both parties told.
    let got = s
        .multipart(
            &desk,
            &aa08,
            &[("aa08", PDF), ("delegator_id_document", PDF)],
        )
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    assert_eq!(got.1["status"], "active");
    assert!(got.1["min_end_at"].is_null());
    let fiducia = got.1["id"].as_str().unwrap().to_owned();
    assert_eq!(
        outbox(app, "delegation_registered").await,
        ["3331111111", "3332222222"]
    );
    assert_problem(
        &s.multipart(
            &desk,
            &form("sportello_aa08", "fiducia", &anna, None),
            &[("aa08", PDF), ("delegator_id_document", PDF)],
        )
        .await,
        409,
        "delegation-delegate-limit",
    );

    // A tutore with a self-declaration waits for the check with the court.
    let got = s
        .multipart(
            &desk,
            &form(
                "sportello_aa10",
                "tutore",
                &anna,
                Some("dichiarazione 5/2026"),
            ),
            &[
                ("aa10", PDF),
                ("self_declaration", PDF),
                ("delegator_id_document", PDF),
                ("delegate_id_document", PDF),
            ],
        )
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    assert_eq!(got.1["status"], "pending_verification");
    let tutela = got.1["id"].as_str().unwrap().to_owned();
    let got = s.get("/v1/operator/delegations/pending", &desk).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let items = got.1["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], tutela.as_str());
    assert_eq!(items[0]["documents"].as_array().unwrap().len(), 4);
    let verify = format!("/v1/operator/delegations/{tutela}/verify");
    // The operator who registered it cannot verify it: the registry refuses.
    let own = s
        .post(&verify, &desk, &json!({ "outcome": "confirmed" }))
        .await;
    assert_problem(&own, 409, "delegation-same-operator");
    assert!(
        own.1["detail"]
            .as_str()
            .unwrap()
            .contains("another operator")
    );
    let got = s
        .post(
            &verify,
            &checker,
            &json!({ "outcome": "confirmed", "note": "cancelleria" }),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["status"], "active");
    assert_problem(
        &s.post(&verify, &checker, &json!({ "outcome": "confirmed" }))
            .await,
        409,
        "delegation-not-pending",
    );
    // A curatore by PEC whose self-declaration the court does not confirm.
    let got = s
        .multipart(
            &desk,
            &form("pec", "curatore", &mario, Some("dichiarazione 9/2026")),
            &[
                ("aa10", PDF),
                ("self_declaration", PDF),
                ("delegator_id_document", PDF),
                ("delegate_id_document", PDF),
            ],
        )
        .await;
    assert_eq!(got.1["status"], "pending_verification", "{}", got.1);
    let curatela = got.1["id"].as_str().unwrap().to_owned();
    let got = s
        .post(
            &format!("/v1/operator/delegations/{curatela}/verify"),
            &checker,
            &json!({ "outcome": "refused", "note": "nessun decreto" }),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["status"], "revoked");
    assert_eq!(got.1["end_reason"], "verification_refused: nessun decreto");

    // The represented person cannot revoke their tutore.
    let anna_token = s.citizen(&anna).await;
    assert_problem(
        &s.post(
            &format!("/v1/delegations/{tutela}/revoke"),
            &anna_token,
            &json!({}),
        )
        .await,
        403,
        "delegation-representation-ends-by-operator",
    );

    // Look-ups by codice fiscale, audited as reads.
    let got = s
        .get(
            &format!("/v1/operator/delegations?codice_fiscale={}", luigi.as_str()),
            &cc,
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["items"].as_array().unwrap().len(), 3, "{}", got.1);
    let reads: i64 = app
        .with_db(|c, _, _| {
            audit_log::table
                .filter(audit_log::action.eq("delegation.looked_up"))
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(reads, 1);

    // The operator revokes at any time (inside any minimum), with a reason; both told.
    let revoke = format!("/v1/operator/delegations/{fiducia}/revoke");
    assert_problem(
        &s.post(&revoke, &cc, &json!({ "reason": " " })).await,
        422,
        "validation-failed",
    );
    let got = s
        .post(
            &revoke,
            &cc,
            &json!({ "reason": "richiesta del delegante" }),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["status"], "revoked");
    // Both parties; the delegate was also told of the refused curatela.
    assert_eq!(
        outbox(app, "delegation_ended").await,
        ["3331111111", "3332222222", "3332222222"]
    );
    assert_eq!(counter(app, &luigi).await, 0);
    assert_problem(
        &s.post(&revoke, &cc, &json!({ "reason": "di nuovo" })).await,
        409,
        "delegation-not-active",
    );
}

#[actix_web::test]
async fn delegation_family_links_load_from_the_cli() {
    use crate::helpers::{AUDIT_KEY_HEX, procura, text};
    use procura::delegation::family::{FamilyRegister, LocalFamilyRegister};
    let app = TestApp::spawn().await;
    let (parent, child) = (cf("BNCGPP70A01H501"), cf("BNCGNN08T15H501"));
    let env = [
        ("PROCURA_DATABASE__URL", app.database_url().to_owned()),
        (
            "PROCURA_KEYS__DIR",
            app.config.keys.dir.display().to_string(),
        ),
        ("PROCURA_AUDIT__HMAC_KEY", AUDIT_KEY_HEX.to_owned()),
    ];
    let (p, c) = (parent.clone(), child.clone());
    let (first, again, bad) = blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let args = ["persons", "link", "--parent", &p, "--child", &c];
        (
            procura(&args, &env),
            procura(&args, &env),
            procura(&["persons", "link", "--parent", "X", "--child", &c], &env),
        )
    })
    .await;
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("linked"), "{}", text(&first));
    assert!(again.status.success() && text(&again).contains("already"));
    assert!(!bad.status.success());
    let linked = app
        .with_db(move |conn, _, _| {
            (
                LocalFamilyRegister
                    .is_child_of(conn, &parent, &child)
                    .unwrap(),
                LocalFamilyRegister
                    .is_child_of(conn, &child, &parent)
                    .unwrap(),
            )
        })
        .await;
    assert_eq!(linked, (true, false));
}

#[actix_web::test]
async fn delegation_web_meeting_registers_through_the_operator_function() {
    let app = TestApp::spawn().await;
    let mario = person(&app, "RSSMRA85T10H501", "Mario", Some("3331111111")).await;
    let luigi = person(&app, "VRDLGU80A01H501", "Luigi", Some("3332222222")).await;
    let state = app.state.clone();
    let now = app.clock_now();
    let (no_documents, no_consent, ok, refused) = blocking(move || {
        let mut c = state.db.get().unwrap();
        let pdf = |k| registry::check_document(k, PDF.to_vec(), 1 << 20).unwrap();
        let all = || {
            vec![
                pdf(DocumentKind::Aa08),
                pdf(DocumentKind::DelegatorIdDocument),
                pdf(DocumentKind::DelegateIdDocument),
            ]
        };
        let mut reg = |kind, documents, recording_consented| {
            registry::register_by_operator(
                &mut c,
                &state,
                "op-web",
                OperatorRegistration {
                    channel: Channel::WebMeeting,
                    kind,
                    delegator: mario.clone(),
                    delegate: luigi.clone(),
                    ends_on: None,
                    decree_reference: Some("decreto 1/2026".into()),
                    documents,
                    recording_consented,
                },
                now,
            )
        };
        (
            reg(Kind::Fiducia, Vec::new(), true),
            reg(Kind::Fiducia, all(), false),
            reg(Kind::Fiducia, all(), true),
            reg(Kind::Tutore, all(), true),
        )
    })
    .await;
    // Never without the documents and both consents (msg 3026, seed 000).
    assert!(
        matches!(no_documents, Err(DelegationError::MissingDocument("aa08"))),
        "{no_documents:?}"
    );
    assert!(
        matches!(no_consent, Err(DelegationError::ConsentMissing)),
        "{no_consent:?}"
    );
    let d = ok.unwrap();
    assert_eq!(
        (d.channel.as_str(), d.status.as_str()),
        ("web_meeting", "active")
    );
    assert_eq!(d.operator_id.as_deref(), Some("op-web"));
    assert!(d.min_end_at.is_none());
    assert!(matches!(
        refused,
        Err(DelegationError::Refused(
            procura::delegation::policy::Refusal::ChannelNotForKind
        ))
    ));
    assert_eq!(
        outbox(&app, "delegation_registered").await,
        ["3331111111", "3332222222"]
    );
}
