//! The contact centre's inbound phone request form (`/console/contact-center/richiesta-telefonica`):
//! the same domain function as `POST /v1/operator/pin/inbound`. Refused without the role or
//! the form's token; wrong fields said on the form; a caller whose data match the registry
//! gets the PIN at once (the first half shown to read); a mismatch queues the request; a
//! second request, and a person not in the registry, are refused.

use crate::console_support::*;
use crate::oidc_support::*;
use diesel::prelude::*;
use procura::db::schema::{audit_log, pin_requests};

const PATH: &str = "/console/contact-center/richiesta-telefonica";

fn caller<'a>(code: &'a str, birth: &'a str, address: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("codice_fiscale", code),
        ("given_name", "Anna"),
        ("family_name", "Verdi"),
        ("birth_date", birth),
        ("address", address),
        ("postal_code", "00100"),
        ("municipality", "Roma"),
        ("province", "RM"),
        ("mobile", "333 123 4567"),
        ("email", "anna@example.it"),
        ("first_half_channel", "sms"),
        ("without_italian_id_document", "1"),
    ]
}

#[actix_web::test]
async fn the_contact_centre_registers_a_pin_request_taken_on_the_phone() {
    let live = LiveApp::spawn().await;
    let carla = person("CRLNRE75A41H501");
    let op = operator_with_pin(&live.app, &carla, "Carla", "Neri", &["contact_center"]).await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let bruno = person("BRNBRN70A01H501");
    add_person(&live.app, &bruno, "Bruno", "Galli").await;
    let birth = anna
        .birth_date(chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap())
        .format("%d/%m/%Y")
        .to_string();

    // Another role: refused.
    let desk_only = person("GLLGNN70A01H501");
    operator_with_pin(&live.app, &desk_only, "Gianni", "Galli", &["sportello"]).await;
    let other = browser();
    console_login(&live, &other, "/console/sportello", &desk_only).await;
    let refused = other
        .get(format!("{}{PATH}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let b = browser();
    let queue = console_login(&live, &b, "/console/contact-center", &carla).await;
    assert!(queue.contains(PATH), "the queue links the form");
    let form = b.get(format!("{}{PATH}", live.base)).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert_eq!(form.headers()["cache-control"], "no-store");
    let page = form.text().await.unwrap();
    assert!(page.contains("<label for=\"f-codice_fiscale\">"));

    // Without the session's token: refused, nothing recorded.
    let forged = b
        .post(format!("{}{PATH}", live.base))
        .form(&caller(anna.as_str(), &birth, "Via Roma 1"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // Wrong fields: said on the form, the typed values kept.
    let wrong = post_console(
        &live,
        &b,
        &page,
        PATH,
        &[("codice_fiscale", "VRDNNA90A41H50"), ("given_name", "Anna")],
    )
    .await;
    assert_eq!(wrong.status(), 422);
    let text = wrong.text().await.unwrap();
    assert!(text.contains("Codice fiscale:"), "{text}");
    assert!(text.contains("Data di nascita"), "{text}");
    assert!(text.contains("value=\"VRDNNA90A41H50\""), "{text}");
    let count = |holder: String| {
        live.app.with_db(move |c, _, _| {
            pin_requests::table
                .filter(pin_requests::codice_fiscale.eq(holder))
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
    };
    assert_eq!(count(anna.as_str().to_owned()).await, 0);

    // A mismatch with the registry: queued for a call-back.
    let queued = post_console(
        &live,
        &b,
        &page,
        PATH,
        &caller(bruno.as_str(), "01/01/1970", "Via Milano 3"),
    )
    .await;
    let status = queued.status();
    let text = queued.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("coda delle chiamate di verifica"), "{text}");
    let (holder, op_id) = (bruno.as_str().to_owned(), op.id.clone());
    let (channel, actor) = live
        .app
        .with_db(move |c, _, _| {
            let channel = pin_requests::table
                .filter(pin_requests::codice_fiscale.eq(holder))
                .select(pin_requests::channel)
                .first::<String>(c)
                .unwrap();
            let actors = audit_log::table
                .filter(audit_log::actor.eq(format!("operator:{op_id}")))
                .filter(audit_log::action.like("pin.request%"))
                .count()
                .get_result::<i64>(c)
                .unwrap();
            (channel, actors)
        })
        .await;
    assert_eq!(channel, "contact_center");
    assert!(actor >= 1, "audited with the operator as actor");
    // A second request for the same person: refused.
    let again = post_console(
        &live,
        &b,
        &page,
        PATH,
        &caller(bruno.as_str(), "01/01/1970", "Via Milano 3"),
    )
    .await;
    assert_eq!(again.status(), 422);
    assert!(again.text().await.unwrap().contains("già in attesa"));
    // Not in the registry: queued as well (the call-back decides), as through the API.
    let stranger = person("BNCLGU80A01H501");
    let unknown = post_console(
        &live,
        &b,
        &page,
        PATH,
        &caller(stranger.as_str(), "01/01/1980", "Via Roma 1"),
    )
    .await;
    assert_eq!(unknown.status(), 200);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("coda delle chiamate di verifica")
    );

    // The data match the registry: the PIN is active, the first half shown once.
    let issued = post_console(
        &live,
        &b,
        &page,
        PATH,
        &caller(anna.as_str(), &birth, "Via Roma 1"),
    )
    .await;
    assert_eq!(issued.status(), 200);
    assert_eq!(issued.headers()["cache-control"], "no-store");
    let text = issued.text().await.unwrap();
    assert!(text.contains("Leggi ora la prima metà del PIN"), "{text}");
    assert!(text.contains("id=\"prima-meta\""), "{text}");
    let active = live
        .app
        .with_db({
            let holder = anna.as_str().to_owned();
            move |c, _, _| {
                use procura::db::schema::pin_credentials;
                pin_credentials::table
                    .filter(pin_credentials::codice_fiscale.eq(holder))
                    .count()
                    .get_result::<i64>(c)
                    .unwrap()
            }
        })
        .await;
    assert_eq!(active, 1);
    let again = post_console(
        &live,
        &b,
        &page,
        PATH,
        &caller(anna.as_str(), &birth, "Via Roma 1"),
    )
    .await;
    assert_eq!(again.status(), 422);
    assert!(again.text().await.unwrap().contains("già un PIN attivo"));
}
