//! The whole authorization-code + PKCE flow driven by an independent OpenID Connect client
//! library (the `openidconnect` crate) as the relying party, and a cookie-keeping HTTP client
//! as the citizen's browser: discovery, authorize, PIN login with the forced change of the
//! 16-character PIN, token, ID-token validation against the JWKS, userinfo, refresh with
//! rotation (and reuse detection), and RP-initiated logout.

use crate::oidc_support::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use procura::pin::PinType;

#[actix_web::test]
async fn a_frontend_logs_a_citizen_in_with_an_initial_pin_and_out_again() {
    let live = LiveApp::spawn().await;
    let base = live.base.clone();
    let mario = mario();
    add_person(&live.app, &mario, "Mario", "Rossi").await;
    give_pin(&live.app, &mario, INITIAL_PIN, PinType::Dispositivo, true).await;
    let (client_id, secret) = web_frontend(&live.app).await;

    // The relying party: discovery, then an authorization URL with PKCE and a nonce.
    let rp_http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(base.clone()).unwrap(), &rp_http)
            .await
            .unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("inps:read".into()))
        .add_scope(Scope::new("inps:apply".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The browser: login page, the 16-character PIN, then the forced change.
    let browser = browser();
    let (_, page) = open_login_page(&browser, &base, auth_url.as_str()).await;
    assert!(page.contains("Servizio myinps-web") && page.contains("<label for=\"f-pin\">"));
    let resp = post_form(
        &browser,
        &base,
        "/pin/login",
        &page,
        &[
            ("codice_fiscale", &mario.as_str().to_lowercase()),
            ("pin", INITIAL_PIN),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let change = resp.text().await.unwrap();
    assert!(change.contains("Scegli il tuo nuovo PIN"), "{change}");
    // A PIN containing 8 consecutive characters of the codice fiscale is refused.
    let bad = &mario.as_str()[..8];
    let resp = post_form(
        &browser,
        &base,
        "/pin/change",
        &change,
        &[("new_pin", bad), ("confirm_pin", bad)],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("codice fiscale"));
    let resp = post_form(
        &browser,
        &base,
        "/pin/change",
        &change,
        &[("new_pin", PERSONAL_PIN), ("confirm_pin", PERSONAL_PIN)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let back = location(&resp);
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(query_param(&back, "iss").as_deref(), Some(base.as_str()));
    let code = query_param(&back, "code").unwrap();

    // Token request with the PKCE verifier; the ID token is checked against the JWKS.
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    // The server runs on the test's manual clock; the relying party must judge expiry by it,
    // not by the wall clock, or the test fails whenever it runs more than a TTL after that time.
    let clock = live.app.clock.clone();
    let id_verifier = rp
        .id_token_verifier()
        .set_allowed_algs([CoreJwsSigningAlgorithm::EcdsaP256Sha256])
        .set_time_fn(move || procura::clock::Clock::now(clock.as_ref()));
    let claims = id_token.claims(&id_verifier, &nonce).unwrap();
    assert_eq!(
        claims.auth_context_ref(),
        Some(&AuthenticationContextClass::new(
            "https://procura.inps.it/acr/pin-dispositivo".into()
        ))
    );
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert_eq!(amr, ["pin"]);
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims
            .given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Mario")
    );
    // fiscal_number is a procura claim: read it from the payload.
    let payload = jwt_payload(&id_token.to_string());
    assert_eq!(
        payload["fiscal_number"],
        format!("TINIT-{}", mario.as_str())
    );
    let scopes: Vec<String> = tokens
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(scopes.contains(&"inps:apply".to_owned()), "{scopes:?}");

    // The access token is an RFC 9068 JWT.
    let access_header = jwt_header(tokens.access_token().secret());
    assert_eq!(access_header["typ"], "at+jwt");
    assert_eq!(access_header["alg"], "ES256");

    // A code works once; using it again revokes what it produced.
    let replay = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(openidconnect::PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&rp_http)
        .await;
    assert!(replay.is_err());

    // Userinfo — after the replay the grant is revoked, so log in again via SSO first.
    let info: Result<CoreUserInfoClaims, _> = rp
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&rp_http)
        .await;
    assert!(
        info.is_err(),
        "a replayed code revokes the access token too"
    );

    // Single sign-on: a second authorization needs no login page.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let resp = browser.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let back = location(&resp);
    assert!(
        back.starts_with(REDIRECT_URI),
        "SSO goes straight back: {back}"
    );
    let tokens = rp
        .exchange_code(AuthorizationCode::new(query_param(&back, "code").unwrap()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap().clone();
    let claims = id_token.claims(&id_verifier, &nonce).unwrap();
    let userinfo: CoreUserInfoClaims = rp
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&rp_http)
        .await
        .unwrap();
    assert_eq!(userinfo.subject(), claims.subject());
    assert_eq!(
        userinfo
            .family_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Rossi")
    );

    // Refresh: a new refresh token each time; reusing a spent one revokes the family.
    let first = tokens.refresh_token().unwrap().clone();
    let refreshed = rp
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&rp_http)
        .await
        .unwrap();
    let second = refreshed.refresh_token().unwrap().clone();
    assert_ne!(first.secret(), second.secret());
    assert!(
        rp.exchange_refresh_token(&first)
            .unwrap()
            .request_async(&rp_http)
            .await
            .is_err()
    );
    assert!(
        rp.exchange_refresh_token(&second)
            .unwrap()
            .request_async(&rp_http)
            .await
            .is_err(),
        "reuse of a rotated token revokes the whole family"
    );

    // RP-initiated logout with the ID token as hint, back to the registered URI with state.
    let mut logout = reqwest::Url::parse(&format!("{base}/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token.to_string())
        .append_pair("post_logout_redirect_uri", POST_LOGOUT_URI)
        .append_pair("state", "bye");
    let resp = browser.get(logout).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{POST_LOGOUT_URI}?state=bye"));

    // The session is over: prompt=none now fails with login_required.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .add_prompt(openidconnect::core::CoreAuthPrompt::None)
        .url();
    let resp = browser.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(
        query_param(&location(&resp), "error").as_deref(),
        Some("login_required")
    );
}

fn decode_part(jwt: &str, index: usize) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn jwt_header(jwt: &str) -> serde_json::Value {
    decode_part(jwt, 0)
}

pub fn jwt_payload(jwt: &str) -> serde_json::Value {
    decode_part(jwt, 1)
}
