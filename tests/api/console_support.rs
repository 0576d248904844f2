//! Fixtures for the operator-console tests: operators (persons with a PIN dispositivo and an
//! operator record), and a cookie-keeping client that logs in through the broker exactly as
//! a browser would (redirects looked at one by one).

use crate::helpers::TestApp;
use crate::oidc_support::*;
use procura::audit::Party;
use procura::operator::{self, Acting, NewOperator, Operator};
use procura::person::CodiceFiscale;
use procura::pin::PinType;

/// A person with [`PERSONAL_PIN`] (dispositivo) who is an operator with `roles`.
pub async fn operator_with_pin(
    app: &TestApp,
    code: &CodiceFiscale,
    given: &str,
    family: &str,
    roles: &[&str],
) -> Operator {
    add_person(app, code, given, family).await;
    give_pin(app, code, PERSONAL_PIN, PinType::Dispositivo, false).await;
    let new = NewOperator {
        codice_fiscale: code.as_str().to_owned(),
        display_name: format!("{given} {family}"),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        office: Some("Roma Centro".into()),
    };
    app.with_db(move |conn, key, now| {
        operator::add(conn, key, &new, &Acting::new(Party::system()), now).unwrap()
    })
    .await
}

/// Follows one redirect of `resp` (a path of procura or a full URL) with GET.
pub async fn follow(
    b: &reqwest::Client,
    base: &str,
    resp: &reqwest::Response,
) -> reqwest::Response {
    let loc = location(resp);
    let url = if loc.starts_with("http") {
        loc
    } else {
        format!("{base}{loc}")
    };
    b.get(url).send().await.unwrap()
}

/// Opens `path` of the console in `b` without a session, logs in with the PIN form, and
/// returns the broker's redirect to `/console/accesso` (not yet followed).
pub async fn console_login_redirect(
    live: &LiveApp,
    b: &reqwest::Client,
    path: &str,
    code: &CodiceFiscale,
) -> reqwest::Response {
    let start = b.get(format!("{}{path}", live.base)).send().await.unwrap();
    assert_eq!(start.status(), 303, "{}", start.text().await.unwrap());
    let authorize = location(&start);
    assert!(authorize.starts_with("/authorize?"), "{authorize}");
    let (_, page) = open_login_page(b, &live.base, &format!("{}{authorize}", live.base)).await;
    post_form(
        b,
        &live.base,
        "/pin/login",
        &page,
        &[("codice_fiscale", code.as_str()), ("pin", PERSONAL_PIN)],
    )
    .await
}

/// Logs `code` in to the console in `b`; returns the page at `path` after the login.
pub async fn console_login(
    live: &LiveApp,
    b: &reqwest::Client,
    path: &str,
    code: &CodiceFiscale,
) -> String {
    let back = console_login_redirect(live, b, path, code).await;
    assert_eq!(back.status(), 303, "{}", back.text().await.unwrap());
    assert!(
        location(&back).contains("/console/accesso?"),
        "{}",
        location(&back)
    );
    let landed = follow(b, &live.base, &back).await;
    assert_eq!(landed.status(), 303, "{}", landed.text().await.unwrap());
    assert_eq!(location(&landed), path);
    let page = follow(b, &live.base, &landed).await;
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

/// A PIN request for `code` (in the registry as Via Roma 1) that fails the address check and
/// waits in the contact centre's queue; returns its id.
pub async fn queued_pin_request(
    live: &LiveApp,
    code: &CodiceFiscale,
    given: &str,
    family: &str,
) -> String {
    let form = serde_json::json!({
        "codice_fiscale": code.as_str(),
        "given_name": given,
        "family_name": family,
        "birth_date": code.birth_date(chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()).to_string(),
        "address": "Via Milano 3",
        "postal_code": "00100",
        "municipality": "Roma",
        "province": "RM",
        "mobile": "333 123 4567",
        "email": "persona@example.it",
        "first_half_channel": "sms",
    });
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/pin/requests", live.base))
        .json(&form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 202, "{body}");
    let holder = code.as_str().to_owned();
    live.app
        .with_db(move |c, _, _| {
            use diesel::prelude::*;
            use procura::db::schema::pin_requests;
            pin_requests::table
                .filter(pin_requests::codice_fiscale.eq(holder))
                .select(pin_requests::id)
                .first::<String>(c)
                .unwrap()
        })
        .await
}

/// The page's `csrf` field, and a POST of `fields` with it.
pub async fn post_console(
    live: &LiveApp,
    b: &reqwest::Client,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = input_value(page, "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post(format!("{}{path}", live.base))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// A multipart body of `fields` and PDF `files`, as a browser sends a form: (content type, body).
pub fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "console-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A person's codice fiscale from its first fifteen characters (the check character computed).
pub fn person(first15: &str) -> CodiceFiscale {
    CodiceFiscale::parse(&crate::persons_import::cf(first15)).unwrap()
}

/// A document the upload checks take for a PDF.
pub use crate::booking_support::PDF;

/// The error drawn beside `field` (its `<p id="f-…-errore">`), or panics.
#[track_caller]
pub fn error_beside(page: &str, field: &str) -> String {
    let id = format!("id=\"f-{field}-errore\"");
    let at = page
        .find(&id)
        .unwrap_or_else(|| panic!("no error beside {field}:\n{page}"));
    let rest = &page[at..];
    let end = rest.find("</p>").unwrap();
    rest[..end].to_owned()
}
