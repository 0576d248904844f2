//! The OpenID Connect provider endpoints: discovery, JWKS, authorize, token, userinfo,
//! introspection (RFC 7662), revocation (RFC 7009) and RP-initiated logout.
//!
//! Errors follow the RFCs, not problem+json: RFC 6749 §5.2 JSON at the token,
//! introspection and revocation endpoints, RFC 6750 §3 at userinfo, redirects with `error`
//! and `state` from /authorize once the client is known, and Italian pages otherwise.

use super::browser::{self, BROWSER_COOKIE, SESSION_COOKIE};
use super::pages::{self, LogoutProblem};
use crate::AppState;
use crate::db::{self, DbError};
use crate::login::Level;
use crate::oauth::authorize::{self, AuthorizeError, ValidRequest, redirect_with};
use crate::oauth::client::{self, Client, ClientAuthError, Credentials, GrantType};
use crate::oauth::client_cache::Known;
use crate::oauth::grant::{self, Refusal};
use crate::oauth::jwt::{self, ACCESS_TOKEN_TYP, AccessTokenClaims, Expect, IdTokenClaims};
use crate::oauth::params::Params;
use crate::oauth::scope::{self, ScopeSet};
use crate::oauth::session::{self, BrowserSession, PendingAuthorization};
use crate::oauth::tokens::Minter;
use crate::oauth::{exchange, liveness, subject, token_hash};
use crate::operator;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

// ---------------------------------------------------------------------------------------
// Errors in the shapes the RFCs prescribe

/// RFC 6749 §5.2 error response (also used by RFC 7009 and RFC 7662 endpoints).
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// `WWW-Authenticate` to send (client authentication failed, or a bearer token did).
    challenge: Option<String>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            challenge: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    fn invalid_client(e: &ClientAuthError, used_basic: bool) -> Self {
        if e.error_code() == "server_error" {
            return Self::server(e);
        }
        if !e.is_unauthorized() {
            return Self::new(e.error_code(), e.description());
        }
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: e.description().to_owned(),
            challenge: used_basic.then(|| "Basic realm=\"procura\"".to_owned()),
        }
    }

    fn invalid_token(description: impl Into<String>) -> Self {
        let description = description.into();
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_token",
            challenge: Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                description.replace('"', "'")
            )),
            description,
        }
    }

    fn server(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "OAuth endpoint failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "the server could not complete the request".into(),
            challenge: None,
        }
    }

    fn response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        b.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(c) = &self.challenge {
            b.insert_header((header::WWW_AUTHENTICATE, c.clone()));
        }
        b.json(json!({ "error": self.error, "error_description": self.description }))
    }
}

impl From<DbError> for OAuthError {
    fn from(e: DbError) -> Self {
        Self::server(e)
    }
}

fn no_store_json(body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// The form body of a POST endpoint, or an `invalid_request`.
fn form(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| OAuthError::invalid_request("the body is not UTF-8"))?;
    let params = Params::try_parse(text).map_err(|e| {
        OAuthError::invalid_request(format!("{e}: send each parameter at most once"))
    })?;
    if let Some(dup) = params.duplicated() {
        return Err(OAuthError::invalid_request(format!(
            "parameter {dup} is repeated"
        )));
    }
    Ok(params)
}

fn page_params(req: &HttpRequest, body: &[u8]) -> Option<Params> {
    if req.method() == actix_web::http::Method::POST {
        Params::parse(std::str::from_utf8(body).ok()?)
    } else {
        Params::parse(req.query_string())
    }
}

// ---------------------------------------------------------------------------------------
// Discovery and keys

fn endpoint(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.config.oauth.issuer)
}

/// Algorithms accepted for `private_key_jwt` client assertions, at every endpoint that
/// authenticates clients (token, introspection, revocation).
const CLIENT_ASSERTION_ALGS: [&str; 3] = ["ES256", "RS256", "PS256"];

/// OpenID Connect Discovery 1.0 metadata.
pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    metadata_response(&state)
}

/// RFC 8414 authorization server metadata: the same document at its own well-known path
/// (the issuer has no path component, so nothing is inserted after `.well-known/`).
pub async fn authorization_server_metadata(state: web::Data<AppState>) -> HttpResponse {
    metadata_response(&state)
}

fn metadata_response(state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(metadata(state))
}

/// The provider metadata: every member OpenID Connect Discovery 1.0 §3 and RFC 8414 §2 ask
/// of a provider with these endpoints (RFC 8414 requires the `…_auth_signing_alg_values_
/// supported` member of every endpoint that accepts `private_key_jwt`).
fn metadata(state: &AppState) -> serde_json::Value {
    let e = |p: &str| endpoint(state, p);
    json!({
            "issuer": state.config.oauth.issuer,
            "authorization_endpoint": e("/authorize"),
            "token_endpoint": e("/token"),
            "userinfo_endpoint": e("/userinfo"),
            "jwks_uri": e("/jwks.json"),
            "end_session_endpoint": e("/logout"),
            "revocation_endpoint": e("/revoke"),
            "introspection_endpoint": e("/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": GrantType::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGS,
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
            "introspection_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGS,
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "private_key_jwt"],
            "revocation_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGS,
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": scope::CATALOGUE.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr",
                "azp", "sid", "fiscal_number", "given_name", "family_name", "roles", "act", "delegation_id"],
            "acr_values_supported": Level::ALL.iter().map(|l| l.uri()).collect::<Vec<_>>(),
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "ui_locales_supported": ["it"],
    })
}

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let ttl = max_jwt_ttl(&state);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .content_type("application/jwk-set+json")
        .json(state.keys.jwks(state.clock.now(), ttl))
}

fn max_jwt_ttl(state: &AppState) -> Duration {
    secs(state.config.oauth.longest_jwt_ttl_secs())
}

/// A configured number of seconds as a `Duration` (absurdly large values saturate).
pub(super) fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 4))
}

// ---------------------------------------------------------------------------------------
// Authorization endpoint

pub async fn authorize(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    match authorize_inner(&state, &req, &body).await {
        Ok(r) => r,
        Err(e) => pages::unavailable(&state, &e, "authorization request"),
    }
}

async fn authorize_inner(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, DbError> {
    let Some(params) = page_params(req, body) else {
        return Ok(pages::error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Richiesta non valida",
            "La richiesta di accesso inviata dal servizio non è leggibile. Torna al servizio \
             da cui sei partito e riprova.",
        ));
    };
    let client = match params.get("client_id") {
        Some(id) => {
            let id = id.to_owned();
            db::run(&state.db, move |c| client::find(c, &id)).await?
        }
        None => None,
    };
    let request = match authorize::validate(&params, client.as_ref()) {
        Ok(r) => r,
        Err(AuthorizeError::Page(message)) => {
            return Ok(pages::error_page(
                state,
                StatusCode::BAD_REQUEST,
                "Richiesta di accesso non valida",
                &format!(
                    "{message} Il problema è del servizio da cui sei partito, non tuo: riprova \
                     più tardi o segnalalo a chi gestisce quel servizio."
                ),
            ));
        }
        Err(AuthorizeError::Redirect(e)) => {
            return Ok(redirect_error(
                state,
                &e.redirect_uri,
                e.state.as_deref(),
                e.error,
                &e.description,
            ));
        }
    };
    let now = state.clock.now();
    let session = match browser::read(req, SESSION_COOKIE) {
        Some(cookie) => db::run(&state.db, move |c| session::find_session(c, &cookie, now)).await?,
        None => None,
    };
    if let Some(s) = session.filter(|s| sso_applies(s, &request, now)) {
        return finish_with_session(state, &s, &request.pending).await;
    }
    if request.prompt_none {
        let p = &request.pending;
        return Ok(redirect_error(
            state,
            &p.redirect_uri,
            p.state.as_deref(),
            "login_required",
            "the person must log in",
        ));
    }
    // A login is needed: remember the request server-side and send the browser to the page.
    let existing = browser::read(req, BROWSER_COOKIE);
    let browser_token = match &existing {
        Some(t) => t.clone(),
        None => token_hash::new_token().map_err(DbError::from)?,
    };
    let ttl = secs(state.config.session.login_flow_ttl_secs);
    let (pending, token) = (request.pending.clone(), browser_token.clone());
    let flow = db::run(&state.db, move |c| {
        session::create_flow(c, &pending, &token, now, ttl)
    })
    .await?;
    let mut resp = browser::see_other(&format!("/login?flow={}", flow.id));
    if existing.is_none() {
        resp.cookie(browser::cookie(state, BROWSER_COOKIE, browser_token, None));
    }
    Ok(resp.finish())
}

/// Single sign-on: a live session serves the request unless it asked for a fresh login,
/// a higher level, or a login more recent than `max_age`.
fn sso_applies(s: &BrowserSession, request: &ValidRequest, now: DateTime<Utc>) -> bool {
    let level_ok = match (request.pending.acr_min, s.level()) {
        (None, Some(_)) => true,
        (Some(min), Some(have)) => have.satisfies(min),
        (_, None) => false,
    };
    // max_age=0 asks for a login now, like prompt=login (OIDC Core §3.1.2.1).
    let fresh = request
        .max_age
        .is_none_or(|max| max > 0 && (now - s.auth_time()).num_seconds() <= max);
    level_ok && fresh && !request.prompt_login
}

fn redirect_error(
    state: &AppState,
    redirect_uri: &str,
    st: Option<&str>,
    error: &str,
    description: &str,
) -> HttpResponse {
    let mut q = vec![("error", error), ("error_description", description)];
    if let Some(s) = st {
        q.push(("state", s));
    }
    q.push(("iss", state.config.oauth.issuer.as_str()));
    browser::see_other(&redirect_with(redirect_uri, &q)).finish()
}

/// Issues the authorization code for `pending` from a live session and sends the browser
/// back to the client.
pub async fn finish_with_session(
    state: &AppState,
    session: &BrowserSession,
    pending: &PendingAuthorization,
) -> Result<HttpResponse, DbError> {
    let code = issue_code(state, session.clone(), pending.clone()).await?;
    Ok(code_redirect(state, pending, &code).finish())
}

/// The redirect carrying a fresh code (and `state`, and `iss` per RFC 9207).
pub fn code_redirect(
    state: &AppState,
    pending: &PendingAuthorization,
    code: &str,
) -> actix_web::HttpResponseBuilder {
    let mut q = vec![("code", code)];
    if let Some(s) = &pending.state {
        q.push(("state", s.as_str()));
    }
    q.push(("iss", state.config.oauth.issuer.as_str()));
    browser::see_other(&redirect_with(&pending.redirect_uri, &q))
}

pub async fn issue_code(
    state: &AppState,
    session: BrowserSession,
    pending: PendingAuthorization,
) -> Result<String, DbError> {
    let now = state.clock.now();
    let lifetimes = grant::Lifetimes {
        code: secs(state.config.oauth.code_ttl_secs),
        grant: secs(state.config.oauth.refresh_token_ttl_secs),
    };
    db::run(&state.db, move |c| {
        c.write_transaction(|c| {
            let level = session.level().unwrap_or(Level::PinOrdinario);
            let scope = level.limit_scopes(&ScopeSet::parse(&pending.scope));
            let sub = subject::sub_for(c, &session.codice_fiscale, now)?;
            grant::issue_code(
                c,
                &session,
                &pending,
                &scope.to_string(),
                &sub,
                now,
                lifetimes,
            )
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Token endpoint

/// The audiences a client assertion may name: the token endpoint or the issuer.
fn assertion_audiences(state: &AppState) -> [String; 2] {
    [endpoint(state, "/token"), state.config.oauth.issuer.clone()]
}

/// The client of a token, introspection or revocation request as far as memory knows it
/// (malformed credentials are refused here), and whether it used HTTP Basic.
fn recall_client(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
) -> Result<(Known, bool), OAuthError> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let used_basic =
        authorization.is_some_and(|a| a.len() > 6 && a[..6].eq_ignore_ascii_case("basic "));
    let credentials: Credentials = client::credentials_from(
        authorization,
        params.get("client_id"),
        params.get("client_secret"),
        params.get("client_assertion_type"),
        params.get("client_assertion"),
    )
    .map_err(|e| OAuthError::invalid_client(&e, used_basic))?;
    let audiences = assertion_audiences(state).to_vec();
    Ok((
        state.client_cache.recall(credentials, audiences),
        used_basic,
    ))
}

/// Authenticates the client of a token, introspection or revocation request (from memory,
/// or else on the blocking pool).
async fn authenticate_client(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
) -> Result<Client, OAuthError> {
    let (known, used_basic) = recall_client(state, req, params)?;
    match known {
        Known::Client(client) => Ok(client),
        Known::Unknown(pending) => {
            let cache = state.client_cache.clone();
            let now = state.clock.now();
            db::run(&state.db, move |c| {
                Ok::<_, DbError>(cache.authenticate_in(c, pending, now))
            })
            .await?
            .map_err(|e| OAuthError::invalid_client(&e, used_basic))
        }
    }
}

pub async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    match token_inner(&state, &req, &body).await {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

async fn token_inner(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, OAuthError> {
    let params = form(req, body)?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let client = authenticate_client(state, req, &params).await?;
    let grant_type = GrantType::parse(grant_type).ok_or_else(|| {
        OAuthError::new(
            "unsupported_grant_type",
            format!("{grant_type} is not supported"),
        )
    })?;
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::new(
            "unauthorized_client",
            format!("the client may not use {}", grant_type.as_str()),
        ));
    }
    let now = state.clock.now();
    let minter = Minter {
        config: &state.config.oauth,
        keys: &state.keys,
        now,
    };
    let response = match grant_type {
        GrantType::AuthorizationCode => {
            let need = |n: &str| {
                params
                    .get(n)
                    .map(str::to_owned)
                    .ok_or_else(|| OAuthError::invalid_request(format!("{n} is required")))
            };
            let (code, redirect_uri, verifier) =
                (need("code")?, need("redirect_uri")?, need("code_verifier")?);
            let client_id = client.client_id.clone();
            let refresh = client.allows_grant(GrantType::RefreshToken);
            let redeemed = db::run(&state.db, move |c| {
                grant::redeem_code(c, &code, &client_id, &redirect_uri, &verifier, refresh, now)
            })
            .await?
            .map_err(invalid_grant)?;
            let scope = ScopeSet::parse(&redeemed.grant.scope);
            let roles = operator_roles(state, &redeemed.grant, &scope).await?;
            minter.for_grant(&redeemed.grant, &scope, redeemed.refresh_token, true, roles)
        }
        GrantType::RefreshToken => {
            let token = params
                .get("refresh_token")
                .map(str::to_owned)
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
            let client_id = client.client_id.clone();
            let asked = params.get("scope").map(ScopeSet::parse);
            let narrowed = asked.clone();
            let redeemed = db::run(&state.db, move |c| {
                grant::rotate_refresh_token(c, &token, &client_id, narrowed.as_ref(), now)
            })
            .await?
            .map_err(invalid_grant)?;
            let scope = asked.unwrap_or_else(|| ScopeSet::parse(&redeemed.grant.scope));
            // Looked up again at each refresh: a disabled operator's new tokens have none.
            let roles = operator_roles(state, &redeemed.grant, &scope).await?;
            minter.for_grant(
                &redeemed.grant,
                &scope,
                redeemed.refresh_token,
                false,
                roles,
            )
        }
        GrantType::TokenExchange => {
            let claims = token_exchange(state, req, &params, &client, now).await?;
            minter.for_exchange(&claims)
        }
        GrantType::ClientCredentials => {
            let allowed = client.scopes.without(scope::PERSON_ONLY);
            let scope = match params.get("scope") {
                None => allowed,
                Some(asked) => {
                    let asked = ScopeSet::parse(asked);
                    if let Some(bad) = asked.not_in(&allowed).next() {
                        return Err(OAuthError::new(
                            "invalid_scope",
                            format!("the client may not obtain {bad} with client_credentials"),
                        ));
                    }
                    asked
                }
            };
            minter.for_client(&client.client_id, &scope)
        }
    }
    .map_err(OAuthError::server)?;
    Ok(no_store_json(&response))
}

/// RFC 8693: checks the request and the actor token, then the delegation (and audits) in the
/// database; the claims of the delegated token to sign.
async fn token_exchange(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
    client: &Client,
    now: DateTime<Utc>,
) -> Result<AccessTokenClaims, OAuthError> {
    let refused = |r: exchange::Refusal| OAuthError::new(r.error_code(), r.description());
    let x = exchange::parse_params(params, &state.config.oauth.access_token_audience)
        .map_err(refused)?;
    let unusable = |why: &str| {
        refused(exchange::Refusal::InvalidRequest(format!(
            "actor_token {why}"
        )))
    };
    let Some(actor) = live_access_token(state, &x.actor_token).await? else {
        return Err(unusable("is not a live procura access token"));
    };
    if actor.client_id != client.client_id {
        return Err(unusable("was issued to another client"));
    }
    // No chains: a delegated token cannot act again (sub-delegation, domain §6.5).
    if actor.act.is_some() || actor.delegation_id.is_some() {
        return Err(unusable("is itself a delegated token"));
    }
    let person = actor
        .fiscal_number
        .as_deref()
        .and_then(|f| f.strip_prefix("TINIT-"))
        .and_then(|code| crate::person::CodiceFiscale::parse(code).ok())
        .filter(|_| actor.gid.is_some());
    let Some(person) = person else {
        return Err(unusable("was not issued to a person"));
    };
    let scope = exchange::exchanged_scope(&ScopeSet::parse(&actor.scope), x.scope.as_ref())
        .map_err(refused)?;
    let config = state.config.oauth.clone();
    let ttl_secs = state.config.delegation.exchanged_token_ttl_secs;
    let client_id = client.client_id.clone();
    let key = state.audit_key.clone();
    let request_id = req
        .extensions()
        .get::<super::request_id::RequestId>()
        .map(|r| r.0.clone());
    db::run(&state.db, move |c| {
        let ask = exchange::Exchange {
            config: &config,
            client_id: &client_id,
            actor: &actor,
            actor_person: &person,
            delegation_id: &x.delegation_id,
            scope: &scope,
            ttl_secs,
            request_id,
        };
        exchange::exchange(c, &key, &ask, now)
    })
    .await?
    .map_err(refused)
}

/// The `roles` claim of a person's tokens: with scope `operator`, a login at or above
/// `operator.min_level`, and an active operator record now. Otherwise no claim at all.
pub(crate) async fn operator_roles(
    state: &AppState,
    grant: &grant::Grant,
    scope: &ScopeSet,
) -> Result<Option<Vec<String>>, DbError> {
    let min = state.config.operator.min_level;
    if !scope.contains(scope::OPERATOR) || !grant.level().is_some_and(|l| l.satisfies(min)) {
        return Ok(None);
    }
    let code = grant.codice_fiscale.clone();
    let found = db::run(&state.db, move |c| {
        operator::active_by_codice_fiscale(c, &code)
    })
    .await?;
    Ok(found.map(|o| o.role_names().into_iter().map(str::to_owned).collect()))
}

fn invalid_grant(r: Refusal) -> OAuthError {
    let error = if r == Refusal::WiderScope {
        "invalid_scope"
    } else {
        "invalid_grant"
    };
    OAuthError::new(error, r.description())
}

// ---------------------------------------------------------------------------------------
// Access token checks: userinfo, introspection, revocation

fn expect_access_token(state: &AppState, now: DateTime<Utc>) -> Expect<'_> {
    Expect {
        issuer: &state.config.oauth.issuer,
        audience: Some(&state.config.oauth.access_token_audience),
        typ: Some(ACCESS_TOKEN_TYP),
        check_expiry: true,
        now,
        max_jwt_ttl: max_jwt_ttl(state),
    }
}

/// The claims of a live access token: valid JWT from us, not expired, not revoked, and its
/// grant (if any) still live.
pub(crate) async fn live_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<AccessTokenClaims>, DbError> {
    let now = state.clock.now();
    // The signature may be answered from memory (by the token's hash); whether the token,
    // its grant and its delegation are still live is asked of the database every time, in
    // one statement.
    let Ok(claims) =
        state
            .verified_tokens
            .verify(&state.keys, token, &expect_access_token(state, now))
    else {
        return Ok(None);
    };
    db::run(&state.db, move |c| {
        let live = liveness::access_token_is_live(c, &claims, now)?;
        Ok::<_, DbError>(live.then_some(claims))
    })
    .await
}

pub(crate) fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

pub async fn userinfo(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(token) = bearer(&req) else {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"procura\""))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"error": "invalid_request", "error_description": "send the access token as Authorization: Bearer"}));
    };
    let claims = match live_access_token(&state, token).await {
        Ok(Some(c)) => c,
        Ok(None) => return OAuthError::invalid_token("the access token is not valid").response(),
        Err(e) => return OAuthError::server(e).response(),
    };
    let scope = ScopeSet::parse(&claims.scope);
    let Some(gid) = claims.gid.clone().filter(|_| scope.contains("openid")) else {
        return OAuthError {
            status: StatusCode::FORBIDDEN,
            error: "insufficient_scope",
            description: "userinfo needs a token issued to a person with scope openid".into(),
            challenge: Some("Bearer error=\"insufficient_scope\", scope=\"openid\"".into()),
        }
        .response();
    };
    let grant = match db::run(&state.db, move |c| grant::find_grant(c, &gid)).await {
        Ok(Some(g)) => g,
        Ok(None) => return OAuthError::invalid_token("the access token is not valid").response(),
        Err(e) => return OAuthError::server(e).response(),
    };
    let mut body = serde_json::Map::new();
    body.insert("sub".into(), json!(grant.sub));
    body.insert(
        "fiscal_number".into(),
        json!(jwt::fiscal_number(&grant.codice_fiscale)),
    );
    match operator_roles(&state, &grant, &scope).await {
        Ok(Some(roles)) => {
            body.insert("roles".into(), json!(roles));
        }
        Ok(None) => {}
        Err(e) => return OAuthError::server(e).response(),
    }
    if scope.contains("profile") {
        if let Some(n) = &grant.given_name {
            body.insert("given_name".into(), json!(n));
        }
        if let Some(n) = &grant.family_name {
            body.insert("family_name".into(), json!(n));
        }
    }
    no_store_json(&body)
}

pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    match introspect_inner(&state, &req, &body).await {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

/// What is introspected, as far as it is known before any database work.
enum Introspected {
    Missing,
    /// A JWT: its claims when it is one of our valid, unexpired access tokens.
    Jwt(Option<Box<AccessTokenClaims>>),
    /// Anything else is looked up as a refresh token.
    Refresh(String),
}

/// The answer, once the database was asked.
enum Introspection {
    Inactive,
    AccessToken(Box<AccessTokenClaims>),
    RefreshToken(Box<grant::Grant>),
}

/// A confidential client asking about a token (else the refusals, in this order).
fn admit_introspection(client: &Client, asked: &Introspected) -> Result<(), OAuthError> {
    if client.is_public() {
        return Err(OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "introspection needs an authenticated (confidential) client".into(),
            challenge: None,
        });
    }
    if matches!(asked, Introspected::Missing) {
        return Err(OAuthError::invalid_request("token is required"));
    }
    Ok(())
}

/// The database's part: the access token's liveness (one statement), or the refresh token's
/// grant (only its own client may introspect it).
fn introspect_in(
    c: &mut db::DbConn,
    client: &Client,
    asked: Introspected,
    now: DateTime<Utc>,
) -> Result<Introspection, DbError> {
    Ok(match asked {
        Introspected::Missing | Introspected::Jwt(None) => Introspection::Inactive,
        Introspected::Jwt(Some(claims)) => {
            if liveness::access_token_is_live(c, &claims, now)? {
                Introspection::AccessToken(claims)
            } else {
                Introspection::Inactive
            }
        }
        Introspected::Refresh(token) => match grant::grant_of_refresh_token(c, &token)? {
            Some((g, unspent)) if unspent && g.is_live(now) && g.client_id == client.client_id => {
                Introspection::RefreshToken(Box::new(g))
            }
            _ => Introspection::Inactive,
        },
    })
}

/// One trip to the blocking pool at most: the client's authentication when memory did not
/// know it, and the token's reads, together.
async fn introspect_inner(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, OAuthError> {
    let params = form(req, body)?;
    let (known, used_basic) = recall_client(state, req, &params)?;
    let now = state.clock.now();
    let asked = match params.get("token") {
        None => Introspected::Missing,
        Some(t) if looks_like_jwt(t) => Introspected::Jwt(
            state
                .verified_tokens
                .verify(&state.keys, t, &expect_access_token(state, now))
                .ok()
                .map(Box::new),
        ),
        Some(t) => Introspected::Refresh(t.to_owned()),
    };
    let answer = match known {
        Known::Client(client) => {
            admit_introspection(&client, &asked)?;
            if matches!(asked, Introspected::Jwt(None)) {
                Introspection::Inactive
            } else {
                db::run(&state.db, move |c| introspect_in(c, &client, asked, now)).await?
            }
        }
        Known::Unknown(pending) => {
            let cache = state.client_cache.clone();
            db::run(&state.db, move |c| {
                let client = match cache.authenticate_in(c, pending, now) {
                    Ok(client) => client,
                    Err(e) => return Ok(Err(OAuthError::invalid_client(&e, used_basic))),
                };
                if let Err(refusal) = admit_introspection(&client, &asked) {
                    return Ok(Err(refusal));
                }
                Ok::<_, DbError>(Ok(introspect_in(c, &client, asked, now)?))
            })
            .await??
        }
    };
    Ok(match answer {
        Introspection::Inactive => no_store_json(&json!({ "active": false })),
        Introspection::AccessToken(c) => no_store_json(&access_token_introspection(*c)),
        Introspection::RefreshToken(g) => no_store_json(&json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": g.scope,
            "client_id": g.client_id,
            "sub": g.sub,
            "iss": state.config.oauth.issuer,
            "exp": g.expires_at.and_utc().timestamp(),
            "iat": g.created_at.and_utc().timestamp(),
        })),
    })
}

fn access_token_introspection(c: AccessTokenClaims) -> serde_json::Map<String, serde_json::Value> {
    let mut body = serde_json::Map::new();
    for (k, v) in [
        ("active", json!(true)),
        ("token_type", json!("Bearer")),
        ("scope", json!(c.scope)),
        ("client_id", json!(c.client_id)),
        ("sub", json!(c.sub)),
        ("iss", json!(c.iss)),
        ("aud", json!(c.aud)),
        ("exp", json!(c.exp)),
        ("iat", json!(c.iat)),
        ("jti", json!(c.jti)),
    ] {
        body.insert(k.into(), v);
    }
    let optional = [
        ("acr", c.acr.map(|v| json!(v))),
        ("amr", c.amr.map(|v| json!(v))),
        ("auth_time", c.auth_time.map(|v| json!(v))),
        ("fiscal_number", c.fiscal_number.map(|v| json!(v))),
        ("sid", c.sid.map(|v| json!(v))),
        ("roles", c.roles.map(|v| json!(v))),
        ("act", c.act.map(|v| json!(v))),
        ("delegation_id", c.delegation_id.map(|v| json!(v))),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            body.insert(k.into(), v);
        }
    }
    body
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    match revoke_inner(&state, &req, &body).await {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

/// RFC 7009: revoking a refresh token revokes its whole grant (and so the access tokens
/// from it); an access token is revoked alone. Unknown tokens, and tokens of other
/// clients, get the same 200 without any effect (§2.2).
async fn revoke_inner(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, OAuthError> {
    let params = form(req, body)?;
    let client = authenticate_client(state, req, &params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?
        .to_owned();
    let now = state.clock.now();
    if looks_like_jwt(&token) {
        let expect = Expect {
            check_expiry: false,
            ..expect_access_token(state, now)
        };
        if let Ok(c) = jwt::verify::<AccessTokenClaims>(&state.keys, &token, &expect)
            && c.client_id == client.client_id
        {
            let expires = DateTime::from_timestamp(c.exp, 0).unwrap_or(now);
            db::run(&state.db, move |conn| {
                grant::revoke_access_token(conn, &c.jti, expires)
            })
            .await?;
        }
    } else {
        let client_id = client.client_id.clone();
        db::run(&state.db, move |c| {
            if let Some((g, _)) = grant::grant_of_refresh_token(c, &token)?
                && g.client_id == client_id
            {
                grant::revoke_grant(c, &g.id, now)?;
            }
            Ok::<_, DbError>(())
        })
        .await?;
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

// ---------------------------------------------------------------------------------------
// RP-initiated logout

/// A logout request that cannot be honoured as asked (unreadable, a bad `id_token_hint`, an
/// unregistered `post_logout_redirect_uri`): the browser's session ends all the same — on a
/// shared computer the person asked to leave — and the page says why they were not taken
/// back. A SPID session also ends at the IdP, whose answer comes back to that page.
async fn failed_logout(
    state: &AppState,
    req: &HttpRequest,
    problem: LogoutProblem,
) -> Result<HttpResponse, DbError> {
    let now = state.clock.now();
    let session = match browser::read(req, SESSION_COOKIE) {
        Some(cookie) => db::run(&state.db, move |c| session::find_session(c, &cookie, now)).await?,
        None => None,
    };
    let Some(s) = session else {
        return Ok(pages::logout_failed(state, problem, false));
    };
    let id = s.id.clone();
    db::run(&state.db, move |c| session::end_session(c, &id, now)).await?;
    let outcome = format!("/uscita?esito={}", problem.code());
    if let Some(resp) = super::spid::single_logout(state, &s.id, Some(outcome)).await {
        return Ok(resp);
    }
    let mut resp = pages::logout_failed(state, problem, true);
    let _ = resp.add_cookie(&browser::removal(state, SESSION_COOKIE));
    Ok(resp)
}

pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    match logout_inner(&state, &req, &body).await {
        Ok(r) => r,
        Err(e) => pages::unavailable(&state, &e, "logout"),
    }
}

async fn logout_inner(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, DbError> {
    let Some(params) = page_params(req, body) else {
        return failed_logout(state, req, LogoutProblem::Unreadable).await;
    };
    let now = state.clock.now();
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(t) => {
            let expect = Expect {
                issuer: &state.config.oauth.issuer,
                audience: None,
                typ: None,
                check_expiry: false,
                now,
                max_jwt_ttl: max_jwt_ttl(state),
            };
            match jwt::verify::<IdTokenClaims>(&state.keys, t, &expect) {
                Ok(c) => Some(c),
                Err(_) => return failed_logout(state, req, LogoutProblem::BadHint).await,
            }
        }
    };
    let client_id = params
        .get("client_id")
        .map(str::to_owned)
        .or_else(|| hint.as_ref().map(|h| h.aud.clone()));
    if let (Some(h), Some(id)) = (&hint, params.get("client_id"))
        && h.aud != id
    {
        return failed_logout(state, req, LogoutProblem::HintOfOtherService).await;
    }
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(id) = client_id.clone() else {
                return failed_logout(state, req, LogoutProblem::NoService).await;
            };
            let client = db::run(&state.db, move |c| client::find(c, &id)).await?;
            if !client.is_some_and(|c| c.has_post_logout_redirect_uri(uri)) {
                return failed_logout(state, req, LogoutProblem::UnregisteredReturn).await;
            }
            let mut q = Vec::new();
            if let Some(s) = params.get("state") {
                q.push(("state", s));
            }
            Some(if q.is_empty() {
                uri.to_owned()
            } else {
                redirect_with(uri, &q)
            })
        }
    };
    let session = match browser::read(req, SESSION_COOKIE) {
        Some(cookie) => db::run(&state.db, move |c| session::find_session(c, &cookie, now)).await?,
        None => None,
    };
    let confirmed = req.method() == actix_web::http::Method::POST && params.get("csrf").is_some();
    let done = |state: &AppState| {
        let mut resp = match &redirect {
            Some(uri) => browser::see_other(uri).finish(),
            None => pages::logged_out(state),
        };
        let _ = resp.add_cookie(&browser::removal(state, SESSION_COOKIE));
        resp
    };
    match (session, hint) {
        // The client names the session it knows: end that one, no questions asked.
        (_, Some(h)) => {
            if let Some(sid) = h.sid.clone() {
                let ending = sid.clone();
                db::run(&state.db, move |c| session::end_session(c, &ending, now)).await?;
                super::cie::end_session(state, &sid).await;
                if let Some(resp) = super::spid::single_logout(state, &sid, redirect.clone()).await
                {
                    return Ok(resp);
                }
            }
            Ok(done(state))
        }
        (Some(s), None) if confirmed => {
            if !params.get("csrf").is_some_and(|t| s.csrf_matches(t)) {
                return Ok(pages::error_page(
                    state,
                    StatusCode::FORBIDDEN,
                    "Richiesta di uscita non valida",
                    "La conferma di uscita non proviene da questa pagina.",
                ));
            }
            let id = s.id.clone();
            db::run(&state.db, move |c| session::end_session(c, &id, now)).await?;
            super::cie::end_session(state, &s.id).await;
            if let Some(resp) = super::spid::single_logout(state, &s.id, redirect.clone()).await {
                return Ok(resp);
            }
            Ok(done(state))
        }
        // No proof the request comes from the person's client: ask them (CSRF-protected).
        (Some(s), None) => {
            let mut carried = Vec::new();
            for k in ["post_logout_redirect_uri", "state", "client_id"] {
                if let Some(v) = params.get(k) {
                    carried.push((k, v));
                }
            }
            Ok(pages::logout_confirm(state, &s.csrf_token, &carried))
        }
        (None, None) => Ok(done(state)),
    }
}
