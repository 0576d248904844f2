//! The web-meeting desk through HTTP, driven by the injected clock: the early join refused
//! with the guide's message, the waiting room, the link once an operator takes the booking;
//! identity checks, consents, documents (a non-PDF and an oversized one refused); completion
//! registering an active delegation the access check sees at once; a consent refusal ending
//! the session; and registrations at the desk or in a web meeting refused without documents.

use crate::acting_support::{access_check, service_client};
use crate::booking_support::{PDF, World, assert_problem, outbox};
use diesel::prelude::*;
use procura::db::schema::{audit_log, delegation_documents, delegations};
use procura::person::CodiceFiscale;
use serde_json::{Value, json};

struct Meeting {
    w: World,
    /// The operator holding the session, and another web-meeting operator.
    op: String,
    other_op: String,
    luigi: String,
    luigi_cf: CodiceFiscale,
    mario: CodiceFiscale,
    booking: String,
}

/// Luigi (the future delegate) books Tuesday 24 November 2026, 09:00 in Rome, naming Mario.
async fn booked() -> Meeting {
    let w = World::spawn().await;
    w.set_clock("2026-11-23T10:00:00Z");
    let (op, op_id) = w.operator("WBMTNG70A01H501", &["web_meeting"]).await;
    let (other_op, _) = w.operator("WBMTNG71A01H501", &["web_meeting"]).await;
    let desk = w
        .desk(json!({ "name": "DELEGHE IDENTITA' DIGITALI IN WEB MEETING",
                      "office": "Sportello telematico", "kind": "web_meeting", "slot_minutes": 20 }))
        .await;
    w.duty(&desk, "2026-11-24", "2026-11-24", &[&op_id]).await;
    let (luigi_cf, luigi) = w
        .citizen("VRDLGU80A01H501", "Luigi", Some("3332222222"))
        .await;
    let mario = w
        .person("RSSMRA40A01H501", "Mario", Some("3331111111"))
        .await;
    let b = w
        .book(
            &luigi,
            &desk,
            "2026-11-24T08:00:00Z",
            json!({ "mobile": "3332222222", "delegator": {
                "codice_fiscale": mario.as_str(), "given_name": "Mario", "family_name": "Rossi" } }),
        )
        .await;
    Meeting {
        booking: b["id"].as_str().unwrap().to_owned(),
        w,
        op,
        other_op,
        luigi,
        luigi_cf,
        mario,
    }
}

impl Meeting {
    fn path(&self, step: &str) -> String {
        format!("/v1/operator/web-meetings/{}/{step}", self.booking)
    }

    async fn step(&self, step: &str, body: Value) -> (u16, Value) {
        self.w.post(&self.path(step), Some(&self.op), &body).await
    }

    async fn join(&self) -> (u16, Value) {
        self.w
            .post(
                &format!("/v1/bookings/{}/join", self.booking),
                Some(&self.luigi),
                &json!({}),
            )
            .await
    }

    async fn upload(&self, files: &[(&str, &[u8])]) -> (u16, Value) {
        let boundary = "procura-test-boundary-W3BM";
        let mut body = Vec::new();
        for (name, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                     filename=\"{name}.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.w
            .send(
                self.w
                    .http
                    .post(self.w.url(&self.path("documents")))
                    .bearer_auth(&self.op)
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body),
            )
            .await
    }
}

fn identity(side: &str, expires_on: &str) -> Value {
    json!({ "side": side, "document_type": "carta_identita_elettronica",
            "document_number": "CA12345AB", "expires_on": expires_on })
}

#[actix_web::test]
async fn web_meeting_from_the_waiting_room_to_an_active_delegation() {
    let m = booked().await;
    let w = &m.w;

    // 08:44 in Rome: one minute too early, with the guide's message.
    w.set_clock("2026-11-24T07:44:00Z");
    let p = assert_problem(&m.join().await, 409, "webmeeting-too-early");
    assert_eq!(
        p["detail"],
        "Gentile utente, la sua sessione di Spid in Delega sarà disponibile dalle 08:45 del 24/11/2026"
    );
    assert_eq!(p["available_from"], "2026-11-24T07:45:00Z");
    assert_problem(
        &m.step("take", json!({})).await,
        409,
        "webmeeting-too-early",
    );

    // 08:45: the waiting room, until an operator takes the booking in charge.
    w.set_clock("2026-11-24T07:45:00Z");
    let waiting = m.join().await;
    assert_eq!(waiting.0, 202, "{}", waiting.1);
    assert_eq!(waiting.1["status"], "waiting");
    assert!(waiting.1.get("meeting_url").is_none());
    let today = w
        .get("/v1/operator/web-meetings?date=2026-11-24", Some(&m.op))
        .await;
    assert_eq!(today.0, 200, "{}", today.1);
    let item = &today.1["items"][0];
    assert_eq!(item["id"], m.booking.as_str());
    assert_eq!(item["waiting_since"], "2026-11-24T07:45:00Z");
    assert_eq!(item["delegator"]["codice_fiscale"], m.mario.as_str());
    assert!(item["session"].is_null());
    assert_problem(
        &w.get("/v1/operator/web-meetings", Some(&w.admin)).await,
        403,
        "forbidden",
    );

    w.set_clock("2026-11-24T07:58:00Z");
    let taken = m.step("take", json!({})).await;
    assert_eq!(taken.0, 200, "{}", taken.1);
    let session = &taken.1["session"];
    assert_eq!(session["status"], "in_progress");
    let url = session["meeting_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("https://webmeeting.inps.example/room/"),
        "{url}"
    );
    assert_problem(
        &w.post(&m.path("take"), Some(&m.other_op), &json!({})).await,
        409,
        "webmeeting-taken-by-another",
    );
    assert_problem(
        &w.post(
            &m.path("identity"),
            Some(&m.other_op),
            &identity("delegate", "2030-01-01"),
        )
        .await,
        409,
        "webmeeting-taken-by-another",
    );
    let ready = m.join().await;
    assert_eq!(ready.0, 200, "{}", ready.1);
    assert_eq!(
        (ready.1["status"].as_str(), ready.1["meeting_url"].as_str()),
        (Some("ready"), Some(url.as_str()))
    );
    let mine = w
        .get(&format!("/v1/bookings/{}", m.booking), Some(&m.luigi))
        .await;
    assert_eq!(mine.1["meeting"]["status"], "ready");
    assert_eq!(mine.1["meeting"]["meeting_url"], url.as_str());
    assert_eq!(mine.1["cancellable"], false);

    // Nothing can be registered before every step.
    let p = assert_problem(
        &m.step("complete", json!({})).await,
        409,
        "webmeeting-incomplete",
    );
    assert_eq!(
        p["missing"],
        json!([
            "delegate_identity",
            "delegator_identity",
            "delegate_consent",
            "delegator_consent",
            "aa08"
        ])
    );

    // Identity: an expired document is refused.
    let p = assert_problem(
        &m.step("identity", identity("delegator", "2026-11-23"))
            .await,
        422,
        "webmeeting-document-expired",
    );
    assert_eq!(p["side"], "delegator");
    assert_problem(
        &m.step(
            "identity",
            json!({ "side": "both", "document_type": "passaporto",
                                    "document_number": "YA1234567", "expires_on": "2030-01-01" }),
        )
        .await,
        422,
        "validation-failed",
    );
    assert_eq!(
        m.step("identity", identity("delegate", "2030-01-01"))
            .await
            .0,
        200
    );
    assert_eq!(
        m.step("identity", identity("delegator", "2026-11-24"))
            .await
            .0,
        200
    );
    for side in ["delegate", "delegator"] {
        let got = m
            .step("consent", json!({ "side": side, "given": true }))
            .await;
        assert_eq!(got.0, 200, "{}", got.1);
    }

    // Documents: PDF only by content, at most 3 MB each.
    assert_problem(
        &m.upload(&[("aa08", b"MZ\x90\x00 not a pdf")]).await,
        422,
        "document-rejected",
    );
    let mut big = PDF.to_vec();
    big.resize(3 * 1024 * 1024 + 1, b' ');
    let p = assert_problem(&m.upload(&[("aa08", &big)]).await, 422, "document-rejected");
    assert_eq!(p["document"], "aa08");
    assert_problem(
        &m.upload(&[("selfie", PDF)]).await,
        422,
        "validation-failed",
    );
    let got = m
        .upload(&[("aa08", PDF), ("delegator_id_document", PDF)])
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["session"]["missing"], json!(["delegate_id_document"]));
    let got = m.upload(&[("delegate_id_document", PDF)]).await;
    assert_eq!(got.1["session"]["documents"].as_array().unwrap().len(), 3);
    assert_eq!(got.1["session"]["missing"], json!([]));

    // Complete: the delegation is active at once, and the access check sees it.
    let service = service_client(w.app(), "pensioni", "inps:read access:check").await;
    let before = access_check(
        &w.live,
        Some(&service),
        m.luigi_cf.as_str(),
        m.mario.as_str(),
        "inps:read",
    )
    .await;
    assert_eq!(before.1["allowed"], false);
    let done = m.step("complete", json!({})).await;
    assert_eq!(done.0, 200, "{}", done.1);
    let d = &done.1["delegation"];
    assert_eq!(
        (
            d["channel"].as_str(),
            d["status"].as_str(),
            d["kind"].as_str()
        ),
        (Some("web_meeting"), Some("active"), Some("fiducia"))
    );
    assert_eq!(d["delegator_codice_fiscale"], m.mario.as_str());
    assert_eq!(d["delegate_codice_fiscale"], m.luigi_cf.as_str());
    assert_eq!(done.1["web_meeting"]["status"], "completed");
    assert_eq!(done.1["web_meeting"]["session"]["delegation_id"], d["id"]);
    let after = access_check(
        &w.live,
        Some(&service),
        m.luigi_cf.as_str(),
        m.mario.as_str(),
        "inps:read",
    )
    .await;
    assert_eq!(after, (200, json!({ "allowed": true })));
    // Both told; the documents are the delegation's evidence now.
    let mut told: Vec<String> = outbox(w.app(), "delegation_registered")
        .await
        .into_iter()
        .map(|s| s.recipient)
        .collect();
    told.sort();
    assert_eq!(told, ["+393331111111", "+393332222222"]);
    let id = d["id"].as_str().unwrap().to_owned();
    let kinds: Vec<String> = w
        .app()
        .with_db(move |c, _, _| {
            delegation_documents::table
                .filter(delegation_documents::delegation_id.eq(id))
                .order(delegation_documents::kind.asc())
                .select(delegation_documents::kind)
                .load(c)
                .unwrap()
        })
        .await;
    assert_eq!(
        kinds,
        ["aa08", "delegate_id_document", "delegator_id_document"]
    );
    assert_problem(
        &m.step("close", json!({ "reason": "x" })).await,
        409,
        "webmeeting-ended",
    );
    assert_problem(&m.join().await, 409, "webmeeting-closed");

    // Every step audited with the operator as actor and the delegator as subject.
    let mario_party = format!("person:{}", m.mario.as_str());
    let trail: Vec<(String, String)> = w
        .app()
        .with_db(move |c, _, _| {
            audit_log::table
                .filter(audit_log::subject.eq(mario_party))
                .filter(audit_log::actor.like("operator:%"))
                .order(audit_log::seq.asc())
                .select((audit_log::action, audit_log::actor))
                .load(c)
                .unwrap()
        })
        .await;
    let actions: Vec<&str> = trail.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "webmeeting.taken",
            "webmeeting.identity_checked",
            "webmeeting.identity_checked",
            "webmeeting.consent_given",
            "webmeeting.consent_given",
            "webmeeting.documents_received",
            "webmeeting.documents_received",
            "delegation.registered",
            "webmeeting.completed",
        ]
    );
    assert!(trail.iter().all(|(_, actor)| actor == &trail[0].1));
}

#[actix_web::test]
async fn web_meeting_consent_refusal_ends_the_session() {
    let m = booked().await;
    let w = &m.w;
    w.set_clock("2026-11-24T07:50:00Z");
    assert_eq!(m.step("take", json!({})).await.0, 200);
    assert_eq!(
        m.step("consent", json!({ "side": "delegate", "given": true }))
            .await
            .0,
        200
    );
    assert_problem(
        &m.step("consent", json!({ "side": "delegator", "given": false }))
            .await,
        422,
        "validation-failed",
    );
    let refused = m
        .step(
            "consent",
            json!({ "side": "delegator", "given": false,
                    "reason": "il delegante non acconsente alla registrazione" }),
        )
        .await;
    assert_eq!(refused.0, 200, "{}", refused.1);
    assert_eq!(refused.1["status"], "closed");
    let s = &refused.1["session"];
    assert_eq!(s["status"], "consent_refused");
    assert_eq!(s["delegator_consent"], false);
    assert_eq!(
        s["end_reason"],
        "consent_refused_by_delegator: il delegante non acconsente alla registrazione"
    );
    // No delegation can be registered that way any more.
    assert_problem(
        &m.step("consent", json!({ "side": "delegator", "given": true }))
            .await,
        409,
        "webmeeting-ended",
    );
    assert_problem(
        &m.step("identity", identity("delegate", "2030-01-01")).await,
        409,
        "webmeeting-ended",
    );
    assert_problem(&m.upload(&[("aa08", PDF)]).await, 409, "webmeeting-ended");
    assert_problem(
        &m.step("complete", json!({})).await,
        409,
        "webmeeting-ended",
    );
    assert_problem(&m.join().await, 409, "webmeeting-closed");
    let mario = m.mario.as_str().to_owned();
    let count: i64 = w
        .app()
        .with_db(move |c, _, _| {
            delegations::table
                .filter(delegations::delegator_cf.eq(mario))
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(count, 0);
    let detail: Option<String> = w
        .app()
        .with_db(|c, _, _| {
            audit_log::table
                .filter(audit_log::action.eq("webmeeting.consent_refused"))
                .select(audit_log::detail)
                .first(c)
                .unwrap()
        })
        .await;
    assert!(detail.unwrap().contains("il delegante non acconsente"));
    // The booking is over for the person too; a new one can be made.
    let mine = w
        .get(&format!("/v1/bookings/{}", m.booking), Some(&m.luigi))
        .await;
    assert_eq!(mine.1["status"], "closed");
    assert_eq!(mine.1["meeting"]["status"], "ended");
}

#[actix_web::test]
async fn web_meeting_and_desk_registrations_without_documents_are_refused() {
    let w = World::spawn().await;
    let mario = w
        .person("RSSMRA40A01H501", "Mario", Some("3331111111"))
        .await;
    let luigi = w
        .person("VRDLGU80A01H501", "Luigi", Some("3332222222"))
        .await;
    let anna = w.person("BNCNNA75A41H501", "Anna", None).await;
    let (desk, _) = w.operator("SPRDSK70C01H501", &["sportello"]).await;
    let register = |channel: &str,
                    kind: &str,
                    delegator: &CodiceFiscale,
                    files: Vec<(&'static str, &'static [u8])>| {
        let form = json!({
            "channel": channel, "kind": kind,
            "delegator_codice_fiscale": delegator.as_str(),
            "delegate_codice_fiscale": luigi.as_str(),
            "decree_reference": (kind != "fiducia").then_some("Tribunale di Roma, decreto 3/2026"),
        });
        let boundary = "procura-test-boundary-D3SK";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"registration\"\r\n\
             Content-Type: application/json\r\n\r\n{form}\r\n"
        )
        .into_bytes();
        for (name, bytes) in &files {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.pdf\"\r\n\r\n").as_bytes());
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        w.send(
            w.http
                .post(w.url("/v1/operator/delegations"))
                .bearer_auth(&desk)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body),
        )
    };
    let missing = |got: &(u16, Value), doc: &str| {
        let p = assert_problem(got, 422, "document-missing");
        assert_eq!(p["document"], doc, "{p}");
    };
    // AA08: the form and the delegator's identity document.
    missing(
        &register("sportello_aa08", "fiducia", &mario, vec![("aa08", PDF)]).await,
        "delegator_id_document",
    );
    // AA09: also the medical certificate and the delegate's identity document.
    missing(
        &register(
            "sportello_aa09",
            "fiducia",
            &mario,
            vec![
                ("aa09", PDF),
                ("medical_certificate", PDF),
                ("delegator_id_document", PDF),
            ],
        )
        .await,
        "delegate_id_document",
    );
    // AA10 and PEC: the represented person's and the representative's documents.
    missing(
        &register(
            "sportello_aa10",
            "tutore",
            &anna,
            vec![("aa10", PDF), ("decree", PDF)],
        )
        .await,
        "delegator_id_document",
    );
    missing(
        &register(
            "pec",
            "tutore",
            &anna,
            vec![
                ("aa10", PDF),
                ("decree", PDF),
                ("delegator_id_document", PDF),
            ],
        )
        .await,
        "delegate_id_document",
    );
    // The web-meeting channel is not the desk's to use.
    assert_problem(
        &register("web_meeting", "fiducia", &mario, vec![("aa08", PDF)]).await,
        422,
        "validation-failed",
    );
    // With them, registered.
    let got = register(
        "sportello_aa08",
        "fiducia",
        &mario,
        vec![("aa08", PDF), ("delegator_id_document", PDF)],
    )
    .await;
    assert_eq!(got.0, 201, "{}", got.1);
    assert_eq!(got.1["status"], "active");
}
