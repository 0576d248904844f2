//! xs:dateTime as SAML messages carry it. SAML asks for UTC with `Z`, but identity providers
//! send fractions of any length and `±hh:mm` offsets (protocols.md §0.7); a time without a
//! zone, or in any other layout, is refused.

use chrono::{DateTime, SecondsFormat, Utc};

/// Parses `2026-11-30T10:00:00Z`, `…:00.123456Z`, `…:00+02:00`; anything else is `None`.
pub fn parse(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    // RFC 3339 is the xs:dateTime profile with a mandatory zone; chrono's parser also takes a
    // space or a lower-case `t`, which xs:dateTime does not allow.
    let bytes = value.as_bytes();
    if bytes.get(10) != Some(&b'T') || value.len() < 20 {
        return None;
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The form procura writes: UTC, milliseconds, `Z`.
pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_idps_send() {
        for ok in [
            "2026-11-30T10:00:00Z",
            "2026-11-30T10:00:00.1Z",
            "2026-11-30T10:00:00.123456Z",
            "2026-11-30T12:00:00+02:00",
        ] {
            let parsed = parse(ok).map(|d| d.format("%H:%M").to_string());
            assert_eq!(parsed.as_deref(), Some("10:00"), "{ok}");
        }
    }

    #[test]
    fn refuses_other_layouts() {
        for bad in [
            "",
            "2018-09-04",
            "2018-09-06 16:00",
            "2018.09.18",
            "2018/09/10",
            "10-09-2018",
            "2026-11-30T10:00:00",
            "2026-11-30 10:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn writes_utc_milliseconds() {
        let at = parse("2026-11-30T12:00:00.5+02:00");
        assert_eq!(at.map(format).as_deref(), Some("2026-11-30T10:00:00.500Z"));
    }
}
