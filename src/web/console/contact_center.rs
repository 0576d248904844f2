//! The contact centre (`contact_center`): the call-back queue, a request beside the
//! registry's data, the claim, and the call's outcome — validated (the first half of the PIN
//! shown once, to read out now), rejected with a reason, or no answer (the next try).
//!
//! The same domain functions as `/v1/operator/pin/*` (`issuance::queue`, `claim`,
//! `record_outcome`), with the same audit: reading the queue and a request is recorded as
//! `pin.queue.listed` and `pin.request.viewed`.

use super::guard::{self, Desk};
use super::{Frame, audit_read, render, time_text, unavailable};
use crate::AppState;
use crate::db;
use crate::operator::Role;
use crate::person::registry::{self, Person};
use crate::pin::issuance::{self, CallOutcome, IssuanceError, QueueFilter, Recorded};
use crate::pin::request::{self, PinRequest};
use crate::web::Link;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

pub const PATH: &str = "/console/contact-center";

/// One row of the queue as shown.
pub struct QueueRow {
    pub href: String,
    pub reference: String,
    pub name: String,
    pub channel: &'static str,
    pub failures: String,
    pub attempts: i64,
    pub received: String,
    pub claim: String,
}

#[derive(Template)]
#[template(path = "console/cc_queue.html")]
struct QueuePage<'a> {
    frame: Frame<'a>,
    rows: Vec<QueueRow>,
    failure: String,
    channel: String,
    all: bool,
    channels: [(&'static str, &'static str); 4],
    filter_error: Option<&'static str>,
}

/// Two columns: what the request says, what the registry says.
pub struct Compared {
    pub label: &'static str,
    pub requested: String,
    pub registry: String,
    pub differs: bool,
}

#[derive(Template)]
#[template(path = "console/cc_request.html")]
struct RequestPage<'a> {
    frame: Frame<'a>,
    csrf: String,
    id: String,
    status: &'static str,
    notice: Option<&'static str>,
    rows: Vec<Compared>,
    failures: String,
    attempts: i64,
    next_call: Option<String>,
    claim: Option<String>,
    /// The operator may claim it now.
    can_claim: bool,
    /// The operator holds it: the outcome form.
    holds: bool,
    error: Option<String>,
    reason: String,
}

#[derive(Template)]
#[template(path = "console/cc_first_half.html")]
pub(super) struct FirstHalfPage<'a> {
    pub(super) frame: Frame<'a>,
    pub(super) reference: String,
    pub(super) name: String,
    pub(super) half: String,
}

fn channel_text(c: &str) -> &'static str {
    match c {
        "online" => "online",
        "contact_center" => "telefono",
        "sportello" => "sportello",
        _ => "altro",
    }
}

fn status_text(s: &str) -> &'static str {
    match s {
        "queued" => "in attesa di chiamata",
        "issued" => "PIN rilasciato",
        "rejected" => "rifiutata",
        "closed" => "chiusa (nessuna risposta)",
        _ => "sconosciuto",
    }
}

fn failure_text(f: &str) -> String {
    match f {
        "address" => "indirizzo diverso dall'anagrafe".into(),
        "representation" => "rappresentanza da verificare".into(),
        other => other.replace('_', " "),
    }
}

fn failures_text(r: &PinRequest) -> String {
    let list: Vec<String> = r.failures().into_iter().map(failure_text).collect();
    if list.is_empty() {
        "nessuna".into()
    } else {
        list.join("; ")
    }
}

fn claim_text(state: &AppState, r: &PinRequest, me: &str) -> Option<String> {
    let (Some(by), Some(until)) = (&r.claimed_by, r.claimed_until) else {
        return None;
    };
    if until <= state.clock.now().naive_utc() {
        return None;
    }
    let who = if by == me { "te" } else { "un altro operatore" };
    Some(format!(
        "Presa in carico da {who} fino alle {}",
        time_text(state, until.and_utc())
    ))
}

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    motivo: String,
    #[serde(default)]
    canale: String,
    #[serde(default)]
    tutte: Option<String>,
}

/// `GET /console/contact-center`: the requests waiting for a call, oldest first.
pub async fn queue(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<QueueQuery>,
) -> HttpResponse {
    let desk = match guard::require(&state, &req, Some(Role::ContactCenter)).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let q = query.into_inner();
    let code_like =
        |s: &str| s.len() <= 40 && s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    let failure = q.motivo.trim().to_owned();
    let channel = q.canale.trim().to_owned();
    let filter_error = (!code_like(&failure))
        .then_some("Il motivo è un codice come address o representation (lettere minuscole).");
    let known_channel = ["", "online", "contact_center", "sportello"].contains(&channel.as_str());
    let filter = QueueFilter {
        failure: (!failure.is_empty() && filter_error.is_none()).then(|| failure.clone()),
        channel: (!channel.is_empty() && known_channel).then(|| channel.clone()),
        include_not_due: q.tutte.is_some(),
        limit: 100,
        offset: 0,
    };
    let now = state.clock.now();
    let items = match db::run(&state.db, move |c| issuance::queue(c, &filter, now)).await {
        Ok(i) => i,
        Err(e) => return unavailable(&state, &e, "contact centre queue"),
    };
    let references: Vec<&str> = items.iter().map(|r| r.reference.as_str()).collect();
    if let Err(e) = audit_read(
        &state,
        &desk,
        "pin.queue.listed",
        None,
        json!({ "references": references }),
    )
    .await
    {
        return unavailable(&state, &e, "contact centre queue audit");
    }
    let rows = items
        .iter()
        .map(|r| QueueRow {
            href: format!("{PATH}/richieste/{}", r.id),
            reference: r.reference.clone(),
            name: format!("{} {}", r.given_name, r.family_name),
            channel: channel_text(&r.channel),
            failures: failures_text(r),
            attempts: r.call_attempts,
            received: time_text(&state, r.created_at.and_utc()),
            claim: claim_text(&state, r, &desk.operator.id).unwrap_or_else(|| "libera".into()),
        })
        .collect();
    render(
        if filter_error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &QueuePage {
            frame: desk.frame(&state, "Richieste da richiamare", PATH),
            rows,
            failure,
            channel,
            all: q.tutte.is_some(),
            channels: [
                ("", "Tutti"),
                ("online", "Online"),
                ("contact_center", "Telefono"),
                ("sportello", "Sportello"),
            ],
            filter_error,
        },
    )
}

fn compare(r: &PinRequest, p: Option<&Person>) -> Vec<Compared> {
    let reg = |f: fn(&Person) -> String| p.map_or_else(|| "non in anagrafe".to_owned(), f);
    let row = |label, requested: String, registry: String| {
        let known = !registry.trim().is_empty();
        Compared {
            label,
            differs: known && !requested.trim().eq_ignore_ascii_case(registry.trim()),
            requested,
            registry: if known {
                registry
            } else {
                "non registrato".into()
            },
        }
    };
    vec![
        row(
            "Codice fiscale",
            r.codice_fiscale.clone(),
            reg(|p| p.codice_fiscale.clone()),
        ),
        row("Nome", r.given_name.clone(), reg(|p| p.given_name.clone())),
        row(
            "Cognome",
            r.family_name.clone(),
            reg(|p| p.family_name.clone()),
        ),
        row(
            "Data di nascita",
            crate::web::italian::date(r.birth_date),
            reg(|p| crate::web::italian::date(p.birth_date)),
        ),
        row("Indirizzo", r.address.clone(), reg(|p| p.address.clone())),
        row("CAP", r.postal_code.clone(), reg(|p| p.postal_code.clone())),
        row(
            "Comune",
            r.municipality.clone(),
            reg(|p| p.municipality.clone()),
        ),
        row("Provincia", r.province.clone(), reg(|p| p.province.clone())),
        row(
            "Cellulare",
            r.mobile.clone().unwrap_or_default(),
            reg(|p| p.mobile.clone().unwrap_or_default()),
        ),
        row(
            "Email",
            r.email.clone().unwrap_or_default(),
            reg(|p| p.email.clone().unwrap_or_default()),
        ),
    ]
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "presa" => "Hai preso in carico la richiesta: ora puoi chiamare la persona.",
        "rilasciata" => "Hai rilasciato la richiesta: un altro operatore può prenderla in carico.",
        "rifiutata" => "La richiesta è stata rifiutata; la persona riceve il motivo.",
        "nessuna-risposta" => "Registrato: nessuna risposta.",
        _ => return None,
    })
}

#[derive(Debug, Deserialize)]
pub struct RequestQuery {
    #[serde(default)]
    esito: String,
}

async fn load(
    state: &AppState,
    id: &str,
) -> Result<Option<(PinRequest, Option<Person>)>, crate::db::DbError> {
    let id = id.to_owned();
    db::run(&state.db, move |c| {
        let Some(r) = request::find(c, &id)? else {
            return Ok(None);
        };
        let p = registry::find(c, &r.codice_fiscale)?;
        Ok(Some((r, p)))
    })
    .await
}

fn not_found(state: &AppState, desk: &Desk) -> HttpResponse {
    render(
        StatusCode::NOT_FOUND,
        &super::MessagePage {
            frame: desk.frame(state, "Richiesta non trovata", PATH),
            tone: "warning",
            paragraphs: vec!["Non esiste una richiesta di PIN con questo identificativo.".into()],
            next: vec![Link::new(PATH, "Torna alla coda")],
        },
    )
}

/// Draws the request page (the outcome form with `error`, when one is given).
async fn request_page(
    state: &AppState,
    desk: &Desk,
    id: &str,
    notice: Option<&'static str>,
    error: Option<(String, String)>,
) -> HttpResponse {
    let (r, person) = match load(state, id).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(state, desk),
        Err(e) => return unavailable(state, &e, "PIN request"),
    };
    if let Err(e) = audit_read(
        state,
        desk,
        "pin.request.viewed",
        Some(r.codice_fiscale.clone()),
        json!({ "reference": r.reference }),
    )
    .await
    {
        return unavailable(state, &e, "PIN request audit");
    }
    let now = state.clock.now().naive_utc();
    let queued = r.status == "queued";
    let claim_live = r.claimed_until.is_some_and(|u| u > now);
    let mine = claim_live && r.claimed_by.as_deref() == Some(desk.operator.id.as_str());
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (error, reason) = error.map_or((None, String::new()), |(e, r)| (Some(e), r));
    render(
        status,
        &RequestPage {
            frame: desk.frame(state, format!("Richiesta {}", r.reference), PATH),
            csrf: desk.session.csrf_token.clone(),
            id: r.id.clone(),
            status: status_text(&r.status),
            notice,
            rows: compare(&r, person.as_ref()),
            failures: failures_text(&r),
            attempts: r.call_attempts,
            next_call: r.next_call_at.map(|t| time_text(state, t.and_utc())),
            claim: claim_text(state, &r, &desk.operator.id),
            can_claim: queued && (!claim_live || mine),
            holds: queued && mine,
            error,
            reason,
        },
    )
}

/// `GET /console/contact-center/richieste/{id}`
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<RequestQuery>,
) -> HttpResponse {
    let desk = match guard::require(&state, &req, Some(Role::ContactCenter)).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    request_page(&state, &desk, &id, notice_text(&query.esito), None).await
}

fn refusal(state: &AppState, desk: &Desk, id: &str, e: &IssuanceError) -> Option<HttpResponse> {
    let (status, text) = match e {
        IssuanceError::NotFound => return Some(not_found(state, desk)),
        IssuanceError::NotQueued(_) => (
            StatusCode::CONFLICT,
            "La richiesta non è più in attesa di chiamata.",
        ),
        IssuanceError::ClaimedByOther => (
            StatusCode::CONFLICT,
            "Un altro operatore ha preso in carico questa richiesta.",
        ),
        IssuanceError::NotClaimed => (
            StatusCode::CONFLICT,
            "Prendi in carico la richiesta prima di registrare l'esito (la presa in carico \
             potrebbe essere scaduta).",
        ),
        IssuanceError::PinAlreadyActive => {
            (StatusCode::CONFLICT, "La persona ha già un PIN attivo.")
        }
        IssuanceError::NotInRegistry => (
            StatusCode::CONFLICT,
            "La persona non è nell'anagrafe: il PIN non può essere rilasciato.",
        ),
        _ => return None,
    };
    Some(render(
        status,
        &super::MessagePage {
            frame: desk.frame(state, "Operazione non eseguita", PATH),
            tone: "warning",
            paragraphs: vec![text.to_owned()],
            next: vec![
                Link::new(format!("{PATH}/richieste/{id}"), "Torna alla richiesta"),
                Link::new(PATH, "Torna alla coda"),
            ],
        },
    ))
}

/// `POST /console/contact-center/richieste/{id}/prendi`: the claim.
pub async fn claim(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let desk = match guard::require_form(&state, &req, &body, Some(Role::ContactCenter)).await {
        Ok((d, _)) => d,
        Err(resp) => return resp,
    };
    let (rid, op, st, now) = (
        id.clone(),
        desk.operator.id.clone(),
        state.get_ref().clone(),
        state.clock.now(),
    );
    match db::run(&state.db, move |c| issuance::claim(c, &st, &rid, &op, now)).await {
        Ok(_) => crate::web::redirect(&format!("{PATH}/richieste/{id}?esito=presa")),
        Err(e) => refusal(&state, &desk, &id, &e)
            .unwrap_or_else(|| unavailable(&state, &e, "PIN request claim")),
    }
}

/// `POST /console/contact-center/richieste/{id}/rilascia`: gives the claim back.
pub async fn release(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (desk, _) = match guard::require_form(&state, &req, &body, Some(Role::ContactCenter)).await
    {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let (st, op, now, wanted) = (
        state.get_ref().clone(),
        desk.operator.id.clone(),
        state.clock.now(),
        id.clone(),
    );
    let released = db::run(&state.db, move |c| {
        issuance::release(c, &st, &wanted, &op, now)
    })
    .await;
    match released {
        Ok(_) => crate::web::redirect(&format!("{PATH}/richieste/{id}?esito=rilasciata")),
        Err(e) => refusal(&state, &desk, &id, &e)
            .unwrap_or_else(|| unavailable(&state, &e, "PIN request release")),
    }
}

/// `POST /console/contact-center/richieste/{id}/esito`: the call's outcome.
pub async fn outcome(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (desk, form) =
        match guard::require_form(&state, &req, &body, Some(Role::ContactCenter)).await {
            Ok(found) => found,
            Err(resp) => return resp,
        };
    let reason = form.get("reason").unwrap_or_default().trim().to_owned();
    let outcome = match form.get("outcome") {
        Some("validated") => CallOutcome::Validated,
        Some("rejected") if reason.is_empty() => {
            let e = "Scrivi il motivo del rifiuto: la persona lo riceverà.".to_owned();
            return request_page(&state, &desk, &id, None, Some((e, reason))).await;
        }
        Some("rejected") => CallOutcome::Rejected {
            reason: reason.clone(),
        },
        Some("no_answer") => CallOutcome::NoAnswer,
        _ => {
            let e = "Scegli l'esito della chiamata.".to_owned();
            return request_page(&state, &desk, &id, None, Some((e, reason))).await;
        }
    };
    let now = state.clock.now();
    let recorded = issuance::record_outcome(&state, &id, &desk.operator.id, outcome, now).await;
    match recorded {
        Ok(Recorded::Issued { first_half }) => {
            let (r, _) = match load(&state, &id).await {
                Ok(Some(found)) => found,
                Ok(None) => return not_found(&state, &desk),
                Err(e) => return unavailable(&state, &e, "PIN request"),
            };
            render(
                StatusCode::OK,
                &FirstHalfPage {
                    frame: desk.frame(&state, "Leggi ora la prima metà del PIN", PATH),
                    reference: r.reference,
                    name: format!("{} {}", r.given_name, r.family_name),
                    half: first_half,
                },
            )
        }
        Ok(Recorded::Rejected) => {
            crate::web::redirect(&format!("{PATH}/richieste/{id}?esito=rifiutata"))
        }
        Ok(Recorded::RetryLater { .. } | Recorded::Closed) => {
            crate::web::redirect(&format!("{PATH}/richieste/{id}?esito=nessuna-risposta"))
        }
        Err(IssuanceError::ReasonRequired) => {
            let e = "Scrivi il motivo del rifiuto: la persona lo riceverà.".to_owned();
            request_page(&state, &desk, &id, None, Some((e, reason))).await
        }
        Err(e) => refusal(&state, &desk, &id, &e)
            .unwrap_or_else(|| unavailable(&state, &e, "PIN request outcome")),
    }
}
