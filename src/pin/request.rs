//! PIN requests: what a requester declares, parsed into domain values, and the stored row.
//!
//! [`RequestForm`] is the JSON a citizen (online) or an operator (contact centre, desk) sends;
//! [`RequestForm::parse`] turns it into [`RequestData`] or names every field that is wrong, in
//! Italian, since citizens read it.

use super::policy::{Representation, Requester};
use crate::db::schema::pin_requests;
use crate::notify::Channel;
use crate::person::{CodiceFiscale, contact};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Deserialize;

/// Where a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestChannel {
    Sportello,
    Online,
    ContactCenter,
}

impl RequestChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestChannel::Sportello => "sportello",
            RequestChannel::Online => "online",
            RequestChannel::ContactCenter => "contact_center",
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    /// Waiting for a contact-centre call (claimed while `claimed_until` is ahead).
    Queued,
    Issued,
    Rejected,
    /// Closed after the last unanswered call-back.
    Closed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Queued => "queued",
            RequestStatus::Issued => "issued",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Closed => "closed",
        }
    }
}

/// The requester, as declared in a form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequesterForm {
    pub codice_fiscale: String,
    /// tutore | curatore | amministratore_di_sostegno | genitore; anything else (e.g.
    /// `delegato`) is a third party and refused.
    pub role: String,
    /// Decree or self-declaration reference.
    pub reference: Option<String>,
}

impl RequesterForm {
    /// The requester a form declares: a legal representative when `role` names one, a third
    /// party (refused later, with the reason) otherwise. Fails only on the representative's
    /// codice fiscale.
    pub fn parse(self) -> Result<RequesterData, crate::person::CodiceFiscaleError> {
        let role = self.role.trim();
        Ok(match Representation::parse(role) {
            None => RequesterData::ThirdParty {
                role: role.chars().take(40).collect(),
            },
            Some(kind) => RequesterData::Representative {
                codice_fiscale: CodiceFiscale::parse(&self.codice_fiscale)?,
                kind,
                reference: optional(self.reference),
            },
        })
    }
}

/// A PIN request as sent (online, or typed by a contact-centre operator).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestForm {
    pub codice_fiscale: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: String,
    pub address: String,
    pub postal_code: String,
    pub municipality: String,
    pub province: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub pec: Option<String>,
    /// sms | email | pec: where the first half goes.
    pub first_half_channel: String,
    /// Present when someone asks for another person.
    pub requester: Option<RequesterForm>,
    /// The holder has no Italian identity document (matters to the eligibility policy).
    #[serde(default)]
    pub without_italian_id_document: bool,
}

/// A representative, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequesterData {
    Holder,
    Representative {
        codice_fiscale: CodiceFiscale,
        kind: Representation,
        reference: Option<String>,
    },
    ThirdParty {
        role: String,
    },
}

impl RequesterData {
    pub fn as_policy(&self) -> Requester<'_> {
        match self {
            RequesterData::Holder => Requester::Holder,
            RequesterData::Representative {
                codice_fiscale,
                kind,
                reference,
            } => Requester::Representative {
                codice_fiscale: codice_fiscale.as_str(),
                kind: *kind,
                reference: reference.as_deref(),
            },
            RequesterData::ThirdParty { role } => Requester::ThirdParty { role },
        }
    }
}

/// A request whose every field is well formed (not yet checked against the registry).
#[derive(Clone)]
pub struct RequestData {
    pub holder: CodiceFiscale,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub address: String,
    pub postal_code: String,
    pub municipality: String,
    pub province: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub pec: Option<String>,
    pub first_half_channel: Channel,
    pub requester: RequesterData,
    pub without_italian_id_document: bool,
}

impl std::fmt::Debug for RequestData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestData")
            .field("holder", &self.holder)
            .field("first_half_channel", &self.first_half_channel)
            .finish_non_exhaustive()
    }
}

impl RequestData {
    /// The contact the first half goes to.
    pub fn first_half_recipient(&self) -> Option<&str> {
        contact_for(
            self.first_half_channel,
            self.mobile.as_deref(),
            self.email.as_deref(),
            self.pec.as_deref(),
        )
    }
}

/// The contact a message on `channel` goes to, among a request's contacts (none for post).
fn contact_for<'a>(
    channel: Channel,
    mobile: Option<&'a str>,
    email: Option<&'a str>,
    pec: Option<&'a str>,
) -> Option<&'a str> {
    match channel {
        Channel::Sms => mobile,
        Channel::Email => email,
        Channel::Pec => pec,
        Channel::Post => None,
    }
}

/// A field that is wrong, with the reason in Italian.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

const MAX_TEXT: usize = 200;

impl RequestForm {
    /// Every field checked; all the wrong ones reported together.
    pub fn parse(self) -> Result<RequestData, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut bad = |field: &'static str, reason: &str| {
            errors.push(FieldError {
                field,
                reason: reason.to_owned(),
            });
        };
        let holder = CodiceFiscale::parse(&self.codice_fiscale)
            .map_err(|e| bad("codice_fiscale", &format!("codice fiscale non valido: {e}")))
            .ok();
        let mut text = |field: &'static str, value: String| -> String {
            let value = value.trim().to_owned();
            if value.is_empty() {
                bad(field, "campo obbligatorio");
            } else if value.chars().count() > MAX_TEXT || value.chars().any(char::is_control) {
                bad(field, "valore non valido");
            }
            value
        };
        let given_name = text("given_name", self.given_name);
        let family_name = text("family_name", self.family_name);
        let address = text("address", self.address);
        let postal_code = text("postal_code", self.postal_code);
        let municipality = text("municipality", self.municipality);
        let province = text("province", self.province).to_uppercase();
        let birth_date = NaiveDate::parse_from_str(self.birth_date.trim(), "%Y-%m-%d")
            .map_err(|_| bad("birth_date", "data non valida (formato AAAA-MM-GG)"))
            .ok();
        let mobile = optional(self.mobile)
            .map(|m| contact::normalize_mobile(&m))
            .transpose()
            .map_err(|_| {
                bad(
                    "mobile",
                    "numero di cellulare non valido (es. +39 333 1234567)",
                )
            })
            .ok()
            .flatten();
        let email = optional(self.email)
            .map(|m| contact::normalize_email(&m))
            .transpose()
            .map_err(|_| bad("email", "indirizzo e-mail non valido"))
            .ok()
            .flatten();
        let pec = optional(self.pec)
            .map(|m| contact::normalize_email(&m))
            .transpose()
            .map_err(|_| bad("pec", "indirizzo PEC non valido"))
            .ok()
            .flatten();
        let channel = match self.first_half_channel.trim() {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            "pec" => Some(Channel::Pec),
            _ => {
                bad("first_half_channel", "indicare sms, email o pec");
                None
            }
        };
        if let Some(ch) = channel
            && contact_for(ch, mobile.as_deref(), email.as_deref(), pec.as_deref()).is_none()
        {
            bad(
                "first_half_channel",
                "manca il recapito del canale scelto per la prima parte del PIN",
            );
        }
        let requester = match self.requester.map(RequesterForm::parse).transpose() {
            Ok(r) => Some(r.unwrap_or(RequesterData::Holder)),
            Err(e) => {
                bad(
                    "requester.codice_fiscale",
                    &format!("codice fiscale non valido: {e}"),
                );
                None
            }
        };
        match (holder, birth_date, channel, requester) {
            (Some(holder), Some(birth_date), Some(first_half_channel), Some(requester))
                if errors.is_empty() =>
            {
                Ok(RequestData {
                    holder,
                    given_name,
                    family_name,
                    birth_date,
                    address,
                    postal_code,
                    municipality,
                    province,
                    mobile,
                    email,
                    pec,
                    first_half_channel,
                    requester,
                    without_italian_id_document: self.without_italian_id_document,
                })
            }
            _ => Err(errors),
        }
    }
}

fn optional(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A stored request.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pin_requests)]
pub struct PinRequest {
    pub id: String,
    pub reference: String,
    pub channel: String,
    pub codice_fiscale: String,
    pub representative_cf: Option<String>,
    pub representation: Option<String>,
    pub representation_ref: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub address: String,
    pub postal_code: String,
    pub municipality: String,
    pub province: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub pec: Option<String>,
    pub first_half_channel: Option<String>,
    pub pin_type: String,
    pub status: String,
    pub check_failures: Option<String>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<NaiveDateTime>,
    pub call_attempts: i64,
    pub next_call_at: Option<NaiveDateTime>,
    pub outcome_reason: Option<String>,
    pub operator_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
}

impl PinRequest {
    pub fn first_half_recipient(&self) -> Option<(Channel, &str)> {
        let channel = Channel::parse(self.first_half_channel.as_deref()?)?;
        let to = contact_for(
            channel,
            self.mobile.as_deref(),
            self.email.as_deref(),
            self.pec.as_deref(),
        )?;
        Some((channel, to))
    }

    pub fn failures(&self) -> Vec<&str> {
        self.check_failures
            .as_deref()
            .map(|f| f.split_whitespace().collect())
            .unwrap_or_default()
    }
}

pub fn find(
    conn: &mut crate::db::DbConn,
    id: &str,
) -> Result<Option<PinRequest>, crate::db::DbError> {
    Ok(pin_requests::table
        .find(id)
        .select(PinRequest::as_select())
        .first(conn)
        .optional()?)
}

/// A new reference, e.g. `PIN-7KQ2-MX9T` (from the PIN alphabet: nothing to misread on the
/// phone). Unique by constraint.
pub fn new_reference() -> std::io::Result<String> {
    let pin = super::new_initial_pin()?;
    let chars: Vec<char> = pin.chars().take(8).collect();
    let (a, b) = chars.split_at(4);
    Ok(format!(
        "PIN-{}-{}",
        a.iter().collect::<String>(),
        b.iter().collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> RequestForm {
        RequestForm {
            codice_fiscale: "RSSMRA85T10A562S".into(),
            given_name: "Mario".into(),
            family_name: "Rossi".into(),
            birth_date: "1985-12-10".into(),
            address: "Via Roma 1".into(),
            postal_code: "00100".into(),
            municipality: "Roma".into(),
            province: "rm".into(),
            mobile: Some("333 123 4567".into()),
            email: Some(" Mario.Rossi@Example.it ".into()),
            pec: None,
            first_half_channel: "sms".into(),
            requester: None,
            without_italian_id_document: false,
        }
    }

    #[test]
    fn a_good_form_parses_with_contacts_normalised() {
        let d = form().parse().unwrap();
        assert_eq!(d.mobile.as_deref(), Some("+393331234567"));
        assert_eq!(d.email.as_deref(), Some("mario.rossi@example.it"));
        assert_eq!(d.province, "RM");
        assert_eq!(d.first_half_recipient(), Some("+393331234567"));
        assert_eq!(d.requester, RequesterData::Holder);
    }

    #[test]
    fn every_bad_field_is_reported_in_italian() {
        let f = RequestForm {
            codice_fiscale: "XYZ".into(),
            given_name: " ".into(),
            birth_date: "10/12/1985".into(),
            mobile: Some("12".into()),
            first_half_channel: "pec".into(),
            ..form()
        };
        let errors = f.parse().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "codice_fiscale",
                "given_name",
                "birth_date",
                "mobile",
                "first_half_channel"
            ]
        );
        assert!(errors.iter().all(|e| !e.reason.is_empty()));
    }

    #[test]
    fn a_delegate_is_a_third_party() {
        let f = RequestForm {
            requester: Some(RequesterForm {
                codice_fiscale: "VRDGPP60A01H501X".into(),
                role: "delegato".into(),
                reference: None,
            }),
            ..form()
        };
        assert!(matches!(
            f.parse().unwrap().requester,
            RequesterData::ThirdParty { .. }
        ));
    }

    #[test]
    fn references_look_right() {
        let r = new_reference().unwrap();
        assert_eq!(r.len(), 13);
        assert!(r.starts_with("PIN-") && r.chars().nth(8) == Some('-'));
    }
}
