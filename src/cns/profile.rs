//! What the CNS certificate profile says about a card's authentication certificate, read
//! from the certificate alone (no trust decision here): the codice fiscale in the subject,
//! the certificate policy, the key usages and the key size.
//!
//! Profile (OpenSC wiki "Italian CNS and CIE"; protocols.md §3): subject
//! `CN=<codice fiscale>/<card id>.<hash>` (the base64 hash may itself contain `/`, so the
//! codice fiscale ends at the *first* `/`), `SN`/`GN` surname and given name; policy
//! `1.3.76.16.2.1` (or a declared equivalent); key usage digitalSignature; EKU clientAuth.

use crate::config::CnsCodiceFiscaleFrom;
use crate::person::codice_fiscale::CodiceFiscale;
use openssl::nid::Nid;
use openssl::x509::{X509NameRef, X509Ref};
use x509_parser::extensions::ParsedExtension;

/// Why the certificate does not fit the profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("certificate unreadable")]
    Unreadable,
    #[error("the subject does not carry a codice fiscale where the profile says")]
    MalformedSubject,
    #[error("the codice fiscale in the subject is not valid")]
    InvalidCodiceFiscale,
    #[error("no accepted certificate policy")]
    Policy,
    #[error("key usage does not allow client authentication")]
    KeyUsage,
    #[error("key too weak ({0} bits)")]
    WeakKey(u32),
}

/// The person named by a card's certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Subject {
    pub codice_fiscale: CodiceFiscale,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("codice_fiscale", &self.codice_fiscale)
            .finish_non_exhaustive()
    }
}

fn entry(name: &X509NameRef, nid: Nid) -> Option<String> {
    name.entries_by_nid(nid)
        .next()
        .and_then(|e| e.data().to_string().ok())
}

/// The codice fiscale text of a subject, as `from` says, before validation.
pub fn codice_fiscale_text(
    name: &X509NameRef,
    from: CnsCodiceFiscaleFrom,
) -> Result<String, ProfileError> {
    match from {
        CnsCodiceFiscaleFrom::CommonName => {
            let cn = entry(name, Nid::COMMONNAME).ok_or(ProfileError::MalformedSubject)?;
            codice_fiscale_in_common_name(&cn).map(str::to_owned)
        }
        CnsCodiceFiscaleFrom::SerialNumber => {
            let serial = entry(name, Nid::SERIALNUMBER).ok_or(ProfileError::MalformedSubject)?;
            Ok(codice_fiscale_in_serial_number(&serial).to_owned())
        }
    }
}

/// `CN=<codice fiscale>/<card id>.<hash>`: the part before the first `/`, which must be
/// followed by the card part.
pub fn codice_fiscale_in_common_name(cn: &str) -> Result<&str, ProfileError> {
    match cn.split_once('/') {
        Some((cf, card)) if cf.len() == 16 && !card.is_empty() => Ok(cf),
        _ => Err(ProfileError::MalformedSubject),
    }
}

/// `serialNumber` as ETSI EN 319 412-1 writes a natural person's tax number
/// (`TINIT-<codice fiscale>`), or `IT:<codice fiscale>`, or the bare code.
pub fn codice_fiscale_in_serial_number(serial: &str) -> &str {
    serial
        .strip_prefix("TINIT-")
        .or_else(|| serial.strip_prefix("IT:"))
        .unwrap_or(serial)
}

/// The person of the certificate; the codice fiscale validated by procura's own parser
/// (checksum, omocodia).
pub fn subject(cert: &X509Ref, from: CnsCodiceFiscaleFrom) -> Result<Subject, ProfileError> {
    let name = cert.subject_name();
    let text = codice_fiscale_text(name, from)?;
    let codice_fiscale = CodiceFiscale::parse(&text.to_ascii_uppercase())
        .map_err(|_| ProfileError::InvalidCodiceFiscale)?;
    Ok(Subject {
        codice_fiscale,
        given_name: entry(name, Nid::GIVENNAME),
        family_name: entry(name, Nid::SURNAME),
    })
}

/// Policy, key usages and key size of an authentication certificate.
pub fn check_usage(
    cert: &X509Ref,
    policy_oids: &[String],
    min_rsa_bits: u32,
) -> Result<(), ProfileError> {
    let der = cert.to_der().map_err(|_| ProfileError::Unreadable)?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(&der).map_err(|_| ProfileError::Unreadable)?;
    let mut policy = false;
    for ext in parsed.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CertificatePolicies(policies) => {
                policy = policies
                    .iter()
                    .any(|p| policy_oids.contains(&p.policy_id.to_id_string()));
            }
            ParsedExtension::KeyUsage(ku) if !ku.digital_signature() => {
                return Err(ProfileError::KeyUsage);
            }
            ParsedExtension::ExtendedKeyUsage(eku) if !(eku.client_auth || eku.any) => {
                return Err(ProfileError::KeyUsage);
            }
            _ => {}
        }
    }
    if !policy {
        return Err(ProfileError::Policy);
    }
    let key = cert.public_key().map_err(|_| ProfileError::Unreadable)?;
    if let Ok(rsa) = key.rsa()
        && rsa.size() * 8 < min_rsa_bits
    {
        return Err(ProfileError::WeakKey(rsa.size() * 8));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codice_fiscale_ends_at_the_first_slash() {
        // The card hash is base64 and may itself contain '/'.
        assert_eq!(
            codice_fiscale_in_common_name(
                "MSRNTN77H15C351X/6120016461039008.i1ZpZfaCX/eKyikBfnF8to+M2T8="
            ),
            Ok("MSRNTN77H15C351X")
        );
        for bad in [
            "MARIO ROSSI",
            "MSRNTN77H15C351X",
            "MSRNTN77H15C351X/",
            "MSRNTN77H15C35/123.abc",
            "/MSRNTN77H15C351X",
        ] {
            assert_eq!(
                codice_fiscale_in_common_name(bad),
                Err(ProfileError::MalformedSubject),
                "{bad}"
            );
        }
    }

    #[test]
    fn serial_number_prefixes() {
        for s in [
            "TINIT-MSRNTN77H15C351X",
            "IT:MSRNTN77H15C351X",
            "MSRNTN77H15C351X",
        ] {
            assert_eq!(codice_fiscale_in_serial_number(s), "MSRNTN77H15C351X");
        }
    }
}
