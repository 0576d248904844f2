//! The operator console (`/console`): the pages contact-centre, branch-desk, web-meeting and
//! administration staff work in, server-rendered on the citizen pages' templates and assets.
//!
//! - **Login**: the console is a confidential OpenID Connect client of procura itself
//!   ([`login::CLIENT_ID`], registered on first use and by `migrate`, its secret derived from
//!   the audit key so every instance knows it). It asks the broker for `openid operator` at
//!   `operator.min_level`, redeems the code with its secret, and takes the operator's roles
//!   from the access token's `roles` claim.
//! - **Session**: its own, server-side ([`session`]), cookie `procura_console` (path
//!   `/console`, HttpOnly, SameSite=Lax); ended by logout (which also ends the broker's
//!   single sign-on), after `operator.console_idle_timeout_secs` without a request, or at
//!   `operator.console_max_age_secs`.
//! - **Every request** ([`guard`]): the session, then the operator record *now* — a disabled
//!   operator is out on the next click; the roles shown are the token's that the operator
//!   still holds; the grant must not have been revoked.
//! - **Every form** carries the session's CSRF token; every page is `no-store` with a strict
//!   policy (no script, forms only to procura).
//! - **Actions** call the same domain functions as `/v1/operator/*`, with the operator as the
//!   audit actor; reading a person's data is audited as the API audits it.

pub mod admin;
pub mod admin_audit;
pub mod admin_clients;
pub mod admin_operators;
pub mod admin_spid;
pub mod cc_booking;
pub mod cc_inbound;
pub mod cc_phone;
pub mod contact_center;
pub mod desk;
pub mod desk_delegations;
pub mod desk_person;
pub mod guard;
pub mod home;
pub mod login;
pub mod session;
pub mod web_meeting;

use super::Link;
use crate::AppState;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

/// The sections built so far (the navigation shows only these).
pub const SECTIONS_BUILT: &[&str] = &[
    contact_center::PATH,
    desk::PATH,
    web_meeting::PATH,
    admin::PATH,
];

/// The console's content security policy: no script, styles and fonts from procura, forms
/// posted to procura only.
pub const CSP: &str = "default-src 'none'; style-src 'self'; font-src 'self'; \
                       img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'";

/// One entry of the console's navigation.
pub struct NavItem {
    pub href: &'static str,
    pub text: &'static str,
    pub current: bool,
}

/// The frame of every console page: title, assets, the operator and the navigation.
pub struct Frame<'a> {
    pub title: String,
    pub bootstrap_css: Option<&'a str>,
    pub procura_css: &'a str,
    pub accessibility_url: &'a str,
    pub privacy_url: &'a str,
    pub legal_notes_url: &'a str,
    /// The operator logged in and the session's CSRF token (for the logout form).
    pub operator: Option<(String, String)>,
    pub nav: Vec<NavItem>,
}

impl<'a> Frame<'a> {
    pub fn new(state: &'a AppState, title: impl Into<String>) -> Self {
        let web = &state.config.web;
        Self {
            title: title.into(),
            bootstrap_css: state.assets.bootstrap_css.as_deref(),
            procura_css: &state.assets.procura_css,
            accessibility_url: &web.accessibility_url,
            privacy_url: &web.privacy_url,
            legal_notes_url: &web.legal_notes_url,
            operator: None,
            nav: Vec::new(),
        }
    }
}

/// A result or an error, with the ways on.
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct MessagePage<'a> {
    pub frame: Frame<'a>,
    /// `danger`, `success`, `info`, `warning`.
    pub tone: &'static str,
    pub paragraphs: Vec<String>,
    pub next: Vec<Link>,
}

/// Renders a console page with the console's headers.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    super::render_with_csp(status, page, CSP)
}

/// A message page outside a session (login refused, logged out, …).
pub fn message(
    state: &AppState,
    status: StatusCode,
    title: &str,
    tone: &'static str,
    paragraphs: &[&str],
    next: Vec<Link>,
) -> HttpResponse {
    render(
        status,
        &MessagePage {
            frame: Frame::new(state, title),
            tone,
            paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
            next,
        },
    )
}

/// "Something failed on our side": a 503 page, logged.
pub fn unavailable(state: &AppState, cause: &dyn std::fmt::Display, what: &str) -> HttpResponse {
    tracing::error!(error = %cause, what, "operator console failed");
    message(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "Servizio non disponibile",
        "danger",
        &["La console non riesce a completare l'operazione ora. Riprova tra qualche minuto."],
        vec![Link::new("/console", "Torna alla console")],
    )
}

/// A time as operators read it: Europe/Rome (`booking.default_time_zone`), `dd/mm/yyyy HH:MM`.
pub fn time_text(state: &AppState, t: chrono::DateTime<chrono::Utc>) -> String {
    let tz: chrono_tz::Tz = state
        .config
        .booking
        .default_time_zone
        .parse()
        .unwrap_or(chrono_tz::Europe::Rome);
    t.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string()
}

/// Records that an operator read personal data, as the operator API records it (same
/// actions): actor the operator, on behalf of the person when there is one.
pub async fn audit_read(
    state: &AppState,
    desk: &guard::Desk,
    action: &'static str,
    subject: Option<String>,
    detail: serde_json::Value,
) -> Result<(), crate::db::DbError> {
    use crate::audit::{self, Event, Outcome, Party};
    let acting = desk.acting();
    let (key, now) = (state.audit_key.clone(), state.clock.now());
    crate::db::run(&state.db, move |c| {
        let mut event = Event::new(acting.actor, action, Outcome::Success).detail(detail);
        if let Some(cf) = subject.and_then(|s| crate::person::CodiceFiscale::parse(&s).ok()) {
            event = event.on_behalf_of(Party::person(&cf));
        }
        if let Some(id) = acting.request_id {
            event = event.request_id(id);
        }
        audit::append_alone(c, &key, now, event).map(|_| ())
    })
    .await
}
