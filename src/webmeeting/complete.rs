//! Completing a web meeting: the operator registers the fiduciary delegation through the
//! delegations registry with channel `web_meeting`, active at once (msg 3026: "Al
//! completamento della sessione di web meeting la delega dell'identità digitale sarà subito
//! operativa"), both parties notified. Possible only when both people's identity was checked,
//! both consented to the recording, and the signed AA08 and both identity documents were
//! received; the registry itself refuses the channel without the documents and the consent.
//!
//! One transaction: the session and the booking end, the documents move to the delegation's
//! evidence, the delegation is written with its messages, and the audit records come last.

use super::session::{end, event, own_session};
use super::{Session, SessionStatus, WebMeetingError, find_session};
use crate::AppState;
use crate::audit;
use crate::db::schema::{webmeeting_documents, webmeeting_sessions};
use crate::db::{DbConn, DbError};
use crate::delegation::registry::{self, Document, DocumentKind, OperatorRegistration};
use crate::delegation::{Channel, Delegation, Kind};
use crate::person::CodiceFiscale;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::json;

/// Registers the delegation of a session in progress; `ends_on` is the end date the delegator
/// chose, if any.
pub fn complete(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    booking_id: &str,
    ends_on: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<(Session, Delegation), WebMeetingError> {
    let (b, s) = own_session(conn, booking_id, operator_id)?;
    let mut missing = s.missing_steps();
    let stored: Vec<(String, String, Vec<u8>)> = webmeeting_documents::table
        .filter(webmeeting_documents::booking_id.eq(booking_id))
        .select((
            webmeeting_documents::kind,
            webmeeting_documents::sha256,
            webmeeting_documents::content,
        ))
        .load(conn)?;
    let documents: Vec<Document> = stored
        .into_iter()
        .filter_map(|(kind, sha256, bytes)| {
            DocumentKind::parse(&kind).map(|kind| Document {
                kind,
                sha256,
                bytes,
            })
        })
        .collect();
    if let Some(doc) = registry::missing_document(Channel::WebMeeting, &documents) {
        missing.push(doc);
    }
    if !missing.is_empty() {
        return Err(WebMeetingError::Incomplete(missing));
    }
    let parse = |cf: Option<&str>| {
        cf.and_then(|c| CodiceFiscale::parse(c).ok())
            .ok_or_else(|| WebMeetingError::Invalid("the booking names no valid delegator".into()))
    };
    let delegator = parse(b.delegator_cf.as_deref())?;
    let delegate = parse(Some(&b.person_cf))?;
    let hashes: Vec<(String, String)> = documents
        .iter()
        .map(|d| (d.kind.as_str().to_owned(), d.sha256.clone()))
        .collect();
    let id = crate::oauth::token_hash::new_id().map_err(DbError::from)?;
    let registration = OperatorRegistration {
        channel: Channel::WebMeeting,
        kind: Kind::Fiducia,
        delegator,
        delegate,
        ends_on,
        decree_reference: None,
        documents,
        // Both answers were checked above (`missing_steps`) and again under the lock below.
        recording_consented: true,
    };
    let delegation = conn.write_transaction(|c| {
        // Ends the session only if it is still in progress with both consents given, so a
        // refusal recorded meanwhile wins.
        let consented = webmeeting_sessions::table
            .filter(webmeeting_sessions::booking_id.eq(booking_id))
            .filter(webmeeting_sessions::delegate_consent.eq(true))
            .filter(webmeeting_sessions::delegator_consent.eq(true))
            .count()
            .get_result::<i64>(c)?;
        if consented != 1 {
            return Err(WebMeetingError::Incomplete(vec!["consent"]));
        }
        end(
            c,
            &b,
            SessionStatus::Completed,
            "delegation_registered",
            now,
        )?;
        diesel::update(webmeeting_sessions::table.find(booking_id))
            .set(webmeeting_sessions::delegation_id.eq(&id))
            .execute(c)?;
        // The documents become the delegation's evidence; unchanged since they were read.
        let now_stored: Vec<(String, String)> = webmeeting_documents::table
            .filter(webmeeting_documents::booking_id.eq(booking_id))
            .order(webmeeting_documents::kind.asc())
            .select((webmeeting_documents::kind, webmeeting_documents::sha256))
            .load(c)?;
        let mut read = hashes.clone();
        read.sort();
        if now_stored != read {
            return Err(WebMeetingError::Invalid(
                "the documents changed while completing; try again".into(),
            ));
        }
        diesel::delete(
            webmeeting_documents::table.filter(webmeeting_documents::booking_id.eq(booking_id)),
        )
        .execute(c)?;
        let d = registry::register_by_operator_in(c, state, operator_id, &id, registration, now)?;
        audit::append(
            c,
            &state.audit_key,
            now,
            event(
                operator_id,
                "webmeeting.completed",
                &b,
                json!({ "delegation_id": id }),
            ),
        )?;
        Ok(d)
    })?;
    let session = find_session(conn, booking_id)?.ok_or(WebMeetingError::NotTaken)?;
    Ok((session, delegation))
}
