//! SPID login through HTTP, as a citizen's browser and an IdP meet procura: the signed
//! AuthnRequest, the assertion consumer and its refusals, and Single Logout both ways.

use crate::auth_support::*;
use crate::oidc_support::*;
use crate::spid_support::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use procura::spid::dsig::{self, RedirectParam};
use procura::spid::{logout, time};
use std::io::Read;

const L1: &str = "https://www.spid.gov.it/SpidL1";
const L2: &str = "https://www.spid.gov.it/SpidL2";
const L3: &str = "https://www.spid.gov.it/SpidL3";

/// A relying party's authorization request, up to the redirect to the IdP.
struct Started {
    browser: reqwest::Client,
    verifier: String,
    request: ReceivedRequest,
}

impl Started {
    /// The browser posts `xml` to the ACS, as the IdP's auto-submitted form would.
    async fn answer(&self, live: &LiveApp, xml: &str) -> reqwest::Response {
        post_response(&self.browser, live, xml, &self.request.relay_state).await
    }
}

async fn start_at_client(live: &LiveApp, client: &TokenClient, acr: Option<&str>) -> Started {
    let (verifier, auth) = authorize_url(live, client, "openid profile", acr);
    let browser = browser();
    let (login_url, page) = open_login_page(&browser, &live.base, auth.as_str()).await;
    assert!(page.contains("Entra con SPID"), "{page}");
    assert!(page.contains("IdP di prova"), "{page}");
    let flow = query_param(&login_url, "flow").unwrap();
    let mut url = reqwest::Url::parse(&format!("{}/spid/login", live.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("flow", &flow)
        .append_pair("idp", IDP_ENTITY_ID);
    let resp = browser.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    let request = received_request(&location(&resp));
    Started {
        browser,
        verifier,
        request,
    }
}

/// A login started at procura itself (no relying party).
async fn start_direct(live: &LiveApp) -> Started {
    let browser = browser();
    let resp = browser
        .get(format!("{}/spid/login?idp={IDP_ENTITY_ID}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    Started {
        browser,
        verifier: String::new(),
        request: received_request(&location(&resp)),
    }
}

async fn assert_refused(resp: reqwest::Response, status: u16, says: &str) {
    assert_eq!(resp.status(), status);
    let page = resp.text().await.unwrap();
    assert!(page.contains(says), "{page}");
}

#[actix_web::test]
async fn spid_login_ends_in_a_code_for_the_relying_party() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let started = start_at_client(&live, &client, Some(L2)).await;
    assert_eq!(started.request.level, L2);
    assert!(started.request.xml.contains("ForceAuthn=\"true\""));
    assert!(started.request.xml.contains("Comparison=\"minimum\""));
    assert!(!started.request.relay_state.contains("http"));
    assert!(started.request.issue_instant.ends_with('Z'));

    let spec = ResponseSpec::for_request(&live, &started.request);
    let resp = started.answer(&live, &spec.build(&idp)).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let back = location(&resp);
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    let tokens = exchange_code(&live, &client, &back, &started.verifier).await;
    let id = tokens.id_claims();
    assert_eq!(id["acr"], L2);
    assert_eq!(id["amr"], serde_json::json!(["spid"]));
    assert_eq!(id["fiscal_number"], "TINIT-GDASDV00A01H501J");
    assert_eq!(id["given_name"], "Mario");
    assert_eq!(id["family_name"], "Rossi");
}

#[actix_web::test]
async fn a_higher_level_is_accepted_a_lower_one_refused() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;

    let started = start_at_client(&live, &client, Some(L2)).await;
    let mut spec = ResponseSpec::for_request(&live, &started.request);
    spec.level = L3.into();
    let resp = started.answer(&live, &spec.build(&idp)).await;
    assert_eq!(resp.status(), 303);
    let tokens = exchange_code(&live, &client, &location(&resp), &started.verifier).await;
    assert_eq!(tokens.id_claims()["acr"], L3);

    let started = start_at_client(&live, &client, Some(L2)).await;
    let mut spec = ResponseSpec::for_request(&live, &started.request);
    spec.level = L1.into();
    let resp = started.answer(&live, &spec.build(&idp)).await;
    assert_refused(resp, 400, "Accesso non riuscito").await;
}

#[actix_web::test]
async fn a_direct_login_starts_a_session_other_clients_find() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let started = start_direct(&live).await;
    assert_eq!(started.request.level, L2, "the default level");
    let spec = ResponseSpec::for_request(&live, &started.request);
    let resp = started.answer(&live, &spec.build(&idp)).await;
    assert_refused(resp, 200, "Accesso effettuato").await;

    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let (verifier, auth) = authorize_url(&live, &client, "openid profile", None);
    let resp = started.browser.get(auth).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let back = location(&resp);
    assert!(back.starts_with(REDIRECT_URI), "single sign-on: {back}");
    let tokens = exchange_code(&live, &client, &back, &verifier).await;
    assert_eq!(tokens.id_claims()["amr"], serde_json::json!(["spid"]));
}

#[actix_web::test]
async fn a_response_is_accepted_once() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let started = start_direct(&live).await;
    let response = ResponseSpec::for_request(&live, &started.request).build(&idp);
    let resp = started.answer(&live, &response).await;
    assert_eq!(resp.status(), 200);
    let again = started.answer(&live, &response).await;
    assert_refused(again, 400, "già").await;

    // Nor can it answer a newer request of the same browser.
    let newer = browser_login_again(&live, &started.browser).await;
    let again = post_response(&started.browser, &live, &response, &newer.relay_state).await;
    assert!(again.status().is_client_error());
}

async fn browser_login_again(live: &LiveApp, browser: &reqwest::Client) -> ReceivedRequest {
    let resp = browser
        .get(format!("{}/spid/login?idp={IDP_ENTITY_ID}", live.base))
        .send()
        .await
        .unwrap();
    received_request(&location(&resp))
}

#[actix_web::test]
async fn responses_that_fail_a_check_are_refused_with_a_page() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    type Change = Box<dyn Fn(&mut ResponseSpec)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "wrong audience",
            Box::new(|s| s.audience = "https://other-sp.example".into()),
        ),
        (
            "expired",
            Box::new(|s| s.not_on_or_after = s.now - Duration::minutes(10)),
        ),
        (
            "another issuer",
            Box::new(|s| s.issuer = "https://evil-idp.example".into()),
        ),
        (
            "wrong recipient",
            Box::new(|s| s.acs_url = "https://other-sp.example/acs".into()),
        ),
        (
            "unknown level",
            Box::new(|s| s.level = "urn:oasis:names:tc:SAML:2.0:ac:classes:SpidL1".into()),
        ),
        (
            "signed by another key",
            Box::new(|s| s.wrong_key = Some(key_and_certificate("Evil"))),
        ),
    ];
    for (name, change) in cases {
        let started = start_direct(&live).await;
        let mut spec = ResponseSpec::for_request(&live, &started.request);
        change(&mut spec);
        let resp = started.answer(&live, &spec.build(&idp)).await;
        assert_eq!(resp.status(), 400, "{name}");
        let page = resp.text().await.unwrap();
        assert!(page.contains("Accesso non riuscito"), "{name}: {page}");
    }
}

#[actix_web::test]
async fn a_wrapped_signature_does_not_smuggle_another_identity() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let started = start_direct(&live).await;
    let spec = ResponseSpec::for_request(&live, &started.request);
    let genuine = spec.signed_assertion(&idp);
    let mut evil = spec.clone();
    evil.fiscal_number = "TINIT-RSSMRA85T10H501Z".into();
    // The evil assertion in the genuine one's place, the genuine one hidden in Extensions.
    let wrapped = format!(
        "<samlp:Extensions>{genuine}</samlp:Extensions>{}",
        evil.assertion_xml()
    );
    let mut unsigned = spec.clone();
    unsigned.sign_response = false;
    let response = unsigned.response_around(&wrapped, &idp);
    let resp = started.answer(&live, &response).await;
    assert_eq!(resp.status(), 400);

    // Same ID on both: the evil one carries the genuine one's ID, the genuine one follows.
    let started = start_direct(&live).await;
    let spec = ResponseSpec::for_request(&live, &started.request);
    let genuine = spec.signed_assertion(&idp);
    let mut evil = spec.clone();
    evil.fiscal_number = "TINIT-RSSMRA85T10H501Z".into();
    let mut unsigned = spec.clone();
    unsigned.sign_response = false;
    let response = unsigned.response_around(&format!("{}{genuine}", evil.assertion_xml()), &idp);
    let resp = started.answer(&live, &response).await;
    assert_eq!(resp.status(), 400);
}

#[actix_web::test]
async fn the_response_must_come_back_to_the_browser_that_asked() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let started = start_direct(&live).await;
    let response = ResponseSpec::for_request(&live, &started.request).build(&idp);
    let other = browser();
    let resp = post_response(&other, &live, &response, &started.request.relay_state).await;
    assert_refused(resp, 403, "browser diverso").await;
    // and the request is spent: the right browser cannot use it afterwards either
    let resp = started.answer(&live, &response).await;
    assert_eq!(resp.status(), 400);
}

#[actix_web::test]
async fn user_anomalies_get_agid_messages() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let started = start_direct(&live).await;
    let spec = ResponseSpec::for_request(&live, &started.request);
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_err1" Version="2.0" IssueInstant="{now}" Destination="{acs}" InResponseTo="{rid}"><saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{IDP_ENTITY_ID}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>ErrorCode nr25</samlp:StatusMessage></samlp:Status></samlp:Response>"#,
        now = time::format(spec.now),
        acs = spec.acs_url,
        rid = spec.request_id,
    );
    let signed = dsig::sign_enveloped(&xml, &idp.key).unwrap();
    let resp = started.answer(&live, &signed).await;
    assert_refused(resp, 403, "annullato").await;
}

/// Logs in through a relying party; returns the browser and the ID token.
async fn logged_in(
    live: &LiveApp,
    idp: &FakeIdp,
    client: &TokenClient,
) -> (reqwest::Client, String) {
    let started = start_at_client(live, client, None).await;
    let spec = ResponseSpec::for_request(live, &started.request);
    let resp = started.answer(live, &spec.build(idp)).await;
    assert_eq!(resp.status(), 303);
    let tokens = exchange_code(live, client, &location(&resp), &started.verifier).await;
    (started.browser, tokens.id_token.unwrap())
}

fn inflate(encoded: &str) -> String {
    let deflated = STANDARD.decode(encoded).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

/// Whether the browser still has a session: an authorization request is answered with a
/// code (single sign-on) rather than the login page.
async fn has_session(live: &LiveApp, client: &TokenClient, browser: &reqwest::Client) -> bool {
    let (_, auth) = authorize_url(live, client, "openid", None);
    let resp = browser.get(auth).send().await.unwrap();
    location(&resp).starts_with(REDIRECT_URI)
}

#[actix_web::test]
async fn logout_at_the_broker_goes_through_the_idp_and_back() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let (browser, id_token) = logged_in(&live, &idp, &client).await;
    assert!(has_session(&live, &client, &browser).await);

    let mut url = reqwest::Url::parse(&format!("{}/logout", live.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", POST_LOGOUT_URI)
        .append_pair("state", "bye");
    let resp = browser.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    let to_idp = location(&resp);
    assert!(to_idp.starts_with(IDP_SLO), "{to_idp}");
    assert!(
        !has_session(&live, &client, &browser).await,
        "ended locally at once"
    );

    // The IdP verifies procura's signature over the query, then answers.
    let query = to_idp.split_once('?').unwrap().1;
    let sp = live.app.state.spid.as_ref().unwrap();
    let sp_cert = dsig::VerifyingKey::from_certificate_der(sp.key.certificate_der()).unwrap();
    dsig::decode_redirect(query, &[sp_cert], 1 << 20).unwrap();
    let request_xml = inflate(&query_param(&to_idp, "SAMLRequest").unwrap());
    let request = logout::read_request(&request_xml, 1 << 20).unwrap();
    assert!(request.name_id.starts_with("_transient-"));
    let answer = logout::LogoutResponse {
        id: "_idp-answer",
        issue_instant: live.app.clock_now(),
        destination: &format!("{}/spid/slo", live.base),
        in_response_to: &request.id,
        sp_entity_id: IDP_ENTITY_ID,
        status: "urn:oasis:names:tc:SAML:2.0:status:Success",
    }
    .to_xml();
    let query = idp_redirect(
        &idp,
        RedirectParam::SamlResponse,
        &answer,
        query_param(&to_idp, "RelayState").as_deref(),
    );
    let resp = browser
        .get(format!("{}/spid/slo?{query}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let back = location(&resp);
    assert!(
        back.starts_with(POST_LOGOUT_URI) && back.contains("state=bye"),
        "{back}"
    );

    // The same answer again is refused.
    let resp = browser
        .get(format!("{}/spid/slo?{query}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[actix_web::test]
async fn an_idp_logout_request_ends_the_session_and_is_answered_signed() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let (browser, id_token) = logged_in(&live, &idp, &client).await;
    assert!(has_session(&live, &client, &browser).await);
    let name_id = {
        // the NameID the IdP gave: the fake IdP derives it from the assertion ID
        let claims = jwt_claims(&id_token);
        assert_eq!(claims["amr"], serde_json::json!(["spid"]));
        live.app
            .with_db(|c, _, _| {
                use diesel::prelude::*;
                use procura::db::schema::spid_sessions;
                spid_sessions::table
                    .select(spid_sessions::name_id)
                    .first::<String>(c)
                    .unwrap()
            })
            .await
    };
    let request = logout::LogoutRequest {
        id: "_idp-logout-1",
        issue_instant: live.app.clock_now(),
        destination: &format!("{}/spid/slo", live.base),
        sp_entity_id: IDP_ENTITY_ID,
        name_id: &name_id,
        name_qualifier: IDP_ENTITY_ID,
        session_index: None,
    }
    .to_xml();

    // Unsigned, or signed by another key: refused, the session stays.
    let (evil_key, evil_cert) = key_and_certificate("Evil");
    let evil = procura::spid::dsig::SigningKey::from_pem(&evil_key, &evil_cert).unwrap();
    let forged = dsig::encode_redirect(RedirectParam::SamlRequest, &request, None, &evil).unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{}/spid/slo?{forged}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(has_session(&live, &client, &browser).await);

    let query = idp_redirect(&idp, RedirectParam::SamlRequest, &request, Some("rs1"));
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/spid/slo?{query}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    let answer = location(&resp);
    assert!(answer.starts_with(IDP_SLO), "{answer}");
    assert_eq!(query_param(&answer, "RelayState").as_deref(), Some("rs1"));
    let xml = inflate(&query_param(&answer, "SAMLResponse").unwrap());
    let read = logout::read_response(&xml, 1 << 20).unwrap();
    assert_eq!(read.in_response_to, "_idp-logout-1");
    assert_eq!(read.status, "urn:oasis:names:tc:SAML:2.0:status:Success");
    assert!(!has_session(&live, &client, &browser).await);
}

#[actix_web::test]
async fn metadata_is_signed_and_names_the_endpoints() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let resp = reqwest::get(format!("{}/spid/metadata", live.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/samlmetadata+xml"
    );
    let body = resp.text().await.unwrap();
    assert!(body.contains(&format!("{}/spid/acs", live.base)));
    let doc = roxmltree::Document::parse(&body).unwrap();
    let root = doc.root_element();
    let first = root.children().find(|n| n.is_element()).unwrap();
    assert_eq!(first.tag_name().name(), "Signature", "signature first");
    let cert = root
        .descendants()
        .find(|n| n.has_tag_name("X509Certificate"))
        .and_then(|n| n.text())
        .unwrap();
    let key = dsig::VerifyingKey::from_certificate_base64(cert).unwrap();
    dsig::verify_enveloped(root, &[key]).unwrap();
}

#[actix_web::test]
async fn spid_routes_say_when_spid_is_off() {
    let live = LiveApp::spawn().await;
    let resp = reqwest::get(format!("{}/spid/metadata", live.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[actix_web::test]
async fn an_unknown_idp_is_refused() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let resp = browser()
        .get(format!(
            "{}/spid/login?idp=https://nobody.example",
            live.base
        ))
        .send()
        .await
        .unwrap();
    assert_refused(resp, 400, "sconosciuto").await;
}

#[actix_web::test]
async fn the_cli_prints_the_metadata_the_service_serves() {
    let idp = FakeIdp::new();
    let live = spid_app(&idp).await;
    let served = reqwest::get(format!("{}/spid/metadata", live.base))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let keys = live.app.config.keys.dir.display().to_string();
    let out = crate::helpers::procura(
        &["spid", "metadata"],
        &[
            ("PROCURA_KEYS__DIR", keys.as_str()),
            ("PROCURA_OAUTH__ISSUER", live.base.as_str()),
        ],
    );
    assert!(out.status.success(), "{}", crate::helpers::text(&out));
    assert_eq!(
        out.stdout,
        served.to_vec(),
        "the bytes to send AgID are the bytes served"
    );
}
