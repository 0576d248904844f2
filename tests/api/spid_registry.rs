//! The SPID IdP registry: AgID's aggregate accepted only with the pinned signature, the
//! last-known-good copy kept when a refresh fails, every IdP signing key kept, single-file
//! sources, and instances building the same registry from the stored rows.

use crate::helpers::TestApp;
use chrono::Utc;
use procura::config::Config;
use procura::spid::certificate::Generated;
use procura::spid::dsig::{self, SigningKey};
use procura::spid::registry::{self, IdpRegistry, SourceError};
use procura::spid::uri;
use std::path::{Path, PathBuf};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const AGGREGATE: &str = include_str!("../fixtures/spid/aggregate.xml.tmpl");
const SINGLE: &str = include_str!("../fixtures/spid/single-idp.xml.tmpl");

fn pair(name: &str) -> Result<Generated, Box<dyn std::error::Error>> {
    Ok(crate::spid_support::generated(name))
}

fn signing_key(p: &Generated) -> Result<SigningKey, dsig::DsigError> {
    SigningKey::from_pem(&p.private_key_pem, &p.certificate_pem)
}

/// The base64 body of a PEM certificate, as `<ds:X509Certificate>` holds it.
fn cert_b64(p: &Generated) -> Result<String, dsig::DsigError> {
    Ok(signing_key(p)?.certificate_base64())
}

/// Keys of the test: AgID's signer, a stranger, and three IdP keys.
struct Keys {
    agid: Generated,
    stranger: Generated,
    a1: Generated,
    a2: Generated,
    b: Generated,
}

impl Keys {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Self {
            agid: pair("agid")?,
            stranger: pair("stranger")?,
            a1: pair("idp-a")?,
            a2: pair("idp-a-next")?,
            b: pair("idp-b")?,
        })
    }

    fn aggregate(&self) -> Result<String, dsig::DsigError> {
        Ok(AGGREGATE
            .replace("{{A1}}", &cert_b64(&self.a1)?)
            .replace("{{A2}}", &cert_b64(&self.a2)?)
            .replace("{{B}}", &cert_b64(&self.b)?))
    }

    fn signed_aggregate(&self, signer: &Generated) -> Result<String, dsig::DsigError> {
        dsig::sign_enveloped(&self.aggregate()?, &signing_key(signer)?)
    }
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            dir: tempfile::tempdir()?,
        })
    }

    fn write(&self, name: &str, text: &str) -> std::io::Result<PathBuf> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

async fn refresh(
    app: &TestApp,
    config: Config,
) -> Result<registry::RefreshReport, registry::RegistryError> {
    app.with_db(move |c, _, now| registry::refresh(c, &config, now))
        .await
}

async fn load(app: &TestApp) -> Result<IdpRegistry, registry::RegistryError> {
    app.with_db(|c, _, now| IdpRegistry::load_from_db(c, now))
        .await
}

async fn stored(app: &TestApp) -> Result<Vec<(String, String)>, registry::RegistryError> {
    app.with_db(|c, _, _| {
        registry::stored_sources(c)
            .map(|rows| rows.into_iter().map(|r| (r.source, r.sha256)).collect())
    })
    .await
}

fn with_registry(app: &TestApp, aggregate: &Path, pinned: &Path) -> Config {
    let mut config = app.config.clone();
    config.spid.registry = Some(path_str(aggregate));
    config.spid.registry_certificate = Some(pinned.to_path_buf());
    config
}

#[actix_web::test]
async fn aggregate_signed_by_the_pinned_key_is_accepted_with_every_idp_key() -> TestResult {
    let app = TestApp::spawn().await;
    let keys = Keys::new()?;
    let files = Files::new()?;
    let aggregate = files.write("registry.xml", &keys.signed_aggregate(&keys.agid)?)?;
    let pinned = files.write("agid.pem", &keys.agid.certificate_pem)?;
    let config = with_registry(&app, &aggregate, &pinned);

    let report = refresh(&app, config).await?;
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!(report.stored, [path_str(&aggregate)]);

    let idps = load(&app).await?;
    // Sorted by name; the expired IdP and the SP are left out.
    assert_eq!(
        idps.list(),
        [
            ("https://idp-a.example".to_owned(), "Alfa ID".to_owned()),
            ("https://idp-b.example".to_owned(), "Beta ID".to_owned()),
        ]
    );
    assert!(idps.find("https://idp-expired.example").is_none());
    assert!(idps.find("https://sp.example").is_none());

    let a = idps.find("https://idp-a.example").ok_or("idp-a missing")?;
    // Both signing keys (rotation), not the encryption key, never the aggregate's signer.
    let ders: Vec<Vec<u8>> = a
        .signing_keys
        .iter()
        .map(|k| k.certificate_der().to_vec())
        .collect();
    let der = |p: &Generated| signing_key(p).map(|k| k.certificate_der().to_vec());
    assert_eq!(ders, [der(&keys.a1)?, der(&keys.a2)?]);
    assert!(!ders.contains(&der(&keys.agid)?));
    assert!(a.want_authn_requests_signed);
    assert_eq!(
        a.sso_location(uri::BINDING_REDIRECT),
        Some("https://idp-a.example/sso/redirect")
    );
    assert_eq!(
        a.sso_location(uri::BINDING_POST),
        Some("https://idp-a.example/sso/post")
    );
    let slo = a.slo_endpoint(uri::BINDING_REDIRECT).ok_or("no SLO")?;
    assert_eq!(
        slo.response_location.as_deref(),
        Some("https://idp-a.example/slo/redirect/response")
    );
    assert_eq!(
        a.single_logout.len(),
        2,
        "SOAP is not a binding procura uses"
    );

    let b = idps.find("https://idp-b.example").ok_or("idp-b missing")?;
    assert_eq!(
        b.signing_keys.len(),
        1,
        "KeyDescriptor without use is a signing key"
    );
    assert!(!b.want_authn_requests_signed);
    assert_eq!(b.sso_location(uri::BINDING_REDIRECT), None);
    Ok(())
}

#[actix_web::test]
async fn aggregate_signed_by_another_key_is_refused_and_the_last_good_copy_kept() -> TestResult {
    let app = TestApp::spawn().await;
    let keys = Keys::new()?;
    let files = Files::new()?;
    let aggregate = files.write("registry.xml", &keys.signed_aggregate(&keys.agid)?)?;
    let pinned = files.write("agid.pem", &keys.agid.certificate_pem)?;
    let config = with_registry(&app, &aggregate, &pinned);
    assert!(refresh(&app, config.clone()).await?.is_complete());
    let before = stored(&app).await?;

    // The same document signed by a stranger (with its own certificate in KeyInfo).
    files.write("registry.xml", &keys.signed_aggregate(&keys.stranger)?)?;
    let report = refresh(&app, config).await?;
    assert!(report.stored.is_empty());
    let [(source, error)] = report.failed.as_slice() else {
        return Err(format!("expected one failure: {:?}", report.failed).into());
    };
    assert_eq!(source, &path_str(&aggregate));
    assert!(matches!(error, SourceError::Signature(_)), "{error}");

    assert_eq!(stored(&app).await?, before, "the last good copy stays");
    assert_eq!(load(&app).await?.len(), 2);
    Ok(())
}

#[actix_web::test]
async fn tampered_or_unsigned_aggregates_are_refused() -> TestResult {
    let app = TestApp::spawn().await;
    let keys = Keys::new()?;
    let files = Files::new()?;
    let pinned = files.write("agid.pem", &keys.agid.certificate_pem)?;
    let signed = keys.signed_aggregate(&keys.agid)?;
    // An IdP's SSO location redirected after signing.
    let tampered = signed.replace("https://idp-b.example/sso", "https://evil.example/sso");
    assert_ne!(tampered, signed);
    for (name, text) in [
        ("tampered.xml", tampered),
        ("unsigned.xml", keys.aggregate()?),
    ] {
        let path = files.write(name, &text)?;
        let report = refresh(&app, with_registry(&app, &path, &pinned)).await?;
        let [(_, error)] = report.failed.as_slice() else {
            return Err(format!("{name}: expected one failure: {:?}", report.failed).into());
        };
        assert!(
            matches!(error, SourceError::Signature(_)),
            "{name}: {error}"
        );
    }
    assert!(stored(&app).await?.is_empty());
    assert!(load(&app).await?.is_empty());

    // Without a pinned certificate the aggregate is not trusted at all.
    let path = files.write("registry.xml", &signed)?;
    let mut config = with_registry(&app, &path, &pinned);
    config.spid.registry_certificate = None;
    let report = refresh(&app, config).await?;
    assert!(matches!(
        report.failed.first(),
        Some((_, SourceError::PinnedCertificate(_)))
    ));
    assert!(stored(&app).await?.is_empty());
    Ok(())
}

#[actix_web::test]
async fn a_single_idp_file_is_a_source_of_its_own() -> TestResult {
    let app = TestApp::spawn().await;
    let test_idp = pair("test-idp")?;
    let files = Files::new()?;
    let path = files.write("idp.xml", &SINGLE.replace("{{T}}", &cert_b64(&test_idp)?))?;
    let mut config = app.config.clone();
    config.spid.idp_metadata = vec![format!("file://{}", path.display())];

    let stale = |config: Config, since: chrono::DateTime<Utc>| {
        app.with_db(move |c, _, _| procura::spid::registry_is_stale(c, &config, since))
    };
    assert!(
        stale(config.clone(), app.clock_now()).await?,
        "never stored"
    );
    let report = refresh(&app, config.clone()).await?;
    assert!(report.is_complete(), "{:?}", report.failed);
    let hour = chrono::Duration::hours(1);
    assert!(
        !stale(config.clone(), app.clock_now() - hour).await?,
        "fresh"
    );
    assert!(
        stale(config.clone(), app.clock_now() + hour).await?,
        "older than wanted"
    );
    let mut more = config.clone();
    more.spid
        .idp_metadata
        .push("file:///nonexistent/other.xml".into());
    assert!(
        stale(more, app.clock_now() - hour).await?,
        "a source never stored"
    );
    let idps = load(&app).await?;
    // No Organization: the entityID is the name.
    assert_eq!(
        idps.list(),
        [(
            "https://localhost:8443".to_owned(),
            "https://localhost:8443".to_owned()
        )]
    );
    let idp = idps.find("https://localhost:8443").ok_or("missing")?;
    assert_eq!(idp.signing_keys.len(), 1);
    assert_eq!(
        idp.sso_location(uri::BINDING_POST),
        Some("https://localhost:8443/samlsso")
    );

    // A broken file keeps the stored copy.
    files.write("idp.xml", "<md:EntityDescriptor")?;
    let report = refresh(&app, config.clone()).await?;
    assert!(matches!(
        report.failed.first(),
        Some((_, SourceError::Metadata(_)))
    ));
    assert_eq!(load(&app).await?.len(), 1);

    // Plain http is for the loopback interface only.
    config.spid.idp_metadata = vec!["http://idp.example/metadata".into()];
    let report = refresh(&app, config).await?;
    assert!(matches!(
        report.failed.first(),
        Some((_, SourceError::Fetch(_)))
    ));
    Ok(())
}

#[actix_web::test]
async fn every_instance_builds_the_same_registry_from_the_database() -> TestResult {
    let app = TestApp::spawn().await;
    let keys = Keys::new()?;
    let test_idp = pair("test-idp")?;
    let files = Files::new()?;
    let aggregate = files.write("registry.xml", &keys.signed_aggregate(&keys.agid)?)?;
    let pinned = files.write("agid.pem", &keys.agid.certificate_pem)?;
    let single = files.write("idp.xml", &SINGLE.replace("{{T}}", &cert_b64(&test_idp)?))?;

    // Instance 2 started before any refresh: empty.
    let other_instance = load(&app).await?;
    assert!(other_instance.is_empty());

    // Instance 1 refreshes both sources.
    let mut config = with_registry(&app, &aggregate, &pinned);
    config.spid.idp_metadata = vec![path_str(&single)];
    assert!(refresh(&app, config.clone()).await?.is_complete());

    // Instance 2 reloads from the rows, without fetching anything itself.
    let clone = other_instance.clone();
    let count = app.with_db(move |c, _, now| clone.reload(c, now)).await?;
    assert_eq!(count, 3);
    let names: Vec<String> = other_instance.list().into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["Alfa ID", "Beta ID", "https://localhost:8443"]);
    assert_eq!(
        other_instance
            .find("https://idp-a.example")
            .map(|i| i.signing_keys.len()),
        Some(2)
    );
    assert_eq!(stored(&app).await?.len(), 2);

    // A source dropped from the configuration goes from the rows too.
    config.spid.idp_metadata.clear();
    let report = refresh(&app, config).await?;
    assert_eq!(report.removed, [path_str(&single)]);
    assert_eq!(load(&app).await?.len(), 2);

    Ok(())
}

#[actix_web::test]
async fn metadata_beyond_the_metadata_limits_is_refused_and_the_last_good_copy_kept() -> TestResult
{
    let app = TestApp::spawn().await;
    let keys = Keys::new()?;
    let files = Files::new()?;
    let aggregate = files.write("registry.xml", &keys.signed_aggregate(&keys.agid)?)?;
    let pinned = files.write("agid.pem", &keys.agid.certificate_pem)?;
    let config = with_registry(&app, &aggregate, &pinned);
    assert!(refresh(&app, config.clone()).await?.is_complete());
    let before = stored(&app).await?;

    // The same signed aggregate, under configured limits it does not fit: refused before it
    // is parsed, with the limit named; the stored copy stays and still loads.
    let mut tight = config.clone();
    tight.spid.metadata_limits.max_depth = Some(4);
    let report = refresh(&app, tight).await?;
    let [(_, error)] = report.failed.as_slice() else {
        return Err(format!("expected one failure: {:?}", report.failed).into());
    };
    assert!(
        matches!(
            error,
            SourceError::Xml(procura::spid::xml::XmlError::Limit("depth", 4))
        ),
        "{error}"
    );
    assert_eq!(stored(&app).await?, before);
    assert_eq!(load(&app).await?.len(), 2);

    // Its size limit too, with its own key (the message limit is far smaller).
    let mut small = config;
    small.spid.max_metadata_bytes = 1024;
    let report = refresh(&app, small).await?;
    assert!(
        matches!(report.failed.as_slice(), [(_, SourceError::TooLarge(1024))]),
        "{:?}",
        report.failed
    );
    Ok(())
}
