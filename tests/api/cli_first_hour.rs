//! The command line as a newcomer meets it (issue 19): every command migrates or says what
//! to run, and the small defects found on a first try stay fixed.

use crate::helpers::{AUDIT_KEY_HEX, procura, text};

/// A fresh SQLite database and keys directory, as a first run has them: nothing there yet.
fn fresh() -> (tempfile::TempDir, Vec<(&'static str, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "PROCURA_DATABASE__URL",
            format!("sqlite://{}", dir.path().join("p.db").display()),
        ),
        (
            "PROCURA_KEYS__DIR",
            dir.path().join("keys").display().to_string(),
        ),
        ("PROCURA_AUDIT__HMAC_KEY", AUDIT_KEY_HEX.to_owned()),
        (
            "PROCURA_NOTIFY__FILES_DIR",
            dir.path().join("outbox").display().to_string(),
        ),
    ];
    (dir, env)
}

fn run(args: &[&str], env: &[(&'static str, String)]) -> std::process::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    procura(args, &env)
}

#[test]
fn commands_on_a_new_database_migrate_it_first() {
    let (dir, env) = fresh();
    let csv = dir.path().join("persons.csv");
    std::fs::write(
        &csv,
        "codice_fiscale,cognome,nome,data_nascita,sesso,indirizzo,cap,comune,provincia\n\
         RSSMRA85T10A562S,Rossi,Mario,1985-12-10,M,Via Roma 1,00100,Roma,RM\n",
    )
    .unwrap();
    // The README's PIN quick start, in its order: import before any `migrate`.
    let import = run(&["persons", "import", csv.to_str().unwrap()], &env);
    assert!(import.status.success(), "{}", text(&import));
    assert!(
        text(&import).contains("applied migration"),
        "{}",
        text(&import)
    );
    let pin = run(
        &["pin", "set", "RSSMRA85T10A562S", "--type", "dispositivo"],
        &env,
    );
    assert!(pin.status.success(), "{}", text(&pin));
    assert!(!text(&pin).contains("applied migration"), "{}", text(&pin));

    // With migrate_on_start off, every command stops and names the command to run.
    let (_dir, mut env) = fresh();
    env.push(("PROCURA_DATABASE__MIGRATE_ON_START", "false".into()));
    for args in [
        &["clients", "list"][..],
        &["operators", "list"],
        &["spid", "idps"],
        &["audit", "verify"],
        &["pin", "set", "RSSMRA85T10A562S"],
        &["notify", "dispatch"],
    ] {
        let out = run(args, &env);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("run `procura migrate`"),
            "{args:?}: {}",
            text(&out)
        );
    }
    let migrate = run(&["migrate"], &env);
    assert!(migrate.status.success(), "{}", text(&migrate));
    assert!(run(&["clients", "list"], &env).status.success());
}

#[test]
fn a_parent_is_born_before_the_child() {
    let (_dir, env) = fresh();
    // Mario Rossi, born 1985, cannot be a parent of Giulia Verdi, born 1940.
    let out = run(
        &[
            "persons",
            "link",
            "--parent",
            "RSSMRA85T10A562S",
            "--child",
            "VRDGLI40A41H501I",
        ],
        &env,
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("a parent is born before the child"),
        "{}",
        text(&out)
    );
    let same = run(
        &[
            "persons",
            "link",
            "--parent",
            "RSSMRA85T10A562S",
            "--child",
            "RSSMRA85T10A562S",
        ],
        &env,
    );
    assert!(!same.status.success(), "{}", text(&same));
    let ok = run(
        &[
            "persons",
            "link",
            "--parent",
            "VRDGLI40A41H501I",
            "--child",
            "RSSMRA85T10A562S",
        ],
        &env,
    );
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("linked"), "{}", text(&ok));
}

#[test]
fn small_defects_of_the_first_hour() {
    let (_dir, env) = fresh();
    // No IdP configured: say so and how, instead of printing nothing.
    let idps = run(&["spid", "idps"], &env);
    assert!(idps.status.success(), "{}", text(&idps));
    assert!(text(&idps).contains("spid.idp_metadata"), "{}", text(&idps));

    // A public client is described, not "(none)".
    let add = run(
        &[
            "clients",
            "add",
            "--id",
            "myinps-dev",
            "--name",
            "MyINPS",
            "--type",
            "public",
            "--redirect-uri",
            "http://127.0.0.1:3000/callback",
            "--scope",
            "openid profile",
            "--grant",
            "authorization_code",
        ],
        &env,
    );
    assert!(add.status.success(), "{}", text(&add));
    assert!(!text(&add).contains("(none)"), "{}", text(&add));
    assert!(text(&add).contains("public"), "{}", text(&add));

    // The PIN help no longer says the issuance channels are missing.
    let help = text(&procura(&["pin", "set", "--help"], &[]));
    assert!(
        !help.contains("until the issuance channels exist"),
        "{help}"
    );
}
