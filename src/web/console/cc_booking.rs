//! Bookings taken on the phone (`contact_center`; msg 3026: the contact centre books web
//! meetings too): the operator chooses a desk, a day with free places and a slot, types the
//! caller's codice fiscale and contacts (for a web meeting, the delegator's data), and
//! confirms. The same domain function as `POST /v1/operator/bookings`
//! (`booking::book::by_operator`: the same checks, limits, confirmation message and
//! `booking.confirmed` audit with the operator as actor). The confirmation shows what the
//! caller is told.

use super::guard::{self, Desk};
use super::{Frame, render, unavailable};
use crate::AppState;
use crate::booking::availability::{self, DayState};
use crate::booking::book::{self, DelegatorInput, Details, PhoneBooking};
use crate::booking::{self, BookingError, DeskKind, calendar};
use crate::db;
use crate::oauth::params::Params;
use crate::operator::Role;
use crate::person::CodiceFiscale;
use crate::web::forms::{Field, FormErrors};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Datelike, NaiveDate};

pub const PATH: &str = "/console/contact-center/prenotazioni";

/// Days with free places listed at most.
const MAX_DAYS: usize = 40;

pub struct DeskOption {
    pub id: String,
    pub text: String,
    pub selected: bool,
}

pub struct DayOption {
    pub href: String,
    pub text: String,
    pub current: bool,
}

pub struct SlotOption {
    pub value: String,
    pub text: String,
    pub checked: bool,
}

/// The desk chosen, as the page names it.
pub struct Chosen {
    pub id: String,
    pub name: String,
    pub office: String,
    pub mode: &'static str,
    pub web_meeting: bool,
}

#[derive(Template)]
#[template(path = "console/cc_booking.html")]
struct Page<'a> {
    frame: Frame<'a>,
    csrf: String,
    desks: Vec<DeskOption>,
    desk: Option<Chosen>,
    days: Vec<DayOption>,
    /// The day chosen (aaaa-mm-gg) and as read.
    day: String,
    day_text: String,
    /// Why the day offers nothing, when it does not.
    day_note: Option<String>,
    slots: Vec<SlotOption>,
    slot_error: Option<String>,
    fields: Vec<Field>,
    delegator_fields: Vec<Field>,
    summary: Vec<(String, String)>,
}

/// What the operator chose and typed.
#[derive(Default)]
struct Typed {
    desk_id: String,
    day: String,
    starts_at: String,
    codice_fiscale: String,
    mobile: String,
    email: String,
    reason: String,
    delegator_codice_fiscale: String,
    delegator_given_name: String,
    delegator_family_name: String,
}

impl Typed {
    fn from(p: &Params) -> Self {
        let v = |n: &str| p.get(n).unwrap_or_default().trim().to_owned();
        Self {
            desk_id: v("sportello"),
            day: v("giorno"),
            starts_at: v("starts_at"),
            codice_fiscale: v("codice_fiscale").to_uppercase(),
            mobile: v("mobile"),
            email: v("email"),
            reason: v("reason"),
            delegator_codice_fiscale: v("delegator_codice_fiscale").to_uppercase(),
            delegator_given_name: v("delegator_given_name"),
            delegator_family_name: v("delegator_family_name"),
        }
    }
}

/// What the desk and the day offer, read in one go.
struct Offer {
    desks: Vec<booking::Desk>,
    desk: Option<booking::Desk>,
    days: Vec<NaiveDate>,
    day: Option<(NaiveDate, DayState, Vec<availability::FreeSlot>)>,
}

async fn offer(
    state: &AppState,
    desk_id: String,
    day: Option<NaiveDate>,
) -> Result<Offer, db::DbError> {
    let (s, now) = (state.clone(), state.clock.now());
    db::run(&state.db, move |c| {
        let desks = booking::list_desks(c, true)?;
        let desk = desks.iter().find(|d| d.id == desk_id).cloned();
        let (mut days, mut chosen) = (Vec::new(), None);
        if let Some(d) = &desk {
            let cfg = &s.config.booking;
            let today = calendar::local_date(now, d.tz);
            let last = today
                .checked_add_days(chrono::Days::new(u64::from(cfg.horizon_days)))
                .unwrap_or(today);
            let mut month = today.with_day(1).unwrap_or(today);
            while month <= last && days.len() < MAX_DAYS {
                for (date, st) in availability::month(c, d, month.year(), month.month(), now, cfg)?
                {
                    if matches!(st, DayState::Available(_)) && days.len() < MAX_DAYS {
                        days.push(date);
                    }
                }
                let Some(next) = month.checked_add_months(chrono::Months::new(1)) else {
                    break;
                };
                month = next;
            }
            if let Some(day) = day {
                let (st, slots) = availability::day(c, d, day, now, cfg)?;
                chosen = Some((day, st, slots));
            }
        }
        Ok(Offer {
            desks,
            desk,
            days,
            day: chosen,
        })
    })
    .await
}

fn weekday(d: NaiveDate) -> &'static str {
    match d.weekday() {
        chrono::Weekday::Mon => "lunedì",
        chrono::Weekday::Tue => "martedì",
        chrono::Weekday::Wed => "mercoledì",
        chrono::Weekday::Thu => "giovedì",
        chrono::Weekday::Fri => "venerdì",
        chrono::Weekday::Sat => "sabato",
        chrono::Weekday::Sun => "domenica",
    }
}

fn day_text(d: NaiveDate) -> String {
    format!("{} {}", weekday(d), crate::web::italian::date(d))
}

fn day_note(st: &DayState) -> Option<String> {
    match st {
        DayState::Available(_) => None,
        DayState::Past => Some("Il giorno scelto è passato: scegline un altro.".into()),
        DayState::NotYetOpen => Some("Per il giorno scelto non si può ancora prenotare.".into()),
        DayState::Full => Some("Nel giorno scelto non ci sono più posti liberi.".into()),
        DayState::Closed(Some(n)) => Some(format!("Lo sportello è chiuso nel giorno scelto: {n}.")),
        DayState::Closed(None) => Some("Lo sportello è chiuso nel giorno scelto.".into()),
    }
}

/// The form's fields with what was typed and their errors.
fn fields(t: &Typed, errors: &FormErrors) -> (Vec<Field>, Vec<Field>) {
    let mut main = vec![
        Field::codice_fiscale("codice_fiscale", "Codice fiscale di chi chiama")
            .hint("16 caratteri. Per il web meeting è il delegato.")
            .value(&t.codice_fiscale),
        Field::new("mobile", "Cellulare", "tel")
            .optional()
            .hint("Per il web meeting è obbligatorio: riceve il codice SMS della stanza virtuale.")
            .inputmode("tel")
            .maxlength(30)
            .value(&t.mobile),
        Field::new("email", "E-mail", "email")
            .optional()
            .maxlength(254)
            .value(&t.email),
        Field::text("reason", "Motivo della prenotazione")
            .optional()
            .maxlength(300)
            .value(&t.reason),
    ];
    let mut delegator = vec![
        Field::codice_fiscale("delegator_codice_fiscale", "Codice fiscale del delegante")
            .value(&t.delegator_codice_fiscale),
        Field::text("delegator_given_name", "Nome del delegante")
            .maxlength(100)
            .value(&t.delegator_given_name),
        Field::text("delegator_family_name", "Cognome del delegante")
            .maxlength(100)
            .value(&t.delegator_family_name),
    ];
    errors.apply(&mut main);
    errors.apply(&mut delegator);
    (main, delegator)
}

async fn page(
    state: &AppState,
    desk: &Desk,
    status: StatusCode,
    t: &Typed,
    errors: &FormErrors,
) -> HttpResponse {
    let day = NaiveDate::parse_from_str(&t.day, "%Y-%m-%d").ok();
    let o = match offer(state, t.desk_id.clone(), day).await {
        Ok(o) => o,
        Err(e) => return unavailable(state, &e, "phone booking form"),
    };
    let chosen = o.desk.as_ref().map(|d| Chosen {
        id: d.id.clone(),
        name: d.name.clone(),
        office: d.office.clone(),
        mode: d.kind.mode_text(),
        web_meeting: d.kind == DeskKind::WebMeeting,
    });
    let desk_id = chosen.as_ref().map(|c| c.id.clone()).unwrap_or_default();
    let (fields, delegator_fields) = fields(t, errors);
    let (day_iso, day_text_, note, slots) = match (&o.desk, &o.day) {
        (Some(d), Some((day, st, free))) => (
            day.to_string(),
            day_text(*day),
            day_note(st),
            free.iter()
                .map(|f| {
                    let value = f.slot.starts_at.to_rfc3339();
                    let to = calendar::local_time(f.slot.ends_at, d.tz);
                    SlotOption {
                        checked: value == t.starts_at,
                        text: format!(
                            "dalle {} alle {} ({})",
                            f.slot.local.format("%H:%M"),
                            to.format("%H:%M"),
                            crate::web::italian::count(
                                u64::try_from(f.free).unwrap_or(0),
                                "posto libero",
                                "posti liberi"
                            )
                        ),
                        value,
                    }
                })
                .collect(),
        ),
        _ => (String::new(), String::new(), None, Vec::new()),
    };
    let days = o
        .days
        .iter()
        .map(|d| DayOption {
            href: format!("{PATH}?sportello={desk_id}&giorno={d}#orari"),
            text: day_text(*d),
            current: Some(*d) == day,
        })
        .collect();
    render(
        status,
        &Page {
            frame: desk.frame(
                state,
                "Contact center: prenotazione al telefono",
                super::contact_center::PATH,
            ),
            csrf: desk.session.csrf_token.clone(),
            desks: o
                .desks
                .iter()
                .map(|d| DeskOption {
                    selected: d.id == desk_id,
                    text: format!("{} – {} ({})", d.name, d.office, d.kind.mode_text()),
                    id: d.id.clone(),
                })
                .collect(),
            desk: chosen,
            days,
            day: day_iso,
            day_text: day_text_,
            day_note: note,
            slots,
            slot_error: errors.get("starts_at").map(str::to_owned),
            fields,
            delegator_fields,
            summary: errors.summary(),
        },
    )
}

/// `GET /console/contact-center/prenotazioni?sportello=…&giorno=…`: the desk, its days with
/// free places, and the day's free slots with the caller's form.
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let desk = match guard::require(&state, &req, Some(Role::ContactCenter)).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let query = Params::parse(req.query_string()).unwrap_or_default();
    let t = Typed::from(&query);
    page(&state, &desk, StatusCode::OK, &t, &FormErrors::default()).await
}

/// The booking confirmed: what the caller is told.
#[derive(Template)]
#[template(path = "console/cc_booking_done.html")]
struct Done<'a> {
    frame: Frame<'a>,
    reference: String,
    desk_name: String,
    office: String,
    mode: &'static str,
    location: Option<String>,
    date: String,
    time: String,
    codice_fiscale: String,
    delegator: Option<String>,
    /// The calendar card the caller also finds in MyINPS (seed 000).
    message: Option<String>,
    /// Where the confirmation goes.
    contacts: Vec<String>,
    again: String,
}

/// A form field of the domain's errors → the console's field.
fn field_of(domain: &str) -> &str {
    match domain {
        "delegator" | "delegator.codice_fiscale" => "delegator_codice_fiscale",
        "delegator.given_name" => "delegator_given_name",
        "delegator.family_name" => "delegator_family_name",
        other => other,
    }
}

/// The domain names a required field by its JSON name ("delegator.family_name è
/// obbligatorio"): the console says it in words.
fn readable(field: &str, message: &str) -> String {
    let words = match field {
        "delegator.given_name" => "il nome del delegante",
        "delegator.family_name" => "il cognome del delegante",
        "reason" => "il motivo",
        _ => return message.to_owned(),
    };
    message.replace(field, words)
}

/// The refusal on the form: (field, text); `None` for failures on procura's side.
fn refusal(e: &BookingError) -> Option<(&'static str, String)> {
    let text = e.to_string();
    Some(match e {
        BookingError::NotASlot
        | BookingError::SlotPast
        | BookingError::BeyondHorizon(_)
        | BookingError::DayClosed
        | BookingError::SlotFull
        | BookingError::DeskInactive => ("starts_at", text),
        BookingError::KindLimit | BookingError::OpenLimit(_) => ("codice_fiscale", text),
        BookingError::Delegation(_) => ("delegator_codice_fiscale", text),
        BookingError::DeskNotFound => ("sportello", text),
        BookingError::HoldExpired | BookingError::NotHeld(_) | BookingError::GuestNotAllowed => {
            ("", text)
        }
        BookingError::Invalid(_)
        | BookingError::NotFound
        | BookingError::NotCancellable(_)
        | BookingError::BadDesk(_)
        | BookingError::UnknownOperator(_)
        | BookingError::Db(_)
        | BookingError::Enqueue(_) => return None,
    })
}

/// `POST /console/contact-center/prenotazioni`: books the slot for the caller, confirmed.
pub async fn book(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (desk, form) =
        match guard::require_form(&state, &req, &body, Some(Role::ContactCenter)).await {
            Ok(found) => found,
            Err(resp) => return resp,
        };
    let t = Typed::from(&form);
    let mut errors = FormErrors::default();
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let starts_at = match DateTime::parse_from_rfc3339(&t.starts_at) {
        Ok(s) => Some(s.to_utc()),
        Err(_) => {
            errors.add("starts_at", "Scegli l'orario tra quelli liberi.");
            None
        }
    };
    let person = match CodiceFiscale::parse(&t.codice_fiscale) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.add(
                "codice_fiscale",
                crate::web::italian::codice_fiscale_error(&e),
            );
            None
        }
    };
    let (Some(starts_at), Some(person)) = (starts_at, person) else {
        return page(&state, &desk, unprocessable, &t, &errors).await;
    };
    let optional = |v: &str| Some(v.to_owned()).filter(|v| !v.is_empty());
    let delegator_typed = [
        &t.delegator_codice_fiscale,
        &t.delegator_given_name,
        &t.delegator_family_name,
    ]
    .iter()
    .any(|v| !v.is_empty());
    let details = Details {
        reason: optional(&t.reason),
        mobile: optional(&t.mobile),
        email: optional(&t.email),
        delegator: delegator_typed.then(|| DelegatorInput {
            codice_fiscale: t.delegator_codice_fiscale.clone(),
            given_name: t.delegator_given_name.clone(),
            family_name: t.delegator_family_name.clone(),
        }),
    };
    let request = PhoneBooking {
        desk_id: t.desk_id.clone(),
        starts_at,
        person,
        operator_id: desk.operator.id.clone(),
        details,
    };
    let (s, now) = (state.get_ref().clone(), state.clock.now());
    let booked = db::run(&state.db, move |c| {
        let b = book::by_operator(c, &s, request, now)?;
        let v = crate::http::booking::view(c, &s, b, now, true)
            .map_err(|e| BookingError::BadDesk(e.detail))?;
        Ok::<_, BookingError>(v)
    })
    .await;
    let v = match booked {
        Ok(v) => v,
        Err(BookingError::Invalid(list)) => {
            for f in &list {
                errors.add(
                    field_of(&f.field),
                    capitalised(&readable(&f.field, &f.message)),
                );
            }
            return page(&state, &desk, unprocessable, &t, &errors).await;
        }
        Err(e) => match refusal(&e) {
            Some((field, text)) => {
                errors.add(field, text);
                return page(&state, &desk, unprocessable, &t, &errors).await;
            }
            None => return unavailable(&state, &e, "phone booking"),
        },
    };
    let contacts = [
        v.mobile.as_ref().map(|m| format!("SMS al {m}")),
        v.email.as_ref().map(|e| format!("e-mail a {e}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    render(
        StatusCode::OK,
        &Done {
            frame: desk.frame(
                &state,
                "Prenotazione confermata",
                super::contact_center::PATH,
            ),
            reference: v.reference,
            desk_name: v.desk.name,
            office: v.desk.office,
            mode: v.desk.mode,
            location: v.desk.location,
            date: v.date,
            time: v.time,
            codice_fiscale: v.codice_fiscale,
            delegator: v
                .delegator
                .map(|d| format!("{} {} ({})", d.given_name, d.family_name, d.codice_fiscale)),
            message: v.message,
            contacts,
            again: format!("{PATH}?sportello={}", v.desk.id),
        },
    )
}

/// The domain's field messages start in lower case ("numero di cellulare non valido").
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => {
            let mut s: String = first.to_uppercase().collect();
            s.push_str(chars.as_str());
            if !s.ends_with('.') {
                s.push('.');
            }
            s
        }
        None => String::new(),
    }
}
