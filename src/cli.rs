//! The `procura` command line.

use crate::audit::AuditKey;
use crate::audit::{self, Party};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::oauth::client::{self, AuthMethod, ClientError, GrantType, NewClient};
use crate::oauth::scope::ScopeSet;
use crate::person::import::{self, ImportError};
use crate::{AppState, Application, Migrations, db, oauth, telemetry};
use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// procura: identity and delegation-authorization service for INPS online services.
///
/// Configuration comes from procura.toml (if present, or the file given with --config)
/// and PROCURA_* environment variables (PROCURA_DATABASE__URL sets database.url).
/// With no configuration at all it uses an embedded SQLite database under ./data/.
#[derive(Debug, Parser)]
#[command(name = "procura", version, about, long_about)]
pub struct Cli {
    /// Configuration file (default: ./procura.toml when it exists).
    #[arg(long, global = true, env = "PROCURA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (applies pending migrations first, unless configured not to).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the persons registry.
    #[command(subcommand)]
    Persons(PersonsCommand),
    /// Manage the relying parties (OpenID Connect clients) allowed to use procura.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage PIN credentials.
    #[command(subcommand)]
    Pin(PinCommand),
    /// Manage operators (contact centre, branch desks, web meeting) and their roles.
    #[command(subcommand)]
    Operators(OperatorsCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Send the messages waiting in the notification outbox.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// SPID service provider: certificate and identity providers.
    #[command(subcommand)]
    Spid(SpidCommand),
    /// Load fictitious people, clients, operators, a delegation and a guardianship, print
    /// their initial PINs once, and print what to open and type next. Development only.
    Demo,
}

#[derive(Debug, Subcommand)]
pub enum SpidCommand {
    /// Create a DEVELOPMENT/TEST SP key and self-signed certificate with the Avviso 29 v3
    /// subject (CN, O, uri = entityID, organizationIdentifier = PA:IT-<ipa_code>, C, L),
    /// written to spid.private_key (mode 0600) and spid.certificate.
    ///
    /// Production uses a certificate per Avviso 29 from a qualified provider, or one
    /// self-signed by the public body, registered with AgID together with the metadata.
    Certificate {
        /// Days the certificate is valid.
        #[arg(long, default_value_t = crate::spid::certificate::DEFAULT_DAYS)]
        days: u32,
        /// Replace an existing key and certificate (the metadata changes: AgID must get it).
        #[arg(long)]
        force: bool,
    },
    /// Print the signed SP metadata, byte for byte as `/spid/metadata` serves it (what AgID
    /// is sent at registration). Makes the development certificate first when allowed.
    Metadata,
    /// List the identity providers in the stored registry (as every instance sees them).
    Idps {
        /// First fetch every configured source again (spid.registry, spid.idp_metadata)
        /// and store what verifies; a source that fails keeps its last good copy.
        #[arg(long)]
        refresh: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send the due messages once (or, with --loop, every notify.dispatch_interval_ms until
    /// stopped), as `serve` does in the background. Safe beside other dispatchers.
    Dispatch {
        /// Keep dispatching until the process is stopped.
        #[arg(long = "loop")]
        repeat: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create the first ES256 signing key in keys.dir (refused when keys exist: use rotate).
    Generate,
    /// Start a key rotation: create a new signing key, published in the JWKS at once and
    /// signing from keys.rotation_delay_secs later (so verifiers learn it first).
    Rotate,
    /// Create the first key of a CIE relying-party key set in cie.keys_dir (refused when the
    /// set has keys: use cie-rotate).
    CieGenerate {
        /// Which set: the federation key signs the entity configuration.
        #[arg(long, value_enum, default_value = "federation")]
        set: CieKeySet,
    },
    /// Start a rotation of a CIE key set: the new key is published in the entity
    /// configuration at once and used from keys.rotation_delay_secs later. For the
    /// federation set, give the new public key to the trust anchor (cie-jwks) before then.
    CieRotate {
        #[arg(long, value_enum, default_value = "federation")]
        set: CieKeySet,
    },
    /// Print the public keys of a CIE key set as a JWKS (what the trust anchor's onboarding
    /// asks for: the federation keys).
    CieJwks {
        #[arg(long, value_enum, default_value = "federation")]
        set: CieKeySet,
    },
}

/// The CIE relying-party key sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CieKeySet {
    /// Signs procura's entity configuration (RSA).
    Federation,
    /// Signs request objects and private_key_jwt client assertions (RSA).
    RpSigning,
    /// Decrypts ID tokens and userinfo sent with RSA-OAEP(-256).
    RpEncryption,
    /// Decrypts ID tokens and userinfo sent with ECDH-ES (P-256).
    RpEncryptionEc,
}

impl From<CieKeySet> for crate::cie::keys::Role {
    fn from(s: CieKeySet) -> Self {
        use crate::cie::keys::Role;
        match s {
            CieKeySet::Federation => Role::Federation,
            CieKeySet::RpSigning => Role::Signing,
            CieKeySet::RpEncryption => Role::Encryption,
            CieKeySet::RpEncryptionEc => Role::EncryptionEc,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Give a person in the registry a new initial 16-character PIN and print it once.
    ///
    /// For development and support, beside the issuance channels (online request, desk,
    /// contact centre): the person logs in with it once and must then choose a personal
    /// 8-character PIN. Any previous PIN of the person stops working. Audited.
    Set {
        /// The person's codice fiscale.
        codice_fiscale: String,
        /// `ordinario` (read-only services) or `dispositivo` (may apply for benefits).
        #[arg(long = "type", default_value = "ordinario")]
        pin_type: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Make a person an operator, active at once. Audited.
    ///
    /// The person logs in through the login broker like anyone else; a client allowed the
    /// `operator` scope then gets tokens carrying their roles.
    ///
    /// Example:
    ///
    ///   procura operators add --codice-fiscale RSSMRA85T10A562S --name "Mario Rossi"
    ///     --role sportello --role admin --office "Roma Centro"
    #[command(verbatim_doc_comment)]
    Add {
        /// The person's codice fiscale.
        #[arg(long, value_name = "CF")]
        codice_fiscale: String,
        /// Name shown to colleagues and in listings.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// A role: sportello, contact_center, web_meeting or admin. Repeat for several.
        #[arg(long = "role", value_name = "ROLE", required = true)]
        roles: Vec<String>,
        /// The INPS office (sede) the operator works at.
        #[arg(long, value_name = "SEDE")]
        office: Option<String>,
    },
    /// List operators, active and disabled (codici fiscali masked).
    List,
    /// Disable an operator: their operator access ends at once; the record stays. Audited.
    Disable {
        /// The operator id (see `operators list`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client. For a `basic` client the generated secret is printed once.
    ///
    /// Examples:
    ///
    ///   procura clients add --id myinps-web --name "MyINPS web" --type public
    ///     --redirect-uri https://www.inps.it/myinps/callback
    ///     --post-logout-redirect-uri https://www.inps.it/
    ///     --scope "openid profile inps:read" --grant authorization_code --grant refresh_token
    ///
    ///   procura clients add --id pensions-batch --name "Pensions batch" --type private-key-jwt
    ///     --jwks-file pensions-batch.jwks.json --scope inps:read --grant client_credentials
    #[command(verbatim_doc_comment)]
    Add(ClientsAdd),
    /// List the registered clients.
    List,
    /// Remove a client, with its pending logins, grants and refresh tokens.
    Remove {
        /// The client id.
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct ClientsAdd {
    /// Client id: 3 to 64 letters, digits, `.`, `_` or `-`.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// Name shown to people on the login and consent pages.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// How the client authenticates at the token endpoint.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub client_type: ClientType,
    /// A redirect URI (exact match; https, or http on 127.0.0.1/[::1]/localhost for
    /// development). Repeat for several. Required with the authorization_code grant.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Where the client may be sent back after logout (exact match). Repeat for several.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may ask for, space-separated; may be repeated.
    /// Known: openid, profile, inps:read, inps:apply, delegations:read, delegations:write,
    /// credentials:write, operator, access:check.
    #[arg(long = "scope", value_name = "SCOPES", required = true)]
    pub scopes: Vec<String>,
    /// A grant type the client may use; repeat (or separate with commas) for several.
    #[arg(
        long = "grant",
        value_enum,
        value_name = "GRANT",
        required = true,
        value_delimiter = ','
    )]
    pub grants: Vec<CliGrant>,
    /// JSON Web Key Set with the client's PUBLIC signing keys (private-key-jwt clients):
    /// EC P-256 (ES256) or RSA of at least 2048 bits (RS256, PS256).
    #[arg(long = "jwks-file", value_name = "FILE")]
    pub jwks_file: Option<PathBuf>,
}

/// How a client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientType {
    /// No secret (browser or mobile app); authorization code with PKCE only.
    Public,
    /// client_secret_basic: procura generates a secret, sent with HTTP Basic.
    Basic,
    /// private_key_jwt: JWTs signed with a key registered with --jwks-file.
    PrivateKeyJwt,
}

impl From<ClientType> for AuthMethod {
    fn from(t: ClientType) -> Self {
        match t {
            ClientType::Public => AuthMethod::None,
            ClientType::Basic => AuthMethod::ClientSecretBasic,
            ClientType::PrivateKeyJwt => AuthMethod::PrivateKeyJwt,
        }
    }
}

/// A grant type, as named in OAuth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CliGrant {
    /// Logins through the browser (OpenID Connect authorization code flow with PKCE).
    #[value(name = "authorization_code")]
    AuthorizationCode,
    /// Refresh tokens for logins (needs authorization_code).
    #[value(name = "refresh_token")]
    RefreshToken,
    /// The client acting on its own behalf (confidential clients only).
    #[value(name = "client_credentials")]
    ClientCredentials,
    /// RFC 8693 token exchange: a delegate's token for one acting on behalf of a delegator
    /// (needs authorization_code).
    #[value(
        name = "urn:ietf:params:oauth:grant-type:token-exchange",
        alias = "token_exchange"
    )]
    TokenExchange,
}

impl From<CliGrant> for GrantType {
    fn from(g: CliGrant) -> Self {
        match g {
            CliGrant::AuthorizationCode => GrantType::AuthorizationCode,
            CliGrant::RefreshToken => GrantType::RefreshToken,
            CliGrant::ClientCredentials => GrantType::ClientCredentials,
            CliGrant::TokenExchange => GrantType::TokenExchange,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PersonsCommand {
    /// Import (insert or update) persons from a CSV file, all or nothing.
    ///
    /// Columns, by header name in any order, delimiter `,` or `;`:
    /// codice_fiscale, cognome, nome, data_nascita (YYYY-MM-DD or DD/MM/YYYY), sesso (M/F),
    /// indirizzo, cap, comune, provincia (EE abroad), and optionally cellulare, email, pec.
    Import {
        /// The CSV file (UTF-8).
        file: PathBuf,
    },
    /// Record that PARENT is a parent of CHILD (the family unit checked before a parent
    /// registers a delegation for a minor online; stands in for the ANPR check). Audited.
    Link {
        /// The parent's codice fiscale.
        #[arg(long)]
        parent: String,
        /// The child's codice fiscale.
        #[arg(long)]
        child: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain, and that the log holds every signed checkpoint; exits 1
    /// naming the first broken record or failing checkpoint.
    Verify {
        /// Directory of signed checkpoints (`audit-checkpoint-*.jws`) to check the log
        /// against; by default `audit.checkpoint_dir` when it is set.
        #[arg(long, value_name = "DIR")]
        checkpoints: Option<PathBuf>,
    },
}

/// The `--config` given, to repeat it in the commands procura tells people to run.
static CONFIG_ARGUMENT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

pub fn run(cli: Cli) -> ExitCode {
    let _ = CONFIG_ARGUMENT.set(cli.config.clone());
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log);
    let result = match cli.command {
        Command::Serve => serve(config),
        Command::Migrate => migrate(&config),
        Command::Keys(KeysCommand::Generate) => keys_generate(&config),
        Command::Keys(KeysCommand::Rotate) => keys_rotate(&config),
        Command::Keys(KeysCommand::CieGenerate { set }) => keys_cie_generate(&config, set.into()),
        Command::Keys(KeysCommand::CieRotate { set }) => keys_cie_rotate(&config, set.into()),
        Command::Keys(KeysCommand::CieJwks { set }) => keys_cie_jwks(&config, set.into()),
        Command::Clients(ClientsCommand::Add(args)) => clients_add(&config, args),
        Command::Clients(ClientsCommand::List) => clients_list(&config),
        Command::Clients(ClientsCommand::Remove { id }) => clients_remove(&config, &id),
        Command::Pin(PinCommand::Set {
            codice_fiscale,
            pin_type,
        }) => pin_set(config, &codice_fiscale, &pin_type),
        Command::Persons(PersonsCommand::Import { file }) => persons_import(config, &file),
        Command::Persons(PersonsCommand::Link { parent, child }) => {
            persons_link(&config, &parent, &child)
        }
        Command::Operators(cmd) => operators(&config, cmd),
        Command::Audit(AuditCommand::Verify { checkpoints }) => audit_verify(config, checkpoints),
        Command::Notify(NotifyCommand::Dispatch { repeat }) => notify_dispatch(config, repeat),
        Command::Spid(SpidCommand::Certificate { days, force }) => {
            spid_certificate(&config, days, force)
        }
        Command::Spid(SpidCommand::Idps { refresh }) => spid_idps(&config, refresh),
        Command::Spid(SpidCommand::Metadata) => spid_metadata(&config),
        Command::Demo => demo(config),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let migrations = migrations_policy(&config);
    let state = AppState::init(config, Arc::new(SystemClock), migrations)?;
    actix_web::rt::System::new().block_on(async move {
        // `procura keys rotate` runs in another process: pick up its schedule.
        actix_web::rt::spawn(oauth::keys::reload_every(
            state.keys.clone(),
            std::time::Duration::from_secs(60),
        ));
        actix_web::rt::spawn(purge_periodically(state.clone()));
        actix_web::rt::spawn(expire_delegations_periodically(state.clone()));
        actix_web::rt::spawn(crate::booking::jobs::run_periodically(state.clone()));
        actix_web::rt::spawn(crate::spid::maintain(state.clone()));
        actix_web::rt::spawn(crate::cns::maintain(state.clone()));
        actix_web::rt::spawn(crate::cie::maintain(state.clone()));
        let dispatcher = Arc::new(crate::notify::Dispatcher::from_state(&state)?);
        actix_web::rt::spawn(crate::notify::dispatch::run_periodically(
            dispatcher,
            std::time::Duration::from_millis(state.config.notify.dispatch_interval_ms),
        ));
        let checkpoints = state.config.audit.checkpoint_dir.clone().map(|dir| {
            Arc::new(audit::checkpoint::Writer::new(
                state.db.clone(),
                state.keys.clone(),
                state.clock.clone(),
                dir,
            ))
        });
        if let Some(writer) = &checkpoints {
            actix_web::rt::spawn(
                writer
                    .clone()
                    .run_periodically(std::time::Duration::from_secs(
                        state.config.audit.checkpoint_interval_secs,
                    )),
            );
        }
        let served = Application::build(state)?.run_until_stopped().await;
        // The head as the service leaves it, whatever ended the serving.
        if let Some(writer) = &checkpoints {
            writer.write_logged().await;
        }
        served?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Deletes expired login flows, sessions, grants and the like every ten minutes.
async fn purge_periodically(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        let now = state.clock.now();
        match db::run(&state.db, move |c| oauth::cleanup::purge_expired(c, now)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "purged expired OAuth state"),
            Err(e) => tracing::warn!(error = %e, "purging expired OAuth state failed"),
        }
    }
}

/// Ends delegations past their end date or 18th birthday, and sends the notices before,
/// every `delegation.expiry_interval_secs`.
async fn expire_delegations_periodically(state: AppState) {
    let every = std::time::Duration::from_secs(state.config.delegation.expiry_interval_secs.max(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = state.clock.now();
        let s = state.clone();
        match db::run(&state.db, move |c| {
            crate::delegation::registry::expire_due(c, &s, now)
        })
        .await
        {
            Ok(r) if r.expired + r.noticed == 0 => {}
            Ok(r) => tracing::info!(
                expired = r.expired,
                noticed = r.noticed,
                "delegation expiry"
            ),
            Err(e) => tracing::warn!(error = %e, "delegation expiry failed"),
        }
    }
}

/// `procura demo`: loads the demo data and prints the steps to follow.
fn demo(config: Config) -> anyhow::Result<ExitCode> {
    use crate::demo::{self, GIULIA, MARIO, PEOPLE};
    let migrations = migrations_policy(&config);
    let state = AppState::init(config, Arc::new(SystemClock), migrations)?;
    let loaded = actix_web::rt::System::new()
        .block_on(async { demo::load(&state, cli_party(), state.clock.now()).await })?;
    let issuer = &state.config.oauth.issuer;
    let pin = |i: usize| loaded.initial_pins.get(i).map_or("", String::as_str);
    let (mario, giulia) = (&PEOPLE[MARIO], &PEOPLE[GIULIA]);
    println!("procura demo: fictitious people for development; nobody here is real.");
    println!(
        "Initial PINs are shown only now. Each works once, then asks for a personal PIN of 8 \
         letters and digits (at least one of each)."
    );
    println!();
    let header = ["CODICE FISCALE", "INITIAL PIN", "NAME", "PART"];
    let rows: Vec<[String; 4]> = PEOPLE
        .iter()
        .enumerate()
        .map(|(i, p)| {
            [
                p.codice_fiscale.to_owned(),
                pin(i).to_owned(),
                format!("{} {}", p.given_name, p.family_name),
                p.part.to_owned(),
            ]
        })
        .collect();
    print!("{}", table(&header, &rows));
    println!();
    println!(
        "Clients: {} (public, PKCE; redirect URI {}), {} (confidential, client_secret_basic; \
         access checks)",
        demo::PUBLIC_CLIENT,
        demo::PUBLIC_REDIRECT_URI,
        demo::SERVICE_CLIENT
    );
    println!(
        "client_secret of {}: {}",
        demo::SERVICE_CLIENT,
        loaded.service_secret
    );
    println!();
    let check = |subject: &str| {
        format!(
            "curl -s -u {}:{} -H 'content-type: application/json' -d \
             '{{\"actor\":\"{}\",\"subject\":\"{subject}\",\"scope\":\"inps:read\"}}' \
             {issuer}/v1/access/check",
            demo::SERVICE_CLIENT,
            loaded.service_secret,
            mario.codice_fiscale
        )
    };
    println!("Next:");
    println!("1. Start procura: ./scripts/run.sh (or target/release/procura serve).");
    println!(
        "2. Open {issuer}/area-personale and log in as {} {}: codice fiscale {}, PIN {}; \
         choose a personal PIN.",
        mario.given_name,
        mario.family_name,
        mario.codice_fiscale,
        pin(MARIO)
    );
    println!(
        "3. Open {issuer}/agisci-per-conto-di and choose {} {}: you act on her behalf.",
        giulia.given_name, giulia.family_name
    );
    println!("4. The access check answers {{\"allowed\":true}}:");
    println!("   {}", check(giulia.codice_fiscale));
    println!(
        "5. Log out ({issuer}/logout), log in as {} {} ({}, PIN {}), open \
         {issuer}/area-personale/deleghe and revoke the delegation to {} {}. The same check \
         now answers {{\"allowed\":false}}.",
        giulia.given_name,
        giulia.family_name,
        giulia.codice_fiscale,
        pin(GIULIA),
        mario.given_name,
        mario.family_name
    );
    println!(
        "Operators log in the same way; the operator API (/v1/operator/*) needs a client \
         with scope `operator` (see README.md, Operators)."
    );
    Ok(ExitCode::SUCCESS)
}

/// `procura persons link --parent CF --child CF`.
fn persons_link(config: &Config, parent: &str, child: &str) -> anyhow::Result<ExitCode> {
    use crate::person::CodiceFiscale;
    let parent = CodiceFiscale::parse(parent).map_err(|e| anyhow::anyhow!("--parent: {e}"))?;
    let child = CodiceFiscale::parse(child).map_err(|e| anyhow::anyhow!("--child: {e}"))?;
    let today = SystemClock.now().date_naive();
    let (parent_born, child_born) = (parent.birth_date(today), child.birth_date(today));
    if parent == child || parent_born >= child_born {
        anyhow::bail!(
            "{} (born {parent_born}) cannot be a parent of {} (born {child_born}): a parent is \
             born before the child",
            parent.masked(),
            child.masked()
        );
    }
    let mut conn = open_migrated(config)?;
    let audit_key = audit_key_for_writes(config)?;
    let added = crate::delegation::family::link(
        &mut conn,
        &audit_key,
        cli_party(),
        &parent,
        &child,
        SystemClock.now(),
    )?;
    if added {
        println!(
            "linked {} as a parent of {}",
            parent.masked(),
            child.masked()
        );
    } else {
        println!(
            "{} is already a parent of {}",
            parent.masked(),
            child.masked()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `procura notify dispatch [--loop]`: one round, or rounds until killed.
fn notify_dispatch(config: Config, repeat: bool) -> anyhow::Result<ExitCode> {
    let migrations = migrations_policy(&config);
    let state = AppState::init(config, Arc::new(SystemClock), migrations)?;
    let dispatcher = crate::notify::Dispatcher::from_state(&state)?;
    if repeat {
        let interval = std::time::Duration::from_millis(state.config.notify.dispatch_interval_ms);
        crate::notify::dispatch::run_blocking(&dispatcher, interval);
    }
    let r = dispatcher.dispatch_due()?;
    println!(
        "claimed {}, sent {}, to retry {}, failed {}",
        r.claimed, r.sent, r.retried, r.failed
    );
    Ok(ExitCode::SUCCESS)
}

fn pin_set(config: Config, codice_fiscale: &str, pin_type: &str) -> anyhow::Result<ExitCode> {
    use crate::person::CodiceFiscale;
    use crate::pin::{Holder, PinType, credential};
    let code = CodiceFiscale::parse(codice_fiscale).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pin_type = PinType::parse(pin_type)
        .ok_or_else(|| anyhow::anyhow!("--type must be ordinario or dispositivo"))?;
    let pin = crate::pin::new_initial_pin()?;
    let migrations = migrations_policy(&config);
    let state = AppState::init(config, Arc::new(SystemClock), migrations)?;
    actix_web::rt::System::new().block_on(async {
        credential::set_credential(
            &state.db,
            &state.hasher,
            &state.audit_key,
            &state.config.pin,
            &code,
            &pin,
            pin_type,
            Holder::Cittadino,
            true,
            cli_party(),
            state.clock.now(),
        )
        .await
    })?;
    println!(
        "initial PIN of {} ({}): {pin}",
        code.masked(),
        pin_type.as_str()
    );
    eprintln!("it is shown only now; it works once, to choose a personal PIN");
    Ok(ExitCode::SUCCESS)
}

fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let mut conn = db::connect(&config.database)?;
    let applied = db::migrate::run_pending(&mut conn)?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for name in applied {
        println!("applied {name}");
    }
    Ok(ExitCode::SUCCESS)
}

fn keys_generate(config: &Config) -> anyhow::Result<ExitCode> {
    let kid = oauth::keys::generate(&config.keys.dir)?;
    println!("created signing key {kid} in {}", config.keys.dir.display());
    Ok(ExitCode::SUCCESS)
}

fn rotation_delay(config: &Config) -> anyhow::Result<chrono::Duration> {
    i64::try_from(config.keys.rotation_delay_secs)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .context("keys.rotation_delay_secs is too large")
}

/// `procura keys cie-generate [--set S]`.
fn keys_cie_generate(config: &Config, role: crate::cie::keys::Role) -> anyhow::Result<ExitCode> {
    let dir = config.cie_keys_dir();
    let kid = crate::cie::keys::generate(&dir, role)?;
    println!(
        "created CIE {} key {kid} in {}",
        role.dir_name(),
        crate::cie::keys::set_dir(&dir, role).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `procura keys cie-rotate [--set S]`.
fn keys_cie_rotate(config: &Config, role: crate::cie::keys::Role) -> anyhow::Result<ExitCode> {
    let dir = config.cie_keys_dir();
    let outcome = crate::cie::keys::rotate(&dir, role, SystemClock.now(), rotation_delay(config)?)?;
    println!(
        "created CIE {} key {}; it is published now and used from {}",
        role.dir_name(),
        outcome.kid,
        outcome
            .activates_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    if role == crate::cie::keys::Role::Federation {
        eprintln!(
            "give the new federation key to the trust anchor (procura keys cie-jwks) before then: \
             its statement about procura must list it"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `procura keys cie-jwks [--set S]`: the published public keys of a set.
fn keys_cie_jwks(config: &Config, role: crate::cie::keys::Role) -> anyhow::Result<ExitCode> {
    let keep = crate::cie::RelyingParty::keep_retired(config);
    let jwks =
        crate::cie::keys::public_jwks(&config.cie_keys_dir(), role, SystemClock.now(), keep)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::cie::jose::jwks_value(&jwks))?
    );
    Ok(ExitCode::SUCCESS)
}

/// `procura spid certificate [--days N] [--force]`.
fn spid_certificate(config: &Config, days: u32, force: bool) -> anyhow::Result<ExitCode> {
    let written = crate::spid::certificate::write_files(config, days, force)?;
    let s = &written.subject;
    println!("DEVELOPMENT/TEST SPID SP certificate (not for production registration)");
    println!("  certificate: {}", written.certificate.display());
    println!(
        "  private key: {} (mode 0600)",
        written.private_key.display()
    );
    println!(
        "  subject: CN={}, O={}, uri={}, organizationIdentifier={}, C=IT, L={}",
        s.common_name, s.organization_name, s.entity_id, s.organization_identifier, s.locality
    );
    println!(
        "  valid until: {}",
        written
            .not_after
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    println!(
        "Production: a certificate per Avviso SPID 29 v3 from a qualified provider, or \
         self-signed by the public body, registered with AgID with the metadata."
    );
    Ok(ExitCode::SUCCESS)
}

/// `procura spid metadata`.
fn spid_metadata(config: &Config) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let key = crate::spid::certificate::load_or_generate(config)?;
    let bytes = crate::spid::sp_metadata::build(config, &key)?;
    std::io::stdout().write_all(&bytes)?;
    Ok(ExitCode::SUCCESS)
}

/// `procura spid idps [--refresh]`.
fn spid_idps(config: &Config, refresh: bool) -> anyhow::Result<ExitCode> {
    use crate::spid::registry;
    let mut conn = open_migrated(config)?;
    let mut code = ExitCode::SUCCESS;
    if refresh {
        let report = registry::refresh(&mut conn, config, SystemClock.now())?;
        for source in &report.stored {
            println!("refreshed {source}");
        }
        for (source, error) in &report.failed {
            eprintln!("kept the last good copy of {source}: {error}");
            code = ExitCode::FAILURE;
        }
    }
    let idps = registry::IdpRegistry::load_from_db(&mut conn, SystemClock.now())?;
    let listed = idps.list();
    if listed.is_empty() {
        let configured = config.spid.registry.is_some() || !config.spid.idp_metadata.is_empty();
        if configured && !refresh {
            println!(
                "no SPID identity providers stored yet: run `procura spid idps --refresh` (or \
                 start `procura serve` with spid in login.methods) to fetch them"
            );
        } else if !configured {
            println!(
                "no SPID identity providers: none is configured (set spid.registry for AgID's \
                 registry, or spid.idp_metadata for test IdPs, then run `procura spid idps \
                 --refresh`)"
            );
        } else {
            println!("no SPID identity provider could be read from the configured sources");
        }
    }
    for (entity_id, name) in listed {
        println!("{entity_id}\t{name}");
    }
    Ok(code)
}

fn keys_rotate(config: &Config) -> anyhow::Result<ExitCode> {
    let delay = rotation_delay(config)?;
    let outcome = oauth::keys::rotate(&config.keys.dir, SystemClock.now(), delay)?;
    println!(
        "created signing key {} in {}; it is published now and signs from {}",
        outcome.kid,
        config.keys.dir.display(),
        outcome
            .activates_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    Ok(ExitCode::SUCCESS)
}

/// The audit key for a command that records what it does (created in development).
fn audit_key_for_writes(config: &Config) -> anyhow::Result<AuditKey> {
    let (audit_key, created) = AuditKey::load(config, true)?;
    if created {
        tracing::warn!("created a DEVELOPMENT audit HMAC key; set audit.hmac_key in production");
    }
    Ok(audit_key)
}

fn clients_add(config: &Config, args: ClientsAdd) -> anyhow::Result<ExitCode> {
    let jwks = match &args.jwks_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => None,
    };
    let new = NewClient {
        client_id: args.id,
        display_name: args.name,
        auth_method: args.client_type.into(),
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        scopes: ScopeSet::parse(&args.scopes.join(" ")),
        grant_types: args.grants.into_iter().map(GrantType::from).collect(),
        jwks,
    };
    // Refuse a bad request before touching the database.
    new.validate()?;
    let mut conn = open_migrated(config)?;
    let audit_key = audit_key_for_writes(config)?;
    let registered =
        match client::register(&mut conn, &audit_key, new, cli_party(), SystemClock.now()) {
            Ok(r) => r,
            Err(e @ ClientError::Exists(_)) => {
                eprintln!("error: {e}; remove it first or choose another id");
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => return Err(e.into()),
        };
    let c = &registered.client;
    println!(
        "registered client {} ({})",
        c.client_id,
        client_kind(c.auth_method)
    );
    println!("client_id: {}", c.client_id);
    if let Some(secret) = &registered.secret {
        println!("client_secret: {secret}");
        eprintln!(
            "warning: this secret is shown only now and cannot be shown again (procura keeps \
             only its hash); store it safely. If it is lost, remove the client and add it again."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// How a client authenticates, in words (`none` alone reads like a missing value).
fn client_kind(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::None => "public: no secret, PKCE",
        AuthMethod::ClientSecretBasic => "confidential: client_secret_basic",
        AuthMethod::PrivateKeyJwt => "confidential: private_key_jwt",
    }
}

/// The TYPE column of `clients list`: `public` for a client without a secret (its
/// `token_endpoint_auth_method` is `none`, which reads like a missing value), the
/// authentication method of a confidential one.
fn client_type(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::None => "public",
        AuthMethod::ClientSecretBasic | AuthMethod::PrivateKeyJwt => method.as_str(),
    }
}

fn clients_list(config: &Config) -> anyhow::Result<ExitCode> {
    let mut conn = open_migrated(config)?;
    let clients = client::list(&mut conn)?;
    if clients.is_empty() {
        println!("no clients registered");
        return Ok(ExitCode::SUCCESS);
    }
    let header = ["ID", "NAME", "TYPE", "GRANTS", "SCOPES", "REDIRECT URIS"];
    let rows: Vec<[String; 6]> = clients
        .iter()
        .map(|c| {
            [
                c.client_id.clone(),
                c.display_name.clone(),
                client_type(c.auth_method).to_owned(),
                c.grant_types
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                c.scopes.to_string(),
                if c.redirect_uris.is_empty() {
                    "-".to_owned()
                } else {
                    c.redirect_uris.join(" ")
                },
            ]
        })
        .collect();
    print!("{}", table(&header, &rows));
    Ok(ExitCode::SUCCESS)
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let lines = std::iter::once(header.map(str::to_owned)).chain(rows.iter().cloned());
    for line in lines {
        let mut text = String::new();
        for (i, (cell, w)) in line.iter().zip(widths).enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

fn operators(config: &Config, cmd: OperatorsCommand) -> anyhow::Result<ExitCode> {
    use crate::operator::{self, Acting, NewOperator, OperatorError};
    let refused = |e: OperatorError| {
        eprintln!("error: {e}");
        Ok(ExitCode::FAILURE)
    };
    match cmd {
        OperatorsCommand::Add {
            codice_fiscale,
            name,
            roles,
            office,
        } => {
            let new = NewOperator {
                codice_fiscale,
                display_name: name,
                roles,
                office,
            };
            // Refuse a bad request before touching the database.
            if let Err(e) = new.validate() {
                return refused(e);
            }
            let mut conn = open_migrated(config)?;
            let audit_key = audit_key_for_writes(config)?;
            let acting = Acting::new(cli_party());
            match operator::add(&mut conn, &audit_key, &new, &acting, SystemClock.now()) {
                Ok(o) => {
                    println!(
                        "added operator {} ({}): {}",
                        o.id,
                        o.codice_fiscale.masked(),
                        o.role_names().join(" ")
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ OperatorError::Db(_)) => Err(e.into()),
                Err(e) => refused(e),
            }
        }
        OperatorsCommand::List => {
            let mut conn = open_migrated(config)?;
            let all = operator::list(&mut conn)?;
            if all.is_empty() {
                println!("no operators");
                return Ok(ExitCode::SUCCESS);
            }
            let header = ["ID", "CODICE FISCALE", "NAME", "ROLES", "OFFICE", "STATUS"];
            let rows: Vec<[String; 6]> = all
                .iter()
                .map(|o| {
                    [
                        o.id.clone(),
                        o.codice_fiscale.masked().to_string(),
                        o.display_name.clone(),
                        o.role_names().join(","),
                        o.office.clone().unwrap_or_else(|| "-".into()),
                        if o.active { "active" } else { "disabled" }.to_owned(),
                    ]
                })
                .collect();
            print!("{}", table(&header, &rows));
            Ok(ExitCode::SUCCESS)
        }
        OperatorsCommand::Disable { id } => {
            let mut conn = open_migrated(config)?;
            let audit_key = audit_key_for_writes(config)?;
            let acting = Acting::new(cli_party());
            match operator::disable(&mut conn, &audit_key, &id, &acting, SystemClock.now()) {
                Ok(o) => {
                    println!("disabled operator {} ({})", o.id, o.codice_fiscale.masked());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ OperatorError::Db(_)) => Err(e.into()),
                Err(e) => refused(e),
            }
        }
    }
}

fn clients_remove(config: &Config, id: &str) -> anyhow::Result<ExitCode> {
    let mut conn = open_migrated(config)?;
    let audit_key = audit_key_for_writes(config)?;
    if client::remove(&mut conn, &audit_key, id, cli_party(), SystemClock.now())? {
        println!("removed client {id}, with its grants and tokens");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: no client with id `{id}`");
        Ok(ExitCode::FAILURE)
    }
}

fn persons_import(config: Config, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let mut conn = open_migrated(&config)?;
    let audit_key = audit_key_for_writes(&config)?;
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let started = Instant::now();
    let source = file.display().to_string();
    let result = import::import_csv(
        &mut conn,
        &audit_key,
        input,
        &source,
        cli_party(),
        SystemClock.now(),
    );
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(r) => {
            println!(
                "imported {} rows from {source} ({} new, {} updated) in {seconds:.1} s ({:.0} rows/s)",
                r.rows,
                r.inserted,
                r.updated,
                r.rows as f64 / seconds.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Rejected(r)) => {
            for e in &r.errors {
                eprintln!("{e}");
            }
            let unlisted = r.rejected_rows.saturating_sub(r.errors.len() as u64);
            if unlisted > 0 {
                eprintln!(
                    "… and more errors in further rows (only the first {} are listed)",
                    r.errors.len()
                );
            }
            eprintln!(
                "error: {} of {} rows are invalid; nothing was imported",
                r.rejected_rows, r.rows
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

fn audit_verify(config: Config, checkpoints: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut conn = open_migrated(&config)?;
    let (audit_key, _) = AuditKey::load(&config, false)?;
    // Read (and check) the checkpoints before the log: each then describes a head the
    // log's snapshot includes, even while `serve` keeps appending.
    let anchors = match checkpoints.or_else(|| config.audit.checkpoint_dir.clone()) {
        None => Vec::new(),
        Some(dir) => {
            let keys = oauth::keys::KeySet::load(&config.keys.dir).map_err(|e| {
                anyhow::anyhow!("cannot read the signing keys that check the checkpoints: {e}")
            })?;
            match audit::checkpoint::read_dir(&dir, &keys) {
                Ok(anchors) => anchors,
                Err(e @ audit::checkpoint::CheckpointError::Io { .. }) => return Err(e.into()),
                Err(e) => {
                    eprintln!("audit checkpoint BAD: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    };
    match audit::verify_against(&mut conn, &audit_key, &anchors)? {
        Ok(v) => {
            println!(
                "audit log intact: {} records; head hash {}",
                v.count, v.head_hash
            );
            if let Some(latest) = anchors.last() {
                println!(
                    "matches all {} signed checkpoints (the latest: record #{} at {})",
                    v.checkpoints,
                    latest.checkpoint.seq,
                    latest.checkpoint.at.to_rfc3339()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            eprintln!("audit log BROKEN: {broken}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// One connection to a database whose migrations are all applied: pending ones are applied
/// first when `database.migrate_on_start` allows it (as `serve` does), otherwise the command
/// stops and says what to run.
fn open_migrated(config: &Config) -> anyhow::Result<db::DbConn> {
    let mut conn = db::connect(&config.database)?;
    if db::migrate::has_pending(&mut conn)? {
        if !config.database.migrate_on_start {
            anyhow::bail!("{}", pending_migrations_message());
        }
        for name in db::migrate::run_pending(&mut conn)? {
            eprintln!("applied migration {name}");
        }
    }
    Ok(conn)
}

/// Whether a command that loads the whole service applies pending migrations.
fn migrations_policy(config: &Config) -> Migrations {
    if config.database.migrate_on_start {
        Migrations::Apply
    } else {
        Migrations::Require
    }
}

/// What to run when migrations are pending and may not be applied implicitly.
fn pending_migrations_message() -> String {
    let config = CONFIG_ARGUMENT
        .get()
        .and_then(Option::as_ref)
        .map(|file| format!(" --config {}", file.display()))
        .unwrap_or_default();
    format!(
        "the database has pending migrations and database.migrate_on_start is false: run \
         `procura{config} migrate` (with the same PROCURA_* environment) first"
    )
}

/// The operating-system account running the command, as the audit actor.
fn cli_party() -> Party {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    Party::cli(&user)
}
