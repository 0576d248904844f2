//! Expired OAuth state is purged, live state is kept.

use crate::helpers::TestApp;
use crate::oidc_support::{REDIRECT_URI, mario, new_client, register};
use procura::login::{AuthenticatedPerson, Level, LoginOutcome, Method};
use procura::oauth::client::{AuthMethod, GrantType};
use procura::oauth::session::{self, PendingAuthorization};
use procura::oauth::{cleanup, grant};

#[actix_web::test]
async fn expired_flows_sessions_and_grants_are_purged_and_live_ones_kept() {
    let app = TestApp::spawn().await;
    register(
        &app,
        new_client("web", AuthMethod::None, &[GrantType::AuthorizationCode]),
    )
    .await;
    let pending = PendingAuthorization {
        client_id: "web".into(),
        redirect_uri: REDIRECT_URI.into(),
        scope: "openid".into(),
        state: None,
        nonce: None,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        acr_min: None,
    };
    let outcome = LoginOutcome {
        person: AuthenticatedPerson {
            codice_fiscale: mario(),
            given_name: None,
            family_name: None,
        },
        method: Method::Pin,
        level: Level::PinDispositivo,
    };
    let minutes = chrono::Duration::minutes;
    app.with_db(move |c, _, now| {
        session::create_flow(c, &pending, "browser", now, minutes(15)).unwrap();
        let (s, cookie) = session::create_session(c, &outcome, now, minutes(60)).unwrap();
        let lifetimes = grant::Lifetimes {
            code: minutes(1),
            grant: minutes(120),
        };
        grant::issue_code(c, &s, &pending, "openid", "sub-1", now, lifetimes).unwrap();
        // Nothing has expired yet.
        assert_eq!(cleanup::purge_expired(c, now).unwrap(), 0);
        // After 61 minutes the flow and the session are gone, the grant (2 h) stays.
        assert_eq!(cleanup::purge_expired(c, now + minutes(61)).unwrap(), 2);
        assert!(session::find_session(c, &cookie, now).unwrap().is_none());
        // After 2 h the grant goes too, with its code.
        assert_eq!(cleanup::purge_expired(c, now + minutes(121)).unwrap(), 1);
    })
    .await;
}
