//! The check before every console page and form: a live console session, a grant not
//! revoked, the operator active *now* (a disabled operator is out on the next click), the
//! role the page needs, and — for forms — the session's CSRF token.

use super::session::{self, ConsoleSession, Lookup};
use super::{Frame, NavItem, login, message, unavailable};
use crate::AppState;
use crate::audit::Party;
use crate::db::{self, DbError};
use crate::oauth::grant;
use crate::oauth::params::Params;
use crate::operator::{self, Acting, Operator, Role};
use crate::web::Link;
use crate::web::forms;
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use chrono::Duration;

/// An operator at work: the session, the operator's record as read for this request, and
/// the roles that decide what they see (the token's, still held now).
pub struct Desk {
    pub session: ConsoleSession,
    pub operator: Operator,
    pub roles: Vec<Role>,
    pub request_id: Option<String>,
}

/// The console's sections, each for one role.
const SECTIONS: [(Role, &str, &str); 4] = [
    (
        Role::ContactCenter,
        "/console/contact-center",
        "Contact center",
    ),
    (Role::Sportello, "/console/sportello", "Sportello"),
    (Role::WebMeeting, "/console/web-meeting", "Web meeting"),
    (Role::Admin, "/console/amministrazione", "Amministrazione"),
];

impl Desk {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The audit actor and request id, for domain functions.
    pub fn acting(&self) -> Acting {
        Acting {
            actor: Party::operator(&self.operator.id),
            request_id: self.request_id.clone(),
        }
    }

    /// The frame of a page; `current` is the path of the section shown.
    pub fn frame<'a>(
        &self,
        state: &'a AppState,
        title: impl Into<String>,
        current: &str,
    ) -> Frame<'a> {
        let mut f = Frame::new(state, title);
        f.operator = Some((
            self.operator.display_name.clone(),
            self.session.csrf_token.clone(),
        ));
        f.nav.push(NavItem {
            href: "/console",
            text: "Inizio",
            current: current == "/console",
        });
        for (role, href, text) in SECTIONS {
            if self.has(role) && super::SECTIONS_BUILT.contains(&href) {
                f.nav.push(NavItem {
                    href,
                    text,
                    current: current == href,
                });
            }
        }
        f
    }

    /// The sections this operator may open (for the start page).
    pub fn sections(&self) -> Vec<Link> {
        SECTIONS
            .iter()
            .filter(|(r, href, _)| self.has(*r) && super::SECTIONS_BUILT.contains(href))
            .map(|(_, href, text)| Link::new(*href, *text))
            .collect()
    }
}

pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<crate::http::request_id::RequestId>()
        .map(|r| r.0.clone())
}

fn here(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_owned(),
        q if req.method() == actix_web::http::Method::GET => format!("{}?{q}", req.path()),
        _ => req.path().to_owned(),
    }
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 4))
}

enum Found {
    Live(Box<ConsoleSession>, Operator),
    Gone(Lookup),
    /// The operator was disabled (or the grant revoked): the session was ended.
    Out,
}

/// The operator at work, or the answer to give instead (the login, or a refusal page).
pub async fn require(
    state: &AppState,
    req: &HttpRequest,
    role: Option<Role>,
) -> Result<Desk, HttpResponse> {
    let Some(token) = req
        .cookie(login::SESSION_COOKIE)
        .map(|c| c.value().to_owned())
    else {
        return Err(login::start(state, &here(req)).await);
    };
    let (key, now) = (state.audit_key.clone(), state.clock.now());
    let idle = secs(state.config.operator.console_idle_timeout_secs);
    let found = db::run(&state.db, move |c| {
        let s = match session::touch(c, &key, &token, idle, now)? {
            Ok(s) => s,
            Err(l) => return Ok::<_, DbError>(Found::Gone(l)),
        };
        let grant_live = grant::find_grant(c, &s.grant_id)?.is_some_and(|g| g.revoked_at.is_none());
        let op = operator::active_by_codice_fiscale(c, &s.codice_fiscale)?;
        match op {
            Some(op) if grant_live => Ok(Found::Live(Box::new(s), op)),
            Some(_) => {
                session::end(c, &key, &s, "grant_revoked", now)?;
                Ok(Found::Out)
            }
            None => {
                session::end(c, &key, &s, "operator_disabled", now)?;
                Ok(Found::Out)
            }
        }
    })
    .await;
    let (s, op) = match found {
        Ok(Found::Live(s, op)) => (*s, op),
        Ok(Found::Gone(Lookup::None)) => {
            let mut resp = login::start(state, &here(req)).await;
            let _ = resp.add_cookie(&login::removal(state, login::SESSION_COOKIE));
            return Err(resp);
        }
        Ok(Found::Gone(Lookup::Idle)) => {
            return Err(out(
                state,
                StatusCode::UNAUTHORIZED,
                "Sessione scaduta",
                "La sessione della console è scaduta per inattività. Accedi di nuovo.",
            ));
        }
        Ok(Found::Out) => {
            return Err(out(
                state,
                StatusCode::FORBIDDEN,
                "Accesso non più consentito",
                "La tua utenza di operatore non è più attiva (o l'accesso è stato revocato): \
                 la sessione della console è chiusa.",
            ));
        }
        Err(e) => return Err(unavailable(state, &e, "console session")),
    };
    let roles: Vec<Role> = s
        .token_roles()
        .filter_map(Role::parse)
        .filter(|r| op.has_role(*r))
        .collect();
    let desk = Desk {
        session: s,
        operator: op,
        roles,
        request_id: request_id(req),
    };
    if let Some(r) = role
        && !desk.has(r)
    {
        return Err(super::render(
            StatusCode::FORBIDDEN,
            &super::MessagePage {
                frame: desk.frame(state, "Funzione non disponibile", ""),
                tone: "warning",
                paragraphs: vec![
                    "Questa parte della console richiede un ruolo che la tua utenza non ha."
                        .to_owned(),
                ],
                next: vec![Link::new("/console", "Torna all'inizio della console")],
            },
        ));
    }
    Ok(desk)
}

fn out(state: &AppState, status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let mut resp = message(
        state,
        status,
        title,
        "warning",
        &[text],
        vec![Link::new("/console", "Accedi di nuovo alla console")],
    );
    let _ = resp.add_cookie(&login::removal(state, login::SESSION_COOKIE));
    resp
}

/// [`require`] for a form post (`application/x-www-form-urlencoded`): also the session's
/// CSRF token in the `csrf` field, else a 403 page. The form's fields.
pub async fn require_form(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    role: Option<Role>,
) -> Result<(Desk, Params), HttpResponse> {
    let desk = require(state, req, role).await?;
    let form = forms::body(body);
    if let Some(refused) = csrf_refusal(state, &desk, form.get("csrf")) {
        return Err(refused);
    }
    Ok((desk, form))
}

/// The CSRF check of a form however it was read (multipart forms too): the refusal page, or
/// `None` when the token is the session's.
pub fn csrf_refusal(state: &AppState, desk: &Desk, sent: Option<&str>) -> Option<HttpResponse> {
    if sent.is_some_and(|t| desk.session.csrf_matches(t)) {
        return None;
    }
    Some(super::render(
        StatusCode::FORBIDDEN,
        &super::MessagePage {
            frame: desk.frame(state, "Richiesta non valida", ""),
            tone: "danger",
            paragraphs: vec![
                "Il modulo inviato non proviene da questa sessione della console: l'operazione \
                 non è stata eseguita."
                    .to_owned(),
            ],
            next: vec![Link::new("/console", "Torna all'inizio della console")],
        },
    ))
}
