//! Desk bookings (issue 16; seed 003, "Prenotazione accesso ai servizi"): desks with their
//! weekly hours, closures and operators on duty; free slots by day and month; booking by a
//! person logged in, by a contact-centre operator on the phone, or (where the desk allows it)
//! by a guest with only a codice fiscale; the 5-minute hold; the limits; confirmation,
//! reminder and cancellation messages; "Le mie prenotazioni".
//!
//! - [`calendar`]: pure — weekly hours, slots in the desk's time zone, national holidays.
//! - [`desks`]: desks, closures, the duty roster (capacity).
//! - [`availability`]: free slots of a day, the month calendar.
//! - [`book`]: hold, confirm, cancel; the limits.
//! - [`jobs`]: reminders, lapsed holds, past bookings (run by `serve`).
//! - [`messages`]: what the outbox is asked to send.
//!
//! Capacity is enforced by the database: a slot's places are taken with one conditional
//! `UPDATE booking_slots SET taken = taken + 1 WHERE taken < capacity`; one open booking per
//! desk type per person is a partial unique index; the count of a person's open bookings is
//! taken under that person's row lock (`booking_people`).

pub mod availability;
pub mod book;
pub mod calendar;
pub mod desks;
pub mod jobs;
pub mod messages;

use crate::db::schema::{bookings, desks as desks_t};
use crate::db::{DbConn, DbError};
use crate::notify::EnqueueError;
use calendar::Opening;
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;

/// What a desk serves (issue 16, item 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeskKind {
    /// "Deleghe dell'Identità Digitale in Web Meeting" (msg 3026).
    WebMeeting,
    /// PIN issuance in person ("RILASCIO PIN").
    PinInPerson,
    /// Any other service in person.
    InPerson,
    /// An operator calls the person back at the time booked.
    PhoneCallback,
}

impl DeskKind {
    pub const ALL: [DeskKind; 4] = [
        DeskKind::WebMeeting,
        DeskKind::PinInPerson,
        DeskKind::InPerson,
        DeskKind::PhoneCallback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeskKind::WebMeeting => "web_meeting",
            DeskKind::PinInPerson => "pin_in_person",
            DeskKind::InPerson => "in_person",
            DeskKind::PhoneCallback => "phone_callback",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// "modalità di erogazione" as the seeds word it.
    pub fn mode_text(self) -> &'static str {
        match self {
            DeskKind::WebMeeting => "web meeting",
            DeskKind::PinInPerson | DeskKind::InPerson => "accesso in sede",
            DeskKind::PhoneCallback => "ricontatto telefonico",
        }
    }

    /// The service needs a mobile number: the SMS code of the web meeting (domain §1.6), the
    /// number to call back.
    pub fn needs_mobile(self) -> bool {
        matches!(self, DeskKind::WebMeeting | DeskKind::PhoneCallback)
    }
}

/// Where a booking stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// A slot chosen, waiting for confirmation until `hold_expires_at`.
    Held,
    Confirmed,
    /// By the person, an operator, or a closure of the desk.
    Cancelled,
    /// The hold lapsed unconfirmed.
    Expired,
    /// Its time passed (nobody took it in charge).
    Concluded,
    /// Served: for a web meeting, the delegation was registered.
    Completed,
    /// Taken in charge and closed without the service (e.g. a refused consent).
    Closed,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Held,
        Status::Confirmed,
        Status::Cancelled,
        Status::Expired,
        Status::Concluded,
        Status::Completed,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Held => "held",
            Status::Confirmed => "confirmed",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
            Status::Concluded => "concluded",
            Status::Completed => "completed",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a booking was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookedVia {
    /// The person, logged in with their own identity.
    Person,
    /// With only a codice fiscale, no login (desks that allow it).
    Guest,
    /// A contact-centre (or reception) operator, on the phone or at the desk.
    Operator,
}

impl BookedVia {
    pub fn as_str(self) -> &'static str {
        match self {
            BookedVia::Person => "person",
            BookedVia::Guest => "guest",
            BookedVia::Operator => "operator",
        }
    }
}

/// A desk as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = desks_t)]
pub struct DeskRow {
    pub id: String,
    pub name: String,
    pub office: String,
    pub kind: String,
    pub time_zone: String,
    pub opening: String,
    pub slot_minutes: i64,
    pub guest_booking: bool,
    pub location: Option<String>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A desk with its hours parsed.
#[derive(Debug, Clone)]
pub struct Desk {
    pub id: String,
    pub name: String,
    pub office: String,
    pub kind: DeskKind,
    pub tz: Tz,
    pub opening: Opening,
    pub slot_minutes: u32,
    pub guest_booking: bool,
    pub location: Option<String>,
    pub active: bool,
}

impl TryFrom<DeskRow> for Desk {
    type Error = DbError;

    /// Stored desks were validated on the way in; a bad row means it was edited by hand.
    fn try_from(r: DeskRow) -> Result<Self, DbError> {
        let bad = |what: &str| {
            DbError::Query(diesel::result::Error::DeserializationError(
                format!("desk {}: stored {what} is not valid", r.id).into(),
            ))
        };
        Ok(Desk {
            kind: DeskKind::parse(&r.kind).ok_or_else(|| bad("kind"))?,
            tz: r.time_zone.parse().map_err(|_| bad("time zone"))?,
            opening: Opening::parse(&r.opening).map_err(|_| bad("opening"))?,
            slot_minutes: u32::try_from(r.slot_minutes).map_err(|_| bad("slot length"))?,
            id: r.id,
            name: r.name,
            office: r.office,
            guest_booking: r.guest_booking,
            location: r.location,
            active: r.active,
        })
    }
}

/// A booking as stored.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = bookings)]
pub struct Booking {
    pub id: String,
    pub reference: String,
    pub desk_id: String,
    pub desk_kind: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub person_cf: String,
    pub booked_via: String,
    pub booked_by: Option<String>,
    pub guest_token_hash: Option<String>,
    pub status: String,
    pub hold_expires_at: Option<NaiveDateTime>,
    pub reason: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub delegator_cf: Option<String>,
    pub delegator_given_name: Option<String>,
    pub delegator_family_name: Option<String>,
    pub confirmed_at: Option<NaiveDateTime>,
    pub reminder_sent: bool,
    pub waiting_since: Option<NaiveDateTime>,
    pub handled_by: Option<String>,
    pub handled_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub end_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for Booking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Booking")
            .field("id", &self.id)
            .field("desk_id", &self.desk_id)
            .field("status", &self.status)
            .field("starts_at", &self.starts_at)
            .field(
                "person_cf",
                &crate::person::codice_fiscale::mask_text(&self.person_cf),
            )
            .finish_non_exhaustive()
    }
}

impl Booking {
    pub fn status(&self) -> Option<Status> {
        Status::parse(&self.status)
    }

    pub fn kind(&self) -> Option<DeskKind> {
        DeskKind::parse(&self.desk_kind)
    }

    pub fn starts(&self) -> DateTime<Utc> {
        self.starts_at.and_utc()
    }

    pub fn ends(&self) -> DateTime<Utc> {
        self.ends_at.and_utc()
    }

    /// A hold whose five minutes have passed.
    pub fn hold_lapsed(&self, now: DateTime<Utc>) -> bool {
        self.status == Status::Held.as_str()
            && self.hold_expires_at.is_none_or(|t| t <= now.naive_utc())
    }
}

/// Why a booking step was refused. The texts are for citizens (Italian); operators read
/// them out on the phone.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("Sportello non trovato.")]
    DeskNotFound,
    #[error("Lo sportello non è al momento disponibile per le prenotazioni.")]
    DeskInactive,
    #[error(
        "Questo sportello non consente la prenotazione senza autenticazione: accedi con SPID, CIE, CNS o PIN."
    )]
    GuestNotAllowed,
    #[error("L'orario scelto non è tra quelli dello sportello.")]
    NotASlot,
    #[error("L'orario scelto è già passato.")]
    SlotPast,
    #[error(
        "Non è ancora possibile prenotare per questa data: si può prenotare fino a {0} giorni prima."
    )]
    BeyondHorizon(u32),
    #[error("Lo sportello è chiuso nel giorno scelto.")]
    DayClosed,
    #[error("Non ci sono più posti disponibili nell'orario scelto: scegline un altro.")]
    SlotFull,
    #[error(
        "Risulta già una prenotazione per questo tipo di sportello: puoi inserire solo una prenotazione per ogni tipo di sportello."
    )]
    KindLimit,
    #[error(
        "Hai già {0} prenotazioni aperte, il massimo consentito: per prenotarne un'altra cancellane una."
    )]
    OpenLimit(u32),
    #[error("Prenotazione non trovata.")]
    NotFound,
    #[error(
        "Il tempo per confermare la prenotazione è scaduto e l'orario è stato liberato: scegli di nuovo l'orario."
    )]
    HoldExpired,
    #[error("La prenotazione non è in attesa di conferma (è {0}).")]
    NotHeld(String),
    #[error("La prenotazione non può essere cancellata (è {0}).")]
    NotCancellable(String),
    #[error("Alcuni dati non sono validi: correggerli e riprovare.")]
    Invalid(Vec<crate::error::FieldError>),
    #[error("{0}")]
    Delegation(#[from] crate::delegation::policy::Refusal),
    #[error("{0}")]
    BadDesk(String),
    #[error("operator {0} is not an active operator")]
    UnknownOperator(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the outbox refused a message: {0}")]
    Enqueue(#[from] EnqueueError),
}

impl From<diesel::result::Error> for BookingError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Refuses a `[booking]`/`[webmeeting]` configuration that could not work (at start-up).
pub fn check_config(config: &crate::config::Config) -> anyhow::Result<()> {
    let zone = &config.booking.default_time_zone;
    if zone.parse::<Tz>().is_err() {
        anyhow::bail!("booking.default_time_zone: {zone:?} is not an IANA time zone");
    }
    Opening::parse(&config.webmeeting.default_opening)
        .map_err(|e| anyhow::anyhow!("webmeeting.default_opening: {e}"))?;
    if config.booking.hold_minutes == 0 {
        anyhow::bail!("booking.hold_minutes must be at least 1");
    }
    Ok(())
}

/// One invalid field (Italian message).
pub fn field_error(
    field: &str,
    reason: &str,
    message: impl Into<String>,
) -> crate::error::FieldError {
    crate::error::FieldError {
        field: field.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
    }
}

/// Longest id procura generates is 22 characters; anything much longer names nothing, and is
/// not worth a query (the routes without login take ids from anyone).
const MAX_ID_LEN: usize = 64;

/// The desk with this id.
pub fn find_desk(conn: &mut DbConn, id: &str) -> Result<Option<Desk>, DbError> {
    if id.len() > MAX_ID_LEN {
        return Ok(None);
    }
    desks_t::table
        .find(id)
        .select(DeskRow::as_select())
        .first(conn)
        .optional()?
        .map(Desk::try_from)
        .transpose()
}

/// Every desk, active first, by office and name.
pub fn list_desks(conn: &mut DbConn, only_active: bool) -> Result<Vec<Desk>, DbError> {
    let mut q = desks_t::table.into_boxed();
    if only_active {
        q = q.filter(desks_t::active.eq(true));
    }
    q.order((
        desks_t::office.asc(),
        desks_t::name.asc(),
        desks_t::id.asc(),
    ))
    .limit(1000)
    .select(DeskRow::as_select())
    .load(conn)?
    .into_iter()
    .map(Desk::try_from)
    .collect()
}

/// The booking with this id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Booking>, DbError> {
    if id.len() > MAX_ID_LEN {
        return Ok(None);
    }
    Ok(bookings::table
        .find(id)
        .select(Booking::as_select())
        .first(conn)
        .optional()?)
}

/// A person's bookings ("Le mie prenotazioni"): everything but lapsed holds, newest
/// appointment first.
pub fn of_person(conn: &mut DbConn, person_cf: &str, limit: i64) -> Result<Vec<Booking>, DbError> {
    Ok(bookings::table
        .filter(bookings::person_cf.eq(person_cf))
        .filter(bookings::status.ne(Status::Expired.as_str()))
        .order((bookings::starts_at.desc(), bookings::id.asc()))
        .limit(limit)
        .select(Booking::as_select())
        .load(conn)?)
}

/// The bookings of a desk kind whose appointment starts within [from, to), in order.
pub fn of_kind_between(
    conn: &mut DbConn,
    kind: DeskKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    statuses: &[Status],
) -> Result<Vec<Booking>, DbError> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    Ok(bookings::table
        .filter(bookings::desk_kind.eq(kind.as_str()))
        .filter(bookings::starts_at.ge(from.naive_utc()))
        .filter(bookings::starts_at.lt(to.naive_utc()))
        .filter(bookings::status.eq_any(statuses))
        .order((bookings::starts_at.asc(), bookings::id.asc()))
        .limit(1000)
        .select(Booking::as_select())
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in DeskKind::ALL {
            assert_eq!(DeskKind::parse(k.as_str()), Some(k));
        }
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}
