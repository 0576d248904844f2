//! (stub until wip-resp lands)
use super::dsig::VerifyingKey;
use crate::login::Level;
use chrono::{DateTime, NaiveDate, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Minimum,
}

pub struct Expected<'a> {
    pub request_id: &'a str,
    pub request_issue_instant: DateTime<Utc>,
    pub idp_entity_id: &'a str,
    pub idp_keys: &'a [VerifyingKey],
    pub acs_url: &'a str,
    pub sp_entity_id: &'a str,
    pub requested_level: Level,
    pub comparison: Comparison,
    pub required_attributes: &'a [&'a str],
    pub now: DateTime<Utc>,
    pub skew: chrono::Duration,
    pub max_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct SpidLogin {
    pub level: Level,
    pub codice_fiscale: String,
    pub fiscal_number_raw: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub email: Option<String>,
    pub mobile_phone: Option<String>,
    pub pec: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub name_id: String,
    pub name_qualifier: String,
    pub session_index: Option<String>,
    pub assertion_id: String,
    pub assertion_not_on_or_after: DateTime<Utc>,
    pub response_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("stub")]
    Stub,
}

impl ResponseError {
    pub fn code(&self) -> &'static str {
        "stub"
    }
    pub fn spid_error_code(&self) -> Option<u8> {
        None
    }
}

pub fn courtesy_message_it(_code: u8) -> Option<&'static str> {
    None
}

pub fn in_response_to(_b64: &str, _max_bytes: usize) -> Result<String, ResponseError> {
    Err(ResponseError::Stub)
}

pub fn validate(_b64: &str, _expected: &Expected<'_>) -> Result<SpidLogin, ResponseError> {
    Err(ResponseError::Stub)
}
