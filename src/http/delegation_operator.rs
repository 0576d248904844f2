//! `/v1/operator/delegations*`: delegations for branch-desk operators (`sportello`; look-ups
//! also for `contact_center` and `web_meeting`). English `detail`, except the refusal texts,
//! which operators read out to citizens (Italian). Reads are audited: operators see
//! personal data.

use super::auth::{OperatorPrincipal, json_body};
use super::delegation::{DelegationView, problem};
use super::multipart;
use super::problems::{Audience, parse_codice_fiscale};
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::db;
use crate::delegation::registry::{
    self, DelegationError, DocumentKind, OperatorRegistration, Verification,
};
use crate::delegation::{Channel, Delegation, Kind};
use crate::error::{ApiError, ProblemKind};
use crate::operator::Role;
use crate::person::CodiceFiscale;
use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

fn staff(e: DelegationError) -> ApiError {
    problem(e, Audience::Staff)
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(ProblemKind::ValidationFailed, detail)
}

/// A delegation with its evidence, as operators see it.
#[derive(Debug, Serialize)]
pub struct OperatorView {
    #[serde(flatten)]
    pub delegation: DelegationView,
    pub documents: Vec<DocumentView>,
}

#[derive(Debug, Serialize)]
pub struct DocumentView {
    pub kind: String,
    pub sha256: String,
    pub size_bytes: i64,
}

fn with_documents(
    c: &mut crate::db::DbConn,
    list: Vec<Delegation>,
) -> Result<Vec<OperatorView>, crate::db::DbError> {
    list.into_iter()
        .map(|d| {
            let documents = registry::documents_of(c, &d.id)?
                .into_iter()
                .map(|(kind, sha256, size_bytes)| DocumentView {
                    kind,
                    sha256,
                    size_bytes,
                })
                .collect();
            Ok(OperatorView {
                delegation: d.into(),
                documents,
            })
        })
        .collect()
}

/// Records that an operator read personal data (domain §3: operator access is traced).
pub(super) async fn audit_read(
    state: &AppState,
    who: &OperatorPrincipal,
    action: &'static str,
    subject: Option<CodiceFiscale>,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let acting = who.acting();
    let (key, now) = (state.audit_key.clone(), state.clock.now());
    db::run(&state.db, move |c| {
        let mut event = Event::new(acting.actor, action, Outcome::Success).detail(detail);
        if let Some(cf) = subject {
            event = event.on_behalf_of(Party::person(&cf));
        }
        if let Some(id) = acting.request_id {
            event = event.request_id(id);
        }
        audit::append_alone(c, &key, now, event)
    })
    .await?;
    Ok(())
}

/// The JSON part `registration` of a desk or PEC upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationForm {
    /// sportello_aa08 | sportello_aa09 | sportello_aa10 | pec
    pub channel: String,
    /// fiducia | tutore | curatore | amministratore_di_sostegno | genitore
    pub kind: String,
    pub delegator_codice_fiscale: String,
    pub delegate_codice_fiscale: String,
    pub ends_on: Option<NaiveDate>,
    pub decree_reference: Option<String>,
}

/// `POST /v1/operator/delegations` (sportello): multipart with the JSON part `registration`
/// and PDF parts named `aa08`, `aa09`, `aa10`, `delegator_id_document`,
/// `delegate_id_document`, `medical_certificate`, `decree`, `self_declaration`; each form
/// needs its own (see `registry::missing_document`).
pub async fn register(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::Sportello)?;
    let max = state.config.delegation.document_max_bytes;
    let upload = multipart::read(payload, "registration", max).await?;
    let json = upload
        .json
        .ok_or_else(|| invalid("The `registration` JSON part is missing."))?;
    let form: RegistrationForm = super::object::from_slice(&json).map_err(|e| {
        invalid(format!(
            "The `registration` part is not the expected JSON: {e}."
        ))
    })?;
    let channel = Channel::parse(&form.channel)
        .filter(|c| {
            matches!(
                c,
                Channel::SportelloAa08
                    | Channel::SportelloAa09
                    | Channel::SportelloAa10
                    | Channel::Pec
            )
        })
        .ok_or_else(|| {
            invalid("`channel` must be sportello_aa08, sportello_aa09, sportello_aa10 or pec.")
        })?;
    let kind = Kind::parse(&form.kind).ok_or_else(|| {
        invalid("`kind` must be fiducia, tutore, curatore, amministratore_di_sostegno or genitore.")
    })?;
    let delegator = parse_codice_fiscale(
        &form.delegator_codice_fiscale,
        Some("delegator_codice_fiscale"),
        Audience::Staff,
    )?;
    let delegate = parse_codice_fiscale(
        &form.delegate_codice_fiscale,
        Some("delegate_codice_fiscale"),
        Audience::Staff,
    )?;
    let mut documents = Vec::new();
    for (name, bytes) in upload.files {
        let kind = DocumentKind::parse(&name).ok_or_else(|| {
            invalid(format!(
                "Unknown part `{name}`: expected aa08, aa09, aa10, delegator_id_document, delegate_id_document, medical_certificate, decree or self_declaration."
            ))
        })?;
        documents.push(registry::check_document(kind, bytes, max).map_err(staff)?);
    }
    let now = state.clock.now();
    let s = state.clone();
    let operator_id = who.id().to_owned();
    let d = db::run(&state.db, move |c| {
        registry::register_by_operator(
            c,
            &s,
            &operator_id,
            OperatorRegistration {
                channel,
                kind,
                delegator,
                delegate,
                ends_on: form.ends_on,
                decree_reference: form.decree_reference,
                documents,
                recording_consented: false,
            },
            now,
        )
    })
    .await
    .map_err(staff)?;
    Ok(HttpResponse::Created().json(DelegationView::from(d)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    pub codice_fiscale: String,
}

impl LookupQuery {
    /// The codice fiscale looked up, or `400 invalid-query`.
    pub(super) fn person(&self) -> Result<CodiceFiscale, ApiError> {
        CodiceFiscale::parse(&self.codice_fiscale).map_err(|e| {
            ApiError::new(
                ProblemKind::InvalidQuery,
                format!("`codice_fiscale` is not valid: {e}."),
            )
        })
    }
}

/// `GET /v1/operator/delegations?codice_fiscale=…`: every delegation where the person is the
/// delegator or the delegate. Audited as a read.
pub async fn lookup(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, ApiError> {
    who.require_any(&[Role::Sportello, Role::ContactCenter, Role::WebMeeting])?;
    let cf = query.person()?;
    let code = cf.as_str().to_owned();
    let items = db::run(&state.db, move |c| {
        let list = registry::involving(c, &code)?;
        with_documents(c, list)
    })
    .await?;
    audit_read(
        &state,
        &who,
        "delegation.looked_up",
        Some(cf),
        json!({ "results": items.len() }),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `GET /v1/operator/delegations/pending` (sportello): representations waiting for the check
/// with the court, oldest first. Audited as a read.
pub async fn pending(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::Sportello)?;
    let items = db::run(&state.db, move |c| {
        let list = registry::pending_verification(c, 200)?;
        with_documents(c, list)
    })
    .await?;
    let ids: Vec<&str> = items.iter().map(|v| v.delegation.id.as_str()).collect();
    audit_read(
        &state,
        &who,
        "delegation.pending_listed",
        None,
        json!({ "delegation_ids": ids }),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// confirmed | refused
    pub outcome: String,
    pub note: Option<String>,
}

/// `POST /v1/operator/delegations/{id}/verify` (sportello): the outcome of the check with
/// the court of a representative's self-declaration.
pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::Sportello)?;
    let body: VerifyBody = json_body(&req, payload).await?;
    let outcome = match body.outcome.as_str() {
        "confirmed" => Verification::Confirmed,
        "refused" => Verification::Refused,
        _ => return Err(invalid("`outcome` must be confirmed or refused.").into()),
    };
    let id = path.into_inner();
    let now = state.clock.now();
    let s = state.clone();
    let operator_id = who.id().to_owned();
    let d = db::run(&state.db, move |c| {
        registry::verify(c, &s, &operator_id, &id, outcome, body.note.as_deref(), now)
    })
    .await
    .map_err(staff)?;
    Ok(HttpResponse::Ok().json(DelegationView::from(d)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    pub reason: String,
}

/// `POST /v1/operator/delegations/{id}/revoke` (sportello, contact_center): at any time,
/// with a reason; both parties are notified.
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require_any(&[Role::Sportello, Role::ContactCenter])?;
    let body: RevokeBody = json_body(&req, payload).await?;
    let id = path.into_inner();
    let now = state.clock.now();
    let s = state.clone();
    let operator_id = who.id().to_owned();
    let d = db::run(&state.db, move |c| {
        registry::revoke_by_operator(c, &s, &operator_id, &id, &body.reason, now)
    })
    .await
    .map_err(staff)?;
    Ok(HttpResponse::Ok().json(DelegationView::from(d)))
}
