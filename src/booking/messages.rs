//! What a booking tells its person, through the outbox inside the state change's transaction:
//! the confirmation (seed 000's SMS), the reminder about 30 minutes before, and a
//! cancellation. By SMS to the booking's mobile, else by e-mail. The texts themselves are
//! `notify::booking_texts`; here are their parameters, with dates and times at the desk.

use super::book::Canceller;
use super::calendar;
use super::{BookedVia, Booking, BookingError, Desk, DeskKind};
use crate::AppState;
use crate::db::DbConn;
use crate::notify::{self, NewMessage, Template};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// `19/07/2022` and `09:00:00` at the desk, as the seed's SMS writes them.
pub fn date_and_time(desk: &Desk, at: DateTime<Utc>) -> (String, String) {
    let local = calendar::local_time(at, desk.tz);
    (
        local.format("%d/%m/%Y").to_string(),
        local.format("%H:%M:%S").to_string(),
    )
}

/// When the web meeting may be joined: `HH:MM` and `DD/MM/YYYY` at the desk.
pub fn join_from(state: &AppState, desk: &Desk, b: &Booking) -> (String, String) {
    let opens =
        b.starts() - Duration::minutes(i64::from(state.config.webmeeting.join_before_minutes));
    let local = calendar::local_time(opens, desk.tz);
    (
        local.format("%H:%M").to_string(),
        local.format("%d/%m/%Y").to_string(),
    )
}

/// The parameters every booking text takes.
pub fn params(state: &AppState, desk: &Desk, b: &Booking) -> Value {
    let (date, time) = date_and_time(desk, b.starts());
    let web = desk.kind == DeskKind::WebMeeting;
    json!({
        "desk": desk.name,
        "office": desk.office,
        "location": desk.location,
        "kind": desk.kind.as_str(),
        "mode": desk.kind.mode_text(),
        "date": date,
        "time": time,
        "reference": b.reference,
        // Booked with an identity: the details are in MyINPS (seed 000).
        "myinps": b.booked_via != BookedVia::Guest.as_str(),
        "join_from": web.then(|| join_from(state, desk, b).0),
    })
}

fn send(
    c: &mut DbConn,
    state: &AppState,
    b: &Booking,
    template: Template,
    step: &str,
    params: Value,
    now: DateTime<Utc>,
) -> Result<(), BookingError> {
    let (channel, recipient) = match (&b.mobile, &b.email) {
        (Some(m), _) => (notify::Channel::Sms, m.clone()),
        (None, Some(e)) => (notify::Channel::Email, e.clone()),
        // A hold never confirmed has no contact: nothing to tell.
        (None, None) => return Ok(()),
    };
    notify::enqueue(
        c,
        &state.outbox_key,
        NewMessage {
            idempotency_key: format!("booking:{}:{step}", b.id),
            channel,
            recipient,
            template,
            params,
            secret: None,
            source_ref: Some(b.id.clone()),
        },
        now,
    )?;
    Ok(())
}

/// The confirmation (`Template::BookingConfirmed`) or the reminder (`BookingReminder`).
pub fn notice(
    c: &mut DbConn,
    state: &AppState,
    desk: &Desk,
    b: &Booking,
    template: Template,
    now: DateTime<Utc>,
) -> Result<(), BookingError> {
    let step = match template {
        Template::BookingReminder => "reminder",
        _ => "confirmed",
    };
    let p = params(state, desk, b);
    send(c, state, b, template, step, p, now)
}

pub fn cancelled(
    c: &mut DbConn,
    state: &AppState,
    desk: &Desk,
    b: &Booking,
    by: &Canceller,
    now: DateTime<Utc>,
) -> Result<(), BookingError> {
    let mut p = params(state, desk, b);
    let (who, why) = match by {
        Canceller::Owner(_) => ("person", None),
        Canceller::Operator { reason, .. } => ("operator", Some(reason.clone())),
        Canceller::Closure { notice } => ("closure", Some(notice.clone())),
    };
    if let Some(obj) = p.as_object_mut() {
        obj.insert("cancelled_by".into(), json!(who));
        obj.insert("reason".into(), json!(why));
    }
    send(c, state, b, Template::BookingCancelled, "cancelled", p, now)
}
