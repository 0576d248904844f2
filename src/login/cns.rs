//! The CNS login method: a card validated by [`crate::cns`] yields a [`LoginOutcome`] at
//! the level `cns.level` sets (by default that of SPID L2: a smart card and its PIN).
//! The names are the card's (`GN`, `SN`), when it carries them.

use super::{AuthenticatedPerson, Level, LoginOutcome, Method};
use crate::person::codice_fiscale::CodiceFiscale;

/// The outcome of a CNS login for the person named on the card.
pub fn outcome(
    codice_fiscale: CodiceFiscale,
    given_name: Option<String>,
    family_name: Option<String>,
    level: Level,
) -> LoginOutcome {
    LoginOutcome {
        person: AuthenticatedPerson {
            codice_fiscale,
            given_name,
            family_name,
        },
        method: Method::Cns,
        level,
    }
}
