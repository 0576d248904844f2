//! Free slots of a day and the month calendar (seed 003: green days bookable, grey ones not,
//! red ones closed with the office's notice). A slot's places are the operators on duty that
//! day; a place is free unless a confirmed booking or a live hold takes it. Past slots, days
//! beyond `booking.horizon_days`, holidays and closures offer nothing.
//!
//! One read of each table per request, whatever the range: closures, the roster, the slot
//! counters and the lapsed holds of the days asked for.

use super::calendar::{self, Slot};
use super::desks::{self, Closure};
use super::{BookingError, Desk, Status};
use crate::config::BookingConfig;
use crate::db::schema::{booking_slots, bookings};
use crate::db::{DbConn, DbError};
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use std::collections::HashMap;

/// What a day offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayState {
    /// Before today, or every slot of today has started.
    Past,
    /// Not an opening day, a national holiday, or closed by the office (with its notice).
    Closed(Option<String>),
    /// Beyond the booking horizon.
    NotYetOpen,
    /// Open, but no place is free (all taken, or nobody on duty).
    Full,
    /// This many slots have a free place.
    Available(usize),
}

impl DayState {
    pub fn as_str(&self) -> &'static str {
        match self {
            DayState::Past => "past",
            DayState::Closed(_) => "closed",
            DayState::NotYetOpen => "not_yet_open",
            DayState::Full => "full",
            DayState::Available(_) => "available",
        }
    }

    pub fn notice(&self) -> Option<&str> {
        match self {
            DayState::Closed(n) => n.as_deref(),
            _ => None,
        }
    }
}

/// A slot with its places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeSlot {
    pub slot: Slot,
    pub capacity: i64,
    pub free: i64,
}

/// Everything the days of [first, last] need, read once.
struct Window {
    closures: Vec<Closure>,
    duty: HashMap<NaiveDate, i64>,
    /// Booked slots: start → (capacity, taken).
    counters: HashMap<NaiveDateTime, (i64, i64)>,
    /// Holds past their five minutes, not yet given back: start → count.
    lapsed: HashMap<NaiveDateTime, i64>,
}

fn load(
    conn: &mut DbConn,
    desk: &Desk,
    first: NaiveDate,
    last: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Window, DbError> {
    let (from, _) = calendar::day_bounds(first, desk.tz);
    let (_, to) = calendar::day_bounds(last, desk.tz);
    let (from, to) = (from.naive_utc(), to.naive_utc());
    let counters = booking_slots::table
        .filter(booking_slots::desk_id.eq(&desk.id))
        .filter(booking_slots::starts_at.ge(from))
        .filter(booking_slots::starts_at.lt(to))
        .select((
            booking_slots::starts_at,
            booking_slots::capacity,
            booking_slots::taken,
        ))
        .load::<(NaiveDateTime, i64, i64)>(conn)?
        .into_iter()
        .map(|(t, c, k)| (t, (c, k)))
        .collect();
    let lapsed = bookings::table
        .filter(bookings::desk_id.eq(&desk.id))
        .filter(bookings::starts_at.ge(from))
        .filter(bookings::starts_at.lt(to))
        .filter(bookings::status.eq(Status::Held.as_str()))
        .filter(bookings::hold_expires_at.le(now.naive_utc()))
        .group_by(bookings::starts_at)
        .select((bookings::starts_at, count_star()))
        .load::<(NaiveDateTime, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(Window {
        closures: desks::closures_between(conn, &desk.id, first, last)?,
        duty: desks::capacity_by_day(conn, &desk.id, first, last)?,
        counters,
        lapsed,
    })
}

/// The last day that may be booked today.
fn horizon(desk: &Desk, now: DateTime<Utc>, cfg: &BookingConfig) -> NaiveDate {
    let today = calendar::local_date(now, desk.tz);
    today
        .checked_add_days(Days::new(u64::from(cfg.horizon_days)))
        .unwrap_or(NaiveDate::MAX)
}

/// Why `day` is closed, if it is (holiday, closure or a weekday without hours).
fn closed(w: &Window, desk: &Desk, day: NaiveDate, cfg: &BookingConfig) -> Option<DayState> {
    if cfg.national_holidays && calendar::is_national_holiday(day) {
        return Some(DayState::Closed(Some("Festività nazionale".into())));
    }
    if let Some(c) = w
        .closures
        .iter()
        .find(|c| c.first_day <= day && day <= c.last_day)
    {
        return Some(DayState::Closed(Some(c.notice.clone())));
    }
    if desk
        .opening
        .ranges(chrono::Datelike::weekday(&day))
        .is_empty()
    {
        return Some(DayState::Closed(None));
    }
    None
}

fn places(w: &Window, day: NaiveDate, slot: &Slot) -> FreeSlot {
    let at = slot.starts_at.naive_utc();
    let (capacity, taken) = w
        .counters
        .get(&at)
        .copied()
        .unwrap_or_else(|| (w.duty.get(&day).copied().unwrap_or(0), 0));
    let live = taken - w.lapsed.get(&at).copied().unwrap_or(0);
    FreeSlot {
        slot: *slot,
        capacity,
        free: (capacity - live.max(0)).max(0),
    }
}

fn evaluate(
    w: &Window,
    desk: &Desk,
    day: NaiveDate,
    now: DateTime<Utc>,
    cfg: &BookingConfig,
) -> (DayState, Vec<FreeSlot>) {
    if day < calendar::local_date(now, desk.tz) {
        return (DayState::Past, Vec::new());
    }
    if day > horizon(desk, now, cfg) {
        return (DayState::NotYetOpen, Vec::new());
    }
    if let Some(state) = closed(w, desk, day, cfg) {
        return (state, Vec::new());
    }
    let ahead: Vec<Slot> = calendar::slots_on(day, &desk.opening, desk.slot_minutes, desk.tz)
        .into_iter()
        .filter(|s| s.starts_at > now)
        .collect();
    if ahead.is_empty() {
        return (DayState::Past, Vec::new());
    }
    let free: Vec<FreeSlot> = ahead
        .iter()
        .map(|s| places(w, day, s))
        .filter(|f| f.free > 0)
        .collect();
    if free.is_empty() {
        (DayState::Full, free)
    } else {
        (DayState::Available(free.len()), free)
    }
}

/// The state of `day` and its slots with a free place.
pub fn day(
    conn: &mut DbConn,
    desk: &Desk,
    day: NaiveDate,
    now: DateTime<Utc>,
    cfg: &BookingConfig,
) -> Result<(DayState, Vec<FreeSlot>), DbError> {
    let w = load(conn, desk, day, day, now)?;
    Ok(evaluate(&w, desk, day, now, cfg))
}

/// The state of each day of the month holding `any_day`.
pub fn month(
    conn: &mut DbConn,
    desk: &Desk,
    year: i32,
    month: u32,
    now: DateTime<Utc>,
    cfg: &BookingConfig,
) -> Result<Vec<(NaiveDate, DayState)>, DbError> {
    let Some(first) = NaiveDate::from_ymd_opt(year, month, 1) else {
        return Ok(Vec::new());
    };
    let last = first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(first);
    let w = load(conn, desk, first, last, now)?;
    Ok(first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|d| (d, evaluate(&w, desk, d, now, cfg).0))
        .collect())
}

/// Checks that `starts_at` is a slot of `desk` that may be booked now; returns it with its
/// capacity (the operators on duty that day). Whether a place is still free is decided by
/// the conditional UPDATE that takes it.
pub fn bookable_slot(
    conn: &mut DbConn,
    desk: &Desk,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
    cfg: &BookingConfig,
) -> Result<(Slot, i64), BookingError> {
    if !desk.active {
        return Err(BookingError::DeskInactive);
    }
    let day = calendar::local_date(starts_at, desk.tz);
    let slot = calendar::slots_on(day, &desk.opening, desk.slot_minutes, desk.tz)
        .into_iter()
        .find(|s| s.starts_at == starts_at)
        .ok_or(BookingError::NotASlot)?;
    if starts_at <= now {
        return Err(BookingError::SlotPast);
    }
    if day > horizon(desk, now, cfg) {
        return Err(BookingError::BeyondHorizon(cfg.horizon_days));
    }
    let w = load(conn, desk, day, day, now)?;
    if closed(&w, desk, day, cfg).is_some() {
        return Err(BookingError::DayClosed);
    }
    let capacity = places(&w, day, &slot).capacity;
    if capacity <= 0 {
        return Err(BookingError::SlotFull);
    }
    Ok((slot, capacity))
}
