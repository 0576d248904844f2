//! The PIN credential through its domain API: issuance, login answers, expiry, deactivation,
//! lockout and blocking (also under 50 parallel guesses), PIN change rules, audit records.

use crate::helpers::TestApp;
use crate::persons_import::cf;
use chrono::{Duration, NaiveDate};
use diesel::prelude::*;
use procura::audit::{Party, Record};
use procura::config::PinConfig;
use procura::db::schema::{audit_log, persons, pin_credentials};
use procura::password::PasswordHasher;
use procura::person::{CodiceFiscale, Person};
use procura::pin::credential::{self, CredentialState};
use procura::pin::{ChangeReason, Holder, Lockout, PinError, PinLogin, PinRuleViolation, PinType};
use std::sync::Arc;

const PIN: &str = "K7M2Q9X4";
const OTHER_PIN: &str = "Z8W3T6R1";
const WRONG: &str = "WRONG123";
const INITIAL: &str = "ABCD1234EFGH5678";

struct Pins {
    app: TestApp,
    hasher: Arc<PasswordHasher>,
    policy: PinConfig,
}

impl Pins {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let policy = app.config.pin.clone();
        Self {
            app,
            hasher: Arc::new(PasswordHasher::new(2, 0).unwrap()),
            policy,
        }
    }

    /// Registers a person and returns their code.
    async fn person(&self, first15: &str, given: &str, family: &str) -> CodiceFiscale {
        let code = CodiceFiscale::parse(&cf(first15)).unwrap();
        let (text, given, family) = (
            code.as_str().to_owned(),
            given.to_owned(),
            family.to_owned(),
        );
        self.app
            .with_db(move |conn, _, now| {
                let now = now.naive_utc();
                diesel::insert_into(persons::table)
                    .values(Person {
                        codice_fiscale: text,
                        given_name: given,
                        family_name: family,
                        birth_date: NaiveDate::from_ymd_opt(1985, 12, 10).unwrap(),
                        sex: "M".into(),
                        address: "Via Roma 1".into(),
                        postal_code: "00100".into(),
                        municipality: "Roma".into(),
                        province: "RM".into(),
                        mobile: None,
                        email: None,
                        pec: None,
                        created_at: now,
                        updated_at: now,
                    })
                    .execute(conn)
                    .unwrap();
            })
            .await;
        code
    }

    async fn mario(&self) -> CodiceFiscale {
        self.person("RSSMRA85T10H501", "Mario", "Rossi").await
    }

    async fn try_set(
        &self,
        cf: &CodiceFiscale,
        pin: &str,
        holder: Holder,
        initial: bool,
    ) -> Result<(), PinError> {
        credential::set_credential(
            &self.app.state.db,
            &self.hasher,
            &self.app.state.audit_key,
            &self.policy,
            cf,
            pin,
            PinType::Dispositivo,
            holder,
            initial,
            Party::operator("op1"),
            self.app.clock_now(),
        )
        .await
    }

    async fn set(&self, cf: &CodiceFiscale, pin: &str, initial: bool) {
        self.try_set(cf, pin, Holder::Cittadino, initial)
            .await
            .unwrap();
    }

    async fn login(&self, cf_text: &str, pin: &str) -> PinLogin {
        credential::authenticate(
            &self.app.state.db,
            &self.hasher,
            &self.app.state.audit_key,
            &self.policy,
            cf_text,
            pin,
            self.app.clock_now(),
        )
        .await
        .unwrap()
    }

    async fn change(&self, cf: &CodiceFiscale, pin: &str) -> Result<(), PinError> {
        credential::change_pin(
            &self.app.state.db,
            &self.hasher,
            &self.app.state.audit_key,
            &self.policy,
            cf,
            pin,
            self.app.clock_now(),
        )
        .await
    }

    async fn state(&self, cf: &CodiceFiscale) -> CredentialState {
        let cf = cf.clone();
        self.app
            .with_db(move |conn, _, _| credential::status(conn, &cf).unwrap().unwrap())
            .await
    }

    async fn audit(&self) -> Vec<Record> {
        self.app
            .with_db(|conn, _, _| {
                audit_log::table
                    .order(audit_log::seq.asc())
                    .select(Record::as_select())
                    .load(conn)
                    .unwrap()
            })
            .await
    }

    /// `(action, outcome)` of every audit record, in order.
    async fn actions(&self) -> Vec<(String, String)> {
        self.audit()
            .await
            .into_iter()
            .map(|r| (r.action, r.outcome))
            .collect()
    }

    fn advance(&self, by: Duration) {
        self.app.clock.advance(by);
    }
}

fn verified(change_required: Option<ChangeReason>) -> PinLogin {
    PinLogin::Verified {
        pin_type: PinType::Dispositivo,
        change_required,
    }
}

const REJECTED: PinLogin = PinLogin::Rejected { lockout: None };

fn count(actions: &[(String, String)], action: &str, outcome: &str) -> usize {
    actions
        .iter()
        .filter(|(a, o)| a == action && o == outcome)
        .count()
}

#[actix_web::test]
async fn a_personal_pin_logs_in_case_and_spaces_ignored() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    p.set(&mario, PIN, false).await;

    assert_eq!(p.login(mario.as_str(), PIN).await, verified(None));
    assert_eq!(p.login(mario.as_str(), " k7m2 q9x4 ").await, verified(None));
    // The code as typed: lowercase, surrounding spaces.
    let typed = format!("  {}  ", mario.as_str().to_lowercase());
    assert_eq!(p.login(&typed, PIN).await, verified(None));

    let code = mario.as_str().to_owned();
    let stored = p
        .app
        .with_db(move |conn, _, _| credential::pin_type(conn, &code).unwrap())
        .await;
    assert_eq!(stored, Some(PinType::Dispositivo));

    let state = p.state(&mario).await;
    assert_eq!(state.failures, 0);
    assert_eq!(state.last_used_at, Some(p.app.clock_now().naive_utc()));
    assert_eq!(state.pin_type, "dispositivo");
    assert_eq!(state.holder, "cittadino");
    assert!(!state.initial);
    assert_eq!(
        state.expires_at,
        (p.app.clock_now() + Duration::days(180)).naive_utc()
    );
}

#[actix_web::test]
async fn a_wrong_pin_is_rejected_and_counted() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    p.set(&mario, PIN, false).await;

    assert_eq!(p.login(mario.as_str(), WRONG).await, REJECTED);
    assert_eq!(p.login(mario.as_str(), "").await, REJECTED);
    assert_eq!(p.state(&mario).await.failures, 2);
}

#[actix_web::test]
async fn unknown_codes_and_people_without_a_pin_get_the_wrong_pin_answer() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    let laura = p.person("BNCLRA80A41F205", "Laura", "Bianchi").await;
    p.set(&mario, PIN, false).await;

    let unknown = cf("VRDGPP70A01H501");
    assert_eq!(p.login(&unknown, PIN).await, REJECTED);
    assert_eq!(p.login(laura.as_str(), PIN).await, REJECTED);
    assert_eq!(p.login("not a code", PIN).await, REJECTED);
    assert_eq!(p.login("", "").await, REJECTED);

    let records = p.audit().await;
    let logins: Vec<_> = records.iter().filter(|r| r.action == "pin.login").collect();
    assert_eq!(logins.len(), 4);
    assert!(logins.iter().all(|r| r.outcome == "failure"));
    let subject = |code: &str| Some(format!("person:{code}"));
    assert_eq!(logins[0].subject, subject(&unknown));
    assert_eq!(logins[1].subject, subject(laura.as_str()));
    assert_eq!(logins[2].subject, None);
}

#[actix_web::test]
async fn the_initial_pin_must_be_changed_then_the_new_one_works() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    p.set(&mario, INITIAL, true).await;

    // Typed as its two halves, lowercase.
    assert_eq!(
        p.login(mario.as_str(), "abcd1234 efgh5678").await,
        verified(Some(ChangeReason::Initial))
    );
    assert!(p.state(&mario).await.initial);

    p.advance(Duration::minutes(2));
    p.change(&mario, PIN).await.unwrap();
    let state = p.state(&mario).await;
    assert!(!state.initial);
    assert_eq!(state.set_at, p.app.clock_now().naive_utc());

    assert_eq!(p.login(mario.as_str(), INITIAL).await, REJECTED);
    assert_eq!(p.login(mario.as_str(), PIN).await, verified(None));
}

#[actix_web::test]
async fn pins_expire_after_180_days_or_90_for_intermediaries() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    let laura = p.person("BNCLRA80A41F205", "Laura", "Bianchi").await;
    p.set(&mario, PIN, false).await;
    p.try_set(&laura, PIN, Holder::Intermediario, false)
        .await
        .unwrap();

    p.advance(Duration::days(90) - Duration::seconds(1));
    assert_eq!(p.login(laura.as_str(), PIN).await, verified(None));
    p.advance(Duration::seconds(1));
    assert_eq!(
        p.login(laura.as_str(), PIN).await,
        verified(Some(ChangeReason::Expired))
    );
    assert_eq!(p.login(mario.as_str(), PIN).await, verified(None));

    p.advance(Duration::days(90));
    assert_eq!(
        p.login(mario.as_str(), PIN).await,
        verified(Some(ChangeReason::Expired))
    );
    // A change restarts the validity.
    p.change(&mario, OTHER_PIN).await.unwrap();
    assert_eq!(p.login(mario.as_str(), OTHER_PIN).await, verified(None));
}

#[actix_web::test]
async fn an_initial_pin_never_used_in_its_validity_is_deactivated() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    let laura = p.person("BNCLRA80A41F205", "Laura", "Bianchi").await;
    p.set(&mario, INITIAL, true).await;
    p.set(&laura, INITIAL, true).await;

    // Laura uses hers once; Mario never does.
    p.advance(Duration::days(10));
    assert_eq!(
        p.login(laura.as_str(), INITIAL).await,
        verified(Some(ChangeReason::Initial))
    );

    p.advance(Duration::days(170));
    assert_eq!(
        p.login(mario.as_str(), INITIAL).await,
        PinLogin::Deactivated
    );
    assert_eq!(p.login(mario.as_str(), WRONG).await, PinLogin::Deactivated);
    assert_eq!(p.state(&mario).await.failures, 0);
    assert_eq!(
        p.login(laura.as_str(), INITIAL).await,
        verified(Some(ChangeReason::Initial))
    );

    let actions = p.actions().await;
    assert_eq!(count(&actions, "pin.login", "denied"), 2);
}

#[actix_web::test]
async fn five_failures_lock_doubling_and_twenty_block() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    p.set(&mario, PIN, false).await;
    let code = mario.as_str();

    for (round, minutes) in [(0, 15), (1, 30), (2, 60)] {
        for _ in 0..4 {
            assert_eq!(p.login(code, WRONG).await, REJECTED, "round {round}");
        }
        let until = p.app.clock_now() + Duration::minutes(minutes);
        assert_eq!(
            p.login(code, WRONG).await,
            PinLogin::Rejected {
                lockout: Some(Lockout::Locked { until })
            },
            "round {round}"
        );
        // Locked: even the right PIN is not checked.
        assert_eq!(p.login(code, PIN).await, PinLogin::Locked { until });
        p.advance(Duration::minutes(minutes) - Duration::seconds(1));
        assert_eq!(p.login(code, PIN).await, PinLogin::Locked { until });
        p.advance(Duration::seconds(1));
        let state = p.state(&mario).await;
        assert_eq!((state.failures, state.locks), (5 * (round + 1), round + 1));
    }

    for _ in 0..4 {
        assert_eq!(p.login(code, WRONG).await, REJECTED);
    }
    assert_eq!(
        p.login(code, WRONG).await,
        PinLogin::Rejected {
            lockout: Some(Lockout::Blocked)
        }
    );
    assert_eq!(p.login(code, PIN).await, PinLogin::Blocked);
    p.advance(Duration::days(30));
    assert_eq!(p.login(code, PIN).await, PinLogin::Blocked);
    let state = p.state(&mario).await;
    assert_eq!(state.failures, 20);
    assert!(state.blocked_at.is_some());

    // Reissue is the way out.
    p.set(&mario, INITIAL, true).await;
    assert_eq!(
        p.login(code, INITIAL).await,
        verified(Some(ChangeReason::Initial))
    );

    let actions = p.actions().await;
    assert_eq!(count(&actions, "pin.locked", "success"), 3);
    assert_eq!(count(&actions, "pin.blocked", "success"), 1);
    assert_eq!(count(&actions, "pin.login", "failure"), 20);
}

#[actix_web::test]
async fn a_success_resets_the_count_and_the_locks() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    p.set(&mario, PIN, false).await;
    let code = mario.as_str();

    for _ in 0..5 {
        p.login(code, WRONG).await;
    }
    p.advance(Duration::minutes(15));
    for _ in 0..4 {
        assert_eq!(p.login(code, WRONG).await, REJECTED);
    }
    assert_eq!(p.login(code, PIN).await, verified(None));
    let state = p.state(&mario).await;
    assert_eq!(
        (state.failures, state.locks, state.locked_until),
        (0, 0, None)
    );

    // The next lock is the first again: 15 minutes after 5 failures.
    for _ in 0..4 {
        assert_eq!(p.login(code, WRONG).await, REJECTED);
    }
    assert_eq!(
        p.login(code, WRONG).await,
        PinLogin::Rejected {
            lockout: Some(Lockout::Locked {
                until: p.app.clock_now() + Duration::minutes(15)
            })
        }
    );
}

#[actix_web::test]
async fn fifty_parallel_wrong_guesses_check_only_five() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    p.set(&mario, PIN, false).await;

    let now = p.app.clock_now();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let pool = p.app.state.db.clone();
            let hasher = p.hasher.clone();
            let key = p.app.state.audit_key.clone();
            let policy = p.policy.clone();
            let code = mario.as_str().to_owned();
            actix_web::rt::spawn(async move {
                credential::authenticate(
                    &pool,
                    &hasher,
                    &key,
                    &policy,
                    &code,
                    &format!("WRONG{i:03}"),
                    now,
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }

    let until = now + Duration::minutes(15);
    let rejected = answers
        .iter()
        .filter(|a| matches!(a, PinLogin::Rejected { .. }))
        .count();
    let locked = answers
        .iter()
        .filter(|a| matches!(a, PinLogin::Locked { until: u } if *u == until))
        .count();
    assert_eq!((rejected, locked), (5, 45), "{answers:?}");
    let triggered = answers
        .iter()
        .filter(|a| {
            **a == PinLogin::Rejected {
                lockout: Some(Lockout::Locked { until }),
            }
        })
        .count();
    assert_eq!(triggered, 1, "{answers:?}");

    let state = p.state(&mario).await;
    assert_eq!(state.failures, 5);
    assert_eq!(state.locks, 1);
    assert_eq!(state.locked_until, Some(until.naive_utc()));

    let actions = p.actions().await;
    assert_eq!(count(&actions, "pin.login", "failure"), 5);
    assert_eq!(count(&actions, "pin.login", "denied"), 45);
    assert_eq!(count(&actions, "pin.locked", "success"), 1);
}

#[actix_web::test]
async fn an_abandoned_attempt_cannot_leave_the_lock_unapplied() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    p.set(&mario, PIN, false).await;
    // Five attempts reserved, the last one never settled (its client went away).
    let code = mario.as_str().to_owned();
    p.app
        .with_db(move |conn, _, _| {
            diesel::update(pin_credentials::table.find(code))
                .set(pin_credentials::failures.eq(5_i64))
                .execute(conn)
                .unwrap();
        })
        .await;

    // Still in flight as far as anyone can tell: locked, not yet recorded.
    let pending_until = p.app.clock_now() + Duration::minutes(15);
    assert_eq!(
        p.login(mario.as_str(), PIN).await,
        PinLogin::Locked {
            until: pending_until
        }
    );
    assert_eq!(p.state(&mario).await.locks, 0);

    // A minute on, the next attempt applies the lock itself.
    p.advance(Duration::minutes(1));
    let until = p.app.clock_now() + Duration::minutes(15);
    assert_eq!(
        p.login(mario.as_str(), PIN).await,
        PinLogin::Locked { until }
    );
    let state = p.state(&mario).await;
    assert_eq!((state.failures, state.locks), (5, 1));
    p.advance(Duration::minutes(15));
    assert_eq!(p.login(mario.as_str(), PIN).await, verified(None));
}

#[actix_web::test]
async fn change_pin_enforces_the_rules() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    let laura = p.person("BNCLRA80A41F205", "Laura", "Bianchi").await;

    assert!(matches!(
        p.change(&laura, PIN).await,
        Err(PinError::NoCredential)
    ));
    p.set(&mario, PIN, false).await;

    let window = mario.as_str()[3..11].to_owned();
    let cases = [
        (window.as_str(), PinRuleViolation::ContainsCodiceFiscale),
        ("MARIO123", PinRuleViolation::ContainsName),
        ("1ROSSI23", PinRuleViolation::ContainsName),
        ("12345678", PinRuleViolation::Sequence),
        (
            "AB12CD3",
            PinRuleViolation::WrongLength {
                expected: 8,
                found: 7,
            },
        ),
        ("ABCDEFGX", PinRuleViolation::NoDigit),
    ];
    for (pin, violation) in cases {
        match p.change(&mario, pin).await {
            Err(PinError::Rule(v)) => assert_eq!(v, violation, "{pin}"),
            other => panic!("{pin}: {other:?}"),
        }
    }
    // The same PIN, however typed.
    assert!(matches!(
        p.change(&mario, "k7m2q9x4").await,
        Err(PinError::SameAsCurrent)
    ));
    assert_eq!(p.login(mario.as_str(), PIN).await, verified(None));

    // A valid change clears the counters too.
    p.login(mario.as_str(), WRONG).await;
    p.change(&mario, OTHER_PIN).await.unwrap();
    assert_eq!(p.state(&mario).await.failures, 0);
    assert_eq!(p.login(mario.as_str(), PIN).await, REJECTED);
    assert_eq!(p.login(mario.as_str(), OTHER_PIN).await, verified(None));
}

#[actix_web::test]
async fn issuing_checks_the_person_and_the_pin_shape() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    let nobody = CodiceFiscale::parse(&cf("VRDGPP70A01H501")).unwrap();

    assert!(matches!(
        p.try_set(&nobody, PIN, Holder::Cittadino, false).await,
        Err(PinError::UnknownPerson)
    ));
    assert!(matches!(
        p.try_set(&mario, PIN, Holder::Cittadino, true).await,
        Err(PinError::Rule(PinRuleViolation::WrongLength {
            expected: 16,
            found: 8
        }))
    ));
    assert!(matches!(
        p.try_set(&mario, "ROSSI123", Holder::Cittadino, false)
            .await,
        Err(PinError::Rule(PinRuleViolation::ContainsName))
    ));
    // Reissuing replaces the credential and clears its counters.
    p.set(&mario, PIN, false).await;
    p.login(mario.as_str(), WRONG).await;
    p.set(&mario, OTHER_PIN, false).await;
    assert_eq!(p.state(&mario).await.failures, 0);
    assert_eq!(p.login(mario.as_str(), OTHER_PIN).await, verified(None));
}

#[actix_web::test]
async fn every_step_is_audited_and_no_pin_or_hash_is_recorded() {
    let p = Pins::new().await;
    let mario = p.mario().await;
    p.set(&mario, INITIAL, true).await;
    p.login(mario.as_str(), INITIAL).await;
    p.change(&mario, PIN).await.unwrap();
    for _ in 0..5 {
        p.login(mario.as_str(), WRONG).await;
    }
    p.login(mario.as_str(), PIN).await;

    let records = p.audit().await;
    let actions: Vec<_> = records
        .iter()
        .map(|r| (r.action.as_str(), r.outcome.as_str()))
        .collect();
    let mut expected = vec![
        ("pin.credential.set", "success"),
        ("pin.login", "success"),
        ("pin.changed", "success"),
    ];
    expected.extend([("pin.login", "failure"); 5]);
    expected.extend([("pin.locked", "success"), ("pin.login", "denied")]);
    assert_eq!(actions, expected);

    let me = Some(format!("person:{}", mario.as_str()));
    assert!(records.iter().all(|r| r.subject == me), "{records:?}");
    assert_eq!(records[0].actor, "operator:op1");
    assert_eq!(records[1].actor, format!("person:{}", mario.as_str()));

    let detail: serde_json::Value =
        serde_json::from_str(records[1].detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["change_required"], "initial");
    assert_eq!(detail["pin_type"], "dispositivo");

    let hash: String = {
        let code = mario.as_str().to_owned();
        p.app
            .with_db(move |conn, _, _| {
                pin_credentials::table
                    .find(code)
                    .select(pin_credentials::pin_hash)
                    .first(conn)
                    .unwrap()
            })
            .await
    };
    assert!(hash.starts_with("$argon2id$"));
    for record in &records {
        let detail = record.detail.clone().unwrap_or_default().to_uppercase();
        for secret in [PIN, INITIAL, WRONG, "ABCD1234", "EFGH5678", hash.as_str()] {
            assert!(!detail.contains(&secret.to_uppercase()), "{detail}");
        }
    }
}
