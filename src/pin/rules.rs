//! What a PIN may look like (domain §2.2; the composition rules there are weakly sourced, so
//! these are procura's own).
//!
//! PINs are case-insensitive: before any check or hash, input is [`normalize`]d — surrounding
//! and inner whitespace removed (so `AB12 CD34` and a 16-character PIN typed as its two halves
//! both work), ASCII letters uppercased. Non-ASCII characters are kept as they are, so they
//! fail the character rule instead of being folded into something else.
//!
//! A personal PIN (the one a citizen chooses, [`check_personal_pin`]):
//! 1. is exactly **8 characters**;
//! 2. uses only the letters **A–Z** and the digits **0–9**;
//! 3. contains at least **one letter and one digit**;
//! 4. is not **one character repeated** (`AAAAAAAA`) nor an **ascending or descending run**
//!    (`12345678`, `ABCDEFGH`, `87654321`, `HGFEDCBA`);
//! 5. is not **8 consecutive characters of the person's codice fiscale** (any of its nine
//!    8-character windows);
//! 6. does not contain the person's **given or family name**: each is reduced to its letters
//!    (accented vowels as plain ones: `Niccolò` → `NICCOLO`), and the whole name as well as
//!    each of its words (`De Luca` → `DELUCA`, `LUCA`) is checked when it has at least
//!    **4 letters**.
//!
//! Rules are checked in that order and the first one broken is reported, as a
//! [`PinRuleViolation`] with an Italian message for the citizen and a stable `reason` slug.
//!
//! The initial PIN ([`check_initial_pin`]) is the one procura issues: 16 letters or digits
//! (two halves of 8 sent by different channels), checked only for shape.

use crate::person::CodiceFiscale;
use std::fmt;

/// Characters in a personal PIN.
pub const PERSONAL_PIN_LENGTH: usize = 8;
/// Characters in an initial (issued) PIN.
pub const INITIAL_PIN_LENGTH: usize = 16;
/// Shortest name (in letters) a PIN may not contain.
pub const MIN_NAME_LETTERS: usize = 4;

/// Why a PIN is not acceptable. Carries no part of the PIN, so it can be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinRuleViolation {
    /// Not the required number of characters.
    WrongLength { expected: usize, found: usize },
    /// A character other than A–Z and 0–9.
    InvalidCharacter,
    /// The same character eight times.
    RepeatedCharacter,
    /// An ascending or descending run such as 12345678 or HGFEDCBA.
    Sequence,
    /// No letter.
    NoLetter,
    /// No digit.
    NoDigit,
    /// Eight consecutive characters of the codice fiscale.
    ContainsCodiceFiscale,
    /// The given or family name.
    ContainsName,
}

impl PinRuleViolation {
    /// Every value [`reason`](Self::reason) can return.
    pub const REASONS: [&'static str; 8] = [
        "wrong_length",
        "invalid_character",
        "repeated_character",
        "sequence",
        "no_letter",
        "no_digit",
        "contains_codice_fiscale",
        "contains_name",
    ];

    /// A stable slug for clients, metrics and audit details.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::WrongLength { .. } => "wrong_length",
            Self::InvalidCharacter => "invalid_character",
            Self::RepeatedCharacter => "repeated_character",
            Self::Sequence => "sequence",
            Self::NoLetter => "no_letter",
            Self::NoDigit => "no_digit",
            Self::ContainsCodiceFiscale => "contains_codice_fiscale",
            Self::ContainsName => "contains_name",
        }
    }
}

/// The citizen-facing message, in Italian.
impl fmt::Display for PinRuleViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength { expected, found } => write!(
                f,
                "Il PIN deve essere di {expected} caratteri (ne sono stati inseriti {found})."
            ),
            Self::InvalidCharacter => {
                f.write_str("Il PIN può contenere solo lettere dalla A alla Z e cifre.")
            }
            Self::RepeatedCharacter => {
                f.write_str("Il PIN non può essere formato da un solo carattere ripetuto.")
            }
            Self::Sequence => f.write_str(
                "Il PIN non può essere una sequenza di caratteri consecutivi \
                 (come 12345678 o ABCDEFGH).",
            ),
            Self::NoLetter => f.write_str("Il PIN deve contenere almeno una lettera."),
            Self::NoDigit => f.write_str("Il PIN deve contenere almeno una cifra."),
            Self::ContainsCodiceFiscale => {
                f.write_str("Il PIN non può contenere 8 caratteri consecutivi del codice fiscale.")
            }
            Self::ContainsName => f.write_str("Il PIN non può contenere il nome o il cognome."),
        }
    }
}

impl std::error::Error for PinRuleViolation {}

/// Trims, drops all whitespace and uppercases ASCII letters: PINs are case-insensitive.
pub fn normalize(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Checks a PIN a person chose against the rules in the module documentation. `pin` is
/// normalised first.
///
/// # Errors
///
/// The first rule broken.
pub fn check_personal_pin(
    pin: &str,
    cf: &CodiceFiscale,
    given_name: &str,
    family_name: &str,
) -> Result<(), PinRuleViolation> {
    let pin = normalize(pin);
    check_shape(&pin, PERSONAL_PIN_LENGTH)?;
    let bytes = pin.as_bytes();
    if bytes.windows(2).all(|w| w.first() == w.get(1)) {
        return Err(PinRuleViolation::RepeatedCharacter);
    }
    let steps: Vec<i16> = bytes
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => Some(i16::from(*b) - i16::from(*a)),
            _ => None,
        })
        .collect();
    if steps.iter().all(|s| *s == 1) || steps.iter().all(|s| *s == -1) {
        return Err(PinRuleViolation::Sequence);
    }
    if !bytes.iter().any(u8::is_ascii_uppercase) {
        return Err(PinRuleViolation::NoLetter);
    }
    if !bytes.iter().any(u8::is_ascii_digit) {
        return Err(PinRuleViolation::NoDigit);
    }
    if cf
        .as_str()
        .as_bytes()
        .windows(PERSONAL_PIN_LENGTH)
        .any(|window| window == bytes)
    {
        return Err(PinRuleViolation::ContainsCodiceFiscale);
    }
    if [given_name, family_name]
        .iter()
        .flat_map(|name| name_forms(name))
        .any(|form| pin.contains(&form))
    {
        return Err(PinRuleViolation::ContainsName);
    }
    Ok(())
}

/// Checks the shape of an initial (issued) PIN: 16 letters A–Z or digits, after normalising.
///
/// # Errors
///
/// `WrongLength` or `InvalidCharacter`.
pub fn check_initial_pin(pin: &str) -> Result<(), PinRuleViolation> {
    check_shape(&normalize(pin), INITIAL_PIN_LENGTH)
}

/// Whether `pin` has the shape of an initial PIN (16 letters or digits), e.g. to tell the
/// two kinds apart on the login page.
pub fn looks_like_initial_pin(pin: &str) -> bool {
    check_initial_pin(pin).is_ok()
}

fn check_shape(pin: &str, expected: usize) -> Result<(), PinRuleViolation> {
    let found = pin.chars().count();
    if found != expected {
        return Err(PinRuleViolation::WrongLength { expected, found });
    }
    if !pin
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(PinRuleViolation::InvalidCharacter);
    }
    Ok(())
}

/// The letter-only forms of a name a PIN may not contain: the whole name and each word, when
/// at least [`MIN_NAME_LETTERS`] long.
fn name_forms(name: &str) -> Vec<String> {
    let words: Vec<String> = name
        .split(|c: char| !c.is_alphabetic())
        .map(|word| word.chars().filter_map(fold_letter).collect::<String>())
        .filter(|word| !word.is_empty())
        .collect();
    let mut forms: Vec<String> = vec![words.concat()];
    if words.len() > 1 {
        forms.extend(words);
    }
    forms.retain(|form| form.len() >= MIN_NAME_LETTERS);
    forms
}

/// A letter as an uppercase ASCII letter: accented Latin letters lose the accent; anything
/// else is dropped.
fn fold_letter(c: char) -> Option<char> {
    let plain = match c.to_lowercase().next().unwrap_or(c) {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        other => other,
    };
    plain
        .is_ascii_alphabetic()
        .then(|| plain.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::codice_fiscale::check_character;

    fn mario() -> CodiceFiscale {
        let first15 = "RSSMRA85T10H501";
        CodiceFiscale::parse(&format!("{first15}{}", check_character(first15).unwrap())).unwrap()
    }

    #[test]
    fn normalize_trims_drops_spaces_and_uppercases() {
        for (input, expected) in [
            ("ab12cd34", "AB12CD34"),
            ("  AB12 cd34\t", "AB12CD34"),
            ("abcd1234 efgh5678", "ABCD1234EFGH5678"),
            ("", ""),
            ("ßé1", "ßé1"),
        ] {
            assert_eq!(normalize(input), expected, "{input:?}");
        }
    }

    #[test]
    fn personal_pin_rules() {
        let cf = mario();
        use PinRuleViolation as V;
        let cases: &[(&str, Result<(), V>)] = &[
            ("AB12CD34", Ok(())),
            ("ab12cd34", Ok(())),
            (" ab12 cd34 ", Ok(())),
            ("Z9Y8X7W6", Ok(())),
            ("ABCD1234", Ok(())),
            ("1A2B3C4D", Ok(())),
            // length, counted after normalising
            (
                "AB12CD3",
                Err(V::WrongLength {
                    expected: 8,
                    found: 7,
                }),
            ),
            (
                "AB12CD345",
                Err(V::WrongLength {
                    expected: 8,
                    found: 9,
                }),
            ),
            (
                "",
                Err(V::WrongLength {
                    expected: 8,
                    found: 0,
                }),
            ),
            ("ÀB12CD34", Err(V::InvalidCharacter)),
            ("AB12CD3!", Err(V::InvalidCharacter)),
            ("AB12-D34", Err(V::InvalidCharacter)),
            ("AAAAAAAA", Err(V::RepeatedCharacter)),
            ("11111111", Err(V::RepeatedCharacter)),
            ("12345678", Err(V::Sequence)),
            ("87654321", Err(V::Sequence)),
            ("ABCDEFGH", Err(V::Sequence)),
            ("hgfedcba", Err(V::Sequence)),
            ("ABCDEFGX", Err(V::NoDigit)),
            ("13572468", Err(V::NoLetter)),
            // windows of RSSMRA85T10H501?
            ("RSSMRA85", Err(V::ContainsCodiceFiscale)),
            ("mra85t10", Err(V::ContainsCodiceFiscale)),
            ("85T10H50", Err(V::ContainsCodiceFiscale)),
            ("RSSMRA86", Ok(())),
            // names (Mario Rossi)
            ("MARIO123", Err(V::ContainsName)),
            ("12ROSSI3", Err(V::ContainsName)),
            ("1ROSS2MA", Ok(())),
        ];
        for (pin, expected) in cases {
            assert_eq!(
                check_personal_pin(pin, &cf, "Mario", "Rossi"),
                *expected,
                "{pin:?}"
            );
        }
        // The last window, with the check character.
        let last8 = cf.as_str().get(8..).unwrap().to_owned();
        assert_eq!(
            check_personal_pin(&last8, &cf, "Mario", "Rossi"),
            Err(V::ContainsCodiceFiscale)
        );
    }

    #[test]
    fn names_are_reduced_to_letters_and_words() {
        let cf = mario();
        let check =
            |pin: &str, given: &str, family: &str| check_personal_pin(pin, &cf, given, family);
        let name = Err(PinRuleViolation::ContainsName);
        // Short names are not checked.
        assert_eq!(check("ANNA1EVA", "Eva", "Neri"), Ok(()));
        assert_eq!(check("1EVA2BOX", "Eva", "Box"), Ok(()));
        // Each word of at least 4 letters, and the whole name.
        assert_eq!(check("LUCA1975", "Marco", "De Luca"), name);
        assert_eq!(check("DELUCA75", "Marco", "De Luca"), name);
        assert_eq!(check("1DANGELO", "Marco", "D'Angelo"), name);
        assert_eq!(check("ANGELO12", "Marco", "D'Angelo"), name);
        // Accents folded.
        assert_eq!(check("NICCOLO1", "Niccolò", "Bianchi"), name);
        assert_eq!(check("1234NOEL", "Noël", "Bianchi"), name);
        // Given names of several words.
        assert_eq!(check("GRAZIA12", "Maria Grazia", "Neri"), name);
        assert_eq!(check("MARIA123", "Maria Grazia", "Neri"), name);
        assert_eq!(check("ABCD1234", "", ""), Ok(()));
    }

    #[test]
    fn initial_pins_are_sixteen_letters_or_digits() {
        assert!(looks_like_initial_pin("ABCD1234EFGH5678"));
        assert!(looks_like_initial_pin("abcd1234 efgh5678"));
        assert!(!looks_like_initial_pin("AB12CD34"));
        assert!(!looks_like_initial_pin("ABCD1234EFGH567!"));
        assert_eq!(
            check_initial_pin("AB12CD34"),
            Err(PinRuleViolation::WrongLength {
                expected: 16,
                found: 8
            })
        );
    }

    #[test]
    fn every_violation_has_a_listed_reason_and_an_italian_message() {
        let all = [
            PinRuleViolation::WrongLength {
                expected: 8,
                found: 3,
            },
            PinRuleViolation::InvalidCharacter,
            PinRuleViolation::RepeatedCharacter,
            PinRuleViolation::Sequence,
            PinRuleViolation::NoLetter,
            PinRuleViolation::NoDigit,
            PinRuleViolation::ContainsCodiceFiscale,
            PinRuleViolation::ContainsName,
        ];
        let reasons: Vec<_> = all.iter().map(PinRuleViolation::reason).collect();
        assert_eq!(reasons, PinRuleViolation::REASONS);
        for v in all {
            assert!(v.to_string().starts_with("Il PIN "), "{v}");
        }
    }
}
