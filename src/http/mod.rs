//! HTTP: every route in one list, thin handlers, and the middleware that gives every
//! response a request id, a metrics sample and (for errors) a problem+json body.
//!
//! This module knows actix and no SQL: handlers call domain functions through `db::run`.

mod acting;
pub mod auth;
pub mod body_deadline;
pub mod booking;
mod booking_operator;
mod browser;
mod cie;
mod cie_saml;
mod cns;
mod codice_fiscale;
pub mod connection;
pub mod delegation;
mod delegation_operator;
pub mod json_depth;
mod login;
pub mod metrics;
pub(crate) mod multipart;
pub mod object;
pub(crate) mod oidc;
mod operators;
mod ops;
mod pages;
mod pin;
mod pin_operator;
pub mod problems;
pub mod request_id;
pub mod server;
mod spid;
mod webmeeting;

pub use cns::listener_app as cns_listener_app;

use crate::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, guard, web};

/// Declares the routes once: `configure` registers them, `ROUTES` lists them (the OpenAPI
/// test compares that list with openapi.yaml), and each path answers other methods with a
/// 405 problem naming the allowed ones.
macro_rules! routes {
    ($( $path:literal => { $( $method:ident : $handler:path ),+ $(,)? } ),* $(,)?) => {
        /// Every (method, path) served, in the path syntax of OpenAPI.
        pub const ROUTES: &[(&str, &str)] = &[ $( $( (stringify!($method), $path), )+ )* ];

        /// Registers every route; used by `serve` and by the tests alike.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $( .route(route_for(Method::$method).to($handler)) )+
                        .default_service(web::to(|req: actix_web::HttpRequest| problems::method_not_allowed(req, &[ $( stringify!($method) ),+ ]))),
                );
            )*
        }
    };
}

routes! {
    "/healthz" => { GET: ops::healthz },
    "/readyz" => { GET: ops::readyz },
    "/metrics" => { GET: ops::metrics },
    "/v1/codice-fiscale/check" => { POST: codice_fiscale::check },
    // OpenID Connect provider
    "/.well-known/openid-configuration" => { GET: oidc::discovery },
    "/.well-known/oauth-authorization-server" => { GET: oidc::authorization_server_metadata },
    "/jwks.json" => { GET: oidc::jwks },
    "/authorize" => { GET: oidc::authorize, POST: oidc::authorize },
    "/token" => { POST: oidc::token },
    "/userinfo" => { GET: oidc::userinfo, POST: oidc::userinfo },
    "/introspect" => { POST: oidc::introspect },
    "/revoke" => { POST: oidc::revoke },
    "/logout" => { GET: oidc::logout, POST: oidc::logout },
    // Login page and methods
    "/login" => { GET: login::page },
    "/pin/login" => { GET: crate::web::pin_self::login_form_reopened, POST: login::pin_login },
    "/pin/change" => { GET: crate::web::pin_self::login_form_reopened, POST: login::pin_change },
    // Citizen pages (HTML): the personal area, PIN self-service, delegations, acting for
    "/" => { GET: crate::web::area::landing },
    "/static/{file}" => { GET: crate::web::asset },
    "/uscita" => { GET: crate::web::area::logout_outcome },
    "/area-personale" => { GET: crate::web::area::home },
    "/area-personale/accesso" => { GET: crate::web::area::callback },
    "/area-personale/pin" => { GET: crate::web::pin_self::revoke_form, POST: crate::web::pin_self::revoke_submit },
    "/area-personale/deleghe" => { GET: crate::web::delegations::show, POST: crate::web::delegations::register },
    "/area-personale/deleghe/minore" => { POST: crate::web::delegations::register_minor },
    "/area-personale/deleghe/{id}/revoca" => { POST: crate::web::delegations::revoke },
    "/area-personale/deleghe/{id}/rinuncia" => { POST: crate::web::delegations::renounce },
    "/agisci-per-conto-di" => { GET: crate::web::acting::show, POST: crate::web::acting::choose },
    "/pin/richiesta" => { GET: crate::web::pin_self::request_form, POST: crate::web::pin_self::request_submit },
    "/pin/richiesta/esito" => { GET: crate::web::pin_self::request_result },
    "/pin/recupero" => { GET: crate::web::pin_self::recovery_form, POST: crate::web::pin_self::recovery_submit },
    "/pin/recupero/esito" => { GET: crate::web::pin_self::recovery_result },
    // Operator console (HTML; login through procura's broker as a confidential client)
    "/console" => { GET: crate::web::console::home::home },
    "/console/accesso" => { GET: crate::web::console::login::callback },
    "/console/esci" => { POST: crate::web::console::login::logout },
    "/console/uscita" => { GET: crate::web::console::login::logged_out },
    "/console/contact-center" => { GET: crate::web::console::contact_center::queue },
    "/console/contact-center/richieste/{id}" => { GET: crate::web::console::contact_center::show },
    "/console/contact-center/richieste/{id}/prendi" => { POST: crate::web::console::contact_center::claim },
    "/console/contact-center/richieste/{id}/esito" => { POST: crate::web::console::contact_center::outcome },
    "/console/contact-center/richieste/{id}/rilascia" => { POST: crate::web::console::contact_center::release },
    "/console/contact-center/pin-telefonico" => { GET: crate::web::console::cc_phone::show, POST: crate::web::console::cc_phone::check },
    "/console/contact-center/richiesta-telefonica" => { GET: crate::web::console::cc_inbound::show, POST: crate::web::console::cc_inbound::submit },
    "/console/contact-center/prenotazioni" => { GET: crate::web::console::cc_booking::show, POST: crate::web::console::cc_booking::book },
    "/console/sportello" => { GET: crate::web::console::desk::show },
    "/console/sportello/pin" => { POST: crate::web::console::desk::issue },
    "/console/sportello/deleghe" => { GET: crate::web::console::desk_delegations::show, POST: crate::web::console::desk_delegations::register },
    "/console/sportello/deleghe/{id}/verifica" => { POST: crate::web::console::desk_delegations::verify },
    "/console/amministrazione" => { GET: crate::web::console::admin::home },
    "/console/amministrazione/operatori" => { GET: crate::web::console::admin_operators::show, POST: crate::web::console::admin_operators::add },
    "/console/amministrazione/operatori/{id}/ruoli" => { POST: crate::web::console::admin_operators::roles },
    "/console/amministrazione/operatori/{id}/disattiva" => { POST: crate::web::console::admin_operators::disable },
    "/console/amministrazione/operatori/{id}/riattiva" => { POST: crate::web::console::admin_operators::enable },
    "/console/amministrazione/client" => { GET: crate::web::console::admin_clients::show, POST: crate::web::console::admin_clients::add },
    "/console/amministrazione/client/{id}/rimuovi" => { POST: crate::web::console::admin_clients::remove },
    "/console/amministrazione/client/{id}/segreto" => { POST: crate::web::console::admin_clients::rotate },
    "/console/amministrazione/registro" => { GET: crate::web::console::admin_audit::show },
    "/console/amministrazione/registro/verifica" => { POST: crate::web::console::admin_audit::verify },
    "/console/amministrazione/spid" => { GET: crate::web::console::admin_spid::show },
    "/console/amministrazione/spid/aggiorna" => { POST: crate::web::console::admin_spid::refresh },
    "/console/sportello/deleghe/{id}/revoca" => { POST: crate::web::console::desk_person::revoke },
    "/console/sportello/persona" => { GET: crate::web::console::desk_person::show },
    "/console/web-meeting" => { GET: crate::web::console::web_meeting::list },
    "/console/web-meeting/prenotazioni/{id}" => { GET: crate::web::console::web_meeting::show },
    "/console/web-meeting/prenotazioni/{id}/prendi" => { POST: crate::web::console::web_meeting::take },
    "/console/web-meeting/prenotazioni/{id}/consenso" => { POST: crate::web::console::web_meeting::consent },
    "/console/web-meeting/prenotazioni/{id}/identita" => { POST: crate::web::console::web_meeting::identity },
    "/console/web-meeting/prenotazioni/{id}/documenti" => { POST: crate::web::console::web_meeting::documents },
    "/console/web-meeting/prenotazioni/{id}/completa" => { POST: crate::web::console::web_meeting::finish },
    "/console/web-meeting/prenotazioni/{id}/chiudi" => { POST: crate::web::console::web_meeting::close },
    // SPID service provider
    "/spid/metadata" => { GET: spid::metadata },
    "/spid/login" => { GET: spid::login },
    "/spid/acs" => { POST: spid::acs },
    "/spid/slo" => { GET: spid::slo, POST: spid::slo },
    // CNS (card certificate on the CNS host, then back to procura's host)
    "/cns/login" => { GET: cns::login },
    "/cns/complete" => { GET: cns::complete },
    // CIE OpenID Connect relying party (OpenID Federation)
    "/.well-known/openid-federation" => { GET: cie::entity_configuration },
    "/cie/login" => { GET: cie::login },
    "/cie/callback" => { GET: cie::callback },
    // CIE SAML service provider (the SPID code with the CIE profile)
    "/cie/saml/metadata" => { GET: cie_saml::metadata },
    "/cie/saml/login" => { GET: cie_saml::login },
    "/cie/saml/acs" => { POST: cie_saml::acs },
    "/cie/saml/slo" => { GET: cie_saml::slo, POST: cie_saml::slo },
    // Operator API (bearer token, scope `operator`, an active operator)
    "/v1/operator/me" => { GET: operators::me },
    "/v1/operator/operators" => { GET: operators::list, POST: operators::add },
    "/v1/operator/operators/{id}/disable" => { POST: operators::disable },
    // PIN issuance
    "/v1/pin/requests" => { POST: pin::request_online },
    "/v1/pin/recovery" => { POST: pin::recover },
    "/v1/me/pin/revoke" => { POST: pin::revoke_own },
    "/v1/me/phone-pin" => { POST: pin::create_phone_pin },
    // PIN issuance by operators
    "/v1/operator/pin/desk" => { POST: pin_operator::desk },
    "/v1/operator/pin/inbound" => { POST: pin_operator::inbound },
    "/v1/operator/pin/queue" => { GET: pin_operator::queue },
    "/v1/operator/pin/requests/{id}" => { GET: pin_operator::show },
    "/v1/operator/pin/requests/{id}/claim" => { POST: pin_operator::claim },
    "/v1/operator/pin/requests/{id}/release" => { POST: pin_operator::release },
    "/v1/operator/pin/requests/{id}/outcome" => { POST: pin_operator::outcome },
    "/v1/operator/pin/revoke" => { POST: pin_operator::revoke },
    "/v1/operator/pin/phone-check" => { POST: pin_operator::phone_check },
    // Delegations (citizens)
    "/v1/delegations" => { POST: delegation::create },
    "/v1/delegations/minor" => { POST: delegation::create_for_minor },
    "/v1/delegations/given" => { GET: delegation::given },
    "/v1/delegations/{id}/revoke" => { POST: delegation::revoke },
    "/v1/delegations/{id}/renounce" => { POST: delegation::renounce },
    // Delegations (operators)
    "/v1/operator/delegations" => { GET: delegation_operator::lookup, POST: delegation_operator::register },
    "/v1/operator/delegations/pending" => { GET: delegation_operator::pending },
    "/v1/operator/delegations/{id}/verify" => { POST: delegation_operator::verify },
    "/v1/operator/delegations/{id}/revoke" => { POST: delegation_operator::revoke },
    // Acting on behalf
    "/v1/delegations/acting-for" => { GET: acting::acting_for },
    "/v1/access/check" => { POST: acting::check },
    // Desk bookings and the web meeting (citizens; desks and calendars need no login)
    "/v1/desks" => { GET: booking::desks },
    "/v1/desks/{id}" => { GET: booking::desk },
    "/v1/desks/{id}/calendar" => { GET: booking::calendar },
    "/v1/desks/{id}/slots" => { GET: booking::slots },
    "/v1/bookings" => { GET: booking::list, POST: booking::hold },
    "/v1/bookings/{id}" => { GET: booking::show },
    "/v1/bookings/{id}/confirm" => { POST: booking::confirm },
    "/v1/bookings/{id}/cancel" => { POST: booking::cancel },
    "/v1/bookings/{id}/join" => { POST: webmeeting::join },
    "/v1/guest-bookings" => { POST: booking::guest_hold },
    "/v1/guest-bookings/{id}" => { GET: booking::guest_show },
    "/v1/guest-bookings/{id}/confirm" => { POST: booking::guest_confirm },
    "/v1/guest-bookings/{id}/cancel" => { POST: booking::guest_cancel },
    // Desks and bookings (operators)
    "/v1/operator/desks" => { POST: booking_operator::create_desk },
    "/v1/operator/desks/{id}/active" => { POST: booking_operator::set_active },
    "/v1/operator/desks/{id}/closures" => { POST: booking_operator::add_closure },
    "/v1/operator/desks/{id}/closures/{closure_id}" => { DELETE: booking_operator::remove_closure },
    "/v1/operator/desks/{id}/duty" => { GET: booking_operator::duty, PUT: booking_operator::set_duty },
    "/v1/operator/bookings" => { GET: booking_operator::lookup, POST: booking_operator::book_by_phone },
    "/v1/operator/bookings/{id}/cancel" => { POST: booking_operator::cancel },
    "/v1/operator/web-meetings" => { GET: webmeeting::today },
    "/v1/operator/web-meetings/{id}" => { GET: webmeeting::show },
    "/v1/operator/web-meetings/{id}/take" => { POST: webmeeting::take },
    "/v1/operator/web-meetings/{id}/identity" => { POST: webmeeting::identity_check },
    "/v1/operator/web-meetings/{id}/consent" => { POST: webmeeting::consent },
    "/v1/operator/web-meetings/{id}/documents" => { POST: webmeeting::documents },
    "/v1/operator/web-meetings/{id}/complete" => { POST: webmeeting::complete },
    "/v1/operator/web-meetings/{id}/close" => { POST: webmeeting::close },
}

/// A route for `method`; GET routes answer HEAD too (probes and caches use it), as HTTP
/// expects of every GET resource.
fn route_for(method: Method) -> actix_web::Route {
    if method == Method::GET {
        web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
    } else {
        web::method(method)
    }
}

/// The whole application as `serve` runs it: state, routes, extractor error handlers,
/// and middleware.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let body_limit = state.config.server.body_limit_bytes;
    let body_timeouts = body_deadline::BodyTimeouts::from_config(&state.config.server);
    let metrics = state.metrics.clone();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(problems::json_config(body_limit))
        .app_data(web::PayloadConfig::new(body_limit))
        .app_data(problems::path_config())
        .app_data(problems::query_config())
        .configure(configure)
        .default_service(web::to(problems::not_found))
        .wrap(ErrorHandlers::new().default_handler(problems::safety_net))
        .wrap(from_fn(move |req, next| {
            metrics::observe(metrics.clone(), req, next)
        }))
        .wrap(from_fn(request_id::middleware))
        .wrap(from_fn(move |req, next| {
            body_deadline::middleware(body_timeouts, req, next)
        }))
}
