//! The web-meeting desk (`web_meeting`): the day's bookings at the web-meeting desks, and one
//! booking's session — take it in charge (the person waiting receives the link), the
//! recording consent of delegate and delegator (a refusal ends the session), the identity
//! check of both, the documents received in the call, then register the delegation or close
//! without one.
//!
//! The same domain functions as `/v1/operator/web-meetings*` (`session::take`,
//! `record_consent`, `record_identity`, `store_documents`, `close`, `complete::complete`),
//! each with its own audit record; reading the day's list and a booking is recorded as
//! `webmeeting.listed` and `webmeeting.read`, as the API records it.

use super::guard::{self, Desk};
use super::{Frame, audit_read, render, time_text, unavailable};
use crate::AppState;
use crate::booking::{self, BookingError, DeskKind, Status, calendar};
use crate::db;
use crate::delegation::registry::DocumentKind;
use crate::http::problems::Audience;
use crate::oauth::params::Params;
use crate::operator::Role;
use crate::person::CodiceFiscale;
use crate::webmeeting::session::{self, Consent, IdentityCheck};
use crate::webmeeting::{self as wm, DOCUMENT_TYPES, Session, Side, WebMeetingError, complete};
use actix_multipart::Multipart;
use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

pub const PATH: &str = "/console/web-meeting";

fn tz(state: &AppState) -> chrono_tz::Tz {
    state
        .config
        .booking
        .default_time_zone
        .parse()
        .unwrap_or(chrono_tz::Europe::Rome)
}

/// One booking of the day as listed.
pub struct Row {
    pub href: String,
    pub time: String,
    pub reference: String,
    pub delegate: String,
    pub delegator: String,
    pub state: String,
}

#[derive(Template)]
#[template(path = "console/wm_list.html")]
struct ListPage<'a> {
    frame: Frame<'a>,
    day_text: String,
    day_value: String,
    error: Option<&'static str>,
    rows: Vec<Row>,
}

fn status_text(b: &booking::Booking, s: Option<&Session>, me: &str) -> String {
    if let Some(s) = s {
        let who = if s.operator_id == me {
            "da te"
        } else {
            "da un altro operatore"
        };
        return match s.status.as_str() {
            "in_progress" => format!("in corso, presa in carico {who}"),
            "completed" => "conclusa: delega registrata".into(),
            "consent_refused" => "chiusa: consenso alla registrazione negato".into(),
            _ => "chiusa senza delega".into(),
        };
    }
    match b.status() {
        Some(Status::Confirmed) if b.waiting_since.is_some() => "la persona è in attesa".into(),
        Some(Status::Confirmed) => "confermata, da prendere in carico".into(),
        Some(Status::Completed) => "conclusa".into(),
        Some(Status::Closed | Status::Concluded) => "chiusa".into(),
        _ => b.status.clone(),
    }
}

fn delegator_text(b: &booking::Booking) -> String {
    match (
        &b.delegator_given_name,
        &b.delegator_family_name,
        &b.delegator_cf,
    ) {
        (Some(g), Some(f), Some(cf)) => format!("{g} {f} ({cf})"),
        (_, _, Some(cf)) => cf.clone(),
        _ => "non indicato".into(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    data: String,
}

/// `GET /console/web-meeting?data=YYYY-MM-DD`: the day's bookings (today when absent).
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ListQuery>,
) -> HttpResponse {
    let desk = match guard::require(&state, &req, Some(Role::WebMeeting)).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let tz = tz(&state);
    let now = state.clock.now();
    let today = calendar::local_date(now, tz);
    let (day, error) = match query.data.trim() {
        "" => (today, None),
        t => match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            Ok(d) => (d, None),
            Err(_) => (
                today,
                Some("Data non valida: scegli un giorno dal calendario."),
            ),
        },
    };
    let (from, to) = calendar::day_bounds(day, tz);
    let listed = db::run(&state.db, move |c| {
        let found = booking::of_kind_between(
            c,
            DeskKind::WebMeeting,
            from,
            to,
            &[
                Status::Confirmed,
                Status::Completed,
                Status::Closed,
                Status::Concluded,
            ],
        )?;
        let mut out = Vec::with_capacity(found.len());
        for b in found {
            let s = wm::find_session(c, &b.id)?;
            out.push((b, s));
        }
        Ok::<_, db::DbError>(out)
    })
    .await;
    let listed = match listed {
        Ok(l) => l,
        Err(e) => return unavailable(&state, &e, "web meetings of the day"),
    };
    let ids: Vec<&str> = listed.iter().map(|(b, _)| b.id.as_str()).collect();
    if let Err(e) = audit_read(
        &state,
        &desk,
        "webmeeting.listed",
        None,
        json!({ "date": day, "booking_ids": ids }),
    )
    .await
    {
        return unavailable(&state, &e, "web meetings audit");
    }
    let rows = listed
        .iter()
        .map(|(b, s)| Row {
            href: format!("{PATH}/prenotazioni/{}", b.id),
            time: calendar::local_time(b.starts(), tz)
                .format("%H:%M")
                .to_string(),
            reference: b.reference.clone(),
            delegate: b.person_cf.clone(),
            delegator: delegator_text(b),
            state: status_text(b, s.as_ref(), &desk.operator.id),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &ListPage {
            frame: desk.frame(&state, "Web meeting: prenotazioni del giorno", PATH),
            day_text: day.format("%d/%m/%Y").to_string(),
            day_value: day.format("%Y-%m-%d").to_string(),
            error,
            rows,
        },
    )
}

/// A line of the booking's summary.
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

/// One of the two people, with what was recorded for them.
pub struct Party {
    pub side: &'static str,
    /// "del delegato" / "del delegante".
    pub of: &'static str,
    pub name: String,
    pub consent: &'static str,
    pub identity: Option<String>,
}

pub struct Received {
    pub kind: &'static str,
    pub sha256: String,
    pub size: String,
}

#[derive(Template)]
#[template(path = "console/wm_booking.html")]
struct BookingPage<'a> {
    frame: Frame<'a>,
    csrf: String,
    id: String,
    notice: Option<&'static str>,
    errors: Vec<String>,
    facts: Vec<Fact>,
    /// Nobody took it yet and it is confirmed: the take form.
    can_take: bool,
    /// This operator's session in progress: the steps.
    working: bool,
    meeting_url: String,
    parties: Vec<Party>,
    document_types: Vec<(&'static str, &'static str)>,
    documents: Vec<Received>,
    missing: Vec<&'static str>,
}

fn document_type_text(t: &str) -> &'static str {
    match t {
        "carta_identita" => "Carta d'identità",
        "carta_identita_elettronica" => "Carta d'identità elettronica",
        "passaporto" => "Passaporto",
        "patente_di_guida" => "Patente di guida",
        _ => "Altro documento",
    }
}

fn document_kind_text(k: &str) -> &'static str {
    match k {
        "aa08" => "modulo AA08 firmato",
        "delegator_id_document" => "documento di identità del delegante",
        "delegate_id_document" => "documento di identità del delegato",
        _ => "documento",
    }
}

fn missing_text(m: &str) -> &'static str {
    match m {
        "delegate_identity" => "verifica dell'identità del delegato",
        "delegator_identity" => "verifica dell'identità del delegante",
        "delegate_consent" => "consenso alla registrazione del delegato",
        "delegator_consent" => "consenso alla registrazione del delegante",
        "consent" => "consenso alla registrazione di entrambi",
        other => document_kind_text(other),
    }
}

fn consent_text(c: Option<bool>) -> &'static str {
    match c {
        Some(true) => "acconsente",
        Some(false) => "non acconsente",
        None => "non ancora chiesto",
    }
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "presa" => "Prenotazione presa in carico: la persona in attesa riceve il collegamento.",
        "consenso" => "Risposta sul consenso alla registrazione registrata.",
        "consenso-negato" => {
            "Consenso negato: la sessione è chiusa, il servizio non può essere erogato in web \
             meeting."
        }
        "identita" => "Verifica dell'identità registrata.",
        "documenti" => "Documenti ricevuti.",
        "completata" => "Delega registrata: è subito operativa, le due persone sono avvisate.",
        "chiusa" => "Sessione chiusa senza delega.",
        _ => return None,
    })
}

/// What went wrong, in Italian, with the status of the page; `invalid` says an `Invalid`
/// refusal in the words of the form that was sent.
fn refusal(state: &AppState, e: WebMeetingError, invalid: &str) -> (StatusCode, String) {
    use StatusCode as S;
    match e {
        WebMeetingError::Booking(BookingError::NotFound) | WebMeetingError::NotWebMeeting => (
            S::NOT_FOUND,
            "Nessuna prenotazione di web meeting con questo identificativo.".into(),
        ),
        WebMeetingError::Booking(b) => (
            S::CONFLICT,
            crate::http::booking::problem(b, Audience::Citizen).detail,
        ),
        WebMeetingError::NotConfirmed(_) => {
            (S::CONFLICT, "La prenotazione non è confermata.".into())
        }
        WebMeetingError::TooEarly { opens_at, .. } => (
            S::CONFLICT,
            format!(
                "La prenotazione si può prendere in carico dal {} (da quando la persona può \
                 collegarsi).",
                time_text(state, opens_at)
            ),
        ),
        WebMeetingError::JoinClosed => (
            S::CONFLICT,
            "La giornata della prenotazione è finita: non si può più prendere in carico.".into(),
        ),
        WebMeetingError::TakenByAnother => (
            S::CONFLICT,
            "Un altro operatore ha preso in carico questa prenotazione.".into(),
        ),
        WebMeetingError::NotTaken => (
            S::CONFLICT,
            "Prendi prima in carico la prenotazione.".into(),
        ),
        WebMeetingError::Ended(_) => (S::CONFLICT, "La sessione è già chiusa.".into()),
        WebMeetingError::DocumentExpired(side, on) => (
            S::UNPROCESSABLE_ENTITY,
            format!(
                "Il documento di identità {} è scaduto il {}: non può essere accettato.",
                if side == "delegate" {
                    "del delegato"
                } else {
                    "del delegante"
                },
                on.format("%d/%m/%Y")
            ),
        ),
        WebMeetingError::Incomplete(missing) => (
            S::UNPROCESSABLE_ENTITY,
            format!(
                "La delega non può ancora essere registrata: manca {}.",
                missing
                    .iter()
                    .map(|m| missing_text(m))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        WebMeetingError::Invalid(_) => (S::UNPROCESSABLE_ENTITY, invalid.to_owned()),
        WebMeetingError::Document(name, why) => (
            S::UNPROCESSABLE_ENTITY,
            format!(
                "{}: documento non accettato ({why}). Carica un PDF.",
                document_kind_text(&name)
            ),
        ),
        WebMeetingError::Delegation(d) => (
            S::CONFLICT,
            format!(
                "La delega non è stata registrata: {}",
                crate::http::delegation::problem(d, Audience::Citizen).detail
            ),
        ),
        e @ (WebMeetingError::Db(_) | WebMeetingError::Enqueue(_)) => {
            tracing::error!(error = %e, "web meeting step failed");
            (
                S::SERVICE_UNAVAILABLE,
                "L'operazione non è riuscita ora. Riprova tra qualche minuto.".into(),
            )
        }
    }
}

/// The booking's page (the read audited), with `notice` or `errors`.
async fn booking_page(
    state: &AppState,
    desk: &Desk,
    id: String,
    status: StatusCode,
    notice: Option<&'static str>,
    errors: Vec<String>,
) -> HttpResponse {
    let wanted = id.clone();
    let found = db::run(&state.db, move |c| {
        let (b, _) = wm::web_meeting_booking(c, &wanted)?;
        let s = wm::find_session(c, &wanted)?;
        let docs = session::documents_of(c, &wanted)?;
        let delegate = crate::person::registry::find(c, &b.person_cf)?;
        Ok::<_, WebMeetingError>((b, s, docs, delegate))
    })
    .await;
    let (b, s, docs, delegate) = match found {
        Ok(f) => f,
        Err(e) => {
            let (status, text) = refusal(state, e, "");
            if status == StatusCode::SERVICE_UNAVAILABLE {
                return unavailable(state, &text, "web meeting booking");
            }
            return super::render(
                status,
                &super::MessagePage {
                    frame: desk.frame(state, "Prenotazione non trovata", PATH),
                    tone: "warning",
                    paragraphs: vec![text],
                    next: vec![crate::web::Link::new(
                        PATH,
                        "Torna alle prenotazioni del giorno",
                    )],
                },
            );
        }
    };
    let subject = b
        .delegator_cf
        .as_deref()
        .and_then(|c| CodiceFiscale::parse(c).ok())
        .map(|c| c.as_str().to_owned());
    if let Err(e) = audit_read(
        state,
        desk,
        "webmeeting.read",
        subject,
        json!({ "booking_id": b.id }),
    )
    .await
    {
        return unavailable(state, &e, "web meeting read audit");
    }
    let me = desk.operator.id.as_str();
    let delegate_name = delegate
        .map(|p| format!("{} {} ({})", p.given_name, p.family_name, b.person_cf))
        .unwrap_or_else(|| b.person_cf.clone());
    let mut facts = vec![
        Fact {
            label: "Giorno e ora",
            value: time_text(state, b.starts()),
        },
        Fact {
            label: "Codice della prenotazione",
            value: b.reference.clone(),
        },
        Fact {
            label: "Delegato (chi ha prenotato)",
            value: delegate_name.clone(),
        },
        Fact {
            label: "Delegante",
            value: delegator_text(&b),
        },
        Fact {
            label: "Cellulare",
            value: b.mobile.clone().unwrap_or_else(|| "non indicato".into()),
        },
        Fact {
            label: "Stato",
            value: status_text(&b, s.as_ref(), me),
        },
    ];
    if let Some(w) = b.waiting_since {
        facts.push(Fact {
            label: "In attesa dal",
            value: time_text(state, w.and_utc()),
        });
    }
    if let Some(r) = s.as_ref().and_then(|s| s.end_reason.clone()) {
        facts.push(Fact {
            label: "Motivo della chiusura",
            value: r,
        });
    }
    if let Some(d) = s.as_ref().and_then(|s| s.delegation_id.clone()) {
        facts.push(Fact {
            label: "Delega registrata",
            value: d,
        });
    }
    let working = s
        .as_ref()
        .is_some_and(|s| s.operator_id == me && s.in_progress());
    let can_take = s.is_none() && b.status() == Some(Status::Confirmed);
    let (mut meeting_url, mut parties, mut missing) = (String::new(), Vec::new(), Vec::new());
    if let (true, Some(s)) = (working, s.as_ref()) {
        meeting_url = wm::meeting_url(&state.config.webmeeting.meeting_url_template, s, &b);
        let identity = |t: &Option<String>, n: &Option<String>, e: Option<NaiveDate>| {
            Some(format!(
                "{} n. {}, scade il {}",
                document_type_text(t.as_deref()?),
                n.as_deref()?,
                e?.format("%d/%m/%Y")
            ))
        };
        parties = vec![
            Party {
                side: "delegate",
                of: "del delegato",
                name: delegate_name,
                consent: consent_text(s.delegate_consent),
                identity: identity(
                    &s.delegate_document_type,
                    &s.delegate_document_number,
                    s.delegate_document_expires_on,
                ),
            },
            Party {
                side: "delegator",
                of: "del delegante",
                name: delegator_text(&b),
                consent: consent_text(s.delegator_consent),
                identity: identity(
                    &s.delegator_document_type,
                    &s.delegator_document_number,
                    s.delegator_document_expires_on,
                ),
            },
        ];
        missing = s.missing_steps().into_iter().map(missing_text).collect();
        for kind in session::DOCUMENT_KINDS {
            if !docs.iter().any(|(k, _, _)| k == kind.as_str()) {
                missing.push(document_kind_text(kind.as_str()));
            }
        }
    }
    let documents = docs
        .iter()
        .map(|(k, sha, size)| Received {
            kind: document_kind_text(k),
            sha256: sha.get(..16).unwrap_or(sha).to_owned(),
            size: format!("{} kB", (size + 1023) / 1024),
        })
        .collect();
    render(
        status,
        &BookingPage {
            frame: desk.frame(
                state,
                format!("Web meeting: prenotazione {}", b.reference),
                PATH,
            ),
            csrf: desk.session.csrf_token.clone(),
            id: b.id.clone(),
            notice,
            errors,
            facts,
            can_take,
            working,
            meeting_url,
            parties,
            document_types: DOCUMENT_TYPES
                .iter()
                .map(|t| (*t, document_type_text(t)))
                .collect(),
            documents,
            missing,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    esito: String,
}

/// `GET /console/web-meeting/prenotazioni/{id}`
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> HttpResponse {
    match guard::require(&state, &req, Some(Role::WebMeeting)).await {
        Ok(desk) => {
            let notice = notice_text(&query.esito);
            booking_page(
                &state,
                &desk,
                id.into_inner(),
                StatusCode::OK,
                notice,
                vec![],
            )
            .await
        }
        Err(resp) => resp,
    }
}

/// A post to one booking's session: the operator at work (role and CSRF token checked) and
/// the booking.
struct Step {
    state: web::Data<AppState>,
    desk: Desk,
    id: String,
}

impl Step {
    /// The booking again with what is wrong in the form (422).
    async fn invalid(self, errors: Vec<String>) -> HttpResponse {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        booking_page(&self.state, &self.desk, self.id, status, None, errors).await
    }

    /// Runs one domain step as the operator at work; on success back to the booking with
    /// `done` as the notice, else the booking with the refusal (`invalid` for bad input).
    async fn run<T: Send + 'static>(
        self,
        invalid: &str,
        done: impl FnOnce(&T) -> &'static str,
        f: impl FnOnce(
            &mut db::DbConn,
            &AppState,
            &str,
            &str,
            chrono::DateTime<chrono::Utc>,
        ) -> Result<T, WebMeetingError>
        + Send
        + 'static,
    ) -> HttpResponse {
        let Step { state, desk, id } = self;
        let (s, op, wanted, now) = (
            state.get_ref().clone(),
            desk.operator.id.clone(),
            id.clone(),
            state.clock.now(),
        );
        let out = db::run(&state.db, move |c| f(c, &s, &op, &wanted, now)).await;
        match out {
            Ok(t) => crate::web::redirect(&format!("{PATH}/prenotazioni/{id}?esito={}", done(&t))),
            Err(e) => {
                let (status, text) = refusal(&state, e, invalid);
                booking_page(&state, &desk, id, status, None, vec![text]).await
            }
        }
    }
}

/// A form post (`application/x-www-form-urlencoded`) to the booking `{id}`'s session, as a
/// handler's argument: the step and the form's fields, once the guard has let it through
/// (session, `web_meeting` role, CSRF token); else the guard's page is the answer.
pub struct Posted(Step, Params);

impl FromRequest for Posted {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, body) = (req.clone(), web::Bytes::from_request(req, payload));
        Box::pin(async move {
            let body = body.await?;
            let state = web::Data::<AppState>::extract(&req).await?;
            let id = web::Path::<String>::extract(&req).await?.into_inner();
            match guard::require_form(&state, &req, &body, Some(Role::WebMeeting)).await {
                Ok((desk, form)) => Ok(Posted(Step { state, desk, id }, form)),
                Err(page) => Err(InternalError::from_response("console post refused", page).into()),
            }
        })
    }
}

/// `POST …/{id}/prendi`: takes the booking in charge.
pub async fn take(Posted(step, _): Posted) -> HttpResponse {
    step.run(
        "Hai già preso in carico questa prenotazione.",
        |_| "presa",
        session::take,
    )
    .await
}

fn side_of(form: &Params) -> Option<Side> {
    form.get("side").and_then(Side::parse)
}

/// `POST …/{id}/consenso`: `side`, `given` (`si` / `no`), `reason` with a refusal.
pub async fn consent(Posted(step, form): Posted) -> HttpResponse {
    let given = match form.get("given") {
        Some("si") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    let (Some(side), Some(given)) = (side_of(&form), given) else {
        let error = "Indica se la persona acconsente alla registrazione.";
        return step.invalid(vec![error.into()]).await;
    };
    let answer = Consent {
        side,
        given,
        reason: form.get("reason").map(str::to_owned),
    };
    step.run(
        "Con un consenso negato scrivi il motivo (al massimo 300 caratteri).",
        |s: &Session| {
            if s.in_progress() {
                "consenso"
            } else {
                "consenso-negato"
            }
        },
        move |c, s, op, id, now| session::record_consent(c, s, op, id, &answer, now),
    )
    .await
}

/// `POST …/{id}/identita`: `side`, `document_type`, `document_number`, `expires_on`.
pub async fn identity(Posted(step, form): Posted) -> HttpResponse {
    let mut errors = Vec::new();
    let side = side_of(&form);
    if side.is_none() {
        errors.push("Indica di chi è il documento.".to_owned());
    }
    let document_type = form.get("document_type").unwrap_or_default().to_owned();
    if !DOCUMENT_TYPES.contains(&document_type.as_str()) {
        errors.push("Scegli il tipo di documento.".to_owned());
    }
    let expires_on =
        NaiveDate::parse_from_str(form.get("expires_on").unwrap_or_default(), "%Y-%m-%d").ok();
    if expires_on.is_none() {
        errors.push("Scrivi la data di scadenza del documento (giorno, mese, anno).".to_owned());
    }
    let (Some(side), Some(expires_on), true) = (side, expires_on, errors.is_empty()) else {
        return step.invalid(errors).await;
    };
    let check = IdentityCheck {
        side,
        document_type,
        document_number: form.get("document_number").unwrap_or_default().to_owned(),
        expires_on,
    };
    step.run(
        "Numero del documento non valido: da 3 a 30 lettere, cifre, spazi o trattini.",
        |_| "identita",
        move |c, s, op, id, now| session::record_identity(c, s, op, id, &check, now),
    )
    .await
}

/// `POST …/{id}/documenti` (multipart: `csrf`, files `aa08`, `delegator_id_document`,
/// `delegate_id_document`; an empty file input is left out).
pub async fn documents(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: Multipart,
) -> HttpResponse {
    let desk = match guard::require(&state, &req, Some(Role::WebMeeting)).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let max = state.config.webmeeting.document_max_bytes;
    let upload = crate::http::multipart::read_parts(payload, "csrf", max, 6).await;
    let step = Step {
        state,
        desk,
        id: id.into_inner(),
    };
    let upload = match upload {
        Ok(u) => u,
        Err(e) => {
            let error = format!("Il modulo non è stato letto: {}", e.detail);
            return step.invalid(vec![error]).await;
        }
    };
    let sent = upload
        .json
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).trim().to_owned());
    if let Some(refused) = guard::csrf_refusal(&step.state, &step.desk, sent.as_deref()) {
        return refused;
    }
    let files: Vec<(String, Vec<u8>)> = upload
        .files
        .into_iter()
        .filter(|(_, bytes)| !bytes.is_empty())
        .collect();
    if let Some((name, _)) = files
        .iter()
        .find(|(n, _)| DocumentKind::parse(n).is_none_or(|k| !session::DOCUMENT_KINDS.contains(&k)))
    {
        return step
            .invalid(vec![format!("Campo sconosciuto: {name}.")])
            .await;
    }
    step.run(
        "Scegli almeno un documento da caricare.",
        |_| "documenti",
        move |c, s, op, id, now| session::store_documents(c, s, op, id, files, now),
    )
    .await
}

/// `POST …/{id}/completa`: `ends_on` (optional): registers the delegation.
pub async fn finish(Posted(step, form): Posted) -> HttpResponse {
    let ends_on = match form.get("ends_on").map(str::trim).unwrap_or_default() {
        "" => None,
        t => match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                let error = "Data di fine della delega non valida.";
                return step.invalid(vec![error.into()]).await;
            }
        },
    };
    step.run(
        "La delega non può essere registrata con questi dati.",
        |_| "completata",
        move |c, s, op, id, now| complete::complete(c, s, op, id, ends_on, now),
    )
    .await
}

/// `POST …/{id}/chiudi`: `reason`: ends the session without a delegation.
pub async fn close(Posted(step, form): Posted) -> HttpResponse {
    let reason = form.get("reason").unwrap_or_default().to_owned();
    step.run(
        "Scrivi il motivo della chiusura (al massimo 300 caratteri).",
        |_| "chiusa",
        move |c, s, op, id, now| session::close(c, s, op, id, &reason, now),
    )
    .await
}
