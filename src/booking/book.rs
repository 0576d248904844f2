//! Holding, confirming and cancelling a booking.
//!
//! A hold takes a place at once and keeps it `booking.hold_minutes` (5) for the person to
//! confirm; a hold that lapses gives the place back (the next booking of that slot or person,
//! or the job, returns it; the free-slot view never counts it meanwhile).
//!
//! Locks, in the one order every transaction here takes them: the person's `booking_people`
//! row (so one person's bookings are counted by one transaction at a time), the new booking
//! row (the partial unique index: one open booking per desk type), the slot counter, then the
//! outbox and, last, `audit_head`. Giving back lapsed holds happens in transactions of its
//! own (booking row, then slot counter), never inside one that holds a person's lock, so no
//! two transactions wait on each other in a circle.

use super::availability;
use super::calendar::Slot;
use super::messages;
use super::{BookedVia, Booking, BookingError, Desk, DeskKind, Status, field_error, find_desk};
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::db::schema::{booking_people, booking_slots, bookings};
use crate::db::{self, DbConn, DbError};
use crate::delegation::{Channel, Kind, policy};
use crate::notify::Template;
use crate::oauth::token_hash;
use crate::person::CodiceFiscale;
use crate::person::contact::{normalize_email, normalize_mobile};
use crate::person::registry;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::json;

/// Booking codes: no 0/O, 1/I/L.
const REFERENCE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A booking code such as `PRN-K7QM2XHT`.
fn new_reference() -> Result<String, DbError> {
    let bytes = crate::secret_file::random_bytes::<8>()?;
    let code: String = bytes
        .iter()
        .map(|b| {
            let i = usize::from(*b) % REFERENCE_ALPHABET.len();
            char::from(REFERENCE_ALPHABET.get(i).copied().unwrap_or(b'A'))
        })
        .collect();
    Ok(format!("PRN-{code}"))
}

/// Who asks for a booking, and whether they may see it.
#[derive(Debug, Clone)]
pub enum Owner {
    /// The person, logged in: only their own bookings.
    Person(CodiceFiscale),
    /// A guest with the token they were given at the hold.
    Guest(String),
    /// An operator: any booking.
    Operator(String),
}

impl Owner {
    fn may_see(&self, b: &Booking) -> bool {
        match self {
            Owner::Person(cf) => b.person_cf == cf.as_str(),
            Owner::Guest(token) => b
                .guest_token_hash
                .as_deref()
                .is_some_and(|h| token_hash::eq(h.as_bytes(), token_hash::hash(token).as_bytes())),
            Owner::Operator(_) => true,
        }
    }

    fn party(&self, b: &Booking) -> Party {
        match self {
            Owner::Operator(id) => Party::operator(id),
            // A guest is whoever holds the token: recorded as the person, unauthenticated.
            Owner::Person(cf) => Party::person(cf),
            Owner::Guest(_) => person_party(&b.person_cf),
        }
    }
}

fn person_party(cf: &str) -> Party {
    CodiceFiscale::parse(cf).map_or_else(|_| Party::system(), |c| Party::person(&c))
}

/// Reads a booking the owner may see; `NotFound` otherwise (whether or not it exists).
pub fn find_owned(conn: &mut DbConn, id: &str, owner: &Owner) -> Result<Booking, BookingError> {
    super::find(conn, id)?
        .filter(|b| owner.may_see(b))
        .ok_or(BookingError::NotFound)
}

/// A slot to hold.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    pub desk_id: String,
    pub starts_at: DateTime<Utc>,
    /// Who the booking is for (the person booking; for a web meeting, the delegate).
    pub person: CodiceFiscale,
    pub via: BookedVia,
    /// The operator on the phone, when `via` is `Operator`.
    pub operator_id: Option<String>,
}

/// A hold: the booking, and for a guest the token (shown once) that manages it.
#[derive(Debug)]
pub struct Held {
    pub booking: Booking,
    pub guest_token: Option<String>,
}

/// Holds a place of the slot for `hold_minutes`.
pub fn hold(
    conn: &mut DbConn,
    state: &AppState,
    req: &HoldRequest,
    now: DateTime<Utc>,
) -> Result<Held, BookingError> {
    let cfg = &state.config.booking;
    let desk = find_desk(conn, &req.desk_id)?.ok_or(BookingError::DeskNotFound)?;
    if req.via == BookedVia::Guest && !desk.guest_booking {
        return Err(BookingError::GuestNotAllowed);
    }
    let (slot, capacity) = availability::bookable_slot(conn, &desk, req.starts_at, now, cfg)?;
    tidy_person(conn, req.person.as_str(), now)?;
    let guest_token = match req.via {
        BookedVia::Guest => Some(token_hash::new_token().map_err(DbError::from)?),
        _ => None,
    };
    let token_hash = guest_token.as_deref().map(token_hash::hash);
    let first = take(
        conn,
        state,
        &desk,
        &slot,
        capacity,
        req,
        token_hash.as_deref(),
        now,
    );
    let booking = match first {
        // Lapsed holds may still count against the slot: give them back, then try once more.
        Err(BookingError::SlotFull)
            if release_lapsed_on_slot(conn, &desk.id, slot.starts_at, now)? > 0 =>
        {
            take(
                conn,
                state,
                &desk,
                &slot,
                capacity,
                req,
                token_hash.as_deref(),
                now,
            )?
        }
        other => other?,
    };
    Ok(Held {
        booking,
        guest_token,
    })
}

/// The hold's transaction (see the module documentation for the lock order).
#[allow(clippy::too_many_arguments)]
fn take(
    conn: &mut DbConn,
    state: &AppState,
    desk: &Desk,
    slot: &Slot,
    capacity: i64,
    req: &HoldRequest,
    guest_token_hash: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Booking, BookingError> {
    let cfg = &state.config.booking;
    let at = now.naive_utc();
    let person = req.person.as_str();
    let id = token_hash::new_id().map_err(DbError::from)?;
    let reference = new_reference()?;
    let expires = at + Duration::minutes(i64::from(cfg.hold_minutes));
    conn.write_transaction(|c| {
        db::bulk::ensure_booking_person(c, person, at)?;
        diesel::update(booking_people::table.find(person))
            .set(booking_people::touched_at.eq(at))
            .execute(c)?;
        let inserted = diesel::insert_into(bookings::table)
            .values((
                bookings::id.eq(&id),
                bookings::reference.eq(&reference),
                bookings::desk_id.eq(&desk.id),
                bookings::desk_kind.eq(desk.kind.as_str()),
                bookings::starts_at.eq(slot.starts_at.naive_utc()),
                bookings::ends_at.eq(slot.ends_at.naive_utc()),
                bookings::person_cf.eq(person),
                bookings::booked_via.eq(req.via.as_str()),
                bookings::booked_by.eq(&req.operator_id),
                bookings::guest_token_hash.eq(guest_token_hash),
                bookings::status.eq(Status::Held.as_str()),
                bookings::hold_expires_at.eq(Some(expires)),
                bookings::reminder_sent.eq(false),
                bookings::created_at.eq(at),
                bookings::updated_at.eq(at),
            ))
            .execute(c);
        match inserted {
            Ok(_) => {}
            // The partial unique index: one open booking per desk type.
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
                if info.message().contains("reference") =>
            {
                return Err(DbError::Query(DieselError::DatabaseError(
                    DatabaseErrorKind::UniqueViolation,
                    info,
                ))
                .into());
            }
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(BookingError::KindLimit);
            }
            Err(e) => return Err(e.into()),
        }
        // Counted under the person's lock, so two parallel bookings cannot both be the third.
        let open: i64 = bookings::table
            .filter(bookings::person_cf.eq(person))
            .filter(
                bookings::status
                    .eq(Status::Held.as_str())
                    .and(bookings::hold_expires_at.gt(at))
                    .or(bookings::status
                        .eq(Status::Confirmed.as_str())
                        .and(bookings::ends_at.gt(at))),
            )
            .count()
            .get_result(c)?;
        if open > i64::from(cfg.max_open_per_person) {
            return Err(BookingError::OpenLimit(cfg.max_open_per_person));
        }
        db::bulk::ensure_booking_slot(c, &desk.id, slot.starts_at.naive_utc(), capacity)?;
        let taken = diesel::update(
            booking_slots::table
                .filter(booking_slots::desk_id.eq(&desk.id))
                .filter(booking_slots::starts_at.eq(slot.starts_at.naive_utc()))
                .filter(booking_slots::taken.lt(booking_slots::capacity)),
        )
        .set(booking_slots::taken.eq(booking_slots::taken + 1))
        .execute(c)?;
        if taken != 1 {
            return Err(BookingError::SlotFull);
        }
        super::find(c, &id)?.ok_or(BookingError::NotFound)
    })
}

/// Gives back the person's lapsed holds and ends their past bookings, so neither blocks a new
/// booking (the unique index and the count see only what is really open).
fn tidy_person(conn: &mut DbConn, person_cf: &str, now: DateTime<Utc>) -> Result<(), BookingError> {
    let at = now.naive_utc();
    let lapsed: Vec<Booking> = bookings::table
        .filter(bookings::person_cf.eq(person_cf))
        .filter(bookings::status.eq(Status::Held.as_str()))
        .filter(bookings::hold_expires_at.le(at))
        .select(Booking::as_select())
        .load(conn)?;
    for b in &lapsed {
        release_hold(conn, b, now)?;
    }
    conclude_past(conn, Some(person_cf), now)?;
    Ok(())
}

/// Ends confirmed bookings whose time has passed and that nobody took in charge; returns how
/// many. (Taken in charge, they end when the operator completes or closes them.)
pub fn conclude_past(
    conn: &mut DbConn,
    person_cf: Option<&str>,
    now: DateTime<Utc>,
) -> Result<usize, BookingError> {
    let at = now.naive_utc();
    let mut q = diesel::update(bookings::table)
        .filter(bookings::status.eq(Status::Confirmed.as_str()))
        .filter(bookings::ends_at.le(at))
        .filter(bookings::handled_by.is_null())
        .into_boxed();
    if let Some(cf) = person_cf {
        q = q.filter(bookings::person_cf.eq(cf));
    }
    Ok(q.set((
        bookings::status.eq(Status::Concluded.as_str()),
        bookings::ended_at.eq(at),
        bookings::updated_at.eq(at),
    ))
    .execute(conn)?)
}

/// Gives a lapsed hold's place back (its own transaction); false when it was no longer a
/// lapsed hold (confirmed, cancelled, or given back meanwhile).
pub fn release_hold(
    conn: &mut DbConn,
    b: &Booking,
    now: DateTime<Utc>,
) -> Result<bool, BookingError> {
    let at = now.naive_utc();
    conn.write_transaction(|c| {
        let n = diesel::update(
            bookings::table
                .filter(bookings::id.eq(&b.id))
                .filter(bookings::status.eq(Status::Held.as_str()))
                .filter(bookings::hold_expires_at.le(at)),
        )
        .set((
            bookings::status.eq(Status::Expired.as_str()),
            bookings::ended_at.eq(at),
            bookings::end_reason.eq("hold_lapsed"),
            bookings::updated_at.eq(at),
        ))
        .execute(c)?;
        if n == 1 {
            give_back_place(c, &b.desk_id, b.starts_at)?;
        }
        Ok(n == 1)
    })
}

/// Gives back the lapsed holds of one slot; returns how many.
pub fn release_lapsed_on_slot(
    conn: &mut DbConn,
    desk_id: &str,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, BookingError> {
    let lapsed: Vec<Booking> = bookings::table
        .filter(bookings::desk_id.eq(desk_id))
        .filter(bookings::starts_at.eq(starts_at.naive_utc()))
        .filter(bookings::status.eq(Status::Held.as_str()))
        .filter(bookings::hold_expires_at.le(now.naive_utc()))
        .select(Booking::as_select())
        .load(conn)?;
    let mut n = 0;
    for b in &lapsed {
        if release_hold(conn, b, now)? {
            n += 1;
        }
    }
    Ok(n)
}

fn give_back_place(c: &mut DbConn, desk_id: &str, starts_at: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(
        booking_slots::table
            .filter(booking_slots::desk_id.eq(desk_id))
            .filter(booking_slots::starts_at.eq(starts_at))
            .filter(booking_slots::taken.gt(0_i64)),
    )
    .set(booking_slots::taken.eq(booking_slots::taken - 1))
    .execute(c)?;
    Ok(())
}

/// The delegator a web-meeting booking names (the delegate is the person booking).
#[derive(Debug, Clone, Default)]
pub struct DelegatorInput {
    pub codice_fiscale: String,
    pub given_name: String,
    pub family_name: String,
}

/// What the person adds when confirming (seed 003: reason up to 150 characters, mobile and
/// e-mail; for the web meeting, the delegator's data — msg 3026).
#[derive(Debug, Clone, Default)]
pub struct Details {
    pub reason: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub delegator: Option<DelegatorInput>,
}

/// Details checked and normalised.
#[derive(Debug, Clone, Default)]
pub struct ValidDetails {
    pub reason: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    /// (codice fiscale, given name, family name)
    pub delegator: Option<(CodiceFiscale, String, String)>,
}

fn name_field(value: &str, field: &str, errors: &mut Vec<crate::error::FieldError>) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.push(field_error(
            field,
            "required",
            format!("{field} è obbligatorio"),
        ));
    } else if v.chars().count() > 100 {
        errors.push(field_error(field, "too_long", "al massimo 100 caratteri"));
    }
    v.to_owned()
}

/// Checks the details for `desk`, booked for `person_cf`.
pub fn validate(
    conn: &mut DbConn,
    state: &AppState,
    desk: &Desk,
    person_cf: &str,
    d: &Details,
    now: DateTime<Utc>,
) -> Result<ValidDetails, BookingError> {
    let max = state.config.booking.reason_max_chars;
    let mut errors = Vec::new();
    let mut out = ValidDetails::default();
    if let Some(reason) = d.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        if reason.chars().count() > max {
            errors.push(field_error(
                "reason",
                "too_long",
                format!("il motivo può avere al massimo {max} caratteri"),
            ));
        } else if reason.chars().any(char::is_control) {
            errors.push(field_error(
                "reason",
                "invalid",
                "il motivo contiene caratteri non ammessi",
            ));
        }
        out.reason = Some(reason.to_owned());
    }
    if let Some(m) = d.mobile.as_deref().filter(|m| !m.trim().is_empty()) {
        match normalize_mobile(m) {
            Ok(m) => out.mobile = Some(m),
            Err(_) => errors.push(field_error(
                "mobile",
                "invalid",
                "numero di cellulare non valido (esempio: +39 333 1234567)",
            )),
        }
    }
    if let Some(e) = d.email.as_deref().filter(|e| !e.trim().is_empty()) {
        match normalize_email(e) {
            Ok(e) => out.email = Some(e),
            Err(_) => errors.push(field_error(
                "email",
                "invalid",
                "indirizzo e-mail non valido",
            )),
        }
    }
    let given_mobile = d.mobile.as_deref().is_some_and(|m| !m.trim().is_empty());
    let given_email = d.email.as_deref().is_some_and(|e| !e.trim().is_empty());
    if desk.kind.needs_mobile() && !given_mobile {
        errors.push(field_error(
            "mobile",
            "required",
            "per questo sportello occorre il numero di cellulare",
        ));
    } else if !given_mobile && !given_email {
        errors.push(field_error(
            "mobile",
            "required",
            "indicare almeno un recapito: cellulare o e-mail",
        ));
    }
    match (desk.kind, &d.delegator) {
        (DeskKind::WebMeeting, None) => errors.push(field_error(
            "delegator",
            "required",
            "indicare codice fiscale, nome e cognome del delegante",
        )),
        (DeskKind::WebMeeting, Some(g)) => {
            let given = name_field(&g.given_name, "delegator.given_name", &mut errors);
            let family = name_field(&g.family_name, "delegator.family_name", &mut errors);
            match CodiceFiscale::parse(&g.codice_fiscale) {
                Ok(cf) => out.delegator = Some((cf, given, family)),
                Err(e) => errors.push(field_error(
                    "delegator.codice_fiscale",
                    e.reason(),
                    format!("codice fiscale del delegante non valido: {e}"),
                )),
            }
        }
        (_, Some(_)) => errors.push(field_error(
            "delegator",
            "not_allowed",
            "il delegante si indica solo per lo sportello deleghe in web meeting",
        )),
        (_, None) => {}
    }
    if !errors.is_empty() {
        return Err(BookingError::Invalid(errors));
    }
    if let Some((delegator, _, _)) = &out.delegator {
        // Tell now what would stop the operator later (self-delegation, a minor on either side).
        let today = now.date_naive();
        let delegate = CodiceFiscale::parse(person_cf).map_err(|_| BookingError::NotFound)?;
        let birth = |cf: &CodiceFiscale, c: &mut DbConn| -> Result<chrono::NaiveDate, DbError> {
            Ok(registry::find(c, cf.as_str())?
                .map_or_else(|| cf.birth_date(today), |p| p.birth_date))
        };
        policy::check_registration(&policy::Registration {
            kind: Kind::Fiducia,
            channel: Channel::WebMeeting,
            delegator_cf: delegator.as_str(),
            delegate_cf: delegate.as_str(),
            delegator_birth: birth(delegator, conn)?,
            delegate_birth: birth(&delegate, conn)?,
            family_checked: false,
            decree_reference: None,
            ends_on: None,
            online_min_days: state.config.delegation.online_min_days,
            today,
        })?;
    }
    Ok(out)
}

/// Confirms a hold with the person's details: the confirmation goes out through the outbox.
pub fn confirm(
    conn: &mut DbConn,
    state: &AppState,
    id: &str,
    owner: &Owner,
    details: &Details,
    now: DateTime<Utc>,
) -> Result<Booking, BookingError> {
    let b = find_owned(conn, id, owner)?;
    match b.status() {
        Some(Status::Held) => {}
        _ => return Err(BookingError::NotHeld(italian_status(&b.status))),
    }
    if b.hold_lapsed(now) {
        release_hold(conn, &b, now)?;
        return Err(BookingError::HoldExpired);
    }
    let desk = find_desk(conn, &b.desk_id)?.ok_or(BookingError::DeskNotFound)?;
    let v = validate(conn, state, &desk, &b.person_cf, details, now)?;
    let at = now.naive_utc();
    let reminder_window =
        Duration::minutes(i64::from(state.config.booking.reminder_minutes_before));
    // Confirmed inside the reminder window: the confirmation is the reminder.
    let reminder_sent = b.starts() - now <= reminder_window;
    let (dcf, dgiven, dfamily) = match &v.delegator {
        Some((cf, g, f)) => (
            Some(cf.as_str().to_owned()),
            Some(g.clone()),
            Some(f.clone()),
        ),
        None => (None, None, None),
    };
    let confirmed = conn.write_transaction(|c| {
        let n = diesel::update(
            bookings::table
                .filter(bookings::id.eq(&b.id))
                .filter(bookings::status.eq(Status::Held.as_str()))
                .filter(bookings::hold_expires_at.gt(at)),
        )
        .set((
            bookings::status.eq(Status::Confirmed.as_str()),
            bookings::reason.eq(&v.reason),
            bookings::mobile.eq(&v.mobile),
            bookings::email.eq(&v.email),
            bookings::delegator_cf.eq(&dcf),
            bookings::delegator_given_name.eq(&dgiven),
            bookings::delegator_family_name.eq(&dfamily),
            bookings::confirmed_at.eq(at),
            bookings::reminder_sent.eq(reminder_sent),
            bookings::updated_at.eq(at),
        ))
        .execute(c)?;
        if n != 1 {
            return Err(BookingError::HoldExpired);
        }
        let confirmed = super::find(c, &b.id)?.ok_or(BookingError::NotFound)?;
        messages::notice(c, state, &desk, &confirmed, Template::BookingConfirmed, now)?;
        let event = Event::new(owner.party(&b), "booking.confirmed", Outcome::Success)
            .on_behalf_of(person_party(&b.person_cf))
            .detail(json!({
                "booking_id": b.id,
                "reference": b.reference,
                "desk_id": desk.id,
                "starts_at": b.starts(),
                "booked_via": b.booked_via,
                "authenticated": !matches!(owner, Owner::Guest(_)),
                "delegator": dcf.as_deref().map(|cf| format!("person:{cf}")),
            }));
        audit::append(c, &state.audit_key, now, event)?;
        Ok(confirmed)
    });
    match confirmed {
        Err(BookingError::HoldExpired) => {
            if let Some(b) = super::find(conn, id)? {
                release_hold(conn, &b, now)?;
            }
            Err(BookingError::HoldExpired)
        }
        other => other,
    }
}

/// A booking an operator takes for the person on the phone (msg 3026: the contact centre
/// books web meetings too).
#[derive(Debug, Clone)]
pub struct PhoneBooking {
    pub desk_id: String,
    pub starts_at: DateTime<Utc>,
    /// The person on the phone (for a web meeting: the future delegate).
    pub person: CodiceFiscale,
    pub operator_id: String,
    pub details: Details,
}

/// Books for the person on the phone, confirmed at once (the confirmation goes out through the
/// outbox and `booking.confirmed` is audited with the operator as actor). The details are
/// checked before the hold, so a mistake in them never keeps a place.
pub fn by_operator(
    conn: &mut DbConn,
    state: &AppState,
    req: PhoneBooking,
    now: DateTime<Utc>,
) -> Result<Booking, BookingError> {
    let desk = find_desk(conn, &req.desk_id)?.ok_or(BookingError::DeskNotFound)?;
    validate(conn, state, &desk, req.person.as_str(), &req.details, now)?;
    let held = hold(
        conn,
        state,
        &HoldRequest {
            desk_id: req.desk_id,
            starts_at: req.starts_at,
            person: req.person,
            via: BookedVia::Operator,
            operator_id: Some(req.operator_id.clone()),
        },
        now,
    )?;
    confirm(
        conn,
        state,
        &held.booking.id,
        &Owner::Operator(req.operator_id),
        &req.details,
        now,
    )
}

/// Who cancels, and so what the person is told.
#[derive(Debug, Clone)]
pub enum Canceller {
    Owner(Owner),
    /// An operator, with the reason told to the person.
    Operator {
        id: String,
        reason: String,
    },
    /// The desk closes on that day (the notice is told to the person).
    Closure {
        notice: String,
    },
}

/// Cancels `b` inside the caller's transaction: frees its place and, for a confirmed booking,
/// tells the person. False when it was no longer open.
pub fn cancel_in(
    c: &mut DbConn,
    state: &AppState,
    desk: &Desk,
    b: &Booking,
    by: &Canceller,
    now: DateTime<Utc>,
) -> Result<bool, BookingError> {
    let at = now.naive_utc();
    let reason = match by {
        Canceller::Owner(_) => "cancelled_by_person".to_owned(),
        Canceller::Operator { reason, .. } => format!("cancelled_by_operator: {reason}"),
        Canceller::Closure { notice } => format!("desk_closed: {notice}"),
    };
    let n = diesel::update(
        bookings::table
            .filter(bookings::id.eq(&b.id))
            .filter(bookings::status.eq_any([Status::Held.as_str(), Status::Confirmed.as_str()])),
    )
    .set((
        bookings::status.eq(Status::Cancelled.as_str()),
        bookings::ended_at.eq(at),
        bookings::end_reason.eq(&reason),
        bookings::updated_at.eq(at),
    ))
    .execute(c)?;
    if n != 1 {
        return Ok(false);
    }
    give_back_place(c, &b.desk_id, b.starts_at)?;
    if b.status() == Some(Status::Confirmed) {
        messages::cancelled(c, state, desk, b, by, now)?;
    }
    Ok(true)
}

/// Cancels a booking before its time (not once an operator took it in charge).
pub fn cancel(
    conn: &mut DbConn,
    state: &AppState,
    id: &str,
    by: &Canceller,
    now: DateTime<Utc>,
) -> Result<Booking, BookingError> {
    let owner = match by {
        Canceller::Owner(o) => o.clone(),
        Canceller::Operator { id, .. } => Owner::Operator(id.clone()),
        Canceller::Closure { .. } => Owner::Operator("system".into()),
    };
    if let Canceller::Operator { reason, .. } = by
        && reason.trim().is_empty()
    {
        return Err(BookingError::Invalid(vec![field_error(
            "reason",
            "required",
            "reason è obbligatorio",
        )]));
    }
    let b = find_owned(conn, id, &owner)?;
    let open = matches!(b.status(), Some(Status::Held | Status::Confirmed));
    if !open || b.starts() <= now || b.handled_by.is_some() {
        let what = if open && b.handled_by.is_some() {
            "già presa in carico da un operatore".to_owned()
        } else if open {
            "già iniziata".to_owned()
        } else {
            italian_status(&b.status)
        };
        return Err(BookingError::NotCancellable(what));
    }
    let desk = find_desk(conn, &b.desk_id)?.ok_or(BookingError::DeskNotFound)?;
    conn.write_transaction(|c| {
        if !cancel_in(c, state, &desk, &b, by, now)? {
            let now_status = super::find(c, id)?.map(|x| x.status).unwrap_or_default();
            return Err(BookingError::NotCancellable(italian_status(&now_status)));
        }
        let detail = match by {
            Canceller::Operator { reason, .. } => json!({ "booking_id": b.id, "reason": reason }),
            _ => json!({
                "booking_id": b.id,
                "authenticated": !matches!(owner, Owner::Guest(_)),
            }),
        };
        audit::append(
            c,
            &state.audit_key,
            now,
            Event::new(owner.party(&b), "booking.cancelled", Outcome::Success)
                .on_behalf_of(person_party(&b.person_cf))
                .detail(detail),
        )?;
        super::find(c, id)?.ok_or(BookingError::NotFound)
    })
}

/// The status as the person reads it.
pub fn italian_status(status: &str) -> String {
    match Status::parse(status) {
        Some(Status::Held) => "in attesa di conferma",
        Some(Status::Confirmed) => "confermata",
        Some(Status::Cancelled) => "cancellata",
        Some(Status::Expired) => "scaduta senza conferma",
        Some(Status::Concluded) => "conclusa",
        Some(Status::Completed) => "completata",
        Some(Status::Closed) => "chiusa",
        None => "in uno stato sconosciuto",
    }
    .to_owned()
}
