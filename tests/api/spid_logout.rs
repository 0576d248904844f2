//! Single Logout messages from an IdP, each check its own refusal (issue 11 §4): a
//! LogoutRequest must be for procura's SLO URL, recent, unexpired, from a known IdP whose key
//! signed it, and new (its ID is kept in the database, so any instance refuses a replay); a
//! LogoutResponse must answer a pending logout of procura's, come from the IdP that logout
//! went to, be for procura's SLO URL, and carry a SAML status, which is read.
//!
//! Each message is built correct and then changed in one point only; the correct one is
//! accepted by the same route in the first tests.

use crate::oidc_support::*;
use crate::spid_support::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use procura::spid::dsig::{self, RedirectParam};
use procura::spid::store::{self, PendingLogout};
use procura::spid::time;

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// An IdP's LogoutRequest, correct unless a field is changed.
struct IdpLogoutRequest {
    id: String,
    issuer: String,
    destination: String,
    issue_instant: DateTime<Utc>,
    not_on_or_after: Option<DateTime<Utc>>,
}

impl IdpLogoutRequest {
    fn new(live: &LiveApp) -> Self {
        Self {
            id: format!("_idp-logout-{}", uuid::Uuid::new_v4().simple()),
            issuer: IDP_ENTITY_ID.into(),
            destination: format!("{}/spid/slo", live.base),
            issue_instant: live.app.clock_now(),
            not_on_or_after: Some(live.app.clock_now() + Duration::minutes(5)),
        }
    }

    fn xml(&self) -> String {
        let until = self
            .not_on_or_after
            .map(|t| format!(r#" NotOnOrAfter="{}""#, time::format(t)))
            .unwrap_or_default();
        format!(
            r#"<samlp:LogoutRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}"{until}><saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity" NameQualifier="{issuer}">{issuer}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" NameQualifier="{issuer}">_nobody</saml:NameID></samlp:LogoutRequest>"#,
            id = self.id,
            instant = time::format(self.issue_instant),
            dest = self.destination,
            issuer = self.issuer,
        )
    }
}

/// An IdP's LogoutResponse to procura's logout `in_response_to`.
struct IdpLogoutResponse {
    in_response_to: String,
    issuer: String,
    destination: String,
    status: String,
}

impl IdpLogoutResponse {
    fn new(live: &LiveApp, in_response_to: &str) -> Self {
        Self {
            in_response_to: in_response_to.into(),
            issuer: IDP_ENTITY_ID.into(),
            destination: format!("{}/spid/slo", live.base),
            status: format!(r#"<samlp:StatusCode Value="{SUCCESS}"/>"#),
        }
    }

    fn xml(&self, live: &LiveApp) -> String {
        format!(
            r#"<samlp:LogoutResponse xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_answer-{irt}" Version="2.0" IssueInstant="{instant}" Destination="{dest}" InResponseTo="{irt}"><saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{issuer}</saml:Issuer><samlp:Status>{status}</samlp:Status></samlp:LogoutResponse>"#,
            irt = self.in_response_to,
            instant = time::format(live.app.clock_now()),
            dest = self.destination,
            issuer = self.issuer,
            status = self.status,
        )
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends `xml` signed by `idp` with the HTTP-Redirect binding; the HTTP status.
async fn by_redirect(live: &LiveApp, idp: &FakeIdp, param: RedirectParam, xml: &str) -> u16 {
    let query = idp_redirect(idp, param, xml, Some("rs"));
    no_redirects()
        .get(format!("{}/spid/slo?{query}", live.base))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends `xml` with an enveloped signature by `idp` with the HTTP-POST binding.
async fn by_post(live: &LiveApp, idp: &FakeIdp, param: RedirectParam, xml: &str) -> u16 {
    let signed = dsig::sign_enveloped(xml, &idp.key).unwrap();
    no_redirects()
        .post(format!("{}/spid/slo", live.base))
        .form(&[
            (param.as_str(), STANDARD.encode(signed.as_bytes())),
            ("RelayState", "rs".to_owned()),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

// ---- LogoutRequest ------------------------------------------------------------------------

#[actix_web::test]
async fn a_logout_request_id_is_accepted_once_whatever_the_binding() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let request = IdpLogoutRequest::new(&live).xml();
    let req = RedirectParam::SamlRequest;
    assert_eq!(by_redirect(&live, &idp, req, &request).await, 302);
    assert_eq!(by_redirect(&live, &idp, req, &request).await, 400);
    assert_eq!(by_post(&live, &idp, req, &request).await, 400);
    // Another request, by POST this time: accepted once too.
    let other = IdpLogoutRequest::new(&live).xml();
    assert_eq!(by_post(&live, &idp, req, &other).await, 302);
    assert_eq!(by_post(&live, &idp, req, &other).await, 400);
    // The IDs are in the database (every instance sees them) until the clean-up drops them,
    // once their IssueInstant is out of the clock skew.
    let kept = live
        .app
        .with_db(|c, _, now| {
            use diesel::prelude::*;
            use procura::db::schema::spid_received_logouts as r;
            let n: i64 = r::table.count().get_result(c).unwrap();
            let purged = store::delete_expired(c, now + Duration::seconds(32)).unwrap();
            (n, purged)
        })
        .await;
    assert_eq!(kept, (2, 2));
}

#[actix_web::test]
async fn a_logout_request_for_another_destination_is_refused() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let mut request = IdpLogoutRequest::new(&live);
    request.destination = "https://other-sp.example/spid/slo".into();
    let req = RedirectParam::SamlRequest;
    assert_eq!(by_redirect(&live, &idp, req, &request.xml()).await, 400);
    assert_eq!(by_post(&live, &idp, req, &request.xml()).await, 400);
}

#[actix_web::test]
async fn a_logout_request_older_than_the_clock_skew_is_refused() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let mut request = IdpLogoutRequest::new(&live);
    request.issue_instant = live.app.clock_now() - Duration::seconds(31);
    let req = RedirectParam::SamlRequest;
    assert_eq!(by_redirect(&live, &idp, req, &request.xml()).await, 400);
    assert_eq!(by_post(&live, &idp, req, &request.xml()).await, 400);
    // Within the skew (30 s by default) it is fine.
    request.issue_instant = live.app.clock_now() - Duration::seconds(29);
    assert_eq!(by_redirect(&live, &idp, req, &request.xml()).await, 302);
}

#[actix_web::test]
async fn a_logout_request_issued_in_the_future_is_refused() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let mut request = IdpLogoutRequest::new(&live);
    request.issue_instant = live.app.clock_now() + Duration::seconds(31);
    let req = RedirectParam::SamlRequest;
    assert_eq!(by_redirect(&live, &idp, req, &request.xml()).await, 400);
    assert_eq!(by_post(&live, &idp, req, &request.xml()).await, 400);
}

#[actix_web::test]
async fn an_expired_logout_request_is_refused() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let mut request = IdpLogoutRequest::new(&live);
    request.not_on_or_after = Some(live.app.clock_now() - Duration::seconds(31));
    let req = RedirectParam::SamlRequest;
    assert_eq!(by_redirect(&live, &idp, req, &request.xml()).await, 400);
    assert_eq!(by_post(&live, &idp, req, &request.xml()).await, 400);
    // NotOnOrAfter is optional.
    request.not_on_or_after = None;
    assert_eq!(by_post(&live, &idp, req, &request.xml()).await, 302);
}

#[actix_web::test]
async fn a_logout_request_from_an_unknown_issuer_is_refused() {
    let idp = FakeIdp::new();
    let stranger = FakeIdp::with_entity_id("https://stranger.example");
    let live = spid_app(&idp).await;
    let mut request = IdpLogoutRequest::new(&live);
    request.issuer = stranger.entity_id.clone();
    let req = RedirectParam::SamlRequest;
    assert_eq!(
        by_redirect(&live, &stranger, req, &request.xml()).await,
        400
    );
    assert_eq!(by_post(&live, &stranger, req, &request.xml()).await, 400);
}

#[actix_web::test]
async fn a_logout_request_signed_by_another_key_is_refused() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    // Another IdP's key, but the message names the trusted IdP as its Issuer.
    let impostor = FakeIdp::with_entity_id(IDP_ENTITY_ID);
    let request = IdpLogoutRequest::new(&live).xml();
    let req = RedirectParam::SamlRequest;
    assert_eq!(by_redirect(&live, &impostor, req, &request).await, 400);
    assert_eq!(by_post(&live, &impostor, req, &request).await, 400);
    // Unsigned, by POST.
    let resp = no_redirects()
        .post(format!("{}/spid/slo", live.base))
        .form(&[("SAMLRequest", STANDARD.encode(request.as_bytes()))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // The refusals did not spend the ID: the IdP's own message is still accepted.
    assert_eq!(by_redirect(&live, &idp, req, &request).await, 302);
}

/// A LogoutRequest shaped as issue 11's: the root declares `n` prefixes, `n` children each
/// declare one more.
fn namespace_flood(live: &LiveApp, n: usize) -> String {
    let root: String = (0..n)
        .map(|i| format!(r#" xmlns:p{i}="urn:p{i}""#))
        .collect();
    let children: String = (0..n)
        .map(|i| format!(r#"<a xmlns:q{i}="urn:q{i}"/>"#))
        .collect();
    IdpLogoutRequest::new(live)
        .xml()
        .replacen(" ID=", &format!("{root} ID="), 1)
        .replacen(
            "</samlp:LogoutRequest>",
            &format!("{children}</samlp:LogoutRequest>"),
            1,
        )
}

#[actix_web::test]
async fn a_message_beyond_the_limits_is_refused_before_it_is_parsed() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    // Signed by the IdP's own key even: its shape is refused first, on either binding and at
    // the assertion consumer.
    let flood = namespace_flood(&live, 3000);
    let req = RedirectParam::SamlRequest;
    assert_eq!(by_redirect(&live, &idp, req, &flood).await, 400);
    let resp = no_redirects()
        .post(format!("{}/spid/slo", live.base))
        .form(&[("SAMLRequest", STANDARD.encode(flood.as_bytes()))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = no_redirects()
        .post(format!("{}/spid/acs", live.base))
        .form(&[("SAMLResponse", STANDARD.encode(flood.as_bytes()))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("Accesso non riuscito"));
    // Within the limits the same message is fine.
    assert_eq!(
        by_redirect(&live, &idp, req, &namespace_flood(&live, 4)).await,
        302
    );
}

// ---- LogoutResponse -----------------------------------------------------------------------

/// A LogoutRequest procura sent to `idp_entity_id`, waiting for its answer.
async fn pending_logout(live: &LiveApp, idp_entity_id: &str) -> String {
    let id = format!("_sp-logout-{}", uuid::Uuid::new_v4().simple());
    let pending = PendingLogout {
        id: id.clone(),
        idp_entity_id: idp_entity_id.into(),
        return_to: Some(POST_LOGOUT_URI.into()),
        issued_at: live.app.clock_now().naive_utc(),
        expires_at: (live.app.clock_now() + Duration::minutes(30)).naive_utc(),
        consumed_at: None,
    };
    live.app
        .with_db(move |c, _, _| store::insert_logout(c, &pending).unwrap())
        .await;
    id
}

/// The `spid.logout` audit records: (outcome, detail).
async fn logout_records(live: &LiveApp) -> Vec<(String, serde_json::Value)> {
    live.app
        .with_db(|c, _, _| {
            use diesel::prelude::*;
            use procura::db::schema::audit_log;
            audit_log::table
                .filter(audit_log::action.eq("spid.logout"))
                .order(audit_log::seq.asc())
                .select((audit_log::outcome, audit_log::detail))
                .load::<(String, Option<String>)>(c)
                .unwrap()
        })
        .await
        .into_iter()
        .map(|(o, d)| (o, serde_json::from_str(&d.unwrap_or_default()).unwrap()))
        .collect()
}

#[actix_web::test]
async fn a_logout_response_must_answer_a_pending_logout() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let resp = RedirectParam::SamlResponse;
    let unknown = IdpLogoutResponse::new(&live, "_never-sent").xml(&live);
    assert_eq!(by_redirect(&live, &idp, resp, &unknown).await, 400);
    assert_eq!(by_post(&live, &idp, resp, &unknown).await, 400);
    // A pending one: accepted once, then spent.
    let id = pending_logout(&live, IDP_ENTITY_ID).await;
    let answer = IdpLogoutResponse::new(&live, &id).xml(&live);
    assert_eq!(by_post(&live, &idp, resp, &answer).await, 303);
    assert_eq!(by_post(&live, &idp, resp, &answer).await, 400);
    let records = logout_records(&live).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].0, "success");
    assert_eq!(records[0].1["initiated_by"], "sp");
}

#[actix_web::test]
async fn a_logout_response_from_another_idp_is_refused() {
    let idp = FakeIdp::new();
    let other = FakeIdp::with_entity_id("https://other-idp.spid.test");
    let live = spid_app_trusting(&[&idp, &other]).await;
    let id = pending_logout(&live, IDP_ENTITY_ID).await;
    let resp = RedirectParam::SamlResponse;
    // A trusted IdP, but not the one the logout went to.
    let mut answer = IdpLogoutResponse::new(&live, &id);
    answer.issuer = other.entity_id.clone();
    assert_eq!(
        by_redirect(&live, &other, resp, &answer.xml(&live)).await,
        400
    );
    assert_eq!(by_post(&live, &other, resp, &answer.xml(&live)).await, 400);
    // The pending logout was not spent by it.
    let answer = IdpLogoutResponse::new(&live, &id).xml(&live);
    assert_eq!(by_redirect(&live, &idp, resp, &answer).await, 303);
}

#[actix_web::test]
async fn a_logout_response_for_another_destination_is_refused() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let id = pending_logout(&live, IDP_ENTITY_ID).await;
    let mut answer = IdpLogoutResponse::new(&live, &id);
    answer.destination = "https://other-sp.example/spid/slo".into();
    let resp = RedirectParam::SamlResponse;
    assert_eq!(
        by_redirect(&live, &idp, resp, &answer.xml(&live)).await,
        400
    );
    assert_eq!(by_post(&live, &idp, resp, &answer.xml(&live)).await, 400);
}

#[actix_web::test]
async fn a_logout_response_status_is_read() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let resp = RedirectParam::SamlResponse;
    // Not a SAML status: refused.
    let id = pending_logout(&live, IDP_ENTITY_ID).await;
    let mut answer = IdpLogoutResponse::new(&live, &id);
    answer.status = r#"<samlp:StatusCode Value="OK"/>"#.into();
    assert_eq!(
        by_redirect(&live, &idp, resp, &answer.xml(&live)).await,
        400
    );
    // A partial logout at the IdP: the session here has ended anyway, so the browser goes
    // back to the relying party, and the audit trail says the IdP did not finish.
    answer.status = concat!(
        r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Requester">"#,
        r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:PartialLogout"/>"#,
        "</samlp:StatusCode>"
    )
    .into();
    let status = no_redirects()
        .get(format!(
            "{}/spid/slo?{}",
            live.base,
            idp_redirect(&idp, resp, &answer.xml(&live), None)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 303);
    assert!(location(&status).starts_with(POST_LOGOUT_URI));
    let records = logout_records(&live).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].0, "failure");
    assert_eq!(
        records[0].1["status"],
        "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
    );
}
