//! Tokens the way a relying party gets them: a person with a personal PIN logs in through the
//! real broker (authorize → login page → PIN form → code → `/token`) in a fresh cookie-keeping
//! browser. For every test of a bearer-token API: operators, PIN issuance routes, ….
//!
//! ```ignore
//! let live = LiveApp::spawn().await;
//! let person = person_with_pin(&live.app, "RSSMRA85T10H501", PinType::Dispositivo).await;
//! let client = token_client(&live.app, "operator-console", "openid profile operator").await;
//! let tokens = login_for_tokens(&live, &client, &person, "openid operator").await;
//! // tokens.access_token → Authorization: Bearer …
//! ```

use crate::helpers::TestApp;
use crate::oidc_support::*;
use crate::persons_import::cf;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use procura::oauth::client::{AuthMethod, GrantType};
use procura::oauth::scope::ScopeSet;
use procura::person::CodiceFiscale;
use procura::pin::PinType;
use sha2::{Digest, Sha256};

/// A confidential client (client_secret_basic) with the code and refresh grants.
#[derive(Debug, Clone)]
pub struct TokenClient {
    pub id: String,
    pub secret: String,
}

/// A token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: String,
}

impl Tokens {
    fn from_json(v: &serde_json::Value) -> Self {
        let text = |k: &str| v[k].as_str().map(str::to_owned);
        Self {
            access_token: text("access_token").unwrap_or_else(|| panic!("no access_token: {v}")),
            id_token: text("id_token"),
            refresh_token: text("refresh_token"),
            scope: text("scope").unwrap_or_default(),
        }
    }

    /// The access token's claims (not verified: the server does that).
    pub fn access_claims(&self) -> serde_json::Value {
        jwt_claims(&self.access_token)
    }

    pub fn id_claims(&self) -> serde_json::Value {
        jwt_claims(self.id_token.as_deref().expect("no ID token"))
    }
}

/// The payload of a JWT, unverified.
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Registers a confidential client allowed `scopes` (space-separated, with `openid`).
pub async fn token_client(app: &TestApp, id: &str, scopes: &str) -> TokenClient {
    let mut new = new_client(
        id,
        AuthMethod::ClientSecretBasic,
        &[GrantType::AuthorizationCode, GrantType::RefreshToken],
    );
    new.scopes = ScopeSet::parse(scopes);
    let r = register(app, new).await;
    TokenClient {
        id: r.client.client_id,
        secret: r.secret.unwrap(),
    }
}

/// A person in the registry (names made up) with the personal PIN [`PERSONAL_PIN`].
pub async fn person_with_pin(app: &TestApp, first15: &str, pin_type: PinType) -> CodiceFiscale {
    let code = CodiceFiscale::parse(&cf(first15)).unwrap();
    add_person(app, &code, "Nome", "Cognome").await;
    give_pin(app, &code, PERSONAL_PIN, pin_type, false).await;
    code
}

/// Logs `person` (holding [`PERSONAL_PIN`]) in at `client`, asking for `scope`, in a new
/// browser; returns the token response. Panics, with the server's answer, on any refusal.
pub async fn login_for_tokens(
    live: &LiveApp,
    client: &TokenClient,
    person: &CodiceFiscale,
    scope: &str,
) -> Tokens {
    let (verifier, auth) = authorize_url(live, client, scope, None);
    let browser = browser();
    let (_, page) = open_login_page(&browser, &live.base, auth.as_str()).await;
    let resp = post_form(
        &browser,
        &live.base,
        "/pin/login",
        &page,
        &[("codice_fiscale", person.as_str()), ("pin", PERSONAL_PIN)],
    )
    .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    exchange_code(live, client, &location(&resp), &verifier).await
}

/// An authorization request URL (PKCE S256, state `st`, nonce `n`) and its code verifier.
pub fn authorize_url(
    live: &LiveApp,
    client: &TokenClient,
    scope: &str,
    acr_values: Option<&str>,
) -> (String, reqwest::Url) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut auth = reqwest::Url::parse(&format!("{}/authorize", live.base)).unwrap();
    auth.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(acr) = acr_values {
        auth.query_pairs_mut().append_pair("acr_values", acr);
    }
    (verifier, auth)
}

/// Exchanges the code in `back` (the redirect to the client) for tokens.
pub async fn exchange_code(
    live: &LiveApp,
    client: &TokenClient,
    back: &str,
    verifier: &str,
) -> Tokens {
    let code = query_param(back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    token_request(
        live,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Refreshes with `refresh_token`.
pub async fn refresh_tokens(live: &LiveApp, client: &TokenClient, refresh_token: &str) -> Tokens {
    token_request(
        live,
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

async fn token_request(live: &LiveApp, client: &TokenClient, form: &[(&str, &str)]) -> Tokens {
    let resp = reqwest::Client::new()
        .post(format!("{}/token", live.base))
        .basic_auth(&client.id, Some(&client.secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    Tokens::from_json(&body)
}

/// Revokes a token (RFC 7009) as `client`.
pub async fn revoke(live: &LiveApp, client: &TokenClient, token: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{}/revoke", live.base))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
