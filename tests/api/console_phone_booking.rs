//! Bookings taken on the phone in the console (`contact_center`), through HTTP on the
//! injected clock: the desk, its days with free places and the day's slots; each refusal of
//! `POST /v1/operator/bookings` said beside its field with what was typed kept (a wrong
//! codice fiscale, no slot, a missing mobile, no delegator, a self-delegation, a slot not of
//! the desk or already passed, an unknown desk, the slot taken meanwhile, one booking per desk
//! type); the booking confirmed, what the caller is told, the confirmation message and the
//! `booking.confirmed` audit with the operator as actor; the role and the CSRF token.

use crate::booking_support::{World, outbox};
use crate::console_support::*;
use crate::oidc_support::*;
use diesel::prelude::*;
use procura::db::schema::{audit_log, bookings};
use procura::person::CodiceFiscale;
use serde_json::json;

const PATH: &str = "/console/contact-center/prenotazioni";

async fn bookings_count(w: &World) -> i64 {
    w.app()
        .with_db(|c, _, _| bookings::table.count().get_result::<i64>(c).unwrap())
        .await
}

async fn text(r: reqwest::Response) -> (u16, String) {
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A web-meeting desk staffed by one operator on Tuesday 24 November 2026 (one place a slot).
async fn desk(w: &World) -> String {
    let (_, wanda) = w.operator("WNDBNC70A41H501", &["web_meeting"]).await;
    let desk = w
        .desk(json!({ "name": "DELEGHE IDENTITA' DIGITALI IN WEB MEETING",
                      "office": "Sportello telematico", "kind": "web_meeting", "slot_minutes": 20 }))
        .await;
    w.duty(&desk, "2026-11-24", "2026-11-24", &[&wanda]).await;
    desk
}

#[actix_web::test]
async fn the_contact_centre_books_a_web_meeting_for_a_caller() {
    let w = World::spawn().await;
    w.set_clock("2026-11-23T10:00:00Z");
    let live = &w.live;
    let carla = person("CRLNRE75A41H501");
    let op = operator_with_pin(&live.app, &carla, "Carla", "Neri", &["contact_center"]).await;
    let desk = desk(&w).await;
    let luigi = w
        .person("VRDLGU80A01H501", "Luigi", Some("3332222222"))
        .await;
    let mario = w.person("RSSMRA40A01H501", "Mario", None).await;
    let b = browser();

    // The desk, its days, the day's slots (Europe/Rome: 09:00 is 08:00Z).
    let page = console_login(live, &b, PATH, &carla).await;
    assert!(
        page.contains("DIGITALI IN WEB MEETING – Sportello telematico"),
        "{page}"
    );
    let (status, page) = text(
        b.get(format!("{}{PATH}?sportello={desk}", live.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("martedì 24 novembre 2026"), "{page}");
    assert!(
        !page.contains("giovedì 26 novembre 2026"),
        "nobody on duty that day:\n{page}"
    );
    let day_url = format!("{}{PATH}?sportello={desk}&giorno=2026-11-24", live.base);
    let (status, day) = text(b.get(&day_url).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(day.contains("value=\"2026-11-24T08:00:00+00:00\""), "{day}");
    assert!(
        day.contains("dalle 09:00 alle 09:20 (1 posto libero)"),
        "{day}"
    );
    assert!(day.contains("Codice fiscale del delegante"), "{day}");

    let post = |fields: Vec<(&'static str, String)>| {
        let (b, day) = (b.clone(), day.clone());
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            text(post_console(live, &b, &day, PATH, &f).await).await
        }
    };
    let good = |starts: &str, caller: &CodiceFiscale| {
        vec![
            ("sportello", desk.clone()),
            ("giorno", "2026-11-24".to_owned()),
            ("starts_at", starts.to_owned()),
            ("codice_fiscale", caller.as_str().to_owned()),
            ("mobile", "333 222 2222".to_owned()),
            ("email", String::new()),
            ("reason", "delega per la pensione".to_owned()),
            ("delegator_codice_fiscale", mario.as_str().to_owned()),
            ("delegator_given_name", "Mario".to_owned()),
            ("delegator_family_name", "Rossi".to_owned()),
        ]
    };
    let nine = "2026-11-24T08:00:00+00:00";
    let with = |mut f: Vec<(&'static str, String)>, name: &str, value: &str| {
        for (k, v) in &mut f {
            if *k == name {
                *v = value.to_owned();
            }
        }
        f
    };

    // Without the session's token: refused.
    let forged = b
        .post(format!("{}{PATH}", live.base))
        .form(&good(nine, &luigi))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // A wrong codice fiscale: beside it, the rest kept.
    let (status, page) = post(with(good(nine, &luigi), "codice_fiscale", "VRDLGU80A01H50")).await;
    assert_eq!(status, 422, "{page}");
    assert!(
        error_beside(&page, "codice_fiscale").contains("codice fiscale"),
        "{page}"
    );
    for kept in [
        "VRDLGU80A01H50",
        "333 222 2222",
        "delega per la pensione",
        mario.as_str(),
        "Rossi",
    ] {
        assert!(
            page.contains(&format!("value=\"{kept}\"")),
            "{kept} lost:\n{page}"
        );
    }
    assert!(
        page.contains(&format!("value=\"{nine}\" checked")),
        "{page}"
    );
    // No slot chosen.
    let (status, page) = post(with(good(nine, &luigi), "starts_at", "")).await;
    assert_eq!(status, 422);
    assert!(error_beside(&page, "starts_at").contains("Scegli l&#39;orario"));
    // The web meeting needs a mobile (the SMS code of the room).
    let (status, page) = post(with(good(nine, &luigi), "mobile", "")).await;
    assert_eq!(status, 422);
    assert!(
        error_beside(&page, "mobile")
            .contains("Per questo sportello occorre il numero di cellulare"),
        "{page}"
    );
    // A mobile that is not one.
    let (status, page) = post(with(good(nine, &luigi), "mobile", "12")).await;
    assert_eq!(status, 422);
    assert!(error_beside(&page, "mobile").contains("non valido"));
    // No delegator.
    let mut no_delegator = good(nine, &luigi);
    for (k, v) in &mut no_delegator {
        if k.starts_with("delegator_") {
            v.clear();
        }
    }
    let (status, page) = post(no_delegator).await;
    assert_eq!(status, 422);
    assert!(
        error_beside(&page, "delegator_codice_fiscale")
            .contains("Indicare codice fiscale, nome e cognome del delegante"),
        "{page}"
    );
    // A delegator without a family name.
    let (status, page) = post(with(good(nine, &luigi), "delegator_family_name", "")).await;
    assert_eq!(status, 422);
    assert!(
        error_beside(&page, "delegator_family_name").contains("obbligatorio"),
        "{page}"
    );
    // Delegating oneself.
    let (status, page) = post(with(
        good(nine, &luigi),
        "delegator_codice_fiscale",
        luigi.as_str(),
    ))
    .await;
    assert_eq!(status, 422);
    assert!(
        error_beside(&page, "delegator_codice_fiscale")
            .contains("Non è possibile delegare sé stessi"),
        "{page}"
    );
    // Not a slot of the desk; a slot already passed; an unknown desk.
    let (status, page) = post(with(
        good(nine, &luigi),
        "starts_at",
        "2026-11-24T08:05:00+00:00",
    ))
    .await;
    assert_eq!(status, 422);
    assert!(error_beside(&page, "starts_at").contains("non è tra quelli dello sportello"));
    let (status, page) = post(with(
        good(nine, &luigi),
        "starts_at",
        "2026-11-19T08:00:00+00:00",
    ))
    .await;
    assert_eq!(status, 422);
    assert!(
        error_beside(&page, "starts_at").contains("già passato"),
        "{page}"
    );
    let (status, page) = post(with(good(nine, &luigi), "sportello", "nessuno")).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("href=\"#f-sportello\">Sportello non trovato."),
        "{page}"
    );

    // Nothing was booked by the refusals.
    assert_eq!(bookings_count(&w).await, 0);

    // Booked and confirmed: what the caller is told.
    let (status, done) = post(good(nine, &luigi)).await;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("Prenotazione confermata"), "{done}");
    assert!(done.contains("24/11/2026 alle 09:00"), "{done}");
    assert!(done.contains("Mario Rossi"), "{done}");
    assert!(done.contains("regolarmente registrata"), "{done}");
    assert!(done.contains("SMS al +393332222222"), "{done}");
    let reference = {
        let at = done.find("PRN-").unwrap();
        done[at..at + 12].to_owned()
    };
    let row = w
        .app()
        .with_db(|c, _, _| {
            bookings::table
                .select((
                    bookings::reference,
                    bookings::status,
                    bookings::booked_via,
                    bookings::booked_by,
                    bookings::person_cf,
                ))
                .first::<(String, String, String, Option<String>, String)>(c)
                .unwrap()
        })
        .await;
    assert_eq!(row.0, reference);
    assert_eq!((row.1.as_str(), row.2.as_str()), ("confirmed", "operator"));
    assert_eq!(row.3.as_deref(), Some(op.id.as_str()));
    assert_eq!(row.4, luigi.as_str());
    let sent = outbox(w.app(), "booking_confirmed").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].recipient, "+393332222222");
    let actor = format!("operator:{}", op.id);
    let actions = w
        .app()
        .with_db(move |c, _, _| {
            audit_log::table
                .filter(audit_log::actor.eq(actor))
                .filter(audit_log::action.like("booking.%"))
                .select(audit_log::action)
                .load::<String>(c)
                .unwrap()
        })
        .await;
    assert_eq!(actions, ["booking.confirmed"]);

    // The slot is now taken: another caller is told, with what was typed kept; the day no
    // longer offers it.
    let anna = w
        .person("VRDNNA85A41H501", "Anna", Some("3334444444"))
        .await;
    let (status, page) = post(with(good(nine, &anna), "mobile", "3334444444")).await;
    assert_eq!(status, 422);
    assert!(
        error_beside(&page, "starts_at").contains("Non ci sono più posti disponibili"),
        "{page}"
    );
    assert!(page.contains(&format!("value=\"{}\"", anna.as_str())));
    assert!(!page.contains(&format!("value=\"{nine}\"")), "{page}");
    // One booking per desk type: the same caller again at another time.
    let (status, page) = post(good("2026-11-24T08:20:00+00:00", &luigi)).await;
    assert_eq!(status, 422);
    assert!(
        error_beside(&page, "codice_fiscale")
            .contains("una prenotazione per ogni tipo di sportello"),
        "{page}"
    );
    assert_eq!(bookings_count(&w).await, 1);
}

#[actix_web::test]
async fn only_the_contact_centre_books_on_the_phone_in_the_console() {
    let w = World::spawn().await;
    let live = &w.live;
    let sara = person("SRASPR72A41H501");
    operator_with_pin(&live.app, &sara, "Sara", "Sportelli", &["sportello"]).await;
    let b = browser();
    console_login(live, &b, "/console/sportello", &sara).await;
    let (status, page) = text(b.get(format!("{}{PATH}", live.base)).send().await.unwrap()).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Funzione non disponibile"));
}
