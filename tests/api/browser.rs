//! The citizen pages in a real browser (headless Chromium through ChromeDriver), at a
//! desktop (1366×900) and a phone (390×844) viewport: every walk a citizen takes, axe-core
//! finding no WCAG 2.1 AA violation on any page, and no HTML route answering a browser
//! with JSON. Screenshots go to `target/browser-screenshots/<viewport>/`.
//!
//! The peers a browser meets are real servers on loopback: a SPID identity provider that
//! signs real Responses (its SSO page shows "Accedi" and "Annulla" buttons), and a relying
//! party's redirect URI.

use crate::auth_support::*;
use crate::browser_support::*;
use crate::oidc_support::*;
use crate::persons_import::cf;
use crate::spid_support::*;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use procura::clock::Clock;
use procura::delegation::Kind;
use procura::delegation::registry::{self, NamedDelegate};
use procura::person::CodiceFiscale;
use procura::pin::PinType;
use std::sync::Arc;

const GIADA: &str = "GDASDV00A01H501J";
/// A small SVG as the IdP's `mdui:Logo` (the network is closed: no https logo could load).
const LOGO: &str = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSIxMjAiIGhlaWdodD0iMjgiIHZpZXdCb3g9IjAgMCAxMjAgMjgiPjxyZWN0IHdpZHRoPSIxMjAiIGhlaWdodD0iMjgiIHJ4PSI0IiBmaWxsPSIjMDA0ZDk5Ii8+PHRleHQgeD0iNjAiIHk9IjE5IiBmb250LWZhbWlseT0ic2Fucy1zZXJpZiIgZm9udC1zaXplPSIxNCIgZmlsbD0iI2ZmZiIgdGV4dC1hbmNob3I9Im1pZGRsZSI+SWRQIGRpIHByb3ZhPC90ZXh0Pjwvc3ZnPg==";

/// What the IdP and the relying party need to know of procura.
struct Peers {
    procura: String,
    idp: FakeIdp,
    clock: Arc<procura::clock::ManualClock>,
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!DOCTYPE html><html lang=\"it\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><main><h1>{title}</h1>{body}</main></body></html>"
        ))
}

/// The IdP's SSO page: the AuthnRequest read, a signed Response ready to post back.
async fn idp_sso(peers: web::Data<Peers>, req: HttpRequest) -> HttpResponse {
    let url = format!("http://127.0.0.1{}", req.uri());
    let request = received_request_at(&url);
    let now = peers.clock.now();
    let spec = ResponseSpec {
        request_id: request.id.clone(),
        acs_url: format!("{}/spid/acs", peers.procura),
        audience: format!("{}/spid/metadata", peers.procura),
        issuer: IDP_ENTITY_ID.into(),
        level: request.level.clone(),
        now,
        not_on_or_after: now + Duration::minutes(5),
        assertion_id: format!("_a{}", uuid::Uuid::new_v4().simple()),
        fiscal_number: format!("TINIT-{GIADA}"),
        sign_response: true,
        wrong_key: None,
        issuer_format: true,
    };
    let ok = STANDARD.encode(spec.build(&peers.idp));
    let cancelled = STANDARD.encode(format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_c{}" Version="2.0" IssueInstant="{}" Destination="{}" InResponseTo="{}"><saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{IDP_ENTITY_ID}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>ErrorCode nr25</samlp:StatusMessage></samlp:Status></samlp:Response>"#,
        uuid::Uuid::new_v4().simple(),
        procura::spid::time::format(now),
        spec.acs_url,
        request.id
    ));
    let form = |id: &str, value: &str, label: &str| {
        format!(
            "<form method=\"post\" action=\"{acs}\"><input type=\"hidden\" name=\"SAMLResponse\" value=\"{value}\">\
             <input type=\"hidden\" name=\"RelayState\" value=\"{relay}\"><button id=\"{id}\" type=\"submit\">{label}</button></form>",
            acs = spec.acs_url,
            relay = request.relay_state,
        )
    };
    page(
        "IdP di prova",
        &format!(
            "{}{}",
            form("accedi", &ok, "Accedi"),
            form("annulla", &cancelled, "Annulla")
        ),
    )
}

/// The IdP's Single Logout: it ends its session and answers procura with a signed
/// LogoutResponse (HTTP-Redirect).
async fn idp_slo(peers: web::Data<Peers>, req: HttpRequest) -> HttpResponse {
    let params: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap();
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let deflated = STANDARD.decode(get("SAMLRequest").unwrap()).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::DeflateDecoder::new(deflated.as_slice()),
        &mut xml,
    )
    .unwrap();
    let request = procura::spid::logout::read_request(&xml, 1 << 20).unwrap();
    let answer = procura::spid::logout::LogoutResponse {
        id: &format!("_l{}", uuid::Uuid::new_v4().simple()),
        issue_instant: peers.clock.now(),
        destination: &format!("{}/spid/slo", peers.procura),
        in_response_to: &request.id,
        sp_entity_id: IDP_ENTITY_ID,
        status: "urn:oasis:names:tc:SAML:2.0:status:Success",
    }
    .to_xml();
    let query = idp_redirect(
        &peers.idp,
        procura::spid::dsig::RedirectParam::SamlResponse,
        &answer,
        get("RelayState").as_deref(),
    );
    HttpResponse::Found()
        .insert_header(("location", format!("{}/spid/slo?{query}", peers.procura)))
        .finish()
}

/// A page axe-core must fault (an image without text, an unlabelled field): shows the
/// check can fail.
async fn inaccessible() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body("<!DOCTYPE html><html><head><title>x</title></head><body><img src=\"data:,\"><input type=\"text\"></body></html>")
}

async fn rp_callback(req: HttpRequest) -> HttpResponse {
    page(
        "Servizio di prova",
        &format!("<p id=\"ricevuto\">{}</p>", req.query_string()),
    )
}

struct World {
    live: LiveApp,
    rp: TokenClient,
    peer_base: String,
    mario: CodiceFiscale,
    luigi: CodiceFiscale,
    anna: CodiceFiscale,
    bruno: CodiceFiscale,
}

async fn world() -> World {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let idp = FakeIdp::at(
        &format!("{peer_base}/sso"),
        &format!("{peer_base}/slo"),
        Some(LOGO),
    );
    let metadata = idp.metadata_path.clone();
    let live = LiveApp::spawn_with(move |c| {
        c.login.methods = vec!["spid".into(), "pin".into()];
        c.spid.idp_metadata = vec![metadata.display().to_string()];
        c.spid.default_level = procura::login::Level::SpidL2;
    })
    .await;
    let peers = web::Data::new(Peers {
        procura: live.base.clone(),
        idp,
        clock: live.app.clock.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(peers.clone())
            .route("/sso", web::get().to(idp_sso))
            .route("/slo", web::get().to(idp_slo))
            .route("/callback", web::get().to(rp_callback))
            .route("/inaccessibile", web::get().to(inaccessible))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);

    let app = &live.app;
    let mario = mario();
    add_person(app, &mario, "Mario", "Rossi").await;
    give_pin(app, &mario, INITIAL_PIN, PinType::Dispositivo, true).await;
    let person = |first15: &str| CodiceFiscale::parse(&cf(first15)).unwrap();
    let luigi = person("BNCLGU80A01H501");
    add_person(app, &luigi, "Luigi", "Bianchi").await;
    give_pin(app, &luigi, PERSONAL_PIN, PinType::Ordinario, false).await;
    let anna = person("VRDNNA90A41H501");
    add_person(app, &anna, "Anna", "Verdi").await;
    let giada = CodiceFiscale::parse(GIADA).unwrap();
    add_person(app, &giada, "Giada", "Serra").await;
    let carla = person("CRLCRL75A41H501");
    add_person(app, &carla, "Carla", "Neri").await;
    let bruno = person("BRNBRN70A01H501");
    add_person(app, &bruno, "Bruno", "Galli").await;
    // Carla trusts Giada (Giada will act for her, then renounce).
    let (state, c2, g2) = (app.state.clone(), carla.clone(), giada.clone());
    app.with_db(move |conn, _, now| {
        registry::register_online(
            conn,
            &state,
            &c2,
            Kind::Fiducia,
            &NamedDelegate {
                codice_fiscale: g2,
                given_name: "Giada".into(),
                family_name: "Serra".into(),
            },
            None,
            now,
        )
        .unwrap()
    })
    .await;
    let mut new = new_client(
        "myinps-web",
        procura::oauth::client::AuthMethod::ClientSecretBasic,
        &[
            procura::oauth::client::GrantType::AuthorizationCode,
            procura::oauth::client::GrantType::RefreshToken,
        ],
    );
    new.redirect_uris = vec![format!("{peer_base}/callback")];
    new.scopes = procura::oauth::scope::ScopeSet::parse("openid profile delegations:read");
    let r = register(app, new).await;
    let rp = TokenClient {
        id: r.client.client_id,
        secret: r.secret.unwrap(),
    };
    World {
        live,
        rp,
        peer_base,
        mario,
        luigi,
        anna,
        bruno,
    }
}

/// Logs in with the PIN form of the page the browser is on.
async fn pin_form(b: &Browser, cf: &str, pin: &str) {
    b.fill("#f-codice_fiscale", cf).await;
    b.fill("#f-pin", pin).await;
    b.click_text("Accedi con il PIN").await;
}

async fn walk(viewport: Viewport) {
    let w = world().await;
    let base = w.live.base.clone();
    let mut b = Browser::start(viewport).await;
    let at = |p: &str| format!("{base}{p}");

    // Start page, then the personal area: the login page (SPID first, as configured).
    b.goto(&at("/")).await;
    b.check("pagina-iniziale").await;
    b.goto(&at("/area-personale")).await;
    assert!(
        b.path().await.starts_with("/login?flow="),
        "{}",
        b.url().await
    );
    let src = b.source().await;
    let spid_at = src.find("Entra con SPID").unwrap();
    assert!(spid_at < src.find("id=\"f-codice_fiscale\"").unwrap());
    assert!(
        src.contains("<img src=\"data:image/svg+xml"),
        "the IdP's mdui:Logo"
    );
    b.check("login").await;
    // The SPID menu opens without JavaScript (details/summary) with its help links.
    b.click_text("Entra con SPID").await;
    assert!(b.text().await.contains("Non hai SPID?"));
    b.check("login-menu-spid").await;

    // PIN login: a wrong codice fiscale is said next to its field.
    pin_form(&b, &w.mario.as_str()[..15], INITIAL_PIN).await;
    assert!(b.text().await.contains("ne hai scritti 15"));
    assert_eq!(
        b.js("return document.getElementById('f-codice_fiscale').getAttribute('aria-invalid');")
            .await,
        "true"
    );
    b.check("login-errore-cf").await;
    // The initial PIN: the forced change, a mismatch first.
    pin_form(&b, w.mario.as_str(), INITIAL_PIN).await;
    assert_eq!(b.h1().await, "Scegli il tuo nuovo PIN");
    b.check("cambio-pin").await;
    b.fill("#f-new_pin", PERSONAL_PIN).await;
    b.fill("#f-confirm_pin", "Z9Z9Z9Z9").await;
    b.click_text("Conferma il nuovo PIN").await;
    assert!(b.text().await.contains("non coincidono"));
    b.check("cambio-pin-errore").await;
    b.fill("#f-new_pin", PERSONAL_PIN).await;
    b.fill("#f-confirm_pin", PERSONAL_PIN).await;
    b.click_text("Conferma il nuovo PIN").await;
    assert_eq!(b.path().await, "/area-personale", "{}", b.text().await);
    assert!(b.text().await.contains("Mario Rossi"));
    b.check("area-personale-pin").await;

    // A PIN login cannot register a delegation: the page offers the stronger login.
    b.goto(&at("/area-personale/deleghe")).await;
    assert!(b.text().await.contains("Accedi con SPID di livello 2"));
    b.check("deleghe-livello-basso").await;

    // Revoke one's PIN.
    b.goto(&at("/area-personale/pin")).await;
    b.check("revoca-pin").await;
    b.click_text("Revoca il PIN").await;
    assert!(b.text().await.contains("Spunta la casella"));
    b.check("revoca-pin-errore").await;
    b.click("label[for=f-confirm]").await;
    b.click_text("Revoca il PIN").await;
    assert_eq!(b.path().await, "/area-personale");
    assert!(b.text().await.contains("Il tuo PIN è stato revocato"));
    b.check("pin-revocato").await;

    // Logout from the header, then a failed logout (an unregistered return address) in a
    // new session: the session ends all the same and the page says why.
    b.click_text("Esci").await;
    assert!(b.text().await.contains("Sei uscito"), "{}", b.text().await);
    b.check("uscito").await;

    // Lockout: five wrong PINs.
    b.forget_cookies().await;
    b.goto(&at("/area-personale")).await;
    for n in 0..5 {
        pin_form(&b, w.luigi.as_str(), &format!("WRONG{n:03}")).await;
    }
    assert!(b.text().await.contains("Il PIN è bloccato"));
    b.check("pin-bloccato").await;

    // A PIN request online: errors next to the fields, then accepted.
    b.goto(&at("/pin/richiesta")).await;
    b.check("richiesta-pin").await;
    b.click_text("Invia la richiesta").await;
    assert!(b.text().await.contains("Questo campo è obbligatorio."));
    b.check("richiesta-pin-errori").await;
    for (id, v) in [
        ("#f-codice_fiscale", w.anna.as_str()),
        ("#f-given_name", "Anna"),
        ("#f-family_name", "Verdi"),
        ("#f-birth_date", "01/01/1990"),
        ("#f-address", "Via Roma 1"),
        ("#f-postal_code", "00100"),
        ("#f-municipality", "Roma"),
        ("#f-province", "RM"),
        ("#f-mobile", "+39 333 1234567"),
        ("#f-email", "anna.verdi@example.it"),
    ] {
        b.fill(id, v).await;
    }
    b.click("label[for=f-first_half_channel-sms]").await;
    b.click_text("Invia la richiesta").await;
    assert_eq!(b.path().await, "/pin/richiesta/esito");
    assert_eq!(b.h1().await, "Richiesta accolta");
    b.check("richiesta-pin-accolta").await;

    // PIN recovery.
    b.goto(&at("/pin/recupero")).await;
    b.check("recupero-pin").await;
    b.fill("#f-codice_fiscale", w.mario.as_str()).await;
    b.fill("#f-mobile", "+39 333 7654321").await;
    b.fill("#f-email", "mario.rossi@example.it").await;
    b.click_text("Recupera il PIN").await;
    assert_eq!(b.path().await, "/pin/recupero/esito");
    b.check("recupero-pin-esito").await;

    // SPID: the IdP cancels first (nr25): the page says so and how to go on.
    b.forget_cookies().await;
    b.goto(&at("/area-personale/deleghe")).await;
    b.click_text("Entra con SPID").await;
    b.click(".spid-idps a").await;
    assert!(b.url().await.starts_with(&w.peer_base), "{}", b.url().await);
    b.click("#annulla").await;
    assert_eq!(b.h1().await, "Accesso annullato");
    b.check("spid-annullato").await;
    // Then a real login, straight back to "Le mie deleghe".
    b.goto(&at("/area-personale/deleghe")).await;
    b.click_text("Entra con SPID").await;
    b.click(".spid-idps a").await;
    b.click("#accedi").await;
    assert_eq!(b.path().await, "/area-personale/deleghe");
    assert!(b.text().await.contains("Carla Neri"), "received from Carla");
    b.check("deleghe").await;

    // Register a delegation to Bruno: a wrong name first.
    b.fill("#f-delegate_codice_fiscale", w.bruno.as_str()).await;
    b.fill("#f-delegate_given_name", "Brunello").await;
    b.fill("#f-delegate_family_name", "Galli").await;
    b.click_text("Registra la delega").await;
    assert!(b.text().await.contains("non corrispondono"));
    b.check("deleghe-errore").await;
    b.fill("#f-delegate_given_name", "Bruno").await;
    b.click_text("Registra la delega").await;
    assert!(b.text().await.contains("La delega è registrata"));
    assert!(b.text().await.contains("Potrai revocarla online dal"));
    b.check("delega-registrata").await;

    // Act for Carla, as a relying party asks.
    let redirect = format!("{}/callback", w.peer_base);
    b.goto(&format!(
        "{base}/agisci-per-conto-di?client_id={}&redirect_uri={}&state=xyz",
        w.rp.id,
        urlencode(&redirect)
    ))
    .await;
    assert!(b.text().await.contains("Per conto di Carla Neri"));
    b.check("agisci-per-conto-di").await;
    b.click("label[for=f-delegation-1]").await;
    b.click_text("Continua").await;
    let back = b.url().await;
    assert!(back.starts_with(&redirect), "{back}");
    assert!(
        back.contains("delegation_id=") && back.contains("state=xyz"),
        "{back}"
    );

    // Renounce Carla's delegation.
    b.goto(&at("/area-personale/deleghe")).await;
    b.click_text("Rinuncia alla delega di Carla Neri").await;
    assert!(b.text().await.contains("Hai rinunciato alla delega"));
    b.check("delega-rinunciata").await;

    // After the 30 days (the session has long expired: log in again), revoke the
    // delegation to Bruno.
    w.live.app.clock.advance(Duration::days(31));
    b.goto(&at("/area-personale/deleghe")).await;
    b.click_text("Entra con SPID").await;
    b.click(".spid-idps a").await;
    b.click("#accedi").await;
    assert_eq!(b.path().await, "/area-personale/deleghe");
    b.click_text("Revoca la delega a Bruno Galli").await;
    assert!(b.text().await.contains("La delega è revocata"));
    b.check("delega-revocata").await;

    // A failed logout: the session ends (at the IdP too), the page explains.
    b.goto(&format!(
        "{base}/logout?client_id={}&post_logout_redirect_uri=https%3A%2F%2Fattacker.example%2F",
        w.rp.id
    ))
    .await;
    assert!(b.text().await.contains("Sei uscito dai servizi INPS"));
    b.check("uscita-non-riuscita").await;
    b.goto(&at("/area-personale")).await;
    assert!(
        b.path().await.starts_with("/login?flow="),
        "the session ended"
    );

    // Unknown paths and wrong methods answer pages too.
    b.goto(&at("/non-esiste")).await;
    assert_eq!(b.h1().await, "Pagina non trovata");
    b.check("pagina-non-trovata").await;
    b.goto(&at("/pin/change")).await;
    b.check("cambio-pin-riaperto").await;
    b.goto(&at("/spid/acs")).await;
    assert_eq!(b.h1().await, "Pagina non disponibile così");
    b.check("acs-riaperto").await;

    if !viewport.phone {
        every_html_route_answers_a_page(&b, &base).await;
        b.goto(&format!("{}/inaccessibile", w.peer_base)).await;
        let faults = b.violations().await.join("\n");
        assert!(
            faults.contains("image-alt") && faults.contains("label"),
            "axe-core finds what it must: {faults}"
        );
    }
    b.finish("browser").await;
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .unwrap()
        .trim_start_matches('=')
        .to_owned()
}

/// Every route that is not a JSON or protocol endpoint, opened by the browser: HTML.
async fn every_html_route_answers_a_page(b: &Browser, base: &str) {
    let api = [
        "/v1/",
        "/.well-known/",
        "/jwks.json",
        "/token",
        "/userinfo",
        "/introspect",
        "/revoke",
        "/healthz",
        "/readyz",
        "/metrics",
        "/spid/metadata",
    ];
    let mut seen = 0;
    for (_, path) in procura::http::ROUTES {
        if api.iter().any(|p| path.starts_with(p)) {
            continue;
        }
        let concrete = path.replace("{id}", "x").replace("{file}", "nessuno.css");
        b.goto(&format!("{base}{concrete}")).await;
        let ct = b.content_type().await;
        assert_eq!(ct, "text/html", "{concrete} answered a browser with {ct}");
        seen += 1;
    }
    assert!(seen >= 25, "{seen}");
}

at_both_sizes!(
    citizen_pages_in_a_desktop_browser,
    citizen_pages_in_a_phone_browser,
    walk
);
