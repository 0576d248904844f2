//! The SP certificate: the key that signs procura's metadata, AuthnRequests and logout
//! messages, in a self-signed certificate with the subject AgID asks for (Avviso 29 v3,
//! protocols.md §1.3).
//!
//! What this module makes is for development and tests. In production the certificate comes
//! from a qualified provider or is self-signed by the public body with its own procedure; it
//! is registered with AgID together with the metadata, so it is never replaced silently.

use super::dsig;
use super::sp_metadata;
use crate::config::Config;
use crate::secret_file;
use anyhow::{Context, bail};
use aws_lc_rs::encoding::AsDer;
use chrono::{DateTime, Utc};
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, IsCa};
use std::path::{Path, PathBuf};

/// id-at-uri: the SP entityID.
const OID_URI: [u64; 4] = [2, 5, 4, 83];
/// id-at-organizationIdentifier: `PA:IT-<IPA code>` for a public body.
const OID_ORGANIZATION_IDENTIFIER: [u64; 4] = [2, 5, 4, 97];
const OID_BASIC_CONSTRAINTS: [u64; 4] = [2, 5, 29, 19];
const OID_CERTIFICATE_POLICIES: [u64; 4] = [2, 5, 29, 32];
/// id-qt-unotice.
const OID_USER_NOTICE: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 2, 2];
/// The policies of a public SP certificate with their notices, as AgID's generator writes
/// them: AgID root, agIDcert, and the public-SP policy.
const POLICIES: [(&[u64], &str); 3] = [
    (&[1, 3, 76, 16], "AgIDroot"),
    (&[1, 3, 76, 16, 6], "agIDcert"),
    (&[1, 3, 76, 16, 4, 2, 1], "cert_SP_Pub"),
];

/// Validity of a certificate made on first run.
pub const DEFAULT_DAYS: u32 = 730;

/// The subject of the SP certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// CN: the name IdPs show (= metadata OrganizationDisplayName).
    pub common_name: String,
    /// O: the full legal name (= metadata OrganizationName).
    pub organization_name: String,
    /// uri: the SP entityID.
    pub entity_id: String,
    /// organizationIdentifier: `PA:IT-<ipa code>`.
    pub organization_identifier: String,
    /// L.
    pub locality: String,
}

impl Subject {
    pub fn from_config(config: &Config) -> Self {
        let spid = &config.spid;
        Self {
            common_name: spid.organization_display_name.clone(),
            organization_name: spid.organization_name.clone(),
            entity_id: sp_metadata::entity_id(config),
            organization_identifier: format!("PA:IT-{}", spid.ipa_code),
            locality: spid.locality.clone(),
        }
    }

    fn distinguished_name(&self) -> anyhow::Result<DistinguishedName> {
        for (what, value) in [
            ("organization_display_name", &self.common_name),
            ("organization_name", &self.organization_name),
            ("entity_id", &self.entity_id),
            ("locality", &self.locality),
        ] {
            if value.trim().is_empty() {
                bail!("spid.{what} is empty: the SP certificate subject needs it");
            }
        }
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, self.organization_name.as_str());
        dn.push(DnType::CommonName, self.common_name.as_str());
        dn.push(
            DnType::CustomDnType(OID_URI.to_vec()),
            self.entity_id.as_str(),
        );
        dn.push(
            DnType::CustomDnType(OID_ORGANIZATION_IDENTIFIER.to_vec()),
            self.organization_identifier.as_str(),
        );
        let country =
            rcgen::string::PrintableString::try_from("IT").context("country code not printable")?;
        dn.push(DnType::CountryName, DnValue::PrintableString(country));
        dn.push(DnType::LocalityName, self.locality.as_str());
        Ok(dn)
    }
}

/// A freshly made key (PKCS#8 PEM) and its self-signed certificate (PEM).
pub struct Generated {
    pub private_key_pem: String,
    pub certificate_pem: String,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Generated { .. }")
    }
}

/// Makes an RSA-3072 key and a self-signed SHA-256 certificate valid `days` from `now`.
pub fn generate(subject: &Subject, days: u32, now: DateTime<Utc>) -> anyhow::Result<Generated> {
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa3072)
        .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
    let pkcs8 = rsa
        .as_der()
        .map_err(|_| anyhow::anyhow!("RSA key encoding failed"))?;
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &pkcs8.as_ref().into(),
        &rcgen::PKCS_RSA_SHA256,
    )
    .context("RSA key unusable for certificates")?;

    let mut params = CertificateParams::default();
    params.distinguished_name = subject.distinguished_name()?;
    // rcgen takes `time` values: go through the Unix epoch so procura needs no `time`.
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + unix_duration(now)?;
    params.not_after = epoch + unix_duration(now + chrono::Duration::days(i64::from(days.max(1))))?;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial()?));
    // rcgen marks basicConstraints critical; Avviso 29 wants it present, not critical, CA false.
    params.is_ca = IsCa::NoCa;
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::ContentCommitment,
    ];
    params.custom_extensions = vec![
        CustomExtension::from_oid_content(&OID_BASIC_CONSTRAINTS, der::sequence(&[])),
        CustomExtension::from_oid_content(&OID_CERTIFICATE_POLICIES, certificate_policies()),
    ];
    let certificate = params
        .self_signed(&key)
        .context("signing the certificate failed")?;
    Ok(Generated {
        private_key_pem: key.serialize_pem(),
        certificate_pem: certificate.pem(),
    })
}

fn unix_duration(at: DateTime<Utc>) -> anyhow::Result<std::time::Duration> {
    let secs = u64::try_from(at.timestamp()).context("certificate date before 1970")?;
    Ok(std::time::Duration::from_secs(secs))
}

/// A positive 16-byte serial number from the system CSPRNG.
fn serial() -> anyhow::Result<[u8; 16]> {
    let mut bytes = secret_file::random_bytes::<16>()?;
    if let Some(first) = bytes.first_mut() {
        *first = (*first & 0x7f) | 0x01;
    }
    Ok(bytes)
}

/// CertificatePolicies ::= SEQUENCE OF PolicyInformation, each with a UserNotice qualifier.
fn certificate_policies() -> Vec<u8> {
    let policies: Vec<Vec<u8>> = POLICIES
        .iter()
        .map(|(oid, notice)| {
            let user_notice = der::sequence(&[der::utf8(notice)]);
            let qualifier = der::sequence(&[der::oid(&OID_USER_NOTICE), user_notice]);
            der::sequence(&[der::oid(oid), der::sequence(&[qualifier])])
        })
        .collect();
    der::sequence(&policies)
}

/// The few DER encodings the policies extension needs.
mod der {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }

    pub fn sequence(items: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &items.concat())
    }

    pub fn utf8(text: &str) -> Vec<u8> {
        tlv(0x0c, text.as_bytes())
    }

    pub fn oid(arcs: &[u64]) -> Vec<u8> {
        let mut body = Vec::new();
        let (first, second) = (
            arcs.first().copied().unwrap_or(0),
            arcs.get(1).copied().unwrap_or(0),
        );
        for arc in std::iter::once(first * 40 + second).chain(arcs.iter().skip(2).copied()) {
            // base-128, most significant group first, continuation bit on all but the last
            let mut groups = vec![(arc & 0x7f) as u8];
            let mut rest = arc >> 7;
            while rest > 0 {
                groups.push((rest & 0x7f) as u8 | 0x80);
                rest >>= 7;
            }
            body.extend(groups.into_iter().rev());
        }
        tlv(0x06, &body)
    }
}

/// Where the files went and what the certificate says.
#[derive(Debug)]
pub struct Written {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    pub subject: Subject,
    pub not_after: DateTime<Utc>,
}

/// Makes a development key and certificate and writes them to `spid.private_key` (0600) and
/// `spid.certificate`. Refuses to replace existing files unless `force`.
pub fn write_files(config: &Config, days: u32, force: bool) -> anyhow::Result<Written> {
    let (cert_path, key_path) = (&config.spid.certificate, &config.spid.private_key);
    if !force {
        for path in [cert_path, key_path] {
            if path.exists() {
                bail!(
                    "{} exists: keep it, or pass --force to replace the SP key and certificate \
                     (the new certificate must then be registered with AgID)",
                    path.display()
                );
            }
        }
    }
    let now = Utc::now();
    let subject = Subject::from_config(config);
    let generated = generate(&subject, days, now)?;
    if force {
        remove_if_present(key_path)?;
    }
    secret_file::write_new(key_path, generated.private_key_pem.as_bytes())
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    write_public(cert_path, generated.certificate_pem.as_bytes())?;
    Ok(Written {
        certificate: cert_path.clone(),
        private_key: key_path.clone(),
        subject,
        not_after: now + chrono::Duration::days(i64::from(days.max(1))),
    })
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot replace {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn write_public(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

/// The SP signing key: read from `spid.private_key` and `spid.certificate`; when both are
/// missing and `spid.generate_if_missing`, a development pair is made first. One file
/// without the other is refused: a key and a certificate that do not belong together would
/// sign metadata nobody can verify.
pub fn load_or_generate(config: &Config) -> anyhow::Result<dsig::SigningKey> {
    let (cert_path, key_path) = (&config.spid.certificate, &config.spid.private_key);
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {}
        (false, false) if config.spid.generate_if_missing => {
            let written = write_files(config, DEFAULT_DAYS, false)?;
            tracing::warn!(
                certificate = %written.certificate.display(),
                "created a development SPID SP certificate; production needs one registered with AgID"
            );
        }
        (false, false) => bail!(
            "no SPID SP certificate ({}) and key ({}): provide them, or run `procura spid certificate` \
             for a development pair",
            cert_path.display(),
            key_path.display()
        ),
        (true, false) => bail!(
            "the SPID SP certificate {} exists but its key {} does not",
            cert_path.display(),
            key_path.display()
        ),
        (false, true) => bail!(
            "the SPID SP key {} exists but its certificate {} does not",
            key_path.display(),
            cert_path.display()
        ),
    }
    let key_pem = std::fs::read_to_string(key_path)
        .with_context(|| format!("cannot read {}", key_path.display()))?;
    let cert_pem = std::fs::read_to_string(cert_path)
        .with_context(|| format!("cannot read {}", cert_path.display()))?;
    dsig::SigningKey::from_pem(&key_pem, &cert_pem)
        .with_context(|| format!("the SPID SP key {} is unusable", key_path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    fn subject() -> Subject {
        Subject {
            common_name: "INPS".into(),
            organization_name: "Istituto Nazionale della Previdenza Sociale".into(),
            entity_id: "https://procura.example/spid/metadata".into(),
            organization_identifier: "PA:IT-inps".into(),
            locality: "Roma".into(),
        }
    }

    #[test]
    fn oid_encoding() {
        assert_eq!(
            der::oid(&[1, 3, 6, 1, 5, 5, 7, 2, 2]),
            [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x02, 0x02]
        );
        assert_eq!(der::oid(&[2, 5, 4, 97]), [0x06, 0x03, 0x55, 0x04, 0x61]);
        assert_eq!(der::oid(&[1, 2, 840]), [0x06, 0x03, 0x2a, 0x86, 0x48]);
    }

    #[test]
    fn certificate_has_the_avviso_29_profile() -> anyhow::Result<()> {
        let generated = generate(&subject(), 30, Utc::now())?;
        let block = ::pem::parse(&generated.certificate_pem)?;
        let (_, cert) = X509Certificate::from_der(block.contents())?;
        let subject = cert.subject();
        let attr = |oid: &str| -> Option<String> {
            subject
                .iter_attributes()
                .find(|a| a.attr_type().to_id_string() == oid)
                .and_then(|a| a.as_str().ok().map(str::to_owned))
        };
        assert_eq!(attr("2.5.4.3").as_deref(), Some("INPS"));
        assert_eq!(
            attr("2.5.4.83").as_deref(),
            Some("https://procura.example/spid/metadata")
        );
        assert_eq!(attr("2.5.4.97").as_deref(), Some("PA:IT-inps"));
        assert_eq!(attr("2.5.4.6").as_deref(), Some("IT"));
        assert_eq!(attr("2.5.4.7").as_deref(), Some("Roma"));
        assert_eq!(cert.issuer(), cert.subject());
        assert_eq!(
            cert.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.113549.1.1.11"
        );

        let ku = cert
            .key_usage()?
            .ok_or_else(|| anyhow::anyhow!("no keyUsage"))?;
        assert!(ku.critical);
        assert!(ku.value.digital_signature() && ku.value.non_repudiation());
        assert!(!ku.value.key_encipherment() && !ku.value.key_cert_sign());
        let bc = cert
            .basic_constraints()?
            .ok_or_else(|| anyhow::anyhow!("no basicConstraints"))?;
        assert!(!bc.critical && !bc.value.ca);
        let policies = cert
            .get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_CERTIFICATE_POLICIES)?
            .ok_or_else(|| anyhow::anyhow!("no certificatePolicies"))?;
        assert!(!policies.critical);
        let ParsedExtension::CertificatePolicies(list) = policies.parsed_extension() else {
            anyhow::bail!("certificatePolicies unparsed");
        };
        let ids: Vec<String> = list.iter().map(|p| p.policy_id.to_id_string()).collect();
        assert_eq!(ids, ["1.3.76.16", "1.3.76.16.6", "1.3.76.16.4.2.1"]);

        let key = ::pem::parse(&generated.private_key_pem)?;
        assert_eq!(key.tag(), "PRIVATE KEY");
        let rsa = aws_lc_rs::rsa::KeyPair::from_pkcs8(key.contents())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(rsa.public_modulus_len(), 384);
        Ok(())
    }

    #[test]
    fn one_file_without_the_other_is_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::default();
        config.spid.certificate = dir.path().join("sp.crt");
        config.spid.private_key = dir.path().join("sp.key");
        std::fs::write(&config.spid.certificate, "x")?;
        let err = load_or_generate(&config).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("its key")));

        std::fs::remove_file(&config.spid.certificate)?;
        config.spid.generate_if_missing = false;
        let err = load_or_generate(&config).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("procura spid certificate")));
        Ok(())
    }

    #[test]
    fn files_are_written_once_and_the_key_is_private() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::default();
        config.spid.certificate = dir.path().join("sp.crt");
        config.spid.private_key = dir.path().join("sp.key");
        let written = write_files(&config, 10, false)?;
        assert_eq!(written.subject.organization_identifier, "PA:IT-inps");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&config.spid.private_key)?
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_files(&config, 10, false).is_err());
        let before = std::fs::read(&config.spid.certificate)?;
        write_files(&config, 10, true)?;
        assert_ne!(std::fs::read(&config.spid.certificate)?, before);
        Ok(())
    }
}
