//! Issuing the 16-character PIN through each channel INPS uses (domain §2.3, messaggio
//! 4590/2016):
//!
//! - **online** ([`submit`] with [`RequestChannel::Online`]): checked automatically against
//!   the persons registry. Pass: a PIN `ordinario`, the first half to the chosen contact, the
//!   letter with the second half to the residence address *in the registry*. Fail: the
//!   request joins the contact-centre call-back queue with the reasons.
//! - **contact centre, inbound** ([`submit`] with [`RequestChannel::ContactCenter`]): the
//!   operator types the data; when the registry agrees the PIN is issued on the spot and the
//!   first half is also returned to the operator to read on the phone; otherwise the request
//!   follows the queue path.
//! - **contact centre, call-back** ([`queue`], [`claim`], [`record_outcome`]).
//! - **desk** ([`issue_at_desk`]): identity checked in person, MV35 and ID scan archived; a
//!   PIN `dispositivo`, whole, shown once to the operator.
//!
//! Every state change is one transaction that also writes its audit record and its outbox
//! messages; the PIN is hashed (argon2id, off the async workers) before it starts. Halves
//! exist in clear only in memory and, sealed, in the outbox until dispatched.

use super::address_check::{self, CheckFailure, Declared};
use super::credential::{self, StoredCredential};
use super::documents::{CheckedDocument, DocumentKind};
use super::guard;
use super::halves::IssuedPin;
use super::policy::{self, Facts, Refusal};
use super::request::{self, PinRequest, RequestChannel, RequestData, RequestStatus, RequesterData};
use super::{Holder, PinError, PinType};
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::db::schema::{pin_request_documents, pin_requests};
use crate::db::{self, DbConn, DbError};
use crate::notify::{self, Channel, EnqueueError, NewMessage, PostalAddress, Template};
use crate::person::CodiceFiscale;
use crate::person::registry::{self, Person};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::json;

/// Why the request needs a person on the phone even though the data may match: the
/// representation is declared, not proven.
pub const REPRESENTATION_TO_VERIFY: &str = "representation";

#[derive(Debug, thiserror::Error)]
pub enum IssuanceError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("this person already has an active PIN")]
    PinAlreadyActive,
    #[error("a request for this person is already waiting for the contact centre")]
    RequestPending,
    #[error("the person is not in the persons registry")]
    NotInRegistry,
    #[error("no such PIN request")]
    NotFound,
    #[error("the request is not waiting for the contact centre (it is {0})")]
    NotQueued(String),
    #[error("another operator is handling this request")]
    ClaimedByOther,
    #[error("claim the request before recording an outcome")]
    NotClaimed,
    #[error("missing document: {0}")]
    MissingDocument(&'static str),
    #[error("a reason is required")]
    ReasonRequired,
    #[error(transparent)]
    Pin(#[from] PinError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the outbox refused a message: {0}")]
    Enqueue(#[from] EnqueueError),
}

impl From<DieselError> for IssuanceError {
    fn from(e: DieselError) -> Self {
        Self::Db(e.into())
    }
}

impl From<crate::password::PasswordError> for IssuanceError {
    fn from(e: crate::password::PasswordError) -> Self {
        Self::Pin(e.into())
    }
}

impl From<std::io::Error> for IssuanceError {
    fn from(e: std::io::Error) -> Self {
        Self::Db(e.into())
    }
}

/// The result of [`submit`].
#[derive(Debug)]
pub struct Submitted {
    pub request_id: String,
    pub reference: String,
    pub outcome: SubmitOutcome,
}

#[derive(Debug)]
pub enum SubmitOutcome {
    /// The PIN is active; halves are on their way. `first_half` is set for the contact
    /// centre only (read it on the phone; shown once).
    Issued { first_half: Option<String> },
    /// The request waits for a contact-centre call; these checks failed.
    Queued { failures: Vec<String> },
}

/// Who did it, for the audit log and the request row.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The requester online (the holder, or a representative).
    Citizen(Party),
    Operator(String),
}

impl Actor {
    fn party(&self) -> Party {
        match self {
            Actor::Citizen(p) => p.clone(),
            Actor::Operator(id) => Party::operator(id),
        }
    }

    fn operator_id(&self) -> Option<&str> {
        match self {
            Actor::Citizen(_) => None,
            Actor::Operator(id) => Some(id),
        }
    }
}

/// What the registry and the credential store say about a holder.
struct Known {
    person: Option<Person>,
    has_active_pin: bool,
}

fn known(conn: &mut DbConn, holder: &CodiceFiscale) -> Result<Known, DbError> {
    let person = registry::find(conn, holder.as_str())?;
    let has_active_pin = credential::status(conn, holder)?.is_some_and(|c| c.blocked_at.is_none());
    Ok(Known {
        person,
        has_active_pin,
    })
}

fn policy_facts<'a>(
    holder: &'a CodiceFiscale,
    person: Option<&Person>,
    requester: &'a RequesterData,
    without_italian_id_document: bool,
    now: DateTime<Utc>,
) -> Facts<'a> {
    let today = now.date_naive();
    Facts {
        holder_codice_fiscale: holder.as_str(),
        holder_birth_date: person.map_or_else(|| holder.birth_date(today), |p| p.birth_date),
        holder_born_abroad: holder.is_born_abroad(),
        without_italian_id_document,
        requester: requester.as_policy(),
        today,
    }
}

/// An online or inbound contact-centre request: checked, then issued or queued.
pub async fn submit(
    state: &AppState,
    data: RequestData,
    channel: RequestChannel,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Submitted, IssuanceError> {
    let holder = data.holder.clone();
    let k = db::run(&state.db, move |c| known(c, &holder)).await?;
    policy::check(
        &policy_facts(
            &data.holder,
            k.person.as_ref(),
            &data.requester,
            data.without_italian_id_document,
            now,
        ),
        state.config.issuance.eligibility,
    )?;
    if k.has_active_pin {
        return Err(IssuanceError::PinAlreadyActive);
    }
    let mut failures: Vec<String> = match &k.person {
        None => vec![CheckFailure::UnknownPerson.as_str().to_owned()],
        Some(person) => address_check::check(&declared(&data), person)
            .into_iter()
            .map(|f| f.as_str().to_owned())
            .collect(),
    };
    if matches!(data.requester, RequesterData::Representative { .. }) {
        failures.push(REPRESENTATION_TO_VERIFY.to_owned());
    }
    let id = crate::oauth::token_hash::new_id()?;
    let reference = request::new_reference()?;
    let row = new_row(&id, &reference, channel, &data, &actor, now);
    let state2 = state.clone();
    let masked = data.holder.masked().to_string();
    if let (true, Some(person)) = (failures.is_empty(), k.person) {
        let pin = IssuedPin::generate()?;
        let hash = state.hasher.hash(pin.whole().to_owned()).await?;
        let first_half = pin.first_half().to_owned();
        let actor2 = actor.clone();
        db::run(&state.db, move |c| {
            c.write_transaction(|c| {
                guard_without_active_pin(c, &row.codice_fiscale, now)?;
                insert_request(c, &row)?;
                audit_submitted(c, &state2, &row, &actor2, &[], now)?;
                let stored = find_row(c, &row.id)?;
                activate(
                    c,
                    &state2,
                    &stored,
                    &person,
                    &hash,
                    &pin,
                    PinType::Ordinario,
                    &actor2,
                    now,
                )
            })
        })
        .await?;
        tracing::info!(cf = %masked, %reference, channel = channel.as_str(), "PIN issued");
        let first_half = matches!(channel, RequestChannel::ContactCenter).then_some(first_half);
        return Ok(Submitted {
            request_id: id,
            reference,
            outcome: SubmitOutcome::Issued { first_half },
        });
    }
    let queued = QueuedRow {
        row,
        failures: failures.join(" "),
    };
    let f2 = failures.clone();
    db::run(&state.db, move |c| {
        c.write_transaction(|c| {
            guard_without_active_pin(c, &queued.row.codice_fiscale, now)?;
            insert_request(c, &queued.with_failures())?;
            audit_submitted(c, &state2, &queued.row, &actor, &f2, now)?;
            let stored = find_row(c, &queued.row.id)?;
            notify_holder(c, &state2, &stored, Template::PinRequestCallback, None, now)?;
            Ok::<_, IssuanceError>(())
        })
    })
    .await?;
    tracing::info!(cf = %masked, %reference, failures = %failures.join(" "), "PIN request queued for a call-back");
    Ok(Submitted {
        request_id: id,
        reference,
        outcome: SubmitOutcome::Queued { failures },
    })
}

fn declared(data: &RequestData) -> Declared<'_> {
    Declared {
        given_name: &data.given_name,
        family_name: &data.family_name,
        birth_date: data.birth_date,
        address: &data.address,
        postal_code: &data.postal_code,
        municipality: &data.municipality,
        province: &data.province,
    }
}

/// The columns of a new request row.
#[derive(Clone, Insertable)]
#[diesel(table_name = pin_requests, treat_none_as_default_value = false)]
struct NewRow {
    id: String,
    reference: String,
    channel: &'static str,
    codice_fiscale: String,
    representative_cf: Option<String>,
    representation: Option<&'static str>,
    representation_ref: Option<String>,
    given_name: String,
    family_name: String,
    birth_date: chrono::NaiveDate,
    address: String,
    postal_code: String,
    municipality: String,
    province: String,
    mobile: Option<String>,
    email: Option<String>,
    pec: Option<String>,
    first_half_channel: Option<&'static str>,
    pin_type: &'static str,
    status: &'static str,
    check_failures: Option<String>,
    claimed_by: Option<String>,
    claimed_until: Option<NaiveDateTime>,
    call_attempts: i64,
    next_call_at: Option<NaiveDateTime>,
    outcome_reason: Option<String>,
    operator_id: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    decided_at: Option<NaiveDateTime>,
}

struct QueuedRow {
    row: NewRow,
    failures: String,
}

impl QueuedRow {
    fn with_failures(&self) -> NewRow {
        NewRow {
            status: RequestStatus::Queued.as_str(),
            check_failures: Some(self.failures.clone()),
            ..self.row.clone()
        }
    }
}

fn representation_columns(
    requester: &RequesterData,
) -> (Option<String>, Option<&'static str>, Option<String>) {
    match requester {
        RequesterData::Representative {
            codice_fiscale,
            kind,
            reference,
        } => (
            Some(codice_fiscale.as_str().to_owned()),
            Some(kind.as_str()),
            reference.clone(),
        ),
        _ => (None, None, None),
    }
}

fn new_row(
    id: &str,
    reference: &str,
    channel: RequestChannel,
    data: &RequestData,
    actor: &Actor,
    now: DateTime<Utc>,
) -> NewRow {
    let at = now.naive_utc();
    let (representative_cf, representation, representation_ref) =
        representation_columns(&data.requester);
    NewRow {
        id: id.to_owned(),
        reference: reference.to_owned(),
        channel: channel.as_str(),
        codice_fiscale: data.holder.as_str().to_owned(),
        representative_cf,
        representation,
        representation_ref,
        given_name: data.given_name.clone(),
        family_name: data.family_name.clone(),
        birth_date: data.birth_date,
        address: data.address.clone(),
        postal_code: data.postal_code.clone(),
        municipality: data.municipality.clone(),
        province: data.province.clone(),
        mobile: data.mobile.clone(),
        email: data.email.clone(),
        pec: data.pec.clone(),
        first_half_channel: Some(data.first_half_channel.as_str()),
        pin_type: PinType::Ordinario.as_str(),
        // Issued rows are written as queued and then activated in the same transaction.
        status: RequestStatus::Queued.as_str(),
        check_failures: None,
        claimed_by: None,
        claimed_until: None,
        call_attempts: 0,
        next_call_at: None,
        outcome_reason: None,
        operator_id: actor.operator_id().map(str::to_owned),
        created_at: at,
        updated_at: at,
        decided_at: None,
    }
}

fn insert_request(conn: &mut DbConn, row: &NewRow) -> Result<(), IssuanceError> {
    match diesel::insert_into(pin_requests::table)
        .values(row)
        .execute(conn)
    {
        Ok(_) => Ok(()),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Err(IssuanceError::RequestPending)
        }
        Err(e) => Err(e.into()),
    }
}

/// The first write of an issuance that needs the person without an active PIN: their
/// issuance guard ([`guard::take`]), then the credential looked at again under it, so that
/// of parallel issuances only the first gives a PIN.
fn guard_without_active_pin(
    conn: &mut DbConn,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<(), IssuanceError> {
    guard::take(conn, holder, now)?;
    let holder = CodiceFiscale::parse(holder).map_err(|_| IssuanceError::NotFound)?;
    if credential::status(conn, &holder)?.is_some_and(|c| c.blocked_at.is_none()) {
        return Err(IssuanceError::PinAlreadyActive);
    }
    Ok(())
}

fn find_row(conn: &mut DbConn, id: &str) -> Result<PinRequest, IssuanceError> {
    request::find(conn, id)?.ok_or(IssuanceError::NotFound)
}

fn audit_submitted(
    conn: &mut DbConn,
    state: &AppState,
    row: &NewRow,
    actor: &Actor,
    failures: &[String],
    now: DateTime<Utc>,
) -> Result<(), IssuanceError> {
    let holder = CodiceFiscale::parse(&row.codice_fiscale).map_err(|_| IssuanceError::NotFound)?;
    audit::append(
        conn,
        &state.audit_key,
        now,
        Event::new(actor.party(), "pin.request.submitted", Outcome::Success)
            .on_behalf_of(Party::person(&holder))
            .detail(json!({
                "reference": row.reference,
                "channel": row.channel,
                "representation": row.representation,
                "check_failures": failures,
            })),
    )?;
    Ok(())
}

/// Activates the PIN of a request, inside the caller's transaction: the credential (an
/// initial PIN of `pin_type`), the first half to the requester's contact (when the request
/// names one), the letter with the second half to the registry address, the request marked
/// issued, and the audit record.
#[allow(clippy::too_many_arguments)]
fn activate(
    conn: &mut DbConn,
    state: &AppState,
    req: &PinRequest,
    person: &Person,
    pin_hash: &str,
    pin: &IssuedPin,
    pin_type: PinType,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), IssuanceError> {
    let holder = CodiceFiscale::parse(&req.codice_fiscale).map_err(|_| IssuanceError::NotFound)?;
    credential::store_credential(
        conn,
        &state.audit_key,
        &state.config.pin,
        &holder,
        StoredCredential {
            pin_hash,
            pin_type,
            holder: Holder::Cittadino,
            initial: true,
        },
        actor.party(),
        now,
    )?;
    let split_delivery = req.first_half_recipient().is_some();
    if split_delivery {
        notify_holder(
            conn,
            state,
            req,
            Template::PinFirstHalf,
            Some(pin.first_half()),
            now,
        )?;
        let address = PostalAddress {
            name: format!("{} {}", person.given_name, person.family_name),
            street: person.address.clone(),
            postal_code: person.postal_code.clone(),
            municipality: person.municipality.clone(),
            province: person.province.clone(),
        };
        notify::enqueue(
            conn,
            &state.outbox_key,
            NewMessage {
                idempotency_key: format!("pin-request:{}:second-half", req.id),
                channel: Channel::Post,
                recipient: address.name.clone(),
                template: Template::PinSecondHalf,
                params: json!({ "reference": req.reference, "address": address }),
                secret: Some(pin.second_half().to_owned()),
                source_ref: Some(req.id.clone()),
            },
            now,
        )?;
    }
    let at = now.naive_utc();
    diesel::update(pin_requests::table.find(&req.id))
        .set((
            pin_requests::status.eq(RequestStatus::Issued.as_str()),
            pin_requests::pin_type.eq(pin_type.as_str()),
            pin_requests::claimed_until.eq(None::<NaiveDateTime>),
            pin_requests::decided_at.eq(at),
            pin_requests::updated_at.eq(at),
            pin_requests::operator_id.eq(actor.operator_id().or(req.operator_id.as_deref())),
        ))
        .execute(conn)?;
    audit::append(
        conn,
        &state.audit_key,
        now,
        Event::new(actor.party(), "pin.issued", Outcome::Success)
            .on_behalf_of(Party::person(&holder))
            .detail(json!({
                "reference": req.reference,
                "channel": req.channel,
                "pin_type": pin_type.as_str(),
                "split_delivery": split_delivery,
            })),
    )?;
    Ok(())
}

/// Queues a message to the requester's contact (the one chosen for the first half).
fn notify_holder(
    conn: &mut DbConn,
    state: &AppState,
    req: &PinRequest,
    template: Template,
    secret: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), IssuanceError> {
    let Some((channel, to)) = req.first_half_recipient() else {
        return Ok(());
    };
    let params = match &req.outcome_reason {
        Some(reason) => {
            json!({ "reference": req.reference, "given_name": req.given_name, "reason": reason })
        }
        None => json!({ "reference": req.reference, "given_name": req.given_name }),
    };
    notify::enqueue(
        conn,
        &state.outbox_key,
        NewMessage {
            idempotency_key: format!("pin-request:{}:{}", req.id, template.as_str()),
            channel,
            recipient: to.to_owned(),
            template,
            params,
            secret: secret.map(str::to_owned),
            source_ref: Some(req.id.clone()),
        },
        now,
    )?;
    Ok(())
}

/// Filters for the call-back queue.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// Only requests whose check failed for this reason (e.g. `address`).
    pub failure: Option<String>,
    /// Only requests that came in through this channel.
    pub channel: Option<String>,
    /// Include requests whose next call is not due yet.
    pub include_not_due: bool,
    pub limit: i64,
    pub offset: i64,
}

/// The requests waiting for a call, oldest first.
pub fn queue(
    conn: &mut DbConn,
    filter: &QueueFilter,
    now: DateTime<Utc>,
) -> Result<Vec<PinRequest>, DbError> {
    let at = now.naive_utc();
    let mut q = pin_requests::table
        .filter(pin_requests::status.eq(RequestStatus::Queued.as_str()))
        .select(PinRequest::as_select())
        .order((pin_requests::created_at.asc(), pin_requests::id.asc()))
        .limit(filter.limit)
        .offset(filter.offset)
        .into_boxed();
    if !filter.include_not_due {
        q = q.filter(
            pin_requests::next_call_at
                .is_null()
                .or(pin_requests::next_call_at.le(at)),
        );
    }
    if let Some(channel) = &filter.channel {
        q = q.filter(pin_requests::channel.eq(channel.clone()));
    }
    if let Some(failure) = &filter.failure {
        // Reasons are space-separated codes without wildcards (checked by the caller).
        q = q.filter(
            pin_requests::check_failures
                .concat(" ")
                .like(format!("%{failure} %")),
        );
    }
    Ok(q.load(conn)?)
}

/// Claims a queued request for `operator_id` for `issuance.claim_minutes`, so two operators
/// never call the same person. Claiming again one's own request extends the claim.
pub fn claim(
    conn: &mut DbConn,
    state: &AppState,
    id: &str,
    operator_id: &str,
    now: DateTime<Utc>,
) -> Result<PinRequest, IssuanceError> {
    let at = now.naive_utc();
    let until = at + TimeDelta::minutes(i64::from(state.config.issuance.claim_minutes));
    conn.write_transaction(|c| {
        let updated = diesel::update(
            pin_requests::table
                .find(id)
                .filter(pin_requests::status.eq(RequestStatus::Queued.as_str()))
                .filter(
                    pin_requests::claimed_until
                        .is_null()
                        .or(pin_requests::claimed_until.le(at))
                        .or(pin_requests::claimed_by.eq(operator_id)),
                ),
        )
        .set((
            pin_requests::claimed_by.eq(operator_id),
            pin_requests::claimed_until.eq(until),
            pin_requests::updated_at.eq(at),
        ))
        .execute(c)?;
        let req = find_row(c, id)?;
        if updated == 0 {
            return Err(if req.status != RequestStatus::Queued.as_str() {
                IssuanceError::NotQueued(req.status)
            } else {
                IssuanceError::ClaimedByOther
            });
        }
        audit_operator(
            c,
            state,
            operator_id,
            &req,
            "pin.request.claimed",
            json!({}),
            now,
        )?;
        Ok(req)
    })
}

/// Gives back a claim before it lapses, so another operator may call the person now. Only
/// the operator holding the claim releases it; a request not claimed (or whose claim has
/// lapsed) is answered as it is, with nothing recorded.
pub fn release(
    conn: &mut DbConn,
    state: &AppState,
    id: &str,
    operator_id: &str,
    now: DateTime<Utc>,
) -> Result<PinRequest, IssuanceError> {
    let at = now.naive_utc();
    conn.write_transaction(|c| {
        let updated = diesel::update(
            pin_requests::table
                .find(id)
                .filter(pin_requests::status.eq(RequestStatus::Queued.as_str()))
                .filter(pin_requests::claimed_by.eq(operator_id))
                .filter(pin_requests::claimed_until.gt(at)),
        )
        .set((
            pin_requests::claimed_by.eq(None::<String>),
            pin_requests::claimed_until.eq(None::<chrono::NaiveDateTime>),
            pin_requests::updated_at.eq(at),
        ))
        .execute(c)?;
        let req = find_row(c, id)?;
        if updated == 0 {
            if req.status != RequestStatus::Queued.as_str() {
                return Err(IssuanceError::NotQueued(req.status));
            }
            let held_by_other = req.claimed_by.as_deref().is_some_and(|o| o != operator_id)
                && req.claimed_until.is_some_and(|u| u > at);
            if held_by_other {
                return Err(IssuanceError::ClaimedByOther);
            }
            return Ok(req);
        }
        audit_operator(
            c,
            state,
            operator_id,
            &req,
            "pin.request.released",
            json!({}),
            now,
        )?;
        Ok(req)
    })
}

fn audit_operator(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    req: &PinRequest,
    action: &'static str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), IssuanceError> {
    let holder = CodiceFiscale::parse(&req.codice_fiscale).map_err(|_| IssuanceError::NotFound)?;
    let mut detail = detail;
    if let Some(map) = detail.as_object_mut() {
        map.insert("reference".into(), json!(req.reference));
    }
    audit::append(
        conn,
        &state.audit_key,
        now,
        Event::new(Party::operator(operator_id), action, Outcome::Success)
            .on_behalf_of(Party::person(&holder))
            .detail(detail),
    )?;
    Ok(())
}

/// What the operator learnt on the call.
#[derive(Debug, Clone)]
pub enum CallOutcome {
    /// Identity confirmed: issue the PIN.
    Validated,
    /// Refused, with the reason (told to the citizen).
    Rejected { reason: String },
    /// Nobody answered: try again later, or close after the last attempt.
    NoAnswer,
}

/// The result of [`record_outcome`].
#[derive(Debug)]
pub enum Recorded {
    /// The PIN is active; read `first_half` to the citizen (shown once; also sent).
    Issued {
        first_half: String,
    },
    Rejected,
    /// Another call is due at `next_call_at`.
    RetryLater {
        next_call_at: DateTime<Utc>,
    },
    /// The last attempt went unanswered: closed, and the citizen told.
    Closed,
}

/// Records the outcome of a call on a request the operator holds.
pub async fn record_outcome(
    state: &AppState,
    id: &str,
    operator_id: &str,
    outcome: CallOutcome,
    now: DateTime<Utc>,
) -> Result<Recorded, IssuanceError> {
    let (id, op) = (id.to_owned(), operator_id.to_owned());
    let state2 = state.clone();
    match outcome {
        CallOutcome::Validated => {
            // Checked before hashing, and again in the transaction.
            let (req, person) = {
                let (id, op) = (id.clone(), op.clone());
                db::run(&state.db, move |c| {
                    let req = held(c, &id, &op, now)?;
                    let person = registry::find(c, &req.codice_fiscale)?
                        .ok_or(IssuanceError::NotInRegistry)?;
                    Ok::<_, IssuanceError>((req, person))
                })
                .await?
            };
            let pin = IssuedPin::generate()?;
            let hash = state.hasher.hash(pin.whole().to_owned()).await?;
            let first_half = pin.first_half().to_owned();
            db::run(&state.db, move |c| {
                c.write_transaction(|c| {
                    guard_without_active_pin(c, &req.codice_fiscale, now)?;
                    let req = held(c, &req.id, &op, now)?;
                    audit_operator(
                        c,
                        &state2,
                        &op,
                        &req,
                        "pin.request.validated",
                        json!({}),
                        now,
                    )?;
                    activate(
                        c,
                        &state2,
                        &req,
                        &person,
                        &hash,
                        &pin,
                        PinType::Ordinario,
                        &Actor::Operator(op.clone()),
                        now,
                    )
                })
            })
            .await?;
            Ok(Recorded::Issued { first_half })
        }
        CallOutcome::Rejected { reason } => {
            let reason = reason.trim().to_owned();
            if reason.is_empty() {
                return Err(IssuanceError::ReasonRequired);
            }
            db::run(&state.db, move |c| {
                c.write_transaction(|c| {
                    held(c, &id, &op, now)?;
                    let at = now.naive_utc();
                    diesel::update(pin_requests::table.find(&id))
                        .set((
                            pin_requests::status.eq(RequestStatus::Rejected.as_str()),
                            pin_requests::outcome_reason.eq(&reason),
                            pin_requests::claimed_until.eq(None::<NaiveDateTime>),
                            pin_requests::decided_at.eq(at),
                            pin_requests::updated_at.eq(at),
                            pin_requests::operator_id.eq(&op),
                        ))
                        .execute(c)?;
                    let req = find_row(c, &id)?;
                    audit_operator(
                        c,
                        &state2,
                        &op,
                        &req,
                        "pin.request.rejected",
                        json!({ "reason": reason }),
                        now,
                    )?;
                    notify_holder(c, &state2, &req, Template::PinRequestRejected, None, now)?;
                    Ok(Recorded::Rejected)
                })
            })
            .await
        }
        CallOutcome::NoAnswer => {
            let cfg = state.config.issuance.clone();
            db::run(&state.db, move |c| {
                c.write_transaction(|c| {
                    let req = held(c, &id, &op, now)?;
                    let attempts = req.call_attempts + 1;
                    let at = now.naive_utc();
                    let last = attempts >= i64::from(cfg.callback_max_attempts);
                    let next = now + TimeDelta::minutes(i64::from(cfg.callback_retry_minutes));
                    diesel::update(pin_requests::table.find(&id))
                        .set((
                            pin_requests::status.eq(if last {
                                RequestStatus::Closed.as_str()
                            } else {
                                RequestStatus::Queued.as_str()
                            }),
                            pin_requests::call_attempts.eq(attempts),
                            pin_requests::next_call_at.eq((!last).then_some(next.naive_utc())),
                            pin_requests::claimed_by.eq(None::<String>),
                            pin_requests::claimed_until.eq(None::<NaiveDateTime>),
                            pin_requests::decided_at.eq(last.then_some(at)),
                            pin_requests::updated_at.eq(at),
                        ))
                        .execute(c)?;
                    let req = find_row(c, &id)?;
                    audit_operator(
                        c,
                        &state2,
                        &op,
                        &req,
                        "pin.request.no_answer",
                        json!({ "attempts": attempts, "closed": last }),
                        now,
                    )?;
                    if last {
                        notify_holder(c, &state2, &req, Template::PinRequestClosed, None, now)?;
                        Ok(Recorded::Closed)
                    } else {
                        Ok(Recorded::RetryLater { next_call_at: next })
                    }
                })
            })
            .await
        }
    }
}

/// The request, if it is queued and claimed by `operator_id` now.
fn held(
    conn: &mut DbConn,
    id: &str,
    operator_id: &str,
    now: DateTime<Utc>,
) -> Result<PinRequest, IssuanceError> {
    let req = find_row(conn, id)?;
    if req.status != RequestStatus::Queued.as_str() {
        return Err(IssuanceError::NotQueued(req.status));
    }
    let mine = req.claimed_by.as_deref() == Some(operator_id)
        && req.claimed_until.is_some_and(|u| u > now.naive_utc());
    if !mine {
        return Err(if req.claimed_until.is_some_and(|u| u > now.naive_utc()) {
            IssuanceError::ClaimedByOther
        } else {
            IssuanceError::NotClaimed
        });
    }
    Ok(req)
}

/// A desk request: the operator has seen the person (or their representative) and their
/// identity document.
pub struct DeskRequest {
    pub holder: CodiceFiscale,
    pub requester: RequesterData,
    pub without_italian_id_document: bool,
    pub documents: Vec<CheckedDocument>,
}

/// The result of [`issue_at_desk`]: the whole PIN, to be shown once.
#[derive(Debug)]
pub struct DeskIssued {
    pub request_id: String,
    pub reference: String,
    pub pin: IssuedPin,
    pub person: Person,
}

/// Issues a PIN `dispositivo` at the desk, active at once, archiving the documents.
pub async fn issue_at_desk(
    state: &AppState,
    operator_id: &str,
    req: DeskRequest,
    now: DateTime<Utc>,
) -> Result<DeskIssued, IssuanceError> {
    let holder = req.holder.clone();
    let k = db::run(&state.db, move |c| known(c, &holder)).await?;
    let person = k.person.ok_or(IssuanceError::NotInRegistry)?;
    policy::check(
        &policy_facts(
            &req.holder,
            Some(&person),
            &req.requester,
            req.without_italian_id_document,
            now,
        ),
        state.config.issuance.eligibility,
    )?;
    let has = |kind: DocumentKind| req.documents.iter().any(|d| d.kind == kind);
    if !has(DocumentKind::Mv35) {
        return Err(IssuanceError::MissingDocument("mv35"));
    }
    if !has(DocumentKind::IdDocument) {
        return Err(IssuanceError::MissingDocument("id_document"));
    }
    if matches!(req.requester, RequesterData::Representative { .. })
        && !has(DocumentKind::SelfDeclaration)
        && !has(DocumentKind::Decree)
    {
        return Err(IssuanceError::MissingDocument("self_declaration or decree"));
    }
    let id = crate::oauth::token_hash::new_id()?;
    let reference = request::new_reference()?;
    let at = now.naive_utc();
    let (representative_cf, representation, representation_ref) =
        representation_columns(&req.requester);
    let row = NewRow {
        id: id.clone(),
        reference: reference.clone(),
        channel: RequestChannel::Sportello.as_str(),
        codice_fiscale: person.codice_fiscale.clone(),
        representative_cf,
        representation,
        representation_ref,
        given_name: person.given_name.clone(),
        family_name: person.family_name.clone(),
        birth_date: person.birth_date,
        address: person.address.clone(),
        postal_code: person.postal_code.clone(),
        municipality: person.municipality.clone(),
        province: person.province.clone(),
        mobile: person.mobile.clone(),
        email: person.email.clone(),
        pec: person.pec.clone(),
        first_half_channel: None,
        pin_type: PinType::Dispositivo.as_str(),
        status: RequestStatus::Queued.as_str(),
        check_failures: None,
        claimed_by: None,
        claimed_until: None,
        call_attempts: 0,
        next_call_at: None,
        outcome_reason: None,
        operator_id: Some(operator_id.to_owned()),
        created_at: at,
        updated_at: at,
        decided_at: None,
    };
    let pin = IssuedPin::generate()?;
    let hash = state.hasher.hash(pin.whole().to_owned()).await?;
    let (state2, op) = (state.clone(), operator_id.to_owned());
    let documents = req.documents;
    let person2 = person.clone();
    let pin = db::run(&state.db, move |c| {
        c.write_transaction(|c| {
            // The desk replaces any PIN the person has (a `dispositivo` after seeing them),
            // so it only waits for an issuance in flight.
            guard::take(c, &row.codice_fiscale, now)?;
            let actor = Actor::Operator(op.clone());
            insert_request(c, &row)?;
            let mut archived = Vec::new();
            for doc in &documents {
                diesel::insert_into(pin_request_documents::table)
                    .values((
                        pin_request_documents::id.eq(crate::oauth::token_hash::new_id()?),
                        pin_request_documents::request_id.eq(&row.id),
                        pin_request_documents::kind.eq(doc.kind.as_str()),
                        pin_request_documents::media_type.eq(doc.media_type.as_str()),
                        pin_request_documents::sha256.eq(&doc.sha256),
                        pin_request_documents::size_bytes.eq(i64::try_from(doc.bytes.len()).unwrap_or(i64::MAX)),
                        pin_request_documents::content.eq(&doc.bytes),
                        pin_request_documents::created_at.eq(at),
                    ))
                    .execute(c)?;
                archived.push(json!({ "kind": doc.kind.as_str(), "sha256": doc.sha256 }));
            }
            let stored = find_row(c, &row.id)?;
            audit_operator(
                c,
                &state2,
                &op,
                &stored,
                "pin.request.submitted",
                json!({ "channel": "sportello", "documents": archived, "representation": row.representation }),
                now,
            )?;
            activate(c, &state2, &stored, &person2, &hash, &pin, PinType::Dispositivo, &actor, now)?;
            Ok::<_, IssuanceError>(pin)
        })
    })
    .await?;
    tracing::info!(cf = %req.holder.masked(), %reference, "PIN issued at the desk");
    Ok(DeskIssued {
        request_id: id,
        reference,
        pin,
        person,
    })
}
