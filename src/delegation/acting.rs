//! Acting on behalf of a delegator (domain §1.10, §6.5, §6.8): the "act for" list and the
//! yes/no access check. (Whether a delegated token is still backed by its delegation is
//! asked with the token's other liveness reads, in [`crate::oauth::liveness`].)
//!
//! Every answer is read from the database at the moment of the request (design §5): a
//! revocation, renunciation or end date takes effect on the next request, on every instance.

use super::{Delegation, in_force_between, in_force_for_delegate};
use crate::audit::{Event, Outcome, Party};
use crate::db::{DbConn, DbError};
use crate::oauth::scope;
use crate::person::{CodiceFiscale, registry};
use chrono::{DateTime, Utc};

/// One person the delegate may act for, with the names the registry holds (if any).
#[derive(Debug, Clone)]
pub struct ActingFor {
    pub delegation: Delegation,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// The delegations in force that let `delegate` act for someone, with the delegators' names.
pub fn acting_for(
    conn: &mut DbConn,
    delegate: &CodiceFiscale,
    now: DateTime<Utc>,
) -> Result<Vec<ActingFor>, DbError> {
    let mut out = Vec::new();
    for delegation in in_force_for_delegate(conn, delegate.as_str(), now)? {
        let person = registry::find(conn, &delegation.delegator_cf)?;
        out.push(ActingFor {
            given_name: person.as_ref().map(|p| p.given_name.clone()),
            family_name: person.map(|p| p.family_name),
            delegation,
        });
    }
    Ok(out)
}

/// May `actor` act for `subject` on `scope` now? Themselves always; someone else only under a
/// delegation in force and for a delegable scope (domain §6.5).
pub fn may_act(
    conn: &mut DbConn,
    actor: &CodiceFiscale,
    subject: &CodiceFiscale,
    scope_name: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    if actor == subject {
        return Ok(true);
    }
    if !scope::is_delegable(scope_name) {
        return Ok(false);
    }
    Ok(in_force_between(conn, actor.as_str(), subject.as_str(), now)?.is_some())
}

/// Who asks an access check, for the audit record.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub client_id: String,
    pub request_id: Option<String>,
    pub actor: CodiceFiscale,
    pub subject: CodiceFiscale,
    pub scope: String,
}

/// [`may_act`] and the audit record of its answer: the client as actor, the subject person
/// as subject, the acting person, scope and answer as detail — never the reason (domain §3).
/// The check writes nothing else, so the record goes to the group-commit appender
/// ([`crate::audit::batch`]); the caller answers only once it is committed.
pub fn check_access(
    conn: &mut DbConn,
    request: &CheckRequest,
    now: DateTime<Utc>,
) -> Result<(bool, Event), DbError> {
    let allowed = may_act(conn, &request.actor, &request.subject, &request.scope, now)?;
    Ok((allowed, check_event(request, allowed)))
}

/// The audit record of an access check's answer.
pub fn check_event(request: &CheckRequest, allowed: bool) -> Event {
    let outcome = if allowed {
        Outcome::Success
    } else {
        Outcome::Denied
    };
    let mut event = Event::new(Party::client(&request.client_id), "access.check", outcome)
        .on_behalf_of(Party::person(&request.subject))
        .detail(serde_json::json!({
            "actor": Party::person(&request.actor).as_str(),
            "scope": request.scope,
            "allowed": allowed,
        }));
    if let Some(id) = &request.request_id {
        event = event.request_id(id.clone());
    }
    event
}
