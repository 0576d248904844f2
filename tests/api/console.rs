//! The operator console through HTTP (the browser walks are in `console_browser.rs`): login
//! through the broker as a confidential client, the console session (CSP, no-store, CSRF,
//! inactivity, logout), a disabled operator refused on the next click.

use crate::console_support::*;
use crate::oidc_support::*;
use chrono::Duration;
use procura::audit::Party;
use procura::oauth::client::{self, AuthMethod};
use procura::operator::{self, Acting};
use procura::pin::PinType;

#[actix_web::test]
async fn an_operator_logs_in_through_the_broker_and_out() {
    let live = LiveApp::spawn().await;
    let code = person("RSSMRA80A01H501");
    operator_with_pin(&live.app, &code, "Mario", "Rossi", &["contact_center"]).await;
    let b = browser();

    // Without a session: to the broker, as the console's confidential client, at the
    // operators' level, always asking for credentials.
    let start = b
        .get(format!("{}/console", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let authorize = location(&start);
    for part in [
        "client_id=procura-console",
        "scope=openid+operator",
        "acr_values=https%3A%2F%2Fprocura.inps.it%2Facr%2Fpin-dispositivo",
        "prompt=login",
        "code_challenge_method=S256",
    ] {
        assert!(authorize.contains(part), "{part} in {authorize}");
    }
    let registered = live
        .app
        .with_db(|c, _, _| client::find(c, "procura-console").unwrap().unwrap())
        .await;
    assert_eq!(registered.auth_method, AuthMethod::ClientSecretBasic);
    assert!(registered.scopes.contains("operator"));

    let home = console_login(&live, &b, "/console", &code).await;
    assert!(home.contains("Mario Rossi"), "{home}");
    assert!(home.contains("contact center"), "roles from the token");
    let page = b
        .get(format!("{}/console", live.base))
        .send()
        .await
        .unwrap();
    let h = |n: &str| page.headers().get(n).unwrap().to_str().unwrap().to_owned();
    assert_eq!(h("cache-control"), "no-store");
    let csp = h("content-security-policy");
    assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self';"));
    assert!(
        !csp.contains("script-src") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(h("x-frame-options"), "DENY");
    let html = page.text().await.unwrap();
    let csrf = input_value(&html, "csrf");

    // Logout without the form's token: refused, still logged in.
    let forged = b
        .post(format!("{}/console/esci", live.base))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("Richiesta non valida")
    );
    let still = b
        .get(format!("{}/console", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200);

    // Logout: the console session, then the broker's single sign-on, back to /console/uscita.
    let out = b
        .post(format!("{}/console/esci", live.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        location(&out).starts_with("/logout?id_token_hint="),
        "{}",
        location(&out)
    );
    let broker = follow(&b, &live.base, &out).await;
    assert_eq!(broker.status(), 303, "{}", broker.text().await.unwrap());
    assert_eq!(location(&broker), format!("{}/console/uscita", live.base));
    let bye = follow(&b, &live.base, &broker).await;
    assert!(
        bye.text()
            .await
            .unwrap()
            .contains("Sei uscito dalla console")
    );
    let again = b
        .get(format!("{}/console", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    assert!(location(&again).starts_with("/authorize?"));

    let actions = live
        .app
        .with_db(|c, _, _| {
            use diesel::prelude::*;
            use procura::db::schema::audit_log;
            audit_log::table
                .filter(audit_log::action.like("console.%"))
                .order(audit_log::seq.asc())
                .select(audit_log::action)
                .load::<String>(c)
                .unwrap()
        })
        .await;
    assert_eq!(
        actions,
        ["console.session.started", "console.session.ended"]
    );
}

#[actix_web::test]
async fn sessions_end_after_inactivity_and_a_disabled_operator_is_out_on_the_next_click() {
    let live = LiveApp::spawn_with(|c| c.operator.console_idle_timeout_secs = 600).await;
    let code = person("RSSMRA80A01H501");
    let op = operator_with_pin(&live.app, &code, "Mario", "Rossi", &["sportello"]).await;
    let b = browser();
    console_login(&live, &b, "/console", &code).await;
    live.app.clock.advance(Duration::seconds(590));
    let ok = b
        .get(format!("{}/console", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "a request keeps the session alive");
    live.app.clock.advance(Duration::seconds(601));
    let idle = b
        .get(format!("{}/console", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(idle.status(), 401);
    assert!(
        idle.text()
            .await
            .unwrap()
            .contains("scaduta per inattività")
    );
    let next = b
        .get(format!("{}/console", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 303, "to the login again");

    // Logged in again, then disabled by an administrator: out on the next click.
    console_login(&live, &b, "/console", &code).await;
    let id = op.id.clone();
    live.app
        .with_db(move |c, key, now| {
            operator::disable(c, key, &id, &Acting::new(Party::system()), now).unwrap()
        })
        .await;
    let out = b
        .get(format!("{}/console", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 403);
    assert!(out.text().await.unwrap().contains("non è più attiva"));
    // And cannot log in again.
    let back = console_login_redirect(&live, &b, "/console", &code).await;
    let refused = follow(&b, &live.base, &back).await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Non risulti un operatore")
    );
}

#[actix_web::test]
async fn a_person_who_is_not_an_operator_is_refused_and_a_forged_callback_too() {
    let live = LiveApp::spawn().await;
    let code = person("VRDNNA90A41H501");
    add_person(&live.app, &code, "Anna", "Verdi").await;
    give_pin(&live.app, &code, PERSONAL_PIN, PinType::Dispositivo, false).await;
    let b = browser();
    let back = console_login_redirect(&live, &b, "/console", &code).await;
    let refused = follow(&b, &live.base, &back).await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Non risulti un operatore")
    );

    // A callback this browser did not start, or with another state: refused.
    let other = browser();
    let r = other
        .get(format!("{}/console/accesso?code=x&state=y", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let _ = other
        .get(format!("{}/console", live.base))
        .send()
        .await
        .unwrap();
    let r = other
        .get(format!("{}/console/accesso?code=x&state=y", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("non corrisponde"));
}

#[actix_web::test]
async fn the_contact_centre_claims_then_rejects_or_records_no_answer() {
    let live = LiveApp::spawn().await;
    let code = person("RSSMRA80A01H501");
    operator_with_pin(&live.app, &code, "Carla", "Neri", &["contact_center"]).await;
    let (anna, bruno) = (person("VRDNNA90A41H501"), person("BRNBRN70A01H501"));
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    add_person(&live.app, &bruno, "Bruno", "Galli").await;
    let anna_id = queued_pin_request(&live, &anna, "Anna", "Verdi").await;
    live.app.clock.advance(Duration::seconds(1));
    let bruno_id = queued_pin_request(&live, &bruno, "Bruno", "Galli").await;
    let b = browser();
    let queue = console_login(&live, &b, "/console/contact-center", &code).await;
    assert!(queue.contains("Anna Verdi") && queue.contains("Bruno Galli"));
    assert!(
        queue.find("Anna Verdi") < queue.find("Bruno Galli"),
        "oldest first"
    );
    let filtered = b
        .get(format!(
            "{}/console/contact-center?motivo=address&canale=online",
            live.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.status(), 200);
    let bad = b
        .get(format!("{}/console/contact-center?motivo=%25", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    // Anna's request beside the registry; claimed; a CSRF-less claim is refused first.
    let at = |id: &str| format!("/console/contact-center/richieste/{id}");
    let page = b
        .get(format!("{}{}", live.base, at(&anna_id)))
        .send()
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Via Milano 3") && page.contains("Via Roma 1") && page.contains("(diverso)")
    );
    let forged = b
        .post(format!("{}{}/prendi", live.base, at(&anna_id)))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let claimed = post_console(&live, &b, &page, &format!("{}/prendi", at(&anna_id)), &[]).await;
    assert_eq!(claimed.status(), 303);
    let page = follow(&b, &live.base, &claimed).await.text().await.unwrap();
    assert!(page.contains("Presa in carico da te"), "{page}");
    // A rejection needs a reason.
    let no_reason = post_console(
        &live,
        &b,
        &page,
        &format!("{}/esito", at(&anna_id)),
        &[("outcome", "rejected")],
    )
    .await;
    assert_eq!(no_reason.status(), 422);
    let rejected = post_console(
        &live,
        &b,
        &page,
        &format!("{}/esito", at(&anna_id)),
        &[("outcome", "rejected"), ("reason", "Dati non confermati")],
    )
    .await;
    assert_eq!(rejected.status(), 303);
    let after = follow(&b, &live.base, &rejected)
        .await
        .text()
        .await
        .unwrap();
    assert!(after.contains("rifiutata"));

    // Bruno: no answer; the next call time is shown, and the request leaves the due queue.
    let page = b
        .get(format!("{}{}", live.base, at(&bruno_id)))
        .send()
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    let claimed = post_console(&live, &b, &page, &format!("{}/prendi", at(&bruno_id)), &[]).await;
    let page = follow(&b, &live.base, &claimed).await.text().await.unwrap();
    let none = post_console(
        &live,
        &b,
        &page,
        &format!("{}/esito", at(&bruno_id)),
        &[("outcome", "no_answer")],
    )
    .await;
    let after = follow(&b, &live.base, &none).await.text().await.unwrap();
    assert!(after.contains("Prossima chiamata dalle"), "{after}");
    let queue = b
        .get(format!("{}/console/contact-center", live.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(queue.contains("Nessuna richiesta da richiamare"));

    // Reading is audited as the API audits it; an operator without the role is refused.
    let listed = live
        .app
        .with_db(|c, _, _| {
            use diesel::prelude::*;
            use procura::db::schema::audit_log;
            audit_log::table
                .filter(audit_log::action.eq_any(["pin.queue.listed", "pin.request.viewed"]))
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await;
    assert!(listed >= 6, "{listed}");
    let desk = person("GLLGNN70A01H501");
    operator_with_pin(&live.app, &desk, "Gianni", "Galli", &["sportello"]).await;
    let other = browser();
    let back = console_login_redirect(&live, &other, "/console/contact-center", &desk).await;
    let landed = follow(&other, &live.base, &back).await;
    let refused = follow(&other, &live.base, &landed).await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Funzione non disponibile")
    );
}

#[actix_web::test]
async fn the_desk_issues_a_pin_and_answers_the_sealed_envelope() {
    let live = LiveApp::spawn().await;
    let code = person("GLLGNN70A01H501");
    operator_with_pin(&live.app, &code, "Gianni", "Galli", &["sportello"]).await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let b = browser();
    let page = console_login(&live, &b, "/console/sportello", &code).await;
    let csrf = input_value(&page, "csrf");
    let post = |fields: Vec<(&'static str, String)>, files: Vec<(&'static str, &'static [u8])>| {
        let b = b.clone();
        let url = format!("{}/console/sportello/pin", live.base);
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (ct, body) = multipart(&f, &files);
            b.post(url)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    // Without the session's token: refused, nothing issued.
    let forged = post(
        vec![
            ("csrf", "x".into()),
            ("codice_fiscale", anna.as_str().into()),
        ],
        vec![("mv35", PDF), ("id_document", PDF)],
    )
    .await;
    assert_eq!(forged.status(), 403);
    // A missing document and a bad file: said on the form.
    let missing = post(
        vec![
            ("csrf", csrf.clone()),
            ("codice_fiscale", anna.as_str().into()),
        ],
        vec![("mv35", b"not a pdf")],
    )
    .await;
    assert_eq!(missing.status(), 422);
    let text = missing.text().await.unwrap();
    assert!(
        text.contains("Modulo MV35: documento non accettato"),
        "{text}"
    );
    assert!(text.contains("Documento di identità: carica il documento"));
    // Issued: the envelope PDF, not stored by the browser.
    let ok = post(
        vec![
            ("csrf", csrf.clone()),
            ("codice_fiscale", anna.as_str().into()),
        ],
        vec![("mv35", PDF), ("id_document", PDF)],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "application/pdf");
    assert_eq!(ok.headers()["cache-control"], "no-store");
    let pdf = ok.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let issued = live
        .app
        .with_db(|c, _, _| {
            use diesel::prelude::*;
            use procura::db::schema::audit_log;
            audit_log::table
                .filter(audit_log::actor.like("operator:%"))
                .filter(audit_log::action.like("pin.%"))
                .select(audit_log::action)
                .load::<String>(c)
                .unwrap()
        })
        .await;
    assert!(!issued.is_empty(), "audited with the operator as actor");
    // A person not in the registry: refused on the form.
    let stranger = person("BNCLGU80A01H501");
    let again = post(
        vec![("csrf", csrf), ("codice_fiscale", stranger.as_str().into())],
        vec![("mv35", PDF), ("id_document", PDF)],
    )
    .await;
    assert_eq!(again.status(), 422);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("anagrafe: il PIN non può essere rilasciato")
    );
}

#[actix_web::test]
async fn the_desk_registers_an_aa10_and_another_operator_verifies_it() {
    let live = LiveApp::spawn().await;
    let (gianni, paola) = (person("GLLGNN70A01H501"), person("PLAMRN75A41H501"));
    operator_with_pin(&live.app, &gianni, "Gianni", "Galli", &["sportello"]).await;
    operator_with_pin(&live.app, &paola, "Paola", "Marini", &["sportello"]).await;
    let (anna, bruno) = (person("VRDNNA90A41H501"), person("BRNBRN70A01H501"));
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    add_person(&live.app, &bruno, "Bruno", "Galli").await;
    let b = browser();
    let page = console_login(&live, &b, "/console/sportello/deleghe", &gianni).await;
    let csrf = input_value(&page, "csrf");
    let url = format!("{}/console/sportello/deleghe", live.base);
    let fields = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("channel", "sportello_aa10".to_owned()),
            ("kind", "amministratore_di_sostegno".to_owned()),
            ("delegator_codice_fiscale", anna.as_str().to_owned()),
            ("delegate_codice_fiscale", bruno.as_str().to_owned()),
            (
                "decree_reference",
                "Tribunale di Roma, R.G. 123/2026".to_owned(),
            ),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>, files: Vec<(&'static str, &'static [u8])>| {
        let (b, url) = (b.clone(), url.clone());
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (ct, body) = multipart(&f, &files);
            b.post(url)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(send(fields("x"), vec![("aa10", PDF)]).await.status(), 403);
    let missing = send(fields(&csrf), vec![("aa10", PDF)]).await;
    assert_eq!(missing.status(), 422);
    assert!(missing.text().await.unwrap().contains("Manca un documento"));
    let ok = send(
        fields(&csrf),
        vec![
            ("aa10", PDF),
            ("delegator_id_document", PDF),
            ("delegate_id_document", PDF),
            ("self_declaration", PDF),
        ],
    )
    .await;
    assert_eq!(ok.status(), 303, "{}", ok.text().await.unwrap());
    let page = follow(&b, &live.base, &ok).await.text().await.unwrap();
    assert!(
        page.contains("in attesa della") && page.contains("Registrata da te"),
        "{page}"
    );
    let id = live
        .app
        .with_db(|c, _, _| {
            procura::delegation::registry::pending_verification(c, 10).unwrap()[0]
                .id
                .clone()
        })
        .await;
    // The operator who registered it cannot verify it.
    let own = post_console(
        &live,
        &b,
        &page,
        &format!("/console/sportello/deleghe/{id}/verifica"),
        &[("outcome", "confirmed")],
    )
    .await;
    assert_eq!(own.status(), 409);
    // Another operator confirms it: active.
    let other = browser();
    let page = console_login(&live, &other, "/console/sportello/deleghe", &paola).await;
    assert!(page.contains("Conferma la rappresentanza"));
    let done = post_console(
        &live,
        &other,
        &page,
        &format!("/console/sportello/deleghe/{id}/verifica"),
        &[("outcome", "confirmed")],
    )
    .await;
    assert_eq!(done.status(), 303);
    let page = follow(&other, &live.base, &done)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("la rappresentanza è attiva")
            && page.contains("Nessuna rappresentanza in attesa")
    );
}
