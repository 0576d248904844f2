//! Administration: the operators — list, add with roles, change roles, disable, enable.
//!
//! The same domain functions as `/v1/operator/operators` and `procura operators`
//! (`operator::list_audited`, `add`, `set_roles`, `disable`, `enable`), audited with the
//! admin as actor. A disabled operator is out of the console on their next click (the
//! guard reads the record on every request).

use super::admin::{self, Notice, field};
use super::guard::Desk;
use super::home::role_name;
use super::{Frame, render, time_text, unavailable};
use crate::AppState;
use crate::db;
use crate::oauth::params::Params;
use crate::operator::{self, NewOperator, Operator, OperatorError, Role};
use crate::web::forms::FormErrors;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

pub const PATH: &str = "/console/amministrazione/operatori";

/// One role's checkbox.
struct RoleBox {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

fn role_boxes(checked: impl Fn(Role) -> bool) -> Vec<RoleBox> {
    Role::ALL
        .into_iter()
        .map(|r| RoleBox {
            value: r.as_str(),
            label: role_name(r),
            checked: checked(r),
        })
        .collect()
}

/// An operator as the list shows it.
struct Row {
    id: String,
    name: String,
    codice_fiscale: String,
    office: Option<String>,
    roles: Vec<RoleBox>,
    active: bool,
    /// "attivo dal …" / "disattivato il …".
    state: String,
    own: bool,
    /// The error of this operator's roles form.
    error: Option<String>,
}

/// What the add form holds.
#[derive(Default)]
struct AddForm {
    codice_fiscale: String,
    display_name: String,
    office: String,
    roles: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/admin_operators.html")]
struct OperatorsPage<'a> {
    frame: Frame<'a>,
    csrf: String,
    notice: Option<Notice>,
    rows: Vec<Row>,
    add: AddForm,
    add_roles: Vec<RoleBox>,
    errors: FormErrors,
}

/// Draws the page: every operator (the listing audited as the API audits it), the add form.
async fn page(
    state: &AppState,
    desk: &Desk,
    status: StatusCode,
    notice: Option<Notice>,
    add: AddForm,
    errors: FormErrors,
    row_error: Option<(String, String)>,
) -> HttpResponse {
    let (key, acting, now) = (state.audit_key.clone(), desk.acting(), state.clock.now());
    let all = match db::run(&state.db, move |c| {
        operator::list_audited(c, &key, &acting, now)
    })
    .await
    {
        Ok(all) => all,
        Err(e) => return unavailable(state, &e, "operator list"),
    };
    let rows = all
        .into_iter()
        .map(|o| row(state, desk, o, row_error.as_ref()))
        .collect();
    let add_roles = role_boxes(|r| add.roles.iter().any(|n| n == r.as_str()));
    render(
        status,
        &OperatorsPage {
            frame: desk.frame(state, "Amministrazione: operatori", admin::PATH),
            csrf: desk.session.csrf_token.clone(),
            notice,
            rows,
            add,
            add_roles,
            errors,
        },
    )
}

fn row(state: &AppState, desk: &Desk, o: Operator, error: Option<&(String, String)>) -> Row {
    let state_text = match (o.active, o.disabled_at) {
        (true, _) => format!("attivo dal {}", time_text(state, o.created_at)),
        (false, Some(t)) => format!("disattivato il {}", time_text(state, t)),
        (false, None) => "disattivato".to_owned(),
    };
    Row {
        roles: role_boxes(|r| o.has_role(r)),
        own: o.id == desk.operator.id,
        error: error.filter(|(id, _)| *id == o.id).map(|(_, m)| m.clone()),
        name: o.display_name,
        codice_fiscale: o.codice_fiscale.as_str().to_owned(),
        office: o.office,
        active: o.active,
        state: state_text,
        id: o.id,
    }
}

/// `GET /console/amministrazione/operatori`.
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match admin::require(&state, &req).await {
        Ok(desk) => {
            page(
                &state,
                &desk,
                StatusCode::OK,
                None,
                AddForm::default(),
                FormErrors::default(),
                None,
            )
            .await
        }
        Err(resp) => resp,
    }
}

/// The roles ticked in a form (`role_<name>` checkboxes).
fn ticked_roles(form: &Params) -> Vec<String> {
    Role::ALL
        .into_iter()
        .filter(|r| form.get(&format!("role_{}", r.as_str())).is_some())
        .map(|r| r.as_str().to_owned())
        .collect()
}

/// An operator error as the form shows it: (field, Italian text); `None` for a failure of
/// procura's own.
fn explain(e: &OperatorError) -> Option<(&'static str, String)> {
    Some(match e {
        OperatorError::CodiceFiscale(cf) => (
            "codice_fiscale",
            crate::web::italian::codice_fiscale_error(cf),
        ),
        OperatorError::InvalidName => (
            "display_name",
            "Scrivi il nome dell'operatore: da 1 a 200 caratteri.".to_owned(),
        ),
        OperatorError::InvalidOffice => (
            "office",
            "La sede può avere al massimo 100 caratteri.".to_owned(),
        ),
        OperatorError::NoRoles | OperatorError::UnknownRole(_) => {
            ("roles", "Scegli almeno un ruolo.".to_owned())
        }
        OperatorError::Exists(_) => (
            "codice_fiscale",
            "Questa persona è già un operatore (se è disattivato, riattivalo dall'elenco)."
                .to_owned(),
        ),
        OperatorError::NotFound(_) => ("", "L'operatore non esiste.".to_owned()),
        OperatorError::SelfDisable => ("", "Non puoi disattivare la tua utenza.".to_owned()),
        OperatorError::SelfDemote => (
            "roles",
            "Non puoi togliere a te stesso il ruolo di amministrazione.".to_owned(),
        ),
        OperatorError::Db(_) => return None,
    })
}

/// `POST /console/amministrazione/operatori` (`csrf`, `codice_fiscale`, `display_name`,
/// `office`, `role_<name>`): adds an operator, active at once.
pub async fn add(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let (desk, form) = match admin::require_form(&state, &req, &body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let typed = AddForm {
        codice_fiscale: field(&form, "codice_fiscale").to_uppercase(),
        display_name: field(&form, "display_name"),
        office: field(&form, "office"),
        roles: ticked_roles(&form),
    };
    let new = NewOperator {
        codice_fiscale: typed.codice_fiscale.clone(),
        display_name: typed.display_name.clone(),
        roles: typed.roles.clone(),
        office: Some(typed.office.clone()),
    };
    // Every field's error at once, before the database.
    let mut errors = FormErrors::default();
    if let Err(e) = crate::person::CodiceFiscale::parse(&new.codice_fiscale) {
        errors.add(
            "codice_fiscale",
            crate::web::italian::codice_fiscale_error(&e),
        );
    }
    // The other fields through the domain's own checks, one at a time (each beside valid
    // stand-ins, so every field gets its own error).
    let good = NewOperator {
        codice_fiscale: desk.operator.codice_fiscale.as_str().to_owned(),
        display_name: "x".into(),
        roles: vec![Role::Admin.as_str().into()],
        office: None,
    };
    let probes = [
        (
            "display_name",
            NewOperator {
                display_name: new.display_name.clone(),
                ..good.clone()
            },
        ),
        (
            "office",
            NewOperator {
                office: new.office.clone(),
                ..good.clone()
            },
        ),
        (
            "roles",
            NewOperator {
                roles: new.roles.clone(),
                ..good.clone()
            },
        ),
    ];
    for (name, probe) in probes {
        if let Err(e) = probe.validate()
            && let Some((_, text)) = explain(&e)
        {
            errors.add(name, text);
        }
    }
    let invalid = async |errors| {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        page(&state, &desk, status, None, typed, errors, None).await
    };
    if !errors.is_empty() {
        return invalid(errors).await;
    }
    let (key, acting, now) = (state.audit_key.clone(), desk.acting(), state.clock.now());
    let added = db::run(&state.db, move |c| {
        operator::add(c, &key, &new, &acting, now)
    })
    .await;
    match added {
        Ok(o) => {
            let text = format!(
                "{} è ora un operatore, con i ruoli: {}.",
                o.display_name,
                names(&o)
            );
            page(
                &state,
                &desk,
                StatusCode::OK,
                Notice::success(text),
                AddForm::default(),
                FormErrors::default(),
                None,
            )
            .await
        }
        Err(e) => {
            admin::refused_form(&state, &e, explain(&e), "operator add", errors, invalid).await
        }
    }
}

fn names(o: &Operator) -> String {
    o.roles
        .iter()
        .map(|r| role_name(*r))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to do to an operator.
#[derive(Clone, Copy)]
enum Change {
    Roles,
    Disable,
    Enable,
}

async fn change(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    id: String,
    what: Change,
) -> HttpResponse {
    let (desk, form) = match admin::require_form(&state, &req, &body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let roles = ticked_roles(&form);
    let (key, acting, now) = (state.audit_key.clone(), desk.acting(), state.clock.now());
    let target = id.clone();
    let done = db::run(&state.db, move |c| match what {
        Change::Roles => operator::set_roles(c, &key, &target, &roles, &acting, now),
        Change::Disable => operator::disable(c, &key, &target, &acting, now),
        Change::Enable => operator::enable(c, &key, &target, &acting, now),
    })
    .await;
    let (status, notice, row_error) = match done {
        Ok(o) => {
            let text = match what {
                Change::Roles => format!("Ruoli di {}: {}.", o.display_name, names(&o)),
                Change::Disable => format!(
                    "{} è disattivato: la sua sessione della console si chiude alla prossima \
                     richiesta.",
                    o.display_name
                ),
                Change::Enable => format!("{} è di nuovo attivo.", o.display_name),
            };
            (StatusCode::OK, Notice::success(text), None)
        }
        Err(e) => match (explain(&e), &e) {
            (Some((_, text)), OperatorError::NotFound(_)) => {
                (StatusCode::NOT_FOUND, Notice::refused(text), None)
            }
            (Some((_, text)), _) if matches!(what, Change::Roles) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Notice::refused("I ruoli non sono stati cambiati: vedi l'errore nell'elenco."),
                Some((id, text)),
            ),
            (Some((_, text)), _) => (StatusCode::CONFLICT, Notice::refused(text), None),
            (None, _) => return unavailable(&state, &e, "operator change"),
        },
    };
    page(
        &state,
        &desk,
        status,
        notice,
        AddForm::default(),
        FormErrors::default(),
        row_error,
    )
    .await
}

/// `POST /console/amministrazione/operatori/{id}/ruoli` (`csrf`, `role_<name>`).
pub async fn roles(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    id: web::Path<String>,
) -> HttpResponse {
    change(state, req, body, id.into_inner(), Change::Roles).await
}

/// `POST /console/amministrazione/operatori/{id}/disattiva` (`csrf`).
pub async fn disable(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    id: web::Path<String>,
) -> HttpResponse {
    change(state, req, body, id.into_inner(), Change::Disable).await
}

/// `POST /console/amministrazione/operatori/{id}/riattiva` (`csrf`).
pub async fn enable(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    id: web::Path<String>,
) -> HttpResponse {
    change(state, req, body, id.into_inner(), Change::Enable).await
}
