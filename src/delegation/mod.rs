//! Delegations of digital identity and legal representation (domain §1, §6): a delegator lets
//! a delegate act for them towards the institute; tutori, curatori, amministratori di sostegno
//! and parents act for the people they represent.
//!
//! This module holds the model and the read queries every other part uses (the "act for" list,
//! token exchange, introspection, the access check). A delegation is *in force* when it is
//! `active`, has started and has not reached its end; the end of a parent's delegation is set
//! at registration to the minor's 18th birthday at the latest, so a query never depends on the
//! expiry job having run.

pub mod acting;
pub mod family;
pub mod policy;
pub mod registry;

use crate::db::schema::delegations;
use crate::db::{DbConn, DbError};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

/// What the delegation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A trusted person chosen by the delegator.
    Fiducia,
    Tutore,
    Curatore,
    AmministratoreDiSostegno,
    /// A parent of a minor.
    Genitore,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Fiducia,
        Kind::Tutore,
        Kind::Curatore,
        Kind::AmministratoreDiSostegno,
        Kind::Genitore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Fiducia => "fiducia",
            Kind::Tutore => "tutore",
            Kind::Curatore => "curatore",
            Kind::AmministratoreDiSostegno => "amministratore_di_sostegno",
            Kind::Genitore => "genitore",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Legal representation (domain §6.1): exempt from the per-delegate limit, registered only
    /// by operators (or, for a parent, online after the family check).
    pub fn is_representation(self) -> bool {
        self != Kind::Fiducia
    }
}

/// How it was registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// By the delegator, logged in (SPID L2+, CIE, CNS).
    Online,
    /// By a parent for a minor, after the family-unit check.
    OnlineGenitore,
    /// At the desk, delegator present (form AA08).
    SportelloAa08,
    /// At the desk, delegate present with the medical certificate (form AA09).
    SportelloAa09,
    /// At the desk, by a legal representative (form AA10).
    SportelloAa10,
    /// By PEC, digitally signed (legal representatives).
    Pec,
    /// In a web meeting with an operator.
    WebMeeting,
}

impl Channel {
    pub const ALL: [Channel; 7] = [
        Channel::Online,
        Channel::OnlineGenitore,
        Channel::SportelloAa08,
        Channel::SportelloAa09,
        Channel::SportelloAa10,
        Channel::Pec,
        Channel::WebMeeting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::OnlineGenitore => "online_genitore",
            Channel::SportelloAa08 => "sportello_aa08",
            Channel::SportelloAa09 => "sportello_aa09",
            Channel::SportelloAa10 => "sportello_aa10",
            Channel::Pec => "pec",
            Channel::WebMeeting => "web_meeting",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Registered by the person online (the 30-day minimum applies, domain §6.4).
    pub fn is_online(self) -> bool {
        matches!(self, Channel::Online | Channel::OnlineGenitore)
    }
}

/// Where a delegation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// A representative's self-declaration awaits the operator's check with the court.
    PendingVerification,
    Active,
    Revoked,
    Renounced,
    Expired,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::PendingVerification,
        Status::Active,
        Status::Revoked,
        Status::Renounced,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::PendingVerification => "pending_verification",
            Status::Active => "active",
            Status::Revoked => "revoked",
            Status::Renounced => "renounced",
            Status::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A delegation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = delegations)]
pub struct Delegation {
    pub id: String,
    pub delegator_cf: String,
    pub delegate_cf: String,
    pub kind: String,
    pub channel: String,
    pub status: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: Option<NaiveDateTime>,
    pub min_end_at: Option<NaiveDateTime>,
    pub decree_reference: Option<String>,
    pub operator_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub end_reason: Option<String>,
    pub end_notice_sent: bool,
}

impl Delegation {
    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }

    pub fn status(&self) -> Option<Status> {
        Status::parse(&self.status)
    }

    /// Active, started, and not at its end: the delegate may act for the delegator now.
    pub fn is_in_force(&self, now: DateTime<Utc>) -> bool {
        let now = now.naive_utc();
        self.status == Status::Active.as_str()
            && self.starts_at <= now
            && self.ends_at.is_none_or(|end| now < end)
    }
}

/// [`Delegation::is_in_force`] as SQL: active, started by `at` and not ended at `at`.
#[diesel::dsl::auto_type(no_type_alias)]
pub fn in_force_at(at: NaiveDateTime) -> _ {
    let active: &'static str = Status::Active.as_str();
    delegations::status
        .eq(active)
        .and(delegations::starts_at.le(at))
        .and(
            delegations::ends_at
                .is_null()
                .or(delegations::ends_at.gt(at)),
        )
}

/// The delegation with this id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Delegation>, DbError> {
    Ok(delegations::table
        .find(id)
        .select(Delegation::as_select())
        .first(conn)
        .optional()?)
}

/// The delegations in force that let `delegate_cf` act for someone (the "act for" list).
pub fn in_force_for_delegate(
    conn: &mut DbConn,
    delegate_cf: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Delegation>, DbError> {
    let at = now.naive_utc();
    Ok(delegations::table
        .filter(delegations::delegate_cf.eq(delegate_cf))
        .filter(in_force_at(at))
        .order((delegations::delegator_cf.asc(), delegations::id.asc()))
        .select(Delegation::as_select())
        .load(conn)?)
}

/// The delegation in force, if any, that lets `delegate_cf` act for `delegator_cf` now.
pub fn in_force_between(
    conn: &mut DbConn,
    delegate_cf: &str,
    delegator_cf: &str,
    now: DateTime<Utc>,
) -> Result<Option<Delegation>, DbError> {
    let at = now.naive_utc();
    Ok(delegations::table
        .filter(delegations::delegate_cf.eq(delegate_cf))
        .filter(delegations::delegator_cf.eq(delegator_cf))
        .filter(in_force_at(at))
        .order(delegations::id.asc())
        .select(Delegation::as_select())
        .first(conn)
        .optional()?)
}

/// Every delegation `delegator_cf` has given (any status), newest first.
pub fn given_by(conn: &mut DbConn, delegator_cf: &str) -> Result<Vec<Delegation>, DbError> {
    Ok(delegations::table
        .filter(delegations::delegator_cf.eq(delegator_cf))
        .order((delegations::created_at.desc(), delegations::id.asc()))
        .select(Delegation::as_select())
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert!(!Kind::Fiducia.is_representation() && Kind::Genitore.is_representation());
    }
}
