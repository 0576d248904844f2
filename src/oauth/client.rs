//! Relying parties (OIDC clients): the registry and client authentication.
//!
//! A client is registered by an operator at the command line (`procura clients add`) with
//! one authentication method:
//! - `none`: a public client (browser or mobile app) that cannot keep a secret; it uses the
//!   authorization code flow with PKCE and identifies itself with its `client_id` only;
//! - `client_secret_basic`: a confidential client holding a secret that procura generates,
//!   shows once and stores only as SHA-256 (RFC 6749 §2.3.1, HTTP Basic);
//! - `private_key_jwt`: a confidential client that signs a short-lived JWT with a key whose
//!   public half it registered in a JWKS (RFC 7523, OIDC Core §9). Each assertion's `jti`
//!   is recorded until it expires, so an assertion is accepted once only.
//!
//! `client_secret_post` is deliberately not offered: secrets in request bodies end up in
//! logs far more often than `Authorization` headers do.

use crate::audit::{self, AuditKey, Event, Outcome, Party};
use crate::db::schema::{client_assertion_jtis, oauth_clients};
use crate::db::{DbConn, DbError};
use crate::oauth::scope::{self, ScopeSet};
use crate::oauth::token_hash;
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashSet;
use std::fmt;

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Signature algorithms accepted in client assertions; never `none` or HMAC.
pub const ASSERTION_ALGORITHMS: &[Algorithm] =
    &[Algorithm::ES256, Algorithm::RS256, Algorithm::PS256];

/// The longest a client assertion may still be valid for when it arrives.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::minutes(10);

/// Tolerated clock difference between a client and procura for `iat` and `nbf`.
pub const CLOCK_SKEW: Duration = Duration::seconds(60);

/// Smallest RSA modulus accepted in a client's JWKS.
const MIN_RSA_BITS: usize = 2048;

// ---------------------------------------------------------------------------------------
// Grant types and authentication methods

/// The RFC 8693 `grant_type`.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The OAuth grants a client may be allowed to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8693: a delegate's access token exchanged for one on behalf of the delegator.
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::TokenExchange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::TokenExchange => TOKEN_EXCHANGE,
        }
    }

    /// The grant named by its RFC 6749 `grant_type` value.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == text)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a client authenticates at the token, introspection and revocation endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// A public client: no credentials, PKCE instead.
    None,
    ClientSecretBasic,
    PrivateKeyJwt,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::None,
        AuthMethod::ClientSecretBasic,
        AuthMethod::PrivateKeyJwt,
    ];

    /// The OAuth registry name (`token_endpoint_auth_method`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------
// The registered client

/// A registered relying party.
#[derive(Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    pub display_name: String,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: ScopeSet,
    pub grant_types: Vec<GrantType>,
    /// The public keys of a `private_key_jwt` client.
    pub jwks: Option<JwkSet>,
    /// Hex SHA-256 of a `client_secret_basic` client's secret.
    pub secret_hash: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field("auth_method", &self.auth_method)
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field("scopes", &self.scopes.to_string())
            .field("grant_types", &self.grant_types)
            .field("jwks_keys", &self.jwks.as_ref().map(|s| s.keys.len()))
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Exact, case-sensitive string comparison (OAuth 2.0 Security BCP §4.1.3).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    /// Exact string comparison, as for redirect URIs.
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }

    /// A client without credentials (auth method `none`).
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }
}

/// A client as an operator asks for it; checked by [`NewClient::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewClient {
    pub client_id: String,
    pub display_name: String,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: ScopeSet,
    pub grant_types: Vec<GrantType>,
    /// The JWK Set as JSON text (`private_key_jwt` only).
    pub jwks: Option<String>,
}

/// Why a client cannot be registered. Messages are for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "client id `{0}` is invalid: use 3 to 64 characters among letters, digits, `.`, `_` and `-`"
    )]
    InvalidId(String),
    #[error("the display name must not be empty or contain control characters")]
    InvalidName,
    #[error("redirect URI `{uri}` {reason}")]
    InvalidRedirectUri { uri: String, reason: &'static str },
    #[error("post-logout redirect URI `{uri}` {reason}")]
    InvalidPostLogoutRedirectUri { uri: String, reason: &'static str },
    #[error("the authorization_code grant needs at least one redirect URI")]
    MissingRedirectUri,
    #[error(
        "redirect URIs and post-logout redirect URIs are only used with the authorization_code grant"
    )]
    RedirectUriWithoutCode,
    #[error("at least one scope is required")]
    NoScopes,
    #[error("unknown scope `{scope}`; known scopes: {known}")]
    UnknownScope { scope: String, known: String },
    #[error(
        "a client using the authorization_code grant (OpenID Connect login) needs the `openid` scope"
    )]
    MissingOpenid,
    #[error("at least one grant type is required")]
    NoGrants,
    #[error(
        "unknown grant type `{0}`; known: authorization_code, refresh_token, client_credentials, \
         urn:ietf:params:oauth:grant-type:token-exchange"
    )]
    UnknownGrant(String),
    #[error(
        "unknown authentication method `{0}`; known: none, client_secret_basic, private_key_jwt"
    )]
    UnknownAuthMethod(String),
    #[error(
        "the refresh_token grant needs the authorization_code grant (refresh tokens come from logins)"
    )]
    RefreshWithoutCode,
    #[error(
        "the token-exchange grant needs the authorization_code grant (the delegate's token comes \
         from a login at the same client)"
    )]
    ExchangeWithoutCode,
    #[error(
        "a public client (no credentials) cannot use the client_credentials grant: anyone could impersonate it"
    )]
    PublicClientCredentials,
    #[error("a public client must use the authorization_code grant (with PKCE)")]
    PublicWithoutCode,
    #[error("private_key_jwt needs a JWK Set with the client's public signing keys")]
    MissingJwks,
    #[error("a JWK Set is only used by private_key_jwt clients")]
    UnexpectedJwks,
    #[error("the JWK Set is invalid: {0}")]
    InvalidJwks(String),
    #[error("the JWK Set contains private key material (`{0}`): register only the public keys")]
    PrivateKeyInJwks(String),
    #[error(
        "the JWK Set has no usable signing key: it needs an EC P-256 key (ES256) or an RSA key \
         of at least 2048 bits (RS256 or PS256), with `use` absent or `sig`"
    )]
    NoUsableKey,
    #[error("a client with id `{0}` already exists")]
    Exists(String),
    #[error("cannot generate a client secret: {0}")]
    Random(#[source] std::io::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<DieselError> for ClientError {
    fn from(e: DieselError) -> Self {
        ClientError::Db(DbError::Query(e))
    }
}

/// JWK members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl NewClient {
    /// Checks everything that does not need the database; returns the parsed JWK Set.
    pub fn validate(&self) -> Result<Option<JwkSet>, ClientError> {
        validate_client_id(&self.client_id)?;
        let name = self.display_name.trim();
        if name.is_empty() || self.display_name.chars().any(char::is_control) {
            return Err(ClientError::InvalidName);
        }

        if self.grant_types.is_empty() {
            return Err(ClientError::NoGrants);
        }
        let code = self.grant_types.contains(&GrantType::AuthorizationCode);
        if self.grant_types.contains(&GrantType::RefreshToken) && !code {
            return Err(ClientError::RefreshWithoutCode);
        }
        if self.grant_types.contains(&GrantType::TokenExchange) && !code {
            return Err(ClientError::ExchangeWithoutCode);
        }
        if self.auth_method == AuthMethod::None {
            if self.grant_types.contains(&GrantType::ClientCredentials) {
                return Err(ClientError::PublicClientCredentials);
            }
            if !code {
                return Err(ClientError::PublicWithoutCode);
            }
        }

        for uri in &self.redirect_uris {
            check_redirect_uri(uri).map_err(|reason| ClientError::InvalidRedirectUri {
                uri: uri.clone(),
                reason,
            })?;
        }
        for uri in &self.post_logout_redirect_uris {
            check_redirect_uri(uri).map_err(|reason| {
                ClientError::InvalidPostLogoutRedirectUri {
                    uri: uri.clone(),
                    reason,
                }
            })?;
        }
        if code && self.redirect_uris.is_empty() {
            return Err(ClientError::MissingRedirectUri);
        }
        if !code && (!self.redirect_uris.is_empty() || !self.post_logout_redirect_uris.is_empty()) {
            return Err(ClientError::RedirectUriWithoutCode);
        }

        if self.scopes.is_empty() {
            return Err(ClientError::NoScopes);
        }
        if let Some(unknown) = self.scopes.iter().find(|s| !scope::is_known(s)) {
            return Err(ClientError::UnknownScope {
                scope: unknown.to_owned(),
                known: scope::CATALOGUE
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if code && !self.scopes.contains("openid") {
            return Err(ClientError::MissingOpenid);
        }

        match (self.auth_method, &self.jwks) {
            (AuthMethod::PrivateKeyJwt, None) => Err(ClientError::MissingJwks),
            (AuthMethod::PrivateKeyJwt, Some(text)) => parse_jwks(text).map(Some),
            (_, Some(_)) => Err(ClientError::UnexpectedJwks),
            (_, None) => Ok(None),
        }
    }
}

fn validate_client_id(id: &str) -> Result<(), ClientError> {
    let ok = (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ClientError::InvalidId(id.to_owned()))
    }
}

/// A redirect URI procura will send codes to: absolute, no fragment, `https`, or `http`
/// on a loopback host for development. The reason completes "redirect URI `…` …".
fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains spaces or control characters");
    }
    if uri.contains('#') {
        return Err("must not contain a fragment (`#…`)");
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err("is not an absolute URI: it must start with https://");
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or_default();
    if authority.contains('@') {
        return Err("must not contain user information (`user@`)");
    }
    let (host, port) = if authority.starts_with('[') {
        match authority.split_once(']') {
            Some((h, after)) => (
                authority.get(..h.len() + 1).unwrap_or_default(),
                match after {
                    "" => None,
                    p => Some(p.strip_prefix(':').ok_or("has a malformed host")?),
                },
            ),
            None => return Err("has a malformed host"),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("has no host");
    }
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        host.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if !host_ok {
        return Err("has a malformed host");
    }
    if let Some(port) = port
        && (port.is_empty() || port.parse::<u16>().is_err())
    {
        return Err("has a malformed port");
    }
    match scheme {
        "https" => Ok(()),
        "http" if matches!(host, "127.0.0.1" | "[::1]" | "localhost") => Ok(()),
        "http" => Err(
            "uses http, which is allowed only on loopback hosts (127.0.0.1, [::1], localhost) \
             for development: use https",
        ),
        _ => Err("must use the https scheme (lowercase)"),
    }
}

/// Parses a client's JWK Set: public keys only, at least one usable for signatures.
fn parse_jwks(text: &str) -> Result<JwkSet, ClientError> {
    let raw: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ClientError::InvalidJwks(e.to_string()))?;
    let keys = raw
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| ClientError::InvalidJwks("it has no `keys` array".into()))?;
    for key in keys {
        let object = key
            .as_object()
            .ok_or_else(|| ClientError::InvalidJwks("a key is not a JSON object".into()))?;
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
            return Err(ClientError::PrivateKeyInJwks((*member).to_owned()));
        }
    }
    let set: JwkSet =
        serde_json::from_value(raw).map_err(|e| ClientError::InvalidJwks(e.to_string()))?;
    if set.keys.iter().any(|k| usable_algorithms(k).is_some()) {
        Ok(set)
    } else {
        Err(ClientError::NoUsableKey)
    }
}

/// The assertion algorithms a JWK may verify, or `None` when it is not usable: an EC P-256
/// key (ES256) or an RSA key of at least 2048 bits (RS256, PS256), meant for signatures.
fn usable_algorithms(jwk: &Jwk) -> Option<Vec<Algorithm>> {
    let common = &jwk.common;
    if matches!(&common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    if let Some(ops) = &common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return None;
    }
    let by_type: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            let x = URL_SAFE_NO_PAD.decode(&ec.x).ok()?;
            let y = URL_SAFE_NO_PAD.decode(&ec.y).ok()?;
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let point: Vec<u8> = [&[0x04_u8][..], &x, &y].concat();
            // Rejects points that are not on the curve.
            aws_lc_rs::signature::ParsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                &point,
            )
            .ok()?;
            &[Algorithm::ES256]
        }
        AlgorithmParameters::RSA(rsa) => {
            let n = URL_SAFE_NO_PAD.decode(&rsa.n).ok()?;
            let e = URL_SAFE_NO_PAD.decode(&rsa.e).ok()?;
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            if bit_length(n) < MIN_RSA_BITS || e.is_empty() {
                return None;
            }
            aws_lc_rs::signature::RsaPublicKeyComponents { n, e }
                .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
                .ok()?;
            &[Algorithm::RS256, Algorithm::PS256]
        }
        _ => return None,
    };
    let algorithms: Vec<Algorithm> = match common.key_algorithm {
        None => by_type.to_vec(),
        Some(declared) => by_type
            .iter()
            .copied()
            .filter(|a| KeyAlgorithm::from(*a) == declared)
            .collect(),
    };
    if algorithms.is_empty() {
        None
    } else {
        Some(algorithms)
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn bit_length(big_endian: &[u8]) -> usize {
    match big_endian.first() {
        None => 0,
        Some(top) => (big_endian.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

// ---------------------------------------------------------------------------------------
// The registry

/// A client just registered, and its secret (for `client_secret_basic`): shown once, never
/// stored.
pub struct Registered {
    pub client: Client,
    pub secret: Option<String>,
}

impl fmt::Debug for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("client", &self.client)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_clients)]
struct ClientRow {
    client_id: String,
    display_name: String,
    auth_method: String,
    secret_hash: Option<String>,
    jwks: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    scopes: String,
    grant_types: String,
    created_at: NaiveDateTime,
}

impl ClientRow {
    fn into_client(self) -> Result<Client, DbError> {
        let corrupt = |what: &str| {
            DbError::Query(DieselError::DeserializationError(
                format!("oauth_clients row `{}`: bad {what}", self.client_id).into(),
            ))
        };
        let auth_method =
            AuthMethod::parse(&self.auth_method).ok_or_else(|| corrupt("auth_method"))?;
        let grant_types = self
            .grant_types
            .split(' ')
            .filter(|g| !g.is_empty())
            .map(GrantType::parse)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| corrupt("grant_types"))?;
        let redirect_uris: Vec<String> =
            serde_json::from_str(&self.redirect_uris).map_err(|_| corrupt("redirect_uris"))?;
        let post_logout_redirect_uris: Vec<String> =
            serde_json::from_str(&self.post_logout_redirect_uris)
                .map_err(|_| corrupt("post_logout_redirect_uris"))?;
        let jwks = match &self.jwks {
            Some(text) => Some(serde_json::from_str(text).map_err(|_| corrupt("jwks"))?),
            None => None,
        };
        Ok(Client {
            scopes: ScopeSet::parse(&self.scopes),
            created_at: Utc.from_utc_datetime(&self.created_at),
            client_id: self.client_id,
            display_name: self.display_name,
            auth_method,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            jwks,
            secret_hash: self.secret_hash,
        })
    }
}

/// Registers a client (audited as `client.registered`). A `client_secret_basic` client gets
/// a new random secret, returned here once and stored only as SHA-256.
pub fn register(
    conn: &mut DbConn,
    audit_key: &AuditKey,
    new: NewClient,
    actor: Party,
    now: DateTime<Utc>,
) -> Result<Registered, ClientError> {
    let jwks = new.validate()?;
    let now = crate::clock::to_micros(now);
    let secret = match new.auth_method {
        AuthMethod::ClientSecretBasic => {
            Some(token_hash::new_token().map_err(ClientError::Random)?)
        }
        AuthMethod::None | AuthMethod::PrivateKeyJwt => None,
    };
    let mut grant_types = new.grant_types.clone();
    grant_types.sort();
    grant_types.dedup();
    let client = Client {
        client_id: new.client_id,
        display_name: new.display_name.trim().to_owned(),
        auth_method: new.auth_method,
        redirect_uris: dedup(new.redirect_uris),
        post_logout_redirect_uris: dedup(new.post_logout_redirect_uris),
        scopes: new.scopes,
        grant_types,
        jwks,
        secret_hash: secret.as_deref().map(token_hash::hash),
        created_at: now,
    };
    let to_json = |v: &Vec<String>| {
        serde_json::to_string(v).map_err(|e| ClientError::InvalidJwks(e.to_string()))
    };
    let row = ClientRow {
        client_id: client.client_id.clone(),
        display_name: client.display_name.clone(),
        auth_method: client.auth_method.as_str().to_owned(),
        secret_hash: client.secret_hash.clone(),
        jwks: match &client.jwks {
            Some(set) => Some(
                serde_json::to_string(set).map_err(|e| ClientError::InvalidJwks(e.to_string()))?,
            ),
            None => None,
        },
        redirect_uris: to_json(&client.redirect_uris)?,
        post_logout_redirect_uris: to_json(&client.post_logout_redirect_uris)?,
        scopes: client.scopes.to_string(),
        grant_types: grant_types_text(&client.grant_types),
        created_at: now.naive_utc(),
    };
    let event = Event::new(actor, "client.registered", Outcome::Success).detail(json!({
        "client_id": client.client_id,
        "display_name": client.display_name,
        "auth_method": client.auth_method.as_str(),
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": client.scopes.to_string(),
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
    }));
    conn.write_transaction(|c| {
        match diesel::insert_into(oauth_clients::table)
            .values(&row)
            .execute(c)
        {
            Ok(_) => {}
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(ClientError::Exists(row.client_id.clone()));
            }
            Err(e) => return Err(e.into()),
        }
        audit::append(c, audit_key, now, event)?;
        Ok(())
    })?;
    Ok(Registered { client, secret })
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

fn grant_types_text(grants: &[GrantType]) -> String {
    grants
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn find(conn: &mut DbConn, client_id: &str) -> Result<Option<Client>, DbError> {
    oauth_clients::table
        .find(client_id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(ClientRow::into_client)
        .transpose()
}

/// Every client, by id.
pub fn list(conn: &mut DbConn) -> Result<Vec<Client>, DbError> {
    oauth_clients::table
        .order(oauth_clients::client_id)
        .select(ClientRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ClientRow::into_client)
        .collect()
}

/// Removes a client with its login flows, grants, codes and refresh tokens (ON DELETE
/// CASCADE); audited as `client.removed`. `false` when there was no such client.
pub fn remove(
    conn: &mut DbConn,
    audit_key: &AuditKey,
    client_id: &str,
    actor: Party,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let now = crate::clock::to_micros(now);
    conn.write_transaction(|c| {
        let deleted = diesel::delete(oauth_clients::table.find(client_id)).execute(c)?;
        if deleted == 0 {
            return Ok(false);
        }
        let event = Event::new(actor, "client.removed", Outcome::Success)
            .detail(json!({ "client_id": client_id }));
        audit::append(c, audit_key, now, event)?;
        Ok(true)
    })
}

/// Replaces a `client_secret_basic` client's secret with `secret` (kept as SHA-256); audited
/// as `client.secret_set`. For procura's own confidential clients, whose secret procura
/// derives itself. `false` when there is no such client using a secret.
pub fn set_secret(
    conn: &mut DbConn,
    audit_key: &AuditKey,
    client_id: &str,
    secret: &str,
    actor: Party,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let now = crate::clock::to_micros(now);
    let hash = token_hash::hash(secret);
    conn.write_transaction(|c| {
        let updated = diesel::update(
            oauth_clients::table
                .find(client_id)
                .filter(oauth_clients::auth_method.eq(AuthMethod::ClientSecretBasic.as_str())),
        )
        .set(oauth_clients::secret_hash.eq(Some(hash.as_str())))
        .execute(c)?;
        if updated == 0 {
            return Ok(false);
        }
        let event = Event::new(actor, "client.secret_set", Outcome::Success)
            .detail(json!({ "client_id": client_id }));
        audit::append(c, audit_key, now, event)?;
        Ok(true)
    })
}

/// Gives a `client_secret_basic` client a new random secret, returned here once and stored
/// only as SHA-256 ([`set_secret`], audited as `client.secret_set`); the old secret stops
/// working at once. `None` when there is no such client using a secret.
pub fn rotate_secret(
    conn: &mut DbConn,
    audit_key: &AuditKey,
    client_id: &str,
    actor: Party,
    now: DateTime<Utc>,
) -> Result<Option<String>, ClientError> {
    let secret = token_hash::new_token().map_err(ClientError::Random)?;
    Ok(set_secret(conn, audit_key, client_id, &secret, actor, now)?.then_some(secret))
}

// ---------------------------------------------------------------------------------------
// Client authentication (RFC 6749 §2.3, RFC 7523, OIDC Core §9)

/// What a request presents to authenticate its client.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Only a `client_id` (public clients).
    Public { client_id: String },
    /// HTTP Basic: `client_secret_basic`.
    Basic { client_id: String, secret: String },
    /// A signed JWT: `private_key_jwt`.
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
}

impl Credentials {
    /// The client the credentials claim to be, when it is known without verifying anything.
    pub fn claimed_client_id(&self) -> Option<&str> {
        match self {
            Credentials::Public { client_id } | Credentials::Basic { client_id, .. } => {
                Some(client_id)
            }
            Credentials::Assertion { client_id, .. } => client_id.as_deref(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Public { client_id } => f
                .debug_struct("Public")
                .field("client_id", client_id)
                .finish(),
            Credentials::Basic { client_id, .. } => f
                .debug_struct("Basic")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Credentials::Assertion { client_id, .. } => f
                .debug_struct("Assertion")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

/// Why client authentication failed. `Display` names the precise reason, for logs;
/// [`ClientAuthError::description`] is what the client is told.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error("no client authentication in the request")]
    Missing,
    #[error("more than one client authentication method in the request")]
    MultipleMethods,
    #[error("client_secret_post is not supported: send the secret with HTTP Basic")]
    SecretInBody,
    #[error("unsupported client_assertion_type `{0}`")]
    UnsupportedAssertionType(String),
    #[error("client_assertion_type without client_assertion, or the reverse")]
    IncompleteAssertion,
    #[error("malformed Authorization header: {0}")]
    MalformedHeader(&'static str),
    #[error("client_id in the body differs from the authenticated client")]
    ClientIdMismatch,
    #[error("unknown client `{0}`")]
    UnknownClient(String),
    #[error("client `{client_id}` must authenticate with {expected}")]
    WrongMethod {
        client_id: String,
        expected: AuthMethod,
    },
    #[error("wrong secret for client `{0}`")]
    WrongSecret(String),
    #[error("client assertion rejected: {0}")]
    BadAssertion(String),
    #[error("client assertion replayed: jti `{0}` was already used")]
    Replayed(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<DieselError> for ClientAuthError {
    fn from(e: DieselError) -> Self {
        ClientAuthError::Db(DbError::Query(e))
    }
}

impl ClientAuthError {
    /// The RFC 6749 §5.2 error code.
    pub fn error_code(&self) -> &'static str {
        match self {
            ClientAuthError::MultipleMethods | ClientAuthError::IncompleteAssertion => {
                "invalid_request"
            }
            ClientAuthError::Db(_) => "server_error",
            _ => "invalid_client",
        }
    }

    /// `error_description` for the client. Authentication failures share one message, so
    /// a caller cannot tell an unknown client from a wrong secret.
    pub fn description(&self) -> &'static str {
        match self {
            ClientAuthError::Missing => "client authentication is required",
            ClientAuthError::MultipleMethods => {
                "the request uses more than one client authentication method"
            }
            ClientAuthError::SecretInBody => {
                "client_secret_post is not supported: use HTTP Basic (client_secret_basic)"
            }
            ClientAuthError::UnsupportedAssertionType(_) => {
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            }
            ClientAuthError::IncompleteAssertion => {
                "client_assertion and client_assertion_type must be sent together"
            }
            ClientAuthError::MalformedHeader(_) => "malformed HTTP Basic Authorization header",
            ClientAuthError::Db(_) => "internal error",
            ClientAuthError::ClientIdMismatch
            | ClientAuthError::UnknownClient(_)
            | ClientAuthError::WrongMethod { .. }
            | ClientAuthError::WrongSecret(_)
            | ClientAuthError::BadAssertion(_)
            | ClientAuthError::Replayed(_) => "client authentication failed",
        }
    }

    /// Whether the answer should be 401 with `WWW-Authenticate: Basic` (RFC 6749 §5.2:
    /// the client tried, or should have tried, HTTP Basic) rather than 400.
    pub fn is_unauthorized(&self) -> bool {
        !matches!(
            self,
            ClientAuthError::MultipleMethods
                | ClientAuthError::IncompleteAssertion
                | ClientAuthError::Db(_)
        )
    }
}

/// Reads the client credentials of a token, introspection or revocation request from its
/// `Authorization` header and form parameters.
pub fn credentials_from(
    authorization_header: Option<&str>,
    client_id: Option<&str>,
    client_secret: Option<&str>,
    client_assertion_type: Option<&str>,
    client_assertion: Option<&str>,
) -> Result<Credentials, ClientAuthError> {
    let assertion = match (client_assertion_type, client_assertion) {
        (None, None) => None,
        (Some(t), Some(a)) => Some((t, a)),
        _ => return Err(ClientAuthError::IncompleteAssertion),
    };
    let methods = usize::from(authorization_header.is_some())
        + usize::from(client_secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(ClientAuthError::MultipleMethods);
    }
    if client_secret.is_some() {
        return Err(ClientAuthError::SecretInBody);
    }
    let body_id = client_id.filter(|id| !id.is_empty());
    if let Some(header) = authorization_header {
        let (id, secret) = parse_basic(header)?;
        if body_id.is_some_and(|b| b != id) {
            return Err(ClientAuthError::ClientIdMismatch);
        }
        return Ok(Credentials::Basic {
            client_id: id,
            secret,
        });
    }
    if let Some((assertion_type, assertion)) = assertion {
        if assertion_type != JWT_BEARER_ASSERTION_TYPE {
            return Err(ClientAuthError::UnsupportedAssertionType(
                assertion_type.chars().take(100).collect(),
            ));
        }
        return Ok(Credentials::Assertion {
            client_id: body_id.map(str::to_owned),
            assertion: assertion.to_owned(),
        });
    }
    match body_id {
        Some(id) => Ok(Credentials::Public {
            client_id: id.to_owned(),
        }),
        None => Err(ClientAuthError::Missing),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1, RFC 7617).
fn parse_basic(header: &str) -> Result<(String, String), ClientAuthError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let header = header.trim();
    let (scheme, encoded) = header
        .split_once(' ')
        .ok_or(ClientAuthError::MalformedHeader(
            "expected `Basic <credentials>`",
        ))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ClientAuthError::MalformedHeader(
            "only the Basic scheme is supported",
        ));
    }
    let decoded = LENIENT
        .decode(encoded.trim())
        .map_err(|_| ClientAuthError::MalformedHeader("credentials are not base64"))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| ClientAuthError::MalformedHeader("credentials are not UTF-8"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or(ClientAuthError::MalformedHeader(
            "no `:` between id and secret",
        ))?;
    let id = form_urldecode(id).ok_or(ClientAuthError::MalformedHeader("bad percent-encoding"))?;
    let secret =
        form_urldecode(secret).ok_or(ClientAuthError::MalformedHeader("bad percent-encoding"))?;
    if id.is_empty() {
        return Err(ClientAuthError::MalformedHeader("empty client id"));
    }
    Ok((id, secret))
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn form_urldecode(text: &str) -> Option<String> {
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.next().and_then(hex)?;
                let lo = bytes.next().and_then(hex)?;
                out.push((hi << 4) | lo);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// Authenticates the client presenting `credentials`. `audiences` are the values a client
/// assertion's `aud` may carry (the endpoint URL, the issuer); `now` decides expiry.
pub fn authenticate(
    conn: &mut DbConn,
    credentials: &Credentials,
    audiences: &[&str],
    now: DateTime<Utc>,
) -> Result<Client, ClientAuthError> {
    match credentials {
        Credentials::Public { client_id } => {
            let client = known_client(conn, client_id)?;
            require_method(&client, AuthMethod::None)?;
            Ok(client)
        }
        Credentials::Basic { client_id, secret } => {
            // Hash before the lookup, so an unknown client costs the same work.
            let presented = token_hash::hash(secret);
            let client = known_client(conn, client_id)?;
            require_method(&client, AuthMethod::ClientSecretBasic)?;
            let stored = client.secret_hash.as_deref().unwrap_or_default();
            if stored.is_empty() || !token_hash::eq(stored.as_bytes(), presented.as_bytes()) {
                return Err(ClientAuthError::WrongSecret(client.client_id));
            }
            Ok(client)
        }
        Credentials::Assertion {
            client_id,
            assertion,
        } => verify_assertion(conn, client_id.as_deref(), assertion, audiences, now),
    }
}

fn known_client(conn: &mut DbConn, client_id: &str) -> Result<Client, ClientAuthError> {
    find(conn, client_id)?.ok_or_else(|| ClientAuthError::UnknownClient(client_id.to_owned()))
}

fn require_method(client: &Client, method: AuthMethod) -> Result<(), ClientAuthError> {
    if client.auth_method == method {
        Ok(())
    } else {
        Err(ClientAuthError::WrongMethod {
            client_id: client.client_id.clone(),
            expected: client.auth_method,
        })
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains_any(&self, wanted: &[&str]) -> bool {
        match self {
            Audience::One(a) => wanted.contains(&a.as_str()),
            Audience::Many(all) => all.iter().any(|a| wanted.contains(&a.as_str())),
        }
    }
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<f64>,
    iat: Option<f64>,
    nbf: Option<f64>,
    jti: Option<String>,
}

fn from_timestamp(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() {
        return None;
    }
    // Fractional seconds are allowed by RFC 7519; whole seconds are precise enough.
    DateTime::from_timestamp(seconds.floor() as i64, 0)
}

fn verify_assertion(
    conn: &mut DbConn,
    client_id: Option<&str>,
    assertion: &str,
    audiences: &[&str],
    now: DateTime<Utc>,
) -> Result<Client, ClientAuthError> {
    let bad = |reason: &str| ClientAuthError::BadAssertion(reason.to_owned());
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|e| bad(&format!("malformed JWT or unsupported alg: {e}")))?;
    if !ASSERTION_ALGORITHMS.contains(&header.alg) {
        return Err(bad(&format!("algorithm {:?} is not accepted", header.alg)));
    }
    // Unverified, only to find whose keys to verify it with.
    let unverified: AssertionClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|e| bad(&format!("malformed claims: {e}")))?;
    let claimed = unverified
        .iss
        .as_deref()
        .or(client_id)
        .ok_or_else(|| bad("no iss"))?
        .to_owned();
    if client_id.is_some_and(|id| id != claimed) {
        return Err(ClientAuthError::ClientIdMismatch);
    }
    let client = known_client(conn, &claimed)?;
    require_method(&client, AuthMethod::PrivateKeyJwt)?;
    let jwks = client
        .jwks
        .as_ref()
        .ok_or_else(|| bad("client has no JWKS"))?;

    let mut validation = Validation::new(header.alg);
    // Every time-based and audience check is done below, against `now`, not the system clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    validation.leeway = 0;
    let candidates = jwks.keys.iter().filter(|k| {
        header
            .kid
            .as_deref()
            .is_none_or(|kid| k.common.key_id.as_deref() == Some(kid))
            && usable_algorithms(k).is_some_and(|algs| algs.contains(&header.alg))
    });
    let mut verified = None;
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        if let Ok(data) = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation) {
            verified = Some(data.claims);
            break;
        }
    }
    let claims = verified.ok_or_else(|| {
        bad(match &header.kid {
            Some(_) => "signature does not verify with the client's key of that kid",
            None => "signature does not verify with any of the client's keys",
        })
    })?;

    if claims.iss.as_deref() != Some(client.client_id.as_str()) {
        return Err(bad("iss is not the client id"));
    }
    if claims.sub.as_deref() != Some(client.client_id.as_str()) {
        return Err(bad("sub is not the client id"));
    }
    if !claims
        .aud
        .as_ref()
        .is_some_and(|aud| aud.contains_any(audiences))
    {
        return Err(bad("aud does not name this server"));
    }
    let exp = claims
        .exp
        .and_then(from_timestamp)
        .ok_or_else(|| bad("no valid exp"))?;
    if exp <= now {
        return Err(bad("expired"));
    }
    if exp > now + MAX_ASSERTION_LIFETIME + CLOCK_SKEW {
        return Err(bad("exp is more than 10 minutes away"));
    }
    if let Some(iat) = claims.iat {
        let iat = from_timestamp(iat).ok_or_else(|| bad("invalid iat"))?;
        if iat > now + CLOCK_SKEW {
            return Err(bad("iat is in the future"));
        }
    }
    if let Some(nbf) = claims.nbf {
        let nbf = from_timestamp(nbf).ok_or_else(|| bad("invalid nbf"))?;
        if nbf > now + CLOCK_SKEW {
            return Err(bad("not yet valid (nbf)"));
        }
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("no jti (or longer than 256 characters)"))?;
    record_jti(conn, &client.client_id, &jti, exp, now)?;
    Ok(client)
}

/// Records a used assertion `jti` until it expires; a second use is a replay. Expired
/// entries of the client are cleared on the way.
fn record_jti(
    conn: &mut DbConn,
    client_id: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ClientAuthError> {
    // A savepoint when the caller is in a transaction: a replay must not abort theirs.
    conn.transaction(|c| {
        diesel::delete(
            client_assertion_jtis::table
                .filter(client_assertion_jtis::client_id.eq(client_id))
                .filter(client_assertion_jtis::expires_at.lt(now.naive_utc())),
        )
        .execute(c)?;
        match diesel::insert_into(client_assertion_jtis::table)
            .values((
                client_assertion_jtis::client_id.eq(client_id),
                client_assertion_jtis::jti.eq(jti),
                client_assertion_jtis::expires_at.eq(expires_at.naive_utc()),
            ))
            .execute(c)
        {
            Ok(_) => Ok(()),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                Err(ClientAuthError::Replayed(jti.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic_header(id: &str, secret: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    }

    fn public_client() -> NewClient {
        NewClient {
            client_id: "myinps-web".into(),
            display_name: "MyINPS web".into(),
            auth_method: AuthMethod::None,
            redirect_uris: vec!["https://www.inps.it/myinps/callback".into()],
            post_logout_redirect_uris: vec!["https://www.inps.it/".into()],
            scopes: ScopeSet::parse("openid profile inps:read"),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            jwks: None,
        }
    }

    fn ec_jwk(extra: &str) -> String {
        // A valid P-256 point (the generator).
        format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"k1",
            "x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
            "y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"{extra}}}]}}"#
        )
    }

    fn rsa_jwks(bits: usize) -> String {
        let mut n = vec![0xC5_u8; bits / 8];
        if let Some(last) = n.last_mut() {
            *last = 0x01;
        }
        format!(
            r#"{{"keys":[{{"kty":"RSA","n":"{}","e":"AQAB"}}]}}"#,
            URL_SAFE_NO_PAD.encode(n)
        )
    }

    #[test]
    fn names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        for m in AuthMethod::ALL {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(GrantType::parse("password"), None);
        assert_eq!(AuthMethod::parse("client_secret_post"), None);
    }

    #[test]
    fn a_good_public_client_validates() {
        assert!(public_client().validate().unwrap().is_none());
    }

    #[test]
    fn client_ids_are_checked() {
        for bad in ["ab", "has space", "é-client", &"x".repeat(65), "a/b"] {
            let c = NewClient {
                client_id: bad.into(),
                ..public_client()
            };
            assert!(
                matches!(c.validate(), Err(ClientError::InvalidId(_))),
                "{bad}"
            );
        }
        for good in ["abc", "my.app_1-x", &"x".repeat(64)] {
            let c = NewClient {
                client_id: good.into(),
                ..public_client()
            };
            assert!(c.validate().is_ok(), "{good}");
        }
        let c = NewClient {
            display_name: "  ".into(),
            ..public_client()
        };
        assert!(matches!(c.validate(), Err(ClientError::InvalidName)));
    }

    #[test]
    fn redirect_uris_are_checked() {
        for ok in [
            "https://rp.example.it/cb",
            "https://rp.example.it:8443/cb?x=1",
            "https://rp.example.it",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]:3000/cb",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://rp.example.it/cb",
            "https://rp.example.it/cb#frag",
            "/relative/cb",
            "rp.example.it/cb",
            "ftp://rp.example.it/cb",
            "HTTPS://rp.example.it/cb",
            "https:///cb",
            "https://user@rp.example.it/cb",
            "https://rp.example.it:99999/cb",
            "https://rp.example.it/c b",
            "https://[::1/cb",
            "javascript://alert(1)",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        let c = NewClient {
            redirect_uris: vec!["http://rp.example.it/cb".into()],
            ..public_client()
        };
        let err = c.validate().unwrap_err();
        assert!(matches!(err, ClientError::InvalidRedirectUri { .. }));
        assert!(err.to_string().contains("loopback"), "{err}");
        let c = NewClient {
            post_logout_redirect_uris: vec!["https://x.it/#a".into()],
            ..public_client()
        };
        assert!(matches!(
            c.validate(),
            Err(ClientError::InvalidPostLogoutRedirectUri { .. })
        ));
        let c = NewClient {
            redirect_uris: vec![],
            ..public_client()
        };
        assert!(matches!(c.validate(), Err(ClientError::MissingRedirectUri)));
    }

    #[test]
    fn scopes_must_be_known() {
        let c = NewClient {
            scopes: ScopeSet::parse("openid admin"),
            ..public_client()
        };
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("unknown scope `admin`"), "{err}");
        assert!(err.to_string().contains("inps:read"), "{err}");
        let c = NewClient {
            scopes: ScopeSet::parse("profile"),
            ..public_client()
        };
        assert!(matches!(c.validate(), Err(ClientError::MissingOpenid)));
        let c = NewClient {
            scopes: ScopeSet::default(),
            ..public_client()
        };
        assert!(matches!(c.validate(), Err(ClientError::NoScopes)));
    }

    #[test]
    fn grant_rules() {
        let c = NewClient {
            grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
            ..public_client()
        };
        assert!(matches!(
            c.validate(),
            Err(ClientError::PublicClientCredentials)
        ));
        let c = NewClient {
            grant_types: vec![],
            ..public_client()
        };
        assert!(matches!(c.validate(), Err(ClientError::NoGrants)));
        let c = NewClient {
            grant_types: vec![GrantType::RefreshToken],
            ..public_client()
        };
        assert!(matches!(c.validate(), Err(ClientError::RefreshWithoutCode)));
        // A confidential machine client: client_credentials only, no redirect URIs.
        let machine = NewClient {
            client_id: "batch-job".into(),
            auth_method: AuthMethod::ClientSecretBasic,
            grant_types: vec![GrantType::ClientCredentials],
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            scopes: ScopeSet::parse("inps:read"),
            ..public_client()
        };
        assert!(machine.validate().is_ok());
        let c = NewClient {
            redirect_uris: vec!["https://x.it/cb".into()],
            ..machine
        };
        assert!(matches!(
            c.validate(),
            Err(ClientError::RedirectUriWithoutCode)
        ));
    }

    #[test]
    fn jwks_rules() {
        let pkjwt = |jwks: Option<String>| NewClient {
            auth_method: AuthMethod::PrivateKeyJwt,
            jwks,
            ..public_client()
        };
        assert!(matches!(
            pkjwt(None).validate(),
            Err(ClientError::MissingJwks)
        ));
        let set = pkjwt(Some(ec_jwk(""))).validate().unwrap().unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(matches!(
            pkjwt(Some(ec_jwk(r#","d":"AAAA""#))).validate(),
            Err(ClientError::PrivateKeyInJwks(m)) if m == "d"
        ));
        assert!(matches!(
            pkjwt(Some(ec_jwk(r#","use":"enc""#))).validate(),
            Err(ClientError::NoUsableKey)
        ));
        assert!(matches!(
            pkjwt(Some(ec_jwk(r#","alg":"ES384""#))).validate(),
            Err(ClientError::NoUsableKey)
        ));
        // Not on the curve.
        let off_curve = ec_jwk("").replace("T-NC4v4af5uO5", "T-NC4v4af5uO6");
        assert!(matches!(
            pkjwt(Some(off_curve)).validate(),
            Err(ClientError::NoUsableKey)
        ));
        assert!(matches!(
            pkjwt(Some(rsa_jwks(1024))).validate(),
            Err(ClientError::NoUsableKey)
        ));
        assert!(pkjwt(Some(rsa_jwks(2048))).validate().is_ok());
        assert!(matches!(
            pkjwt(Some(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.into())).validate(),
            Err(ClientError::PrivateKeyInJwks(_))
        ));
        assert!(matches!(
            pkjwt(Some("not json".into())).validate(),
            Err(ClientError::InvalidJwks(_))
        ));
        assert!(matches!(
            pkjwt(Some(r#"{"keys":[]}"#.into())).validate(),
            Err(ClientError::NoUsableKey)
        ));
        let basic_with_jwks = NewClient {
            auth_method: AuthMethod::ClientSecretBasic,
            jwks: Some(ec_jwk("")),
            ..public_client()
        };
        assert!(matches!(
            basic_with_jwks.validate(),
            Err(ClientError::UnexpectedJwks)
        ));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = basic_header("my%3Aapp", "s%2Bcr+t%25");
        let c = credentials_from(Some(&h), None, None, None, None).unwrap();
        assert_eq!(
            c,
            Credentials::Basic {
                client_id: "my:app".into(),
                secret: "s+cr t%".into()
            }
        );
        assert!(!format!("{c:?}").contains("cr"), "{c:?}");
        // The body may repeat the same client_id, not another one.
        assert!(credentials_from(Some(&h), Some("my:app"), None, None, None).is_ok());
        assert!(matches!(
            credentials_from(Some(&h), Some("other"), None, None, None),
            Err(ClientAuthError::ClientIdMismatch)
        ));
        // Scheme is case-insensitive; padding optional.
        let unpadded = "basic YWJjOng"; // "abc:x" without its `=`
        assert!(credentials_from(Some(unpadded), None, None, None, None).is_ok());
        for bad in [
            "Bearer abc",
            "Basic",
            "Basic !!!",
            "Basic bm9jb2xvbg==", // "nocolon"
            &basic_header("a%zz", "x"),
            &basic_header("", "x"),
        ] {
            assert!(
                matches!(
                    credentials_from(Some(bad), None, None, None, None),
                    Err(ClientAuthError::MalformedHeader(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn one_method_per_request() {
        let h = basic_header("a", "b");
        let multiple = [
            credentials_from(Some(&h), None, Some("s"), None, None),
            credentials_from(
                Some(&h),
                None,
                None,
                Some(JWT_BEARER_ASSERTION_TYPE),
                Some("x.y.z"),
            ),
        ];
        for r in multiple {
            let err = r.unwrap_err();
            assert!(matches!(err, ClientAuthError::MultipleMethods));
            assert_eq!(err.error_code(), "invalid_request");
        }
        let err = credentials_from(None, Some("a"), Some("s"), None, None).unwrap_err();
        assert!(matches!(err, ClientAuthError::SecretInBody));
        assert_eq!(err.error_code(), "invalid_client");
        assert!(matches!(
            credentials_from(None, None, None, None, None),
            Err(ClientAuthError::Missing)
        ));
        assert!(matches!(
            credentials_from(None, None, None, Some(JWT_BEARER_ASSERTION_TYPE), None),
            Err(ClientAuthError::IncompleteAssertion)
        ));
        assert!(matches!(
            credentials_from(None, None, None, Some("urn:x"), Some("x.y.z")),
            Err(ClientAuthError::UnsupportedAssertionType(_))
        ));
        assert_eq!(
            credentials_from(None, Some("web"), None, None, None).unwrap(),
            Credentials::Public {
                client_id: "web".into()
            }
        );
        assert_eq!(
            credentials_from(
                None,
                Some("svc"),
                None,
                Some(JWT_BEARER_ASSERTION_TYPE),
                Some("x.y.z")
            )
            .unwrap(),
            Credentials::Assertion {
                client_id: Some("svc".into()),
                assertion: "x.y.z".into()
            }
        );
    }

    #[test]
    fn failures_share_one_description() {
        let unknown = ClientAuthError::UnknownClient("x".into());
        let wrong = ClientAuthError::WrongSecret("x".into());
        assert_eq!(unknown.description(), wrong.description());
        assert_eq!(unknown.error_code(), "invalid_client");
        assert!(!unknown.description().contains('x'));
    }

    #[test]
    fn rsa_bit_length() {
        assert_eq!(bit_length(&[0x01, 0, 0]), 17);
        assert_eq!(bit_length(strip_leading_zeros(&[0, 0, 0x80])), 8);
        assert_eq!(bit_length(&[]), 0);
    }
}
