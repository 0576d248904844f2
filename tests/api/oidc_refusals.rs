//! Every refusal of the OpenID Connect provider, through HTTP on a live server: what
//! /authorize shows or sends back, what /token, /introspect, /revoke and /userinfo answer
//! to wrong, stale, foreign or revoked credentials, RP-initiated logout, and the discovery
//! and JWKS documents the clients build on. Each refusal is paired with the request that
//! succeeds, so no assertion holds by construction.

use crate::oidc_support::*;
use base64::Engine;
use diesel::prelude::*;
use procura::oauth::client::{AuthMethod, GrantType};
use procura::pin::PinType;
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

const STATE: &str = "st4te-xyz_1";
const SPID_L2: &str = "https://www.spid.gov.it/SpidL2";
const PIN_ORDINARIO: &str = "https://procura.inps.it/acr/pin-ordinario";

// ---------------------------------------------------------------------------------------
// Local helpers

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A PKCE verifier (64 unreserved characters) and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = b64(&Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn jwt_part(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `jwt` with its payload changed by `change`, and the original signature.
fn with_payload(jwt: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut claims = jwt_part(jwt, 1);
    change(&mut claims);
    let parts: Vec<&str> = jwt.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_vec(&claims).unwrap()),
        parts[2]
    )
}

/// The parameters of an authorization request; valid until changed.
#[derive(Clone)]
struct Authz(Vec<(String, String)>);

impl Authz {
    fn new(client_id: &str, challenge: &str) -> Self {
        Self(
            [
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", REDIRECT_URI),
                ("scope", "openid profile inps:read"),
                ("state", STATE),
                ("nonce", "n-0S6_WzA2Mj"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        )
    }

    /// Replaces (or adds) `name`.
    fn set(self, name: &str, value: &str) -> Self {
        self.without(name).add(name, value)
    }

    fn without(mut self, name: &str) -> Self {
        self.0.retain(|(k, _)| k != name);
        self
    }

    /// Adds `name` once more, even if it is there already.
    fn add(mut self, name: &str, value: &str) -> Self {
        self.0.push((name.to_owned(), value.to_owned()));
        self
    }

    fn url(&self, base: &str) -> String {
        let mut url = reqwest::Url::parse(&format!("{base}/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs(self.0.iter());
        url.to_string()
    }
}

/// A response, read whole.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    async fn of(resp: reqwest::Response) -> Self {
        Self {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// A 200 JSON answer.
    #[track_caller]
    fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        self.json()
    }

    /// An RFC 6749 §5.2 error of `status` and `error`.
    #[track_caller]
    fn oauth_error(&self, status: u16, error: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{:?}",
            self.headers
        );
        assert_eq!(self.header("cache-control"), Some("no-store"));
        let body = self.json();
        assert_eq!(body["error"], error, "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{body}"
        );
        body
    }

    /// An Italian HTML page of `status` that sends the browser nowhere.
    #[track_caller]
    fn page(&self, status: u16) -> &str {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("text/html")),
            "{:?}",
            self.headers
        );
        assert!(self.header("location").is_none(), "{:?}", self.headers);
        assert!(self.body.contains("<html lang=\"it\">"), "{}", self.body);
        &self.body
    }
}

/// An error sent back to the client on its redirect URI, with `state` and `iss`.
#[track_caller]
fn assert_redirect_error(location: &str, base: &str, error: &str, state: Option<&str>) {
    assert!(
        location.starts_with(&format!("{REDIRECT_URI}?")),
        "{location}"
    );
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some(error),
        "{location}"
    );
    assert!(
        query_param(location, "error_description").is_some(),
        "{location}"
    );
    assert_eq!(
        query_param(location, "state").as_deref(),
        state,
        "{location}"
    );
    assert_eq!(
        query_param(location, "iss").as_deref(),
        Some(base),
        "{location}"
    );
    assert!(query_param(location, "code").is_none(), "{location}");
}

/// A live provider with the `myinps-web` frontend registered, and an HTTP client for the
/// relying party's back-channel calls (no cookies, no redirects).
struct Op {
    live: LiveApp,
    rp: reqwest::Client,
    client_id: String,
    secret: String,
}

impl Op {
    async fn spawn() -> Self {
        let live = LiveApp::spawn().await;
        let (client_id, secret) = web_frontend(&live.app).await;
        let rp = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            live,
            rp,
            client_id,
            secret,
        }
    }

    fn base(&self) -> &str {
        &self.live.base
    }

    fn authz(&self, challenge: &str) -> Authz {
        Authz::new(&self.client_id, challenge)
    }

    fn advance(&self, by: chrono::Duration) {
        self.live.app.clock.advance(by);
    }

    /// A form POST to `path`, with HTTP Basic when `basic` is given.
    async fn post(&self, path: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Answer {
        let mut req = self.rp.post(format!("{}{path}", self.base())).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        Answer::of(req.send().await.unwrap()).await
    }

    fn me(&self) -> Option<(&str, &str)> {
        Some((&self.client_id, &self.secret))
    }

    async fn token(&self, form: &[(&str, &str)]) -> Answer {
        self.post("/token", self.me(), form).await
    }

    async fn redeem(&self, code: &str, verifier: &str) -> Answer {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Answer {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// Introspection by `myinps-web`; returns the 200 answer's body.
    async fn introspect(&self, token: &str) -> Value {
        self.introspect_as(self.me(), token).await
    }

    async fn introspect_as(&self, basic: Option<(&str, &str)>, token: &str) -> Value {
        let a = self.post("/introspect", basic, &[("token", token)]).await;
        assert_eq!(a.header("cache-control"), Some("no-store"));
        a.ok()
    }

    async fn revoke_as(&self, basic: Option<(&str, &str)>, token: &str) {
        let a = self.post("/revoke", basic, &[("token", token)]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body.is_empty(), "{}", a.body);
    }

    async fn userinfo(&self, token: Option<&str>) -> Answer {
        let mut req = self.rp.get(format!("{}/userinfo", self.base()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Answer::of(req.send().await.unwrap()).await
    }

    /// Another confidential client, with the same redirect URIs and scopes.
    async fn other_client(&self) -> (String, String) {
        let r = register(
            &self.live.app,
            new_client(
                "other-web",
                AuthMethod::ClientSecretBasic,
                &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            ),
        )
        .await;
        (r.client.client_id, r.secret.unwrap())
    }

    /// A confidential service client: client_credentials only, scopes inps:read inps:apply.
    async fn service_client(&self) -> (String, String) {
        let r = register(
            &self.live.app,
            new_client(
                "batch-pensioni",
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
            ),
        )
        .await;
        (r.client.client_id, r.secret.unwrap())
    }

    /// A public client (PKCE, no credentials) with refresh tokens.
    async fn public_client(&self) -> String {
        register(
            &self.live.app,
            new_client(
                "app-mobile",
                AuthMethod::None,
                &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            ),
        )
        .await
        .client
        .client_id
    }

    /// GET /authorize in `browser`; the answer must be a redirect, whose target it returns.
    async fn authorize_redirect(&self, browser: &reqwest::Client, authz: &Authz) -> String {
        let resp = browser.get(authz.url(self.base())).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
        location(&resp)
    }

    /// Logs Mario in with his personal PIN through the login page `authz` leads to; returns
    /// where the browser is sent back to.
    async fn pin_login(&self, browser: &reqwest::Client, authz: &Authz) -> String {
        let (_, page) = open_login_page(browser, self.base(), &authz.url(self.base())).await;
        let resp = post_form(
            browser,
            self.base(),
            "/pin/login",
            &page,
            &[("codice_fiscale", mario().as_str()), ("pin", PERSONAL_PIN)],
        )
        .await;
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
        let back = location(&resp);
        assert!(back.starts_with(REDIRECT_URI), "{back}");
        back
    }

    /// Mario (PIN of `pin_type`) logs in in a new browser: the browser, keeping the session,
    /// and the token response of the code.
    async fn logged_in(&self, pin_type: PinType) -> (reqwest::Client, Value) {
        mario_with_pin(&self.live.app, pin_type).await;
        let browser = browser();
        let tokens = self.login_in(&browser).await;
        (browser, tokens)
    }

    async fn login_in(&self, browser: &reqwest::Client) -> Value {
        let (verifier, challenge) = pkce();
        let back = self.pin_login(browser, &self.authz(&challenge)).await;
        let code = query_param(&back, "code").unwrap();
        self.redeem(&code, &verifier).await.ok()
    }

    /// A fresh code through single sign-on in `browser` (which must hold a session), for
    /// `authz` built on the challenge of the returned verifier.
    async fn sso_code(
        &self,
        browser: &reqwest::Client,
        adjust: impl FnOnce(Authz) -> Authz,
    ) -> (String, String) {
        let (verifier, challenge) = pkce();
        let back = self
            .authorize_redirect(browser, &adjust(self.authz(&challenge)))
            .await;
        assert!(back.starts_with(REDIRECT_URI), "not SSO: {back}");
        (query_param(&back, "code").unwrap(), verifier)
    }
}

fn access_token(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

fn refresh_token(tokens: &Value) -> String {
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------
// /authorize

#[actix_web::test]
async fn authorize_shows_a_page_and_never_redirects_until_client_and_redirect_uri_are_known() {
    let op = Op::spawn().await;
    let (service, _) = op.service_client().await;
    let (_, challenge) = pkce();
    let valid = op.authz(&challenge);
    let http = &op.rp;

    // The valid request is sent to the login page: the refusals below are about one change.
    let resp = http.get(valid.url(op.base())).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with("/login?flow="));

    let cases = [
        ("no client_id", valid.clone().without("client_id")),
        (
            "unknown client",
            valid.clone().set("client_id", "sconosciuto"),
        ),
        ("no redirect_uri", valid.clone().without("redirect_uri")),
        (
            "unregistered redirect_uri",
            valid
                .clone()
                .set("redirect_uri", "https://attacker.example/callback"),
        ),
        (
            "redirect_uri differing only in a trailing slash",
            valid
                .clone()
                .set("redirect_uri", &format!("{REDIRECT_URI}/")),
        ),
        (
            "repeated client_id",
            valid.clone().add("client_id", &op.client_id),
        ),
        (
            "repeated redirect_uri",
            valid.clone().add("redirect_uri", REDIRECT_URI),
        ),
        (
            "a client without redirect URIs (client_credentials only)",
            valid.clone().set("client_id", &service),
        ),
    ];
    for (what, authz) in cases {
        let a = Answer::of(http.get(authz.url(op.base())).send().await.unwrap()).await;
        let body = a.page(400);
        assert!(
            body.contains("Richiesta di accesso non valida"),
            "{what}: {body}"
        );
        assert!(!body.contains("attacker.example"), "{what}: {body}");
    }
}

#[actix_web::test]
async fn authorize_errors_go_back_to_the_client_with_error_state_and_iss() {
    let op = Op::spawn().await;
    let (_, challenge) = pkce();
    let valid = op.authz(&challenge);
    let base = op.base().to_owned();
    let http = &op.rp;

    let cases = [
        (
            valid.clone().set("response_type", "token"),
            "unsupported_response_type",
        ),
        (
            valid.clone().set("response_type", "code id_token"),
            "unsupported_response_type",
        ),
        (valid.clone().without("response_type"), "invalid_request"),
        (
            valid.clone().set("scope", "profile inps:read"),
            "invalid_scope",
        ),
        (valid.clone().without("scope"), "invalid_scope"),
        (valid.clone().set("scope", "openid admin"), "invalid_scope"),
        // Known, but not registered for myinps-web.
        (
            valid.clone().set("scope", "openid delegations:write"),
            "invalid_scope",
        ),
        (valid.clone().without("code_challenge"), "invalid_request"),
        (
            valid.clone().set("code_challenge_method", "plain"),
            "invalid_request",
        ),
        (
            valid.clone().without("code_challenge_method"),
            "invalid_request",
        ),
        (
            valid.clone().set("code_challenge", "too-short"),
            "invalid_request",
        ),
        (
            valid.clone().set("request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (
            valid
                .clone()
                .set("request_uri", "https://app.example/request.jwt"),
            "request_uri_not_supported",
        ),
        (valid.clone().add("scope", "openid"), "invalid_request"),
        (
            valid.clone().add("code_challenge", &challenge),
            "invalid_request",
        ),
        (
            valid.clone().set("response_mode", "fragment"),
            "invalid_request",
        ),
        (valid.clone().set("prompt", "none login"), "invalid_request"),
        (valid.clone().set("prompt", "sempre"), "invalid_request"),
        (valid.clone().set("max_age", "-1"), "invalid_request"),
    ];
    for (authz, error) in cases {
        let resp = http.get(authz.url(&base)).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{error}");
        assert_redirect_error(&location(&resp), &base, error, Some(STATE));
    }

    // A repeated state is not echoed (which of the two?), but the error still goes back.
    let resp = http
        .get(valid.clone().add("state", "altro").url(&base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_redirect_error(&location(&resp), &base, "invalid_request", None);
}

#[actix_web::test]
async fn authorize_refuses_a_client_whose_code_grant_was_withdrawn() {
    let op = Op::spawn().await;
    let (_, challenge) = pkce();
    let authz = op.authz(&challenge);
    let http = &op.rp;
    let resp = http.get(authz.url(op.base())).send().await.unwrap();
    assert!(location(&resp).starts_with("/login?flow="));

    // Registration never lets a client without the code grant keep redirect URIs; a row
    // changed behind its back must still not get a login.
    let id = op.client_id.clone();
    op.live
        .app
        .with_db(move |conn, _, _| {
            use procura::db::schema::oauth_clients;
            let changed = diesel::update(oauth_clients::table.find(&id))
                .set(oauth_clients::grant_types.eq("client_credentials"))
                .execute(conn)
                .unwrap();
            assert_eq!(changed, 1);
        })
        .await;
    let resp = http.get(authz.url(op.base())).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_redirect_error(
        &location(&resp),
        op.base(),
        "unauthorized_client",
        Some(STATE),
    );
}

#[actix_web::test]
async fn prompt_none_without_a_session_is_login_required() {
    let op = Op::spawn().await;
    let (_, challenge) = pkce();
    let browser = browser();
    let back = op
        .authorize_redirect(&browser, &op.authz(&challenge).set("prompt", "none"))
        .await;
    assert_redirect_error(&back, op.base(), "login_required", Some(STATE));
    // Without prompt=none the same browser gets the login page.
    let back = op.authorize_redirect(&browser, &op.authz(&challenge)).await;
    assert!(back.starts_with("/login?flow="), "{back}");
}

#[actix_web::test]
async fn post_authorize_works_like_get() {
    let op = Op::spawn().await;
    let (_, challenge) = pkce();
    let post = |authz: Authz| {
        op.rp
            .post(format!("{}/authorize", op.base()))
            .form(&authz.0)
            .send()
    };
    let resp = post(op.authz(&challenge)).await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with("/login?flow="));

    let resp = post(op.authz(&challenge).set("response_type", "token"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_redirect_error(
        &location(&resp),
        op.base(),
        "unsupported_response_type",
        Some(STATE),
    );

    let resp = post(op.authz(&challenge).set("client_id", "sconosciuto"))
        .await
        .unwrap();
    Answer::of(resp).await.page(400);

    let resp = post(op.authz(&challenge).set("prompt", "none"))
        .await
        .unwrap();
    assert_redirect_error(&location(&resp), op.base(), "login_required", Some(STATE));
}

// ---------------------------------------------------------------------------------------
// Single sign-on and the level of the login

#[actix_web::test]
async fn a_pin_session_gets_no_sso_when_the_client_asks_spid_l2_and_cannot_use_the_pin() {
    let op = Op::spawn().await;
    // The strongest PIN there is: still below SPID L2.
    let (browser, _) = op.logged_in(PinType::Dispositivo).await;
    // The session is live: without acr_values the browser goes straight back.
    op.sso_code(&browser, |a| a).await;

    let (_, challenge) = pkce();
    let authz = op.authz(&challenge).set("acr_values", SPID_L2);
    let (login, page) = open_login_page(&browser, op.base(), &authz.url(op.base())).await;
    assert!(!page.contains("action=\"/pin/login?"), "{page}");
    assert!(!page.contains("<label for=\"f-pin\">"), "{page}");
    assert!(page.contains("richiede un accesso più sicuro"), "{page}");

    // The form is not offered; posting it anyway, with the flow's genuine CSRF token, is
    // refused and logs nobody in.
    let flow_id = query_param(&login, "flow").unwrap();
    let id = flow_id.clone();
    let csrf = op
        .live
        .app
        .with_db(move |conn, _, now| {
            procura::oauth::session::find_flow(conn, &id, now)
                .unwrap()
                .unwrap()
                .csrf_token
        })
        .await;
    let resp = browser
        .post(format!("{}/pin/login", op.base()))
        .form(&[
            ("flow", flow_id.as_str()),
            ("csrf", csrf.as_str()),
            ("codice_fiscale", mario().as_str()),
            ("pin", PERSONAL_PIN),
        ])
        .send()
        .await
        .unwrap();
    let a = Answer::of(resp).await;
    assert!(a.header("set-cookie").is_none(), "{:?}", a.headers);
    let body = a.page(403);
    assert!(
        body.contains("non accetta l&#39;accesso con il PIN")
            || body.contains("non accetta l'accesso con il PIN"),
        "{body}"
    );
    // And prompt=none with SPID L2 cannot be satisfied silently either.
    let back = op
        .authorize_redirect(
            &browser,
            &op.authz(&challenge)
                .set("acr_values", SPID_L2)
                .set("prompt", "none"),
        )
        .await;
    assert_redirect_error(&back, op.base(), "login_required", Some(STATE));
}

/// A client asking for `pin-dispositivo` gets no single sign-on from a PIN ordinario
/// session, and a login with a PIN ordinario on that flow does not complete.
#[actix_web::test]
async fn a_pin_ordinario_does_not_meet_a_request_for_pin_dispositivo() {
    let op = Op::spawn().await;
    let (browser, _) = op.logged_in(PinType::Ordinario).await;
    let (_, challenge) = pkce();
    let authz = op
        .authz(&challenge)
        .set("acr_values", "https://procura.inps.it/acr/pin-dispositivo");
    let (_, page) = open_login_page(&browser, op.base(), &authz.url(op.base())).await;
    assert!(
        page.contains("action=\"/pin/login?"),
        "the PIN may reach the level: {page}"
    );
    let resp = post_form(
        &browser,
        op.base(),
        "/pin/login",
        &page,
        &[("codice_fiscale", mario().as_str()), ("pin", PERSONAL_PIN)],
    )
    .await;
    let a = Answer::of(resp).await;
    let body = a.page(403);
    assert!(
        body.contains("Livello di sicurezza insufficiente"),
        "{body}"
    );
}

#[actix_web::test]
async fn prompt_login_forces_the_login_page_despite_a_session() {
    let op = Op::spawn().await;
    let (browser, _) = op.logged_in(PinType::Dispositivo).await;
    op.sso_code(&browser, |a| a).await;
    let (_, challenge) = pkce();
    let (_, page) = open_login_page(
        &browser,
        op.base(),
        &op.authz(&challenge).set("prompt", "login").url(op.base()),
    )
    .await;
    assert!(page.contains("action=\"/pin/login?"), "{page}");
}

#[actix_web::test]
async fn max_age_forces_the_login_page_once_the_session_is_older() {
    let op = Op::spawn().await;
    let (browser, _) = op.logged_in(PinType::Dispositivo).await;
    op.advance(chrono::Duration::seconds(30));
    // Younger than max_age: SSO.
    op.sso_code(&browser, |a| a.set("max_age", "60")).await;
    // Older: the login page.
    let (_, challenge) = pkce();
    for max_age in ["29", "0"] {
        let back = op
            .authorize_redirect(&browser, &op.authz(&challenge).set("max_age", max_age))
            .await;
        assert!(
            back.starts_with("/login?flow="),
            "max_age={max_age}: {back}"
        );
    }
}

#[actix_web::test]
async fn max_age_zero_forces_the_login_page_even_right_after_a_login() {
    let op = Op::spawn().await;
    let (browser, _) = op.logged_in(PinType::Dispositivo).await;
    let (_, challenge) = pkce();
    let back = op
        .authorize_redirect(&browser, &op.authz(&challenge).set("max_age", "0"))
        .await;
    assert!(back.starts_with("/login?flow="), "{back}");
}

// ---------------------------------------------------------------------------------------
// /token: the request and the client

#[actix_web::test]
async fn token_refuses_malformed_requests() {
    let op = Op::spawn().await;
    // Not a form.
    let resp = op
        .rp
        .post(format!("{}/token", op.base()))
        .basic_auth(&op.client_id, Some(&op.secret))
        .json(&json!({"grant_type": "refresh_token", "refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    Answer::of(resp).await.oauth_error(400, "invalid_request");
    // The same as a form reaches the grant (and fails there).
    op.token(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .await
        .oauth_error(400, "invalid_grant");

    let a = op
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("refresh_token", "y"),
        ])
        .await;
    let body = a.oauth_error(400, "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("refresh_token"),
        "{body}"
    );
    op.token(&[("refresh_token", "x")])
        .await
        .oauth_error(400, "invalid_request");
    op.token(&[("grant_type", "refresh_token")])
        .await
        .oauth_error(400, "invalid_request");
    for unknown in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ] {
        op.token(&[
            ("grant_type", unknown),
            ("username", "u"),
            ("password", "p"),
        ])
        .await
        .oauth_error(400, "unsupported_grant_type");
    }
}

#[actix_web::test]
async fn token_refuses_clients_that_do_not_authenticate_properly() {
    let op = Op::spawn().await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    // With the right secret the request gets past client authentication.
    op.token(&form).await.oauth_error(400, "invalid_grant");

    // No credentials at all: nothing to challenge.
    let a = op.post("/token", None, &form).await;
    a.oauth_error(401, "invalid_client");

    // HTTP Basic with a wrong secret, or an unknown client: 401 and the Basic challenge.
    for (id, secret) in [
        (op.client_id.as_str(), "wrong-secret"),
        (op.client_id.as_str(), ""),
        ("sconosciuto", op.secret.as_str()),
    ] {
        let a = op.post("/token", Some((id, secret)), &form).await;
        let body = a.oauth_error(401, "invalid_client");
        let challenge = a.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Basic"), "{challenge}");
        assert_eq!(
            body["error_description"], "client authentication failed",
            "an unknown client and a wrong secret look the same"
        );
    }

    // client_secret_post is not accepted, not even with the right secret.
    let mut with_secret = form.to_vec();
    with_secret.extend([
        ("client_id", op.client_id.as_str()),
        ("client_secret", op.secret.as_str()),
    ]);
    op.post("/token", None, &with_secret)
        .await
        .oauth_error(401, "invalid_client");
    // Both Basic and a secret in the body: two methods at once.
    op.post("/token", op.me(), &with_secret)
        .await
        .oauth_error(400, "invalid_request");
    // A confidential client cannot pass as public with only its client_id.
    let mut as_public = form.to_vec();
    as_public.push(("client_id", op.client_id.as_str()));
    op.post("/token", None, &as_public)
        .await
        .oauth_error(401, "invalid_client");
    // Basic for one client, client_id of another in the body.
    let (other, _) = op.other_client().await;
    let mut mismatched = form.to_vec();
    mismatched.push(("client_id", other.as_str()));
    op.post("/token", op.me(), &mismatched)
        .await
        .oauth_error(401, "invalid_client");
}

// ---------------------------------------------------------------------------------------
// /token: authorization codes

#[actix_web::test]
async fn a_code_is_bound_to_its_client_redirect_uri_and_verifier() {
    let op = Op::spawn().await;
    let (browser, _) = op.logged_in(PinType::Dispositivo).await;
    let (other, other_secret) = op.other_client().await;

    // Another client, with its own valid credentials.
    let (code, verifier) = op.sso_code(&browser, |a| a).await;
    op.post(
        "/token",
        Some((&other, &other_secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ],
    )
    .await
    .oauth_error(400, "invalid_grant");

    // Another redirect URI than the request's, even a registered-looking one.
    let (code, verifier) = op.sso_code(&browser, |a| a).await;
    for redirect_uri in ["http://127.0.0.1:9/other", "http://127.0.0.1:9/callback/"] {
        op.token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &verifier),
        ])
        .await
        .oauth_error(400, "invalid_grant");
    }

    // A verifier that does not hash to the challenge; a truncated one.
    let (code, verifier) = op.sso_code(&browser, |a| a).await;
    let (wrong_verifier, _) = pkce();
    op.redeem(&code, &wrong_verifier)
        .await
        .oauth_error(400, "invalid_grant");
    let (code, _) = op.sso_code(&browser, |a| a).await;
    op.redeem(&code, &verifier[..42])
        .await
        .oauth_error(400, "invalid_grant");

    // No verifier at all.
    let (code, _) = op.sso_code(&browser, |a| a).await;
    op.token(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT_URI),
    ])
    .await
    .oauth_error(400, "invalid_request");

    op.redeem("not-a-code", &verifier)
        .await
        .oauth_error(400, "invalid_grant");

    // The same steps, done right, work.
    let (code, verifier) = op.sso_code(&browser, |a| a).await;
    op.redeem(&code, &verifier).await.ok();
}

#[actix_web::test]
async fn an_expired_code_is_invalid_grant() {
    let op = Op::spawn().await;
    let (browser, _) = op.logged_in(PinType::Dispositivo).await;
    let ttl = i64::try_from(op.live.app.config.oauth.code_ttl_secs).unwrap();
    assert_eq!(ttl, 60);

    let (code, verifier) = op.sso_code(&browser, |a| a).await;
    op.advance(chrono::Duration::seconds(ttl - 1));
    op.redeem(&code, &verifier).await.ok();

    let (code, verifier) = op.sso_code(&browser, |a| a).await;
    op.advance(chrono::Duration::seconds(ttl + 1));
    op.redeem(&code, &verifier)
        .await
        .oauth_error(400, "invalid_grant");
}

#[actix_web::test]
async fn a_reused_code_is_refused_and_revokes_what_the_first_use_produced() {
    let op = Op::spawn().await;
    mario_with_pin(&op.live.app, PinType::Dispositivo).await;
    let browser = browser();
    let (verifier, challenge) = pkce();
    let back = op.pin_login(&browser, &op.authz(&challenge)).await;
    let code = query_param(&back, "code").unwrap();
    let tokens = op.redeem(&code, &verifier).await.ok();
    let (access, refresh) = (access_token(&tokens), refresh_token(&tokens));
    assert_eq!(op.introspect(&access).await["active"], true);
    op.userinfo(Some(&access)).await.ok();

    op.redeem(&code, &verifier)
        .await
        .oauth_error(400, "invalid_grant");

    op.refresh(&refresh).await.oauth_error(400, "invalid_grant");
    assert_eq!(op.introspect(&access).await, json!({"active": false}));
    assert_eq!(op.introspect(&refresh).await, json!({"active": false}));
    op.userinfo(Some(&access))
        .await
        .oauth_error(401, "invalid_token");
}

// ---------------------------------------------------------------------------------------
// /token: refresh tokens

#[actix_web::test]
async fn a_refresh_token_works_only_for_its_client() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let refresh = refresh_token(&tokens);
    let (other, other_secret) = op.other_client().await;
    op.post(
        "/token",
        Some((&other, &other_secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await
    .oauth_error(400, "invalid_grant");
    // Another client presenting it cannot spend it for its owner.
    let renewed = op.refresh(&refresh).await.ok();
    assert_ne!(refresh_token(&renewed), refresh);
}

#[actix_web::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let op = Op::spawn().await;
    let (browser, _) = op.logged_in(PinType::Dispositivo).await;
    let narrow_grant = || async {
        let (code, verifier) = op
            .sso_code(&browser, |a| a.set("scope", "openid inps:read"))
            .await;
        let tokens = op.redeem(&code, &verifier).await.ok();
        assert_eq!(tokens["scope"], "inps:read openid");
        refresh_token(&tokens)
    };

    // Each refusal on a grant of its own.
    for wider in [
        "openid inps:read inps:apply",
        "openid profile",
        "delegations:read",
    ] {
        let refresh = narrow_grant().await;
        op.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", wider),
        ])
        .await
        .oauth_error(400, "invalid_scope");
    }

    let refresh = narrow_grant().await;
    let narrowed = op
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "inps:read"),
        ])
        .await
        .ok();
    assert_eq!(narrowed["scope"], "inps:read");
    assert!(narrowed.get("id_token").is_none(), "{narrowed}");
    assert_eq!(jwt_part(&access_token(&narrowed), 1)["scope"], "inps:read");
}

#[actix_web::test]
async fn a_refused_refresh_leaves_the_refresh_token_usable() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let refresh = refresh_token(&tokens);
    op.token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("scope", "openid delegations:write"),
    ])
    .await
    .oauth_error(400, "invalid_scope");
    let renewed = op.refresh(&refresh).await.ok();
    assert_eq!(op.introspect(&access_token(&renewed)).await["active"], true);
}

#[actix_web::test]
async fn a_refresh_after_the_grant_expired_is_invalid_grant() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let ttl = i64::try_from(op.live.app.config.oauth.refresh_token_ttl_secs).unwrap();
    assert_eq!(ttl, 8 * 3600);
    op.advance(chrono::Duration::seconds(ttl - 60));
    let renewed = op.refresh(&refresh_token(&tokens)).await.ok();
    op.advance(chrono::Duration::seconds(61));
    let refresh = refresh_token(&renewed);
    op.refresh(&refresh).await.oauth_error(400, "invalid_grant");
    assert_eq!(op.introspect(&refresh).await, json!({"active": false}));
}

// ---------------------------------------------------------------------------------------
// /token: client credentials

#[actix_web::test]
async fn client_credentials_refusals() {
    let op = Op::spawn().await;
    let (service, service_secret) = op.service_client().await;
    let svc = Some((service.as_str(), service_secret.as_str()));
    let cc = |scope: Option<&'static str>| {
        let mut f = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            f.push(("scope", s));
        }
        f
    };

    // What the service client may do.
    let ok = op.post("/token", svc, &cc(Some("inps:read"))).await.ok();
    assert_eq!(ok["scope"], "inps:read");
    assert!(ok.get("refresh_token").is_none() && ok.get("id_token").is_none());
    let all = op.post("/token", svc, &cc(None)).await.ok();
    assert_eq!(all["scope"], "inps:apply inps:read");

    // Outside its scopes, or OpenID scopes (there is no person).
    for scope in [
        "delegations:read",
        "inps:read delegations:read",
        "openid",
        "admin",
    ] {
        let mut f = cc(None);
        f.push(("scope", scope));
        op.post("/token", svc, &f)
            .await
            .oauth_error(400, "invalid_scope");
    }

    // A client registered without client_credentials.
    op.post("/token", op.me(), &cc(Some("inps:read")))
        .await
        .oauth_error(400, "unauthorized_client");

    // A client with both grants still cannot get openid or profile without a person.
    let both = register(
        &op.live.app,
        new_client(
            "portale-ibrido",
            AuthMethod::ClientSecretBasic,
            &[GrantType::AuthorizationCode, GrantType::ClientCredentials],
        ),
    )
    .await;
    let both_auth = Some((
        both.client.client_id.as_str(),
        both.secret.as_deref().unwrap(),
    ));
    for scope in ["openid", "profile", "openid inps:read"] {
        let mut f = cc(None);
        f.push(("scope", scope));
        op.post("/token", both_auth, &f)
            .await
            .oauth_error(400, "invalid_scope");
    }
    let granted = op.post("/token", both_auth, &cc(None)).await.ok();
    let scope = granted["scope"].as_str().unwrap();
    assert!(
        !scope.split(' ').any(|s| s == "openid" || s == "profile"),
        "{scope}"
    );

    // A public client can never use client_credentials.
    let public = op.public_client().await;
    let mut f = cc(Some("inps:read"));
    f.push(("client_id", public.as_str()));
    op.post("/token", None, &f)
        .await
        .oauth_error(400, "unauthorized_client");
}

// ---------------------------------------------------------------------------------------
// Access tokens

#[actix_web::test]
async fn access_tokens_are_rfc9068_jwts_with_the_default_lifetime() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 600);
    let access = access_token(&tokens);
    let header = jwt_part(&access, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwks = Answer::of(
        op.rp
            .get(format!("{}/jwks.json", op.base()))
            .send()
            .await
            .unwrap(),
    )
    .await
    .ok();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"]),
        "{header} {jwks}"
    );

    let claims = jwt_part(&access, 1);
    assert_eq!(claims["iss"], op.base());
    assert_eq!(claims["client_id"], op.client_id);
    assert_eq!(claims["scope"], tokens["scope"]);
    assert_eq!(claims["scope"], "inps:read openid profile");
    assert_eq!(claims["aud"], "https://servizi.inps.it");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(iat, op.live.app.clock_now().timestamp());
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 600);
    let jti = claims["jti"].as_str().unwrap();
    assert!(jti.len() >= 16, "{jti}");
    assert_eq!(
        claims["fiscal_number"],
        format!("TINIT-{}", mario().as_str())
    );

    // Every token has its own jti.
    let renewed = op.refresh(&refresh_token(&tokens)).await.ok();
    let again = jwt_part(&access_token(&renewed), 1);
    assert_ne!(again["jti"], claims["jti"]);
    assert_eq!(again["sub"], claims["sub"]);
}

#[actix_web::test]
async fn a_pin_ordinario_login_never_gets_dispositive_scopes() {
    let op = Op::spawn().await;
    mario_with_pin(&op.live.app, PinType::Ordinario).await;
    let browser = browser();
    let (verifier, challenge) = pkce();
    let back = op
        .pin_login(
            &browser,
            &op.authz(&challenge)
                .set("scope", "openid inps:read inps:apply"),
        )
        .await;
    let tokens = op
        .redeem(&query_param(&back, "code").unwrap(), &verifier)
        .await
        .ok();
    assert_eq!(tokens["scope"], "inps:read openid");
    let claims = jwt_part(&access_token(&tokens), 1);
    assert_eq!(claims["scope"], "inps:read openid");
    assert_eq!(claims["acr"], PIN_ORDINARIO);
    let id_claims = jwt_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(id_claims["acr"], PIN_ORDINARIO);
    assert_eq!(
        op.introspect(&access_token(&tokens)).await["scope"],
        "inps:read openid"
    );
    // Nor through a refresh.
    op.token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh_token(&tokens)),
        ("scope", "openid inps:read inps:apply"),
    ])
    .await
    .oauth_error(400, "invalid_scope");
}

// ---------------------------------------------------------------------------------------
// /introspect

#[actix_web::test]
async fn introspection_needs_a_confidential_client() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let access = access_token(&tokens);
    let public = op.public_client().await;
    let form = [("token", access.as_str()), ("client_id", public.as_str())];
    op.post("/introspect", None, &form)
        .await
        .oauth_error(401, "invalid_client");
    op.post("/introspect", None, &[("token", access.as_str())])
        .await
        .oauth_error(401, "invalid_client");
    let a = op
        .post(
            "/introspect",
            Some((&op.client_id, "wrong")),
            &[("token", access.as_str())],
        )
        .await;
    a.oauth_error(401, "invalid_client");
    assert!(
        a.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Basic"))
    );
    op.post("/introspect", op.me(), &[])
        .await
        .oauth_error(400, "invalid_request");
    assert_eq!(op.introspect(&access).await["active"], true);
}

#[actix_web::test]
async fn introspection_describes_a_live_access_token_and_not_a_dead_one() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let access = access_token(&tokens);
    let claims = jwt_part(&access, 1);

    let live = op.introspect(&access).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["sub"], claims["sub"]);
    assert!(live["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(live["scope"], "inps:read openid profile");
    assert_eq!(live["client_id"], op.client_id);
    assert_eq!(live["exp"], claims["exp"]);
    assert_eq!(live["iss"], op.base());
    assert_eq!(live["token_type"], "Bearer");

    // Garbage, a JWT-looking garbage, a tampered signature, a JWT that is not an access token.
    let tampered = with_payload(&access, |c| {
        c["scope"] = json!("inps:read inps:apply openid")
    });
    let id_token = tokens["id_token"].as_str().unwrap();
    for dead in ["garbage", "a.b.c", tampered.as_str(), id_token] {
        assert_eq!(
            op.introspect(dead).await,
            json!({"active": false}),
            "{dead}"
        );
    }

    // Expired: 11 minutes later (the lifetime is 10).
    op.advance(chrono::Duration::minutes(9));
    assert_eq!(op.introspect(&access).await["active"], true);
    op.advance(chrono::Duration::minutes(2));
    assert_eq!(op.introspect(&access).await, json!({"active": false}));
}

#[actix_web::test]
async fn introspection_after_revoking_the_access_token_is_inactive() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let (access, refresh) = (access_token(&tokens), refresh_token(&tokens));
    op.revoke_as(op.me(), &access).await;
    assert_eq!(op.introspect(&access).await, json!({"active": false}));
    op.userinfo(Some(&access))
        .await
        .oauth_error(401, "invalid_token");
    // Only that token: the grant lives on.
    assert_eq!(op.introspect(&refresh).await["active"], true);
    let renewed = op.refresh(&refresh).await.ok();
    assert_eq!(op.introspect(&access_token(&renewed)).await["active"], true);
    // Revoking it twice is fine.
    op.revoke_as(op.me(), &access).await;
}

#[actix_web::test]
async fn logging_out_ends_the_tokens_of_the_session() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let (access, refresh) = (access_token(&tokens), refresh_token(&tokens));
    assert_eq!(op.introspect(&access).await["active"], true);
    assert_eq!(op.introspect(&refresh).await["active"], true);

    // The logout comes from another browser (the front channel of the RP), with the hint.
    let mut url = reqwest::Url::parse(&format!("{}/logout", op.base())).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap());
    let a = Answer::of(browser().get(url).send().await.unwrap()).await;
    assert!(a.page(200).contains("Sei uscito"), "{}", a.body);

    assert_eq!(op.introspect(&access).await, json!({"active": false}));
    assert_eq!(op.introspect(&refresh).await, json!({"active": false}));
    op.refresh(&refresh).await.oauth_error(400, "invalid_grant");
    op.userinfo(Some(&access))
        .await
        .oauth_error(401, "invalid_token");
}

#[actix_web::test]
async fn a_refresh_token_is_introspected_by_its_own_client_only() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let refresh = refresh_token(&tokens);
    let own = op.introspect(&refresh).await;
    assert_eq!(own["active"], true);
    assert_eq!(own["client_id"], op.client_id);
    assert_eq!(own["token_type"], "refresh_token");
    assert_eq!(own["scope"], "inps:read openid profile");
    assert_eq!(own["sub"], jwt_part(&access_token(&tokens), 1)["sub"]);

    let (other, other_secret) = op.other_client().await;
    assert_eq!(
        op.introspect_as(Some((&other, &other_secret)), &refresh)
            .await,
        json!({"active": false})
    );
    // A spent (rotated) refresh token is inactive for its own client too.
    op.refresh(&refresh).await.ok();
    assert_eq!(op.introspect(&refresh).await, json!({"active": false}));
}

// ---------------------------------------------------------------------------------------
// /revoke

#[actix_web::test]
async fn revoking_an_unknown_token_answers_200_and_changes_nothing() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let (access, refresh) = (access_token(&tokens), refresh_token(&tokens));
    for unknown in ["sconosciuto", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"] {
        op.revoke_as(op.me(), unknown).await;
    }
    assert_eq!(op.introspect(&access).await["active"], true);
    assert_eq!(op.introspect(&refresh).await["active"], true);
    // Still client authentication first.
    op.post("/revoke", Some((&op.client_id, "wrong")), &[("token", "x")])
        .await
        .oauth_error(401, "invalid_client");
    op.post("/revoke", op.me(), &[])
        .await
        .oauth_error(400, "invalid_request");
}

#[actix_web::test]
async fn revoking_a_refresh_token_ends_the_whole_family() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let renewed = op.refresh(&refresh_token(&tokens)).await.ok();
    let refresh = refresh_token(&renewed);
    op.revoke_as(op.me(), &refresh).await;
    op.refresh(&refresh).await.oauth_error(400, "invalid_grant");
    for access in [access_token(&tokens), access_token(&renewed)] {
        assert_eq!(op.introspect(&access).await, json!({"active": false}));
    }
}

#[actix_web::test]
async fn revoking_another_clients_token_answers_200_and_changes_nothing() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let (access, refresh) = (access_token(&tokens), refresh_token(&tokens));
    let (other, other_secret) = op.other_client().await;
    let public = op.public_client().await;
    for t in [&access, &refresh] {
        op.revoke_as(Some((&other, &other_secret)), t).await;
        let a = op
            .post("/revoke", None, &[("token", t), ("client_id", &public)])
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(op.introspect(&access).await["active"], true);
    assert_eq!(op.introspect(&refresh).await["active"], true);
    op.userinfo(Some(&access)).await.ok();
    op.refresh(&refresh).await.ok();
}

// ---------------------------------------------------------------------------------------
// /userinfo

#[actix_web::test]
async fn userinfo_refusals() {
    let op = Op::spawn().await;
    let (_, tokens) = op.logged_in(PinType::Dispositivo).await;
    let access = access_token(&tokens);
    let info = op.userinfo(Some(&access)).await.ok();
    assert_eq!(info["sub"], jwt_part(&access, 1)["sub"]);

    let a = op.userinfo(None).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(
        a.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer")),
        "{:?}",
        a.headers
    );

    for garbage in ["garbage", "a.b.c", tokens["id_token"].as_str().unwrap()] {
        let a = op.userinfo(Some(garbage)).await;
        a.oauth_error(401, "invalid_token");
        let challenge = a.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
            "{challenge}"
        );
    }

    // A token of a client on its own: no person, no userinfo.
    let (service, service_secret) = op.service_client().await;
    let cc = op
        .post(
            "/token",
            Some((&service, &service_secret)),
            &[("grant_type", "client_credentials")],
        )
        .await
        .ok();
    let a = op.userinfo(Some(&access_token(&cc))).await;
    a.oauth_error(403, "insufficient_scope");
    assert!(
        a.header("www-authenticate")
            .is_some_and(|c| c.contains("insufficient_scope")),
        "{:?}",
        a.headers
    );

    // Revoked.
    op.revoke_as(op.me(), &access).await;
    op.userinfo(Some(&access))
        .await
        .oauth_error(401, "invalid_token");
}

// ---------------------------------------------------------------------------------------
// /logout

fn logout_url(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse(&format!("{base}/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

#[actix_web::test]
async fn logout_refuses_unregistered_return_addresses_and_bad_hints() {
    let op = Op::spawn().await;
    let (browser, tokens) = op.logged_in(PinType::Dispositivo).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let tampered = with_payload(id_token, |c| c["aud"] = json!("other-web"));
    let (other, _) = op.other_client().await;

    let refused: [&[(&str, &str)]; 6] = [
        &[
            ("client_id", &op.client_id),
            ("post_logout_redirect_uri", "https://attacker.example/"),
        ],
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "https://attacker.example/"),
        ],
        // Registered, but for no client the request names.
        &[("post_logout_redirect_uri", POST_LOGOUT_URI)],
        &[("id_token_hint", "garbage")],
        &[("id_token_hint", &tampered)],
        // A hint of one client, the client_id of another.
        &[("id_token_hint", id_token), ("client_id", &other)],
    ];
    for params in refused {
        let a = Answer::of(
            op.rp
                .get(logout_url(op.base(), params))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let body = a.page(400);
        // No session in this client's cookie jar: nothing to end, and the page says why it
        // does not go back (a browser's own session would end: see web_pages.rs).
        assert!(
            body.contains("non possiamo riportarti al servizio"),
            "{body}"
        );
        assert!(a.header("set-cookie").is_none(), "{:?}", a.headers);
    }
    // An access token is not an ID token hint.
    let a = Answer::of(
        op.rp
            .get(logout_url(
                op.base(),
                &[("id_token_hint", &access_token(&tokens))],
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    a.page(400);

    // Nothing was ended: SSO still works and the tokens are live.
    op.sso_code(&browser, |a| a).await;
    assert_eq!(op.introspect(&access_token(&tokens)).await["active"], true);
}

/// A browser whose cookies the test can read.
fn browser_with_jar() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (client, jar)
}

#[actix_web::test]
async fn logout_without_a_hint_asks_and_checks_the_confirmation() {
    let op = Op::spawn().await;
    mario_with_pin(&op.live.app, PinType::Dispositivo).await;
    let (browser, jar) = browser_with_jar();
    let tokens = op.login_in(&browser).await;
    let cookies = jar
        .cookies(&reqwest::Url::parse(op.base()).unwrap())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookies.contains("procura_session="), "{cookies}");

    let params = [
        ("client_id", op.client_id.as_str()),
        ("post_logout_redirect_uri", POST_LOGOUT_URI),
        ("state", "bye"),
    ];
    let a = Answer::of(
        browser
            .get(logout_url(op.base(), &params))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let form = a.page(200).to_owned();
    assert!(form.contains("action=\"/logout\""), "{form}");
    let csrf = input_value(&form, "csrf");
    assert_eq!(input_value(&form, "state"), "bye");
    assert_eq!(
        input_value(&form, "post_logout_redirect_uri"),
        POST_LOGOUT_URI
    );
    // Asking ends nothing.
    op.sso_code(&browser, |a| a).await;

    // A confirmation without the page's token: refused, the session goes on.
    for wrong in ["wrong", "", &csrf[..csrf.len() - 1]] {
        let resp = browser
            .post(format!("{}/logout", op.base()))
            .form(&[
                ("csrf", wrong),
                ("client_id", &op.client_id),
                ("post_logout_redirect_uri", POST_LOGOUT_URI),
                ("state", "bye"),
            ])
            .send()
            .await
            .unwrap();
        let a = Answer::of(resp).await;
        if wrong.is_empty() {
            // No csrf at all is a new question, not a confirmation.
            a.page(200);
        } else {
            a.page(403);
        }
        op.sso_code(&browser, |a| a).await;
    }
    assert_eq!(op.introspect(&access_token(&tokens)).await["active"], true);

    // The right token: ended, back to the client with its state.
    let resp = browser
        .post(format!("{}/logout", op.base()))
        .form(&[
            ("csrf", csrf.as_str()),
            ("client_id", &input_value(&form, "client_id")),
            (
                "post_logout_redirect_uri",
                &input_value(&form, "post_logout_redirect_uri"),
            ),
            ("state", &input_value(&form, "state")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{POST_LOGOUT_URI}?state=bye"));

    // Ended on the server, not only forgotten by the browser: the old cookie is worthless.
    let (_, challenge) = pkce();
    let resp = op
        .rp
        .get(op.authz(&challenge).set("prompt", "none").url(op.base()))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_redirect_error(&location(&resp), op.base(), "login_required", Some(STATE));
    let back = op
        .authorize_redirect(&browser, &op.authz(&challenge).set("prompt", "none"))
        .await;
    assert_redirect_error(&back, op.base(), "login_required", Some(STATE));
    assert_eq!(
        op.introspect(&access_token(&tokens)).await,
        json!({"active": false})
    );
}

// ---------------------------------------------------------------------------------------
// Discovery and keys

#[actix_web::test]
async fn discovery_matches_the_server() {
    let op = Op::spawn().await;
    let base = op.base().to_owned();
    let d = Answer::of(
        op.rp
            .get(format!("{base}/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .ok();
    assert_eq!(d["issuer"], base);
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(
        d["grant_types_supported"],
        json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["ES256"]));
    assert_eq!(d["request_parameter_supported"], false);
    assert_eq!(d["request_uri_parameter_supported"], false);
    let methods = d["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(
        !methods.contains(&json!("client_secret_post")),
        "{methods:?}"
    );

    // Each endpoint is on the issuer and answers there (a refusal, never a 404).
    let endpoint = |name: &str| {
        let url = d[name].as_str().unwrap_or_else(|| panic!("no {name}"));
        assert!(url.starts_with(&format!("{base}/")), "{name}: {url}");
        url.to_owned()
    };
    let get = |url: String| op.rp.get(url).send();
    let post = |url: String| {
        op.rp
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
    };
    let a = Answer::of(get(endpoint("authorization_endpoint")).await.unwrap()).await;
    a.page(400);
    let a = Answer::of(post(endpoint("token_endpoint")).await.unwrap()).await;
    a.oauth_error(400, "invalid_request");
    let a = Answer::of(get(endpoint("userinfo_endpoint")).await.unwrap()).await;
    assert_eq!(a.status, 401);
    assert!(a.header("www-authenticate").is_some());
    for name in ["introspection_endpoint", "revocation_endpoint"] {
        let a = Answer::of(post(endpoint(name)).await.unwrap()).await;
        a.oauth_error(401, "invalid_client");
    }
    let a = Answer::of(get(endpoint("end_session_endpoint")).await.unwrap()).await;
    assert!(a.page(200).contains("Sei uscito"));
    let a = Answer::of(get(endpoint("jwks_uri")).await.unwrap()).await;
    assert!(a.ok()["keys"].is_array());
    // A path that is not an endpoint is a 404: the checks above can tell.
    let a = Answer::of(get(format!("{base}/tokens")).await.unwrap()).await;
    assert_eq!(a.status, 404);
}

#[actix_web::test]
async fn jwks_publishes_es256_public_keys_with_kid() {
    let op = Op::spawn().await;
    let a = Answer::of(
        op.rp
            .get(format!("{}/jwks.json", op.base()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("application/jwk-set+json")),
        "{:?}",
        a.headers
    );
    let jwks = a.ok();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty(), "{jwks}");
    for k in keys {
        assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()), "{k}");
        assert_eq!(k["alg"], "ES256", "{k}");
        assert_eq!(k["kty"], "EC", "{k}");
        assert_eq!(k["crv"], "P-256", "{k}");
        assert!(k.get("d").is_none(), "private key published: {k}");
    }
    let kids: std::collections::HashSet<&str> =
        keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), keys.len(), "duplicate kid: {jwks}");
}
