//! PIN self-service in HTML, on the same domain functions as `/v1/pin/*`: request a PIN
//! online (address check against the registry, then issued or queued for the contact
//! centre), recover a lost PIN (two contacts on file), and revoke one's own PIN (logged in).

use super::forms::{self, Choice, Field, FormErrors};
use super::views::{FormPage, FormSection, MessagePage};
use super::{Link, Shell, area, errors, italian, redirect, render};
use crate::AppState;
use crate::audit::Party;
use crate::db;
use crate::oauth::params::Params;
use crate::person::{CodiceFiscale, contact};
use crate::pin::PinError;
use crate::pin::credential;
use crate::pin::issuance::{self, Actor, IssuanceError, SubmitOutcome};
use crate::pin::policy::Refusal;
use crate::pin::recovery::{self, Contacts, Revoker};
use crate::pin::request::{RequestChannel, RequestForm};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

const REQUEST_PATH: &str = "/pin/richiesta";
const RECOVERY_PATH: &str = "/pin/recupero";
const REVOKE_PATH: &str = "/area-personale/pin";

fn value(form: &Params, name: &str) -> String {
    form.get(name).unwrap_or("").trim().to_owned()
}

/// The per-address limit shared with the JSON routes; the wait said in Italian.
fn limited(state: &AppState, req: &HttpRequest) -> Option<String> {
    state
        .request_limiter
        .check(super::client_ip(req), std::time::Instant::now())
        .err()
        .map(|wait| {
            format!(
                "Hai inviato troppe richieste da questo dispositivo. Riprova tra {}.",
                italian::seconds(wait.secs())
            )
        })
}

// ---------------------------------------------------------------------------------------
// Request a PIN online

fn request_fields(form: &Params) -> Vec<FormSection> {
    let v = |n: &str| value(form, n);
    vec![
        FormSection {
            heading: Some("I tuoi dati".into()),
            text: Some(
                "Scrivili come risultano all'INPS: li confrontiamo con i nostri archivi.".into(),
            ),
            fields: vec![
                Field::codice_fiscale("codice_fiscale", "Codice fiscale")
                    .value(v("codice_fiscale")),
                Field::text("given_name", "Nome")
                    .value(v("given_name"))
                    .autocomplete("given-name"),
                Field::text("family_name", "Cognome")
                    .value(v("family_name"))
                    .autocomplete("family-name"),
                Field::text("birth_date", "Data di nascita")
                    .value(v("birth_date"))
                    .hint("Nel formato gg/mm/aaaa, ad esempio 10/12/1985.")
                    .autocomplete("bday")
                    .maxlength(10)
                    .inputmode("numeric"),
            ],
        },
        FormSection {
            heading: Some("Indirizzo di residenza".into()),
            text: Some(
                "La seconda parte del PIN arriva per posta all'indirizzo di residenza che risulta \
                 all'INPS."
                    .into(),
            ),
            fields: vec![
                Field::text("address", "Indirizzo (via e numero civico)")
                    .value(v("address"))
                    .autocomplete("street-address"),
                Field::text("postal_code", "CAP")
                    .value(v("postal_code"))
                    .autocomplete("postal-code")
                    .maxlength(5)
                    .inputmode("numeric"),
                Field::text("municipality", "Comune")
                    .value(v("municipality"))
                    .autocomplete("address-level2"),
                Field::text("province", "Provincia (sigla)")
                    .value(v("province"))
                    .maxlength(2)
                    .hint("Due lettere, ad esempio RM."),
            ],
        },
        FormSection {
            heading: Some("Recapiti".into()),
            text: Some(
                "Indica almeno due recapiti tra cellulare, e-mail e PEC: ti serviranno anche per \
                 recuperare il PIN se lo dimentichi. Il Contact Center potrebbe chiamarti al \
                 cellulare per completare la richiesta."
                    .into(),
            ),
            fields: vec![
                Field::new("mobile", "Cellulare", "tel")
                    .value(v("mobile"))
                    .optional()
                    .autocomplete("tel")
                    .hint("Ad esempio +39 333 1234567."),
                Field::new("email", "E-mail", "email")
                    .value(v("email"))
                    .optional()
                    .autocomplete("email"),
                Field::new("pec", "PEC", "email").value(v("pec")).optional(),
                Field::new(
                    "first_half_channel",
                    "Dove vuoi ricevere la prima parte del PIN?",
                    "radio",
                )
                .value(v("first_half_channel"))
                .choices(vec![
                    Choice {
                        value: "sms",
                        label: "SMS al cellulare",
                    },
                    Choice {
                        value: "email",
                        label: "E-mail",
                    },
                    Choice {
                        value: "pec",
                        label: "PEC",
                    },
                ]),
                Field::new(
                    "without_italian_id_document",
                    "Non ho un documento di identità italiano",
                    "checkbox",
                )
                .value(v("without_italian_id_document"))
                .optional(),
            ],
        },
    ]
}

fn request_page(
    state: &AppState,
    status: StatusCode,
    csrf: &str,
    form: &Params,
    errors: &FormErrors,
) -> HttpResponse {
    let mut sections = request_fields(form);
    for s in &mut sections {
        errors.apply(&mut s.fields);
    }
    render(
        status,
        &FormPage {
            shell: Shell::new(state, "Richiedi il PIN INPS"),
            intro: vec![
                "Il PIN ti arriva in due parti: la prima (8 caratteri) per SMS, e-mail o PEC, la \
                 seconda per posta all'indirizzo di residenza. Al primo accesso sceglierai il tuo \
                 PIN personale."
                    .into(),
                "Se chiedi il PIN per un'altra persona (come tutore, curatore, amministratore di \
                 sostegno o genitore di un minore) rivolgiti a una sede INPS o al Contact Center."
                    .into(),
            ],
            action: REQUEST_PATH.into(),
            csrf: csrf.into(),
            errors: errors.summary(),
            sections,
            submit: "Invia la richiesta".into(),
            after: vec![Link::new(
                RECOVERY_PATH,
                "Hai già un PIN e l'hai dimenticato? Recuperalo",
            )],
        },
    )
}

/// A form page with its CSRF cookie set when the browser had none.
fn with_csrf(
    state: &AppState,
    req: &HttpRequest,
    draw: impl FnOnce(&str) -> HttpResponse,
) -> HttpResponse {
    let (token, new) = forms::csrf_token(req);
    let mut resp = draw(&token);
    forms::set_csrf_cookie(state, &mut resp, &token, new);
    resp
}

/// `GET /pin/richiesta`
pub async fn request_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    with_csrf(&state, &req, |csrf| {
        request_page(
            &state,
            StatusCode::OK,
            csrf,
            &Params::default(),
            &FormErrors::default(),
        )
    })
}

/// The form refused before anything was checked: a stale page (no CSRF match).
fn stale_form(state: &AppState, path: &str) -> HttpResponse {
    errors::page(
        state,
        StatusCode::FORBIDDEN,
        "Modulo scaduto",
        "Il modulo inviato non è più valido (forse è stato aperto in un'altra scheda o è \
         rimasto aperto a lungo). Riaprilo e inviane uno nuovo.",
        vec![Link::new(path, "Riapri il modulo")],
    )
}

/// A field error of the request form, as a sentence for the citizen.
fn field_message(field: &str, reason: &str, form: &Params) -> String {
    if field == "codice_fiscale"
        && let Err(e) = CodiceFiscale::parse(form.get("codice_fiscale").unwrap_or(""))
    {
        return italian::codice_fiscale_error(&e);
    }
    if reason == "campo obbligatorio" {
        return "Questo campo è obbligatorio.".into();
    }
    let mut chars = reason.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => "Valore non valido.".into(),
    }
}

/// gg/mm/aaaa (or aaaa-mm-gg) → aaaa-mm-gg, as the domain form expects.
fn iso_date(text: &str) -> String {
    let t = text.trim();
    let parts: Vec<&str> = t.split(['/', '-', '.']).collect();
    match parts.as_slice() {
        [d, m, y] if y.len() == 4 => format!("{y}-{m:0>2}-{d:0>2}"),
        _ => t.to_owned(),
    }
}

fn optional(form: &Params, name: &str) -> Option<String> {
    Some(value(form, name)).filter(|v| !v.is_empty())
}

/// `POST /pin/richiesta`
pub async fn request_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = forms::body(&body);
    if !forms::csrf_ok(&req, &form) {
        return stale_form(&state, REQUEST_PATH);
    }
    let csrf = form.get("csrf").unwrap_or("").to_owned();
    let redraw = |status: StatusCode, errors: FormErrors| {
        request_page(&state, status, &csrf, &form, &errors)
    };
    if let Some(text) = limited(&state, &req) {
        let mut errors = FormErrors::default();
        errors.add("", text);
        return redraw(StatusCode::TOO_MANY_REQUESTS, errors);
    }
    let mut errors = FormErrors::default();
    let contacts = ["mobile", "email", "pec"]
        .iter()
        .filter(|n| optional(&form, n).is_some())
        .count();
    let data = RequestForm {
        codice_fiscale: value(&form, "codice_fiscale"),
        given_name: value(&form, "given_name"),
        family_name: value(&form, "family_name"),
        birth_date: iso_date(&value(&form, "birth_date")),
        address: value(&form, "address"),
        postal_code: value(&form, "postal_code"),
        municipality: value(&form, "municipality"),
        province: value(&form, "province"),
        mobile: optional(&form, "mobile"),
        email: optional(&form, "email"),
        pec: optional(&form, "pec"),
        first_half_channel: value(&form, "first_half_channel"),
        requester: None,
        without_italian_id_document: form.get("without_italian_id_document") == Some("1"),
    }
    .parse();
    let data = match data {
        Ok(d) if contacts >= 2 => d,
        other => {
            if let Err(list) = other {
                for e in list {
                    let message =
                        if e.field == "first_half_channel" && value(&form, e.field).is_empty() {
                            "Scegli dove ricevere la prima parte del PIN.".to_owned()
                        } else {
                            field_message(e.field, &e.reason, &form)
                        };
                    errors.add(e.field, message);
                }
            }
            if contacts < 2 {
                errors.add(
                    "mobile",
                    "Indica almeno due recapiti tra cellulare, e-mail e PEC.",
                );
            }
            return redraw(StatusCode::UNPROCESSABLE_ENTITY, errors);
        }
    };
    let actor = Actor::Citizen(Party::person(&data.holder));
    let now = state.clock.now();
    match issuance::submit(&state, data, RequestChannel::Online, actor, now).await {
        Ok(submitted) => {
            let key = match submitted.outcome {
                SubmitOutcome::Issued { .. } => "pin-rilasciato",
                SubmitOutcome::Queued { .. } => "pin-in-verifica",
            };
            let mut resp = redirect(&format!("{REQUEST_PATH}/esito"));
            let _ = resp.add_cookie(&forms::result_cookie(
                &state,
                key,
                Some(&submitted.reference),
            ));
            resp
        }
        Err(e) => {
            let message = match e {
                IssuanceError::PinAlreadyActive => {
                    "Risulta già un PIN attivo per questo codice fiscale. Se lo hai dimenticato \
                     usa il recupero del PIN; se non vuoi più usarlo, revocalo dalla tua area \
                     personale prima di richiederne uno nuovo."
                }
                IssuanceError::RequestPending => {
                    "C'è già una richiesta di PIN in attesa per questo codice fiscale: il Contact \
                     Center ti chiamerà per completarla."
                }
                IssuanceError::Refused(Refusal::NotEligible) => {
                    "Il PIN INPS oggi si rilascia solo ad alcune categorie di persone (ad esempio \
                     chi risiede in Italia senza un documento di identità italiano). Accedi con \
                     SPID, CIE o CNS, oppure chiedi informazioni al Contact Center."
                }
                IssuanceError::Refused(_) => {
                    "La richiesta non può essere accolta online: rivolgiti a una sede INPS o al \
                     Contact Center."
                }
                IssuanceError::NotInRegistry => {
                    "Il codice fiscale non risulta negli archivi INPS: controlla di averlo \
                     scritto bene, oppure chiama il Contact Center."
                }
                other => return errors::unavailable(&state, &other, "online PIN request"),
            };
            let mut errors = FormErrors::default();
            errors.add("", message);
            redraw(StatusCode::UNPROCESSABLE_ENTITY, errors)
        }
    }
}

/// A result page after a redirect; without a result (opened directly), the form.
fn result_page<'a>(
    state: &'a AppState,
    req: &HttpRequest,
    form_path: &str,
    build: impl FnOnce(&str, Option<String>) -> Option<MessagePage<'a>>,
) -> HttpResponse {
    let Some((key, reference)) = forms::read_result(req) else {
        return redirect(form_path);
    };
    let Some(page) = build(&key, reference) else {
        return redirect(form_path);
    };
    let mut resp = render(StatusCode::OK, &page);
    forms::clear_result(state, &mut resp);
    resp
}

/// `GET /pin/richiesta/esito`
pub async fn request_result(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let state: &AppState = &state;
    result_page(state, &req, REQUEST_PATH, |key, reference| {
        let (title, tone, text) = match key {
            "pin-rilasciato" => (
                "Richiesta accolta",
                "success",
                "I tuoi dati corrispondono a quelli dell'INPS. La prima parte del PIN (8 \
                 caratteri) arriverà al recapito che hai scelto; la seconda arriverà per posta \
                 all'indirizzo di residenza, in circa due o tre settimane. Al primo accesso ti \
                 verrà chiesto di scegliere il tuo PIN personale.",
            ),
            "pin-in-verifica" => (
                "Richiesta ricevuta: ti chiamerà il Contact Center",
                "info",
                "Non è stato possibile verificare automaticamente i dati inseriti (ad esempio \
                 l'indirizzo di residenza). Un operatore del Contact Center INPS ti chiamerà al \
                 numero indicato per completare la richiesta; ti abbiamo scritto anche al \
                 recapito scelto.",
            ),
            _ => return None,
        };
        Some(MessagePage {
            shell: Shell::new(state, title),
            tone,
            paragraphs: vec![text.into()],
            reference,
            next: vec![Link::new(
                "/",
                "Torna alla pagina iniziale dei servizi INPS",
            )],
            contact: key == "pin-in-verifica",
        })
    })
}

// ---------------------------------------------------------------------------------------
// Recover a lost PIN

fn recovery_page(
    state: &AppState,
    status: StatusCode,
    csrf: &str,
    form: &Params,
    errors: &FormErrors,
) -> HttpResponse {
    let v = |n: &str| value(form, n);
    let mut fields = vec![
        Field::codice_fiscale("codice_fiscale", "Codice fiscale").value(v("codice_fiscale")),
        Field::new("mobile", "Cellulare", "tel")
            .value(v("mobile"))
            .optional()
            .autocomplete("tel"),
        Field::new("email", "E-mail", "email")
            .value(v("email"))
            .optional()
            .autocomplete("email"),
        Field::new("pec", "PEC", "email").value(v("pec")).optional(),
    ];
    errors.apply(&mut fields);
    render(
        status,
        &FormPage {
            shell: Shell::new(state, "Recupera il PIN"),
            intro: vec![
                "Indica il codice fiscale e almeno due dei recapiti che hai dato quando hai \
                 chiesto il PIN. Se corrispondono, riceverai un nuovo PIN di 16 caratteri: metà \
                 per SMS e metà per e-mail o PEC."
                    .into(),
                "Il recupero funziona solo per un PIN già usato almeno una volta; altrimenti \
                 richiedine uno nuovo."
                    .into(),
            ],
            action: RECOVERY_PATH.into(),
            csrf: csrf.into(),
            errors: errors.summary(),
            sections: vec![FormSection {
                heading: None,
                text: None,
                fields,
            }],
            submit: "Recupera il PIN".into(),
            after: vec![Link::new(REQUEST_PATH, "Non hai un PIN? Richiedilo")],
        },
    )
}

/// `GET /pin/recupero`
pub async fn recovery_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    with_csrf(&state, &req, |csrf| {
        recovery_page(
            &state,
            StatusCode::OK,
            csrf,
            &Params::default(),
            &FormErrors::default(),
        )
    })
}

/// `POST /pin/recupero`: always the same answer whether or not the data match.
pub async fn recovery_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = forms::body(&body);
    if !forms::csrf_ok(&req, &form) {
        return stale_form(&state, RECOVERY_PATH);
    }
    let csrf = form.get("csrf").unwrap_or("").to_owned();
    let redraw = |status: StatusCode, errors: FormErrors| {
        recovery_page(&state, status, &csrf, &form, &errors)
    };
    if let Some(text) = limited(&state, &req) {
        let mut errors = FormErrors::default();
        errors.add("", text);
        return redraw(StatusCode::TOO_MANY_REQUESTS, errors);
    }
    let mut errors = FormErrors::default();
    let cf = match CodiceFiscale::parse(&value(&form, "codice_fiscale")) {
        Ok(cf) => Some(cf),
        Err(e) => {
            errors.add("codice_fiscale", italian::codice_fiscale_error(&e));
            None
        }
    };
    let mut read = |name: &'static str,
                    normalize: fn(&str) -> Result<String, contact::ContactError>,
                    text: &str| {
        let v = optional(&form, name)?;
        normalize(&v).map_err(|_| errors.add(name, text)).ok()
    };
    let given = Contacts {
        mobile: read(
            "mobile",
            contact::normalize_mobile,
            "Il numero di cellulare non è valido: scrivilo come +39 333 1234567.",
        ),
        email: read(
            "email",
            contact::normalize_email,
            "L'indirizzo e-mail non è valido.",
        ),
        pec: read(
            "pec",
            contact::normalize_email,
            "L'indirizzo PEC non è valido.",
        ),
    };
    let given_count = ["mobile", "email", "pec"]
        .iter()
        .filter(|n| optional(&form, n).is_some())
        .count();
    if given_count < 2 {
        errors.add(
            "mobile",
            "Indica almeno due recapiti tra cellulare, e-mail e PEC.",
        );
    }
    let Some(cf) = cf.filter(|_| errors.is_empty()) else {
        return redraw(StatusCode::UNPROCESSABLE_ENTITY, errors);
    };
    match recovery::recover(&state, &cf, &given, state.clock.now()).await {
        Ok(outcome) => {
            tracing::info!(cf = %cf.masked(), ?outcome, "PIN recovery asked (page)");
            let mut resp = redirect(&format!("{RECOVERY_PATH}/esito"));
            let _ = resp.add_cookie(&forms::result_cookie(&state, "pin-recupero", None));
            resp
        }
        Err(e) => errors::unavailable(&state, &e, "PIN recovery"),
    }
}

/// `GET /pin/recupero/esito`
pub async fn recovery_result(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let state: &AppState = &state;
    result_page(state, &req, RECOVERY_PATH, |key, _| {
        (key == "pin-recupero").then(|| MessagePage {
            shell: Shell::new(state, "Richiesta di recupero ricevuta"),
            tone: "info",
            paragraphs: vec![
                "Se i dati corrispondono a quelli registrati e il PIN è già stato usato almeno \
                 una volta, riceverai un nuovo PIN di 16 caratteri: la prima metà via SMS, la \
                 seconda via e-mail o PEC. Al primo accesso sceglierai il tuo PIN personale."
                    .into(),
                "Se entro qualche ora non ricevi nulla, chiama il Contact Center: potrà \
                 verificare i recapiti registrati."
                    .into(),
            ],
            reference: None,
            next: vec![Link::new("/area-personale", "Accedi ai servizi INPS")],
            contact: true,
        })
    })
}

// ---------------------------------------------------------------------------------------
// Revoke one's PIN (logged in)

/// `GET /area-personale/pin`
pub async fn revoke_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let session = match area::require(&state, &req, REVOKE_PATH).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let Ok(cf) = CodiceFiscale::parse(&session.codice_fiscale) else {
        return errors::unavailable(&state, &"session codice fiscale", "PIN revocation page");
    };
    let code = cf.clone();
    let has_pin = match db::run(&state.db, move |c| credential::status(c, &code)).await {
        Ok(s) => s.is_some(),
        Err(e) => return errors::unavailable(&state, &e, "PIN revocation page"),
    };
    let user = area::user_box(&session);
    if !has_pin {
        return render(
            StatusCode::OK,
            &MessagePage {
                shell: Shell::new(&state, "Revoca il PIN").with_user(Some(user)),
                tone: "info",
                paragraphs: vec![
                    "Non risulta un PIN INPS attivo a tuo nome: non c'è nulla da revocare.".into(),
                ],
                reference: None,
                next: vec![Link::new(
                    "/area-personale",
                    "Torna alla tua area personale",
                )],
                contact: false,
            },
        );
    }
    render(
        StatusCode::OK,
        &FormPage {
            shell: Shell::new(&state, "Revoca il PIN").with_user(Some(user)),
            intro: vec![
                "Se revochi il PIN, non potrai più usarlo per accedere ai servizi INPS, da subito. \
                 Potrai continuare ad accedere con SPID, CIE o CNS."
                    .into(),
            ],
            action: REVOKE_PATH.into(),
            csrf: session.csrf_token.clone(),
            errors: vec![],
            sections: vec![FormSection {
                heading: None,
                text: None,
                fields: vec![Field::new(
                    "confirm",
                    "Confermo di voler revocare il mio PIN INPS",
                    "checkbox",
                )],
            }],
            submit: "Revoca il PIN".into(),
            after: vec![Link::new(
                "/area-personale",
                "Non revocare, torna all'area personale",
            )],
        },
    )
}

/// `POST /area-personale/pin`
pub async fn revoke_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let session = match area::require(&state, &req, REVOKE_PATH).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let form = forms::body(&body);
    if !form.get("csrf").is_some_and(|t| session.csrf_matches(t)) {
        return stale_form(&state, REVOKE_PATH);
    }
    let Ok(cf) = CodiceFiscale::parse(&session.codice_fiscale) else {
        return errors::unavailable(&state, &"session codice fiscale", "PIN revocation");
    };
    if form.get("confirm") != Some("1") {
        let mut errors = FormErrors::default();
        errors.add("confirm", "Spunta la casella per confermare la revoca.");
        let mut fields = vec![Field::new(
            "confirm",
            "Confermo di voler revocare il mio PIN INPS",
            "checkbox",
        )];
        errors.apply(&mut fields);
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &FormPage {
                shell: Shell::new(&state, "Revoca il PIN")
                    .with_user(Some(area::user_box(&session))),
                intro: vec![
                    "Se revochi il PIN, non potrai più usarlo per accedere ai servizi INPS.".into(),
                ],
                action: REVOKE_PATH.into(),
                csrf: session.csrf_token.clone(),
                errors: errors.summary(),
                sections: vec![FormSection {
                    heading: None,
                    text: None,
                    fields,
                }],
                submit: "Revoca il PIN".into(),
                after: vec![Link::new(
                    "/area-personale",
                    "Non revocare, torna all'area personale",
                )],
            },
        );
    }
    match recovery::revoke(&state, &cf, Revoker::Holder, state.clock.now()).await {
        Ok(()) | Err(IssuanceError::Pin(PinError::NoCredential)) => {
            let mut resp = redirect("/area-personale");
            let _ = resp.add_cookie(&forms::result_cookie(&state, "pin-revocato", None));
            resp
        }
        Err(e) => errors::unavailable(&state, &e, "PIN revocation"),
    }
}

/// `GET /pin/login` and `GET /pin/change`: the address of a form's answer opened again (a
/// reload, a bookmark): back to the login page of that flow, or the way to start again.
pub async fn login_form_reopened(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let params = Params::parse(req.query_string()).unwrap_or_default();
    match params.get("flow") {
        Some(flow) => redirect(&format!(
            "/login?flow={}",
            serde_urlencoded::to_string([("", flow)])
                .map(|s| s.trim_start_matches('=').to_owned())
                .unwrap_or_default()
        )),
        None => {
            let mut resp = errors::page(
                &state,
                StatusCode::BAD_REQUEST,
                "Pagina di accesso scaduta",
                "Questa pagina si apre solo inviando il modulo di accesso. Riparti dal servizio \
                 che stavi usando, oppure accedi alla tua area personale.",
                errors::login_links(),
            );
            resp.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            resp
        }
    }
}
