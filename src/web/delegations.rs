//! "Le mie deleghe": the delegations a logged-in citizen gave and received, registering one
//! online (at `delegation.online_min_level`, else a step-up login is offered), revoking one
//! given (after the online minimum) and renouncing one received. The same registry functions
//! as `/v1/delegations*`.

use super::forms::{self, Field, FormErrors};
use super::views::{DelegationRow, DelegationsPage, FormSection, RowAction};
use super::{Link, Shell, area, errors, italian, redirect, render};
use crate::AppState;
use crate::db;
use crate::delegation::family::LocalFamilyRegister;
use crate::delegation::policy::Refusal;
use crate::delegation::registry::{self, DelegationError, NamedDelegate};
use crate::delegation::{Delegation, Kind, Status, acting, given_by};
use crate::oauth::params::Params;
use crate::oauth::session::BrowserSession;
use crate::person::CodiceFiscale;
use crate::person::codice_fiscale::mask_text;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, NaiveDateTime};

const PATH: &str = "/area-personale/deleghe";

fn kind_text(kind: &str) -> &'static str {
    match Kind::parse(kind) {
        Some(Kind::Fiducia) => "delega a persona di fiducia",
        Some(Kind::Genitore) => "genitore per un minore",
        Some(Kind::Tutore) => "tutela",
        Some(Kind::Curatore) => "curatela",
        Some(Kind::AmministratoreDiSostegno) => "amministrazione di sostegno",
        None => "delega",
    }
}

fn status_text(d: &Delegation, now: NaiveDateTime) -> &'static str {
    match d.status() {
        Some(Status::Active) if d.ends_at.is_some_and(|e| e <= now) => "scaduta",
        Some(Status::Active) => "attiva",
        Some(Status::PendingVerification) => "in verifica presso l'INPS",
        Some(Status::Revoked) => "revocata",
        Some(Status::Renounced) => "rinunciata dal delegato",
        Some(Status::Expired) => "scaduta",
        None => "sconosciuto",
    }
}

fn day(t: NaiveDateTime) -> String {
    italian::date(t.date())
}

/// "fino al …" (the end date is exclusive: the last day is the one before).
fn until_text(d: &Delegation) -> String {
    match d.ends_at {
        Some(end) => format!(
            "fino al {}",
            italian::date(end.date().pred_opt().unwrap_or(end.date()))
        ),
        None => "senza scadenza".into(),
    }
}

fn name_of(given: Option<String>, family: Option<String>, cf: &str) -> String {
    match (given, family) {
        (Some(g), Some(f)) => format!("{g} {f}"),
        _ => mask_text(cf),
    }
}

fn notice(key: &str) -> Option<(&'static str, String)> {
    Some(match key {
        "delega-registrata" => (
            "success",
            "La delega è registrata ed è attiva da subito. Abbiamo avvisato il delegato ai suoi \
             recapiti, se li conosciamo."
                .into(),
        ),
        "delega-minore-registrata" => (
            "success",
            "La delega per tuo figlio è registrata ed è attiva da subito; termina al compimento \
             dei 18 anni."
                .into(),
        ),
        "delega-revocata" => (
            "success",
            "La delega è revocata: il delegato non può più agire per te. Lo abbiamo avvisato."
                .into(),
        ),
        "delega-rinunciata" => (
            "success",
            "Hai rinunciato alla delega: non puoi più agire per quella persona, che abbiamo \
             avvisato."
                .into(),
        ),
        _ => return None,
    })
}

/// Everything the page shows, read in one go.
struct Lists {
    given: Vec<(Delegation, Option<String>, Option<String>)>,
    received: Vec<acting::ActingFor>,
}

async fn lists(state: &AppState, cf: &str) -> Result<Lists, db::DbError> {
    let me = cf.to_owned();
    let now = state.clock.now();
    db::run(&state.db, move |c| {
        let code = CodiceFiscale::parse(&me)
            .map_err(|_| db::DbError::Query(diesel::result::Error::NotFound))?;
        let mut given = Vec::new();
        for d in given_by(c, &me)? {
            let p = crate::person::registry::find(c, &d.delegate_cf)?;
            let (g, f) = match p {
                Some(p) => (Some(p.given_name), Some(p.family_name)),
                None => (None, None),
            };
            given.push((d, g, f));
        }
        let received = acting::acting_for(c, &code, now)?;
        Ok::<_, db::DbError>(Lists { given, received })
    })
    .await
}

fn register_fields(form: &Params, errors: &FormErrors) -> FormSection {
    let v = |n: &str| form.get(n).unwrap_or("").trim().to_owned();
    let mut fields = vec![
        Field::codice_fiscale("delegate_codice_fiscale", "Codice fiscale del delegato")
            .value(v("delegate_codice_fiscale")),
        Field::text("delegate_given_name", "Nome del delegato").value(v("delegate_given_name")),
        Field::text("delegate_family_name", "Cognome del delegato")
            .value(v("delegate_family_name")),
        Field::text("ends_on", "Ultimo giorno della delega")
            .value(v("ends_on"))
            .optional()
            .maxlength(10)
            .inputmode("numeric")
            .hint(
                "Nel formato gg/mm/aaaa. Se lo lasci vuoto, la delega vale finché non la revochi.",
            ),
    ];
    errors.apply(&mut fields);
    FormSection {
        heading: None,
        text: None,
        fields,
    }
}

fn minor_fields(form: &Params, errors: &FormErrors) -> FormSection {
    let v = |n: &str| form.get(n).unwrap_or("").trim().to_owned();
    let mut fields = vec![
        Field::codice_fiscale(
            "child_codice_fiscale",
            "Codice fiscale del figlio minorenne",
        )
        .value(v("child_codice_fiscale")),
    ];
    errors.apply(&mut fields);
    FormSection {
        heading: None,
        text: Some(
            "Se sei genitore di un minore che fa parte del tuo nucleo familiare, puoi registrare \
             online la delega che ti permette di agire per lui."
                .into(),
        ),
        fields,
    }
}

/// Draws the page (with a form's errors, when redrawn after a POST).
async fn page(
    state: &AppState,
    req: &HttpRequest,
    session: &BrowserSession,
    status: StatusCode,
    form: &Params,
    errors: &FormErrors,
) -> HttpResponse {
    let lists = match lists(state, &session.codice_fiscale).await {
        Ok(l) => l,
        Err(e) => return errors::unavailable(state, &e, "delegations page"),
    };
    let now = state.clock.now().naive_utc();
    let given = lists
        .given
        .into_iter()
        .map(|(d, g, f)| {
            let in_force = d.status() == Some(Status::Active) && d.ends_at.is_none_or(|e| now < e);
            let action = match d.min_end_at {
                _ if !in_force || d.kind() != Some(Kind::Fiducia) => RowAction::None,
                Some(min) if now < min => RowAction::RevokeFrom(day(min)),
                _ => RowAction::Revoke,
            };
            DelegationRow {
                other_name: name_of(g, f, &d.delegate_cf),
                other_cf: d.delegate_cf.clone(),
                kind: kind_text(&d.kind).into(),
                status: status_text(&d, now).into(),
                since: day(d.starts_at),
                until: until_text(&d),
                action,
                id: d.id,
            }
        })
        .collect();
    let received = lists
        .received
        .into_iter()
        .map(|r| {
            let d = r.delegation;
            DelegationRow {
                other_name: name_of(r.given_name, r.family_name, &d.delegator_cf),
                other_cf: mask_text(&d.delegator_cf),
                kind: kind_text(&d.kind).into(),
                status: status_text(&d, now).into(),
                since: day(d.starts_at),
                until: until_text(&d),
                action: if d.kind() == Some(Kind::Fiducia) {
                    RowAction::Renounce
                } else {
                    RowAction::None
                },
                id: d.id,
            }
        })
        .collect();
    let min = state.config.delegation.online_min_level;
    let level_ok = session.level().is_some_and(|l| l.satisfies(min));
    let step_up = if level_ok {
        None
    } else {
        Some(Link::new(
            area::login_url(state, PATH, Some(min)).await,
            "Accedi con SPID di livello 2 o superiore, CIE o CNS",
        ))
    };
    let result = forms::read_result(req);
    let page = DelegationsPage {
        shell: Shell::new(state, "Le mie deleghe").with_user(Some(area::user_box(session))),
        notice: result.as_ref().and_then(|(k, _)| notice(k)),
        csrf: session.csrf_token.clone(),
        given,
        received,
        register: level_ok.then(|| register_fields(form, errors)),
        minor: level_ok.then(|| minor_fields(form, errors)),
        step_up,
        errors: errors.summary(),
        online_min_days: italian::days(u64::from(state.config.delegation.online_min_days)),
    };
    let mut resp = render(status, &page);
    if result.is_some() {
        forms::clear_result(state, &mut resp);
    }
    resp
}

/// `GET /area-personale/deleghe`
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let session = match area::require(&state, &req, PATH).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    page(
        &state,
        &req,
        &session,
        StatusCode::OK,
        &Params::default(),
        &FormErrors::default(),
    )
    .await
}

/// The session and the form of a POST, its CSRF token checked.
async fn posted(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(BrowserSession, Params, CodiceFiscale), HttpResponse> {
    let session = area::require(state, req, PATH).await?;
    let form = forms::body(body);
    if !form.get("csrf").is_some_and(|t| session.csrf_matches(t)) {
        return Err(errors::page(
            state,
            StatusCode::FORBIDDEN,
            "Modulo scaduto",
            "Il modulo inviato non è più valido: riapri la pagina e riprova.",
            vec![Link::new(PATH, "Riapri Le mie deleghe")],
        ));
    }
    let cf = CodiceFiscale::parse(&session.codice_fiscale)
        .map_err(|e| errors::unavailable(state, &e, "session codice fiscale"))?;
    Ok((session, form, cf))
}

/// gg/mm/aaaa (or aaaa-mm-gg) → a date; the end date is the last day (inclusive) for the
/// citizen, stored as the next day's midnight (exclusive) like the JSON API's `ends_on`.
fn last_day(text: &str) -> Result<Option<NaiveDate>, ()> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let date = NaiveDate::parse_from_str(t, "%d/%m/%Y")
        .or_else(|_| NaiveDate::parse_from_str(t, "%Y-%m-%d"))
        .map_err(|_| ())?;
    Ok(date.succ_opt())
}

fn registration_error(
    state: &AppState,
    e: DelegationError,
    errors: &mut FormErrors,
    cf_field: &str,
) -> Option<HttpResponse> {
    match e {
        DelegationError::Refused(r) => {
            let field = match r {
                Refusal::SelfDelegation
                | Refusal::DelegateMinor
                | Refusal::NotAMinor
                | Refusal::NotFamily => cf_field,
                Refusal::EndInPast | Refusal::EndBeforeMinimum => "ends_on",
                _ => "",
            };
            errors.add(field, r.to_string());
        }
        DelegationError::FiduciaExists => errors.add(
            "",
            "Hai già una delega attiva a una persona di fiducia: puoi averne una sola. Per \
             cambiare delegato revoca prima quella esistente.",
        ),
        DelegationError::DelegateLimit => errors.add(
            cf_field,
            format!(
                "La persona indicata ha già ricevuto il numero massimo di deleghe consentito \
                 ({}): non può riceverne altre.",
                state.config.delegation.max_fiducia_per_delegate
            ),
        ),
        DelegationError::NameMismatch => errors.add(
            "delegate_given_name",
            "Nome e cognome non corrispondono al codice fiscale indicato: scrivili come \
             risultano sulla tessera sanitaria del delegato.",
        ),
        other => {
            return Some(errors::unavailable(
                state,
                &other,
                "delegation registration",
            ));
        }
    }
    None
}

/// `POST /area-personale/deleghe`: registers a delegation to a trusted person.
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (session, form, me) = match posted(&state, &req, &body).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let min = state.config.delegation.online_min_level;
    if !session.level().is_some_and(|l| l.satisfies(min)) {
        return redirect(PATH);
    }
    let mut errors = FormErrors::default();
    let text = |n: &str| form.get(n).unwrap_or("").trim().to_owned();
    let delegate_cf = match CodiceFiscale::parse(&text("delegate_codice_fiscale")) {
        Ok(cf) => Some(cf),
        Err(e) => {
            errors.add("delegate_codice_fiscale", italian::codice_fiscale_error(&e));
            None
        }
    };
    for (field, what) in [
        ("delegate_given_name", "il nome"),
        ("delegate_family_name", "il cognome"),
    ] {
        if text(field).is_empty() {
            errors.add(field, format!("Scrivi {what} del delegato."));
        }
    }
    let ends_on = match last_day(&text("ends_on")) {
        Ok(d) => d,
        Err(()) => {
            errors.add(
                "ends_on",
                "La data non è valida: scrivila nel formato gg/mm/aaaa.",
            );
            None
        }
    };
    let Some(delegate_cf) = delegate_cf.filter(|_| errors.is_empty()) else {
        return page(
            &state,
            &req,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &errors,
        )
        .await;
    };
    let delegate = NamedDelegate {
        codice_fiscale: delegate_cf,
        given_name: text("delegate_given_name"),
        family_name: text("delegate_family_name"),
    };
    let now = state.clock.now();
    let s = state.get_ref().clone();
    let done = db::run(&state.db, move |c| {
        registry::register_online(c, &s, &me, Kind::Fiducia, &delegate, ends_on, now)
    })
    .await;
    match done {
        Ok(_) => {
            let mut resp = redirect(PATH);
            let _ = resp.add_cookie(&forms::result_cookie(&state, "delega-registrata", None));
            resp
        }
        Err(e) => match registration_error(&state, e, &mut errors, "delegate_codice_fiscale") {
            Some(resp) => resp,
            None => {
                page(
                    &state,
                    &req,
                    &session,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &form,
                    &errors,
                )
                .await
            }
        },
    }
}

/// `POST /area-personale/deleghe/minore`: a parent registers the delegation for a minor.
pub async fn register_minor(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (session, form, me) = match posted(&state, &req, &body).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let min = state.config.delegation.online_min_level;
    if !session.level().is_some_and(|l| l.satisfies(min)) {
        return redirect(PATH);
    }
    let mut errors = FormErrors::default();
    let child = match CodiceFiscale::parse(form.get("child_codice_fiscale").unwrap_or("")) {
        Ok(cf) => cf,
        Err(e) => {
            errors.add("child_codice_fiscale", italian::codice_fiscale_error(&e));
            return page(
                &state,
                &req,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
            )
            .await;
        }
    };
    let now = state.clock.now();
    let s = state.get_ref().clone();
    let done = db::run(&state.db, move |c| {
        registry::register_for_minor(c, &s, &LocalFamilyRegister, &me, &child, None, now)
    })
    .await;
    match done {
        Ok(_) => {
            let mut resp = redirect(PATH);
            let _ = resp.add_cookie(&forms::result_cookie(
                &state,
                "delega-minore-registrata",
                None,
            ));
            resp
        }
        Err(e) => match registration_error(&state, e, &mut errors, "child_codice_fiscale") {
            Some(resp) => resp,
            None => {
                page(
                    &state,
                    &req,
                    &session,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &form,
                    &errors,
                )
                .await
            }
        },
    }
}

/// An ending refused by the rules, said on the page.
async fn ending_refused(
    state: &AppState,
    req: &HttpRequest,
    session: &BrowserSession,
    e: DelegationError,
) -> HttpResponse {
    let mut errors = FormErrors::default();
    match e {
        DelegationError::Refused(r) => errors.add("", r.to_string()),
        DelegationError::NotFound => errors.add("", "La delega indicata non risulta tra le tue."),
        DelegationError::NotActive(_) => errors.add("", "La delega è già terminata."),
        other => return errors::unavailable(state, &other, "delegation ending"),
    }
    page(
        state,
        req,
        session,
        StatusCode::UNPROCESSABLE_ENTITY,
        &Params::default(),
        &errors,
    )
    .await
}

/// `POST /area-personale/deleghe/{id}/revoca`
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (session, _, me) = match posted(&state, &req, &body).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let id = path.into_inner();
    let now = state.clock.now();
    let s = state.get_ref().clone();
    match db::run(&state.db, move |c| {
        registry::revoke_by_delegator(c, &s, &me, &id, now)
    })
    .await
    {
        Ok(_) => {
            let mut resp = redirect(PATH);
            let _ = resp.add_cookie(&forms::result_cookie(&state, "delega-revocata", None));
            resp
        }
        Err(e) => ending_refused(&state, &req, &session, e).await,
    }
}

/// `POST /area-personale/deleghe/{id}/rinuncia`
pub async fn renounce(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (session, _, me) = match posted(&state, &req, &body).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let id = path.into_inner();
    let now = state.clock.now();
    let s = state.get_ref().clone();
    match db::run(&state.db, move |c| registry::renounce(c, &s, &me, &id, now)).await {
        Ok(_) => {
            let mut resp = redirect(PATH);
            let _ = resp.add_cookie(&forms::result_cookie(&state, "delega-rinunciata", None));
            resp
        }
        Err(e) => ending_refused(&state, &req, &session, e).await,
    }
}
