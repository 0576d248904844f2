//! CIE login through OpenID Connect (issue 14): procura's entity configuration, the
//! authorization request to a CIE provider, and the callback. Signing, HTTP to the provider
//! and token checks run on the blocking pool; every state change sits in the database, so
//! any instance can take any step.
//!
//! The callback arrives as a top-level GET from the provider, which carries SameSite=Lax
//! cookies: the request is bound to the browser by a cookie of its own (`procura_cie`).
//! Every refusal gets the citizen an Italian page with the way back, and a log line (and an
//! audit record, once a request is known) with the reason.

use super::browser;
use super::login::{self as login_pages, SessionStep};
use super::pages;
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::cie::callback::{self, CallbackError, CieLogin, Redeem};
use crate::cie::chains::{self, ChainFailure};
use crate::cie::store::{self, CieSession, PendingRequest};
use crate::cie::{RelyingParty, authorize, secs};
use crate::db;
use crate::error::ApiError;
use crate::login::{self, Level};
use crate::oauth::params::Params;
use crate::oauth::{session, token_hash};
use crate::web::Link;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::Arc;

/// Binds an authorization request to the browser that started it.
const CIE_COOKIE: &str = "procura_cie";

fn unavailable(state: &AppState, e: &dyn std::fmt::Display) -> HttpResponse {
    pages::unavailable(state, e, "CIE step")
}

fn not_enabled(state: &AppState) -> HttpResponse {
    pages::error_page(
        state,
        StatusCode::NOT_FOUND,
        "Accesso con CIE non disponibile",
        "L'accesso con la Carta d'Identità Elettronica non è attivo su questo servizio.",
    )
}

/// A refusal page with the way back: to the login page of the flow when there is one.
fn refused(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    flow_id: Option<&str>,
) -> HttpResponse {
    let mut next = Vec::new();
    if let Some(flow) = flow_id {
        let query = serde_urlencoded::to_string([("flow", flow)]).unwrap_or_default();
        next.push(Link::new(
            format!("/login?{query}"),
            "Torna alla pagina di accesso e riprova, oppure scegli un altro modo di accedere",
        ));
    }
    next.extend(crate::web::errors::login_links());
    pages::error_page_with(state, status, title, message, next)
}

/// GET /.well-known/openid-federation: procura's signed entity configuration.
pub async fn entity_configuration(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(rp) = state.cie.clone() else {
        return Err(ApiError::not_found(
            "CIE is not a login method: there is no entity configuration.",
        ));
    };
    let now = state.clock.now();
    let config = state.config.clone();
    let jwt = web::block(move || rp.entity_configuration(&config, now))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/entity-statement+jwt"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(jwt.as_str().to_owned()))
}

/// The page for a trust chain that could not be used.
fn chain_refused(
    state: &AppState,
    e: &ChainFailure,
    provider: &str,
    flow_id: Option<&str>,
) -> HttpResponse {
    tracing::info!(reason = e.reason(), %provider, error = %e, "CIE login refused: trust chain");
    match e {
        ChainFailure::Db(e) => unavailable(state, e),
        _ => refused(
            state,
            StatusCode::BAD_GATEWAY,
            "Accesso con CIE non disponibile",
            "Non è stato possibile verificare il gestore dell'identità CIE nella federazione: l'accesso con CIE non è disponibile in questo momento.",
            flow_id,
        ),
    }
}

/// GET /cie/login?[flow=…]&[op=…]: sends the browser to the CIE provider with a signed
/// request object. With `flow`, the login serves that OpenID Connect authorization request
/// (its `acr_values` may raise the CIE level); without, it is a login at procura itself.
pub async fn login(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(rp) = state.cie.clone() else {
        return not_enabled(&state);
    };
    if let Some(page) = pages::over_limit(&state, &state.cie_login_limiter, &req) {
        return page;
    }
    let params = Params::parse(req.query_string()).unwrap_or_default();
    let flow = match params.get("flow") {
        None => None,
        Some(id) => match login_pages::browser_flow(&state, &req, Some(id)).await {
            Ok(Some(f)) => Some(f),
            Ok(None) => return login_pages::flow_gone(&state),
            Err(e) => return unavailable(&state, &e),
        },
    };
    let flow_id = flow.as_ref().map(|f| f.id.clone());
    let providers = &state.config.cie.providers;
    let provider = match (params.get("op"), providers.as_slice()) {
        (Some(op), _) => rp.provider(&state.config, op),
        (None, [only]) => Some(only),
        (None, _) => None,
    };
    let Some(provider) = provider.map(|p| p.entity_id.clone()) else {
        tracing::info!(
            reason = "unknown_provider",
            op = params.get("op").unwrap_or("(none)"),
            "CIE login refused"
        );
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "Gestore CIE sconosciuto",
            "Il gestore dell'identità CIE indicato non è tra quelli riconosciuti.",
            flow_id.as_deref(),
        );
    };
    let now = state.clock.now();
    let chain = match chains::current(&state, &rp, &provider, now).await {
        Ok(c) => c,
        Err(e) => return chain_refused(&state, &e, &provider, flow_id.as_deref()),
    };
    let level = authorize::requested_level(
        state.config.cie.default_level,
        flow.as_ref().and_then(|f| f.acr_min()),
    );
    let cookie = match browser::read(&req, CIE_COOKIE).filter(|c| c.len() >= 32) {
        Some(c) => c,
        None => match token_hash::new_token() {
            Ok(t) => t,
            Err(e) => return unavailable(&state, &e),
        },
    };
    let started = {
        let (rp, config) = (rp.clone(), state.config.clone());
        let (browser_hash, flow_id) = (token_hash::hash(&cookie), flow_id.clone());
        web::block(move || {
            authorize::start(
                &rp,
                &config,
                authorize::Input {
                    provider: &provider,
                    metadata: &chain.metadata(),
                    level,
                    flow_id,
                    browser_hash,
                    now,
                },
            )
        })
        .await
    };
    let started = match started {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!(reason = "authorization_request", error = %e, "CIE login refused");
            return refused(
                &state,
                StatusCode::BAD_GATEWAY,
                "Accesso con CIE non disponibile",
                "Il gestore dell'identità CIE non indica dove inviare la richiesta di accesso.",
                flow_id.as_deref(),
            );
        }
        Err(e) => return unavailable(&state, &e),
    };
    let row = started.request;
    if let Err(e) = db::run(&state.db, move |c| store::insert_request(c, &row)).await {
        return unavailable(&state, &e);
    }
    let mut resp = HttpResponse::Found()
        .insert_header((header::LOCATION, started.url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish();
    let _ = resp.add_cookie(&browser::cookie(
        &state,
        CIE_COOKIE,
        cookie,
        Some(state.config.cie.request_ttl_secs),
    ));
    resp
}

fn audit_event(outcome: Outcome, detail: serde_json::Value) -> Event {
    Event::new(Party::system(), "cie.login", outcome).detail(detail)
}

/// Logs and audits a refused callback (its request is already spent).
async fn record_refusal(
    state: &AppState,
    request: &PendingRequest,
    reason: &'static str,
    error: &str,
) {
    tracing::info!(reason, provider = %request.provider, %error, "CIE login refused");
    let now = state.clock.now();
    let key = state.audit_key.clone();
    let detail = serde_json::json!({ "provider": request.provider, "reason": reason });
    let recorded = db::run(&state.db, move |c| {
        audit::append_alone(c, &key, now, audit_event(Outcome::Failure, detail))
    })
    .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, "could not record a refused CIE login");
    }
}

/// What the citizen reads for an `error` the provider sent back.
fn provider_error_message(code: &str) -> &'static str {
    match code {
        "access_denied" => {
            "L'accesso con CIE è stato annullato o il consenso al rilascio dei dati è stato negato."
        }
        "login_required" | "consent_required" => "L'accesso con CIE non è stato completato.",
        _ => "Il gestore dell'identità CIE non ha completato l'accesso.",
    }
}

/// GET /cie/callback?code=…&state=…&iss=… (or `error=…`): the provider's answer.
pub async fn callback(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(rp) = state.cie.clone() else {
        return not_enabled(&state);
    };
    let params = Params::parse(req.query_string()).unwrap_or_default();
    let Some(request_state) = params.get("state").map(str::to_owned) else {
        tracing::info!(reason = "no_state", "CIE callback refused");
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "Risposta di accesso non valida",
            "La risposta del gestore dell'identità CIE non è completa. Riprova ad accedere.",
            None,
        );
    };
    let now = state.clock.now();
    let taken = db::run(&state.db, move |c| {
        store::take_request(c, &request_state, now)
    })
    .await;
    let request = match taken {
        Ok(Some(r)) => r,
        Ok(None) => {
            tracing::info!(reason = "unknown_state", "CIE callback refused");
            return refused(
                &state,
                StatusCode::BAD_REQUEST,
                "Accesso scaduto o già concluso",
                "La risposta del gestore dell'identità CIE non corrisponde a un accesso in corso: potrebbe essere scaduta o già usata. Riprova ad accedere.",
                None,
            );
        }
        Err(e) => return unavailable(&state, &e),
    };
    let flow_id = request.flow_id.clone();
    let back = flow_id.as_deref();
    let same_browser = browser::read(&req, CIE_COOKIE).is_some_and(|c| {
        token_hash::eq(
            token_hash::hash(&c).as_bytes(),
            request.browser_hash.as_bytes(),
        )
    });
    if !same_browser {
        record_refusal(&state, &request, "wrong_browser", "").await;
        return refused(
            &state,
            StatusCode::FORBIDDEN,
            "Accesso non riuscito",
            "La risposta di accesso è arrivata a un browser diverso da quello che ha iniziato l'accesso. Riprova dallo stesso browser.",
            back,
        );
    }
    let chain = match chains::current(&state, &rp, &request.provider, now).await {
        Ok(c) => c,
        Err(e) => {
            record_refusal(&state, &request, e.reason(), &e.to_string()).await;
            return chain_refused(&state, &e, &request.provider, back);
        }
    };
    let metadata = chain.metadata();
    // RFC 9207: the answer must name the provider the request went to (mix-up defence).
    let issuer = callback::issuer(&request.provider, &metadata).to_owned();
    if params.get("iss") != Some(issuer.as_str()) {
        let got = params.get("iss").unwrap_or("(none)").to_owned();
        record_refusal(&state, &request, "iss_mismatch", &got).await;
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "Accesso non riuscito",
            "La risposta di accesso non proviene dal gestore dell'identità CIE a cui era stata inviata la richiesta. Riprova ad accedere.",
            back,
        );
    }
    if let Some(error) = params.get("error") {
        let code = error.to_owned();
        record_refusal(&state, &request, "provider_error", &code).await;
        return refused(
            &state,
            StatusCode::FORBIDDEN,
            "Accesso non completato",
            provider_error_message(&code),
            back,
        );
    }
    let Some(code) = params.get("code").map(str::to_owned) else {
        record_refusal(&state, &request, "no_code", "").await;
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "Risposta di accesso non valida",
            "La risposta del gestore dell'identità CIE non è completa. Riprova ad accedere.",
            back,
        );
    };
    let Some(level) = Level::parse(&request.level) else {
        return unavailable(&state, &"stored CIE request with an unknown level");
    };
    let redeemed = {
        let (rp, config, req_row) = (rp.clone(), state.config.clone(), request.clone());
        web::block(move || {
            callback::redeem(
                &rp,
                &Redeem {
                    provider: &req_row.provider,
                    metadata: &metadata,
                    code: &code,
                    code_verifier: &req_row.code_verifier,
                    nonce: &req_row.nonce,
                    level,
                    now,
                    skew: secs(config.cie.clock_skew_secs),
                    limits: RelyingParty::limits(&config),
                },
            )
        })
        .await
    };
    match redeemed {
        Ok(Ok(login)) => accepted(&state, request, login).await,
        Ok(Err(e)) => {
            record_refusal(&state, &request, e.reason(), &e.to_string()).await;
            let message = match e {
                CallbackError::Level { .. } => {
                    "Il livello di sicurezza dell'accesso con CIE è inferiore a quello richiesto dal servizio."
                }
                CallbackError::NoFiscalNumber => {
                    "Il gestore dell'identità CIE non ha indicato il codice fiscale: senza di esso non è possibile accedere ai servizi INPS."
                }
                _ => {
                    "La risposta del gestore dell'identità CIE non è valida. Riprova ad accedere; se il problema continua, scegli un altro modo di accedere."
                }
            };
            refused(
                &state,
                StatusCode::BAD_REQUEST,
                "Accesso non riuscito",
                message,
                back,
            )
        }
        Err(e) => unavailable(&state, &e),
    }
}

/// Every check passed: log the person in.
async fn accepted(state: &AppState, request: PendingRequest, cie: CieLogin) -> HttpResponse {
    let back = request.flow_id.as_deref();
    let Ok(codice_fiscale) = login::cie::codice_fiscale(&cie.fiscal_number) else {
        record_refusal(state, &request, "fiscal_number", "").await;
        return refused(
            state,
            StatusCode::BAD_REQUEST,
            "Codice fiscale non valido",
            "Il gestore dell'identità CIE ha indicato un codice fiscale non valido.",
            back,
        );
    };
    let now = state.clock.now();
    tracing::info!(cf = %codice_fiscale.masked(), level = cie.level.uri(), provider = %request.provider, "CIE login");
    let outcome = login::cie::outcome(
        codice_fiscale,
        cie.given_name.clone(),
        cie.family_name.clone(),
        cie.level,
    );
    let (outbox_key, provider) = (state.outbox_key.clone(), request.provider.clone());
    let (audit_key, cf) = (
        state.audit_key.clone(),
        outcome.person.codice_fiscale.clone(),
    );
    // In the transaction that starts the session: the audit record and the provider's token.
    let step: SessionStep = Box::new(move |c, browser_session| {
        let detail = serde_json::json!({ "provider": provider, "level": cie.level.uri() });
        audit::append(
            c,
            &audit_key,
            now,
            audit_event(Outcome::Success, detail).on_behalf_of(Party::person(&cf)),
        )?;
        match outbox_key.seal(&browser_session.id, &cie.access_token) {
            Ok(sealed) => store::insert_session(
                c,
                &CieSession {
                    browser_session_id: browser_session.id.clone(),
                    provider,
                    access_token: sealed,
                    created_at: now.naive_utc(),
                    expires_at: cie.access_token_expires.naive_utc(),
                },
            ),
            Err(e) => {
                // Logout then cannot revoke the provider's token; the login still stands.
                tracing::warn!(error = %e, "could not seal the CIE access token");
                Ok(())
            }
        }
    });
    let Some(flow_id) = request.flow_id else {
        return login_pages::complete_direct(state, outcome, Some(step)).await;
    };
    let flow = db::run(&state.db, move |c| session::find_flow(c, &flow_id, now)).await;
    match flow {
        Ok(Some(flow)) => login_pages::complete_with(state, flow, outcome, Some(step)).await,
        Ok(None) => login_pages::flow_gone(state),
        Err(e) => unavailable(state, &e),
    }
}

/// Called by the broker's logout once a browser session has ended: when it came from CIE,
/// the provider's access token is revoked at its revocation endpoint (`logout.rst`), which
/// ends the person's session there. Failures are logged; the logout goes on.
pub(super) async fn end_session(state: &AppState, browser_session_id: &str) {
    let Some(rp) = state.cie.clone() else {
        return;
    };
    let id = browser_session_id.to_owned();
    let taken = db::run(&state.db, move |c| store::take_session(c, &id)).await;
    let Ok(Some(session)) = taken else {
        return;
    };
    let token = match state
        .outbox_key
        .open(browser_session_id, &session.access_token)
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "could not open the sealed CIE access token");
            return;
        }
    };
    let now = state.clock.now();
    let chain = match chains::current(state, &rp, &session.provider, now).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                reason = e.reason(),
                "CIE logout: no trust chain to revoke the token"
            );
            return;
        }
    };
    let config = state.config.clone();
    let rp2: Arc<RelyingParty> = rp.clone();
    let revoked = web::block(move || {
        callback::revoke(
            &rp2,
            &chain.metadata(),
            &token,
            now,
            RelyingParty::limits(&config),
        )
    })
    .await;
    match revoked {
        Ok(Ok(true)) => {
            tracing::info!(provider = %session.provider, "CIE access token revoked at logout")
        }
        Ok(Ok(false)) => {
            tracing::info!(provider = %session.provider, "CIE provider has no revocation endpoint")
        }
        Ok(Err(e)) => {
            tracing::warn!(provider = %session.provider, error = %e, "CIE token revocation failed")
        }
        Err(e) => tracing::warn!(error = %e, "CIE token revocation task failed"),
    }
}
