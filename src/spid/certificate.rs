//! (stub until wip-meta lands)
use crate::config::Config;
pub fn load_or_generate(_config: &Config) -> anyhow::Result<super::dsig::SigningKey> {
    anyhow::bail!("not yet")
}
