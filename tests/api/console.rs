//! The operator console through HTTP (the browser walks are in `console_browser.rs`): login
//! through the broker as a confidential client, the console session (CSP, no-store, CSRF,
//! inactivity, logout), a disabled operator refused on the next click.

use crate::console_support::*;
use crate::oidc_support::*;
use crate::persons_import::cf;
use chrono::Duration;
use procura::audit::Party;
use procura::oauth::client::{self, AuthMethod};
use procura::operator::{self, Acting};
use procura::person::CodiceFiscale;
use procura::pin::PinType;

fn person(first15: &str) -> CodiceFiscale {
    CodiceFiscale::parse(&cf(first15)).unwrap()
}

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
