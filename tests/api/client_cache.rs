//! The client-authentication cache: a successful `client_secret_basic` authentication is
//! remembered `oauth.client_cache_secs` by client id and secret hash; another secret is always
//! checked against the database, and a rotated secret or a removed client takes effect once
//! the time has passed (at once with the cache off).

use crate::acting_support::*;
use crate::auth_support::TokenClient;
use crate::oidc_support::*;
use procura::audit::Party;
use procura::oauth::client;

const ACTOR: &str = "RSSMRA85T10A562S";

async fn check(live: &LiveApp, client: &TokenClient) -> u16 {
    access_check(live, Some(client), ACTOR, ACTOR, "inps:read")
        .await
        .0
}

async fn set_secret(live: &LiveApp, id: &str, secret: &str) {
    let (id, secret) = (id.to_owned(), secret.to_owned());
    live.app
        .with_db(move |c, key, now| {
            assert!(client::set_secret(c, key, &id, &secret, Party::cli("test"), now).unwrap());
        })
        .await;
}

async fn remove(live: &LiveApp, id: &str) {
    let id = id.to_owned();
    live.app
        .with_db(move |c, key, now| {
            assert!(client::remove(c, key, &id, Party::cli("test"), now).unwrap());
        })
        .await;
}

#[actix_web::test]
async fn a_rotated_secret_or_removed_client_takes_effect_within_the_cache_time() {
    let live = LiveApp::spawn_with(|c| c.oauth.client_cache_secs = 1).await;
    let old = service_client(&live.app, "pensioni", "inps:read access:check").await;
    assert_eq!(check(&live, &old).await, 200);
    // A wrong secret is never answered from memory.
    let wrong = TokenClient {
        id: old.id.clone(),
        secret: format!("{}x", old.secret),
    };
    assert_eq!(check(&live, &wrong).await, 401);
    // Rotated: the remembered old secret still works within the cache time (documented) …
    set_secret(&live, &old.id, "a-new-secret-of-enough-entropy-0123456789").await;
    assert_eq!(check(&live, &old).await, 200);
    let new = TokenClient {
        id: old.id.clone(),
        secret: "a-new-secret-of-enough-entropy-0123456789".into(),
    };
    assert_eq!(check(&live, &new).await, 200);
    // … and the new one, checked in the database, replaces it.
    assert_eq!(check(&live, &old).await, 401);
    // Removed: refused once the cache time has passed.
    remove(&live, &old.id).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(check(&live, &new).await, 401);
}

#[actix_web::test]
async fn with_the_cache_off_a_removed_client_is_refused_at_once() {
    let live = LiveApp::spawn_with(|c| c.oauth.client_cache_secs = 0).await;
    let service = service_client(&live.app, "pensioni", "inps:read access:check").await;
    assert_eq!(check(&live, &service).await, 200);
    remove(&live, &service.id).await;
    assert_eq!(check(&live, &service).await, 401);
}
