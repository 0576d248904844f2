//! Italian for people: plurals, dates, and citizen texts for codice fiscale errors.

use crate::person::CodiceFiscaleError;
use chrono::{Datelike, NaiveDate};

/// `n` with the right form of the noun: "1 secondo", "2 secondi", "0 secondi".
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

pub fn seconds(n: u64) -> String {
    count(n, "secondo", "secondi")
}

pub fn minutes(n: u64) -> String {
    count(n, "minuto", "minuti")
}

pub fn days(n: u64) -> String {
    count(n, "giorno", "giorni")
}

const MONTHS: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];

/// "3 marzo 2027" (the 1st is "1º").
pub fn date(d: NaiveDate) -> String {
    let month = MONTHS
        .get(usize::try_from(d.month0()).unwrap_or(0))
        .copied()
        .unwrap_or("");
    let day = if d.day() == 1 {
        "1º".to_owned()
    } else {
        d.day().to_string()
    };
    format!("{day} {month} {}", d.year())
}

/// What to tell a citizen whose codice fiscale was refused: a whole sentence, with what to
/// check (never the expected check character: it would let anyone complete a guessed code).
pub fn codice_fiscale_error(e: &CodiceFiscaleError) -> String {
    match e {
        CodiceFiscaleError::WrongLength { found } => format!(
            "Il codice fiscale ha 16 caratteri: ne hai scritti {found}. Controlla di averlo \
             copiato per intero dalla tessera sanitaria."
        ),
        CodiceFiscaleError::NumericCode => "Hai scritto un codice di 11 cifre (una partita IVA o \
             un codice provvisorio): scrivi il codice fiscale di 16 caratteri della persona."
            .to_owned(),
        CodiceFiscaleError::InvalidCharacter { position, .. } => format!(
            "Il codice fiscale non è scritto correttamente: controlla il carattere in \
             posizione {position}."
        ),
        CodiceFiscaleError::InvalidMonth { .. }
        | CodiceFiscaleError::InvalidDay { .. }
        | CodiceFiscaleError::NonexistentDate { .. } => "Il codice fiscale non è scritto \
             correttamente: i caratteri della data di nascita (dal 7º all'11º) non sono validi."
            .to_owned(),
        CodiceFiscaleError::WrongCheckCharacter { .. } => "Il codice fiscale non è corretto: \
             l'ultimo carattere non corrisponde agli altri. Controlla di averlo scritto senza \
             errori, come sulla tessera sanitaria."
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(seconds(1), "1 secondo");
        assert_eq!(seconds(0), "0 secondi");
        assert_eq!(seconds(42), "42 secondi");
        assert_eq!(minutes(1), "1 minuto");
        assert_eq!(days(180), "180 giorni");
    }

    #[test]
    fn dates() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        assert_eq!(date(d(2027, 3, 3)), "3 marzo 2027");
        assert_eq!(date(d(2026, 12, 1)), "1º dicembre 2026");
    }

    #[test]
    fn codice_fiscale_texts_are_sentences() {
        let texts = [
            codice_fiscale_error(&CodiceFiscaleError::WrongLength { found: 3 }),
            codice_fiscale_error(&CodiceFiscaleError::NumericCode),
            codice_fiscale_error(&CodiceFiscaleError::WrongCheckCharacter {
                expected: 'S',
                found: 'X',
            }),
        ];
        for t in texts {
            assert!(t.starts_with(char::is_uppercase), "{t}");
            assert!(t.ends_with('.'), "{t}");
            assert!(!t.contains("atteso"), "{t}");
        }
    }
}
