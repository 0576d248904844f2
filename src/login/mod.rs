//! Login methods. Each method (PIN, SPID and CNS now; CIE later) ends in a [`LoginOutcome`]:
//! who was authenticated, how, and at which assurance level. Nothing else crosses the seam;
//! the OpenID Connect side turns an outcome into a browser session and tokens.

pub mod cie;
pub mod cns;
pub mod pin;

use crate::oauth::scope::{DISPOSITIVE, ScopeSet};
use crate::person::codice_fiscale::CodiceFiscale;
use std::fmt;

/// How the person authenticated (the `amr` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Pin,
    Spid,
    Cie,
    Cns,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Pin, Method::Spid, Method::Cie, Method::Cns];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Pin => "pin",
            Method::Spid => "spid",
            Method::Cie => "cie",
            Method::Cns => "cns",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether this version of procura implements the method.
    pub fn is_available(self) -> bool {
        matches!(self, Method::Pin | Method::Spid | Method::Cie | Method::Cns)
    }

    /// The `amr` values (RFC 8176) of a login by this method: a CNS login is a smart card
    /// and its PIN, two factors.
    pub fn amr(self) -> Vec<String> {
        match self {
            Method::Cns => vec!["sc".to_owned(), "mfa".to_owned()],
            other => vec![other.as_str().to_owned()],
        }
    }

    /// The name shown on the login page.
    pub fn label_it(self) -> &'static str {
        match self {
            Method::Pin => "PIN INPS",
            Method::Spid => "SPID",
            Method::Cie => "Carta d'Identità Elettronica (CIE)",
            Method::Cns => "Carta Nazionale dei Servizi (CNS)",
        }
    }
}

/// Assurance level of a login (the `acr` claim), ordered by `rank`.
///
/// SPID levels use AgID's URIs. A PIN is a single-factor credential: both PIN levels rank
/// with SPID L1 and below L2; a PIN `ordinario` is further limited to read-only scopes.
/// In configuration files a level is written short: `pin-ordinario`, `pin-dispositivo`,
/// `spid-l1`, `spid-l2`, `spid-l3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    PinOrdinario,
    PinDispositivo,
    SpidL1,
    SpidL2,
    SpidL3,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::PinOrdinario,
        Level::PinDispositivo,
        Level::SpidL1,
        Level::SpidL2,
        Level::SpidL3,
    ];

    pub fn uri(self) -> &'static str {
        match self {
            Level::PinOrdinario => "https://procura.inps.it/acr/pin-ordinario",
            Level::PinDispositivo => "https://procura.inps.it/acr/pin-dispositivo",
            Level::SpidL1 => "https://www.spid.gov.it/SpidL1",
            Level::SpidL2 => "https://www.spid.gov.it/SpidL2",
            Level::SpidL3 => "https://www.spid.gov.it/SpidL3",
        }
    }

    pub fn parse(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.uri() == uri)
    }

    /// 1 for single-factor logins (PIN, SPID L1), 2 and 3 for SPID L2 and L3.
    pub fn rank(self) -> u8 {
        match self {
            Level::PinOrdinario | Level::PinDispositivo | Level::SpidL1 => 1,
            Level::SpidL2 => 2,
            Level::SpidL3 => 3,
        }
    }

    /// Whether a login at `self` satisfies a request for at least `minimum`. Within rank 1,
    /// a request for `pin-dispositivo` is not met by a PIN `ordinario` (it could not apply
    /// for benefits).
    pub fn satisfies(self, minimum: Level) -> bool {
        if minimum == Level::PinDispositivo && self == Level::PinOrdinario {
            return false;
        }
        self.rank() >= minimum.rank()
    }

    /// The scopes a token from a login at this level may carry, out of `requested`.
    pub fn limit_scopes(self, requested: &ScopeSet) -> ScopeSet {
        match self {
            Level::PinOrdinario => requested.without(DISPOSITIVE),
            _ => requested.clone(),
        }
    }
}

/// The person a login method authenticated; names only when the method provides them.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthenticatedPerson {
    pub codice_fiscale: CodiceFiscale,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

impl fmt::Debug for AuthenticatedPerson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedPerson")
            .field("codice_fiscale", &self.codice_fiscale)
            .finish_non_exhaustive()
    }
}

/// What every login method yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    pub person: AuthenticatedPerson,
    pub method: Method,
    pub level: Level,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_is_below_l2_and_ordinario_is_read_only() {
        assert!(Level::PinDispositivo.satisfies(Level::SpidL1));
        assert!(!Level::PinDispositivo.satisfies(Level::SpidL2));
        assert!(Level::SpidL3.satisfies(Level::SpidL2));
        assert!(!Level::PinOrdinario.satisfies(Level::PinDispositivo));
        assert!(Level::PinOrdinario.satisfies(Level::SpidL1));
        let asked = ScopeSet::parse("openid inps:read inps:apply");
        assert_eq!(
            Level::PinOrdinario.limit_scopes(&asked).to_string(),
            "inps:read openid"
        );
        assert_eq!(Level::PinDispositivo.limit_scopes(&asked), asked);
    }

    #[test]
    fn uris_round_trip() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.uri()), Some(l));
        }
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
    }
}
