//! The booking job `serve` runs every `booking.job_interval_secs`, driven by the injected
//! clock: it sends the reminder about `booking.reminder_minutes_before` (30) minutes before
//! each confirmed appointment (once), gives back the places of lapsed holds, and ends the
//! bookings whose time has passed.

use super::book;
use super::messages;
use super::{Booking, BookingError, Status, find_desk};
use crate::AppState;
use crate::db::DbConn;
use crate::db::schema::bookings;
use crate::notify::Template;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

/// Rows handled per run and kind of work; the next run takes the rest.
const BATCH: i64 = 500;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobReport {
    pub reminded: usize,
    pub holds_released: usize,
    pub concluded: usize,
}

pub fn run_due(
    conn: &mut DbConn,
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<JobReport, BookingError> {
    let at = now.naive_utc();
    let mut report = JobReport::default();

    let lapsed: Vec<Booking> = bookings::table
        .filter(bookings::status.eq(Status::Held.as_str()))
        .filter(bookings::hold_expires_at.le(at))
        .order(bookings::starts_at.asc())
        .limit(BATCH)
        .select(Booking::as_select())
        .load(conn)?;
    for b in &lapsed {
        if book::release_hold(conn, b, now)? {
            report.holds_released += 1;
        }
    }

    let window = Duration::minutes(i64::from(state.config.booking.reminder_minutes_before));
    let due: Vec<Booking> = bookings::table
        .filter(bookings::status.eq(Status::Confirmed.as_str()))
        .filter(bookings::reminder_sent.eq(false))
        .filter(bookings::starts_at.gt(at))
        .filter(bookings::starts_at.le(at + window))
        .order(bookings::starts_at.asc())
        .limit(BATCH)
        .select(Booking::as_select())
        .load(conn)?;
    for b in &due {
        let Some(desk) = find_desk(conn, &b.desk_id)? else {
            continue;
        };
        let sent = conn.write_transaction(|c| {
            let n = diesel::update(
                bookings::table
                    .filter(bookings::id.eq(&b.id))
                    .filter(bookings::status.eq(Status::Confirmed.as_str()))
                    .filter(bookings::reminder_sent.eq(false)),
            )
            .set((
                bookings::reminder_sent.eq(true),
                bookings::updated_at.eq(at),
            ))
            .execute(c)?;
            if n == 1 {
                messages::notice(c, state, &desk, b, Template::BookingReminder, now)?;
            }
            Ok::<_, BookingError>(n == 1)
        })?;
        if sent {
            report.reminded += 1;
        }
    }

    report.concluded = book::conclude_past(conn, None, now)?;
    Ok(report)
}

/// `serve`'s loop: [`run_due`] every `booking.job_interval_secs`, at the injected clock's time.
pub async fn run_periodically(state: AppState) {
    let every = std::time::Duration::from_secs(state.config.booking.job_interval_secs.max(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = state.clock.now();
        let s = state.clone();
        match crate::db::run(&state.db, move |c| run_due(c, &s, now)).await {
            Ok(r) if r == JobReport::default() => {}
            Ok(r) => tracing::info!(
                reminded = r.reminded,
                holds_released = r.holds_released,
                concluded = r.concluded,
                "booking job"
            ),
            Err(e) => tracing::warn!(error = %e, "booking job failed"),
        }
    }
}
