//! `/v1/delegations*` for citizens (Italian problems): registering a delegation online (the
//! delegator, or a parent for a minor), the list of delegations given, revoking one given
//! and renouncing one received. Registration needs a login at `delegation.online_min_level`
//! (SPID L2 and above by default: never a PIN); every route needs a person's token, and the
//! writes scope `delegations:write`, which delegated tokens never carry (domain §6.5).

use super::auth::{Principal, json_body};
use super::problems::{Audience, parse_codice_fiscale};
use crate::AppState;
use crate::db;
use crate::delegation::family::LocalFamilyRegister;
use crate::delegation::policy::Refusal;
use crate::delegation::registry::{self, DelegationError, NamedDelegate};
use crate::delegation::{Delegation, Kind, given_by};
use crate::error::{ApiError, ProblemKind};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

const READ: &str = "delegations:read";
const WRITE: &str = "delegations:write";

/// A delegation as its parties and operators see it.
#[derive(Debug, Serialize)]
pub struct DelegationView {
    pub id: String,
    pub delegator_codice_fiscale: String,
    pub delegate_codice_fiscale: String,
    pub kind: String,
    pub channel: String,
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub min_end_at: Option<DateTime<Utc>>,
    pub decree_reference: Option<String>,
    pub operator_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
}

impl From<Delegation> for DelegationView {
    fn from(d: Delegation) -> Self {
        Self {
            id: d.id,
            delegator_codice_fiscale: d.delegator_cf,
            delegate_codice_fiscale: d.delegate_cf,
            kind: d.kind,
            channel: d.channel,
            status: d.status,
            starts_at: d.starts_at.and_utc(),
            ends_at: d.ends_at.map(|t| t.and_utc()),
            min_end_at: d.min_end_at.map(|t| t.and_utc()),
            decree_reference: d.decree_reference,
            operator_id: d.operator_id,
            created_at: d.created_at.and_utc(),
            ended_at: d.ended_at.map(|t| t.and_utc()),
            end_reason: d.end_reason,
        }
    }
}

/// The problem type of each rule.
pub(super) fn refusal_kind(r: Refusal) -> ProblemKind {
    match r {
        Refusal::SelfDelegation => ProblemKind::DelegationSelf,
        Refusal::DelegateMinor => ProblemKind::DelegationDelegateMinor,
        Refusal::MinorNeedsParent => ProblemKind::DelegationMinorNeedsParent,
        Refusal::NotAMinor => ProblemKind::DelegationNotAMinor,
        Refusal::RepresentationByOperatorOnly => ProblemKind::DelegationRepresentationByOperator,
        Refusal::ChannelNotForKind => ProblemKind::DelegationChannelNotForKind,
        Refusal::NotFamily => ProblemKind::DelegationNotFamily,
        Refusal::MissingDecreeReference => ProblemKind::DelegationDecreeMissing,
        Refusal::EndInPast => ProblemKind::DelegationEndInPast,
        Refusal::EndBeforeMinimum => ProblemKind::DelegationEndBeforeMinimum,
        Refusal::WithinMinimum => ProblemKind::DelegationWithinMinimum,
        Refusal::RepresentationEndsByOperator => {
            ProblemKind::DelegationRepresentationEndsByOperator
        }
    }
}

/// A delegation error as a problem; `audience` picks the language of `detail` (refusals are
/// always Italian: operators read them out to citizens).
pub fn problem(e: DelegationError, audience: Audience) -> ApiError {
    match e {
        DelegationError::Refused(r) => ApiError::new(refusal_kind(r), r.to_string())
            .with_extensions(json!({ "refusal": r.code() })),
        DelegationError::FiduciaExists => ApiError::new(
            ProblemKind::DelegationFiduciaExists,
            "Risulta già una delega attiva a una persona di fiducia: per cambiare delegato occorre prima revocare quella esistente.",
        ),
        DelegationError::DelegateLimit => ApiError::new(
            ProblemKind::DelegationDelegateLimit,
            "La persona indicata è già delegata dal numero massimo di persone consentito (3): non può ricevere altre deleghe.",
        ),
        DelegationError::NameMismatch => ApiError::new(
            ProblemKind::DelegationNameMismatch,
            "Nome e cognome del delegato non corrispondono al codice fiscale indicato.",
        ),
        DelegationError::NotFound => {
            ApiError::not_found(audience.pick("Delega non trovata.", "No such delegation."))
        }
        DelegationError::NotActive(status) => ApiError::new(
            ProblemKind::DelegationNotActive,
            audience.pick(
                "La delega non è attiva: è già terminata.",
                format!("The delegation is not active: it is {status}."),
            ),
        )
        .with_extensions(json!({ "delegation_status": status })),
        DelegationError::NotPending(status) => ApiError::new(
            ProblemKind::DelegationNotPending,
            format!("The delegation is not waiting for verification: it is {status}."),
        )
        .with_extensions(json!({ "delegation_status": status })),
        DelegationError::SameOperator => ApiError::new(
            ProblemKind::DelegationSameOperator,
            audience.pick(
                "La delega deve essere verificata da un operatore diverso da chi l'ha registrata.",
                "The operator who registered the delegation cannot verify it: another operator checks the self-declaration.",
            ),
        ),
        DelegationError::MissingDocument(kind) => ApiError::new(
            ProblemKind::DocumentMissing,
            format!("A required document is missing: {kind}."),
        )
        .with_extensions(json!({ "document": kind })),
        DelegationError::Document(name, why) => {
            ApiError::new(ProblemKind::DocumentRejected, format!("{name}: {why}."))
                .with_extensions(json!({ "document": name }))
        }
        DelegationError::ConsentMissing => ApiError::new(
            ProblemKind::DelegationConsentMissing,
            audience.pick(
                "Senza il consenso di delegante e delegato alla registrazione della videochiamata la delega non può essere registrata in web meeting.",
                "A web-meeting registration needs both people's consent to the recording.",
            ),
        ),
        DelegationError::ReasonRequired => ApiError::new(
            ProblemKind::ValidationFailed,
            "A reason is required to revoke a delegation.",
        ),
        DelegationError::Db(e) => e.into(),
        DelegationError::Enqueue(e) => ApiError::internal(e),
    }
}

fn citizen(e: DelegationError) -> ApiError {
    problem(e, Audience::Citizen)
}

/// Registering online needs a login at `delegation.online_min_level` or above.
fn require_level(state: &AppState, who: &Principal) -> Result<(), ApiError> {
    let min = state.config.delegation.online_min_level;
    if who.level().is_some_and(|l| l.satisfies(min)) {
        return Ok(());
    }
    Err(ApiError::new(
        ProblemKind::DelegationLoginLevel,
        "Per registrare una delega online occorre accedere con SPID (livello 2 o superiore), CIE o CNS: l'accesso con PIN non è sufficiente.",
    )
    .with_extensions(json!({ "acr_values": min.uri() })))
}

fn blank(field: &str) -> ApiError {
    ApiError::new(
        ProblemKind::ValidationFailed,
        "Alcuni dati non sono validi: correggerli e riprovare.",
    )
    .with_errors(vec![crate::error::FieldError {
        field: field.to_owned(),
        reason: "required".to_owned(),
        message: format!("{field} è obbligatorio"),
    }])
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegateBody {
    pub codice_fiscale: String,
    pub given_name: String,
    pub family_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// `fiducia` (the default); the legal representations are refused here by name.
    pub kind: Option<String>,
    pub delegate: DelegateBody,
    /// The last day (exclusive: it ends at 00:00 UTC of this date); none: until revoked.
    pub ends_on: Option<NaiveDate>,
}

/// `POST /v1/delegations`: the delegator names a trusted person.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Principal,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require_scope(WRITE)?;
    let delegator = who.require_person()?.clone();
    require_level(&state, &who)?;
    let body: CreateBody = json_body(&req, payload).await?;
    let kind = match body.kind.as_deref() {
        None => Kind::Fiducia,
        Some(k) => Kind::parse(k).ok_or_else(|| {
            ApiError::new(
                ProblemKind::ValidationFailed,
                "Alcuni dati non sono validi: correggerli e riprovare.",
            )
            .with_errors(vec![crate::error::FieldError {
                field: "kind".to_owned(),
                reason: "invalid".to_owned(),
                message: "tipo di delega non riconosciuto".to_owned(),
            }])
        })?,
    };
    if body.delegate.given_name.trim().is_empty() {
        return Err(blank("delegate.given_name").into());
    }
    if body.delegate.family_name.trim().is_empty() {
        return Err(blank("delegate.family_name").into());
    }
    let delegate = NamedDelegate {
        codice_fiscale: parse_codice_fiscale(
            &body.delegate.codice_fiscale,
            Some("delegate.codice_fiscale"),
            Audience::Citizen,
        )?,
        given_name: body.delegate.given_name,
        family_name: body.delegate.family_name,
    };
    let now = state.clock.now();
    let s = state.clone();
    let d = db::run(&state.db, move |c| {
        registry::register_online(c, &s, &delegator, kind, &delegate, body.ends_on, now)
    })
    .await
    .map_err(citizen)?;
    Ok(HttpResponse::Created().json(DelegationView::from(d)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinorBody {
    pub child_codice_fiscale: String,
    pub ends_on: Option<NaiveDate>,
}

/// `POST /v1/delegations/minor`: a parent registers the delegation for their minor child.
pub async fn create_for_minor(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Principal,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require_scope(WRITE)?;
    let parent = who.require_person()?.clone();
    require_level(&state, &who)?;
    let body: MinorBody = json_body(&req, payload).await?;
    let child = parse_codice_fiscale(
        &body.child_codice_fiscale,
        Some("child_codice_fiscale"),
        Audience::Citizen,
    )?;
    let now = state.clock.now();
    let s = state.clone();
    let d = db::run(&state.db, move |c| {
        registry::register_for_minor(
            c,
            &s,
            &LocalFamilyRegister,
            &parent,
            &child,
            body.ends_on,
            now,
        )
    })
    .await
    .map_err(citizen)?;
    Ok(HttpResponse::Created().json(DelegationView::from(d)))
}

/// `GET /v1/delegations/given`: every delegation the person gave (any status), newest first.
pub async fn given(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, ApiError> {
    if !who.has_scope(READ) {
        who.require_scope(WRITE)?;
    }
    let me = who.require_person()?.as_str().to_owned();
    let list = db::run(&state.db, move |c| given_by(c, &me)).await?;
    let items: Vec<DelegationView> = list.into_iter().map(DelegationView::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `POST /v1/delegations/{id}/revoke`: the delegator revokes (after the 30-day minimum).
pub async fn revoke(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require_scope(WRITE)?;
    let me = who.require_person()?.clone();
    let id = path.into_inner();
    let now = state.clock.now();
    let s = state.clone();
    let d = db::run(&state.db, move |c| {
        registry::revoke_by_delegator(c, &s, &me, &id, now)
    })
    .await
    .map_err(citizen)?;
    Ok(HttpResponse::Ok().json(DelegationView::from(d)))
}

/// `POST /v1/delegations/{id}/renounce`: the delegate gives up a fiduciary delegation.
pub async fn renounce(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require_scope(WRITE)?;
    let me = who.require_person()?.clone();
    let id = path.into_inner();
    let now = state.clock.now();
    let s = state.clone();
    let d = db::run(&state.db, move |c| registry::renounce(c, &s, &me, &id, now))
        .await
        .map_err(citizen)?;
    Ok(HttpResponse::Ok().json(DelegationView::from(d)))
}
