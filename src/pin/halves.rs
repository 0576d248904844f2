//! A newly issued 16-character PIN and its two halves (domain §2.2): the first 8 characters
//! travel by SMS, e-mail or PEC, the last 8 by letter; at the desk the whole PIN is handed
//! over at once. The PIN exists in clear only in memory: stored as an argon2id hash, sealed
//! in the outbox while a half waits for dispatch, never logged.

use std::fmt;

/// The characters of each half.
pub const HALF_LENGTH: usize = 8;

/// A new PIN, from the system CSPRNG over [`super::ISSUED_ALPHABET`].
pub struct IssuedPin(String);

impl IssuedPin {
    pub fn generate() -> std::io::Result<Self> {
        Ok(Self(super::new_initial_pin()?))
    }

    /// The whole 16 characters (desk: shown once to the operator; the hash is made of it).
    pub fn whole(&self) -> &str {
        &self.0
    }

    /// The first 8 characters (SMS, e-mail, PEC, or read on the phone).
    pub fn first_half(&self) -> &str {
        self.0.get(..HALF_LENGTH).unwrap_or_default()
    }

    /// The last 8 characters (the letter).
    pub fn second_half(&self) -> &str {
        self.0.get(HALF_LENGTH..).unwrap_or_default()
    }
}

impl fmt::Debug for IssuedPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssuedPin([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_make_the_whole_and_debug_hides_it() {
        let pin = IssuedPin::generate().unwrap();
        assert_eq!(pin.whole().len(), 16);
        assert_eq!(pin.first_half().len(), HALF_LENGTH);
        assert_eq!(
            format!("{}{}", pin.first_half(), pin.second_half()),
            pin.whole()
        );
        assert!(!format!("{pin:?}").contains(pin.first_half()));
    }
}
