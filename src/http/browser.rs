//! Browser cookies and redirects: the session cookie (single sign-on) and the browser
//! cookie (binds a login flow to the browser that started it). HttpOnly, SameSite=Lax,
//! path `/`, and Secure whenever the issuer is served over TLS.

use crate::AppState;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

pub const SESSION_COOKIE: &str = "procura_session";
pub const BROWSER_COOKIE: &str = "procura_browser";

pub fn read(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name).map(|c| c.value().to_owned())
}

fn secure(state: &AppState) -> bool {
    state.config.oauth.issuer.starts_with("https://")
}

/// A cookie for the browser; `max_age` none = ends with the browser.
pub fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    max_age_secs: Option<u64>,
) -> Cookie<'static> {
    let mut c = Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .finish();
    if let Some(secs) = max_age_secs {
        c.set_max_age(time::Duration::seconds(
            i64::try_from(secs).unwrap_or(i64::MAX),
        ));
    }
    c
}

/// Deletes a cookie in the browser.
pub fn removal(state: &AppState, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(state, name, String::new(), None);
    c.make_removal();
    c
}

/// 303 See Other to `location`; browsers follow it with GET, whatever the request was.
pub fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::SeeOther();
    b.insert_header((header::LOCATION, location.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    b
}

/// The client's address, for per-address rate limits (the peer; procura is meant to sit
/// behind a proxy that keeps it, or to be reached directly).
pub fn client_ip(req: &HttpRequest) -> std::net::IpAddr {
    req.peer_addr()
        .map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |a| {
            a.ip()
        })
}
