//! Desk bookings through HTTP, driven by the injected clock: the calendar across weeks, a
//! closure, a national holiday and the change to summer time; the 5-minute hold; the limits
//! (one per desk type, three open); the last place under 20 parallel holds; the confirmation,
//! reminder and cancellation messages in the seed's wording at the right times; guests with a
//! codice fiscale only; bookings on the phone; the rate limits of the routes without login.

use crate::booking_support::{World, assert_problem, at, outbox, people};
use crate::helpers::blocking;
use diesel::prelude::*;
use procura::db::schema::{audit_log, booking_slots, bookings};
use serde_json::{Value, json};

fn in_person(name: &str, guest: bool) -> Value {
    json!({
        "name": name, "office": "ROMA MONTEVERDE GIANICOLENSE", "kind": "in_person",
        "opening": "mon-fri 08:30-12:30", "slot_minutes": 20, "guest_booking": guest,
        "location": "Via Lenin 45/49, Roma",
    })
}

fn days_of(calendar: &Value) -> Vec<(String, String, Value)> {
    calendar["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
                d["notice"].clone(),
            )
        })
        .collect()
}

async fn taken(w: &World, desk: &str, starts_at: &str) -> i64 {
    let (desk, t) = (desk.to_owned(), at(starts_at).naive_utc());
    w.app()
        .with_db(move |c, _, _| {
            booking_slots::table
                .filter(booking_slots::desk_id.eq(desk))
                .filter(booking_slots::starts_at.eq(t))
                .select(booking_slots::taken)
                .first::<i64>(c)
                .optional()
                .unwrap()
                .unwrap_or(0)
        })
        .await
}

fn slot_starts(slots: &Value) -> Vec<String> {
    slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn booking_calendar_across_weeks_with_closures_holidays_and_summer_time() {
    let w = World::spawn().await;
    // Tuesday 16 March 2027, 11:00 in Rome (CET). Easter Monday is 29 March; summer time
    // starts on Sunday 28 March.
    w.set_clock("2027-03-16T10:00:00Z");
    let (_, op) = w.operator("PRTRSS70A01H501", &["sportello"]).await;
    let desk = w.desk(in_person("SERVIZI VELOCI", true)).await;
    w.duty(&desk, "2027-03-15", "2027-04-09", &[&op]).await;
    let (_, anna) = w
        .citizen("BNCNNA75A41H501", "Anna", Some("3331112222"))
        .await;

    // Desks are listed with today's hours, without login.
    let got = w.get("/v1/desks", None).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(
        got.1["items"][0]["today"],
        "Oggi aperto dalle 08:30 alle 12:30"
    );
    assert_eq!(
        got.1["items"][0]["opening"],
        "mon 08:30-12:30; tue 08:30-12:30; wed 08:30-12:30; thu 08:30-12:30; fri 08:30-12:30"
    );

    // A booking on Friday 19th, before the office decides to close that day.
    let friday = w
        .book(&anna, &desk, "2027-03-19T07:30:00Z", json!({}))
        .await;
    let closure = w
        .post(
            &format!("/v1/operator/desks/{desk}/closures"),
            Some(&w.admin),
            &json!({ "first_day": "2027-03-18", "last_day": "2027-03-19",
                     "notice": "Assemblea del personale" }),
        )
        .await;
    assert_eq!(closure.0, 201, "{}", closure.1);
    assert_eq!(closure.1["cancelled_bookings"], json!([friday["id"]]));
    let told = outbox(w.app(), "booking_cancelled").await;
    assert_eq!(told.len(), 1);
    assert_eq!(
        told[0].sms,
        "Gentile Utente, la prenotazione allo sportello 'SERVIZI VELOCI' per il giorno \
         19/03/2027 ore 08:30:00 è stata cancellata per la chiusura dello sportello: Assemblea \
         del personale."
    );
    assert_eq!(taken(&w, &desk, "2027-03-19T07:30:00Z").await, 0);

    let march = w
        .get(&format!("/v1/desks/{desk}/calendar?month=2027-03"), None)
        .await;
    assert_eq!(march.0, 200, "{}", march.1);
    let days = days_of(&march.1);
    assert_eq!(days.len(), 31);
    let status = |d: &str| {
        days.iter()
            .find(|(date, _, _)| date == d)
            .map(|(_, s, n)| (s.clone(), n.clone()))
            .unwrap()
    };
    assert_eq!(status("2027-03-15").0, "past");
    assert_eq!(status("2027-03-16").0, "available");
    assert_eq!(status("2027-03-17").0, "available");
    assert_eq!(
        status("2027-03-18"),
        ("closed".into(), json!("Assemblea del personale"))
    );
    assert_eq!(status("2027-03-20"), ("closed".into(), Value::Null));
    assert_eq!(
        status("2027-03-29"),
        ("closed".into(), json!("Festività nazionale"))
    );
    assert_eq!(status("2027-03-30").0, "available");
    // Weeks without anyone on duty offer nothing; beyond the horizon nothing opens yet.
    let april = w
        .get(&format!("/v1/desks/{desk}/calendar?month=2027-04"), None)
        .await;
    let april = days_of(&april.1);
    assert_eq!(april[8].1, "available", "{:?}", april[8]); // Fri 9 April
    assert_eq!(april[11].1, "full", "{:?}", april[11]); // Mon 12 April
    let july = w
        .get(&format!("/v1/desks/{desk}/calendar?month=2027-07"), None)
        .await;
    let july = days_of(&july.1);
    assert_eq!(july[13].1, "full"); // 14 July: 120 days ahead, nobody on duty
    assert_eq!(july[14].1, "not_yet_open"); // 15 July
    assert_problem(
        &w.get(&format!("/v1/desks/{desk}/calendar?month=2027-3"), None)
            .await,
        400,
        "invalid-query",
    );

    // Today: only the slots still ahead (11:10, 11:30, 11:50, 12:10).
    let today = w.slots(&desk, "2027-03-16").await;
    let times: Vec<&str> = today["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["time"].as_str().unwrap())
        .collect();
    assert_eq!(times, ["11:10", "11:30", "11:50", "12:10"]);
    assert_eq!(w.slots(&desk, "2027-03-15").await["status"], "past");
    assert_eq!(
        w.slots(&desk, "2027-03-17").await["slots"]
            .as_array()
            .unwrap()
            .len(),
        12
    );

    // The same wall-clock hours on both sides of the change to summer time.
    let before = w.slots(&desk, "2027-03-26").await;
    let after = w.slots(&desk, "2027-03-30").await;
    assert_eq!(before["slots"][0]["time"], "08:30");
    assert_eq!(before["slots"][0]["starts_at"], "2027-03-26T07:30:00Z");
    assert_eq!(after["slots"][0]["time"], "08:30");
    assert_eq!(after["slots"][0]["starts_at"], "2027-03-30T06:30:00Z");
    assert_eq!(after["slots"][11]["ends_at"], "2027-03-30T10:30:00Z");

    // Closed, past, off-grid and too-far slots are refused by name.
    let (_, bruno) = w.citizen("BRNBRN80A01H501", "Bruno", None).await;
    assert_problem(
        &w.hold(&bruno, &desk, "2027-03-18T07:30:00Z").await,
        409,
        "booking-day-closed",
    );
    assert_problem(
        &w.hold(&bruno, &desk, "2027-03-29T06:30:00Z").await,
        409,
        "booking-day-closed",
    );
    assert_problem(
        &w.hold(&bruno, &desk, "2027-03-16T07:30:00Z").await,
        422,
        "booking-slot-past",
    );
    assert_problem(
        &w.hold(&bruno, &desk, "2027-03-17T07:40:00Z").await,
        422,
        "booking-not-a-slot",
    );
    assert_problem(
        &w.hold(&bruno, &desk, "2027-03-20T07:30:00Z").await,
        422,
        "booking-not-a-slot",
    );
    assert_problem(
        &w.hold(&bruno, &desk, "2027-07-20T06:30:00Z").await,
        422,
        "booking-beyond-horizon",
    );
    assert_problem(
        &w.hold(&bruno, &desk, "2027-04-12T06:30:00Z").await,
        409,
        "booking-slot-full",
    );
    // A time given with its offset is the same instant.
    assert_eq!(
        w.hold(&bruno, &desk, "2027-03-30T08:30:00+02:00").await.0,
        201
    );

    // Removing the closure opens the days again.
    let cid = closure.1["id"].as_str().unwrap();
    let got = w
        .send(
            w.http
                .delete(w.url(&format!("/v1/operator/desks/{desk}/closures/{cid}")))
                .bearer_auth(&w.admin),
        )
        .await;
    assert_eq!(got.0, 204, "{}", got.1);
    assert_eq!(w.slots(&desk, "2027-03-18").await["status"], "available");
}

#[actix_web::test]
async fn booking_hold_lasts_five_minutes() {
    let w = World::spawn().await;
    w.set_clock("2026-11-23T10:00:00Z");
    let (_, op) = w.operator("PRTRSS70A01H501", &["sportello"]).await;
    let desk = w
        .desk(json!({
            "name": "RILASCIO PIN", "office": "ROMA EUR", "kind": "pin_in_person",
            "opening": "mon-fri 09:00-10:00", "slot_minutes": 20,
        }))
        .await;
    w.duty(&desk, "2026-11-24", "2026-11-30", &[&op]).await;
    let (_, anna) = w.citizen("BNCNNA75A41H501", "Anna", None).await;
    let (_, bruno) = w.citizen("BRNBRN80A01H501", "Bruno", None).await;
    const NINE: &str = "2026-11-24T08:00:00Z";

    let held = w.hold(&anna, &desk, NINE).await;
    assert_eq!(held.0, 201, "{}", held.1);
    assert_eq!(held.1["status"], "held");
    assert_eq!(held.1["hold_expires_at"], "2026-11-23T10:05:00Z");
    let id = held.1["id"].as_str().unwrap().to_owned();
    assert!(!slot_starts(&w.slots(&desk, "2026-11-24").await).contains(&NINE.to_owned()));
    assert_problem(&w.hold(&bruno, &desk, NINE).await, 409, "booking-slot-full");

    w.app().clock.advance(chrono::Duration::seconds(299));
    assert_problem(&w.hold(&bruno, &desk, NINE).await, 409, "booking-slot-full");
    // Five minutes: free again for everyone, though nothing ran in between.
    w.app().clock.advance(chrono::Duration::seconds(1));
    assert!(slot_starts(&w.slots(&desk, "2026-11-24").await).contains(&NINE.to_owned()));
    let late = w
        .post(
            &format!("/v1/bookings/{id}/confirm"),
            Some(&anna),
            &json!({ "mobile": "3331112222" }),
        )
        .await;
    let p = assert_problem(&late, 409, "booking-hold-expired");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("Il tempo per confermare")
    );
    assert_eq!(
        w.get(&format!("/v1/bookings/{id}"), Some(&anna)).await.1["status"],
        "expired"
    );
    // Bruno takes the place; he confirms in time.
    let b = w.book(&bruno, &desk, NINE, json!({})).await;
    assert_eq!(b["status"], "confirmed");
    assert_eq!(taken(&w, &desk, NINE).await, 1);

    // Taking the operator off duty leaves the booked slot over its capacity: listed.
    let report = w.duty(&desk, "2026-11-24", "2026-11-24", &[]).await;
    assert_eq!(report["overbooked_slots"], json!([NINE]));
    assert_eq!(w.slots(&desk, "2026-11-24").await["status"], "full");
    w.duty(&desk, "2026-11-24", "2026-11-24", &[&op]).await;
    let roster = w
        .get(
            &format!("/v1/operator/desks/{desk}/duty?first_day=2026-11-23&last_day=2026-11-25"),
            Some(&w.admin),
        )
        .await;
    assert_eq!(roster.0, 200, "{}", roster.1);
    assert_eq!(
        roster.1["items"],
        json!([
            { "day": "2026-11-24", "operator_ids": [op] },
            { "day": "2026-11-25", "operator_ids": [op] },
        ])
    );

    // The job gives back a lapsed hold nobody asked about.
    let twenty = "2026-11-24T08:20:00Z";
    assert_eq!(w.hold(&anna, &desk, twenty).await.0, 201);
    assert_eq!(taken(&w, &desk, twenty).await, 1);
    w.app().clock.advance(chrono::Duration::minutes(6));
    assert_eq!(w.run_job().await.holds_released, 1);
    assert_eq!(taken(&w, &desk, twenty).await, 0);
}

#[actix_web::test]
async fn booking_limits_one_per_desk_type_and_three_open() {
    let w = World::spawn().await;
    w.set_clock("2026-11-23T10:00:00Z");
    let (_, op) = w
        .operator("PRTRSS70A01H501", &["sportello", "web_meeting"])
        .await;
    let veloci = w.desk(in_person("SERVIZI VELOCI", false)).await;
    let pensioni = w
        .desk(in_person("CONTO ASSICURATIVO E PENSIONI", false))
        .await;
    let pin = w
        .desk(
            json!({ "name": "RILASCIO PIN", "office": "ROMA EUR", "kind": "pin_in_person",
                      "opening": "mon-fri 09:00-12:00", "slot_minutes": 15 }),
        )
        .await;
    let phone = w
        .desk(
            json!({ "name": "CONSULENZA", "office": "ROMA EUR", "kind": "phone_callback",
                      "opening": "mon-fri 14:00-16:00", "slot_minutes": 10 }),
        )
        .await;
    let web = w
        .desk(json!({ "name": "DELEGHE IDENTITA' DIGITALI IN WEB MEETING",
                      "office": "Sportello telematico", "kind": "web_meeting", "slot_minutes": 20 }))
        .await;
    for d in [&veloci, &pensioni, &pin, &phone, &web] {
        w.duty(d, "2026-11-24", "2026-11-27", &[&op]).await;
    }
    let (_, anna) = w.citizen("BNCNNA75A41H501", "Anna", None).await;

    // Details are checked: reason length, a contact, the mobile a call-back needs.
    let held = w.hold(&anna, &veloci, "2026-11-24T07:30:00Z").await;
    let id = held.1["id"].as_str().unwrap().to_owned();
    let confirm = format!("/v1/bookings/{id}/confirm");
    let bad = w
        .post(
            &confirm,
            Some(&anna),
            &json!({ "reason": "x".repeat(151), "mobile": "12" }),
        )
        .await;
    let p = assert_problem(&bad, 422, "validation-failed");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["reason", "mobile"], "{p}");
    let p = assert_problem(
        &w.post(&confirm, Some(&anna), &json!({})).await,
        422,
        "validation-failed",
    );
    assert_eq!(
        p["errors"][0]["message"],
        "indicare almeno un recapito: cellulare o e-mail"
    );
    let p = assert_problem(
        &w.post(
            &confirm,
            Some(&anna),
            &json!({ "email": "anna@example.it", "delegator": {
                "codice_fiscale": "RSSMRA85T10A562S", "given_name": "Mario", "family_name": "Rossi" } }),
        )
        .await,
        422,
        "validation-failed",
    );
    assert_eq!(p["errors"][0]["reason"], "not_allowed");
    let ok = w
        .post(
            &confirm,
            Some(&anna),
            &json!({ "email": "Anna@Example.it", "reason": "x".repeat(150) }),
        )
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert_eq!(ok.1["email"], "anna@example.it");
    let mail = &outbox(w.app(), "booking_confirmed").await[0];
    assert_eq!(
        (mail.channel.as_str(), mail.recipient.as_str()),
        ("email", "anna@example.it")
    );
    assert!(
        mail.body
            .starts_with("Gentile utente,\n\nla sua prenotazione in modalità accesso in sede"),
        "{}",
        mail.body
    );

    // One per desk type: a second in-person desk is refused.
    let p = assert_problem(
        &w.hold(&anna, &pensioni, "2026-11-24T07:30:00Z").await,
        409,
        "booking-desk-type-limit",
    );
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("una prenotazione per ogni tipo di sportello")
    );
    // Three open in all.
    w.book(&anna, &pin, "2026-11-24T08:00:00Z", json!({})).await;
    let held = w.hold(&anna, &phone, "2026-11-24T13:00:00Z").await;
    let call = held.1["id"].as_str().unwrap().to_owned();
    let p = assert_problem(
        &w.post(
            &format!("/v1/bookings/{call}/confirm"),
            Some(&anna),
            &json!({ "email": "a@b.it" }),
        )
        .await,
        422,
        "validation-failed",
    );
    assert_eq!(p["errors"][0]["field"], "mobile");
    let got = w
        .post(
            &format!("/v1/bookings/{call}/confirm"),
            Some(&anna),
            &json!({ "mobile": "+39 333 111 2222" }),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    let p = assert_problem(
        &w.hold(&anna, &web, "2026-11-24T08:00:00Z").await,
        409,
        "booking-open-limit",
    );
    assert_eq!(p["max_open_bookings"], 3);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("Hai già 3 prenotazioni aperte")
    );
    // Cancelling one frees a place; the other in-person desk can be booked now.
    let got = w
        .post(
            &format!("/v1/bookings/{id}/cancel"),
            Some(&anna),
            &json!({}),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(
        w.hold(&anna, &pensioni, "2026-11-24T07:30:00Z").await.0,
        201
    );
    assert_problem(
        &w.hold(&anna, &web, "2026-11-24T08:00:00Z").await,
        409,
        "booking-open-limit",
    );
    // A past booking no longer counts.
    w.set_clock("2026-11-24T13:20:00Z");
    assert_eq!(w.hold(&anna, &web, "2026-11-26T08:00:00Z").await.0, 201);

    // A desk closed to bookings keeps its bookings and takes no new ones.
    let got = w
        .post(
            &format!("/v1/operator/desks/{pensioni}/active"),
            Some(&w.admin),
            &json!({ "active": false }),
        )
        .await;
    assert_eq!((got.0, &got.1["active"]), (200, &json!(false)), "{}", got.1);
    let (_, bruno) = w.citizen("BRNBRN80A01H501", "Bruno", None).await;
    assert_problem(
        &w.hold(&bruno, &pensioni, "2026-11-26T07:30:00Z").await,
        409,
        "booking-desk-inactive",
    );
    let listed = w.get("/v1/desks", None).await;
    assert!(
        !listed.1["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == pensioni.as_str())
    );

    // A guest cannot book where the desk wants a login.
    assert_problem(
        &w.post(
            "/v1/guest-bookings",
            None,
            &json!({ "desk_id": veloci, "starts_at": "2026-11-25T07:30:00Z",
                     "codice_fiscale": "RSSMRA85T10A562S" }),
        )
        .await,
        403,
        "booking-guest-not-allowed",
    );
    // A token without the scope is refused before anything else.
    let app = w.app();
    let other = crate::auth_support::token_client(app, "other", "openid inps:read").await;
    let code = procura::person::CodiceFiscale::parse(&crate::persons_import::cf("BNCNNA75A41H501"))
        .unwrap();
    let t = crate::auth_support::login_for_tokens(&w.live, &other, &code, "openid inps:read").await;
    assert_problem(
        &w.get("/v1/bookings", Some(&t.access_token)).await,
        403,
        "forbidden",
    );
    assert_problem(&w.get("/v1/bookings", None).await, 401, "unauthorized");
}

#[actix_web::test]
async fn booking_twenty_parallel_holds_for_the_last_place_give_exactly_one() {
    let w = World::spawn().await;
    w.set_clock("2026-11-23T10:00:00Z");
    let (_, op) = w.operator("PRTRSS70A01H501", &["sportello"]).await;
    let desk = w.desk(in_person("SERVIZI VELOCI", true)).await;
    w.duty(&desk, "2026-11-24", "2026-11-24", &[&op]).await;
    const SLOT: &str = "2026-11-24T07:30:00Z";

    let codes = people('G', 20);
    let bodies: Vec<Value> = codes
        .iter()
        .map(|cf| json!({ "desk_id": desk, "starts_at": SLOT, "codice_fiscale": cf }))
        .collect();
    let answers = futures_util::future::join_all(
        bodies.iter().map(|b| w.post("/v1/guest-bookings", None, b)),
    )
    .await;
    let ok = answers.iter().filter(|a| a.0 == 201).count();
    let full = answers
        .iter()
        .filter(|a| a.0 == 409 && a.1["type"].as_str().unwrap().ends_with("booking-slot-full"))
        .count();
    assert_eq!((ok, full), (1, 19), "{answers:?}");
    assert_eq!(taken(&w, &desk, SLOT).await, 1);

    // One person racing themselves: one open booking per desk type, whatever the slot.
    w.duty(&desk, "2026-11-25", "2026-11-25", &[&op]).await;
    let (_, anna) = w.citizen("BNCNNA75A41H501", "Anna", None).await;
    let slots = w.slots(&desk, "2026-11-25").await;
    let starts = slot_starts(&slots);
    let answers =
        futures_util::future::join_all(starts.iter().take(10).map(|s| w.hold(&anna, &desk, s)))
            .await;
    let ok = answers.iter().filter(|a| a.0 == 201).count();
    let limited = answers
        .iter()
        .filter(|a| {
            a.1["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("booking-desk-type-limit"))
        })
        .count();
    assert_eq!((ok, limited), (1, 9), "{answers:?}");
    let open: i64 = w
        .app()
        .with_db(|c, _, _| {
            bookings::table
                .filter(bookings::status.eq("held"))
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(open, 2);
}

#[actix_web::test]
async fn booking_messages_in_the_seeds_wording_at_the_right_times() {
    let w = World::spawn().await;
    w.set_clock("2026-11-23T10:00:00Z");
    let (_, op) = w.operator("WBMTNG70A01H501", &["web_meeting"]).await;
    let (cc, _) = w.operator("CNTCNT70A01H501", &["contact_center"]).await;
    let web = w
        .desk(json!({ "name": "DELEGHE IDENTITA' DIGITALI IN WEB MEETING",
                      "office": "Sportello telematico", "kind": "web_meeting", "slot_minutes": 20 }))
        .await;
    let desk = w.desk(in_person("SERVIZI VELOCI", false)).await;
    let (_, op2) = w.operator("PRTRSS70A01H501", &["sportello"]).await;
    w.duty(&web, "2026-11-24", "2026-11-24", &[&op]).await;
    w.duty(&desk, "2026-11-24", "2026-11-24", &[&op2]).await;
    let (luigi_cf, luigi) = w
        .citizen("VRDLGU80A01H501", "Luigi", Some("3332222222"))
        .await;
    let mario = w.person("RSSMRA40A01H501", "Mario", None).await;

    // The web-meeting desk: Tuesday and Thursday, 9:00-12:00 in Rome, by default.
    let got = w.get(&format!("/v1/desks/{web}"), None).await;
    assert_eq!(got.1["opening"], "tue 09:00-12:00; thu 09:00-12:00");
    assert_eq!(got.1["time_zone"], "Europe/Rome");

    let booked = w
        .book(
            &luigi,
            &web,
            "2026-11-24T08:00:00Z",
            json!({ "delegator": { "codice_fiscale": mario.as_str(),
                                   "given_name": "Mario", "family_name": "Rossi" } }),
        )
        .await;
    let id = booked["id"].as_str().unwrap().to_owned();
    assert_eq!(booked["status"], "confirmed");
    assert_eq!(booked["delegator"]["codice_fiscale"], mario.as_str());
    assert!(
        booked["message"]
            .as_str()
            .unwrap()
            .contains("modello AA08 compilato e sottoscritto")
    );
    let sent = outbox(w.app(), "booking_confirmed").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].recipient.as_str(), sent[0].channel.as_str()),
        ("+393331234567", "sms")
    );
    assert_eq!(
        sent[0].sms,
        "Gentile Utente, le confermiamo la prenotazione allo sportello 'DELEGHE IDENTITA' \
         DIGITALI IN WEB MEETING' in modalità web meeting per il giorno 24/11/2026 ore 09:00:00. \
         Troverà tutte le informazioni nelle scadenze del suo myINPS, sotto la voce 'Calendario'."
    );
    assert_eq!(sent[0].created_at, at("2026-11-23T10:00:00Z"));
    assert_eq!(sent[0].idempotency_key, format!("booking:{id}:confirmed"));
    // The dispatcher hands the same text to the SMS channel (files delivery here).
    let state = w.app().state.clone();
    blocking(move || {
        procura::notify::Dispatcher::from_state(&state)
            .unwrap()
            .dispatch_due()
            .unwrap()
    })
    .await;
    let file = std::fs::read_dir(w.app().config.notify.files_dir.join("sms"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|t| t.contains("le confermiamo"))
        .unwrap();
    assert!(file.contains(&sent[0].sms), "{file}");

    // "Le mie prenotazioni": the list and the detail, the meeting not open yet.
    let list = w.get("/v1/bookings", Some(&luigi)).await;
    assert_eq!(list.0, 200, "{}", list.1);
    assert_eq!(list.1["items"].as_array().unwrap().len(), 1);
    let detail = w.get(&format!("/v1/bookings/{id}"), Some(&luigi)).await;
    assert_eq!(detail.1["meeting"]["status"], "not_yet_open");
    assert_eq!(detail.1["meeting"]["opens_at"], "2026-11-24T07:45:00Z");
    assert_eq!(detail.1["date"], "24/11/2026");
    assert_eq!(detail.1["time"], "09:00");
    assert_eq!(
        detail.1["codice_fiscale"],
        procura::person::codice_fiscale::mask_text(luigi_cf.as_str())
    );

    // The reminder goes out 30 minutes before, once.
    w.set_clock("2026-11-24T07:29:59Z");
    assert_eq!(w.run_job().await.reminded, 0);
    w.set_clock("2026-11-24T07:30:00Z");
    assert_eq!(w.run_job().await.reminded, 1);
    assert_eq!(w.run_job().await.reminded, 0);
    let reminders = outbox(w.app(), "booking_reminder").await;
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].created_at, at("2026-11-24T07:30:00Z"));
    assert_eq!(
        reminders[0].sms,
        "Gentile Utente, le ricordiamo la prenotazione allo sportello 'DELEGHE IDENTITA' \
         DIGITALI IN WEB MEETING' in modalità web meeting per oggi, 24/11/2026 ore 09:00:00. \
         Potrà accedere al web meeting dalle 08:45 dal suo myINPS."
    );

    // Cancelled by the person: the slot is free again, and they are told.
    w.set_clock("2026-11-23T12:00:00Z");
    let mine = w
        .book(&luigi, &desk, "2026-11-24T08:10:00Z", json!({}))
        .await;
    let mine_id = mine["id"].as_str().unwrap();
    let (_, bruno) = w.citizen("BRNBRN80A01H501", "Bruno", None).await;
    assert_problem(
        &w.get(&format!("/v1/bookings/{mine_id}"), Some(&bruno))
            .await,
        404,
        "not-found",
    );
    assert_problem(
        &w.post(
            &format!("/v1/bookings/{mine_id}/cancel"),
            Some(&bruno),
            &json!({}),
        )
        .await,
        404,
        "not-found",
    );
    assert_eq!(taken(&w, &desk, "2026-11-24T08:10:00Z").await, 1);
    let got = w
        .post(
            &format!("/v1/bookings/{mine_id}/cancel"),
            Some(&luigi),
            &json!({}),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["status"], "cancelled");
    assert_eq!(taken(&w, &desk, "2026-11-24T08:10:00Z").await, 0);
    assert_problem(
        &w.post(
            &format!("/v1/bookings/{mine_id}/cancel"),
            Some(&luigi),
            &json!({}),
        )
        .await,
        409,
        "booking-not-cancellable",
    );
    let cancelled = outbox(w.app(), "booking_cancelled").await;
    assert_eq!(
        cancelled[0].sms,
        "Gentile Utente, la prenotazione allo sportello 'SERVIZI VELOCI' per il giorno \
         24/11/2026 ore 09:10:00 è stata cancellata."
    );

    // Cancelled by an operator, with the reason told.
    let again = w
        .book(
            &bruno,
            &desk,
            "2026-11-24T08:10:00Z",
            json!({ "mobile": "3339998888" }),
        )
        .await;
    let again_id = again["id"].as_str().unwrap();
    assert_problem(
        &w.post(
            &format!("/v1/operator/bookings/{again_id}/cancel"),
            Some(&cc),
            &json!({ "reason": " " }),
        )
        .await,
        422,
        "validation-failed",
    );
    let got = w
        .post(
            &format!("/v1/operator/bookings/{again_id}/cancel"),
            Some(&cc),
            &json!({ "reason": "sportello non disponibile" }),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    let cancelled = outbox(w.app(), "booking_cancelled").await;
    assert_eq!(cancelled.len(), 2);
    let by_operator = cancelled
        .iter()
        .find(|m| m.recipient == "+393339998888")
        .unwrap();
    assert!(
        by_operator
            .sms
            .ends_with("è stata cancellata da un operatore INPS: sportello non disponibile.")
    );
    let audited: i64 = w
        .app()
        .with_db(|c, _, _| {
            audit_log::table
                .filter(audit_log::action.eq("booking.cancelled"))
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(audited, 2);

    // Once its time has passed, a booking nobody took in charge is concluded.
    w.set_clock("2026-11-24T12:00:00Z");
    assert_eq!(w.run_job().await.concluded, 1);
    let detail = w.get(&format!("/v1/bookings/{id}"), Some(&luigi)).await;
    assert_eq!(detail.1["status"], "concluded");
    assert_eq!(detail.1["meeting"]["status"], "ended");
}

#[actix_web::test]
async fn booking_by_guests_with_a_codice_fiscale_and_by_phone() {
    let w = World::spawn().await;
    w.set_clock("2026-11-23T10:00:00Z");
    let (_, op) = w
        .operator("PRTRSS70A01H501", &["sportello", "web_meeting"])
        .await;
    let (cc, _) = w.operator("CNTCNT70A01H501", &["contact_center"]).await;
    let (desk_op, _) = w.operator("SPRDSK70C01H501", &["sportello"]).await;
    let desk = w.desk(in_person("SERVIZI VELOCI", true)).await;
    let web = w
        .desk(json!({ "name": "DELEGHE IDENTITA' DIGITALI IN WEB MEETING",
                      "office": "Sportello telematico", "kind": "web_meeting", "slot_minutes": 20 }))
        .await;
    w.duty(&desk, "2026-11-24", "2026-11-24", &[&op]).await;
    w.duty(&web, "2026-11-24", "2026-11-24", &[&op]).await;
    let guest_cf = people('G', 1).remove(0);

    let held = w
        .post(
            "/v1/guest-bookings",
            None,
            &json!({ "desk_id": desk, "starts_at": "2026-11-24T07:30:00Z", "codice_fiscale": guest_cf }),
        )
        .await;
    assert_eq!(held.0, 201, "{}", held.1);
    assert_eq!(held.1["booked_via"], "guest");
    let token = held.1["booking_token"].as_str().unwrap().to_owned();
    let id = held.1["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/guest-bookings/{id}");
    // Without the token, or with another, the booking does not exist.
    assert_problem(&w.get(&path, None).await, 404, "not-found");
    assert_problem(
        &w.guest("GET", &path, "x".repeat(43).as_str(), None).await,
        404,
        "not-found",
    );
    assert_problem(
        &w.post(
            "/v1/guest-bookings",
            None,
            &json!({ "desk_id": desk, "starts_at": "2026-11-24T07:50:00Z", "codice_fiscale": "RSSMRA85T10A562X" }),
        )
        .await,
        422,
        "invalid-codice-fiscale",
    );
    let got = w
        .guest(
            "POST",
            &format!("{path}/confirm"),
            &token,
            Some(&json!({ "mobile": "3334445555" })),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert!(got.1.get("booking_token").is_none());
    let sms = &outbox(w.app(), "booking_confirmed").await[0].sms;
    let reference = got.1["reference"].as_str().unwrap();
    assert_eq!(
        sms,
        &format!(
            "Gentile Utente, le confermiamo la prenotazione allo sportello 'SERVIZI VELOCI' in \
             modalità accesso in sede presso la sede ROMA MONTEVERDE GIANICOLENSE per il giorno \
             24/11/2026 ore 08:30:00. Codice prenotazione: {reference}."
        )
    );
    assert_eq!(
        w.guest("GET", &path, &token, None).await.1["status"],
        "confirmed"
    );
    let got = w
        .guest("POST", &format!("{path}/cancel"), &token, None)
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["status"], "cancelled");

    // The contact centre books a web meeting for the person on the phone.
    let mario = w.person("RSSMRA40A01H501", "Mario", None).await;
    let luigi = w
        .person("VRDLGU80A01H501", "Luigi", Some("3332222222"))
        .await;
    let phone = |who: &str, delegator: Value| {
        json!({ "desk_id": web, "starts_at": "2026-11-24T08:20:00Z", "codice_fiscale": who,
                "mobile": "3332222222", "delegator": delegator })
    };
    let mario_json =
        json!({ "codice_fiscale": mario.as_str(), "given_name": "Mario", "family_name": "Rossi" });
    assert_problem(
        &w.post(
            "/v1/operator/bookings",
            Some(&w.admin),
            &phone(luigi.as_str(), mario_json.clone()),
        )
        .await,
        403,
        "forbidden",
    );
    // Refusals the delegation registry would give later are told now.
    assert_problem(
        &w.post(
            "/v1/operator/bookings",
            Some(&cc),
            &phone(mario.as_str(), mario_json.clone()),
        )
        .await,
        422,
        "delegation-self",
    );
    let got = w
        .post(
            "/v1/operator/bookings",
            Some(&cc),
            &phone(luigi.as_str(), mario_json),
        )
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    assert_eq!(
        (got.1["status"].as_str(), got.1["booked_via"].as_str()),
        (Some("confirmed"), Some("operator"))
    );
    assert_eq!(got.1["codice_fiscale"], luigi.as_str());
    let found = w
        .get(
            &format!("/v1/operator/bookings?codice_fiscale={}", luigi.as_str()),
            Some(&desk_op),
        )
        .await;
    assert_eq!(found.0, 200, "{}", found.1);
    assert_eq!(found.1["items"].as_array().unwrap().len(), 1);
    let (actor, subject): (String, Option<String>) = w
        .app()
        .with_db(|c, _, _| {
            audit_log::table
                .filter(audit_log::action.eq("booking.looked_up"))
                .select((audit_log::actor, audit_log::subject))
                .first(c)
                .unwrap()
        })
        .await;
    assert!(actor.starts_with("operator:"));
    assert_eq!(subject, Some(format!("person:{}", luigi.as_str())));
}

#[actix_web::test]
async fn booking_routes_without_login_are_rate_limited() {
    let w = World::spawn_with(|c| {
        c.booking.guest_requests_per_minute_per_address = 3;
        c.booking.calendar_requests_per_minute_per_address = 5;
    })
    .await;
    w.set_clock("2026-11-23T10:00:00Z");
    let desk = w.desk(in_person("SERVIZI VELOCI", true)).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(w.get(&format!("/v1/desks/{desk}/calendar"), None).await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    let body = json!({ "desk_id": desk, "starts_at": "2026-11-24T07:30:00Z",
                       "codice_fiscale": people('G', 1)[0] });
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(w.post("/v1/guest-bookings", None, &body).await);
    }
    // Nobody on duty: full, three times; then the address is refused before any work.
    assert_eq!(statuses[2].0, 409, "{}", statuses[2].1);
    let last = assert_problem(&statuses[3], 429, "too-many-requests");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .starts_with("Troppe richieste")
    );
    let resp = w
        .http
        .post(w.url("/v1/guest-bookings"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("retry-after").is_some());
}
