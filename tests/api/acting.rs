//! Acting on behalf: the "act for" list, RFC 8693 token exchange, introspection and the access
//! check following the delegation, and every refusal — on the database the suite runs on.

use crate::acting_support::*;
use crate::audit::all_records;
use crate::auth_support::*;
use crate::oidc_support::*;
use crate::persons_import::cf;
use chrono::Duration;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use procura::person::CodiceFiscale;
use procura::pin::PinType;

fn code(first15: &str) -> CodiceFiscale {
    CodiceFiscale::parse(&cf(first15)).unwrap()
}

/// Giulia Verdi, the delegator (in the registry, no credentials needed).
async fn giulia(live: &LiveApp) -> CodiceFiscale {
    let g = code("VRDGLI40A41H501");
    add_person(&live.app, &g, "Giulia", "Verdi").await;
    g
}

/// A delegate with a PIN, logged in at a frontend allowed the exchange.
struct Setup {
    live: LiveApp,
    frontend: TokenClient,
    service: TokenClient,
    delegate: CodiceFiscale,
    delegator: CodiceFiscale,
    delegation_id: String,
    tokens: Tokens,
}

async fn setup() -> Setup {
    let live = LiveApp::spawn().await;
    let delegate = person_with_pin(&live.app, "RSSMRA85T10H501", PinType::Dispositivo).await;
    let delegator = giulia(&live).await;
    let delegation_id = insert_delegation(&live.app, &delegator, &delegate, "fiducia", None).await;
    let frontend = exchange_client(&live.app, "myinps-web").await;
    let service = service_client(&live.app, "pensioni", "inps:read access:check").await;
    let tokens = login_for_tokens(&live, &frontend, &delegate, FRONTEND_SCOPES).await;
    Setup {
        live,
        frontend,
        service,
        delegate,
        delegator,
        delegation_id,
        tokens,
    }
}

async fn acting_for(live: &LiveApp, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().get(format!("{}/v1/delegations/acting-for", live.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[actix_web::test]
async fn downstream_service_sees_the_delegated_token_end_with_the_delegation() {
    let s = setup().await;
    let live = &s.live;
    let now = live.app.clock_now();

    // The frontend lists whom the delegate may act for.
    let (status, list) = acting_for(live, Some(&s.tokens.access_token)).await;
    assert_eq!(status, 200, "{list}");
    let entries = list["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{list}");
    let e = &entries[0];
    assert_eq!(e["delegation_id"], s.delegation_id.as_str());
    assert_eq!(e["kind"], "fiducia");
    assert!(e["ends_at"].is_null());
    assert_eq!(e["given_name"], "Giulia");
    assert_eq!(e["family_name"], "Verdi");
    let masked = e["codice_fiscale_masked"].as_str().unwrap();
    assert!(
        masked.contains('*') && masked != s.delegator.as_str(),
        "{masked}"
    );

    // Token exchange: the delegator as subject, the delegate as actor.
    let (status, body) = exchange(
        live,
        &s.frontend,
        &s.tokens.access_token,
        &s.delegation_id,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    assert_eq!(body["scope"], "delegations:read inps:apply inps:read");
    assert!(body["expires_in"].as_u64().unwrap() <= 900);
    let delegated = body["access_token"].as_str().unwrap().to_owned();

    // The downstream service verifies it offline against JWKS with a JWT library.
    let jwks: JwkSet = reqwest::get(format!("{}/jwks.json", live.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&delegated).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[live.base.as_str()]);
    validation.set_audience(&[live.app.state.config.oauth.access_token_audience.as_str()]);
    validation.validate_exp = false; // the test clock is not the wall clock: checked below
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &delegated,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    let actor_claims = s.tokens.access_claims();
    assert_eq!(
        claims["fiscal_number"],
        format!("TINIT-{}", s.delegator.as_str())
    );
    assert_ne!(claims["sub"], actor_claims["sub"]);
    assert_eq!(claims["act"]["sub"], actor_claims["sub"]);
    assert_eq!(
        claims["act"]["fiscal_number"],
        format!("TINIT-{}", s.delegate.as_str())
    );
    assert_eq!(claims["delegation_id"], s.delegation_id.as_str());
    assert_eq!(claims["client_id"], "myinps-web");
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp <= (now + Duration::seconds(900)).timestamp());
    assert!(exp <= actor_claims["exp"].as_i64().unwrap());
    assert!(exp > now.timestamp());

    // Introspection and the access check agree while the delegation is in force.
    let seen = introspect(live, &s.service, &delegated).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], claims["sub"]);
    assert_eq!(seen["act"]["sub"], actor_claims["sub"]);
    assert_eq!(seen["delegation_id"], s.delegation_id.as_str());
    let (status, answer) = access_check(
        live,
        Some(&s.service),
        s.delegate.as_str(),
        s.delegator.as_str(),
        "inps:apply",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, serde_json::json!({ "allowed": true }));
    // Never for what a delegation does not hand over.
    let (_, answer) = access_check(
        live,
        Some(&s.service),
        s.delegate.as_str(),
        s.delegator.as_str(),
        "delegations:write",
    )
    .await;
    assert_eq!(answer, serde_json::json!({ "allowed": false }));

    // The delegator revokes: both turn false at once.
    set_status(&live.app, &s.delegation_id, "revoked").await;
    let seen = introspect(live, &s.service, &delegated).await;
    assert_eq!(seen, serde_json::json!({ "active": false }));
    let (_, answer) = access_check(
        live,
        Some(&s.service),
        s.delegate.as_str(),
        s.delegator.as_str(),
        "inps:apply",
    )
    .await;
    assert_eq!(answer, serde_json::json!({ "allowed": false }));
    // procura's own APIs refuse it too, and the list is empty.
    let (status, _) = acting_for(live, Some(&delegated)).await;
    assert_eq!(status, 401);
    let (_, list) = acting_for(live, Some(&s.tokens.access_token)).await;
    assert_eq!(list["items"], serde_json::json!([]));
    // The actor's own token is untouched.
    let own = introspect(live, &s.service, &s.tokens.access_token).await;
    assert_eq!(own["active"], true);

    // Audited with actor and subject.
    let records = live.app.with_db(|c, _, _| all_records(c)).await;
    let delegate_party = format!("person:{}", s.delegate.as_str());
    let delegator_party = format!("person:{}", s.delegator.as_str());
    let exchanged = records
        .iter()
        .find(|r| r.action == "token.exchange")
        .unwrap();
    assert_eq!(exchanged.actor, delegate_party);
    assert_eq!(exchanged.subject.as_deref(), Some(delegator_party.as_str()));
    assert_eq!(exchanged.outcome, "success");
    let checks: Vec<_> = records
        .iter()
        .filter(|r| r.action == "access.check")
        .collect();
    assert_eq!(checks.len(), 3);
    assert!(checks.iter().all(|r| r.actor == "client:pensioni"
        && r.subject.as_deref() == Some(delegator_party.as_str())
        && r.detail.as_deref().unwrap().contains(&delegate_party)));
    assert_eq!(
        checks
            .iter()
            .map(|r| r.outcome.as_str())
            .collect::<Vec<_>>(),
        ["success", "denied", "denied"]
    );
}

#[actix_web::test]
async fn delegated_token_ends_no_later_than_the_delegation() {
    let live = LiveApp::spawn().await;
    let delegate = person_with_pin(&live.app, "RSSMRA85T10H501", PinType::Dispositivo).await;
    let delegator = giulia(&live).await;
    let end = live.app.clock_now() + Duration::minutes(5);
    let id = insert_delegation(&live.app, &delegator, &delegate, "tutore", Some(end)).await;
    let frontend = exchange_client(&live.app, "myinps-web").await;
    let service = service_client(&live.app, "pensioni", "access:check").await;
    let tokens = login_for_tokens(&live, &frontend, &delegate, "openid inps:read").await;
    let (status, body) = exchange(&live, &frontend, &tokens.access_token, &id, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "inps:read");
    let delegated = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&delegated)["exp"], end.timestamp());
    assert_eq!(
        introspect(&live, &service, &delegated).await["active"],
        true
    );
    live.app.clock.advance(Duration::minutes(6));
    assert_eq!(
        introspect(&live, &service, &delegated).await["active"],
        false
    );
    let (_, answer) = access_check(
        &live,
        Some(&service),
        delegate.as_str(),
        delegator.as_str(),
        "inps:read",
    )
    .await;
    assert_eq!(answer["allowed"], false);
}

#[actix_web::test]
async fn the_delegates_logout_ends_the_delegated_token() {
    let s = setup().await;
    let (_, body) = exchange(
        &s.live,
        &s.frontend,
        &s.tokens.access_token,
        &s.delegation_id,
        &[],
    )
    .await;
    let delegated = body["access_token"].as_str().unwrap().to_owned();
    // Revoking the delegate's refresh token revokes their grant, and so the delegated token.
    revoke(
        &s.live,
        &s.frontend,
        s.tokens.refresh_token.as_deref().unwrap(),
    )
    .await;
    let seen = introspect(&s.live, &s.service, &delegated).await;
    assert_eq!(seen["active"], false);
}

fn assert_error(status: u16, body: &serde_json::Value, code: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
}

#[actix_web::test]
async fn every_exchange_refusal_has_its_error_code() {
    let s = setup().await;
    let (live, fe, token, id) = (
        &s.live,
        &s.frontend,
        s.tokens.access_token.as_str(),
        s.delegation_id.as_str(),
    );

    // invalid_request: missing or wrong parameters, unusable actor tokens.
    for extra in [
        vec![("actor_token", "")],
        vec![("subject_token", "")],
        vec![("subject_token_type", ACCESS_TOKEN_TYPE)],
        vec![(
            "actor_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        )],
        vec![(
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:refresh_token",
        )],
        vec![("actor_token", "not.a.jwt")],
    ] {
        let (status, body) = exchange(live, fe, token, id, &extra).await;
        assert_error(status, &body, "invalid_request");
    }
    // The ID token is not an access token.
    let id_token = s.tokens.id_token.clone().unwrap();
    let (status, body) = exchange(live, fe, &id_token, id, &[]).await;
    assert_error(status, &body, "invalid_request");
    // An actor token issued to another client.
    let other = exchange_client(&live.app, "altro-frontend").await;
    let (status, body) = exchange(live, &other, token, id, &[]).await;
    assert_error(status, &body, "invalid_request");
    // A delegated token cannot be the actor (no chains).
    let (_, ok) = exchange(live, fe, token, id, &[]).await;
    let delegated = ok["access_token"].as_str().unwrap().to_owned();
    let (status, body) = exchange(live, fe, &delegated, id, &[]).await;
    assert_error(status, &body, "invalid_request");

    // invalid_target: another audience.
    let (status, body) = exchange(
        live,
        fe,
        token,
        id,
        &[("audience", "https://elsewhere.example")],
    )
    .await;
    assert_error(status, &body, "invalid_target");

    // invalid_scope: what a delegation never hands over (§6.5), and the delegate's login.
    for scope in [
        "delegations:write",
        "credentials:write",
        "inps:read operator",
        "openid",
    ] {
        let (status, body) = exchange(live, fe, token, id, &[("scope", scope)]).await;
        assert_error(status, &body, "invalid_scope");
    }
    let (status, body) = exchange(live, fe, token, id, &[("scope", "inps:read")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "inps:read");

    // invalid_grant: unknown, someone else's, not started, pending, revoked.
    let (status, body) = exchange(live, fe, token, "no-such-delegation", &[]).await;
    assert_error(status, &body, "invalid_grant");
    let third = code("BNCLCU70C15F205");
    add_person(&live.app, &third, "Luca", "Bianchi").await;
    let others = insert_delegation(&live.app, &s.delegator, &third, "tutore", None).await;
    let (status, body) = exchange(live, fe, token, &others, &[]).await;
    assert_error(status, &body, "invalid_grant");
    let later = insert_delegation(&live.app, &third, &s.delegate, "curatore", None).await;
    set_start(&live.app, &later, live.app.clock_now() + Duration::days(1)).await;
    let (status, body) = exchange(live, fe, token, &later, &[]).await;
    assert_error(status, &body, "invalid_grant");
    set_status(&live.app, &later, "pending_verification").await;
    set_start(&live.app, &later, live.app.clock_now() - Duration::days(1)).await;
    let (status, body) = exchange(live, fe, token, &later, &[]).await;
    assert_error(status, &body, "invalid_grant");
    set_status(&live.app, id, "revoked").await;
    let (status, body) = exchange(live, fe, token, id, &[]).await;
    assert_error(status, &body, "invalid_grant");

    // unauthorized_client: the client may not exchange.
    let plain = token_client(&live.app, "solo-login", "openid inps:read").await;
    let plain_tokens = login_for_tokens(live, &plain, &s.delegate, "openid inps:read").await;
    let (status, body) = exchange(live, &plain, &plain_tokens.access_token, &later, &[]).await;
    assert_error(status, &body, "unauthorized_client");

    // Refusals after the actor is known are audited as denied.
    let records = live.app.with_db(|c, _, _| all_records(c)).await;
    let denied = records
        .iter()
        .filter(|r| r.action == "token.exchange" && r.outcome == "denied")
        .count();
    assert_eq!(denied, 5);
}

#[actix_web::test]
async fn access_check_refusals_and_answers() {
    let s = setup().await;
    let live = &s.live;
    let (d, g) = (s.delegate.as_str(), s.delegator.as_str());
    // Only an authenticated confidential client holding access:check.
    let (status, body) = access_check(live, None, d, g, "inps:read").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body["type"],
        "https://procura.inps.it/problems/unauthorized"
    );
    let wrong = TokenClient {
        id: s.service.id.clone(),
        secret: "wrong".into(),
    };
    let (status, _) = access_check(live, Some(&wrong), d, g, "inps:read").await;
    assert_eq!(status, 401);
    let plain = service_client(&live.app, "senza-check", "inps:read").await;
    let (status, body) = access_check(live, Some(&plain), d, g, "inps:read").await;
    assert_eq!(status, 403, "{body}");
    // Malformed input is a problem, not a "no".
    let (status, body) = access_check(live, Some(&s.service), "RSSMRA", g, "inps:read").await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = access_check(live, Some(&s.service), d, g, "admin").await;
    assert_eq!(status, 422, "{body}");
    // Oneself: yes. The wrong direction, or a stranger: no.
    let (_, a) = access_check(live, Some(&s.service), d, d, "inps:apply").await;
    assert_eq!(a, serde_json::json!({ "allowed": true }));
    let (_, a) = access_check(live, Some(&s.service), g, d, "inps:read").await;
    assert_eq!(a, serde_json::json!({ "allowed": false }));
    let stranger = cf("BNCLCU70C15F205");
    let (_, a) = access_check(live, Some(&s.service), &stranger, g, "inps:read").await;
    assert_eq!(a, serde_json::json!({ "allowed": false }));
    let (_, a) = access_check(live, Some(&s.service), d, g, "access:check").await;
    assert_eq!(a, serde_json::json!({ "allowed": false }));
}

#[actix_web::test]
async fn acting_for_refusals() {
    let s = setup().await;
    let (status, body) = acting_for(&s.live, None).await;
    assert_eq!(status, 401, "{body}");
    // A token for someone else cannot list (or switch to) the delegator's delegators.
    let (_, ok) = exchange(
        &s.live,
        &s.frontend,
        &s.tokens.access_token,
        &s.delegation_id,
        &[],
    )
    .await;
    let delegated = ok["access_token"].as_str().unwrap();
    let (status, body) = acting_for(&s.live, Some(delegated)).await;
    assert_eq!(status, 403, "{body}");
    // Without delegations:read.
    let narrow = login_for_tokens(&s.live, &s.frontend, &s.delegate, "openid inps:read").await;
    let (status, body) = acting_for(&s.live, Some(&narrow.access_token)).await;
    assert_eq!(status, 403, "{body}");
}

#[actix_web::test]
async fn discovery_and_client_rules_know_the_exchange() {
    let live = LiveApp::spawn().await;
    let d: serde_json::Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", live.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let grants = d["grant_types_supported"].as_array().unwrap();
    assert!(grants.iter().any(|g| g == TOKEN_EXCHANGE), "{d}");
    assert!(
        d["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "access:check")
    );

    // The exchange needs logins at the same client.
    use procura::oauth::client::{AuthMethod, ClientError, GrantType};
    let new = new_client(
        "solo-scambio",
        AuthMethod::ClientSecretBasic,
        &[GrantType::ClientCredentials, GrantType::TokenExchange],
    );
    assert!(matches!(
        new.validate(),
        Err(ClientError::ExchangeWithoutCode)
    ));
    // access:check never reaches a person's login.
    let mut new = new_client(
        "con-check",
        AuthMethod::ClientSecretBasic,
        &[GrantType::AuthorizationCode],
    );
    new.scopes = procura::oauth::scope::ScopeSet::parse("openid access:check");
    register(&live.app, new).await;
    let resp = browser()
        .get(format!(
            "{}/authorize?response_type=code&client_id=con-check&redirect_uri={}&scope=openid%20access%3Acheck\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            live.base,
            urlencode(REDIRECT_URI)
        ))
        .send()
        .await
        .unwrap();
    let back = location(&resp);
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_scope"),
        "{back}"
    );
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

#[actix_web::test]
async fn cli_registers_a_client_for_the_exchange() {
    use crate::helpers::{AUDIT_KEY_HEX, TestApp, blocking, text};
    let app = TestApp::spawn().await;
    let env = [
        ("PROCURA_DATABASE__URL", app.database_url().to_owned()),
        (
            "PROCURA_KEYS__DIR",
            app.config.keys.dir.display().to_string(),
        ),
        ("PROCURA_AUDIT__HMAC_KEY", AUDIT_KEY_HEX.to_owned()),
        ("PROCURA_LOG__FILTER", "error".to_owned()),
    ];
    let out = blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_procura"));
        cmd.args([
            "clients",
            "add",
            "--id",
            "myinps-web",
            "--name",
            "MyINPS",
            "--type",
            "basic",
            "--redirect-uri",
            "https://myinps.example/cb",
            "--scope",
            "openid inps:read",
            "--grant",
            "authorization_code",
            "--grant",
            TOKEN_EXCHANGE,
        ]);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let found = app
        .with_db(|c, _, _| procura::oauth::client::find(c, "myinps-web").unwrap())
        .await
        .unwrap();
    assert!(found.allows_grant(procura::oauth::client::GrantType::TokenExchange));
}
