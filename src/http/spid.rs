//! SPID login (issue 6) and CIE SAML login (issue 14, the same code with the CIE profile):
//! the SP metadata, the AuthnRequest, the assertion consumer and Single Logout in both
//! directions. Each handler serves the service provider of its [`Profile`] (`/spid/…` and
//! `/cie/saml/…`). Parsing, signing and checking signatures run on the SPID
//! threads (`spid::pool`: bounded, lower priority, 503 when too much is waiting), never on the
//! async workers nor the blocking pool the database calls share; every state change sits in
//! the database, so any instance can take any step.
//!
//! The Response arrives by a cross-site POST from the IdP, which carries no SameSite=Lax
//! cookie: the request is bound to the browser by a cookie of its own (`procura_spid`,
//! `procura_cie_saml`; SameSite=None under TLS), and the login flow is found through the
//! stored request.

use super::browser::{self, SESSION_COOKIE};
use super::login::{self as login_pages, SessionStep};
use super::oidc::secs;
use super::pages;
use crate::AppState;
use crate::audit::{self, Event, Outcome, Party};
use crate::config::SpidBinding;
use crate::db::{self, DbError};
use crate::login::{AuthenticatedPerson, Level, LoginOutcome};
use crate::oauth::{session, token_hash};
use crate::person::codice_fiscale::CodiceFiscale;
use crate::spid::form::{self, PostForm};
use crate::spid::idp::IdentityProvider;
use crate::spid::logout::{Expectations, FromIdp, LogoutOutcome, Received};
use crate::spid::pool::PoolError;
use crate::spid::profile::Profile;
use crate::spid::response::{self, Comparison, Expected, ResponseError, SpidLogin};
use crate::spid::store::{self, OutstandingRequest, PendingLogout, SpidSession};
use crate::spid::{ServiceProvider, authn_request, dsig, logout, time, uri};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::Arc;

/// Attributes without which a SPID or CIE login cannot become a procura login.
const REQUIRED_ATTRIBUTES: &[&str] = &["fiscalNumber"];

/// The service provider of `profile`, when it is enabled.
fn provider(state: &AppState, profile: Profile) -> Option<Arc<ServiceProvider>> {
    match profile {
        Profile::Spid => state.spid.clone(),
        Profile::Cie => state.cie_saml.clone(),
    }
}

fn not_enabled(state: &AppState, profile: Profile) -> HttpResponse {
    let name = profile.name_it();
    pages::error_page(
        state,
        StatusCode::NOT_FOUND,
        &format!("Accesso con {name} non disponibile"),
        &format!("L'accesso con {name} non è attivo su questo servizio."),
    )
}

fn unavailable(state: &AppState, e: &dyn std::fmt::Display) -> HttpResponse {
    pages::unavailable(state, e, "SPID step")
}

/// Runs SAML work on the SPID threads. `Err` is the page to answer when they cannot take it:
/// 503 when too much work is already waiting (a flood of SAML must not queue without bound).
async fn on_saml_threads<T: Send + 'static>(
    state: &AppState,
    sp: &ServiceProvider,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HttpResponse> {
    sp.pool.run(job).await.map_err(|e| match e {
        PoolError::Busy => {
            tracing::warn!(
                profile = sp.profile.as_str(),
                "SAML work queue full: request answered 503"
            );
            let mut page = pages::error_page(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Servizio momentaneamente occupato",
                &format!(
                    "Il servizio di accesso con {} è molto richiesto in questo momento. Riprova tra qualche secondo.",
                    sp.profile.name_it()
                ),
            );
            page.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static("2"),
            );
            page
        }
        PoolError::Lost => unavailable(state, &e),
    })
}

/// The cookie of the SPID binding: the IdP posts the Response cross-site, so under TLS it
/// must be SameSite=None (and so Secure); over plain HTTP (development) it carries no
/// SameSite attribute at all.
fn binding_cookie(state: &AppState, profile: Profile, value: String) -> Cookie<'static> {
    let mut c = Cookie::build(profile.cookie(), value)
        .path(profile.path())
        .http_only(true)
        .finish();
    if state.config.oauth.issuer.starts_with("https://") {
        c.set_same_site(SameSite::None);
        c.set_secure(true);
    }
    c.set_max_age(actix_web::cookie::time::Duration::seconds(
        i64::try_from(state.config.spid.request_ttl_secs).unwrap_or(3600),
    ));
    c
}

/// A SAML message on its way to the IdP.
enum Outgoing {
    /// HTTP-Redirect: the signed query.
    Query(String),
    /// HTTP-POST: the signed XML.
    Xml(String),
}

/// Signs `xml` for `binding` on the SPID threads; `Err` is the page to answer.
async fn sign(
    state: &AppState,
    sp: Arc<ServiceProvider>,
    binding: SpidBinding,
    param: dsig::RedirectParam,
    xml: String,
    relay_state: Option<String>,
) -> Result<Outgoing, HttpResponse> {
    let signer = Arc::clone(&sp);
    on_saml_threads(state, &sp, move || match binding {
        SpidBinding::Redirect => {
            dsig::encode_redirect(param, &xml, relay_state.as_deref(), &signer.key)
                .map(Outgoing::Query)
        }
        SpidBinding::Post => dsig::sign_enveloped(&xml, &signer.key).map(Outgoing::Xml),
    })
    .await?
    .map_err(|e| unavailable(state, &e))
}

/// Sends the browser to the IdP: exactly 302 for HTTP-Redirect (spid-sp-test and some IdPs
/// refuse 303), an auto-submitting form for HTTP-POST.
fn deliver(
    state: &AppState,
    outgoing: Outgoing,
    destination: &str,
    param: dsig::RedirectParam,
    relay_state: Option<&str>,
) -> HttpResponse {
    match outgoing {
        Outgoing::Query(query) => {
            let sep = if destination.contains('?') { '&' } else { '?' };
            HttpResponse::Found()
                .insert_header((header::LOCATION, format!("{destination}{sep}{query}")))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Outgoing::Xml(signed) => {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(signed.as_bytes());
            let mut fields = vec![(param.as_str(), encoded.as_str())];
            if let Some(r) = relay_state {
                fields.push(("RelayState", r));
            }
            pages::auto_post(state, destination, &fields)
        }
    }
}

/// GET /spid/metadata: the signed SP metadata, byte for byte as signed.
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    serve_metadata(&state, Profile::Spid)
}

/// The signed metadata of `profile`'s service provider.
pub(super) fn serve_metadata(state: &AppState, profile: Profile) -> HttpResponse {
    match provider(state, profile) {
        Some(sp) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "application/samlmetadata+xml"))
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(sp.metadata.clone()),
        None => not_enabled(state, profile),
    }
}

/// GET /spid/login?idp=…[&flow=…]: sends the browser to the chosen IdP with a signed
/// AuthnRequest. With `flow`, the login serves that OpenID Connect authorization request
/// (its `acr_values` set the SPID level); without, it is a login at procura itself.
pub async fn login(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    start_login(&state, &req, Profile::Spid).await
}

/// Sends the browser to an IdP of `profile` with a signed AuthnRequest.
pub(super) async fn start_login(
    state: &AppState,
    req: &HttpRequest,
    profile: Profile,
) -> HttpResponse {
    let Some(sp) = provider(state, profile) else {
        return not_enabled(state, profile);
    };
    // Read in one pass: the general parser compares repeated names pairwise.
    let [idp, flow] = form::fields(req.query_string(), ["idp", "flow"]).unwrap_or_default();
    let Some(idp) = idp.and_then(|id| sp.registry.find(&id)) else {
        return pages::error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Gestore di identità sconosciuto",
            &format!(
                "Il gestore di identità {} scelto non è tra quelli riconosciuti. Torna alla pagina di accesso e scegline un altro.",
                profile.name_it()
            ),
        );
    };
    let flow = match flow {
        None => None,
        Some(id) => match login_pages::browser_flow(state, req, Some(&id)).await {
            Ok(Some(f)) => Some(f),
            Ok(None) => return login_pages::flow_gone(state),
            Err(e) => return unavailable(state, &e),
        },
    };
    let level = profile.level(flow.as_ref().and_then(|f| f.acr_min()), sp.default_level);
    let Some((binding, sso)) = idp.sso_for(sp.binding) else {
        return pages::error_page(
            state,
            StatusCode::BAD_GATEWAY,
            "Gestore di identità non disponibile",
            "Il gestore di identità scelto non indica dove inviare la richiesta di accesso. Scegline un altro.",
        );
    };
    let destination = sso.location.clone();
    let now = state.clock.now();
    let id = authn_request::new_id();
    let xml = authn_request::AuthnRequest {
        id: &id,
        issue_instant: now,
        destination: &destination,
        sp_entity_id: &sp.entity_id,
        acs_index: 0,
        attribute_set: sp.attribute_set,
        level,
        force_authn: profile.force_authn(level),
    }
    .to_xml();
    // Opaque and free of "http" (RT trasmissione.rst): 128 random bits in hex.
    let relay_state = uuid::Uuid::new_v4().simple().to_string();
    let cookie = match browser::read(req, profile.cookie()).filter(|c| c.len() >= 32) {
        Some(c) => c,
        None => match token_hash::new_token() {
            Ok(t) => t,
            Err(e) => return unavailable(state, &e),
        },
    };
    let row = OutstandingRequest {
        id: id.clone(),
        idp_entity_id: idp.entity_id.clone(),
        acs_url: sp.acs_url.clone(),
        level: level.uri().to_owned(),
        issue_instant: time::format(now),
        issued_at: now.naive_utc(),
        expires_at: (now + secs(state.config.spid.request_ttl_secs)).naive_utc(),
        browser_hash: token_hash::hash(&cookie),
        relay_state: relay_state.clone(),
        flow_id: flow.map(|f| f.id),
        consumed_at: None,
    };
    if let Err(e) = db::run(&state.db, move |c| store::insert_request(c, &row)).await {
        return unavailable(state, &e);
    }
    let param = dsig::RedirectParam::SamlRequest;
    match sign(state, sp, binding, param, xml, Some(relay_state.clone())).await {
        Ok(outgoing) => {
            let mut resp = deliver(state, outgoing, &destination, param, Some(&relay_state));
            let _ = resp.add_cookie(&binding_cookie(state, profile, cookie));
            resp
        }
        Err(page) => page,
    }
}

/// A refused Response: the courtesy page, never a 200 (spid-sp-test judges by status).
fn refused(state: &AppState, status: StatusCode, title: &str, message: &str) -> HttpResponse {
    pages::error_page(state, status, title, message)
}

/// The page for a Response that failed a check: AgID's (or the CIE manual's) message for
/// the user anomalies (ErrorCode nr19–nr30), a generic one otherwise.
fn rejected_page(state: &AppState, profile: Profile, error: &ResponseError) -> HttpResponse {
    match error.spid_error_code() {
        Some(code) if profile == Profile::Cie => pages::cie_anomaly(state, code),
        Some(code) => pages::spid_anomaly(state, Some(code)),
        None => refused(
            state,
            StatusCode::BAD_REQUEST,
            "Accesso non riuscito",
            "La risposta del gestore di identità non è valida. Riprova ad accedere; se il problema continua, scegli un altro gestore.",
        ),
    }
}

fn audit_event(profile: Profile, outcome: Outcome, detail: serde_json::Value) -> Event {
    let action = match profile {
        Profile::Spid => "spid.login",
        Profile::Cie => "cie.saml.login",
    };
    Event::new(Party::system(), action, outcome).detail(detail)
}

/// POST /spid/acs: the assertion consumer.
pub async fn acs(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    consume(&state, &req, body, Profile::Spid).await
}

/// The assertion consumer of `profile`'s service provider.
pub(super) async fn consume(
    state: &AppState,
    req: &HttpRequest,
    body: web::Bytes,
    profile: Profile,
) -> HttpResponse {
    let Some(sp) = provider(state, profile) else {
        return not_enabled(state, profile);
    };
    let limits = sp.message_limits;
    // The form (up to the body limit) and an untrusted first look at the Response, only to
    // find the request it claims to answer: SAML work, on the SPID threads too.
    let peeked = on_saml_threads(state, &sp, move || {
        let form = PostForm::parse(&body).unwrap_or_default();
        let saml = form.saml_response?;
        let request_id = response::in_response_to(&saml, limits);
        Some((saml, form.relay_state, request_id))
    })
    .await;
    let (saml, relay_state, request_id) = match peeked {
        Ok(Some((saml, relay_state, Ok(id)))) => (saml, relay_state, id),
        Ok(Some((_, _, Err(e)))) => {
            tracing::info!(
                profile = profile.as_str(),
                reason = e.code(),
                error = %e,
                "SAML response refused before matching a request"
            );
            return rejected_page(state, profile, &e);
        }
        Ok(None) => {
            return refused(
                state,
                StatusCode::BAD_REQUEST,
                "Risposta di accesso mancante",
                "Non è arrivata alcuna risposta dal gestore di identità. Riprova ad accedere.",
            );
        }
        Err(page) => return page,
    };
    let now = state.clock.now();
    let found = {
        let id = request_id.clone();
        db::run(&state.db, move |c| store::find_request(c, &id, now)).await
    };
    let request = match found {
        // A request of the other federation is not this ACS's to answer.
        Ok(Some(r)) if r.acs_url == sp.acs_url => r,
        Ok(_) => {
            tracing::info!(
                profile = profile.as_str(),
                reason = "unknown_request",
                "SAML response refused: no request of this service provider waits for it"
            );
            return refused(
                state,
                StatusCode::BAD_REQUEST,
                "Accesso scaduto o già concluso",
                "La risposta del gestore di identità non corrisponde a un accesso in corso: potrebbe essere scaduta o già usata. Riprova ad accedere.",
            );
        }
        Err(e) => return unavailable(state, &e),
    };
    let same_browser = browser::read(req, profile.cookie()).is_some_and(|c| {
        token_hash::eq(
            token_hash::hash(&c).as_bytes(),
            request.browser_hash.as_bytes(),
        )
    });
    let relay_matches = relay_state
        .as_deref()
        .is_some_and(|r| token_hash::eq(r.as_bytes(), request.relay_state.as_bytes()));
    let checked = if !same_browser {
        Err(("wrong_browser", None))
    } else if !relay_matches {
        Err(("relay_state", None))
    } else {
        match validate(state, &sp, &request, saml, now).await {
            Ok(checked) => checked,
            // Not the Response's fault: the request is not spent, the browser may post again.
            Err(page) => return page,
        }
    };
    match checked {
        Ok(login) => accepted(state, profile, request, login).await,
        Err((reason, error)) => {
            spend_refused(state, profile, &request, reason).await;
            match error {
                Some(e) => rejected_page(state, profile, &e),
                None => refused(
                    state,
                    StatusCode::FORBIDDEN,
                    "Accesso non riuscito",
                    "La risposta di accesso è arrivata a un browser diverso da quello che ha iniziato l'accesso. Riprova dallo stesso browser.",
                ),
            }
        }
    }
}

type Refusal = (&'static str, Option<ResponseError>);

/// Runs every check of the Response on the SPID threads. The outer `Err` is the page to
/// answer when they could not take the work.
async fn validate(
    state: &AppState,
    sp: &Arc<ServiceProvider>,
    request: &OutstandingRequest,
    saml: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Result<SpidLogin, Refusal>, HttpResponse> {
    let Some(idp) = sp.registry.find(&request.idp_entity_id) else {
        return Ok(Err(("unknown_idp", None)));
    };
    let (Some(level), Some(issued)) = (
        Level::parse(&request.level),
        time::parse(&request.issue_instant),
    ) else {
        return Ok(Err(("stored_request", None)));
    };
    let checker = sp.clone();
    let request_id = request.id.clone();
    let acs_url = request.acs_url.clone();
    let skew = secs(state.config.spid.clock_skew_secs);
    let result = on_saml_threads(state, sp, move || {
        let sp = checker;
        let expected = Expected {
            request_id: &request_id,
            request_issue_instant: issued,
            idp_entity_id: &idp.entity_id,
            idp_keys: &idp.signing_keys,
            acs_url: &acs_url,
            sp_entity_id: &sp.entity_id,
            requested_level: level,
            comparison: Comparison::Minimum,
            assertion_issuer_format_required: sp.profile.assertion_issuer_format_required(),
            required_attributes: REQUIRED_ATTRIBUTES,
            now,
            skew,
            limits: sp.message_limits,
        };
        response::validate(&saml, &expected)
    })
    .await?;
    Ok(result.map_err(|e| (e.code(), Some(e))))
}

/// A refused Response spends its request too: nobody gets a second try with the same ID.
async fn spend_refused(
    state: &AppState,
    profile: Profile,
    request: &OutstandingRequest,
    reason: &'static str,
) {
    tracing::info!(
        profile = profile.as_str(),
        reason,
        idp = %request.idp_entity_id,
        "SAML response refused"
    );
    let now = state.clock.now();
    let id = request.id.clone();
    let idp = request.idp_entity_id.clone();
    let key = state.audit_key.clone();
    let spent = db::run(&state.db, move |c| {
        c.write_transaction(|c| {
            store::consume_request(c, &id, now)?;
            audit::append(
                c,
                &key,
                now,
                audit_event(
                    profile,
                    Outcome::Failure,
                    serde_json::json!({ "idp": idp, "reason": reason, "request": id }),
                ),
            )
        })
    })
    .await;
    if let Err(e) = spent {
        tracing::error!(error = %e, "could not record a refused SAML response");
    }
}

/// Every check passed: spend the request, remember the assertion, and log the person in.
async fn accepted(
    state: &AppState,
    profile: Profile,
    request: OutstandingRequest,
    login: SpidLogin,
) -> HttpResponse {
    let Ok(codice_fiscale) = CodiceFiscale::parse(&login.codice_fiscale) else {
        spend_refused(state, profile, &request, "fiscal_number").await;
        return refused(
            state,
            StatusCode::BAD_REQUEST,
            "Codice fiscale non valido",
            "Il gestore di identità ha indicato un codice fiscale non valido. Rivolgiti al tuo gestore di identità.",
        );
    };
    let now = state.clock.now();
    let skew = secs(state.config.spid.clock_skew_secs);
    let key = state.audit_key.clone();
    let spent = {
        let (id, idp) = (request.id.clone(), request.idp_entity_id.clone());
        let assertion = login.assertion_id.clone();
        let keep_until = login.assertion_not_on_or_after.max(now) + skew;
        let cf = codice_fiscale.clone();
        let level = login.level;
        db::run(&state.db, move |c| {
            c.write_transaction(|c| {
                if !store::consume_request(c, &id, now)? {
                    return Ok(false);
                }
                if !store::remember_assertion(c, &idp, &assertion, keep_until)? {
                    return Ok(false);
                }
                audit::append(
                    c,
                    &key,
                    now,
                    audit_event(
                        profile,
                        Outcome::Success,
                        serde_json::json!({ "idp": idp, "level": level.uri(), "request": id }),
                    )
                    .on_behalf_of(Party::person(&cf)),
                )?;
                Ok::<_, DbError>(true)
            })
        })
        .await
    };
    match spent {
        Ok(true) => {}
        Ok(false) => {
            return refused(
                state,
                StatusCode::FORBIDDEN,
                "Accesso già concluso",
                "Questa risposta di accesso è già stata usata. Riprova ad accedere.",
            );
        }
        Err(e) => return unavailable(state, &e),
    }
    tracing::info!(
        profile = profile.as_str(),
        cf = %codice_fiscale.masked(),
        level = login.level.uri(),
        "SAML login"
    );
    let outcome = LoginOutcome {
        person: AuthenticatedPerson {
            codice_fiscale,
            given_name: login.given_name.clone(),
            family_name: login.family_name.clone(),
        },
        method: profile.method(),
        level: login.level,
    };
    let idp = request.idp_entity_id.clone();
    let step: SessionStep = Box::new(move |c, session| {
        store::insert_session(
            c,
            &SpidSession {
                browser_session_id: session.id.clone(),
                idp_entity_id: idp,
                name_id: login.name_id,
                name_qualifier: login.name_qualifier,
                session_index: login.session_index,
                created_at: now.naive_utc(),
            },
        )
    });
    let Some(flow_id) = request.flow_id else {
        return login_pages::complete_direct(state, outcome, Some(step)).await;
    };
    let flow = db::run(&state.db, move |c| session::find_flow(c, &flow_id, now)).await;
    match flow {
        Ok(Some(flow)) => login_pages::complete_with(state, flow, outcome, Some(step)).await,
        Ok(None) => login_pages::flow_gone(state),
        Err(e) => unavailable(state, &e),
    }
}

/// GET|POST /spid/slo: an IdP's LogoutRequest (IdP-initiated logout) or its LogoutResponse
/// to procura's own request. Everything `logout::receive` checks (a known IdP's signature,
/// Destination, IssueInstant, NotOnOrAfter) runs on the SPID threads; what the database knows
/// (a LogoutRequest ID seen before, the pending logout a LogoutResponse answers, and the IdP
/// it went to) is checked here.
pub async fn slo(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    logout_message(&state, &req, body, Profile::Spid).await
}

/// Single Logout messages from an IdP of `profile`.
pub(super) async fn logout_message(
    state: &AppState,
    req: &HttpRequest,
    body: web::Bytes,
    profile: Profile,
) -> HttpResponse {
    let Some(sp) = provider(state, profile) else {
        return not_enabled(state, profile);
    };
    let get = req.method() == actix_web::http::Method::GET;
    let query = req.query_string().to_owned();
    let now = state.clock.now();
    let skew = secs(state.config.spid.clock_skew_secs);
    let reader = sp.clone();
    let read = on_saml_threads(state, &sp, move || {
        let received = if get {
            Received::Query(&query)
        } else {
            Received::Form(&body)
        };
        let expected = Expectations {
            slo_url: &reader.slo_url,
            now,
            skew,
        };
        logout::receive(
            &reader.registry,
            received,
            &reader.message_limits,
            &expected,
        )
    })
    .await;
    match read {
        Ok(Ok(FromIdp::Request {
            idp,
            request,
            relay_state,
        })) => idp_initiated(state, sp, idp, request, relay_state).await,
        Ok(Ok(FromIdp::Response { idp, response })) => {
            logout_answered(state, profile, &idp, response).await
        }
        Ok(Err(e)) => slo_refused(state, e.code(), &e),
        Err(page) => page,
    }
}

fn logout_action(profile: Profile) -> &'static str {
    match profile {
        Profile::Spid => "spid.logout",
        Profile::Cie => "cie.saml.logout",
    }
}

fn slo_refused(
    state: &AppState,
    reason: &'static str,
    detail: &dyn std::fmt::Display,
) -> HttpResponse {
    tracing::info!(reason, error = %detail, "SPID logout message refused");
    refused(
        state,
        StatusCode::BAD_REQUEST,
        "Richiesta di uscita non valida",
        "Il messaggio di uscita ricevuto dal gestore di identità non è valido.",
    )
}

/// The IdP asks to end the person's sessions: unless this request ID was seen before (on any
/// instance), end every session of that NameID (also when none is left) and answer with a
/// signed LogoutResponse.
async fn idp_initiated(
    state: &AppState,
    sp: Arc<ServiceProvider>,
    idp: Arc<IdentityProvider>,
    request: logout::IncomingLogoutRequest,
    relay_state: Option<String>,
) -> HttpResponse {
    let now = state.clock.now();
    let profile = sp.profile;
    let ended = {
        let (entity, name_id) = (idp.entity_id.clone(), request.name_id.clone());
        let (request_id, index) = (request.id.clone(), request.session_index.clone());
        let remember_until = request.remember_until(secs(state.config.spid.clock_skew_secs));
        let key = state.audit_key.clone();
        db::run(&state.db, move |c| {
            // The ID first, on its own: every later step takes its own transaction (sessions
            // end one by one), and a replay must not end anything.
            if !store::remember_logout_request(c, &entity, &request_id, now, remember_until)? {
                return Ok(None);
            }
            let ids = store::sessions_for_name_id(c, &entity, &name_id, index.as_deref())?;
            for id in &ids {
                session::end_session(c, id, now)?;
            }
            audit::append_alone(
                c,
                &key,
                now,
                Event::new(Party::system(), logout_action(profile), Outcome::Success).detail(
                    serde_json::json!({ "idp": entity, "initiated_by": "idp", "sessions": ids.len() }),
                ),
            )?;
            Ok::<_, DbError>(Some(ids.len()))
        })
        .await
    };
    match ended {
        Ok(Some(_)) => {}
        Ok(None) => return slo_refused(state, "replayed", &"LogoutRequest ID seen before"),
        Err(e) => return unavailable(state, &e),
    }
    let Some((binding, endpoint)) = idp.slo_for(sp.binding) else {
        return pages::logged_out(state);
    };
    let destination = endpoint
        .response_location
        .clone()
        .unwrap_or_else(|| endpoint.location.clone());
    let id = authn_request::new_id();
    let xml = logout::LogoutResponse {
        id: &id,
        issue_instant: now,
        destination: &destination,
        in_response_to: &request.id,
        sp_entity_id: &sp.entity_id,
        status: uri::STATUS_SUCCESS,
    }
    .to_xml();
    let param = dsig::RedirectParam::SamlResponse;
    match sign(state, sp, binding, param, xml, relay_state.clone()).await {
        Ok(outgoing) => deliver(state, outgoing, &destination, param, relay_state.as_deref()),
        Err(page) => page,
    }
}

/// The IdP answered procura's LogoutRequest: the pending logout it names must have gone to
/// that very IdP. Whatever the status, the session here has ended already, so the browser goes
/// where the relying party asked; a partial or failed logout at the IdP is logged and audited.
async fn logout_answered(
    state: &AppState,
    profile: Profile,
    idp: &IdentityProvider,
    response: logout::IncomingLogoutResponse,
) -> HttpResponse {
    let now = state.clock.now();
    let outcome = response.outcome();
    let key = state.audit_key.clone();
    let (id, entity) = (response.in_response_to.clone(), idp.entity_id.clone());
    let status = response
        .sub_status
        .clone()
        .unwrap_or(response.status.clone());
    let answered = db::run(&state.db, move |c| {
        let Some(pending) = store::consume_logout(c, &id, &entity, now)? else {
            return Ok(None);
        };
        let result = match outcome {
            LogoutOutcome::Success => Outcome::Success,
            LogoutOutcome::Partial | LogoutOutcome::Failed => Outcome::Failure,
        };
        audit::append_alone(
            c,
            &key,
            now,
            Event::new(Party::system(), logout_action(profile), result).detail(serde_json::json!({
                "idp": entity, "initiated_by": "sp", "request": id, "status": status
            })),
        )?;
        Ok::<_, DbError>(Some(pending))
    })
    .await;
    match answered {
        Ok(Some(pending)) => {
            if outcome != LogoutOutcome::Success {
                tracing::warn!(
                    status = %response.status,
                    sub_status = response.sub_status.as_deref().unwrap_or(""),
                    idp = %idp.entity_id,
                    "SPID logout not complete at the IdP"
                );
            }
            match pending.return_to {
                Some(to) => browser::see_other(&to).finish(),
                None => pages::logged_out(state),
            }
        }
        Ok(None) => slo_refused(state, "in_response_to", &"no pending logout to this IdP"),
        Err(e) => unavailable(state, &e),
    }
}

/// Called by the broker's logout once the browser session has ended: when that session came
/// from SPID, the browser goes on to the IdP with a signed LogoutRequest (and comes back to
/// `return_to` through /spid/slo). `None` when there is nothing to do at an IdP — also for a
/// CIE SAML session: the CIE IdP answers a LogoutRequest with no LogoutResponse ("Simple
/// Logout", CIE-SAML `protocolli.rst`), so the browser would not come back, and it keeps no
/// session procura could reuse (every CIE AuthnRequest has `ForceAuthn`).
pub(super) async fn single_logout(
    state: &AppState,
    browser_session_id: &str,
    return_to: Option<String>,
) -> Option<HttpResponse> {
    let sp = state.spid.clone()?;
    let id = browser_session_id.to_owned();
    let spid_session = db::run(&state.db, move |c| store::find_session(c, &id))
        .await
        .ok()??;
    let idp = sp.registry.find(&spid_session.idp_entity_id)?;
    let (binding, endpoint) = idp.slo_for(sp.binding)?;
    let destination = endpoint.location.clone();
    let now = state.clock.now();
    let id = authn_request::new_id();
    let pending = PendingLogout {
        id: id.clone(),
        idp_entity_id: idp.entity_id.clone(),
        return_to,
        issued_at: now.naive_utc(),
        expires_at: (now + secs(state.config.spid.request_ttl_secs)).naive_utc(),
        consumed_at: None,
    };
    if let Err(e) = db::run(&state.db, move |c| store::insert_logout(c, &pending)).await {
        tracing::error!(error = %e, "could not record a SPID logout request");
        return None;
    }
    let xml = logout::LogoutRequest {
        id: &id,
        issue_instant: now,
        destination: &destination,
        sp_entity_id: &sp.entity_id,
        name_id: &spid_session.name_id,
        name_qualifier: &spid_session.name_qualifier,
        session_index: spid_session.session_index.as_deref(),
    }
    .to_xml();
    let param = dsig::RedirectParam::SamlRequest;
    let relay_state = uuid::Uuid::new_v4().simple().to_string();
    match sign(state, sp, binding, param, xml, Some(relay_state.clone())).await {
        Ok(outgoing) => {
            let mut resp = deliver(state, outgoing, &destination, param, Some(&relay_state));
            let _ = resp.add_cookie(&browser::removal(state, SESSION_COOKIE));
            Some(resp)
        }
        // Logged where it failed; the logout here is done, the IdP is not told.
        Err(_) => None,
    }
}
