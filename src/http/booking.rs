//! Desk bookings for citizens (Italian problems; seed 003):
//!
//! - no login: the desks, the month calendar and the free slots of a day (limited per
//!   address, `booking.calendar_requests_per_minute_per_address`);
//! - logged in with one's own identity (scope `bookings`, never a delegated token): hold a
//!   slot, confirm it within `booking.hold_minutes`, "Le mie prenotazioni" (list, read,
//!   cancel) with the meeting details once available;
//! - guests with only a codice fiscale, at desks that allow it: the same steps under
//!   `/v1/guest-bookings`, managed with the token handed out at the hold (header
//!   `Booking-Token`), limited per address (`booking.guest_requests_per_minute_per_address`).

use super::auth::{Principal, json_body};
use super::browser;
use super::problems::{Audience, parse_codice_fiscale};
use crate::AppState;
use crate::booking::availability::{self, DayState};
use crate::booking::book::{self, Canceller, DelegatorInput, Details, HoldRequest, Owner};
use crate::booking::{self, BookedVia, Booking, BookingError, Desk, DeskKind, Status, calendar};
use crate::db::{self, DbConn};
use crate::error::{ApiError, ProblemKind};
use crate::oauth::scope;
use crate::person::CodiceFiscale;
use crate::rate_limit::RateLimiter;
use crate::webmeeting::join::{self, MeetingState};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The header a guest sends their booking token in.
pub const BOOKING_TOKEN: &str = "Booking-Token";

/// A booking error as a problem (the texts are Italian: operators read them out too).
pub fn problem(e: BookingError, audience: Audience) -> ApiError {
    let kind = match &e {
        BookingError::DeskNotFound => {
            return ApiError::not_found(audience.pick("Sportello non trovato.", "No such desk."));
        }
        BookingError::NotFound => {
            return ApiError::not_found(
                audience.pick("Prenotazione non trovata.", "No such booking."),
            );
        }
        BookingError::Invalid(errors) => {
            return ApiError::new(
                ProblemKind::ValidationFailed,
                audience.pick(
                    "Alcuni dati non sono validi: correggerli e riprovare.",
                    "Some fields are not valid.",
                ),
            )
            .with_errors(errors.clone());
        }
        BookingError::Delegation(r) => {
            return ApiError::new(super::delegation::refusal_kind(*r), r.to_string())
                .with_extensions(json!({ "refusal": r.code() }));
        }
        BookingError::BadDesk(msg) => {
            return ApiError::new(ProblemKind::ValidationFailed, msg.clone());
        }
        BookingError::UnknownOperator(id) => {
            return ApiError::new(
                ProblemKind::ValidationFailed,
                format!("{id} is not an active operator."),
            )
            .with_extensions(json!({ "operator_id": id }));
        }
        BookingError::Db(_) | BookingError::Enqueue(_) => {
            return match e {
                BookingError::Db(d) => d.into(),
                other => ApiError::internal(other),
            };
        }
        BookingError::DeskInactive => ProblemKind::BookingDeskInactive,
        BookingError::GuestNotAllowed => ProblemKind::BookingGuestNotAllowed,
        BookingError::NotASlot => ProblemKind::BookingNotASlot,
        BookingError::SlotPast => ProblemKind::BookingSlotPast,
        BookingError::BeyondHorizon(_) => ProblemKind::BookingBeyondHorizon,
        BookingError::DayClosed => ProblemKind::BookingDayClosed,
        BookingError::SlotFull => ProblemKind::BookingSlotFull,
        BookingError::KindLimit => ProblemKind::BookingDeskTypeLimit,
        BookingError::OpenLimit(_) => ProblemKind::BookingOpenLimit,
        BookingError::HoldExpired => ProblemKind::BookingHoldExpired,
        BookingError::NotHeld(_) => ProblemKind::BookingNotHeld,
        BookingError::NotCancellable(_) => ProblemKind::BookingNotCancellable,
    };
    let ext = match &e {
        BookingError::OpenLimit(max) => Some(json!({ "max_open_bookings": max })),
        BookingError::BeyondHorizon(days) => Some(json!({ "horizon_days": days })),
        _ => None,
    };
    let err = ApiError::new(kind, e.to_string());
    match ext {
        Some(x) => err.with_extensions(x),
        None => err,
    }
}

fn citizen(e: BookingError) -> ApiError {
    problem(e, Audience::Citizen)
}

/// `429` with `Retry-After` when `limiter` refuses the caller's address.
pub fn limit(limiter: &RateLimiter, req: &HttpRequest) -> Result<(), ApiError> {
    limiter
        .check(browser::client_ip(req), std::time::Instant::now())
        .map_err(|wait| {
            let mut e = ApiError::new(
                ProblemKind::TooManyRequests,
                format!(
                    "Troppe richieste da questo indirizzo. Riprova tra {} secondi.",
                    wait.secs()
                ),
            );
            e.retry_after = Some(u32::try_from(wait.secs()).unwrap_or(u32::MAX));
            e
        })
}

fn bad_query(field: &str, message: &str) -> ApiError {
    ApiError::new(
        ProblemKind::InvalidQuery,
        format!("Parametro `{field}` non valido: {message}."),
    )
    .with_extensions(json!({ "field": field }))
}

// ---------------------------------------------------------------------------------------------
// Views

#[derive(Debug, Serialize)]
pub struct HoursView {
    pub weekday: &'static str,
    pub from: String,
    pub to: String,
}

/// A desk as anyone sees it.
#[derive(Debug, Serialize)]
pub struct DeskView {
    pub id: String,
    pub name: String,
    pub office: String,
    pub kind: &'static str,
    /// "modalità di erogazione", in Italian.
    pub mode: &'static str,
    pub time_zone: &'static str,
    pub opening: String,
    pub hours: Vec<HoursView>,
    pub slot_minutes: u32,
    pub guest_booking: bool,
    pub location: Option<String>,
    pub active: bool,
    /// "Oggi aperto dalle 08:30 alle 12:30" (seed 003), or "Oggi chiuso".
    pub today: String,
}

impl DeskView {
    pub fn of(desk: &Desk, now: DateTime<Utc>, national_holidays: bool) -> Self {
        let today = calendar::local_date(now, desk.tz);
        let ranges = desk.opening.ranges(chrono::Datelike::weekday(&today));
        let holiday = national_holidays && calendar::is_national_holiday(today);
        let today_text = if ranges.is_empty() || holiday {
            "Oggi chiuso".to_owned()
        } else {
            let parts: Vec<String> = ranges
                .iter()
                .map(|(f, t)| format!("dalle {} alle {}", f.format("%H:%M"), t.format("%H:%M")))
                .collect();
            format!("Oggi aperto {}", parts.join(" e "))
        };
        Self {
            id: desk.id.clone(),
            name: desk.name.clone(),
            office: desk.office.clone(),
            kind: desk.kind.as_str(),
            mode: desk.kind.mode_text(),
            time_zone: desk.tz.name(),
            opening: desk.opening.to_text(),
            hours: desk
                .opening
                .hours()
                .into_iter()
                .map(|(weekday, f, t)| HoursView {
                    weekday,
                    from: f.format("%H:%M").to_string(),
                    to: t.format("%H:%M").to_string(),
                })
                .collect(),
            slot_minutes: desk.slot_minutes,
            guest_booking: desk.guest_booking,
            location: desk.location.clone(),
            active: desk.active,
            today: today_text,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DeskRef {
    pub id: String,
    pub name: String,
    pub office: String,
    pub kind: &'static str,
    pub mode: &'static str,
    pub location: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DelegatorView {
    pub codice_fiscale: String,
    pub given_name: String,
    pub family_name: String,
}

#[derive(Debug, Serialize)]
pub struct MeetingView {
    /// From when the person may join (15 minutes before).
    pub opens_at: DateTime<Utc>,
    /// `not_yet_open`, `waiting`, `ready`, `ended`.
    pub status: &'static str,
    pub meeting_url: Option<String>,
}

impl From<MeetingState> for MeetingView {
    fn from(m: MeetingState) -> Self {
        Self {
            opens_at: m.opens_at,
            status: m.status,
            meeting_url: m.meeting_url,
        }
    }
}

/// A booking as its person sees it ("Le mie prenotazioni"); operators see the same, plus the
/// whole codice fiscale and who handles it.
#[derive(Debug, Serialize)]
pub struct BookingView {
    pub id: String,
    pub reference: String,
    pub status: String,
    pub desk: DeskRef,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// At the desk: `19/07/2022` and `09:00`.
    pub date: String,
    pub time: String,
    /// `CLOFBA*****501Y`, as the seed shows it.
    pub codice_fiscale: String,
    pub booked_via: String,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub delegator: Option<DelegatorView>,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub cancellable: bool,
    /// The MyINPS calendar card of the guide (seed 000), once confirmed.
    pub message: Option<String>,
    /// Web meeting only: when it opens, whether an operator took it, the link.
    pub meeting: Option<MeetingView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<DateTime<Utc>>,
}

/// The calendar card (seed 000, "Scadenza nell'area personale MyINPS").
fn card(desk: &Desk, b: &Booking, date: &str, time_full: &str) -> Option<String> {
    if b.status() != Some(Status::Confirmed) {
        return None;
    }
    let mut text = format!(
        "Gentile utente, la sua prenotazione in modalità {} per lo sportello '{}', per il giorno \
         {date} ore {time_full}, è stata regolarmente registrata.",
        if desk.kind == DeskKind::WebMeeting {
            "telematica"
        } else {
            desk.kind.mode_text()
        },
        desk.name
    );
    if desk.kind == DeskKind::WebMeeting {
        text.push_str(
            " Le comunichiamo che sia il delegato che il delegante dovranno essere entrambi \
             presenti al web meeting muniti di documenti di riconoscimento dell'identità \
             personale validi con fotografia e di ogni altra documentazione inerente alla \
             prenotazione: modello AA08 compilato e sottoscritto, con firma autografa o \
             digitale, e copia del documento di riconoscimento dell'identità personale. \
             Ciascun documento dovrà essere presentato in formato pdf di dimensione massima \
             3 Mb. Il servizio in videochiamata sarà oggetto di registrazione: senza il \
             consenso alla registrazione il servizio non potrà essere erogato nella modalità \
             richiesta.",
        );
    }
    Some(text)
}

/// Builds the view of `b` (with the meeting state for web meetings); `staff` adds what only
/// operators see.
pub fn view(
    conn: &mut DbConn,
    state: &AppState,
    b: Booking,
    now: DateTime<Utc>,
    staff: bool,
) -> Result<BookingView, ApiError> {
    let desk = booking::find_desk(conn, &b.desk_id)?
        .ok_or_else(|| ApiError::internal("a booking's desk is missing"))?;
    let (date, time_full) = booking::messages::date_and_time(&desk, b.starts());
    let time = time_full.get(..5).unwrap_or(&time_full).to_owned();
    let meeting = join::meeting_state(conn, state, &b, now)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map(MeetingView::from);
    // A hold past its minutes is over, though the job may not have given its place back yet.
    let lapsed = b.hold_lapsed(now);
    let open = !lapsed && matches!(b.status(), Some(Status::Held | Status::Confirmed));
    let delegator = match (
        &b.delegator_cf,
        &b.delegator_given_name,
        &b.delegator_family_name,
    ) {
        (Some(cf), Some(g), Some(f)) => Some(DelegatorView {
            codice_fiscale: cf.clone(),
            given_name: g.clone(),
            family_name: f.clone(),
        }),
        _ => None,
    };
    Ok(BookingView {
        message: card(&desk, &b, &date, &time_full),
        cancellable: open && b.starts() > now && b.handled_by.is_none(),
        desk: DeskRef {
            id: desk.id.clone(),
            name: desk.name.clone(),
            office: desk.office.clone(),
            kind: desk.kind.as_str(),
            mode: desk.kind.mode_text(),
            location: desk.location.clone(),
        },
        codice_fiscale: if staff {
            b.person_cf.clone()
        } else {
            crate::person::codice_fiscale::mask_text(&b.person_cf)
        },
        starts_at: b.starts(),
        ends_at: b.ends(),
        date,
        time,
        hold_expires_at: b
            .hold_expires_at
            .filter(|_| b.status() == Some(Status::Held))
            .map(|t| t.and_utc()),
        delegator,
        created_at: b.created_at.and_utc(),
        confirmed_at: b.confirmed_at.map(|t| t.and_utc()),
        ended_at: b.ended_at.map(|t| t.and_utc()),
        handled_by: if staff { b.handled_by.clone() } else { None },
        waiting_since: if staff {
            b.waiting_since.map(|t| t.and_utc())
        } else {
            None
        },
        meeting,
        id: b.id,
        reference: b.reference,
        status: if lapsed {
            Status::Expired.as_str().to_owned()
        } else {
            b.status
        },
        booked_via: b.booked_via,
        reason: b.reason,
        mobile: b.mobile,
        email: b.email,
        end_reason: b.end_reason,
    })
}

// ---------------------------------------------------------------------------------------------
// Desks, calendar, free slots (no login)

/// `GET /v1/desks`: the desks taking bookings.
pub async fn desks(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    limit(&state.calendar_limiter, &req)?;
    let now = state.clock.now();
    let holidays = state.config.booking.national_holidays;
    let list = db::run(&state.db, |c| booking::list_desks(c, true)).await?;
    let items: Vec<DeskView> = list
        .iter()
        .map(|d| DeskView::of(d, now, holidays))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn load_desk(state: &AppState, id: String) -> Result<Desk, ApiError> {
    db::run(&state.db, move |c| booking::find_desk(c, &id))
        .await?
        .ok_or_else(|| citizen(BookingError::DeskNotFound))
}

/// `GET /v1/desks/{id}`.
pub async fn desk(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    limit(&state.calendar_limiter, &req)?;
    let d = load_desk(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(DeskView::of(
        &d,
        state.clock.now(),
        state.config.booking.national_holidays,
    )))
}

#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    /// `YYYY-MM`; this month at the desk when absent.
    pub month: Option<String>,
}

/// `GET /v1/desks/{id}/calendar?month=YYYY-MM`: each day of the month, bookable or not.
pub async fn calendar(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<MonthQuery>,
) -> Result<HttpResponse, ApiError> {
    limit(&state.calendar_limiter, &req)?;
    let desk = load_desk(&state, path.into_inner()).await?;
    let now = state.clock.now();
    let (year, month) = match query.month.as_deref() {
        None => {
            let today = calendar::local_date(now, desk.tz);
            (
                chrono::Datelike::year(&today),
                chrono::Datelike::month(&today),
            )
        }
        Some(m) => NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
            .ok()
            .filter(|_| m.len() == 7)
            .map(|d| (chrono::Datelike::year(&d), chrono::Datelike::month(&d)))
            .ok_or_else(|| bad_query("month", "atteso AAAA-MM, per esempio 2026-12"))?,
    };
    let s = state.clone();
    let d = desk.clone();
    let days = db::run(&state.db, move |c| {
        availability::month(c, &d, year, month, now, &s.config.booking)
    })
    .await?;
    let days: Vec<serde_json::Value> = days
        .into_iter()
        .map(|(date, st)| {
            json!({
                "date": date,
                "status": st.as_str(),
                "free_slots": match st { DayState::Available(n) => n, _ => 0 },
                "notice": st.notice(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "desk_id": desk.id,
        "month": format!("{year:04}-{month:02}"),
        "days": days,
    })))
}

#[derive(Debug, Deserialize)]
pub struct DayQuery {
    /// `YYYY-MM-DD`.
    pub date: Option<String>,
}

/// `GET /v1/desks/{id}/slots?date=YYYY-MM-DD`: the slots of a day with a free place.
pub async fn slots(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<DayQuery>,
) -> Result<HttpResponse, ApiError> {
    limit(&state.calendar_limiter, &req)?;
    let date = query
        .date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| bad_query("date", "atteso AAAA-MM-GG, per esempio 2026-12-01"))?;
    let desk = load_desk(&state, path.into_inner()).await?;
    let now = state.clock.now();
    let s = state.clone();
    let d = desk.clone();
    let (st, free) = db::run(&state.db, move |c| {
        availability::day(c, &d, date, now, &s.config.booking)
    })
    .await?;
    let slots: Vec<serde_json::Value> = free
        .iter()
        .map(|f| {
            json!({
                "starts_at": f.slot.starts_at,
                "ends_at": f.slot.ends_at,
                "time": f.slot.local.format("%H:%M").to_string(),
                "free": f.free,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "desk_id": desk.id,
        "date": date,
        "status": st.as_str(),
        "notice": st.notice(),
        "slots": slots,
    })))
}

// ---------------------------------------------------------------------------------------------
// Logged-in persons

/// The person booking with their own identity: scope `bookings`, a person's token, and not a
/// token obtained for someone else (a delegate books for themselves).
fn own_identity(who: &Principal) -> Result<CodiceFiscale, ApiError> {
    who.require_scope(scope::BOOKINGS)?;
    let me = who.require_person()?.clone();
    if who.acting_delegate().is_some() {
        return Err(ApiError::new(
            ProblemKind::Forbidden,
            "Le prenotazioni si fanno con la propria identità, non per conto di un'altra persona.",
        ));
    }
    Ok(me)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    pub desk_id: String,
    /// The slot's start (RFC 3339, any offset), as listed by `/v1/desks/{id}/slots`.
    pub starts_at: DateTime<Utc>,
}

/// The hold's view; for a guest with the token that manages the booking (shown this once).
fn held(
    state: &AppState,
    conn: &mut DbConn,
    h: book::Held,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, ApiError> {
    let token = h.guest_token;
    let v = view(conn, state, h.booking, now, false)?;
    let mut body = serde_json::to_value(&v).map_err(ApiError::internal)?;
    if let (Some(t), Some(obj)) = (token, body.as_object_mut()) {
        obj.insert("booking_token".into(), json!(t));
    }
    Ok(body)
}

fn no_store(mut b: actix_web::HttpResponseBuilder, body: impl Serialize) -> HttpResponse {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// `POST /v1/bookings`: holds a slot for the person for `booking.hold_minutes`.
pub async fn hold(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Principal,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let me = own_identity(&who)?;
    let body: HoldBody = json_body(&req, payload).await?;
    hold_for(&state, me, body, BookedVia::Person).await
}

async fn hold_for(
    state: &web::Data<AppState>,
    person: CodiceFiscale,
    body: HoldBody,
    via: BookedVia,
) -> Result<HttpResponse, actix_web::Error> {
    let now = state.clock.now();
    let s = state.clone();
    let body = db::run(&state.db, move |c| {
        let h = book::hold(
            c,
            &s,
            &HoldRequest {
                desk_id: body.desk_id,
                starts_at: body.starts_at,
                person,
                via,
                operator_id: None,
            },
            now,
        )
        .map_err(citizen)?;
        held(&s, c, h, now)
    })
    .await?;
    Ok(no_store(HttpResponse::Created(), body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegatorBody {
    pub codice_fiscale: String,
    pub given_name: String,
    pub family_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// At most `booking.reason_max_chars` (150) characters.
    pub reason: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    /// Web meeting only: the delegator who will come with the person booking.
    pub delegator: Option<DelegatorBody>,
}

impl From<ConfirmBody> for Details {
    fn from(b: ConfirmBody) -> Self {
        Details {
            reason: b.reason,
            mobile: b.mobile,
            email: b.email,
            delegator: b.delegator.map(|d| DelegatorInput {
                codice_fiscale: d.codice_fiscale,
                given_name: d.given_name,
                family_name: d.family_name,
            }),
        }
    }
}

async fn confirm_as(
    state: &web::Data<AppState>,
    id: String,
    owner: Owner,
    details: Details,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let s = state.clone();
    let v = db::run(&state.db, move |c| {
        let b = book::confirm(c, &s, &id, &owner, &details, now).map_err(citizen)?;
        view(c, &s, b, now, false)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), v))
}

/// `POST /v1/bookings/{id}/confirm`.
pub async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Principal,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let me = own_identity(&who)?;
    let body: ConfirmBody = json_body(&req, payload).await?;
    Ok(confirm_as(&state, path.into_inner(), Owner::Person(me), body.into()).await?)
}

/// `GET /v1/bookings`: "Le mie prenotazioni", newest appointment first.
pub async fn list(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, ApiError> {
    let me = own_identity(&who)?;
    let now = state.clock.now();
    let s = state.clone();
    let items = db::run(&state.db, move |c| {
        booking::of_person(c, me.as_str(), 100)?
            .into_iter()
            .map(|b| view(c, &s, b, now, false))
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), json!({ "items": items })))
}

async fn show_as(
    state: &web::Data<AppState>,
    id: String,
    owner: Owner,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let s = state.clone();
    let v = db::run(&state.db, move |c| {
        let b = book::find_owned(c, &id, &owner).map_err(citizen)?;
        view(c, &s, b, now, false)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), v))
}

/// `GET /v1/bookings/{id}`: one booking, with the meeting details once available.
pub async fn show(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let me = own_identity(&who)?;
    show_as(&state, path.into_inner(), Owner::Person(me)).await
}

async fn cancel_as(
    state: &web::Data<AppState>,
    id: String,
    by: Canceller,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let s = state.clone();
    let staff = matches!(by, Canceller::Operator { .. });
    let audience = if staff {
        Audience::Staff
    } else {
        Audience::Citizen
    };
    let v = db::run(&state.db, move |c| {
        let b = book::cancel(c, &s, &id, &by, now).map_err(|e| problem(e, audience))?;
        view(c, &s, b, now, staff)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), v))
}

/// `POST /v1/bookings/{id}/cancel`: frees the slot; the person is told.
pub async fn cancel(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let me = own_identity(&who)?;
    cancel_as(
        &state,
        path.into_inner(),
        Canceller::Owner(Owner::Person(me)),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Guests (codice fiscale only)

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestHoldBody {
    pub desk_id: String,
    pub starts_at: DateTime<Utc>,
    pub codice_fiscale: String,
}

/// `POST /v1/guest-bookings`: holds a slot with only a codice fiscale; the answer carries the
/// `booking_token` (shown once) that confirms, reads and cancels it.
pub async fn guest_hold(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    limit(&state.guest_booking_limiter, &req)?;
    let body: GuestHoldBody = json_body(&req, payload).await?;
    let person = parse_codice_fiscale(
        &body.codice_fiscale,
        Some("codice_fiscale"),
        Audience::Citizen,
    )?;
    hold_for(
        &state,
        person,
        HoldBody {
            desk_id: body.desk_id,
            starts_at: body.starts_at,
        },
        BookedVia::Guest,
    )
    .await
}

/// The guest's token, or `404` (as for a wrong one: nothing to learn by probing).
fn guest_owner(req: &HttpRequest) -> Result<Owner, ApiError> {
    req.headers()
        .get(BOOKING_TOKEN)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .map(|t| Owner::Guest(t.to_owned()))
        .ok_or_else(|| citizen(BookingError::NotFound))
}

/// `GET /v1/guest-bookings/{id}` with `Booking-Token`.
pub async fn guest_show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    limit(&state.guest_booking_limiter, &req)?;
    let owner = guest_owner(&req)?;
    show_as(&state, path.into_inner(), owner).await
}

/// `POST /v1/guest-bookings/{id}/confirm` with `Booking-Token`.
pub async fn guest_confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    limit(&state.guest_booking_limiter, &req)?;
    let owner = guest_owner(&req)?;
    let body: ConfirmBody = json_body(&req, payload).await?;
    Ok(confirm_as(&state, path.into_inner(), owner, body.into()).await?)
}

/// `POST /v1/guest-bookings/{id}/cancel` with `Booking-Token`.
pub async fn guest_cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    limit(&state.guest_booking_limiter, &req)?;
    let owner = guest_owner(&req)?;
    cancel_as(&state, path.into_inner(), Canceller::Owner(owner)).await
}

/// Internal: for `webmeeting.rs` (the person's join) and the operator routes.
pub(super) fn own_identity_of(who: &Principal) -> Result<CodiceFiscale, ApiError> {
    own_identity(who)
}

/// Internal: cancellation by an operator.
pub(super) async fn cancel_by_operator(
    state: &web::Data<AppState>,
    id: String,
    operator_id: String,
    reason: String,
) -> Result<HttpResponse, ApiError> {
    cancel_as(
        state,
        id,
        Canceller::Operator {
            id: operator_id,
            reason,
        },
    )
    .await
}
