//! PIN issuance: the online request (through HTTP), the contact-centre call-back queue and
//! the desk (through the domain functions the operator routes call), on both databases.
//! What reaches the citizen is read back from the outbox: the halves are opened with the
//! outbox key, concatenated, and must log in.

use crate::helpers::TestApp;
use crate::oidc_support::{add_person, mario};
use crate::persons_import::cf;
use diesel::prelude::*;
use procura::config::IssuanceEligibility;
use procura::db::schema::{audit_log, outbox_messages, pin_request_documents, pin_requests};
use procura::person::CodiceFiscale;
use procura::pin::documents::{self, DocumentKind};
use procura::pin::issuance::{self, CallOutcome, DeskRequest, IssuanceError, Recorded};
use procura::pin::request::RequesterData;
use procura::pin::{PinLogin, credential};
use procura::pin::{phone, recovery};
use serde_json::{Value, json};

const ONLINE: &str = "/v1/pin/requests";

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.issuance.online_requests_per_minute_per_address = 1000).await
}

/// Mario's online request, exactly as the registry has him (address spelt differently).
fn mario_form() -> Value {
    json!({
        "codice_fiscale": mario().as_str(),
        "given_name": "mario",
        "family_name": "ROSSI",
        "birth_date": "1985-12-10",
        "address": "V. Roma, n. 1",
        "postal_code": "00100",
        "municipality": "Roma",
        "province": "rm",
        "mobile": "333 123 4567",
        "email": "mario.rossi@example.it",
        "first_half_channel": "sms",
    })
}

#[derive(Debug)]
struct Sent {
    channel: String,
    recipient: String,
    template: String,
    params: Value,
    secret: Option<String>,
}

/// The outbox messages of a request, halves opened with the outbox key.
async fn outbox(app: &TestApp) -> Vec<Sent> {
    let key = app.state.outbox_key.clone();
    app.with_db(move |c, _, _| {
        type Row = (String, String, String, String, String, Option<Vec<u8>>);
        let rows: Vec<Row> = outbox_messages::table
            .select((
                outbox_messages::id,
                outbox_messages::channel,
                outbox_messages::recipient,
                outbox_messages::template,
                outbox_messages::params,
                outbox_messages::sealed_secret,
            ))
            .order(outbox_messages::created_at.asc())
            .load(c)
            .unwrap();
        rows.into_iter()
            .map(|(id, channel, recipient, template, params, sealed)| Sent {
                channel,
                recipient,
                template,
                params: serde_json::from_str(&params).unwrap(),
                secret: sealed.map(|s| key.open(&id, &s).unwrap()),
            })
            .collect()
    })
    .await
}

async fn login(app: &TestApp, code: &str, pin: &str) -> PinLogin {
    let s = &app.state;
    credential::authenticate(
        &s.db,
        &s.hasher,
        &s.audit_key,
        &s.config.pin,
        code,
        pin,
        app.clock_now(),
    )
    .await
    .unwrap()
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String, String)> {
    app.with_db(|c, _, _| {
        audit_log::table
            .select((
                audit_log::actor,
                audit_log::action,
                audit_log::detail.assume_not_null(),
            ))
            .order(audit_log::seq.asc())
            .load(c)
            .unwrap()
    })
    .await
}

/// Every stored text (requests, outbox, audit) as one string, to look for halves in clear.
async fn stored_text(app: &TestApp) -> String {
    app.with_db(|c, _, _| {
        let mut all = String::new();
        let params: Vec<String> = outbox_messages::table
            .select(outbox_messages::params)
            .load(c)
            .unwrap();
        let sealed: Vec<Option<Vec<u8>>> = outbox_messages::table
            .select(outbox_messages::sealed_secret)
            .load(c)
            .unwrap();
        let details: Vec<Option<String>> =
            audit_log::table.select(audit_log::detail).load(c).unwrap();
        let refs: Vec<(String, Option<String>)> = pin_requests::table
            .select((pin_requests::reference, pin_requests::check_failures))
            .load(c)
            .unwrap();
        all.push_str(&format!("{params:?}{details:?}{refs:?}"));
        for s in sealed.into_iter().flatten() {
            all.push_str(&String::from_utf8_lossy(&s));
        }
        all
    })
    .await
}

#[actix_web::test]
async fn online_pass_issues_an_ordinario_pin_split_across_sms_and_letter() {
    let app = spawn().await;
    let code = mario();
    add_person(&app, &code, "Mario", "Rossi").await;

    let resp = app.post_json(ONLINE, &mario_form().to_string()).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["status"], "issued");
    let reference = body["reference"].as_str().unwrap().to_owned();
    assert!(body["message"].as_str().unwrap().contains("per posta"));
    assert!(body.get("pin").is_none() && body.get("first_half").is_none());

    let sent = outbox(&app).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    let sms = sent.iter().find(|m| m.channel == "sms").unwrap();
    assert_eq!(
        (sms.recipient.as_str(), sms.template.as_str()),
        ("+393331234567", "pin_first_half")
    );
    assert_eq!(sms.params["reference"], reference.as_str());
    let letter = sent.iter().find(|m| m.channel == "post").unwrap();
    assert_eq!(letter.template, "pin_second_half");
    // The registry's address, never the one typed.
    assert_eq!(letter.params["address"]["street"], "Via Roma 1");
    assert_eq!(letter.params["address"]["name"], "Mario Rossi");
    let (first, second) = (sms.secret.clone().unwrap(), letter.secret.clone().unwrap());
    assert_eq!((first.len(), second.len()), (8, 8));

    // Neither half, nor the whole, is stored in clear anywhere.
    let stored = stored_text(&app).await;
    assert!(!stored.contains(&first) && !stored.contains(&second));

    // One half alone fails; both together log in, once, and must be changed.
    assert!(matches!(
        login(&app, code.as_str(), &first).await,
        PinLogin::Rejected { .. }
    ));
    assert_eq!(
        login(&app, code.as_str(), &format!("{first}{second}")).await,
        PinLogin::Verified {
            pin_type: procura::pin::PinType::Ordinario,
            change_required: Some(procura::pin::ChangeReason::Initial),
        }
    );
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|a| a.1).collect();
    for a in ["pin.request.submitted", "pin.credential.set", "pin.issued"] {
        assert!(actions.contains(&a.to_owned()), "{a} not in {actions:?}");
    }
}

#[actix_web::test]
async fn online_mismatch_joins_the_call_back_queue_and_the_citizen_is_told() {
    let app = spawn().await;
    let code = mario();
    add_person(&app, &code, "Mario", "Rossi").await;
    let mut form = mario_form();
    form["address"] = json!("Via Milano 3");
    form["first_half_channel"] = json!("email");

    let resp = app.post_json(ONLINE, &form.to_string()).await;
    assert_eq!(resp.status, 202, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["status"], "queued");
    assert!(body["message"].as_str().unwrap().contains("Contact Center"));
    let queued = app
        .with_db(|c, _, now| {
            issuance::queue(
                c,
                &issuance::QueueFilter {
                    limit: 50,
                    ..Default::default()
                },
                now,
            )
            .unwrap()
        })
        .await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].failures(), ["address"]);
    // No PIN yet; the citizen gets a note by e-mail, with no secret in it.
    let c2 = code.clone();
    assert!(
        app.with_db(move |c, _, _| credential::status(c, &c2).unwrap())
            .await
            .is_none()
    );
    let sent = outbox(&app).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (
            sent[0].channel.as_str(),
            sent[0].template.as_str(),
            sent[0].secret.as_deref()
        ),
        ("email", "pin_request_callback", None)
    );

    // A second request while the first waits is refused by the database's constraint.
    let again = app.post_json(ONLINE, &form.to_string()).await;
    let p = again.assert_problem(409, "pin-request-pending");
    assert!(p["detail"].as_str().unwrap().contains("Contact Center"));
}

#[actix_web::test]
async fn an_unknown_codice_fiscale_is_queued_not_revealed() {
    let app = spawn().await;
    let resp = app.post_json(ONLINE, &mario_form().to_string()).await;
    assert_eq!(resp.status, 202, "{}", resp.text());
    let queued = app
        .with_db(|c, _, now| {
            issuance::queue(
                c,
                &issuance::QueueFilter {
                    limit: 50,
                    ..Default::default()
                },
                now,
            )
            .unwrap()
        })
        .await;
    assert_eq!(queued[0].failures(), ["unknown_person"]);
}

#[actix_web::test]
async fn malformed_requests_get_every_field_named_in_italian() {
    let app = spawn().await;
    let mut form = mario_form();
    form["codice_fiscale"] = json!("RSSMRA85T10H501X");
    form["birth_date"] = json!("10/12/1985");
    form["mobile"] = json!("12");
    let resp = app.post_json(ONLINE, &form.to_string()).await;
    let p = resp.assert_problem(422, "validation-failed");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "codice_fiscale",
            "birth_date",
            "mobile",
            "first_half_channel"
        ]
    );
    assert!(p["detail"].as_str().unwrap().starts_with("Alcuni dati"));

    let resp = app.post_json(ONLINE, r#"{"codice_fiscale": 1}"#).await;
    resp.assert_problem(422, "validation-failed");
    let resp = app.post_json(ONLINE, "{").await;
    resp.assert_problem(400, "malformed-json");
}

#[actix_web::test]
async fn a_delegate_or_other_third_party_is_refused_with_the_reason() {
    let app = spawn().await;
    let code = mario();
    add_person(&app, &code, "Mario", "Rossi").await;
    for role in ["delegato", "patronato", ""] {
        let mut form = mario_form();
        form["requester"] = json!({ "codice_fiscale": cf("VRDGPP60A01H501"), "role": role });
        let resp = app.post_json(ONLINE, &form.to_string()).await;
        let p = resp.assert_problem(403, "pin-third-party");
        assert_eq!(p["refusal"], "third_party");
        assert!(p["detail"].as_str().unwrap().contains("delegato"), "{p}");
    }
    assert!(outbox(&app).await.is_empty());
}

#[actix_web::test]
async fn a_parent_asks_for_a_minor_only_and_a_person_checks_the_representation() {
    let app = spawn().await;
    let child = CodiceFiscale::parse(&cf("RSSLCU15A41H501")).unwrap();
    add_person(&app, &child, "Lucia", "Rossi").await;
    let code = mario();
    add_person(&app, &code, "Mario", "Rossi").await;
    let parent = json!({ "codice_fiscale": cf("RSSGPP80A01H501"), "role": "genitore", "reference": "autocertificazione potestà" });

    // Mario is of age: no parent may ask for him.
    let mut form = mario_form();
    form["requester"] = parent.clone();
    let p = app
        .post_json(ONLINE, &form.to_string())
        .await
        .assert_problem(422, "pin-representation-invalid");
    assert_eq!(p["refusal"], "not_a_minor");

    // Without the self-declaration reference.
    let mut form = mario_form();
    form["codice_fiscale"] = json!(child.as_str());
    form["given_name"] = json!("Lucia");
    form["birth_date"] = json!("2015-01-01");
    form["requester"] = json!({ "codice_fiscale": cf("RSSGPP80A01H501"), "role": "genitore" });
    let p = app
        .post_json(ONLINE, &form.to_string())
        .await
        .assert_problem(422, "pin-representation-invalid");
    assert_eq!(p["refusal"], "missing_reference");

    // With it: the data match, but the representation is checked by a person.
    form["requester"] = parent;
    let resp = app.post_json(ONLINE, &form.to_string()).await;
    assert_eq!(resp.status, 202, "{}", resp.text());
    let queued = app
        .with_db(|c, _, now| {
            issuance::queue(
                c,
                &issuance::QueueFilter {
                    limit: 50,
                    ..Default::default()
                },
                now,
            )
            .unwrap()
        })
        .await;
    assert_eq!(queued[0].failures(), ["representation"]);
    assert_eq!(queued[0].codice_fiscale, child.as_str());
    assert_eq!(queued[0].representation.as_deref(), Some("genitore"));
}

#[actix_web::test]
async fn an_active_pin_or_the_eligibility_policy_refuses_a_new_one() {
    let app = TestApp::spawn_with(|c| {
        c.issuance.online_requests_per_minute_per_address = 1000;
        c.issuance.eligibility = IssuanceEligibility::ForeignResidentsOnly;
    })
    .await;
    let code = mario();
    add_person(&app, &code, "Mario", "Rossi").await;
    let p = app
        .post_json(ONLINE, &mario_form().to_string())
        .await
        .assert_problem(403, "pin-not-eligible");
    assert!(p["detail"].as_str().unwrap().contains("SPID"));

    let app = spawn().await;
    add_person(&app, &code, "Mario", "Rossi").await;
    assert_eq!(
        app.post_json(ONLINE, &mario_form().to_string())
            .await
            .status,
        201
    );
    let p = app
        .post_json(ONLINE, &mario_form().to_string())
        .await
        .assert_problem(409, "pin-already-active");
    assert!(p["detail"].as_str().unwrap().contains("recupero"));
}

#[actix_web::test]
async fn online_requests_are_rate_limited_per_address() {
    let app = TestApp::spawn_with(|c| c.issuance.online_requests_per_minute_per_address = 2).await;
    // Counted once the body is JSON of the right shape: only those reach the registry.
    let mut form = mario_form();
    form["mobile"] = json!("12");
    for _ in 0..2 {
        assert_eq!(app.post_json(ONLINE, &form.to_string()).await.status, 422);
    }
    let resp = app.post_json(ONLINE, &form.to_string()).await;
    let p = resp.assert_problem(429, "too-many-requests");
    assert!(resp.header("retry-after").is_some());
    assert!(p["detail"].as_str().unwrap().contains("Riprova"));
}

/// Mario's request queued (address mismatch); returns its id.
async fn queued_request(app: &TestApp) -> String {
    let code = mario();
    add_person(app, &code, "Mario", "Rossi").await;
    let mut form = mario_form();
    form["address"] = json!("Via Milano 3");
    assert_eq!(app.post_json(ONLINE, &form.to_string()).await.status, 202);
    app.with_db(|c, _, _| {
        pin_requests::table
            .select(pin_requests::id)
            .first::<String>(c)
            .unwrap()
    })
    .await
}

async fn claim(app: &TestApp, id: &str, op: &str) -> Result<(), IssuanceError> {
    let (state, id, op) = (app.state.clone(), id.to_owned(), op.to_owned());
    app.with_db(move |c, _, now| issuance::claim(c, &state, &id, &op, now).map(|_| ()))
        .await
}

#[actix_web::test]
async fn the_contact_centre_claims_calls_and_validates() {
    let app = spawn().await;
    let id = queued_request(&app).await;
    claim(&app, &id, "op-anna").await.unwrap();
    assert!(matches!(
        claim(&app, &id, "op-bruno").await,
        Err(IssuanceError::ClaimedByOther)
    ));
    // Only the holder of the claim records an outcome.
    let r = issuance::record_outcome(
        &app.state,
        &id,
        "op-bruno",
        CallOutcome::Validated,
        app.clock_now(),
    )
    .await;
    assert!(matches!(r, Err(IssuanceError::ClaimedByOther)), "{r:?}");
    // The claim lapses after claim_minutes: then another operator may take it.
    app.clock.advance(chrono::TimeDelta::minutes(31));
    claim(&app, &id, "op-bruno").await.unwrap();

    let r = issuance::record_outcome(
        &app.state,
        &id,
        "op-bruno",
        CallOutcome::Validated,
        app.clock_now(),
    )
    .await
    .unwrap();
    let Recorded::Issued { first_half } = r else {
        panic!("{r:?}")
    };
    let sent = outbox(&app).await;
    let sms = sent
        .iter()
        .find(|m| m.template == "pin_first_half")
        .unwrap();
    assert_eq!(sms.secret.as_deref(), Some(first_half.as_str()));
    let letter = sent.iter().find(|m| m.channel == "post").unwrap();
    assert_eq!(letter.params["address"]["street"], "Via Roma 1");
    let pin = format!("{first_half}{}", letter.secret.clone().unwrap());
    assert!(matches!(
        login(&app, mario().as_str(), &pin).await,
        PinLogin::Verified { .. }
    ));
    // Decided: nothing more to record.
    let r = issuance::record_outcome(
        &app.state,
        &id,
        "op-bruno",
        CallOutcome::NoAnswer,
        app.clock_now(),
    )
    .await;
    assert!(matches!(r, Err(IssuanceError::NotQueued(_))), "{r:?}");
    let actions = audit_actions(&app).await;
    assert!(actions.iter().any(
        |(actor, action, _)| actor == "operator:op-bruno" && action == "pin.request.validated"
    ));
    assert!(
        actions
            .iter()
            .any(|(actor, action, _)| actor == "operator:op-bruno" && action == "pin.issued")
    );
}

#[actix_web::test]
async fn unanswered_calls_are_retried_then_the_request_is_closed() {
    let app = spawn().await;
    let id = queued_request(&app).await;
    let r = issuance::record_outcome(
        &app.state,
        &id,
        "op-anna",
        CallOutcome::NoAnswer,
        app.clock_now(),
    )
    .await;
    assert!(matches!(r, Err(IssuanceError::NotClaimed)), "{r:?}");
    for attempt in 1..=3 {
        claim(&app, &id, "op-anna").await.unwrap();
        let r = issuance::record_outcome(
            &app.state,
            &id,
            "op-anna",
            CallOutcome::NoAnswer,
            app.clock_now(),
        )
        .await
        .unwrap();
        if attempt < 3 {
            assert!(matches!(r, Recorded::RetryLater { .. }), "{r:?}");
            // Not due again before callback_retry_minutes.
            let due = app
                .with_db(|c, _, now| {
                    issuance::queue(
                        c,
                        &issuance::QueueFilter {
                            limit: 50,
                            ..Default::default()
                        },
                        now,
                    )
                    .unwrap()
                })
                .await;
            assert!(due.is_empty());
            app.clock.advance(chrono::TimeDelta::minutes(121));
        } else {
            assert!(matches!(r, Recorded::Closed), "{r:?}");
        }
    }
    let sent = outbox(&app).await;
    assert!(sent.iter().any(|m| m.template == "pin_request_closed"));
    assert!(matches!(
        claim(&app, &id, "op-anna").await,
        Err(IssuanceError::NotQueued(_))
    ));
}

#[actix_web::test]
async fn a_rejection_needs_a_reason_and_is_told_to_the_citizen() {
    let app = spawn().await;
    let id = queued_request(&app).await;
    claim(&app, &id, "op-anna").await.unwrap();
    let r = issuance::record_outcome(
        &app.state,
        &id,
        "op-anna",
        CallOutcome::Rejected { reason: " ".into() },
        app.clock_now(),
    )
    .await;
    assert!(matches!(r, Err(IssuanceError::ReasonRequired)));
    let reason = "Identità non confermata al telefono";
    issuance::record_outcome(
        &app.state,
        &id,
        "op-anna",
        CallOutcome::Rejected {
            reason: reason.into(),
        },
        app.clock_now(),
    )
    .await
    .unwrap();
    let sent = outbox(&app).await;
    let note = sent
        .iter()
        .find(|m| m.template == "pin_request_rejected")
        .unwrap();
    assert_eq!(note.params["reason"], reason);
    let c2 = mario();
    assert!(
        app.with_db(move |c, _, _| credential::status(c, &c2).unwrap())
            .await
            .is_none()
    );
}

fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec()
}

fn jpeg() -> Vec<u8> {
    vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 0xFF, 0xD9,
    ]
}

#[actix_web::test]
async fn the_desk_issues_a_whole_dispositivo_pin_and_archives_the_documents() {
    let app = spawn().await;
    let code = mario();
    add_person(&app, &code, "Mario", "Rossi").await;
    let docs = |kinds: &[DocumentKind]| {
        kinds
            .iter()
            .map(|k| {
                documents::check(
                    *k,
                    if *k == DocumentKind::IdDocument {
                        jpeg()
                    } else {
                        pdf()
                    },
                    3 << 20,
                )
                .unwrap()
            })
            .collect::<Vec<_>>()
    };
    let desk = |documents| DeskRequest {
        holder: code.clone(),
        requester: RequesterData::Holder,
        without_italian_id_document: false,
        documents,
    };
    let r = issuance::issue_at_desk(
        &app.state,
        "op-sede",
        desk(docs(&[DocumentKind::Mv35])),
        app.clock_now(),
    )
    .await;
    assert!(
        matches!(r, Err(IssuanceError::MissingDocument("id_document"))),
        "{r:?}"
    );

    let issued = issuance::issue_at_desk(
        &app.state,
        "op-sede",
        desk(docs(&[DocumentKind::Mv35, DocumentKind::IdDocument])),
        app.clock_now(),
    )
    .await
    .unwrap();
    // Whole, at once, and nothing goes by post or SMS.
    assert!(outbox(&app).await.is_empty());
    assert_eq!(
        login(&app, code.as_str(), issued.pin.whole()).await,
        PinLogin::Verified {
            pin_type: procura::pin::PinType::Dispositivo,
            change_required: Some(procura::pin::ChangeReason::Initial),
        }
    );
    let archived: Vec<(String, String, String)> = app
        .with_db(|c, _, _| {
            pin_request_documents::table
                .select((
                    pin_request_documents::kind,
                    pin_request_documents::media_type,
                    pin_request_documents::sha256,
                ))
                .order(pin_request_documents::kind.asc())
                .load(c)
                .unwrap()
        })
        .await;
    assert_eq!(archived.len(), 2);
    assert_eq!(archived[0].0, "id_document");
    assert_eq!(archived[0].1, "image/jpeg");
    assert_eq!(archived[1].1, "application/pdf");
    let actions = audit_actions(&app).await;
    assert!(
        actions
            .iter()
            .any(|(actor, action, detail)| actor == "operator:op-sede"
                && action == "pin.request.submitted"
                && detail.contains(&archived[0].2))
    );
    assert!(!stored_text(&app).await.contains(issued.pin.whole()));

    // A delegate at the desk is refused too; a tutore needs the decree.
    let as_delegate = DeskRequest {
        requester: RequesterData::ThirdParty {
            role: "delegato".into(),
        },
        ..desk(docs(&[DocumentKind::Mv35, DocumentKind::IdDocument]))
    };
    let r = issuance::issue_at_desk(&app.state, "op-sede", as_delegate, app.clock_now()).await;
    assert!(
        matches!(
            r,
            Err(IssuanceError::Refused(
                procura::pin::policy::Refusal::ThirdParty
            ))
        ),
        "{r:?}"
    );
    let tutore = RequesterData::Representative {
        codice_fiscale: CodiceFiscale::parse(&cf("VRDGPP60A01H501")).unwrap(),
        kind: procura::pin::policy::Representation::Tutore,
        reference: Some("Trib. Roma 12/2025".into()),
    };
    let r = issuance::issue_at_desk(
        &app.state,
        "op-sede",
        DeskRequest {
            requester: tutore.clone(),
            ..desk(docs(&[DocumentKind::Mv35, DocumentKind::IdDocument]))
        },
        app.clock_now(),
    )
    .await;
    assert!(matches!(r, Err(IssuanceError::MissingDocument(_))), "{r:?}");
    issuance::issue_at_desk(
        &app.state,
        "op-sede",
        DeskRequest {
            requester: tutore,
            ..desk(docs(&[
                DocumentKind::Mv35,
                DocumentKind::IdDocument,
                DocumentKind::Decree,
            ]))
        },
        app.clock_now(),
    )
    .await
    .unwrap();
}

#[actix_web::test]
async fn the_desk_needs_the_person_in_the_registry() {
    let app = spawn().await;
    let r = issuance::issue_at_desk(
        &app.state,
        "op-sede",
        DeskRequest {
            holder: mario(),
            requester: RequesterData::Holder,
            without_italian_id_document: false,
            documents: vec![],
        },
        app.clock_now(),
    )
    .await;
    assert!(matches!(r, Err(IssuanceError::NotInRegistry)), "{r:?}");
}

/// Mario with a PIN issued online (mobile and e-mail on file) and used once.
async fn mario_with_issued_pin(app: &TestApp) -> String {
    let code = mario();
    add_person(app, &code, "Mario", "Rossi").await;
    assert_eq!(
        app.post_json(ONLINE, &mario_form().to_string())
            .await
            .status,
        201
    );
    let sent = outbox(app).await;
    let pin: String = ["pin_first_half", "pin_second_half"]
        .iter()
        .map(|t| {
            sent.iter()
                .find(|m| m.template == *t)
                .unwrap()
                .secret
                .clone()
                .unwrap()
        })
        .collect();
    assert!(matches!(
        login(app, code.as_str(), &pin).await,
        PinLogin::Verified { .. }
    ));
    pin
}

fn given(mobile: Option<&str>, email: Option<&str>, pec: Option<&str>) -> recovery::Contacts {
    recovery::Contacts {
        mobile: mobile.map(str::to_owned),
        email: email.map(str::to_owned),
        pec: pec.map(str::to_owned),
    }
}

#[actix_web::test]
async fn a_lost_pin_is_recovered_split_across_two_contacts_on_file() {
    let app = spawn().await;
    let old = mario_with_issued_pin(&app).await;
    let code = mario();
    let before = outbox(&app).await.len();

    // One contact, or a wrong one, is not enough.
    for g in [
        given(Some("+393331234567"), None, None),
        given(Some("+393331234567"), Some("other@example.it"), None),
    ] {
        let r = recovery::recover(&app.state, &code, &g, app.clock_now())
            .await
            .unwrap();
        assert_eq!(r, recovery::Recovery::ContactsDoNotMatch);
    }
    assert_eq!(outbox(&app).await.len(), before);

    let r = recovery::recover(
        &app.state,
        &code,
        &given(Some("+393331234567"), Some("mario.rossi@example.it"), None),
        app.clock_now(),
    )
    .await
    .unwrap();
    assert_eq!(r, recovery::Recovery::Sent);
    let sent = outbox(&app).await;
    let halves: Vec<&Sent> = sent
        .iter()
        .filter(|m| m.template == "pin_recovery_half")
        .collect();
    assert_eq!(halves.len(), 2);
    assert_eq!(
        (
            halves[0].channel.as_str(),
            halves[0].params["part"].as_i64()
        ),
        ("sms", Some(1))
    );
    assert_eq!(
        (
            halves[1].channel.as_str(),
            halves[1].params["part"].as_i64()
        ),
        ("email", Some(2))
    );
    let new_pin = format!(
        "{}{}",
        halves[0].secret.clone().unwrap(),
        halves[1].secret.clone().unwrap()
    );
    assert!(matches!(
        login(&app, code.as_str(), &old).await,
        PinLogin::Rejected { .. }
    ));
    assert!(matches!(
        login(&app, code.as_str(), &new_pin).await,
        PinLogin::Verified { .. }
    ));
}

#[actix_web::test]
async fn a_never_used_pin_cannot_be_recovered() {
    let app = spawn().await;
    let code = mario();
    add_person(&app, &code, "Mario", "Rossi").await;
    assert_eq!(
        app.post_json(ONLINE, &mario_form().to_string())
            .await
            .status,
        201
    );
    let r = recovery::recover(
        &app.state,
        &code,
        &given(Some("+393331234567"), Some("mario.rossi@example.it"), None),
        app.clock_now(),
    )
    .await
    .unwrap();
    assert_eq!(r, recovery::Recovery::NeverUsed);
}

#[actix_web::test]
async fn a_revoked_pin_no_longer_logs_in_and_the_holder_is_told() {
    let app = spawn().await;
    let pin = mario_with_issued_pin(&app).await;
    let code = mario();
    let r = recovery::revoke(
        &app.state,
        &code,
        recovery::Revoker::Operator {
            id: "op-anna".into(),
            reason: " ".into(),
        },
        app.clock_now(),
    )
    .await;
    assert!(matches!(r, Err(IssuanceError::ReasonRequired)), "{r:?}");
    recovery::revoke(
        &app.state,
        &code,
        recovery::Revoker::Operator {
            id: "op-anna".into(),
            reason: "Richiesta del titolare al telefono".into(),
        },
        app.clock_now(),
    )
    .await
    .unwrap();
    assert!(matches!(
        login(&app, code.as_str(), &pin).await,
        PinLogin::Rejected { .. }
    ));
    assert!(
        outbox(&app)
            .await
            .iter()
            .any(|m| m.template == "pin_revoked" && m.channel == "sms")
    );
    let actions = audit_actions(&app).await;
    assert!(
        actions
            .iter()
            .any(|(actor, action, detail)| actor == "operator:op-anna"
                && action == "pin.revoked"
                && detail.contains("titolare"))
    );
    // Nothing left to revoke; and a new request is now possible.
    let r = recovery::revoke(
        &app.state,
        &code,
        recovery::Revoker::Holder,
        app.clock_now(),
    )
    .await;
    assert!(
        matches!(
            r,
            Err(IssuanceError::Pin(procura::pin::PinError::NoCredential))
        ),
        "{r:?}"
    );
    assert_eq!(
        app.post_json(ONLINE, &mario_form().to_string())
            .await
            .status,
        201
    );
}

#[actix_web::test]
async fn a_phone_pin_identifies_the_caller_until_it_expires_or_is_replaced() {
    let app = spawn().await;
    let code = mario();
    let created = phone::create(&app.state, &code, phone::Validity::OneWeek, app.clock_now())
        .await
        .unwrap();
    assert_eq!(created.code.len(), 8);
    let check = |c: String| {
        let (state, code) = (app.state.clone(), code.clone());
        let now = app.clock_now();
        async move {
            phone::check(&state, "op-anna", &code, &c, now)
                .await
                .unwrap()
        }
    };
    assert!(matches!(
        check(created.code.clone()).await,
        phone::PhoneCheck::Valid { .. }
    ));
    // A new one cancels the old.
    let newer = phone::create(&app.state, &code, phone::Validity::OneDay, app.clock_now())
        .await
        .unwrap();
    assert_eq!(
        check(created.code.clone()).await,
        phone::PhoneCheck::Invalid
    );
    assert!(matches!(
        check(newer.code.clone()).await,
        phone::PhoneCheck::Valid { .. }
    ));
    // Expired after its validity.
    app.clock
        .advance(chrono::TimeDelta::days(1) + chrono::TimeDelta::seconds(1));
    assert_eq!(check(newer.code.clone()).await, phone::PhoneCheck::Invalid);
    // Unknown person: the same answer.
    let other = CodiceFiscale::parse(&cf("VRDGPP60A01H501")).unwrap();
    let r = phone::check(&app.state, "op-anna", &other, "12345678", app.clock_now())
        .await
        .unwrap();
    assert_eq!(r, phone::PhoneCheck::Invalid);
}

#[actix_web::test]
async fn parallel_wrong_phone_pins_exhaust_it_after_five() {
    let app = spawn().await;
    let code = mario();
    let created = phone::create(
        &app.state,
        &code,
        phone::Validity::OneMonth,
        app.clock_now(),
    )
    .await
    .unwrap();
    let wrong = if created.code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (state, code, now) = (app.state.clone(), code.clone(), app.clock_now());
            actix_web::rt::spawn(async move {
                phone::check(&state, "op-anna", &code, wrong, now)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut invalid = 0;
    for t in tasks {
        match t.await.unwrap() {
            phone::PhoneCheck::Invalid => invalid += 1,
            phone::PhoneCheck::Exhausted => {}
            v @ phone::PhoneCheck::Valid { .. } => panic!("{v:?}"),
        }
    }
    assert_eq!(invalid, 5);
    // Now even the right code is refused.
    let r = phone::check(&app.state, "op-anna", &code, &created.code, app.clock_now())
        .await
        .unwrap();
    assert_eq!(r, phone::PhoneCheck::Exhausted);
}
