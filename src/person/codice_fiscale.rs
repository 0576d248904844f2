//! Codice fiscale of a natural person (persona fisica), as laid out by DM 23/12/1976.
//!
//! The 16 characters, by 1-based position:
//! - 1-3 surname letters, 4-6 name letters;
//! - 7-8 last two digits of the birth year, 9 month letter (A B C D E H L M P R S T = Jan..Dec);
//! - 10-11 birth day: 01-31 for men, 41-71 for women (day + 40);
//! - 12-15 Belfiore cadastral code of the birth place: a letter and three digits (`Z` + 3 digits
//!   for a foreign country);
//! - 16 check character: odd and even positions go through the official conversion tables,
//!   the sum mod 26 gives a letter A-Z.
//!
//! Omocodia: to tell apart people who would get the same code, any digit of the seven numeric
//! positions (7, 8, 10, 11, 13, 14, 15) may be replaced by L M N P Q R S T U V (for 0..9).
//!
//! A codice fiscale is personal data: `Debug` and `Display` print only a masked form, and the
//! full code is reachable only through [`CodiceFiscale::as_str`] and `Serialize`.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Characters in a person's codice fiscale.
const LENGTH: usize = 16;
/// Digits in a partita IVA or in a temporary (numeric) codice fiscale.
const NUMERIC_CODE_LENGTH: usize = 11;
/// Women's birth days are written as day + 40.
const FEMALE_DAY_OFFSET: u32 = 40;
/// Characters shown at each end of the masked form.
const MASK_HEAD: usize = 6;
const MASK_TAIL: usize = 4;
/// What stands for the hidden middle (a fixed width, not one star per character).
const MASK: &str = "*****";

/// What each of the 16 positions holds; the check character (last) is a letter.
const LAYOUT: [CharacterKind; LENGTH] = {
    use CharacterKind::{Digit as D, Letter as L};
    [L, L, L, L, L, L, D, D, L, D, D, L, D, D, D, L]
};

/// What a position of the code requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CharacterKind {
    /// A letter A-Z.
    Letter,
    /// A digit 0-9, or its omocodia letter L M N P Q R S T U V.
    Digit,
}

impl fmt::Display for CharacterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Letter => "una lettera",
            Self::Digit => "una cifra",
        })
    }
}

/// Sex as recorded in the codice fiscale (day + 40 for women).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sex {
    /// Maschio: day written as is.
    #[serde(rename = "M")]
    Male,
    /// Femmina: day written + 40.
    #[serde(rename = "F")]
    Female,
}

impl Sex {
    /// `"M"` or `"F"`, as in Italian documents.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Male => "M",
            Self::Female => "F",
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid codice fiscale of a natural person.
///
/// Variants carry only the offending detail, never the whole input, so the error can be
/// logged. Positions are 1-based, as citizens count them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodiceFiscaleError {
    /// Not 16 characters after trimming (counted in chars, not bytes).
    WrongLength {
        /// Characters found.
        found: usize,
    },
    /// 11 digits: a partita IVA or a temporary numeric code, not a person's codice fiscale.
    NumericCode,
    /// A character that does not fit its position.
    InvalidCharacter {
        /// 1-based position.
        position: usize,
        /// The character there (after ASCII uppercasing).
        found: char,
        /// What the position requires.
        expected: CharacterKind,
    },
    /// Position 9 is a letter, but not one of A B C D E H L M P R S T.
    InvalidMonth {
        /// The letter found.
        found: char,
    },
    /// Positions 10-11 (digits recovered) are 00, 32-40 or 72-99.
    InvalidDay {
        /// The day as written, omocodia letters turned back into digits.
        day: u32,
    },
    /// The day does not exist in that month (31 April, 30 February, 29 February of a year
    /// that is not leap in either possible century).
    NonexistentDate {
        /// Day of the month, 1-31 (40 already taken off for women).
        day: u32,
        /// Month, 1-12.
        month: u32,
        /// The two year digits of the code, 0-99.
        year: u32,
    },
    /// Position 16 does not match the check character computed from the first 15.
    WrongCheckCharacter {
        /// Computed from the first 15 characters.
        expected: char,
        /// Written in position 16.
        found: char,
    },
}

impl CodiceFiscaleError {
    /// Every value `reason` can return, for documents and clients that list them.
    pub const REASONS: [&'static str; 7] = [
        "wrong_length",
        "numeric_code",
        "invalid_character",
        "invalid_month",
        "invalid_day",
        "nonexistent_date",
        "wrong_check_character",
    ];

    /// Stable `snake_case` identifier of the reason, for machine consumers.
    #[must_use]
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::WrongLength { .. } => "wrong_length",
            Self::NumericCode => "numeric_code",
            Self::InvalidCharacter { .. } => "invalid_character",
            Self::InvalidMonth { .. } => "invalid_month",
            Self::InvalidDay { .. } => "invalid_day",
            Self::NonexistentDate { .. } => "nonexistent_date",
            Self::WrongCheckCharacter { .. } => "wrong_check_character",
        }
    }
}

/// Italian month names, for messages addressed to citizens.
const fn month_name(month: u32) -> &'static str {
    match month {
        1 => "gennaio",
        2 => "febbraio",
        3 => "marzo",
        4 => "aprile",
        5 => "maggio",
        6 => "giugno",
        7 => "luglio",
        8 => "agosto",
        9 => "settembre",
        10 => "ottobre",
        11 => "novembre",
        12 => "dicembre",
        _ => "?",
    }
}

impl fmt::Display for CodiceFiscaleError {
    // In Italian: these messages are shown to citizens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength { found } => write!(
                f,
                "il codice fiscale deve avere {LENGTH} caratteri (ne ha {found})"
            ),
            Self::NumericCode => f.write_str(
                "un codice di 11 cifre è una partita IVA o un codice provvisorio: \
                 serve il codice fiscale di 16 caratteri",
            ),
            Self::InvalidCharacter {
                position,
                found,
                expected,
            } => write!(
                f,
                "carattere non valido in posizione {position}: '{}' (è richiesta {expected})",
                found.escape_debug()
            ),
            Self::InvalidMonth { found } => write!(
                f,
                "lettera del mese di nascita non valida: {}",
                found.escape_debug()
            ),
            Self::InvalidDay { day } => write!(
                f,
                "giorno di nascita non valido: {day:02} (ammessi 01-31 per gli uomini, \
                 41-71 per le donne)"
            ),
            Self::NonexistentDate {
                day: 29, month: 2, ..
            } => f.write_str("data di nascita inesistente: 29 febbraio in un anno non bisestile"),
            Self::NonexistentDate { day, month, .. } => write!(
                f,
                "data di nascita inesistente: {day} {}",
                month_name(*month)
            ),
            Self::WrongCheckCharacter { expected, found } => write!(
                f,
                "carattere di controllo errato: atteso {expected}, trovato {found}"
            ),
        }
    }
}

impl std::error::Error for CodiceFiscaleError {}

/// Omocodia letter back to its digit; any other character is returned unchanged.
const fn restore_digit(c: char) -> char {
    match c {
        'L' => '0',
        'M' => '1',
        'N' => '2',
        'P' => '3',
        'Q' => '4',
        'R' => '5',
        'S' => '6',
        'T' => '7',
        'U' => '8',
        'V' => '9',
        other => other,
    }
}

/// Value of a numeric position: a digit or its omocodia letter.
fn numeric_value(c: char) -> Option<u32> {
    restore_digit(c).to_digit(10)
}

/// Month number from the letter of position 9.
const fn month_number(c: char) -> Option<u32> {
    match c {
        'A' => Some(1),
        'B' => Some(2),
        'C' => Some(3),
        'D' => Some(4),
        'E' => Some(5),
        'H' => Some(6),
        'L' => Some(7),
        'M' => Some(8),
        'P' => Some(9),
        'R' => Some(10),
        'S' => Some(11),
        'T' => Some(12),
        _ => None,
    }
}

/// Official table for characters in odd positions (1st, 3rd, ...).
/// Defined on `0-9` and `A-Z` only; callers validate first.
const fn odd_value(c: char) -> u32 {
    match c {
        '0' | 'A' => 1,
        '1' | 'B' => 0,
        '2' | 'C' => 5,
        '3' | 'D' => 7,
        '4' | 'E' => 9,
        '5' | 'F' => 13,
        '6' | 'G' => 15,
        '7' | 'H' => 17,
        '8' | 'I' => 19,
        '9' | 'J' => 21,
        'K' => 2,
        'L' => 4,
        'M' => 18,
        'N' => 20,
        'O' => 11,
        'P' => 3,
        'Q' => 6,
        'R' => 8,
        'S' => 12,
        'T' => 14,
        'U' => 16,
        'V' => 10,
        'W' => 22,
        'X' => 25,
        'Y' => 24,
        'Z' => 23,
        _ => 0,
    }
}

/// Official table for characters in even positions: digits 0-9 and A-Z as 0-25.
/// Defined on `0-9` and `A-Z` only; callers validate first.
fn even_value(c: char) -> u32 {
    match c {
        '0'..='9' => u32::from(c) - u32::from('0'),
        'A'..='Z' => u32::from(c) - u32::from('A'),
        _ => 0,
    }
}

/// Check character of already validated uppercase alphanumeric characters.
fn check_of(chars: impl Iterator<Item = char>) -> char {
    let sum: u32 = chars
        .enumerate()
        // `index` is 0-based, so even indices are the official odd positions.
        .map(|(index, c)| {
            if index % 2 == 0 {
                odd_value(c)
            } else {
                even_value(c)
            }
        })
        .sum();
    char::from_u32(u32::from('A') + sum % 26).unwrap_or('A')
}

/// Check character (position 16) for the first 15 characters of a codice fiscale, as written
/// (omocodia letters included). Lowercase letters count as uppercase; no trimming.
///
/// Returns `None` unless `first_fifteen` is exactly 15 ASCII letters or digits. The layout of
/// the positions is not checked: that is [`CodiceFiscale::parse`]'s job.
#[must_use]
pub fn check_character(first_fifteen: &str) -> Option<char> {
    let valid = first_fifteen.chars().count() == LENGTH - 1
        && first_fifteen.chars().all(|c| c.is_ascii_alphanumeric());
    valid.then(|| check_of(first_fifteen.chars().map(|c| c.to_ascii_uppercase())))
}

/// A valid codice fiscale of a natural person.
///
/// Holds the normalised (trimmed, uppercase) code as written, omocodia letters included, so
/// that storage and comparison use exactly what the citizen's card shows. Two omocodic
/// variants of the same person are therefore different values.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CodiceFiscale {
    /// Normalised code as written: 16 ASCII uppercase letters and digits.
    code: String,
    /// Birth date read in the 2000s. It always exists once parsed: 20yy is a leap year
    /// whenever 19yy is, so it is the weaker of the two conditions.
    born_2000s: NaiveDate,
    /// Birth date read in the 1900s; `None` only for 29 February 1900.
    born_1900s: Option<NaiveDate>,
    /// Sex read from the day (women: day + 40).
    sex: Sex,
}

impl CodiceFiscale {
    /// Parses and validates a codice fiscale.
    ///
    /// Surrounding whitespace is trimmed and ASCII lowercase is accepted; anything else that
    /// does not fit the layout, the calendar or the check character is an error. The first
    /// problem found from left to right is reported, the check character last.
    ///
    /// Omocodia: the Agenzia delle Entrate replaces digits right to left (15, 14, 13, 11,
    /// 10, 8, 7), but any combination of replaced positions is accepted. Codes are read, not
    /// issued, here, and rejecting an unusual but correctly checked combination would lock
    /// a citizen out for no safety gain.
    ///
    /// # Errors
    ///
    /// A [`CodiceFiscaleError`] naming the first problem found.
    pub fn parse(input: &str) -> Result<Self, CodiceFiscaleError> {
        // ASCII-only uppercasing: `str::to_uppercase` could change the length ("ß" -> "SS").
        let chars: Vec<char> = input
            .trim()
            .chars()
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if chars.len() == NUMERIC_CODE_LENGTH && chars.iter().all(char::is_ascii_digit) {
            return Err(CodiceFiscaleError::NumericCode);
        }
        let chars: [char; LENGTH] = chars
            .try_into()
            .map_err(|rest: Vec<char>| CodiceFiscaleError::WrongLength { found: rest.len() })?;

        // Validate every position, keeping the value of the numeric ones (0 for letters).
        let mut values = [0_u32; LENGTH];
        for (index, ((&c, kind), value)) in
            chars.iter().zip(LAYOUT).zip(values.iter_mut()).enumerate()
        {
            let decoded = match kind {
                CharacterKind::Letter => c.is_ascii_uppercase().then_some(0),
                CharacterKind::Digit => numeric_value(c),
            };
            *value = decoded.ok_or(CodiceFiscaleError::InvalidCharacter {
                position: index + 1,
                found: c,
                expected: kind,
            })?;
        }
        let [_, _, _, _, _, _, y1, y2, _, d1, d2, _, _, _, _, _] = values;
        let [.., month_letter, _, _, _, _, _, _, found_check] = chars;

        let month = month_number(month_letter).ok_or(CodiceFiscaleError::InvalidMonth {
            found: month_letter,
        })?;
        let written_day = d1 * 10 + d2;
        let (sex, day) = match written_day {
            1..=31 => (Sex::Male, written_day),
            41..=71 => (Sex::Female, written_day - FEMALE_DAY_OFFSET),
            _ => return Err(CodiceFiscaleError::InvalidDay { day: written_day }),
        };
        let year = y1 * 10 + y2;
        let date_in = |century: i32| {
            i32::try_from(year)
                .ok()
                .and_then(|yy| NaiveDate::from_ymd_opt(century + yy, month, day))
        };
        let born_2000s =
            date_in(2000).ok_or(CodiceFiscaleError::NonexistentDate { day, month, year })?;
        let born_1900s = date_in(1900);

        let expected = check_of(chars.iter().take(LENGTH - 1).copied());
        if expected != found_check {
            return Err(CodiceFiscaleError::WrongCheckCharacter {
                expected,
                found: found_check,
            });
        }

        Ok(Self {
            code: chars.iter().collect(),
            born_2000s,
            born_1900s,
            sex,
        })
    }

    /// The full normalised code, for storage and comparison. Never log it: use
    /// [`masked`](Self::masked), `Debug` or `Display` instead.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// Masked form for logs and screens: first 6 characters, `*****`, last 4
    /// (`RSSMRA85T10A562S` -> `RSSMRA*****562S`).
    #[must_use]
    pub fn masked(&self) -> Masked<'_> {
        Masked(&self.code)
    }

    /// Birth date. The code has only two year digits: the 2000s are chosen if that date is
    /// not after `today`, otherwise the 1900s (nobody alive was born in the 1800s or is
    /// registered before birth).
    #[must_use]
    pub fn birth_date(&self, today: NaiveDate) -> NaiveDate {
        if self.born_2000s <= today {
            self.born_2000s
        } else {
            // Only 29 February 1900 lacks a 1900s date; with `today` before 2000-02-29 no
            // century fits, so fall back to the only existing date.
            self.born_1900s.unwrap_or(self.born_2000s)
        }
    }

    /// Sex as recorded in the code.
    #[must_use]
    pub const fn sex(&self) -> Sex {
        self.sex
    }

    /// Belfiore code of the birth place with digits restored, e.g. `"A562"`, or `"Z404"` for
    /// a foreign country.
    #[must_use]
    pub fn birth_place_code(&self) -> String {
        let mut place = self.code.chars().skip(11).take(4);
        // The leading letter stays as is: L and M start real Belfiore codes (L219 Torino).
        let letter = place.next();
        letter.into_iter().chain(place.map(restore_digit)).collect()
    }

    /// Whether the birth place is a foreign country (Belfiore code starting with `Z`).
    #[must_use]
    pub fn is_born_abroad(&self) -> bool {
        self.code.chars().nth(11) == Some('Z')
    }

    /// Whether any numeric position holds an omocodia letter.
    #[must_use]
    pub fn is_omocodic(&self) -> bool {
        self.code
            .chars()
            .zip(LAYOUT)
            .any(|(c, kind)| kind == CharacterKind::Digit && c.is_ascii_alphabetic())
    }
}

/// Masked view of a codice fiscale; `Display` and `Debug` print e.g. `RSSMRA*****562S`.
#[derive(Clone, Copy)]
pub struct Masked<'a>(&'a str);

/// The masked form of a code held as text (a database column, an audit party): a valid code
/// shows as `RSSMRA*****562S`, anything else as `[not a codice fiscale]`, never in clear.
pub fn mask_text(code: &str) -> String {
    CodiceFiscale::parse(code).map_or_else(
        |_| "[not a codice fiscale]".to_owned(),
        |cf| cf.masked().to_string(),
    )
}

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The code is 16 ASCII characters, so byte offsets are character offsets.
        let head = self.0.get(..MASK_HEAD).unwrap_or_default();
        let tail = self
            .0
            .get(self.0.len().saturating_sub(MASK_TAIL)..)
            .unwrap_or_default();
        // `pad` so that width and alignment flags work as for a `&str`.
        f.pad(&format!("{head}{MASK}{tail}"))
    }
}

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for CodiceFiscale {
    // Masked on purpose: logs must never contain a full codice fiscale.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CodiceFiscale")
            .field(&self.masked())
            .finish()
    }
}

impl fmt::Display for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.masked(), f)
    }
}

impl FromStr for CodiceFiscale {
    type Err = CodiceFiscaleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for CodiceFiscale {
    type Error = CodiceFiscaleError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl Serialize for CodiceFiscale {
    // The full code: API bodies need it.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.code)
    }
}

impl<'de> Deserialize<'de> for CodiceFiscale {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodiceFiscaleVisitor;

        impl Visitor<'_> for CodiceFiscaleVisitor {
            type Value = CodiceFiscale;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a codice fiscale string of 16 characters")
            }

            // The error carries only the reason, never the input.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                CodiceFiscale::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(CodiceFiscaleVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde::de::value::{Error as ValueError, StrDeserializer};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn today() -> NaiveDate {
        date(2026, 5, 1)
    }

    fn parse_ok(code: &str) -> CodiceFiscale {
        CodiceFiscale::parse(code).unwrap_or_else(|e| panic!("{code:?} should be valid: {e}"))
    }

    fn parse_err(code: &str) -> CodiceFiscaleError {
        match CodiceFiscale::parse(code) {
            Ok(cf) => panic!("{code:?} should be invalid, parsed as {cf:?}"),
            Err(e) => e,
        }
    }

    /// Replaces the given 0-based numeric indices with their omocodia letters and
    /// recomputes the check character.
    fn omocodic(base: &str, indices: &[usize]) -> String {
        const LETTERS: [char; 10] = ['L', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'V'];
        let mut chars: Vec<char> = base.chars().take(15).collect();
        for &i in indices {
            let digit = chars[i].to_digit(10).unwrap() as usize;
            chars[i] = LETTERS[digit];
        }
        let first: String = chars.iter().collect();
        let check = check_character(&first).unwrap();
        format!("{first}{check}")
    }

    /// Numeric positions as 0-based indices, in the order the Agenzia substitutes them.
    const RIGHT_TO_LEFT: [usize; 7] = [14, 13, 12, 10, 9, 7, 6];

    // ---- check character ---------------------------------------------------------------

    #[test]
    fn check_character_of_published_examples() {
        // Public examples: Mario Rossi (Rome, 10/12/1985); Matteo Moretti (Milan, 9/4/1925).
        assert_eq!(check_character("RSSMRA85T10A562"), Some('S'));
        assert_eq!(check_character("MRTMTT25D09F205"), Some('Z'));
        assert_eq!(check_character("rssmra85t10a562"), Some('S'));
    }

    #[test]
    fn check_character_tables_by_hand() {
        // Odd positions R S R 8 T 0 5 2 -> 8+12+8+19+14+1+13+5 = 80.
        // Even positions S M A 5 1 A 6 -> 18+12+0+5+1+0+6 = 42.
        // 122 mod 26 = 18 -> 'S'.
        assert_eq!(check_character("RSSMRA85T10A562"), Some('S'));
        // All zeros: 8 odd zeros * 1 = 8 -> 'I'. All 'A': 8 * 1 + 7 * 0 = 8 -> 'I'.
        assert_eq!(check_character("000000000000000"), Some('I'));
        assert_eq!(check_character("AAAAAAAAAAAAAAA"), Some('I'));
        // All 'Z': 8 * 23 + 7 * 25 = 359, 359 mod 26 = 21 -> 'V'.
        assert_eq!(check_character("ZZZZZZZZZZZZZZZ"), Some('V'));
        // All '9': 8 * 21 + 7 * 9 = 231, 231 mod 26 = 23 -> 'X'.
        assert_eq!(check_character("999999999999999"), Some('X'));
    }

    #[test]
    fn odd_and_even_tables_match_official_values() {
        let odd_digits = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21];
        for (c, expected) in ('0'..='9').zip(odd_digits) {
            assert_eq!(odd_value(c), expected, "odd {c}");
        }
        let odd_letters = [
            1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25,
            24, 23,
        ];
        for (c, expected) in ('A'..='Z').zip(odd_letters) {
            assert_eq!(odd_value(c), expected, "odd {c}");
        }
        for (c, expected) in ('0'..='9').zip(0..) {
            assert_eq!(even_value(c), expected, "even {c}");
        }
        for (c, expected) in ('A'..='Z').zip(0..) {
            assert_eq!(even_value(c), expected, "even {c}");
        }
        // The odd table is a permutation of 0..=25 on letters.
        let mut seen: Vec<u32> = ('A'..='Z').map(odd_value).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..26).collect::<Vec<_>>());
    }

    #[test]
    fn check_character_rejects_bad_input() {
        for input in [
            "",
            "RSSMRA85T10A56",
            "RSSMRA85T10A562S",
            "RSSMRA85T10A56À",
            "RSSMRA85T10A56-",
            "RSSMRA85T10A56 ",
            " RSSMRA85T10A56",
        ] {
            assert_eq!(check_character(input), None, "{input:?}");
        }
    }

    // ---- valid codes -------------------------------------------------------------------

    #[test]
    fn valid_codes_decode() {
        let today = date(2024, 6, 1);
        // (code, birth date, sex, place, omocodic)
        let cases = [
            ("RSSMRA85T10A562S", "1985-12-10", "M", "A562", false),
            ("MRTMTT25D09F205Z", "1925-04-09", "M", "F205", false),
            ("RSSMRA85T50A562W", "1985-12-10", "F", "A562", false),
            ("VRDGPP80A01Z404R", "1980-01-01", "M", "Z404", false),
            ("BNCLRA00B69F205K", "2000-02-29", "F", "F205", false),
            // Place letters that are also omocodia letters must not become digits.
            ("BNCLRA90L41L219A", "1990-07-01", "F", "L219", false),
            ("BNCLRA90L41L21VP", "1990-07-01", "F", "L219", true),
            ("RSSMRA90L01M082F", "1990-07-01", "M", "M082", false),
            ("MRTMTT25D09F2LRF", "1925-04-09", "M", "F205", true),
        ];
        for (code, born, sex, place, omocodic) in cases {
            let cf = parse_ok(code);
            assert_eq!(cf.as_str(), code);
            assert_eq!(cf.birth_date(today).to_string(), born, "{code}");
            assert_eq!(cf.sex().as_str(), sex, "{code}");
            assert_eq!(cf.birth_place_code(), place, "{code}");
            assert_eq!(cf.is_born_abroad(), place.starts_with('Z'), "{code}");
            assert_eq!(cf.is_omocodic(), omocodic, "{code}");
        }
    }

    #[test]
    fn generated_codes_for_every_month_and_day_edges() {
        let months = ['A', 'B', 'C', 'D', 'E', 'H', 'L', 'M', 'P', 'R', 'S', 'T'];
        for (month, letter) in (1..=12).zip(months) {
            for (written, day, sex) in [
                (1, 1, Sex::Male),
                (28, 28, Sex::Male),
                (41, 1, Sex::Female),
                (68, 28, Sex::Female),
            ] {
                let first = format!("XXXYYY99{letter}{written:02}H501");
                let code = format!("{first}{}", check_character(&first).unwrap());
                let cf = parse_ok(&code);
                assert_eq!(cf.birth_date(today()), date(1999, month, day), "{code}");
                assert_eq!(cf.sex(), sex, "{code}");
            }
        }
    }

    #[test]
    fn lowercase_and_whitespace_are_normalised() {
        for input in [
            "rssmra85t10a562s",
            "  RSSMRA85T10A562S",
            "RSSMRA85T10A562S\n",
            "\t rSsMrA85t10A562s \r\n",
            "\u{a0}RSSMRA85T10A562S\u{2003}",
        ] {
            let cf = parse_ok(input);
            assert_eq!(cf.as_str(), "RSSMRA85T10A562S");
            assert_eq!(cf, parse_ok("RSSMRA85T10A562S"));
        }
        let parsed: CodiceFiscale = " rssmra85t10a562s ".parse().unwrap();
        assert_eq!(parsed.as_str(), "RSSMRA85T10A562S");
        assert_eq!(CodiceFiscale::try_from("rssmra85t10a562s").unwrap(), parsed);
    }

    // ---- omocodia ----------------------------------------------------------------------

    #[test]
    fn omocodic_codes_computed_by_hand() {
        // 15 -> N: odd position 15 changes from '2' (5) to 'N' (20): 122 + 15 = 137,
        // 137 mod 26 = 7 -> 'H'.
        assert_eq!(omocodic("RSSMRA85T10A562S", &[14]), "RSSMRA85T10A56NH");
        // and 14 -> S: even position 14 changes from '6' (6) to 'S' (18): 137 + 12 = 149,
        // 149 mod 26 = 19 -> 'T'.
        assert_eq!(omocodic("RSSMRA85T10A562S", &[14, 13]), "RSSMRA85T10A5SNT");
        // All seven: odd positions R S R U T L R N -> 8+12+8+16+14+4+8+20 = 90; even
        // positions S M A R M A S -> 18+12+0+17+12+0+18 = 77; 167 mod 26 = 11 -> 'L'.
        assert_eq!(
            omocodic("RSSMRA85T10A562S", &RIGHT_TO_LEFT),
            "RSSMRAURTMLARSNL"
        );
        for code in ["RSSMRA85T10A56NH", "RSSMRA85T10A5SNT", "RSSMRAURTMLARSNL"] {
            let cf = parse_ok(code);
            assert!(cf.is_omocodic(), "{code}");
            assert_eq!(cf.as_str(), code);
            assert_eq!(cf.birth_date(today()), date(1985, 12, 10));
            assert_eq!(cf.sex(), Sex::Male);
            assert_eq!(cf.birth_place_code(), "A562");
        }
    }

    #[test]
    fn omocodic_right_to_left_decode_like_the_base() {
        for base in [
            "RSSMRA85T10A562S",
            "RSSMRA85T50A562W",
            "VRDGPP80A01Z404R",
            "BNCLRA00B69F205K",
            "BNCLRA90L41L219A",
        ] {
            let reference = parse_ok(base);
            for n in 1..=RIGHT_TO_LEFT.len() {
                let code = omocodic(base, &RIGHT_TO_LEFT[..n]);
                let cf = parse_ok(&code);
                assert!(cf.is_omocodic(), "{code}");
                assert_ne!(cf, reference);
                assert_eq!(
                    cf.birth_date(today()),
                    reference.birth_date(today()),
                    "{code}"
                );
                assert_eq!(cf.sex(), reference.sex(), "{code}");
                assert_eq!(
                    cf.birth_place_code(),
                    reference.birth_place_code(),
                    "{code}"
                );
                assert_eq!(cf.is_born_abroad(), reference.is_born_abroad(), "{code}");
            }
        }
    }

    #[test]
    fn omocodic_any_combination_is_accepted() {
        let base = "VRDGPP80A01Z404R";
        let reference = parse_ok(base);
        for mask in 0_u32..(1 << RIGHT_TO_LEFT.len()) {
            let indices: Vec<usize> = RIGHT_TO_LEFT
                .iter()
                .enumerate()
                .filter(|(bit, _)| mask & (1 << bit) != 0)
                .map(|(_, &i)| i)
                .collect();
            let code = omocodic(base, &indices);
            let cf = parse_ok(&code);
            assert_eq!(cf.is_omocodic(), mask != 0, "{code}");
            assert_eq!(cf.birth_date(today()), date(1980, 1, 1), "{code}");
            assert_eq!(cf.birth_date(today()), reference.birth_date(today()));
            assert_eq!(cf.sex(), reference.sex(), "{code}");
            assert_eq!(cf.birth_place_code(), "Z404", "{code}");
            assert!(cf.is_born_abroad(), "{code}");
            assert_eq!(cf.masked().to_string().len(), 15);
        }
    }

    #[test]
    fn omocodic_with_unchanged_check_character_is_rejected() {
        // The check character is computed on the code as written, letters included.
        let err = parse_err("RSSMRA85T10A56NS");
        assert_eq!(
            err,
            CodiceFiscaleError::WrongCheckCharacter {
                expected: 'H',
                found: 'S'
            }
        );
    }

    // ---- masking -----------------------------------------------------------------------

    #[test]
    fn masked_display_and_debug_hide_the_middle() {
        let cf = parse_ok("RSSMRA85T10A562S");
        assert_eq!(cf.masked().to_string(), "RSSMRA*****562S");
        assert_eq!(cf.to_string(), "RSSMRA*****562S");
        assert_eq!(format!("{cf:?}"), "CodiceFiscale(RSSMRA*****562S)");
        assert_eq!(format!("{:?}", cf.masked()), "RSSMRA*****562S");
        assert_eq!(format!("{cf:>17}"), "  RSSMRA*****562S");
        for shown in [
            cf.to_string(),
            format!("{cf:?}"),
            format!("{cf:#?}"),
            format!("{:?}", Some(&cf)),
            format!("{:?}", [&cf]),
        ] {
            assert!(!shown.contains("85T10A"), "{shown}");
            assert!(!shown.contains("RSSMRA85"), "{shown}");
            assert!(!shown.contains("RSSMRA85T10A562S"), "{shown}");
        }
        let omocodic = parse_ok("RSSMRAURTMLARSNL");
        assert_eq!(omocodic.to_string(), "RSSMRA*****RSNL");
        assert!(!format!("{omocodic:?}").contains("URTMLA"));
    }

    // ---- century -----------------------------------------------------------------------

    #[test]
    fn century_depends_on_today() {
        let first = |yy: u32| format!("RSSMRA{yy:02}A01H501");
        let code = |yy: u32| {
            let f = first(yy);
            let check = check_character(&f).unwrap();
            parse_ok(&format!("{f}{check}"))
        };
        let cases = [
            (24, date(2026, 5, 1), date(2024, 1, 1)),
            (30, date(2026, 5, 1), date(1930, 1, 1)),
            (26, date(2026, 5, 1), date(2026, 1, 1)),
            (26, date(2025, 12, 31), date(1926, 1, 1)),
            (0, date(2026, 5, 1), date(2000, 1, 1)),
            (99, date(2026, 5, 1), date(1999, 1, 1)),
            (24, date(2023, 6, 1), date(1924, 1, 1)),
        ];
        for (yy, today, expected) in cases {
            assert_eq!(
                code(yy).birth_date(today),
                expected,
                "yy={yy} today={today}"
            );
        }
    }

    #[test]
    fn born_today_is_this_century() {
        // 10 December 2025, checked on that very day and the day before.
        let f = "RSSMRA25T10H501";
        let cf = parse_ok(&format!("{f}{}", check_character(f).unwrap()));
        assert_eq!(cf.birth_date(date(2025, 12, 10)), date(2025, 12, 10));
        assert_eq!(cf.birth_date(date(2025, 12, 9)), date(1925, 12, 10));
    }

    #[test]
    fn leap_day_of_2000_before_2000_falls_back_without_panicking() {
        let cf = parse_ok("BNCLRA00B69F205K");
        assert_eq!(cf.birth_date(date(2026, 1, 1)), date(2000, 2, 29));
        // No century fits (1900 is not leap): the only existing date is returned.
        assert_eq!(cf.birth_date(date(1999, 1, 1)), date(2000, 2, 29));
    }

    // ---- dates -------------------------------------------------------------------------

    /// Code with the given year digits, month letter and written day, valid check character.
    fn with_date(yy: &str, month: char, day: &str) -> String {
        let first = format!("RSSMRA{yy}{month}{day}H501");
        format!("{first}{}", check_character(&first).unwrap())
    }

    #[test]
    fn leap_days() {
        // Leap in one of the two centuries at least.
        for yy in ["00", "04", "24", "96"] {
            for day in ["29", "69"] {
                let cf = parse_ok(&with_date(yy, 'B', day));
                assert_eq!(cf.birth_date(today()).format("%m-%d").to_string(), "02-29");
            }
        }
        // Not leap in either century.
        for yy in ["01", "23", "25", "99"] {
            for day in ["29", "69"] {
                let err = parse_err(&with_date(yy, 'B', day));
                assert_eq!(err.reason(), "nonexistent_date", "{yy} {day}");
                assert!(matches!(
                    err,
                    CodiceFiscaleError::NonexistentDate {
                        day: 29,
                        month: 2,
                        ..
                    }
                ));
            }
        }
        assert_eq!(
            parse_err(&with_date("23", 'B', "29")),
            CodiceFiscaleError::NonexistentDate {
                day: 29,
                month: 2,
                year: 23
            }
        );
        // 30 February never exists.
        assert_eq!(
            parse_err(&with_date("00", 'B', "30")),
            CodiceFiscaleError::NonexistentDate {
                day: 30,
                month: 2,
                year: 0
            }
        );
    }

    #[test]
    fn thirty_first_of_short_months() {
        for month in ['D', 'H', 'P', 'S'] {
            for day in ["31", "71"] {
                let err = parse_err(&with_date("85", month, day));
                assert_eq!(err.reason(), "nonexistent_date", "{month} {day}");
            }
            parse_ok(&with_date("85", month, "30"));
            parse_ok(&with_date("85", month, "70"));
        }
        for month in ['A', 'C', 'E', 'L', 'M', 'R', 'T'] {
            parse_ok(&with_date("85", month, "31"));
            parse_ok(&with_date("85", month, "71"));
        }
        assert_eq!(
            parse_err(&with_date("85", 'D', "31")),
            CodiceFiscaleError::NonexistentDate {
                day: 31,
                month: 4,
                year: 85
            }
        );
    }

    #[test]
    fn day_ranges() {
        for (written, valid, sex) in [
            ("00", false, None),
            ("01", true, Some(Sex::Male)),
            ("31", true, Some(Sex::Male)),
            ("32", false, None),
            ("39", false, None),
            ("40", false, None),
            ("41", true, Some(Sex::Female)),
            ("71", true, Some(Sex::Female)),
            ("72", false, None),
            ("99", false, None),
        ] {
            let code = with_date("85", 'A', written);
            match CodiceFiscale::parse(&code) {
                Ok(cf) => {
                    assert!(valid, "{code} should be invalid");
                    assert_eq!(Some(cf.sex()), sex);
                }
                Err(e) => {
                    assert!(!valid, "{code} should be valid: {e}");
                    assert_eq!(
                        e,
                        CodiceFiscaleError::InvalidDay {
                            day: written.parse().unwrap()
                        }
                    );
                    assert_eq!(e.reason(), "invalid_day");
                }
            }
        }
        let woman = parse_ok(&with_date("85", 'A', "41"));
        assert_eq!(woman.birth_date(today()), date(1985, 1, 1));
        let woman = parse_ok(&with_date("85", 'A', "71"));
        assert_eq!(woman.birth_date(today()), date(1985, 1, 31));
    }

    #[test]
    fn omocodic_day_is_decoded_before_range_check() {
        // Day "RL" is 50 -> woman born on the 10th.
        let cf = parse_ok(&with_date("85", 'A', "RL"));
        assert_eq!(cf.sex(), Sex::Female);
        assert_eq!(cf.birth_date(today()), date(1985, 1, 10));
        // Day "PN" is 32.
        assert_eq!(
            parse_err(&with_date("85", 'A', "PN")),
            CodiceFiscaleError::InvalidDay { day: 32 }
        );
    }

    // ---- errors ------------------------------------------------------------------------

    #[test]
    fn every_error_variant() {
        let cases: [(&str, CodiceFiscaleError, &str); 12] = [
            (
                "RSSMRA85T10A562",
                CodiceFiscaleError::WrongLength { found: 15 },
                "wrong_length",
            ),
            (
                "RSSMRA85T10A562SX",
                CodiceFiscaleError::WrongLength { found: 17 },
                "wrong_length",
            ),
            (
                "",
                CodiceFiscaleError::WrongLength { found: 0 },
                "wrong_length",
            ),
            (
                "RSSMRÀ85T10A562",
                CodiceFiscaleError::WrongLength { found: 15 },
                "wrong_length",
            ),
            (
                "12345678901",
                CodiceFiscaleError::NumericCode,
                "numeric_code",
            ),
            (
                " 00000000000 ",
                CodiceFiscaleError::NumericCode,
                "numeric_code",
            ),
            (
                "RSSMR485T10A562S",
                CodiceFiscaleError::InvalidCharacter {
                    position: 6,
                    found: '4',
                    expected: CharacterKind::Letter,
                },
                "invalid_character",
            ),
            (
                "RSSMRA8AT10A562S",
                CodiceFiscaleError::InvalidCharacter {
                    position: 8,
                    found: 'A',
                    expected: CharacterKind::Digit,
                },
                "invalid_character",
            ),
            (
                "RSSMRA85F10A562S",
                CodiceFiscaleError::InvalidMonth { found: 'F' },
                "invalid_month",
            ),
            (
                "RSSMRA85T32A562S",
                CodiceFiscaleError::InvalidDay { day: 32 },
                "invalid_day",
            ),
            (
                "RSSMRA85D31A562S",
                CodiceFiscaleError::NonexistentDate {
                    day: 31,
                    month: 4,
                    year: 85,
                },
                "nonexistent_date",
            ),
            (
                "RSSMRA85T10A562T",
                CodiceFiscaleError::WrongCheckCharacter {
                    expected: 'S',
                    found: 'T',
                },
                "wrong_check_character",
            ),
        ];
        for (input, expected, reason) in cases {
            let err = parse_err(input);
            assert_eq!(err, expected, "{input:?}");
            assert_eq!(err.reason(), reason, "{input:?}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn invalid_characters_at_each_kind_of_position() {
        let base: Vec<char> = "RSSMRA85T10A562S".chars().collect();
        for (index, kind) in LAYOUT.iter().enumerate() {
            let bad = match kind {
                CharacterKind::Letter => ['1', '-', 'À', '€', ' ', '\0'],
                CharacterKind::Digit => ['A', 'W', 'Ò', '/', '_', '\u{663}'],
            };
            for c in bad {
                let mut chars = base.clone();
                chars[index] = c;
                let input: String = chars.iter().collect();
                // A space at either end is trimmed: that is a length error instead.
                if c == ' ' && (index == 0 || index == LENGTH - 1) {
                    assert_eq!(parse_err(&input).reason(), "wrong_length");
                    continue;
                }
                assert_eq!(
                    parse_err(&input),
                    CodiceFiscaleError::InvalidCharacter {
                        position: index + 1,
                        found: c,
                        expected: *kind,
                    },
                    "{input:?}"
                );
            }
        }
    }

    #[test]
    fn first_problem_from_the_left_is_reported() {
        // Invalid characters at 2 and 10: position 2 is reported.
        assert!(matches!(
            parse_err("R1SMRA85T1XA562S"),
            CodiceFiscaleError::InvalidCharacter { position: 2, .. }
        ));
        // Month and check character both wrong: the month is reported.
        assert_eq!(
            parse_err("RSSMRA85Z10A562X"),
            CodiceFiscaleError::InvalidMonth { found: 'Z' }
        );
    }

    #[test]
    fn numeric_code_only_for_eleven_digits() {
        assert_eq!(parse_err("12345678901").reason(), "numeric_code");
        assert_eq!(parse_err("1234567890").reason(), "wrong_length");
        assert_eq!(parse_err("123456789012").reason(), "wrong_length");
        assert_eq!(parse_err("1234567890A").reason(), "wrong_length");
        assert_eq!(parse_err("1234567890123456").reason(), "invalid_character");
    }

    #[test]
    fn length_is_counted_in_characters() {
        // 'À' is two bytes in UTF-8 but one character.
        assert_eq!(
            parse_err("RSSMRÀ85T10A562S"),
            CodiceFiscaleError::InvalidCharacter {
                position: 6,
                found: 'À',
                expected: CharacterKind::Letter,
            }
        );
        assert_eq!(
            parse_err("ÀÀÀÀÀÀÀÀÀÀ"),
            CodiceFiscaleError::WrongLength { found: 10 }
        );
        // "ß" must not become "SS" and change the length.
        assert_eq!(
            parse_err("RSSMRß85T10A562S"),
            CodiceFiscaleError::InvalidCharacter {
                position: 6,
                found: 'ß',
                expected: CharacterKind::Letter,
            }
        );
    }

    #[test]
    fn italian_messages() {
        assert_eq!(
            parse_err("RSSMRA85T10A562").to_string(),
            "il codice fiscale deve avere 16 caratteri (ne ha 15)"
        );
        assert_eq!(
            parse_err("RSSMRA85T10A562T").to_string(),
            "carattere di controllo errato: atteso S, trovato T"
        );
        assert_eq!(
            parse_err("RSSMR485T10A562S").to_string(),
            "carattere non valido in posizione 6: '4' (è richiesta una lettera)"
        );
        assert_eq!(
            parse_err("RSSMRA8AT10A562S").to_string(),
            "carattere non valido in posizione 8: 'A' (è richiesta una cifra)"
        );
        assert_eq!(
            parse_err("RSSMRA85F10A562S").to_string(),
            "lettera del mese di nascita non valida: F"
        );
        assert_eq!(
            parse_err("RSSMRA85T00A562S").to_string(),
            "giorno di nascita non valido: 00 (ammessi 01-31 per gli uomini, 41-71 per le donne)"
        );
        assert_eq!(
            parse_err("RSSMRA85D31A562S").to_string(),
            "data di nascita inesistente: 31 aprile"
        );
        assert_eq!(
            parse_err(&with_date("23", 'B', "29")).to_string(),
            "data di nascita inesistente: 29 febbraio in un anno non bisestile"
        );
        assert!(parse_err("12345678901").to_string().contains("partita IVA"));
        // Control characters are escaped, not printed raw.
        assert_eq!(
            parse_err("RSSMR\u{7}85T10A562S").to_string(),
            "carattere non valido in posizione 6: '\\u{7}' (è richiesta una lettera)"
        );
        let err: Box<dyn std::error::Error> = Box::new(parse_err(""));
        assert!(err.to_string().contains("ne ha 0"));
    }

    #[test]
    fn reasons_are_distinct() {
        let errors = [
            CodiceFiscaleError::WrongLength { found: 0 },
            CodiceFiscaleError::NumericCode,
            CodiceFiscaleError::InvalidCharacter {
                position: 1,
                found: '1',
                expected: CharacterKind::Letter,
            },
            CodiceFiscaleError::InvalidMonth { found: 'F' },
            CodiceFiscaleError::InvalidDay { day: 0 },
            CodiceFiscaleError::NonexistentDate {
                day: 31,
                month: 4,
                year: 85,
            },
            CodiceFiscaleError::WrongCheckCharacter {
                expected: 'A',
                found: 'B',
            },
        ];
        let mut reasons: Vec<&str> = errors.iter().map(CodiceFiscaleError::reason).collect();
        let snake_case = |r: &&str| r.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        assert!(reasons.iter().all(snake_case));
        assert!(reasons.iter().all(|r| !r.is_empty()));
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), errors.len());
        let mut listed = CodiceFiscaleError::REASONS.to_vec();
        listed.sort_unstable();
        assert_eq!(reasons, listed, "REASONS must list every reason()");
        // Fails to compile when a variant is added: add it to `errors` and REASONS too.
        for e in &errors {
            match e {
                CodiceFiscaleError::WrongLength { .. }
                | CodiceFiscaleError::NumericCode
                | CodiceFiscaleError::InvalidCharacter { .. }
                | CodiceFiscaleError::InvalidMonth { .. }
                | CodiceFiscaleError::InvalidDay { .. }
                | CodiceFiscaleError::NonexistentDate { .. }
                | CodiceFiscaleError::WrongCheckCharacter { .. } => {}
            }
        }
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        // xorshift64: deterministic, no extra crate.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: Vec<char> = "ABCDEHLMPRSTUVZXYW0123456789 lmnrs-_/*ÀàßÒ€\u{0}\u{663}\t😀"
            .chars()
            .collect();
        let valid = "RSSMRAURTMLARSNL";
        let mut parsed = 0;
        for round in 0..20_000 {
            let len = (next() % 20) as usize;
            let input: String = if round % 2 == 0 {
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            } else {
                // Mutate a valid code in one or two places.
                let mut chars: Vec<char> = valid.chars().collect();
                for _ in 0..(1 + next() % 2) {
                    let i = (next() % 16) as usize;
                    chars[i] = alphabet[(next() % alphabet.len() as u64) as usize];
                }
                chars.into_iter().collect()
            };
            if let Ok(cf) = CodiceFiscale::parse(&input) {
                parsed += 1;
                let _ = (
                    cf.birth_date(today()),
                    cf.birth_place_code(),
                    cf.to_string(),
                );
            }
            let _ = check_character(&input);
        }
        assert!(parsed > 0, "some mutations keep the code valid");

        // Random bytes, lossily decoded, and every prefix of some valid codes.
        for _ in 0..5_000 {
            let bytes: Vec<u8> = (0..(next() % 24)).map(|_| next() as u8).collect();
            let _ = CodiceFiscale::parse(&String::from_utf8_lossy(&bytes));
        }
        for code in ["RSSMRA85T10A562S", "BNCLRA00B69F205K", "rssmraurtmlarsnl"] {
            for end in 0..code.len() {
                assert!(CodiceFiscale::parse(&code[..end]).is_err());
                assert!(CodiceFiscale::parse(&code[end..]).is_err() || end == 0);
            }
        }
    }

    // ---- serde -------------------------------------------------------------------------

    /// Runs a value through serde's `Formatter` serializer (strings are written as is).
    struct Serialized<'a, T: Serialize>(&'a T);

    impl<T: Serialize> fmt::Display for Serialized<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.serialize(f)
        }
    }

    fn deserialize<'a, T: Deserialize<'a>>(s: &'a str) -> Result<T, ValueError> {
        let deserializer: StrDeserializer<'a, ValueError> =
            serde::de::IntoDeserializer::into_deserializer(s);
        T::deserialize(deserializer)
    }

    #[test]
    fn serde_uses_the_full_code() {
        let cf = parse_ok("rssmra85t10a562s");
        assert_eq!(Serialized(&cf).to_string(), "RSSMRA85T10A562S");
        let back: CodiceFiscale = deserialize("RSSMRA85T10A562S").unwrap();
        assert_eq!(back, cf);
        let back: CodiceFiscale = deserialize(" rssmraurtmlarsnl ").unwrap();
        assert_eq!(back.as_str(), "RSSMRAURTMLARSNL");
        let err = deserialize::<CodiceFiscale>("RSSMRA85T10A562T").unwrap_err();
        assert_eq!(
            err.to_string(),
            "carattere di controllo errato: atteso S, trovato T"
        );
        assert!(deserialize::<CodiceFiscale>("12345678901").is_err());
    }

    #[test]
    fn sex_serde_and_strings() {
        assert_eq!(Sex::Male.as_str(), "M");
        assert_eq!(Sex::Female.as_str(), "F");
        assert_eq!(Sex::Female.to_string(), "F");
        assert_eq!(Serialized(&Sex::Male).to_string(), "M");
        assert_eq!(Serialized(&Sex::Female).to_string(), "F");
        assert_eq!(deserialize::<Sex>("M").unwrap(), Sex::Male);
        assert_eq!(deserialize::<Sex>("F").unwrap(), Sex::Female);
        assert!(deserialize::<Sex>("Male").is_err());
    }
}
