//! (stub until wip-meta lands)
use crate::config::Config;
pub fn entity_id(config: &Config) -> String {
    config.spid.entity_id.clone().unwrap_or_else(|| format!("{}/spid/metadata", config.oauth.issuer))
}
pub fn acs_url(config: &Config) -> String {
    format!("{}/spid/acs", config.oauth.issuer)
}
pub fn slo_url(config: &Config) -> String {
    format!("{}/spid/slo", config.oauth.issuer)
}
pub fn build(_config: &Config, _key: &super::dsig::SigningKey) -> anyhow::Result<Vec<u8>> {
    anyhow::bail!("not yet")
}
