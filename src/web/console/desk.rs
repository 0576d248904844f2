//! The branch desk (`sportello`): a PIN issued in person, with the signed MV35 and the
//! identity document uploaded, answered by the sealed-envelope PDF to print (the PIN is
//! inside the envelope only: the page never shows it).
//!
//! The same domain functions as `POST /v1/operator/pin/desk` (`documents::check`,
//! `issuance::issue_at_desk`, `envelope::pdf`), with the same audit. This first version
//! issues PINs to the holder in person; requests by a representative (self-declaration,
//! decree) still go through the API.

use super::guard::{self, Desk};
use super::{Frame, render, unavailable};
use crate::AppState;
use crate::operator::Role;
use crate::person::CodiceFiscale;
use crate::pin::documents::{self, DocumentKind};
use crate::pin::envelope;
use crate::pin::issuance::{self, DeskRequest, IssuanceError};
use crate::pin::request::RequesterData;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

pub const PATH: &str = "/console/sportello";

#[derive(Template)]
#[template(path = "console/desk.html")]
struct DeskPage<'a> {
    frame: Frame<'a>,
    csrf: String,
    codice_fiscale: String,
    without_italian_id: bool,
    errors: Vec<String>,
}

fn page(
    state: &AppState,
    desk: &Desk,
    status: StatusCode,
    codice_fiscale: String,
    without_italian_id: bool,
    errors: Vec<String>,
) -> HttpResponse {
    render(
        status,
        &DeskPage {
            frame: desk.frame(state, "Sportello: rilascio del PIN", PATH),
            csrf: desk.session.csrf_token.clone(),
            codice_fiscale,
            without_italian_id,
            errors,
        },
    )
}

/// `GET /console/sportello`: the PIN issuance form.
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match guard::require(&state, &req, Some(Role::Sportello)).await {
        Ok(desk) => page(&state, &desk, StatusCode::OK, String::new(), false, vec![]),
        Err(resp) => resp,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

/// `POST /console/sportello/pin` (multipart: `csrf`, `codice_fiscale`,
/// `without_italian_id_document`, files `mv35` and `id_document`): the envelope PDF.
pub async fn issue(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: Multipart,
) -> HttpResponse {
    let desk = match guard::require(&state, &req, Some(Role::Sportello)).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let max = state.config.issuance.document_max_bytes;
    // The CSRF token is the upload's small part; the rest are fields and files by name.
    let upload = match crate::http::multipart::read(payload, "csrf", max).await {
        Ok(u) => u,
        Err(e) => {
            return page(
                &state,
                &desk,
                StatusCode::UNPROCESSABLE_ENTITY,
                String::new(),
                false,
                vec![format!("Il modulo non è stato letto: {}", e.detail)],
            );
        }
    };
    let sent = upload.json.as_deref().map(text);
    if let Some(refused) = guard::csrf_refusal(&state, &desk, sent.as_deref()) {
        return refused;
    }
    let (mut code, mut without, mut docs, mut errors) = (String::new(), false, vec![], vec![]);
    for (name, bytes) in upload.files {
        match name.as_str() {
            "codice_fiscale" => code = text(&bytes).to_uppercase(),
            "without_italian_id_document" => without = text(&bytes) == "1",
            _ => {
                let Some(kind) = DocumentKind::parse(&name)
                    .filter(|k| matches!(k, DocumentKind::Mv35 | DocumentKind::IdDocument))
                else {
                    errors.push(format!("Campo sconosciuto: {name}."));
                    continue;
                };
                if bytes.is_empty() {
                    continue; // a file input left empty: said below as a missing document
                }
                match documents::check(kind, bytes, max) {
                    Ok(d) => docs.push(d),
                    Err(e) => errors.push(format!(
                        "{}: documento non accettato ({e}). Carica un PDF, JPEG o PNG.",
                        doc_name(kind)
                    )),
                }
            }
        }
    }
    let holder = match CodiceFiscale::parse(&code) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(format!(
                "Codice fiscale: {}",
                crate::web::italian::codice_fiscale_error(&e)
            ));
            None
        }
    };
    for kind in [DocumentKind::Mv35, DocumentKind::IdDocument] {
        if !docs.iter().any(|d| d.kind == kind)
            && !errors.iter().any(|e| e.starts_with(doc_name(kind)))
        {
            errors.push(format!("{}: carica il documento.", doc_name(kind)));
        }
    }
    let (Some(holder), true) = (holder, errors.is_empty()) else {
        return page(
            &state,
            &desk,
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            without,
            errors,
        );
    };
    let now = state.clock.now();
    let issued = issuance::issue_at_desk(
        &state,
        &desk.operator.id,
        DeskRequest {
            holder,
            requester: RequesterData::Holder,
            without_italian_id_document: without,
            documents: docs,
        },
        now,
    )
    .await;
    let issued = match issued {
        Ok(i) => i,
        Err(e) => {
            let text = match &e {
                IssuanceError::NotInRegistry => {
                    "La persona non è nell'anagrafe: il PIN non può essere rilasciato.".to_owned()
                }
                IssuanceError::PinAlreadyActive => "La persona ha già un PIN attivo.".to_owned(),
                IssuanceError::RequestPending => {
                    "Una richiesta per questa persona è già in attesa del contact center."
                        .to_owned()
                }
                IssuanceError::Refused(r) => format!("Il PIN non può essere rilasciato: {r}."),
                IssuanceError::MissingDocument(d) => format!("Manca un documento: {d}."),
                _ => return unavailable(&state, &e, "desk PIN issuance"),
            };
            return page(
                &state,
                &desk,
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                without,
                vec![text],
            );
        }
    };
    let name = format!("{} {}", issued.person.given_name, issued.person.family_name);
    let pdf = envelope::pdf(&issued.pin, &name, &issued.reference, now);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/pdf"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"busta-pin-{}.pdf\"", issued.reference),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, super::CSP))
        .body(pdf)
}

fn doc_name(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Mv35 => "Modulo MV35",
        DocumentKind::IdDocument => "Documento di identità",
        DocumentKind::SelfDeclaration => "Autocertificazione",
        DocumentKind::Decree => "Decreto",
    }
}
