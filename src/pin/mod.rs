//! The INPS PIN (domain §2, §6.6, §6.7): what a PIN may look like ([`rules`]) and the
//! credential itself, with its expiry and lockout ([`credential`]).
//!
//! A PIN is stored only as an argon2id hash ([`crate::password`]); it never appears in logs,
//! audit records or `Debug` output.

pub mod address_check;
pub mod credential;
pub mod documents;
pub mod envelope;
pub mod guard;
pub mod halves;
pub mod issuance;
pub mod phone;
pub mod policy;
pub mod recovery;
pub mod request;
pub mod rules;

pub use credential::{
    ChangeReason, CredentialState, Lockout, PinError, PinLogin, authenticate, change_pin,
    set_credential,
};
pub use rules::{PinRuleViolation, check_personal_pin, looks_like_initial_pin, normalize};

use crate::config::PinConfig;
use std::fmt;

/// What a PIN lets its holder do (domain §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinType {
    /// Consult one's own position (read-only services).
    Ordinario,
    /// Also apply for benefits.
    Dispositivo,
}

impl PinType {
    pub const ALL: [PinType; 2] = [PinType::Ordinario, PinType::Dispositivo];

    pub fn as_str(self) -> &'static str {
        match self {
            PinType::Ordinario => "ordinario",
            PinType::Dispositivo => "dispositivo",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for PinType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose PIN it is; decides its validity (domain §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    /// A citizen: valid `citizen_validity_days` (180).
    Cittadino,
    /// An institutional intermediary: valid `intermediary_validity_days` (90).
    Intermediario,
}

impl Holder {
    pub const ALL: [Holder; 2] = [Holder::Cittadino, Holder::Intermediario];

    pub fn as_str(self) -> &'static str {
        match self {
            Holder::Cittadino => "cittadino",
            Holder::Intermediario => "intermediario",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// Days a PIN of this holder stays valid once set.
    pub fn validity_days(self, policy: &PinConfig) -> u32 {
        match self {
            Holder::Cittadino => policy.citizen_validity_days,
            Holder::Intermediario => policy.intermediary_validity_days,
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in PinType::ALL {
            assert_eq!(PinType::parse(t.as_str()), Some(t));
        }
        for h in Holder::ALL {
            assert_eq!(Holder::parse(h.as_str()), Some(h));
        }
        assert_eq!(PinType::parse("Ordinario"), None);
        assert_eq!(Holder::parse(""), None);
    }

    #[test]
    fn validity_follows_the_holder() {
        let policy = PinConfig::default();
        assert_eq!(Holder::Cittadino.validity_days(&policy), 180);
        assert_eq!(Holder::Intermediario.validity_days(&policy), 90);
    }
}

/// Characters of issued PINs: letters and digits without look-alikes (no 0/O, 1/I/L).
pub const ISSUED_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A new random initial PIN (16 characters of [`ISSUED_ALPHABET`], from the system CSPRNG).
pub fn new_initial_pin() -> std::io::Result<String> {
    let mut pin = String::with_capacity(rules::INITIAL_PIN_LENGTH);
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % ISSUED_ALPHABET.len();
    while pin.len() < rules::INITIAL_PIN_LENGTH {
        for b in crate::secret_file::random_bytes::<32>()? {
            if usize::from(b) < limit
                && pin.len() < rules::INITIAL_PIN_LENGTH
                && let Some(c) = ISSUED_ALPHABET.get(usize::from(b) % ISSUED_ALPHABET.len())
            {
                pin.push(char::from(*c));
            }
        }
    }
    Ok(pin)
}

#[cfg(test)]
mod issued_tests {
    use super::*;

    #[test]
    fn initial_pins_are_random_and_well_formed() {
        let (a, b) = (new_initial_pin().unwrap(), new_initial_pin().unwrap());
        assert_ne!(a, b);
        assert!(rules::check_initial_pin(&a).is_ok());
        assert!(a.bytes().all(|c| ISSUED_ALPHABET.contains(&c)));
    }
}
