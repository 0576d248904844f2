//! (stub until wip-meta lands)
use super::idp::IdentityProvider;
use crate::config::Config;
use crate::db::{DbConn, DbError};
use chrono::{DateTime, Utc};
use std::sync::Arc;
#[derive(Clone, Default)]
pub struct IdpRegistry {}
impl IdpRegistry {
    pub fn find(&self, _entity_id: &str) -> Option<Arc<IdentityProvider>> {
        None
    }
    pub fn list(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    pub fn load_from_db(&self, _conn: &mut DbConn) -> Result<usize, DbError> {
        Ok(0)
    }
}
pub fn refresh(_conn: &mut DbConn, _config: &Config, _now: DateTime<Utc>) -> Result<(), DbError> {
    Ok(())
}
