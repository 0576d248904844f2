//! The contact centre's inbound phone request (`contact_center`): a caller asks for a PIN on
//! the phone and the operator types the request. The same domain function as
//! `POST /v1/operator/pin/inbound` (`pin::issuance::submit` with the contact-centre channel
//! and the operator as actor: the same checks, audit and outbox). When the checks pass the
//! PIN is issued and the first half is shown once to read to the caller; otherwise the
//! request waits in the call-back queue.

use super::contact_center::FirstHalfPage;
use super::guard::{self, Desk};
use super::{Frame, render, unavailable};
use crate::AppState;
use crate::oauth::params::Params;
use crate::operator::Role;
use crate::pin::issuance::{self, IssuanceError, SubmitOutcome};
use crate::pin::request::{RequestChannel, RequestForm};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

pub const PATH: &str = "/console/contact-center/richiesta-telefonica";

/// The form's text fields: (name, label).
const FIELDS: [(&str, &str); 10] = [
    ("codice_fiscale", "Codice fiscale"),
    ("given_name", "Nome"),
    ("family_name", "Cognome"),
    ("birth_date", "Data di nascita (gg/mm/aaaa)"),
    ("address", "Indirizzo di residenza"),
    ("postal_code", "CAP"),
    ("municipality", "Comune"),
    ("province", "Provincia (sigla)"),
    ("mobile", "Cellulare"),
    ("email", "E-mail"),
];

pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "console/cc_inbound.html")]
struct Page<'a> {
    frame: Frame<'a>,
    csrf: String,
    fields: Vec<Field>,
    channel: String,
    without_italian_id: bool,
    errors: Vec<String>,
    /// The request registered: what happened to it.
    queued: Option<String>,
}

fn label(name: &str) -> &'static str {
    match name {
        "pec" => "PEC",
        "first_half_channel" => "Dove inviare la prima metà",
        _ => FIELDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| *l)
            .unwrap_or("Richiesta"),
    }
}

fn page(
    state: &AppState,
    desk: &Desk,
    status: StatusCode,
    form: Option<&Params>,
    errors: Vec<String>,
    queued: Option<String>,
) -> HttpResponse {
    let get = |n: &str| {
        form.and_then(|f| f.get(n))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    render(
        status,
        &Page {
            frame: desk.frame(
                state,
                "Contact center: richiesta di PIN al telefono",
                super::contact_center::PATH,
            ),
            csrf: desk.session.csrf_token.clone(),
            fields: FIELDS
                .iter()
                .map(|(name, label)| Field {
                    name,
                    label,
                    value: if queued.is_some() {
                        String::new()
                    } else {
                        get(name)
                    },
                })
                .collect(),
            channel: get("first_half_channel"),
            without_italian_id: queued.is_none() && get("without_italian_id_document") == "1",
            errors,
            queued,
        },
    )
}

/// `GET /console/contact-center/richiesta-telefonica`
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match guard::require(&state, &req, Some(Role::ContactCenter)).await {
        Ok(desk) => page(&state, &desk, StatusCode::OK, None, vec![], None),
        Err(resp) => resp,
    }
}

/// gg/mm/aaaa (or aaaa-mm-gg) → aaaa-mm-gg, as the domain form expects.
fn iso_date(text: &str) -> String {
    let t = text.trim();
    match t.split(['/', '-', '.']).collect::<Vec<_>>().as_slice() {
        [d, m, y] if y.len() == 4 => format!("{y}-{m:0>2}-{d:0>2}"),
        _ => t.to_owned(),
    }
}

/// `POST /console/contact-center/richiesta-telefonica`
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (desk, form) =
        match guard::require_form(&state, &req, &body, Some(Role::ContactCenter)).await {
            Ok(found) => found,
            Err(resp) => return resp,
        };
    let value = |n: &str| form.get(n).unwrap_or_default().trim().to_owned();
    let optional = |n: &str| Some(value(n)).filter(|v| !v.is_empty());
    let parsed = RequestForm {
        codice_fiscale: value("codice_fiscale").to_uppercase(),
        given_name: value("given_name"),
        family_name: value("family_name"),
        birth_date: iso_date(&value("birth_date")),
        address: value("address"),
        postal_code: value("postal_code"),
        municipality: value("municipality"),
        province: value("province"),
        mobile: optional("mobile"),
        email: optional("email"),
        pec: None,
        first_half_channel: value("first_half_channel"),
        requester: None,
        without_italian_id_document: value("without_italian_id_document") == "1",
    }
    .parse();
    let data = match parsed {
        Ok(d) => d,
        Err(list) => {
            let errors = list
                .iter()
                .map(|e| format!("{}: {}.", label(e.field), e.reason))
                .collect();
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return page(&state, &desk, status, Some(&form), errors, None);
        }
    };
    let name = format!("{} {}", data.given_name, data.family_name);
    let actor = issuance::Actor::Operator(desk.operator.id.clone());
    let now = state.clock.now();
    match issuance::submit(&state, data, RequestChannel::ContactCenter, actor, now).await {
        Ok(submitted) => match submitted.outcome {
            SubmitOutcome::Issued {
                first_half: Some(half),
            } => render(
                StatusCode::OK,
                &FirstHalfPage {
                    frame: desk.frame(
                        &state,
                        "Leggi ora la prima metà del PIN",
                        super::contact_center::PATH,
                    ),
                    reference: submitted.reference,
                    name,
                    half,
                },
            ),
            SubmitOutcome::Issued { first_half: None } => {
                let done = format!(
                    "Richiesta {}: il PIN è attivo, le due metà arrivano per posta e ai recapiti indicati.",
                    submitted.reference
                );
                page(&state, &desk, StatusCode::OK, None, vec![], Some(done))
            }
            SubmitOutcome::Queued { .. } => {
                let done = format!(
                    "Richiesta {} registrata: i dati non corrispondono del tutto agli archivi, la \
                     richiesta è nella coda delle chiamate di verifica.",
                    submitted.reference
                );
                page(&state, &desk, StatusCode::OK, None, vec![], Some(done))
            }
        },
        Err(e) => {
            let text = match e {
                IssuanceError::PinAlreadyActive => "La persona ha già un PIN attivo.".to_owned(),
                IssuanceError::RequestPending => {
                    "Una richiesta per questa persona è già in attesa del contact center."
                        .to_owned()
                }
                IssuanceError::NotInRegistry => {
                    "Il codice fiscale non risulta negli archivi INPS.".to_owned()
                }
                IssuanceError::Refused(r) => format!("Il PIN non può essere rilasciato: {r}"),
                other => return unavailable(&state, &other, "inbound PIN request"),
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            page(&state, &desk, status, Some(&form), vec![text], None)
        }
    }
}
