//! The `procura` command line, run as an operator would run it.

use crate::helpers::{AUDIT_KEY_HEX, TestApp, blocking, procura, text};
use crate::persons_import::cf;

#[test]
fn help_explains_every_command() {
    let out = procura(&["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out);
    for command in ["serve", "migrate", "keys", "persons", "audit"] {
        assert!(help.contains(command), "--help lacks {command}:\n{help}");
    }
    assert!(text(&procura(&["keys", "--help"], &[])).contains("generate"));
    assert!(text(&procura(&["persons", "import", "--help"], &[])).contains("codice_fiscale"));
    assert!(text(&procura(&["audit", "--help"], &[])).contains("verify"));
}

#[test]
fn a_bad_database_url_names_the_real_cause() {
    let out = procura(
        &["migrate"],
        &[("PROCURA_DATABASE__URL", "mysql://localhost/procura")],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unsupported database URL scheme `mysql`"),
        "{}",
        text(&out)
    );

    let out = procura(
        &["migrate"],
        &[("PROCURA_DATABASE__URL", "data/procura.db")],
    );
    assert!(text(&out).contains("no scheme"), "{}", text(&out));

    // Nothing listens on port 1: the refusal itself is reported, with the password hidden.
    let out = procura(
        &["migrate"],
        &[(
            "PROCURA_DATABASE__URL",
            "postgres://procura:hunter2@127.0.0.1:1/procura",
        )],
    );
    let t = text(&out);
    assert!(!out.status.success());
    assert!(t.contains("cannot connect to the database"), "{t}");
    assert!(t.to_lowercase().contains("refused"), "{t}");
    assert!(!t.contains("hunter2"), "{t}");
}

#[test]
fn unknown_configuration_keys_are_refused() {
    let out = procura(&["migrate"], &[("PROCURA_DATABASE__URLL", "sqlite://x.db")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("urll"), "{}", text(&out));
}

#[test]
fn migrate_applies_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let first = procura(&["migrate"], &[("PROCURA_DATABASE__URL", &url)]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("applied"), "{}", text(&first));
    let second = procura(&["migrate"], &[("PROCURA_DATABASE__URL", &url)]);
    assert!(
        text(&second).contains("database is up to date"),
        "{}",
        text(&second)
    );
}

#[test]
fn keys_generate_creates_an_owner_only_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = procura(
        &["keys", "generate"],
        &[("PROCURA_KEYS__DIR", keys.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", text(&out));
    let kid = text(&out).split_whitespace().nth(3).unwrap().to_owned();
    let pem = keys.join(format!("{kid}.es256.pem"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let schedule = std::fs::read_to_string(keys.join("keyring.json")).unwrap();
    let schedule: serde_json::Value = serde_json::from_str(&schedule).unwrap();
    assert_eq!(schedule["keys"][0]["kid"], kid.as_str(), "{schedule}");
}

#[actix_web::test]
async fn persons_import_reports_and_exits_by_outcome() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    let bad = dir.path().join("bad.csv");
    let header = "codice_fiscale,cognome,nome,data_nascita,sesso,indirizzo,cap,comune,provincia";
    let row = format!(
        "{},Rossi,Mario,1985-12-10,M,Via Roma 1,00100,Roma,RM",
        cf("RSSMRA85T10H501")
    );
    std::fs::write(&good, format!("{header}\n{row}\n")).unwrap();
    std::fs::write(
        &bad,
        format!("{header}\n{row}\n{}\n", row.replace("00100", "001")),
    )
    .unwrap();
    let env = [
        ("PROCURA_DATABASE__URL", app.database_url().to_owned()),
        (
            "PROCURA_KEYS__DIR",
            app.config.keys.dir.display().to_string(),
        ),
        ("PROCURA_AUDIT__HMAC_KEY", AUDIT_KEY_HEX.to_owned()),
    ];
    let (ok, bad_out, missing) = blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let ok = procura(&["persons", "import", good.to_str().unwrap()], &env);
        let bad_out = procura(&["persons", "import", bad.to_str().unwrap()], &env);
        let missing = procura(&["persons", "import", "/no/such/file.csv"], &env);
        (ok, bad_out, missing)
    })
    .await;
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains("imported 1 rows") && text(&ok).contains("1 new, 0 updated"),
        "{}",
        text(&ok)
    );
    assert_eq!(bad_out.status.code(), Some(1));
    let t = text(&bad_out);
    assert!(t.contains("line 3, cap: must be five digits"), "{t}");
    assert!(
        t.contains("1 of 2 rows are invalid; nothing was imported"),
        "{t}"
    );
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("cannot open /no/such/file.csv"),
        "{}",
        text(&missing)
    );
}

#[actix_web::test]
async fn audit_verify_never_creates_a_key() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let url = app.database_url().to_owned();
    let keys_env = keys.display().to_string();
    let out = blocking(move || {
        procura(
            &["audit", "verify"],
            &[
                ("PROCURA_DATABASE__URL", &url),
                ("PROCURA_KEYS__DIR", &keys_env),
            ],
        )
    })
    .await;
    assert!(!out.status.success());
    assert!(text(&out).contains("no audit HMAC key"), "{}", text(&out));
    assert!(!keys.exists(), "verify must not create keys");
}
