//! Database statements per request on the hot paths (counted, not timed): the pool's
//! connections count the statements they send and those diesel prepares into their
//! statement caches (`procura_db_statements_total`, `…_prepared_total` in `/metrics`).
//! With the client authentication and the token's signature remembered, introspecting an
//! access token sends one statement (revocation, grant and delegation in one), a
//! `client_credentials` token none; and each statement is prepared once per connection.

use crate::acting_support::*;
use crate::auth_support::{login_for_tokens, person_with_pin};
use crate::oidc_support::*;
use procura::person::CodiceFiscale;
use procura::pin::PinType;

const ACTOR: &str = "RSSMRA85T10A562S";
/// Someone the actor may not act for: the check reads the delegations ("no").
const SUBJECT: &str = "VRDGLI40A41H501I";

/// (sent, prepared) while `f` runs.
async fn counted<F: std::future::Future<Output = ()>>(live: &LiveApp, f: F) -> (u64, u64) {
    let counts = &live.app.state.db_statements;
    let (sent, prepared) = (counts.sent(), counts.prepared());
    f.await;
    (counts.sent() - sent, counts.prepared() - prepared)
}

#[actix_web::test]
async fn hot_paths_send_few_statements_each_prepared_once() {
    // One connection: what one request prepares, the next finds in that connection's cache.
    let live = LiveApp::spawn_with(|c| c.database.pool_max_size = 1).await;
    let service = service_client(&live.app, "pensioni", "inps:read access:check").await;

    // client_credentials: the first authenticates the client in the database (one statement,
    // prepared); then nothing.
    let first = counted(&live, async {
        client_credentials(&live, &service).await;
    })
    .await;
    assert_eq!(first, (1, 1), "first client_credentials");
    let token = client_credentials(&live, &service).await;
    let again = counted(&live, async {
        for _ in 0..5 {
            client_credentials(&live, &service).await;
        }
    })
    .await;
    assert_eq!(again, (0, 0), "client_credentials, client remembered");

    // Introspection of an access token: one statement (revocation, grant and delegation),
    // prepared by the first and found in the cache by the others.
    let first = counted(&live, async {
        assert_eq!(introspect(&live, &service, &token).await["active"], true);
    })
    .await;
    assert_eq!(first, (1, 1), "first introspection");
    let again = counted(&live, async {
        for _ in 0..5 {
            assert_eq!(introspect(&live, &service, &token).await["active"], true);
        }
    })
    .await;
    assert_eq!(
        again,
        (5, 0),
        "introspection: one statement each, none prepared"
    );

    // The access check: one read for the answer (prepared by the first check, found in the
    // cache after), and the group commit of its audit record by the batch writer.
    let check = || async {
        let (status, body) = access_check(&live, Some(&service), ACTOR, SUBJECT, "inps:read").await;
        assert_eq!(
            (status, &body["allowed"]),
            (200, &serde_json::json!(false)),
            "{body}"
        );
    };
    let first = counted(&live, check()).await;
    let again = counted(&live, check()).await;
    eprintln!("access check (\"no\"): first {first:?}, again {again:?}");
    assert!(first.1 >= 1, "the first check prepared its read: {first:?}");
    assert_eq!(again.1, 0, "access check: nothing prepared again");
    assert_eq!(first.0, again.0, "the same statements");
}

#[actix_web::test]
async fn a_delegated_token_is_introspected_in_one_statement() {
    let live = LiveApp::spawn_with(|c| c.database.pool_max_size = 1).await;
    let delegate = person_with_pin(&live.app, "RSSMRA85T10H501", PinType::Dispositivo).await;
    let delegator = CodiceFiscale::parse(SUBJECT).unwrap();
    add_person(&live.app, &delegator, "Giulia", "Verdi").await;
    let delegation_id = insert_delegation(&live.app, &delegator, &delegate, "fiducia", None).await;
    let frontend = exchange_client(&live.app, "myinps-web").await;
    let service = service_client(&live.app, "pensioni", "inps:read").await;
    let tokens = login_for_tokens(&live, &frontend, &delegate, FRONTEND_SCOPES).await;
    let (status, body) =
        exchange(&live, &frontend, &tokens.access_token, &delegation_id, &[]).await;
    assert_eq!(status, 200, "{body}");
    let delegated = body["access_token"].as_str().unwrap().to_owned();
    // Revocation, grant (the delegate's login) and delegation: asked in one statement.
    assert_eq!(
        introspect(&live, &service, &delegated).await["active"],
        true
    );
    let again = counted(&live, async {
        for _ in 0..5 {
            assert_eq!(
                introspect(&live, &service, &delegated).await["active"],
                true
            );
        }
    })
    .await;
    assert_eq!(again, (5, 0), "one statement each, none prepared");
    // Still read every time: the delegation revoked, the token is inactive at once.
    set_status(&live.app, &delegation_id, "revoked").await;
    let after = counted(&live, async {
        assert_eq!(
            introspect(&live, &service, &delegated).await["active"],
            false
        );
    })
    .await;
    assert_eq!(after, (1, 0));
}
