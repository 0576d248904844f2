//! Real RSA-2048 keys with self-signed certificates, for tests across the SPID modules.
//! Generated once per test run: [`idp`] plays the identity provider, [`other`] an
//! attacker (or spid-sp-test's "different certificate"); [`TestKey::generate`] makes more.

use crate::spid::dsig::{DsigError, SigningKey, VerifyingKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use std::sync::OnceLock;

/// A private key and its certificate, both PEM.
pub(crate) struct TestKey {
    pub key_pem: String,
    pub cert_pem: String,
}

impl TestKey {
    /// A fresh RSA-2048 key and a self-signed certificate for `host`.
    pub fn generate(host: &str) -> Result<Self, String> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|e| e.to_string())?;
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&pair)
            .map_err(|e| e.to_string())?;
        let key_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
        let signer =
            rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| e.to_string())?;
        let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
            .and_then(|params| params.self_signed(&signer))
            .map_err(|e| e.to_string())?;
        Ok(TestKey {
            key_pem,
            cert_pem: cert.pem(),
        })
    }

    pub fn signing_key(&self) -> Result<SigningKey, DsigError> {
        SigningKey::from_pem(&self.key_pem, &self.cert_pem)
    }

    pub fn verifying_key(&self) -> Result<VerifyingKey, DsigError> {
        VerifyingKey::from_certificate_pem(&self.cert_pem)
    }
}

fn cached(
    cell: &'static OnceLock<Result<TestKey, String>>,
    host: &str,
) -> Result<&'static TestKey, String> {
    cell.get_or_init(|| TestKey::generate(host))
        .as_ref()
        .map_err(Clone::clone)
}

/// The test identity provider's key.
pub(crate) fn idp() -> Result<&'static TestKey, String> {
    static KEY: OnceLock<Result<TestKey, String>> = OnceLock::new();
    cached(&KEY, "idp.test")
}

/// A key nobody trusts.
pub(crate) fn other() -> Result<&'static TestKey, String> {
    static KEY: OnceLock<Result<TestKey, String>> = OnceLock::new();
    cached(&KEY, "other.test")
}
