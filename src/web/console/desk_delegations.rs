//! The branch desk's legal representations (`sportello`): an AA10 registered with its
//! documents — with the court decree it is active at once, with a self-declaration only it
//! waits — and the pending self-declarations, confirmed or refused after the check with the
//! court. The same domain functions as `/v1/operator/delegations*`
//! (`registry::check_document`, `register_by_operator`, `pending_verification`, `verify`),
//! with the same audit (`delegation.pending_listed` for the list).

use super::guard::{self, Desk};
use super::{Frame, audit_read, render, time_text, unavailable};
use crate::AppState;
use crate::db;
use crate::delegation::registry::{self, DocumentKind, OperatorRegistration, Verification};
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
    kinds: [(&'static str, &'static str); 4],
    kind: String,
    delegator: String,
    delegate: String,
    pending: Vec<Pending>,
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
        "attiva" => "La rappresentanza è registrata ed è attiva.",
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
    typed: (String, String, String),
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
    let (kind, delegator, delegate) = typed;
    render(
        status,
        &Page {
            frame: desk.frame(state, "Sportello: rappresentanze legali (AA10)", PATH),
            csrf: desk.session.csrf_token.clone(),
            notice,
            errors,
            kinds: [
                ("tutore", "Tutore"),
                ("curatore", "Curatore"),
                ("amministratore_di_sostegno", "Amministratore di sostegno"),
                ("genitore", "Genitore"),
            ],
            kind,
            delegator,
            delegate,
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
                Default::default(),
            )
            .await
        }
        Err(resp) => resp,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

/// `POST /console/sportello/deleghe` (multipart): an AA10.
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
    let upload = match crate::http::multipart::read_parts(payload, "csrf", max, 12).await {
        Ok(u) => u,
        Err(e) => {
            let errors = vec![format!("Il modulo non è stato letto: {}", e.detail)];
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return page(&state, &desk, status, None, errors, Default::default()).await;
        }
    };
    let sent = upload.json.as_deref().map(text);
    if let Some(refused) = guard::csrf_refusal(&state, &desk, sent.as_deref()) {
        return refused;
    }
    let (mut kind, mut delegator, mut delegate, mut decree_ref) =
        (String::new(), String::new(), String::new(), String::new());
    let (mut documents, mut errors) = (Vec::new(), Vec::new());
    for (name, bytes) in upload.files {
        match name.as_str() {
            "kind" => kind = text(&bytes),
            "delegator_codice_fiscale" => delegator = text(&bytes).to_uppercase(),
            "delegate_codice_fiscale" => delegate = text(&bytes).to_uppercase(),
            "decree_reference" => decree_ref = text(&bytes),
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
                    Err(e) => errors.push(format!("{name}: {e}.")),
                }
            }
        }
    }
    let parsed_kind = Kind::parse(&kind).filter(|k| *k != Kind::Fiducia);
    if parsed_kind.is_none() {
        errors.push("Scegli il tipo di rappresentanza.".into());
    }
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
    let from = cf("Codice fiscale del rappresentato", &delegator, &mut errors);
    let to = cf("Codice fiscale del rappresentante", &delegate, &mut errors);
    if let Some(missing) = registry::missing_document(Channel::SportelloAa10, &documents)
        && errors.is_empty()
    {
        errors.push(format!("Manca un documento: {missing}."));
    }
    let typed = (kind.clone(), delegator.clone(), delegate.clone());
    let (Some(kind), Some(from), Some(to), true) = (parsed_kind, from, to, errors.is_empty())
    else {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return page(&state, &desk, status, None, errors, typed).await;
    };
    let (s, op, now) = (
        state.get_ref().clone(),
        desk.operator.id.clone(),
        state.clock.now(),
    );
    let registered = db::run(&state.db, move |c| {
        registry::register_by_operator(
            c,
            &s,
            &op,
            OperatorRegistration {
                channel: Channel::SportelloAa10,
                kind,
                delegator: from,
                delegate: to,
                ends_on: None,
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
        Err(e) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let errors = vec![format!(
                "La rappresentanza non è stata registrata: {}.",
                e.to_string().trim_end_matches('.')
            )];
            page(&state, &desk, status, None, errors, typed).await
        }
    }
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
            return page(&state, &desk, status, None, errors, Default::default()).await;
        }
    };
    // Four eyes: whoever registered the self-declaration does not check it.
    let me = desk.operator.id.clone();
    let wanted = id.clone();
    let own = db::run(&state.db, move |c| {
        let list = registry::pending_verification(c, 1000)?;
        Ok::<_, crate::db::DbError>(
            list.iter()
                .any(|d| d.id == wanted && d.operator_id.as_deref() == Some(me.as_str())),
        )
    })
    .await;
    match own {
        Ok(false) => {}
        Ok(true) => {
            let errors = vec![
                "Hai registrato tu questa rappresentanza: deve verificarla un altro operatore."
                    .into(),
            ];
            return page(
                &state,
                &desk,
                StatusCode::CONFLICT,
                None,
                errors,
                Default::default(),
            )
            .await;
        }
        Err(e) => return unavailable(&state, &e, "pending representation"),
    }
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
        Err(e) => {
            let errors = vec![format!(
                "La verifica non è stata registrata: {}.",
                e.to_string().trim_end_matches('.')
            )];
            page(
                &state,
                &desk,
                StatusCode::CONFLICT,
                None,
                errors,
                Default::default(),
            )
            .await
        }
    }
}
