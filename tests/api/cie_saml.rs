//! CIE SAML login through HTTP ("Entra con CIE" through the CIE SAML IdP): the login page
//! entry, the AuthnRequest with the CIE profile (ForceAuthn always, level 3 by default), a
//! Response shaped like the CIE IdP's (no Issuer `Format`), the broker's `acr`/`amr`, the
//! refusals (an Italian page with the way back, a log line, an audit record), and logout.
//! The SAML work is the SPID code's: its own tests (`spid_login`, `spid_logout`, unit tests,
//! spid-sp-test through `scripts/cie-saml-conformance.sh`) cover every check in depth.

use crate::auth_support::*;
use crate::oidc_support::*;
use crate::spid_support::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use procura::spid::dsig::RedirectParam;
use procura::spid::{logout, time};

/// The CIE IdP's entityID (and Response Issuer), as in production.
const CIE_IDP: &str = "https://idserver.servizicie.interno.gov.it/idp/profile/SAML2/POST/SSO";
const L2: &str = "https://www.spid.gov.it/SpidL2";
const L3: &str = "https://www.spid.gov.it/SpidL3";

/// A live procura offering "Entra con CIE" through SAML only, trusting `idp` as the CIE IdP
/// (and SPID with `spid_idp`, when given).
async fn cie_saml_app(idp: &FakeIdp, spid_idp: Option<&FakeIdp>) -> LiveApp {
    let cie = idp.metadata_path.display().to_string();
    let spid = spid_idp.map(|i| i.metadata_path.display().to_string());
    LiveApp::spawn_with(move |c| {
        c.login.methods = vec!["pin".into(), "cie".into()];
        c.cie.protocols = vec!["saml".into()];
        c.cie.saml.idp_metadata = vec![cie];
        if let Some(spid) = spid {
            c.login.methods.push("spid".into());
            c.spid.idp_metadata = vec![spid];
        }
    })
    .await
}

fn acs(live: &LiveApp) -> String {
    format!("{}/cie/saml/acs", live.base)
}

/// A login started from a relying party's authorization request, up to the CIE IdP.
struct Started {
    browser: reqwest::Client,
    verifier: String,
    request: ReceivedRequest,
}

impl Started {
    /// A Response as the CIE IdP makes it: no `Format` on either Issuer, level 3.
    fn cie_response(&self, live: &LiveApp) -> ResponseSpec {
        let mut spec = ResponseSpec::for_request(live, &self.request);
        spec.acs_url = acs(live);
        spec.audience = format!("{}/cie/saml/metadata", live.base);
        spec.issuer = CIE_IDP.into();
        spec.issuer_format = false;
        spec.level = L3.into();
        spec
    }

    async fn answer(&self, live: &LiveApp, xml: &str) -> reqwest::Response {
        post_response_to(&self.browser, &acs(live), xml, &self.request.relay_state).await
    }
}

async fn start(live: &LiveApp, client: &TokenClient, acr: Option<&str>) -> Started {
    let (verifier, auth) = authorize_url(live, client, "openid profile", acr);
    let browser = browser();
    let (login_url, page) = open_login_page(&browser, &live.base, auth.as_str()).await;
    assert!(page.contains("Entra con CIE"), "{page}");
    let flow = query_param(&login_url, "flow").unwrap();
    let mut href = reqwest::Url::parse(&format!("{}/cie/saml/login", live.base)).unwrap();
    href.query_pairs_mut()
        .append_pair("flow", &flow)
        .append_pair("idp", CIE_IDP);
    let expected = href.as_str().replace(&live.base, "").replace('&', "&#38;");
    assert!(page.contains(&expected), "the CIE entry {expected}: {page}");
    let resp = browser.get(href).send().await.unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    Started {
        browser,
        verifier,
        request: received_request(&location(&resp)),
    }
}

async fn assert_page(resp: reqwest::Response, status: u16, says: &[&str]) {
    assert_eq!(resp.status(), status);
    let page = resp.text().await.unwrap();
    assert!(page.contains("lang=\"it\""), "{page}");
    for s in says {
        assert!(page.contains(s), "{s}: {page}");
    }
}

/// The `cie.saml.login` audit records: (outcome, detail).
async fn login_records(live: &LiveApp) -> Vec<(String, serde_json::Value)> {
    live.app
        .with_db(|c, _, _| {
            use diesel::prelude::*;
            use procura::db::schema::audit_log;
            audit_log::table
                .filter(audit_log::action.eq("cie.saml.login"))
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
async fn cie_saml_login_ends_in_a_code_at_level_3() {
    let idp = FakeIdp::with_entity_id(CIE_IDP);
    let live = cie_saml_app(&idp, None).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    // The service asks for L2; CIE asks the IdP for its own level, 3.
    let started = start(&live, &client, Some(L2)).await;
    assert_eq!(started.request.level, L3);
    let xml = &started.request.xml;
    assert!(xml.contains("ForceAuthn=\"true\""), "{xml}");
    assert!(xml.contains("Comparison=\"minimum\""), "{xml}");
    assert!(xml.contains(&format!("Destination=\"{IDP_SSO}\"")), "{xml}");
    assert!(
        xml.contains(&format!(
            "NameQualifier=\"{}/cie/saml/metadata\"",
            live.base
        )),
        "{xml}"
    );

    let spec = started.cie_response(&live);
    let resp = started.answer(&live, &spec.build(&idp)).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let back = location(&resp);
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    let tokens = exchange_code(&live, &client, &back, &started.verifier).await;
    let id = tokens.id_claims();
    assert_eq!(id["acr"], L3);
    assert_eq!(id["amr"], serde_json::json!(["cie"]));
    assert_eq!(id["fiscal_number"], "TINIT-GDASDV00A01H501J");
    assert_eq!(id["given_name"], "Mario");

    let records = login_records(&live).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].0, "success");
    assert_eq!(records[0].1["idp"], CIE_IDP);
}

#[actix_web::test]
async fn cie_saml_refusals_get_an_italian_page_with_the_way_back() {
    let idp = FakeIdp::with_entity_id(CIE_IDP);
    let live = cie_saml_app(&idp, None).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let back = "/area-personale";

    // Below the level asked for.
    let started = start(&live, &client, None).await;
    let mut spec = started.cie_response(&live);
    spec.level = L2.into();
    let resp = started.answer(&live, &spec.build(&idp)).await;
    assert_page(resp, 400, &["Accesso non riuscito", back]).await;

    // Signed by another key.
    let started = start(&live, &client, None).await;
    let mut spec = started.cie_response(&live);
    spec.wrong_key = Some(key_and_certificate("Evil"));
    let resp = started.answer(&live, &spec.build(&idp)).await;
    assert_page(resp, 400, &["Accesso non riuscito", back]).await;

    // A Format other than entity on the Assertion Issuer (spid-sp-test case 72).
    let started = start(&live, &client, None).await;
    let mut spec = started.cie_response(&live);
    spec.issuer_format = true;
    let assertion = spec
        .assertion_xml()
        .replace("nameid-format:entity", "nameid-format:diversodaentity");
    let signed = procura::spid::dsig::sign_enveloped(&assertion, &idp.key).unwrap();
    spec.issuer_format = false;
    let resp = started
        .answer(&live, &spec.response_around(&signed, &idp))
        .await;
    assert_page(resp, 400, &["Accesso non riuscito", back]).await;

    // The IdP's user anomaly: an expired card (ErrorCode nr23), in the CIE wording.
    let started = start(&live, &client, None).await;
    let anomaly = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_anomaly" Version="2.0" IssueInstant="{now}" Destination="{acs}" InResponseTo="{rid}"><saml:Issuer>{CIE_IDP}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>ErrorCode nr23</samlp:StatusMessage></samlp:Status></samlp:Response>"#,
        now = time::format(live.app.clock_now()),
        acs = acs(&live),
        rid = started.request.id,
    );
    let signed = procura::spid::dsig::sign_enveloped(&anomaly, &idp.key).unwrap();
    let resp = started.answer(&live, &signed).await;
    assert_page(
        resp,
        403,
        &["CIE scaduta, sospesa o revocata", "Riprova ad accedere"],
    )
    .await;

    // Another browser.
    let started = start(&live, &client, None).await;
    let spec = started.cie_response(&live);
    let resp = post_response_to(
        &browser(),
        &acs(&live),
        &spec.build(&idp),
        &started.request.relay_state,
    )
    .await;
    assert_page(resp, 403, &["browser diverso", back]).await;

    // Each refusal spent its request and left an audit record with the reason.
    let reasons: Vec<String> = login_records(&live)
        .await
        .into_iter()
        .map(|(outcome, detail)| {
            assert_eq!(outcome, "failure");
            detail["reason"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "level_too_low",
            "assertion_signature",
            "issuer_format",
            "status",
            "wrong_browser"
        ]
    );
}

#[actix_web::test]
async fn spid_and_cie_answers_stay_at_their_own_consumer() {
    let cie_idp = FakeIdp::with_entity_id(CIE_IDP);
    let spid_idp = FakeIdp::new();
    let live = cie_saml_app(&cie_idp, Some(&spid_idp)).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let started = start(&live, &client, None).await;
    // The CIE request answered at the SPID consumer: no SPID request waits for it.
    let spec = started.cie_response(&live);
    let resp = post_response(
        &started.browser,
        &live,
        &spec.build(&cie_idp),
        &started.request.relay_state,
    )
    .await;
    assert_page(resp, 400, &["Accesso scaduto o già concluso"]).await;
    // The CIE IdP is not a SPID IdP, nor the other way round.
    let resp = browser()
        .get(format!("{}/spid/login?idp={CIE_IDP}", live.base))
        .send()
        .await
        .unwrap();
    assert_page(resp, 400, &["Gestore di identità sconosciuto"]).await;
    let resp = browser()
        .get(format!("{}/cie/saml/login?idp={IDP_ENTITY_ID}", live.base))
        .send()
        .await
        .unwrap();
    assert_page(resp, 400, &["Gestore di identità sconosciuto", "CIE"]).await;
    // And the CIE answer still works at its own consumer.
    let resp = started.answer(&live, &spec.build(&cie_idp)).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
}

#[actix_web::test]
async fn cie_saml_metadata_has_the_cie_shape_and_is_off_unless_configured() {
    let idp = FakeIdp::with_entity_id(CIE_IDP);
    let live = cie_saml_app(&idp, None).await;
    let resp = reqwest::get(format!("{}/cie/saml/metadata", live.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/samlmetadata+xml"
    );
    let body = resp.text().await.unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let root = doc.root_element();
    assert_eq!(
        root.attribute("entityID"),
        Some(format!("{}/cie/saml/metadata", live.base).as_str())
    );
    let cert = root
        .descendants()
        .find(|n| n.has_tag_name("X509Certificate"))
        .and_then(|n| n.text())
        .unwrap();
    let key = procura::spid::dsig::VerifyingKey::from_certificate_base64(cert).unwrap();
    procura::spid::dsig::verify_enveloped(root, &[key]).unwrap();
    assert!(body.contains("contactType=\"administrative\""), "{body}");
    assert!(
        body.contains("<cie:Municipality>H501</cie:Municipality>"),
        "{body}"
    );
    assert!(!body.contains("email"), "only the CIE attributes: {body}");
    // SPID is off here, and CIE SAML is off in a default configuration.
    let resp = reqwest::get(format!("{}/spid/metadata", live.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let plain = LiveApp::spawn().await;
    let resp = reqwest::get(format!("{}/cie/saml/metadata", plain.base))
        .await
        .unwrap();
    assert_page(resp, 404, &["Accesso con CIE non disponibile"]).await;
}

fn inflate(b64: &str) -> String {
    use std::io::Read;
    let deflated = STANDARD.decode(b64).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

async fn has_session(live: &LiveApp, client: &TokenClient, browser: &reqwest::Client) -> bool {
    let (_, auth) = authorize_url(live, client, "openid", None);
    let resp = browser.get(auth).send().await.unwrap();
    location(&resp).starts_with(REDIRECT_URI)
}

#[actix_web::test]
async fn logout_ends_the_cie_session_here_and_the_idp_may_end_it_too() {
    let idp = FakeIdp::with_entity_id(CIE_IDP);
    let live = cie_saml_app(&idp, None).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;

    // The broker's logout: the CIE IdP answers no LogoutResponse ("Simple Logout"), so the
    // browser is not sent there; the session ends here and the browser goes back.
    let started = start(&live, &client, None).await;
    let resp = started
        .answer(&live, &started.cie_response(&live).build(&idp))
        .await;
    let tokens = exchange_code(&live, &client, &location(&resp), &started.verifier).await;
    assert!(has_session(&live, &client, &started.browser).await);
    let mut url = reqwest::Url::parse(&format!("{}/logout", live.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", tokens.id_token.as_deref().unwrap())
        .append_pair("post_logout_redirect_uri", POST_LOGOUT_URI)
        .append_pair("state", "bye");
    let resp = started.browser.get(url).send().await.unwrap();
    let to = location(&resp);
    assert!(to.starts_with(POST_LOGOUT_URI), "not to the IdP: {to}");
    assert!(!has_session(&live, &client, &started.browser).await);

    // A LogoutRequest from the CIE IdP ends the sessions of its NameID and is answered.
    let started = start(&live, &client, None).await;
    let spec = started.cie_response(&live);
    let resp = started.answer(&live, &spec.build(&idp)).await;
    assert_eq!(resp.status(), 303);
    assert!(has_session(&live, &client, &started.browser).await);
    let request = logout::LogoutRequest {
        id: "_cie-logout-1",
        issue_instant: live.app.clock_now(),
        destination: &format!("{}/cie/saml/slo", live.base),
        sp_entity_id: CIE_IDP,
        name_id: &format!("_transient-{}", spec.assertion_id),
        name_qualifier: CIE_IDP,
        session_index: None,
    }
    .to_xml();
    // At the SPID endpoint it is nobody's: refused, the session stays.
    let query = idp_redirect(&idp, RedirectParam::SamlRequest, &request, Some("rs1"));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects
        .get(format!("{}/spid/slo?{query}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "SPID is off here");
    assert!(has_session(&live, &client, &started.browser).await);
    let resp = no_redirects
        .get(format!("{}/cie/saml/slo?{query}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    let answer = location(&resp);
    assert!(answer.starts_with(IDP_SLO), "{answer}");
    let read = logout::read_response(
        &inflate(&query_param(&answer, "SAMLResponse").unwrap()),
        1 << 20,
    )
    .unwrap();
    assert_eq!(read.in_response_to, "_cie-logout-1");
    assert!(!has_session(&live, &client, &started.browser).await);
}
