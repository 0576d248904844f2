//! `/v1/operator/pin/*`: PIN issuance for branch-desk (`sportello`) and contact-centre
//! (`contact_center`) operators. Each handler checks the role before it reads a body; `detail`
//! is English, except refusal texts an operator reads out to the citizen (Italian). A PIN or
//! a half in a response is shown once: responses carry `Cache-Control: no-store`. Reading the
//! queue or a request is audited too: operators see personal data.

use super::auth::{OperatorPrincipal, json_body};
use super::multipart;
use super::pin::{invalid_fields, problem};
use super::problems::{Audience, invalid_codice_fiscale, parse_codice_fiscale};
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::db;
use crate::error::{ApiError, ProblemKind};
use crate::operator::Role;
use crate::person::CodiceFiscale;
use crate::pin::documents::{self, DocumentKind};
use crate::pin::envelope;
use crate::pin::issuance::{
    self, Actor, CallOutcome, DeskRequest, QueueFilter, Recorded, SubmitOutcome,
};
use crate::pin::phone::{self, PhoneCheck};
use crate::pin::recovery::{self, Revoker};
use crate::pin::request::{
    self, PinRequest, RequestChannel, RequestForm, RequesterData, RequesterForm,
};
use actix_multipart::Multipart;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A request as operators see it.
#[derive(Debug, Serialize)]
pub struct RequestView {
    pub id: String,
    pub reference: String,
    pub channel: String,
    pub status: String,
    pub codice_fiscale: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: chrono::NaiveDate,
    pub address: String,
    pub postal_code: String,
    pub municipality: String,
    pub province: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub pec: Option<String>,
    pub first_half_channel: Option<String>,
    pub pin_type: String,
    pub representative_codice_fiscale: Option<String>,
    pub representation: Option<String>,
    pub representation_reference: Option<String>,
    pub check_failures: Vec<String>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub call_attempts: i64,
    pub next_call_at: Option<DateTime<Utc>>,
    pub outcome_reason: Option<String>,
    pub operator_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

impl From<PinRequest> for RequestView {
    fn from(r: PinRequest) -> Self {
        Self {
            check_failures: r.failures().into_iter().map(str::to_owned).collect(),
            id: r.id,
            reference: r.reference,
            channel: r.channel,
            status: r.status,
            codice_fiscale: r.codice_fiscale,
            given_name: r.given_name,
            family_name: r.family_name,
            birth_date: r.birth_date,
            address: r.address,
            postal_code: r.postal_code,
            municipality: r.municipality,
            province: r.province,
            mobile: r.mobile,
            email: r.email,
            pec: r.pec,
            first_half_channel: r.first_half_channel,
            pin_type: r.pin_type,
            representative_codice_fiscale: r.representative_cf,
            representation: r.representation,
            representation_reference: r.representation_ref,
            claimed_by: r.claimed_by,
            claimed_until: r.claimed_until.map(utc),
            call_attempts: r.call_attempts,
            next_call_at: r.next_call_at.map(utc),
            outcome_reason: r.outcome_reason,
            operator_id: r.operator_id,
            created_at: utc(r.created_at),
            decided_at: r.decided_at.map(utc),
        }
    }
}

/// Records that an operator read personal data (domain §3: operator access is traced).
async fn audit_read(
    state: &AppState,
    who: &OperatorPrincipal,
    action: &'static str,
    subject: Option<String>,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let acting = who.acting();
    let (key, now) = (state.audit_key.clone(), state.clock.now());
    db::run(&state.db, move |c| {
        let mut event = Event::new(acting.actor, action, Outcome::Success).detail(detail);
        if let Some(cf) = subject.and_then(|s| CodiceFiscale::parse(&s).ok()) {
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

fn no_store(mut resp: HttpResponse) -> HttpResponse {
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A credential-store failure: a busy pool is a 503, anything else a 500.
pub fn pin_error(e: crate::pin::PinError) -> ApiError {
    match e {
        crate::pin::PinError::Db(e) => e.into(),
        other => ApiError::internal(other),
    }
}

fn staff(e: issuance::IssuanceError) -> ApiError {
    problem(e, Audience::Staff)
}

/// The JSON part of a desk upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskForm {
    pub codice_fiscale: String,
    pub requester: Option<RequesterForm>,
    #[serde(default)]
    pub without_italian_id_document: bool,
}

/// `POST /v1/operator/pin/desk` (sportello): multipart with a `request` JSON part and the
/// documents as parts named `mv35`, `id_document`, `self_declaration`, `decree`.
pub async fn desk(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::Sportello)?;
    let max = state.config.issuance.document_max_bytes;
    let upload = multipart::read(payload, "request", max).await?;
    let json = upload.json.ok_or_else(|| {
        ApiError::new(
            ProblemKind::ValidationFailed,
            "The `request` JSON part is missing.",
        )
    })?;
    let form: DeskForm = super::object::from_slice(&json).map_err(|e| {
        ApiError::new(
            ProblemKind::ValidationFailed,
            format!("The `request` part is not the expected JSON: {e}."),
        )
    })?;
    let holder = parse_codice_fiscale(&form.codice_fiscale, None, Audience::Staff)?;
    let requester = match form.requester {
        None => RequesterData::Holder,
        Some(r) => r.parse().map_err(|e| {
            invalid_codice_fiscale(&e, Some("requester.codice_fiscale"), Audience::Staff)
        })?,
    };
    let mut docs = Vec::new();
    for (name, bytes) in upload.files {
        let kind = DocumentKind::parse(&name).ok_or_else(|| {
            ApiError::new(
                ProblemKind::ValidationFailed,
                format!(
                    "Unknown part `{name}`: expected mv35, id_document, self_declaration or decree."
                ),
            )
        })?;
        let doc = documents::check(kind, bytes, max).map_err(|e| {
            ApiError::new(ProblemKind::DocumentRejected, format!("{name}: {e}."))
                .with_extensions(json!({ "document": name }))
        })?;
        docs.push(doc);
    }
    let now = state.clock.now();
    let issued = issuance::issue_at_desk(
        &state,
        who.id(),
        DeskRequest {
            holder,
            requester,
            without_italian_id_document: form.without_italian_id_document,
            documents: docs,
        },
        now,
    )
    .await
    .map_err(staff)?;
    let name = format!("{} {}", issued.person.given_name, issued.person.family_name);
    let pdf = envelope::pdf(&issued.pin, &name, &issued.reference, now);
    Ok(no_store(HttpResponse::Created().json(json!({
        "request_id": issued.request_id,
        "reference": issued.reference,
        "pin": issued.pin.whole(),
        "pin_type": "dispositivo",
        "holder": {
            "codice_fiscale": issued.person.codice_fiscale,
            "given_name": issued.person.given_name,
            "family_name": issued.person.family_name,
        },
        "envelope_pdf": base64::engine::general_purpose::STANDARD.encode(pdf),
    }))))
}

/// `POST /v1/operator/pin/inbound` (contact_center): a request taken on the phone.
pub async fn inbound(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::ContactCenter)?;
    let form: RequestForm = json_body(&req, payload).await?;
    let data = form
        .parse()
        .map_err(|e| invalid_fields(e, Audience::Staff))?;
    let now = state.clock.now();
    let submitted = issuance::submit(
        &state,
        data,
        RequestChannel::ContactCenter,
        Actor::Operator(who.id().to_owned()),
        now,
    )
    .await
    .map_err(staff)?;
    Ok(no_store(match submitted.outcome {
        SubmitOutcome::Issued { first_half } => HttpResponse::Created().json(json!({
            "request_id": submitted.request_id,
            "reference": submitted.reference,
            "status": "issued",
            "first_half": first_half,
        })),
        SubmitOutcome::Queued { failures } => HttpResponse::Accepted().json(json!({
            "request_id": submitted.request_id,
            "reference": submitted.reference,
            "status": "queued",
            "check_failures": failures,
        })),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    pub failure: Option<String>,
    pub channel: Option<String>,
    #[serde(default)]
    pub include_not_due: bool,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// `GET /v1/operator/pin/queue` (contact_center): requests waiting for a call, oldest first.
pub async fn queue(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::ContactCenter)?;
    let q = query.into_inner();
    let code_like =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    if q.failure.as_deref().is_some_and(|f| !code_like(f))
        || q.channel.as_deref().is_some_and(|f| !code_like(f))
    {
        return Err(ApiError::new(
            ProblemKind::InvalidQuery,
            "`failure` and `channel` are codes such as `address` or `online`.",
        ));
    }
    // The minimums and maximum openapi.yaml declares.
    if q.limit.is_some_and(|l| !(1..=200).contains(&l)) || q.offset.is_some_and(|o| o < 0) {
        return Err(ApiError::new(
            ProblemKind::InvalidQuery,
            "`limit` is 1 to 200 and `offset` is 0 or more.",
        ));
    }
    let filter = QueueFilter {
        failure: q.failure,
        channel: q.channel,
        include_not_due: q.include_not_due,
        limit: q.limit.unwrap_or(50),
        offset: q.offset.unwrap_or(0),
    };
    let now = state.clock.now();
    let items = db::run(&state.db, move |c| issuance::queue(c, &filter, now)).await?;
    let references: Vec<&str> = items.iter().map(|r| r.reference.as_str()).collect();
    audit_read(
        &state,
        &who,
        "pin.queue.listed",
        None,
        json!({ "references": references }),
    )
    .await?;
    let items: Vec<RequestView> = items.into_iter().map(RequestView::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `GET /v1/operator/pin/requests/{id}` (contact_center or sportello).
pub async fn show(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require_any(&[Role::ContactCenter, Role::Sportello])?;
    let id = id.into_inner();
    let found = db::run(&state.db, move |c| request::find(c, &id)).await?;
    let r = found.ok_or_else(|| ApiError::not_found("No such PIN request."))?;
    let detail = json!({ "reference": r.reference });
    audit_read(
        &state,
        &who,
        "pin.request.viewed",
        Some(r.codice_fiscale.clone()),
        detail,
    )
    .await?;
    Ok(HttpResponse::Ok().json(RequestView::from(r)))
}

/// `POST /v1/operator/pin/requests/{id}/claim` (contact_center).
pub async fn claim(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::ContactCenter)?;
    let (id, op, st, now) = (
        id.into_inner(),
        who.id().to_owned(),
        state.get_ref().clone(),
        state.clock.now(),
    );
    let claimed = db::run(&state.db, move |c| issuance::claim(c, &st, &id, &op, now))
        .await
        .map_err(staff)?;
    Ok(HttpResponse::Ok().json(RequestView::from(claimed)))
}

/// `POST /v1/operator/pin/requests/{id}/release` (contact_center): gives the claim back
/// before it lapses.
pub async fn release(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::ContactCenter)?;
    let (id, op, st, now) = (
        id.into_inner(),
        who.id().to_owned(),
        state.get_ref().clone(),
        state.clock.now(),
    );
    let released = db::run(&state.db, move |c| issuance::release(c, &st, &id, &op, now))
        .await
        .map_err(staff)?;
    Ok(HttpResponse::Ok().json(RequestView::from(released)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeBody {
    /// validated | rejected | no_answer
    pub outcome: String,
    pub reason: Option<String>,
}

/// `POST /v1/operator/pin/requests/{id}/outcome` (contact_center, holding the claim).
pub async fn outcome(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::ContactCenter)?;
    let body: OutcomeBody = json_body(&req, payload).await?;
    let outcome = match body.outcome.as_str() {
        "validated" => CallOutcome::Validated,
        "rejected" => CallOutcome::Rejected {
            reason: body.reason.unwrap_or_default(),
        },
        "no_answer" => CallOutcome::NoAnswer,
        _ => {
            return Err(ApiError::new(
                ProblemKind::ValidationFailed,
                "`outcome` must be validated, rejected or no_answer.",
            )
            .into());
        }
    };
    let recorded = issuance::record_outcome(&state, &id, who.id(), outcome, state.clock.now())
        .await
        .map_err(staff)?;
    Ok(no_store(HttpResponse::Ok().json(match recorded {
        Recorded::Issued { first_half } => json!({ "status": "issued", "first_half": first_half }),
        Recorded::Rejected => json!({ "status": "rejected" }),
        Recorded::RetryLater { next_call_at } => {
            json!({ "status": "queued", "next_call_at": next_call_at })
        }
        Recorded::Closed => json!({ "status": "closed" }),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    pub codice_fiscale: String,
    pub reason: String,
}

/// `POST /v1/operator/pin/revoke` (contact_center or sportello).
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require_any(&[Role::ContactCenter, Role::Sportello])?;
    let body: RevokeBody = json_body(&req, payload).await?;
    let cf = parse_codice_fiscale(&body.codice_fiscale, None, Audience::Staff)?;
    let by = Revoker::Operator {
        id: who.id().to_owned(),
        reason: body.reason,
    };
    recovery::revoke(&state, &cf, by, state.clock.now())
        .await
        .map_err(|e| match e {
            issuance::IssuanceError::Pin(crate::pin::PinError::NoCredential) => {
                ApiError::not_found("This person has no PIN to revoke.")
            }
            other => staff(other),
        })?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneCheckBody {
    pub codice_fiscale: String,
    pub code: String,
}

/// `POST /v1/operator/pin/phone-check` (contact_center): is the caller's phone PIN right?
pub async fn phone_check(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::ContactCenter)?;
    let body: PhoneCheckBody = json_body(&req, payload).await?;
    let cf = parse_codice_fiscale(&body.codice_fiscale, None, Audience::Staff)?;
    let answer = phone::check(&state, who.id(), &cf, &body.code, state.clock.now())
        .await
        .map_err(pin_error)?;
    Ok(HttpResponse::Ok().json(match answer {
        PhoneCheck::Valid { expires_at } => json!({ "valid": true, "expires_at": expires_at }),
        PhoneCheck::Invalid => json!({ "valid": false }),
        PhoneCheck::Exhausted => json!({ "valid": false, "exhausted": true }),
    }))
}
