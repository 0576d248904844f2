//! The AgID trusted list as a source of CNS trust anchors: a TSL made in the test, signed
//! by the real `xmlsec1` (enveloped, exclusive c14n, with a XAdES SignedProperties reference
//! as EU trusted lists carry), read by procura; tampered or foreign-signed lists refused.

use crate::cns_support::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use procura::cns::trust::{self, TrustError};
use procura::cns::tsl::TslError;
use procura::config::CnsConfig;
use std::path::{Path, PathBuf};

const IDV: &str = "http://uri.etsi.org/TrstSvc/Svctype/IdV";
const QC: &str = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC";
const GRANTED: &str = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted";
const WITHDRAWN: &str = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn";

fn service(kind: &str, status: &str, name: &str, ca: &TestCa) -> String {
    let der = STANDARD.encode(ca.cert.to_der().unwrap());
    format!(
        r#"<tsl:TSPService><tsl:ServiceInformation>
<tsl:ServiceTypeIdentifier>{kind}</tsl:ServiceTypeIdentifier>
<tsl:ServiceName><tsl:Name xml:lang="it">{name}</tsl:Name></tsl:ServiceName>
<tsl:ServiceDigitalIdentity><tsl:DigitalId><tsl:X509Certificate>{der}</tsl:X509Certificate></tsl:DigitalId></tsl:ServiceDigitalIdentity>
<tsl:ServiceStatus>{status}</tsl:ServiceStatus>
<tsl:StatusStartingTime>2020-01-01T00:00:00Z</tsl:StatusStartingTime>
</tsl:ServiceInformation></tsl:TSPService>
"#
    )
}

/// An unsigned TSL with a signature template for xmlsec1.
fn template(services: &str) -> String {
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<tsl:TrustServiceStatusList xmlns:tsl="http://uri.etsi.org/02231/v2#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="TrustServiceStatusList-1" TSLTag="http://uri.etsi.org/19612/TSLTag">
<tsl:SchemeInformation><tsl:TSLVersionIdentifier>5</tsl:TSLVersionIdentifier><tsl:TSLSequenceNumber>42</tsl:TSLSequenceNumber>
<tsl:SchemeTerritory>IT</tsl:SchemeTerritory>
<tsl:ListIssueDateTime>2026-12-01T00:00:00Z</tsl:ListIssueDateTime><tsl:NextUpdate><tsl:dateTime>2027-06-01T00:00:00Z</tsl:dateTime></tsl:NextUpdate></tsl:SchemeInformation>
<tsl:TrustServiceProviderList><tsl:TrustServiceProvider>
<tsl:TSPInformation><tsl:TSPName><tsl:Name xml:lang="it">Prova S.p.A.</tsl:Name></tsl:TSPName></tsl:TSPInformation>
<tsl:TSPServices>
{services}</tsl:TSPServices></tsl:TrustServiceProvider></tsl:TrustServiceProviderList>
<ds:Signature Id="signature-1"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference Id="reference-list" URI=""><ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
<ds:Reference Type="http://uri.etsi.org/01903#SignedProperties" URI="#xades-signed-properties"><ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
<ds:Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#signature-1"><xades:SignedProperties Id="xades-signed-properties"><xades:SignedSignatureProperties><xades:SigningTime>2026-12-01T00:00:00Z</xades:SigningTime></xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></ds:Object>
</ds:Signature></tsl:TrustServiceStatusList>
"##
    )
}

/// Signs `xml` with `signer`'s key by the real xmlsec1; returns the signed list.
fn xmlsec1_sign(dir: &Path, xml: &str, signer: &TestCa) -> String {
    let (input, output) = (dir.join("tsl-template.xml"), dir.join("tsl-signed.xml"));
    std::fs::write(&input, xml).unwrap();
    let key = dir.join("tsl-signer.key");
    std::fs::write(&key, signer.key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.display(), signer.pem_path().display()))
        .args([
            "--id-attr:Id",
            "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
        ])
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .output()
        .expect("xmlsec1 (scripts/deps.sh installs it)");
    assert!(
        out.status.success(),
        "xmlsec1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&output).unwrap()
}

/// A list naming `cns_ca` (IdV, granted), `qualified_ca` (a signature CA, not for CNS)
/// and `withdrawn_ca` (IdV, withdrawn), signed by `signer`.
pub struct SignedTsl {
    pub path: PathBuf,
    pub signer: PathBuf,
    pub text: String,
    _dir: tempfile::TempDir,
}

impl SignedTsl {
    pub fn new(
        cns_ca: &TestCa,
        qualified_ca: &TestCa,
        withdrawn_ca: &TestCa,
        signer: &TestCa,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let services = [
            service(QC, GRANTED, "Prova - CA Firma Qualificata", qualified_ca),
            service(IDV, GRANTED, "Prova - CA Cittadini", cns_ca),
            service(IDV, WITHDRAWN, "Prova - CA Cittadini 2010", withdrawn_ca),
        ]
        .concat();
        let text = xmlsec1_sign(dir.path(), &template(&services), signer);
        let path = dir.path().join("TSL-IT.xml");
        std::fs::write(&path, &text).unwrap();
        let signer_pem = dir.path().join("tsl-signer.pem");
        std::fs::copy(signer.pem_path(), &signer_pem).unwrap();
        Self {
            path,
            signer: signer_pem,
            text,
            _dir: dir,
        }
    }

    pub fn config(&self) -> CnsConfig {
        CnsConfig {
            tsl: Some(self.path.display().to_string()),
            tsl_signer_certificates: vec![self.signer.clone()],
            ..CnsConfig::default()
        }
    }

    /// The same list with `from` replaced by `to`, as a file; returns its config.
    fn tampered(&self, from: &str, to: &str) -> CnsConfig {
        assert!(self.text.contains(from), "{from} not in the list");
        let path = self.path.with_file_name("tampered.xml");
        std::fs::write(&path, self.text.replacen(from, to, 1)).unwrap();
        CnsConfig {
            tsl: Some(path.display().to_string()),
            ..self.config()
        }
    }
}

struct Cas {
    cns: TestCa,
    qualified: TestCa,
    withdrawn: TestCa,
    signer: TestCa,
}

fn cas() -> Cas {
    let now = chrono::Utc::now();
    Cas {
        cns: TestCa::new("CA Cittadini di prova", now),
        qualified: TestCa::new("CA Firma di prova", now),
        withdrawn: TestCa::new("CA Cittadini 2010", now),
        signer: TestCa::new("AgID TSL signer di prova", now),
    }
}

#[test]
fn a_signed_list_gives_the_cns_cas_only() {
    let c = cas();
    let tsl = SignedTsl::new(&c.cns, &c.qualified, &c.withdrawn, &c.signer);
    let anchors = trust::from_tsl(&tsl.config(), &tsl.path.display().to_string()).unwrap();
    let ders: Vec<Vec<u8>> = anchors.iter().map(|a| a.to_der().unwrap()).collect();
    assert_eq!(ders, vec![c.cns.cert.to_der().unwrap()]);
}

#[test]
fn tampered_unsigned_or_foreign_lists_are_refused() {
    let c = cas();
    let tsl = SignedTsl::new(&c.cns, &c.qualified, &c.withdrawn, &c.signer);
    let refused = |config: CnsConfig| {
        let source = config.tsl.clone().unwrap();
        match trust::from_tsl(&config, &source) {
            Err(TrustError::Tsl(e)) => e,
            other => panic!("not refused: {:?}", other.map(|v| v.len())),
        }
    };
    // The qualified-signature CA made to look like a CNS CA.
    assert_eq!(
        refused(tsl.tampered(
            &format!("{QC}</tsl:ServiceTypeIdentifier>"),
            &format!("{IDV}</tsl:ServiceTypeIdentifier>")
        )),
        TslError::Signature("digest mismatch")
    );
    // The withdrawn service made granted.
    assert_eq!(
        refused(tsl.tampered(WITHDRAWN, GRANTED)),
        TslError::Signature("digest mismatch")
    );
    // The signed properties changed.
    assert_eq!(
        refused(tsl.tampered(
            "2026-12-01T00:00:00Z</xades:SigningTime>",
            "2026-12-02T00:00:00Z</xades:SigningTime>"
        )),
        TslError::Signature("digest mismatch")
    );
    // A list signed by someone else (its own certificate in KeyInfo is not believed).
    let impostor = TestCa::new("Impostore", chrono::Utc::now());
    let forged = SignedTsl::new(&c.cns, &c.qualified, &c.withdrawn, &impostor);
    let config = CnsConfig {
        tsl: Some(forged.path.display().to_string()),
        ..tsl.config()
    };
    assert_eq!(
        refused(config),
        TslError::Signature("signature value does not match a pinned signer")
    );
    // No signature at all.
    let start = tsl.text.find("<ds:Signature").unwrap();
    let end = tsl.text.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let unsigned = format!("{}{}", &tsl.text[..start], &tsl.text[end..]);
    let path = tsl.path.with_file_name("unsigned.xml");
    std::fs::write(&path, unsigned).unwrap();
    assert_eq!(
        refused(CnsConfig {
            tsl: Some(path.display().to_string()),
            ..tsl.config()
        }),
        TslError::Signature("the list is not signed")
    );
    // A DTD (entity expansion) is refused before anything else.
    let path = tsl.path.with_file_name("dtd.xml");
    std::fs::write(
        &path,
        tsl.text.replacen(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]>",
            1,
        ),
    )
    .unwrap();
    assert!(matches!(
        refused(CnsConfig {
            tsl: Some(path.display().to_string()),
            ..tsl.config()
        }),
        TslError::Xml(_)
    ));
    // Larger than allowed.
    assert_eq!(
        refused(CnsConfig {
            tsl_max_bytes: 1000,
            ..tsl.config()
        }),
        TslError::TooLarge(1000)
    );
}
