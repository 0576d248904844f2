//! `/v1/operator/*`: the operator API. Every handler takes an [`OperatorPrincipal`] (an
//! active operator, checked in the database on each request) and checks the role before it
//! reads a body. `detail` is English (staff-facing). Changes are audited with the operator
//! as actor.

use super::auth::{OperatorPrincipal, json_body};
use crate::AppState;
use crate::db;
use crate::error::{ApiError, FieldError, ProblemKind};
use crate::operator::{self, NewOperator, Operator, OperatorError, Role};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// An operator as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct OperatorView {
    pub id: String,
    pub codice_fiscale: String,
    pub display_name: String,
    pub roles: Vec<&'static str>,
    pub office: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<Operator> for OperatorView {
    fn from(o: Operator) -> Self {
        Self {
            roles: o.role_names(),
            id: o.id,
            codice_fiscale: o.codice_fiscale.as_str().to_owned(),
            display_name: o.display_name,
            office: o.office,
            active: o.active,
            created_at: o.created_at,
            disabled_at: o.disabled_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddOperator {
    pub codice_fiscale: String,
    pub display_name: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub office: Option<String>,
}

fn field(field: &str, reason: &str, message: String) -> ApiError {
    ApiError::new(
        ProblemKind::ValidationFailed,
        "Some fields are not valid; correct them and retry.",
    )
    .with_errors(vec![FieldError {
        field: field.into(),
        reason: reason.into(),
        message,
    }])
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> Self {
        let message = e.to_string();
        match e {
            OperatorError::CodiceFiscale(cf) => ApiError::new(
                ProblemKind::InvalidCodiceFiscale,
                format!("Invalid codice fiscale ({}).", cf.reason()),
            )
            .with_extensions(json!({ "reason": cf.reason() })),
            OperatorError::InvalidName => field("display_name", "length", message),
            OperatorError::InvalidOffice => field("office", "length", message),
            OperatorError::NoRoles => field("roles", "length", message),
            OperatorError::UnknownRole(_) => field("roles", "unknown_role", message),
            OperatorError::Exists(_) => ApiError::new(
                ProblemKind::Conflict,
                "This person is already an operator (disabled operators keep their record).",
            ),
            OperatorError::SelfDisable | OperatorError::SelfDemote => {
                ApiError::new(ProblemKind::Conflict, message)
            }
            OperatorError::NotFound(_) => ApiError::not_found(message),
            OperatorError::Db(db) => db.into(),
        }
    }
}

/// `GET /v1/operator/me`: any operator, about themself.
pub async fn me(who: OperatorPrincipal) -> HttpResponse {
    let o = who.operator();
    HttpResponse::Ok().json(json!({
        "id": o.id,
        "display_name": o.display_name,
        "roles": o.role_names(),
        "office": o.office,
    }))
}

/// `GET /v1/operator/operators` (admin).
pub async fn list(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::Admin)?;
    let (key, acting, now) = (state.audit_key.clone(), who.acting(), state.clock.now());
    let all = db::run(&state.db, move |c| {
        operator::list_audited(c, &key, &acting, now)
    })
    .await?;
    let views: Vec<OperatorView> = all.into_iter().map(OperatorView::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "operators": views })))
}

/// `POST /v1/operator/operators` (admin).
pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::Admin)?;
    let body: AddOperator = json_body(&req, payload).await?;
    let new = NewOperator {
        codice_fiscale: body.codice_fiscale,
        display_name: body.display_name,
        roles: body.roles,
        office: body.office,
    };
    new.validate().map_err(ApiError::from)?;
    let (key, acting, now) = (state.audit_key.clone(), who.acting(), state.clock.now());
    let added = db::run(&state.db, move |c| {
        operator::add(c, &key, &new, &acting, now)
    })
    .await
    .map_err(ApiError::from)?;
    Ok(HttpResponse::Created().json(OperatorView::from(added)))
}

/// `POST /v1/operator/operators/{id}/disable` (admin).
pub async fn disable(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::Admin)?;
    let id = id.into_inner();
    let (key, acting, now) = (state.audit_key.clone(), who.acting(), state.clock.now());
    let disabled = db::run(&state.db, move |c| {
        operator::disable(c, &key, &id, &acting, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(OperatorView::from(disabled)))
}
