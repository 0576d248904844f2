//! Who may delegate to whom, through which channel, and who may end a delegation (domain §1,
//! §4.2–4.3, §6.1–6.4). Pure rules, table-tested. The two limits that need the database (one
//! fiduciary delegate per delegator, `max_fiducia_per_delegate` per delegate) are enforced by
//! the registry inside the registration's transaction, not here.
//!
//! Every refusal has a stable code (its problem type) and an Italian text: citizens read it,
//! and operators read it out to them.

use super::{Channel, Kind};
use chrono::{Datelike, Months, NaiveDate};

/// Why a registration or an ending is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Non è possibile delegare sé stessi: il delegato deve essere un'altra persona.")]
    SelfDelegation,
    #[error("Il delegato deve essere maggiorenne.")]
    DelegateMinor,
    #[error(
        "Un minorenne non può conferire una delega: è rappresentato da un genitore (o dal tutore), che può registrare la delega per il minore."
    )]
    MinorNeedsParent,
    #[error(
        "La delega del genitore riguarda solo figli minorenni: la persona indicata è maggiorenne."
    )]
    NotAMinor,
    #[error(
        "Tutori, curatori, amministratori di sostegno e genitori sono registrati solo da un operatore INPS (sportello o PEC); il genitore può registrare online la delega per un figlio minorenne."
    )]
    RepresentationByOperatorOnly,
    #[error("Questo canale non consente di registrare questo tipo di delega.")]
    ChannelNotForKind,
    #[error(
        "Dalle verifiche sul nucleo familiare non risulti genitore della persona indicata: rivolgiti a una sede INPS."
    )]
    NotFamily,
    #[error(
        "Indicare gli estremi del provvedimento del giudice (o della dichiarazione sostitutiva) che attesta la rappresentanza."
    )]
    MissingDecreeReference,
    #[error("La data di fine della delega deve essere futura.")]
    EndInPast,
    #[error(
        "La delega registrata online dura almeno 30 giorni: scegliere una data di fine successiva."
    )]
    EndBeforeMinimum,
    #[error(
        "La delega registrata online non può essere revocata prima di 30 giorni dalla registrazione: per revocarla prima rivolgiti a un operatore INPS."
    )]
    WithinMinimum,
    #[error(
        "Le deleghe di rappresentanza legale (tutore, curatore, amministratore di sostegno, genitore) non possono essere revocate o rinunciate online: rivolgiti a un operatore INPS."
    )]
    RepresentationEndsByOperator,
}

impl Refusal {
    pub const ALL: [Refusal; 12] = [
        Refusal::SelfDelegation,
        Refusal::DelegateMinor,
        Refusal::MinorNeedsParent,
        Refusal::NotAMinor,
        Refusal::RepresentationByOperatorOnly,
        Refusal::ChannelNotForKind,
        Refusal::NotFamily,
        Refusal::MissingDecreeReference,
        Refusal::EndInPast,
        Refusal::EndBeforeMinimum,
        Refusal::WithinMinimum,
        Refusal::RepresentationEndsByOperator,
    ];

    /// A stable code; the problem type is `delegation-` followed by it with dashes.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::SelfDelegation => "self_delegation",
            Refusal::DelegateMinor => "delegate_minor",
            Refusal::MinorNeedsParent => "minor_needs_parent",
            Refusal::NotAMinor => "not_a_minor",
            Refusal::RepresentationByOperatorOnly => "representation_by_operator_only",
            Refusal::ChannelNotForKind => "channel_not_for_kind",
            Refusal::NotFamily => "not_family",
            Refusal::MissingDecreeReference => "missing_decree_reference",
            Refusal::EndInPast => "end_in_past",
            Refusal::EndBeforeMinimum => "end_before_minimum",
            Refusal::WithinMinimum => "within_minimum",
            Refusal::RepresentationEndsByOperator => "representation_ends_by_operator",
        }
    }
}

/// The day a person born on `birth` turns 18 (29 February births: 1 March).
pub fn eighteenth_birthday(birth: NaiveDate) -> NaiveDate {
    birth
        .checked_add_months(Months::new(18 * 12))
        .map(|d| {
            // checked_add_months clamps 29 Feb to 28 Feb; the birthday is reached on 1 March.
            if birth.month() == 2 && birth.day() == 29 {
                d.succ_opt().unwrap_or(d)
            } else {
                d
            }
        })
        .unwrap_or(NaiveDate::MAX)
}

pub fn is_minor(birth: NaiveDate, today: NaiveDate) -> bool {
    today < eighteenth_birthday(birth)
}

/// What a registration looks at.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    pub kind: Kind,
    pub channel: Channel,
    pub delegator_cf: &'a str,
    pub delegate_cf: &'a str,
    pub delegator_birth: NaiveDate,
    pub delegate_birth: NaiveDate,
    /// The family-unit check passed (online parent registrations only).
    pub family_checked: bool,
    pub decree_reference: Option<&'a str>,
    /// The end date chosen, if any.
    pub ends_on: Option<NaiveDate>,
    pub online_min_days: u32,
    pub today: NaiveDate,
}

/// The kinds each channel registers.
fn channel_allows(channel: Channel, kind: Kind) -> bool {
    match channel {
        Channel::Online | Channel::SportelloAa08 | Channel::SportelloAa09 | Channel::WebMeeting => {
            kind == Kind::Fiducia
        }
        Channel::OnlineGenitore => kind == Kind::Genitore,
        Channel::SportelloAa10 | Channel::Pec => kind.is_representation(),
    }
}

/// Checks a registration; the first rule broken wins.
pub fn check_registration(r: &Registration<'_>) -> Result<(), Refusal> {
    if r.delegator_cf == r.delegate_cf {
        return Err(Refusal::SelfDelegation);
    }
    if is_minor(r.delegate_birth, r.today) {
        return Err(Refusal::DelegateMinor);
    }
    if r.channel == Channel::Online && r.kind.is_representation() {
        return Err(Refusal::RepresentationByOperatorOnly);
    }
    if !channel_allows(r.channel, r.kind) {
        return Err(Refusal::ChannelNotForKind);
    }
    let delegator_minor = is_minor(r.delegator_birth, r.today);
    match r.kind {
        Kind::Fiducia if delegator_minor => return Err(Refusal::MinorNeedsParent),
        Kind::Genitore if !delegator_minor => return Err(Refusal::NotAMinor),
        _ => {}
    }
    if r.channel == Channel::OnlineGenitore && !r.family_checked {
        return Err(Refusal::NotFamily);
    }
    let needs_decree = matches!(
        r.kind,
        Kind::Tutore | Kind::Curatore | Kind::AmministratoreDiSostegno
    );
    if needs_decree && r.decree_reference.is_none_or(|s| s.trim().is_empty()) {
        return Err(Refusal::MissingDecreeReference);
    }
    if let Some(end) = r.ends_on {
        if end <= r.today {
            return Err(Refusal::EndInPast);
        }
        let minimum = r
            .today
            .checked_add_days(chrono::Days::new(u64::from(r.online_min_days)))
            .unwrap_or(NaiveDate::MAX);
        if r.channel == Channel::Online && end < minimum {
            return Err(Refusal::EndBeforeMinimum);
        }
    }
    Ok(())
}

/// Who ends a delegation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ender {
    /// The delegator revokes (online).
    Delegator,
    /// The delegate renounces.
    Delegate,
    /// An operator revokes, with a reason: always allowed.
    Operator,
}

/// Whether `ender` may end a delegation of `kind` now; `before_minimum` is true while an
/// online delegation is inside its 30-day minimum.
pub fn check_ending(kind: Kind, ender: Ender, before_minimum: bool) -> Result<(), Refusal> {
    match ender {
        Ender::Operator => Ok(()),
        // The represented person (or a minor) cannot dismiss their representative, and the
        // representative resigns through the court, recorded by an operator.
        _ if kind.is_representation() => Err(Refusal::RepresentationEndsByOperator),
        Ender::Delegator if before_minimum => Err(Refusal::WithinMinimum),
        Ender::Delegator | Ender::Delegate => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    const ADULT: &str = "RSSMRA85T10H501Z";
    const OTHER: &str = "VRDLGU80A01H501X";

    fn base() -> Registration<'static> {
        Registration {
            kind: Kind::Fiducia,
            channel: Channel::Online,
            delegator_cf: ADULT,
            delegate_cf: OTHER,
            delegator_birth: d(1985, 12, 10),
            delegate_birth: d(1980, 1, 1),
            family_checked: false,
            decree_reference: None,
            ends_on: None,
            online_min_days: 30,
            today: d(2026, 11, 30),
        }
    }

    #[test]
    fn registrations() {
        let cases: Vec<(&str, Registration<'static>, Result<(), Refusal>)> = vec![
            ("online fiducia", base(), Ok(())),
            (
                "self",
                Registration {
                    delegate_cf: ADULT,
                    ..base()
                },
                Err(Refusal::SelfDelegation),
            ),
            (
                "delegate 17",
                Registration {
                    delegate_birth: d(2009, 12, 1),
                    ..base()
                },
                Err(Refusal::DelegateMinor),
            ),
            (
                "delegate 18 today",
                Registration {
                    delegate_birth: d(2008, 11, 30),
                    ..base()
                },
                Ok(()),
            ),
            (
                "minor delegator, fiducia",
                Registration {
                    delegator_birth: d(2015, 1, 1),
                    ..base()
                },
                Err(Refusal::MinorNeedsParent),
            ),
            (
                "tutore online",
                Registration {
                    kind: Kind::Tutore,
                    ..base()
                },
                Err(Refusal::RepresentationByOperatorOnly),
            ),
            (
                "genitore online (delegator's route)",
                Registration {
                    kind: Kind::Genitore,
                    delegator_birth: d(2015, 1, 1),
                    ..base()
                },
                Err(Refusal::RepresentationByOperatorOnly),
            ),
            (
                "parent online, family checked",
                Registration {
                    kind: Kind::Genitore,
                    channel: Channel::OnlineGenitore,
                    delegator_birth: d(2015, 1, 1),
                    family_checked: true,
                    ..base()
                },
                Ok(()),
            ),
            (
                "parent online, not family",
                Registration {
                    kind: Kind::Genitore,
                    channel: Channel::OnlineGenitore,
                    delegator_birth: d(2015, 1, 1),
                    ..base()
                },
                Err(Refusal::NotFamily),
            ),
            (
                "parent for an adult",
                Registration {
                    kind: Kind::Genitore,
                    channel: Channel::OnlineGenitore,
                    family_checked: true,
                    ..base()
                },
                Err(Refusal::NotAMinor),
            ),
            (
                "fiducia by AA10",
                Registration {
                    channel: Channel::SportelloAa10,
                    ..base()
                },
                Err(Refusal::ChannelNotForKind),
            ),
            (
                "tutore at AA08",
                Registration {
                    kind: Kind::Tutore,
                    channel: Channel::SportelloAa08,
                    ..base()
                },
                Err(Refusal::ChannelNotForKind),
            ),
            (
                "tutore by PEC without decree",
                Registration {
                    kind: Kind::Tutore,
                    channel: Channel::Pec,
                    ..base()
                },
                Err(Refusal::MissingDecreeReference),
            ),
            (
                "ads by AA10 with decree",
                Registration {
                    kind: Kind::AmministratoreDiSostegno,
                    channel: Channel::SportelloAa10,
                    decree_reference: Some("Trib. Roma 123/2026"),
                    ..base()
                },
                Ok(()),
            ),
            (
                "end today",
                Registration {
                    ends_on: Some(d(2026, 11, 30)),
                    ..base()
                },
                Err(Refusal::EndInPast),
            ),
            (
                "online end in 29 days",
                Registration {
                    ends_on: Some(d(2026, 12, 29)),
                    ..base()
                },
                Err(Refusal::EndBeforeMinimum),
            ),
            (
                "online end in 30 days",
                Registration {
                    ends_on: Some(d(2026, 12, 30)),
                    ..base()
                },
                Ok(()),
            ),
            (
                "desk end in 10 days",
                Registration {
                    channel: Channel::SportelloAa08,
                    ends_on: Some(d(2026, 12, 10)),
                    ..base()
                },
                Ok(()),
            ),
        ];
        for (name, r, want) in cases {
            assert_eq!(check_registration(&r), want, "{name}");
        }
    }

    #[test]
    fn endings() {
        use Ender::*;
        let cases = [
            (Kind::Fiducia, Delegator, false, Ok(())),
            (Kind::Fiducia, Delegator, true, Err(Refusal::WithinMinimum)),
            (Kind::Fiducia, Delegate, true, Ok(())),
            (Kind::Fiducia, Operator, true, Ok(())),
            (
                Kind::Genitore,
                Delegator,
                false,
                Err(Refusal::RepresentationEndsByOperator),
            ),
            (
                Kind::Tutore,
                Delegate,
                false,
                Err(Refusal::RepresentationEndsByOperator),
            ),
            (Kind::Tutore, Operator, false, Ok(())),
        ];
        for (kind, ender, before, want) in cases {
            assert_eq!(
                check_ending(kind, ender, before),
                want,
                "{kind:?} {ender:?}"
            );
        }
    }

    #[test]
    fn eighteenth_birthdays() {
        assert_eq!(eighteenth_birthday(d(2010, 5, 17)), d(2028, 5, 17));
        assert_eq!(eighteenth_birthday(d(2008, 2, 29)), d(2026, 3, 1));
        assert!(is_minor(d(2008, 12, 1), d(2026, 11, 30)));
        assert!(!is_minor(d(2008, 11, 30), d(2026, 11, 30)));
    }

    #[test]
    fn codes_are_distinct() {
        let codes: std::collections::HashSet<_> = Refusal::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Refusal::ALL.len());
    }
}
