//! Fixtures for acting on behalf: delegations inserted as rows (the registry's own register
//! functions live on another branch), a frontend allowed the token exchange, a downstream
//! service allowed introspection and the access check, and the raw calls they make.

use crate::auth_support::TokenClient;
use crate::helpers::TestApp;
use crate::oidc_support::*;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use procura::db::schema::delegations;
use procura::oauth::client::{AuthMethod, GrantType};
use procura::oauth::scope::ScopeSet;
use procura::person::CodiceFiscale;

pub const DELEGATION_TYPE: &str = "urn:procura:params:oauth:token-type:delegation";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Inserts an `active` delegation that started an hour ago; returns its id.
pub async fn insert_delegation(
    app: &TestApp,
    delegator: &CodiceFiscale,
    delegate: &CodiceFiscale,
    kind: &str,
    ends_at: Option<DateTime<Utc>>,
) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let (row_id, from, to, kind) = (
        id.clone(),
        delegator.as_str().to_owned(),
        delegate.as_str().to_owned(),
        kind.to_owned(),
    );
    app.with_db(move |conn, _, now| {
        let at = now.naive_utc();
        diesel::insert_into(delegations::table)
            .values((
                delegations::id.eq(&row_id),
                delegations::delegator_cf.eq(&from),
                delegations::delegate_cf.eq(&to),
                delegations::kind.eq(&kind),
                delegations::channel.eq("sportello_aa08"),
                delegations::status.eq("active"),
                delegations::starts_at.eq((now - Duration::hours(1)).naive_utc()),
                delegations::ends_at.eq(ends_at.map(|t| t.naive_utc())),
                delegations::created_at.eq(at),
                delegations::updated_at.eq(at),
                delegations::end_notice_sent.eq(false),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;
    id
}

/// Sets a delegation's status (`revoked`, `renounced`, `pending_verification`, …).
pub async fn set_status(app: &TestApp, id: &str, status: &str) {
    let (id, status) = (id.to_owned(), status.to_owned());
    app.with_db(move |conn, _, now| {
        diesel::update(delegations::table.find(&id))
            .set((
                delegations::status.eq(&status),
                delegations::updated_at.eq(now.naive_utc()),
                delegations::ended_at.eq(Some(now.naive_utc())),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;
}

/// Moves a delegation's start (to test one that has not started yet).
pub async fn set_start(app: &TestApp, id: &str, starts_at: DateTime<Utc>) {
    let id = id.to_owned();
    app.with_db(move |conn, _, _| {
        diesel::update(delegations::table.find(&id))
            .set(delegations::starts_at.eq(starts_at.naive_utc()))
            .execute(conn)
            .unwrap();
    })
    .await;
}

/// The scopes a MyINPS-like frontend holds, the non-delegable ones included.
pub const FRONTEND_SCOPES: &str = "openid profile inps:read inps:apply delegations:read \
    delegations:write credentials:write";

/// A confidential frontend with the code, refresh and token-exchange grants.
pub async fn exchange_client(app: &TestApp, id: &str) -> TokenClient {
    let mut new = new_client(
        id,
        AuthMethod::ClientSecretBasic,
        &[
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::TokenExchange,
        ],
    );
    new.scopes = ScopeSet::parse(FRONTEND_SCOPES);
    let r = register(app, new).await;
    TokenClient {
        id: r.client.client_id,
        secret: r.secret.unwrap(),
    }
}

/// A downstream service: client credentials, with or without `access:check`.
pub async fn service_client(app: &TestApp, id: &str, scopes: &str) -> TokenClient {
    let mut new = new_client(
        id,
        AuthMethod::ClientSecretBasic,
        &[GrantType::ClientCredentials],
    );
    new.scopes = ScopeSet::parse(scopes);
    let r = register(app, new).await;
    TokenClient {
        id: r.client.client_id,
        secret: r.secret.unwrap(),
    }
}

/// `POST /token` with the token-exchange grant plus `extra` parameters; (status, body).
pub async fn exchange(
    live: &LiveApp,
    client: &TokenClient,
    actor_token: &str,
    delegation_id: &str,
    extra: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", delegation_id),
        ("subject_token_type", DELEGATION_TYPE),
        ("actor_token", actor_token),
        ("actor_token_type", ACCESS_TOKEN_TYPE),
    ];
    for (k, v) in extra {
        form.retain(|(name, _)| name != k);
        form.push((k, v));
    }
    form.retain(|(_, v)| !v.is_empty());
    post_form_as(live, client, "/token", &form).await
}

/// `POST /token` with `client_credentials` as `client`; the access token.
pub async fn client_credentials(live: &LiveApp, client: &TokenClient) -> String {
    let (status, body) = post_form_as(
        live,
        client,
        "/token",
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// `POST /introspect` as `client`; the JSON answer.
pub async fn introspect(live: &LiveApp, client: &TokenClient, token: &str) -> serde_json::Value {
    let (status, body) = post_form_as(live, client, "/introspect", &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn post_form_as(
    live: &LiveApp,
    client: &TokenClient,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", live.base))
        .basic_auth(&client.id, Some(&client.secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// `POST /v1/access/check` as `client` (None: no credentials); (status, body).
pub async fn access_check(
    live: &LiveApp,
    client: Option<&TokenClient>,
    actor: &str,
    subject: &str,
    scope: &str,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/access/check", live.base))
        .json(&serde_json::json!({ "actor": actor, "subject": subject, "scope": scope }));
    if let Some(c) = client {
        req = req.basic_auth(&c.id, Some(&c.secret));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}
