//! The operator console in a real browser (headless Chromium, as `browser.rs`), at the
//! desktop and phone viewports: a contact-centre operator logs in through the broker,
//! validates a queued PIN request and reads the first half, opens the branch desk's PIN
//! form and its AA10 page, then logs out. axe-core finds no
//! WCAG 2.1 AA violation on any console page. An admin walks the administration pages and
//! disables an operator, who is refused on their next click.

use crate::browser_support::*;
use crate::console_support::*;
use crate::oidc_support::*;

async fn contact_centre(viewport: Viewport) {
    let live = LiveApp::spawn().await;
    let carla = person("CRLNRE75A41H501");
    operator_with_pin(
        &live.app,
        &carla,
        "Carla",
        "Neri",
        &["contact_center", "sportello"],
    )
    .await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let id = queued_pin_request(&live, &anna, "Anna", "Verdi").await;
    let base = live.base.clone();
    let mut b = Browser::start(viewport).await;

    b.goto(&format!("{base}/console")).await;
    assert!(
        b.path().await.starts_with("/login?flow="),
        "{}",
        b.url().await
    );
    pin_login(&b, &carla).await;
    assert_eq!(b.path().await, "/console", "{}", b.text().await);
    assert!(b.text().await.contains("Carla Neri"));
    b.check("console-inizio").await;

    b.click_text("Contact center").await;
    assert!(b.text().await.contains("Anna Verdi"));
    b.check("console-coda").await;
    b.click_text("Verifica il PIN telefonico").await;
    assert_eq!(b.path().await, "/console/contact-center/pin-telefonico");
    b.check("console-pin-telefonico").await;
    b.click_text("Torna alla coda").await;
    b.click(&format!("a[href='/console/contact-center/richieste/{id}']"))
        .await;
    assert!(b.text().await.contains("Via Milano 3"));
    b.check("console-richiesta").await;
    b.click_text("Prendi in carico").await;
    assert!(b.text().await.contains("Presa in carico da te"));
    b.click_text("Registra l'esito").await;
    assert!(b.text().await.contains("Scegli l'esito"));
    b.check("console-esito-errore").await;
    b.click("label[for=f-outcome-validated]").await;
    b.click_text("Registra l'esito").await;
    assert_eq!(b.h1().await, "Leggi ora la prima metà del PIN");
    let half = b
        .js("return document.getElementById('prima-meta').innerText;")
        .await;
    assert_eq!(half.as_str().unwrap().trim().len(), 8, "{half}");
    b.check("console-prima-meta").await;

    // The branch desk's PIN form; sent empty, it says what is missing.
    b.click_text("Sportello").await;
    assert_eq!(b.path().await, "/console/sportello");
    b.check("console-sportello").await;
    b.click_text("Rilascia il PIN e stampa la busta").await;
    assert!(b.text().await.contains("Modulo MV35: carica il documento"));
    b.check("console-sportello-errori").await;
    b.click_text("Deleghe e rappresentanze").await;
    assert!(b.text().await.contains("Nessuna rappresentanza in attesa"));
    b.check("console-rappresentanze").await;
    b.click_text("Cerca le deleghe di una persona").await;
    assert_eq!(b.path().await, "/console/sportello/persona");
    b.check("console-persona").await;
    b.fill("#f-codice_fiscale", anna.as_str()).await;
    b.click_text("Cerca le deleghe").await;
    assert!(b.text().await.contains("Nessuna delega per"));
    b.check("console-persona-nessuna").await;

    b.click_text("Esci").await;
    assert_eq!(b.path().await, "/console/uscita");
    b.check("console-uscita").await;
    b.finish("console browser").await;
}

at_both_sizes!(
    console_contact_centre_in_a_desktop_browser,
    console_contact_centre_in_a_phone_browser,
    contact_centre
);

/// An admin logs in through the broker, walks every administration page (errors shown too),
/// and disables Carlo, logged in elsewhere, who is refused on his next click.
async fn administration(viewport: Viewport) {
    let live = LiveApp::spawn().await;
    let anna = person("VRDNNA90A41H501");
    operator_with_pin(&live.app, &anna, "Anna", "Verdi", &["admin"]).await;
    let carlo = person("BNCCRL70A01H501");
    let op = operator_with_pin(&live.app, &carlo, "Carlo", "Bianchi", &["sportello"]).await;
    let carlo_b = browser();
    console_login(&live, &carlo_b, "/console/sportello", &carlo).await;
    let base = live.base.clone();
    let mut b = Browser::start(viewport).await;

    b.goto(&format!("{base}/console")).await;
    pin_login(&b, &anna).await;
    assert_eq!(b.path().await, "/console", "{}", b.text().await);
    b.click_text("Amministrazione").await;
    assert_eq!(b.path().await, "/console/amministrazione");
    b.check("admin-inizio").await;

    b.click_text("Operatori").await;
    assert!(b.text().await.contains("Carlo Bianchi"));
    b.check("admin-operatori").await;
    b.click_text("Aggiungi l'operatore").await;
    assert!(b.text().await.contains("Scegli almeno un ruolo"));
    b.check("admin-operatori-errori").await;
    b.click_text("Disattiva Carlo Bianchi").await;
    assert!(b.text().await.contains("Carlo Bianchi è disattivato"));
    b.check("admin-operatore-disattivato").await;
    let next_click = carlo_b
        .get(format!("{base}/console/sportello"))
        .send()
        .await
        .unwrap();
    assert_eq!(next_click.status(), 403);
    assert!(
        next_click
            .text()
            .await
            .unwrap()
            .contains("non è più attiva")
    );
    let id = op.id.clone();
    let active = live
        .app
        .with_db(move |c, _, _| procura::operator::find(c, &id).unwrap().unwrap().active)
        .await;
    assert!(!active);

    b.click_text("Torna all'amministrazione").await;
    b.click_text("Client OpenID Connect").await;
    b.check("admin-client").await;
    b.fill("#f-client_id", "pensioni-batch").await;
    b.fill("#f-display_name", "Pensioni batch").await;
    b.click_text("Registra il client").await;
    assert!(b.text().await.contains("Scegli il tipo di client"));
    b.check("admin-client-errori").await;
    b.goto(&format!("{base}/console/amministrazione/client"))
        .await;
    b.fill("#f-client_id", "pensioni-web").await;
    b.fill("#f-display_name", "Pensioni").await;
    b.click("#f-auth_method option[value=client_secret_basic]")
        .await;
    b.fill("#f-redirect_uris", "https://app.example.it/cb")
        .await;
    b.click_text("Registra il client").await;
    assert!(
        b.text()
            .await
            .contains("Copia ora il segreto di pensioni-web")
    );
    b.check("admin-client-segreto").await;

    b.goto(&format!("{base}/console/amministrazione/registro"))
        .await;
    assert!(b.text().await.contains("operator.disabled"));
    b.check("admin-registro").await;
    b.fill("#f-persona", "RSSMRA80A01H50").await;
    b.click_text("Cerca").await;
    assert!(b.text().await.contains("16 caratteri"));
    b.check("admin-registro-errori").await;
    b.click_text("Verifica l'integrità del registro").await;
    assert!(b.text().await.contains("Registro integro"));
    b.check("admin-registro-verificato").await;

    b.goto(&format!("{base}/console/amministrazione/spid"))
        .await;
    assert!(b.text().await.contains("SPID non è tra i metodi"));
    b.check("admin-spid").await;
    b.finish("console administration").await;
}

/// The web-meeting desk: the day's bookings, one booking taken in charge, a completion
/// refused with what is missing, a consent and an identity check recorded, then the session
/// closed without a delegation.
async fn web_meeting_desk(viewport: Viewport) {
    use crate::booking_support::World;
    use serde_json::json;
    let w = World::spawn().await;
    w.set_clock("2026-11-23T10:00:00Z");
    let wanda = person("WNDBNC70A41H501");
    let op = operator_with_pin(&w.live.app, &wanda, "Wanda", "Bianchi", &["web_meeting"]).await;
    let desk = w
        .desk(json!({ "name": "DELEGHE IDENTITA' DIGITALI IN WEB MEETING",
                      "office": "Sportello telematico", "kind": "web_meeting", "slot_minutes": 20 }))
        .await;
    w.duty(&desk, "2026-11-24", "2026-11-24", &[&op.id]).await;
    let (_, luigi) = w
        .citizen("VRDLGU80A01H501", "Luigi", Some("3332222222"))
        .await;
    let mario = w
        .person("RSSMRA40A01H501", "Mario", Some("3331111111"))
        .await;
    let booked = w
        .book(
            &luigi,
            &desk,
            "2026-11-24T08:00:00Z",
            json!({ "mobile": "3332222222", "delegator": {
                "codice_fiscale": mario.as_str(), "given_name": "Mario", "family_name": "Rossi" } }),
        )
        .await;
    let id = booked["id"].as_str().unwrap().to_owned();
    w.set_clock("2026-11-24T07:50:00Z");
    let base = w.live.base.clone();
    let mut b = Browser::start(viewport).await;

    b.goto(&format!("{base}/console/web-meeting")).await;
    pin_login(&b, &wanda).await;
    assert_eq!(b.path().await, "/console/web-meeting", "{}", b.text().await);
    assert!(b.text().await.contains("Mario Rossi"));
    b.check("console-web-meeting-giorno").await;
    b.click(&format!("a[href='/console/web-meeting/prenotazioni/{id}']"))
        .await;
    assert!(b.text().await.contains("Luigi"));
    b.check("console-web-meeting-prenotazione").await;
    b.click_text("Prendi in carico").await;
    assert!(b.text().await.contains("Prenotazione presa in carico"));
    b.check("console-web-meeting-sessione").await;
    b.click_text("Registra la delega").await;
    assert!(b.text().await.contains("non può ancora essere registrata"));
    b.check("console-web-meeting-errori").await;

    b.click("label[for=f-delegate-si]").await;
    b.click_text("Registra il consenso del delegato").await;
    assert!(b.text().await.contains("Consenso del delegato, Luigi"));
    b.click("#f-delegator-tipo option[value=passaporto]").await;
    b.fill("#f-delegator-numero", "YA1234567").await;
    b.js("document.getElementById('f-delegator-scadenza').value = '2030-01-01'; return 1;")
        .await;
    b.click_text("Registra il documento del delegante").await;
    assert!(
        b.text().await.contains("Passaporto n. YA1234567"),
        "{}",
        b.text().await
    );
    b.check("console-web-meeting-passi").await;
    b.fill(
        "#f-chiudi-motivo",
        "il delegante non ha il documento firmato",
    )
    .await;
    b.click_text("Chiudi la sessione senza delega").await;
    assert!(b.text().await.contains("Sessione chiusa senza delega"));
    b.check("console-web-meeting-chiusa").await;
    b.close().await;
}

at_both_sizes!(
    console_administration_in_a_desktop_browser,
    console_administration_in_a_phone_browser,
    administration
);

at_both_sizes!(
    console_web_meeting_desk_in_a_desktop_browser,
    console_web_meeting_desk_in_a_phone_browser,
    web_meeting_desk
);
