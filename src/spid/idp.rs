//! (stub until wip-meta lands)
use super::dsig::VerifyingKey;
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub binding: String,
    pub location: String,
    pub response_location: Option<String>,
}
#[derive(Debug, Clone)]
pub struct IdentityProvider {
    pub entity_id: String,
    pub display_name: String,
    pub sso: Vec<Endpoint>,
    pub slo: Vec<Endpoint>,
    pub keys: Vec<VerifyingKey>,
}
