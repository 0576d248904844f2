//! The citizen pages through HTTP, where a browser is not needed to see the rule: static
//! files and their cache, the content security policy, pages (never JSON) for browser
//! navigations, the login page's methods and dead ends, the failed logout, texts from the
//! configuration, CSRF and Post/Redirect/Get. The walks in a real browser are browser.rs.

use crate::auth_support::*;
use crate::oidc_support::*;
use crate::pin_login::{alert_text, error_text};
use crate::spid_support::*;
use chrono::Duration;
use procura::pin::PinType;

const HTML: &str = "text/html,application/xhtml+xml";

async fn get_html(b: &reqwest::Client, url: &str) -> reqwest::Response {
    b.get(url).header("accept", HTML).send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[actix_web::test]
async fn static_files_are_fingerprinted_long_cached_and_gzipped() {
    let live = LiveApp::spawn().await;
    let b = browser();
    let page = get_html(&b, &format!("{}/pin/richiesta", live.base)).await;
    let html = page.text().await.unwrap();
    let links: Vec<&str> = html
        .match_indices("href=\"/static/")
        .map(|(i, _)| {
            let start = i + 6;
            &html[start..start + html[start..].find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        links.len(),
        2,
        "Bootstrap Italia and procura.css: {links:?}"
    );
    for link in &links {
        let resp = b
            .get(format!("{}{link}", live.base))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{link}");
        assert_eq!(
            header(&resp, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(header(&resp, "content-type").starts_with("text/css"));
        // reqwest without the gzip feature leaves the body compressed: the header says it.
        assert_eq!(header(&resp, "content-encoding"), "gzip", "{link}");
    }
    // The stylesheet carries the Titillium Web faces, at fingerprinted URLs of their own.
    let css = b
        .get(format!("{}{}", live.base, links[1]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let font = css
        .split("url(\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an @font-face");
    assert!(font.starts_with("/static/titillium-web-"), "{font}");
    let resp = b.get(format!("{}{font}", live.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "font/woff2");
    // An old or made-up fingerprint is not served.
    let stale = links[0].replace(".min.", ".min.0000");
    let resp = get_html(&b, &format!("{}{stale}", live.base)).await;
    assert_eq!(resp.status(), 404);
    assert!(header(&resp, "content-type").starts_with("text/html"));
}

#[actix_web::test]
async fn pages_are_no_store_with_a_strict_policy_and_api_errors_stay_problems() {
    let live = LiveApp::spawn().await;
    let b = browser();
    for path in [
        "/",
        "/pin/richiesta",
        "/pin/recupero",
        "/non-esiste",
        "/pin/login",
        "/spid/acs",
    ] {
        let resp = get_html(&b, &format!("{}{path}", live.base)).await;
        assert!(
            header(&resp, "content-type").starts_with("text/html"),
            "{path}: {}",
            header(&resp, "content-type")
        );
        assert_eq!(header(&resp, "cache-control"), "no-store", "{path}");
        let csp = header(&resp, "content-security-policy");
        assert!(
            csp.starts_with("default-src 'none'; style-src 'self'"),
            "{csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("script-src"),
            "{csp}"
        );
        let body = resp.text().await.unwrap();
        assert!(
            body.contains("<html lang=\"it\">") && body.contains("Vai al contenuto principale")
        );
        assert!(body.contains("Dichiarazione di accessibilità") && body.contains("803 164"));
        assert!(
            !body.contains("style=") && !body.contains("<script"),
            "{path}"
        );
    }
    // A wrong method on a page: the page says so, with Allow.
    let resp = get_html(&b, &format!("{}/area-personale/deleghe/minore", live.base)).await;
    assert_eq!(resp.status(), 405);
    assert_eq!(header(&resp, "allow"), "POST");
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Pagina non disponibile così")
    );
    // The APIs answer problems whatever the Accept header.
    for path in ["/v1/pin/requests", "/v1/nothing-here", "/token"] {
        let resp = get_html(&b, &format!("{}{path}", live.base)).await;
        assert_eq!(
            header(&resp, "content-type"),
            "application/problem+json",
            "{path}"
        );
    }
    // Without Accept: text/html (a script, curl) the router's problems as before.
    let resp = b
        .get(format!("{}/non-esiste", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "content-type"), "application/problem+json");
}

#[actix_web::test]
async fn the_spid_button_follows_login_methods_with_logos_in_the_policy() {
    let idp = FakeIdp::at(IDP_SSO, IDP_SLO, Some("https://logo.idp.example/spid.svg"));
    let path = idp.metadata_path.clone();
    let live = LiveApp::spawn_with(move |c| {
        c.login.methods = vec!["pin".into(), "spid".into()];
        c.spid.idp_metadata = vec![path.display().to_string()];
    })
    .await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let (_, auth) = authorize_url(&live, &client, "openid", None);
    let b = browser();
    let resp = b.get(auth.as_str()).send().await.unwrap();
    let login = format!("{}{}", live.base, location(&resp));
    let resp = b.get(&login).send().await.unwrap();
    let csp = header(&resp, "content-security-policy");
    assert!(
        csp.contains("img-src 'self' data: https://logo.idp.example;"),
        "{csp}"
    );
    let page = resp.text().await.unwrap();
    // login.methods = pin, spid: the PIN form first.
    let pin_at = page.find("id=\"pin-titolo\"").unwrap();
    let spid_at = page.find("Entra con SPID").unwrap();
    assert!(pin_at < spid_at);
    assert!(page.contains("<img src=\"https://logo.idp.example/spid.svg\" alt=\"IdP di prova\">"));
    for link in ["Non hai SPID?", "Maggiori informazioni", "Serve aiuto?"] {
        assert!(page.contains(link), "{link}");
    }
    assert!(
        page.contains("<details class=\"spid-menu\">"),
        "works without JavaScript"
    );
    assert!(page.contains("Hai dimenticato il PIN?") && page.contains("Richiedi il PIN"));
}

#[actix_web::test]
async fn a_level_no_enabled_method_gives_is_said_with_the_way_back() {
    let live = LiveApp::spawn().await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let (_, auth) = authorize_url(
        &live,
        &client,
        "openid",
        Some("https://www.spid.gov.it/SpidL2"),
    );
    let b = browser();
    let (_, page) = open_login_page(&b, &live.base, auth.as_str()).await;
    assert!(page.contains("richiede un accesso più sicuro"), "{page}");
    assert!(page.contains("SPID di livello 2 o superiore, CIE o CNS"));
    let back = page
        .split("<a href=\"")
        .find(|s| s.starts_with(REDIRECT_URI))
        .map(|s| s[..s.find('"').unwrap()].replace("&amp;", "&"))
        .expect("a link back to the service");
    assert!(
        back.contains("error=unmet_authentication_requirements"),
        "{back}"
    );
    assert!(back.contains("state=st"), "{back}");
}

#[actix_web::test]
async fn an_ordinario_pin_is_not_made_to_change_for_a_service_it_cannot_enter() {
    let live = LiveApp::spawn().await;
    let mario = mario();
    add_person(&live.app, &mario, "Mario", "Rossi").await;
    give_pin(&live.app, &mario, INITIAL_PIN, PinType::Ordinario, true).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let (_, auth) = authorize_url(
        &live,
        &client,
        "openid",
        Some("https://procura.inps.it/acr/pin-dispositivo"),
    );
    let b = browser();
    let (_, page) = open_login_page(&b, &live.base, auth.as_str()).await;
    let resp = post_form(
        &b,
        &live.base,
        "/pin/login",
        &page,
        &[("codice_fiscale", mario.as_str()), ("pin", INITIAL_PIN)],
    )
    .await;
    assert_eq!(resp.status(), 403);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("Scegli il tuo nuovo PIN"), "{body}");
    assert!(
        error_text(&body)
            .unwrap()
            .contains("Il tuo PIN è ordinario")
    );
    // The initial PIN is still the initial one: nothing was changed.
    let code = mario.clone();
    let state = live
        .app
        .with_db(move |c, _, _| procura::pin::credential::status(c, &code).unwrap().unwrap())
        .await;
    assert!(state.initial);
}

#[actix_web::test]
async fn a_failed_logout_still_ends_the_session_then_explains() {
    let live = LiveApp::spawn().await;
    let person = person_with_pin(&live.app, "RSSMRA85T10H501", PinType::Dispositivo).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let (_, auth) = authorize_url(&live, &client, "openid", None);
    let b = browser();
    let (_, page) = open_login_page(&b, &live.base, auth.as_str()).await;
    let resp = post_form(
        &b,
        &live.base,
        "/pin/login",
        &page,
        &[("codice_fiscale", person.as_str()), ("pin", PERSONAL_PIN)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    // SSO works...
    let resp = b.get(auth.as_str()).send().await.unwrap();
    assert!(location(&resp).starts_with(REDIRECT_URI));
    // ... until a logout with an unregistered return address: refused, yet the session ends.
    let resp = get_html(
        &b,
        &format!(
            "{}/logout?client_id={}&post_logout_redirect_uri=https%3A%2F%2Fattacker.example%2F",
            live.base, client.id
        ),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(header(&resp, "set-cookie").contains("procura_session=;"));
    let body = resp.text().await.unwrap();
    assert!(
        alert_text(&body).contains("il tuo accesso è stato chiuso"),
        "{body}"
    );
    assert!(!body.contains("attacker.example"));
    let resp = b.get(auth.as_str()).send().await.unwrap();
    assert!(
        location(&resp).starts_with("/login?flow="),
        "no SSO any more"
    );
}

#[actix_web::test]
async fn the_expiry_text_comes_from_the_configuration() {
    let live = LiveApp::spawn_with(|c| c.pin.citizen_validity_days = 90).await;
    let person = person_with_pin(&live.app, "RSSMRA85T10H501", PinType::Dispositivo).await;
    live.app.clock.advance(Duration::days(91));
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let (_, auth) = authorize_url(&live, &client, "openid", None);
    let b = browser();
    let (_, page) = open_login_page(&b, &live.base, auth.as_str()).await;
    let resp = post_form(
        &b,
        &live.base,
        "/pin/login",
        &page,
        &[("codice_fiscale", person.as_str()), ("pin", PERSONAL_PIN)],
    )
    .await;
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("vale 90 giorni dall&#39;ultima modifica"),
        "{body}"
    );
}

#[actix_web::test]
async fn forms_without_a_login_need_their_csrf_cookie_and_follow_post_redirect_get() {
    let live = LiveApp::spawn().await;
    let anna = crate::persons_import::cf("VRDNNA90A41H501");
    let code = procura::person::CodiceFiscale::parse(&anna).unwrap();
    add_person(&live.app, &code, "Anna", "Verdi").await;
    let b = browser();
    let form = [
        ("codice_fiscale", anna.as_str()),
        ("given_name", "Anna"),
        ("family_name", "Verdi"),
        ("birth_date", "01/01/1990"),
        ("address", "Via Roma 1"),
        ("postal_code", "00100"),
        ("municipality", "Roma"),
        ("province", "RM"),
        ("mobile", "+39 333 1234567"),
        ("email", "anna.verdi@example.it"),
        ("first_half_channel", "sms"),
    ];
    // A forged post (no form cookie): refused, nothing issued.
    let resp = b
        .post(format!("{}/pin/richiesta", live.base))
        .form(&[&form[..], &[("csrf", "x".repeat(43).as_str())]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("Modulo scaduto"));
    // The real form: its cookie and token.
    let page = get_html(&b, &format!("{}/pin/richiesta", live.base))
        .await
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf");
    // One contact only: the error sits on its field.
    let resp = b
        .post(format!("{}/pin/richiesta", live.base))
        .form(
            &[
                &form[..9],
                &[("first_half_channel", "sms"), ("csrf", csrf.as_str())],
            ]
            .concat(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body = resp.text().await.unwrap();
    assert!(body.contains("id=\"f-mobile\"") && body.contains("aria-invalid=\"true\""));
    assert!(
        body.contains("aria-describedby=\"f-mobile-aiuto f-mobile-errore\""),
        "{body}"
    );
    assert!(error_text(&body).unwrap().contains("almeno due recapiti"));
    // Complete: 303 to the result, shown once.
    let resp = b
        .post(format!("{}/pin/richiesta", live.base))
        .form(&[&form[..], &[("csrf", csrf.as_str())]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/pin/richiesta/esito");
    let result = get_html(&b, &format!("{}/pin/richiesta/esito", live.base)).await;
    assert_eq!(result.status(), 200);
    let text = result.text().await.unwrap();
    assert!(text.contains("Richiesta accolta") && text.contains("Codice della pratica"));
    let again = get_html(&b, &format!("{}/pin/richiesta/esito", live.base)).await;
    assert_eq!(again.status(), 303, "the result is shown once");
}

#[actix_web::test]
async fn personal_area_pages_need_a_login_and_the_sessions_csrf_token() {
    let live = LiveApp::spawn().await;
    let b = browser();
    for path in [
        "/area-personale",
        "/area-personale/deleghe",
        "/agisci-per-conto-di",
    ] {
        let resp = get_html(&b, &format!("{}{path}", live.base)).await;
        assert_eq!(resp.status(), 303, "{path}");
        let to = location(&resp);
        assert!(to.starts_with("/authorize?"), "{to}");
        assert!(to.contains("client_id=procura-area-personale"), "{to}");
    }
    // Logged in with a PIN through the personal area's own client.
    let person = person_with_pin(&live.app, "RSSMRA85T10H501", PinType::Dispositivo).await;
    let resp = get_html(&b, &format!("{}/area-personale/deleghe", live.base)).await;
    let auth = format!("{}{}", live.base, location(&resp));
    let (_, page) = open_login_page(&b, &live.base, &auth).await;
    let resp = post_form(
        &b,
        &live.base,
        "/pin/login",
        &page,
        &[("codice_fiscale", person.as_str()), ("pin", PERSONAL_PIN)],
    )
    .await;
    let back = location(&resp);
    assert!(back.contains("/area-personale/accesso?code="), "{back}");
    let resp = b.get(&back).send().await.unwrap();
    assert_eq!(location(&resp), "/area-personale/deleghe");
    // A post without the session's token is refused.
    let resp = b
        .post(format!("{}/area-personale/deleghe/x/revoca", live.base))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // A state that is not a path of procura goes to the personal area, never elsewhere.
    let resp = b
        .get(format!(
            "{}/area-personale/accesso?state=https%3A%2F%2Fattacker.example%2F",
            live.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/area-personale");
}
