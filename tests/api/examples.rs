//! The examples a newcomer copies: every codice fiscale in README.md, openapi.yaml and
//! procura.example.toml must be one procura itself accepts.
//!
//! A code that is meant to be refused (an example of a 422) must say so on its line with
//! the words `invalid on purpose`; it must then really be invalid.

use procura::person::CodiceFiscale;

const FILES: [&str; 3] = ["README.md", "openapi.yaml", "procura.example.toml"];
const ON_PURPOSE: &str = "invalid on purpose";

/// A codice fiscale, by its look: 16 letters and digits standing alone, the first six
/// letters, with a digit among the rest (uppercase, as people write them); or, in any
/// case, the full layout (letters and digits where a code has them, omocodic letters
/// allowed).
fn looks_like_a_codice_fiscale(token: &str) -> bool {
    let b = token.as_bytes();
    if b.len() != 16 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let letters_first = b.iter().take(6).all(u8::is_ascii_alphabetic);
    let upper = b.iter().all(|c| !c.is_ascii_lowercase());
    if letters_first && upper && b.iter().any(u8::is_ascii_digit) {
        return true;
    }
    let digit_like = |c: &u8| c.is_ascii_digit() || b"LMNPQRSTUVlmnpqrstuv".contains(c);
    let layout = [
        0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, // 0 letter, 1 digit
    ];
    letters_first
        && b.iter().zip(layout).all(|(c, kind)| {
            if kind == 0 {
                c.is_ascii_alphabetic()
            } else {
                digit_like(c)
            }
        })
        && b.iter().any(u8::is_ascii_digit)
}

/// Every codice-fiscale-looking token of `text`, with its line number and line.
fn codes_in(text: &str) -> Vec<(usize, String, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for token in line.split(|c: char| !c.is_ascii_alphanumeric()) {
            if looks_like_a_codice_fiscale(token) {
                found.push((n + 1, token.to_owned(), line.to_owned()));
            }
        }
    }
    found
}

fn problems_in(name: &str, text: &str) -> (usize, Vec<String>) {
    let codes = codes_in(text);
    let mut problems = Vec::new();
    for (line, code, whole) in &codes {
        let marked = whole.contains(ON_PURPOSE);
        match (CodiceFiscale::parse(code), marked) {
            (Ok(_), false) | (Err(_), true) => {}
            (Err(e), false) => problems.push(format!("{name}:{line}: {code}: {e}")),
            (Ok(_), true) => problems.push(format!(
                "{name}:{line}: {code} is marked `{ON_PURPOSE}` but is valid"
            )),
        }
    }
    (codes.len(), problems)
}

#[test]
fn every_codice_fiscale_example_is_valid() {
    let mut problems = Vec::new();
    let mut seen = 0;
    for name in FILES {
        let path = format!("{}/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let (count, mut p) = problems_in(name, &text);
        seen += count;
        problems.append(&mut p);
    }
    assert!(
        problems.is_empty(),
        "examples procura would refuse:\n{}",
        problems.join("\n")
    );
    // The README and the API description do show codici fiscali: finding none would mean
    // the scan is broken, not that the examples are right.
    assert!(seen >= 10, "only {seen} codici fiscali found");
}

#[test]
fn the_example_check_notices_a_wrong_check_character() {
    // The four examples issue 19 found, each with the wrong check character.
    let text = "curl -d '{\"subject\":\"VRDGLI40A41H501X\"}'\n\
                codice_fiscale: RSSMRA85T10H501Z\n\
                actor: rssmra85t10h501d\n\
                delegate: {codice_fiscale: VRDLGU80A01H501U}\n\
                ok: RSSMRA85T10A562S\n\
                refused: RSSMRA85T10A562X (invalid on purpose)\n";
    let (count, problems) = problems_in("sample", text);
    assert_eq!(count, 6);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].starts_with("sample:1: VRDGLI40A41H501X"));
    let (_, problems) = problems_in("sample", "x: RSSMRA85T10A562S # invalid on purpose\n");
    assert_eq!(
        problems.len(),
        1,
        "a valid code marked invalid is a mistake too"
    );
}
