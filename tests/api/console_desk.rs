//! The branch desk's delegations in the console through HTTP: an AA08 registered with its
//! documents (refused without them, without a form chosen, an AA09 without the medical
//! certificate), the person's delegations looked up (audited) and one revoked by reason —
//! refused without a reason, without the session's token, twice, and to another role.

use crate::console_support::*;
use crate::oidc_support::*;
use diesel::prelude::*;
use procura::db::schema::{audit_log, delegations};

async fn text(r: reqwest::Response) -> (u16, String) {
    (r.status().as_u16(), r.text().await.unwrap())
}

#[actix_web::test]
async fn the_desk_registers_an_aa08_and_revokes_it_by_reason() {
    let live = LiveApp::spawn().await;
    let gianni = person("GLLGNN70A01H501");
    let op = operator_with_pin(&live.app, &gianni, "Gianni", "Galli", &["sportello"]).await;
    let carla = person("CRLNRE75A41H501");
    operator_with_pin(&live.app, &carla, "Carla", "Neri", &["contact_center"]).await;
    let (anna, bruno) = (person("VRDNNA90A41H501"), person("BRNBRN70A01H501"));
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    add_person(&live.app, &bruno, "Bruno", "Galli").await;
    let b = browser();
    let page = console_login(&live, &b, "/console/sportello/deleghe", &gianni).await;
    assert!(page.contains("Modulo AA08") && page.contains("Modulo AA09"));
    let csrf = input_value(&page, "csrf");
    let url = format!("{}/console/sportello/deleghe", live.base);
    let send = |channel: &'static str, files: Vec<(&'static str, &'static [u8])>| {
        let (b, url, csrf) = (b.clone(), url.clone(), csrf.clone());
        let (anna, bruno) = (anna.as_str().to_owned(), bruno.as_str().to_owned());
        async move {
            let fields = [
                ("csrf", csrf.as_str()),
                ("channel", channel),
                ("kind", "fiducia"),
                ("delegator_codice_fiscale", anna.as_str()),
                ("delegate_codice_fiscale", bruno.as_str()),
                ("ends_on", ""),
                ("decree_reference", ""),
            ];
            let (ct, body) = multipart(&fields, &files);
            text(
                b.post(url)
                    .header("content-type", ct)
                    .body(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, t) = send("", vec![("aa08", PDF)]).await;
    assert_eq!(status, 422);
    assert!(t.contains("Scegli il modulo"), "{t}");
    let (status, t) = send("sportello_aa08", vec![("delegator_id_document", PDF)]).await;
    assert_eq!(status, 422);
    assert!(t.contains("Manca un documento: modulo AA08"), "{t}");
    let (status, t) = send(
        "sportello_aa09",
        vec![
            ("aa09", PDF),
            ("delegator_id_document", PDF),
            ("delegate_id_document", PDF),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(t.contains("Manca un documento: certificato medico"), "{t}");
    let (status, t) = send(
        "sportello_aa08",
        vec![("aa08", b"not a pdf"), ("delegator_id_document", PDF)],
    )
    .await;
    assert_eq!(status, 422);
    assert!(t.contains("Modulo AA08: documento non accettato"), "{t}");
    let (status, t) = send(
        "sportello_aa08",
        vec![("aa08", PDF), ("delegator_id_document", PDF)],
    )
    .await;
    assert_eq!(status, 303, "{t}");
    let (_, page) = text(b.get(format!("{url}?esito=attiva")).send().await.unwrap()).await;
    assert!(page.contains("La delega è registrata ed è attiva"));
    let registered = live
        .app
        .with_db(|c, _, _| {
            delegations::table
                .select((delegations::id, delegations::channel, delegations::status))
                .load::<(String, String, String)>(c)
                .unwrap()
        })
        .await;
    assert_eq!(registered.len(), 1);
    let (id, channel, status) = registered[0].clone();
    assert_eq!(
        (channel.as_str(), status.as_str()),
        ("sportello_aa08", "active")
    );

    // The person's delegations, audited; an invalid code is said.
    let get = |path: String| {
        let b = b.clone();
        let url = format!("{}{path}", live.base);
        async move { text(b.get(url).send().await.unwrap()).await }
    };
    let (status, t) = get("/console/sportello/persona?codice_fiscale=RSSMRA".into()).await;
    assert_eq!(status, 422);
    assert!(t.contains("Codice fiscale:"));
    let person_path = format!(
        "/console/sportello/persona?codice_fiscale={}",
        anna.as_str()
    );
    let (status, listed) = get(person_path.clone()).await;
    assert_eq!(status, 200);
    assert!(
        listed.contains("delega di fiducia")
            && listed.contains("(attiva)")
            && listed.contains(&format!("delegato {}", bruno.as_str()))
            && listed.contains("modulo AA08"),
        "{listed}"
    );
    let (_, other_side) = get(format!(
        "/console/sportello/persona?codice_fiscale={}",
        bruno.as_str()
    ))
    .await;
    assert!(other_side.contains(&format!("delegante {}", anna.as_str())));

    // Revocation: a reason, the session's token; an ended delegation is not revoked twice.
    let revoke = format!("/console/sportello/deleghe/{id}/revoca");
    let (status, t) = text(
        post_console(
            &live,
            &b,
            &listed,
            &revoke,
            &[("codice_fiscale", anna.as_str()), ("reason", " ")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(t.contains("Scrivi il motivo della revoca"));
    let forged = b
        .post(format!("{}{revoke}", live.base))
        .form(&[("csrf", "altro"), ("reason", "trasferimento")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let done = post_console(
        &live,
        &b,
        &listed,
        &revoke,
        &[
            ("codice_fiscale", anna.as_str()),
            ("reason", "trasferimento"),
        ],
    )
    .await;
    assert_eq!(done.status(), 303);
    let (_, after) = text(follow(&b, &live.base, &done).await).await;
    assert!(
        after.contains("Delega revocata")
            && after.contains("(revocata)")
            && after.contains("revoked_by_operator: trasferimento"),
        "{after}"
    );
    let (status, t) = text(
        post_console(
            &live,
            &b,
            &after,
            &revoke,
            &[("codice_fiscale", anna.as_str()), ("reason", "ancora")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);
    assert!(t.contains("già terminata"), "{t}");
    let (status, _) = text(
        post_console(
            &live,
            &b,
            &after,
            "/console/sportello/deleghe/nessuna/revoca",
            &[("reason", "prova")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);

    // Another role does not open the desk's pages.
    let bc = browser();
    console_login(&live, &bc, "/console", &carla).await;
    let refused = bc
        .get(format!("{}{person_path}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let actions = live
        .app
        .with_db(move |c, _, _| {
            audit_log::table
                .filter(audit_log::actor.eq(format!("operator:{}", op.id)))
                .select(audit_log::action)
                .load::<String>(c)
                .unwrap()
        })
        .await;
    for a in [
        "delegation.registered",
        "delegation.looked_up",
        "delegation.revoked",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[actix_web::test]
async fn the_contact_centre_checks_a_callers_phone_pin() {
    use procura::pin::phone;
    let live = LiveApp::spawn().await;
    let carla = person("CRLNRE75A41H501");
    let op = operator_with_pin(&live.app, &carla, "Carla", "Neri", &["contact_center"]).await;
    let gianni = person("GLLGNN70A01H501");
    operator_with_pin(&live.app, &gianni, "Gianni", "Galli", &["sportello"]).await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let created = phone::create(
        &live.app.state,
        &anna,
        phone::Validity::OneWeek,
        live.app.clock_now(),
    )
    .await
    .unwrap();
    let b = browser();
    let path = "/console/contact-center/pin-telefonico";
    let page = console_login(&live, &b, path, &carla).await;
    assert!(page.contains("PIN telefonico (8 cifre)"));
    let send = |code: String| {
        let (b, page) = (b.clone(), page.clone());
        let live = &live;
        let anna = anna.as_str().to_owned();
        async move {
            text(
                post_console(
                    live,
                    &b,
                    &page,
                    path,
                    &[("codice_fiscale", anna.as_str()), ("code", code.as_str())],
                )
                .await,
            )
            .await
        }
    };
    let wrong = if created.code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let (status, t) = send(wrong.into()).await;
    assert_eq!(status, 200);
    assert!(t.contains("non è corretto"), "{t}");
    assert!(!t.contains(wrong), "the code typed is not shown again");
    let (status, t) = send("12 34".into()).await;
    assert_eq!(status, 422);
    assert!(t.contains("ha 8 cifre"));
    let spaced = format!("{} {}", &created.code[..4], &created.code[4..]);
    let (status, t) = send(spaced).await;
    assert_eq!(status, 200);
    assert!(t.contains("è corretto: la persona è identificata"), "{t}");
    let (status, t) = text(
        post_console(
            &live,
            &b,
            &page,
            path,
            &[("codice_fiscale", "RSSMRA"), ("code", "12345678")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(t.contains("Codice fiscale:"));
    let forged = b
        .post(format!("{}{path}", live.base))
        .form(&[
            ("csrf", "altro"),
            ("codice_fiscale", anna.as_str()),
            ("code", created.code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // Five wrong codes block it; then even the right one is refused.
    for _ in 0..5 {
        send(wrong.into()).await;
    }
    let (_, t) = send(created.code.clone()).await;
    assert!(t.contains("non funziona più"), "{t}");

    let bg = browser();
    console_login(&live, &bg, "/console", &gianni).await;
    let refused = bg.get(format!("{}{path}", live.base)).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let checks = live
        .app
        .with_db(move |c, _, _| {
            audit_log::table
                .filter(audit_log::actor.eq(format!("operator:{}", op.id)))
                .filter(audit_log::action.like("pin.phone%"))
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await;
    assert!(checks >= 3, "phone checks audited: {checks}");
}

#[actix_web::test]
async fn a_claimed_request_is_released_in_the_console_and_through_the_api() {
    use crate::booking_support::World;
    let w = World::spawn().await;
    let live = &w.live;
    let carla = person("CRLNRE75A41H501");
    operator_with_pin(&live.app, &carla, "Carla", "Neri", &["contact_center"]).await;
    let dora = person("DROBNC80A41H501");
    operator_with_pin(&live.app, &dora, "Dora", "Bianchi", &["contact_center"]).await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let id = queued_pin_request(live, &anna, "Anna", "Verdi").await;

    let b = browser();
    let path = format!("/console/contact-center/richieste/{id}");
    let page = console_login(live, &b, &path, &carla).await;
    let claimed = post_console(live, &b, &page, &format!("{path}/prendi"), &[]).await;
    assert_eq!(claimed.status(), 303);
    let (_, page) = text(follow(&b, &live.base, &claimed).await).await;
    assert!(page.contains("Rilascia la richiesta"));
    let forged = b
        .post(format!("{}{path}/rilascia", live.base))
        .form(&[("csrf", "altro")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let released = post_console(live, &b, &page, &format!("{path}/rilascia"), &[]).await;
    assert_eq!(released.status(), 303);
    let (_, after) = text(follow(&b, &live.base, &released).await).await;
    assert!(
        after.contains("Hai rilasciato la richiesta") && after.contains("Prendi in carico"),
        "{after}"
    );
    // Dora may take it at once; Carla cannot release Dora's claim.
    let bd = browser();
    let dpage = console_login(live, &bd, &path, &dora).await;
    let taken = post_console(live, &bd, &dpage, &format!("{path}/prendi"), &[]).await;
    assert_eq!(taken.status(), 303);
    let (status, t) =
        text(post_console(live, &b, &after, &format!("{path}/rilascia"), &[]).await).await;
    assert_eq!(status, 409);
    assert!(t.contains("Un altro operatore"), "{t}");

    // The API: the same function.
    let (api, _) = w.operator("PRTNNA70A41H501", &["contact_center"]).await;
    let (desk_op, _) = w.operator("SPRDSK70C01H501", &["sportello"]).await;
    let release = format!("/v1/operator/pin/requests/{id}/release");
    let got = w.post(&release, Some(&api), &serde_json::json!({})).await;
    assert_eq!(got.0, 409, "{}", got.1);
    assert_eq!(
        got.1["type"],
        "https://procura.inps.it/problems/pin-request-claimed"
    );
    assert_eq!(
        w.post(&release, Some(&desk_op), &serde_json::json!({}))
            .await
            .0,
        403
    );
    let dpage = text(bd.get(format!("{}{path}", live.base)).send().await.unwrap())
        .await
        .1;
    let freed = post_console(live, &bd, &dpage, &format!("{path}/rilascia"), &[]).await;
    assert_eq!(freed.status(), 303);
    let claim = format!("/v1/operator/pin/requests/{id}/claim");
    assert_eq!(
        w.post(&claim, Some(&api), &serde_json::json!({})).await.0,
        200
    );
    let got = w.post(&release, Some(&api), &serde_json::json!({})).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert!(got.1["claimed_by"].is_null(), "{}", got.1);
    let again = w.post(&release, Some(&api), &serde_json::json!({})).await;
    assert_eq!(again.0, 200, "nothing to release: answered as it is");
    let released = live
        .app
        .with_db(|c, _, _| {
            audit_log::table
                .filter(audit_log::action.eq("pin.request.released"))
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await;
    assert_eq!(released, 3);
}
