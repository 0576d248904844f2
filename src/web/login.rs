//! The login pages: the choice of method (in `login.methods` order, only the methods that
//! reach the level the service asks for), AgID's "Entra con SPID" button, the PIN form and
//! the forced PIN change; the logout pages; the SPID HTTP-POST page.

use super::forms::{Field, FormErrors};
use super::views::{
    AutoPostPage, CieEntry, IdpEntry, LoginPage, LogoutConfirmPage, MessagePage, MethodBlock,
    PinChangePage, PinForm, SpidButton, Unmet,
};
use super::{Link, Shell, csp, italian, render, render_with_csp};
use crate::AppState;
use crate::login::{Level, Method};
use crate::oauth::session::LoginFlow;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// Whether a login with `method` can reach `min` (CIE and CNS rank with SPID L2 and above,
/// as `delegation.online_min_level` says; CIE is a level-3 credential).
pub fn reaches(method: Method, min: Option<Level>) -> bool {
    let Some(min) = min else { return true };
    let best = match method {
        Method::Pin => crate::login::pin::MAX_LEVEL,
        Method::Spid | Method::Cie => Level::SpidL3,
        Method::Cns => Level::SpidL2,
    };
    best.satisfies(min)
}

/// The "Entra con CIE" links: one per configured CIE OpenID provider (`cie.protocols` has
/// `oidc`) and one per CIE SAML IdP (`saml`).
fn cie_entries(state: &AppState, flow_id: &str) -> Vec<CieEntry> {
    let mut links: Vec<(String, String)> = Vec::new();
    if state.config.cie_offers("oidc") {
        for p in &state.config.cie.providers {
            let query = serde_urlencoded::to_string([("flow", flow_id), ("op", &p.entity_id)])
                .unwrap_or_default();
            links.push((format!("/cie/login?{query}"), p.name.clone()));
        }
    }
    if let Some(sp) = &state.cie_saml {
        for (entity_id, name) in sp.registry.list() {
            let query = serde_urlencoded::to_string([("flow", flow_id), ("idp", &entity_id)])
                .unwrap_or_default();
            links.push((format!("/cie/saml/login?{query}"), name));
        }
    }
    let single = links.len() == 1;
    links
        .into_iter()
        .map(|(href, name)| CieEntry {
            href,
            label: if single {
                "Entra con CIE".to_owned()
            } else {
                format!("Entra con CIE ({name})")
            },
        })
        .collect()
}

/// How a level reads to a citizen.
pub fn level_text(level: Level) -> &'static str {
    match level {
        Level::PinOrdinario => "PIN INPS, SPID, CIE o CNS",
        Level::PinDispositivo => "PIN INPS dispositivo, SPID, CIE o CNS",
        Level::SpidL1 => "SPID, CIE, CNS o PIN INPS",
        Level::SpidL2 => "SPID di livello 2 o superiore, CIE o CNS",
        Level::SpidL3 => "SPID di livello 3 o CIE",
    }
}

/// A random index below `n` (uniform enough for shuffling a short list).
fn random_below(n: usize) -> usize {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut four = [0_u8; 4];
    four.copy_from_slice(bytes.get(..4).unwrap_or(&[0; 4]));
    usize::try_from(u32::from_le_bytes(four)).unwrap_or(0) % n.max(1)
}

/// Fisher–Yates: AgID asks for the IdPs in random order at every page view, so that no
/// provider is favoured by its place in the list.
pub fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, random_below(i + 1));
    }
}

/// `https://host[:port]` of an https URL (for the page's `img-src`).
fn origin(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')))
    .then(|| format!("https://{host}"))
}

fn query(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// The SPID button for `flow` (or for a login at procura itself), and the logo origins.
fn spid_button(state: &AppState, flow: Option<&str>) -> Option<(SpidButton, Vec<String>)> {
    let sp = state.spid.as_ref()?;
    let mut idps = sp.registry.idps();
    shuffle(&mut idps);
    let mut origins: Vec<String> = Vec::new();
    let entries = idps
        .iter()
        .map(|idp| {
            if let Some(o) = idp.logo.as_deref().and_then(origin)
                && !origins.contains(&o)
            {
                origins.push(o);
            }
            let href = match flow {
                Some(f) => format!(
                    "/spid/login?flow={}&idp={}",
                    query(f),
                    query(&idp.entity_id)
                ),
                None => format!("/spid/login?idp={}", query(&idp.entity_id)),
            };
            IdpEntry {
                href,
                name: idp.display_name.clone(),
                logo: idp.logo.clone(),
            }
        })
        .collect();
    let web = &state.config.web;
    Some((
        SpidButton {
            idps: entries,
            request_url: web.spid_request_url.clone(),
            info_url: web.spid_info_url.clone(),
            help_url: web.spid_help_url.clone(),
        },
        origins,
    ))
}

/// The PIN form's fields, with what was typed and the errors.
fn pin_fields(codice_fiscale: &str, errors: &FormErrors) -> Vec<Field> {
    let mut fields = vec![
        Field::codice_fiscale("codice_fiscale", "Codice fiscale")
            .value(codice_fiscale)
            .autocomplete("username"),
        Field::new("pin", "PIN", "password")
            .autocomplete("current-password")
            .maxlength(32)
            .hint(
                "Il tuo PIN di 8 caratteri, oppure al primo accesso i 16 caratteri ricevuti \
                 (la prima metà via SMS o e-mail, la seconda per lettera).",
            ),
    ];
    errors.apply(&mut fields);
    fields
}

/// What the login page needs besides the flow.
pub struct LoginInput<'a> {
    pub client_name: &'a str,
    pub errors: FormErrors,
    pub codice_fiscale: &'a str,
}

/// The login page of `flow`.
pub fn login_page(
    state: &AppState,
    flow: &LoginFlow,
    status: StatusCode,
    input: LoginInput<'_>,
) -> HttpResponse {
    let min = flow.acr_min();
    let mut methods = Vec::new();
    let mut too_weak = Vec::new();
    let mut origins = Vec::new();
    for name in &state.config.login.methods {
        let Some(method) = Method::parse(name) else {
            continue;
        };
        let reached = match method {
            // A CNS login's level is configurable (`cns.level`).
            Method::Cns => min.is_none_or(|min| state.config.cns.level.satisfies(min)),
            _ => reaches(method, min),
        };
        if !reached {
            too_weak.push(method.label_it());
            continue;
        }
        let flow_q = query(&flow.id);
        match method {
            Method::Spid => {
                if let Some((button, o)) = spid_button(state, Some(&flow.id)) {
                    origins = o;
                    methods.push(MethodBlock::Spid(button));
                }
            }
            Method::Cie => methods.push(MethodBlock::Cie {
                entries: cie_entries(state, &flow.id),
                info_url: state.config.web.cie_info_url.clone(),
            }),
            // The card is read on the dedicated CNS host (procura's own listener or the
            // TLS proxy), which `cns.public_url` names.
            Method::Cns => methods.push(MethodBlock::Cns {
                href: format!(
                    "{}/cns/login?flow={flow_q}",
                    state.config.cns.public_url.trim_end_matches('/')
                ),
            }),
            Method::Pin => methods.push(MethodBlock::Pin(PinForm {
                flow: flow.id.clone(),
                csrf: flow.csrf_token.clone(),
                fields: pin_fields(input.codice_fiscale, &input.errors),
            })),
        }
    }
    let unmet = if methods.is_empty() {
        let level = min.unwrap_or(Level::SpidL2);
        Some(Unmet {
            level_text: level_text(level).to_owned(),
            back_to_service: Some(back_to_client(state, flow)),
            spid_request_url: state.config.web.spid_request_url.clone(),
        })
    } else {
        None
    };
    let page = LoginPage {
        shell: Shell::new(state, "Accedi ai servizi INPS"),
        client_name: input.client_name.to_owned(),
        methods,
        errors: input.errors.summary(),
        too_weak,
        unmet,
    };
    render_with_csp(status, &page, &csp(&origins, None))
}

/// The way back to the relying party when no method can give the level it asked for:
/// OpenID Connect's `unmet_authentication_requirements` error, with `state` and `iss`.
fn back_to_client(state: &AppState, flow: &LoginFlow) -> String {
    let mut q = vec![
        ("error", "unmet_authentication_requirements"),
        (
            "error_description",
            "no enabled login method reaches the requested acr_values",
        ),
    ];
    if let Some(s) = &flow.state {
        q.push(("state", s.as_str()));
    }
    q.push(("iss", state.config.oauth.issuer.as_str()));
    crate::oauth::authorize::redirect_with(&flow.redirect_uri, &q)
}

/// Why a PIN must be changed before going on.
pub enum ChangeWhy {
    /// The 16-character PIN from the INPS: it works once.
    Initial,
    /// The PIN's validity (in days) is over.
    Expired { validity_days: u32 },
}

pub fn pin_change_page(
    state: &AppState,
    flow: &LoginFlow,
    why: ChangeWhy,
    status: StatusCode,
    errors: FormErrors,
) -> HttpResponse {
    let why = match why {
        ChangeWhy::Initial => "Hai usato il PIN di 16 caratteri ricevuto dall'INPS: vale per un \
             solo accesso. Scegli ora il tuo PIN personale di 8 caratteri."
            .to_owned(),
        ChangeWhy::Expired { validity_days } => format!(
            "Il tuo PIN è scaduto: vale {} dall'ultima modifica. Scegli un nuovo PIN per \
             continuare.",
            italian::days(u64::from(validity_days))
        ),
    };
    let mut fields = vec![
        Field::new("new_pin", "Nuovo PIN", "password")
            .autocomplete("new-password")
            .maxlength(32)
            .hint("8 caratteri: le regole sono qui sopra."),
        Field::new("confirm_pin", "Ripeti il nuovo PIN", "password")
            .autocomplete("new-password")
            .maxlength(32),
    ];
    errors.apply(&mut fields);
    render(
        status,
        &PinChangePage {
            shell: Shell::new(state, "Scegli il tuo nuovo PIN"),
            flow: flow.id.clone(),
            csrf: flow.csrf_token.clone(),
            why,
            errors: errors.summary(),
            fields,
        },
    )
}

/// A login started at procura itself ended well.
pub fn logged_in(state: &AppState) -> HttpResponse {
    render(
        StatusCode::OK,
        &MessagePage {
            shell: Shell::new(state, "Accesso effettuato"),
            tone: "success",
            paragraphs: vec![
                "Hai effettuato l'accesso ai servizi online INPS. Torna al servizio che vuoi \
                 usare: non ti sarà chiesto di accedere di nuovo."
                    .into(),
            ],
            reference: None,
            next: vec![Link::new("/area-personale", "Vai alla tua area personale")],
            contact: false,
        },
    )
}

/// Asks the person to confirm a logout that did not come with a valid `id_token_hint`.
pub fn logout_confirm(state: &AppState, csrf: &str, carried: &[(&str, &str)]) -> HttpResponse {
    render(
        StatusCode::OK,
        &LogoutConfirmPage {
            shell: Shell::new(state, "Vuoi uscire dai servizi INPS?"),
            csrf: csrf.to_owned(),
            carried: carried
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        },
    )
}

pub fn logged_out(state: &AppState) -> HttpResponse {
    render(
        StatusCode::OK,
        &MessagePage {
            shell: Shell::new(state, "Sei uscito dai servizi INPS"),
            tone: "success",
            paragraphs: vec![
                "Sei uscito da tutti i servizi INPS in cui eri entrato con questo accesso. Se \
                 usi un computer condiviso, chiudi il browser."
                    .into(),
            ],
            reference: None,
            next: vec![Link::new("/area-personale", "Accedi di nuovo")],
            contact: false,
        },
    )
}

/// Why a logout request was refused; the session was ended anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutProblem {
    Unreadable,
    BadHint,
    HintOfOtherService,
    NoService,
    UnregisteredReturn,
}

impl LogoutProblem {
    pub const ALL: [LogoutProblem; 5] = [
        LogoutProblem::Unreadable,
        LogoutProblem::BadHint,
        LogoutProblem::HintOfOtherService,
        LogoutProblem::NoService,
        LogoutProblem::UnregisteredReturn,
    ];

    pub fn code(self) -> &'static str {
        match self {
            LogoutProblem::Unreadable => "richiesta-illeggibile",
            LogoutProblem::BadHint => "indicazione-non-valida",
            LogoutProblem::HintOfOtherService => "servizio-diverso",
            LogoutProblem::NoService => "servizio-mancante",
            LogoutProblem::UnregisteredReturn => "ritorno-non-registrato",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    fn text(self) -> &'static str {
        match self {
            LogoutProblem::Unreadable => "La richiesta di uscita del servizio non era leggibile.",
            LogoutProblem::BadHint => {
                "Il servizio ha inviato un'indicazione di accesso non valida."
            }
            LogoutProblem::HintOfOtherService => {
                "L'indicazione di accesso inviata non appartiene al servizio che ha chiesto l'uscita."
            }
            LogoutProblem::NoService => {
                "Il servizio non ha detto chi è, quindi non sappiamo dove riportarti."
            }
            LogoutProblem::UnregisteredReturn => {
                "L'indirizzo a cui il servizio voleva riportarti non è registrato presso l'INPS."
            }
        }
    }
}

/// A logout request that was wrong: the session has ended all the same; say so, and why
/// the browser did not go back to the service.
pub fn logout_failed(state: &AppState, problem: LogoutProblem, ended: bool) -> HttpResponse {
    let first = if ended {
        "Sei uscito dai servizi INPS: il tuo accesso è stato chiuso."
    } else {
        "Non risultava nessun accesso aperto in questo browser: non c'era nulla da chiudere."
    };
    render(
        StatusCode::BAD_REQUEST,
        &MessagePage {
            shell: Shell::new(state, "Sei uscito, ma non possiamo riportarti al servizio"),
            tone: "warning",
            paragraphs: vec![
                first.to_owned(),
                format!(
                    "{} Per sicurezza non ti riportiamo automaticamente al servizio: se vuoi, \
                     riaprilo tu. Se usi un computer condiviso, chiudi il browser.",
                    problem.text()
                ),
            ],
            reference: None,
            next: vec![Link::new(
                "/area-personale",
                "Accedi di nuovo ai servizi INPS",
            )],
            contact: true,
        },
    )
}

/// The script that submits the form of [`auto_post`]; allowed by its hash in the CSP.
pub const AUTO_SUBMIT: &str = "document.forms[0].submit();";

static AUTO_SUBMIT_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(AUTO_SUBMIT))
});

/// An HTTP-POST binding page: a form to `action` that submits itself (with a button for
/// browsers without JavaScript).
pub fn auto_post(state: &AppState, action: &str, fields: &[(&str, &str)]) -> HttpResponse {
    // The form goes to the IdP: the form cookie of logged-out forms is not needed here.
    let page = AutoPostPage {
        shell: Shell::new(state, "Accesso in corso"),
        action: action.to_owned(),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        script: AUTO_SUBMIT,
    };
    render_with_csp(StatusCode::OK, &page, &csp(&[], Some(&AUTO_SUBMIT_HASH)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffling_keeps_every_item_and_varies_the_order() {
        let original: Vec<u32> = (0..12).collect();
        let mut seen_other_order = false;
        for _ in 0..20 {
            let mut v = original.clone();
            shuffle(&mut v);
            let mut sorted = v.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, original);
            seen_other_order |= v != original;
        }
        assert!(seen_other_order);
    }

    #[test]
    fn logo_origins() {
        assert_eq!(
            origin("https://www.idp.it/logo.svg").as_deref(),
            Some("https://www.idp.it")
        );
        assert_eq!(origin("http://x.it/a.png"), None);
        assert_eq!(origin("https://a b/"), None);
    }

    /// CIE and CNS (added by their own issues) render as "Entra con …" entries, in the order
    /// the page data gives them (`login.methods`).
    #[test]
    fn cie_and_cns_entries_render_in_order() {
        use askama::Template;
        let shell = Shell {
            title: "Accedi ai servizi INPS".into(),
            bootstrap_css: None,
            procura_css: "/static/procura.x.css",
            sprites: None,
            accessibility_url: "a",
            privacy_url: "p",
            legal_notes_url: "n",
            user: None,
            contact_landline: super::super::CONTACT_LANDLINE,
            contact_mobile: super::super::CONTACT_MOBILE,
        };
        let page = LoginPage {
            shell,
            client_name: "Servizio <prova>".into(),
            methods: vec![
                MethodBlock::Cns {
                    href: "/cns/login?flow=f".into(),
                },
                MethodBlock::Pin(PinForm {
                    flow: "f".into(),
                    csrf: "c".into(),
                    fields: pin_fields("", &FormErrors::default()),
                }),
                MethodBlock::Cie {
                    entries: vec![CieEntry {
                        href: "/cie/login?flow=f".into(),
                        label: "Entra con CIE".into(),
                    }],
                    info_url: "https://cie.example".into(),
                },
            ],
            errors: vec![],
            too_weak: vec![],
            unmet: None,
        };
        let html = page.render().unwrap_or_default();
        let cns = html.find("Entra con CNS").unwrap_or(usize::MAX);
        let pin = html.find("Accedi con il PIN").unwrap_or(usize::MAX);
        let cie = html.find("Entra con CIE").unwrap_or(usize::MAX);
        assert!(cns < pin && pin < cie, "{html}");
        assert!(
            html.contains("Servizio &#60;prova&#62;") || html.contains("Servizio &lt;prova&gt;")
        );
        assert!(html.contains("href=\"/cie/login?flow=f\""));
    }

    #[test]
    fn methods_and_levels() {
        assert!(reaches(Method::Pin, None));
        assert!(!reaches(Method::Pin, Some(Level::SpidL2)));
        assert!(reaches(Method::Spid, Some(Level::SpidL3)));
        assert!(reaches(Method::Cns, Some(Level::SpidL2)));
        assert!(!reaches(Method::Cns, Some(Level::SpidL3)));
        for p in LogoutProblem::ALL {
            assert_eq!(LogoutProblem::parse(p.code()), Some(p));
        }
    }
}
