//! CNS login (issue 15). `GET /cns/login?flow=…` runs on the CNS host: procura's own TLS
//! listener (the connection carries the card's certificate) or a TLS-terminating proxy (a
//! header carries it, believed only from `cns.trusted_proxies`). The certificate is validated
//! on the blocking pool; a valid card becomes a one-time ticket and the browser goes back to
//! procura's own host, `GET /cns/complete?ticket=…`, where the login flow (bound to that
//! host's browser cookie) completes like any other login.

use super::login::{self as login_pages, SessionStep};
use super::oidc::secs;
use super::pages;
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::cns::listener::PresentedChain;
use crate::cns::verify::{Refusal, ValidCard};
use crate::cns::{Cns, profile, proxy, store};
use crate::db;
use crate::login::{self, Level};
use crate::oauth::params::Params;
use crate::oauth::{session, token_hash};
use crate::person::codice_fiscale::CodiceFiscale;
use crate::web::Link;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, web};
use openssl::x509::X509;

/// How the certificate reached procura.
#[derive(Debug, Clone, Copy)]
enum Via {
    Listener,
    Proxy,
    /// Neither: a browser on the main listener without a proxy in front.
    Direct,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Listener => "listener",
            Via::Proxy => "proxy",
            Via::Direct => "direct",
        }
    }
}

/// A refusal before or during validation: its code, the citizen's message, the status.
struct Refused {
    code: &'static str,
    message: &'static str,
    status: StatusCode,
}

impl From<&Refusal> for Refused {
    fn from(r: &Refusal) -> Self {
        Self {
            code: r.code(),
            message: r.message_it(),
            status: match r {
                Refusal::RevocationUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                Refusal::NoCertificate => StatusCode::UNAUTHORIZED,
                _ => StatusCode::FORBIDDEN,
            },
        }
    }
}

const FORGED_HEADER: Refused = Refused {
    code: "untrusted_proxy",
    message: "La richiesta non proviene dal punto di accesso con CNS di INPS. Riprova dalla pagina di accesso.",
    status: StatusCode::FORBIDDEN,
};

fn not_enabled(state: &AppState) -> HttpResponse {
    pages::error_page(
        state,
        StatusCode::NOT_FOUND,
        "Accesso con CNS non disponibile",
        "L'accesso con la Carta Nazionale dei Servizi non è attivo su questo servizio.",
    )
}

fn unavailable(state: &AppState, e: &dyn std::fmt::Display) -> HttpResponse {
    pages::unavailable(state, e, "CNS step")
}

/// An Italian page for a refused card, with the way back to the login page.
fn refusal_page(state: &AppState, flow_id: Option<&str>, refused: &Refused) -> HttpResponse {
    let mut next = Vec::new();
    if let Some(id) = flow_id {
        let query = serde_urlencoded::to_string([("flow", id)]).unwrap_or_default();
        next.push(Link::new(
            format!("{}/login?{query}", state.config.oauth.issuer),
            "Torna alla pagina di accesso e scegli di nuovo come accedere",
        ));
    }
    next.extend(crate::web::errors::login_links());
    pages::error_page_with(
        state,
        refused.status,
        "Accesso con CNS non riuscito",
        refused.message,
        next,
    )
}

/// The chain the browser presented, and how it arrived.
fn presented(state: &AppState, cns: &Cns, req: &HttpRequest) -> (Via, Result<Vec<X509>, Refused>) {
    let header = req.headers().get(state.config.cns.proxy_header.as_str());
    let peer = super::browser::client_ip(req);
    if let Some(PresentedChain(chain)) = req.conn_data::<PresentedChain>() {
        if header.is_some() {
            // On procura's own listener nobody forwards certificates: a browser made it up.
            tracing::warn!(%peer, header = %state.config.cns.proxy_header, "CNS certificate header on the CNS listener; refused");
            return (Via::Listener, Err(FORGED_HEADER));
        }
        return match chain.is_empty() {
            true => (Via::Listener, Err(Refused::from(&Refusal::NoCertificate))),
            false => (Via::Listener, Ok(chain.clone())),
        };
    }
    let Some(value) = header else {
        return (Via::Direct, Err(Refused::from(&Refusal::NoCertificate)));
    };
    if !cns.is_trusted_proxy(peer) {
        tracing::warn!(%peer, header = %state.config.cns.proxy_header, "CNS certificate header from an address that is not a trusted proxy; refused");
        return (Via::Direct, Err(FORGED_HEADER));
    }
    match proxy::decode(value.as_bytes()) {
        proxy::Forwarded::Chain(chain) => (Via::Proxy, Ok(chain)),
        proxy::Forwarded::Nothing => (Via::Proxy, Err(Refused::from(&Refusal::NoCertificate))),
        proxy::Forwarded::Unreadable => (Via::Proxy, Err(Refused::from(&Refusal::Unreadable))),
    }
}

/// Logs and audits a refusal (the codice fiscale masked in the log, when the card has one).
async fn record_refusal(
    state: &AppState,
    via: Via,
    refused: &Refused,
    chain: Option<&[X509]>,
    detail: Option<String>,
) {
    let cf = chain
        .and_then(|c| c.first())
        .and_then(|leaf| profile::subject(leaf, state.config.cns.codice_fiscale_from).ok())
        .map(|s| s.codice_fiscale);
    let masked = cf.as_ref().map(|c| c.masked().to_string());
    tracing::info!(
        reason = refused.code,
        via = via.as_str(),
        cf = masked.as_deref().unwrap_or("-"),
        detail = detail.as_deref().unwrap_or(""),
        "CNS login refused"
    );
    let now = state.clock.now();
    let key = state.audit_key.clone();
    let mut event = Event::new(Party::system(), "cns.login", Outcome::Failure)
        .detail(serde_json::json!({ "reason": refused.code, "via": via.as_str() }));
    if let Some(cf) = &cf {
        event = event.on_behalf_of(Party::person(cf));
    }
    if let Err(e) = db::run(&state.db, move |c| audit::append_alone(c, &key, now, event)).await {
        tracing::error!(error = %e, "could not audit a refused CNS login");
    }
}

/// GET /cns/login?flow=…: on the CNS host.
pub async fn login(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(cns) = state.cns.clone() else {
        return not_enabled(&state);
    };
    // Behind the TLS proxy every browser has the proxy's address: the proxy limits them.
    let from_proxy = cns.is_trusted_proxy(super::browser::client_ip(&req));
    if !from_proxy && let Some(page) = pages::over_limit(&state, &state.cns_login_limiter, &req) {
        return page;
    }
    let params = Params::parse(req.query_string()).unwrap_or_default();
    let flow_id = params.get("flow").map(str::to_owned);
    let (via, chain) = presented(&state, &cns, &req);
    let chain = match chain {
        Ok(c) => c,
        Err(refused) => {
            record_refusal(&state, via, &refused, None, None).await;
            return refusal_page(&state, flow_id.as_deref(), &refused);
        }
    };
    // The flow is bound to the browser cookie of procura's own host, which this host does
    // not see: here it only has to exist; /cns/complete checks the browser.
    let Some(flow_id) = flow_id else {
        return pages::error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Accesso con CNS da avviare dal servizio",
            "Apri il servizio INPS che vuoi usare e scegli «Entra con CNS» dalla sua pagina di accesso.",
        );
    };
    let now = state.clock.now();
    let flow = {
        let id = flow_id.clone();
        db::run(&state.db, move |c| session::find_flow(c, &id, now)).await
    };
    match flow {
        Ok(Some(_)) => {}
        Ok(None) => return login_pages::flow_gone(&state),
        Err(e) => return unavailable(&state, &e),
    }
    let checked = {
        let (state, cns, chain) = (state.clone(), cns.clone(), chain.clone());
        web::block(move || cns.validate(&state.config, &state.db, &chain, now)).await
    };
    let card = match checked {
        Ok(Ok(card)) => card,
        Ok(Err(refusal)) => {
            let refused = Refused::from(&refusal);
            record_refusal(
                &state,
                via,
                &refused,
                Some(&chain),
                Some(refusal.to_string()),
            )
            .await;
            return refusal_page(&state, Some(&flow_id), &refused);
        }
        Err(e) => return unavailable(&state, &e),
    };
    issue_ticket(&state, via, flow_id, card).await
}

/// A valid card: a one-time ticket, and the browser back to procura's own host.
async fn issue_ticket(
    state: &AppState,
    via: Via,
    flow_id: String,
    card: ValidCard,
) -> HttpResponse {
    let ticket = match token_hash::new_token() {
        Ok(t) => t,
        Err(e) => return unavailable(state, &e),
    };
    let now = state.clock.now();
    let row = store::Ticket {
        ticket_hash: token_hash::hash(&ticket),
        flow_id,
        codice_fiscale: card.subject.codice_fiscale.as_str().to_owned(),
        given_name: card.subject.given_name.clone(),
        family_name: card.subject.family_name.clone(),
        level: state.config.cns.level.uri().to_owned(),
        certificate_sha256: card.certificate_sha256.clone(),
        created_at: now.naive_utc(),
        expires_at: (now + secs(state.config.cns.ticket_ttl_secs)).naive_utc(),
        consumed_at: None,
    };
    if let Err(e) = db::run(&state.db, move |c| store::insert_ticket(c, &row)).await {
        return unavailable(state, &e);
    }
    tracing::info!(
        cf = %card.subject.codice_fiscale.masked(),
        via = via.as_str(),
        issuer = %card.issuer,
        "CNS card accepted"
    );
    let query = serde_urlencoded::to_string([("ticket", ticket.as_str())]).unwrap_or_default();
    super::browser::see_other(&format!(
        "{}/cns/complete?{query}",
        state.config.oauth.issuer
    ))
    .finish()
}

fn ticket_gone(state: &AppState) -> HttpResponse {
    pages::error_page(
        state,
        StatusCode::BAD_REQUEST,
        "Accesso con CNS scaduto",
        "L'accesso con la carta è scaduto o è già stato concluso. Torna alla pagina di accesso e riprova.",
    )
}

/// GET /cns/complete?ticket=…: on procura's own host, in the browser that owns the flow.
pub async fn complete(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if state.cns.is_none() {
        return not_enabled(&state);
    }
    let params = Params::parse(req.query_string()).unwrap_or_default();
    let Some(hash) = params.get("ticket").map(token_hash::hash) else {
        return ticket_gone(&state);
    };
    let now = state.clock.now();
    let found = {
        let hash = hash.clone();
        db::run(&state.db, move |c| store::find_ticket(c, &hash, now)).await
    };
    let ticket = match found {
        Ok(Some(t)) => t,
        Ok(None) => return ticket_gone(&state),
        Err(e) => return unavailable(&state, &e),
    };
    // Only the browser that started the flow may spend the ticket.
    let flow = match login_pages::browser_flow(&state, &req, Some(&ticket.flow_id)).await {
        Ok(Some(f)) => f,
        Ok(None) => return login_pages::flow_gone(&state),
        Err(e) => return unavailable(&state, &e),
    };
    match db::run(&state.db, move |c| store::consume_ticket(c, &hash, now)).await {
        Ok(true) => {}
        Ok(false) => return ticket_gone(&state),
        Err(e) => return unavailable(&state, &e),
    }
    let (Ok(codice_fiscale), Some(level)) = (
        CodiceFiscale::parse(&ticket.codice_fiscale),
        Level::parse(&ticket.level),
    ) else {
        return unavailable(&state, &"stored CNS ticket unreadable");
    };
    let outcome = login::cns::outcome(
        codice_fiscale.clone(),
        ticket.given_name.clone(),
        ticket.family_name.clone(),
        level,
    );
    let key = state.audit_key.clone();
    let certificate = ticket.certificate_sha256.clone();
    let step: SessionStep = Box::new(move |c, _session| {
        audit::append(
            c,
            &key,
            now,
            Event::new(Party::system(), "cns.login", Outcome::Success)
                .on_behalf_of(Party::person(&codice_fiscale))
                .detail(
                    serde_json::json!({ "certificate_sha256": certificate, "level": level.uri() }),
                ),
        )
        .map(|_| ())
    });
    login_pages::complete_with(&state, flow, outcome, Some(step)).await
}

/// The application of the CNS TLS listener: only the card's entry point, with the same
/// request ids and safety net as the main application.
pub fn listener_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .service(web::resource("/cns/login").route(web::get().to(login)))
        .default_service(web::to(super::problems::not_found))
        .wrap(ErrorHandlers::new().default_handler(super::problems::safety_net))
        .wrap(from_fn(super::request_id::middleware))
}
