//! The login page and the PIN forms. A login flow (started by /authorize) is bound to the
//! browser cookie and carries a CSRF token that every form must echo; a completed login
//! starts the browser session and sends the browser back to the client with a code.

use super::browser::{self, BROWSER_COOKIE, SESSION_COOKIE};
use super::oidc;
use super::pages::{self, LoginPage, PinChangePage};
use crate::AppState;
use crate::db::{self, DbConn, DbError};
use crate::login::pin::{self as pin_login, PinStep};
use crate::login::{LoginOutcome, Method};
use crate::oauth::params::Params;
use crate::oauth::session::{self, BrowserSession, LoginFlow};
use crate::person::codice_fiscale::CodiceFiscale;
use crate::pin::credential::{ChangeReason, Lockout, PinError, PinLogin};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

fn unavailable(e: &dyn std::fmt::Display) -> HttpResponse {
    pages::unavailable(e, "login step")
}

pub(super) fn flow_gone() -> HttpResponse {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "Pagina di accesso scaduta",
        "La pagina di accesso è scaduta o è stata aperta in un altro browser.",
    )
}

/// The live flow named by `id`, if it belongs to this browser.
pub(super) async fn browser_flow(
    state: &AppState,
    req: &HttpRequest,
    id: Option<&str>,
) -> Result<Option<LoginFlow>, DbError> {
    let Some(id) = id.map(str::to_owned) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let flow = db::run(&state.db, move |c| session::find_flow(c, &id, now)).await?;
    let cookie = browser::read(req, BROWSER_COOKIE);
    Ok(flow.filter(|f| f.belongs_to(cookie.as_deref())))
}

fn pin_offered(state: &AppState, flow: &LoginFlow) -> bool {
    state.config.login.methods.iter().any(|m| m == "pin")
        && flow
            .acr_min()
            .is_none_or(|min| pin_login::MAX_LEVEL.satisfies(min))
}

async fn client_name(state: &AppState, client_id: &str) -> String {
    let id = client_id.to_owned();
    db::run(&state.db, move |c| crate::oauth::client::find(c, &id))
        .await
        .ok()
        .flatten()
        .map_or_else(|| client_id.to_owned(), |c| c.display_name)
}

/// The SPID identity providers for the login page (`state.spid` exists only when SPID is
/// a login method).
fn spid_idps(state: &AppState) -> Vec<(String, String)> {
    state
        .spid
        .as_ref()
        .map(|sp| sp.registry.list())
        .unwrap_or_default()
}

/// The "Entra con CIE" entries of the login page (`state.cie` exists only when CIE is a
/// login method): one per configured CIE OpenID provider.
fn cie_entries(state: &AppState, flow: &LoginFlow) -> Vec<(String, String)> {
    let Some(_) = state.cie.as_ref() else {
        return vec![];
    };
    let providers = &state.config.cie.providers;
    providers
        .iter()
        .map(|p| {
            let query =
                serde_urlencoded::to_string([("flow", flow.id.as_str()), ("op", &p.entity_id)])
                    .unwrap_or_default();
            let label = if providers.len() == 1 {
                "Entra con CIE".to_owned()
            } else {
                format!("Entra con CIE ({})", p.name)
            };
            (format!("/cie/login?{query}"), label)
        })
        .collect()
}

async fn render_login(
    state: &AppState,
    flow: &LoginFlow,
    status: StatusCode,
    error: Option<&str>,
    codice_fiscale: &str,
) -> HttpResponse {
    let name = client_name(state, &flow.client_id).await;
    let offered = pin_offered(state, flow);
    let too_weak = if offered || !state.config.login.methods.iter().any(|m| m == "pin") {
        vec![]
    } else {
        vec![Method::Pin.label_it()]
    };
    pages::login(
        status,
        &LoginPage {
            flow_id: &flow.id,
            csrf: &flow.csrf_token,
            client_name: &name,
            pin_offered: offered,
            too_weak,
            error,
            codice_fiscale,
            spid_idps: spid_idps(state),
            cie: cie_entries(state, flow),
        },
    )
}

fn render_change(flow: &LoginFlow, status: StatusCode, error: Option<&str>) -> HttpResponse {
    pages::pin_change(
        status,
        &PinChangePage {
            flow_id: &flow.id,
            csrf: &flow.csrf_token,
            initial: flow.pending_reason.as_deref() == Some(ChangeReason::Initial.as_str()),
            error,
        },
    )
}

/// GET /login?flow=…
pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let params = Params::parse(req.query_string()).unwrap_or_default();
    match browser_flow(&state, &req, params.get("flow")).await {
        Ok(Some(flow)) if flow.pending_codice_fiscale.is_some() => {
            render_change(&flow, StatusCode::OK, None)
        }
        Ok(Some(flow)) => render_login(&state, &flow, StatusCode::OK, None, "").await,
        Ok(None) => flow_gone(),
        Err(e) => unavailable(&e),
    }
}

/// The form fields, its flow (bound to this browser) and a checked CSRF token.
async fn form_flow(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Params, LoginFlow), HttpResponse> {
    let params = std::str::from_utf8(body)
        .ok()
        .and_then(Params::parse)
        .unwrap_or_default();
    let flow = match browser_flow(state, req, params.get("flow")).await {
        Ok(Some(f)) => f,
        Ok(None) => return Err(flow_gone()),
        Err(e) => return Err(unavailable(&e)),
    };
    if !params.get("csrf").is_some_and(|t| flow.csrf_matches(t)) {
        return Err(pages::error_page(
            StatusCode::FORBIDDEN,
            "Richiesta non valida",
            "Il modulo inviato non proviene dalla pagina di accesso di INPS.",
        ));
    }
    Ok((params, flow))
}

/// POST /pin/login
pub async fn pin_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (params, flow) = match form_flow(&state, &req, &body).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let typed_cf = params.get("codice_fiscale").unwrap_or("");
    if !pin_offered(&state, &flow) {
        return render_login(
            &state,
            &flow,
            StatusCode::FORBIDDEN,
            Some("Questo servizio non accetta l'accesso con PIN."),
            typed_cf,
        )
        .await;
    }
    if let Err(wait) = state
        .pin_limiter
        .check(browser::client_ip(&req), std::time::Instant::now())
    {
        let mut resp = render_login(
            &state,
            &flow,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Troppi tentativi da questo indirizzo. Riprova tra {} secondi.",
                wait.secs()
            )),
            typed_cf,
        )
        .await;
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&wait.secs().to_string()) {
            resp.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, v);
        }
        return resp;
    }
    let codice_fiscale = match CodiceFiscale::parse(typed_cf) {
        Ok(cf) => cf,
        Err(e) => {
            return render_login(
                &state,
                &flow,
                StatusCode::BAD_REQUEST,
                Some(&e.to_string()),
                typed_cf,
            )
            .await;
        }
    };
    let pin = params.get("pin").unwrap_or("");
    let now = state.clock.now();
    let wrong = "Codice fiscale o PIN non corretti.";
    match pin_login::login(&state, &codice_fiscale, pin, now).await {
        Ok(PinStep::Complete(outcome)) => complete(&state, flow, outcome).await,
        Ok(PinStep::MustChange(reason)) => {
            let (id, cf) = (flow.id.clone(), codice_fiscale.as_str().to_owned());
            match db::run(&state.db, move |c| {
                session::set_pending_change(c, &id, &cf, reason.as_str())
            })
            .await
            {
                Ok(()) => {
                    let flow = LoginFlow {
                        pending_codice_fiscale: Some(codice_fiscale.as_str().to_owned()),
                        pending_reason: Some(reason.as_str().to_owned()),
                        ..flow
                    };
                    render_change(&flow, StatusCode::OK, None)
                }
                Err(e) => unavailable(&e),
            }
        }
        Ok(PinStep::Refused(refusal)) => {
            let (status, message) = match refusal {
                PinLogin::Locked { until }
                | PinLogin::Rejected {
                    lockout: Some(Lockout::Locked { until }),
                } => (
                    StatusCode::FORBIDDEN,
                    {
                        let minutes = ((until - now).num_seconds() + 59).max(60) / 60;
                        let unit = if minutes == 1 { "minuto" } else { "minuti" };
                        format!(
                            "Il PIN è bloccato per troppi tentativi errati. Riprova tra {minutes} {unit}."
                        )
                    },
                ),
                PinLogin::Blocked
                | PinLogin::Rejected {
                    lockout: Some(Lockout::Blocked),
                } => (
                    StatusCode::FORBIDDEN,
                    "Il PIN è bloccato per troppi tentativi errati: recuperalo o richiedine uno nuovo.".to_owned(),
                ),
                PinLogin::Deactivated => (
                    StatusCode::FORBIDDEN,
                    "Il PIN è stato disattivato perché non è stato usato entro 6 mesi dal rilascio: richiedine uno nuovo.".to_owned(),
                ),
                _ => (StatusCode::UNAUTHORIZED, wrong.to_owned()),
            };
            render_login(
                &state,
                &flow,
                status,
                Some(&message),
                codice_fiscale.as_str(),
            )
            .await
        }
        Err(e) => unavailable(&e),
    }
}

/// POST /pin/change
pub async fn pin_change(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (params, flow) = match form_flow(&state, &req, &body).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let Some(codice_fiscale) = flow
        .pending_codice_fiscale
        .as_deref()
        .and_then(|cf| CodiceFiscale::parse(cf).ok())
    else {
        return render_login(
            &state,
            &flow,
            StatusCode::BAD_REQUEST,
            Some("Accedi prima con il tuo PIN."),
            "",
        )
        .await;
    };
    let (new_pin, confirm) = (
        params.get("new_pin").unwrap_or(""),
        params.get("confirm_pin").unwrap_or(""),
    );
    if new_pin != confirm {
        return render_change(
            &flow,
            StatusCode::BAD_REQUEST,
            Some("I due PIN inseriti non coincidono."),
        );
    }
    let now = state.clock.now();
    match pin_login::change_and_complete(&state, &codice_fiscale, new_pin, now).await {
        Ok(outcome) => complete(&state, flow, outcome).await,
        Err(PinError::Rule(v)) => {
            render_change(&flow, StatusCode::BAD_REQUEST, Some(&v.to_string()))
        }
        Err(PinError::SameAsCurrent) => render_change(
            &flow,
            StatusCode::BAD_REQUEST,
            Some("Il nuovo PIN deve essere diverso da quello attuale."),
        ),
        Err(e) => unavailable(&e),
    }
}

/// Something a login method records with the new browser session, in the transaction that
/// starts it (SPID keeps what Single Logout needs).
pub(super) type SessionStep =
    Box<dyn FnOnce(&mut DbConn, &BrowserSession) -> Result<(), DbError> + Send>;

/// A login method succeeded: start the browser session, spend the flow, issue the code and
/// send the browser back to the client.
async fn complete(state: &AppState, flow: LoginFlow, outcome: LoginOutcome) -> HttpResponse {
    complete_with(state, flow, outcome, None).await
}

/// A login that no relying party asked for (the person started at procura): the browser
/// session starts, and any client's later authorization request finds it (single sign-on).
pub(super) async fn complete_direct(
    state: &AppState,
    outcome: LoginOutcome,
    step: Option<SessionStep>,
) -> HttpResponse {
    let now = state.clock.now();
    let max_age = oidc::secs(state.config.session.max_age_secs);
    let started = db::run(&state.db, move |c| {
        c.write_transaction(|c| {
            let (session, cookie) = session::create_session(c, &outcome, now, max_age)?;
            if let Some(step) = step {
                step(c, &session)?;
            }
            Ok::<_, DbError>(cookie)
        })
    })
    .await;
    match started {
        Ok(cookie) => {
            let mut resp = pages::logged_in();
            let _ = resp.add_cookie(&browser::cookie(
                state,
                SESSION_COOKIE,
                cookie,
                Some(state.config.session.max_age_secs),
            ));
            resp
        }
        Err(e) => unavailable(&e),
    }
}

/// [`complete`] with a step of the login method's own.
pub(super) async fn complete_with(
    state: &AppState,
    flow: LoginFlow,
    outcome: LoginOutcome,
    step: Option<SessionStep>,
) -> HttpResponse {
    if let Some(min) = flow.acr_min()
        && !outcome.level.satisfies(min)
    {
        return pages::error_page(
            StatusCode::FORBIDDEN,
            "Livello di sicurezza insufficiente",
            "Il servizio richiede un accesso più sicuro di quello che hai usato: accedi con SPID, CIE o CNS, oppure con un PIN dispositivo.",
        );
    }
    let now = state.clock.now();
    let max_age = oidc::secs(state.config.session.max_age_secs);
    let flow_id = flow.id.clone();
    let started = db::run(&state.db, move |c| {
        c.write_transaction(|c| {
            if !session::consume_flow(c, &flow_id)? {
                return Ok(None);
            }
            let (session, cookie) = session::create_session(c, &outcome, now, max_age)?;
            if let Some(step) = step {
                step(c, &session)?;
            }
            Ok::<_, DbError>(Some((session, cookie)))
        })
    })
    .await;
    let (browser_session, cookie) = match started {
        Ok(Some(v)) => v,
        Ok(None) => return flow_gone(),
        Err(e) => return unavailable(&e),
    };
    let pending = flow.request();
    match oidc::issue_code(state, browser_session, pending.clone()).await {
        Ok(code) => {
            let mut resp = oidc::code_redirect(state, &pending, &code);
            resp.cookie(browser::cookie(
                state,
                SESSION_COOKIE,
                cookie,
                Some(state.config.session.max_age_secs),
            ));
            resp.finish()
        }
        Err(e) => unavailable(&e),
    }
}
