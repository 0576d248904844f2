//! Administration: the audit log — search by person (codice fiscale), operator, action and
//! time, newest first, a page at a time; and the check of the whole hash chain (the same
//! walk as `procura audit verify`).
//!
//! A search shows personal data, so it is itself recorded (`audit.searched`, the person
//! masked); a verification is recorded as `audit.verified` with its result. One
//! verification runs at a time (it reads the whole log, on the blocking pool).

use super::admin::{self, Notice};
use super::guard::Desk;
use super::{Frame, render, time_text, unavailable};
use crate::AppState;
use crate::audit::search::{self, Filter};
use crate::audit::{self, Broken, Event, Outcome, Party, Record};
use crate::db::{self, DbError};
use crate::oauth::params::Params;
use crate::operator;
use crate::person::CodiceFiscale;
use crate::web::forms::FormErrors;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

pub const PATH: &str = "/console/amministrazione/registro";

/// Records on a page.
const PAGE: i64 = 50;
/// Longest detail shown of one record (the rest is cut, with an ellipsis).
const MAX_DETAIL_CHARS: usize = 2_000;
/// The longest action name accepted in the filter.
const MAX_ACTION_CHARS: usize = 100;

/// A verification under way (one at a time: it reads the whole log).
static VERIFYING: AtomicBool = AtomicBool::new(false);

/// The search form as typed (sent back into the form and the "next page" link).
#[derive(Default)]
struct Query {
    persona: String,
    operatore: String,
    azione: String,
    dal: String,
    al: String,
}

impl Query {
    fn read(params: &Params) -> Self {
        let get = |n: &str| params.get(n).map(str::trim).unwrap_or_default().to_owned();
        Self {
            persona: get("persona").to_uppercase(),
            operatore: get("operatore"),
            azione: get("azione"),
            dal: get("dal"),
            al: get("al"),
        }
    }

    /// The query string of this search (for the next page): the fields filled in.
    fn encoded(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("persona", &self.persona),
            ("operatore", &self.operatore),
            ("azione", &self.azione),
            ("dal", &self.dal),
            ("al", &self.al),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.as_str()))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// A record as the page shows it.
struct Row {
    seq: i64,
    at: String,
    actor: String,
    subject: Option<String>,
    action: String,
    outcome: &'static str,
    request_id: Option<String>,
    detail: Option<String>,
}

#[derive(Template)]
#[template(path = "console/admin_audit.html")]
struct AuditPage<'a> {
    frame: Frame<'a>,
    csrf: String,
    notice: Option<Notice>,
    query: Query,
    errors: FormErrors,
    rows: Vec<Row>,
    /// The link to the next (older) page.
    next: Option<String>,
}

/// The start of `day` in operators' time zone, as stored (UTC).
fn day_start(state: &AppState, day: NaiveDate) -> NaiveDateTime {
    let tz: chrono_tz::Tz = state
        .config
        .booking
        .default_time_zone
        .parse()
        .unwrap_or(chrono_tz::Europe::Rome);
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map_or(midnight, |t| t.naive_utc())
}

/// The filter of a search, or the errors of its fields (`operators` resolve an operator's
/// codice fiscale or id).
fn filter(
    state: &AppState,
    q: &Query,
    params: &Params,
    operators: &[operator::Operator],
) -> Result<Filter, FormErrors> {
    let mut errors = FormErrors::default();
    let mut f = Filter::default();
    if !q.persona.is_empty() {
        match CodiceFiscale::parse(&q.persona) {
            Ok(cf) => f.party = Some(Party::person(&cf).as_str().to_owned()),
            Err(e) => errors.add("persona", crate::web::italian::codice_fiscale_error(&e)),
        }
    }
    if !q.operatore.is_empty() {
        let wanted = q.operatore.to_uppercase();
        match operators
            .iter()
            .find(|o| o.id == q.operatore || o.codice_fiscale.as_str() == wanted)
        {
            Some(o) => f.actor = Some(Party::operator(&o.id).as_str().to_owned()),
            None => errors.add(
                "operatore",
                "Nessun operatore con questo codice fiscale o identificativo.",
            ),
        }
    }
    if !q.azione.is_empty() {
        let ok = q.azione.chars().count() <= MAX_ACTION_CHARS
            && q.azione
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_'));
        if ok {
            f.action = Some(q.azione.clone());
        } else {
            errors.add(
                "azione",
                "Scrivi il nome di un'azione (per esempio operator.disabled) o un prefisso che \
                 finisce con il punto (operator.): solo lettere minuscole, cifre, punto e \
                 trattino basso.",
            );
        }
    }
    let date = |name: &str, text: &str, errors: &mut FormErrors| {
        if text.is_empty() {
            return None;
        }
        let d = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
        if d.is_none() {
            errors.add(
                name,
                "Scrivi la data come aaaa-mm-gg (per esempio 2026-12-03).",
            );
        }
        d
    };
    let from = date("dal", &q.dal, &mut errors);
    let to = date("al", &q.al, &mut errors);
    if let (Some(a), Some(b)) = (from, to)
        && b < a
    {
        errors.add("al", "La data finale viene prima di quella iniziale.");
    }
    f.from = from.map(|d| day_start(state, d));
    f.until = to.and_then(|d| d.succ_opt()).map(|d| day_start(state, d));
    if let Some(p) = params.get("prima") {
        match p.parse::<i64>() {
            Ok(seq) if seq > 0 => f.before_seq = Some(seq),
            _ => errors.add("", "Il collegamento alla pagina successiva non è valido."),
        }
    }
    if errors.is_empty() {
        Ok(f)
    } else {
        Err(errors)
    }
}

fn outcome_text(o: &str) -> &'static str {
    match o {
        "success" => "riuscita",
        "failure" => "non riuscita",
        "denied" => "negata",
        _ => "sconosciuto",
    }
}

fn row(state: &AppState, r: Record, names: &HashMap<String, String>) -> Row {
    let actor = match r
        .actor
        .strip_prefix("operator:")
        .and_then(|id| names.get(id))
    {
        Some(name) => format!("{} ({name})", r.actor),
        None => r.actor,
    };
    let detail = r.detail.map(|d| {
        if d.chars().count() > MAX_DETAIL_CHARS {
            let cut: String = d.chars().take(MAX_DETAIL_CHARS).collect();
            format!("{cut}…")
        } else {
            d
        }
    });
    Row {
        seq: r.seq,
        at: time_text(state, r.occurred_at.and_utc()),
        actor,
        subject: r.subject,
        action: r.action,
        outcome: outcome_text(&r.outcome),
        request_id: r.request_id,
        detail,
    }
}

/// Searches (the search recorded) and draws the page.
async fn page(
    state: &AppState,
    desk: &Desk,
    params: &Params,
    notice: Option<Notice>,
) -> HttpResponse {
    let query = Query::read(params);
    let operators = match db::run(&state.db, operator::list).await {
        Ok(o) => o,
        Err(e) => return unavailable(state, &e, "audit search operators"),
    };
    let found = match filter(state, &query, params, &operators) {
        Ok(f) => {
            let person = CodiceFiscale::parse(&query.persona).ok();
            let masked = person.as_ref().map(|c| c.masked().to_string());
            let subject = person.as_ref().map(Party::person);
            let detail = json!({
                "person": masked,
                "actor": f.actor,
                "action": f.action,
                "from": query.dal,
                "to": query.al,
                "before_seq": f.before_seq,
            });
            let (key, acting, now) = (state.audit_key.clone(), desk.acting(), state.clock.now());
            db::run(&state.db, move |c| {
                let page = search::search(c, &f, PAGE)?;
                let mut event =
                    Event::new(acting.actor, "audit.searched", Outcome::Success).detail(detail);
                if let Some(s) = subject {
                    event = event.on_behalf_of(s);
                }
                if let Some(id) = acting.request_id {
                    event = event.request_id(id);
                }
                audit::append_alone(c, &key, now, event)?;
                Ok::<_, DbError>(page)
            })
            .await
            .map(Ok)
        }
        Err(errors) => Ok(Err(errors)),
    };
    let names: HashMap<String, String> = operators
        .into_iter()
        .map(|o| (o.id, o.display_name))
        .collect();
    let (status, rows, next, errors) = match found {
        Ok(Ok(p)) => {
            let next = p.next.map(|seq| match query.encoded() {
                q if q.is_empty() => format!("{PATH}?prima={seq}"),
                q => format!("{PATH}?{q}&prima={seq}"),
            });
            let rows = p
                .records
                .into_iter()
                .map(|r| row(state, r, &names))
                .collect();
            (StatusCode::OK, rows, next, FormErrors::default())
        }
        Ok(Err(errors)) => (StatusCode::UNPROCESSABLE_ENTITY, vec![], None, errors),
        Err(e) => return unavailable(state, &e, "audit search"),
    };
    render(
        status,
        &AuditPage {
            frame: desk.frame(state, "Amministrazione: registro di audit", admin::PATH),
            csrf: desk.session.csrf_token.clone(),
            notice,
            query,
            errors,
            rows,
            next,
        },
    )
}

/// `GET /console/amministrazione/registro` (`persona`, `operatore`, `azione`, `dal`, `al`,
/// `prima`).
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let desk = match admin::require(&state, &req).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let params = Params::parse(req.query_string()).unwrap_or_default();
    page(&state, &desk, &params, None).await
}

/// Why the chain is broken, in Italian.
fn broken_text(b: &Broken) -> String {
    match b {
        Broken::Missing { expected, found } => {
            format!("manca il record n. {expected} (il successivo trovato è il n. {found})")
        }
        Broken::Unlinked { seq } => format!(
            "il record n. {seq} non segue quello precedente (riordinato, o il precedente è stato \
             sostituito)"
        ),
        Broken::Altered { seq } => {
            format!("il record n. {seq} è stato modificato (il contenuto non corrisponde all'hash)")
        }
        Broken::HeadMismatch { last, head } => format!(
            "il registro finisce al record n. {last} ma la testa indica il n. {head}: record \
             tolti dalla fine o testa modificata"
        ),
        Broken::Forged { seq, head } => format!(
            "il record n. {seq} è fuori dall'intervallo 1..{head} dei numeri assegnati: è stato \
             falsificato"
        ),
        Broken::ShorterThanCheckpoint { file, seq, last } => format!(
            "il registro finisce al record n. {last}, ma il checkpoint firmato {file} attesta \
             il record n. {seq}: record tolti dalla fine"
        ),
        Broken::DiffersFromCheckpoint { file, seq } => format!(
            "il record n. {seq} non è quello firmato nel checkpoint {file}: il registro è stato \
             tagliato e riscritto"
        ),
    }
}

/// Clears [`VERIFYING`] however the verification ends.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        VERIFYING.store(false, Ordering::Release);
    }
}

/// `POST /console/amministrazione/registro/verifica` (`csrf`): checks the whole chain.
pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (desk, _) = match admin::require_form(&state, &req, &body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let empty = Params::default();
    if VERIFYING.swap(true, Ordering::AcqRel) {
        return page(
            &state,
            &desk,
            &empty,
            Some(Notice {
                tone: "warning",
                text: "Una verifica del registro è già in corso: riprova tra poco.".into(),
            }),
        )
        .await;
    }
    let running = Running;
    let (key, acting, now) = (state.audit_key.clone(), desk.acting(), state.clock.now());
    // The signed checkpoints (`audit.checkpoint_dir`), read before the log as the CLI does.
    let checkpoints = state
        .config
        .audit
        .checkpoint_dir
        .clone()
        .map(|dir| (dir, state.keys.clone()));
    let checked = db::run(&state.db, move |c| {
        let _running = running;
        let anchors = match checkpoints {
            None => Ok(Vec::new()),
            Some((dir, keys)) => audit::checkpoint::read_dir(&dir, &keys)
                .map_err(|e| format!("un checkpoint firmato non è valido ({e})")),
        };
        let result = match anchors {
            Ok(anchors) => audit::verify_against(c, &key, &anchors)?.map_err(|b| broken_text(&b)),
            Err(bad) => Err(bad),
        };
        let (outcome, detail) = match &result {
            Ok(v) => (
                Outcome::Success,
                json!({ "count": v.count, "head_hash": v.head_hash, "checkpoints": v.checkpoints }),
            ),
            Err(b) => (Outcome::Failure, json!({ "broken": b })),
        };
        let mut event = Event::new(acting.actor, "audit.verified", outcome).detail(detail);
        if let Some(id) = acting.request_id {
            event = event.request_id(id);
        }
        audit::append_alone(c, &key, now, event)?;
        Ok::<_, DbError>(result)
    })
    .await;
    let notice = match checked {
        Ok(Ok(v)) if v.checkpoints > 0 => Notice::success(format!(
            "Registro integro: {} record, catena verificata fino all'hash di testa {} e \
             conforme a tutti i {} checkpoint firmati.",
            v.count, v.head_hash, v.checkpoints
        )),
        Ok(Ok(v)) => Notice::success(format!(
            "Registro integro: {} record, catena verificata fino all'hash di testa {} (conservalo \
             fuori dal database per accorgerti di un taglio futuro).",
            v.count, v.head_hash
        )),
        Ok(Err(b)) => Notice::refused(format!(
            "Registro NON integro: {b}. Avvisa subito il responsabile della sicurezza."
        )),
        Err(e) => return unavailable(&state, &e, "audit verification"),
    };
    page(&state, &desk, &empty, notice).await
}
