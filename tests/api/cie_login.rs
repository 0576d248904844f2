//! CIE login through OpenID Connect, as a citizen's browser, a CIE provider and its trust
//! anchor meet procura (the federation of `cie_support`, real keys and signatures): the
//! entity configuration, the signed request object, the callback and every refusal.

use crate::auth_support::*;
use crate::cie_support::*;
use crate::oidc_support::*;
use chrono::Duration;
use diesel::prelude::*;
use procura::db::schema::{audit_log, cie_trust_chains};
use serde_json::{Value, json};

/// A login at a relying party up to the provider's authorization endpoint.
struct Flow {
    browser: reqwest::Client,
    verifier: String,
    request: Value,
    code: String,
    flow_id: String,
}

async fn start(app: &CieApp, client: &TokenClient, acr: Option<&str>) -> Flow {
    start_scoped(app, client, acr, "openid profile").await
}

async fn start_scoped(app: &CieApp, client: &TokenClient, acr: Option<&str>, scope: &str) -> Flow {
    let (verifier, auth) = authorize_url(&app.live, client, scope, acr);
    let browser = browser();
    let (login_url, page) = open_login_page(&browser, app.base(), auth.as_str()).await;
    assert!(page.contains("Entra con CIE"), "{page}");
    let flow_id = query_param(&login_url, "flow").unwrap();
    let href = format!("/cie/login?flow={flow_id}");
    assert!(page.contains(&href.replace('&', "&amp;")), "{page}");
    let resp = browser
        .get(format!(
            "{}/cie/login?flow={flow_id}&op={}",
            app.base(),
            app.fed.op_id()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    let (request, code) = app.fed.authorize(&location(&resp));
    Flow {
        browser,
        verifier,
        request,
        code,
        flow_id,
    }
}

impl Flow {
    /// The provider sends the browser back with `iss` (RFC 9207).
    async fn back(&self, app: &CieApp, iss: Option<&str>) -> reqwest::Response {
        let mut url = reqwest::Url::parse(&format!("{}/cie/callback", app.base())).unwrap();
        url.query_pairs_mut()
            .append_pair("code", &self.code)
            .append_pair("state", self.request["state"].as_str().unwrap());
        if let Some(iss) = iss {
            url.query_pairs_mut().append_pair("iss", iss);
        }
        self.browser.get(url).send().await.unwrap()
    }

    async fn back_from_provider(&self, app: &CieApp) -> reqwest::Response {
        self.back(app, Some(&app.fed.op_id())).await
    }
}

async fn client(app: &CieApp) -> TokenClient {
    token_client(&app.live.app, "myinps-web", "openid profile").await
}

/// A refusal: the status, an Italian page saying `says`, and the way back to the login page.
async fn assert_refused(resp: reqwest::Response, status: u16, says: &str, flow_id: Option<&str>) {
    assert_eq!(resp.status(), status);
    let page = resp.text().await.unwrap();
    assert!(page.contains("lang=\"it\""), "{page}");
    assert!(page.contains(says), "{page}");
    match flow_id {
        Some(flow) => assert!(
            page.contains(&format!("/login?flow={flow}")),
            "no way back: {page}"
        ),
        // Without a flow: the way back into the services (and the contact centre).
        None => assert!(page.contains("href=\"/area-personale\""), "{page}"),
    }
}

/// The reasons of the refused CIE logins in the audit log, oldest first.
async fn refusal_reasons(app: &CieApp) -> Vec<String> {
    app.live
        .app
        .with_db(|c, _, _| {
            audit_log::table
                .filter(audit_log::action.eq("cie.login"))
                .filter(audit_log::outcome.eq("failure"))
                .order(audit_log::seq.asc())
                .select(audit_log::detail)
                .load::<Option<String>>(c)
                .unwrap()
                .into_iter()
                .map(|d| {
                    let v: Value = serde_json::from_str(&d.unwrap()).unwrap();
                    v["reason"].as_str().unwrap().to_owned()
                })
                .collect()
        })
        .await
}

/// Runs a login whose provider misbehaves as `knobs` say; returns the callback's answer.
async fn login_with(app: &CieApp, knobs: impl FnOnce(&mut Knobs)) -> (Flow, reqwest::Response) {
    let id = format!("rp-{}", uuid::Uuid::new_v4().simple());
    let client = token_client(&app.live.app, &id, "openid profile").await;
    knobs(&mut app.knobs());
    let flow = start(app, &client, None).await;
    let resp = flow.back_from_provider(app).await;
    (flow, resp)
}

#[actix_web::test]
async fn a_cie_login_ends_in_a_code_for_the_relying_party() {
    let app = cie_app().await;
    let client = client(&app).await;
    let flow = start(&app, &client, None).await;
    let r = &flow.request;
    // The request object: signed by procura's relying-party key (checked by the provider).
    assert_eq!(r["iss"], app.base());
    assert_eq!(r["client_id"], app.base());
    assert_eq!(r["aud"], app.fed.op_id());
    assert_eq!(r["redirect_uri"], format!("{}/cie/callback", app.base()));
    assert_eq!(r["response_type"], "code");
    assert_eq!(r["prompt"], "consent login");
    assert_eq!(r["acr_values"], SPID_L3, "CIE L3 by default");
    assert_eq!(r["code_challenge_method"], "S256");
    for name in ["state", "nonce"] {
        let v = r[name].as_str().unwrap();
        assert!(
            v.len() >= 32 && v.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{name}: {v}"
        );
    }
    assert_eq!(r["claims"]["userinfo"][FISCAL]["essential"], true);
    assert!(r["claims"]["id_token"]["given_name"].is_object());
    assert!(r["exp"].as_i64().unwrap() > r["iat"].as_i64().unwrap());

    let resp = flow.back_from_provider(&app).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let back = location(&resp);
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    let tokens = exchange_code(&app.live, &client, &back, &flow.verifier).await;
    let id = tokens.id_claims();
    assert_eq!(id["acr"], SPID_L3);
    assert_eq!(id["amr"], json!(["cie"]));
    assert_eq!(id["fiscal_number"], format!("TINIT-{CF}"));
    assert_eq!(id["given_name"], "Mario");
    assert_eq!(id["family_name"], "Rossi");
    // The code was redeemed with private_key_jwt, for the token endpoint.
    let assertions = app.fed.assertions.lock().unwrap().clone();
    assert_eq!(assertions.len(), 1);
    assert_eq!(assertions[0]["iss"], app.base());
    assert!(refusal_reasons(&app).await.is_empty());
    let (subject, detail): (Option<String>, Option<String>) = app
        .live
        .app
        .with_db(|c, _, _| {
            audit_log::table
                .filter(audit_log::action.eq("cie.login"))
                .filter(audit_log::outcome.eq("success"))
                .select((audit_log::subject, audit_log::detail))
                .first(c)
                .unwrap()
        })
        .await;
    assert!(subject.unwrap().contains(CF));
    assert!(detail.unwrap().contains(SPID_L3));
}

#[actix_web::test]
async fn the_entity_configuration_is_signed_with_federation_keys_of_its_own() {
    let app = cie_app_with(|c| {
        c.cie.trust_marks = vec![procura::config::CieTrustMark {
            id: "https://registry.example/openid_relying_party/public".into(),
            trust_mark: "eyJhbGciOiJSUzI1NiJ9.e30.sig".into(),
        }];
    })
    .await;
    let resp = reqwest::get(format!("{}/.well-known/openid-federation", app.base()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/entity-statement+jwt"
    );
    let jwt = resp.text().await.unwrap();
    let header = procura::cie::jose::header(&jwt).unwrap();
    assert_eq!(header["typ"], "entity-statement+jwt");
    let ec = jwt_claims(&jwt);
    assert_eq!(ec["iss"], app.base());
    assert_eq!(ec["sub"], app.base());
    assert_eq!(ec["authority_hints"], json!([app.fed.ta_id()]));
    assert!(ec["exp"].as_i64().unwrap() > ec["iat"].as_i64().unwrap());
    // Self-signed with a federation key it lists.
    let fed_keys = procura::cie::jose::signature_keys(&ec["jwks"]);
    assert_eq!(fed_keys.len(), 1);
    procura::cie::jose::verify(&jwt, &fed_keys).unwrap();
    let rp = &ec["metadata"]["openid_relying_party"];
    assert_eq!(rp["client_id"], app.base());
    assert_eq!(
        rp["redirect_uris"],
        json!([format!("{}/cie/callback", app.base())])
    );
    assert_eq!(rp["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(rp["client_registration_types"], json!(["automatic"]));
    assert_eq!(rp["response_types"], json!(["code"]));
    // Federation keys, relying-party keys and token keys are all different keys.
    let fed_kid = fed_keys[0].key_id().unwrap().to_owned();
    let rp_keys = rp["jwks"]["keys"].as_array().unwrap();
    assert_eq!(
        rp_keys.iter().filter(|k| k["use"] == "enc").count(),
        2,
        "RSA and EC"
    );
    assert!(rp_keys.iter().all(|k| k["kid"] != fed_kid.as_str()));
    let token_jwks: Value = reqwest::get(format!("{}/jwks.json", app.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        token_jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kid"] != fed_kid.as_str())
    );
    assert!(ec["metadata"]["federation_entity"]["organization_name"].is_string());
    assert_eq!(
        ec["trust_marks"][0]["id"],
        "https://registry.example/openid_relying_party/public"
    );
}

#[actix_web::test]
async fn a_tampered_id_token_is_refused() {
    let app = cie_app().await;
    let (flow, resp) = login_with(&app, |k| k.tamper_id_token = true).await;
    assert_refused(resp, 400, "non è valida", Some(&flow.flow_id)).await;
    assert_eq!(refusal_reasons(&app).await, ["id_token_invalid"]);
}

#[actix_web::test]
async fn id_tokens_signed_or_encrypted_otherwise_than_the_rules_allow_are_refused() {
    let app = cie_app().await;
    // RS384 is not among RS256, RS512, ES256.
    let (_, resp) = login_with(&app, |k| k.id_token_alg = "RS384".into()).await;
    assert_eq!(resp.status(), 400);
    // A nonce of another request, an expired token.
    let (_, resp) = login_with(&app, |k| {
        k.id_token_alg = "RS256".into();
        k.wrong_nonce = true;
    })
    .await;
    assert_eq!(resp.status(), 400);
    let (_, resp) = login_with(&app, |k| {
        k.wrong_nonce = false;
        k.id_token_expired = true;
    })
    .await;
    assert_eq!(resp.status(), 400);
    // RSA1_5 key encryption is forbidden.
    let (_, resp) = login_with(&app, |k| {
        k.id_token_expired = false;
        k.userinfo_encryption = Some(("RSA1_5".into(), "A128CBC-HS256".into()));
    })
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        refusal_reasons(&app).await,
        [
            "id_token_invalid",
            "id_token_invalid",
            "id_token_invalid",
            "jose"
        ]
    );
}

/// (key encryption, content encryption)
type Enc = (&'static str, &'static str);

#[actix_web::test]
async fn every_allowed_algorithm_is_read() {
    let app = cie_app().await;
    // (ID token signature, ID token encryption, userinfo encryption)
    let cases: Vec<(&str, Option<Enc>, Option<Enc>)> = vec![
        ("RS512", None, Some(("RSA-OAEP", "A128CBC-HS256"))),
        (
            "ES256",
            Some(("RSA-OAEP-256", "A256CBC-HS512")),
            Some(("ECDH-ES", "A256CBC-HS512")),
        ),
        ("RS256", Some(("ECDH-ES", "A128CBC-HS256")), None),
    ];
    for (alg, id_enc, ui_enc) in cases {
        let (_, resp) = login_with(&app, |k| {
            k.id_token_alg = alg.into();
            k.id_token_encryption = id_enc.map(|(a, e)| (a.into(), e.into()));
            k.userinfo_encryption = ui_enc.map(|(a, e)| (a.into(), e.into()));
        })
        .await;
        assert_eq!(
            resp.status(),
            303,
            "{alg} {id_enc:?} {ui_enc:?}: {:?}",
            refusal_reasons(&app).await
        );
    }
}

#[actix_web::test]
async fn a_wrong_or_missing_iss_on_the_callback_is_refused() {
    let app = cie_app().await;
    let client = client(&app).await;
    let flow = start(&app, &client, None).await;
    let resp = flow.back(&app, Some(&app.fed.rogue_id())).await;
    assert_refused(resp, 400, "non proviene dal gestore", Some(&flow.flow_id)).await;
    // The request is spent: the right answer afterwards finds nothing.
    let resp = flow.back_from_provider(&app).await;
    assert_refused(resp, 400, "Accesso scaduto o già concluso", None).await;

    let flow = start(&app, &client, None).await;
    let resp = flow.back(&app, None).await;
    assert_refused(resp, 400, "non proviene dal gestore", Some(&flow.flow_id)).await;
    assert_eq!(
        refusal_reasons(&app).await,
        ["iss_mismatch", "iss_mismatch"]
    );
}

#[actix_web::test]
async fn a_configured_provider_whose_chain_does_not_end_at_the_trust_anchor_is_refused() {
    // The federation is started first so its rogue provider can be configured.
    let fed = start_federation();
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = fed.ta_jwks_file(dir.path());
    let (ta, op, rogue) = (fed.ta_id(), fed.op_id(), fed.rogue_id());
    let keys = procura_keys_dir();
    let rogue_cfg = rogue.clone();
    let live = LiveApp::spawn_with(move |c| {
        c.login.methods = vec!["pin".into(), "cie".into()];
        c.cie.trust_anchor = ta;
        c.cie.trust_anchor_jwks = Some(jwks_file);
        c.cie.keys_dir = Some(keys);
        c.cie.providers = vec![
            procura::config::CieProviderConfig {
                entity_id: op,
                name: "CIE".into(),
            },
            procura::config::CieProviderConfig {
                entity_id: rogue_cfg,
                name: "Altro".into(),
            },
        ];
    })
    .await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;
    let (_, auth) = authorize_url(&live, &client, "openid profile", None);
    let browser = browser();
    let (login_url, page) = open_login_page(&browser, &live.base, auth.as_str()).await;
    assert!(page.contains("Entra con CIE (Altro)"), "{page}");
    let flow = query_param(&login_url, "flow").unwrap();
    let resp = browser
        .get(format!("{}/cie/login?flow={flow}&op={rogue}", live.base))
        .send()
        .await
        .unwrap();
    assert_refused(resp, 502, "Accesso con CIE non disponibile", Some(&flow)).await;
    // A provider that is not configured at all is not even looked up.
    let resp = browser
        .get(format!(
            "{}/cie/login?flow={flow}&op=https://idp.example",
            live.base
        ))
        .send()
        .await
        .unwrap();
    assert_refused(resp, 400, "Gestore CIE sconosciuto", Some(&flow)).await;
    assert!(
        !fed.fetched
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.contains("example"))
    );
    // Nothing stored for the rogue.
    let stored: i64 = live
        .app
        .with_db(|c, _, _| cie_trust_chains::table.count().get_result(c).unwrap())
        .await;
    assert_eq!(stored, 0);
}

#[actix_web::test]
async fn an_expired_entity_statement_is_refused() {
    let app = cie_app().await;
    // The provider's configuration expired two minutes ago (beyond the 60 s skew).
    app.knobs().op_configuration_ttl = -120;
    let client = client(&app).await;
    let (_, auth) = authorize_url(&app.live, &client, "openid profile", None);
    let browser = browser();
    let (login_url, _) = open_login_page(&browser, app.base(), auth.as_str()).await;
    let flow = query_param(&login_url, "flow").unwrap();
    let resp = browser
        .get(format!("{}/cie/login?flow={flow}", app.base()))
        .send()
        .await
        .unwrap();
    assert_refused(resp, 502, "Accesso con CIE non disponibile", Some(&flow)).await;
    // Within its validity the same provider is fine.
    app.knobs().op_configuration_ttl = 3600;
    let flow = start(&app, &client, None).await;
    assert_eq!(flow.back_from_provider(&app).await.status(), 303);
}

#[actix_web::test]
async fn the_trust_chain_is_stored_and_reused_until_its_earliest_expiry() {
    let app = cie_app().await;
    let op_configuration = format!("{}/op/.well-known/openid-federation?", "");
    let fetches = |app: &CieApp| {
        app.fed
            .fetched
            .lock()
            .unwrap()
            .iter()
            .filter(|p| **p == op_configuration)
            .count()
    };
    let (_, resp) = login_with(&app, |_| {}).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(fetches(&app), 1);
    let (_, resp) = login_with(&app, |_| {}).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(fetches(&app), 1, "the stored chain serves the second login");
    let expires: chrono::NaiveDateTime = app
        .live
        .app
        .with_db(|c, _, _| {
            cie_trust_chains::table
                .select(cie_trust_chains::expires_at)
                .first(c)
                .unwrap()
        })
        .await;
    // The earliest exp is the provider's configuration (1 h; the anchor's statement: 2 h).
    assert_eq!(
        expires,
        (app.live.app.clock_now() + Duration::hours(1)).naive_utc()
    );
    app.advance(Duration::hours(1) + Duration::seconds(1));
    let (_, resp) = login_with(&app, |_| {}).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(fetches(&app), 2, "resolved again once expired");
}

#[actix_web::test]
async fn a_level_below_the_one_asked_for_is_refused_a_configured_lower_level_is_accepted() {
    let app = cie_app().await;
    let (flow, resp) = login_with(&app, |k| k.acr = SPID_L2.into()).await;
    assert_refused(resp, 400, "livello di sicurezza", Some(&flow.flow_id)).await;
    assert_eq!(refusal_reasons(&app).await, ["level_too_low"]);

    let app = cie_app_with(|c| c.cie.default_level = procura::login::Level::SpidL2).await;
    let client = client(&app).await;
    app.knobs().acr = SPID_L2.into();
    let flow = start(&app, &client, None).await;
    assert_eq!(flow.request["acr_values"], SPID_L2);
    let resp = flow.back_from_provider(&app).await;
    assert_eq!(resp.status(), 303);
    let tokens = exchange_code(&app.live, &client, &location(&resp), &flow.verifier).await;
    assert_eq!(tokens.id_claims()["acr"], SPID_L2);
    // A service asking for L3 raises the level asked of CIE.
    let flow = start(&app, &client, Some(SPID_L3)).await;
    assert_eq!(flow.request["acr_values"], SPID_L3);
    let _ = SPID_L1;
}

#[actix_web::test]
async fn the_fiscal_number_is_required_the_older_claim_name_accepted() {
    let app = cie_app().await;
    let (flow, resp) = login_with(&app, |k| k.fiscal_claim = None).await;
    assert_refused(resp, 400, "codice fiscale", Some(&flow.flow_id)).await;
    let (_, resp) = login_with(&app, |k| k.fiscal_claim = Some(LEGACY_FISCAL.into())).await;
    assert_eq!(resp.status(), 303);
    let (_, resp) = login_with(&app, |k| {
        k.fiscal_claim = Some(FISCAL.into());
        k.fiscal_number = "TINIT-GDASDV00A01H501K".into();
    })
    .await;
    assert_eq!(resp.status(), 400);
    let (_, resp) = login_with(&app, |k| {
        k.fiscal_number = format!("TINIT-{CF}");
        k.userinfo_other_sub = true;
    })
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        refusal_reasons(&app).await,
        ["no_fiscal_number", "fiscal_number", "userinfo"]
    );
}

#[actix_web::test]
async fn replays_other_browsers_and_provider_errors_are_refused() {
    let app = cie_app().await;
    let client = client(&app).await;
    let flow = start(&app, &client, None).await;
    // Another browser brings the answer.
    let mut url = reqwest::Url::parse(&format!("{}/cie/callback", app.base())).unwrap();
    url.query_pairs_mut()
        .append_pair("code", &flow.code)
        .append_pair("state", flow.request["state"].as_str().unwrap())
        .append_pair("iss", &app.fed.op_id());
    let resp = browser().get(url).send().await.unwrap();
    assert_refused(resp, 403, "browser diverso", Some(&flow.flow_id)).await;

    let flow = start(&app, &client, None).await;
    assert_eq!(flow.back_from_provider(&app).await.status(), 303);
    let again = flow.back_from_provider(&app).await;
    assert_refused(again, 400, "già concluso", None).await;

    let flow = start(&app, &client, None).await;
    let mut url = reqwest::Url::parse(&format!("{}/cie/callback", app.base())).unwrap();
    url.query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("state", flow.request["state"].as_str().unwrap())
        .append_pair("iss", &app.fed.op_id());
    let resp = flow.browser.get(url).send().await.unwrap();
    assert_refused(resp, 403, "annullato", Some(&flow.flow_id)).await;
    let resp = app.live.app.get("/cie/callback").await;
    assert_eq!(resp.status, 400);
    assert_eq!(
        refusal_reasons(&app).await,
        ["wrong_browser", "provider_error"]
    );
}

#[actix_web::test]
async fn a_direct_login_then_logout_revokes_the_providers_token() {
    let app = cie_app().await;
    let browser = browser();
    let resp = browser
        .get(format!("{}/cie/login", app.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let (request, code) = app.fed.authorize(&location(&resp));
    let flow = Flow {
        browser,
        verifier: String::new(),
        request,
        code,
        flow_id: String::new(),
    };
    let resp = flow.back_from_provider(&app).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Accesso effettuato"));
    assert!(app.fed.revoked.lock().unwrap().is_empty());
    // The broker's logout (confirmed by the person) ends the session and revokes the token.
    let page = flow
        .browser
        .get(format!("{}/logout", app.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf");
    let resp = flow
        .browser
        .post(format!("{}/logout", app.base()))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(app.fed.revoked.lock().unwrap().len(), 1);
}

#[actix_web::test]
async fn a_hostile_provider_costs_a_bounded_time_and_size() {
    let app = cie_app_with(|c| c.cie.fetch_timeout_secs = 1).await;
    // 1 MiB of token response against the 256 KiB limit: refused, not read whole.
    let (_, resp) = login_with(&app, |k| k.oversized_token_response = true).await;
    assert_eq!(resp.status(), 400);
    // A provider that stalls: the exchange is given up after cie.fetch_timeout_secs.
    let started = std::time::Instant::now();
    let (_, resp) = login_with(&app, |k| {
        k.oversized_token_response = false;
        k.stall_token_secs = 5;
    })
    .await;
    assert_eq!(resp.status(), 400);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        refusal_reasons(&app).await,
        ["token_request", "token_request"]
    );
}

#[actix_web::test]
async fn a_cie_login_reaches_the_operator_minimum_level() {
    use procura::audit::Party;
    use procura::operator::{self, Acting, NewOperator};
    let app = cie_app_with(|c| c.operator.min_level = procura::login::Level::SpidL2).await;
    let new = NewOperator {
        codice_fiscale: CF.into(),
        display_name: "Operatrice CIE".into(),
        roles: vec!["sportello".into()],
        office: None,
    };
    app.live
        .app
        .with_db(move |c, key, now| {
            operator::add(c, key, &new, &Acting::new(Party::system()), now).unwrap()
        })
        .await;
    let client = token_client(&app.live.app, "console", "openid profile operator").await;
    let flow = start_scoped(&app, &client, Some(SPID_L2), "openid operator").await;
    let resp = flow.back_from_provider(&app).await;
    assert_eq!(resp.status(), 303);
    let tokens = exchange_code(&app.live, &client, &location(&resp), &flow.verifier).await;
    assert_eq!(tokens.access_claims()["roles"], json!(["sportello"]));
    let me = app
        .live
        .app
        .call(
            actix_web::test::TestRequest::get()
                .uri("/v1/operator/me")
                .insert_header(("authorization", format!("Bearer {}", tokens.access_token))),
        )
        .await;
    assert_eq!(me.status, 200, "{}", me.text());
}

#[actix_web::test]
async fn without_cie_the_routes_are_not_there() {
    let app = crate::helpers::TestApp::spawn().await;
    assert_eq!(app.get("/.well-known/openid-federation").await.status, 404);
    assert_eq!(app.get("/cie/login").await.status, 404);
    assert_eq!(app.get("/cie/callback?state=x").await.status, 404);
}

#[test]
fn procura_keys_manages_the_federation_keys() {
    use crate::helpers::{procura, text};
    let dir = tempfile::tempdir().unwrap();
    let cie = dir.path().join("cie");
    let env = [("PROCURA_CIE__KEYS_DIR", cie.to_str().unwrap())];
    let out = procura(&["keys", "cie-generate"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let first = text(&out).split_whitespace().nth(4).unwrap().to_owned();
    assert!(
        cie.join("federation")
            .join(format!("{first}.rsa.pem"))
            .exists()
    );
    // A second generate is refused: a new key beside others goes through a rotation.
    assert!(!procura(&["keys", "cie-generate"], &env).status.success());
    let out = procura(&["keys", "cie-rotate", "--set", "federation"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let second = text(&out)
        .split_whitespace()
        .nth(4)
        .unwrap()
        .trim_end_matches(';')
        .to_owned();
    assert_ne!(first, second);
    // Both are published (the new one before it signs), as the trust anchor must learn it.
    let out = procura(&["keys", "cie-jwks"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let jwks: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [first.as_str(), second.as_str()]);
    assert!(jwks["keys"][0].get("d").is_none(), "public keys only");
    // Another set is separate.
    let out = procura(&["keys", "cie-generate", "--set", "rp-encryption-ec"], &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(cie.join("rp-encryption-ec").exists());
}

#[actix_web::test]
async fn cie_login_is_limited_per_address_before_any_work() {
    let app = cie_app_with(|c| c.cie.logins_per_minute_per_address = 2).await;
    let url = format!("{}/cie/login?op={}", app.base(), app.fed.op_id());
    let browser = browser();
    for _ in 0..2 {
        let resp = browser.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    }
    let resp = browser.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("lang=\"it\"") && page.contains("Troppe richieste"),
        "{page}"
    );
    // Only the two answered visits stored a request.
    let stored: i64 = app
        .live
        .app
        .with_db(|c, _, _| {
            procura::db::schema::cie_requests::table
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(stored, 2);
}
