//! CNS login through real TLS, on both ways in: procura's own OpenSSL listener asking for
//! the card, and a TLS-terminating proxy forwarding it in a header. Every card is made in
//! the test by a test CA; revocation is answered by a real OCSP responder (`openssl ocsp`)
//! and a real CRL. Each refusal is told apart by the reason procura records.

use crate::auth_support::*;
use crate::cns_support::*;
use crate::helpers::TestApp;
use crate::oidc_support::*;
use diesel::prelude::*;
use procura::Application;
use procura::db::schema::audit_log;
use std::net::{SocketAddr, TcpListener};

const L2: &str = "https://www.spid.gov.it/SpidL2";

/// A live procura with CNS on both ways in, trusting `ca`.
struct CnsApp {
    live: LiveApp,
    /// procura's own CNS TLS listener.
    listener: SocketAddr,
    /// The TLS proxy in front of procura's main listener.
    proxy: Proxy,
    _dir: tempfile::TempDir,
}

impl CnsApp {
    async fn spawn(ca: &TestCa, adjust: impl FnOnce(&mut procura::config::Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let anchors = dir.path().join("anchors");
        std::fs::create_dir(&anchors).unwrap();
        std::fs::copy(ca.pem_path(), anchors.join("test-ca.pem")).unwrap();
        let (cert, key) = server_identity(dir.path(), "cns-host");
        let main = TcpListener::bind("127.0.0.1:0").unwrap();
        let cns = TcpListener::bind("127.0.0.1:0").unwrap();
        let main_addr = main.local_addr().unwrap();
        let cns_addr = cns.local_addr().unwrap();
        let base = format!("http://{main_addr}");
        let issuer = base.clone();
        let app = TestApp::spawn_with(move |c| {
            c.oauth.issuer = issuer;
            c.server.workers = 2;
            c.login.methods = vec!["pin".into(), "cns".into()];
            c.cns.public_url = format!("https://{cns_addr}");
            c.cns.listen = cns_addr.to_string();
            c.cns.tls_certificate = Some(cert);
            c.cns.tls_private_key = Some(key);
            c.cns.trust_anchors_dir = Some(anchors);
            c.cns.trusted_proxies = vec!["127.0.0.2".into()];
            adjust(c);
        })
        .await;
        // OCSP answers are made now by `openssl ocsp`: procura's clock must agree.
        app.clock.set(chrono::Utc::now());
        let server = Application::build_on_listeners(app.state.clone(), main, Some(cns)).unwrap();
        assert_eq!(server.cns_port(), Some(cns_addr.port()));
        actix_web::rt::spawn(server.run_until_stopped());
        let header = app.config.cns.proxy_header.clone();
        Self {
            live: LiveApp { app, base },
            listener: cns_addr,
            proxy: Proxy::start(main_addr, &header),
            _dir: dir,
        }
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.live.app.clock_now()
    }

    /// The reason of the last CNS refusal in the audit log.
    fn last_reason(&self) -> String {
        let mut conn = self.live.app.conn();
        let detail: Option<String> = audit_log::table
            .filter(audit_log::action.eq("cns.login"))
            .filter(audit_log::outcome.eq("failure"))
            .order(audit_log::seq.desc())
            .select(audit_log::detail)
            .first(&mut *conn)
            .unwrap();
        let detail: serde_json::Value = serde_json::from_str(&detail.unwrap()).unwrap();
        detail["reason"].as_str().unwrap().to_owned()
    }
}

/// Which way in a test takes.
#[derive(Clone, Copy, Debug)]
enum Way {
    Listener,
    Proxy,
}

impl Way {
    const BOTH: [Way; 2] = [Way::Listener, Way::Proxy];

    fn addr(self, app: &CnsApp) -> SocketAddr {
        match self {
            Way::Listener => app.listener,
            Way::Proxy => app.proxy.addr,
        }
    }
}

/// The browser presents `card` at `/cns/login` of the CNS host (blocking TLS, off the
/// test's runtime).
async fn present(
    app: &CnsApp,
    way: Way,
    card: Option<&Card>,
    flow: &str,
    headers: Vec<(String, String)>,
) -> Answer {
    let addr = way.addr(app);
    let card = card.map(|c| Card {
        cert: c.cert.clone(),
        key: c.key.clone(),
    });
    let path = format!("/cns/login?flow={flow}");
    actix_web::rt::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        tls_get(addr, card.as_ref(), &path, &headers).unwrap()
    })
    .await
    .unwrap()
}

/// A relying party's login up to the login page: the browser, the PKCE verifier, the flow.
async fn start(app: &CnsApp, client: &TokenClient) -> (reqwest::Client, String, String) {
    let (verifier, auth) = authorize_url(&app.live, client, "openid profile", Some(L2));
    let browser = browser();
    let (login_url, page) = open_login_page(&browser, &app.live.base, auth.as_str()).await;
    assert!(page.contains("Entra con CNS"), "{page}");
    let flow = query_param(&login_url, "flow").unwrap();
    assert!(
        page.contains(&format!("https://{}/cns/login?flow={flow}", app.listener)),
        "{page}"
    );
    (browser, verifier, flow)
}

/// A card login end to end; returns the ID token claims.
async fn login_with(
    app: &CnsApp,
    client: &TokenClient,
    way: Way,
    card: &Card,
) -> serde_json::Value {
    let (browser, verifier, flow) = start(app, client).await;
    let answer = present(app, way, Some(card), &flow, vec![]).await;
    assert_eq!(answer.status, 303, "{way:?}: {}", answer.body);
    let complete = answer.location();
    assert!(
        complete.starts_with(&format!("{}/cns/complete?ticket=", app.live.base)),
        "{complete}"
    );
    let resp = browser.get(&complete).send().await.unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let back = location(&resp);
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    // The ticket is spent.
    let again = browser.get(&complete).send().await.unwrap();
    assert_eq!(again.status(), 400);
    exchange_code(&app.live, client, &back, &verifier)
        .await
        .id_claims()
}

fn valid_spec(responder: &Responder, now: chrono::DateTime<chrono::Utc>) -> CardSpec {
    CardSpec {
        ocsp_url: Some(responder.ocsp_url()),
        crl_url: Some(responder.crl_url()),
        ..CardSpec::new(mario().as_str(), now)
    }
}

#[actix_web::test]
async fn valid_cards_log_in_on_both_ways_rsa_2048_and_rsa_1024() {
    let now = chrono::Utc::now();
    let ca = TestCa::new("CA Cittadini di prova", now);
    let responder = Responder::start(&ca);
    responder.publish_crl(ca.crl(&[], now));
    let app = CnsApp::spawn(&ca, |_| {}).await;
    let client = token_client(&app.live.app, "myinps-web", "openid profile").await;

    for bits in [2048, 1024] {
        let card = ca.issue(&CardSpec {
            key_bits: bits,
            ..valid_spec(&responder, app.now())
        });
        for way in Way::BOTH {
            let id = login_with(&app, &client, way, &card).await;
            assert_eq!(
                id["amr"],
                serde_json::json!(["sc", "mfa"]),
                "{bits} {way:?}"
            );
            assert_eq!(id["acr"], L2);
            assert_eq!(id["fiscal_number"], format!("TINIT-{}", mario().as_str()));
            assert_eq!(id["given_name"], "MARIO");
            assert_eq!(id["family_name"], "ROSSI");
        }
    }
    // One OCSP question per card: the second login of each card used the shared answer.
    assert_eq!(
        responder
            .ocsp_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[actix_web::test]
async fn each_bad_card_is_refused_with_its_own_reason_on_both_ways() {
    let now = chrono::Utc::now();
    let ca = TestCa::new("CA Cittadini di prova", now);
    let stranger = TestCa::new("CA sconosciuta", now);
    let responder = Responder::start(&ca);
    let app = CnsApp::spawn(&ca, |_| {}).await;
    let client = token_client(&app.live.app, "myinps-web", "openid profile").await;
    let now = app.now();
    let valid = valid_spec(&responder, now);

    let expired = ca.issue(&CardSpec {
        not_before: now - chrono::Duration::days(800),
        not_after: now - chrono::Duration::days(1),
        ..valid.clone()
    });
    // Only a CRL to ask: the CRL decides.
    let revoked_by_crl = ca.issue(&CardSpec {
        ocsp_url: None,
        ..valid.clone()
    });
    responder.publish_crl(ca.crl(&[&revoked_by_crl], now));
    // OCSP says revoked, the CRL does not list it: OCSP decides.
    let revoked_by_ocsp = ca.issue(&valid);
    ca.revoke_in_ocsp(&revoked_by_ocsp);
    let wrong_policy = ca.issue(&CardSpec {
        policy: "1.3.76.16.6".into(),
        ..valid.clone()
    });
    let untrusted = stranger.issue(&valid);
    let malformed_cn = ca.issue(&CardSpec {
        common_name: "MARIO ROSSI".into(),
        ..valid.clone()
    });
    let bad_checksum = ca.issue(&CardSpec {
        common_name: format!("{}A/6120016461039008.abc=", &mario().as_str()[..15]),
        ..valid.clone()
    });
    // The responder is down and there is no CRL: hard fail (the default).
    let unanswerable = ca.issue(&CardSpec {
        ocsp_url: Some("http://127.0.0.1:9/ocsp".into()),
        crl_url: None,
        ..valid.clone()
    });

    let (_browser, _verifier, flow) = start(&app, &client).await;
    let cases: [(&Card, u16, &str, &str); 8] = [
        (&expired, 403, "expired", "scaduta"),
        (&revoked_by_crl, 403, "revoked_crl", "revocato"),
        (&revoked_by_ocsp, 403, "revoked_ocsp", "revocato"),
        (
            &wrong_policy,
            403,
            "policy",
            "certificato di autenticazione",
        ),
        (&untrusted, 403, "untrusted_issuer", "ente riconosciuto"),
        (
            &malformed_cn,
            403,
            "malformed_subject",
            "codice fiscale valido",
        ),
        (
            &bad_checksum,
            403,
            "invalid_codice_fiscale",
            "codice fiscale valido",
        ),
        (&unanswerable, 503, "revocation_unavailable", "verificare"),
    ];
    for way in Way::BOTH {
        for (card, status, reason, says) in &cases {
            let answer = present(&app, way, Some(card), &flow, vec![]).await;
            assert_eq!(answer.status, *status, "{way:?} {reason}: {}", answer.body);
            assert!(
                answer.body.contains(says),
                "{way:?} {reason}: {}",
                answer.body
            );
            assert!(
                answer.body.contains("Torna alla pagina di accesso"),
                "{}",
                answer.body
            );
            assert!(
                answer.body.contains(&format!("/login?flow={flow}")),
                "{}",
                answer.body
            );
            assert_eq!(app.last_reason(), *reason, "{way:?}");
        }
        let answer = present(&app, way, None, &flow, vec![]).await;
        assert_eq!(answer.status, 401, "{way:?}: {}", answer.body);
        assert!(answer.body.contains("Non è stata rilevata alcuna carta"));
        assert_eq!(app.last_reason(), "no_certificate");
    }
}

#[actix_web::test]
async fn a_forged_certificate_header_is_refused_and_logged() {
    let now = chrono::Utc::now();
    let ca = TestCa::new("CA Cittadini di prova", now);
    let responder = Responder::start(&ca);
    responder.publish_crl(ca.crl(&[], now));
    let app = CnsApp::spawn(&ca, |_| {}).await;
    let client = token_client(&app.live.app, "myinps-web", "openid profile").await;
    let card = ca.issue(&valid_spec(&responder, app.now()));
    let (_browser, _verifier, flow) = start(&app, &client).await;
    let header = app.live.app.config.cns.proxy_header.clone();

    // Straight to procura's main listener from 127.0.0.1, which is not the proxy (127.0.0.2).
    let resp = reqwest::Client::new()
        .get(format!("{}/cns/login?flow={flow}", app.live.base))
        .header(header.as_str(), url_escape(&card.pem()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("punto di accesso con CNS")
    );
    assert_eq!(app.last_reason(), "untrusted_proxy");

    // On procura's own listener, with a card of someone else in the header.
    let mine = ca.issue(&valid_spec(&responder, app.now()));
    let answer = present(
        &app,
        Way::Listener,
        Some(&mine),
        &flow,
        vec![(header.clone(), url_escape(&card.pem()))],
    )
    .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(app.last_reason(), "untrusted_proxy");

    // Through the proxy, a copy sent by the browser is replaced by the proxy's own.
    let answer = present(
        &app,
        Way::Proxy,
        Some(&mine),
        &flow,
        vec![(header, url_escape(&card.pem()))],
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
}

#[actix_web::test]
async fn the_ticket_only_completes_in_the_browser_that_owns_the_flow() {
    let now = chrono::Utc::now();
    let ca = TestCa::new("CA Cittadini di prova", now);
    let responder = Responder::start(&ca);
    responder.publish_crl(ca.crl(&[], now));
    let app = CnsApp::spawn(&ca, |_| {}).await;
    let client = token_client(&app.live.app, "myinps-web", "openid profile").await;
    let card = ca.issue(&valid_spec(&responder, app.now()));
    let (browser, _verifier, flow) = start(&app, &client).await;
    let answer = present(&app, Way::Listener, Some(&card), &flow, vec![]).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let complete = answer.location();

    let other = crate::oidc_support::browser();
    let resp = other.get(&complete).send().await.unwrap();
    assert_eq!(resp.status(), 400, "another browser");
    // The ticket was not spent by the stranger; it expires after cns.ticket_ttl_secs.
    app.live.app.clock.advance(chrono::Duration::seconds(61));
    let resp = browser.get(&complete).send().await.unwrap();
    assert_eq!(resp.status(), 400, "expired ticket");
    assert!(resp.text().await.unwrap().contains("scaduto"));
}

#[actix_web::test]
async fn cns_logins_reach_the_operator_minimum_and_end_at_logout() {
    let now = chrono::Utc::now();
    let ca = TestCa::new("CA Cittadini di prova", now);
    let responder = Responder::start(&ca);
    responder.publish_crl(ca.crl(&[], now));
    let app = CnsApp::spawn(&ca, |c| {
        c.operator.min_level = procura::login::Level::SpidL2;
    })
    .await;
    let client = token_client(&app.live.app, "console", "openid profile operator").await;
    crate::operators::add_operator(&app.live.app, &mario(), &["sportello"]).await;
    let card = ca.issue(&valid_spec(&responder, app.now()));

    let (verifier, auth) = authorize_url(&app.live, &client, "openid operator", Some(L2));
    let browser = browser();
    let (login_url, _) = open_login_page(&browser, &app.live.base, auth.as_str()).await;
    let flow = query_param(&login_url, "flow").unwrap();
    let answer = present(&app, Way::Listener, Some(&card), &flow, vec![]).await;
    let resp = browser.get(answer.location()).send().await.unwrap();
    let tokens = exchange_code(&app.live, &client, &location(&resp), &verifier).await;
    let me = reqwest::Client::new()
        .get(format!("{}/v1/operator/me", app.live.base))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "{}", me.text().await.unwrap());

    // Logout ends the session: the next authorization asks for a login again.
    let hint = tokens.id_token.clone().unwrap();
    let resp = browser
        .get(format!("{}/logout?id_token_hint={hint}", app.live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let (_, auth) = authorize_url(&app.live, &client, "openid", None);
    let resp = browser.get(auth).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(
        location(&resp).contains("/login?flow="),
        "no single sign-on after logout"
    );
}

#[actix_web::test]
async fn trust_anchors_from_the_signed_trusted_list() {
    let now = chrono::Utc::now();
    let ca = TestCa::new("CA Cittadini di prova", now);
    let qualified = TestCa::new("CA Firma di prova", now);
    let withdrawn = TestCa::new("CA Cittadini 2010", now);
    let signer = TestCa::new("AgID TSL signer di prova", now);
    let tsl = crate::cns_tsl::SignedTsl::new(&ca, &qualified, &withdrawn, &signer);
    let responder = Responder::start(&ca);
    responder.publish_crl(ca.crl(&[], now));
    let (path, signer_pem) = (tsl.path.display().to_string(), tsl.signer.clone());
    let app = CnsApp::spawn(&ca, move |c| {
        c.cns.trust_anchors_dir = None;
        c.cns.tsl = Some(path);
        c.cns.tsl_signer_certificates = vec![signer_pem];
    })
    .await;
    let client = token_client(&app.live.app, "myinps-web", "openid profile").await;
    let card = ca.issue(&valid_spec(&responder, app.now()));
    let id = login_with(&app, &client, Way::Listener, &card).await;
    assert_eq!(id["amr"], serde_json::json!(["sc", "mfa"]));

    // A certificate of a CA the list names for another service, or withdrawn.
    for other in [&qualified, &withdrawn] {
        let card = other.issue(&valid_spec(&responder, app.now()));
        let (_browser, _verifier, flow) = start(&app, &client).await;
        let answer = present(&app, Way::Proxy, Some(&card), &flow, vec![]).await;
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert_eq!(app.last_reason(), "untrusted_issuer");
    }
}

#[actix_web::test]
async fn the_listener_security_level_decides_whether_rsa_1024_cards_get_in() {
    let now = chrono::Utc::now();
    let ca = TestCa::new("CA Cittadini di prova", now);
    let responder = Responder::start(&ca);
    responder.publish_crl(ca.crl(&[], now));
    // OpenSSL's default level 2: a 1024-bit card cannot finish the handshake.
    let app = CnsApp::spawn(&ca, |c| c.cns.security_level = 2).await;
    let client = token_client(&app.live.app, "myinps-web", "openid profile").await;
    let old = ca.issue(&CardSpec {
        key_bits: 1024,
        ..valid_spec(&responder, app.now())
    });
    let new = ca.issue(&valid_spec(&responder, app.now()));
    let (_browser, _verifier, flow) = start(&app, &client).await;
    let (addr, path) = (app.listener, format!("/cns/login?flow={flow}"));
    let refused =
        actix_web::rt::task::spawn_blocking(move || tls_get(addr, Some(&old), &path, &[]))
            .await
            .unwrap();
    assert!(refused.is_err(), "{refused:?}");
    // A 2048-bit card still does, and the main listener is not affected.
    let id = login_with(&app, &client, Way::Listener, &new).await;
    assert_eq!(id["amr"], serde_json::json!(["sc", "mfa"]));
}

#[actix_web::test]
async fn the_crl_answers_when_ocsp_is_down_and_soft_fail_lets_in_when_nothing_answers() {
    let now = chrono::Utc::now();
    let ca = TestCa::new("CA Cittadini di prova", now);
    let responder = Responder::start(&ca);
    responder.publish_crl(ca.crl(&[], now));
    let app = CnsApp::spawn(&ca, |c| {
        c.cns.revocation = procura::config::CnsRevocationFailure::SoftFail;
    })
    .await;
    let client = token_client(&app.live.app, "myinps-web", "openid profile").await;
    let down = Some("http://127.0.0.1:9/ocsp".to_owned());
    // OCSP down, the CRL says good.
    let card = ca.issue(&CardSpec {
        ocsp_url: down.clone(),
        ..valid_spec(&responder, app.now())
    });
    login_with(&app, &client, Way::Proxy, &card).await;
    // OCSP down, the CRL lists it: refused even under soft fail.
    let revoked = ca.issue(&CardSpec {
        ocsp_url: down.clone(),
        ..valid_spec(&responder, app.now())
    });
    responder.publish_crl(ca.crl(&[&revoked], app.now()));
    // The CRL is cached until its nextUpdate or cns.crl_cache_max_secs: move past that.
    app.live.app.clock.advance(chrono::Duration::seconds(3601));
    let (_browser, _verifier, flow) = start(&app, &client).await;
    let answer = present(&app, Way::Listener, Some(&revoked), &flow, vec![]).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(app.last_reason(), "revoked_crl");
    // Nothing answers: soft fail lets the card in.
    let unanswerable = ca.issue(&CardSpec {
        ocsp_url: down,
        crl_url: Some("http://127.0.0.1:9/ca.crl".into()),
        ..valid_spec(&responder, app.now())
    });
    login_with(&app, &client, Way::Listener, &unanswerable).await;
}

/// The configuration examples of the README's CNS section parse as procura's configuration
/// (unknown keys are refused) and name a way in.
#[test]
fn the_readme_cns_examples_are_valid_configuration() {
    use figment::providers::{Format, Serialized, Toml};
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("\n## CNS\n").unwrap();
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .map(|b| &b[..b.find("```").unwrap()])
        .collect();
    assert_eq!(blocks.len(), 2, "the listener and the proxy examples");
    for block in blocks {
        let config: procura::config::Config =
            figment::Figment::from(Serialized::defaults(procura::config::Config::default()))
                .merge(Toml::string(block))
                .extract()
                .unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert!(config.login.methods.iter().any(|m| m == "cns"));
        assert!(!config.cns.public_url.is_empty());
        assert!(!config.cns.listen.is_empty() || !config.cns.trusted_proxies.is_empty());
        assert!(config.cns.tsl.is_some() || config.cns.trust_anchors_dir.is_some());
        procura::cns::proxy::networks(&config.cns.trusted_proxies).unwrap();
    }
    assert!(section.contains("proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert"));
}

#[actix_web::test]
async fn revocation_fetches_are_bounded_in_time_and_size() {
    let now = chrono::Utc::now();
    let ca = TestCa::new("CA Cittadini di prova", now);
    let responder = Responder::start(&ca);
    responder.publish_crl(ca.crl(&[], now));
    let app = CnsApp::spawn(&ca, |c| {
        c.cns.fetch_timeout_secs = 1;
        c.cns.crl_max_bytes = 100;
    })
    .await;
    let client = token_client(&app.live.app, "myinps-web", "openid profile").await;
    let (_browser, _verifier, flow) = start(&app, &client).await;
    // A responder whose good answer comes after cns.fetch_timeout_secs, and a CRL (which
    // would say good) larger than cns.crl_max_bytes: neither is waited for or read.
    let stalled = ca.issue(&CardSpec {
        ocsp_url: Some(format!("{}/slow-ocsp", responder.base)),
        crl_url: None,
        ..valid_spec(&responder, app.now())
    });
    let big_crl = ca.issue(&CardSpec {
        ocsp_url: None,
        ..valid_spec(&responder, app.now())
    });
    for card in [&stalled, &big_crl] {
        let answer = present(&app, Way::Listener, Some(card), &flow, vec![]).await;
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert_eq!(app.last_reason(), "revocation_unavailable");
    }
}

/// The number of refused CNS logins audited so far.
fn refusals(app: &CnsApp) -> i64 {
    let mut conn = app.live.app.conn();
    audit_log::table
        .filter(audit_log::action.eq("cns.login"))
        .filter(audit_log::outcome.eq("failure"))
        .count()
        .get_result(&mut *conn)
        .unwrap()
}

#[actix_web::test]
async fn the_cns_host_limits_visits_per_address_but_not_those_of_the_trusted_proxy() {
    let now = chrono::Utc::now();
    let ca = TestCa::new("CA Cittadini di prova", now);
    let app = CnsApp::spawn(&ca, |c| c.cns.logins_per_minute_per_address = 2).await;
    let client = token_client(&app.live.app, "myinps-web", "openid profile").await;
    let (_browser, _verifier, flow) = start(&app, &client).await;
    // On procura's own listener: two visits are answered (no card here, so refused)...
    for _ in 0..2 {
        let answer = present(&app, Way::Listener, None, &flow, vec![]).await;
        assert_eq!(answer.status, 401, "{}", answer.body);
    }
    assert_eq!(refusals(&app), 2);
    // ...the third gets a 429 page before any certificate is looked at (nothing audited).
    let answer = present(&app, Way::Listener, None, &flow, vec![]).await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    let retry: u64 = answer
        .head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {}", answer.head));
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(answer.body.contains("lang=\"it\""), "{}", answer.body);
    assert!(answer.body.contains("Troppe richieste"), "{}", answer.body);
    assert_eq!(refusals(&app), 2);
    // Through the trusted proxy (one address for every browser) visits are not counted.
    for _ in 0..3 {
        let answer = present(&app, Way::Proxy, None, &flow, vec![]).await;
        assert_eq!(answer.status, 401, "{}", answer.body);
    }
    assert_eq!(refusals(&app), 5);
}
