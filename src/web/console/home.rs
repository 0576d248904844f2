//! `GET /console`: the start page — who is logged in, with which roles, and the sections
//! those roles open.

use super::{guard, render};
use crate::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage<'a> {
    frame: super::Frame<'a>,
    name: String,
    office: Option<String>,
    roles: String,
    sections: Vec<crate::web::Link>,
    idle_minutes: u64,
}

/// The Italian name of a role.
pub fn role_name(r: crate::operator::Role) -> &'static str {
    use crate::operator::Role;
    match r {
        Role::Sportello => "sportello",
        Role::ContactCenter => "contact center",
        Role::WebMeeting => "web meeting",
        Role::Admin => "amministrazione",
    }
}

pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let desk = match guard::require(&state, &req, None).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let roles: Vec<&str> = desk.roles.iter().map(|r| role_name(*r)).collect();
    render(
        StatusCode::OK,
        &HomePage {
            frame: desk.frame(&state, "Console operatori", "/console"),
            name: desk.operator.display_name.clone(),
            office: desk.operator.office.clone(),
            roles: if roles.is_empty() {
                "nessuno".into()
            } else {
                roles.join(", ")
            },
            sections: desk.sections(),
            idle_minutes: state.config.operator.console_idle_timeout_secs.div_ceil(60),
        },
    )
}
