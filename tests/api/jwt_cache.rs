//! The cache of verified access tokens (`oauth.jwt_cache_*`): a token is remembered by its
//! SHA-256 once its signature verified, but whether it is revoked is still read from the
//! database on every use; a remembered token is refused at its `exp` (service clock) and
//! once its key stops verifying; a token differing in any byte is verified in full.

use crate::acting_support::*;
use crate::auth_support::{TokenClient, revoke};
use crate::oidc_support::*;
use chrono::Duration;
use procura::oauth::keys;

fn active(answer: &serde_json::Value) -> bool {
    answer["active"].as_bool().unwrap()
}

/// A live app, a service allowed introspection, one of its access tokens, remembered.
async fn remembered_token() -> (LiveApp, TokenClient, String) {
    let live = LiveApp::spawn().await;
    let service = service_client(&live.app, "pensioni", "inps:read").await;
    let token = client_credentials(&live, &service).await;
    assert!(live.app.state.verified_tokens.is_empty());
    assert!(active(&introspect(&live, &service, &token).await));
    assert_eq!(live.app.state.verified_tokens.len(), 1, "remembered");
    (live, service, token)
}

#[actix_web::test]
async fn a_remembered_token_is_refused_once_revoked() {
    let (live, service, token) = remembered_token().await;
    assert!(active(&introspect(&live, &service, &token).await));
    revoke(&live, &service, &token).await;
    assert!(!active(&introspect(&live, &service, &token).await));
    assert_eq!(
        live.app.state.verified_tokens.len(),
        1,
        "still remembered as signed: the revocation came from the database"
    );
}

#[actix_web::test]
async fn a_remembered_token_is_refused_at_its_expiry() {
    let (live, service, token) = remembered_token().await;
    let exp = jwt_claims_of(&token)["exp"].as_i64().unwrap();
    let now = live.app.clock_now().timestamp();
    live.app.clock.advance(Duration::seconds(exp - now - 1));
    assert!(active(&introspect(&live, &service, &token).await));
    live.app.clock.advance(Duration::seconds(1));
    assert!(!active(&introspect(&live, &service, &token).await));
    assert!(live.app.state.verified_tokens.is_empty(), "dropped at exp");
}

#[actix_web::test]
async fn a_token_differing_from_a_remembered_one_is_verified_in_full() {
    let (live, service, token) = remembered_token().await;
    let (signed, signature) = token.rsplit_once('.').unwrap();
    // The same header and payload under another signature (one character changed, or
    // the signature of another token), and the token with something appended.
    let first = signature.as_bytes()[0];
    let other_first = if first == b'A' { 'B' } else { 'A' };
    let other = client_credentials(&live, &service).await;
    let other_signature = other.rsplit_once('.').unwrap().1;
    for tampered in [
        format!("{signed}.{other_first}{}", &signature[1..]),
        format!("{signed}.{other_signature}"),
        format!("{token}A"),
    ] {
        assert_ne!(tampered, token);
        assert!(
            !active(&introspect(&live, &service, &tampered).await),
            "{tampered}"
        );
    }
    assert_eq!(live.app.state.verified_tokens.len(), 1, "nothing added");
    assert!(active(&introspect(&live, &service, &token).await));
}

#[actix_web::test]
async fn a_remembered_token_is_refused_once_its_key_is_withdrawn() {
    let (live, service, token) = remembered_token().await;
    // The key directory replaced by a new key (a compromised key withdrawn), then reloaded.
    let dir = live.app.config.keys.dir.clone();
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    keys::generate(&dir).unwrap();
    live.app.state.keys.reload().unwrap();
    assert!(!active(&introspect(&live, &service, &token).await));
    assert!(live.app.state.verified_tokens.is_empty(), "dropped");
    // Tokens signed by the new key verify.
    let fresh = client_credentials(&live, &service).await;
    assert!(active(&introspect(&live, &service, &fresh).await));
}

#[actix_web::test]
async fn with_the_cache_off_nothing_is_remembered() {
    let live = LiveApp::spawn_with(|c| c.oauth.jwt_cache_entries = 0).await;
    let service = service_client(&live.app, "pensioni", "inps:read").await;
    let token = client_credentials(&live, &service).await;
    assert!(active(&introspect(&live, &service, &token).await));
    assert!(live.app.state.verified_tokens.is_empty());
    revoke(&live, &service, &token).await;
    assert!(!active(&introspect(&live, &service, &token).await));
}

fn jwt_claims_of(token: &str) -> serde_json::Value {
    crate::auth_support::jwt_claims(token)
}
