//! `/v1/operator/desks*` and `/v1/operator/bookings*`: desks, closures and duty rosters for
//! administrators (`admin`); bookings made on the phone and cancelled by contact-centre and
//! desk operators (`contact_center`, `sportello`; cancellation and look-up also
//! `web_meeting`). English `detail`, except the booking refusals operators read out to the
//! citizen (Italian). Look-ups are audited as reads.

use super::auth::{OperatorPrincipal, json_body};
use super::booking::{BookingView, DeskView, problem, view};
use super::delegation_operator::{LookupQuery, audit_read};
use super::problems::{Audience, parse_codice_fiscale};
use crate::AppState;
use crate::booking::book::{self, Details, PhoneBooking};
use crate::booking::desks::{self, DayRange, NewDesk};
use crate::booking::{self, BookingError, DeskKind};
use crate::db;
use crate::error::{ApiError, ProblemKind};
use crate::operator::Role;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

fn staff(e: BookingError) -> ApiError {
    problem(e, Audience::Staff)
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(ProblemKind::ValidationFailed, detail)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskBody {
    pub name: String,
    pub office: String,
    /// web_meeting | pin_in_person | in_person | phone_callback
    pub kind: String,
    pub time_zone: Option<String>,
    /// `tue 09:00-12:00; thu 09:00-12:00`; web-meeting desks default to
    /// `webmeeting.default_opening`.
    pub opening: Option<String>,
    /// 8 to 20.
    pub slot_minutes: u32,
    #[serde(default)]
    pub guest_booking: bool,
    pub location: Option<String>,
}

/// `POST /v1/operator/desks` (admin).
pub async fn create_desk(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::Admin)?;
    let body: DeskBody = json_body(&req, payload).await?;
    let kind = DeskKind::parse(&body.kind).ok_or_else(|| {
        invalid("`kind` must be web_meeting, pin_in_person, in_person or phone_callback.")
    })?;
    let now = state.clock.now();
    let s = state.clone();
    let admin = who.id().to_owned();
    let desk = db::run(&state.db, move |c| {
        desks::create(
            c,
            &s,
            &admin,
            NewDesk {
                name: body.name,
                office: body.office,
                kind,
                time_zone: body.time_zone,
                opening: body.opening,
                slot_minutes: body.slot_minutes,
                guest_booking: body.guest_booking,
                location: body.location,
            },
            now,
        )
    })
    .await
    .map_err(staff)?;
    Ok(HttpResponse::Created().json(DeskView::of(
        &desk,
        now,
        state.config.booking.national_holidays,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveBody {
    pub active: bool,
}

/// `POST /v1/operator/desks/{id}/active` (admin): opens or closes the desk to new bookings.
pub async fn set_active(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::Admin)?;
    let body: ActiveBody = json_body(&req, payload).await?;
    let (id, now, s, admin) = (
        path.into_inner(),
        state.clock.now(),
        state.clone(),
        who.id().to_owned(),
    );
    let desk = db::run(&state.db, move |c| {
        desks::set_active(c, &s, &admin, &id, body.active, now)
    })
    .await
    .map_err(staff)?;
    Ok(HttpResponse::Ok().json(DeskView::of(
        &desk,
        now,
        state.config.booking.national_holidays,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureBody {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Shown on the calendar and told to the people whose bookings it cancels.
    pub notice: String,
}

/// `POST /v1/operator/desks/{id}/closures` (admin): closes days; their open bookings are
/// cancelled and each person told why.
pub async fn add_closure(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::Admin)?;
    let body: ClosureBody = json_body(&req, payload).await?;
    let days = DayRange::new(body.first_day, body.last_day).map_err(staff)?;
    let (id, now, s, admin) = (
        path.into_inner(),
        state.clock.now(),
        state.clone(),
        who.id().to_owned(),
    );
    let (closure, cancelled) = db::run(&state.db, move |c| {
        desks::add_closure(c, &s, &admin, &id, days, &body.notice, now)
    })
    .await
    .map_err(staff)?;
    Ok(HttpResponse::Created().json(json!({
        "id": closure.id,
        "desk_id": closure.desk_id,
        "first_day": closure.first_day,
        "last_day": closure.last_day,
        "notice": closure.notice,
        "cancelled_bookings": cancelled,
    })))
}

/// `DELETE /v1/operator/desks/{id}/closures/{closure_id}` (admin).
pub async fn remove_closure(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    who.require(Role::Admin)?;
    let (desk_id, closure_id) = path.into_inner();
    let (now, s, admin) = (state.clock.now(), state.clone(), who.id().to_owned());
    db::run(&state.db, move |c| {
        desks::remove_closure(c, &s, &admin, &desk_id, &closure_id, now)
    })
    .await
    .map_err(|e| match e {
        BookingError::NotFound => ApiError::not_found("No such closure at this desk."),
        other => staff(other),
    })?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutyBody {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// The operators on duty on each opening day of the range (empty: nobody).
    pub operator_ids: Vec<String>,
}

/// `PUT /v1/operator/desks/{id}/duty` (admin): the operators on duty from `first_day` to
/// `last_day`; each slot of those days has one place per operator.
pub async fn set_duty(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require(Role::Admin)?;
    let body: DutyBody = json_body(&req, payload).await?;
    let days = DayRange::new(body.first_day, body.last_day).map_err(staff)?;
    let (id, now, s, admin) = (
        path.into_inner(),
        state.clock.now(),
        state.clone(),
        who.id().to_owned(),
    );
    let report = db::run(&state.db, move |c| {
        desks::set_duty(c, &s, &admin, &id, days, &body.operator_ids, now)
    })
    .await
    .map_err(staff)?;
    Ok(HttpResponse::Ok().json(json!({
        "days": report.days,
        "overbooked_slots": report.overbooked_slots,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

/// `GET /v1/operator/desks/{id}/duty?first_day=…&last_day=…`: the roster.
pub async fn duty(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    path: web::Path<String>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    who.require_any(&[
        Role::Admin,
        Role::WebMeeting,
        Role::Sportello,
        Role::ContactCenter,
    ])?;
    let days = DayRange::new(query.first_day, query.last_day).map_err(staff)?;
    let id = path.into_inner();
    let rows = db::run(&state.db, move |c| {
        booking::find_desk(c, &id)?.ok_or(BookingError::DeskNotFound)?;
        Ok::<_, BookingError>(desks::duty_between(c, &id, days.first, days.last)?)
    })
    .await
    .map_err(staff)?;
    let mut by_day: Vec<serde_json::Value> = Vec::new();
    for (day, op) in rows {
        match by_day.last_mut() {
            Some(last) if last["day"] == json!(day) => {
                if let Some(list) = last["operator_ids"].as_array_mut() {
                    list.push(json!(op));
                }
            }
            _ => by_day.push(json!({ "day": day, "operator_ids": [op] })),
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "items": by_day })))
}

/// `GET /v1/operator/bookings?codice_fiscale=…`: a person's bookings. Audited as a read.
pub async fn lookup(
    state: web::Data<AppState>,
    who: OperatorPrincipal,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, ApiError> {
    who.require_any(&[Role::ContactCenter, Role::Sportello, Role::WebMeeting])?;
    let cf = query.person()?;
    let (code, now, s) = (cf.as_str().to_owned(), state.clock.now(), state.clone());
    let items: Vec<BookingView> = db::run(&state.db, move |c| {
        booking::of_person(c, &code, 200)?
            .into_iter()
            .map(|b| view(c, &s, b, now, true))
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    audit_read(
        &state,
        &who,
        "booking.looked_up",
        Some(cf),
        json!({ "results": items.len() }),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneBookingBody {
    pub desk_id: String,
    pub starts_at: DateTime<Utc>,
    /// The person on the phone (for a web meeting: the future delegate).
    pub codice_fiscale: String,
    pub reason: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub delegator: Option<super::booking::DelegatorBody>,
}

/// `POST /v1/operator/bookings` (contact_center, sportello): books for the person on the
/// phone (msg 3026: the contact centre books web meetings too), confirmed at once.
pub async fn book_by_phone(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require_any(&[Role::ContactCenter, Role::Sportello])?;
    let body: PhoneBookingBody = json_body(&req, payload).await?;
    let person = parse_codice_fiscale(
        &body.codice_fiscale,
        Some("codice_fiscale"),
        Audience::Staff,
    )?;
    let details = Details {
        reason: body.reason,
        mobile: body.mobile,
        email: body.email,
        delegator: body.delegator.map(|d| book::DelegatorInput {
            codice_fiscale: d.codice_fiscale,
            given_name: d.given_name,
            family_name: d.family_name,
        }),
    };
    let booking = PhoneBooking {
        desk_id: body.desk_id,
        starts_at: body.starts_at,
        person,
        operator_id: who.id().to_owned(),
        details,
    };
    let (now, s) = (state.clock.now(), state.clone());
    let v = db::run(&state.db, move |c| book::by_operator(c, &s, booking, now))
        .await
        .map_err(staff)?;
    let s = state.clone();
    let view = db::run(&state.db, move |c| view(c, &s, v, now, true)).await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Told to the person.
    pub reason: String,
}

/// `POST /v1/operator/bookings/{id}/cancel`: frees the slot; the person is told the reason.
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: OperatorPrincipal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    who.require_any(&[Role::ContactCenter, Role::Sportello, Role::WebMeeting])?;
    let body: CancelBody = json_body(&req, payload).await?;
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 300 {
        return Err(invalid("`reason` must be 1 to 300 characters.").into());
    }
    Ok(
        super::booking::cancel_by_operator(&state, path.into_inner(), who.id().to_owned(), reason)
            .await?,
    )
}
