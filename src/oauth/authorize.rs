//! Validation of authorization requests (OIDC Core §3.1.2.1, RFC 6749 §4.1.1, RFC 7636).
//!
//! Until the client and its redirect URI are known to be genuine, errors are shown to the
//! person (never redirected: that would make procura an open redirector); after that they
//! go back to the client as `error` + `state` on the redirect URI (§4.1.2.1).

use super::client::{Client, GrantType};
use super::params::Params;
use super::scope::{self, ScopeSet};
use super::session::PendingAuthorization;
use crate::login::Level;

/// A valid request, ready for a login or for single sign-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRequest {
    pub pending: PendingAuthorization,
    /// `prompt=none`: never show a page; fail with `login_required` instead.
    pub prompt_none: bool,
    /// `prompt=login`: authenticate again even with a live session.
    pub prompt_login: bool,
    /// `max_age`: a session older than this many seconds must authenticate again.
    pub max_age: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown to the person as a page (Italian); nothing goes back to the client.
    Page(String),
    /// Sent back to the client on its redirect URI.
    Redirect(RedirectError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectError {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub error: &'static str,
    pub description: String,
}

/// `client` is the registered client named by `client_id`, if there is one.
pub fn validate(params: &Params, client: Option<&Client>) -> Result<ValidRequest, AuthorizeError> {
    let page = |m: &str| Err(AuthorizeError::Page(m.to_owned()));
    if params.is_duplicated("client_id") || params.is_duplicated("redirect_uri") {
        return page("La richiesta di accesso non è valida: parametri ripetuti.");
    }
    let Some(client_id) = params.get("client_id") else {
        return page("La richiesta di accesso non indica il servizio (client_id mancante).");
    };
    let Some(client) = client.filter(|c| c.client_id == client_id) else {
        return page("Il servizio che ha chiesto l'accesso non è registrato presso l'INPS.");
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return page("La richiesta di accesso non indica dove tornare (redirect_uri mancante).");
    };
    if !client.has_redirect_uri(redirect_uri) {
        return page("L'indirizzo di ritorno indicato non è registrato per questo servizio.");
    }
    let state = if params.is_duplicated("state") {
        None
    } else {
        params.get("state").map(str::to_owned)
    };
    let fail = |error: &'static str, description: String| {
        Err(AuthorizeError::Redirect(RedirectError {
            redirect_uri: redirect_uri.to_owned(),
            state: state.clone(),
            error,
            description,
        }))
    };
    if let Some(dup) = params.duplicated() {
        return fail("invalid_request", format!("parameter {dup} is repeated"));
    }
    if params.get("request").is_some() {
        return fail(
            "request_not_supported",
            "request objects are not supported".into(),
        );
    }
    if params.get("request_uri").is_some() {
        return fail(
            "request_uri_not_supported",
            "request_uri is not supported".into(),
        );
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is required".into()),
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported".into(),
            );
        }
    }
    if params.get("response_mode").is_some_and(|m| m != "query") {
        return fail(
            "invalid_request",
            "only response_mode=query is supported".into(),
        );
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return fail(
            "unauthorized_client",
            "the client may not use the authorization code flow".into(),
        );
    }
    let requested = ScopeSet::parse(params.get("scope").unwrap_or(""));
    if !requested.contains("openid") {
        return fail("invalid_scope", "scope must include openid".into());
    }
    if let Some(unknown) = requested.iter().find(|s| !scope::is_known(s)) {
        return fail("invalid_scope", format!("unknown scope {unknown}"));
    }
    if let Some(only) = requested.iter().find(|s| scope::CLIENT_ONLY.contains(s)) {
        return fail(
            "invalid_scope",
            format!("{only} is for services, never for a person's login"),
        );
    }
    if let Some(denied) = requested.not_in(&client.scopes).next() {
        return fail(
            "invalid_scope",
            format!("the client may not request {denied}"),
        );
    }
    let Some(code_challenge) = params.get("code_challenge") else {
        return fail(
            "invalid_request",
            "PKCE is required: send code_challenge (S256)".into(),
        );
    };
    if params.get("code_challenge_method") != Some("S256") {
        return fail(
            "invalid_request",
            "code_challenge_method must be S256".into(),
        );
    }
    let challenge_ok = code_challenge.len() == 43
        && code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !challenge_ok {
        return fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)".into(),
        );
    }
    let prompts: Vec<&str> = params
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return fail("invalid_request", "prompt=none cannot be combined".into());
    }
    if let Some(p) = prompts
        .iter()
        .find(|p| !["none", "login", "consent", "select_account"].contains(p))
    {
        return fail("invalid_request", format!("unknown prompt value {p}"));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return fail(
                    "invalid_request",
                    "max_age must be a non-negative integer".into(),
                );
            }
        },
    };
    // acr_values lists acceptable levels; the weakest of those we know is the minimum.
    let acr_min = params.get("acr_values").and_then(|v| {
        v.split(' ')
            .filter_map(Level::parse)
            .min_by_key(|l| l.rank())
    });
    Ok(ValidRequest {
        pending: PendingAuthorization {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope: requested.to_string(),
            state,
            nonce: params.get("nonce").map(str::to_owned),
            code_challenge: code_challenge.to_owned(),
            acr_min,
        },
        prompt_none,
        prompt_login: prompts.contains(&"login"),
        max_age,
    })
}

/// Builds `redirect_uri?k=v&…`, appending to a query the URI may already have.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{sep}{query}")
}
