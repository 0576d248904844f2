//! Who may ask for a PIN, and for whom (domain §2.3, §2.7, §6.7). Pure rules, table-tested.
//!
//! - The PIN is the person's digital identity, issued after a direct check of their identity:
//!   never through a delegate or any other third party (messaggio 4590/2016, after "richieste
//!   massive di PIN presso le sedi … da parte di soggetti muniti di delega").
//! - A legal representative may ask for the represented person: a tutore, curatore or
//!   amministratore di sostegno with the decree or self-declaration of the role, or a parent
//!   of a minor with the self-declaration of parental authority. The PIN belongs to the
//!   represented person and the letter goes to their residence.
//! - Who may still obtain a PIN at all is a configurable policy.

use crate::config::IssuanceEligibility;
use chrono::{Datelike, NaiveDate};

/// The legal representations that may ask for a PIN on someone's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Representation {
    Tutore,
    Curatore,
    AmministratoreDiSostegno,
    Genitore,
}

impl Representation {
    pub const ALL: [Representation; 4] = [
        Representation::Tutore,
        Representation::Curatore,
        Representation::AmministratoreDiSostegno,
        Representation::Genitore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Representation::Tutore => "tutore",
            Representation::Curatore => "curatore",
            Representation::AmministratoreDiSostegno => "amministratore_di_sostegno",
            Representation::Genitore => "genitore",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Who is asking, as the request declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester<'a> {
    /// The person the PIN is for.
    Holder,
    /// A legal representative, with the reference of the decree or self-declaration.
    Representative {
        codice_fiscale: &'a str,
        kind: Representation,
        reference: Option<&'a str>,
    },
    /// Anyone else: a fiduciary delegate above all (`role` is what they declared).
    ThirdParty { role: &'a str },
}

/// What the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub holder_codice_fiscale: &'a str,
    pub holder_birth_date: NaiveDate,
    /// The holder was born abroad (the codice fiscale's place code is a foreign country).
    pub holder_born_abroad: bool,
    /// The request declares that the holder has no Italian identity document.
    pub without_italian_id_document: bool,
    pub requester: Requester<'a>,
    pub today: NaiveDate,
}

/// Why a request is refused outright (before any check against the registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "Il PIN è rilasciato solo al titolare o al suo rappresentante legale (tutore, curatore, amministratore di sostegno, genitore di un minore): non può essere richiesto da un delegato o da altre persone (messaggio INPS 4590/2016)."
    )]
    ThirdParty,
    #[error("Il rappresentante legale deve essere una persona diversa dal titolare del PIN.")]
    RepresentsSelf,
    #[error(
        "Il genitore può richiedere il PIN solo per un figlio minorenne: la data di nascita indica una persona maggiorenne."
    )]
    NotAMinor,
    #[error(
        "Indicare gli estremi del provvedimento di nomina o della dichiarazione sostitutiva che attesta la rappresentanza."
    )]
    MissingReference,
    #[error(
        "Il PIN INPS non è più rilasciato a questa categoria di persone: accedi con SPID, CIE o CNS, oppure tramite una delega."
    )]
    NotEligible,
}

impl Refusal {
    /// A stable code for the problem type.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::ThirdParty => "third_party",
            Refusal::RepresentsSelf => "represents_self",
            Refusal::NotAMinor => "not_a_minor",
            Refusal::MissingReference => "missing_reference",
            Refusal::NotEligible => "not_eligible",
        }
    }
}

/// Whether a person born on `birth_date` is under 18 on `today`.
pub fn is_minor(birth_date: NaiveDate, today: NaiveDate) -> bool {
    let eighteenth = NaiveDate::from_ymd_opt(birth_date.year() + 18, birth_date.month(), 1)
        .and_then(|first| {
            first
                .with_day(birth_date.day())
                .or(first.checked_add_months(chrono::Months::new(1)))
        })
        .unwrap_or(NaiveDate::MAX);
    today < eighteenth
}

/// Checks who is asking and whether the holder may still obtain a PIN.
pub fn check(facts: &Facts<'_>, eligibility: IssuanceEligibility) -> Result<(), Refusal> {
    let minor = is_minor(facts.holder_birth_date, facts.today);
    match facts.requester {
        Requester::Holder => {}
        Requester::ThirdParty { .. } => return Err(Refusal::ThirdParty),
        Requester::Representative {
            codice_fiscale,
            kind,
            reference,
        } => {
            if codice_fiscale.eq_ignore_ascii_case(facts.holder_codice_fiscale) {
                return Err(Refusal::RepresentsSelf);
            }
            if kind == Representation::Genitore && !minor {
                return Err(Refusal::NotAMinor);
            }
            if reference.is_none_or(|r| r.trim().is_empty()) {
                return Err(Refusal::MissingReference);
            }
        }
    }
    let under_protection = matches!(
        facts.requester,
        Requester::Representative {
            kind: Representation::Tutore
                | Representation::Curatore
                | Representation::AmministratoreDiSostegno,
            ..
        }
    );
    let eligible = match eligibility {
        IssuanceEligibility::Anyone => true,
        IssuanceEligibility::Transition2020 => {
            minor || under_protection || facts.without_italian_id_document
        }
        IssuanceEligibility::ForeignResidentsOnly => {
            facts.without_italian_id_document && facts.holder_born_abroad
        }
    };
    if eligible {
        Ok(())
    } else {
        Err(Refusal::NotEligible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IssuanceEligibility::*;

    const HOLDER: &str = "RSSMRA85T10H501Z";

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn facts(requester: Requester<'static>, birth: NaiveDate) -> Facts<'static> {
        Facts {
            holder_codice_fiscale: HOLDER,
            holder_birth_date: birth,
            holder_born_abroad: false,
            without_italian_id_document: false,
            requester,
            today: date(2026, 11, 29),
        }
    }

    fn rep(kind: Representation, reference: Option<&'static str>) -> Requester<'static> {
        Requester::Representative {
            codice_fiscale: "VRDGPP60A01H501X",
            kind,
            reference,
        }
    }

    #[test]
    fn who_may_ask() {
        let adult = date(1985, 12, 10);
        let child = date(2015, 3, 1);
        let cases: Vec<(Requester<'static>, NaiveDate, Result<(), Refusal>)> = vec![
            (Requester::Holder, adult, Ok(())),
            (
                Requester::ThirdParty { role: "delegato" },
                adult,
                Err(Refusal::ThirdParty),
            ),
            (
                Requester::ThirdParty { role: "patronato" },
                child,
                Err(Refusal::ThirdParty),
            ),
            (
                rep(Representation::Genitore, Some("autocertificazione")),
                child,
                Ok(()),
            ),
            (
                rep(Representation::Genitore, Some("autocertificazione")),
                adult,
                Err(Refusal::NotAMinor),
            ),
            (
                rep(Representation::Tutore, Some("Trib. Roma 123/2024")),
                adult,
                Ok(()),
            ),
            (
                rep(
                    Representation::AmministratoreDiSostegno,
                    Some("decreto 5/2025"),
                ),
                adult,
                Ok(()),
            ),
            (
                rep(Representation::Curatore, None),
                adult,
                Err(Refusal::MissingReference),
            ),
            (
                rep(Representation::Tutore, Some("  ")),
                adult,
                Err(Refusal::MissingReference),
            ),
            (
                Requester::Representative {
                    codice_fiscale: "rssmra85t10h501z",
                    kind: Representation::Tutore,
                    reference: Some("x"),
                },
                adult,
                Err(Refusal::RepresentsSelf),
            ),
        ];
        for (requester, birth, expected) in cases {
            assert_eq!(
                check(&facts(requester, birth), Anyone),
                expected,
                "{requester:?}"
            );
        }
    }

    #[test]
    fn eligibility_policies() {
        let adult = date(1985, 12, 10);
        let child = date(2015, 3, 1);
        assert_eq!(
            check(&facts(Requester::Holder, adult), Transition2020),
            Err(Refusal::NotEligible)
        );
        assert_eq!(
            check(&facts(Requester::Holder, child), Transition2020),
            Ok(())
        );
        assert_eq!(
            check(
                &facts(rep(Representation::Tutore, Some("d")), adult),
                Transition2020
            ),
            Ok(())
        );
        let foreign = Facts {
            holder_born_abroad: true,
            without_italian_id_document: true,
            ..facts(Requester::Holder, adult)
        };
        assert_eq!(check(&foreign, ForeignResidentsOnly), Ok(()));
        assert_eq!(check(&foreign, Transition2020), Ok(()));
        let declared_only = Facts {
            without_italian_id_document: true,
            ..facts(Requester::Holder, adult)
        };
        assert_eq!(
            check(&declared_only, ForeignResidentsOnly),
            Err(Refusal::NotEligible)
        );
        assert_eq!(
            check(&facts(Requester::Holder, child), ForeignResidentsOnly),
            Err(Refusal::NotEligible)
        );
    }

    #[test]
    fn minority_ends_on_the_eighteenth_birthday() {
        let today = date(2026, 11, 29);
        assert!(is_minor(date(2008, 11, 30), today));
        assert!(!is_minor(date(2008, 11, 29), today));
        // Born on 29 February: of age on 1 March of a common year.
        assert!(is_minor(date(2008, 2, 29), date(2026, 2, 28)));
        assert!(!is_minor(date(2008, 2, 29), date(2026, 3, 1)));
    }
}
