//! The HTML pages the login broker answers with, as the OpenID Connect, SPID and PIN handlers
//! call them. Thin wrappers: the pages themselves are askama templates in [`crate::web`].

use crate::AppState;
use crate::web::{self, Link};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;

pub use crate::web::login::{ChangeWhy, LoginInput, LogoutProblem};

/// An error the person can read, with the next steps and the contact centre.
pub fn error_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
) -> HttpResponse {
    web::errors::page(state, status, title, message, web::errors::login_links())
}

/// The same, with next steps of the caller's choice.
pub fn error_page_with(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    next: Vec<Link>,
) -> HttpResponse {
    web::errors::page(state, status, title, message, next)
}

/// A failure on procura's side: logged with its cause, shown without it.
pub fn unavailable(state: &AppState, cause: &dyn std::fmt::Display, what: &str) -> HttpResponse {
    web::errors::unavailable(state, cause, what)
}

pub fn logged_in(state: &AppState) -> HttpResponse {
    web::login::logged_in(state)
}

pub fn logged_out(state: &AppState) -> HttpResponse {
    web::login::logged_out(state)
}

pub fn logout_confirm(state: &AppState, csrf: &str, carried: &[(&str, &str)]) -> HttpResponse {
    web::login::logout_confirm(state, csrf, carried)
}

pub fn logout_failed(state: &AppState, problem: LogoutProblem, ended: bool) -> HttpResponse {
    web::login::logout_failed(state, problem, ended)
}

pub fn auto_post(state: &AppState, action: &str, fields: &[(&str, &str)]) -> HttpResponse {
    web::login::auto_post(state, action, fields)
}

pub fn login(
    state: &AppState,
    flow: &crate::oauth::session::LoginFlow,
    status: StatusCode,
    input: LoginInput<'_>,
) -> HttpResponse {
    web::login::login_page(state, flow, status, input)
}

pub fn pin_change(
    state: &AppState,
    flow: &crate::oauth::session::LoginFlow,
    why: ChangeWhy,
    status: StatusCode,
    errors: web::forms::FormErrors,
) -> HttpResponse {
    web::login::pin_change_page(state, flow, why, status, errors)
}

/// The courtesy page of a CIE SAML login the IdP answered with a user anomaly (21, 22, 23,
/// 25), or a generic one; the way back is the login again and the CIE information site.
pub fn cie_anomaly(state: &AppState, code: u8) -> HttpResponse {
    let next = vec![
        Link::new("/area-personale", "Riprova ad accedere"),
        Link::new(
            state.config.web.cie_info_url.clone(),
            "Informazioni sulla Carta d'Identità Elettronica",
        ),
    ];
    let (title, text) = web::errors::cie_anomaly(code).unwrap_or((
        "Accesso non riuscito",
        "L'accesso con la CIE non è stato completato. Riprova; se il problema continua, \
         accedi in un altro modo.",
    ));
    error_page_with(state, StatusCode::FORBIDDEN, title, text, next)
}

/// The courtesy page of a SPID login the IdP answered with a user anomaly (nr19–nr30), or
/// a generic one.
pub fn spid_anomaly(state: &AppState, code: Option<u8>) -> HttpResponse {
    let next = vec![
        Link::new("/area-personale", "Riprova ad accedere"),
        Link::new(
            state.config.web.spid_help_url.clone(),
            "Serve aiuto con SPID?",
        ),
    ];
    match code.and_then(web::errors::spid_anomaly) {
        Some((title, text)) => error_page_with(state, StatusCode::FORBIDDEN, title, text, next),
        None => error_page_with(
            state,
            StatusCode::FORBIDDEN,
            "Accesso non riuscito",
            "Il gestore di identità non ha completato l'autenticazione. Riprova ad accedere; se \
             il problema continua, scegli un altro gestore o un altro modo di accesso.",
            next,
        ),
    }
}

/// A `429` page with `Retry-After` when `limiter` refuses the caller's address; for the
/// anonymous login entries, checked before they do any work.
pub fn over_limit(
    state: &AppState,
    limiter: &crate::rate_limit::RateLimiter,
    req: &actix_web::HttpRequest,
) -> Option<HttpResponse> {
    let wait = limiter
        .check(super::browser::client_ip(req), std::time::Instant::now())
        .err()?;
    let mut resp = error_page(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        "Troppe richieste",
        &format!(
            "Sono stati avviati troppi accessi da questo dispositivo. Riprova tra {}.",
            web::italian::seconds(wait.secs())
        ),
    );
    resp.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(wait.secs()),
    );
    Some(resp)
}
