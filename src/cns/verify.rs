//! The whole validation of a presented card certificate, by procura itself whichever way it
//! arrived: chain to a trust anchor, validity dates on procura's clock, the CNS profile
//! (policy, key usage, key size, codice fiscale), then revocation. Cheap checks come first;
//! revocation (which may fetch) last, and only for a certificate a trusted CA issued, so the
//! URLs fetched are ones a trusted CA signed.

use super::profile::{self, ProfileError, Subject};
use super::revocation::{self, CrlCache, Source, Verdict};
use super::trust::TrustAnchors;
use crate::config::{CnsConfig, CnsRevocationFailure};
use chrono::{DateTime, Utc};
use openssl::asn1::Asn1Time;
use openssl::stack::Stack;
use openssl::x509::{X509, X509StoreContext};
use sha2::{Digest, Sha256};

/// Why a card was refused; each has a stable code (logs, audit) and an Italian message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no certificate presented")]
    NoCertificate,
    #[error("certificate unreadable")]
    Unreadable,
    #[error("issuer not trusted: {0}")]
    UntrustedIssuer(String),
    #[error("certificate expired")]
    Expired,
    #[error("certificate not yet valid")]
    NotYetValid,
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("revoked (told by {0:?})")]
    Revoked(Source),
    #[error("revocation status unavailable: {0}")]
    RevocationUnavailable(String),
}

impl Refusal {
    /// The stable reason code of logs and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoCertificate => "no_certificate",
            Refusal::Unreadable | Refusal::Profile(ProfileError::Unreadable) => {
                "unreadable_certificate"
            }
            Refusal::UntrustedIssuer(_) => "untrusted_issuer",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::Profile(ProfileError::MalformedSubject) => "malformed_subject",
            Refusal::Profile(ProfileError::InvalidCodiceFiscale) => "invalid_codice_fiscale",
            Refusal::Profile(ProfileError::Policy) => "policy",
            Refusal::Profile(ProfileError::KeyUsage) => "key_usage",
            Refusal::Profile(ProfileError::WeakKey(_)) => "weak_key",
            Refusal::Revoked(Source::Ocsp) => "revoked_ocsp",
            Refusal::Revoked(Source::Crl) => "revoked_crl",
            Refusal::RevocationUnavailable(_) => "revocation_unavailable",
        }
    }

    /// What the citizen reads (Italian), with what to do.
    pub fn message_it(&self) -> &'static str {
        match self {
            Refusal::NoCertificate => {
                "Non è stata rilevata alcuna carta. Inserisci la Tessera Sanitaria-CNS nel lettore, \
                 chiudi tutte le finestre del browser e riprova, scegliendo il certificato della carta quando ti viene chiesto."
            }
            Refusal::Unreadable | Refusal::Profile(ProfileError::Unreadable) => {
                "Il certificato della carta non è leggibile. Riprova; se il problema continua, scegli un altro modo di accesso."
            }
            Refusal::UntrustedIssuer(_) => {
                "Il certificato presentato non è stato rilasciato da un ente riconosciuto per la Carta Nazionale dei Servizi."
            }
            Refusal::Expired => {
                "La carta è scaduta. Richiedi una nuova carta all'ente che l'ha rilasciata, oppure accedi con SPID o CIE."
            }
            Refusal::NotYetValid => {
                "La carta non è ancora valida. Riprova più tardi, oppure accedi con SPID o CIE."
            }
            Refusal::Profile(ProfileError::MalformedSubject)
            | Refusal::Profile(ProfileError::InvalidCodiceFiscale) => {
                "Il certificato della carta non riporta un codice fiscale valido. Rivolgiti all'ente che ha rilasciato la carta."
            }
            Refusal::Profile(ProfileError::Policy) | Refusal::Profile(ProfileError::KeyUsage) => {
                "Il certificato scelto non è un certificato di autenticazione della Carta Nazionale dei Servizi. \
                 Riprova scegliendo il certificato di autenticazione della carta."
            }
            Refusal::Profile(ProfileError::WeakKey(_)) => {
                "La carta usa una chiave non più accettata. Richiedi una nuova carta, oppure accedi con SPID o CIE."
            }
            Refusal::Revoked(_) => {
                "Il certificato della carta è stato revocato. Rivolgiti all'ente che ha rilasciato la carta, oppure accedi con SPID o CIE."
            }
            Refusal::RevocationUnavailable(_) => {
                "Non è stato possibile verificare in questo momento la validità della carta. Riprova tra qualche minuto."
            }
        }
    }
}

/// A card that passed every check.
#[derive(Debug, Clone)]
pub struct ValidCard {
    pub subject: Subject,
    /// Hex SHA-256 of the card certificate (DER).
    pub certificate_sha256: String,
    /// Hex serial number and issuer (for logs and the audit record).
    pub serial: String,
    pub issuer: String,
}

/// What `validate` needs besides the certificates.
pub struct Validation<'a> {
    pub config: &'a CnsConfig,
    pub anchors: &'a TrustAnchors,
    pub crls: &'a CrlCache,
    pub now: DateTime<Utc>,
}

impl Validation<'_> {
    /// Validates `chain` (the card's certificate first, then any intermediates it sent).
    /// `conn` is taken only when revocation is checked (the OCSP cache).
    pub fn validate(
        &self,
        chain: &[X509],
        conn: impl FnOnce() -> Option<crate::db::PooledConn>,
    ) -> Result<ValidCard, Refusal> {
        let (leaf, intermediates) = chain.split_first().ok_or(Refusal::NoCertificate)?;
        let built = self.chain(leaf, intermediates)?;
        let at = Asn1Time::from_unix(self.now.timestamp()).map_err(|_| Refusal::Unreadable)?;
        for cert in &built {
            if cert.not_after() < at {
                return Err(Refusal::Expired);
            }
            if cert.not_before() > at {
                return Err(Refusal::NotYetValid);
            }
        }
        profile::check_usage(leaf, &self.config.policy_oids, self.config.min_rsa_bits)?;
        let subject = profile::subject(leaf, self.config.codice_fiscale_from)?;
        let issuer = built.get(1).ok_or_else(|| {
            Refusal::UntrustedIssuer("the certificate is itself an anchor".to_owned())
        })?;
        let verdict = match conn() {
            Some(mut c) => revocation::Check {
                config: self.config,
                anchors: self.anchors,
                crls: self.crls,
                leaf,
                issuer,
                now: self.now,
            }
            .run(&mut c),
            None => Verdict::Unavailable("no database connection".into()),
        };
        match verdict {
            Verdict::Good(_) => {}
            Verdict::Revoked(source) => return Err(Refusal::Revoked(source)),
            Verdict::Unavailable(why) => match self.config.revocation {
                CnsRevocationFailure::HardFail => return Err(Refusal::RevocationUnavailable(why)),
                CnsRevocationFailure::SoftFail => {
                    tracing::warn!(
                        reason = %why,
                        cf = %subject.codice_fiscale.masked(),
                        "CNS revocation status unavailable; accepted (cns.revocation = soft_fail)"
                    );
                }
            },
        }
        let der = leaf.to_der().map_err(|_| Refusal::Unreadable)?;
        Ok(ValidCard {
            subject,
            certificate_sha256: hex::encode(Sha256::digest(&der)),
            serial: leaf
                .serial_number()
                .to_bn()
                .ok()
                .and_then(|b| b.to_hex_str().ok())
                .map(|s| s.to_string())
                .unwrap_or_default(),
            issuer: name_text(issuer),
        })
    }

    /// The chain OpenSSL builds from the leaf to an anchor (leaf first).
    fn chain(&self, leaf: &X509, intermediates: &[X509]) -> Result<Vec<X509>, Refusal> {
        let mut untrusted = Stack::new().map_err(|_| Refusal::Unreadable)?;
        for c in intermediates {
            untrusted.push(c.clone()).map_err(|_| Refusal::Unreadable)?;
        }
        let mut ctx = X509StoreContext::new().map_err(|_| Refusal::Unreadable)?;
        ctx.init(&self.anchors.store, leaf, &untrusted, |c| {
            let ok = c.verify_cert()?;
            let chain: Vec<X509> = c
                .chain()
                .map(|s| s.iter().map(|x| x.to_owned()).collect())
                .unwrap_or_default();
            Ok((ok, c.error().error_string().to_owned(), chain))
        })
        .map_err(|_| Refusal::Unreadable)
        .and_then(|(ok, error, chain)| {
            if ok {
                Ok(chain)
            } else {
                Err(Refusal::UntrustedIssuer(error))
            }
        })
    }
}

/// A certificate's issuer or subject as one line (for logs; no personal data in CA names).
fn name_text(cert: &X509) -> String {
    cert.subject_name()
        .entries()
        .filter_map(|e| {
            let key = e.object().nid().short_name().ok()?;
            let value = e.data().to_string().ok()?;
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(",")
}
