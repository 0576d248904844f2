//! Desks, their closures and the operators on duty (the parallel capacity of a day's slots).
//! Managed by operators with the `admin` role; every change is audited.

use super::book::{self, Canceller};
use super::calendar::{self, MAX_SLOT_MINUTES, MIN_SLOT_MINUTES, Opening};
use super::{BookingError, Desk, DeskKind, DeskRow, Status, find_desk};
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::db::schema::{booking_slots, bookings, desk_closures, desk_duty, desks};
use crate::db::{DbConn, DbError};
use crate::operator::{self, Role};
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use diesel::dsl::count_star;
use diesel::prelude::*;
use serde_json::json;
use std::collections::HashMap;

/// Longest span of days one closure or one roster change may cover.
pub const MAX_RANGE_DAYS: u64 = 366;
/// Most operators on duty at one desk on one day.
pub const MAX_ON_DUTY: usize = 100;

/// A desk to create (operators' input: English refusals).
#[derive(Debug, Clone)]
pub struct NewDesk {
    pub name: String,
    pub office: String,
    pub kind: DeskKind,
    /// IANA name; `booking.default_time_zone` when absent.
    pub time_zone: Option<String>,
    /// `tue 09:00-12:00; thu 09:00-12:00`; a web-meeting desk defaults to
    /// `webmeeting.default_opening`.
    pub opening: Option<String>,
    pub slot_minutes: u32,
    pub guest_booking: bool,
    pub location: Option<String>,
}

fn bad(msg: impl Into<String>) -> BookingError {
    BookingError::BadDesk(msg.into())
}

fn text_field(value: &str, name: &str, max: usize) -> Result<String, BookingError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(bad(format!("`{name}` must be 1 to {max} characters long.")));
    }
    Ok(v.to_owned())
}

/// Creates a desk after checking its hours, slot length and zone.
pub fn create(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    new: NewDesk,
    now: DateTime<Utc>,
) -> Result<Desk, BookingError> {
    let name = text_field(&new.name, "name", 100)?;
    let office = text_field(&new.office, "office", 100)?;
    let location = match new.location.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(l) => Some(text_field(l, "location", 200)?),
    };
    if !(MIN_SLOT_MINUTES..=MAX_SLOT_MINUTES).contains(&new.slot_minutes) {
        return Err(bad(format!(
            "`slot_minutes` must be between {MIN_SLOT_MINUTES} and {MAX_SLOT_MINUTES}."
        )));
    }
    let zone_name = new
        .time_zone
        .clone()
        .unwrap_or_else(|| state.config.booking.default_time_zone.clone());
    let tz: Tz = zone_name.parse().map_err(|_| {
        bad(format!(
            "`time_zone` {zone_name:?} is not an IANA time zone."
        ))
    })?;
    let opening_text = match (&new.opening, new.kind) {
        (Some(o), _) => o.clone(),
        (None, DeskKind::WebMeeting) => state.config.webmeeting.default_opening.clone(),
        (None, _) => return Err(bad("`opening` is required for this kind of desk.")),
    };
    let opening = Opening::parse(&opening_text).map_err(|e| bad(format!("`opening`: {e}.")))?;
    opening
        .check_fits(new.slot_minutes)
        .map_err(|e| bad(format!("`opening`: {e}.")))?;
    if new.guest_booking && new.kind == DeskKind::WebMeeting {
        return Err(bad(
            "A web-meeting desk cannot take guest bookings: the delegate books with their own \
             digital identity (messaggio 3026/2022).",
        ));
    }
    let id = crate::oauth::token_hash::new_id().map_err(DbError::from)?;
    let at = now.naive_utc();
    conn.write_transaction(|c| {
        diesel::insert_into(desks::table)
            .values((
                desks::id.eq(&id),
                desks::name.eq(&name),
                desks::office.eq(&office),
                desks::kind.eq(new.kind.as_str()),
                desks::time_zone.eq(tz.name()),
                desks::opening.eq(opening.to_text()),
                desks::slot_minutes.eq(i64::from(new.slot_minutes)),
                desks::guest_booking.eq(new.guest_booking),
                desks::location.eq(&location),
                desks::active.eq(true),
                desks::created_at.eq(at),
                desks::updated_at.eq(at),
            ))
            .execute(c)?;
        audit::append(
            c,
            &state.audit_key,
            now,
            Event::new(
                Party::operator(operator_id),
                "desk.created",
                Outcome::Success,
            )
            .detail(json!({
                "desk_id": id, "name": name, "office": office, "kind": new.kind.as_str(),
                "opening": opening.to_text(), "slot_minutes": new.slot_minutes,
                "time_zone": tz.name(), "guest_booking": new.guest_booking,
            })),
        )?;
        Ok::<_, BookingError>(())
    })?;
    find_desk(conn, &id)?.ok_or(BookingError::DeskNotFound)
}

/// Opens or closes a desk to new bookings (existing bookings stay).
pub fn set_active(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    desk_id: &str,
    active: bool,
    now: DateTime<Utc>,
) -> Result<Desk, BookingError> {
    conn.write_transaction(|c| {
        let n = diesel::update(desks::table.find(desk_id))
            .set((
                desks::active.eq(active),
                desks::updated_at.eq(now.naive_utc()),
            ))
            .execute(c)?;
        if n != 1 {
            return Err(BookingError::DeskNotFound);
        }
        audit::append(
            c,
            &state.audit_key,
            now,
            Event::new(
                Party::operator(operator_id),
                "desk.updated",
                Outcome::Success,
            )
            .detail(json!({ "desk_id": desk_id, "active": active })),
        )?;
        Ok(())
    })?;
    find_desk(conn, desk_id)?.ok_or(BookingError::DeskNotFound)
}

/// A closure as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = desk_closures)]
pub struct Closure {
    pub id: String,
    pub desk_id: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub notice: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

/// Days from `first` to `last`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl DayRange {
    /// Refuses a reversed range or one longer than [`MAX_RANGE_DAYS`].
    pub fn new(first: NaiveDate, last: NaiveDate) -> Result<Self, BookingError> {
        if last < first {
            return Err(bad("`last_day` is before `first_day`."));
        }
        if (last - first).num_days() >= i64::try_from(MAX_RANGE_DAYS).unwrap_or(i64::MAX) {
            return Err(bad(format!(
                "A range covers at most {MAX_RANGE_DAYS} days."
            )));
        }
        Ok(Self { first, last })
    }
}

/// Closes the desk from `first` to `last` (inclusive) with a notice for the calendar. The open
/// bookings of those days are cancelled, and each person is told why.
pub fn add_closure(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    desk_id: &str,
    days: DayRange,
    notice: &str,
    now: DateTime<Utc>,
) -> Result<(Closure, Vec<String>), BookingError> {
    let DayRange { first, last } = days;
    let notice = text_field(notice, "notice", 300)?;
    let desk = find_desk(conn, desk_id)?.ok_or(BookingError::DeskNotFound)?;
    let id = crate::oauth::token_hash::new_id().map_err(DbError::from)?;
    let (from, _) = calendar::day_bounds(first, desk.tz);
    let (_, to) = calendar::day_bounds(last, desk.tz);
    let at = now.naive_utc();
    let cancelled = conn.write_transaction(|c| {
        diesel::insert_into(desk_closures::table)
            .values((
                desk_closures::id.eq(&id),
                desk_closures::desk_id.eq(desk_id),
                desk_closures::first_day.eq(first),
                desk_closures::last_day.eq(last),
                desk_closures::notice.eq(&notice),
                desk_closures::created_by.eq(operator_id),
                desk_closures::created_at.eq(at),
            ))
            .execute(c)?;
        let open: Vec<super::Booking> = bookings::table
            .filter(bookings::desk_id.eq(desk_id))
            .filter(bookings::starts_at.ge(from.naive_utc()))
            .filter(bookings::starts_at.lt(to.naive_utc()))
            .filter(bookings::status.eq_any([Status::Held.as_str(), Status::Confirmed.as_str()]))
            .order(bookings::starts_at.asc())
            .select(super::Booking::as_select())
            .load(c)?;
        let mut cancelled = Vec::new();
        for b in &open {
            if book::cancel_in(
                c,
                state,
                &desk,
                b,
                &Canceller::Closure {
                    notice: notice.clone(),
                },
                now,
            )? {
                cancelled.push(b.id.clone());
            }
        }
        audit::append(
            c,
            &state.audit_key,
            now,
            Event::new(
                Party::operator(operator_id),
                "desk.closure_added",
                Outcome::Success,
            )
            .detail(json!({
                "desk_id": desk_id, "closure_id": id, "first_day": first,
                "last_day": last, "notice": notice, "cancelled_bookings": cancelled,
            })),
        )?;
        Ok::<_, BookingError>(cancelled)
    })?;
    let closure = desk_closures::table
        .find(&id)
        .select(Closure::as_select())
        .first(conn)?;
    Ok((closure, cancelled))
}

/// Removes a closure (the days open again; cancelled bookings stay cancelled).
pub fn remove_closure(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    desk_id: &str,
    closure_id: &str,
    now: DateTime<Utc>,
) -> Result<(), BookingError> {
    conn.write_transaction(|c| {
        let n = diesel::delete(
            desk_closures::table
                .filter(desk_closures::id.eq(closure_id))
                .filter(desk_closures::desk_id.eq(desk_id)),
        )
        .execute(c)?;
        if n != 1 {
            return Err(BookingError::NotFound);
        }
        audit::append(
            c,
            &state.audit_key,
            now,
            Event::new(
                Party::operator(operator_id),
                "desk.closure_removed",
                Outcome::Success,
            )
            .detail(json!({ "desk_id": desk_id, "closure_id": closure_id })),
        )?;
        Ok(())
    })
}

/// The closures of a desk that touch [first, last].
pub fn closures_between(
    conn: &mut DbConn,
    desk_id: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<Closure>, DbError> {
    Ok(desk_closures::table
        .filter(desk_closures::desk_id.eq(desk_id))
        .filter(desk_closures::first_day.le(last))
        .filter(desk_closures::last_day.ge(first))
        .order((desk_closures::first_day.asc(), desk_closures::id.asc()))
        .limit(1000)
        .select(Closure::as_select())
        .load(conn)?)
}

/// What a roster change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DutyReport {
    /// Opening days in the range given the new roster.
    pub days: usize,
    /// Slots already holding more bookings than the new capacity (operators must move them).
    pub overbooked_slots: Vec<DateTime<Utc>>,
}

/// Sets the operators on duty at `desk_id` on every opening day from `first` to `last`
/// (replacing the roster of those days). Each slot of a day has as many places as operators
/// on duty; slots already booked get the new capacity at once.
pub fn set_duty(
    conn: &mut DbConn,
    state: &AppState,
    admin_id: &str,
    desk_id: &str,
    days: DayRange,
    operator_ids: &[String],
    now: DateTime<Utc>,
) -> Result<DutyReport, BookingError> {
    let DayRange { first, last } = days;
    let mut ids: Vec<String> = operator_ids.iter().map(|s| s.trim().to_owned()).collect();
    ids.sort();
    ids.dedup();
    if ids.len() > MAX_ON_DUTY {
        return Err(bad(format!(
            "At most {MAX_ON_DUTY} operators per desk and day."
        )));
    }
    let desk = find_desk(conn, desk_id)?.ok_or(BookingError::DeskNotFound)?;
    for id in &ids {
        let op = operator::find(conn, id)?.filter(|o| o.active);
        let Some(op) = op else {
            return Err(BookingError::UnknownOperator(id.clone()));
        };
        if desk.kind == DeskKind::WebMeeting && !op.has_role(Role::WebMeeting) {
            return Err(bad(format!(
                "Operator {id} lacks the role web_meeting this desk needs."
            )));
        }
    }
    let capacity = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    let mut report = DutyReport::default();
    conn.write_transaction(|c| {
        diesel::delete(
            desk_duty::table
                .filter(desk_duty::desk_id.eq(desk_id))
                .filter(desk_duty::day.ge(first))
                .filter(desk_duty::day.le(last)),
        )
        .execute(c)?;
        let mut day = first;
        while day <= last {
            if !desk
                .opening
                .ranges(chrono::Datelike::weekday(&day))
                .is_empty()
            {
                report.days += 1;
                for id in &ids {
                    diesel::insert_into(desk_duty::table)
                        .values((
                            desk_duty::desk_id.eq(desk_id),
                            desk_duty::day.eq(day),
                            desk_duty::operator_id.eq(id),
                        ))
                        .execute(c)?;
                }
            }
            day = match day.checked_add_days(Days::new(1)) {
                Some(d) => d,
                None => break,
            };
        }
        let (from, _) = calendar::day_bounds(first, desk.tz);
        let (_, to) = calendar::day_bounds(last, desk.tz);
        let in_range = booking_slots::desk_id
            .eq(desk_id)
            .and(booking_slots::starts_at.ge(from.naive_utc()))
            .and(booking_slots::starts_at.lt(to.naive_utc()));
        diesel::update(booking_slots::table.filter(in_range))
            .set(booking_slots::capacity.eq(capacity))
            .execute(c)?;
        report.overbooked_slots = booking_slots::table
            .filter(in_range)
            .filter(booking_slots::taken.gt(capacity))
            .order(booking_slots::starts_at.asc())
            .select(booking_slots::starts_at)
            .load::<NaiveDateTime>(c)?
            .into_iter()
            .map(|t| t.and_utc())
            .collect();
        audit::append(
            c,
            &state.audit_key,
            now,
            Event::new(Party::operator(admin_id), "desk.duty_set", Outcome::Success).detail(
                json!({
                    "desk_id": desk_id, "first_day": first, "last_day": last,
                    "operators": ids, "days": report.days,
                    "overbooked_slots": report.overbooked_slots.len(),
                }),
            ),
        )?;
        Ok::<_, BookingError>(())
    })?;
    Ok(report)
}

/// Operators on duty per day, for the days in [first, last] that have any.
pub fn capacity_by_day(
    conn: &mut DbConn,
    desk_id: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<HashMap<NaiveDate, i64>, DbError> {
    Ok(desk_duty::table
        .filter(desk_duty::desk_id.eq(desk_id))
        .filter(desk_duty::day.ge(first))
        .filter(desk_duty::day.le(last))
        .group_by(desk_duty::day)
        .select((desk_duty::day, count_star()))
        .load::<(NaiveDate, i64)>(conn)?
        .into_iter()
        .collect())
}

/// The roster of [first, last]: per day, the operator ids on duty.
pub fn duty_between(
    conn: &mut DbConn,
    desk_id: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<(NaiveDate, String)>, DbError> {
    Ok(desk_duty::table
        .filter(desk_duty::desk_id.eq(desk_id))
        .filter(desk_duty::day.ge(first))
        .filter(desk_duty::day.le(last))
        .order((desk_duty::day.asc(), desk_duty::operator_id.asc()))
        .limit(10_000)
        .select((desk_duty::day, desk_duty::operator_id))
        .load(conn)?)
}

/// The row as stored, for views that show raw fields.
pub fn row(conn: &mut DbConn, id: &str) -> Result<Option<DeskRow>, DbError> {
    Ok(desks::table
        .find(id)
        .select(DeskRow::as_select())
        .first(conn)
        .optional()?)
}
