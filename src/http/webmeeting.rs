//! The web meeting over HTTP: the person's `POST /v1/bookings/{id}/join` (Italian: the
//! guide's refusal before the window, a waiting room, then the link) and the operator's
//! `/v1/operator/web-meetings*` (role `web_meeting`; English, reads audited).

use super::auth::{OperatorPrincipal, Principal, json_body};
use super::booking::{BookingView, view};
use super::delegation_operator::audit_read;
use super::multipart;
use super::problems::Audience;
use crate::AppState;
use crate::booking::book::Owner;
use crate::booking::{self, DeskKind, Status, calendar};
use crate::db;
use crate::error::{ApiError, ProblemKind};
use crate::operator::Role;
use crate::person::CodiceFiscale;
use crate::webmeeting::join::{self, Joined};
use crate::webmeeting::session::{self, Consent, IdentityCheck};
use crate::webmeeting::{self as wm, Session, Side, WebMeetingError, complete};
use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A web-meeting error as a problem for `audience`.
pub fn problem(e: WebMeetingError, audience: Audience) -> ApiError {
    let text = |it: &str, en: String| audience.pick(it, en);
    match e {
        WebMeetingError::Booking(b) => super::booking::problem(b, audience),
        WebMeetingError::NotWebMeeting => ApiError::new(
            ProblemKind::WebMeetingNotWebMeeting,
            text(
                "La prenotazione non riguarda lo sportello deleghe in web meeting.",
                "The booking is not at a web-meeting desk.".into(),
            ),
        ),
        WebMeetingError::NotConfirmed(status) => ApiError::new(
            ProblemKind::WebMeetingNotConfirmed,
            text(
                "La prenotazione non è confermata.",
                format!("The booking is not confirmed: it is {status}."),
            ),
        ),
        WebMeetingError::TooEarly { message, opens_at } => {
            ApiError::new(ProblemKind::WebMeetingTooEarly, message)
                .with_extensions(json!({ "available_from": opens_at }))
        }
        WebMeetingError::JoinClosed => ApiError::new(
            ProblemKind::WebMeetingClosed,
            text(
                "La sessione di web meeting non è più disponibile per questa prenotazione.",
                "The web meeting is no longer available for this booking.".into(),
            ),
        ),
        WebMeetingError::TakenByAnother => ApiError::new(
            ProblemKind::WebMeetingTakenByAnother,
            "Another operator has taken this booking in charge.",
        ),
        WebMeetingError::NotTaken => ApiError::new(
            ProblemKind::WebMeetingNotTaken,
            "Take the booking in charge first (POST …/take).",
        ),
        WebMeetingError::Ended(status) => ApiError::new(
            ProblemKind::WebMeetingEnded,
            format!("The session has ended ({status})."),
        )
        .with_extensions(json!({ "session_status": status })),
        WebMeetingError::DocumentExpired(side, on) => ApiError::new(
            ProblemKind::WebMeetingDocumentExpired,
            format!("The {side}'s identity document expired on {on}: it cannot be accepted."),
        )
        .with_extensions(json!({ "side": side, "expires_on": on })),
        WebMeetingError::Incomplete(missing) => ApiError::new(
            ProblemKind::WebMeetingIncomplete,
            format!(
                "The delegation cannot be registered yet: missing {}.",
                missing.join(", ")
            ),
        )
        .with_extensions(json!({ "missing": missing })),
        WebMeetingError::Invalid(msg) => ApiError::new(ProblemKind::ValidationFailed, msg),
        WebMeetingError::Document(name, why) => {
            ApiError::new(ProblemKind::DocumentRejected, format!("{name}: {why}."))
                .with_extensions(json!({ "document": name }))
        }
        WebMeetingError::Delegation(d) => super::delegation::problem(d, audience),
        WebMeetingError::Db(d) => d.into(),
        WebMeetingError::Enqueue(q) => ApiError::internal(q),
    }
}

fn staff(e: WebMeetingError) -> ApiError {
    problem(e, Audience::Staff)
}

/// `POST /v1/bookings/{id}/join`: "Accedi al Web Meeting".
pub async fn join(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let me = super::booking::own_identity_of(&who)?;
    let (id, now, s) = (path.into_inner(), state.clock.now(), state.clone());
    let joined = db::run(&state.db, move |c| {
        join::join(c, &s, &id, &Owner::Person(me), now)
    })
    .await
    .map_err(|e| problem(e, Audience::Citizen))?;
    Ok(match joined {
        Joined::Waiting { since } => {
            let retry = state.config.webmeeting.waiting_retry_secs;
            HttpResponse::Accepted()
                .insert_header((header::RETRY_AFTER, retry.to_string()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({
                    "status": "waiting",
                    "waiting_since": since,
                    "message": "Fino a quando il funzionario INPS non prenderà in carico la \
                        prenotazione, resterà in attesa in questa schermata. La richiesta al \
                        funzionario è già stata inviata.",
                }))
        }
        Joined::Ready { meeting_url } => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({
                "status": "ready",
                "meeting_url": meeting_url,
                "message": "Il funzionario INPS ha preso in carico la prenotazione: può accedere \
                    al web meeting. Delegato e delegante devono essere entrambi presenti.",
            })),
    })
}

// ---------------------------------------------------------------------------------------------
// Operators

/// A session as its operator sees it.
#[derive(Debug, Serialize)]
pub struct SessionView {
    pub status: String,
    pub operator_id: String,
    pub taken_at: DateTime<Utc>,
    pub meeting_url: String,
    pub delegate_identity: Option<IdentityView>,
    pub delegator_identity: Option<IdentityView>,
    pub delegate_consent: Option<bool>,
    pub delegator_consent: Option<bool>,
    pub documents: Vec<DocumentView>,
    /// What completion still needs.
    pub missing: Vec<&'static str>,
    pub delegation_id: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct IdentityView {
    pub document_type: String,
    pub document_number: String,
    pub expires_on: Option<NaiveDate>,
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct DocumentView {
    pub kind: String,
    pub sha256: String,
    pub size_bytes: i64,
}

/// A web-meeting booking with its session.
#[derive(Debug, Serialize)]
pub struct MeetingView {
    #[serde(flatten)]
    pub booking: BookingView,
    pub session: Option<SessionView>,
}

fn identity(
    t: &Option<String>,
    n: &Option<String>,
    e: Option<NaiveDate>,
    at: Option<chrono::NaiveDateTime>,
) -> Option<IdentityView> {
    Some(IdentityView {
        document_type: t.clone()?,
        document_number: n.clone()?,
        expires_on: e,
        checked_at: at?.and_utc(),
    })
}

fn session_view(
    c: &mut db::DbConn,
    state: &AppState,
    s: Session,
    b: &booking::Booking,
) -> Result<SessionView, ApiError> {
    let documents: Vec<DocumentView> = session::documents_of(c, &s.booking_id)?
        .into_iter()
        .map(|(kind, sha256, size_bytes)| DocumentView {
            kind,
            sha256,
            size_bytes,
        })
        .collect();
    let mut missing = s.missing_steps();
    if s.in_progress() {
        for kind in session::DOCUMENT_KINDS {
            if !documents.iter().any(|d| d.kind == kind.as_str()) {
                missing.push(kind.as_str());
            }
        }
    } else {
        missing.clear();
    }
    Ok(SessionView {
        meeting_url: wm::meeting_url(&state.config.webmeeting.meeting_url_template, &s, b),
        delegate_identity: identity(
            &s.delegate_document_type,
            &s.delegate_document_number,
            s.delegate_document_expires_on,
            s.delegate_checked_at,
        ),
        delegator_identity: identity(
            &s.delegator_document_type,
            &s.delegator_document_number,
            s.delegator_document_expires_on,
            s.delegator_checked_at,
        ),
        delegate_consent: s.delegate_consent,
        delegator_consent: s.delegator_consent,
        documents,
        missing,
        taken_at: s.taken_at.and_utc(),
        ended_at: s.ended_at.map(|t| t.and_utc()),
        status: s.status,
        operator_id: s.operator_id,
        delegation_id: s.delegation_id,
        end_reason: s.end_reason,
    })
}

fn meeting_view(
    c: &mut db::DbConn,
    state: &AppState,
    b: booking::Booking,
    now: DateTime<Utc>,
) -> Result<MeetingView, ApiError> {
    let session = match wm::find_session(c, &b.id)? {
        Some(s) => Some(session_view(c, state, s, &b)?),
        None => None,
    };
    Ok(MeetingView {
        booking: view(c, state, b, now, true)?,
        session,
    })
}

/// Runs one step of the operator `who` on the session of booking `id` (a domain function
/// taking the connection, the state, the operator id, the booking id and the time), then
/// reads back the booking with its session for the answer.
async fn step<T: Send + 'static>(
    state: &web::Data<AppState>,
    who: &OperatorPrincipal,
    id: String,
    f: impl FnOnce(&mut db::DbConn, &AppState, &str, &str, DateTime<Utc>) -> Result<T, WebMeetingError>
    + Send
    + 'static,
) -> Result<(T, MeetingView), ApiError> {
    let (now, s, op) = (state.clock.now(), state.clone(), who.id().to_owned());
    db::run(&state.db, move |c| {
        let out = f(c, &s, &op, &id, now).map_err(staff)?;
        let b = booking::find(c, &id)?.ok_or_else(|| ApiError::not_found("No such booking."))?;
        Ok((out, meeting_view(c, &s, b, now)?))
    })
    .await
}

fn no_store(body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

fn delegator_of(v: &MeetingView) -> Option<CodiceFiscale> {
    v.booking
        .delegator
        .as_ref()
        .and_then(|d| CodiceFiscale::parse(&d.codice_fiscale).ok())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TodayQuery {
    /// `YYYY-MM-DD`; today (Europe/Rome, `booking.default_time_zone`) when absent.
    pub date: Option<NaiveDate>,
}

/// `GET /v1/operator/web-meetings?date=`: the day's web-meeting bookings, in order, with who
/// is waiting and each session. Audited as a read.
pub async fn today(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    query: web::Query<TodayQuery>,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::WebMeeting)?;
    let now = state.clock.now();
    let tz: chrono_tz::Tz = state
        .config
        .booking
        .default_time_zone
        .parse()
        .unwrap_or(chrono_tz::Europe::Rome);
    let day = query.date.unwrap_or_else(|| calendar::local_date(now, tz));
    let (from, to) = calendar::day_bounds(day, tz);
    let s = state.clone();
    let items: Vec<MeetingView> = db::run(&state.db, move |c| {
        booking::of_kind_between(
            c,
            DeskKind::WebMeeting,
            from,
            to,
            &[
                Status::Confirmed,
                Status::Completed,
                Status::Closed,
                Status::Concluded,
            ],
        )?
        .into_iter()
        .map(|b| meeting_view(c, &s, b, now))
        .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    let ids: Vec<&str> = items.iter().map(|i| i.booking.id.as_str()).collect();
    audit_read(
        &state,
        &who,
        "webmeeting.listed",
        None,
        json!({ "date": day, "booking_ids": ids }),
    )
    .await?;
    Ok(no_store(json!({ "date": day, "items": items })))
}

/// `GET /v1/operator/web-meetings/{id}`. Audited as a read.
pub async fn show(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::WebMeeting)?;
    let (id, now, s) = (path.into_inner(), state.clock.now(), state.clone());
    let v = db::run(&state.db, move |c| {
        let (b, _) = wm::web_meeting_booking(c, &id).map_err(staff)?;
        meeting_view(c, &s, b, now)
    })
    .await?;
    audit_read(
        &state,
        &who,
        "webmeeting.read",
        delegator_of(&v),
        json!({ "booking_id": v.booking.id }),
    )
    .await?;
    Ok(no_store(v))
}

/// `POST /v1/operator/web-meetings/{id}/take`: takes the booking in charge; the person
/// waiting receives the meeting link.
pub async fn take(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::WebMeeting)?;
    let (_, v) = step(&state, &who, path.into_inner(), session::take).await?;
    Ok(no_store(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    /// delegate | delegator
    pub side: String,
    /// carta_identita | carta_identita_elettronica | passaporto | patente_di_guida | altro
    pub document_type: String,
    pub document_number: String,
    pub expires_on: NaiveDate,
}

fn side(s: &str) -> Result<Side, ApiError> {
    Side::parse(s).ok_or_else(|| {
        ApiError::new(
            ProblemKind::ValidationFailed,
            "`side` must be delegate or delegator.",
        )
    })
}

/// `POST /v1/operator/web-meetings/{id}/identity`: the identity check of one person.
pub async fn identity_check(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::WebMeeting)?;
    let body: IdentityBody = json_body(&req, payload).await?;
    let check = IdentityCheck {
        side: side(&body.side)?,
        document_type: body.document_type,
        document_number: body.document_number,
        expires_on: body.expires_on,
    };
    let (_, v) = step(&state, &who, path.into_inner(), move |c, s, op, id, now| {
        session::record_identity(c, s, op, id, &check, now)
    })
    .await?;
    Ok(no_store(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// delegate | delegator
    pub side: String,
    pub given: bool,
    /// Required with a refusal; kept with the closed session.
    pub reason: Option<String>,
}

/// `POST /v1/operator/web-meetings/{id}/consent`: one person's answer to the recording
/// consent; a refusal ends the session.
pub async fn consent(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::WebMeeting)?;
    let body: ConsentBody = json_body(&req, payload).await?;
    let answer = Consent {
        side: side(&body.side)?,
        given: body.given,
        reason: body.reason,
    };
    let (_, v) = step(&state, &who, path.into_inner(), move |c, s, op, id, now| {
        session::record_consent(c, s, op, id, &answer, now)
    })
    .await?;
    Ok(no_store(v))
}

/// `POST /v1/operator/web-meetings/{id}/documents`: multipart with PDF parts named `aa08`,
/// `delegator_id_document`, `delegate_id_document` (each at most
/// `webmeeting.document_max_bytes`, read as a stream and cut off beyond it).
pub async fn documents(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::WebMeeting)?;
    let max = state.config.webmeeting.document_max_bytes;
    // No JSON part here: every part is a document.
    let upload = multipart::read(payload, "\0", max).await?;
    let (_, v) = step(&state, &who, path.into_inner(), move |c, s, op, id, now| {
        session::store_documents(c, s, op, id, upload.files, now)
    })
    .await?;
    Ok(no_store(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// The delegation's end date, if the delegator chose one.
    pub ends_on: Option<NaiveDate>,
}

/// `POST /v1/operator/web-meetings/{id}/complete`: registers the delegation (channel
/// `web_meeting`, active at once, both parties notified).
pub async fn complete(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::WebMeeting)?;
    let body: CompleteBody = json_body(&req, payload).await?;
    let ((_, delegation), v) = step(&state, &who, path.into_inner(), move |c, s, op, id, now| {
        complete::complete(c, s, op, id, body.ends_on, now)
    })
    .await?;
    Ok(no_store(json!({
        "web_meeting": v,
        "delegation": super::delegation::DelegationView::from(delegation),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    pub reason: String,
}

/// `POST /v1/operator/web-meetings/{id}/close`: ends the session without a delegation.
pub async fn close(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::WebMeeting)?;
    let body: CloseBody = json_body(&req, payload).await?;
    let (_, v) = step(&state, &who, path.into_inner(), move |c, s, op, id, now| {
        session::close(c, s, op, id, &body.reason, now)
    })
    .await?;
    Ok(no_store(v))
}
