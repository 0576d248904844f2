//! Fixtures for the login-broker tests: a live server on a real port (for HTTP clients such as
//! the `openidconnect` crate), persons with PINs, registered clients, and a cookie-keeping
//! browser that does not follow redirects.

use crate::helpers::TestApp;
use crate::persons_import::cf;
use procura::Application;
use procura::audit::Party;
use procura::oauth::client::{self, AuthMethod, GrantType, NewClient, Registered};
use procura::oauth::scope::ScopeSet;
use procura::person::CodiceFiscale;
use procura::person::import::import_csv;
use procura::pin::credential;
use procura::pin::{Holder, PinType};
use std::net::TcpListener;

pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
pub const POST_LOGOUT_URI: &str = "http://127.0.0.1:9/logged-out";
/// A valid initial PIN (16 characters) and a personal one that passes the rules.
pub const INITIAL_PIN: &str = "K7QM2XHT9BRW4NPZ";
pub const PERSONAL_PIN: &str = "Q7M2X9BT";

/// A `TestApp` also served on a real port; `base` is its issuer URL.
pub struct LiveApp {
    pub app: TestApp,
    pub base: String,
}

impl LiveApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// With the configuration adjusted first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut procura::config::Config)) -> Self {
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
        Self { app, base }
    }
}

/// Mario Rossi (born 1985), in the persons registry.
pub fn mario() -> CodiceFiscale {
    CodiceFiscale::parse(&cf("RSSMRA85T10H501")).unwrap()
}

pub async fn add_person(app: &TestApp, code: &CodiceFiscale, given: &str, family: &str) {
    let csv = format!(
        "codice_fiscale,cognome,nome,data_nascita,sesso,indirizzo,cap,comune,provincia\n\
         {},{family},{given},{},{},Via Roma 1,00100,Roma,RM\n",
        code.as_str(),
        code.birth_date(chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()),
        code.sex(),
    );
    app.with_db(move |conn, key, now| {
        import_csv(conn, key, csv.as_bytes(), "test", Party::system(), now).unwrap();
    })
    .await;
}

pub async fn give_pin(
    app: &TestApp,
    code: &CodiceFiscale,
    pin: &str,
    pin_type: PinType,
    initial: bool,
) {
    let s = &app.state;
    credential::set_credential(
        &s.db,
        &s.hasher,
        &s.audit_key,
        &s.config.pin,
        code,
        pin,
        pin_type,
        Holder::Cittadino,
        initial,
        Party::system(),
        app.clock_now(),
    )
    .await
    .unwrap();
}

/// Mario, with a personal PIN of the given type.
#[allow(dead_code)] // used by the login tests
pub async fn mario_with_pin(app: &TestApp, pin_type: PinType) -> CodiceFiscale {
    let code = mario();
    add_person(app, &code, "Mario", "Rossi").await;
    give_pin(app, &code, PERSONAL_PIN, pin_type, false).await;
    code
}

pub fn new_client(id: &str, method: AuthMethod, grants: &[GrantType]) -> NewClient {
    let with_code = grants.contains(&GrantType::AuthorizationCode);
    NewClient {
        client_id: id.into(),
        display_name: format!("Servizio {id}"),
        auth_method: method,
        redirect_uris: if with_code {
            vec![REDIRECT_URI.into()]
        } else {
            vec![]
        },
        post_logout_redirect_uris: if with_code {
            vec![POST_LOGOUT_URI.into()]
        } else {
            vec![]
        },
        scopes: if with_code {
            ScopeSet::parse("openid profile inps:read inps:apply delegations:read")
        } else {
            ScopeSet::parse("inps:read inps:apply")
        },
        grant_types: grants.to_vec(),
        jwks: None,
    }
}

pub async fn register(app: &TestApp, new: NewClient) -> Registered {
    app.with_db(move |conn, key, now| {
        client::register(conn, key, new, Party::system(), now).unwrap()
    })
    .await
}

/// The frontend of the end-to-end tests: confidential, with refresh tokens.
pub async fn web_frontend(app: &TestApp) -> (String, String) {
    let r = register(
        app,
        new_client(
            "myinps-web",
            AuthMethod::ClientSecretBasic,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        ),
    )
    .await;
    (r.client.client_id, r.secret.unwrap())
}

/// A browser: keeps cookies, never follows redirects (tests look at each one).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        // Drop idle connections before the server's 5 s keep-alive does: reusing one the
        // server is closing at that moment fails the request (hyper IncompleteMessage).
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap()
}

/// The value of the hidden (or any) input named `name` in an HTML page.
pub fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no input {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].replace("&amp;", "&")
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in {resp:?}"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The query parameter `name` of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).unwrap();
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Follows an authorization URL to the login page; returns the page URL and its HTML.
pub async fn open_login_page(
    browser: &reqwest::Client,
    base: &str,
    auth_url: &str,
) -> (String, String) {
    let resp = browser.get(auth_url).send().await.unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let login = format!("{base}{}", location(&resp));
    assert!(login.contains("/login?flow="), "{login}");
    let page = browser.get(&login).send().await.unwrap();
    assert_eq!(page.status(), 200);
    (login, page.text().await.unwrap())
}

/// Posts a form of the login pages, with the flow and CSRF token of `page`.
pub async fn post_form(
    browser: &reqwest::Client,
    base: &str,
    path: &str,
    page: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let flow = input_value(page, "flow");
    let csrf = input_value(page, "csrf");
    let mut form: Vec<(&str, &str)> = vec![("flow", &flow), ("csrf", &csrf)];
    form.extend_from_slice(fields);
    browser
        .post(format!("{base}{path}"))
        .form(&form)
        .send()
        .await
        .unwrap()
}
