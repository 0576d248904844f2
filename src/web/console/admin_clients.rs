//! Administration: the OpenID Connect clients (relying parties) — list, add (a generated
//! secret shown once), remove, rotate the secret.
//!
//! The same domain functions as `procura clients` (`client::list`, `register`, `remove`) and
//! `client::rotate_secret`, audited with the admin as actor. The console's own client is
//! procura's to manage (its secret is derived, it is re-registered at each login): it is
//! listed but cannot be removed or rotated here.

use super::admin::{self, Notice, field};
use super::guard::Desk;
use super::{Frame, login, render, time_text, unavailable};
use crate::AppState;
use crate::audit::{AuditKey, Party};
use crate::db::{self, DbConn, DbError};
use crate::oauth::client::{self, AuthMethod, Client, ClientError, GrantType, NewClient};
use crate::oauth::scope::ScopeSet;
use crate::web::forms::FormErrors;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};

pub const PATH: &str = "/console/amministrazione/client";

/// Longest text accepted in one field of the form (a JWK Set of a few keys fits).
const MAX_FIELD: usize = 16 * 1024;

/// A client as the list shows it.
struct Row {
    id: String,
    name: String,
    kind: &'static str,
    grants: String,
    scopes: String,
    redirect_uris: Vec<String>,
    created: String,
    /// A `client_secret_basic` client (its secret can be rotated).
    has_secret: bool,
    /// The console's own client.
    own: bool,
}

/// What the add form holds (never a secret).
struct AddForm {
    client_id: String,
    display_name: String,
    auth_method: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    scopes: String,
    grants: Vec<(&'static str, &'static str, bool)>,
    jwks: String,
}

impl AddForm {
    fn empty() -> Self {
        Self {
            client_id: String::new(),
            display_name: String::new(),
            auth_method: String::new(),
            redirect_uris: String::new(),
            post_logout_redirect_uris: String::new(),
            scopes: "openid".into(),
            grants: grant_boxes(|g| g == GrantType::AuthorizationCode),
            jwks: String::new(),
        }
    }
}

fn grant_boxes(checked: impl Fn(GrantType) -> bool) -> Vec<(&'static str, &'static str, bool)> {
    GrantType::ALL
        .into_iter()
        .map(|g| (grant_field(g), grant_label(g), checked(g)))
        .collect()
}

fn grant_field(g: GrantType) -> &'static str {
    match g {
        GrantType::AuthorizationCode => "grant_authorization_code",
        GrantType::RefreshToken => "grant_refresh_token",
        GrantType::ClientCredentials => "grant_client_credentials",
        GrantType::TokenExchange => "grant_token_exchange",
    }
}

fn grant_label(g: GrantType) -> &'static str {
    match g {
        GrantType::AuthorizationCode => "authorization_code (accesso delle persone)",
        GrantType::RefreshToken => "refresh_token",
        GrantType::ClientCredentials => "client_credentials (il servizio per conto proprio)",
        GrantType::TokenExchange => "token exchange (delegato per conto del delegante)",
    }
}

fn kind(m: AuthMethod) -> &'static str {
    match m {
        AuthMethod::None => "pubblico (nessun segreto, PKCE)",
        AuthMethod::ClientSecretBasic => "confidenziale con segreto (client_secret_basic)",
        AuthMethod::PrivateKeyJwt => "confidenziale con chiavi (private_key_jwt)",
    }
}

/// A secret just generated: shown once on this page.
struct Secret {
    client_id: String,
    value: String,
}

#[derive(Template)]
#[template(path = "console/admin_clients.html")]
struct ClientsPage<'a> {
    frame: Frame<'a>,
    csrf: String,
    notice: Option<Notice>,
    secret: Option<Secret>,
    rows: Vec<Row>,
    add: AddForm,
    methods: Vec<(&'static str, &'static str)>,
    errors: FormErrors,
}

fn row(state: &AppState, c: Client) -> Row {
    Row {
        kind: kind(c.auth_method),
        grants: c
            .grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        scopes: c.scopes.to_string(),
        created: time_text(state, c.created_at),
        has_secret: c.auth_method == AuthMethod::ClientSecretBasic,
        own: c.client_id == login::CLIENT_ID,
        redirect_uris: c.redirect_uris,
        name: c.display_name,
        id: c.client_id,
    }
}

async fn page(
    state: &AppState,
    desk: &Desk,
    status: StatusCode,
    notice: Option<Notice>,
    secret: Option<Secret>,
    add: AddForm,
    errors: FormErrors,
) -> HttpResponse {
    let all = match db::run(&state.db, client::list).await {
        Ok(all) => all,
        Err(e) => return unavailable(state, &e, "client list"),
    };
    render(
        status,
        &ClientsPage {
            frame: desk.frame(state, "Amministrazione: client OpenID Connect", admin::PATH),
            csrf: desk.session.csrf_token.clone(),
            notice,
            secret,
            rows: all.into_iter().map(|c| row(state, c)).collect(),
            add,
            methods: AuthMethod::ALL
                .into_iter()
                .map(|m| (m.as_str(), kind(m)))
                .collect(),
            errors,
        },
    )
}

/// `GET /console/amministrazione/client`.
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match admin::require(&state, &req).await {
        Ok(desk) => {
            page(
                &state,
                &desk,
                StatusCode::OK,
                None,
                None,
                AddForm::empty(),
                FormErrors::default(),
            )
            .await
        }
        Err(resp) => resp,
    }
}

/// A client error as the form shows it: (field, Italian text); `None` for a failure of
/// procura's own.
fn explain(e: &ClientError) -> Option<(&'static str, String)> {
    use ClientError as E;
    Some(match e {
        E::InvalidId(_) => (
            "client_id",
            "Da 3 a 64 caratteri tra lettere, cifre, punto, trattino basso e trattino.".into(),
        ),
        E::Exists(_) => ("client_id", "Esiste già un client con questo id.".into()),
        E::InvalidName => (
            "display_name",
            "Scrivi il nome del servizio, senza caratteri di controllo.".into(),
        ),
        E::InvalidRedirectUri { uri, .. } => (
            "redirect_uris",
            format!(
                "L'indirizzo {uri} non è valido: deve essere assoluto, in https (http solo su \
                 localhost), senza frammento né credenziali."
            ),
        ),
        E::InvalidPostLogoutRedirectUri { uri, .. } => (
            "post_logout_redirect_uris",
            format!(
                "L'indirizzo {uri} non è valido: deve essere assoluto, in https (http solo su \
                 localhost), senza frammento né credenziali."
            ),
        ),
        E::MissingRedirectUri => (
            "redirect_uris",
            "Con authorization_code serve almeno un indirizzo di ritorno.".into(),
        ),
        E::RedirectUriWithoutCode => (
            "redirect_uris",
            "Gli indirizzi di ritorno servono solo con authorization_code: lasciali vuoti.".into(),
        ),
        E::NoScopes => ("scopes", "Indica almeno uno scope.".into()),
        E::UnknownScope { scope, known } => (
            "scopes",
            format!("Lo scope {scope} non esiste. Scope disponibili: {known}."),
        ),
        E::MissingOpenid => (
            "scopes",
            "Un client con authorization_code (accesso OpenID Connect) deve avere lo scope \
             openid."
                .into(),
        ),
        E::NoGrants => ("grants", "Scegli almeno un tipo di concessione.".into()),
        E::UnknownGrant(_) => ("grants", "Tipo di concessione sconosciuto.".into()),
        E::UnknownAuthMethod(_) => ("auth_method", "Scegli il tipo di client.".into()),
        E::RefreshWithoutCode | E::ExchangeWithoutCode => (
            "grants",
            "refresh_token e token exchange richiedono anche authorization_code.".into(),
        ),
        E::PublicClientCredentials => (
            "grants",
            "Un client pubblico non può usare client_credentials: chiunque potrebbe \
             impersonarlo."
                .into(),
        ),
        E::PublicWithoutCode => (
            "grants",
            "Un client pubblico deve usare authorization_code (con PKCE).".into(),
        ),
        E::MissingJwks => (
            "jwks",
            "Un client private_key_jwt richiede il JWK Set con le sue chiavi pubbliche.".into(),
        ),
        E::UnexpectedJwks => (
            "jwks",
            "Il JWK Set serve solo ai client private_key_jwt: lascia il campo vuoto.".into(),
        ),
        E::InvalidJwks(why) => ("jwks", format!("Il JWK Set non è valido ({why}).")),
        E::PrivateKeyInJwks(member) => (
            "jwks",
            format!(
                "Il JWK Set contiene materiale di chiave privata ({member}): registra solo le \
                 chiavi pubbliche."
            ),
        ),
        E::NoUsableKey => (
            "jwks",
            "Il JWK Set non ha una chiave di firma utilizzabile: serve una chiave EC P-256 o \
             RSA di almeno 2048 bit."
                .into(),
        ),
        E::Random(_) | E::Db(_) => return None,
    })
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /console/amministrazione/client` (`csrf`, `client_id`, `display_name`,
/// `auth_method`, `redirect_uris` and `post_logout_redirect_uris` one a line, `scopes`,
/// `grant_<type>`, `jwks`): registers a client; a secret is shown once.
pub async fn add(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (desk, form) = match admin::require_form(&state, &req, &body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let typed = AddForm {
        client_id: field(&form, "client_id"),
        display_name: field(&form, "display_name"),
        auth_method: field(&form, "auth_method"),
        redirect_uris: field(&form, "redirect_uris"),
        post_logout_redirect_uris: field(&form, "post_logout_redirect_uris"),
        scopes: field(&form, "scopes"),
        grants: grant_boxes(|g| form.get(grant_field(g)).is_some()),
        jwks: field(&form, "jwks"),
    };
    let mut errors = FormErrors::default();
    for (name, text) in [
        ("redirect_uris", &typed.redirect_uris),
        (
            "post_logout_redirect_uris",
            &typed.post_logout_redirect_uris,
        ),
        ("jwks", &typed.jwks),
    ] {
        if text.len() > MAX_FIELD {
            errors.add(name, "Il testo è troppo lungo (al massimo 16 kB).");
        }
    }
    let auth_method = AuthMethod::parse(&typed.auth_method);
    if auth_method.is_none() {
        errors.add("auth_method", "Scegli il tipo di client.");
    }
    let new = NewClient {
        client_id: typed.client_id.clone(),
        display_name: typed.display_name.clone(),
        auth_method: auth_method.unwrap_or(AuthMethod::None),
        redirect_uris: lines(&typed.redirect_uris),
        post_logout_redirect_uris: lines(&typed.post_logout_redirect_uris),
        scopes: ScopeSet::parse(&typed.scopes),
        grant_types: GrantType::ALL
            .into_iter()
            .filter(|g| form.get(grant_field(*g)).is_some())
            .collect(),
        jwks: Some(typed.jwks.clone()).filter(|j| !j.is_empty()),
    };
    if errors.is_empty()
        && let Err(e) = new.validate()
        && let Some((name, text)) = explain(&e)
    {
        errors.add(name, text);
    }
    let invalid = async |errors| {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        page(&state, &desk, status, None, None, typed, errors).await
    };
    if !errors.is_empty() {
        return invalid(errors).await;
    }
    let (key, actor, now) = (
        state.audit_key.clone(),
        desk.acting().actor,
        state.clock.now(),
    );
    let registered = db::run(&state.db, move |c| {
        client::register(c, &key, new, actor, now)
    })
    .await;
    match registered {
        Ok(r) => {
            let notice = Notice::success(format!(
                "Client {} registrato ({}).",
                r.client.client_id,
                kind(r.client.auth_method)
            ));
            let secret = r.secret.map(|value| Secret {
                client_id: r.client.client_id.clone(),
                value,
            });
            page(
                &state,
                &desk,
                StatusCode::OK,
                notice,
                secret,
                AddForm::empty(),
                FormErrors::default(),
            )
            .await
        }
        Err(e) => admin::refused_form(&state, &e, explain(&e), "client add", errors, invalid).await,
    }
}

/// Refuses the console's own client, which procura manages.
async fn own_client_refused(state: &AppState, desk: &Desk, id: &str) -> Option<HttpResponse> {
    if id != login::CLIENT_ID {
        return None;
    }
    Some(
        page(
            state,
            desk,
            StatusCode::CONFLICT,
            Notice::refused(
                "Il client della console è gestito da procura stessa: non si rimuove e non se ne \
                 cambia il segreto da qui.",
            ),
            None,
            AddForm::empty(),
            FormErrors::default(),
        )
        .await,
    )
}

/// A post about one registered client (remove it, give it a new secret): an admin with the
/// form's CSRF token, the console's own client refused, then `action` run with the admin as
/// the audit actor. The admin, the client id and the outcome, or the page to answer instead.
async fn client_action<T, E>(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    id: String,
    action: impl FnOnce(&mut DbConn, &AuditKey, &str, Party, DateTime<Utc>) -> Result<T, E>
    + Send
    + 'static,
) -> Result<(Desk, String, Result<T, E>), HttpResponse>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let (desk, _) = admin::require_form(state, req, body).await?;
    if let Some(refused) = own_client_refused(state, &desk, &id).await {
        return Err(refused);
    }
    let (key, actor, now) = (
        state.audit_key.clone(),
        desk.acting().actor,
        state.clock.now(),
    );
    let target = id.clone();
    let done = db::run(&state.db, move |c| action(c, &key, &target, actor, now)).await;
    Ok((desk, id, done))
}

/// `POST /console/amministrazione/client/{id}/rimuovi` (`csrf`): removes the client with
/// its grants and refresh tokens.
pub async fn remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    id: web::Path<String>,
) -> HttpResponse {
    let (desk, id, removed) =
        match client_action(&state, &req, &body, id.into_inner(), client::remove).await {
            Ok(done) => done,
            Err(resp) => return resp,
        };
    let (status, notice) = match removed {
        Ok(true) => (
            StatusCode::OK,
            Notice::success(format!(
                "Client {id} rimosso, con i suoi accessi e refresh token."
            )),
        ),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            Notice::refused(format!("Il client {id} non esiste.")),
        ),
        Err(e) => return unavailable(&state, &e, "client remove"),
    };
    page(
        &state,
        &desk,
        status,
        notice,
        None,
        AddForm::empty(),
        FormErrors::default(),
    )
    .await
}

/// `POST /console/amministrazione/client/{id}/segreto` (`csrf`): a new secret, shown once;
/// the old one stops working at once.
pub async fn rotate(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    id: web::Path<String>,
) -> HttpResponse {
    let (desk, id, rotated) =
        match client_action(&state, &req, &body, id.into_inner(), client::rotate_secret).await {
            Ok(done) => done,
            Err(resp) => return resp,
        };
    let (status, notice, secret) = match rotated {
        Ok(Some(value)) => (
            StatusCode::OK,
            Notice::success(format!(
                "Nuovo segreto per {id}: il precedente non funziona più."
            )),
            Some(Secret {
                client_id: id,
                value,
            }),
        ),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Notice::refused(format!(
                "Il client {id} non esiste o non usa un segreto (client_secret_basic)."
            )),
            None,
        ),
        Err(e) => return unavailable(&state, &e, "client secret rotation"),
    };
    page(
        &state,
        &desk,
        status,
        notice,
        secret,
        AddForm::empty(),
        FormErrors::default(),
    )
    .await
}
