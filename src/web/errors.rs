//! Error pages with a way forward: what happened in plain Italian, the next step (back to
//! the login, PIN recovery, another method) and the contact centre. Also the HTML answers
//! for browser navigations that reach no page (unknown path, wrong method), and the citizen
//! texts of SPID's user anomalies (ErrorCode nr19–nr30).

use super::views::MessagePage;
use super::{Link, Shell, render};
use crate::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};

/// A page saying what happened and what to do next.
pub fn page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    next: Vec<Link>,
) -> HttpResponse {
    let tone = if status.is_success() {
        "info"
    } else {
        "danger"
    };
    render(
        status,
        &MessagePage {
            shell: Shell::new(state, title),
            tone,
            paragraphs: vec![message.to_owned()],
            reference: None,
            next,
            contact: !status.is_success(),
        },
    )
}

/// The usual next steps after a failed login step.
pub fn login_links() -> Vec<Link> {
    vec![
        Link::new("/area-personale", "Accedi di nuovo ai servizi INPS"),
        Link::new("/pin/recupero", "Hai dimenticato il PIN? Recuperalo"),
    ]
}

/// A failure on procura's side: logged with its cause, shown without it.
pub fn unavailable(state: &AppState, cause: &dyn std::fmt::Display, what: &str) -> HttpResponse {
    tracing::error!(error = %cause, "{what} failed");
    page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Servizio non disponibile",
        "Non è stato possibile completare la richiesta per un problema dei nostri sistemi. \
         Riprova tra qualche minuto.",
        vec![Link::new(
            "/",
            "Torna alla pagina iniziale dei servizi INPS",
        )],
    )
}

/// Whether a request is a browser navigation that should get a page rather than a problem:
/// it accepts HTML, and its path is not one of the JSON or protocol endpoints.
pub fn wants_page(req: &HttpRequest) -> bool {
    let path = req.path();
    let api = [
        "/v1/",
        "/.well-known/",
        "/jwks.json",
        "/token",
        "/userinfo",
        "/introspect",
        "/revoke",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    if api.iter().any(|p| path.starts_with(p)) {
        return false;
    }
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

pub fn not_found_page(state: &AppState) -> HttpResponse {
    page(
        state,
        StatusCode::NOT_FOUND,
        "Pagina non trovata",
        "La pagina che cerchi non esiste o non è più disponibile. Controlla l'indirizzo, \
         oppure riparti dalla pagina iniziale.",
        vec![
            Link::new("/", "Pagina iniziale dei servizi INPS"),
            Link::new("/area-personale", "La tua area personale"),
        ],
    )
}

/// A page opened with a method it does not take (e.g. reloading the address of a form's
/// answer): said plainly, with the way back; `Allow` names the methods it takes.
pub fn wrong_method_page(state: &AppState, req: &HttpRequest, allow: &str) -> HttpResponse {
    let path = req.path();
    let back = if path.starts_with("/pin/login") || path.starts_with("/pin/change") {
        Link::new("/area-personale", "Accedi di nuovo ai servizi INPS")
    } else if path.starts_with("/spid/") {
        Link::new("/area-personale", "Accedi di nuovo con SPID")
    } else {
        Link::new("/", "Pagina iniziale dei servizi INPS")
    };
    let mut resp = page(
        state,
        StatusCode::METHOD_NOT_ALLOWED,
        "Pagina non disponibile così",
        "Questa pagina si apre solo dal modulo o dal servizio che la usa, non digitandone \
         l'indirizzo o ricaricandola. Riparti dal servizio che stavi usando.",
        vec![back],
    );
    if let Ok(v) = header::HeaderValue::from_str(allow) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

/// The CIE IdP's user anomalies (CIE-SAML `codici-errori-anomalie-utente.csv`: the same
/// `ErrorCode nrNN` as SPID, 23 also for an expired card), as title and text.
pub fn cie_anomaly(code: u8) -> Option<(&'static str, &'static str)> {
    Some(match code {
        21 => (
            "Tempo scaduto",
            "L'accesso con la CIE non è stato completato in tempo. Riprova: tieni a portata di \
             mano la carta e il suo PIN, o lo smartphone con l'app CieID.",
        ),
        22 => (
            "Hai negato il consenso",
            "Hai scelto di non inviare all'INPS i dati richiesti. Senza quei dati non puoi \
             accedere al servizio: riprova e acconsenti all'invio, se vuoi continuare.",
        ),
        23 => (
            "CIE scaduta, sospesa o revocata",
            "La tua Carta d'Identità Elettronica risulta scaduta, sospesa o revocata, oppure le \
             sue credenziali sono bloccate. Rivolgiti al tuo Comune, oppure accedi in un altro \
             modo.",
        ),
        25 => (
            "Accesso annullato",
            "Hai annullato l'accesso con la CIE. Se vuoi, riprova.",
        ),
        _ => return None,
    })
}

/// What a citizen reads when the IdP answers with a SPID user anomaly (RT
/// `messaggi-errore`): the cause in plain words and what to do. `None` for other codes.
pub fn spid_anomaly(code: u8) -> Option<(&'static str, &'static str)> {
    Some(match code {
        19 => (
            "Troppi tentativi con credenziali errate",
            "Il tuo gestore di identità SPID ha bloccato l'accesso perché nome utente o password \
             sono stati inseriti in modo errato troppe volte. Attendi il tempo indicato dal \
             gestore oppure recupera la password sul suo sito, poi riprova.",
        ),
        20 => (
            "La tua identità SPID non ha il livello richiesto",
            "Il servizio richiede un livello di sicurezza SPID che le tue credenziali non \
             hanno (ad esempio il livello 2, con il codice temporaneo o l'app). Attiva il \
             livello richiesto presso il tuo gestore di identità, oppure accedi con la CIE.",
        ),
        21 => (
            "Tempo scaduto",
            "L'accesso non è stato completato in tempo presso il gestore di identità. Riprova: \
             tieni a portata di mano il telefono per il codice o l'app del gestore.",
        ),
        22 => (
            "Hai negato il consenso",
            "Hai scelto di non inviare all'INPS i dati richiesti. Senza quei dati non puoi \
             accedere al servizio: riprova e acconsenti all'invio, se vuoi continuare.",
        ),
        23 => (
            "Identità SPID sospesa o revocata",
            "La tua identità SPID risulta sospesa, revocata o con credenziali bloccate. \
             Rivolgiti al tuo gestore di identità per riattivarla, oppure accedi in un altro \
             modo.",
        ),
        25 => (
            "Accesso annullato",
            "Hai annullato l'accesso presso il gestore di identità. Se vuoi, riprova \
             scegliendo di nuovo il tuo gestore.",
        ),
        30 => (
            "Identità SPID di tipo diverso",
            "Hai usato un'identità SPID che non è quella di una persona fisica (ad esempio \
             un'identità professionale o per persone giuridiche). Accedi con la tua identità \
             SPID personale.",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_user_anomaly_has_a_text_with_advice() {
        for code in [19, 20, 21, 22, 23, 25, 30] {
            let (title, text) = spid_anomaly(code).expect("a text");
            assert!(!title.is_empty());
            assert!(!text.contains("Utente"), "{text}");
            assert!(text.ends_with('.'));
        }
        assert!(spid_anomaly(24).is_none());
        assert!(spid_anomaly(8).is_none());
    }
}
