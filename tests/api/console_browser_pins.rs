//! The two ways the console gives a citizen a PIN, end to end in a real browser (headless
//! Chromium, desktop and phone viewports), axe-core finding no WCAG 2.1 AA violation on any
//! page visited:
//! - the contact centre validates a queued request; the outbox is delivered (files: the SMS
//!   text and the letter PDF), and the citizen logs in on the real login page with the first
//!   half read from the SMS file and the second read from the letter with `pdftotext`;
//!   The contact centre's inbound phone request form is checked on the way, empty and with
//!   its errors;
//! - the branch desk issues a PIN: the browser downloads the sealed-envelope PDF, `pdftotext`
//!   reads the PIN in it, and the citizen logs in with it.

use crate::browser_support::*;
use crate::console_support::*;
use crate::helpers::blocking;
use crate::notify::pdftotext;
use crate::oidc_support::*;
use procura::notify::Dispatcher;
use procura::person::CodiceFiscale;
use std::path::{Path, PathBuf};

async fn pin_login(b: &Browser, code: &CodiceFiscale, pin: &str) {
    b.fill("#f-codice_fiscale", code.as_str()).await;
    b.fill("#f-pin", pin).await;
    b.click_text("Accedi con il PIN").await;
}

/// The only file in `dir` ending in `ext`.
fn only_file(dir: &Path, ext: &str) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// The one text file in `dir` that contains `needle`.
fn text_with(dir: &Path, needle: &str) -> String {
    let found: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|t| t.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

/// The 8 characters after `after` in `text`, spaces ignored.
fn eight_after(text: &str, after: &str) -> String {
    let at = text
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in:\n{text}"));
    let half: String = text[at + after.len()..]
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(8)
        .collect();
    assert!(
        half.len() == 8 && half.chars().all(|c| c.is_ascii_alphanumeric()),
        "{half:?} in:\n{text}"
    );
    half
}

/// The citizen opens the personal area, logs in with the 16-character `pin`, is asked to
/// choose a personal PIN (an issued PIN is initial), and lands in the personal area.
async fn citizen_first_login(
    b: &mut Browser,
    base: &str,
    code: &CodiceFiscale,
    name: &str,
    pin: &str,
) {
    b.forget_cookies().await;
    b.goto(&format!("{base}/area-personale")).await;
    assert!(
        b.path().await.starts_with("/login?flow="),
        "{}",
        b.url().await
    );
    b.check("cittadino-login").await;
    pin_login(b, code, pin).await;
    assert_eq!(
        b.h1().await,
        "Scegli il tuo nuovo PIN",
        "{}",
        b.text().await
    );
    b.check("cittadino-cambio-pin").await;
    b.fill("#f-new_pin", PERSONAL_PIN).await;
    b.fill("#f-confirm_pin", PERSONAL_PIN).await;
    b.click_text("Conferma il nuovo PIN").await;
    assert_eq!(b.path().await, "/area-personale", "{}", b.text().await);
    assert!(b.text().await.contains(name), "{}", b.text().await);
    b.check("cittadino-area-personale").await;
}

async fn contact_centre_then_citizen(viewport: Viewport) {
    let live = LiveApp::spawn().await;
    let carla = person("CRLNRE75A41H501");
    operator_with_pin(&live.app, &carla, "Carla", "Neri", &["contact_center"]).await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let id = queued_pin_request(&live, &anna, "Anna", "Verdi").await;
    let base = live.base.clone();
    let mut b = Browser::start(viewport).await;

    b.goto(&format!("{base}/console/contact-center")).await;
    pin_login(&b, &carla, PERSONAL_PIN).await;
    assert_eq!(
        b.path().await,
        "/console/contact-center",
        "{}",
        b.text().await
    );
    b.click(&format!("a[href='/console/contact-center/richieste/{id}']"))
        .await;
    b.click_text("Prendi in carico").await;
    assert!(b.text().await.contains("Presa in carico da te"));
    b.check("cc-richiesta-in-carico").await;
    b.click("label[for=f-outcome-validated]").await;
    b.click_text("Registra l'esito").await;
    assert_eq!(b.h1().await, "Leggi ora la prima metà del PIN");
    b.check("cc-prima-meta").await;
    let shown = b
        .js("return document.getElementById('prima-meta').innerText;")
        .await;
    let shown: String = shown
        .as_str()
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    // The inbound phone request form, then sent empty: what is missing is said.
    b.click_text("Torna alla coda").await;
    b.click_text("Registra una richiesta di PIN presa al telefono")
        .await;
    assert_eq!(
        b.path().await,
        "/console/contact-center/richiesta-telefonica"
    );
    b.check("cc-richiesta-telefonica").await;
    b.click_text("Registra la richiesta").await;
    assert!(
        b.text()
            .await
            .contains("La richiesta non è stata registrata")
    );
    b.check("cc-richiesta-telefonica-errori").await;
    b.click_text("Esci").await;
    b.check("cc-uscita").await;

    // The outbox delivers: the SMS as a text file, the letter as a PDF.
    let d = Dispatcher::from_state(&live.app.state).unwrap();
    let report = blocking(move || d.dispatch_due().unwrap()).await;
    assert!(report.sent >= 2, "{report:?}");
    let files = live.app.config.notify.files_dir.clone();
    let sms = text_with(&files.join("sms"), "i primi 8 caratteri");
    let first = eight_after(&sms, "sono ");
    assert_eq!(first, shown, "the SMS carries the half read on the phone");
    let letter = pdftotext(&only_file(&files.join("post"), "pdf"), &[]);
    assert!(letter.contains("Via Roma 1"), "{letter}");
    let second = eight_after(&letter, "Gli 8 caratteri sono:");
    assert_ne!(first, second);

    // The wrong order is refused; the halves in order open the personal area.
    b.forget_cookies().await;
    b.goto(&format!("{base}/area-personale")).await;
    pin_login(&b, &anna, &format!("{second}{first}")).await;
    assert!(
        b.text().await.contains("Codice fiscale o PIN non corretti"),
        "{}",
        b.text().await
    );
    b.check("cittadino-pin-errato").await;
    citizen_first_login(&mut b, &base, &anna, "Anna", &format!("{first}{second}")).await;
    b.finish("console PIN by the contact centre").await;
}

async fn desk_envelope_then_citizen(viewport: Viewport) {
    let live = LiveApp::spawn().await;
    let gianni = person("GLLGNN70A01H501");
    operator_with_pin(&live.app, &gianni, "Gianni", "Galli", &["sportello"]).await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let base = live.base.clone();
    let docs = tempfile::tempdir().unwrap();
    let (mv35, id_doc) = (docs.path().join("mv35.pdf"), docs.path().join("ci.pdf"));
    std::fs::write(&mv35, PDF).unwrap();
    std::fs::write(&id_doc, PDF).unwrap();
    let mut b = Browser::start(viewport).await;

    b.goto(&format!("{base}/console/sportello")).await;
    pin_login(&b, &gianni, PERSONAL_PIN).await;
    assert_eq!(b.path().await, "/console/sportello", "{}", b.text().await);
    b.check("sportello-pin").await;
    b.fill("#f-codice_fiscale", anna.as_str()).await;
    b.fill("#f-mv35", &mv35.display().to_string()).await;
    b.fill("#f-id_document", &id_doc.display().to_string())
        .await;
    let envelope = b
        .download_by_clicking("Rilascia il PIN e stampa la busta")
        .await;
    let bytes = std::fs::read(&envelope).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "{}", envelope.display());
    let text = pdftotext(&envelope, &["-layout"]);
    assert!(text.contains("Intestatario: Anna Verdi"), "{text}");
    // The PIN: the one line of 16 letters and digits (printed spaced out).
    let pins: Vec<String> = text
        .lines()
        .map(|l| l.chars().filter(|c| !c.is_whitespace()).collect::<String>())
        .filter(|l| l.len() == 16 && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect();
    assert_eq!(pins.len(), 1, "{text}");
    // The operator stays on the form: the PIN is never on screen.
    assert_eq!(b.path().await, "/console/sportello");
    assert!(!b.source().await.contains(&pins[0][..8]));
    b.click_text("Esci").await;

    citizen_first_login(&mut b, &base, &anna, "Anna", &pins[0]).await;
    b.finish("console PIN at the desk").await;
}

at_both_sizes!(
    console_contact_centre_pin_reaches_the_citizen_in_a_desktop_browser,
    console_contact_centre_pin_reaches_the_citizen_in_a_phone_browser,
    contact_centre_then_citizen
);

at_both_sizes!(
    console_desk_envelope_pin_reaches_the_citizen_in_a_desktop_browser,
    console_desk_envelope_pin_reaches_the_citizen_in_a_phone_browser,
    desk_envelope_then_citizen
);
