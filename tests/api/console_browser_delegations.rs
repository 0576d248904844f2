//! The branch desk's representations and the console's CSRF protection in a real browser
//! (headless Chromium, desktop and phone viewports), axe-core finding no WCAG 2.1 AA
//! violation on any page visited:
//! - a `sportello` operator registers an AA10 with a self-declaration (the form filled, the
//!   PDFs uploaded from files written here): it waits; trying to verify their own is refused
//!   on the page (the registry's `delegation-same-operator`);
//! - a second `sportello` operator logs in through the broker; a page of another origin
//!   (a local HTTP server started here) auto-submits the verification with her session
//!   cookie and no token, and a form whose token was removed in the DOM is sent: both are
//!   refused with the 403 page and change nothing (the delegation waits, no audit record);
//! - she confirms it from the page: the delegation is active (the page, the person's
//!   delegations and the database say so, the audit names her).

use crate::browser_support::*;
use crate::console_support::*;
use crate::oidc_support::*;
use fantoccini::Locator;
use std::io::{Read, Write};
use std::path::Path;

/// Chooses the file at `path` in the file input `css`.
async fn upload(b: &Browser, css: &str, path: &Path) {
    let input = b
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    input.send_keys(&path.display().to_string()).await.unwrap();
}

/// Waits until the browser shows a page of `base` (after a form another page submitted).
async fn landed_on(b: &Browser, base: &str) {
    let started = std::time::Instant::now();
    loop {
        let ready = b.js("return document.readyState;").await;
        if b.url().await.starts_with(base) && ready == "complete" {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "still at {}",
            b.url().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// A web server of another origin (127.0.0.1, another port: another origin, the same site,
/// so the browser sends the console's `SameSite=Lax` cookie with its top-level post) that
/// answers every request with `html`; its address.
fn other_origin(html: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://{addr}/")
}

/// The delegation's status, and the `delegation.verified` records' actors.
async fn recorded(live: &LiveApp, id: &str) -> (String, Vec<String>) {
    let id = id.to_owned();
    live.app
        .with_db(move |c, _, _| {
            use diesel::prelude::*;
            use procura::db::schema::audit_log;
            let d = procura::delegation::find(c, &id).unwrap().unwrap();
            let actors = audit_log::table
                .filter(audit_log::action.eq("delegation.verified"))
                .select(audit_log::actor)
                .load::<String>(c)
                .unwrap();
            (d.status, actors)
        })
        .await
}

async fn aa10_verified_by_another(viewport: Viewport) {
    let live = LiveApp::spawn().await;
    let gianni = person("GLLGNN70A01H501");
    operator_with_pin(&live.app, &gianni, "Gianni", "Galli", &["sportello"]).await;
    let paola = person("PLAMRN75A41H501");
    let checker = operator_with_pin(&live.app, &paola, "Paola", "Marini", &["sportello"]).await;
    let (anna, bruno) = (person("VRDNNA90A41H501"), person("BRNBRN70A01H501"));
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    add_person(&live.app, &bruno, "Bruno", "Galli").await;
    let files = tempfile::tempdir().unwrap();
    let pdf = |name: &str| {
        let path = files.path().join(format!("{name}.pdf"));
        std::fs::write(&path, PDF).unwrap();
        path
    };
    let base = live.base.clone();
    let deleghe = format!("{base}/console/sportello/deleghe");
    let mut b = Browser::start(viewport).await;

    // Gianni registers an AA10 with a self-declaration: it waits for another operator.
    b.goto(&deleghe).await;
    pin_login(&b, &gianni).await;
    assert_eq!(b.path().await, "/console/sportello/deleghe");
    b.check("deleghe-gianni").await;
    b.click("#f-channel option[value=sportello_aa10]").await;
    b.click("#f-kind option[value=amministratore_di_sostegno]")
        .await;
    b.fill("#f-delegator", anna.as_str()).await;
    b.fill("#f-delegate", bruno.as_str()).await;
    b.fill("#f-decree_reference", "Dichiarazione sostitutiva 5/2026")
        .await;
    upload(&b, "#f-aa10", &pdf("aa10")).await;
    upload(&b, "#f-delegator_id", &pdf("documento-anna")).await;
    upload(&b, "#f-delegate_id", &pdf("documento-bruno")).await;
    upload(&b, "#f-self_declaration", &pdf("autocertificazione")).await;
    b.click_text("Registra la delega").await;
    let text = b.text().await;
    assert!(
        text.contains("resta in attesa della verifica") && text.contains("Registrata da te"),
        "{text}"
    );
    assert!(!text.contains("Conferma la rappresentanza"), "{text}");
    b.check("deleghe-in-attesa").await;
    let pending = live
        .app
        .with_db(|c, _, _| procura::delegation::registry::pending_verification(c, 10).unwrap())
        .await;
    assert_eq!(pending.len(), 1);
    let d = &pending[0];
    assert_eq!(
        (
            d.channel.as_str(),
            d.kind.as_str(),
            d.delegator_cf.as_str(),
            d.delegate_cf.as_str()
        ),
        (
            "sportello_aa10",
            "amministratore_di_sostegno",
            anna.as_str(),
            bruno.as_str()
        )
    );
    let id = d.id.clone();
    let verifica = format!("/console/sportello/deleghe/{id}/verifica");

    // The page offers him no verification; a form of his session sent anyway is refused.
    b.js(&format!(
        "const f = document.createElement('form');
         f.method = 'post'; f.action = '{verifica}';
         f.appendChild(document.querySelector('input[name=csrf]').cloneNode());
         const o = document.createElement('input');
         o.type = 'hidden'; o.name = 'outcome'; o.value = 'confirmed'; f.appendChild(o);
         const s = document.createElement('button');
         s.type = 'submit'; s.id = 'verifica-propria'; s.textContent = 'Conferma';
         f.appendChild(s); document.body.appendChild(f); return 1;"
    ))
    .await;
    b.click("#verifica-propria").await;
    assert!(
        b.text()
            .await
            .contains("Hai registrato tu questa rappresentanza: deve verificarla un altro"),
        "{}",
        b.text().await
    );
    b.check("deleghe-verifica-propria").await;
    assert_eq!(
        recorded(&live, &id).await,
        ("pending_verification".into(), vec![])
    );
    b.click_text("Esci").await;
    assert_eq!(b.path().await, "/console/uscita");

    // Paola logs in through the broker and sees it to check.
    b.goto(&deleghe).await;
    assert!(
        b.path().await.starts_with("/login?flow="),
        "{}",
        b.url().await
    );
    pin_login(&b, &paola).await;
    assert_eq!(b.path().await, "/console/sportello/deleghe");
    let confirm = format!("Conferma la rappresentanza di {}", bruno.as_str());
    assert!(b.text().await.contains(&confirm), "{}", b.text().await);
    b.check("deleghe-paola").await;

    // A page of another origin posts the verification with her cookie and no token.
    let attacker = other_origin(format!(
        "<!doctype html><html lang=\"it\"><head><title>Premio</title></head><body>\
         <form id=\"f\" method=\"post\" action=\"{base}{verifica}\">\
         <input type=\"hidden\" name=\"outcome\" value=\"confirmed\"></form>\
         <script>document.getElementById('f').submit();</script></body></html>"
    ));
    b.goto(&attacker).await;
    landed_on(&b, &base).await;
    assert_eq!(b.path().await, verifica);
    assert_eq!(b.h1().await, "Richiesta non valida", "{}", b.text().await);
    // Her session came with the post (her name is on the page): the token alone refused it.
    assert!(
        b.text().await.contains("Paola Marini"),
        "{}",
        b.text().await
    );
    b.check("csrf-altra-origine").await;
    assert_eq!(
        recorded(&live, &id).await,
        ("pending_verification".into(), vec![])
    );

    // Her own page's form, its token removed before it is sent.
    b.goto(&deleghe).await;
    let removed = b
        .js(
            "const t = document.querySelectorAll('form[action$=\"/verifica\"] input[name=csrf]');
             t.forEach(e => e.remove()); return t.length;",
        )
        .await;
    assert_eq!(removed, 2, "the confirm and refuse forms");
    b.click_text(&confirm).await;
    assert_eq!(b.path().await, verifica);
    assert_eq!(b.h1().await, "Richiesta non valida", "{}", b.text().await);
    b.check("csrf-senza-token").await;
    assert_eq!(
        recorded(&live, &id).await,
        ("pending_verification".into(), vec![])
    );

    // With the token: confirmed, active.
    b.goto(&deleghe).await;
    b.click_text(&confirm).await;
    let text = b.text().await;
    assert!(
        text.contains("Verifica registrata: la rappresentanza è attiva.")
            && text.contains("Nessuna rappresentanza in attesa"),
        "{text}"
    );
    b.check("deleghe-confermata").await;
    assert_eq!(
        recorded(&live, &id).await,
        ("active".into(), vec![format!("operator:{}", checker.id)])
    );
    b.click_text("Cerca le deleghe di una persona").await;
    b.fill("#f-codice_fiscale", anna.as_str()).await;
    b.click_text("Cerca le deleghe").await;
    let text = b.text().await;
    assert!(
        text.contains("amministratore di sostegno (attiva)") && text.contains(bruno.as_str()),
        "{text}"
    );
    b.check("persona-rappresentanza-attiva").await;
    b.finish("console delegations").await;
}

at_both_sizes!(
    console_aa10_verified_by_another_operator_in_a_desktop_browser,
    console_aa10_verified_by_another_operator_in_a_phone_browser,
    aa10_verified_by_another
);
