//! The scope catalogue: what a relying party may ask for and what a token may carry.
//!
//! OpenID scopes (`openid`, `profile`) shape the ID token and userinfo; the `inps:*`,
//! `delegations:*` and `credentials:*` scopes tell downstream services what the token
//! allows. A PIN `ordinario` only reaches the read-only ones (domain §2.1).

use std::collections::BTreeSet;
use std::fmt;

/// Every scope procura knows, with what it allows.
pub const CATALOGUE: &[(&str, &str)] = &[
    ("openid", "OpenID Connect login: an ID token"),
    ("profile", "the person's names in the ID token and userinfo"),
    (
        "inps:read",
        "view the person's contribution and pension position",
    ),
    ("inps:apply", "apply for benefits (dispositive)"),
    ("delegations:read", "see the delegations given and received"),
    ("delegations:write", "create, revoke or change delegations"),
    (
        "credentials:write",
        "change the person's credentials or contact data",
    ),
    (
        "bookings",
        "book, see and cancel one's own desk appointments, and join the web meeting",
    ),
    (
        "operator",
        "act as an INPS operator: the `roles` claim, and the /v1/operator API",
    ),
    (
        "access:check",
        "a downstream service asks POST /v1/access/check whether one person may act for another",
    ),
];

/// Scopes that apply for or change something: outside the reach of a PIN `ordinario`.
pub const DISPOSITIVE: &[&str] = &["inps:apply", "delegations:write"];

/// Scopes a token obtained under a delegation never carries (domain §6.5): an operator's
/// powers, or the delegator's delegations and credentials, are not handed over.
/// `access:check` belongs to services (clients), never to a person or a delegate.
pub const NOT_DELEGABLE: &[&str] = &[
    "operator",
    "delegations:write",
    "credentials:write",
    ACCESS_CHECK,
];

/// Scopes a token exchange leaves out though they are delegable: they shape the delegate's own
/// login (ID token, userinfo), which a token issued for the delegator does not have.
pub const NOT_EXCHANGED: &[&str] = &["openid", "profile"];

/// Scopes for a client on its own (`client_credentials`), never requested at a person's login.
pub const CLIENT_ONLY: &[&str] = &[ACCESS_CHECK];

/// The scope a service needs to call `POST /v1/access/check`.
pub const ACCESS_CHECK: &str = "access:check";

/// Scopes that only make sense for a logged-in person, never for a client on its own
/// (`client_credentials`).
pub const PERSON_ONLY: &[&str] = &["openid", "profile", "operator"];

/// The scope that lets a token carry an operator's `roles` and reach `/v1/operator/*`.
pub const OPERATOR: &str = "operator";
/// Booking desk appointments for oneself ("Le mie prenotazioni").
pub const BOOKINGS: &str = "bookings";
/// Changing one's own credentials (revoking the PIN, creating a phone PIN).
pub const CREDENTIALS_WRITE: &str = "credentials:write";

pub fn is_known(scope: &str) -> bool {
    CATALOGUE.iter().any(|(name, _)| *name == scope)
}

/// A delegate may exercise `scope` for the delegator (domain §6.5: deny the listed ones).
pub fn is_delegable(scope: &str) -> bool {
    is_known(scope) && !NOT_DELEGABLE.contains(&scope)
}

/// A set of scope tokens (RFC 6749 §3.3), kept sorted so it prints the same every time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Splits a space-separated scope string; empty tokens (double spaces) are ignored.
    pub fn parse(text: &str) -> Self {
        Self(
            text.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn of<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        Self(scopes.into_iter().map(str::to_owned).collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Scopes of `self` that `other` lacks.
    pub fn not_in<'a>(&'a self, other: &'a ScopeSet) -> impl Iterator<Item = &'a str> {
        self.iter().filter(|s| !other.contains(s))
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn without(&self, removed: &[&str]) -> ScopeSet {
        Self(
            self.0
                .iter()
                .filter(|s| !removed.contains(&s.as_str()))
                .cloned()
                .collect(),
        )
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_sorted() {
        let s = ScopeSet::parse("profile  openid inps:read");
        assert_eq!(s.to_string(), "inps:read openid profile");
        assert!(s.contains("openid") && !s.contains("inps:apply"));
    }

    #[test]
    fn set_operations() {
        let asked = ScopeSet::parse("openid inps:apply inps:read");
        let allowed = ScopeSet::parse("openid inps:read");
        assert_eq!(
            asked.not_in(&allowed).collect::<Vec<_>>(),
            vec!["inps:apply"]
        );
        assert!(!asked.is_subset(&allowed));
        assert_eq!(asked.intersection(&allowed), allowed);
        assert_eq!(asked.without(DISPOSITIVE).to_string(), "inps:read openid");
    }

    #[test]
    fn catalogue_knows_its_scopes() {
        assert!(is_known("openid") && is_known("inps:apply"));
        assert!(!is_known("admin"));
        assert!(is_known(OPERATOR) && NOT_DELEGABLE.contains(&OPERATOR));
        assert!(is_delegable("inps:apply") && is_delegable("delegations:read"));
        for s in [
            "operator",
            "delegations:write",
            "credentials:write",
            ACCESS_CHECK,
            "x",
        ] {
            assert!(!is_delegable(s), "{s}");
        }
    }
}
