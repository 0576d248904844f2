//! The sealed envelope of a desk PIN (messaggio 4590/2016: the operator hands the citizen "una
//! busta chiusa"): one A4 page the operator prints, folds and seals, with the whole
//! 16-character PIN and how to use it. Built in memory and returned once; never stored.

use super::halves::IssuedPin;
use crate::notify::pdf::{self, Font, Page};
use chrono::{DateTime, Utc};

/// The envelope's PDF bytes.
pub fn pdf(
    pin: &IssuedPin,
    holder_name: &str,
    reference: &str,
    issued_at: DateTime<Utc>,
) -> Vec<u8> {
    let mut page = Page::default();
    let left = 25.0;
    page.text(left, 25.0, Font::Bold, 16.0, "INPS");
    page.text(
        left,
        31.0,
        Font::Regular,
        9.0,
        "Istituto Nazionale della Previdenza Sociale",
    );
    page.text(
        left,
        50.0,
        Font::Bold,
        13.0,
        "PIN dispositivo - documento riservato",
    );
    page.text(
        left,
        58.0,
        Font::Regular,
        10.0,
        &format!("Intestatario: {holder_name}"),
    );
    page.text(
        left,
        64.0,
        Font::Regular,
        10.0,
        &format!("Riferimento richiesta: {reference}"),
    );
    page.text(
        left,
        70.0,
        Font::Regular,
        10.0,
        &format!("Rilasciato il {}", issued_at.format("%d/%m/%Y")),
    );
    page.rect(left, 80.0, 160.0, 24.0, 1.0);
    let spaced = |s: &str| s.chars().map(String::from).collect::<Vec<_>>().join(" ");
    page.text(
        left + 8.0,
        95.0,
        Font::Mono,
        20.0,
        &format!(
            "{}   {}",
            spaced(pin.first_half()),
            spaced(pin.second_half())
        ),
    );
    let body = "Questo è il suo PIN INPS di 16 caratteri. Al primo accesso ai servizi online \
        dell'INPS inserisca il codice fiscale e questo PIN: le verrà chiesto di sceglierne uno \
        personale di 8 caratteri. Non comunichi il PIN a nessuno: l'INPS non lo chiede mai per \
        telefono o per e-mail. Il PIN è dispositivo: consente anche di presentare domande di \
        prestazione. Conservi questo foglio in busta chiusa e lo distrugga dopo il primo accesso.";
    for (i, line) in pdf::wrap(body, Font::Regular, 10.0, 160.0)
        .iter()
        .enumerate()
    {
        page.text(left, 118.0 + 5.5 * i as f64, Font::Regular, 10.0, line);
    }
    pdf::document(&[page], "PIN INPS - busta riservata")
}
