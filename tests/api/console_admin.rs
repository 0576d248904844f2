//! The console's administration section through HTTP: operators (add, roles, disable,
//! enable), clients (add with the secret shown once, rotate, remove), the audit log (search,
//! pages, verification) and the SPID registry status — each action audited with the admin
//! as actor, and the refusals: non-admins, forms without the session's CSRF token, bad input.

use crate::console_support::*;
use crate::oidc_support::*;
use crate::spid_support::{FakeIdp, spid_app};
use procura::clock::Clock;
use procura::oauth::client;
use procura::oauth::token_hash;
use procura::operator::{self, Operator, Role};
use procura::person::CodiceFiscale;

async fn get(live: &LiveApp, b: &reqwest::Client, path: &str) -> (u16, String) {
    let r = b.get(format!("{}{path}", live.base)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

async fn post(
    live: &LiveApp,
    b: &reqwest::Client,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let r = post_console(live, b, page, path, fields).await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

async fn find_operator(live: &LiveApp, code: &CodiceFiscale) -> Option<Operator> {
    let code = code.as_str().to_owned();
    live.app
        .with_db(move |c, _, _| operator::find_by_codice_fiscale(c, &code).unwrap())
        .await
}

/// The actor of the newest audit record of `action`.
async fn actor_of(live: &LiveApp, action: &'static str) -> Option<String> {
    live.app
        .with_db(move |c, _, _| {
            use diesel::prelude::*;
            use procura::db::schema::audit_log;
            audit_log::table
                .filter(audit_log::action.eq(action))
                .order(audit_log::seq.desc())
                .select(audit_log::actor)
                .first::<String>(c)
                .optional()
                .unwrap()
        })
        .await
}

/// An admin (Anna) logged in to the console on the operators page.
async fn admin_at(live: &LiveApp, path: &str) -> (reqwest::Client, Operator, String) {
    let code = person("VRDNNA90A41H501");
    let admin = operator_with_pin(&live.app, &code, "Anna", "Verdi", &["admin"]).await;
    let b = browser();
    let page = console_login(live, &b, path, &code).await;
    (b, admin, page)
}

#[actix_web::test]
async fn an_admin_adds_operators_changes_roles_disables_and_enables_them() {
    let live = LiveApp::spawn().await;
    let (b, admin, page) = admin_at(&live, "/console/amministrazione/operatori").await;
    let by_admin = format!("operator:{}", admin.id);
    assert!(page.contains("Anna Verdi") && page.contains("Aggiungi l"));
    let (_, home) = get(&live, &b, "/console").await;
    assert!(home.contains("href=\"/console/amministrazione\""), "{home}");
    let (status, section) = get(&live, &b, "/console/amministrazione").await;
    assert_eq!(status, 200);
    for link in ["operatori", "client", "registro", "spid"] {
        assert!(section.contains(&format!("/console/amministrazione/{link}\"")));
    }

    // Bad input: every field's error beside it, nothing added.
    let (status, bad) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/operatori",
        &[("codice_fiscale", "RSSMRA80A01H50"), ("display_name", " ")],
    )
    .await;
    assert_eq!(status, 422);
    for id in ["e-codice_fiscale", "e-display_name", "e-roles"] {
        assert!(bad.contains(&format!("id=\"{id}\"")), "{id}: {bad}");
    }
    assert!(bad.contains("aria-invalid=\"true\""));

    // Carlo is added as contact centre and desk; the record is the admin's.
    let carlo = person("BNCCRL70A01H501");
    let (status, added) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/operatori",
        &[
            ("codice_fiscale", &carlo.as_str().to_lowercase()),
            ("display_name", "Carlo Bianchi"),
            ("office", "Milano"),
            ("role_contact_center", "1"),
            ("role_sportello", "1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{added}");
    assert!(
        added.contains("Carlo Bianchi è ora un operatore"),
        "{added}"
    );
    let op = find_operator(&live, &carlo).await.unwrap();
    assert_eq!(op.roles, [Role::Sportello, Role::ContactCenter]);
    assert_eq!(op.office.as_deref(), Some("Milano"));
    assert_eq!(actor_of(&live, "operator.added").await.unwrap(), by_admin);
    assert_eq!(actor_of(&live, "operator.listed").await.unwrap(), by_admin);
    // Twice: refused beside the codice fiscale.
    let (status, twice) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/operatori",
        &[
            ("codice_fiscale", carlo.as_str()),
            ("display_name", "Carlo Bianchi"),
            ("role_admin", "1"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(twice.contains("id=\"e-codice_fiscale\"") && twice.contains("già un operatore"));

    // Roles: changed; none ticked is refused beside that operator's roles.
    let roles = format!("/console/amministrazione/operatori/{}/ruoli", op.id);
    let (status, _) = post(&live, &b, &page, &roles, &[("role_web_meeting", "1")]).await;
    assert_eq!(status, 200);
    let op = find_operator(&live, &carlo).await.unwrap();
    assert_eq!(op.roles, [Role::WebMeeting]);
    assert_eq!(
        actor_of(&live, "operator.roles_changed").await.unwrap(),
        by_admin
    );
    let (status, none) = post(&live, &b, &page, &roles, &[]).await;
    assert_eq!(status, 422);
    assert!(
        none.contains(&format!("id=\"e-roles-{}\"", op.id)),
        "{none}"
    );
    assert_eq!(
        find_operator(&live, &carlo).await.unwrap().roles,
        [Role::WebMeeting]
    );
    // An admin cannot drop their own admin role, nor disable themself.
    let own = format!("/console/amministrazione/operatori/{}/ruoli", admin.id);
    let (status, _) = post(&live, &b, &page, &own, &[("role_sportello", "1")]).await;
    assert_eq!(status, 422);
    assert!(
        find_operator(&live, &admin.codice_fiscale)
            .await
            .unwrap()
            .has_role(Role::Admin)
    );
    let own = format!("/console/amministrazione/operatori/{}/disattiva", admin.id);
    let (status, _) = post(&live, &b, &page, &own, &[]).await;
    assert_eq!(status, 409);

    // Carlo, logged in, is disabled: out on his next click; enabled again: back.
    give_pin_to(&live, &carlo).await;
    let carlo_b = browser();
    console_login(&live, &carlo_b, "/console", &carlo).await;
    let disable = format!("/console/amministrazione/operatori/{}/disattiva", op.id);
    let (status, done) = post(&live, &b, &page, &disable, &[]).await;
    assert_eq!(status, 200);
    assert!(done.contains("Carlo Bianchi è disattivato"));
    assert!(done.contains(&format!(
        "/console/amministrazione/operatori/{}/riattiva",
        op.id
    )));
    assert!(!find_operator(&live, &carlo).await.unwrap().active);
    assert_eq!(
        actor_of(&live, "operator.disabled").await.unwrap(),
        by_admin
    );
    let (status, out) = get(&live, &carlo_b, "/console").await;
    assert_eq!(status, 403);
    assert!(out.contains("non è più attiva"));
    let enable = format!("/console/amministrazione/operatori/{}/riattiva", op.id);
    let (status, _) = post(&live, &b, &page, &enable, &[]).await;
    assert_eq!(status, 200);
    assert!(find_operator(&live, &carlo).await.unwrap().active);
    assert_eq!(actor_of(&live, "operator.enabled").await.unwrap(), by_admin);
    console_login(&live, &carlo_b, "/console", &carlo).await;

    // An operator that does not exist.
    let (status, _) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/operatori/nessuno/disattiva",
        &[],
    )
    .await;
    assert_eq!(status, 404);

    // Without the session's CSRF token: refused, nothing changed.
    let forged = b
        .post(format!("{}{disable}", live.base))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let bare = b
        .post(format!("{}{disable}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 403);
    assert!(find_operator(&live, &carlo).await.unwrap().active);
}

async fn give_pin_to(live: &LiveApp, code: &CodiceFiscale) {
    add_person(&live.app, code, "Carlo", "Bianchi").await;
    give_pin(
        &live.app,
        code,
        PERSONAL_PIN,
        procura::pin::PinType::Dispositivo,
        false,
    )
    .await;
}

#[actix_web::test]
async fn operators_without_the_admin_role_are_refused_every_admin_page_and_form() {
    let live = LiveApp::spawn().await;
    let code = person("RSSMRA80A01H501");
    operator_with_pin(
        &live.app,
        &code,
        "Mario",
        "Rossi",
        &["sportello", "contact_center"],
    )
    .await;
    let b = browser();
    let home = console_login(&live, &b, "/console", &code).await;
    assert!(!home.contains("/console/amministrazione"), "{home}");
    for path in [
        "/console/amministrazione",
        "/console/amministrazione/operatori",
        "/console/amministrazione/client",
        "/console/amministrazione/registro",
        "/console/amministrazione/spid",
    ] {
        let (status, page) = get(&live, &b, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(page.contains("richiede un ruolo"), "{path}");
    }
    let newcomer = person("BNCCRL70A01H501");
    for (path, fields) in [
        (
            "/console/amministrazione/operatori",
            vec![
                ("codice_fiscale", newcomer.as_str()),
                ("display_name", "Carlo Bianchi"),
                ("role_admin", "1"),
            ],
        ),
        (
            "/console/amministrazione/client",
            vec![
                ("client_id", "sneaky"),
                ("display_name", "Sneaky"),
                ("auth_method", "client_secret_basic"),
                ("grant_client_credentials", "1"),
                ("scopes", "inps:read"),
            ],
        ),
        ("/console/amministrazione/registro/verifica", vec![]),
        ("/console/amministrazione/spid/aggiorna", vec![]),
    ] {
        let (status, _) = post(&live, &b, &home, path, &fields).await;
        assert_eq!(status, 403, "{path}");
    }
    assert!(find_operator(&live, &newcomer).await.is_none());
    assert!(
        live.app
            .with_db(|c, _, _| client::find(c, "sneaky").unwrap())
            .await
            .is_none()
    );
    // Without a session at all: to the login.
    let (status, _) = get(&live, &browser(), "/console/amministrazione/registro").await;
    assert_eq!(status, 303);
}

#[actix_web::test]
async fn an_admin_registers_rotates_and_removes_clients() {
    let live = LiveApp::spawn().await;
    let (b, admin, page) = admin_at(&live, "/console/amministrazione/client").await;
    let by_admin = format!("operator:{}", admin.id);
    assert!(
        page.contains("procura-console"),
        "the console's own client is listed"
    );

    // Bad input beside its field.
    let (status, bad) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/client",
        &[
            ("client_id", "x"),
            ("display_name", "X"),
            ("scopes", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(bad.contains("id=\"e-auth_method\""), "{bad}");
    let (status, bad) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/client",
        &[
            ("client_id", "x"),
            ("display_name", "X"),
            ("auth_method", "none"),
            ("grant_authorization_code", "1"),
            ("redirect_uris", "https://app.example.it/cb"),
            ("scopes", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(bad.contains("id=\"e-client_id\""), "{bad}");
    let (status, bad) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/client",
        &[
            ("client_id", "pensioni-web"),
            ("display_name", "Pensioni"),
            ("auth_method", "client_secret_basic"),
            ("grant_authorization_code", "1"),
            ("redirect_uris", "http://app.example.it/cb"),
            ("scopes", "openid inps:read"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(bad.contains("id=\"e-redirect_uris\""), "{bad}");
    assert!(bad.contains("pensioni-web"), "what was typed is kept");

    // Registered: the secret shown once, stored only as its hash.
    let (status, done) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/client",
        &[
            ("client_id", "pensioni-web"),
            ("display_name", "Pensioni"),
            ("auth_method", "client_secret_basic"),
            ("grant_authorization_code", "1"),
            ("grant_refresh_token", "1"),
            (
                "redirect_uris",
                "https://app.example.it/cb\r\nhttps://app.example.it/cb2",
            ),
            ("scopes", "openid inps:read"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let secret = between(&done, "<code id=\"segreto\">", "</code>");
    assert!(secret.len() >= 32, "{secret}");
    let stored = live
        .app
        .with_db(|c, _, _| client::find(c, "pensioni-web").unwrap().unwrap())
        .await;
    assert_eq!(stored.redirect_uris.len(), 2);
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(token_hash::hash(&secret).as_str())
    );
    assert_eq!(
        actor_of(&live, "client.registered").await.unwrap(),
        by_admin
    );
    let (_, again) = get(&live, &b, "/console/amministrazione/client").await;
    assert!(!again.contains(&secret), "shown once");

    // Rotated: a new secret, the old one no longer matches.
    let (status, rotated) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/client/pensioni-web/segreto",
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let new_secret = between(&rotated, "<code id=\"segreto\">", "</code>");
    assert_ne!(new_secret, secret);
    let stored = live
        .app
        .with_db(|c, _, _| client::find(c, "pensioni-web").unwrap().unwrap())
        .await;
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(token_hash::hash(&new_secret).as_str())
    );
    assert_eq!(
        actor_of(&live, "client.secret_set").await.unwrap(),
        by_admin
    );

    // The console's own client is procura's: neither removed nor rotated here.
    for action in ["rimuovi", "segreto"] {
        let (status, _) = post(
            &live,
            &b,
            &page,
            &format!("/console/amministrazione/client/procura-console/{action}"),
            &[],
        )
        .await;
        assert_eq!(status, 409, "{action}");
    }

    // Removed; a second time it is not there; a CSRF-less removal is refused.
    let forged = b
        .post(format!(
            "{}/console/amministrazione/client/pensioni-web/rimuovi",
            live.base
        ))
        .form(&[("csrf", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let (status, _) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/client/pensioni-web/rimuovi",
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        live.app
            .with_db(|c, _, _| client::find(c, "pensioni-web").unwrap())
            .await
            .is_none()
    );
    assert_eq!(actor_of(&live, "client.removed").await.unwrap(), by_admin);
    let (status, _) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/client/pensioni-web/rimuovi",
        &[],
    )
    .await;
    assert_eq!(status, 404);
}

fn between(html: &str, start: &str, end: &str) -> String {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    let to = html[from..].find(end).unwrap() + from;
    html[from..to].to_owned()
}

#[actix_web::test]
async fn an_admin_searches_the_audit_log_pages_through_it_and_verifies_the_chain() {
    let live = LiveApp::spawn().await;
    let (b, admin, page) = admin_at(&live, "/console/amministrazione/registro").await;
    assert!(page.contains("id=\"eventi\""), "the newest events: {page}");

    // Marco gets a PIN (a record about him); sixty more imports (62 with Anna's and Marco's).
    let marco = person("RSSMRC80A01H501");
    add_person(&live.app, &marco, "Marco", "Rossi").await;
    give_pin(
        &live.app,
        &marco,
        PERSONAL_PIN,
        procura::pin::PinType::Dispositivo,
        false,
    )
    .await;
    for i in 0..60 {
        let code = person(&format!("GLLBRN{:02}A01H501", 30 + i));
        add_person(&live.app, &code, "Bruno", "Galli").await;
    }
    let records = |html: &str| html.matches("<strong>N. ").count();
    let search = |q: &str| format!("/console/amministrazione/registro?{q}");

    // By person: Marco's import only; the search itself recorded, about him.
    let (status, found) = get(&live, &b, &search(&format!("persona={}", marco.as_str()))).await;
    assert_eq!(status, 200);
    assert_eq!(records(&found), 1, "{found}");
    assert!(found.contains("pin.credential.set"));
    assert!(found.contains(&format!("person:{}", marco.as_str())));
    let searched = live
        .app
        .with_db(|c, _, _| {
            use diesel::prelude::*;
            use procura::db::schema::audit_log;
            audit_log::table
                .filter(audit_log::action.eq("audit.searched"))
                .order(audit_log::seq.desc())
                .select((audit_log::actor, audit_log::subject, audit_log::detail))
                .first::<(String, Option<String>, Option<String>)>(c)
                .unwrap()
        })
        .await;
    assert_eq!(searched.0, format!("operator:{}", admin.id));
    assert_eq!(searched.1, Some(format!("person:{}", marco.as_str())));
    assert!(
        !searched.2.unwrap().contains(marco.as_str()),
        "masked in the detail"
    );

    // By action prefix: 62 imports, 50 a page, the next page by link.
    let (status, first) = get(&live, &b, &search("azione=persons.")).await;
    assert_eq!(status, 200);
    assert_eq!(records(&first), 50);
    let next = between(&first, "id=\"precedenti\" href=\"", "\"").replace("&#38;", "&");
    let (status, second) = get(&live, &b, &next).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(records(&second), 12, "{next}");
    assert!(!second.contains("Eventi precedenti"));

    // By operator (codice fiscale or id) and by day.
    let today = live
        .app
        .clock
        .now()
        .with_timezone(&chrono_tz::Europe::Rome)
        .format("%Y-%m-%d")
        .to_string();
    let (status, by_admin) = get(
        &live,
        &b,
        &search(&format!(
            "operatore={}&azione=audit.searched&dal={today}&al={today}",
            admin.codice_fiscale.as_str()
        )),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(records(&by_admin), 4, "{by_admin}");
    assert!(by_admin.contains("(Anna Verdi)"));
    let (_, by_id) = get(&live, &b, &search(&format!("operatore={}", admin.id))).await;
    assert!(by_id.contains("audit.searched"));
    let (_, tomorrow) = get(&live, &b, &search("dal=2999-01-01")).await;
    assert!(tomorrow.contains("id=\"nessun-evento\""));

    // Bad input beside its field.
    for (q, field) in [
        ("persona=RSSMRA80A01H50", "e-persona"),
        ("operatore=nobody", "e-operatore"),
        ("azione=%25%27", "e-azione"),
        ("dal=03/12/2026", "e-dal"),
        ("dal=2026-12-03&al=2026-12-01", "e-al"),
    ] {
        let (status, bad) = get(&live, &b, &search(q)).await;
        assert_eq!(status, 422, "{q}");
        assert!(bad.contains(&format!("id=\"{field}\"")), "{q}: {bad}");
    }
    let (status, _) = get(&live, &b, &search("prima=abc")).await;
    assert_eq!(status, 422);

    // The chain verified, as `procura audit verify` does; the check recorded.
    let (status, verified) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/registro/verifica",
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert!(verified.contains("Registro integro"), "{verified}");
    assert_eq!(
        actor_of(&live, "audit.verified").await.unwrap(),
        format!("operator:{}", admin.id)
    );
    let forged = b
        .post(format!(
            "{}/console/amministrazione/registro/verifica",
            live.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}

#[actix_web::test]
async fn the_spid_registry_status_shows_idps_sources_and_errors() {
    // SPID off: said so.
    let live = LiveApp::spawn().await;
    let (b, _, page) = admin_at(&live, "/console/amministrazione/spid").await;
    assert!(page.contains("SPID non è tra i metodi"), "{page}");
    let (status, _) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/spid/aggiorna",
        &[],
    )
    .await;
    assert_eq!(status, 200);

    // SPID on with one IdP: its source fresh; a source that cannot be read, reported.
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let (b, admin, page) = admin_at(&live, "/console/amministrazione/spid").await;
    assert!(
        page.contains("con <strong>1</strong> identity provider"),
        "{page}"
    );
    assert!(page.contains(&idp.metadata_path.display().to_string()));
    assert!(page.contains("Aggiornata."), "{page}");
    let (status, refreshed) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/spid/aggiorna",
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert!(refreshed.contains("Registro aggiornato"), "{refreshed}");
    assert_eq!(
        actor_of(&live, "spid.registry_refreshed").await.unwrap(),
        format!("operator:{}", admin.id)
    );
    std::fs::remove_file(&idp.metadata_path).unwrap();
    let (status, failed) = post(
        &live,
        &b,
        &page,
        "/console/amministrazione/spid/aggiorna",
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert!(failed.contains("Aggiornamento incompleto"), "{failed}");
    assert!(failed.contains("id=\"errori-aggiornamento\""));
    assert!(
        failed.contains("con <strong>1</strong> identity provider"),
        "last good copy kept"
    );
}
