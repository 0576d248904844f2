//! HTTP: every route in one list, thin handlers, and the middleware that gives every
//! response a request id, a metrics sample and (for errors) a problem+json body.
//!
//! This module knows actix and no SQL: handlers call domain functions through `db::run`.

mod acting;
pub mod auth;
mod browser;
mod cie;
mod codice_fiscale;
mod delegation;
mod delegation_operator;
mod login;
pub mod metrics;
mod multipart;
mod oidc;
mod operators;
mod ops;
mod pages;
mod pin;
mod pin_operator;
pub mod problems;
pub mod request_id;
mod spid;

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
                        .default_service(web::to(|| problems::method_not_allowed(&[ $( stringify!($method) ),+ ]))),
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
    "/jwks.json" => { GET: oidc::jwks },
    "/authorize" => { GET: oidc::authorize, POST: oidc::authorize },
    "/token" => { POST: oidc::token },
    "/userinfo" => { GET: oidc::userinfo, POST: oidc::userinfo },
    "/introspect" => { POST: oidc::introspect },
    "/revoke" => { POST: oidc::revoke },
    "/logout" => { GET: oidc::logout, POST: oidc::logout },
    // Login page and methods
    "/login" => { GET: login::page },
    "/pin/login" => { POST: login::pin_login },
    "/pin/change" => { POST: login::pin_change },
    // SPID service provider
    "/spid/metadata" => { GET: spid::metadata },
    "/spid/login" => { GET: spid::login },
    "/spid/acs" => { POST: spid::acs },
    "/spid/slo" => { GET: spid::slo, POST: spid::slo },
    // CIE OpenID Connect relying party (OpenID Federation)
    "/.well-known/openid-federation" => { GET: cie::entity_configuration },
    "/cie/login" => { GET: cie::login },
    "/cie/callback" => { GET: cie::callback },
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
}
