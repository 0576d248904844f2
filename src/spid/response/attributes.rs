//! The AttributeStatement of a verified assertion, and the SPID attributes procura maps
//! (protocols.md §1.4): `fiscalNumber` (`TINIT-<CF>`), `name`, `familyName`, `dateOfBirth`
//! (`YYYY-MM-DD`), `email`, `mobilePhone`, `digitalAddress` (PEC).

use super::ResponseError;
use crate::spid::{ns, xml};
use chrono::NaiveDate;
use roxmltree::Node;

/// What the identity provider asserted about the person.
pub(super) struct Mapped {
    pub codice_fiscale: String,
    pub fiscal_number_raw: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub email: Option<String>,
    pub mobile_phone: Option<String>,
    pub pec: Option<String>,
    /// Every (name, value) pair, in document order.
    pub all: Vec<(String, String)>,
}

/// Reads every AttributeStatement of `assertion`: at least one, each with at least one
/// Attribute, each Attribute named and with at least one AttributeValue. `NameFormat` is not
/// looked at (AgID's own test 109 omits it). A name may appear only once.
pub(super) fn read(assertion: Node<'_, '_>, required: &[&str]) -> Result<Mapped, ResponseError> {
    let mut named: Vec<(String, Vec<String>)> = Vec::new();
    let mut statements = 0usize;
    for statement in xml::children(assertion, ns::SAML, "AttributeStatement") {
        statements += 1;
        let mut attributes = 0usize;
        for attribute in xml::children(statement, ns::SAML, "Attribute") {
            attributes += 1;
            let name = attribute
                .attribute("Name")
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .ok_or(ResponseError::Missing("Attribute Name"))?;
            let values: Vec<String> = xml::children(attribute, ns::SAML, "AttributeValue")
                .map(xml::text)
                .collect();
            if values.is_empty() {
                return Err(ResponseError::Attributes(
                    "an Attribute has no AttributeValue",
                ));
            }
            if named.iter().any(|(n, _)| n == name) {
                return Err(ResponseError::Attributes(
                    "an Attribute appears more than once",
                ));
            }
            named.push((name.to_owned(), values));
        }
        if attributes == 0 {
            return Err(ResponseError::Attributes(
                "an AttributeStatement has no Attribute",
            ));
        }
    }
    if statements == 0 {
        return Err(ResponseError::Missing("AttributeStatement"));
    }
    for name in required {
        if !named.iter().any(|(n, _)| n == name) {
            return Err(ResponseError::MissingAttribute((*name).to_owned()));
        }
    }
    map(named)
}

fn map(named: Vec<(String, Vec<String>)>) -> Result<Mapped, ResponseError> {
    let fiscal_number_raw = single(&named, "fiscalNumber")?
        .ok_or(ResponseError::MissingAttribute("fiscalNumber".into()))?;
    let codice_fiscale = codice_fiscale(&fiscal_number_raw)?;
    let date_of_birth = single(&named, "dateOfBirth")?
        .map(|d| date(&d).ok_or(ResponseError::BadAttribute("dateOfBirth")))
        .transpose()?;
    Ok(Mapped {
        codice_fiscale,
        fiscal_number_raw,
        given_name: single(&named, "name")?,
        family_name: single(&named, "familyName")?,
        date_of_birth,
        email: single(&named, "email")?,
        mobile_phone: single(&named, "mobilePhone")?,
        pec: single(&named, "digitalAddress")?,
        all: named
            .into_iter()
            .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
            .collect(),
    })
}

/// The value of a mapped attribute: absent or empty is `None`; several values are refused
/// (which one would be the person's?).
fn single(
    named: &[(String, Vec<String>)],
    name: &'static str,
) -> Result<Option<String>, ResponseError> {
    let Some((_, values)) = named.iter().find(|(n, _)| n == name) else {
        return Ok(None);
    };
    match values.as_slice() {
        [value] if value.is_empty() => Ok(None),
        [value] => Ok(Some(value.clone())),
        _ => Err(ResponseError::BadAttribute(name)),
    }
}

/// `TINIT-rssmra80a01h501u` → `RSSMRA80A01H501U`: the prefix is required, the code is 16
/// characters (11 digits for a temporary one), letters and digits only. The checksum is the
/// caller's (`CodiceFiscale::parse`).
fn codice_fiscale(raw: &str) -> Result<String, ResponseError> {
    let code = raw
        .get(..6)
        .filter(|prefix| prefix.eq_ignore_ascii_case("TINIT-"))
        .and_then(|_| raw.get(6..))
        .filter(|code| matches!(code.len(), 11 | 16))
        .filter(|code| code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or(ResponseError::BadAttribute("fiscalNumber"))?;
    Ok(code.to_ascii_uppercase())
}

/// xs:date as SPID sends it, `YYYY-MM-DD` with nothing around it.
fn date(value: &str) -> Option<NaiveDate> {
    let b = value.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fiscal_number_loses_its_prefix() {
        assert_eq!(
            codice_fiscale("TINIT-rssmra80a01h501u").ok().as_deref(),
            Some("RSSMRA80A01H501U")
        );
        assert_eq!(
            codice_fiscale("tinit-12345678901").ok().as_deref(),
            Some("12345678901")
        );
        for bad in [
            "",
            "TINIT-",
            "RSSMRA80A01H501U",
            "TINIT-RSSMRA80A01H501",
            "TINIT-RSSMRA80A01H501U1",
            "TINIT-RSSMRA80A01H50 U",
            "VATIT-RSSMRA80A01H501U",
            "TINIT-RSSMRA80A01H5€U",
        ] {
            assert!(codice_fiscale(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_of_birth() {
        assert_eq!(date("2000-01-01"), NaiveDate::from_ymd_opt(2000, 1, 1));
        for bad in [
            "2000-1-01",
            "2000-02-30",
            "01-01-2000",
            "+2000-01-01",
            "2000-01-01Z",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }
}
