//! Contacts as the registry keeps them: mobiles in E.164 form, e-mail addresses lowercase.
//! Normalising on the way in lets later features compare what a citizen types with the
//! archive without caring for spaces or `0039` prefixes.

use validator::ValidateEmail;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("not a mobile number (expected e.g. +39 333 1234567)")]
    Mobile,
    #[error("not an e-mail address")]
    Email,
}

/// `333 123 4567`, `0039 333-1234567` and `+393331234567` all become `+393331234567`.
/// A national number without prefix is taken as Italian.
pub fn normalize_mobile(raw: &str) -> Result<String, ContactError> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '/' | '(' | ')'))
        .collect();
    let international = if let Some(rest) = compact.strip_prefix('+') {
        rest.to_owned()
    } else if let Some(rest) = compact.strip_prefix("00") {
        rest.to_owned()
    } else if compact.starts_with('3') && (9..=10).contains(&compact.len()) {
        format!("39{compact}")
    } else {
        return Err(ContactError::Mobile);
    };
    let digits_ok = international.chars().all(|c| c.is_ascii_digit());
    if !digits_ok || !(8..=15).contains(&international.len()) || international.starts_with('0') {
        return Err(ContactError::Mobile);
    }
    Ok(format!("+{international}"))
}

pub fn normalize_email(raw: &str) -> Result<String, ContactError> {
    let email = raw.trim().to_lowercase();
    if email.len() > 254 || !email.validate_email() {
        return Err(ContactError::Email);
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles() {
        for raw in [
            "333 123 4567",
            "0039 333-1234567",
            "+393331234567",
            "(+39) 333.123.4567",
        ] {
            assert_eq!(normalize_mobile(raw).unwrap(), "+393331234567", "{raw}");
        }
        assert_eq!(
            normalize_mobile("+41 79 123 45 67").unwrap(),
            "+41791234567"
        );
        for bad in ["", "06 1234567", "abc", "+39 333 12a4567", "+1", "+0039333"] {
            assert_eq!(normalize_mobile(bad), Err(ContactError::Mobile), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" Mario.Rossi@Example.IT ").unwrap(),
            "mario.rossi@example.it"
        );
        for bad in ["", "mario", "mario@", "@example.it", "a b@example.it"] {
            assert_eq!(normalize_email(bad), Err(ContactError::Email), "{bad}");
        }
    }
}
