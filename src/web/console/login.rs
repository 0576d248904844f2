//! The console's way in and out: procura's broker, as for any confidential client.
//!
//! In: [`start`] sends the browser to `/authorize` (`openid operator`, `acr_values` =
//! `operator.min_level`, `prompt=login` so an idle-expired session is never resumed by single
//! sign-on, PKCE S256) with a short-lived cookie holding the state and the code verifier;
//! [`callback`] checks the state, authenticates the console with its secret, redeems the code,
//! has the tokens minted as `/token` mints them, and reads the access token back to take the
//! `roles` claim. Out: [`logout`] ends the console session and the grant, then the broker's
//! single sign-on with the ID token as hint, coming back to `/console/uscita`.

use super::session::{self, NewSession};
use super::{guard, message, unavailable};
use crate::AppState;
use crate::audit::{AuditKey, Party};
use crate::config::Config;
use crate::db::{self, DbConn, DbError};
use crate::oauth::client::{self, AuthMethod, ClientAuthError, Credentials, GrantType, NewClient};
use crate::oauth::grant;
use crate::oauth::params::Params;
use crate::oauth::scope::ScopeSet;
use crate::oauth::token_hash;
use crate::oauth::tokens::Minter;
use crate::operator;
use crate::web::Link;
use crate::web::area::safe_return;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

/// The console's client id.
pub const CLIENT_ID: &str = "procura-console";
/// The console session's cookie.
pub const SESSION_COOKIE: &str = "procura_console";
/// The cookie of a login under way: state, PKCE verifier, where to go back.
const LOGIN_COOKIE: &str = "procura_console_login";
const SCOPE: &str = "openid operator";

pub fn redirect_uri(config: &Config) -> String {
    format!("{}/console/accesso", config.oauth.issuer)
}

fn logged_out_uri(config: &Config) -> String {
    format!("{}/console/uscita", config.oauth.issuer)
}

/// The console's client secret: derived from the audit key, the same on every instance.
fn secret(key: &AuditKey) -> String {
    key.derive_secret("console client secret")
}

/// Registers the console's client when missing or out of date (issuer, scopes, secret).
/// Called by `migrate` and before each login. Several instances at once: the same result.
pub fn ensure_client(
    conn: &mut DbConn,
    config: &Config,
    key: &AuditKey,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let (uri, out, secret) = (redirect_uri(config), logged_out_uri(config), secret(key));
    let scopes = ScopeSet::parse(SCOPE);
    if let Some(existing) = client::find(conn, CLIENT_ID)? {
        let current = existing.has_redirect_uri(&uri)
            && existing.has_post_logout_redirect_uri(&out)
            && existing.auth_method == AuthMethod::ClientSecretBasic
            && existing.scopes == scopes;
        if current {
            let same = existing.secret_hash.as_deref().is_some_and(|h| {
                token_hash::eq(h.as_bytes(), token_hash::hash(&secret).as_bytes())
            });
            if !same {
                client::set_secret(conn, key, CLIENT_ID, &secret, Party::system(), now)?;
            }
            return Ok(());
        }
        client::remove(conn, key, CLIENT_ID, Party::system(), now)?;
    }
    let new = NewClient {
        client_id: CLIENT_ID.into(),
        display_name: "Console operatori INPS".into(),
        auth_method: AuthMethod::ClientSecretBasic,
        redirect_uris: vec![uri],
        post_logout_redirect_uris: vec![out],
        scopes,
        grant_types: vec![GrantType::AuthorizationCode],
        jwks: None,
    };
    match client::register(conn, key, new, Party::system(), now) {
        Ok(_) | Err(client::ClientError::Exists(_)) => {}
        Err(e) => anyhow::bail!("cannot register the operator console's client: {e}"),
    }
    // The registry made up a random secret; the console's is its derived one.
    client::set_secret(conn, key, CLIENT_ID, &secret, Party::system(), now)?;
    Ok(())
}

fn secure(state: &AppState) -> bool {
    state.config.oauth.issuer.starts_with("https://")
}

/// A console cookie (path `/console`).
pub fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    max_age: Option<u64>,
) -> Cookie<'static> {
    let mut c = Cookie::build(name, value)
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .finish();
    if let Some(secs) = max_age {
        c.set_max_age(time::Duration::seconds(
            i64::try_from(secs).unwrap_or(i64::MAX),
        ));
    }
    c
}

pub fn removal(state: &AppState, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(state, name, String::new(), None);
    c.make_removal();
    c
}

/// Sends the browser to the broker's login, to come back to `return_to` (a console path).
pub async fn start(state: &AppState, return_to: &str) -> HttpResponse {
    let (config, key, now) = (
        state.config.clone(),
        state.audit_key.clone(),
        state.clock.now(),
    );
    if let Err(e) = db::run(&state.db, move |c| {
        ensure_client(c, &config, &key, now).map_err(EnsureError)
    })
    .await
    {
        return unavailable(state, &e, "console client registration");
    }
    let (Ok(st), Ok(verifier)) = (token_hash::new_id(), token_hash::new_token()) else {
        return unavailable(state, &"no randomness", "console login");
    };
    let back = safe_return(return_to)
        .filter(|p| p.starts_with("/console"))
        .unwrap_or("/console");
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let uri = redirect_uri(&state.config);
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("scope", SCOPE),
        ("redirect_uri", uri.as_str()),
        ("state", st.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("acr_values", state.config.operator.min_level.uri()),
        ("prompt", "login"),
    ])
    .unwrap_or_default();
    let value = format!("{st}.{verifier}.{}", URL_SAFE_NO_PAD.encode(back));
    let mut resp = crate::web::redirect(&format!("/authorize?{query}"));
    let ttl = state.config.session.login_flow_ttl_secs;
    let _ = resp.add_cookie(&cookie(state, LOGIN_COOKIE, value, Some(ttl)));
    resp
}

#[derive(Debug)]
struct EnsureError(anyhow::Error);

impl std::fmt::Display for EnsureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<DbError> for EnsureError {
    fn from(e: DbError) -> Self {
        Self(e.into())
    }
}

/// The login cookie: (state, verifier, return path).
fn pending(req: &HttpRequest) -> Option<(String, String, String)> {
    let v = req.cookie(LOGIN_COOKIE)?.value().to_owned();
    let mut parts = v.split('.');
    let (st, verifier, back) = (parts.next()?, parts.next()?, parts.next()?);
    let back = String::from_utf8(URL_SAFE_NO_PAD.decode(back).ok()?).ok()?;
    let back = safe_return(&back)?.to_owned();
    Some((st.to_owned(), verifier.to_owned(), back))
}

fn retry() -> Vec<Link> {
    vec![Link::new("/console", "Accedi di nuovo alla console")]
}

fn refused(state: &AppState, status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let mut resp = message(state, status, title, "danger", &[text], retry());
    let _ = resp.add_cookie(&removal(state, LOGIN_COOKIE));
    resp
}

/// `GET /console/accesso`: the broker's answer.
pub async fn callback(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let params = Params::parse(req.query_string()).unwrap_or_default();
    let Some((st, verifier, back)) = pending(&req) else {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "Accesso non valido",
            "Questa pagina di ritorno non corrisponde a un accesso iniziato da questo browser, \
             o l'accesso è scaduto.",
        );
    };
    if !params
        .get("state")
        .is_some_and(|s| token_hash::eq(s.as_bytes(), st.as_bytes()))
    {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "Accesso non valido",
            "La risposta del servizio di accesso non corrisponde all'accesso iniziato.",
        );
    }
    let Some(code) = params.get("code").map(str::to_owned) else {
        return refused(
            &state,
            StatusCode::UNAUTHORIZED,
            "Accesso non riuscito",
            "L'accesso è stato annullato o non è riuscito.",
        );
    };
    match redeem(&state, &req, code, verifier).await {
        Ok(Ok(token)) => {
            let mut resp = crate::web::redirect(&back);
            let _ = resp.add_cookie(&cookie(&state, SESSION_COOKIE, token, None));
            let _ = resp.add_cookie(&removal(&state, LOGIN_COOKIE));
            resp
        }
        Ok(Err(Refusal::Code)) => refused(
            &state,
            StatusCode::BAD_REQUEST,
            "Accesso non valido",
            "Il codice di accesso non è valido o è già stato usato.",
        ),
        Ok(Err(Refusal::Level)) => refused(
            &state,
            StatusCode::FORBIDDEN,
            "Accesso non consentito",
            &format!(
                "La console richiede un accesso di livello {} o superiore: accedi con un \
                 metodo più forte.",
                state.config.operator.min_level.uri()
            ),
        ),
        Ok(Err(Refusal::NotOperator)) => refused(
            &state,
            StatusCode::FORBIDDEN,
            "Accesso non consentito",
            "Non risulti un operatore abilitato. Rivolgiti all'amministratore.",
        ),
        Err(e) => unavailable(&state, &e, "console login"),
    }
}

enum Refusal {
    Code,
    Level,
    NotOperator,
}

/// Authenticates the console, redeems the code, mints the tokens as `/token` does, and
/// starts the console session from the access token's claims. The new cookie token.
async fn redeem(
    state: &AppState,
    req: &HttpRequest,
    code: String,
    verifier: String,
) -> Result<Result<String, Refusal>, anyhow::Error> {
    let now = state.clock.now();
    let credentials = Credentials::Basic {
        client_id: CLIENT_ID.into(),
        secret: secret(&state.audit_key),
    };
    let authenticated = db::run(&state.db, move |c| {
        Ok::<_, DbError>(client::authenticate(c, &credentials, &[], now))
    })
    .await?;
    if let Err(e) = authenticated {
        return Err(match e {
            ClientAuthError::Db(db) => db.into(),
            other => anyhow::anyhow!("the console cannot authenticate to itself: {other}"),
        });
    }
    let uri = redirect_uri(&state.config);
    let redeemed = db::run(&state.db, move |c| {
        grant::redeem_code(c, &code, CLIENT_ID, &uri, &verifier, false, now)
    })
    .await?;
    let Ok(redeemed) = redeemed else {
        return Ok(Err(Refusal::Code));
    };
    let g = redeemed.grant;
    let scope = ScopeSet::parse(&g.scope);
    let roles = crate::http::oidc::operator_roles(state, &g, &scope).await?;
    let minter = Minter {
        config: &state.config.oauth,
        keys: &state.keys,
        now,
    };
    let tokens = minter.for_grant(&g, &scope, None, true, roles)?;
    let Some(claims) = crate::http::oidc::live_access_token(state, &tokens.access_token).await?
    else {
        anyhow::bail!("the access token just minted is not live");
    };
    let min = state.config.operator.min_level;
    let level_ok = claims
        .acr
        .as_deref()
        .and_then(crate::login::Level::parse)
        .is_some_and(|l| l.satisfies(min));
    let revoke = |state: &AppState, id: String| {
        let pool = state.db.clone();
        async move { db::run(&pool, move |c| grant::revoke_grant(c, &id, now)).await }
    };
    if !level_ok {
        revoke(state, g.id.clone()).await?;
        return Ok(Err(Refusal::Level));
    }
    let roles = claims.roles.clone().unwrap_or_default();
    let code_fiscale = g.codice_fiscale.clone();
    let found = db::run(&state.db, move |c| {
        operator::active_by_codice_fiscale(c, &code_fiscale)
    })
    .await?;
    let Some(op) = found.filter(|_| !roles.is_empty()) else {
        revoke(state, g.id.clone()).await?;
        return Ok(Err(Refusal::NotOperator));
    };
    let (Ok(token), Ok(csrf)) = (token_hash::new_token(), token_hash::new_token()) else {
        anyhow::bail!("no randomness for the console session");
    };
    let new = NewSession {
        operator_id: op.id.clone(),
        codice_fiscale: op.codice_fiscale.as_str().to_owned(),
        display_name: op.display_name.clone(),
        roles,
        acr: claims.acr.clone().unwrap_or_default(),
        grant_id: g.id.clone(),
        access_jti: claims.jti.clone(),
        id_token: tokens.id_token.unwrap_or_default(),
    };
    let max_age = Duration::seconds(
        i64::try_from(state.config.operator.console_max_age_secs).unwrap_or(i64::MAX / 4),
    );
    let (key, request_id) = (state.audit_key.clone(), guard::request_id(req));
    let cookie_token = token.clone();
    db::run(&state.db, move |c| {
        session::start(
            c,
            &key,
            (&cookie_token, csrf),
            new,
            max_age,
            request_id,
            now,
        )
    })
    .await?;
    Ok(Ok(token))
}

/// `POST /console/esci`: ends the console session and its grant, then the broker's single
/// sign-on (ID token as hint), back to `/console/uscita`.
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let desk = match guard::require_form(&state, &req, &body, None).await {
        Ok((desk, _)) => desk,
        Err(resp) => return resp,
    };
    let (key, now, s) = (
        state.audit_key.clone(),
        state.clock.now(),
        desk.session.clone(),
    );
    let ended = db::run(&state.db, move |c| {
        session::end(c, &key, &s, "logout", now)?;
        grant::revoke_grant(c, &s.grant_id, now)
    })
    .await;
    if let Err(e) = ended {
        return unavailable(&state, &e, "console logout");
    }
    let query = serde_urlencoded::to_string([
        ("id_token_hint", desk.session.id_token.as_str()),
        ("post_logout_redirect_uri", &logged_out_uri(&state.config)),
    ])
    .unwrap_or_default();
    let mut resp = crate::web::redirect(&format!("/logout?{query}"));
    let _ = resp.add_cookie(&removal(&state, SESSION_COOKIE));
    resp
}

/// `GET /console/uscita`: after the logout.
pub async fn logged_out(state: web::Data<AppState>) -> HttpResponse {
    message(
        &state,
        StatusCode::OK,
        "Sei uscito dalla console",
        "success",
        &["La sessione della console e l'accesso ai servizi INPS sono chiusi."],
        retry(),
    )
}
