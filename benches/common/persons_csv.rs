//! The persons CSV the benchmarks import: `rows` deterministic pseudo-random valid persons
//! (see `benches/persons_import.rs` for what they look like), and the small PRNG behind it.

use chrono::{Datelike, NaiveDate};
use procura::person::codice_fiscale::check_character;
use procura::person::import::COLUMNS;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The six name letters encode the row number through a bijection of 0..26^6, so codes are
/// unique without keeping a set of them (which would also inflate the measured RSS).
pub const LETTER_SPACE: u64 = 26 * 26 * 26 * 26 * 26 * 26;
/// Coprime with 26: `i * LETTER_MULTIPLIER mod 26^6` is a permutation.
const LETTER_MULTIPLIER: u64 = 48_271;
const LETTER_OFFSET: u64 = 123_456_789;

// ---- the CSV --------------------------------------------------------------------------

/// xorshift64*: deterministic, no crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const SURNAMES: &[&str] = &[
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "D'Angelo",
    "De Santis",
    "Fabbri",
    "Caruso",
    "Ferrara",
    "Santoro",
    "Marchetti",
    "Leone",
    "Longo",
    "Martinelli",
    "Vitale",
    "Serra",
    "Coppola",
    "Cattaneo",
    "Orlando",
    "Barbieri",
    "D'Amico",
    "Pellegrino",
    "Palumbo",
    "Sanna",
    "Fontana",
    "Lo Russo",
    "Parisi",
    "Villa",
    "Farina",
    "Gentile",
    "Benedetti",
    "Mele",
    "Fumagalli",
    "Nicolò",
];

const MEN: &[&str] = &[
    "Mario",
    "Giuseppe",
    "Giovanni",
    "Antonio",
    "Luca",
    "Marco",
    "Francesco",
    "Alessandro",
    "Andrea",
    "Matteo",
    "Lorenzo",
    "Davide",
    "Simone",
    "Federico",
    "Niccolò",
    "Gian Luca",
    "Salvatore",
    "Vincenzo",
    "Pietro",
    "Tommaso",
];

const WOMEN: &[&str] = &[
    "Maria",
    "Anna",
    "Giulia",
    "Francesca",
    "Chiara",
    "Sara",
    "Laura",
    "Valentina",
    "Alessia",
    "Martina",
    "Elena",
    "Silvia",
    "Federica",
    "Maria Grazia",
    "Lucia",
    "Rosa",
    "Angela",
    "Paola",
    "Beatrice",
    "Noemi",
];

/// Belfiore codes of birth places (a few foreign countries, `Z…`).
const BIRTH_PLACES: &[&str] = &[
    "H501", "F205", "F839", "L219", "G273", "A944", "D612", "A662", "C351", "L736", "D969", "L424",
    "G224", "B157", "E506", "L049", "M082", "A271", "Z404", "Z133", "Z600", "Z112",
];

/// Comune, provincia, first three digits of the CAP.
const RESIDENCES: &[(&str, &str, &str)] = &[
    ("Roma", "RM", "001"),
    ("Milano", "MI", "201"),
    ("Napoli", "NA", "801"),
    ("Torino", "TO", "101"),
    ("Palermo", "PA", "901"),
    ("Genova", "GE", "161"),
    ("Bologna", "BO", "401"),
    ("Firenze", "FI", "501"),
    ("Bari", "BA", "701"),
    ("Catania", "CT", "951"),
    ("Venezia", "VE", "301"),
    ("Verona", "VR", "371"),
    ("Padova", "PD", "351"),
    ("Trieste", "TS", "341"),
    ("Brescia", "BS", "251"),
    ("Reggio nell'Emilia", "RE", "421"),
    ("Forlì", "FC", "471"),
    ("Sant'Antioco", "SU", "090"),
    ("L'Aquila", "AQ", "671"),
    ("Cagliari", "CA", "091"),
];

/// Residence abroad: comune is the foreign town, CAP the foreign postal code.
const ABROAD: &[(&str, &str)] = &[
    ("Zürich", "8001"),
    ("London", "SW1A 1AA"),
    ("Buenos Aires", "C1002"),
    ("München", "80331"),
];

const STREETS: &[&str] = &[
    "Via Roma",
    "Via Garibaldi",
    "Corso Italia",
    "Piazza del Popolo",
    "Viale Mazzini",
    "Via dei Mille",
    "Via XX Settembre",
    "Corso Vittorio Emanuele II",
    "Via Sant'Anna",
    "Largo Argentina",
];

const MONTH_LETTERS: [char; 12] = ['A', 'B', 'C', 'D', 'E', 'H', 'L', 'M', 'P', 'R', 'S', 'T'];
const OMOCODIA_LETTERS: [char; 10] = ['L', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'V'];
/// Numeric positions (0-based), in the order the Agenzia delle Entrate replaces them.
const OMOCODIA_ORDER: [usize; 7] = [14, 13, 12, 10, 9, 7, 6];

pub fn generate_csv(path: &Path, rows: u64) -> std::io::Result<()> {
    let file = BufWriter::with_capacity(256 * 1024, File::create(path)?);
    let mut out = csv::Writer::from_writer(file);
    out.write_record(COLUMNS)?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut fields: [String; 12] = Default::default();
    for i in 0..rows {
        person_row(i, &mut rng, &mut fields);
        out.write_record(&fields)?;
    }
    out.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .flush()
}

/// Row `i`, written into `f` in `COLUMNS` order.
fn person_row(i: u64, rng: &mut Rng, f: &mut [String; 12]) {
    use std::fmt::Write as _;
    for s in f.iter_mut() {
        s.clear();
    }
    let woman = rng.percent(50);
    let family = *rng.pick(SURNAMES);
    let given = *rng.pick(if woman { WOMEN } else { MEN });
    let birth = birth_date(rng);

    // Codice fiscale: six letters from `i` (unique), then date, sex, place, check.
    let mut letters = (i * LETTER_MULTIPLIER + LETTER_OFFSET) % LETTER_SPACE;
    let mut code: Vec<char> = Vec::with_capacity(16);
    for _ in 0..6 {
        code.push(char::from(b'A' + (letters % 26) as u8));
        letters /= 26;
    }
    let day = birth.day() + if woman { 40 } else { 0 };
    let date_part = format!(
        "{:02}{}{day:02}",
        birth.year() % 100,
        MONTH_LETTERS[birth.month0() as usize]
    );
    code.extend(date_part.chars());
    code.extend(rng.pick(BIRTH_PLACES).chars());
    if rng.percent(3) {
        let replaced = 1 + rng.below(3) as usize;
        for &pos in &OMOCODIA_ORDER[..replaced] {
            let digit = code[pos].to_digit(10).expect("a digit") as usize;
            code[pos] = OMOCODIA_LETTERS[digit];
        }
    }
    let fifteen: String = code.iter().collect();
    let check = check_character(&fifteen).expect("15 alphanumerics");
    f[0].push_str(&fifteen);
    f[0].push(check);

    f[1].push_str(family);
    f[2].push_str(given);
    if rng.percent(10) {
        write!(f[3], "{}", birth.format("%d/%m/%Y")).unwrap();
    } else {
        write!(f[3], "{}", birth.format("%Y-%m-%d")).unwrap();
    }
    f[4].push_str(if woman { "F" } else { "M" });
    // Some addresses have a comma, so the writer quotes them.
    let street = rng.pick(STREETS);
    let number = 1 + rng.below(250);
    if rng.percent(20) {
        write!(f[5], "{street}, {number}").unwrap();
    } else {
        write!(f[5], "{street} {number}").unwrap();
    }
    if rng.percent(1) {
        let (town, postal) = rng.pick(ABROAD);
        f[6].push_str(postal);
        f[7].push_str(town);
        f[8].push_str("EE");
    } else {
        let (comune, provincia, cap) = rng.pick(RESIDENCES);
        write!(f[6], "{cap}{:02}", rng.below(100)).unwrap();
        f[7].push_str(comune);
        f[8].push_str(provincia);
    }
    if rng.percent(85) {
        write!(
            f[9],
            "+39 3{:02} {:07}",
            20 + rng.below(80),
            rng.below(10_000_000)
        )
        .unwrap();
    }
    let local: String = format!("{given}.{family}")
        .chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == '.')
        .collect::<String>()
        .to_ascii_lowercase();
    if rng.percent(60) {
        write!(f[10], "{local}{}@example.it", i % 1000).unwrap();
    }
    if rng.percent(15) {
        write!(f[11], "{local}{}@pec.example.it", i % 1000).unwrap();
    }
}

/// A birth date from 1930 to 2007 (so both centuries occur in the codes).
fn birth_date(rng: &mut Rng) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(1930, 1, 1).expect("a date");
    let last = NaiveDate::from_ymd_opt(2007, 12, 31).expect("a date");
    let span = (last - first).num_days() as u64;
    first + chrono::Days::new(rng.below(span + 1))
}
