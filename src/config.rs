//! Configuration: built-in defaults, then `procura.toml` (optional), then `PROCURA_*`
//! environment variables (`PROCURA_DATABASE__URL` sets `database.url`: sections are joined
//! with a double underscore). Unknown keys are refused so a typo never goes unnoticed.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The configuration file read when none is named and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "procura.toml";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub keys: KeysConfig,
    pub audit: AuditConfig,
    pub log: LogConfig,
    pub oauth: OauthConfig,
    pub session: SessionConfig,
    pub login: LoginConfig,
    pub pin: PinConfig,
    pub issuance: IssuanceConfig,
    pub notify: NotifyConfig,
    pub delegation: DelegationConfig,
    pub operator: OperatorConfig,
    pub spid: SpidConfig,
    pub web: WebConfig,
    pub cns: CnsConfig,
    pub booking: BookingConfig,
    pub webmeeting: WebMeetingConfig,
    pub cie: CieConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port the HTTP listener binds.
    pub bind: String,
    /// Largest request body accepted (JSON and forms), in bytes.
    pub body_limit_bytes: usize,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Milliseconds a client has to send a whole request head (line and headers), on a new
    /// connection and between requests on a kept-alive one.
    pub header_timeout_ms: u64,
    /// Longest pause, in milliseconds, between two pieces of a request body.
    pub body_idle_timeout_ms: u64,
    /// Milliseconds a request body may take in all, from the first read to its end.
    pub body_timeout_ms: u64,
    /// Connections one client address (an IPv6 /64) may hold open at once on `bind`;
    /// 0 means no limit (behind a reverse proxy every client has the proxy's address).
    pub max_connections_per_address: usize,
    /// Threads for blocking work (database, TLS-free crypto) across all workers.
    pub blocking_threads: usize,
    /// At a graceful stop (SIGTERM), seconds the requests in progress get to finish before
    /// their connections are closed (kept-alive idle ones included); on both listeners.
    pub shutdown_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            body_limit_bytes: 256 * 1024,
            workers: 0,
            header_timeout_ms: 5_000,
            body_idle_timeout_ms: 5_000,
            body_timeout_ms: 30_000,
            max_connections_per_address: 64,
            blocking_threads: 32,
            shutdown_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (embedded) or `postgres://user@host/db`.
    pub url: Secret,
    /// Most connections the pool opens.
    pub pool_max_size: u32,
    /// Seconds a request waits for a free connection (and a new connection may take).
    pub connect_timeout_secs: u64,
    /// Milliseconds SQLite waits on a locked database before giving up.
    pub sqlite_busy_timeout_ms: u64,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret("sqlite://data/procura.db".into()),
            pool_max_size: 10,
            connect_timeout_secs: 5,
            sqlite_busy_timeout_ms: 5_000,
            migrate_on_start: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// Directory holding the signing keys (PEM) and, in development, the audit HMAC key.
    pub dir: PathBuf,
    /// Create development keys when none exist. Turn off in production so a missing key
    /// is an error instead of a silently new identity.
    pub generate_if_missing: bool,
    /// Seconds between `procura keys rotate` publishing a new key and that key starting to
    /// sign: verifiers caching the JWKS must have fetched it by then.
    pub rotation_delay_secs: u64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("keys"),
            generate_if_missing: true,
            rotation_delay_secs: 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OauthConfig {
    /// The issuer identifier: the public base URL of procura (no trailing slash). Every
    /// endpoint in the discovery document is built from it; an `https` issuer also marks
    /// cookies `Secure`.
    pub issuer: String,
    /// `aud` of access tokens: the INPS services that accept them.
    pub access_token_audience: String,
    /// Lifetime of access tokens (RFC 9068 JWTs).
    pub access_token_ttl_secs: u64,
    /// Lifetime of ID tokens.
    pub id_token_ttl_secs: u64,
    /// Lifetime of authorization codes.
    pub code_ttl_secs: u64,
    /// Lifetime of a refresh-token family, counted from the login it comes from.
    pub refresh_token_ttl_secs: u64,
    /// Seconds an instance remembers a successful `client_secret_basic` authentication (keyed
    /// by client id and the secret's hash), so repeated calls skip a database read. A removed
    /// client or a rotated secret takes effect within this time on every instance. 0: off.
    pub client_cache_secs: u64,
    /// Access tokens whose signature an instance remembers as verified (keyed by the token's
    /// SHA-256, never past its `exp`, only while its key still verifies). 0: off.
    pub jwt_cache_entries: usize,
    /// The memory those entries may take, in bytes (estimated per entry). 0: off.
    pub jwt_cache_max_bytes: usize,
}

impl Default for OauthConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            access_token_audience: "https://servizi.inps.it".into(),
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            code_ttl_secs: 60,
            refresh_token_ttl_secs: 8 * 3600,
            client_cache_secs: 5,
            jwt_cache_entries: 10_000,
            jwt_cache_max_bytes: 8 * 1024 * 1024,
        }
    }
}

impl OauthConfig {
    /// The longest a JWT signed now may stay valid: how long a retired key stays published.
    pub fn longest_jwt_ttl_secs(&self) -> u64 {
        self.access_token_ttl_secs.max(self.id_token_ttl_secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// Single sign-on lasts until logout or this many seconds after the login.
    pub max_age_secs: u64,
    /// Seconds a citizen has to complete the login page (and a forced PIN change).
    pub login_flow_ttl_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_age_secs: 8 * 3600,
            login_flow_ttl_secs: 15 * 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginConfig {
    /// Login methods offered on the login page, in order: `pin` (later `spid`, `cie`, `cns`).
    pub methods: Vec<String>,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            methods: vec!["pin".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinConfig {
    /// Consecutive wrong PINs that lock the PIN (domain §6.6).
    pub lock_after_failures: u32,
    /// First lock, in minutes; each further lock doubles it.
    pub lock_minutes: u32,
    /// Consecutive wrong PINs that block the PIN until recovery or reissue.
    pub block_after_failures: u32,
    /// Validity of a citizen's PIN, in days; then it must be changed.
    pub citizen_validity_days: u32,
    /// Validity of an intermediary's PIN, in days.
    pub intermediary_validity_days: u32,
    /// PIN login attempts allowed per client address per minute (per instance), checked
    /// before any hashing.
    pub attempts_per_minute_per_address: u32,
    /// Nice value (0-19) of the argon2 threads that check and hash PINs: how much they yield
    /// the CPU to the HTTP workers, the database threads and the audit writer under contention.
    pub hasher_nice: i32,
}

impl Default for PinConfig {
    fn default() -> Self {
        Self {
            lock_after_failures: 5,
            lock_minutes: 15,
            block_after_failures: 20,
            citizen_validity_days: 180,
            intermediary_validity_days: 90,
            attempts_per_minute_per_address: 10,
            hasher_nice: 10,
        }
    }
}

/// Who may still obtain a PIN (domain §2.7, §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuanceEligibility {
    /// Anyone, as before the 2021 switch-off (the default, so every channel stays exercised).
    Anyone,
    /// 1 Oct 2020 – 30 Sep 2021: minors, people without an Italian identity document, and
    /// people under tutela, curatela or amministrazione di sostegno.
    Transition2020,
    /// From 1 Oct 2021: only foreign residents without an Italian identity document.
    ForeignResidentsOnly,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssuanceConfig {
    /// Who may still obtain a PIN.
    pub eligibility: IssuanceEligibility,
    /// Largest document (MV35 form, identity document, decree) accepted, in bytes.
    pub document_max_bytes: usize,
    /// Minutes a contact-centre operator holds a claimed request before others may take it.
    pub claim_minutes: u32,
    /// Call-back attempts without an answer before the request is closed.
    pub callback_max_attempts: u32,
    /// Minutes before an unanswered call-back is offered again.
    pub callback_retry_minutes: u32,
    /// Online PIN requests accepted per client address per minute (per instance).
    pub online_requests_per_minute_per_address: u32,
}

impl Default for IssuanceConfig {
    fn default() -> Self {
        Self {
            eligibility: IssuanceEligibility::Anyone,
            document_max_bytes: 3 * 1024 * 1024,
            claim_minutes: 30,
            callback_max_attempts: 3,
            callback_retry_minutes: 120,
            online_requests_per_minute_per_address: 5,
        }
    }
}

/// Delegation limits and timings (domain §1.3, §1.4, §6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DelegationConfig {
    /// Active fiduciary delegations one delegate may hold (representation kinds are exempt).
    pub max_fiducia_per_delegate: u32,
    /// Minimum duration of an online delegation, in days: before it only an operator revokes.
    pub online_min_days: u32,
    /// Days before the end at which both parties are reminded.
    pub end_notice_days: u32,
    /// Largest evidence document accepted (PDF), in bytes.
    pub document_max_bytes: usize,
    /// Longest lifetime of a delegated (token-exchange) access token, in seconds.
    pub exchanged_token_ttl_secs: u64,
    /// How often `serve` runs the expiry job, in seconds.
    pub expiry_interval_secs: u64,
    /// Lowest login level accepted for registering a delegation online (the delegator, or a
    /// parent for a minor): SPID L2 and above (CIE and CNS rank there), never a PIN.
    pub online_min_level: crate::login::Level,
}

impl Default for DelegationConfig {
    fn default() -> Self {
        Self {
            max_fiducia_per_delegate: 3,
            online_min_days: 30,
            end_notice_days: 30,
            document_max_bytes: 3 * 1024 * 1024,
            exchanged_token_ttl_secs: 900,
            expiry_interval_secs: 3600,
            online_min_level: crate::login::Level::SpidL2,
        }
    }
}

/// Desk bookings (issue 16; seed 003).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BookingConfig {
    /// Minutes a chosen slot is held for the person to confirm it (seed 003: 5).
    pub hold_minutes: u32,
    /// Open bookings (held or confirmed, not yet past) one person may have in all.
    pub max_open_per_person: u32,
    /// Longest reason for a booking, in characters (seed 003: 150).
    pub reason_max_chars: usize,
    /// How many days ahead slots are offered.
    pub horizon_days: u32,
    /// Minutes before the appointment at which the reminder SMS is sent (seed 000: ~30).
    pub reminder_minutes_before: u32,
    /// How often `serve` sends due reminders and frees lapsed holds, in seconds.
    pub job_interval_secs: u64,
    /// Close every desk on the Italian national holidays (Easter Monday included).
    pub national_holidays: bool,
    /// Time zone of a new desk's hours when none is given.
    pub default_time_zone: String,
    /// Requests to the booking routes without login (guest bookings) per client address per
    /// minute (per instance).
    pub guest_requests_per_minute_per_address: u32,
    /// Calendar and free-slot look-ups (no login) per client address per minute (per instance).
    pub calendar_requests_per_minute_per_address: u32,
}

impl Default for BookingConfig {
    fn default() -> Self {
        Self {
            hold_minutes: 5,
            max_open_per_person: 3,
            reason_max_chars: 150,
            horizon_days: 60,
            reminder_minutes_before: 30,
            job_interval_secs: 60,
            national_holidays: true,
            default_time_zone: "Europe/Rome".into(),
            guest_requests_per_minute_per_address: 10,
            calendar_requests_per_minute_per_address: 120,
        }
    }
}

/// The web-meeting desk for delegations (issue 16; seeds 000, 001).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebMeetingConfig {
    /// Weekly hours of a new web-meeting desk when none are given (msg 3026: Tuesday and
    /// Thursday, 9:00-12:00), as `weekday HH:MM-HH:MM` separated by `;`.
    pub default_opening: String,
    /// Minutes before the appointment from which the person may join (seed 000: 15).
    pub join_before_minutes: u32,
    /// Minutes after the end of the slot until which a session not yet taken in charge may
    /// still be joined.
    pub join_after_end_minutes: u32,
    /// The meeting link handed to the person once an operator takes the booking in charge:
    /// `{room}` becomes the session's random room name, `{reference}` the booking code.
    /// procura does not host video: this is the video platform in use.
    pub meeting_url_template: String,
    /// Seconds the waiting room asks the browser to wait before asking again.
    pub waiting_retry_secs: u32,
    /// Largest document (AA08, identity documents; PDF) accepted, in bytes (seed 000: 3 MB).
    pub document_max_bytes: usize,
}

impl Default for WebMeetingConfig {
    fn default() -> Self {
        Self {
            default_opening: "tue 09:00-12:00; thu 09:00-12:00".into(),
            join_before_minutes: 15,
            join_after_end_minutes: 30,
            meeting_url_template: "https://webmeeting.inps.example/room/{room}".into(),
            waiting_retry_secs: 10,
            document_max_bytes: 3 * 1024 * 1024,
        }
    }
}

/// How the dispatcher hands messages over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Every message is written as a file under `notify.files_dir` (the embedded default).
    Files,
    /// SMS through the HTTP gateway, e-mail and PEC through SMTP, letters to the print spool.
    Live,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// `files` (development) or `live`.
    pub delivery: Delivery,
    /// Where `files` delivery writes messages (SMS and e-mail texts, letter PDFs).
    pub files_dir: PathBuf,
    /// The key (hex or base64, 32 bytes) sealing PIN halves while they wait in the outbox.
    /// When absent, `keys.dir/outbox.dev.key` is used (and created in development).
    pub outbox_key: Option<Secret>,
    /// How often the dispatcher looks for due messages, in milliseconds.
    pub dispatch_interval_ms: u64,
    /// Messages claimed per round.
    pub batch_size: u32,
    /// Seconds a dispatcher holds a claimed message before another may retry it.
    pub lease_secs: u64,
    /// Attempts before a message is marked failed (and an operator must look at it).
    pub max_attempts: u32,
    /// First retry delay in seconds; it doubles at each attempt up to `backoff_max_secs`.
    pub backoff_base_secs: u64,
    pub backoff_max_secs: u64,
    /// SMS gateway endpoint (`live`): messages are POSTed as JSON with an Idempotency-Key.
    pub sms_gateway_url: Option<String>,
    /// Bearer token for the SMS gateway.
    pub sms_gateway_token: Option<Secret>,
    /// Sender name shown on SMS.
    pub sms_sender: String,
    /// SMTP server for e-mail (`live`), e.g. `smtp://127.0.0.1:2525` or
    /// `smtps://user:password@smtp.example.it`.
    pub smtp_url: Option<Secret>,
    pub email_from: String,
    /// SMTP server of the PEC provider (`live`); PEC messages go only through it.
    pub pec_smtp_url: Option<Secret>,
    pub pec_from: String,
    /// Where `live` delivery writes letter PDFs and the manifest for the print provider.
    pub print_spool_dir: PathBuf,
    /// Seconds one hand-over (SMS gateway request, SMTP session) may take; keep it below
    /// `lease_secs`, or a slow hand-over may be repeated by another dispatcher.
    pub send_timeout_secs: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            delivery: Delivery::Files,
            files_dir: PathBuf::from("data/outbox"),
            outbox_key: None,
            dispatch_interval_ms: 1000,
            batch_size: 50,
            lease_secs: 60,
            max_attempts: 10,
            backoff_base_secs: 30,
            backoff_max_secs: 3600,
            sms_gateway_url: None,
            sms_gateway_token: None,
            sms_sender: "INPS".into(),
            smtp_url: None,
            email_from: "INPS <noreply@inps.it>".into(),
            pec_smtp_url: None,
            pec_from: "INPS <pin@postacert.inps.gov.it>".into(),
            print_spool_dir: PathBuf::from("data/print-spool"),
            send_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorConfig {
    /// The lowest login level that may use the operator API (`/v1/operator/*`). The default,
    /// `pin-dispositivo`, is what development can reach with a PIN; production must set
    /// `spid-l2` (design §1: operators log in with SPID L2 or higher, CIE or CNS).
    pub min_level: crate::login::Level,
    /// The operator console (`/console`) ends a session after this many seconds without a
    /// request.
    pub console_idle_timeout_secs: u64,
    /// … and in any case this many seconds after the login.
    pub console_max_age_secs: u64,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            min_level: crate::login::Level::PinDispositivo,
            console_idle_timeout_secs: 900,
            console_max_age_secs: 10 * 3600,
        }
    }
}

/// The citizen pages: where their static files come from and where the footer's links go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// The `dist` directory of the npm package `bootstrap-italia` (installed by
    /// `scripts/assets.sh`); its stylesheet, fonts and icons are read at start-up.
    pub assets_dir: PathBuf,
    /// Footer links (legal pages of the INPS site).
    pub accessibility_url: String,
    pub privacy_url: String,
    pub legal_notes_url: String,
    /// Where the SPID button's help links point (AgID's pages).
    pub spid_request_url: String,
    pub spid_info_url: String,
    pub spid_help_url: String,
    /// Where "Entra con CIE" sends people without a CIE for information.
    pub cie_info_url: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            assets_dir: PathBuf::from("node_modules/bootstrap-italia/dist"),
            accessibility_url: "https://www.inps.it/it/it/dichiarazione-di-accessibilita.html"
                .into(),
            privacy_url: "https://www.inps.it/it/it/privacy.html".into(),
            legal_notes_url: "https://www.inps.it/it/it/note-legali.html".into(),
            spid_request_url: "https://www.spid.gov.it/cos-e-spid/come-attivare-spid/".into(),
            spid_info_url: "https://www.spid.gov.it".into(),
            spid_help_url: "https://www.spid.gov.it/serve-aiuto".into(),
            cie_info_url: "https://www.cartaidentita.interno.gov.it/".into(),
        }
    }
}

/// SPID: procura as a SAML 2.0 service provider (AgID technical rules, Avviso 29 v3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpidConfig {
    /// The SP entityID registered with AgID; never change it once registered. When absent it
    /// is `{oauth.issuer}/spid/metadata`, the URL that serves the metadata.
    pub entity_id: Option<String>,
    /// The SP signing certificate and key (PEM, RSA >= 2048); by default `spid-sp.crt` and
    /// `spid-sp.key` in `keys.dir`. When both are missing and `generate_if_missing` is set, a
    /// development pair is made on first run (`procura spid certificate` makes one by hand).
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
    pub generate_if_missing: bool,
    /// Organization and ContactPerson of the metadata; also the subject of the certificate.
    pub organization_name: String,
    pub organization_display_name: String,
    pub organization_url: String,
    /// Code of the public body in the IPA index (INPS: `inps`).
    pub ipa_code: String,
    pub contact_email: String,
    /// International format without spaces, e.g. `+39...`; omitted from metadata when empty.
    pub contact_phone: String,
    /// Locality of the organization (certificate `L`).
    pub locality: String,
    /// The attribute sets (`AttributeConsumingService`) the metadata declares.
    pub attribute_sets: Vec<SpidAttributeSet>,
    /// The attribute set index asked for in AuthnRequests.
    pub attribute_set: u16,
    /// How the AuthnRequest travels: `redirect` (HTTP-Redirect, signed query) or `post`
    /// (auto-submitting form, enveloped signature).
    pub binding: SpidBinding,
    /// The level asked for when the relying party asked for none.
    pub default_level: crate::login::Level,
    /// The AgID registry aggregate of identity providers (file path or https URL), and the
    /// pinned certificate (PEM file) its signature must verify against.
    pub registry: Option<String>,
    pub registry_certificate: Option<PathBuf>,
    /// Single IdP metadata files or URLs (test IdPs; trusted as configured).
    pub idp_metadata: Vec<String>,
    /// How often the IdP metadata are fetched again.
    pub refresh_interval_secs: u64,
    /// Clock skew tolerated on every SAML time.
    pub clock_skew_secs: u64,
    /// How long an AuthnRequest waits for its Response.
    pub request_ttl_secs: u64,
    /// Largest SAML message accepted (decoded bytes).
    pub max_message_bytes: usize,
    /// Structural limits of SAML messages beyond the built-in ones (`spid::xml::Limits`).
    pub message_limits: XmlLimitsConfig,
    /// Largest IdP metadata document (a file, a URL, the AgID aggregate).
    pub max_metadata_bytes: usize,
    /// Structural limits of IdP metadata beyond the built-in ones.
    pub metadata_limits: XmlLimitsConfig,
    /// Threads that parse and check SAML (and sign procura's own messages); 0 means half the
    /// cores, at least one. They run at a lower priority (`workers_nice`), so a flood of SAML
    /// cannot starve tokens, introspection, access checks or PIN logins.
    pub workers: usize,
    /// Nice value (0-19) of those threads: how much they yield to the rest of the service.
    pub workers_nice: i32,
    /// SAML jobs waiting for a thread beyond which a SPID request is answered 503 at once.
    pub queue: usize,
}

/// Overrides of the structural limits of a SAML document (`[spid.message_limits]`,
/// `[spid.metadata_limits]`); an absent key keeps procura's default (README, "SPID input
/// limits").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XmlLimitsConfig {
    pub max_elements: Option<usize>,
    pub max_depth: Option<usize>,
    pub max_attributes: Option<usize>,
    pub max_namespace_declarations: Option<usize>,
    pub max_namespaces_in_scope: Option<usize>,
    pub max_namespace_declarations_total: Option<usize>,
    pub max_name_bytes: Option<usize>,
    pub max_attribute_value_bytes: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpidAttributeSet {
    pub index: u16,
    /// The service name shown by the IdP (`ServiceName xml:lang="it"`).
    pub name: String,
    /// SPID attribute names (AgID list), e.g. `fiscalNumber`.
    pub attributes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpidBinding {
    Redirect,
    Post,
}

impl Config {
    /// The SPID SP certificate file (`spid.certificate`, else in `keys.dir`).
    pub fn spid_certificate_path(&self) -> PathBuf {
        self.spid
            .certificate
            .clone()
            .unwrap_or_else(|| self.keys.dir.join("spid-sp.crt"))
    }

    /// The SPID SP private key file (`spid.private_key`, else in `keys.dir`).
    pub fn spid_private_key_path(&self) -> PathBuf {
        self.spid
            .private_key
            .clone()
            .unwrap_or_else(|| self.keys.dir.join("spid-sp.key"))
    }
}

impl Default for SpidConfig {
    fn default() -> Self {
        Self {
            entity_id: None,
            certificate: None,
            private_key: None,
            generate_if_missing: true,
            organization_name: "Istituto Nazionale della Previdenza Sociale".into(),
            organization_display_name: "INPS".into(),
            organization_url: "https://www.inps.it".into(),
            ipa_code: "inps".into(),
            contact_email: "spid@inps.example".into(),
            contact_phone: String::new(),
            locality: "Roma".into(),
            attribute_sets: vec![
                SpidAttributeSet {
                    index: 0,
                    name: "MyINPS".into(),
                    attributes: [
                        "fiscalNumber",
                        "name",
                        "familyName",
                        "dateOfBirth",
                        "email",
                        "mobilePhone",
                    ]
                    .map(String::from)
                    .to_vec(),
                },
                SpidAttributeSet {
                    index: 1,
                    name: "MyINPS - identificazione minima".into(),
                    attributes: vec!["fiscalNumber".into()],
                },
            ],
            attribute_set: 0,
            binding: SpidBinding::Redirect,
            default_level: crate::login::Level::SpidL2,
            registry: None,
            registry_certificate: None,
            idp_metadata: Vec::new(),
            refresh_interval_secs: 24 * 3600,
            clock_skew_secs: 30,
            request_ttl_secs: 30 * 60,
            max_message_bytes: 256 * 1024,
            message_limits: XmlLimitsConfig::default(),
            max_metadata_bytes: 16 * 1024 * 1024,
            metadata_limits: XmlLimitsConfig::default(),
            workers: 0,
            workers_nice: 19,
            queue: 64,
        }
    }
}

/// CNS: login with the smart card of the Carta Nazionale dei Servizi (TS-CNS), a TLS client
/// certificate asked for on a dedicated host, either by procura's own TLS listener or by a
/// TLS-terminating proxy in front of it. procura validates the certificate itself either way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CnsConfig {
    /// The dedicated CNS host as browsers reach it (procura's own listener or the proxy),
    /// e.g. `https://cns.procura.example:8443`: "Entra con CNS" leads to `{public_url}/cns/login`.
    pub public_url: String,
    /// procura's own TLS listener asking for the card (e.g. `0.0.0.0:8443`); empty when a
    /// proxy terminates TLS instead. The main listener (`server.bind`) is not affected.
    pub listen: String,
    /// The listener's own certificate chain and key (PEM).
    pub tls_certificate: Option<PathBuf>,
    pub tls_private_key: Option<PathBuf>,
    /// OpenSSL security level of this listener only: 1 lets RSA-1024 cards (CNS v1.0) in;
    /// OpenSSL's default, 2, refuses them.
    pub security_level: u32,
    /// The request header in which the proxy forwards the URL-escaped PEM client certificate
    /// (nginx `$ssl_client_escaped_cert`).
    pub proxy_header: String,
    /// Addresses (`203.0.113.7`) or networks (`10.0.0.0/8`) of the proxies allowed to send
    /// `proxy_header`; from anywhere else the header is refused and logged.
    pub trusted_proxies: Vec<String>,
    /// Trust anchors: every PEM file in this directory (`*.pem`, `*.crt`)...
    pub trust_anchors_dir: Option<PathBuf>,
    /// ...and/or the CA services of the AgID trusted list (TSL XML; file path or https URL),
    /// its signature checked against one of the pinned signer certificates (PEM files).
    pub tsl: Option<String>,
    pub tsl_signer_certificates: Vec<PathBuf>,
    /// The service types taken from the TSL (ETSI TS 119 612 `ServiceTypeIdentifier`).
    pub tsl_service_types: Vec<String>,
    /// How often the TSL is fetched again (the last good copy stays if a fetch fails).
    pub tsl_refresh_interval_secs: u64,
    /// Largest TSL accepted, in bytes.
    pub tsl_max_bytes: usize,
    /// Certificate policies of a CNS authentication certificate; one must be present.
    pub policy_oids: Vec<String>,
    /// Where the codice fiscale is: `common_name` (CN up to the first `/`, the CNS profile)
    /// or `serial_number` (the subject serialNumber, with or without `TINIT-`/`IT:`).
    pub codice_fiscale_from: CnsCodiceFiscaleFrom,
    /// Smallest RSA key accepted on a card.
    pub min_rsa_bits: u32,
    /// The assurance level of a CNS login (the `acr` claim); by default that of SPID L2.
    pub level: crate::login::Level,
    /// What happens when neither OCSP nor the CRL can tell whether a card is revoked:
    /// `hard_fail` refuses the login, `soft_fail` lets it in (and logs a warning).
    pub revocation: CnsRevocationFailure,
    /// Ask the OCSP responder of the certificate (AIA) first; the CRL is the fallback.
    pub ocsp: bool,
    /// Longest an OCSP answer is reused (also bounded by its nextUpdate).
    pub ocsp_cache_max_secs: u64,
    /// Longest a downloaded CRL is reused (also bounded by its nextUpdate).
    pub crl_cache_max_secs: u64,
    /// Seconds one OCSP or CRL fetch may take, and the largest answers accepted.
    pub fetch_timeout_secs: u64,
    pub ocsp_max_bytes: usize,
    pub crl_max_bytes: usize,
    /// Seconds the browser has to carry a validated card login from the CNS host back to
    /// procura's host.
    pub ticket_ttl_secs: u64,
    /// Visits to `/cns/login` per client address (an IPv6 /64) per minute, per instance,
    /// checked before the certificate is read; 0 = no limit. Visits forwarded by one of
    /// `trusted_proxies` are not counted (behind it every browser has its address): the
    /// proxy limits those.
    pub logins_per_minute_per_address: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CnsCodiceFiscaleFrom {
    CommonName,
    SerialNumber,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CnsRevocationFailure {
    HardFail,
    SoftFail,
}

impl Default for CnsConfig {
    fn default() -> Self {
        Self {
            public_url: String::new(),
            listen: String::new(),
            tls_certificate: None,
            tls_private_key: None,
            security_level: 1,
            proxy_header: "X-SSL-Client-Cert".into(),
            trusted_proxies: Vec::new(),
            trust_anchors_dir: None,
            tsl: None,
            tsl_signer_certificates: Vec::new(),
            tsl_service_types: vec!["http://uri.etsi.org/TrstSvc/Svctype/IdV".into()],
            tsl_refresh_interval_secs: 24 * 3600,
            tsl_max_bytes: 16 << 20,
            policy_oids: [
                "1.3.76.16.2.1",
                "1.3.159.6.1.3.2.10",
                "1.3.76.12.1.1.10.2.2.10",
            ]
            .map(String::from)
            .to_vec(),
            codice_fiscale_from: CnsCodiceFiscaleFrom::CommonName,
            min_rsa_bits: 1024,
            level: crate::login::Level::SpidL2,
            revocation: CnsRevocationFailure::HardFail,
            ocsp: true,
            ocsp_cache_max_secs: 3600,
            crl_cache_max_secs: 3600,
            fetch_timeout_secs: 5,
            ocsp_max_bytes: 64 * 1024,
            crl_max_bytes: 32 << 20,
            ticket_ttl_secs: 60,
            logins_per_minute_per_address: 30,
        }
    }
}

/// CIE login: procura as a relying party of the SPID/CIE OpenID Connect Federation
/// ("Entra con CIE"). Its client_id (federation entity identifier) is `oauth.issuer`; its
/// entity configuration is served at `{oauth.issuer}/.well-known/openid-federation`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CieConfig {
    /// The four key sets of the relying party (federation, signing, encryption RSA and EC);
    /// by default `cie/` in `keys.dir`. Development keys are made on first run when
    /// `keys.generate_if_missing` is set; `procura keys cie-generate|cie-rotate` manage them.
    pub keys_dir: Option<PathBuf>,
    /// The trust anchor every provider's trust chain must end at.
    pub trust_anchor: String,
    /// The trust anchor's federation public keys (a JWKS file), pinned: its entity
    /// configuration must verify with them. Required when `cie` is a login method.
    pub trust_anchor_jwks: Option<PathBuf>,
    /// The superiors named in procura's entity configuration; empty means the trust anchor.
    pub authority_hints: Vec<String>,
    /// The CIE OpenID providers offered on the login page.
    pub providers: Vec<CieProviderConfig>,
    /// Trust marks received at onboarding, published in the entity configuration.
    pub trust_marks: Vec<CieTrustMark>,
    /// The level asked for (`acr_values`) unless the relying party of the login asks for
    /// more: `spid-l3` (the CIE card), or `spid-l2`/`spid-l1` for the CieID app levels.
    pub default_level: crate::login::Level,
    /// `federation_entity` and `openid_relying_party` metadata of the entity configuration.
    pub client_name: String,
    pub organization_name: String,
    pub homepage_uri: String,
    pub policy_uri: String,
    pub logo_uri: String,
    pub contacts: Vec<String>,
    /// Lifetime of procura's signed entity configuration.
    pub entity_configuration_ttl_secs: u64,
    /// The encryption procura asks providers to apply to userinfo (and, when set, to ID
    /// tokens): RSA-OAEP or RSA-OAEP-256 (or ECDH-ES), with A128CBC-HS256 or A256CBC-HS512.
    pub userinfo_encrypted_response_alg: String,
    pub userinfo_encrypted_response_enc: String,
    pub id_token_encrypted_response_alg: Option<String>,
    pub id_token_encrypted_response_enc: Option<String>,
    /// How long an authorization request waits for its callback.
    pub request_ttl_secs: u64,
    /// Visits to `/cie/login` per client address (an IPv6 /64) per minute, per instance,
    /// checked before any trust chain is read or request stored; 0 = no limit.
    pub logins_per_minute_per_address: u32,
    /// Clock skew tolerated on every federation statement and token time.
    pub clock_skew_secs: u64,
    /// Trust chains are resolved again when the stored copy is older than this (and always
    /// once it expires); a failed refresh keeps the stored chain until its expiry.
    pub refresh_interval_secs: u64,
    /// One outbound exchange (federation document, token, userinfo) may take this long.
    pub fetch_timeout_secs: u64,
    /// Largest document or response accepted from a federation peer.
    pub max_document_bytes: usize,
    /// Which CIE protocols "Entra con CIE" offers: `oidc` (the federation above) and/or
    /// `saml` (the CIE SAML IdP, `[cie.saml]`).
    pub protocols: Vec<String>,
    /// "Entra con CIE" through the CIE SAML IdP.
    pub saml: CieSamlConfig,
}

/// CIE SAML: procura as a service provider of the Ministry of the Interior's SAML IdP, on the
/// SPID SAML code (`spid.*` limits, workers, skew and request lifetime apply to it too).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CieSamlConfig {
    /// The entityID registered with the CIE federation; never change it once registered.
    /// When absent it is `{oauth.issuer}/cie/saml/metadata`, the URL that serves the metadata.
    pub entity_id: Option<String>,
    /// The signing pair (PEM, RSA); by default the SPID pair (`spid.certificate`,
    /// `spid.private_key`, made in development when `spid.generate_if_missing`).
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
    /// The CIE IdP's metadata: files or URLs, trusted as configured (production:
    /// `https://idserver.servizicie.interno.gov.it/idp/shibboleth?Metadata`).
    pub idp_metadata: Vec<String>,
    /// How the AuthnRequest travels: `redirect` or `post`.
    pub binding: SpidBinding,
    /// The level asked for unless the relying party asks for more: `spid-l3` (the card).
    pub default_level: crate::login::Level,
    /// `ServiceName` of the metadata's AttributeConsumingService.
    pub service_name: String,
    /// ContactPerson extensions: IPA category (optional), municipality (Belfiore code),
    /// province and country of the organization.
    pub ipa_category: Option<String>,
    pub municipality: String,
    pub province: String,
    pub country: String,
}

impl Default for CieSamlConfig {
    fn default() -> Self {
        Self {
            entity_id: None,
            certificate: None,
            private_key: None,
            idp_metadata: Vec::new(),
            binding: SpidBinding::Redirect,
            default_level: crate::login::Level::SpidL3,
            service_name: "MyINPS".into(),
            ipa_category: None,
            municipality: "H501".into(),
            province: "RM".into(),
            country: "IT".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CieProviderConfig {
    /// The provider's federation entity identifier.
    pub entity_id: String,
    /// What the login page calls it (with a single provider the button says "Entra con CIE").
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CieTrustMark {
    /// The trust mark type identifier.
    pub id: String,
    /// The signed trust mark (a JWT).
    pub trust_mark: String,
}

impl Default for CieConfig {
    fn default() -> Self {
        Self {
            keys_dir: None,
            trust_anchor: "https://oidc.registry.servizicie.interno.gov.it".into(),
            trust_anchor_jwks: None,
            authority_hints: Vec::new(),
            providers: vec![CieProviderConfig {
                entity_id: "https://oidc.idserver.servizicie.interno.gov.it".into(),
                name: "CIE".into(),
            }],
            trust_marks: Vec::new(),
            default_level: crate::login::Level::SpidL3,
            client_name: "INPS - Servizi online".into(),
            organization_name: "Istituto Nazionale della Previdenza Sociale".into(),
            homepage_uri: "https://www.inps.it".into(),
            policy_uri: "https://www.inps.it/it/it/privacy.html".into(),
            logo_uri: "https://www.inps.it/logo.svg".into(),
            contacts: vec!["cie@inps.example".into()],
            entity_configuration_ttl_secs: 24 * 3600,
            userinfo_encrypted_response_alg: "RSA-OAEP-256".into(),
            userinfo_encrypted_response_enc: "A256CBC-HS512".into(),
            id_token_encrypted_response_alg: None,
            id_token_encrypted_response_enc: None,
            request_ttl_secs: 10 * 60,
            logins_per_minute_per_address: 30,
            clock_skew_secs: 60,
            refresh_interval_secs: 3600,
            fetch_timeout_secs: 10,
            max_document_bytes: 256 * 1024,
            protocols: vec!["oidc".into()],
            saml: CieSamlConfig::default(),
        }
    }
}

impl Config {
    /// The directory of the CIE relying-party key sets (`cie.keys_dir`, else `keys.dir/cie`).
    pub fn cie_keys_dir(&self) -> PathBuf {
        self.cie
            .keys_dir
            .clone()
            .unwrap_or_else(|| self.keys.dir.join("cie"))
    }

    /// Whether "Entra con CIE" offers `protocol` (`oidc` or `saml`): `cie` is a login method
    /// and `cie.protocols` names it.
    pub fn cie_offers(&self, protocol: &str) -> bool {
        self.login.methods.iter().any(|m| m == "cie")
            && self.cie.protocols.iter().any(|p| p == protocol)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// The secret key (hex or base64, at least 32 bytes) that chains the audit log.
    /// When absent, `keys.dir/audit-hmac.dev.key` is used (and created in development).
    pub hmac_key: Option<Secret>,
    /// Where `serve` writes signed checkpoints of the audit head (outside the database;
    /// created if missing). Unset: no checkpoints. `procura audit verify` checks the log
    /// against them.
    pub checkpoint_dir: Option<PathBuf>,
    /// How often `serve` writes a checkpoint when the log has grown, in seconds (and once
    /// more at shutdown).
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            hmac_key: None,
            checkpoint_dir: None,
            checkpoint_interval_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `procura=debug,actix_web=info`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

/// A configuration value that must never reach a log: `Debug` prints `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Defaults, then the file (`path`, or `procura.toml` when present), then `PROCURA_*`.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        figment = match path {
            Some(p) => figment.merge(Toml::file_exact(p)),
            None => figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        };
        figment = figment.merge(Env::prefixed("PROCURA_").ignore(&["CONFIG"]).split("__"));
        let mut config: Config = figment.extract().map_err(|e| ConfigError(Box::new(e)))?;
        // The issuer follows the listen address unless it is set: `server.bind =
        // "127.0.0.1:9000"` alone serves and names http://127.0.0.1:9000.
        let issuer_set = figment
            .find_metadata("oauth.issuer")
            .is_some_and(|m| m.name != std::any::type_name::<Config>());
        if !issuer_set {
            config.oauth.issuer = issuer_for_bind(&config.server.bind);
        }
        Ok(config)
    }
}

/// `http://` and the listen address, a wildcard address read as loopback (the address a
/// browser on the same machine uses).
fn issuer_for_bind(bind: &str) -> String {
    match bind.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => {
            let host = if addr.is_ipv4() { "127.0.0.1" } else { "[::1]" };
            format!("http://{host}:{}", addr.port())
        }
        Ok(addr) => format!("http://{addr}"),
        Err(_) => format!("http://{bind}"),
    }
}

#[cfg(test)]
// figment's Jail closures return its (large) error type; not ours to shrink.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_need_no_file() {
        Jail::expect_with(|_| {
            let c = Config::load(None).unwrap();
            assert_eq!(c.server.bind, "127.0.0.1:8080");
            assert_eq!(c.database.url.expose(), "sqlite://data/procura.db");
            Ok(())
        });
    }

    #[test]
    fn file_then_environment() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "procura.toml",
                "[server]\nbind = \"0.0.0.0:9000\"\n[database]\npool_max_size = 3\n",
            )?;
            jail.set_env("PROCURA_DATABASE__POOL_MAX_SIZE", "7");
            let c = Config::load(None).unwrap();
            assert_eq!(c.server.bind, "0.0.0.0:9000");
            assert_eq!(c.database.pool_max_size, 7);
            Ok(())
        });
    }

    #[test]
    fn the_issuer_follows_the_bind_address_unless_set() {
        Jail::expect_with(|jail| {
            assert_eq!(
                Config::load(None).unwrap().oauth.issuer,
                "http://127.0.0.1:8080"
            );
            jail.set_env("PROCURA_SERVER__BIND", "0.0.0.0:9000");
            assert_eq!(
                Config::load(None).unwrap().oauth.issuer,
                "http://127.0.0.1:9000"
            );
            jail.set_env("PROCURA_SERVER__BIND", "[::]:9001");
            assert_eq!(
                Config::load(None).unwrap().oauth.issuer,
                "http://[::1]:9001"
            );
            jail.set_env("PROCURA_SERVER__BIND", "localhost:9002");
            assert_eq!(
                Config::load(None).unwrap().oauth.issuer,
                "http://localhost:9002"
            );
            jail.create_file(
                "procura.toml",
                "[oauth]\nissuer = \"https://login.inps.example\"\n",
            )?;
            assert_eq!(
                Config::load(None).unwrap().oauth.issuer,
                "https://login.inps.example"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("procura.toml", "[server]\nbindd = \"x\"\n")?;
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("bindd"), "{err}");
            Ok(())
        });
    }

    /// procura.example.toml promises to list every key with its default: it must parse, and
    /// give exactly the built-in defaults (commented-out keys aside).
    #[test]
    fn the_example_file_states_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/procura.example.toml");
        let from_file: Config = Figment::from(Toml::file_exact(path)).extract().unwrap();
        let as_json = |c: &Config| serde_json::to_value(c).unwrap();
        assert_eq!(as_json(&from_file), as_json(&Config::default()));
        // And every key of the defaults appears in the file (set or commented out).
        let text = std::fs::read_to_string(path).unwrap();
        let defaults = as_json(&Config::default());
        for (section, keys) in defaults.as_object().unwrap() {
            assert!(
                text.contains(&format!("[{section}]")),
                "[{section}] missing"
            );
            for key in keys.as_object().unwrap().keys() {
                assert!(
                    text.lines().any(|l| {
                        let l = l.trim_start_matches(['#', ' ']);
                        l.starts_with(&format!("{key} ="))
                    }),
                    "{section}.{key} is not documented in procura.example.toml"
                );
            }
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let mut c = Config::default();
        c.database.url = Secret::from("postgres://u:hunter2@db/procura");
        c.audit.hmac_key = Some(Secret::from("00112233"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("00112233"));
    }
}
