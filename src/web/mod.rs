//! HTML for people: the pages citizens see (login, PIN change, errors, PIN self-service,
//! "Le mie deleghe", "Agisci per conto di"), the operator console ([`console`], `/console`)
//! and the static files they use.
//!
//! - Templates are askama files under `templates/`, compiled into the binary and checked at
//!   compile time; every value is HTML-escaped unless a template says otherwise (none does).
//! - Every page extends `base.html`: `lang="it"`, a skip link, the INPS header, the footer
//!   with the legal links (`web.*_url`) and the contact-centre numbers, Bootstrap Italia
//!   and procura's stylesheet from [`assets`].
//! - Every page is `no-store` and carries a strict content security policy: no script at
//!   all (the SPID HTTP-POST page allows its one script by hash), styles and fonts only from
//!   procura, images from procura or the IdPs' logo origins.
//!
//! Handlers here know actix (like `http/`) and call the same domain functions as the JSON
//! APIs; `http::configure` lists their routes with the others.

pub mod acting;
pub mod area;
pub mod assets;
pub mod console;
pub mod delegations;
pub mod errors;
pub mod forms;
pub mod italian;
pub mod login;
pub mod pin_self;
pub mod views;

use crate::AppState;
use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};

/// The INPS contact centre, said on every error page (domain §2.3).
pub const CONTACT_LANDLINE: &str = "803 164";
pub const CONTACT_MOBILE: &str = "06 164 164";

/// A link a page offers as a next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub href: String,
    pub text: String,
}

impl Link {
    pub fn new(href: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            href: href.into(),
            text: text.into(),
        }
    }
}

/// Who is logged in, for the header's user box (name and an "Esci" button).
#[derive(Debug, Clone)]
pub struct UserBox {
    pub name: String,
    /// The session's CSRF token, for the logout form.
    pub csrf: String,
}

/// What every page's frame needs: its title, the asset URLs, the footer links, the user.
pub struct Shell<'a> {
    pub title: String,
    pub bootstrap_css: Option<&'a str>,
    pub procura_css: &'a str,
    pub sprites: Option<&'a str>,
    pub accessibility_url: &'a str,
    pub privacy_url: &'a str,
    pub legal_notes_url: &'a str,
    pub user: Option<UserBox>,
    pub contact_landline: &'static str,
    pub contact_mobile: &'static str,
}

impl<'a> Shell<'a> {
    pub fn new(state: &'a AppState, title: impl Into<String>) -> Self {
        let web = &state.config.web;
        Self {
            title: title.into(),
            bootstrap_css: state.assets.bootstrap_css.as_deref(),
            procura_css: &state.assets.procura_css,
            sprites: state.assets.sprites.as_deref(),
            accessibility_url: &web.accessibility_url,
            privacy_url: &web.privacy_url,
            legal_notes_url: &web.legal_notes_url,
            user: None,
            contact_landline: CONTACT_LANDLINE,
            contact_mobile: CONTACT_MOBILE,
        }
    }

    pub fn with_user(mut self, user: Option<UserBox>) -> Self {
        self.user = user;
        self
    }

    /// `href` for an icon of Bootstrap Italia's sprite (`it-user`, …), when installed.
    pub fn icon(&self, name: &str) -> Option<String> {
        self.sprites.map(|s| format!("{s}#{name}"))
    }
}

/// The content security policy of a page: no scripts unless `script_hash` (base64 SHA-256)
/// allows one; images from procura, `data:` and the `image_origins` (IdP logos).
pub fn csp(image_origins: &[String], script_hash: Option<&str>) -> String {
    let mut img = String::from("'self' data:");
    for o in image_origins {
        img.push(' ');
        img.push_str(o);
    }
    let script = script_hash.map_or_else(String::new, |h| format!(" script-src 'sha256-{h}';"));
    // form-action keeps http:/https: because a login form's answer redirects to the relying
    // party, and Chromium applies form-action to redirects.
    format!(
        "default-src 'none'; style-src 'self'; font-src 'self'; img-src {img};{script} \
         form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// An HTML response with the headers every page carries.
pub fn html(status: StatusCode, csp: &str, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp.to_owned()))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

/// Renders a template into a page; a template that fails to render is a 500 page, logged.
pub fn render(status: StatusCode, page: &impl askama::Template) -> HttpResponse {
    render_with_csp(status, page, &csp(&[], None))
}

pub fn render_with_csp(
    status: StatusCode,
    page: &impl askama::Template,
    csp: &str,
) -> HttpResponse {
    match page.render() {
        Ok(body) => html(status, csp, body),
        Err(e) => {
            tracing::error!(error = %e, "page template failed to render");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                csp,
                "<!DOCTYPE html><html lang=\"it\"><head><meta charset=\"utf-8\"><title>Servizio non \
                 disponibile – INPS</title></head><body><main><h1>Servizio non disponibile</h1>\
                 <p>Riprova tra qualche minuto. Contact Center INPS: 803 164 (gratuito da rete \
                 fissa), 06 164 164 (da cellulare).</p></main></body></html>"
                    .to_owned(),
            )
        }
    }
}

/// The client's address, for per-address rate limits (as the JSON routes count it).
pub fn client_ip(req: &actix_web::HttpRequest) -> std::net::IpAddr {
    req.peer_addr()
        .map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |a| {
            a.ip()
        })
}

/// 303 See Other to a path of procura (the browser follows it with GET).
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `GET /static/{file}`: a fingerprinted asset, or a 404 page.
pub async fn asset(
    state: actix_web::web::Data<AppState>,
    req: actix_web::HttpRequest,
    file: actix_web::web::Path<String>,
) -> HttpResponse {
    state
        .assets
        .serve(&req, &file)
        .unwrap_or_else(|| errors::not_found_page(&state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_has_no_inline_scripts_or_styles() {
        let p = csp(&["https://idp.example".into()], None);
        assert!(!p.contains("unsafe-inline"));
        assert!(!p.contains("script-src"));
        assert!(p.contains("img-src 'self' data: https://idp.example;"));
        assert!(csp(&[], Some("abc")).contains("script-src 'sha256-abc';"));
    }
}
