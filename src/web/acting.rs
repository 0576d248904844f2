//! "Agisci per conto di": the logged-in person chooses whom to act for.
//!
//! Opened from the personal area it lists the people who delegated them. Opened by a
//! relying party — `GET /agisci-per-conto-di?client_id=…&redirect_uri=…&state=…`, the
//! redirect URI registered for that client — the person chooses "per me stesso" or one of
//! the delegations in force, and the browser goes back to the client with
//! `acting_for=self` or `delegation_id=<id>` (and `state`). The client then exchanges the
//! person's access token with that delegation id at `/token` (RFC 8693), which checks again
//! that the delegation is in force and belongs to this person: the id alone grants nothing.

use super::forms;
use super::views::{ActingChoice, ActingPage};
use super::{Link, Shell, area, errors, italian, redirect, render};
use crate::AppState;
use crate::db::{self, DbError};
use crate::delegation::acting::{self, ActingFor};
use crate::oauth::authorize::redirect_with;
use crate::oauth::client::{self, Client};
use crate::oauth::params::Params;
use crate::person::CodiceFiscale;
use crate::person::codice_fiscale::mask_text;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

const PATH: &str = "/agisci-per-conto-di";

/// The relying party named by the request, if its redirect URI is registered.
struct Asking {
    client: Client,
    redirect_uri: String,
    state: Option<String>,
}

async fn asking(
    state: &AppState,
    params: &Params,
) -> Result<Option<Asking>, Result<HttpResponse, DbError>> {
    let Some(id) = params.get("client_id").map(str::to_owned) else {
        return Ok(None);
    };
    let found = db::run(&state.db, move |c| client::find(c, &id))
        .await
        .map_err(Err)?;
    let uri = params.get("redirect_uri").unwrap_or("");
    match found {
        Some(c) if c.has_redirect_uri(uri) => Ok(Some(Asking {
            client: c,
            redirect_uri: uri.to_owned(),
            state: params.get("state").map(str::to_owned),
        })),
        _ => Err(Ok(errors::page(
            state,
            StatusCode::BAD_REQUEST,
            "Richiesta non valida",
            "Il servizio che ti ha mandato qui non è riconosciuto, oppure l'indirizzo a cui \
             tornare non è registrato presso l'INPS. Torna al servizio e riprova.",
            vec![Link::new("/area-personale", "Vai alla tua area personale")],
        ))),
    }
}

async fn people(state: &AppState, cf: &str) -> Result<Vec<ActingFor>, DbError> {
    let Ok(code) = CodiceFiscale::parse(cf) else {
        return Ok(Vec::new());
    };
    let now = state.clock.now();
    db::run(&state.db, move |c| acting::acting_for(c, &code, now)).await
}

fn choices(list: &[ActingFor]) -> Vec<ActingChoice> {
    list.iter()
        .map(|r| ActingChoice {
            delegation_id: r.delegation.id.clone(),
            name: match (&r.given_name, &r.family_name) {
                (Some(g), Some(f)) => format!("{g} {f}"),
                _ => mask_text(&r.delegation.delegator_cf),
            },
            cf_masked: mask_text(&r.delegation.delegator_cf),
            kind: if r.delegation.kind == "fiducia" {
                "delega".into()
            } else {
                "rappresentanza".into()
            },
            until: r
                .delegation
                .ends_at
                .map(|e| {
                    format!(
                        "fino al {}",
                        italian::date(e.date().pred_opt().unwrap_or(e.date()))
                    )
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// `GET /agisci-per-conto-di`
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let query = req.query_string();
    let here = if query.is_empty() {
        PATH.to_owned()
    } else {
        format!("{PATH}?{query}")
    };
    let session = match area::require(&state, &req, &here).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let params = Params::parse(query).unwrap_or_default();
    let asking = match asking(&state, &params).await {
        Ok(a) => a,
        Err(Ok(resp)) => return resp,
        Err(Err(e)) => return errors::unavailable(&state, &e, "act-for page"),
    };
    let list = match people(&state, &session.codice_fiscale).await {
        Ok(l) => l,
        Err(e) => return errors::unavailable(&state, &e, "act-for page"),
    };
    let mut hidden = Vec::new();
    if let Some(a) = &asking {
        hidden.push(("client_id".to_owned(), a.client.client_id.clone()));
        hidden.push(("redirect_uri".to_owned(), a.redirect_uri.clone()));
        if let Some(s) = &a.state {
            hidden.push(("state".to_owned(), s.clone()));
        }
    }
    render(
        StatusCode::OK,
        &ActingPage {
            shell: Shell::new(&state, "Agisci per conto di")
                .with_user(Some(area::user_box(&session))),
            csrf: session.csrf_token.clone(),
            client_name: asking.map(|a| a.client.display_name),
            hidden,
            people: choices(&list),
        },
    )
}

/// `POST /agisci-per-conto-di`: the choice, back to the relying party.
pub async fn choose(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let session = match area::require(&state, &req, PATH).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let form = forms::body(&body);
    if !form.get("csrf").is_some_and(|t| session.csrf_matches(t)) {
        return errors::page(
            &state,
            StatusCode::FORBIDDEN,
            "Modulo scaduto",
            "La scelta inviata non proviene da questa pagina: torna al servizio e riprova.",
            vec![Link::new("/area-personale", "Vai alla tua area personale")],
        );
    }
    let asking = match asking(&state, &form).await {
        Ok(Some(a)) => a,
        Ok(None) => return redirect(PATH),
        Err(Ok(resp)) => return resp,
        Err(Err(e)) => return errors::unavailable(&state, &e, "act-for choice"),
    };
    let chosen = form.get("delegation").unwrap_or("self");
    let mut q: Vec<(&str, &str)> = Vec::new();
    if chosen == "self" {
        q.push(("acting_for", "self"));
    } else {
        let list = match people(&state, &session.codice_fiscale).await {
            Ok(l) => l,
            Err(e) => return errors::unavailable(&state, &e, "act-for choice"),
        };
        if !list.iter().any(|r| r.delegation.id == chosen) {
            return errors::page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Delega non più in vigore",
                "La delega che hai scelto non è più in vigore (è stata revocata o è scaduta). \
                 Torna indietro e scegli di nuovo.",
                vec![Link::new(PATH, "Vedi per chi puoi agire")],
            );
        }
        q.push(("delegation_id", chosen));
    }
    if let Some(s) = &asking.state {
        q.push(("state", s));
    }
    redirect(&redirect_with(&asking.redirect_uri, &q))
}
