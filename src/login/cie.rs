//! The CIE login method: a login checked by the CIE OpenID Connect relying party
//! ([`crate::cie`]) becomes a [`LoginOutcome`]. The CIE SAML login ("Entra con CIE" through
//! the SAML IdP, on the SPID SAML code with [`crate::spid::profile::Profile::Cie`]) yields the
//! same [`Method::Cie`]: both with the level the CIE identity provider asserted.
//!
//! CIE reuses the SPID level URIs (`https://www.spid.gov.it/SpidL1|L2|L3`): the card with its
//! PIN is level 3, above SPID L2; the CieID app logins are levels 1 and 2.

use super::{AuthenticatedPerson, Level, LoginOutcome, Method};
use crate::person::codice_fiscale::{CodiceFiscale, CodiceFiscaleError};

/// The fiscal number as CIE sends it: `TINIT-<codice fiscale>` (the bare code is accepted).
pub fn codice_fiscale(fiscal_number: &str) -> Result<CodiceFiscale, CodiceFiscaleError> {
    let code = fiscal_number
        .strip_prefix("TINIT-")
        .unwrap_or(fiscal_number);
    CodiceFiscale::parse(code)
}

/// The outcome of a CIE login at `level`.
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
        method: Method::Cie,
        level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fiscal_number_with_or_without_the_prefix() {
        let cf = codice_fiscale("TINIT-GDASDV00A01H501J").unwrap();
        assert_eq!(cf.as_str(), "GDASDV00A01H501J");
        assert_eq!(codice_fiscale("GDASDV00A01H501J").unwrap(), cf);
        assert!(
            codice_fiscale("TINIT-GDASDV00A01H501K").is_err(),
            "check character"
        );
        assert!(codice_fiscale("TINFR-12345").is_err());
    }

    #[test]
    fn a_cie_card_login_is_above_spid_l2() {
        let o = outcome(
            codice_fiscale("TINIT-GDASDV00A01H501J").unwrap(),
            None,
            None,
            Level::SpidL3,
        );
        assert_eq!(o.method, Method::Cie);
        assert!(o.level.satisfies(Level::SpidL2));
        assert!(o.level.rank() > Level::SpidL2.rank());
    }
}
