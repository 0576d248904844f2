//! The HTML pages a citizen sees: login, PIN change, logout, and errors. Italian, plain
//! HTML forms (no JavaScript), every field labelled, usable with the keyboard alone.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}\
h1{font-size:1.5rem}label{display:block;margin-top:1rem;font-weight:600}\
input{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;border:1px solid #555}\
button{margin-top:1.25rem;font-size:1rem;padding:.6rem 1.2rem;background:#0b4f9c;color:#fff;border:0}\
:focus{outline:3px solid #f0a500;outline-offset:2px}.error{border-left:4px solid #b00020;padding:.5rem 1rem;background:#fdecee}\
.hint{font-size:.9rem;color:#444}section{border-top:1px solid #ccc;margin-top:1.5rem}";

/// A whole page: `main` holds the content; the first heading names the page.
pub fn page(status: StatusCode, title: &str, main: &str) -> HttpResponse {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"it\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} – INPS</title><style>{STYLE}</style></head>\
<body><main id=\"contenuto\">{main}</main></body></html>",
        t = escape(title)
    );
    html(
        status,
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; frame-ancestors 'none'",
        body,
    )
}

/// An HTML response with the headers every page carries and its content security policy.
fn html(status: StatusCode, csp: &str, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp.to_owned()))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

/// The script that submits the form of [`auto_post`]; allowed by its hash in the CSP.
const AUTO_SUBMIT: &str = "document.forms[0].submit();";

/// The policy of [`auto_post`]: its one script allowed by hash, forms to any IdP.
static AUTO_POST_CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(AUTO_SUBMIT));
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; form-action http: https:; frame-ancestors 'none'"
    )
});

/// An HTTP-POST binding page: a form to `action` that submits itself (with a button for
/// browsers without JavaScript).
pub fn auto_post(action: &str, fields: &[(&str, &str)]) -> HttpResponse {
    let mut inputs = String::new();
    for (name, value) in fields {
        let _ = write!(
            inputs,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"it\"><head><meta charset=\"utf-8\">\
<title>Accesso in corso – INPS</title><style>{STYLE}</style></head><body><main>\
<form method=\"post\" action=\"{action}\">{inputs}\
<p>Stai per essere indirizzato al tuo gestore di identità.</p>\
<button type=\"submit\">Prosegui</button></form>\
<script>{AUTO_SUBMIT}</script></main></body></html>",
        action = escape(action),
    );
    html(StatusCode::OK, &AUTO_POST_CSP, body)
}

/// A login started at procura itself ended well.
pub fn logged_in() -> HttpResponse {
    page(
        StatusCode::OK,
        "Accesso effettuato",
        "<h1>Accesso effettuato</h1><p>Hai effettuato l'accesso ai servizi online INPS. \
Torna al servizio che vuoi usare: non ti sarà chiesto di accedere di nuovo.</p>",
    )
}

/// An error the person can read, with what to do next.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    page(
        status,
        title,
        &format!(
            "<h1>{}</h1><p role=\"alert\">{}</p><p>Torna al servizio da cui sei partito e riprova.</p>",
            escape(title),
            escape(message)
        ),
    )
}

/// A failure on procura's side: logged with its cause, shown without it.
pub fn unavailable(cause: &dyn std::fmt::Display, what: &str) -> HttpResponse {
    tracing::error!(error = %cause, "{what} failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Servizio non disponibile",
        "Non è stato possibile completare la richiesta. Riprova tra qualche minuto.",
    )
}

fn error_box(error: Option<&str>) -> String {
    error.map_or_else(String::new, |e| {
        format!(
            "<div class=\"error\" role=\"alert\" id=\"errore\"><p>{}</p></div>",
            escape(e)
        )
    })
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        escape(name),
        escape(value)
    )
}

/// What the login page shows.
pub struct LoginPage<'a> {
    pub flow_id: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    /// Method labels offered, with the form or link for each; PIN is rendered inline.
    pub pin_offered: bool,
    /// Enabled methods that cannot reach the level the service asks for.
    pub too_weak: Vec<&'static str>,
    pub error: Option<&'a str>,
    pub codice_fiscale: &'a str,
    /// SPID identity providers (entityID, name), when SPID is offered.
    pub spid_idps: Vec<(String, String)>,
    /// "Entra con CIE" entries (link, label): one per CIE way of logging in offered.
    pub cie: Vec<(String, String)>,
}

/// Query-string encoding of one value (for the links of the login page).
fn query_value(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

pub fn login(status: StatusCode, p: &LoginPage<'_>) -> HttpResponse {
    let mut main = format!(
        "<h1>Accedi ai servizi INPS</h1><p>Per continuare su <strong>{}</strong> scegli come accedere.</p>{}",
        escape(p.client_name),
        error_box(p.error)
    );
    if !p.spid_idps.is_empty() {
        let _ = write!(
            main,
            "<section aria-labelledby=\"spid-titolo\"><h2 id=\"spid-titolo\">Entra con SPID</h2>\
<p>Scegli il tuo gestore di identità digitale.</p><ul>"
        );
        for (entity_id, name) in &p.spid_idps {
            let _ = write!(
                main,
                "<li><a href=\"/spid/login?flow={}&amp;idp={}\">{}</a></li>",
                escape(&query_value(p.flow_id)),
                escape(&query_value(entity_id)),
                escape(name)
            );
        }
        main.push_str("</ul></section>");
    }
    if !p.cie.is_empty() {
        main.push_str(
            "<section aria-labelledby=\"cie-titolo\"><h2 id=\"cie-titolo\">Entra con CIE</h2>\
<p>Usa la tua Carta d'Identità Elettronica.</p><ul>",
        );
        for (href, label) in &p.cie {
            let _ = write!(
                main,
                "<li><a href=\"{}\">{}</a></li>",
                escape(href),
                escape(label)
            );
        }
        main.push_str("</ul></section>");
    }
    if p.pin_offered {
        let _ = write!(
            main,
            "<section aria-labelledby=\"pin-titolo\"><h2 id=\"pin-titolo\">Accedi con il PIN INPS</h2>\
<form method=\"post\" action=\"/pin/login\">{}{}\
<label for=\"codice_fiscale\">Codice fiscale</label>\
<input id=\"codice_fiscale\" name=\"codice_fiscale\" value=\"{}\" required autocomplete=\"username\" \
autocapitalize=\"characters\" spellcheck=\"false\" maxlength=\"16\" aria-describedby=\"cf-aiuto\">\
<p class=\"hint\" id=\"cf-aiuto\">16 caratteri, come sulla tessera sanitaria.</p>\
<label for=\"pin\">PIN</label>\
<input id=\"pin\" name=\"pin\" type=\"password\" required autocomplete=\"current-password\" maxlength=\"32\" aria-describedby=\"pin-aiuto\">\
<p class=\"hint\" id=\"pin-aiuto\">Il tuo PIN di 8 caratteri, oppure al primo accesso i 16 caratteri \
ricevuti (la prima metà via SMS o e-mail, la seconda per lettera).</p>\
<button type=\"submit\">Accedi</button></form></section>",
            hidden("flow", p.flow_id),
            hidden("csrf", p.csrf),
            escape(p.codice_fiscale)
        );
    }
    if !p.too_weak.is_empty() {
        let _ = write!(
            main,
            "<section><p>Il servizio richiede un livello di sicurezza più alto di quello offerto da: {}. \
Accedi con SPID di livello 2 o superiore, con la CIE o con la CNS.</p></section>",
            escape(&p.too_weak.join(", "))
        );
    }
    page(status, "Accedi ai servizi INPS", &main)
}

pub struct PinChangePage<'a> {
    pub flow_id: &'a str,
    pub csrf: &'a str,
    pub initial: bool,
    pub error: Option<&'a str>,
}

pub fn pin_change(status: StatusCode, p: &PinChangePage<'_>) -> HttpResponse {
    let why = if p.initial {
        "Hai usato il PIN di 16 caratteri ricevuto dall'INPS: vale una sola volta. Scegli ora il tuo PIN personale."
    } else {
        "Il tuo PIN è scaduto (vale 6 mesi). Scegli un nuovo PIN per continuare."
    };
    let main = format!(
        "<h1>Scegli il tuo nuovo PIN</h1><p>{why}</p>{err}\
<form method=\"post\" action=\"/pin/change\">{flow}{csrf}\
<label for=\"new_pin\">Nuovo PIN</label>\
<input id=\"new_pin\" name=\"new_pin\" type=\"password\" required autocomplete=\"new-password\" maxlength=\"32\" aria-describedby=\"regole\">\
<label for=\"confirm_pin\">Ripeti il nuovo PIN</label>\
<input id=\"confirm_pin\" name=\"confirm_pin\" type=\"password\" required autocomplete=\"new-password\" maxlength=\"32\">\
<div id=\"regole\" class=\"hint\"><p>Il PIN deve:</p><ul>\
<li>avere esattamente 8 caratteri, solo lettere e cifre (maiuscole e minuscole sono uguali);</li>\
<li>contenere almeno una lettera e almeno una cifra;</li>\
<li>non essere una sequenza (12345678, ABCDEFGH) né lo stesso carattere ripetuto;</li>\
<li>non contenere 8 caratteri consecutivi del tuo codice fiscale, né il tuo nome o cognome;</li>\
<li>essere diverso dal PIN attuale.</li></ul></div>\
<button type=\"submit\">Conferma il nuovo PIN</button></form>",
        err = error_box(p.error),
        flow = hidden("flow", p.flow_id),
        csrf = hidden("csrf", p.csrf),
    );
    page(status, "Scegli il tuo nuovo PIN", &main)
}

/// Asks the person to confirm a logout that did not come with a valid `id_token_hint`.
pub fn logout_confirm(csrf: &str, carried: &[(&str, &str)]) -> HttpResponse {
    let mut fields = hidden("csrf", csrf);
    for (k, v) in carried {
        fields.push_str(&hidden(k, v));
    }
    page(
        StatusCode::OK,
        "Vuoi uscire?",
        &format!(
            "<h1>Vuoi uscire dai servizi INPS?</h1><p>Uscirai da tutti i servizi in cui sei entrato con questo accesso.</p>\
<form method=\"post\" action=\"/logout\">{fields}<button type=\"submit\">Esci</button></form>"
        ),
    )
}

pub fn logged_out() -> HttpResponse {
    page(
        StatusCode::OK,
        "Sei uscito",
        "<h1>Sei uscito dai servizi INPS</h1><p>Puoi chiudere questa pagina.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
