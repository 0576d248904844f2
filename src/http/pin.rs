//! PIN issuance over HTTP: the citizen's online request (no login; Italian problems), and the
//! error mapping shared with the operator routes (English problems).

use super::browser;
use super::problems::Audience;
use crate::AppState;
use crate::audit::Party;
use crate::error::{ApiError, FieldError, ProblemKind};
use crate::pin::issuance::{self, Actor, IssuanceError, SubmitOutcome};
use crate::pin::policy::Refusal;
use crate::pin::request::{RequestChannel, RequestForm, RequesterData};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

/// `POST /v1/pin/requests`: a citizen (or their legal representative) asks for a PIN online.
pub async fn request_online(
    state: web::Data<AppState>,
    req: HttpRequest,
    web::Json(form): web::Json<RequestForm>,
) -> Result<HttpResponse, ApiError> {
    if let Err(wait) = state
        .request_limiter
        .check(browser::client_ip(&req), std::time::Instant::now())
    {
        let mut e = ApiError::new(
            ProblemKind::TooManyRequests,
            format!(
                "Troppe richieste da questo indirizzo. Riprova tra {} secondi.",
                wait.secs()
            ),
        );
        e.retry_after = Some(wait.secs());
        return Err(e);
    }
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
    let it = audience == Audience::Citizen;
    let pick = |italian: &str, english: &str| {
        if it {
            italian.to_owned()
        } else {
            english.to_owned()
        }
    };
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
            pick(
                "Risulta già un PIN attivo per questo codice fiscale: se lo hai smarrito usa il recupero del PIN, oppure revocalo prima di richiederne uno nuovo.",
                "This person already has an active PIN: recover or revoke it first.",
            ),
        ),
        IssuanceError::RequestPending => ApiError::new(
            ProblemKind::PinRequestPending,
            pick(
                "C'è già una richiesta di PIN in attesa per questo codice fiscale: sarai ricontattato dal Contact Center.",
                "A request for this person is already waiting for the contact centre.",
            ),
        ),
        IssuanceError::NotInRegistry => ApiError::new(
            ProblemKind::PersonNotInRegistry,
            pick(
                "Il codice fiscale non risulta negli archivi INPS.",
                "The person is not in the persons registry; the letter needs the registry address.",
            ),
        ),
        IssuanceError::NotFound => {
            ApiError::not_found(pick("Richiesta non trovata.", "No such PIN request."))
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
