//! The login page and the PIN forms. A login flow (started by /authorize) is bound to the
//! browser cookie and carries a CSRF token that every form must echo; a completed login
//! starts the browser session and sends the browser back to the client with a code.

use super::browser::{self, BROWSER_COOKIE, SESSION_COOKIE};
use super::oidc;
use super::pages::{self, ChangeWhy, LoginInput};
use crate::AppState;
use crate::db::{self, DbConn, DbError};
use crate::login::LoginOutcome;
use crate::login::pin::{self as pin_login, PinStep};
use crate::oauth::params::Params;
use crate::oauth::session::{self, BrowserSession, LoginFlow};
use crate::person::codice_fiscale::CodiceFiscale;
use crate::pin::credential::{self, ChangeReason, Lockout, PinError, PinLogin};
use crate::web::forms::FormErrors;
use crate::web::italian;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

fn unavailable(state: &AppState, e: &dyn std::fmt::Display) -> HttpResponse {
    pages::unavailable(state, e, "login step")
}

pub(super) fn flow_gone(state: &AppState) -> HttpResponse {
    pages::error_page(
        state,
        StatusCode::BAD_REQUEST,
        "Pagina di accesso scaduta",
        "La pagina di accesso è scaduta (dopo qualche minuto senza attività) o è stata aperta \
         in un altro browser. Torna al servizio da cui sei partito e accedi di nuovo, oppure \
         entra dalla tua area personale.",
    )
}

/// One error of a login form, on `field` ("" for the summary only).
fn one_error(field: &str, message: impl Into<String>) -> FormErrors {
    let mut e = FormErrors::default();
    e.add(field, message);
    e
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

async fn render_login(
    state: &AppState,
    flow: &LoginFlow,
    status: StatusCode,
    errors: FormErrors,
    codice_fiscale: &str,
) -> HttpResponse {
    let name = client_name(state, &flow.client_id).await;
    pages::login(
        state,
        flow,
        status,
        LoginInput {
            client_name: &name,
            errors,
            codice_fiscale,
        },
    )
}

/// The PIN change form; an expired PIN's page says its validity (citizen or intermediary).
async fn render_change(
    state: &AppState,
    flow: &LoginFlow,
    status: StatusCode,
    errors: FormErrors,
) -> HttpResponse {
    let why = if flow.pending_reason.as_deref() == Some(ChangeReason::Initial.as_str()) {
        ChangeWhy::Initial
    } else {
        let holder = match flow
            .pending_codice_fiscale
            .as_deref()
            .and_then(|cf| CodiceFiscale::parse(cf).ok())
        {
            Some(cf) => db::run(&state.db, move |c| credential::status(c, &cf))
                .await
                .ok()
                .flatten()
                .map(|s| s.holder),
            None => None,
        };
        let pin = &state.config.pin;
        ChangeWhy::Expired {
            validity_days: if holder.as_deref() == Some(crate::pin::Holder::Intermediario.as_str())
            {
                pin.intermediary_validity_days
            } else {
                pin.citizen_validity_days
            },
        }
    };
    pages::pin_change(state, flow, why, status, errors)
}

/// GET /login?flow=…
pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let params = Params::parse(req.query_string()).unwrap_or_default();
    match browser_flow(&state, &req, params.get("flow")).await {
        Ok(Some(flow)) if flow.pending_codice_fiscale.is_some() => {
            render_change(&state, &flow, StatusCode::OK, FormErrors::default()).await
        }
        Ok(Some(flow)) => {
            render_login(&state, &flow, StatusCode::OK, FormErrors::default(), "").await
        }
        Ok(None) => flow_gone(&state),
        Err(e) => unavailable(&state, &e),
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
        Ok(None) => return Err(flow_gone(state)),
        Err(e) => return Err(unavailable(state, &e)),
    };
    if !params.get("csrf").is_some_and(|t| flow.csrf_matches(t)) {
        return Err(pages::error_page(
            state,
            StatusCode::FORBIDDEN,
            "Richiesta non valida",
            "Il modulo inviato non proviene dalla pagina di accesso dell'INPS: riapri la \
             pagina di accesso dal servizio che stavi usando e riprova.",
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
            one_error("", "Questo servizio non accetta l'accesso con il PIN: scegli un altro modo di accesso."),
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
            one_error(
                "",
                format!(
                    "Troppi tentativi da questo dispositivo. Riprova tra {}.",
                    italian::seconds(wait.secs())
                ),
            ),
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
                one_error("codice_fiscale", italian::codice_fiscale_error(&e)),
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
            // A PIN that cannot reach the level this service asks for (an ordinario PIN where
            // a dispositivo one is needed) is not worth changing here: say so first.
            let cf = codice_fiscale.as_str().to_owned();
            let pin_type = db::run(&state.db, move |c| credential::pin_type(c, &cf)).await;
            if let (Ok(Some(t)), Some(min)) = (pin_type, flow.acr_min())
                && !pin_login::level(t).satisfies(min)
            {
                return render_login(
                    &state,
                    &flow,
                    StatusCode::FORBIDDEN,
                    one_error(
                        "",
                        "Il tuo PIN è ordinario: questo servizio richiede un PIN dispositivo, \
                         SPID, CIE o CNS. Puoi convertire il PIN in dispositivo presso una sede \
                         INPS, oppure accedere in un altro modo.",
                    ),
                    codice_fiscale.as_str(),
                )
                .await;
            }
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
                    render_change(&state, &flow, StatusCode::OK, FormErrors::default()).await
                }
                Err(e) => unavailable(&state, &e),
            }
        }
        Ok(PinStep::Refused(refusal)) => {
            let (status, field, message) = match refusal {
                PinLogin::Locked { until }
                | PinLogin::Rejected {
                    lockout: Some(Lockout::Locked { until }),
                } => (StatusCode::FORBIDDEN, "", {
                    let minutes = ((until - now).num_seconds() + 59).max(60) / 60;
                    format!(
                        "Il PIN è bloccato per troppi tentativi errati. Riprova tra {}, \
                             oppure recupera il PIN con «Hai dimenticato il PIN?».",
                        italian::minutes(u64::try_from(minutes).unwrap_or(1))
                    )
                }),
                PinLogin::Blocked
                | PinLogin::Rejected {
                    lockout: Some(Lockout::Blocked),
                } => (
                    StatusCode::FORBIDDEN,
                    "",
                    "Il PIN è bloccato per troppi tentativi errati: recuperalo con «Hai \
                     dimenticato il PIN?» oppure richiedine uno nuovo."
                        .to_owned(),
                ),
                PinLogin::Deactivated => (
                    StatusCode::FORBIDDEN,
                    "",
                    format!(
                        "Il PIN è stato disattivato perché non è stato usato entro {} dal \
                         rilascio: richiedine uno nuovo con «Richiedi il PIN».",
                        italian::days(u64::from(state.config.pin.citizen_validity_days))
                    ),
                ),
                _ => (StatusCode::UNAUTHORIZED, "pin", wrong.to_owned()),
            };
            render_login(
                &state,
                &flow,
                status,
                one_error(field, message),
                codice_fiscale.as_str(),
            )
            .await
        }
        Err(e) => unavailable(&state, &e),
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
            one_error("", "Accedi prima con il tuo PIN attuale."),
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
            &state,
            &flow,
            StatusCode::BAD_REQUEST,
            one_error(
                "confirm_pin",
                "I due PIN inseriti non coincidono: scrivi lo stesso PIN due volte.",
            ),
        )
        .await;
    }
    let now = state.clock.now();
    match pin_login::change_and_complete(&state, &codice_fiscale, new_pin, now).await {
        Ok(outcome) => complete(&state, flow, outcome).await,
        Err(PinError::Rule(v)) => {
            render_change(
                &state,
                &flow,
                StatusCode::BAD_REQUEST,
                one_error("new_pin", v.to_string()),
            )
            .await
        }
        // A parallel post of this form (a double click) changed the PIN first.
        Err(PinError::NoCredential) => pages::error_page(
            &state,
            StatusCode::CONFLICT,
            "PIN già cambiato",
            "Il PIN è già stato cambiato da un altro invio di questo modulo (per esempio un \
             doppio clic). Torna al servizio da cui sei partito e accedi con il nuovo PIN.",
        ),
        Err(PinError::SameAsCurrent) => {
            render_change(
                &state,
                &flow,
                StatusCode::BAD_REQUEST,
                one_error(
                    "new_pin",
                    "Il nuovo PIN deve essere diverso da quello attuale.",
                ),
            )
            .await
        }
        Err(e) => unavailable(&state, &e),
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
            let mut resp = pages::logged_in(state);
            let _ = resp.add_cookie(&browser::cookie(
                state,
                SESSION_COOKIE,
                cookie,
                Some(state.config.session.max_age_secs),
            ));
            resp
        }
        Err(e) => unavailable(state, &e),
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
        return pages::error_page_with(
            state,
            StatusCode::FORBIDDEN,
            "Livello di sicurezza insufficiente",
            &format!(
                "Il servizio richiede un accesso con {}: quello che hai usato non basta. \
                 Torna al servizio e accedi in uno di questi modi.",
                crate::web::login::level_text(min)
            ),
            vec![crate::web::Link::new(
                format!("/login?flow={}", flow.id),
                "Torna alla pagina di accesso e scegli un altro modo",
            )],
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
        Ok(None) => return flow_gone(state),
        Err(e) => return unavailable(state, &e),
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
        Err(e) => unavailable(state, &e),
    }
}
