//! The contact centre's check of a caller's temporary phone PIN (`contact_center`): the
//! person created it in their personal area and reads it out on the phone; the operator
//! types it with the caller's codice fiscale and sees whether it is right. The same domain
//! function as `POST /v1/operator/pin/phone-check` (`pin::phone::check`: an attempt reserved
//! before the check, the phone PIN blocked after too many wrong codes, audited).

use super::guard::{self, Desk};
use super::{Frame, render, time_text, unavailable};
use crate::AppState;
use crate::operator::Role;
use crate::person::CodiceFiscale;
use crate::pin::phone::{self, PHONE_PIN_LENGTH, PhoneCheck};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

pub const PATH: &str = "/console/contact-center/pin-telefonico";

#[derive(Template)]
#[template(path = "console/cc_phone.html")]
struct Page<'a> {
    frame: Frame<'a>,
    csrf: String,
    codice_fiscale: String,
    errors: Vec<String>,
    /// The answer: tone and text.
    outcome: Option<(&'static str, String)>,
}

fn page(
    state: &AppState,
    desk: &Desk,
    status: StatusCode,
    codice_fiscale: String,
    errors: Vec<String>,
    outcome: Option<(&'static str, String)>,
) -> HttpResponse {
    render(
        status,
        &Page {
            frame: desk.frame(
                state,
                "Contact center: verifica del PIN telefonico",
                super::contact_center::PATH,
            ),
            csrf: desk.session.csrf_token.clone(),
            codice_fiscale,
            errors,
            outcome,
        },
    )
}

/// `GET /console/contact-center/pin-telefonico`
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match guard::require(&state, &req, Some(Role::ContactCenter)).await {
        Ok(desk) => page(&state, &desk, StatusCode::OK, String::new(), vec![], None),
        Err(resp) => resp,
    }
}

/// `POST /console/contact-center/pin-telefonico`: `codice_fiscale`, `code`.
pub async fn check(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (desk, form) =
        match guard::require_form(&state, &req, &body, Some(Role::ContactCenter)).await {
            Ok(found) => found,
            Err(resp) => return resp,
        };
    let typed = form
        .get("codice_fiscale")
        .unwrap_or_default()
        .trim()
        .to_uppercase();
    let code: String = form
        .get("code")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut errors = Vec::new();
    let cf = match CodiceFiscale::parse(&typed) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(format!(
                "Codice fiscale: {}",
                crate::web::italian::codice_fiscale_error(&e)
            ));
            None
        }
    };
    // The format is public: a code that cannot be one does not spend the caller's attempts.
    if code.len() != PHONE_PIN_LENGTH || !code.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(format!(
            "Il PIN telefonico ha {PHONE_PIN_LENGTH} cifre: chiedi alla persona di rileggerlo."
        ));
    }
    let (Some(cf), true) = (cf, errors.is_empty()) else {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return page(&state, &desk, status, typed, errors, None);
    };
    let answer = phone::check(&state, &desk.operator.id, &cf, &code, state.clock.now()).await;
    let outcome = match answer {
        Ok(PhoneCheck::Valid { expires_at }) => (
            "success",
            format!(
                "Il PIN telefonico è corretto: la persona è identificata (il PIN vale fino al {}).",
                time_text(&state, expires_at)
            ),
        ),
        Ok(PhoneCheck::Invalid) => (
            "warning",
            "Il PIN telefonico non è corretto, è scaduto, o la persona non ne ha uno: la persona \
             non è identificata."
                .to_owned(),
        ),
        Ok(PhoneCheck::Exhausted) => (
            "danger",
            "Troppi PIN telefonici errati: questo PIN non funziona più. La persona deve crearne \
             uno nuovo nella propria area personale."
                .to_owned(),
        ),
        Err(e) => return unavailable(&state, &e, "phone PIN check"),
    };
    page(&state, &desk, StatusCode::OK, typed, vec![], Some(outcome))
}
