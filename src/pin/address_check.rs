//! The automatic check of an online PIN request against the persons registry (messaggio
//! 4590/2016: "il sistema verifica l'indirizzo di residenza con gli archivi INPS"): identity
//! (names, birth date) and residence address, each compared after normalisation, so that
//! "V. Roma, 1" matches "VIA ROMA 1" and "D'Angelo" matches "D ANGELO" (names ignore spaces,
//! which archives write inconsistently), but a different
//! street or house number does not. Pure functions; the reasons are stable codes the
//! contact centre sees.

use chrono::NaiveDate;

/// What the requester typed.
#[derive(Debug, Clone)]
pub struct Declared<'a> {
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub birth_date: NaiveDate,
    pub address: &'a str,
    pub postal_code: &'a str,
    pub municipality: &'a str,
    pub province: &'a str,
}

/// A check that failed, as a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckFailure {
    /// The codice fiscale is not in the registry.
    UnknownPerson,
    GivenName,
    FamilyName,
    BirthDate,
    Address,
    PostalCode,
    Municipality,
    Province,
}

impl CheckFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckFailure::UnknownPerson => "unknown_person",
            CheckFailure::GivenName => "given_name",
            CheckFailure::FamilyName => "family_name",
            CheckFailure::BirthDate => "birth_date",
            CheckFailure::Address => "address",
            CheckFailure::PostalCode => "postal_code",
            CheckFailure::Municipality => "municipality",
            CheckFailure::Province => "province",
        }
    }
}

/// Compares `declared` with the registry's `person`; empty means the request passes.
pub fn check(
    declared: &Declared<'_>,
    person: &crate::person::registry::Person,
) -> Vec<CheckFailure> {
    let mut failures = Vec::new();
    if compact(declared.given_name) != compact(&person.given_name) {
        failures.push(CheckFailure::GivenName);
    }
    if compact(declared.family_name) != compact(&person.family_name) {
        failures.push(CheckFailure::FamilyName);
    }
    if declared.birth_date != person.birth_date {
        failures.push(CheckFailure::BirthDate);
    }
    if street(declared.address) != street(&person.address) {
        failures.push(CheckFailure::Address);
    }
    if compact(declared.postal_code) != compact(&person.postal_code) {
        failures.push(CheckFailure::PostalCode);
    }
    if compact(declared.municipality) != compact(&person.municipality) {
        failures.push(CheckFailure::Municipality);
    }
    if compact(declared.province) != compact(&person.province) {
        failures.push(CheckFailure::Province);
    }
    failures
}

/// Uppercase ASCII letters and digits, accents folded, apostrophes dropped, any other
/// punctuation a word break: "D'Angelo-Rossi  " → ["DANGELO", "ROSSI"].
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        match fold(c) {
            Some(f) => word.push(f),
            None if matches!(c, '\'' | '’' | '`') => {}
            None => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn compact(s: &str) -> String {
    words(s).concat()
}

/// A street with its common abbreviations expanded ("V." → "VIA", "P.zza" → "PIAZZA", …),
/// the "N." before a house number dropped, letters and digits split ("12/A", "12A" and
/// "12 A" agree).
fn street(s: &str) -> Vec<String> {
    // Dots only abbreviate: "P.zza" is one word, "V." is "V".
    let undotted: String = s.chars().filter(|c| *c != '.').collect();
    let mut out: Vec<String> = Vec::new();
    for w in words(&undotted)
        .iter()
        .flat_map(|w| split_letters_digits(w))
    {
        let expanded = match w.as_str() {
            "V" => "VIA",
            "VLE" => "VIALE",
            "PZA" | "PZZA" | "P" => "PIAZZA",
            "PZLE" | "PLE" => "PIAZZALE",
            "CSO" | "C" => "CORSO",
            "LGO" => "LARGO",
            "VLO" => "VICOLO",
            "LOC" => "LOCALITA",
            "FRAZ" | "FR" => "FRAZIONE",
            "STR" => "STRADA",
            "N" | "NR" | "NUM" | "CIV" => continue,
            other => other,
        };
        out.push(expanded.to_owned());
    }
    out
}

/// "N12" → ["N", "12"]; "12A" → ["12", "A"].
fn split_letters_digits(w: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in w.chars() {
        if let Some(last) = current.chars().last()
            && last.is_ascii_digit() != c.is_ascii_digit()
        {
            parts.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// One character folded to uppercase ASCII, or `None` for anything but a letter or digit.
fn fold(c: char) -> Option<char> {
    let base = match c {
        'à' | 'á' | 'â' | 'ä' | 'À' | 'Á' | 'Â' | 'Ä' => 'A',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'ò' | 'ó' | 'ô' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Ö' => 'O',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
        'ç' | 'Ç' => 'C',
        'ñ' | 'Ñ' => 'N',
        c if c.is_ascii_alphanumeric() => c.to_ascii_uppercase(),
        _ => return None,
    };
    Some(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::registry::Person;

    fn person() -> Person {
        let at = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        Person {
            codice_fiscale: "DNGMRA85T10H501X".into(),
            given_name: "Maria Grazia".into(),
            family_name: "D'Angelo".into(),
            birth_date: NaiveDate::from_ymd_opt(1985, 12, 10).unwrap(),
            sex: "F".into(),
            address: "Piazza Vittorio Emanuele II 12".into(),
            postal_code: "00185".into(),
            municipality: "Roma".into(),
            province: "RM".into(),
            mobile: None,
            email: None,
            pec: None,
            created_at: at,
            updated_at: at,
        }
    }

    fn declared<'a>(address: &'a str, family: &'a str) -> Declared<'a> {
        Declared {
            given_name: "maria  grazia",
            family_name: family,
            birth_date: NaiveDate::from_ymd_opt(1985, 12, 10).unwrap(),
            address,
            postal_code: " 00185",
            municipality: "ROMA",
            province: "rm",
        }
    }

    #[test]
    fn spelling_variants_of_the_same_data_pass() {
        for (address, family) in [
            ("Piazza Vittorio Emanuele II 12", "D'Angelo"),
            ("P.zza Vittorio Emanuele II, 12", "DANGELO"),
            ("p.za vittorio emanuele ii n. 12", "d’angelo"),
            ("PIAZZA VITTORIO EMANUELE II, N.12", "D Angelo"),
        ] {
            assert_eq!(
                check(&declared(address, family), &person()),
                vec![],
                "{address} / {family}"
            );
        }
    }

    #[test]
    fn different_data_fails_with_each_reason() {
        let cases: [(Declared<'_>, Vec<CheckFailure>); 4] = [
            (
                declared("Piazza Vittorio Emanuele II 14", "D'Angelo"),
                vec![CheckFailure::Address],
            ),
            (
                declared("Via Vittorio Emanuele II 12", "D'Angelo"),
                vec![CheckFailure::Address],
            ),
            (
                declared("Piazza Vittorio Emanuele II 12", "Angelo"),
                vec![CheckFailure::FamilyName],
            ),
            (
                Declared {
                    birth_date: NaiveDate::from_ymd_opt(1985, 12, 11).unwrap(),
                    postal_code: "00186",
                    municipality: "Roma Capitale",
                    province: "LT",
                    given_name: "Maria",
                    ..declared("Piazza Vittorio Emanuele II 12", "D'Angelo")
                },
                vec![
                    CheckFailure::GivenName,
                    CheckFailure::BirthDate,
                    CheckFailure::PostalCode,
                    CheckFailure::Municipality,
                    CheckFailure::Province,
                ],
            ),
        ];
        for (d, expected) in cases {
            assert_eq!(check(&d, &person()), expected, "{d:?}");
        }
    }

    #[test]
    fn streets_normalise() {
        assert_eq!(street("V. Roma, 1"), street("VIA ROMA 1"));
        assert_eq!(street("Via Roma n.12/A"), street("via roma 12 a"));
        assert_ne!(street("Via Roma 1"), street("Via Roma 11"));
        assert_ne!(street("Via Roma 1"), street("Viale Roma 1"));
    }

    #[test]
    fn accents_fold() {
        assert_eq!(words("Niccolò  Forlì"), ["NICCOLO", "FORLI"]);
        assert_eq!(compact("00 185"), "00185");
    }
}
