//! CIE OpenID Connect against a federation procura did not write: the trust anchor, the
//! intermediate and the CIE-profile OpenID provider of the `spid-cie-oidc` Python package,
//! started by `scripts/cie-federation.sh` (which runs this ignored test with
//! `CIE_FEDERATION` naming its description). A citizen's browser goes through the provider's
//! own login and consent pages. The provider's public address is a proxy in this test that
//! can tamper with the token response, as a man in the middle would.
//!
//! Covered: a login end to end (the encrypted userinfo read), a wrong `iss` on the callback,
//! a tampered ID token, a provider outside the trust anchor, an expired entity statement.

use crate::auth_support::*;
use crate::cie_support::procura_keys_dir;
use crate::oidc_support::*;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(serde::Deserialize)]
struct Peers {
    trust_anchor: String,
    intermediate: String,
    provider: String,
    rogue_provider: String,
    expiring_provider: String,
    trust_anchor_jwks: String,
    op_backend_port: u16,
    op_public_port: u16,
    user: String,
    password: String,
    register: String,
}

impl Peers {
    fn load() -> Self {
        let path = std::env::var("CIE_FEDERATION")
            .expect("CIE_FEDERATION names the env file of scripts/cie-federation.sh");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }
}

/// The provider's public address: forwards everything to the Django OP (Host kept, so it
/// builds its URLs on the public address) and, when `tamper` is set, changes the ID token's
/// payload in token responses without re-signing it.
struct Proxy {
    backend: u16,
    client: reqwest::Client,
    tamper: AtomicBool,
}

const HOP_BY_HOP: [&str; 4] = [
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
];

async fn forward(proxy: web::Data<Arc<Proxy>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let url = format!(
        "http://127.0.0.1:{}{}",
        proxy.backend,
        req.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut out = proxy.client.request(method, url).body(body.to_vec());
    for (name, value) in req.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = out.send().await.unwrap();
    let status = answer.status().as_u16();
    let mut resp = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            resp.append_header((name.as_str(), value.as_bytes()));
        }
    }
    let mut bytes = answer.bytes().await.unwrap().to_vec();
    if proxy.tamper.load(Ordering::SeqCst) && req.path().ends_with("/token") && status == 200 {
        let mut tokens: Value = serde_json::from_slice(&bytes).unwrap();
        let id_token = tokens["id_token"].as_str().unwrap().to_owned();
        let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["given_name"] = json!("Maria");
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        tokens["id_token"] = json!(parts.join("."));
        bytes = serde_json::to_vec(&tokens).unwrap();
    }
    resp.body(bytes)
}

fn start_proxy(peers: &Peers) -> Arc<Proxy> {
    let proxy = Arc::new(Proxy {
        backend: peers.op_backend_port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        tamper: AtomicBool::new(false),
    });
    let data = web::Data::new(proxy.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(forward))
    })
    .workers(1)
    .bind(("127.0.0.1", peers.op_public_port))
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    proxy
}

/// procura, configured in the Python federation, on the wall clock (the peers use it).
async fn procura(peers: &Peers) -> LiveApp {
    let (ta, inter) = (peers.trust_anchor.clone(), peers.intermediate.clone());
    let jwks = peers.trust_anchor_jwks.clone();
    let providers = [
        (peers.provider.clone(), "CIE"),
        (peers.rogue_provider.clone(), "Fuori federazione"),
        (peers.expiring_provider.clone(), "In scadenza"),
    ];
    let live = LiveApp::spawn_with(move |c| {
        c.login.methods = vec!["pin".into(), "cie".into()];
        c.cie.trust_anchor = ta;
        c.cie.authority_hints = vec![inter];
        c.cie.trust_anchor_jwks = Some(jwks.into());
        c.cie.keys_dir = Some(procura_keys_dir());
        c.cie.providers = providers
            .into_iter()
            .map(|(entity_id, name)| procura::config::CieProviderConfig {
                entity_id,
                name: name.into(),
            })
            .collect();
    })
    .await;
    live.app.clock.set(Utc::now());
    // Onboarding: the intermediate learns procura's federation keys.
    let jwt = reqwest::get(format!("{}/.well-known/openid-federation", live.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let keys = jwt_claims(&jwt)["jwks"].to_string();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), keys).unwrap();
    let status = std::process::Command::new(&peers.register)
        .arg(&live.base)
        .arg(file.path())
        .status()
        .unwrap();
    assert!(status.success(), "registering procura at the intermediate");
    live
}

/// The person logs in at the Python provider (its login form, then its consent page) and
/// is sent back; returns the redirect to procura's callback.
async fn through_the_provider(browser: &reqwest::Client, peers: &Peers, authorize: &str) -> String {
    let page = browser.get(authorize).send().await.unwrap();
    let status = page.status();
    let html = page.text().await.unwrap();
    assert_eq!(status, 200, "the provider's login page: {html}");
    let login = browser
        .post(authorize.split('?').next().unwrap())
        .form(&[
            (
                "csrfmiddlewaretoken",
                input_value(&html, "csrfmiddlewaretoken").as_str(),
            ),
            (
                "authz_request_object",
                input_value(&html, "authz_request_object").as_str(),
            ),
            ("username", peers.user.as_str()),
            ("password", peers.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 302, "{}", login.text().await.unwrap());
    let consent_url = absolute(authorize, &location(&login));
    let consent = browser.get(&consent_url).send().await.unwrap();
    let html = consent.text().await.unwrap();
    let agreed = browser
        .post(&consent_url)
        .form(&[
            (
                "csrfmiddlewaretoken",
                input_value(&html, "csrfmiddlewaretoken").as_str(),
            ),
            ("agree", input_value(&html, "agree").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(agreed.status(), 302, "{}", agreed.text().await.unwrap());
    location(&agreed)
}

fn absolute(base: &str, location: &str) -> String {
    reqwest::Url::parse(base)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

/// A login at a relying party, up to procura's redirect to `op`.
async fn start(
    live: &LiveApp,
    client: &TokenClient,
    op: &str,
) -> (reqwest::Client, String, reqwest::Response) {
    let (verifier, auth) = authorize_url(live, client, "openid profile", None);
    let browser = browser();
    let (login_url, page) = open_login_page(&browser, &live.base, auth.as_str()).await;
    assert!(page.contains("Entra con CIE"), "{page}");
    let flow = query_param(&login_url, "flow").unwrap();
    let mut url = reqwest::Url::parse(&format!("{}/cie/login", live.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("flow", &flow)
        .append_pair("op", op);
    let resp = browser.get(url).send().await.unwrap();
    (browser, verifier, resp)
}

#[actix_web::test]
#[ignore = "needs the spid-cie-oidc federation: scripts/cie-federation.sh runs it"]
async fn a_cie_login_through_the_spid_cie_oidc_federation() {
    let peers = Peers::load();
    let proxy = start_proxy(&peers);
    let live = procura(&peers).await;
    let client = token_client(&live.app, "myinps-web", "openid profile").await;

    // 1. End to end: the provider resolves procura's trust chain (procura → intermediate →
    //    trust anchor), checks the request object, and its userinfo (always encrypted) is read.
    let (browser, verifier, resp) = start(&live, &client, &peers.provider).await;
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    let back = through_the_provider(&browser, &peers, &location(&resp)).await;
    assert!(
        back.starts_with(&format!("{}/cie/callback?", live.base)),
        "{back}"
    );
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(peers.provider.as_str())
    );
    let resp = browser.get(&back).send().await.unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let tokens = exchange_code(&live, &client, &location(&resp), &verifier).await;
    let id = tokens.id_claims();
    assert_eq!(id["amr"], json!(["cie"]));
    assert_eq!(id["acr"], "https://www.spid.gov.it/SpidL3");
    assert_eq!(id["fiscal_number"], "TINIT-GDASDV00A01H501J");
    assert_eq!(id["given_name"], "Mario");
    assert_eq!(id["family_name"], "Rossi");
    eprintln!("cie_interop: end-to-end login through the Python provider: ok");

    // 2. A wrong `iss` on the callback (another provider's): refused.
    live.app.clock.set(Utc::now());
    let (browser, _, resp) = start(&live, &client, &peers.provider).await;
    let back = through_the_provider(&browser, &peers, &location(&resp)).await;
    let mut url = reqwest::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                peers.rogue_provider.clone()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let resp = browser.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("non proviene dal gestore")
    );
    eprintln!("cie_interop: wrong iss refused: ok");

    // 3. A tampered ID token (changed between the provider and procura): refused.
    live.app.clock.set(Utc::now());
    proxy.tamper.store(true, Ordering::SeqCst);
    let (browser, _, resp) = start(&live, &client, &peers.provider).await;
    let back = through_the_provider(&browser, &peers, &location(&resp)).await;
    let resp = browser.get(&back).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("non è valida"));
    proxy.tamper.store(false, Ordering::SeqCst);
    eprintln!("cie_interop: tampered ID token refused: ok");

    // 4. A provider whose chain does not end at the trust anchor: refused at the start.
    let (_, _, resp) = start(&live, &client, &peers.rogue_provider).await;
    assert_eq!(resp.status(), 502);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Accesso con CIE non disponibile")
    );
    eprintln!("cie_interop: provider outside the trust anchor refused: ok");

    // 5. An expired entity statement: the provider whose configuration lives one minute is
    //    accepted now, and refused once its statement has expired.
    live.app.clock.set(Utc::now());
    let (_, _, resp) = start(&live, &client, &peers.expiring_provider).await;
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    live.app.clock.set(Utc::now() + Duration::minutes(3));
    let (_, _, resp) = start(&live, &client, &peers.expiring_provider).await;
    assert_eq!(resp.status(), 502);
    eprintln!("cie_interop: expired entity statement refused: ok");
}
