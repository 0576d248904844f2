//! `procura persons import`: all or nothing, every bad row reported, re-import updates.

use crate::helpers::{TestApp, blocking};
use procura::audit::{self, Party};
use procura::person::codice_fiscale::check_character;
use procura::person::import::{ImportError, ImportReport, import_csv};
use procura::person::registry;

/// A valid codice fiscale from its first fifteen characters.
pub fn cf(first15: &str) -> String {
    format!("{first15}{}", check_character(first15).unwrap())
}

const HEADER: &str = "codice_fiscale,cognome,nome,data_nascita,sesso,indirizzo,cap,comune,provincia,cellulare,email,pec";

fn mario() -> String {
    format!(
        "{},Rossi,Mario,1985-12-10,M,Via Roma 1,00100,Roma,RM,333 123 4567,Mario.Rossi@example.it,",
        cf("RSSMRA85T10H501")
    )
}

fn laura() -> String {
    format!(
        "{},Bianchi,Laura,01/01/2024,F,Corso Italia 5,20100,Milano,mi,,,laura.pec@pec.example.it",
        cf("BNCLRA24A41F205")
    )
}

async fn import(app: &TestApp, csv: String) -> Result<ImportReport, ImportError> {
    app.with_db(move |conn, key, now| {
        import_csv(
            conn,
            key,
            csv.as_bytes(),
            "test.csv",
            Party::cli("tester"),
            now,
        )
    })
    .await
}

async fn count(app: &TestApp) -> i64 {
    let mut conn = app.conn();
    blocking(move || registry::count(&mut conn).unwrap()).await
}

#[actix_web::test]
async fn a_valid_file_is_imported_with_normalised_contacts() {
    let app = TestApp::spawn().await;
    let report = import(&app, format!("{HEADER}\n{}\n{}\n", mario(), laura()))
        .await
        .unwrap();
    assert_eq!((report.rows, report.inserted, report.updated), (2, 2, 0));

    let mut conn = app.conn();
    let code = cf("RSSMRA85T10H501");
    let p = blocking(move || registry::find(&mut conn, &code).unwrap().unwrap()).await;
    assert_eq!(
        (p.family_name.as_str(), p.given_name.as_str()),
        ("Rossi", "Mario")
    );
    assert_eq!(p.birth_date.to_string(), "1985-12-10");
    assert_eq!(p.mobile.as_deref(), Some("+393331234567"));
    assert_eq!(p.email.as_deref(), Some("mario.rossi@example.it"));
    assert_eq!(p.pec, None);

    let mut conn = app.conn();
    let code = cf("BNCLRA24A41F205");
    let l = blocking(move || registry::find(&mut conn, &code).unwrap().unwrap()).await;
    assert_eq!(l.province, "MI");
    assert_eq!(l.birth_date.to_string(), "2024-01-01");
}

#[actix_web::test]
async fn reimporting_updates_instead_of_duplicating() {
    let app = TestApp::spawn().await;
    import(&app, format!("{HEADER}\n{}\n", mario()))
        .await
        .unwrap();
    let moved = mario().replace("Via Roma 1,00100,Roma,RM", "Via Po 2,10100,Torino,TO");
    let report = import(&app, format!("{HEADER}\n{moved}\n{}\n", laura()))
        .await
        .unwrap();
    assert_eq!((report.rows, report.inserted, report.updated), (2, 1, 1));
    assert_eq!(count(&app).await, 2);
    let mut conn = app.conn();
    let code = cf("RSSMRA85T10H501");
    let p = blocking(move || registry::find(&mut conn, &code).unwrap().unwrap()).await;
    assert_eq!(
        (p.address.as_str(), p.municipality.as_str()),
        ("Via Po 2", "Torino")
    );
    assert!(p.updated_at >= p.created_at);
}

#[actix_web::test]
async fn one_bad_row_rejects_the_whole_file_and_every_bad_row_is_reported() {
    let app = TestApp::spawn().await;
    let bad_check = mario().replacen(&cf("RSSMRA85T10H501"), "RSSMRA85T10H501X", 1);
    let wrong_date = mario().replace("1985-12-10", "1985-12-11");
    let wrong_sex = laura().replace(",F,", ",M,");
    let many = format!(
        "{},,Mario,1985-13-40,X,,0010,Roma,Roma,06 123,not-an-email,\n",
        cf("RSSMRA85T10H501")
    );
    let csv = format!(
        "{HEADER}\n{}\n{bad_check}\n{wrong_date}\n{wrong_sex}\n{many}",
        laura()
    );
    let Err(ImportError::Rejected(report)) = import(&app, csv).await else {
        panic!("expected a rejection");
    };
    assert_eq!(report.rows, 5);
    assert_eq!(report.rejected_rows, 4);
    assert_eq!(count(&app).await, 0, "nothing may be left half-imported");

    let lines = |line: u64| -> Vec<String> {
        report
            .errors
            .iter()
            .filter(|e| e.line == line)
            .map(|e| format!("{}: {}", e.column.unwrap_or("-"), e.reason))
            .collect()
    };
    assert_eq!(lines(2), Vec::<String>::new(), "line 2 is valid");
    assert!(
        lines(3)[0].starts_with("codice_fiscale: wrong_check_character"),
        "{:?}",
        lines(3)
    );
    assert_eq!(
        lines(4),
        ["data_nascita: the birth date differs from the one in the codice fiscale"]
    );
    assert_eq!(
        lines(5),
        ["sesso: the sex differs from the one in the codice fiscale"]
    );
    let six = lines(6).join("\n");
    for column in [
        "cognome",
        "data_nascita",
        "sesso",
        "indirizzo",
        "cap",
        "provincia",
        "cellulare",
        "email",
    ] {
        assert!(
            six.contains(&format!("{column}:")),
            "line 6 lacks {column}:\n{six}"
        );
    }
}

#[actix_web::test]
async fn a_refused_import_is_audited_as_a_failure() {
    let app = TestApp::spawn().await;
    let _ = import(&app, format!("{HEADER}\n{}\nbroken\n", mario())).await;
    let report = import(&app, format!("{HEADER}\n{}\n", mario()))
        .await
        .unwrap();
    assert_eq!(report.inserted, 1);
    let mut conn = app.conn();
    let key = app.state.audit_key.clone();
    let records = blocking(move || {
        let verified = audit::verify(&mut conn, &key).unwrap().unwrap();
        assert_eq!(verified.count, 2);
        crate::audit::all_records(&mut conn)
    })
    .await;
    let outcomes: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.action.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [("persons.import", "failure"), ("persons.import", "success")]
    );
    assert_eq!(records[0].actor, "cli:tester");
    assert!(
        records[1]
            .detail
            .as_deref()
            .unwrap()
            .contains("\"inserted\":1")
    );
}

#[actix_web::test]
async fn rows_with_the_wrong_number_of_fields_or_bad_utf8_are_reported() {
    let app = TestApp::spawn().await;
    let mut csv = format!("{HEADER}\n{}\nonly,three,fields\n", mario()).into_bytes();
    // Line 4: an address in Latin-1 ("Via Roma à"), not UTF-8.
    let row = mario();
    let (before, after) = row.split_once("Via Roma 1").unwrap();
    csv.extend_from_slice(before.as_bytes());
    csv.extend_from_slice(b"Via Roma \xe0");
    csv.extend_from_slice(after.as_bytes());
    csv.push(b'\n');
    let result = app
        .with_db(move |conn, key, now| {
            import_csv(conn, key, csv.as_slice(), "t.csv", Party::cli("t"), now)
        })
        .await;
    let Err(ImportError::Rejected(report)) = result else {
        panic!("expected a rejection")
    };
    assert_eq!(report.errors[0].line, 3);
    assert!(
        report.errors[0].reason.contains("fields"),
        "{:?}",
        report.errors
    );
    assert!(
        report.errors.iter().any(|e| e.line == 4),
        "{:?}",
        report.errors
    );
}

#[actix_web::test]
async fn headers_are_checked_before_any_row() {
    let app = TestApp::spawn().await;
    let missing = import(&app, "codice_fiscale,cognome\nX,Y\n".into())
        .await
        .unwrap_err();
    let text = missing.to_string();
    assert!(
        text.contains("missing required column") && text.contains("data_nascita"),
        "{text}"
    );
    let unknown = import(&app, format!("{HEADER},telefono\n"))
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("unknown column `telefono`"),
        "{unknown}"
    );
    let twice = import(&app, format!("{HEADER},nome\n")).await.unwrap_err();
    assert!(twice.to_string().contains("appears twice"), "{twice}");
}

#[actix_web::test]
async fn spreadsheet_exports_with_semicolons_a_bom_and_any_column_order_work() {
    let app = TestApp::spawn().await;
    let header = "nome;cognome;codice_fiscale;data_nascita;sesso;indirizzo;cap;comune;provincia";
    let row = format!(
        "Mario;Rossi;{};10/12/1985;M;Via Roma, 1;00100;Roma;RM",
        cf("RSSMRA85T10H501")
    );
    let report = import(&app, format!("\u{FEFF}{header}\r\n{row}\r\n"))
        .await
        .unwrap();
    assert_eq!(report.inserted, 1);
}

#[actix_web::test]
async fn a_code_repeated_in_one_file_keeps_its_last_row() {
    let app = TestApp::spawn().await;
    let moved = mario().replace("Via Roma 1,00100,Roma,RM", "Via Po 2,10100,Torino,TO");
    let report = import(
        &app,
        format!("{HEADER}\n{}\n{}\n{moved}\n", mario(), laura()),
    )
    .await
    .unwrap();
    assert_eq!((report.rows, report.inserted, report.updated), (3, 2, 1));
    let mut conn = app.conn();
    let code = cf("RSSMRA85T10H501");
    let p = blocking(move || registry::find(&mut conn, &code).unwrap().unwrap()).await;
    assert_eq!(p.municipality, "Torino");
}

/// Arbitrary bytes never panic the import nor leave anything behind: each attempt is either
/// refused as a whole or (by chance) a valid file.
#[actix_web::test]
async fn garbage_input_is_refused_cleanly() {
    let app = TestApp::spawn().await;
    app.with_db(move |conn, key, now| {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pieces: [&[u8]; 10] = [
            HEADER.as_bytes(),
            b"\n",
            b",",
            b";",
            b"\"",
            b"\xff\xfe",
            b"RSSMRA85T10H501",
            b"1985-12-10",
            "àé€".as_bytes(),
            b"\r\n",
        ];
        for _ in 0..300 {
            let mut input = Vec::new();
            if next() % 2 == 0 {
                input.extend_from_slice(HEADER.as_bytes());
                input.push(b'\n');
            }
            for _ in 0..(next() % 40) {
                match next() % 3 {
                    0 => input.push((next() % 256) as u8),
                    _ => input.extend_from_slice(pieces[(next() % 10) as usize]),
                }
            }
            let result = import_csv(conn, key, input.as_slice(), "fuzz", Party::cli("t"), now);
            if let Ok(report) = result {
                assert_eq!(report.rows, report.inserted + report.updated);
            }
        }
        assert_eq!(registry::count(conn).unwrap(), 0);
    })
    .await;
}
