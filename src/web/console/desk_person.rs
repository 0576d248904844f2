//! A person's delegations at the branch desk (`sportello`): every delegation where the
//! person is delegator or delegate, with its documents, and the revocation by reason of one
//! still active or waiting (both parties notified). The same domain functions as
//! `GET /v1/operator/delegations` and `POST /v1/operator/delegations/{id}/revoke`
//! (`registry::involving`, `documents_of`, `revoke_by_operator`), with the same audit
//! (`delegation.looked_up`, the person as subject; `delegation.revoked`).

use super::desk_delegations::{delegation_error_text, document_text};
use super::guard::{self, Desk};
use super::{Frame, audit_read, render, time_text, unavailable};
use crate::AppState;
use crate::db;
use crate::delegation::registry::{self, DelegationError};
use crate::operator::Role;
use crate::person::CodiceFiscale;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

pub const PATH: &str = "/console/sportello/persona";

/// One delegation as listed.
pub struct Row {
    pub id: String,
    pub kind: &'static str,
    /// What the person is in it.
    pub role: &'static str,
    pub other: String,
    pub channel: &'static str,
    pub status: &'static str,
    pub period: String,
    pub end_reason: Option<String>,
    pub documents: String,
    /// Active or waiting: it can be revoked.
    pub revocable: bool,
}

#[derive(Template)]
#[template(path = "console/desk_person.html")]
struct Page<'a> {
    frame: Frame<'a>,
    csrf: String,
    codice_fiscale: String,
    notice: Option<&'static str>,
    errors: Vec<String>,
    /// Looked up: the rows (maybe none).
    rows: Option<Vec<Row>>,
}

fn kind_text(k: &str) -> &'static str {
    match k {
        "fiducia" => "delega di fiducia",
        "tutore" => "tutore",
        "curatore" => "curatore",
        "amministratore_di_sostegno" => "amministratore di sostegno",
        "genitore" => "genitore",
        _ => "altro",
    }
}

fn channel_text(c: &str) -> &'static str {
    match c {
        "online" => "online",
        "online_genitore" => "online (genitore)",
        "sportello_aa08" => "sportello, AA08",
        "sportello_aa09" => "sportello, AA09",
        "sportello_aa10" => "sportello, AA10",
        "pec" => "PEC",
        "web_meeting" => "web meeting",
        _ => "altro",
    }
}

fn status_text(s: &str) -> &'static str {
    match s {
        "pending_verification" => "in attesa di verifica",
        "active" => "attiva",
        "revoked" => "revocata",
        "renounced" => "rinunciata",
        "expired" => "scaduta",
        _ => "altro",
    }
}

async fn page(
    state: &AppState,
    desk: &Desk,
    status: StatusCode,
    code: String,
    notice: Option<&'static str>,
    mut errors: Vec<String>,
) -> HttpResponse {
    let frame = desk.frame(
        state,
        "Sportello: le deleghe di una persona",
        super::desk::PATH,
    );
    let csrf = desk.session.csrf_token.clone();
    let mut status = status;
    let rows = match code.as_str() {
        "" => None,
        text => match CodiceFiscale::parse(text) {
            Err(e) => {
                errors.push(format!(
                    "Codice fiscale: {}",
                    crate::web::italian::codice_fiscale_error(&e)
                ));
                status = StatusCode::UNPROCESSABLE_ENTITY;
                None
            }
            Ok(cf) => match rows_of(state, desk, cf).await {
                Ok(rows) => Some(rows),
                Err(resp) => return resp,
            },
        },
    };
    render(
        status,
        &Page {
            frame,
            csrf,
            codice_fiscale: code,
            notice,
            errors,
            rows,
        },
    )
}

/// The person's delegations, the read audited.
async fn rows_of(
    state: &AppState,
    desk: &Desk,
    cf: CodiceFiscale,
) -> Result<Vec<Row>, HttpResponse> {
    let code = cf.as_str().to_owned();
    let found = db::run(&state.db, move |c| {
        let list = registry::involving(c, &code)?;
        let mut out = Vec::with_capacity(list.len());
        for d in list {
            let docs = registry::documents_of(c, &d.id)?;
            out.push((d, docs));
        }
        Ok::<_, db::DbError>(out)
    })
    .await
    .map_err(|e| unavailable(state, &e, "delegations of a person"))?;
    audit_read(
        state,
        desk,
        "delegation.looked_up",
        Some(cf.as_str().to_owned()),
        json!({ "results": found.len() }),
    )
    .await
    .map_err(|e| unavailable(state, &e, "delegations look-up audit"))?;
    Ok(found
        .into_iter()
        .map(|(d, docs)| {
            let is_delegator = d.delegator_cf == cf.as_str();
            let representation = d.kind().is_some_and(|k| k.is_representation());
            let (role, other) = match (is_delegator, representation) {
                (true, false) => ("delegante", format!("delegato {}", d.delegate_cf)),
                (true, true) => ("rappresentato", format!("rappresentante {}", d.delegate_cf)),
                (false, false) => ("delegato", format!("delegante {}", d.delegator_cf)),
                (false, true) => (
                    "rappresentante",
                    format!("rappresentato {}", d.delegator_cf),
                ),
            };
            let until = d
                .ended_at
                .or(d.ends_at)
                .map(|t| format!(" al {}", time_text(state, t.and_utc())))
                .unwrap_or_default();
            let revocable = matches!(d.status.as_str(), "active" | "pending_verification");
            Row {
                kind: kind_text(&d.kind),
                role,
                other,
                channel: channel_text(&d.channel),
                status: status_text(&d.status),
                period: format!("dal {}{until}", time_text(state, d.starts_at.and_utc())),
                end_reason: d.end_reason.clone(),
                documents: if docs.is_empty() {
                    "nessuno".into()
                } else {
                    docs.iter()
                        .map(|(k, _, _)| document_text(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                revocable,
                id: d.id,
            }
        })
        .collect())
}

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    codice_fiscale: String,
    #[serde(default)]
    esito: String,
}

/// `GET /console/sportello/persona?codice_fiscale=…`
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ShowQuery>,
) -> HttpResponse {
    let desk = match guard::require(&state, &req, Some(Role::Sportello)).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let notice = (query.esito == "revocata")
        .then_some("Delega revocata: delegante e delegato ricevono la comunicazione.");
    let code = query.codice_fiscale.trim().to_uppercase();
    page(&state, &desk, StatusCode::OK, code, notice, vec![]).await
}

/// `POST /console/sportello/deleghe/{id}/revoca`: `reason` (told to both parties) and the
/// `codice_fiscale` of the page to go back to.
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (desk, form) = match guard::require_form(&state, &req, &body, Some(Role::Sportello)).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let back = form
        .get("codice_fiscale")
        .and_then(|c| CodiceFiscale::parse(c).ok())
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    let reason = form.get("reason").unwrap_or_default().trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 300 {
        let errors = vec!["Scrivi il motivo della revoca (al massimo 300 caratteri).".into()];
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return page(&state, &desk, status, back, None, errors).await;
    }
    let (s, op, now, id) = (
        state.get_ref().clone(),
        desk.operator.id.clone(),
        state.clock.now(),
        id.into_inner(),
    );
    let revoked = db::run(&state.db, move |c| {
        registry::revoke_by_operator(c, &s, &op, &id, &reason, now)
    })
    .await;
    match revoked {
        Ok(d) => {
            let cf = if back.is_empty() {
                d.delegator_cf
            } else {
                back
            };
            crate::web::redirect(&format!("{PATH}?codice_fiscale={cf}&esito=revocata"))
        }
        Err(DelegationError::Db(e)) => unavailable(&state, &e, "desk revocation"),
        Err(e) => {
            let status = if matches!(e, DelegationError::NotFound) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::CONFLICT
            };
            let errors = vec![format!(
                "La delega non è stata revocata: {}.",
                delegation_error_text(e)
            )];
            page(&state, &desk, status, back, None, errors).await
        }
    }
}
