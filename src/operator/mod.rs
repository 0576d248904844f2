//! Operators of the contact centre, the branch desks and the web-meeting desk, and their
//! roles. An operator logs in through the login broker like any person; the `operators` row
//! is what gives that person roles.

use crate::audit::{self, AuditKey, Event, Outcome, Party};
use crate::db::schema::operators;
use crate::db::{DbConn, DbError};
use crate::person::{CodiceFiscale, CodiceFiscaleError};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fmt;

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Branch desk: issues PINs and registers delegations in person.
    Sportello,
    /// Contact centre: the call-back queue, inbound phone requests, phone PIN checks.
    ContactCenter,
    /// Web-meeting desk: delegations registered in a video call.
    WebMeeting,
    /// Manages operators.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Sportello,
        Role::ContactCenter,
        Role::WebMeeting,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sportello => "sportello",
            Role::ContactCenter => "contact_center",
            Role::WebMeeting => "web_meeting",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The roles of an operator as stored: space-separated, in `Role::ALL` order.
fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses stored roles; an unknown word (a role removed from the code) is skipped rather
/// than granting anything.
fn parse_roles(text: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = text.split(' ').filter_map(Role::parse).collect();
    roles.sort();
    roles.dedup();
    roles
}

/// An operator as the rest of procura sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: String,
    pub codice_fiscale: CodiceFiscale,
    pub display_name: String,
    /// Never empty, sorted, without repeats.
    pub roles: Vec<Role>,
    pub office: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operator")
            .field("id", &self.id)
            .field("codice_fiscale", &self.codice_fiscale)
            .field("roles", &self.roles)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl Operator {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn role_names(&self) -> Vec<&'static str> {
        self.roles.iter().map(|r| r.as_str()).collect()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = operators)]
struct OperatorRow {
    id: String,
    codice_fiscale: String,
    display_name: String,
    roles: String,
    office: Option<String>,
    active: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    disabled_at: Option<NaiveDateTime>,
}

impl OperatorRow {
    fn into_operator(self) -> Result<Operator, DbError> {
        // Stored codes were validated on the way in; a bad one means the row was tampered with.
        let codice_fiscale = CodiceFiscale::parse(&self.codice_fiscale).map_err(|_| {
            DbError::Query(diesel::result::Error::DeserializationError(
                format!("operator {}: stored codice fiscale is not valid", self.id).into(),
            ))
        })?;
        Ok(Operator {
            id: self.id,
            codice_fiscale,
            display_name: self.display_name,
            roles: parse_roles(&self.roles),
            office: self.office,
            active: self.active,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
            disabled_at: self.disabled_at.map(|t| t.and_utc()),
        })
    }
}

/// An operator to add, as typed at the command line or sent to the admin API.
#[derive(Debug, Clone)]
pub struct NewOperator {
    pub codice_fiscale: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub office: Option<String>,
}

/// A `NewOperator` whose every field is valid.
#[derive(Debug, Clone)]
pub struct ValidOperator {
    pub codice_fiscale: CodiceFiscale,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub office: Option<String>,
}

/// Longest display name and office code accepted.
const MAX_NAME_CHARS: usize = 200;
const MAX_OFFICE_CHARS: usize = 100;

impl NewOperator {
    /// Checks every field; nothing touches the database.
    pub fn validate(&self) -> Result<ValidOperator, OperatorError> {
        let codice_fiscale =
            CodiceFiscale::parse(&self.codice_fiscale).map_err(OperatorError::CodiceFiscale)?;
        let display_name = self.display_name.trim().to_owned();
        if display_name.is_empty()
            || display_name.chars().count() > MAX_NAME_CHARS
            || display_name.chars().any(char::is_control)
        {
            return Err(OperatorError::InvalidName);
        }
        let roles = validate_roles(&self.roles)?;
        let office = match self.office.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(o) if o.chars().count() > MAX_OFFICE_CHARS || o.chars().any(char::is_control) => {
                return Err(OperatorError::InvalidOffice);
            }
            Some(o) => Some(o.to_owned()),
        };
        Ok(ValidOperator {
            codice_fiscale,
            display_name,
            roles,
            office,
        })
    }
}

/// At least one role, each known; sorted and without repeats.
pub fn validate_roles(names: &[String]) -> Result<Vec<Role>, OperatorError> {
    let mut roles = Vec::new();
    for name in names {
        // `--role a,b` and `"a b"` are accepted as well as one role per value.
        for word in name.split([',', ' ']).filter(|w| !w.is_empty()) {
            roles.push(Role::parse(word).ok_or_else(|| OperatorError::UnknownRole(word.into()))?);
        }
    }
    if roles.is_empty() {
        return Err(OperatorError::NoRoles);
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("invalid codice fiscale: {0}")]
    CodiceFiscale(CodiceFiscaleError),
    #[error("the display name must be 1 to 200 characters, without control characters")]
    InvalidName,
    #[error("the office must be at most 100 characters, without control characters")]
    InvalidOffice,
    #[error("at least one role is required (sportello, contact_center, web_meeting, admin)")]
    NoRoles,
    #[error("unknown role `{0}` (known: sportello, contact_center, web_meeting, admin)")]
    UnknownRole(String),
    #[error("{0} is already an operator")]
    Exists(String),
    #[error("no operator with id `{0}`")]
    NotFound(String),
    #[error("an operator cannot disable themself")]
    SelfDisable,
    #[error("an administrator cannot take the admin role away from themself")]
    SelfDemote,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for OperatorError {
    fn from(e: diesel::result::Error) -> Self {
        OperatorError::Db(e.into())
    }
}

/// Who asks for a change, and under which request: for the audit record.
#[derive(Debug, Clone)]
pub struct Acting {
    pub actor: Party,
    pub request_id: Option<String>,
}

impl Acting {
    pub fn new(actor: Party) -> Self {
        Self {
            actor,
            request_id: None,
        }
    }

    fn event(&self, action: &'static str, detail: serde_json::Value) -> Event {
        let mut e = Event::new(self.actor.clone(), action, Outcome::Success).detail(detail);
        if let Some(id) = &self.request_id {
            e = e.request_id(id.clone());
        }
        e
    }

    /// The operator behind the actor, when it is one (they may not disable themself).
    fn operator_id(&self) -> Option<&str> {
        self.actor.as_str().strip_prefix("operator:")
    }
}

fn audit_detail(o: &Operator) -> serde_json::Value {
    json!({
        "operator_id": o.id,
        "codice_fiscale": o.codice_fiscale.masked().to_string(),
        "roles": o.role_names(),
        "office": o.office,
        "active": o.active,
    })
}

/// Adds an operator, active, in one transaction with its audit record. A codice fiscale that
/// already belongs to an operator (active or not) is refused by the UNIQUE constraint.
pub fn add(
    conn: &mut DbConn,
    audit_key: &AuditKey,
    new: &NewOperator,
    acting: &Acting,
    now: DateTime<Utc>,
) -> Result<Operator, OperatorError> {
    let valid = new.validate()?;
    let now = crate::clock::to_micros(now);
    let row = OperatorRow {
        id: uuid::Uuid::new_v4().simple().to_string(),
        codice_fiscale: valid.codice_fiscale.as_str().to_owned(),
        display_name: valid.display_name,
        roles: roles_text(&valid.roles),
        office: valid.office,
        active: true,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
        disabled_at: None,
    };
    let operator = row.clone().into_operator()?;
    conn.write_transaction(|c| {
        // A savepoint, so the unique violation does not abort PostgreSQL's transaction.
        let inserted = c.transaction(|c| {
            diesel::insert_into(operators::table)
                .values(&row)
                .execute(c)
        });
        match inserted {
            Ok(_) => {}
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(OperatorError::Exists(
                    valid.codice_fiscale.masked().to_string(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        audit::append(
            c,
            audit_key,
            now,
            acting.event("operator.added", audit_detail(&operator)),
        )?;
        Ok(operator)
    })
}

/// Every operator, active or not, oldest first.
pub fn list(conn: &mut DbConn) -> Result<Vec<Operator>, DbError> {
    operators::table
        .select(OperatorRow::as_select())
        .order((operators::created_at.asc(), operators::id.asc()))
        .load(conn)?
        .into_iter()
        .map(OperatorRow::into_operator)
        .collect()
}

/// [`list`] for someone at the admin API, recorded: the list is personal data.
pub fn list_audited(
    conn: &mut DbConn,
    audit_key: &AuditKey,
    acting: &Acting,
    now: DateTime<Utc>,
) -> Result<Vec<Operator>, DbError> {
    conn.write_transaction(|c| {
        let all = list(c)?;
        audit::append(
            c,
            audit_key,
            now,
            acting.event("operator.listed", json!({ "count": all.len() })),
        )?;
        Ok(all)
    })
}

pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<Operator>, DbError> {
    operators::table
        .find(id)
        .select(OperatorRow::as_select())
        .first(conn)
        .optional()?
        .map(OperatorRow::into_operator)
        .transpose()
}

pub fn find_by_codice_fiscale(
    conn: &mut DbConn,
    codice_fiscale: &str,
) -> Result<Option<Operator>, DbError> {
    operators::table
        .filter(operators::codice_fiscale.eq(codice_fiscale))
        .select(OperatorRow::as_select())
        .first(conn)
        .optional()?
        .map(OperatorRow::into_operator)
        .transpose()
}

/// The person's operator record if it is active now; `None` for citizens and for disabled
/// operators. What tokens and the operator API rely on.
pub fn active_by_codice_fiscale(
    conn: &mut DbConn,
    codice_fiscale: &str,
) -> Result<Option<Operator>, DbError> {
    Ok(find_by_codice_fiscale(conn, codice_fiscale)?.filter(|o| o.active))
}

/// Disables an operator: the row stays (the audit log names operators by id), `active`
/// turns false at once, so the operator API refuses their live tokens from the next
/// request and refreshes carry no roles. Disabling a disabled operator changes nothing
/// and records nothing.
pub fn disable(
    conn: &mut DbConn,
    audit_key: &AuditKey,
    id: &str,
    acting: &Acting,
    now: DateTime<Utc>,
) -> Result<Operator, OperatorError> {
    if acting.operator_id() == Some(id) {
        return Err(OperatorError::SelfDisable);
    }
    let now = crate::clock::to_micros(now);
    conn.write_transaction(|c| {
        let changed = diesel::update(operators::table.find(id).filter(operators::active.eq(true)))
            .set((
                operators::active.eq(false),
                operators::disabled_at.eq(Some(now.naive_utc())),
                operators::updated_at.eq(now.naive_utc()),
            ))
            .execute(c)?;
        let operator = find(c, id)?.ok_or_else(|| OperatorError::NotFound(id.to_owned()))?;
        if changed == 1 {
            audit::append(
                c,
                audit_key,
                now,
                acting.event("operator.disabled", audit_detail(&operator)),
            )?;
        }
        Ok(operator)
    })
}

/// Enables a disabled operator again (with the roles they had). Enabling an active one
/// changes nothing and records nothing.
pub fn enable(
    conn: &mut DbConn,
    audit_key: &AuditKey,
    id: &str,
    acting: &Acting,
    now: DateTime<Utc>,
) -> Result<Operator, OperatorError> {
    let now = crate::clock::to_micros(now);
    conn.write_transaction(|c| {
        let changed = diesel::update(
            operators::table
                .find(id)
                .filter(operators::active.eq(false)),
        )
        .set((
            operators::active.eq(true),
            operators::disabled_at.eq(None::<NaiveDateTime>),
            operators::updated_at.eq(now.naive_utc()),
        ))
        .execute(c)?;
        let operator = find(c, id)?.ok_or_else(|| OperatorError::NotFound(id.to_owned()))?;
        if changed == 1 {
            audit::append(
                c,
                audit_key,
                now,
                acting.event("operator.enabled", audit_detail(&operator)),
            )?;
        }
        Ok(operator)
    })
}

/// Replaces an operator's roles (at least one). Takes effect at once in the operator API
/// and at the next token issuance or refresh. An operator changing their own roles keeps
/// `admin`.
pub fn set_roles(
    conn: &mut DbConn,
    audit_key: &AuditKey,
    id: &str,
    roles: &[String],
    acting: &Acting,
    now: DateTime<Utc>,
) -> Result<Operator, OperatorError> {
    let roles = validate_roles(roles)?;
    if acting.operator_id() == Some(id) && !roles.contains(&Role::Admin) {
        // Whoever changes roles is an admin: dropping their own would lock them out midway.
        return Err(OperatorError::SelfDemote);
    }
    let now = crate::clock::to_micros(now);
    conn.write_transaction(|c| {
        let before = find(c, id)?.ok_or_else(|| OperatorError::NotFound(id.to_owned()))?;
        diesel::update(operators::table.find(id))
            .set((
                operators::roles.eq(roles_text(&roles)),
                operators::updated_at.eq(now.naive_utc()),
            ))
            .execute(c)?;
        let after = find(c, id)?.ok_or_else(|| OperatorError::NotFound(id.to_owned()))?;
        let mut detail = audit_detail(&after);
        if let Some(map) = detail.as_object_mut() {
            map.insert("previous_roles".into(), json!(before.role_names()));
        }
        audit::append(
            c,
            audit_key,
            now,
            acting.event("operator.roles_changed", detail),
        )?;
        Ok(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(roles: &[&str]) -> NewOperator {
        NewOperator {
            codice_fiscale: "rssmra85t10a562s".into(),
            display_name: "  Mario Rossi ".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            office: Some(" ".into()),
        }
    }

    #[test]
    fn roles_round_trip_in_a_stable_order() {
        let v = new(&["admin", "sportello,admin"]).validate().unwrap();
        assert_eq!(v.roles, [Role::Sportello, Role::Admin]);
        assert_eq!(roles_text(&v.roles), "sportello admin");
        assert_eq!(parse_roles("admin sportello bogus"), v.roles);
        assert_eq!(v.display_name, "Mario Rossi");
        assert_eq!(v.office, None);
    }

    #[test]
    fn refusals() {
        assert!(matches!(new(&[]).validate(), Err(OperatorError::NoRoles)));
        assert!(matches!(
            new(&["root"]).validate(),
            Err(OperatorError::UnknownRole(r)) if r == "root"
        ));
        let mut bad = new(&["admin"]);
        bad.codice_fiscale = "RSSMRA85T10A562X".into();
        assert!(matches!(
            bad.validate(),
            Err(OperatorError::CodiceFiscale(_))
        ));
        let mut bad = new(&["admin"]);
        bad.display_name = " ".into();
        assert!(matches!(bad.validate(), Err(OperatorError::InvalidName)));
    }
}
