//! Acting on behalf (domain §1.10, §3, §6.8):
//!
//! - `GET /v1/delegations/acting-for`: the people the logged-in person may act for now (the
//!   list the frontend shows after login), with the delegation id to exchange at `/token`.
//! - `POST /v1/access/check`: a downstream service (confidential client with scope
//!   `access:check`) asks whether a person may act for another on a scope; it learns yes or
//!   no, never why.

use super::auth::{Principal, json_body};
use super::request_id::RequestId;
use crate::AppState;
use crate::db::{self, DbError};
use crate::delegation::acting::{self, CheckRequest};
use crate::error::{ApiError, ProblemKind};
use crate::oauth::client::{self, Client, ClientAuthError};
use crate::oauth::client_cache::Known;
use crate::oauth::scope;
use crate::person::CodiceFiscale;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One entry of the "act for" list. The codice fiscale is masked (data minimisation): the
/// frontend shows names and exchanges the delegation id, and the delegate knows whom they act
/// for; the masked code only tells apart people with the same name.
#[derive(Debug, Serialize)]
pub struct Delegator {
    pub delegation_id: String,
    pub kind: String,
    /// `null`: until revoked.
    pub ends_at: Option<DateTime<Utc>>,
    pub codice_fiscale_masked: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ActingForList {
    /// Named `items` like every other list of the API.
    pub items: Vec<Delegator>,
}

pub async fn acting_for(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    who.require_scope("delegations:read")?;
    let me = who.require_person()?.clone();
    // A token already issued on behalf of someone cannot switch again (no chains, §6.5).
    if who.claims().act.is_some() {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            "Con un token ottenuto per conto di un'altra persona non si può agire per altri.",
        ));
    }
    let now = state.clock.now();
    let rows = db::run(&state.db, move |c| acting::acting_for(c, &me, now)).await?;
    let items = rows
        .into_iter()
        .map(|r| Delegator {
            kind: r.delegation.kind.clone(),
            ends_at: r.delegation.ends_at.map(|t| t.and_utc()),
            codice_fiscale_masked: crate::person::codice_fiscale::mask_text(
                &r.delegation.delegator_cf,
            ),
            given_name: r.given_name,
            family_name: r.family_name,
            delegation_id: r.delegation.id,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ActingForList { items }))
}

/// The body of an access check. A `private_key_jwt` client sends its assertion here (there is
/// no form body); a `client_secret_basic` client uses the Authorization header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessCheck {
    /// Codice fiscale of the person who wants to act.
    pub actor: String,
    /// Codice fiscale of the person acted for (the same as `actor` for oneself).
    pub subject: String,
    pub scope: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_assertion_type: Option<String>,
    #[serde(default)]
    pub client_assertion: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AccessAnswer {
    pub allowed: bool,
}

pub async fn check(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // With HTTP Basic the client is authenticated before the body is read (from memory, or
    // else in the database); an assertion is in the body, and is checked in the same trip to
    // the blocking pool as the answer (assertions are never remembered: each `jti` is checked
    // for replay).
    let (known, body) = match &authorization {
        Some(auth) => {
            let known = match recall_client(&state, Some(auth), None, None, None)? {
                Known::Unknown(pending) => {
                    let cache = state.client_cache.clone();
                    let now = state.clock.now();
                    let client = db::run(&state.db, move |c| {
                        Ok::<_, DbError>(cache.authenticate_in(c, pending, now))
                    })
                    .await
                    .map_err(ApiError::from)?
                    .map_err(|e| auth_refusal(&e))?;
                    Known::Client(client)
                }
                known => known,
            };
            (known, json_body::<AccessCheck>(&req, payload).await?)
        }
        None => {
            let body = json_body::<AccessCheck>(&req, payload).await?;
            let known = recall_client(
                &state,
                None,
                body.client_id.as_deref(),
                body.client_assertion_type.as_deref(),
                body.client_assertion.as_deref(),
            )?;
            (known, body)
        }
    };
    Ok(answer(&state, &req, known, body).await?)
}

/// The checked parts of an access check's body.
struct Asked {
    actor: CodiceFiscale,
    subject: CodiceFiscale,
    scope: String,
}

fn checked_body(body: AccessCheck) -> Result<Asked, ApiError> {
    let actor = CodiceFiscale::parse(&body.actor)?;
    let subject = CodiceFiscale::parse(&body.subject)?;
    if !scope::is_known(&body.scope) {
        return Err(ApiError::new(
            ProblemKind::ValidationFailed,
            format!("Unknown scope `{}`.", body.scope),
        ));
    }
    Ok(Asked {
        actor,
        subject,
        scope: body.scope,
    })
}

/// One trip to the blocking pool: the client's authentication when memory did not know it,
/// then the answer. Refusals keep their order: client (401), scope (403), body (422).
async fn answer(
    state: &AppState,
    req: &HttpRequest,
    known: Known,
    body: AccessCheck,
) -> Result<HttpResponse, ApiError> {
    let asked = checked_body(body);
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let cache = state.client_cache.clone();
    let now = state.clock.now();
    let (allowed, event) = db::run(&state.db, move |c| {
        let client = match known {
            Known::Client(client) => client,
            Known::Unknown(pending) => match cache.authenticate_in(c, pending, now) {
                Ok(client) => client,
                Err(e) => return Ok(Err(auth_refusal(&e))),
            },
        };
        if let Err(refusal) = admit(&client) {
            return Ok(Err(refusal));
        }
        let asked = match asked {
            Ok(asked) => asked,
            Err(e) => return Ok(Err(e)),
        };
        let request = CheckRequest {
            client_id: client.client_id,
            request_id,
            actor: asked.actor,
            subject: asked.subject,
            scope: asked.scope,
        };
        Ok::<_, DbError>(Ok(acting::check_access(c, &request, now)?))
    })
    .await??;
    // Never an answer without its trace: wait for the batch holding the record to commit.
    state.audit_batch.append(now, event).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(AccessAnswer { allowed }))
}

/// `401 unauthorized`, with a Basic challenge.
fn refused(reason: &str) -> ApiError {
    // The generic reason says nothing more than the sentence itself.
    let detail = if reason == "client authentication failed" {
        "Client authentication failed.".to_owned()
    } else {
        format!("Client authentication failed: {reason}.")
    };
    ApiError::new(ProblemKind::Unauthorized, detail).with_challenge("Basic realm=\"procura\"")
}

fn auth_refusal(e: &ClientAuthError) -> ApiError {
    if e.error_code() == "server_error" {
        ApiError::internal(e.description())
    } else {
        refused(e.description())
    }
}

/// A confidential client (else `401`, as at `/introspect`) with the scope `access:check`
/// (else `403`).
fn admit(client: &Client) -> Result<(), ApiError> {
    if client.is_public() {
        return Err(refused("the access check needs a confidential client"));
    }
    if !client.scopes.contains(scope::ACCESS_CHECK) {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            format!("The client needs the scope {}.", scope::ACCESS_CHECK),
        )
        .with_extensions(serde_json::json!({ "required_scope": scope::ACCESS_CHECK })));
    }
    Ok(())
}

/// The client as far as memory knows it (malformed credentials are refused here).
fn recall_client(
    state: &AppState,
    authorization: Option<&str>,
    client_id: Option<&str>,
    assertion_type: Option<&str>,
    assertion: Option<&str>,
) -> Result<Known, ApiError> {
    let credentials =
        client::credentials_from(authorization, client_id, None, assertion_type, assertion)
            .map_err(|e| refused(e.description()))?;
    let issuer = &state.config.oauth.issuer;
    let audiences = vec![
        format!("{issuer}/v1/access/check"),
        format!("{issuer}/token"),
        issuer.clone(),
    ];
    Ok(state.client_cache.recall(credentials, audiences))
}
