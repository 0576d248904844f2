//! SPID: procura as a SAML 2.0 service provider under the AgID technical rules.
//!
//! - [`xml`]: the hardened parser (no DTD; size and shape limits checked in one linear pass
//!   before parsing) and escaping for the XML we write; [`form`]: the HTTP-POST binding's form.
//! - [`c14n`] and [`dsig`]: exclusive canonicalization and XML signatures (enveloped,
//!   RSA-SHA256), plus the signed query of the HTTP-Redirect binding.
//! - [`time`]: xs:dateTime as SAML writes it (any fraction, `Z` or an offset).
//! - [`certificate`]: the SP certificate (Avviso 29 v3 subject).
//! - [`sp_metadata`]: the signed SP metadata, served as exact bytes.
//! - [`idp`] and [`registry`]: IdP metadata, the AgID aggregate and its last-known-good copy.
//! - [`authn_request`], [`store`]: AuthnRequests and their state in the database.
//! - [`response`]: every check on a Response, on the signed part only.
//! - [`logout`]: Single Logout in both directions.
//! - [`pool`]: the threads every piece of SAML work runs on, bounded and at a lower priority.
//! - [`profile`]: what differs between SPID and CIE SAML, which run on this same code
//!   (the CIE service provider is put together by [`crate::cie::saml`]).

pub mod authn_request;
pub mod c14n;
pub mod certificate;
pub mod dsig;
pub mod form;
pub mod idp;
pub mod logout;
pub mod pool;
pub mod profile;
pub mod registry;
pub mod response;
pub mod sp_descriptor;
pub mod sp_metadata;
pub mod store;
pub mod time;
pub mod xml;

/// SAML namespaces.
pub mod ns {
    pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
    pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
    pub const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
    pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    pub const SPID: &str = "https://spid.gov.it/saml-extensions";
    pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
    pub const XS: &str = "http://www.w3.org/2001/XMLSchema";
}

/// Fixed SAML URIs.
pub mod uri {
    pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
    pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
    pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
    pub const NAMEID_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
    pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
    pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
    pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
    pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
    pub const STATUS_PARTIAL_LOGOUT: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";
    pub const ATTRNAME_BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
}

use crate::config::{Config, SpidBinding};
use crate::login::Level;
use anyhow::Context;
use profile::Profile;
use std::sync::Arc;

impl SpidBinding {
    /// The binding's SAML URI, as metadata name it.
    pub fn uri(self) -> &'static str {
        match self {
            SpidBinding::Redirect => uri::BINDING_REDIRECT,
            SpidBinding::Post => uri::BINDING_POST,
        }
    }

    pub fn other(self) -> Self {
        match self {
            SpidBinding::Redirect => SpidBinding::Post,
            SpidBinding::Post => SpidBinding::Redirect,
        }
    }
}

/// procura as a SAML service provider of one federation (SPID or CIE): its identity, its
/// signing key, the exact signed metadata bytes it serves, and the identity providers it
/// trusts.
pub struct ServiceProvider {
    pub profile: Profile,
    /// How AuthnRequests and logout messages travel.
    pub binding: SpidBinding,
    /// The level asked for when the relying party asks for none (see [`Profile::level`]).
    pub default_level: Level,
    /// The AttributeConsumingService index asked for.
    pub attribute_set: u16,
    pub entity_id: String,
    pub acs_url: String,
    pub slo_url: String,
    pub key: dsig::SigningKey,
    /// Served as is: any change after signing would break the signature.
    pub metadata: Vec<u8>,
    pub registry: registry::IdpRegistry,
    /// What an incoming SAML message may be (size and shape).
    pub message_limits: xml::Limits,
    /// Where SAML work runs (anyone can send SAML: its cost stays there); one pool for
    /// SPID and CIE.
    pub pool: Arc<pool::SamlPool>,
}

impl ServiceProvider {
    /// Loads (in development, creates) the SP key and certificate and signs the metadata.
    /// The registry starts empty; the caller fills it from the database.
    pub fn load(config: &Config, pool: Arc<pool::SamlPool>) -> anyhow::Result<Self> {
        let key = certificate::load_or_generate(config).context("SPID certificate")?;
        let metadata = sp_metadata::build(config, &key).context("SPID metadata")?;
        let spid = &config.spid;
        Ok(Self {
            profile: Profile::Spid,
            binding: spid.binding,
            default_level: spid.default_level,
            attribute_set: spid.attribute_set,
            entity_id: sp_metadata::entity_id(config),
            acs_url: sp_metadata::acs_url(config),
            slo_url: sp_metadata::slo_url(config),
            key,
            metadata,
            registry: registry::IdpRegistry::new(xml::Limits::for_metadata(spid)),
            message_limits: xml::Limits::for_messages(spid),
            pool,
        })
    }
}

/// The SAML threads (`spid.workers`, `spid.queue`, `spid.workers_nice`), shared by the SPID
/// and the CIE service providers.
pub fn saml_pool(config: &Config) -> anyhow::Result<Arc<pool::SamlPool>> {
    let spid = &config.spid;
    Ok(Arc::new(
        pool::SamlPool::new(spid.workers, spid.queue, spid.workers_nice)
            .context("SAML worker threads")?,
    ))
}

/// The SPID background work of `serve`, every ten minutes (the first round at start): fetch
/// the IdP metadata sources again when the stored copy is older than
/// `spid.refresh_interval_secs` (or a source was never stored) — whichever instance gets there
/// first, the others then find it fresh — reload the IdPs from the database copy, and drop
/// expired SPID state.
pub async fn maintain(state: crate::AppState) {
    let providers: Vec<Arc<ServiceProvider>> = state
        .spid
        .iter()
        .chain(state.cie_saml.iter())
        .cloned()
        .collect();
    if providers.is_empty() {
        return;
    }
    let refresh_every = chrono::Duration::seconds(
        i64::try_from(state.config.spid.refresh_interval_secs.max(60)).unwrap_or(86_400),
    );
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        let now = state.clock.now();
        let (providers, config) = (providers.clone(), state.config.clone());
        let done = crate::db::run(&state.db, move |c| {
            let mut idps = 0;
            for sp in &providers {
                if profile_is_stale(c, &config, sp.profile, now - refresh_every)? {
                    // Failed sources are logged (with `alert`) by refresh; their last good
                    // copy stays.
                    registry::refresh_profile(c, &config, sp.profile, now)?;
                }
                idps += sp.registry.reload(c, now)?;
            }
            let purged = store::delete_expired(c, now)?;
            Ok::<_, registry::RegistryError>((idps, purged))
        })
        .await;
        match done {
            Ok((idps, purged)) => tracing::debug!(idps, purged, "SPID maintenance"),
            Err(e) => tracing::warn!(error = %e, "SPID maintenance failed"),
        }
    }
}

/// Whether a configured source was never stored, or was last stored before `fresh_since`.
pub fn registry_is_stale(
    conn: &mut crate::db::DbConn,
    config: &Config,
    fresh_since: chrono::DateTime<chrono::Utc>,
) -> Result<bool, registry::RegistryError> {
    profile_is_stale(conn, config, Profile::Spid, fresh_since)
}

/// [`registry_is_stale`] for the IdPs of `profile`.
pub fn profile_is_stale(
    conn: &mut crate::db::DbConn,
    config: &Config,
    profile: Profile,
    fresh_since: chrono::DateTime<chrono::Utc>,
) -> Result<bool, registry::RegistryError> {
    let stored = registry::stored_sources_of(conn, profile)?;
    let configured = match profile {
        Profile::Spid => config
            .spid
            .registry
            .iter()
            .chain(config.spid.idp_metadata.iter())
            .filter(|s| !s.trim().is_empty())
            .count(),
        Profile::Cie => config
            .cie
            .saml
            .idp_metadata
            .iter()
            .filter(|s| !s.trim().is_empty())
            .count(),
    };
    Ok(stored.len() < configured
        || stored
            .iter()
            .any(|s| s.fetched_at < fresh_since.naive_utc()))
}
