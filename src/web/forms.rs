//! Forms as the pages draw them and read them back: fields with their error next to them
//! (`aria-invalid`, `aria-describedby`), the error summary, CSRF tokens for forms used
//! without a login (double submit: a cookie and the same value in the form), and the
//! one-shot result cookie of Post/Redirect/Get.
//!
//! Post/Redirect/Get: a form that succeeds answers 303 to a result page (reloading it does not
//! resend anything); a form with errors is drawn again in the answer to its POST (422), with
//! what was typed — except secrets, which are never sent back nor kept anywhere.

use crate::AppState;
use crate::oauth::params::Params;
use crate::oauth::token_hash;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::{HttpRequest, HttpResponse};

/// The cookie holding the CSRF token of forms used without a login.
pub const FORM_COOKIE: &str = "procura_form";
/// The cookie carrying a form's result to the page after the redirect (read once).
pub const RESULT_COOKIE: &str = "procura_esito";

/// A choice of a radio group.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

/// One form field as drawn: label, input, hint and error, tied together by ids.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub label: String,
    /// text | password | email | tel | date | radio | checkbox
    pub kind: &'static str,
    pub value: String,
    pub hint: Option<String>,
    pub error: Option<String>,
    pub autocomplete: &'static str,
    pub required: bool,
    pub maxlength: u32,
    pub inputmode: &'static str,
    pub uppercase: bool,
    pub choices: Vec<Choice>,
}

impl Field {
    pub fn new(name: &'static str, label: impl Into<String>, kind: &'static str) -> Self {
        Self {
            name,
            label: label.into(),
            kind,
            value: String::new(),
            hint: None,
            error: None,
            autocomplete: "off",
            required: true,
            maxlength: 200,
            inputmode: "",
            uppercase: false,
            choices: Vec::new(),
        }
    }

    pub fn text(name: &'static str, label: impl Into<String>) -> Self {
        Self::new(name, label, "text")
    }

    /// A codice fiscale input: 16 characters, upper-case, no spell check.
    pub fn codice_fiscale(name: &'static str, label: impl Into<String>) -> Self {
        let mut f = Self::text(name, label);
        f.maxlength = 16;
        f.uppercase = true;
        f.hint = Some("16 caratteri, come sulla tessera sanitaria.".into());
        f
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn autocomplete(mut self, a: &'static str) -> Self {
        self.autocomplete = a;
        self
    }

    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    pub fn maxlength(mut self, n: u32) -> Self {
        self.maxlength = n;
        self
    }

    pub fn inputmode(mut self, m: &'static str) -> Self {
        self.inputmode = m;
        self
    }

    pub fn choices(mut self, choices: Vec<Choice>) -> Self {
        self.choices = choices;
        self
    }

    /// The value typed (kept when the form is drawn again; never for passwords).
    pub fn value(mut self, v: impl Into<String>) -> Self {
        if self.kind != "password" {
            self.value = v.into();
        }
        self
    }

    pub fn id(&self) -> String {
        format!("f-{}", self.name.replace('.', "-"))
    }

    /// The ids that describe the input: its hint and its error, when present.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-aiuto", self.id()));
        }
        if self.error.is_some() {
            ids.push(format!("{}-errore", self.id()));
        }
        ids.join(" ")
    }

    pub fn is_checked(&self, value: &str) -> bool {
        self.value == value
    }
}

/// The errors of a submitted form, field by field (in the order the fields appear).
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    pub items: Vec<(String, String)>,
}

impl FormErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        if !self.items.iter().any(|(f, _)| f == field) {
            self.items.push((field.to_owned(), message.into()));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The error of `field`, if any (for forms drawn by hand).
    pub fn get(&self, field: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Puts each error on its field; errors of fields not drawn stay in the summary only.
    pub fn apply(&self, fields: &mut [Field]) {
        for f in fields.iter_mut() {
            f.error = self
                .items
                .iter()
                .find(|(name, _)| name == f.name)
                .map(|(_, m)| m.clone());
        }
    }

    /// (anchor, message) pairs for the summary at the top of the form.
    pub fn summary(&self) -> Vec<(String, String)> {
        self.items
            .iter()
            .map(|(f, m)| {
                let anchor = if f.is_empty() {
                    String::new()
                } else {
                    format!("#f-{}", f.replace('.', "-"))
                };
                (anchor, m.clone())
            })
            .collect()
    }
}

/// A form body (application/x-www-form-urlencoded); unreadable bodies read as empty.
pub fn body(bytes: &[u8]) -> Params {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(Params::parse)
        .unwrap_or_default()
}

fn secure(state: &AppState) -> bool {
    state.config.oauth.issuer.starts_with("https://")
}

/// The CSRF token for an anonymous form: the browser's, or a new one to set.
pub fn csrf_token(req: &HttpRequest) -> (String, bool) {
    match req
        .cookie(FORM_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 43)
    {
        Some(t) => (t, false),
        None => (token_hash::new_token().unwrap_or_default(), true),
    }
}

/// Sets the form cookie on `resp` when `new`.
pub fn set_csrf_cookie(state: &AppState, resp: &mut HttpResponse, token: &str, new: bool) {
    if !new || token.is_empty() {
        return;
    }
    let c = Cookie::build(FORM_COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .finish();
    let _ = resp.add_cookie(&c);
}

/// Whether the form's `csrf` field matches the browser's form cookie.
pub fn csrf_ok(req: &HttpRequest, form: &Params) -> bool {
    match (req.cookie(FORM_COOKIE), form.get("csrf")) {
        (Some(c), Some(sent)) if c.value().len() == 43 => {
            token_hash::eq(c.value().as_bytes(), sent.as_bytes())
        }
        _ => false,
    }
}

/// A form's result, carried to the page after the redirect: `key` names a fixed text, and
/// `reference` (letters, digits, `-`) is shown beside it. Not secret and not signed: a person
/// editing it only changes what they themselves read.
pub fn result_cookie(state: &AppState, key: &str, reference: Option<&str>) -> Cookie<'static> {
    let value = match reference {
        Some(r) => format!("{key}.{r}"),
        None => key.to_owned(),
    };
    let mut c = Cookie::build(RESULT_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .finish();
    c.set_max_age(time::Duration::minutes(10));
    c
}

/// The result a form left for this page (key, reference), if any.
pub fn read_result(req: &HttpRequest) -> Option<(String, Option<String>)> {
    let c = req.cookie(RESULT_COOKIE)?;
    let v = c.value();
    if v.len() > 80
        || !v
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.' || ch == '_')
    {
        return None;
    }
    Some(match v.split_once('.') {
        Some((k, r)) => (k.to_owned(), Some(r.to_owned())),
        None => (v.to_owned(), None),
    })
}

/// Removes the result cookie (it is shown once).
pub fn clear_result(state: &AppState, resp: &mut HttpResponse) {
    let mut c = result_cookie(state, "", None);
    c.make_removal();
    let _ = resp.add_cookie(&c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_sit_on_their_fields() {
        let mut fields = vec![
            Field::codice_fiscale("codice_fiscale", "Codice fiscale"),
            Field::new("pin", "PIN", "password").value("secret"),
        ];
        assert_eq!(fields[1].value, "", "a password is never drawn back");
        let mut errors = FormErrors::default();
        errors.add("pin", "Sbagliato.");
        errors.add("pin", "Doppio.");
        errors.apply(&mut fields);
        assert_eq!(fields[0].error, None);
        assert_eq!(fields[1].error.as_deref(), Some("Sbagliato."));
        assert_eq!(fields[1].described_by(), "f-pin-errore");
        assert_eq!(fields[0].described_by(), "f-codice_fiscale-aiuto");
        assert_eq!(errors.summary()[0].0, "#f-pin");
    }
}
