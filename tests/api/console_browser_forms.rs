//! Two console forms walked in a real browser (headless Chromium, desktop and phone
//! viewports), axe-core finding no WCAG 2.1 AA violation on any page visited:
//! - the branch desk's PIN form for a legal representative: sent without the decree or
//!   self-declaration (the refusal beside its fieldset, what was typed still there), then
//!   with the decree: the browser downloads the sealed envelope in the represented person's
//!   name;
//! - the contact centre books a web meeting for a caller: the desk, a day with free places,
//!   a slot; sent without the delegator's family name (said beside it), then confirmed, with
//!   what the caller is told.

use crate::booking_support::World;
use crate::browser_support::*;
use crate::console_support::*;
use crate::notify::pdftotext;
use crate::oidc_support::*;
use serde_json::json;

async fn value_of(b: &Browser, id: &str) -> String {
    b.js(&format!("return document.getElementById('{id}').value;"))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn desk_pin_for_a_represented_person(viewport: Viewport) {
    let live = LiveApp::spawn().await;
    let gianni = person("GLLGNN70A01H501");
    operator_with_pin(&live.app, &gianni, "Gianni", "Galli", &["sportello"]).await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let tutore = person("BNCPLA60A01H501");
    let docs = tempfile::tempdir().unwrap();
    let file = |name: &str| {
        let p = docs.path().join(name);
        std::fs::write(&p, PDF).unwrap();
        p.display().to_string()
    };
    let (mv35, id_doc, decree) = (file("mv35.pdf"), file("ci.pdf"), file("decreto.pdf"));
    let mut b = Browser::start(viewport).await;

    b.goto(&format!("{}/console/sportello", live.base)).await;
    pin_login(&b, &gianni).await;
    assert_eq!(b.path().await, "/console/sportello", "{}", b.text().await);
    b.check("sportello-pin-form").await;
    b.fill("#f-codice_fiscale", anna.as_str()).await;
    b.fill("#f-mv35", &mv35).await;
    b.fill("#f-id_document", &id_doc).await;
    b.click("label[for=f-requester-rappresentante]").await;
    b.fill("#f-representative_codice_fiscale", tutore.as_str())
        .await;
    b.click("#f-representative_role option[value=tutore]").await;
    b.fill("#f-representative_reference", "Trib. Roma 12/2024")
        .await;
    b.click_text("Rilascia il PIN e stampa la busta").await;
    let text = b.text().await;
    assert!(text.contains("Il PIN non è stato rilasciato"), "{text}");
    assert!(
        text.contains("Carica il decreto di nomina o l'autocertificazione"),
        "{text}"
    );
    b.check("sportello-pin-rappresentante-errori").await;
    assert_eq!(value_of(&b, "f-codice_fiscale").await, anna.as_str());
    assert_eq!(
        value_of(&b, "f-representative_codice_fiscale").await,
        tutore.as_str()
    );
    assert_eq!(value_of(&b, "f-representative_role").await, "tutore");
    assert_eq!(
        value_of(&b, "f-representative_reference").await,
        "Trib. Roma 12/2024"
    );
    // The files are chosen again; with the decree the envelope comes.
    b.fill("#f-mv35", &mv35).await;
    b.fill("#f-id_document", &id_doc).await;
    b.fill("#f-decree", &decree).await;
    let envelope = b
        .download_by_clicking("Rilascia il PIN e stampa la busta")
        .await;
    let text = pdftotext(&envelope, &["-layout"]);
    assert!(text.contains("Intestatario: Anna Verdi"), "{text}");
    b.click_text("Esci").await;
    b.finish("console desk PIN by a representative").await;
}

async fn contact_centre_books_a_web_meeting(viewport: Viewport) {
    let w = World::spawn().await;
    w.set_clock("2026-11-23T10:00:00Z");
    let live = &w.live;
    let carla = person("CRLNRE75A41H501");
    operator_with_pin(&live.app, &carla, "Carla", "Neri", &["contact_center"]).await;
    let (_, wanda) = w.operator("WNDBNC70A41H501", &["web_meeting"]).await;
    let desk = w
        .desk(json!({ "name": "DELEGHE IDENTITA' DIGITALI IN WEB MEETING",
                      "office": "Sportello telematico", "kind": "web_meeting", "slot_minutes": 20 }))
        .await;
    w.duty(&desk, "2026-11-24", "2026-11-24", &[&wanda]).await;
    let luigi = w.person("VRDLGU80A01H501", "Luigi", None).await;
    let mario = w.person("RSSMRA40A01H501", "Mario", None).await;
    let mut b = Browser::start(viewport).await;

    b.goto(&format!("{}/console/contact-center", live.base))
        .await;
    pin_login(&b, &carla).await;
    assert_eq!(
        b.path().await,
        "/console/contact-center",
        "{}",
        b.text().await
    );
    b.click_text("Prenota un appuntamento per chi chiama").await;
    b.check("cc-prenotazione").await;
    b.click(&format!("#f-sportello option[value='{desk}']"))
        .await;
    b.click_text("Mostra i giorni liberi").await;
    b.check("cc-prenotazione-giorni").await;
    b.click_text("martedì 24 novembre 2026").await;
    assert!(
        b.text().await.contains("dalle 09:00 alle 09:20"),
        "{}",
        b.text().await
    );
    b.check("cc-prenotazione-orari").await;
    b.click("label[for=f-starts_at-1]").await;
    b.fill("#f-codice_fiscale", luigi.as_str()).await;
    b.fill("#f-mobile", "333 222 2222").await;
    b.fill("#f-delegator_codice_fiscale", mario.as_str()).await;
    b.fill("#f-delegator_given_name", "Mario").await;
    b.click_text("Conferma la prenotazione").await;
    let text = b.text().await;
    assert!(
        text.contains("La prenotazione non è stata registrata"),
        "{text}"
    );
    b.check("cc-prenotazione-errori").await;
    assert_eq!(value_of(&b, "f-mobile").await, "333 222 2222");
    assert_eq!(value_of(&b, "f-delegator_given_name").await, "Mario");
    b.fill("#f-delegator_family_name", "Rossi").await;
    b.click_text("Conferma la prenotazione").await;
    assert_eq!(
        b.h1().await,
        "Prenotazione confermata",
        "{}",
        b.text().await
    );
    let text = b.text().await;
    assert!(text.contains("24/11/2026 alle 09:00"), "{text}");
    assert!(text.contains("regolarmente registrata"), "{text}");
    b.check("cc-prenotazione-confermata").await;
    b.click_text("Esci").await;
    b.finish("console phone booking").await;
}

at_both_sizes!(
    console_desk_pin_by_a_representative_in_a_desktop_browser,
    console_desk_pin_by_a_representative_in_a_phone_browser,
    desk_pin_for_a_represented_person
);

at_both_sizes!(
    console_phone_booking_in_a_desktop_browser,
    console_phone_booking_in_a_phone_browser,
    contact_centre_books_a_web_meeting
);
