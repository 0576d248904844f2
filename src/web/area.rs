//! The citizen's personal area (`/area-personale`): who is logged in, and the way in.
//!
//! The pages here belong to procura itself, so they identify the citizen by the browser
//! session of the broker (the `procura_session` cookie) — the same session single sign-on
//! uses. To log in they go through the broker like any relying party: `procura-area-personale`
//! is a public client of procura (registered at start-up, like a realm's own console) whose
//! redirect URI is `/area-personale/accesso`. That keeps one login path for every method
//! (PIN with its forced change, SPID, and CIE/CNS when they are on), and a higher level is
//! asked for with `acr_values` like any client would (e.g. SPID L2 to register a delegation).
//! The code the broker issues is not redeemed: the session cookie set by the login is what
//! these pages read; the code expires unused after `oauth.code_ttl_secs`.

use super::views::{AreaPage, MessagePage};
use super::{Link, Shell, UserBox, errors, forms, redirect, render};
use crate::AppState;
use crate::audit::{AuditKey, Party};
use crate::config::Config;
use crate::db::{self, DbConn, DbError};
use crate::login::{Level, Method};
use crate::oauth::client::{self, AuthMethod, GrantType, NewClient};
use crate::oauth::params::Params;
use crate::oauth::scope::ScopeSet;
use crate::oauth::session::{self, BrowserSession};
use crate::oauth::token_hash;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};

/// The client id of the personal area.
pub const CLIENT_ID: &str = "procura-area-personale";
const SESSION_COOKIE: &str = "procura_session";

pub fn redirect_uri(config: &Config) -> String {
    format!("{}/area-personale/accesso", config.oauth.issuer)
}

/// Registers the personal area's client when it is missing, or again when the issuer (and
/// so its redirect URI) changed. Several instances starting at once: one registers, the
/// others find it.
pub fn ensure_client(
    conn: &mut DbConn,
    config: &Config,
    audit_key: &AuditKey,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let uri = redirect_uri(config);
    if let Some(existing) = client::find(conn, CLIENT_ID)? {
        if existing.has_redirect_uri(&uri) {
            return Ok(());
        }
        client::remove(conn, audit_key, CLIENT_ID, Party::system(), now)?;
    }
    let new = NewClient {
        client_id: CLIENT_ID.into(),
        display_name: "Area personale INPS".into(),
        auth_method: AuthMethod::None,
        redirect_uris: vec![uri],
        post_logout_redirect_uris: vec![],
        scopes: ScopeSet::parse("openid"),
        grant_types: vec![GrantType::AuthorizationCode],
        jwks: None,
    };
    match client::register(conn, audit_key, new, Party::system(), now) {
        Ok(_) | Err(client::ClientError::Exists(_)) => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "cannot register the personal area's client: {e}"
        )),
    }
}

#[derive(Debug, thiserror::Error)]
enum EnsureError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Client(anyhow::Error),
}

/// A path inside procura to come back to after the login (never another site).
pub fn safe_return(path: &str) -> Option<&str> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 1024
        && path
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '\\' && c != '"' && c != '<' && c != '>');
    ok.then_some(path)
}

/// The authorization request that logs the person in for the personal area (at `level` or
/// above, when given) and comes back to `return_to`. The client is registered the first time
/// it is needed (so a fresh database holds only what its operators put there).
pub async fn login_url(state: &AppState, return_to: &str, level: Option<Level>) -> String {
    let (config, key, now) = (
        state.config.clone(),
        state.audit_key.clone(),
        state.clock.now(),
    );
    let ensured: Result<(), EnsureError> = db::run(&state.db, move |c| {
        ensure_client(c, &config, &key, now).map_err(EnsureError::Client)
    })
    .await;
    if let Err(e) = ensured {
        tracing::error!(error = %e, "cannot register the personal area's client");
    }
    // PKCE is required of every client; the code is never redeemed, so the verifier is not
    // kept: a random challenge of the right shape.
    let challenge = token_hash::new_token().unwrap_or_else(|_| "x".repeat(43));
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("scope", "openid"),
        ("code_challenge_method", "S256"),
        ("state", safe_return(return_to).unwrap_or("/area-personale")),
    ];
    let uri = redirect_uri(&state.config);
    q.push(("redirect_uri", &uri));
    q.push(("code_challenge", &challenge));
    if let Some(l) = level {
        q.push(("acr_values", l.uri()));
    }
    format!(
        "/authorize?{}",
        serde_urlencoded::to_string(&q).unwrap_or_default()
    )
}

/// The live browser session of this request, if any.
pub async fn current(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<BrowserSession>, DbError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    let now = state.clock.now();
    db::run(&state.db, move |c| session::find_session(c, &cookie, now)).await
}

/// The session, or the answer to give instead: a redirect to the login (coming back to
/// `return_to`), or an error page.
pub async fn require(
    state: &AppState,
    req: &HttpRequest,
    return_to: &str,
) -> Result<BrowserSession, HttpResponse> {
    match current(state, req).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(redirect(&login_url(state, return_to, None).await)),
        Err(e) => Err(errors::unavailable(state, &e, "personal area session")),
    }
}

/// The header's user box for `session`.
pub fn user_box(session: &BrowserSession) -> UserBox {
    let name = match (&session.given_name, &session.family_name) {
        (Some(g), Some(f)) => format!("{g} {f}"),
        _ => crate::person::codice_fiscale::mask_text(&session.codice_fiscale),
    };
    UserBox {
        name,
        csrf: session.csrf_token.clone(),
    }
}

fn method_text(session: &BrowserSession) -> String {
    let method = session
        .method()
        .map_or("un metodo di accesso", |m| match m {
            Method::Pin => "il PIN INPS",
            Method::Spid => "SPID",
            Method::Cie => "la CIE",
            Method::Cns => "la CNS",
        });
    match session.level() {
        Some(Level::SpidL2) => format!("{method} (livello 2)"),
        Some(Level::SpidL3) => format!("{method} (livello 3)"),
        Some(Level::PinOrdinario) => format!("{method} ordinario"),
        Some(Level::PinDispositivo) => format!("{method} dispositivo"),
        _ => method.to_owned(),
    }
}

/// Results of forms that come back to the personal area.
fn notice(key: &str) -> Option<(&'static str, String)> {
    Some(match key {
        "pin-revocato" => (
            "success",
            "Il tuo PIN è stato revocato: non vale più per accedere. Se ti servirà di nuovo, \
             potrai richiederne uno nuovo."
                .to_owned(),
        ),
        _ => return None,
    })
}

/// `GET /area-personale`
pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let session = match require(&state, &req, "/area-personale").await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let result = forms::read_result(&req);
    let page = AreaPage {
        shell: Shell::new(&state, "La tua area personale").with_user(Some(user_box(&session))),
        notice: result.as_ref().and_then(|(k, _)| notice(k)),
        method: method_text(&session),
        links: vec![
            (
                Link::new("/area-personale/deleghe", "Le mie deleghe"),
                "Le deleghe che hai dato e quelle che hai ricevuto; registra o revoca una delega."
                    .to_owned(),
            ),
            (
                Link::new("/agisci-per-conto-di", "Agisci per conto di"),
                "Le persone per cui puoi usare i servizi INPS grazie a una delega.".to_owned(),
            ),
            (
                Link::new("/area-personale/pin", "Revoca il PIN"),
                "Se non vuoi più usare il PIN INPS, o temi che altri lo conoscano.".to_owned(),
            ),
        ],
    };
    let mut resp = render(StatusCode::OK, &page);
    if result.is_some() {
        forms::clear_result(&state, &mut resp);
    }
    resp
}

/// `GET /area-personale/accesso`: the personal area's redirect URI. The login set the
/// session cookie; go on to the page that asked for it.
pub async fn callback(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let params = Params::parse(req.query_string()).unwrap_or_default();
    let back = params
        .get("state")
        .and_then(safe_return)
        .unwrap_or("/area-personale")
        .to_owned();
    if let Some(error) = params.get("error") {
        let text = if error == "unmet_authentication_requirements" {
            "Nessuno dei modi di accesso attivi dà il livello di sicurezza richiesto."
        } else {
            "L'accesso non è stato completato."
        };
        return errors::page(
            &state,
            StatusCode::FORBIDDEN,
            "Accesso non completato",
            text,
            vec![Link::new(
                login_url(&state, &back, None).await,
                "Accedi di nuovo ai servizi INPS",
            )],
        );
    }
    match current(&state, &req).await {
        Ok(Some(_)) => redirect(&back),
        Ok(None) => errors::page(
            &state,
            StatusCode::FORBIDDEN,
            "Accesso non completato",
            "Non risulta un accesso aperto in questo browser: forse è scaduto, oppure il \
             browser non accetta i cookie tecnici di questo sito, che servono per l'accesso.",
            vec![Link::new(
                login_url(&state, &back, None).await,
                "Accedi di nuovo ai servizi INPS",
            )],
        ),
        Err(e) => errors::unavailable(&state, &e, "personal area callback"),
    }
}

/// `GET /`: where a citizen who types the address starts.
pub async fn landing(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let user = current(&state, &req).await.ok().flatten();
    render(
        StatusCode::OK,
        &MessagePage {
            shell: Shell::new(&state, "Servizi online INPS").with_user(user.as_ref().map(user_box)),
            tone: "info",
            paragraphs: vec![
                "Da qui accedi alla tua area personale, richiedi il PIN INPS o lo recuperi se \
                 l'hai dimenticato."
                    .into(),
            ],
            reference: None,
            next: vec![
                Link::new("/area-personale", "Accedi alla tua area personale"),
                Link::new("/pin/richiesta", "Richiedi il PIN INPS"),
                Link::new("/pin/recupero", "Hai dimenticato il PIN? Recuperalo"),
            ],
            contact: true,
        },
    )
}

/// `GET /uscita?esito=…`: where a logout that could not go back to its service ends (also
/// after the SPID identity provider's logout).
pub async fn logout_outcome(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let params = Params::parse(req.query_string()).unwrap_or_default();
    match params
        .get("esito")
        .and_then(super::login::LogoutProblem::parse)
    {
        Some(problem) => super::login::logout_failed(&state, problem, true),
        None => super::login::logged_out(&state),
    }
}
