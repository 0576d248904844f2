//! The two SAML federations procura's service-provider code serves: SPID (AgID rules) and
//! CIE ("Entra con CIE" through the Ministry of the Interior's SAML IdP). The engine is one —
//! parser and limits, XML signatures, AuthnRequests, Response checks, the SAML threads, the
//! request and session tables — and this is everything that differs between them
//! (protocols.md §2.1); the CIE metadata itself is built by [`crate::cie::saml`].

use crate::login::{Level, Method};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Spid,
    Cie,
}

impl Profile {
    /// The name stored with each IdP metadata source (`spid_idp_metadata.profile`).
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Spid => "spid",
            Profile::Cie => "cie",
        }
    }

    /// What a citizen reads: "Accesso con SPID", "Accesso con CIE".
    pub fn name_it(self) -> &'static str {
        match self {
            Profile::Spid => "SPID",
            Profile::Cie => "CIE",
        }
    }

    /// Where the routes hang: `{path}/metadata`, `/login`, `/acs`, `/slo`.
    pub fn path(self) -> &'static str {
        match self {
            Profile::Spid => "/spid",
            Profile::Cie => "/cie/saml",
        }
    }

    /// The cookie that binds an AuthnRequest to the browser (path [`Profile::path`]).
    pub fn cookie(self) -> &'static str {
        match self {
            Profile::Spid => "procura_spid",
            Profile::Cie => "procura_cie_saml",
        }
    }

    /// The login's `amr`.
    pub fn method(self) -> Method {
        match self {
            Profile::Spid => Method::Spid,
            Profile::Cie => Method::Cie,
        }
    }

    /// Audit action prefix: `spid.login`, `cie.saml.login`, ….
    pub fn audit_prefix(self) -> &'static str {
        match self {
            Profile::Spid => "spid",
            Profile::Cie => "cie.saml",
        }
    }

    /// SPID asks a new authentication from level 2 (L1 may reuse the IdP session); the CIE
    /// IdP wants `ForceAuthn="true"` on every request (CIE-SAML `protocolli.rst`).
    pub fn force_authn(self, level: Level) -> bool {
        match self {
            Profile::Spid => level.rank() >= 2,
            Profile::Cie => true,
        }
    }

    /// The level asked for: SPID maps the relying party's minimum onto its three levels;
    /// CIE asks for `default` (SpidL3, the card) unless the relying party wants more.
    pub fn level(self, requested: Option<Level>, default: Level) -> Level {
        let spid = super::authn_request::spid_level(requested, default);
        match self {
            Profile::Spid => spid,
            Profile::Cie => {
                let default = super::authn_request::spid_level(Some(default), default);
                if spid.rank() > default.rank() {
                    spid
                } else {
                    default
                }
            }
        }
    }

    /// Whether the Assertion's Issuer must carry `Format` (= entity). SPID requires it
    /// (spid-sp-test cases 70, 71); the CIE IdP omits it (iam-proxy-italia#128), and
    /// spid-sp-test's `cie-sp-public` profile drops those two cases. A Format other than
    /// entity is refused under both (case 72).
    pub fn assertion_issuer_format_required(self) -> bool {
        matches!(self, Profile::Spid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cie_always_forces_authentication() {
        assert!(!Profile::Spid.force_authn(Level::SpidL1));
        assert!(Profile::Spid.force_authn(Level::SpidL2));
        assert!(Profile::Cie.force_authn(Level::SpidL1));
    }

    #[test]
    fn cie_asks_for_its_default_level_or_more() {
        assert_eq!(Profile::Cie.level(None, Level::SpidL3), Level::SpidL3);
        assert_eq!(
            Profile::Cie.level(Some(Level::SpidL1), Level::SpidL3),
            Level::SpidL3
        );
        assert_eq!(
            Profile::Cie.level(Some(Level::SpidL3), Level::SpidL2),
            Level::SpidL3
        );
        assert_eq!(
            Profile::Cie.level(Some(Level::PinOrdinario), Level::SpidL2),
            Level::SpidL2
        );
        assert_eq!(
            Profile::Spid.level(Some(Level::SpidL1), Level::SpidL2),
            Level::SpidL1
        );
    }

    #[test]
    fn routes_and_cookies_are_apart() {
        assert_ne!(Profile::Spid.path(), Profile::Cie.path());
        assert_ne!(Profile::Spid.cookie(), Profile::Cie.cookie());
        assert_eq!(Profile::Cie.method(), Method::Cie);
    }
}
