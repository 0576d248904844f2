//! Administration: the SPID identity-provider registry — whether SPID is on, how many IdPs
//! the login page offers, each configured source with its last good copy (when fetched, until
//! when valid) and what is wrong with it; and a refresh on demand, which says per source what
//! failed (the same `registry::refresh` as `procura spid idps --refresh` and the background
//! maintenance; a failed source keeps its last good copy).

use super::admin::{self, Notice};
use super::guard::Desk;
use super::{Frame, render, time_text, unavailable};
use crate::AppState;
use crate::audit::{self, Event, Outcome};
use crate::db;
use crate::spid::registry::{self, RegistryError, StoredSource};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

pub const PATH: &str = "/console/amministrazione/spid";

/// One configured (or formerly configured) source.
struct SourceRow {
    source: String,
    /// `registro AgID` or `metadati di un singolo IdP`.
    kind: &'static str,
    fetched: Option<String>,
    valid_until: Option<String>,
    sha256: Option<String>,
    /// What is wrong, if anything.
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "console/admin_spid.html")]
struct SpidPage<'a> {
    frame: Frame<'a>,
    csrf: String,
    notice: Option<Notice>,
    enabled: bool,
    idps: Option<usize>,
    refresh_hours: u64,
    sources: Vec<SourceRow>,
    /// Per-source failures of a refresh just run.
    failures: Vec<(String, String)>,
}

/// The configured sources: (source, is the AgID registry).
fn configured(state: &AppState) -> Vec<(String, bool)> {
    let spid = &state.config.spid;
    spid.registry
        .iter()
        .map(|s| (s.trim().to_owned(), true))
        .chain(
            spid.idp_metadata
                .iter()
                .map(|s| (s.trim().to_owned(), false)),
        )
        .filter(|(s, _)| !s.is_empty())
        .collect()
}

fn rows(state: &AppState, stored: Vec<StoredSource>, now: DateTime<Utc>) -> Vec<SourceRow> {
    let every = i64::try_from(state.config.spid.refresh_interval_secs.max(60)).unwrap_or(86_400);
    // The background round runs every ten minutes: older than that past the interval is late.
    let late = now - Duration::seconds(every) - Duration::minutes(20);
    let configured = configured(state);
    let mut rows: Vec<SourceRow> = configured
        .iter()
        .map(|(source, agid)| {
            let kind = if *agid {
                "registro AgID (firmato)"
            } else {
                "metadati di un singolo IdP"
            };
            let Some(s) = stored.iter().find(|s| &s.source == source) else {
                return SourceRow {
                    source: source.clone(),
                    kind,
                    fetched: None,
                    valid_until: None,
                    sha256: None,
                    problem: Some(
                        "Mai scaricata con successo: nessun IdP di questa fonte è disponibile."
                            .into(),
                    ),
                };
            };
            let fetched = s.fetched_at.and_utc();
            let expired = s.valid_until.is_some_and(|v| v.and_utc() <= now);
            let problem = if expired {
                Some("La copia conservata è scaduta (validUntil passato).".to_owned())
            } else if fetched < late {
                Some(
                    "Non aggiornata: gli ultimi tentativi di scaricarla non sono riusciti (si usa \
                     l'ultima copia valida)."
                        .to_owned(),
                )
            } else {
                None
            };
            SourceRow {
                source: source.clone(),
                kind,
                fetched: Some(time_text(state, fetched)),
                valid_until: s.valid_until.map(|v| time_text(state, v.and_utc())),
                sha256: Some(s.sha256.chars().take(16).collect()),
                problem,
            }
        })
        .collect();
    for s in stored {
        if !configured.iter().any(|(c, _)| *c == s.source) {
            rows.push(SourceRow {
                fetched: Some(time_text(state, s.fetched_at.and_utc())),
                valid_until: s.valid_until.map(|v| time_text(state, v.and_utc())),
                sha256: Some(s.sha256.chars().take(16).collect()),
                source: s.source,
                kind: "fonte non più configurata",
                problem: Some("Non più configurata: sarà tolta al prossimo aggiornamento.".into()),
            });
        }
    }
    rows
}

async fn page(
    state: &AppState,
    desk: &Desk,
    notice: Option<Notice>,
    failures: Vec<(String, String)>,
) -> HttpResponse {
    let stored = match db::run(&state.db, registry::stored_sources).await {
        Ok(s) => s,
        Err(e) => return unavailable(state, &e, "SPID registry status"),
    };
    let now = state.clock.now();
    render(
        StatusCode::OK,
        &SpidPage {
            frame: desk.frame(state, "Amministrazione: registro SPID", admin::PATH),
            csrf: desk.session.csrf_token.clone(),
            notice,
            enabled: state.spid.is_some(),
            idps: state.spid.as_ref().map(|sp| sp.registry.len()),
            refresh_hours: state.config.spid.refresh_interval_secs.div_ceil(3600),
            sources: rows(state, stored, now),
            failures,
        },
    )
}

/// `GET /console/amministrazione/spid`.
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match admin::require(&state, &req).await {
        Ok(desk) => page(&state, &desk, None, vec![]).await,
        Err(resp) => resp,
    }
}

/// `POST /console/amministrazione/spid/aggiorna` (`csrf`): fetches every source now, stores
/// what passes, reloads the IdPs; audited as `spid.registry_refreshed`.
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (desk, _) = match admin::require_form(&state, &req, &body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let Some(sp) = state.spid.clone() else {
        return page(
            &state,
            &desk,
            Notice::refused("SPID non è tra i metodi di accesso attivi: niente da aggiornare."),
            vec![],
        )
        .await;
    };
    let (config, key, acting, now) = (
        state.config.clone(),
        state.audit_key.clone(),
        desk.acting(),
        state.clock.now(),
    );
    let done = db::run(&state.db, move |c| {
        let report = registry::refresh(c, &config, now)?;
        let idps = sp.registry.reload(c, now)?;
        let outcome = if report.is_complete() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let failed: Vec<String> = report.failed.iter().map(|(s, _)| s.clone()).collect();
        let mut event =
            Event::new(acting.actor, "spid.registry_refreshed", outcome).detail(json!({
                "stored": report.stored,
                "failed": failed,
                "removed": report.removed,
                "idps": idps,
            }));
        if let Some(id) = acting.request_id {
            event = event.request_id(id);
        }
        audit::append_alone(c, &key, now, event)?;
        Ok::<_, RegistryError>((report, idps))
    })
    .await;
    let (report, idps) = match done {
        Ok(r) => r,
        Err(e) => return unavailable(&state, &e, "SPID registry refresh"),
    };
    let notice = if report.is_complete() {
        Notice::success(format!(
            "Registro aggiornato: {} fonti scaricate, {idps} IdP disponibili.",
            report.stored.len()
        ))
    } else {
        Notice::refused(format!(
            "Aggiornamento incompleto: {} fonti non scaricate (resta la loro ultima copia \
             valida); {idps} IdP disponibili.",
            report.failed.len()
        ))
    };
    let failures = report
        .failed
        .into_iter()
        .map(|(s, e)| (s, e.to_string()))
        .collect();
    page(&state, &desk, notice, failures).await
}
