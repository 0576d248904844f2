//! Operators and roles: the CLI, roles in tokens and userinfo (scope `operator`), the bearer
//! extractors' refusals, the admin API, and the audit records with the operator as actor.

use crate::auth_support::*;
use crate::helpers::{AUDIT_KEY_HEX, TestApp, TestResponse, text};
use crate::oidc_support::LiveApp;
use crate::persons_import::cf;
use actix_web::test::TestRequest;
use diesel::prelude::*;
use procura::Application;
use procura::audit::Party;
use procura::db::schema::audit_log;
use procura::operator::{self, Acting, NewOperator, Operator};
use procura::person::CodiceFiscale;
use procura::pin::PinType;
use serde_json::json;
use std::net::TcpListener;
use std::process::{Command, Output};

const ADMIN_CF: &str = "RSSMRA85T10H501";
const DESK_CF: &str = "VRDGPP80A01H501";
const CITIZEN_CF: &str = "BNCLRA70C41F205";
const CONSOLE_SCOPES: &str = "openid profile inps:read operator";

fn procura(app: &TestApp, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_procura"));
    cmd.args(args)
        .env("PROCURA_DATABASE__URL", app.database_url())
        .env(
            "PROCURA_KEYS__DIR",
            app.config.keys.dir.display().to_string(),
        )
        .env("PROCURA_AUDIT__HMAC_KEY", AUDIT_KEY_HEX)
        .env("PROCURA_LOG__FILTER", "error")
        .env("USER", "tester");
    cmd.output().unwrap()
}

pub async fn add_operator(app: &TestApp, code: &CodiceFiscale, roles: &[&str]) -> Operator {
    let new = NewOperator {
        codice_fiscale: code.as_str().to_owned(),
        display_name: format!("Operator {}", roles.join(" ")),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        office: Some("Roma Centro".into()),
    };
    app.with_db(move |c, key, now| {
        operator::add(c, key, &new, &Acting::new(Party::system()), now).unwrap()
    })
    .await
}

/// (actor, action, detail) of every `operator.*` audit record, in order.
async fn operator_audit(app: &TestApp) -> Vec<(String, String, serde_json::Value)> {
    app.with_db(|c, _, _| {
        audit_log::table
            .filter(audit_log::action.like("operator.%"))
            .order(audit_log::seq.asc())
            .select((audit_log::actor, audit_log::action, audit_log::detail))
            .load::<(String, String, Option<String>)>(c)
            .unwrap()
            .into_iter()
            .map(|(a, b, d)| (a, b, serde_json::from_str(&d.unwrap()).unwrap()))
            .collect()
    })
    .await
}

async fn call(app: &TestApp, req: TestRequest, token: Option<&str>) -> TestResponse {
    let req = match token {
        Some(t) => req.insert_header(("authorization", format!("Bearer {t}"))),
        None => req,
    };
    app.call(req).await
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> TestResponse {
    call(app, TestRequest::get().uri(path), token).await
}

async fn post(app: &TestApp, path: &str, body: &str, token: Option<&str>) -> TestResponse {
    let req = TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned());
    call(app, req, token).await
}

#[actix_web::test]
async fn the_cli_adds_lists_and_disables_operators() {
    let app = TestApp::spawn().await;
    let code = cf(ADMIN_CF);
    let masked = format!("{}*****{}", &code[..6], &code[12..]);
    let app_ref = &app;
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        procura(app_ref, &args)
    };
    let add = |cf: &str, role: &str| {
        vec![
            "operators".into(),
            "add".into(),
            "--codice-fiscale".into(),
            cf.to_owned(),
            "--name".into(),
            "Mario Rossi".into(),
            "--role".into(),
            role.to_owned(),
            "--role".into(),
            "admin".into(),
            "--office".into(),
            "Roma Centro".into(),
        ]
    };

    let out = run(add(&code.to_lowercase(), "sportello"));
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains(&masked) && said.contains("sportello admin"),
        "{said}"
    );
    assert!(!said.contains(&code), "{said}");
    let id = said.split_whitespace().nth(2).unwrap().to_owned();

    // Refusals: a bad codice fiscale, an unknown role, the same person again, no role.
    let bad_cf = run(add("RSSMRA85T10H501X", "sportello"));
    assert!(!bad_cf.status.success() && text(&bad_cf).contains("invalid codice fiscale"));
    let bad_role = run(add(&cf(DESK_CF), "root"));
    assert!(!bad_role.status.success() && text(&bad_role).contains("unknown role `root`"));
    let dup = run(add(&code, "contact_center"));
    assert!(!dup.status.success(), "{}", text(&dup));
    assert!(text(&dup).contains("already an operator"), "{}", text(&dup));
    let no_role = procura(
        &app,
        &["operators", "add", "--codice-fiscale", &code, "--name", "X"],
    );
    assert!(!no_role.status.success());

    let list = run(vec!["operators".into(), "list".into()]);
    let table = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(list.status.success(), "{}", text(&list));
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains(&masked) && !table.contains(&code), "{table}");
    assert!(
        table.contains("sportello,admin") && table.contains("active"),
        "{table}"
    );

    let out = run(vec!["operators".into(), "disable".into(), id.clone()]);
    assert!(out.status.success(), "{}", text(&out));
    let list = run(vec!["operators".into(), "list".into()]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("disabled"));
    let unknown = run(vec!["operators".into(), "disable".into(), "nope".into()]);
    assert!(!unknown.status.success() && text(&unknown).contains("no operator with id"));

    // The row stays, disabled; the CLI is the actor of both records.
    let row = app
        .with_db(move |c, _, _| operator::find(c, &id).unwrap().unwrap())
        .await;
    assert!(!row.active && row.disabled_at.is_some());
    let audit = operator_audit(&app).await;
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("cli:tester", "operator.added"),
            ("cli:tester", "operator.disabled")
        ]
    );
    assert_eq!(audit[0].2["codice_fiscale"], masked);
}

/// A live app with an admin (sportello + admin), a desk operator (sportello), a citizen,
/// and the operator console allowed the `operator` scope.
struct World {
    live: LiveApp,
    console: TokenClient,
    admin: CodiceFiscale,
    admin_op: Operator,
    desk: CodiceFiscale,
    desk_op: Operator,
    citizen: CodiceFiscale,
}

async fn world() -> World {
    let live = LiveApp::spawn().await;
    world_on(live).await
}

async fn world_on(live: LiveApp) -> World {
    let app = &live.app;
    let admin = person_with_pin(app, ADMIN_CF, PinType::Dispositivo).await;
    let desk = person_with_pin(app, DESK_CF, PinType::Dispositivo).await;
    let citizen = person_with_pin(app, CITIZEN_CF, PinType::Dispositivo).await;
    let admin_op = add_operator(app, &admin, &["admin", "sportello"]).await;
    let desk_op = add_operator(app, &desk, &["sportello"]).await;
    let console = token_client(app, "operator-console", CONSOLE_SCOPES).await;
    World {
        live,
        console,
        admin,
        admin_op,
        desk,
        desk_op,
        citizen,
    }
}

#[actix_web::test]
async fn an_operators_tokens_and_userinfo_carry_the_roles_a_citizens_do_not() {
    let w = world().await;
    let t = login_for_tokens(&w.live, &w.console, &w.admin, "openid operator").await;
    assert_eq!(t.scope, "openid operator");
    assert_eq!(t.id_claims()["roles"], json!(["sportello", "admin"]));
    assert_eq!(t.access_claims()["roles"], json!(["sportello", "admin"]));
    let info = get(&w.live.app, "/userinfo", Some(&t.access_token)).await;
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.json()["roles"], json!(["sportello", "admin"]));

    // Without the scope, no roles, even for an operator.
    let plain = login_for_tokens(&w.live, &w.console, &w.admin, "openid inps:read").await;
    assert!(plain.id_claims().get("roles").is_none());
    assert!(plain.access_claims().get("roles").is_none());
    let info = get(&w.live.app, "/userinfo", Some(&plain.access_token)).await;
    assert!(info.json().get("roles").is_none());

    // A citizen with the scope: none either.
    let c = login_for_tokens(&w.live, &w.console, &w.citizen, "openid operator").await;
    assert!(c.id_claims().get("roles").is_none());
    assert!(c.access_claims().get("roles").is_none());
    let info = get(&w.live.app, "/userinfo", Some(&c.access_token)).await;
    assert_eq!(info.status, 200);
    assert!(info.json().get("roles").is_none());

    // Refreshes read the roles again: once disabled, none.
    let desk = login_for_tokens(&w.live, &w.console, &w.desk, "openid operator").await;
    assert_eq!(desk.access_claims()["roles"], json!(["sportello"]));
    let id = w.desk_op.id.clone();
    w.live
        .app
        .with_db(move |c, key, now| {
            operator::disable(c, key, &id, &Acting::new(Party::system()), now).unwrap()
        })
        .await;
    let refreshed =
        refresh_tokens(&w.live, &w.console, desk.refresh_token.as_deref().unwrap()).await;
    assert!(refreshed.access_claims().get("roles").is_none());
    assert!(
        refreshed
            .id_token
            .is_some_and(|t| jwt_claims(&t).get("roles").is_none())
    );

    // Discovery names the scope and the claim.
    let discovery = get(&w.live.app, "/.well-known/openid-configuration", None).await;
    let d = discovery.json();
    assert!(
        d["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("operator"))
    );
    assert!(
        d["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("roles"))
    );
}

#[actix_web::test]
async fn the_admin_api_checks_token_scope_operator_and_role_first() {
    let w = world().await;
    let app = &w.live.app;
    let admin = login_for_tokens(&w.live, &w.console, &w.admin, "openid operator").await;
    let desk = login_for_tokens(&w.live, &w.console, &w.desk, "openid operator").await;
    let citizen = login_for_tokens(&w.live, &w.console, &w.citizen, "openid inps:read").await;
    let admin_t = Some(admin.access_token.as_str());
    let desk_t = Some(desk.access_token.as_str());

    // Any operator: themself.
    let me = get(app, "/v1/operator/me", desk_t).await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(
        me.json(),
        json!({"id": w.desk_op.id, "display_name": "Operator sportello",
               "roles": ["sportello"], "office": "Roma Centro"})
    );

    // No token, a bad one: 401 with the RFC 6750 challenge.
    let none = get(app, "/v1/operator/me", None).await;
    none.assert_problem(401, "unauthorized");
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer realm=\"procura\"")
    );
    let bad = get(app, "/v1/operator/me", Some("not.a.token")).await;
    bad.assert_problem(401, "unauthorized");
    assert!(
        bad.header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    // Tampered: the signature no longer matches.
    let mut forged = admin.access_token.clone();
    forged.pop();
    forged.push(if admin.access_token.ends_with('A') {
        'B'
    } else {
        'A'
    });
    get(app, "/v1/operator/me", Some(&forged))
        .await
        .assert_problem(401, "unauthorized");

    // A citizen's token without the scope: 403, insufficient_scope.
    let p = get(app, "/v1/operator/me", Some(&citizen.access_token)).await;
    let body = p.assert_problem(403, "forbidden");
    assert_eq!(body["required_scope"], "operator");
    assert!(
        p.header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
    // A citizen with the scope is no operator.
    let c2 = login_for_tokens(&w.live, &w.console, &w.citizen, "openid operator").await;
    get(app, "/v1/operator/me", Some(&c2.access_token))
        .await
        .assert_problem(403, "forbidden");

    // A desk operator is not an admin: refused before the body is even read.
    let p = get(app, "/v1/operator/operators", desk_t).await;
    assert_eq!(p.assert_problem(403, "forbidden")["required_role"], "admin");
    post(app, "/v1/operator/operators", "{not json", desk_t)
        .await
        .assert_problem(403, "forbidden");
    post(app, "/v1/operator/operators", "{not json", None)
        .await
        .assert_problem(401, "unauthorized");
    let path = format!("/v1/operator/operators/{}/disable", w.admin_op.id);
    post(app, &path, "", desk_t)
        .await
        .assert_problem(403, "forbidden");

    // The admin: list, add, refusals, disable.
    let list = get(app, "/v1/operator/operators", admin_t).await;
    assert_eq!(list.status, 200, "{}", list.text());
    let ops = list.json()["operators"].as_array().unwrap().clone();
    assert_eq!(ops.len(), 2);
    let listed = ops
        .iter()
        .find(|o| o["id"] == w.admin_op.id.as_str())
        .unwrap();
    assert_eq!(listed["codice_fiscale"], w.admin.as_str());
    assert_eq!(listed["roles"], json!(["sportello", "admin"]));
    assert_eq!(listed["active"], true);

    let new_cf = cf("NREMRC75E12L219");
    let body = json!({"codice_fiscale": new_cf.to_lowercase(), "display_name": "Marco Neri",
                      "roles": ["contact_center", "web_meeting"]})
    .to_string();
    let added = post(app, "/v1/operator/operators", &body, admin_t).await;
    assert_eq!(added.status, 201, "{}", added.text());
    let added = added.json();
    assert_eq!(added["codice_fiscale"], new_cf);
    assert_eq!(added["roles"], json!(["contact_center", "web_meeting"]));
    assert_eq!(added["office"], json!(null));
    assert_eq!(added["active"], true);
    post(app, "/v1/operator/operators", &body, admin_t)
        .await
        .assert_problem(409, "conflict");
    let p = post(
        app,
        "/v1/operator/operators",
        &json!({"codice_fiscale": cf(CITIZEN_CF), "display_name": "X", "roles": ["root"]})
            .to_string(),
        admin_t,
    )
    .await;
    assert_eq!(
        p.assert_problem(422, "validation-failed")["errors"][0]["field"],
        "roles"
    );
    let p = post(
        app,
        "/v1/operator/operators",
        &json!({"codice_fiscale": "RSSMRA85T10H501Z", "display_name": "X", "roles": ["admin"]})
            .to_string(),
        admin_t,
    )
    .await;
    let p = p.assert_problem(422, "invalid-codice-fiscale");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("Invalid codice fiscale")
    );
    post(
        app,
        "/v1/operator/operators",
        "{\"codice_fiscale\"",
        admin_t,
    )
    .await
    .assert_problem(400, "malformed-json");
    post(
        app,
        "/v1/operator/operators",
        &json!({"codice_fiscale": cf(CITIZEN_CF), "display_name": "X", "roles": []}).to_string(),
        admin_t,
    )
    .await
    .assert_problem(422, "validation-failed");

    post(app, "/v1/operator/operators/nobody/disable", "", admin_t)
        .await
        .assert_problem(404, "not-found");
    let own = format!("/v1/operator/operators/{}/disable", w.admin_op.id);
    post(app, &own, "", admin_t)
        .await
        .assert_problem(409, "conflict");

    // Disabling the desk operator refuses their still-live token at once.
    assert_eq!(get(app, "/v1/operator/me", desk_t).await.status, 200);
    let path = format!("/v1/operator/operators/{}/disable", w.desk_op.id);
    let done = post(app, &path, "", admin_t).await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json()["active"], false);
    assert!(done.json()["disabled_at"].is_string());
    get(app, "/v1/operator/me", desk_t)
        .await
        .assert_problem(403, "forbidden");
    // Twice: nothing changes, nothing more is recorded.
    assert_eq!(post(app, &path, "", admin_t).await.status, 200);

    // A revoked token is refused at once.
    revoke(&w.live, &w.console, &admin.access_token).await;
    get(app, "/v1/operator/me", admin_t)
        .await
        .assert_problem(401, "unauthorized");

    // Every admin action recorded with the admin as actor.
    let audit = operator_audit(app).await;
    let actor = format!("operator:{}", w.admin_op.id);
    let by_admin: Vec<(&str, &str)> = audit
        .iter()
        .filter(|(a, _, _)| *a == actor)
        .map(|(_, b, d)| (b.as_str(), d["operator_id"].as_str().unwrap_or("")))
        .collect();
    let added_id = added["id"].as_str().unwrap();
    assert_eq!(
        by_admin,
        [
            ("operator.listed", ""),
            ("operator.added", added_id),
            ("operator.disabled", w.desk_op.id.as_str()),
        ]
    );
}

#[actix_web::test]
async fn a_login_below_the_minimum_level_gets_no_roles_and_no_operator_api() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let issuer = base.clone();
    let app = TestApp::spawn_with(move |c| {
        c.oauth.issuer = issuer;
        c.server.workers = 2;
        c.operator.min_level = procura::login::Level::SpidL2;
    })
    .await;
    let server = Application::build_on(app.state.clone(), listener).unwrap();
    actix_web::rt::spawn(server.run_until_stopped());
    let w = world_on(LiveApp { app, base }).await;
    let t = login_for_tokens(&w.live, &w.console, &w.admin, "openid operator").await;
    assert!(t.access_claims().get("roles").is_none());
    assert!(t.id_claims().get("roles").is_none());
    let p = get(&w.live.app, "/v1/operator/me", Some(&t.access_token)).await;
    let body = p.assert_problem(401, "insufficient-authentication");
    assert_eq!(body["acr_values"], "https://www.spid.gov.it/SpidL2");
    assert!(
        p.header("www-authenticate")
            .unwrap()
            .contains("insufficient_user_authentication")
    );
}

#[actix_web::test]
async fn enabling_and_changing_roles_are_audited_and_unknown_roles_refused() {
    let app = TestApp::spawn().await;
    let code = CodiceFiscale::parse(&cf(DESK_CF)).unwrap();
    let op = add_operator(&app, &code, &["sportello"]).await;
    let id = op.id.clone();
    let (changed, refused, enabled) = app
        .with_db(move |c, key, now| {
            let acting = Acting::new(Party::operator("admin-1"));
            operator::disable(c, key, &id, &acting, now).unwrap();
            let refused = operator::set_roles(c, key, &id, &["boss".into()], &acting, now);
            let changed = operator::set_roles(
                c,
                key,
                &id,
                &["web_meeting".into(), "sportello".into()],
                &acting,
                now,
            )
            .unwrap();
            let enabled = operator::enable(c, key, &id, &acting, now).unwrap();
            (changed, refused, enabled)
        })
        .await;
    assert!(matches!(refused, Err(operator::OperatorError::UnknownRole(r)) if r == "boss"));
    assert_eq!(changed.role_names(), ["sportello", "web_meeting"]);
    assert!(enabled.active && enabled.disabled_at.is_none());
    let audit = operator_audit(&app).await;
    let actions: Vec<&str> = audit.iter().map(|(_, b, _)| b.as_str()).collect();
    assert_eq!(
        actions,
        [
            "operator.added",
            "operator.disabled",
            "operator.roles_changed",
            "operator.enabled"
        ]
    );
    assert_eq!(audit[2].0, "operator:admin-1");
    assert_eq!(audit[2].2["previous_roles"], json!(["sportello"]));
}
