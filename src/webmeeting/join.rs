//! The person's "Accedi al Web Meeting" (seed 000, §3): allowed only from
//! `webmeeting.join_before_minutes` (15) before the appointment — earlier, the guide's message
//! "Gentile utente, la sua sessione di Spid in Delega sarà disponibile dalle 09:30 del
//! 24/06/2022" — then a waiting room ("Fino a quando il funzionario INPS non prenderà in carico
//! la prenotazione, l'utente non potrà accedere direttamente al web meeting") until an
//! operator takes the booking in charge, then the meeting link.

use super::{Session, WebMeetingError, find_session, meeting_url};
use crate::AppState;
use crate::booking::book::{Owner, find_owned};
use crate::booking::{Booking, BookingError, Desk, DeskKind, Status, calendar, find_desk};
use crate::db::DbConn;
use crate::db::schema::bookings;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

/// Where the person stands when asking to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// In the window, nobody has taken the booking in charge yet.
    Waiting { since: DateTime<Utc> },
    /// An operator took it in charge: the link to the call.
    Ready { meeting_url: String },
}

/// The instant the session may be joined.
pub fn opens_at(state: &AppState, b: &Booking) -> DateTime<Utc> {
    b.starts() - Duration::minutes(i64::from(state.config.webmeeting.join_before_minutes))
}

/// The guide's refusal for an early join, with the opening time at the desk.
pub fn too_early_message(desk: &Desk, opens: DateTime<Utc>) -> String {
    let local = calendar::local_time(opens, desk.tz);
    format!(
        "Gentile utente, la sua sessione di Spid in Delega sarà disponibile dalle {} del {}",
        local.format("%H:%M"),
        local.format("%d/%m/%Y")
    )
}

/// What the person sees of the meeting in "Le mie prenotazioni".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingState {
    pub opens_at: DateTime<Utc>,
    /// `not_yet_open`, `waiting`, `ready`, `ended`.
    pub status: &'static str,
    pub meeting_url: Option<String>,
}

/// The meeting details of a web-meeting booking, without changing anything.
pub fn meeting_state(
    conn: &mut DbConn,
    state: &AppState,
    b: &Booking,
    now: DateTime<Utc>,
) -> Result<Option<MeetingState>, WebMeetingError> {
    if b.kind() != Some(DeskKind::WebMeeting) || b.status() == Some(Status::Held) {
        return Ok(None);
    }
    let opens = opens_at(state, b);
    let session = find_session(conn, &b.id)?;
    let (status, url) = match (&session, b.status()) {
        (Some(s), _) if s.in_progress() => (
            "ready",
            Some(meeting_url(
                &state.config.webmeeting.meeting_url_template,
                s,
                b,
            )),
        ),
        (Some(_), _)
        | (
            None,
            Some(
                Status::Cancelled
                | Status::Concluded
                | Status::Closed
                | Status::Completed
                | Status::Expired,
            ),
        ) => ("ended", None),
        (None, _) if now < opens => ("not_yet_open", None),
        (None, _) if past_join(state, b, now) => ("ended", None),
        (None, _) => ("waiting", None),
    };
    Ok(Some(MeetingState {
        opens_at: opens,
        status,
        meeting_url: url,
    }))
}

fn past_join(state: &AppState, b: &Booking, now: DateTime<Utc>) -> bool {
    now > b.ends() + Duration::minutes(i64::from(state.config.webmeeting.join_after_end_minutes))
}

/// The person (the delegate who booked) asks to join.
pub fn join(
    conn: &mut DbConn,
    state: &AppState,
    booking_id: &str,
    owner: &Owner,
    now: DateTime<Utc>,
) -> Result<Joined, WebMeetingError> {
    let b = find_owned(conn, booking_id, owner)?;
    if b.kind() != Some(DeskKind::WebMeeting) {
        return Err(WebMeetingError::NotWebMeeting);
    }
    let desk = find_desk(conn, &b.desk_id)?.ok_or(BookingError::DeskNotFound)?;
    let session: Option<Session> = find_session(conn, &b.id)?;
    if let Some(s) = &session {
        if s.in_progress() {
            return Ok(Joined::Ready {
                meeting_url: meeting_url(&state.config.webmeeting.meeting_url_template, s, &b),
            });
        }
        return Err(WebMeetingError::JoinClosed);
    }
    if b.status() != Some(Status::Confirmed) {
        return Err(match b.status() {
            Some(Status::Held) => {
                WebMeetingError::NotConfirmed(crate::booking::book::italian_status(&b.status))
            }
            _ => WebMeetingError::JoinClosed,
        });
    }
    let opens = opens_at(state, &b);
    if now < opens {
        return Err(WebMeetingError::TooEarly {
            message: too_early_message(&desk, opens),
            opens_at: opens,
        });
    }
    if past_join(state, &b, now) {
        return Err(WebMeetingError::JoinClosed);
    }
    // The request to the operator is automatic on opening the waiting room (seed 000, §4):
    // the first join marks the person as waiting, for the operators' list.
    let at = now.naive_utc();
    diesel::update(
        bookings::table
            .filter(bookings::id.eq(&b.id))
            .filter(bookings::waiting_since.is_null()),
    )
    .set((bookings::waiting_since.eq(at), bookings::updated_at.eq(at)))
    .execute(conn)?;
    let since = b.waiting_since.map_or(now, |t| t.and_utc());
    Ok(Joined::Waiting { since })
}
