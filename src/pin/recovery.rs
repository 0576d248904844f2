//! A lost PIN (domain §2.5): with the codice fiscale and at least two of the contacts on file,
//! a new 16-character PIN is issued and split across two of them, the first half by SMS and
//! the second by e-mail or PEC (or e-mail and PEC when no mobile matches). It works only for a
//! PIN used at least once; otherwise the person revokes it and asks for a new one.
//!
//! The contacts on file are those of the person's last issued PIN request, else the registry's.
//! Whatever the outcome the caller gives the citizen the same answer, so the form cannot be
//! used to learn who has a PIN or which contacts they gave.

use super::credential::{self, StoredCredential};
use super::halves::IssuedPin;
use super::issuance::IssuanceError;
use super::request::RequestStatus;
use super::{Holder, PinType};
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::db::schema::pin_requests;
use crate::db::{self, DbConn, DbError};
use crate::notify::{self, Channel, NewMessage, Template};
use crate::person::{CodiceFiscale, registry};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

/// Contacts, normalised (E.164 mobile, lowercase addresses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contacts {
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub pec: Option<String>,
}

impl Contacts {
    fn by_channel(&self) -> [(Channel, Option<&str>); 3] {
        [
            (Channel::Sms, self.mobile.as_deref()),
            (Channel::Email, self.email.as_deref()),
            (Channel::Pec, self.pec.as_deref()),
        ]
    }
}

/// The contacts on file for `cf`: its last issued request's, else the registry's.
pub fn contacts_on_file(conn: &mut DbConn, cf: &str) -> Result<Option<Contacts>, DbError> {
    let last: Option<(Option<String>, Option<String>, Option<String>)> = pin_requests::table
        .filter(pin_requests::codice_fiscale.eq(cf))
        .filter(pin_requests::status.eq(RequestStatus::Issued.as_str()))
        .order(pin_requests::decided_at.desc())
        .select((pin_requests::mobile, pin_requests::email, pin_requests::pec))
        .first(conn)
        .optional()?;
    if let Some((mobile, email, pec)) = last {
        return Ok(Some(Contacts { mobile, email, pec }));
    }
    Ok(registry::find(conn, cf)?.map(|p| Contacts {
        mobile: p.mobile,
        email: p.email,
        pec: p.pec,
    }))
}

/// What happened (for the log and the tests; the citizen always gets the same answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// A new PIN was issued and its halves queued.
    Sent,
    /// Fewer than two given contacts match the ones on file (or there is no PIN).
    ContactsDoNotMatch,
    /// The PIN was never used: revoke it and ask for a new one.
    NeverUsed,
}

/// Issues a new PIN to `cf` if at least two of `given` match the contacts on file.
pub async fn recover(
    state: &AppState,
    cf: &CodiceFiscale,
    given: &Contacts,
    now: DateTime<Utc>,
) -> Result<Recovery, IssuanceError> {
    let code = cf.clone();
    let (on_file, current) = db::run(&state.db, move |c| {
        Ok::<_, DbError>((
            contacts_on_file(c, code.as_str())?,
            credential::status(c, &code)?,
        ))
    })
    .await?;
    let (Some(on_file), Some(current)) = (on_file, current) else {
        return Ok(Recovery::ContactsDoNotMatch);
    };
    // Channels whose contact was given and matches the one on file, in order SMS, e-mail, PEC.
    let matched: Vec<(Channel, String)> = given
        .by_channel()
        .into_iter()
        .zip(on_file.by_channel())
        .filter_map(|((ch, g), (_, f))| match (g, f) {
            (Some(g), Some(f)) if g == f => Some((ch, f.to_owned())),
            _ => None,
        })
        .collect();
    let (Some(first), Some(second)) = (matched.first().cloned(), matched.get(1).cloned()) else {
        return Ok(Recovery::ContactsDoNotMatch);
    };
    if current.initial && current.last_used_at.is_none() {
        return Ok(Recovery::NeverUsed);
    }
    let pin_type = PinType::parse(&current.pin_type).unwrap_or(PinType::Ordinario);
    let holder = Holder::parse(&current.holder).unwrap_or(Holder::Cittadino);
    let pin = IssuedPin::generate()?;
    let hash = state.hasher.hash(pin.whole().to_owned()).await?;
    let recovery_id = crate::oauth::token_hash::new_id()?;
    let (state2, code) = (state.clone(), cf.clone());
    let outcome = db::run(&state.db, move |c| {
        c.write_transaction(|c| {
            // One issuance per person in flight: a parallel recovery that got here first has
            // stored an initial PIN not used yet, which this one must not replace.
            super::guard::take(c, code.as_str(), now)?;
            match credential::status(c, &code)? {
                Some(now_on_file) if now_on_file.initial && now_on_file.last_used_at.is_none() => {
                    return Ok(Recovery::NeverUsed);
                }
                Some(_) => {}
                None => return Ok(Recovery::ContactsDoNotMatch),
            }
            let person = registry::find(c, code.as_str())?;
            let given_name = person.map(|p| p.given_name).unwrap_or_default();
            credential::store_credential(
                c,
                &state2.audit_key,
                &state2.config.pin,
                &code,
                StoredCredential {
                    pin_hash: &hash,
                    pin_type,
                    holder,
                    initial: true,
                },
                Party::person(&code),
                now,
            )?;
            for (part, (channel, to), half) in [
                (1, &first, pin.first_half()),
                (2, &second, pin.second_half()),
            ] {
                notify::enqueue(
                    c,
                    &state2.outbox_key,
                    NewMessage {
                        idempotency_key: format!("pin-recovery:{recovery_id}:{part}"),
                        channel: *channel,
                        recipient: to.clone(),
                        template: Template::PinRecoveryHalf,
                        params: json!({ "reference": recovery_id, "given_name": given_name, "part": part }),
                        secret: Some(half.to_owned()),
                        source_ref: Some(recovery_id.clone()),
                    },
                    now,
                )?;
            }
            audit::append(
                c,
                &state2.audit_key,
                now,
                Event::new(Party::person(&code), "pin.recovered", Outcome::Success).detail(json!({
                    "recovery": recovery_id,
                    "channels": [first.0.as_str(), second.0.as_str()],
                })),
            )?;
            Ok::<_, IssuanceError>(Recovery::Sent)
        })
    })
    .await?;
    if outcome == Recovery::Sent {
        tracing::info!(cf = %cf.masked(), "PIN recovered: new halves queued");
    }
    Ok(outcome)
}

/// Who revokes a PIN.
#[derive(Debug, Clone)]
pub enum Revoker {
    /// The holder, logged in.
    Holder,
    /// A contact-centre or desk operator, with a reason.
    Operator { id: String, reason: String },
}

/// Revokes `cf`'s PIN: the credential is deleted at once (any login with it fails from now
/// on), the holder is told at a contact on file, and the revocation is audited.
///
/// # Errors
///
/// `Pin(NoCredential)` when there is no PIN to revoke; `ReasonRequired` for an operator
/// without a reason.
pub async fn revoke(
    state: &AppState,
    cf: &CodiceFiscale,
    by: Revoker,
    now: DateTime<Utc>,
) -> Result<(), IssuanceError> {
    if let Revoker::Operator { reason, .. } = &by
        && reason.trim().is_empty()
    {
        return Err(IssuanceError::ReasonRequired);
    }
    let (state2, code) = (state.clone(), cf.clone());
    db::run(&state.db, move |c| {
        c.write_transaction(|c| {
            let deleted =
                diesel::delete(crate::db::schema::pin_credentials::table.find(code.as_str()))
                    .execute(c)?;
            if deleted == 0 {
                return Err(IssuanceError::Pin(super::PinError::NoCredential));
            }
            let (actor, reason) = match &by {
                Revoker::Holder => (Party::person(&code), None),
                Revoker::Operator { id, reason } => (Party::operator(id), Some(reason.trim())),
            };
            audit::append(
                c,
                &state2.audit_key,
                now,
                Event::new(actor, "pin.revoked", Outcome::Success)
                    .on_behalf_of(Party::person(&code))
                    .detail(json!({ "reason": reason })),
            )?;
            let contact = contacts_on_file(c, code.as_str())?.and_then(|k| {
                k.by_channel()
                    .into_iter()
                    .find_map(|(ch, to)| to.map(|t| (ch, t.to_owned())))
            });
            if let Some((channel, to)) = contact {
                let given_name = registry::find(c, code.as_str())?
                    .map(|p| p.given_name)
                    .unwrap_or_default();
                let id = crate::oauth::token_hash::new_id()?;
                notify::enqueue(
                    c,
                    &state2.outbox_key,
                    NewMessage {
                        idempotency_key: format!("pin-revoked:{id}"),
                        channel,
                        recipient: to,
                        template: Template::PinRevoked,
                        params: json!({ "given_name": given_name }),
                        secret: None,
                        source_ref: None,
                    },
                    now,
                )?;
            }
            Ok(())
        })
    })
    .await?;
    tracing::info!(cf = %cf.masked(), "PIN revoked");
    Ok(())
}
