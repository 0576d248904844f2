//! Administration (`admin`): the start page of the section, and what its pages share — the
//! guard for the role, the outcome notice, and a form error next to its field.
//!
//! The pages themselves: [`super::admin_operators`], [`super::admin_clients`],
//! [`super::admin_audit`], [`super::admin_spid`].

use super::guard::{self, Desk};
use super::{Frame, render, unavailable};
use crate::AppState;
use crate::oauth::params::Params;
use crate::operator::Role;
use crate::web::forms::FormErrors;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

pub const PATH: &str = "/console/amministrazione";

/// A page of the section for an admin, or the answer to give instead.
pub async fn require(state: &AppState, req: &HttpRequest) -> Result<Desk, HttpResponse> {
    guard::require(state, req, Some(Role::Admin)).await
}

/// A form post of the section: an admin, with the session's CSRF token.
pub async fn require_form(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Desk, Params), HttpResponse> {
    guard::require_form(state, req, body, Some(Role::Admin)).await
}

/// The outcome of an action, shown above the page it returns to.
pub struct Notice {
    /// `success`, `danger`, `warning`.
    pub tone: &'static str,
    pub text: String,
}

impl Notice {
    pub fn success(text: impl Into<String>) -> Option<Self> {
        Some(Self {
            tone: "success",
            text: text.into(),
        })
    }

    pub fn refused(text: impl Into<String>) -> Option<Self> {
        Some(Self {
            tone: "danger",
            text: text.into(),
        })
    }
}

/// What a field of a form holds, trimmed; empty when absent.
pub fn field(form: &Params, name: &str) -> String {
    form.get(name).map(str::trim).unwrap_or_default().to_owned()
}

/// The answer to a form the domain refused: the error beside its field (`explained`, the
/// field and its text) and the form drawn again by `redraw` (422); an error that is not the
/// caller's (`explained` is `None`) is the 503 page.
pub async fn refused_form(
    state: &AppState,
    cause: &dyn std::fmt::Display,
    explained: Option<(&'static str, String)>,
    what: &str,
    mut errors: FormErrors,
    redraw: impl AsyncFnOnce(FormErrors) -> HttpResponse,
) -> HttpResponse {
    match explained {
        Some((name, text)) => {
            errors.add(name, text);
            redraw(errors).await
        }
        None => unavailable(state, cause, what),
    }
}

#[derive(Template)]
#[template(path = "console/admin.html")]
struct AdminPage<'a> {
    frame: Frame<'a>,
}

/// `GET /console/amministrazione`: the section's pages.
pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match require(&state, &req).await {
        Ok(desk) => render(
            StatusCode::OK,
            &AdminPage {
                frame: desk.frame(&state, "Amministrazione", PATH),
            },
        ),
        Err(resp) => resp,
    }
}
