//! The pages, one askama template each (under `templates/`), with the data they draw.

use super::forms::Field;
use super::{Link, Shell};
use askama::Template;

/// An error, or a result with a way forward: what happened, what to do next, and the
/// contact centre (shown by the footer of every page, and here in the text).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub shell: Shell<'a>,
    /// `danger` for errors, `success`, `info`, `warning`.
    pub tone: &'static str,
    pub paragraphs: Vec<String>,
    pub reference: Option<String>,
    pub next: Vec<Link>,
    /// Whether to name the contact centre in the text (errors do).
    pub contact: bool,
}

/// One "Entra con CIE" link.
pub struct CieEntry {
    pub href: String,
    pub label: String,
}

/// One login method on the login page, in `login.methods` order.
pub enum MethodBlock {
    Spid(SpidButton),
    /// "Entra con CIE": one link per configured CIE provider, each starting its login.
    Cie {
        entries: Vec<CieEntry>,
        info_url: String,
    },
    /// "Entra con CNS".
    Cns {
        href: String,
    },
    Pin(PinForm),
}

/// AgID's "Entra con SPID" button: the identity providers in random order, with their
/// logos when their metadata has one, and the three help links.
pub struct SpidButton {
    pub idps: Vec<IdpEntry>,
    pub request_url: String,
    pub info_url: String,
    pub help_url: String,
}

pub struct IdpEntry {
    pub href: String,
    pub name: String,
    pub logo: Option<String>,
}

pub struct PinForm {
    pub flow: String,
    pub csrf: String,
    pub fields: Vec<Field>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub shell: Shell<'a>,
    pub client_name: String,
    pub methods: Vec<MethodBlock>,
    pub errors: Vec<(String, String)>,
    /// Methods on here that cannot give the level the service asks for (by name).
    pub too_weak: Vec<&'static str>,
    /// No enabled method can give that level: how to go back to the service, and what to get.
    pub unmet: Option<Unmet>,
}

pub struct Unmet {
    pub level_text: String,
    pub back_to_service: Option<String>,
    pub spid_request_url: String,
}

#[derive(Template)]
#[template(path = "pin_change.html")]
pub struct PinChangePage<'a> {
    pub shell: Shell<'a>,
    pub flow: String,
    pub csrf: String,
    pub why: String,
    pub errors: Vec<(String, String)>,
    pub fields: Vec<Field>,
}

#[derive(Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage<'a> {
    pub shell: Shell<'a>,
    pub csrf: String,
    pub carried: Vec<(String, String)>,
}

/// The HTTP-POST binding page: a form to the IdP that submits itself (its one script is
/// allowed by hash), with a button for browsers without JavaScript.
#[derive(Template)]
#[template(path = "auto_post.html")]
pub struct AutoPostPage<'a> {
    pub shell: Shell<'a>,
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub script: &'static str,
}

/// A form page of the self-service (PIN request, recovery, revocation, delegations).
#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage<'a> {
    pub shell: Shell<'a>,
    pub intro: Vec<String>,
    pub action: String,
    pub csrf: String,
    pub errors: Vec<(String, String)>,
    pub sections: Vec<FormSection>,
    pub submit: String,
    pub after: Vec<Link>,
}

/// A group of fields with an optional heading.
pub struct FormSection {
    pub heading: Option<String>,
    pub text: Option<String>,
    pub fields: Vec<Field>,
}

/// The personal area's home page.
#[derive(Template)]
#[template(path = "area.html")]
pub struct AreaPage<'a> {
    pub shell: Shell<'a>,
    pub notice: Option<(&'static str, String)>,
    pub method: String,
    pub links: Vec<(Link, String)>,
}

/// A delegation as its parties see it in "Le mie deleghe".
pub struct DelegationRow {
    pub id: String,
    pub other_name: String,
    pub other_cf: String,
    pub kind: String,
    pub status: String,
    pub since: String,
    pub until: String,
    /// The action offered (revoke, renounce) or why none is.
    pub action: RowAction,
}

pub enum RowAction {
    None,
    Revoke,
    RevokeFrom(String),
    Renounce,
}

#[derive(Template)]
#[template(path = "delegations.html")]
pub struct DelegationsPage<'a> {
    pub shell: Shell<'a>,
    pub notice: Option<(&'static str, String)>,
    pub csrf: String,
    pub given: Vec<DelegationRow>,
    pub received: Vec<DelegationRow>,
    /// The registration form, or (login level too low) the step-up link.
    pub register: Option<FormSection>,
    pub minor: Option<FormSection>,
    pub step_up: Option<Link>,
    pub errors: Vec<(String, String)>,
    pub online_min_days: String,
}

/// "Agisci per conto di": whom the person may act for now.
#[derive(Template)]
#[template(path = "acting.html")]
pub struct ActingPage<'a> {
    pub shell: Shell<'a>,
    pub csrf: String,
    /// The relying party that asked, if any (then the choice goes back to it).
    pub client_name: Option<String>,
    pub hidden: Vec<(String, String)>,
    pub people: Vec<ActingChoice>,
}

pub struct ActingChoice {
    pub delegation_id: String,
    pub name: String,
    pub cf_masked: String,
    pub kind: String,
    pub until: String,
}
