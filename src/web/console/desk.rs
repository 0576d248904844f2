//! The branch desk (`sportello`): a PIN issued in person, with the signed MV35 and the
//! identity document uploaded, answered by the sealed-envelope PDF to print (the PIN is
//! inside the envelope only: the page never shows it).
//!
//! The PIN may be asked for by the holder or by their legal representative (domain §2.3:
//! tutore, curatore, amministratore di sostegno, a parent of a minor), who adds their codice
//! fiscale, their role, the reference of the decree or self-declaration and the document
//! itself. The same domain functions as `POST /v1/operator/pin/desk`
//! (`RequesterForm::parse`, `documents::check`, `issuance::issue_at_desk`, `envelope::pdf`),
//! with the same audit; each refusal is said beside the field it is about.

use super::guard::{self, Desk};
use super::{Frame, render, unavailable};
use crate::AppState;
use crate::operator::Role;
use crate::person::CodiceFiscale;
use crate::pin::documents::{self, DocumentKind};
use crate::pin::envelope;
use crate::pin::issuance::{self, DeskRequest, IssuanceError};
use crate::pin::policy::{Refusal, Representation};
use crate::pin::request::{RequesterData, RequesterForm};
use crate::web::forms::FormErrors;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

pub const PATH: &str = "/console/sportello";

/// The typed parts of the form (each bounded small; only files may be large).
const TEXT_PARTS: [&str; 6] = [
    "codice_fiscale",
    "without_italian_id_document",
    "requester",
    "representative_codice_fiscale",
    "representative_role",
    "representative_reference",
];

/// The form's parts at most: the CSRF token, the typed fields and four files.
const MAX_PARTS: usize = 1 + TEXT_PARTS.len() + 4;

/// The error key of the representation's documents (decree or self-declaration).
const REPRESENTATION_DOCUMENTS: &str = "representation_documents";

pub struct RoleOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// What the operator typed (files are never drawn back: the browser does not allow it).
#[derive(Default)]
struct Typed {
    codice_fiscale: String,
    without_italian_id: bool,
    /// `titolare` or `rappresentante`.
    requester: String,
    representative_codice_fiscale: String,
    representative_role: String,
    representative_reference: String,
}

impl Typed {
    fn representative(&self) -> bool {
        self.requester == "rappresentante"
    }
}

#[derive(Template)]
#[template(path = "console/desk.html")]
struct DeskPage<'a> {
    frame: Frame<'a>,
    csrf: String,
    codice_fiscale: String,
    without_italian_id: bool,
    representative: bool,
    representative_codice_fiscale: String,
    roles: Vec<RoleOption>,
    representative_reference: String,
    errors: FormErrors,
    summary: Vec<(String, String)>,
}

fn role_label(r: Representation) -> &'static str {
    match r {
        Representation::Tutore => "Tutore",
        Representation::Curatore => "Curatore",
        Representation::AmministratoreDiSostegno => "Amministratore di sostegno",
        Representation::Genitore => "Genitore di un minore",
    }
}

fn page(
    state: &AppState,
    desk: &Desk,
    status: StatusCode,
    typed: Typed,
    errors: FormErrors,
) -> HttpResponse {
    let summary = errors.summary();
    render(
        status,
        &DeskPage {
            frame: desk.frame(state, "Sportello: rilascio del PIN", PATH),
            csrf: desk.session.csrf_token.clone(),
            representative: typed.representative(),
            roles: Representation::ALL
                .into_iter()
                .map(|r| RoleOption {
                    value: r.as_str(),
                    label: role_label(r),
                    selected: typed.representative_role == r.as_str(),
                })
                .collect(),
            codice_fiscale: typed.codice_fiscale,
            without_italian_id: typed.without_italian_id,
            representative_codice_fiscale: typed.representative_codice_fiscale,
            representative_reference: typed.representative_reference,
            errors,
            summary,
        },
    )
}

/// `GET /console/sportello`: the PIN issuance form.
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match guard::require(&state, &req, Some(Role::Sportello)).await {
        Ok(desk) => page(
            &state,
            &desk,
            StatusCode::OK,
            Typed::default(),
            FormErrors::default(),
        ),
        Err(resp) => resp,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

/// The field a domain refusal is about (empty: the whole request).
fn refusal_field(r: Refusal, representative: bool) -> &'static str {
    match r {
        Refusal::RepresentsSelf => "representative_codice_fiscale",
        Refusal::NotAMinor | Refusal::ThirdParty if representative => "representative_role",
        Refusal::MissingReference => "representative_reference",
        Refusal::NotAMinor | Refusal::ThirdParty | Refusal::NotEligible => "",
    }
}

/// `POST /console/sportello/pin` (multipart: `csrf`, `codice_fiscale`,
/// `without_italian_id_document`, `requester` (`titolare` or `rappresentante`), for a
/// representative `representative_codice_fiscale`, `representative_role` and
/// `representative_reference`; files `mv35`, `id_document`, `decree`, `self_declaration`):
/// the envelope PDF.
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
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    // The CSRF token is the upload's small part; the rest are fields and files by name.
    let upload = crate::http::multipart::read_form(payload, "csrf", &TEXT_PARTS, max, MAX_PARTS);
    let upload = match upload.await {
        Ok(u) => u,
        Err(e) => {
            let mut errors = FormErrors::default();
            errors.add("", format!("Il modulo non è stato letto: {}", e.detail));
            return page(&state, &desk, unprocessable, Typed::default(), errors);
        }
    };
    let sent = upload.json.as_deref().map(text);
    if let Some(refused) = guard::csrf_refusal(&state, &desk, sent.as_deref()) {
        return refused;
    }
    let (mut typed, mut docs, mut errors) = (Typed::default(), vec![], FormErrors::default());
    for (name, bytes) in upload.files {
        match name.as_str() {
            "codice_fiscale" => typed.codice_fiscale = text(&bytes).to_uppercase(),
            "without_italian_id_document" => typed.without_italian_id = text(&bytes) == "1",
            "requester" => typed.requester = text(&bytes),
            "representative_codice_fiscale" => {
                typed.representative_codice_fiscale = text(&bytes).to_uppercase();
            }
            "representative_role" => typed.representative_role = text(&bytes),
            "representative_reference" => typed.representative_reference = text(&bytes),
            _ => {
                let Some(kind) = DocumentKind::parse(&name) else {
                    errors.add("", format!("Campo sconosciuto: {name}."));
                    continue;
                };
                if bytes.is_empty() {
                    continue; // a file input left empty: said below as a missing document
                }
                match documents::check(kind, bytes, max) {
                    Ok(d) => docs.push(d),
                    Err(e) => errors.add(
                        kind.as_str(),
                        format!(
                            "{}: documento non accettato ({e}). Carica un PDF, JPEG o PNG.",
                            doc_name(kind)
                        ),
                    ),
                }
            }
        }
    }
    let holder = match CodiceFiscale::parse(&typed.codice_fiscale) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.add(
                "codice_fiscale",
                format!(
                    "Codice fiscale: {}",
                    crate::web::italian::codice_fiscale_error(&e)
                ),
            );
            None
        }
    };
    let requester = if typed.representative() {
        if typed.representative_role.is_empty() {
            errors.add(
                "representative_role",
                "Scegli il ruolo del rappresentante legale.",
            );
        }
        let form = RequesterForm {
            codice_fiscale: typed.representative_codice_fiscale.clone(),
            role: typed.representative_role.clone(),
            reference: Some(typed.representative_reference.clone()),
        };
        match form.parse() {
            Ok(r) => Some(r),
            Err(e) => {
                errors.add(
                    "representative_codice_fiscale",
                    format!(
                        "Codice fiscale del rappresentante: {}",
                        crate::web::italian::codice_fiscale_error(&e)
                    ),
                );
                None
            }
        }
    } else {
        Some(RequesterData::Holder)
    };
    for kind in [DocumentKind::Mv35, DocumentKind::IdDocument] {
        if !docs.iter().any(|d| d.kind == kind) {
            errors.add(
                kind.as_str(),
                format!("{}: carica il documento.", doc_name(kind)),
            );
        }
    }
    let (Some(holder), Some(requester), true) = (holder, requester, errors.is_empty()) else {
        return page(&state, &desk, unprocessable, typed, errors);
    };
    let now = state.clock.now();
    let issued = issuance::issue_at_desk(
        &state,
        &desk.operator.id,
        DeskRequest {
            holder,
            requester,
            without_italian_id_document: typed.without_italian_id,
            documents: docs,
        },
        now,
    )
    .await;
    let issued = match issued {
        Ok(i) => i,
        Err(e) => {
            let (field, text) = match &e {
                IssuanceError::NotInRegistry => (
                    "codice_fiscale",
                    "La persona non è nell'anagrafe: il PIN non può essere rilasciato.".to_owned(),
                ),
                IssuanceError::PinAlreadyActive => {
                    ("", "La persona ha già un PIN attivo.".to_owned())
                }
                IssuanceError::RequestPending => (
                    "",
                    "Una richiesta per questa persona è già in attesa del contact center."
                        .to_owned(),
                ),
                IssuanceError::Refused(r) => {
                    (refusal_field(*r, typed.representative()), r.to_string())
                }
                IssuanceError::MissingDocument(d) => match DocumentKind::parse(d) {
                    Some(kind) => (
                        kind.as_str(),
                        format!("{}: carica il documento.", doc_name(kind)),
                    ),
                    None => (
                        REPRESENTATION_DOCUMENTS,
                        "Carica il decreto di nomina o l'autocertificazione della rappresentanza."
                            .to_owned(),
                    ),
                },
                _ => return unavailable(&state, &e, "desk PIN issuance"),
            };
            errors.add(field, text);
            return page(&state, &desk, unprocessable, typed, errors);
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
