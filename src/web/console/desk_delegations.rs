//! The branch desk's delegations (`sportello`): a delegation registered with its form and
//! documents — AA08 (the delegator at the desk), AA09 (the delegate with the medical
//! certificate), AA10 or PEC (a legal representative: with the court decree active at once,
//! with a self-declaration only it waits) — and the pending self-declarations, confirmed or
//! refused after the check with the court by another operator (the registry refuses the one
//! who registered it). The same domain functions as `/v1/operator/delegations*`
//! (`registry::check_document`, `register_by_operator`, `pending_verification`, `verify`),
//! with the same audit (`delegation.pending_listed` for the list).

use super::guard::{self, Desk};
use super::{Frame, audit_read, render, time_text, unavailable};
use crate::AppState;
use crate::db;
use crate::delegation::registry::{
    self, DelegationError, DocumentKind, OperatorRegistration, Verification,
};
use crate::delegation::{Channel, Kind};
use crate::operator::Role;
use crate::person::CodiceFiscale;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

pub const PATH: &str = "/console/sportello/deleghe";

pub struct Pending {
    pub id: String,
    pub kind: &'static str,
    pub delegator: String,
    pub delegate: String,
    pub registered: String,
    /// Registered by this operator: another one must check it.
    pub own: bool,
}

#[derive(Template)]
#[template(path = "console/desk_delegations.html")]
struct Page<'a> {
    frame: Frame<'a>,
    csrf: String,
    notice: Option<&'static str>,
    errors: Vec<String>,
    channels: [(&'static str, &'static str); 4],
    kinds: [(&'static str, &'static str); 5],
    typed: Typed,
    pending: Vec<Pending>,
}

/// What the operator typed, shown again with the errors.
#[derive(Default)]
pub struct Typed {
    pub channel: String,
    pub kind: String,
    pub delegator: String,
    pub delegate: String,
    pub ends_on: String,
    pub decree_reference: String,
}

fn kind_text(k: &str) -> &'static str {
    match k {
        "tutore" => "tutore",
        "curatore" => "curatore",
        "amministratore_di_sostegno" => "amministratore di sostegno",
        "genitore" => "genitore",
        "fiducia" => "delega di fiducia",
        _ => "altro",
    }
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "attiva" => "La delega è registrata ed è attiva.",
        "in-verifica" => {
            "La rappresentanza è registrata con l'autocertificazione: resta in attesa della \
             verifica con il tribunale, da parte di un altro operatore."
        }
        "confermata" => "Verifica registrata: la rappresentanza è attiva.",
        "rifiutata" => "Verifica registrata: la rappresentanza è rifiutata.",
        _ => return None,
    })
}

async fn page(
    state: &AppState,
    desk: &Desk,
    status: StatusCode,
    notice: Option<&'static str>,
    errors: Vec<String>,
    typed: Typed,
) -> HttpResponse {
    let list = match db::run(&state.db, |c| registry::pending_verification(c, 200)).await {
        Ok(l) => l,
        Err(e) => return unavailable(state, &e, "pending representations"),
    };
    let ids: Vec<&str> = list.iter().map(|d| d.id.as_str()).collect();
    if let Err(e) = audit_read(
        state,
        desk,
        "delegation.pending_listed",
        None,
        json!({ "delegation_ids": ids }),
    )
    .await
    {
        return unavailable(state, &e, "pending representations audit");
    }
    let pending = list
        .iter()
        .map(|d| Pending {
            id: d.id.clone(),
            kind: kind_text(&d.kind),
            delegator: d.delegator_cf.clone(),
            delegate: d.delegate_cf.clone(),
            registered: time_text(state, d.created_at.and_utc()),
            own: d.operator_id.as_deref() == Some(desk.operator.id.as_str()),
        })
        .collect();
    render(
        status,
        &Page {
            frame: desk.frame(state, "Sportello: deleghe e rappresentanze", PATH),
            csrf: desk.session.csrf_token.clone(),
            notice,
            errors,
            channels: [
                ("sportello_aa08", "Modulo AA08: il delegante allo sportello"),
                (
                    "sportello_aa09",
                    "Modulo AA09: il delegato, con il certificato medico del delegante",
                ),
                ("sportello_aa10", "Modulo AA10: il rappresentante legale"),
                ("pec", "PEC: il rappresentante legale, con firma digitale"),
            ],
            kinds: [
                ("fiducia", "Delega a una persona di fiducia"),
                ("tutore", "Tutore"),
                ("curatore", "Curatore"),
                ("amministratore_di_sostegno", "Amministratore di sostegno"),
                ("genitore", "Genitore"),
            ],
            typed,
            pending,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    esito: String,
}

/// `GET /console/sportello/deleghe`
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ShowQuery>,
) -> HttpResponse {
    match guard::require(&state, &req, Some(Role::Sportello)).await {
        Ok(desk) => {
            let notice = notice_text(&query.esito);
            page(
                &state,
                &desk,
                StatusCode::OK,
                notice,
                vec![],
                Typed::default(),
            )
            .await
        }
        Err(resp) => resp,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

/// The forms a desk registers, with their channel.
fn channel_of(text: &str) -> Option<Channel> {
    Channel::parse(text).filter(|c| {
        matches!(
            c,
            Channel::SportelloAa08 | Channel::SportelloAa09 | Channel::SportelloAa10 | Channel::Pec
        )
    })
}

/// The Italian name of a document part.
pub fn document_text(name: &str) -> &'static str {
    match name {
        "aa08" => "modulo AA08",
        "aa09" => "modulo AA09",
        "aa10" => "modulo AA10",
        "medical_certificate" => "certificato medico",
        "delegator_id_document" => "documento di identità del delegante o rappresentato",
        "delegate_id_document" => "documento di identità del delegato o rappresentante",
        "decree" => "decreto del tribunale",
        "self_declaration" => "autocertificazione",
        _ => "documento",
    }
}

/// A registry refusal in Italian (the texts operators read out to citizens).
pub fn delegation_error_text(e: DelegationError) -> String {
    use crate::http::problems::Audience;
    match e {
        DelegationError::MissingDocument(d) => format!("manca un documento: {}", document_text(d)),
        DelegationError::Document(name, why) => {
            format!("{}: documento non accettato ({why})", document_text(&name))
        }
        DelegationError::ReasonRequired => "scrivi il motivo".into(),
        DelegationError::NotPending(_) => "non è più in attesa di verifica".into(),
        DelegationError::NotActive(_) => "la delega è già terminata".into(),
        other => crate::http::delegation::problem(other, Audience::Citizen)
            .detail
            .trim_end_matches('.')
            .to_owned(),
    }
}

/// `POST /console/sportello/deleghe` (multipart): a delegation with its form (`channel`:
/// sportello_aa08, sportello_aa09, sportello_aa10, pec) and documents.
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: Multipart,
) -> HttpResponse {
    let desk = match guard::require(&state, &req, Some(Role::Sportello)).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let max = state.config.delegation.document_max_bytes;
    let upload = match crate::http::multipart::read_parts(payload, "csrf", max, 20).await {
        Ok(u) => u,
        Err(e) => {
            let errors = vec![format!("Il modulo non è stato letto: {}", e.detail)];
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return page(&state, &desk, status, None, errors, Typed::default()).await;
        }
    };
    let sent = upload.json.as_deref().map(text);
    if let Some(refused) = guard::csrf_refusal(&state, &desk, sent.as_deref()) {
        return refused;
    }
    let mut typed = Typed::default();
    let (mut documents, mut errors) = (Vec::new(), Vec::new());
    for (name, bytes) in upload.files {
        match name.as_str() {
            "channel" => typed.channel = text(&bytes),
            "kind" => typed.kind = text(&bytes),
            "delegator_codice_fiscale" => typed.delegator = text(&bytes).to_uppercase(),
            "delegate_codice_fiscale" => typed.delegate = text(&bytes).to_uppercase(),
            "ends_on" => typed.ends_on = text(&bytes),
            "decree_reference" => typed.decree_reference = text(&bytes),
            _ => {
                let Some(k) = DocumentKind::parse(&name) else {
                    errors.push(format!("Campo sconosciuto: {name}."));
                    continue;
                };
                if bytes.is_empty() {
                    continue; // a file input left empty
                }
                match registry::check_document(k, bytes, max) {
                    Ok(d) => documents.push(d),
                    Err(e) => errors.push(format!("{}.", capitalised(&delegation_error_text(e)))),
                }
            }
        }
    }
    let channel = channel_of(&typed.channel);
    if channel.is_none() {
        errors.push("Scegli il modulo (AA08, AA09, AA10 o PEC).".into());
    }
    let kind = Kind::parse(&typed.kind);
    if kind.is_none() {
        errors.push("Scegli il tipo di delega.".into());
    }
    let ends_on = match typed.ends_on.as_str() {
        "" => None,
        t => match chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                errors.push("Data di fine della delega non valida.".into());
                None
            }
        },
    };
    let cf = |label: &str, v: &str, errors: &mut Vec<String>| match CodiceFiscale::parse(v) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(format!(
                "{label}: {}",
                crate::web::italian::codice_fiscale_error(&e)
            ));
            None
        }
    };
    let from = cf(
        "Codice fiscale del delegante o rappresentato",
        &typed.delegator,
        &mut errors,
    );
    let to = cf(
        "Codice fiscale del delegato o rappresentante",
        &typed.delegate,
        &mut errors,
    );
    if let Some(c) = channel
        && let Some(missing) = registry::missing_document(c, &documents)
        && errors.is_empty()
    {
        errors.push(format!("Manca un documento: {}.", document_text(missing)));
    }
    let (Some(channel), Some(kind), Some(from), Some(to), true) =
        (channel, kind, from, to, errors.is_empty())
    else {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return page(&state, &desk, status, None, errors, typed).await;
    };
    let (s, op, now) = (
        state.get_ref().clone(),
        desk.operator.id.clone(),
        state.clock.now(),
    );
    let decree_ref = typed.decree_reference.clone();
    let registered = db::run(&state.db, move |c| {
        registry::register_by_operator(
            c,
            &s,
            &op,
            OperatorRegistration {
                channel,
                kind,
                delegator: from,
                delegate: to,
                ends_on,
                decree_reference: (!decree_ref.is_empty()).then_some(decree_ref),
                documents,
                recording_consented: false,
            },
            now,
        )
    })
    .await;
    match registered {
        Ok(d) if d.status == "active" => crate::web::redirect(&format!("{PATH}?esito=attiva")),
        Ok(_) => crate::web::redirect(&format!("{PATH}?esito=in-verifica")),
        Err(DelegationError::Db(e)) => unavailable(&state, &e, "desk delegation"),
        Err(e) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let errors = vec![format!(
                "La delega non è stata registrata: {}.",
                delegation_error_text(e)
            )];
            page(&state, &desk, status, None, errors, typed).await
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// `POST /console/sportello/deleghe/{id}/verifica`: `outcome` confirmed or refused.
pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (desk, form) = match guard::require_form(&state, &req, &body, Some(Role::Sportello)).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let (outcome, key) = match form.get("outcome") {
        Some("confirmed") => (Verification::Confirmed, "confermata"),
        Some("refused") => (Verification::Refused, "rifiutata"),
        _ => {
            let errors = vec!["Scegli se confermare o rifiutare.".into()];
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return page(&state, &desk, status, None, errors, Typed::default()).await;
        }
    };
    let note = form
        .get("note")
        .map(str::to_owned)
        .filter(|n| !n.is_empty());
    let (s, op, now) = (
        state.get_ref().clone(),
        desk.operator.id.clone(),
        state.clock.now(),
    );
    let id = id.into_inner();
    let verified = db::run(&state.db, move |c| {
        registry::verify(c, &s, &op, &id, outcome, note.as_deref(), now)
    })
    .await;
    match verified {
        Ok(_) => crate::web::redirect(&format!("{PATH}?esito={key}")),
        // Four eyes, enforced by the registry: whoever registered it does not check it.
        Err(DelegationError::SameOperator) => {
            let errors = vec![
                "Hai registrato tu questa rappresentanza: deve verificarla un altro operatore."
                    .into(),
            ];
            page(
                &state,
                &desk,
                StatusCode::CONFLICT,
                None,
                errors,
                Typed::default(),
            )
            .await
        }
        Err(e) => {
            let errors = vec![format!(
                "La verifica non è stata registrata: {}.",
                delegation_error_text(e)
            )];
            page(
                &state,
                &desk,
                StatusCode::CONFLICT,
                None,
                errors,
                Typed::default(),
            )
            .await
        }
    }
}
