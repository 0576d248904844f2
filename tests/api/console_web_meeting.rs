//! The console's web-meeting desk through HTTP, on the injected clock: the day's bookings and
//! one booking (both reads audited), take in charge (too early, then taken; another operator
//! refused), the refusals of each step (CSRF-less, wrong role, bad input, an expired document,
//! a non-PDF, completion with steps missing), then consents, identity checks, documents and
//! the delegation registered active; a second booking closed after a consent refusal.

use crate::booking_support::{PDF, World};
use crate::console_support::*;
use crate::oidc_support::*;
use diesel::prelude::*;
use procura::db::schema::{audit_log, delegations};
use serde_json::json;

/// The actions recorded with `actor`, in order.
async fn actions_of(w: &World, actor: String) -> Vec<String> {
    w.app()
        .with_db(move |c, _, _| {
            audit_log::table
                .filter(audit_log::actor.eq(actor))
                .order(audit_log::seq.asc())
                .select(audit_log::action)
                .load::<String>(c)
                .unwrap()
        })
        .await
}

async fn text(r: reqwest::Response) -> (u16, String) {
    (r.status().as_u16(), r.text().await.unwrap())
}

#[actix_web::test]
async fn the_web_meeting_desk_takes_a_booking_through_to_an_active_delegation() {
    let w = World::spawn().await;
    w.set_clock("2026-11-23T10:00:00Z");
    let live = &w.live;
    let wanda = person("WNDBNC70A41H501");
    let op = operator_with_pin(&live.app, &wanda, "Wanda", "Bianchi", &["web_meeting"]).await;
    let walter = person("WLTNRI71A01H501");
    let other = operator_with_pin(&live.app, &walter, "Walter", "Neri", &["web_meeting"]).await;
    let sara = person("SRASPR72A41H501");
    operator_with_pin(&live.app, &sara, "Sara", "Sportelli", &["sportello"]).await;
    let desk = w
        .desk(json!({ "name": "DELEGHE IDENTITA' DIGITALI IN WEB MEETING",
                      "office": "Sportello telematico", "kind": "web_meeting", "slot_minutes": 20 }))
        .await;
    w.duty(&desk, "2026-11-24", "2026-11-24", &[&op.id, &other.id])
        .await;
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
    let (id, reference) = (
        booked["id"].as_str().unwrap().to_owned(),
        booked["reference"].as_str().unwrap().to_owned(),
    );
    let (_, anna_token) = w
        .citizen("VRDNNA85A41H501", "Anna", Some("3334444444"))
        .await;
    let bruno = w.person("BRNGLL45A01H501", "Bruno", None).await;
    let second = w
        .book(
            &anna_token,
            &desk,
            "2026-11-24T08:20:00Z",
            json!({ "mobile": "3334444444", "delegator": {
                "codice_fiscale": bruno.as_str(), "given_name": "Bruno", "family_name": "Galli" } }),
        )
        .await;
    let second = second["id"].as_str().unwrap().to_owned();

    // The day, 08:40 in Rome: both bookings, today by default; a bad date is said.
    w.set_clock("2026-11-24T07:40:00Z");
    let b = browser();
    let day = console_login(live, &b, "/console/web-meeting", &wanda).await;
    assert!(
        day.contains(&reference) && day.contains("Mario Rossi") && day.contains("Bruno Galli"),
        "{day}"
    );
    assert!(day.contains("24/11/2026") && day.contains("09:00"), "{day}");
    let get = |path: String| {
        let b = b.clone();
        let url = format!("{}{path}", live.base);
        async move { text(b.get(url).send().await.unwrap()).await }
    };
    let (status, other_day) = get("/console/web-meeting?data=2026-11-25".into()).await;
    assert_eq!(status, 200);
    assert!(other_day.contains("Nessuna prenotazione in web meeting"));
    let (status, bad) = get("/console/web-meeting?data=domani".into()).await;
    assert_eq!(status, 422);
    assert!(bad.contains("Data non valida") && bad.contains(&reference));
    let page_path = format!("/console/web-meeting/prenotazioni/{id}");
    let (status, page) = get(page_path.clone()).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Luigi") && page.contains("Prendi in carico"),
        "{page}"
    );
    let (status, _) = get("/console/web-meeting/prenotazioni/nessuna".into()).await;
    assert_eq!(status, 404);

    // Another role is refused; so is a form without the session's token.
    let bs = browser();
    console_login(live, &bs, "/console", &sara).await;
    let refused = bs
        .get(format!("{}/console/web-meeting", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let take_path = format!("{page_path}/prendi");
    let forged = b
        .post(format!("{}{take_path}", live.base))
        .form(&[("csrf", "non-questo")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // Too early: the person may join from 08:45.
    let (status, early) = text(post_console(live, &b, &page, &take_path, &[]).await).await;
    assert_eq!(status, 409);
    assert!(early.contains("dal 24/11/2026 08:45"), "{early}");

    // 08:50: taken; the link is there; Walter cannot take it too.
    w.set_clock("2026-11-24T07:50:00Z");
    let taken = post_console(live, &b, &page, &take_path, &[]).await;
    assert_eq!(taken.status(), 303);
    let (status, page) = text(follow(&b, &live.base, &taken).await).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Prenotazione presa in carico") && page.contains("id=\"collegamento\""),
        "{page}"
    );
    let bw = browser();
    let walter_page = console_login(live, &bw, &page_path, &walter).await;
    assert!(
        !walter_page.contains("Prendi in carico") && walter_page.contains("un altro operatore")
    );
    let (status, again) = text(post_console(live, &bw, &walter_page, &take_path, &[]).await).await;
    assert_eq!(status, 409);
    assert!(again.contains("Un altro operatore"), "{again}");

    // Steps refused: completion too soon, bad answers, an expired document.
    let step = |name: &str| format!("{page_path}/{name}");
    let (status, early) = text(post_console(live, &b, &page, &step("completa"), &[]).await).await;
    assert_eq!(status, 422);
    assert!(
        early.contains("non può ancora essere registrata: manca verifica dell")
            && early.contains("consenso alla registrazione del delegante"),
        "{early}"
    );
    let (status, t) =
        text(post_console(live, &b, &page, &step("consenso"), &[("side", "delegate")]).await).await;
    assert_eq!(status, 422);
    assert!(t.contains("acconsente alla registrazione"));
    let identity = |side: &'static str, number: &'static str, expires: &'static str| {
        vec![
            ("side", side),
            ("document_type", "carta_identita_elettronica"),
            ("document_number", number),
            ("expires_on", expires),
        ]
    };
    let (status, t) = text(
        post_console(
            live,
            &b,
            &page,
            &step("identita"),
            &identity("delegate", "CA12345AB", "2026-11-23"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(t.contains("è scaduto il 23/11/2026"), "{t}");
    let (status, t) = text(
        post_console(
            live,
            &b,
            &page,
            &step("identita"),
            &identity("delegate", "C!", "2030-01-01"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(t.contains("Numero del documento non valido"), "{t}");

    // The steps.
    for side in ["delegate", "delegator"] {
        let r = post_console(
            live,
            &b,
            &page,
            &step("consenso"),
            &[("side", side), ("given", "si")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let r = post_console(
            live,
            &b,
            &page,
            &step("identita"),
            &identity(side, "CA12345AB", "2030-01-01"),
        )
        .await;
        assert_eq!(r.status(), 303);
    }
    let upload = |csrf: String, files: Vec<(&'static str, &'static [u8])>| {
        let (b, url) = (b.clone(), format!("{}{}", live.base, step("documenti")));
        async move {
            let (ct, body) = multipart(&[("csrf", csrf.as_str())], &files);
            let r = b
                .post(url)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap();
            text(r).await
        }
    };
    let csrf = input_value(&page, "csrf");
    assert_eq!(upload("x".into(), vec![("aa08", PDF)]).await.0, 403);
    let (status, t) = upload(csrf.clone(), vec![("aa08", b"not a pdf")]).await;
    assert_eq!(status, 422);
    assert!(
        t.contains("modulo AA08 firmato: documento non accettato"),
        "{t}"
    );
    let (status, t) = upload(csrf.clone(), vec![("aa08", b"")]).await;
    assert_eq!(status, 422);
    assert!(t.contains("almeno un documento"), "{t}");
    let (status, _) = upload(
        csrf.clone(),
        vec![
            ("aa08", PDF),
            ("delegator_id_document", PDF),
            ("delegate_id_document", PDF),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, ready) = get(page_path.clone()).await;
    assert!(ready.contains("Tutto è pronto"), "{ready}");
    let (status, t) =
        text(post_console(live, &b, &page, &step("completa"), &[("ends_on", "ieri")]).await).await;
    assert_eq!(status, 422);
    assert!(t.contains("Data di fine della delega non valida"));
    let done = post_console(
        live,
        &b,
        &page,
        &step("completa"),
        &[("ends_on", "2027-11-24")],
    )
    .await;
    assert_eq!(done.status(), 303);
    let (_, after) = text(follow(&b, &live.base, &done).await).await;
    assert!(
        after.contains("Delega registrata: è subito operativa")
            && after.contains("conclusa: delega registrata"),
        "{after}"
    );
    let registered = w
        .app()
        .with_db(|c, _, _| {
            delegations::table
                .select((
                    delegations::channel,
                    delegations::status,
                    delegations::delegator_cf,
                ))
                .load::<(String, String, String)>(c)
                .unwrap()
        })
        .await;
    assert_eq!(
        registered,
        vec![(
            "web_meeting".to_owned(),
            "active".to_owned(),
            mario.as_str().to_owned()
        )]
    );

    // The second booking (opens 09:05): a refusal needs its reason and ends the session.
    w.set_clock("2026-11-24T08:00:00Z");
    assert_eq!(
        get("/console/web-meeting".into()).await.0,
        200,
        "keeps the session alive"
    );
    w.set_clock("2026-11-24T08:06:00Z");
    let second_path = format!("/console/web-meeting/prenotazioni/{second}");
    let (_, page2) = get(second_path.clone()).await;
    let r = post_console(live, &b, &page2, &format!("{second_path}/prendi"), &[]).await;
    assert_eq!(r.status(), 303);
    let (status, t) = text(
        post_console(
            live,
            &b,
            &page2,
            &format!("{second_path}/chiudi"),
            &[("reason", "  ")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(t.contains("Scrivi il motivo della chiusura"));
    let consent = |fields: Vec<(&'static str, &'static str)>| {
        let (b, page2, path) = (b.clone(), page2.clone(), format!("{second_path}/consenso"));
        async move { post_console(live, &b, &page2, &path, &fields).await }
    };
    let (status, t) = text(consent(vec![("side", "delegator"), ("given", "no")]).await).await;
    assert_eq!(status, 422);
    assert!(t.contains("scrivi il motivo"), "{t}");
    let r = consent(vec![
        ("side", "delegator"),
        ("given", "no"),
        ("reason", "non vuole essere registrato"),
    ])
    .await;
    assert_eq!(r.status(), 303);
    let (_, closed) = text(follow(&b, &live.base, &r).await).await;
    assert!(
        closed.contains("Consenso negato") && closed.contains("non vuole essere registrato"),
        "{closed}"
    );
    let (status, _) = text(
        post_console(
            live,
            &b,
            &page2,
            &format!("{second_path}/chiudi"),
            &[("reason", "prova")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "the session has ended");

    // Everything through the domain's audit, reads included, with Wanda as the actor.
    let actions = actions_of(&w, format!("operator:{}", op.id)).await;
    for a in [
        "webmeeting.listed",
        "webmeeting.read",
        "webmeeting.taken",
        "webmeeting.consent_given",
        "webmeeting.identity_checked",
        "webmeeting.documents_received",
        "webmeeting.completed",
        "webmeeting.consent_refused",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}
