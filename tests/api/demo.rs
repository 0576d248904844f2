//! `procura demo`, followed as its printout says: log in with a printed PIN, act for the
//! delegator, see the access check answer yes, revoke, and see it answer no.

use crate::helpers::{AUDIT_KEY_HEX, blocking, procura, text};
use crate::oidc_support::{LiveApp, browser, location, open_login_page, post_form, query_param};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MARIO: &str = "RSSMRA85T10A562S";
const GIULIA: &str = "VRDGLI40A41H501I";
const LUIGI: &str = "VRDLGU80A01H501Q";
const ANNA: &str = "NRENNA48E52H501F";
const REDIRECT: &str = "http://127.0.0.1:3000/callback";

/// The demo's printout: initial PINs by codice fiscale, and the service client's secret.
struct Printed {
    all: String,
    pins: Vec<(String, String)>,
    secret: String,
}

impl Printed {
    fn pin(&self, cf: &str) -> &str {
        &self.pins.iter().find(|(c, _)| c == cf).unwrap().1
    }
}

fn read(out: &std::process::Output) -> Printed {
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut pins = Vec::new();
    let mut secret = String::new();
    for line in all.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [cf, pin, ..] = words[..]
            && cf.len() == 16
            && procura::person::CodiceFiscale::parse(cf).is_ok()
        {
            pins.push((cf.to_owned(), pin.to_owned()));
        }
        if let Some(s) = line.strip_prefix("client_secret of pensioni-demo: ") {
            secret = s.to_owned();
        }
    }
    Printed { all, pins, secret }
}

/// Logs `cf` in at the demo's public client with its initial PIN, choosing `personal`;
/// returns the access token.
async fn login(live: &LiveApp, cf: &str, initial: &str, personal: &str) -> String {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut auth = reqwest::Url::parse(&format!("{}/authorize", live.base)).unwrap();
    auth.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "myinps-demo")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair(
            "scope",
            "openid inps:read delegations:read delegations:write",
        )
        .append_pair("state", "st")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let b = browser();
    let (_, page) = open_login_page(&b, &live.base, auth.as_str()).await;
    let fields = [("codice_fiscale", cf), ("pin", initial)];
    let resp = post_form(&b, &live.base, "/pin/login", &page, &fields).await;
    assert_eq!(resp.status(), 200, "the initial PIN leads to the change");
    let change = resp.text().await.unwrap();
    let fields = [("new_pin", personal), ("confirm_pin", personal)];
    let resp = post_form(&b, &live.base, "/pin/change", &change, &fields).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let code = query_param(&location(&resp), "code").unwrap();
    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/token", live.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "myinps-demo"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"))
        .to_owned()
}

async fn check(live: &LiveApp, secret: &str, actor: &str, subject: &str) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/access/check", live.base))
        .basic_auth("pensioni-demo", Some(secret))
        .json(&json!({ "actor": actor, "subject": subject, "scope": "inps:read" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn get(live: &LiveApp, token: &str, path: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", live.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

#[actix_web::test]
async fn the_demo_works_as_it_says() {
    let live = LiveApp::spawn().await;
    let env = [
        ("PROCURA_DATABASE__URL", live.app.database_url().to_owned()),
        (
            "PROCURA_KEYS__DIR",
            live.app.config.keys.dir.display().to_string(),
        ),
        ("PROCURA_AUDIT__HMAC_KEY", AUDIT_KEY_HEX.to_owned()),
        (
            "PROCURA_NOTIFY__FILES_DIR",
            live.app.config.notify.files_dir.display().to_string(),
        ),
        ("PROCURA_OAUTH__ISSUER", live.base.clone()),
    ];
    let (first, again) = blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        (procura(&["demo"], &env), procura(&["demo"], &env))
    })
    .await;
    assert!(first.status.success(), "{}", text(&first));
    // The demo ran on the real clock: the server's clock follows it.
    live.app.clock.set(chrono::Utc::now());
    let printed = read(&first);
    assert_eq!(printed.pins.len(), 8, "{}", printed.all);
    assert!(!printed.secret.is_empty(), "{}", printed.all);
    let base = &live.base;
    for step in [
        format!("{base}/area-personale"),
        format!("{base}/agisci-per-conto-di"),
        format!("{base}/v1/access/check"),
        format!("{base}/area-personale/deleghe"),
    ] {
        assert!(
            printed.all.contains(&step),
            "{step} missing:\n{}",
            printed.all
        );
    }
    // Run twice, it refuses rather than print PINs that no longer work.
    assert!(!again.status.success());
    assert!(text(&again).contains("already loaded"), "{}", text(&again));

    // Step 2 and 3: Mario logs in with his printed PIN and sees whom he may act for.
    let mario = login(&live, MARIO, printed.pin(MARIO), "Q7M2X9BT").await;
    let list = get(&live, &mario, "/v1/delegations/acting-for").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["given_name"], "Giulia");

    // Step 4: yes; and the guardianship too; no for someone Mario does not represent.
    assert_eq!(
        check(&live, &printed.secret, MARIO, GIULIA).await,
        json!({"allowed": true})
    );
    assert_eq!(
        check(&live, &printed.secret, LUIGI, ANNA).await,
        json!({"allowed": true})
    );
    assert_eq!(
        check(&live, &printed.secret, MARIO, ANNA).await,
        json!({"allowed": false})
    );

    // Step 5: Giulia revokes; the same check now says no.
    let giulia = login(&live, GIULIA, printed.pin(GIULIA), "R4T8W2KZ").await;
    let given = get(&live, &giulia, "/v1/delegations/given").await;
    let id = given["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{given}"))
        .to_owned();
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/delegations/{id}/revoke"))
        .bearer_auth(&giulia)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(
        check(&live, &printed.secret, MARIO, GIULIA).await,
        json!({"allowed": false})
    );

    // Every operator role is there.
    let out = blocking({
        let url = live.app.database_url().to_owned();
        move || procura(&["operators", "list"], &[("PROCURA_DATABASE__URL", &url)])
    })
    .await;
    for role in ["sportello", "contact_center", "web_meeting", "admin"] {
        assert!(text(&out).contains(role), "{}", text(&out));
    }
}
