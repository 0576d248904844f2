//! `POST /v1/codice-fiscale/check`: what the codice fiscale a citizen typed encodes, or the
//! precise reason (in Italian) it is not valid. Forms use it before submitting.

use crate::AppState;
use crate::error::ApiError;
use crate::person::CodiceFiscale;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use validator::Validate;

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    #[validate(length(min = 1, max = 64, message = "indicare il codice fiscale"))]
    pub codice_fiscale: String,
}

#[derive(Debug, Serialize)]
pub struct CheckResponse {
    pub codice_fiscale: CodiceFiscale,
    pub sex: crate::person::Sex,
    pub birth_date: chrono::NaiveDate,
    pub birth_place_code: String,
    pub born_abroad: bool,
    pub omocodic: bool,
}

pub async fn check(
    state: web::Data<AppState>,
    super::object::Json(body): super::object::Json<CheckRequest>,
) -> Result<HttpResponse, ApiError> {
    body.validate()?;
    let cf = CodiceFiscale::parse(&body.codice_fiscale)?;
    let today = state.clock.now().date_naive();
    Ok(HttpResponse::Ok().json(CheckResponse {
        sex: cf.sex(),
        birth_date: cf.birth_date(today),
        birth_place_code: cf.birth_place_code(),
        born_abroad: cf.is_born_abroad(),
        omocodic: cf.is_omocodic(),
        codice_fiscale: cf,
    }))
}
