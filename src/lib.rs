//! procura: identity and delegation-authorization service for INPS online services.
//!
//! Map of the crate:
//! - [`config`]: configuration (file + `PROCURA_*` environment), secrets redacted.
//! - [`db`]: the one place that knows SQLite and PostgreSQL apart; pool, migrations,
//!   the async→blocking bridge [`db::run`].
//! - [`person`]: the codice fiscale and the persons registry (with its CSV import).
//! - [`pin`]: the PIN credential, its issuance channels and the contact-centre queue.
//! - [`notify`]: the transactional outbox and the channels that deliver its messages.
//! - [`operator`]: contact-centre, desk and web-meeting operators and their roles.
//! - [`delegation`]: delegations and legal representation, and who may act for whom.
//! - [`booking`]: desks, calendars, slots and bookings ("Le mie prenotazioni").
//! - [`webmeeting`]: the web-meeting desk for delegations, on top of `booking`.
//! - [`audit`]: the append-only, hash-chained audit log.
//! - [`cns`]: CNS smart-card login (TLS client certificates, trust list, OCSP/CRL).
//! - [`oauth`]: the OpenID Connect provider face; for now its signing keys.
//! - [`cie`]: CIE login as a relying party of the SPID/CIE OpenID Connect Federation.
//! - [`http`]: every route in one list, thin handlers, middleware.
//! - [`web`]: HTML for people: templates, citizen pages, static assets.
//! - [`error`]: `ApiError` → RFC 9457 problem+json.
//! - [`clock`]: the injected clock.
//! - [`allocator`]: glibc malloc settings that bound memory kept after load.
//! - [`cli`]: the `procura` command line.

pub mod allocator;
pub mod audit;
pub mod booking;
pub mod cie;
pub mod cli;
pub mod clock;
pub mod cns;
pub mod config;
pub mod db;
pub mod delegation;
pub mod demo;
pub mod error;
pub mod http;
pub mod login;
pub mod notify;
pub mod oauth;
pub mod operator;
pub mod password;
pub mod person;
pub mod pin;
pub mod rate_limit;
pub mod secret_file;
pub mod spid;
pub mod telemetry;
pub mod web;
pub mod webmeeting;
pub mod worker_pool;

use crate::audit::AuditKey;
use crate::clock::Clock;
use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::oauth::keys::{self, KeySet};
use crate::password::PasswordHasher;
use crate::rate_limit::RateLimiter;
use actix_web::HttpServer;
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;

/// Everything a request handler may need; cloned into each worker (all fields are shared).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: db::Pool,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<KeySet>,
    pub audit_key: Arc<AuditKey>,
    /// Group commit for the audit records of requests that write nothing else (access
    /// checks): one writer thread per instance (see [`audit::batch`]).
    pub audit_batch: Arc<audit::batch::Appender>,
    /// Successful client-secret authentications, remembered `oauth.client_cache_secs`.
    pub client_cache: Arc<oauth::client_cache::ClientCache>,
    /// Statements the pool's connections have sent, and prepared into their caches.
    pub db_statements: Arc<db::statements::StatementCounts>,
    /// Access tokens already verified, by their hash (`oauth.jwt_cache_*`).
    pub verified_tokens: Arc<oauth::jwt_cache::VerifiedTokens>,
    pub metrics: Arc<Metrics>,
    /// argon2id for PINs, off the async workers, at most one hash per core at a time.
    pub hasher: Arc<PasswordHasher>,
    /// Per-address limit on PIN login attempts (per instance).
    pub pin_limiter: Arc<RateLimiter>,
    /// Per-address limit on online PIN requests (per instance).
    pub request_limiter: Arc<RateLimiter>,
    /// Seals PIN halves while they wait in the outbox.
    pub outbox_key: Arc<notify::OutboxKey>,
    /// The SPID service provider, when `spid` is among the login methods.
    pub spid: Option<Arc<spid::ServiceProvider>>,
    /// The pages' static files (Bootstrap Italia from npm, procura's stylesheet).
    pub assets: Arc<web::assets::Assets>,
    /// CNS login (trust anchors, CRL cache, proxy addresses), when `cns` is a login method.
    pub cns: Option<Arc<cns::Cns>>,
    /// Per-address limit on guest bookings (no login), per instance.
    pub guest_booking_limiter: Arc<RateLimiter>,
    /// Per-address limit on calendar and free-slot look-ups (no login), per instance.
    pub calendar_limiter: Arc<RateLimiter>,
    /// The CIE OpenID Connect relying party, when `cie` is among the login methods and
    /// `cie.protocols` has `oidc`.
    pub cie: Option<Arc<cie::RelyingParty>>,
    /// The CIE SAML service provider, when `cie.protocols` has `saml`.
    pub cie_saml: Option<Arc<spid::ServiceProvider>>,
    /// Per-address limit on visits to `/cns/login` (per instance).
    pub cns_login_limiter: Arc<RateLimiter>,
    /// Per-address limit on visits to `/cie/login` (per instance).
    pub cie_login_limiter: Arc<RateLimiter>,
}

/// What `AppState::init` should do to the database before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Apply pending migrations (`serve` with `database.migrate_on_start`).
    Apply,
    /// Refuse to start while migrations are pending (the other commands).
    Require,
}

impl AppState {
    /// Opens the database, applies or checks migrations, and loads (in development,
    /// creates) the signing keys and the audit key.
    pub fn init(
        config: Config,
        clock: Arc<dyn Clock>,
        migrations: Migrations,
    ) -> anyhow::Result<Self> {
        for method in &config.login.methods {
            match login::Method::parse(method) {
                Some(m) if m.is_available() => {}
                Some(_) => anyhow::bail!(
                    "login method `{method}` is not available in this version of procura"
                ),
                None => anyhow::bail!(
                    "unknown login method `{method}` in login.methods (known: pin, spid, cie, cns)"
                ),
            }
        }
        booking::check_config(&config)?;
        for protocol in &config.cie.protocols {
            if !matches!(protocol.as_str(), "oidc" | "saml") {
                anyhow::bail!(
                    "unknown CIE protocol `{protocol}` in cie.protocols (known: oidc, saml)"
                );
            }
        }
        if config.login.methods.iter().any(|m| m == "cie") && config.cie.protocols.is_empty() {
            anyhow::bail!("cie is a login method but cie.protocols is empty (oidc, saml)");
        }
        // Each stored IdP metadata source belongs to one federation.
        if let Some(shared) = config.cie.saml.idp_metadata.iter().find(|s| {
            config.spid.idp_metadata.contains(s) || config.spid.registry.as_ref() == Some(*s)
        }) {
            anyhow::bail!("{shared} is both a SPID and a CIE SAML IdP metadata source");
        }
        let (pool, db_statements) = db::build_counted_pool(&config.database)
            .with_context(|| format!("database {}", redacted_url(&config)))?;
        {
            let mut conn = pool.get().context("database connection")?;
            match migrations {
                Migrations::Apply => {
                    for name in db::migrate::run_pending(&mut conn)? {
                        tracing::info!(migration = %name, "applied migration");
                    }
                }
                Migrations::Require => {
                    if db::migrate::has_pending(&mut conn)? {
                        anyhow::bail!(
                            "the database has pending migrations: run `procura migrate` first"
                        );
                    }
                }
            }
        }
        let (key_set, created) =
            keys::load_or_create_dev(&config.keys.dir, config.keys.generate_if_missing)?;
        if let Some(kid) = created {
            tracing::warn!(
                %kid,
                dir = %config.keys.dir.display(),
                "created a DEVELOPMENT signing key; provision real keys in production"
            );
        }
        let (audit_key, created) = AuditKey::load(&config, true)?;
        if created {
            tracing::warn!(
                dir = %config.keys.dir.display(),
                "created a DEVELOPMENT audit HMAC key; set audit.hmac_key in production"
            );
        }
        let (assets, missing) = web::assets::Assets::load(&config.web.assets_dir);
        if let Some(m) = missing {
            tracing::warn!("{m}");
        }
        let (outbox_key, created) = notify::OutboxKey::load(&config)?;
        if created {
            tracing::warn!(
                dir = %config.keys.dir.display(),
                "created a DEVELOPMENT outbox key; set notify.outbox_key in production"
            );
        }
        let wants_spid = config.login.methods.iter().any(|m| m == "spid");
        let wants_cie_saml = config.cie_offers("saml");
        let saml_pool = if wants_spid || wants_cie_saml {
            Some(spid::saml_pool(&config)?)
        } else {
            None
        };
        let load_idps = |sp: spid::ServiceProvider| -> anyhow::Result<Arc<spid::ServiceProvider>> {
            let mut conn = pool.get().context("database connection")?;
            // The IdPs come from the database copy every instance shares; the first instance
            // to start on an empty database fetches them.
            let now = clock.now();
            if sp.registry.reload(&mut conn, now)? == 0 {
                let report = spid::registry::refresh_profile(&mut conn, &config, sp.profile, now)?;
                if !report.is_complete() {
                    tracing::warn!(
                        failed = report.failed.len(),
                        profile = sp.profile.as_str(),
                        "some SAML IdP metadata sources failed"
                    );
                }
                sp.registry.reload(&mut conn, now)?;
            }
            Ok(Arc::new(sp))
        };
        let spid = match (&saml_pool, wants_spid) {
            (Some(threads), true) => Some(load_idps(spid::ServiceProvider::load(
                &config,
                Arc::clone(threads),
            )?)?),
            _ => None,
        };
        let cie_saml = match (&saml_pool, wants_cie_saml) {
            (Some(threads), true) => Some(load_idps(cie::saml::service_provider(
                &config,
                Arc::clone(threads),
            )?)?),
            _ => None,
        };
        let cns = if config.login.methods.iter().any(|m| m == "cns") {
            Some(Arc::new(cns::Cns::load(&config, clock.now())?))
        } else {
            None
        };
        let cie = if config.cie_offers("oidc") {
            let (rp, created) = cie::RelyingParty::load(&config)?;
            for role in created {
                tracing::warn!(
                    set = role.dir_name(),
                    dir = %config.cie_keys_dir().display(),
                    "created a DEVELOPMENT CIE key; provision real keys in production"
                );
            }
            Some(Arc::new(rp))
        } else {
            None
        };
        let audit_batch = audit::batch::Appender::start(pool.clone(), audit_key.clone())
            .context("starting the audit writer thread")?;
        let client_cache = oauth::client_cache::ClientCache::new(std::time::Duration::from_secs(
            config.oauth.client_cache_secs,
        ));
        let verified_tokens = oauth::jwt_cache::VerifiedTokens::new(
            config.oauth.jwt_cache_entries,
            config.oauth.jwt_cache_max_bytes,
        );
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let config_pin_rate = config.pin.attempts_per_minute_per_address;
        let hasher_nice = config.pin.hasher_nice;
        Ok(Self {
            request_limiter: Arc::new(RateLimiter::new(
                config.issuance.online_requests_per_minute_per_address,
            )),
            guest_booking_limiter: Arc::new(RateLimiter::new(
                config.booking.guest_requests_per_minute_per_address,
            )),
            calendar_limiter: Arc::new(RateLimiter::new(
                config.booking.calendar_requests_per_minute_per_address,
            )),
            cns_login_limiter: Arc::new(RateLimiter::new(config.cns.logins_per_minute_per_address)),
            cie_login_limiter: Arc::new(RateLimiter::new(config.cie.logins_per_minute_per_address)),
            config: Arc::new(config),
            db: pool,
            db_statements,
            clock,
            keys: Arc::new(key_set),
            audit_batch: Arc::new(audit_batch),
            client_cache: Arc::new(client_cache),
            verified_tokens: Arc::new(verified_tokens),
            audit_key: Arc::new(audit_key),
            metrics: Arc::new(Metrics::new()?),
            hasher: Arc::new(PasswordHasher::new(cores, hasher_nice)?),
            pin_limiter: Arc::new(RateLimiter::new(config_pin_rate)),
            outbox_key: Arc::new(outbox_key),
            spid,
            assets: Arc::new(assets),
            cns,
            cie,
            cie_saml,
        })
    }
}

fn redacted_url(config: &Config) -> String {
    db::DatabaseUrl::parse(config.database.url.expose())
        .map_or_else(|_| "(unparsable URL)".to_owned(), |u| u.to_string())
}

/// The HTTP server, bound and ready to run.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    /// The CNS TLS listener (`cns.listen`), when procura terminates the CNS TLS itself.
    cns: Option<(u16, actix_web::dev::Server)>,
}

impl Application {
    /// Binds `server.bind` (port 0 picks a free port) with the given state.
    pub fn build(state: AppState) -> anyhow::Result<Self> {
        let bind = state.config.server.bind.clone();
        let listener =
            TcpListener::bind(&bind).with_context(|| format!("cannot listen on {bind}"))?;
        Self::build_on(state, listener)
    }

    /// Serves on a listener bound beforehand (tests bind first to learn the port, which the
    /// issuer URL must name).
    pub fn build_on(state: AppState, listener: TcpListener) -> anyhow::Result<Self> {
        let cns = match &state.cns {
            Some(_) if !state.config.cns.listen.trim().is_empty() => {
                let bind = state.config.cns.listen.clone();
                Some(
                    TcpListener::bind(&bind)
                        .with_context(|| format!("cannot listen on {bind} (cns.listen)"))?,
                )
            }
            _ => None,
        };
        Self::build_on_listeners(state, listener, cns)
    }

    /// [`Self::build_on`] with the CNS listener bound beforehand too (tests learn its port).
    pub fn build_on_listeners(
        state: AppState,
        listener: TcpListener,
        cns_listener: Option<TcpListener>,
    ) -> anyhow::Result<Self> {
        let cns = match (cns_listener, &state.cns) {
            (Some(l), Some(_)) => Some(Self::cns_server(state.clone(), l)?),
            _ => None,
        };
        let bind = listener.local_addr()?.to_string();
        let port = listener.local_addr()?.port();
        let limits = http::server::Limits::from_config(&state.config.server);
        let server = http::server::main_listener(state, listener)?;
        tracing::info!(
            %bind,
            port,
            workers = limits.workers,
            blocking_threads_per_worker = limits.blocking_threads_per_worker,
            "procura listening"
        );
        Ok(Self { port, server, cns })
    }

    /// The CNS host's own TLS listener (OpenSSL, client certificate asked for): only the
    /// `/cns/*` routes, on a server of its own.
    fn cns_server(
        state: AppState,
        listener: TcpListener,
    ) -> anyhow::Result<(u16, actix_web::dev::Server)> {
        let port = listener.local_addr()?.port();
        let anchors = state
            .cns
            .as_ref()
            .map(|c| c.anchors())
            .context("CNS is not enabled")?;
        let acceptor = cns::listener::acceptor(&state.config.cns, &anchors)?;
        let workers = match state.config.server.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let limits = http::server::Limits::from_config(&state.config.server);
        let server = HttpServer::new(move || http::cns_listener_app(state.clone()))
            .workers(workers)
            .worker_max_blocking_threads(limits.blocking_threads_per_worker)
            .client_request_timeout(limits.header_timeout)
            .shutdown_timeout(limits.shutdown_timeout.as_secs())
            .on_connect(cns::listener::on_connect)
            .listen_openssl(listener, acceptor)?
            .run();
        tracing::info!(port, "procura CNS listener (TLS, client certificates)");
        Ok((port, server))
    }

    /// The port of the CNS TLS listener, when there is one.
    pub fn cns_port(&self) -> Option<u16> {
        self.cns.as_ref().map(|(p, _)| *p)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The main listener's handle, to stop it (`stop(true)`: requests in progress get
    /// `server.shutdown_timeout_secs`, as at SIGTERM).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.cns {
            Some((_, cns)) => futures_util::future::try_join(self.server, cns)
                .await
                .map(|_| ()),
            None => self.server.await,
        }
    }
}
