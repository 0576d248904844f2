//! Registering and ending delegations (domain §1, §6), channel by channel:
//!
//! - [`register_online`]: the delegator, logged in (the HTTP layer checks the login level);
//!   active at once, 30-day minimum, the delegate notified.
//! - [`register_for_minor`]: a parent, after the [`FamilyRegister`] check; ends at the
//!   minor's 18th birthday at the latest.
//! - [`register_by_operator`]: desk (AA08, AA09, AA10), PEC and web meeting, each with the
//!   documents its form asks for (the identity documents included); the web meeting also
//!   needs both people's consent to the recording. A representative's self-declaration leaves
//!   the delegation `pending_verification` until [`verify`].
//! - endings: [`revoke_by_delegator`], [`renounce`], [`revoke_by_operator`], and the job
//!   [`expire_due`] (end dates, 18th birthdays, the notices before).
//!
//! Every state change is one `write_transaction` with its audit record and outbox messages.
//! The limits hold under concurrency: the partial unique index keeps one fiduciary delegate
//! per delegator, and `delegate_counters` is taken with one conditional UPDATE.

use super::family::FamilyRegister;
use super::policy::{self, Ender, Refusal};
use super::{Channel, Delegation, Kind, Status};
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::db::schema::{delegate_counters, delegation_documents, delegations};
use crate::db::{self, DbConn, DbError};
use crate::notify::{self, EnqueueError, NewMessage, Template};
use crate::person::CodiceFiscale;
use crate::person::registry::{self, Person};
use crate::pin::documents::{self as docs, MediaType};
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::json;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum DelegationError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the delegator already has an active fiduciary delegate")]
    FiduciaExists,
    #[error("the delegate already holds the most fiduciary delegations allowed")]
    DelegateLimit,
    #[error("the delegate's names do not match the persons registry")]
    NameMismatch,
    #[error("no such delegation")]
    NotFound,
    #[error("the delegation is not active (it is {0})")]
    NotActive(String),
    #[error("the delegation is not waiting for verification (it is {0})")]
    NotPending(String),
    /// Four eyes: the operator who registered a self-declaration does not check it.
    #[error("the operator who registered the delegation cannot verify it")]
    SameOperator,
    #[error("missing document: {0}")]
    MissingDocument(&'static str),
    #[error("a web-meeting registration needs both people's consent to the recording")]
    ConsentMissing,
    #[error("document `{0}`: {1}")]
    Document(String, String),
    #[error("a reason is required")]
    ReasonRequired,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the outbox refused a message: {0}")]
    Enqueue(#[from] EnqueueError),
}

impl From<DieselError> for DelegationError {
    fn from(e: DieselError) -> Self {
        Self::Db(e.into())
    }
}

/// Evidence kinds (`delegation_documents.kind`), each a PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Aa08,
    Aa09,
    Aa10,
    /// A copy of the delegator's identity document (the represented person's, for AA10).
    DelegatorIdDocument,
    /// A copy of the delegate's identity document (the representative's, for AA10).
    DelegateIdDocument,
    MedicalCertificate,
    Decree,
    SelfDeclaration,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 8] = [
        DocumentKind::Aa08,
        DocumentKind::Aa09,
        DocumentKind::Aa10,
        DocumentKind::DelegatorIdDocument,
        DocumentKind::DelegateIdDocument,
        DocumentKind::MedicalCertificate,
        DocumentKind::Decree,
        DocumentKind::SelfDeclaration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Aa08 => "aa08",
            DocumentKind::Aa09 => "aa09",
            DocumentKind::Aa10 => "aa10",
            DocumentKind::DelegatorIdDocument => "delegator_id_document",
            DocumentKind::DelegateIdDocument => "delegate_id_document",
            DocumentKind::MedicalCertificate => "medical_certificate",
            DocumentKind::Decree => "decree",
            DocumentKind::SelfDeclaration => "self_declaration",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An evidence document whose content was checked to be a PDF.
pub struct Document {
    pub kind: DocumentKind,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("kind", &self.kind)
            .field("sha256", &self.sha256)
            .field("size", &self.bytes.len())
            .finish()
    }
}

/// Checks that `bytes` are a whole PDF of at most `max` bytes, and hashes them.
pub fn check_document(
    kind: DocumentKind,
    bytes: Vec<u8>,
    max: usize,
) -> Result<Document, DelegationError> {
    let name = kind.as_str().to_owned();
    if bytes.is_empty() {
        return Err(DelegationError::Document(
            name,
            "the document is empty".into(),
        ));
    }
    if bytes.len() > max {
        return Err(DelegationError::Document(
            name,
            format!("the document is larger than {max} bytes"),
        ));
    }
    if docs::sniff(&bytes) != Some(MediaType::Pdf) {
        return Err(DelegationError::Document(
            name,
            "the document is not a PDF (or it is truncated)".into(),
        ));
    }
    Ok(Document {
        kind,
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes,
    })
}

/// Who acts.
#[derive(Debug, Clone)]
pub enum Actor {
    Person(CodiceFiscale),
    Operator(String),
    System,
}

impl Actor {
    fn party(&self) -> Party {
        match self {
            Actor::Person(cf) => Party::person(cf),
            Actor::Operator(id) => Party::operator(id),
            Actor::System => Party::system(),
        }
    }
}

/// The delegate as the delegator names them online.
#[derive(Debug, Clone)]
pub struct NamedDelegate {
    pub codice_fiscale: CodiceFiscale,
    pub given_name: String,
    pub family_name: String,
}

/// A registration by an operator (desk, PEC, web meeting).
#[derive(Debug)]
pub struct OperatorRegistration {
    pub channel: Channel,
    pub kind: Kind,
    pub delegator: CodiceFiscale,
    pub delegate: CodiceFiscale,
    pub ends_on: Option<NaiveDate>,
    pub decree_reference: Option<String>,
    pub documents: Vec<Document>,
    /// Delegator and delegate both consented to the recording of the video call (the web
    /// meeting cannot register without it: msg 3026, seed 000).
    pub recording_consented: bool,
}

/// Everything a registration writes.
struct Prepared {
    kind: Kind,
    channel: Channel,
    delegator: CodiceFiscale,
    delegate: CodiceFiscale,
    status: Status,
    ends_at: Option<NaiveDateTime>,
    min_end_at: Option<NaiveDateTime>,
    decree_reference: Option<String>,
    operator_id: Option<String>,
    documents: Vec<Document>,
}

fn birth_date(person: Option<&Person>, cf: &CodiceFiscale, today: NaiveDate) -> NaiveDate {
    person.map_or_else(|| cf.birth_date(today), |p| p.birth_date)
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_time(chrono::NaiveTime::MIN)
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// Online, by the delegator: active at once, with the 30-day minimum. Only `fiducia` passes
/// the rules (`kind` is what the delegator asked, so a representation is refused by name).
pub fn register_online(
    conn: &mut DbConn,
    state: &AppState,
    delegator: &CodiceFiscale,
    kind: Kind,
    delegate: &NamedDelegate,
    ends_on: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let today = now.date_naive();
    let cfg = &state.config.delegation;
    let delegator_p = registry::find(conn, delegator.as_str())?;
    let delegate_p = registry::find(conn, delegate.codice_fiscale.as_str())?;
    policy::check_registration(&policy::Registration {
        kind,
        channel: Channel::Online,
        delegator_cf: delegator.as_str(),
        delegate_cf: delegate.codice_fiscale.as_str(),
        delegator_birth: birth_date(delegator_p.as_ref(), delegator, today),
        delegate_birth: birth_date(delegate_p.as_ref(), &delegate.codice_fiscale, today),
        family_checked: false,
        decree_reference: None,
        ends_on,
        online_min_days: cfg.online_min_days,
        today,
    })?;
    if let Some(p) = &delegate_p
        && !(same_name(&p.given_name, &delegate.given_name)
            && same_name(&p.family_name, &delegate.family_name))
    {
        return Err(DelegationError::NameMismatch);
    }
    let min_end = now
        .naive_utc()
        .checked_add_days(Days::new(u64::from(cfg.online_min_days)));
    write(
        conn,
        state,
        Prepared {
            kind: Kind::Fiducia,
            channel: Channel::Online,
            delegator: delegator.clone(),
            delegate: delegate.codice_fiscale.clone(),
            status: Status::Active,
            ends_at: ends_on.map(midnight),
            min_end_at: min_end,
            decree_reference: None,
            operator_id: None,
            documents: Vec::new(),
        },
        &Actor::Person(delegator.clone()),
        now,
    )
}

/// Online, by a parent for their minor child, after the family-unit check. Ends at the 18th
/// birthday at the latest, whatever end date was asked.
pub fn register_for_minor(
    conn: &mut DbConn,
    state: &AppState,
    family: &dyn FamilyRegister,
    parent: &CodiceFiscale,
    child: &CodiceFiscale,
    ends_on: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let today = now.date_naive();
    let parent_p = registry::find(conn, parent.as_str())?;
    let child_p = registry::find(conn, child.as_str())?;
    let family_checked = family.is_child_of(conn, parent.as_str(), child.as_str())?;
    let child_birth = birth_date(child_p.as_ref(), child, today);
    policy::check_registration(&policy::Registration {
        kind: Kind::Genitore,
        channel: Channel::OnlineGenitore,
        delegator_cf: child.as_str(),
        delegate_cf: parent.as_str(),
        delegator_birth: child_birth,
        delegate_birth: birth_date(parent_p.as_ref(), parent, today),
        family_checked,
        decree_reference: None,
        ends_on,
        online_min_days: state.config.delegation.online_min_days,
        today,
    })?;
    let eighteenth = policy::eighteenth_birthday(child_birth);
    let end = ends_on.map_or(eighteenth, |e| e.min(eighteenth));
    write(
        conn,
        state,
        Prepared {
            kind: Kind::Genitore,
            channel: Channel::OnlineGenitore,
            delegator: child.clone(),
            delegate: parent.clone(),
            status: Status::Active,
            ends_at: Some(midnight(end)),
            // The 30-day minimum protects a delegator's choice; a minor cannot revoke anyway.
            min_end_at: None,
            decree_reference: None,
            operator_id: None,
            documents: Vec::new(),
        },
        &Actor::Person(parent.clone()),
        now,
    )
}

/// The documents each operator channel needs (domain §1.6); `None` when the rule is met:
/// - AA08 (delegator at the desk): the form and the delegator's identity document;
/// - AA09 (delegate at the desk): the form, the medical certificate, the delegator's identity
///   document (shown in original) and a copy of the delegate's;
/// - AA10 and PEC (a representative): the form, the represented person's and the
///   representative's identity documents, and the decree or the self-declaration;
/// - web meeting: the signed AA08 and both identity documents (seed 000).
pub fn missing_document(channel: Channel, documents: &[Document]) -> Option<&'static str> {
    use DocumentKind as D;
    let needed: &[(DocumentKind, &'static str)] = match channel {
        Channel::SportelloAa08 => &[
            (D::Aa08, "aa08"),
            (D::DelegatorIdDocument, "delegator_id_document"),
        ],
        Channel::SportelloAa09 => &[
            (D::Aa09, "aa09"),
            (D::MedicalCertificate, "medical_certificate"),
            (D::DelegatorIdDocument, "delegator_id_document"),
            (D::DelegateIdDocument, "delegate_id_document"),
        ],
        Channel::SportelloAa10 | Channel::Pec => &[
            (D::Aa10, "aa10"),
            (D::DelegatorIdDocument, "delegator_id_document"),
            (D::DelegateIdDocument, "delegate_id_document"),
        ],
        Channel::WebMeeting => &[
            (D::Aa08, "aa08"),
            (D::DelegatorIdDocument, "delegator_id_document"),
            (D::DelegateIdDocument, "delegate_id_document"),
        ],
        Channel::Online | Channel::OnlineGenitore => &[],
    };
    let has = |k: DocumentKind| documents.iter().any(|d| d.kind == k);
    if let Some((_, name)) = needed.iter().find(|(k, _)| !has(*k)) {
        return Some(name);
    }
    let evidence = has(D::Decree) || has(D::SelfDeclaration);
    if matches!(channel, Channel::SportelloAa10 | Channel::Pec) && !evidence {
        return Some("decree or self_declaration");
    }
    None
}

/// By an operator: desk (AA08, AA09, AA10), PEC, or web meeting (which its own module calls,
/// through [`register_by_operator_in`]). Representatives with the decree PDF are active at
/// once; with a self-declaration only they wait for [`verify`].
pub fn register_by_operator(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    r: OperatorRegistration,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let id = crate::oauth::token_hash::new_id().map_err(DbError::from)?;
    conn.write_transaction(|c| register_by_operator_in(c, state, operator_id, &id, r, now))
}

/// As [`register_by_operator`], inside the caller's transaction and with the new delegation's
/// id chosen by the caller (the web meeting records it beside its session). Like every write
/// here it appends its audit record last, so the caller must have made its own writes first.
pub fn register_by_operator_in(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    id: &str,
    r: OperatorRegistration,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let today = now.date_naive();
    let delegator_p = registry::find(conn, r.delegator.as_str())?;
    let delegate_p = registry::find(conn, r.delegate.as_str())?;
    policy::check_registration(&policy::Registration {
        kind: r.kind,
        channel: r.channel,
        delegator_cf: r.delegator.as_str(),
        delegate_cf: r.delegate.as_str(),
        delegator_birth: birth_date(delegator_p.as_ref(), &r.delegator, today),
        delegate_birth: birth_date(delegate_p.as_ref(), &r.delegate, today),
        family_checked: false,
        decree_reference: r.decree_reference.as_deref(),
        ends_on: r.ends_on,
        online_min_days: state.config.delegation.online_min_days,
        today,
    })?;
    if let Some(missing) = missing_document(r.channel, &r.documents) {
        return Err(DelegationError::MissingDocument(missing));
    }
    if r.channel == Channel::WebMeeting && !r.recording_consented {
        return Err(DelegationError::ConsentMissing);
    }
    let has_decree = r.documents.iter().any(|d| d.kind == DocumentKind::Decree);
    let status = if r.kind.is_representation() && !has_decree {
        Status::PendingVerification
    } else {
        Status::Active
    };
    let mut ends_on = r.ends_on;
    if r.kind == Kind::Genitore {
        let eighteenth =
            policy::eighteenth_birthday(birth_date(delegator_p.as_ref(), &r.delegator, today));
        ends_on = Some(ends_on.map_or(eighteenth, |e| e.min(eighteenth)));
    }
    write_in(
        conn,
        state,
        id,
        Prepared {
            kind: r.kind,
            channel: r.channel,
            delegator: r.delegator,
            delegate: r.delegate,
            status,
            ends_at: ends_on.map(midnight),
            min_end_at: None,
            decree_reference: r
                .decree_reference
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            operator_id: Some(operator_id.to_owned()),
            documents: r.documents,
        },
        &Actor::Operator(operator_id.to_owned()),
        now,
    )
}

/// Takes one place of the delegate's fiduciary limit, inside the caller's transaction. The
/// conditional UPDATE is atomic: parallel registrations cannot both take the last place.
fn take_place(conn: &mut DbConn, delegate_cf: &str, limit: u32) -> Result<(), DelegationError> {
    db::bulk::ensure_delegate_counter(conn, delegate_cf)?;
    let taken = diesel::update(
        delegate_counters::table
            .filter(delegate_counters::delegate_cf.eq(delegate_cf))
            .filter(delegate_counters::active_fiducia.lt(i64::from(limit))),
    )
    .set(delegate_counters::active_fiducia.eq(delegate_counters::active_fiducia + 1))
    .execute(conn)?;
    if taken == 1 {
        Ok(())
    } else {
        Err(DelegationError::DelegateLimit)
    }
}

/// Gives the place back when an active fiduciary delegation ends.
fn release_place(conn: &mut DbConn, d: &Delegation) -> Result<(), DelegationError> {
    if d.kind() == Some(Kind::Fiducia) && d.status() == Some(Status::Active) {
        diesel::update(
            delegate_counters::table
                .filter(delegate_counters::delegate_cf.eq(&d.delegate_cf))
                .filter(delegate_counters::active_fiducia.gt(0_i64)),
        )
        .set(delegate_counters::active_fiducia.eq(delegate_counters::active_fiducia - 1))
        .execute(conn)?;
    }
    Ok(())
}

fn write(
    conn: &mut DbConn,
    state: &AppState,
    p: Prepared,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let id = crate::oauth::token_hash::new_id().map_err(DbError::from)?;
    conn.write_transaction(|c| write_in(c, state, &id, p, actor, now))
}

/// Writes a registration inside the caller's transaction: the row, the delegate's place, the
/// documents, the messages, and the audit record last (the lock order: `audit_head` is taken
/// by the last write of a transaction).
fn write_in(
    c: &mut DbConn,
    state: &AppState,
    id: &str,
    p: Prepared,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let at = now.naive_utc();
    let limit = state.config.delegation.max_fiducia_per_delegate;
    let inserted = diesel::insert_into(delegations::table)
        .values((
            delegations::id.eq(id),
            delegations::delegator_cf.eq(p.delegator.as_str()),
            delegations::delegate_cf.eq(p.delegate.as_str()),
            delegations::kind.eq(p.kind.as_str()),
            delegations::channel.eq(p.channel.as_str()),
            delegations::status.eq(p.status.as_str()),
            delegations::starts_at.eq(at),
            delegations::ends_at.eq(p.ends_at),
            delegations::min_end_at.eq(p.min_end_at),
            delegations::decree_reference.eq(&p.decree_reference),
            delegations::operator_id.eq(&p.operator_id),
            delegations::created_at.eq(at),
            delegations::updated_at.eq(at),
            delegations::ended_at.eq(None::<NaiveDateTime>),
            delegations::end_reason.eq(None::<String>),
            delegations::end_notice_sent.eq(false),
        ))
        .execute(c);
    match inserted {
        Ok(_) => {}
        // The partial unique index: one fiduciary delegate per delegator.
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            return Err(DelegationError::FiduciaExists);
        }
        Err(e) => return Err(e.into()),
    }
    if p.kind == Kind::Fiducia {
        take_place(c, p.delegate.as_str(), limit)?;
    }
    let mut hashes = Vec::new();
    for doc in &p.documents {
        let doc_id = crate::oauth::token_hash::new_id().map_err(DbError::from)?;
        diesel::insert_into(delegation_documents::table)
            .values((
                delegation_documents::id.eq(&doc_id),
                delegation_documents::delegation_id.eq(id),
                delegation_documents::kind.eq(doc.kind.as_str()),
                delegation_documents::media_type.eq(MediaType::Pdf.as_str()),
                delegation_documents::sha256.eq(&doc.sha256),
                delegation_documents::size_bytes
                    .eq(i64::try_from(doc.bytes.len()).unwrap_or(i64::MAX)),
                delegation_documents::content.eq(&doc.bytes),
                delegation_documents::created_at.eq(at),
            ))
            .execute(c)?;
        hashes.push(json!({ "kind": doc.kind.as_str(), "sha256": doc.sha256 }));
    }
    let d = find_required(c, id)?;
    // The delegate is always told; the delegator too when an operator registered it
    // (circ. 127: both parties at the desk; msg 3305: the delegate online).
    // A representation waiting for verification is announced when it is confirmed.
    if p.status == Status::Active {
        notify_party(
            c,
            state,
            &d,
            Party2::Delegate,
            Template::DelegationRegistered,
            now,
        )?;
        if p.operator_id.is_some() || p.channel == Channel::OnlineGenitore {
            notify_party(
                c,
                state,
                &d,
                Party2::Delegator,
                Template::DelegationRegistered,
                now,
            )?;
        }
    }
    audit::append(
        c,
        &state.audit_key,
        now,
        Event::new(actor.party(), "delegation.registered", Outcome::Success)
            .on_behalf_of(Party::person(&p.delegator))
            .detail(json!({
                "delegation_id": id,
                "delegate": Party::person(&p.delegate).as_str(),
                "kind": p.kind.as_str(),
                "channel": p.channel.as_str(),
                "status": p.status.as_str(),
                "documents": hashes,
            })),
    )?;
    Ok(d)
}

fn find_required(conn: &mut DbConn, id: &str) -> Result<Delegation, DelegationError> {
    super::find(conn, id)?.ok_or(DelegationError::NotFound)
}

/// Which side of a delegation a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party2 {
    Delegator,
    Delegate,
}

fn display_name(p: Option<&Person>, cf: &str) -> String {
    match p {
        Some(p) => format!("{} {}", p.given_name, p.family_name),
        None => crate::person::codice_fiscale::mask_text(cf),
    }
}

/// Queues `template` to one party, at their mobile (SMS) or else e-mail from the registry;
/// nobody is written to when the registry has no contact (circ. 127: "when contacts exist").
fn notify_party(
    conn: &mut DbConn,
    state: &AppState,
    d: &Delegation,
    to: Party2,
    template: Template,
    now: DateTime<Utc>,
) -> Result<(), DelegationError> {
    let (me, other, role) = match to {
        Party2::Delegator => (&d.delegator_cf, &d.delegate_cf, "delegator"),
        Party2::Delegate => (&d.delegate_cf, &d.delegator_cf, "delegate"),
    };
    let Some(person) = registry::find(conn, me)? else {
        return Ok(());
    };
    let (channel, recipient) = match (&person.mobile, &person.email) {
        (Some(m), _) => (notify::Channel::Sms, m.clone()),
        (None, Some(e)) => (notify::Channel::Email, e.clone()),
        (None, None) => return Ok(()),
    };
    let counterpart = registry::find(conn, other)?;
    let end_date = d.ends_at.map(|e| e.date().format("%d/%m/%Y").to_string());
    let params = json!({
        "given_name": person.given_name,
        "counterpart": display_name(counterpart.as_ref(), other),
        "role": role,
        "end_date": end_date,
        "end_reason": d.end_reason,
    });
    notify::enqueue(
        conn,
        &state.outbox_key,
        NewMessage {
            idempotency_key: format!("delegation:{}:{}:{role}", d.id, template.as_str()),
            channel,
            recipient,
            template,
            params,
            secret: None,
            source_ref: Some(d.id.clone()),
        },
        now,
    )?;
    Ok(())
}

/// How an ending is recorded.
struct Ending<'a> {
    status: Status,
    reason: String,
    action: &'static str,
    actor: &'a Actor,
    /// Who hears of it.
    notify: &'a [Party2],
}

/// Ends `d` if it is still in `from` (conditional UPDATE: a parallel ending loses cleanly).
fn end(
    conn: &mut DbConn,
    state: &AppState,
    d: &Delegation,
    from: Status,
    e: Ending<'_>,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let at = now.naive_utc();
    conn.write_transaction(|c| {
        let n = diesel::update(
            delegations::table
                .filter(delegations::id.eq(&d.id))
                .filter(delegations::status.eq(from.as_str())),
        )
        .set((
            delegations::status.eq(e.status.as_str()),
            delegations::ended_at.eq(at),
            delegations::end_reason.eq(&e.reason),
            delegations::updated_at.eq(at),
        ))
        .execute(c)?;
        if n != 1 {
            let now_status = find_required(c, &d.id)?.status;
            return Err(DelegationError::NotActive(now_status));
        }
        release_place(c, d)?;
        let delegator =
            CodiceFiscale::parse(&d.delegator_cf).map_err(|_| DelegationError::NotFound)?;
        let ended = find_required(c, &d.id)?;
        for to in e.notify {
            notify_party(c, state, &ended, *to, Template::DelegationEnded, now)?;
        }
        // The audit record is the transaction's last write (lock order: `audit_head` last).
        audit::append(
            c,
            &state.audit_key,
            now,
            Event::new(e.actor.party(), e.action, Outcome::Success)
                .on_behalf_of(Party::person(&delegator))
                .detail(json!({
                    "delegation_id": d.id,
                    "delegate": format!("person:{}", d.delegate_cf),
                    "kind": d.kind,
                    "status": e.status.as_str(),
                    "reason": e.reason,
                })),
        )?;
        Ok(ended)
    })
}

fn active(d: &Delegation) -> Result<(), DelegationError> {
    if d.status() == Some(Status::Active) {
        Ok(())
    } else {
        Err(DelegationError::NotActive(d.status.clone()))
    }
}

/// The delegator revokes online: fiduciary only, after the 30-day minimum.
pub fn revoke_by_delegator(
    conn: &mut DbConn,
    state: &AppState,
    delegator: &CodiceFiscale,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let d = find_required(conn, id)?;
    if d.delegator_cf != delegator.as_str() {
        return Err(DelegationError::NotFound);
    }
    let kind = d.kind().ok_or(DelegationError::NotFound)?;
    let before_minimum = d.min_end_at.is_some_and(|m| now.naive_utc() < m);
    policy::check_ending(kind, Ender::Delegator, before_minimum)?;
    active(&d)?;
    end(
        conn,
        state,
        &d,
        Status::Active,
        Ending {
            status: Status::Revoked,
            reason: "revoked_by_delegator".into(),
            action: "delegation.revoked",
            actor: &Actor::Person(delegator.clone()),
            notify: &[Party2::Delegate],
        },
        now,
    )
}

/// The delegate renounces a fiduciary delegation; the delegator is notified (domain §6.3).
pub fn renounce(
    conn: &mut DbConn,
    state: &AppState,
    delegate: &CodiceFiscale,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let d = find_required(conn, id)?;
    if d.delegate_cf != delegate.as_str() {
        return Err(DelegationError::NotFound);
    }
    let kind = d.kind().ok_or(DelegationError::NotFound)?;
    policy::check_ending(kind, Ender::Delegate, false)?;
    active(&d)?;
    end(
        conn,
        state,
        &d,
        Status::Active,
        Ending {
            status: Status::Renounced,
            reason: "renounced_by_delegate".into(),
            action: "delegation.renounced",
            actor: &Actor::Person(delegate.clone()),
            notify: &[Party2::Delegator],
        },
        now,
    )
}

/// An operator revokes at any time, with a reason; both parties are notified.
pub fn revoke_by_operator(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(DelegationError::ReasonRequired);
    }
    let d = find_required(conn, id)?;
    let from = match d.status() {
        Some(s @ (Status::Active | Status::PendingVerification)) => s,
        _ => return Err(DelegationError::NotActive(d.status.clone())),
    };
    end(
        conn,
        state,
        &d,
        from,
        Ending {
            status: Status::Revoked,
            reason: format!("revoked_by_operator: {reason}"),
            action: "delegation.revoked",
            actor: &Actor::Operator(operator_id.to_owned()),
            notify: &[Party2::Delegator, Party2::Delegate],
        },
        now,
    )
}

/// The operator's check of a self-declaration with the court.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Confirmed,
    Refused,
}

/// Records the check of a pending representation: confirmed → active; refused → revoked.
pub fn verify(
    conn: &mut DbConn,
    state: &AppState,
    operator_id: &str,
    id: &str,
    outcome: Verification,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Delegation, DelegationError> {
    let d = find_required(conn, id)?;
    if d.status() != Some(Status::PendingVerification) {
        return Err(DelegationError::NotPending(d.status.clone()));
    }
    if d.operator_id.as_deref() == Some(operator_id) {
        return Err(DelegationError::SameOperator);
    }
    let actor = Actor::Operator(operator_id.to_owned());
    match outcome {
        Verification::Refused => end(
            conn,
            state,
            &d,
            Status::PendingVerification,
            Ending {
                status: Status::Revoked,
                reason: format!("verification_refused: {}", note.unwrap_or("").trim()),
                action: "delegation.verification_refused",
                actor: &actor,
                notify: &[Party2::Delegate],
            },
            now,
        ),
        Verification::Confirmed => {
            let at = now.naive_utc();
            conn.write_transaction(|c| {
                let n = diesel::update(
                    delegations::table
                        .filter(delegations::id.eq(&d.id))
                        .filter(delegations::status.eq(Status::PendingVerification.as_str())),
                )
                .set((
                    delegations::status.eq(Status::Active.as_str()),
                    delegations::updated_at.eq(at),
                ))
                .execute(c)?;
                if n != 1 {
                    return Err(DelegationError::NotPending(find_required(c, &d.id)?.status));
                }
                let delegator =
                    CodiceFiscale::parse(&d.delegator_cf).map_err(|_| DelegationError::NotFound)?;
                let v = find_required(c, &d.id)?;
                notify_party(
                    c,
                    state,
                    &v,
                    Party2::Delegate,
                    Template::DelegationActivated,
                    now,
                )?;
                audit::append(
                    c,
                    &state.audit_key,
                    now,
                    Event::new(actor.party(), "delegation.verified", Outcome::Success)
                        .on_behalf_of(Party::person(&delegator))
                        .detail(json!({ "delegation_id": d.id, "note": note })),
                )?;
                Ok(v)
            })
        }
    }
}

/// What one run of [`expire_due`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryReport {
    pub noticed: usize,
    pub expired: usize,
}

/// The expiry job: reminds both parties `end_notice_days` before an end (once), and ends
/// (with both parties notified) what reached its end date or the minor's 18th birthday.
pub fn expire_due(
    conn: &mut DbConn,
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<ExpiryReport, DelegationError> {
    let at = now.naive_utc();
    let horizon = at
        .checked_add_days(Days::new(u64::from(
            state.config.delegation.end_notice_days,
        )))
        .unwrap_or(NaiveDateTime::MAX);
    let mut report = ExpiryReport::default();
    let due: Vec<Delegation> = delegations::table
        .filter(delegations::status.eq_any([
            Status::Active.as_str(),
            Status::PendingVerification.as_str(),
        ]))
        .filter(delegations::ends_at.le(at))
        .order(delegations::id.asc())
        .select(Delegation::as_select())
        .load(conn)?;
    for d in &due {
        let from = d.status().unwrap_or(Status::Active);
        let reason = if d.kind() == Some(Kind::Genitore) {
            "eighteenth_birthday"
        } else {
            "end_date"
        };
        match end(
            conn,
            state,
            d,
            from,
            Ending {
                status: Status::Expired,
                reason: reason.into(),
                action: "delegation.expired",
                actor: &Actor::System,
                notify: &[Party2::Delegator, Party2::Delegate],
            },
            now,
        ) {
            Ok(_) => report.expired += 1,
            // Ended meanwhile by someone else.
            Err(DelegationError::NotActive(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let soon: Vec<Delegation> = delegations::table
        .filter(delegations::status.eq(Status::Active.as_str()))
        .filter(delegations::end_notice_sent.eq(false))
        .filter(delegations::ends_at.gt(at))
        .filter(delegations::ends_at.le(horizon))
        .order(delegations::id.asc())
        .select(Delegation::as_select())
        .load(conn)?;
    for d in &soon {
        let sent = conn.write_transaction(|c| {
            let n = diesel::update(
                delegations::table
                    .filter(delegations::id.eq(&d.id))
                    .filter(delegations::end_notice_sent.eq(false)),
            )
            .set((
                delegations::end_notice_sent.eq(true),
                delegations::updated_at.eq(at),
            ))
            .execute(c)?;
            if n != 1 {
                return Ok::<_, DelegationError>(false);
            }
            let delegator =
                CodiceFiscale::parse(&d.delegator_cf).map_err(|_| DelegationError::NotFound)?;
            notify_party(
                c,
                state,
                d,
                Party2::Delegator,
                Template::DelegationEndingSoon,
                now,
            )?;
            notify_party(
                c,
                state,
                d,
                Party2::Delegate,
                Template::DelegationEndingSoon,
                now,
            )?;
            audit::append(
                c,
                &state.audit_key,
                now,
                Event::new(Party::system(), "delegation.end_notice", Outcome::Success)
                    .on_behalf_of(Party::person(&delegator))
                    .detail(json!({ "delegation_id": d.id, "ends_at": d.ends_at })),
            )?;
            Ok(true)
        })?;
        if sent {
            report.noticed += 1;
        }
    }
    Ok(report)
}

/// Every delegation where `cf` is the delegator or the delegate (any status), newest first.
pub fn involving(conn: &mut DbConn, cf: &str) -> Result<Vec<Delegation>, DbError> {
    Ok(delegations::table
        .filter(
            delegations::delegator_cf
                .eq(cf)
                .or(delegations::delegate_cf.eq(cf)),
        )
        .order((delegations::created_at.desc(), delegations::id.asc()))
        .select(Delegation::as_select())
        .load(conn)?)
}

/// Representations waiting for the operator's check with the court, oldest first.
pub fn pending_verification(conn: &mut DbConn, limit: i64) -> Result<Vec<Delegation>, DbError> {
    Ok(delegations::table
        .filter(delegations::status.eq(Status::PendingVerification.as_str()))
        .order((delegations::created_at.asc(), delegations::id.asc()))
        .limit(limit)
        .select(Delegation::as_select())
        .load(conn)?)
}

/// The evidence documents of a delegation: (kind, sha256, size).
pub fn documents_of(conn: &mut DbConn, id: &str) -> Result<Vec<(String, String, i64)>, DbError> {
    Ok(delegation_documents::table
        .filter(delegation_documents::delegation_id.eq(id))
        .order(delegation_documents::id.asc())
        .select((
            delegation_documents::kind,
            delegation_documents::sha256,
            delegation_documents::size_bytes,
        ))
        .load(conn)?)
}
