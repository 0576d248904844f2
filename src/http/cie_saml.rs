//! CIE SAML login ("Entra con CIE" through the CIE SAML IdP): the routes under `/cie/saml`,
//! served by the SPID SAML handlers with the CIE profile.

use super::spid;
use crate::AppState;
use crate::spid::profile::Profile;
use actix_web::{HttpRequest, HttpResponse, web};

/// GET /cie/saml/metadata: the signed CIE SP metadata, byte for byte as signed.
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    spid::serve_metadata(&state, Profile::Cie)
}

/// GET /cie/saml/login?idp=…[&flow=…]: sends the browser to the CIE IdP.
pub async fn login(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    spid::start_login(&state, &req, Profile::Cie).await
}

/// POST /cie/saml/acs: the CIE IdP's Response.
pub async fn acs(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    spid::consume(&state, &req, body, Profile::Cie).await
}

/// GET|POST /cie/saml/slo: a LogoutRequest from the CIE IdP.
pub async fn slo(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    spid::logout_message(&state, &req, body, Profile::Cie).await
}
