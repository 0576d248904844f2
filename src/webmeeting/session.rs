//! The operator's side of a web meeting (role `web_meeting`): take the booking in charge,
//! record the identity check and the recording consent of both people (a refusal ends the
//! session, its reason kept), receive the documents, or close without a delegation.

use super::join::opens_at;
use super::{DOCUMENT_TYPES, Session, SessionStatus, Side, WebMeetingError, find_session};
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::booking::{Booking, BookingError, Status, calendar};
use crate::db::schema::{bookings, webmeeting_documents, webmeeting_sessions};
use crate::db::{DbConn, DbError};
use crate::delegation::registry::{self as delegations, DocumentKind};
use crate::person::CodiceFiscale;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

/// The documents a web meeting receives (seed 000: the signed AA08 and the identity documents).
pub const DOCUMENT_KINDS: [DocumentKind; 3] = [
    DocumentKind::Aa08,
    DocumentKind::DelegatorIdDocument,
    DocumentKind::DelegateIdDocument,
];

/// The audit event of a step: the operator acts, the delegator is the subject, the delegate
/// is named in the detail.
pub(super) fn event(
    operator_id: &str,
    action: &'static str,
    b: &Booking,
    mut detail: Value,
) -> Event {
    if let Some(obj) = detail.as_object_mut() {
        obj.insert("booking_id".into(), json!(b.id));
        obj.insert("delegate".into(), json!(format!("person:{}", b.person_cf)));
    }
    let mut e = Event::new(Party::operator(operator_id), action, Outcome::Success).detail(detail);
    if let Some(cf) = b
        .delegator_cf
        .as_deref()
        .and_then(|c| CodiceFiscale::parse(c).ok())
    {
        e = e.on_behalf_of(Party::person(&cf));
    }
    e
}

/// The session of `booking_id`, held by `operator_id` and still in progress.
pub(super) fn own_session(
    conn: &mut DbConn,
    booking_id: &str,
    operator_id: &str,
) -> Result<(Booking, Session), WebMeetingError> {
    let (b, _) = super::web_meeting_booking(conn, booking_id)?;
    let s = find_session(conn, booking_id)?.ok_or(WebMeetingError::NotTaken)?;
    if s.operator_id != operator_id {
        return Err(WebMeetingError::TakenByAnother);
    }
    if !s.in_progress() {
        return Err(WebMeetingError::Ended(s.status.clone()));
    }
    Ok((b, s))
}

/// Takes the booking in charge: from the moment the person may join until the end of the
/// day; one operator only. The person waiting gets the meeting link from now on.
pub fn take(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    booking_id: &str,
    now: DateTime<Utc>,
) -> Result<Session, WebMeetingError> {
    let (b, desk) = super::web_meeting_booking(conn, booking_id)?;
    if let Some(s) = find_session(conn, booking_id)? {
        return Err(if s.operator_id == operator_id && s.in_progress() {
            WebMeetingError::Invalid("you have already taken this booking in charge".into())
        } else if s.in_progress() {
            WebMeetingError::TakenByAnother
        } else {
            WebMeetingError::Ended(s.status)
        });
    }
    if b.status() != Some(Status::Confirmed) {
        return Err(WebMeetingError::NotConfirmed(b.status.clone()));
    }
    let opens = opens_at(state, &b);
    let day_end = calendar::day_bounds(calendar::local_date(b.starts(), desk.tz), desk.tz).1;
    if now < opens {
        return Err(WebMeetingError::TooEarly {
            message: format!(
                "The booking can be taken in charge from {} (the person may join then).",
                calendar::local_time(opens, desk.tz).format("%H:%M %d/%m/%Y")
            ),
            opens_at: opens,
        });
    }
    if now >= day_end {
        return Err(WebMeetingError::JoinClosed);
    }
    let room = crate::oauth::token_hash::new_token().map_err(DbError::from)?;
    let at = now.naive_utc();
    conn.write_transaction(|c| {
        let n = diesel::update(
            bookings::table
                .filter(bookings::id.eq(&b.id))
                .filter(bookings::status.eq(Status::Confirmed.as_str()))
                .filter(bookings::handled_by.is_null()),
        )
        .set((
            bookings::handled_by.eq(operator_id),
            bookings::handled_at.eq(at),
            bookings::updated_at.eq(at),
        ))
        .execute(c)?;
        if n != 1 {
            return Err(WebMeetingError::TakenByAnother);
        }
        diesel::insert_into(webmeeting_sessions::table)
            .values((
                webmeeting_sessions::booking_id.eq(&b.id),
                webmeeting_sessions::operator_id.eq(operator_id),
                webmeeting_sessions::room.eq(&room),
                webmeeting_sessions::status.eq(SessionStatus::InProgress.as_str()),
                webmeeting_sessions::taken_at.eq(at),
                webmeeting_sessions::updated_at.eq(at),
            ))
            .execute(c)?;
        audit::append(
            c,
            &state.audit_key,
            now,
            event(operator_id, "webmeeting.taken", &b, json!({})),
        )?;
        Ok(())
    })?;
    find_session(conn, booking_id)?.ok_or(WebMeetingError::NotTaken)
}

/// An identity document shown on camera.
#[derive(Debug, Clone)]
pub struct IdentityCheck {
    pub side: Side,
    /// One of [`DOCUMENT_TYPES`].
    pub document_type: String,
    pub document_number: String,
    pub expires_on: NaiveDate,
}

/// Records the identity check of one person (again, to correct it). An expired document is
/// refused: the guide asks for "documenti di riconoscimento … validi".
pub fn record_identity(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    booking_id: &str,
    check: &IdentityCheck,
    now: DateTime<Utc>,
) -> Result<Session, WebMeetingError> {
    if !DOCUMENT_TYPES.contains(&check.document_type.as_str()) {
        return Err(WebMeetingError::Invalid(format!(
            "`document_type` must be one of {}.",
            DOCUMENT_TYPES.join(", ")
        )));
    }
    let number = check.document_number.trim().to_uppercase();
    if !(3..=30).contains(&number.len())
        || !number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ')
    {
        return Err(WebMeetingError::Invalid(
            "`document_number` must be 3 to 30 letters, digits, spaces or dashes.".into(),
        ));
    }
    let (b, _) = own_session(conn, booking_id, operator_id)?;
    let desk = crate::booking::find_desk(conn, &b.desk_id)?.ok_or(BookingError::DeskNotFound)?;
    let today = calendar::local_date(now, desk.tz);
    if check.expires_on < today {
        return Err(WebMeetingError::DocumentExpired(
            check.side.as_str(),
            check.expires_on,
        ));
    }
    let at = now.naive_utc();
    let doc_type = check.document_type.as_str();
    conn.write_transaction(|c| {
        let target = webmeeting_sessions::table
            .filter(webmeeting_sessions::booking_id.eq(booking_id))
            .filter(webmeeting_sessions::status.eq(SessionStatus::InProgress.as_str()));
        let n = match check.side {
            Side::Delegate => diesel::update(target)
                .set((
                    webmeeting_sessions::delegate_document_type.eq(doc_type),
                    webmeeting_sessions::delegate_document_number.eq(&number),
                    webmeeting_sessions::delegate_document_expires_on.eq(check.expires_on),
                    webmeeting_sessions::delegate_checked_at.eq(at),
                    webmeeting_sessions::updated_at.eq(at),
                ))
                .execute(c)?,
            Side::Delegator => diesel::update(target)
                .set((
                    webmeeting_sessions::delegator_document_type.eq(doc_type),
                    webmeeting_sessions::delegator_document_number.eq(&number),
                    webmeeting_sessions::delegator_document_expires_on.eq(check.expires_on),
                    webmeeting_sessions::delegator_checked_at.eq(at),
                    webmeeting_sessions::updated_at.eq(at),
                ))
                .execute(c)?,
        };
        if n != 1 {
            return Err(WebMeetingError::Ended("no longer in progress".into()));
        }
        // The document number stays with the session, out of the audit log.
        audit::append(
            c,
            &state.audit_key,
            now,
            event(
                operator_id,
                "webmeeting.identity_checked",
                &b,
                json!({ "side": check.side.as_str(), "document_type": doc_type,
                        "expires_on": check.expires_on }),
            ),
        )?;
        Ok(())
    })?;
    find_session(conn, booking_id)?.ok_or(WebMeetingError::NotTaken)
}

/// One person's answer to the recording consent.
#[derive(Debug, Clone)]
pub struct Consent {
    pub side: Side,
    pub given: bool,
    /// Why it was refused (required with a refusal).
    pub reason: Option<String>,
}

/// Records one person's answer to the recording consent. A refusal (with its reason) ends the
/// session and the booking: "il servizio non potrà essere erogato nella modalità richiesta".
pub fn record_consent(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    booking_id: &str,
    consent: &Consent,
    now: DateTime<Utc>,
) -> Result<Session, WebMeetingError> {
    let (side, given) = (consent.side, consent.given);
    let reason = consent
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if !given && reason.is_none_or(|r| r.chars().count() > 300) {
        return Err(WebMeetingError::Invalid(
            "A refusal needs a `reason` of 1 to 300 characters.".into(),
        ));
    }
    let (b, _) = own_session(conn, booking_id, operator_id)?;
    let at = now.naive_utc();
    conn.write_transaction(|c| {
        let target = webmeeting_sessions::table
            .filter(webmeeting_sessions::booking_id.eq(booking_id))
            .filter(webmeeting_sessions::status.eq(SessionStatus::InProgress.as_str()));
        let n = match side {
            Side::Delegate => diesel::update(target)
                .set((
                    webmeeting_sessions::delegate_consent.eq(given),
                    webmeeting_sessions::delegate_consent_at.eq(at),
                    webmeeting_sessions::updated_at.eq(at),
                ))
                .execute(c)?,
            Side::Delegator => diesel::update(target)
                .set((
                    webmeeting_sessions::delegator_consent.eq(given),
                    webmeeting_sessions::delegator_consent_at.eq(at),
                    webmeeting_sessions::updated_at.eq(at),
                ))
                .execute(c)?,
        };
        if n != 1 {
            return Err(WebMeetingError::Ended("no longer in progress".into()));
        }
        let action = if given {
            "webmeeting.consent_given"
        } else {
            let why = format!(
                "consent_refused_by_{}: {}",
                side.as_str(),
                reason.unwrap_or_default()
            );
            end(c, &b, SessionStatus::ConsentRefused, &why, now)?;
            "webmeeting.consent_refused"
        };
        audit::append(
            c,
            &state.audit_key,
            now,
            event(
                operator_id,
                action,
                &b,
                json!({ "side": side.as_str(), "reason": reason }),
            ),
        )?;
        Ok(())
    })?;
    find_session(conn, booking_id)?.ok_or(WebMeetingError::NotTaken)
}

/// Ends the session and its booking (inside the caller's transaction).
pub(super) fn end(
    c: &mut DbConn,
    b: &Booking,
    status: SessionStatus,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), WebMeetingError> {
    let at = now.naive_utc();
    let n = diesel::update(
        webmeeting_sessions::table
            .filter(webmeeting_sessions::booking_id.eq(&b.id))
            .filter(webmeeting_sessions::status.eq(SessionStatus::InProgress.as_str())),
    )
    .set((
        webmeeting_sessions::status.eq(status.as_str()),
        webmeeting_sessions::ended_at.eq(at),
        webmeeting_sessions::end_reason.eq(reason),
        webmeeting_sessions::updated_at.eq(at),
    ))
    .execute(c)?;
    if n != 1 {
        return Err(WebMeetingError::Ended("no longer in progress".into()));
    }
    let booking_status = if status == SessionStatus::Completed {
        Status::Completed
    } else {
        Status::Closed
    };
    diesel::update(bookings::table.filter(bookings::id.eq(&b.id)))
        .set((
            bookings::status.eq(booking_status.as_str()),
            bookings::ended_at.eq(at),
            bookings::end_reason.eq(reason),
            bookings::updated_at.eq(at),
        ))
        .execute(c)?;
    Ok(())
}

/// Closes the session without a delegation (the person did not come, the documents were not
/// valid, the delegator could not express their will…), with a reason.
pub fn close(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    booking_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Session, WebMeetingError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 300 {
        return Err(WebMeetingError::Invalid(
            "`reason` must be 1 to 300 characters.".into(),
        ));
    }
    let (b, _) = own_session(conn, booking_id, operator_id)?;
    conn.write_transaction(|c| {
        end(
            c,
            &b,
            SessionStatus::Closed,
            &format!("closed: {reason}"),
            now,
        )?;
        audit::append(
            c,
            &state.audit_key,
            now,
            event(
                operator_id,
                "webmeeting.closed",
                &b,
                json!({ "reason": reason }),
            ),
        )?;
        Ok::<_, WebMeetingError>(())
    })?;
    find_session(conn, booking_id)?.ok_or(WebMeetingError::NotTaken)
}

/// A received document: (kind, SHA-256, size).
pub type DocumentInfo = (String, String, i64);

/// Stores documents received in the call (each a PDF checked by content, at most
/// `webmeeting.document_max_bytes`), replacing an earlier one of the same kind.
pub fn store_documents(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    booking_id: &str,
    files: Vec<(String, Vec<u8>)>,
    now: DateTime<Utc>,
) -> Result<Vec<DocumentInfo>, WebMeetingError> {
    let max = state.config.webmeeting.document_max_bytes;
    let mut docs = Vec::new();
    for (name, bytes) in files {
        let kind = DocumentKind::parse(&name)
            .filter(|k| DOCUMENT_KINDS.contains(k))
            .ok_or_else(|| {
                WebMeetingError::Invalid(format!(
                    "Unknown part `{name}`: expected aa08, delegator_id_document or \
                     delegate_id_document."
                ))
            })?;
        docs.push(
            delegations::check_document(kind, bytes, max).map_err(|e| match e {
                delegations::DelegationError::Document(n, why) => WebMeetingError::Document(n, why),
                other => WebMeetingError::Delegation(other),
            })?,
        );
    }
    if docs.is_empty() {
        return Err(WebMeetingError::Invalid(
            "Send at least one document part.".into(),
        ));
    }
    let (b, _) = own_session(conn, booking_id, operator_id)?;
    let at = now.naive_utc();
    conn.write_transaction(|c| {
        let mut hashes = Vec::new();
        for d in &docs {
            diesel::delete(
                webmeeting_documents::table
                    .filter(webmeeting_documents::booking_id.eq(booking_id))
                    .filter(webmeeting_documents::kind.eq(d.kind.as_str())),
            )
            .execute(c)?;
            let id = crate::oauth::token_hash::new_id().map_err(DbError::from)?;
            diesel::insert_into(webmeeting_documents::table)
                .values((
                    webmeeting_documents::id.eq(&id),
                    webmeeting_documents::booking_id.eq(booking_id),
                    webmeeting_documents::kind.eq(d.kind.as_str()),
                    webmeeting_documents::sha256.eq(&d.sha256),
                    webmeeting_documents::size_bytes
                        .eq(i64::try_from(d.bytes.len()).unwrap_or(i64::MAX)),
                    webmeeting_documents::content.eq(&d.bytes),
                    webmeeting_documents::uploaded_by.eq(operator_id),
                    webmeeting_documents::created_at.eq(at),
                ))
                .execute(c)?;
            hashes.push(json!({ "kind": d.kind.as_str(), "sha256": d.sha256 }));
        }
        diesel::update(webmeeting_sessions::table.find(booking_id))
            .set(webmeeting_sessions::updated_at.eq(at))
            .execute(c)?;
        audit::append(
            c,
            &state.audit_key,
            now,
            event(
                operator_id,
                "webmeeting.documents_received",
                &b,
                json!({ "documents": hashes }),
            ),
        )?;
        Ok::<_, WebMeetingError>(())
    })?;
    Ok(documents_of(conn, booking_id)?)
}

/// The documents received so far: (kind, SHA-256, size).
pub fn documents_of(conn: &mut DbConn, booking_id: &str) -> Result<Vec<DocumentInfo>, DbError> {
    Ok(webmeeting_documents::table
        .filter(webmeeting_documents::booking_id.eq(booking_id))
        .order(webmeeting_documents::kind.asc())
        .select((
            webmeeting_documents::kind,
            webmeeting_documents::sha256,
            webmeeting_documents::size_bytes,
        ))
        .load(conn)?)
}
