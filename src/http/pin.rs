//! PIN issuance over HTTP for citizens (Italian problems): the online request and the
//! recovery of a lost PIN (no login), revoking one's PIN and creating a phone PIN (logged in,
//! scope `credentials:write`); and the error mapping shared with the operator routes.

use super::auth::{Principal, json_body};
use super::browser;
use super::problems::Audience;
use crate::AppState;
use crate::audit::Party;
use crate::error::{ApiError, FieldError, ProblemKind};
use crate::oauth::scope;
use crate::person::{CodiceFiscale, contact};
use crate::pin::PinError;
use crate::pin::issuance::{self, Actor, IssuanceError, SubmitOutcome};
use crate::pin::phone::{self, Validity};
use crate::pin::policy::Refusal;
use crate::pin::recovery::{self, Contacts, Revoker};
use crate::pin::request::{RequestChannel, RequestForm, RequesterData};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

/// `POST /v1/pin/requests`: a citizen (or their legal representative) asks for a PIN online.
pub async fn request_online(
    state: web::Data<AppState>,
    req: HttpRequest,
    super::object::Json(form): super::object::Json<RequestForm>,
) -> Result<HttpResponse, ApiError> {
    limit(&state, &req)?;
    let data = form
        .parse()
        .map_err(|errors| invalid_fields(errors, Audience::Citizen))?;
    let actor = match &data.requester {
        RequesterData::Representative { codice_fiscale, .. } => {
            Actor::Citizen(Party::person(codice_fiscale))
        }
        _ => Actor::Citizen(Party::person(&data.holder)),
    };
    let now = state.clock.now();
    let submitted = issuance::submit(&state, data, RequestChannel::Online, actor, now)
        .await
        .map_err(|e| problem(e, Audience::Citizen))?;
    Ok(match submitted.outcome {
        SubmitOutcome::Issued { .. } => HttpResponse::Created().json(json!({
            "reference": submitted.reference,
            "status": "issued",
            "message": "Richiesta accolta. La prima parte del PIN (8 caratteri) arriverà al recapito che hai scelto; la seconda parte arriverà per posta all'indirizzo di residenza registrato presso l'INPS. Al primo accesso ti verrà chiesto di scegliere un PIN personale.",
        })),
        SubmitOutcome::Queued { .. } => HttpResponse::Accepted().json(json!({
            "reference": submitted.reference,
            "status": "queued",
            "message": "Non è stato possibile verificare automaticamente i dati inseriti. Sarai ricontattato dal Contact Center INPS al numero indicato per completare la richiesta.",
        })),
    })
}

/// Field errors of a request form, as a `validation-failed` problem.
pub fn invalid_fields(
    errors: Vec<crate::pin::request::FieldError>,
    audience: Audience,
) -> ApiError {
    let detail = match audience {
        Audience::Citizen => "Alcuni dati non sono validi: correggerli e riprovare.",
        Audience::Staff => "Some fields are not valid.",
    };
    ApiError::new(ProblemKind::ValidationFailed, detail).with_errors(
        errors
            .into_iter()
            .map(|e| FieldError {
                field: e.field.to_owned(),
                reason: "invalid".to_owned(),
                message: e.reason,
            })
            .collect(),
    )
}

/// An issuance error as a problem; `audience` picks the language of `detail`.
pub fn problem(e: IssuanceError, audience: Audience) -> ApiError {
    match e {
        IssuanceError::Refused(r) => {
            let kind = match r {
                Refusal::ThirdParty => ProblemKind::PinThirdParty,
                Refusal::NotEligible => ProblemKind::PinNotEligible,
                Refusal::RepresentsSelf | Refusal::NotAMinor | Refusal::MissingReference => {
                    ProblemKind::PinRepresentationInvalid
                }
            };
            // The refusal texts are Italian: operators read them out to citizens.
            ApiError::new(kind, r.to_string()).with_extensions(json!({ "refusal": r.code() }))
        }
        IssuanceError::PinAlreadyActive => ApiError::new(
            ProblemKind::PinAlreadyActive,
            audience.pick(
                "Risulta già un PIN attivo per questo codice fiscale: se lo hai smarrito usa il recupero del PIN, oppure revocalo prima di richiederne uno nuovo.",
                "This person already has an active PIN: recover or revoke it first.",
            ),
        ),
        IssuanceError::RequestPending => ApiError::new(
            ProblemKind::PinRequestPending,
            audience.pick(
                "C'è già una richiesta di PIN in attesa per questo codice fiscale: sarai ricontattato dal Contact Center.",
                "A request for this person is already waiting for the contact centre.",
            ),
        ),
        IssuanceError::NotInRegistry => ApiError::new(
            ProblemKind::PersonNotInRegistry,
            audience.pick(
                "Il codice fiscale non risulta negli archivi INPS.",
                "The person is not in the persons registry; the letter needs the registry address.",
            ),
        ),
        IssuanceError::NotFound => {
            ApiError::not_found(audience.pick("Richiesta non trovata.", "No such PIN request."))
        }
        IssuanceError::NotQueued(status) => ApiError::new(
            ProblemKind::PinRequestNotQueued,
            format!("The request is not waiting for the contact centre: it is {status}."),
        )
        .with_extensions(json!({ "request_status": status })),
        IssuanceError::ClaimedByOther => ApiError::new(
            ProblemKind::PinRequestClaimed,
            "Another operator is handling this request.",
        ),
        IssuanceError::NotClaimed => ApiError::new(
            ProblemKind::PinRequestNotClaimed,
            "Claim the request before recording an outcome.",
        ),
        IssuanceError::MissingDocument(kind) => ApiError::new(
            ProblemKind::DocumentMissing,
            format!("A required document is missing: {kind}."),
        )
        .with_extensions(json!({ "document": kind })),
        IssuanceError::ReasonRequired => ApiError::new(
            ProblemKind::ValidationFailed,
            "A rejection needs a reason (it is told to the citizen).",
        ),
        IssuanceError::Db(e) => e.into(),
        other => ApiError::internal(other),
    }
}

/// The recovery form: the codice fiscale and at least two contacts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryForm {
    pub codice_fiscale: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub pec: Option<String>,
}

/// `POST /v1/pin/recovery`: a lost PIN. Always the same answer, whether or not the data match.
pub async fn recover(
    state: web::Data<AppState>,
    req: HttpRequest,
    super::object::Json(form): super::object::Json<RecoveryForm>,
) -> Result<HttpResponse, ApiError> {
    limit(&state, &req)?;
    let cf = CodiceFiscale::parse(&form.codice_fiscale)?;
    let mut errors = Vec::new();
    let mut normalise =
        |field: &'static str,
         v: Option<String>,
         f: fn(&str) -> Result<String, contact::ContactError>| {
            let v = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
            f(&v)
                .map_err(|_| {
                    errors.push(FieldError {
                        field: field.to_owned(),
                        reason: "invalid".to_owned(),
                        message: format!("{field} non valido"),
                    });
                })
                .ok()
        };
    let given = Contacts {
        mobile: normalise("mobile", form.mobile, contact::normalize_mobile),
        email: normalise("email", form.email, contact::normalize_email),
        pec: normalise("pec", form.pec, contact::normalize_email),
    };
    let count = [&given.mobile, &given.email, &given.pec]
        .iter()
        .filter(|c| c.is_some())
        .count();
    if errors.is_empty() && count < 2 {
        errors.push(FieldError {
            field: "mobile".to_owned(),
            reason: "two_contacts".to_owned(),
            message: "indicare almeno due recapiti tra cellulare, e-mail e PEC".to_owned(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::new(
            ProblemKind::ValidationFailed,
            "Alcuni dati non sono validi: correggerli e riprovare.",
        )
        .with_errors(errors));
    }
    let outcome = recovery::recover(&state, &cf, &given, state.clock.now())
        .await
        .map_err(|e| problem(e, Audience::Citizen))?;
    tracing::info!(cf = %cf.masked(), ?outcome, "PIN recovery asked");
    Ok(HttpResponse::Accepted().json(json!({
        "message": "Se i dati corrispondono a quelli registrati e il PIN è già stato usato almeno una volta, riceverai un nuovo PIN: la prima metà via SMS, la seconda via e-mail o PEC. Se non ricevi nulla, contatta il Contact Center INPS.",
    })))
}

fn limit(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    state
        .request_limiter
        .check(browser::client_ip(req), std::time::Instant::now())
        .map_err(|wait| {
            let mut e = ApiError::new(
                ProblemKind::TooManyRequests,
                format!(
                    "Troppe richieste da questo dispositivo. Riprova tra {}.",
                    crate::web::italian::seconds(wait.secs())
                ),
            );
            e.retry_after = Some(u32::try_from(wait.secs()).unwrap_or(u32::MAX));
            e
        })
}

/// `POST /v1/me/pin/revoke`: the logged-in person revokes their own PIN.
pub async fn revoke_own(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    who.require_scope(scope::CREDENTIALS_WRITE)?;
    let cf = who.require_person()?.clone();
    recovery::revoke(&state, &cf, Revoker::Holder, state.clock.now())
        .await
        .map_err(|e| match e {
            IssuanceError::Pin(PinError::NoCredential) => {
                ApiError::not_found("Non risulta un PIN da revocare.")
            }
            other => problem(other, Audience::Citizen),
        })?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhonePinBody {
    /// 1d | 1w | 1m | 3m
    pub validity: String,
}

/// `POST /v1/me/phone-pin`: a new temporary telephone PIN (cancels the previous one).
pub async fn create_phone_pin(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Principal,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require_scope(scope::CREDENTIALS_WRITE)?;
    let cf = who.require_person()?.clone();
    let body: PhonePinBody = json_body(&req, payload).await?;
    let validity = Validity::parse(body.validity.trim()).ok_or_else(|| {
        ApiError::new(
            ProblemKind::ValidationFailed,
            "Alcuni dati non sono validi: correggerli e riprovare.",
        )
        .with_errors(vec![FieldError {
            field: "validity".to_owned(),
            reason: "invalid".to_owned(),
            message: "indicare 1d (un giorno), 1w (una settimana), 1m (un mese) o 3m (tre mesi)"
                .to_owned(),
        }])
    })?;
    let created = phone::create(&state, &cf, validity, state.clock.now())
        .await
        .map_err(super::pin_operator::pin_error)?;
    let mut resp = HttpResponse::Created().json(json!({
        "code": created.code,
        "expires_at": created.expires_at,
        "message": "Questo è il tuo PIN telefonico: comunicalo all'operatore del Contact Center quando chiami. Il precedente, se c'era, non vale più.",
    }));
    resp.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}
