//! CNS fixtures: a test PKI made in the test with the openssl crate (a CA, cards of any
//! key size and profile, CRLs), an OCSP responder answering real signed responses (the
//! `openssl ocsp` command on the CA's index file, behind a small HTTP server that also serves
//! the CRL), a TLS client presenting a card, and a TLS-terminating proxy that forwards the
//! card URL-escaped in a header from its own address (127.0.0.2), as nginx would.

use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{SslAcceptor, SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{
    X509, X509Builder, X509CrlBuilder, X509Extension, X509NameBuilder, X509RevokedBuilder,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

static SERIAL: AtomicU32 = AtomicU32::new(0x1000);

pub const CNS_POLICY: &str = "1.3.76.16.2.1";

pub fn rsa_key(bits: u32) -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap()
}

fn asn1_time(t: chrono::DateTime<chrono::Utc>) -> Asn1Time {
    Asn1Time::from_unix(t.timestamp()).unwrap()
}

fn serial() -> Asn1Integer {
    BigNum::from_u32(SERIAL.fetch_add(1, Ordering::Relaxed))
        .unwrap()
        .to_asn1_integer()
        .unwrap()
}

fn raw_extension(oid: &str, der: &[u8]) -> X509Extension {
    X509Extension::new_from_der(
        &Asn1Object::from_str(oid).unwrap(),
        false,
        &Asn1OctetString::new_from_bytes(der).unwrap(),
    )
    .unwrap()
}

/// `certificatePolicies` with the one policy `oid` (no qualifiers), in DER.
fn policies_der(oid: &str) -> Vec<u8> {
    let arcs: Vec<u64> = oid.split('.').map(|a| a.parse().unwrap()).collect();
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut bytes = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            bytes.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        bytes.reverse();
        body.extend(bytes);
    }
    let oid = [vec![0x06, body.len() as u8], body].concat();
    let info = [vec![0x30, oid.len() as u8], oid].concat();
    [vec![0x30, info.len() as u8], info].concat()
}

/// A certification authority of the test.
pub struct TestCa {
    pub cert: X509,
    pub key: PKey<Private>,
    pub dir: tempfile::TempDir,
}

/// What a card's certificate says.
#[derive(Clone)]
pub struct CardSpec {
    pub key_bits: u32,
    pub common_name: String,
    pub policy: String,
    pub not_before: chrono::DateTime<chrono::Utc>,
    pub not_after: chrono::DateTime<chrono::Utc>,
    pub ocsp_url: Option<String>,
    pub crl_url: Option<String>,
}

impl CardSpec {
    /// A CNS card of `codice_fiscale` valid around `now`.
    pub fn new(codice_fiscale: &str, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            key_bits: 2048,
            common_name: format!("{codice_fiscale}/6120016461039008.i1ZpZfaCX/eKyikBfnF8to+M2T8="),
            policy: CNS_POLICY.into(),
            not_before: now - chrono::Duration::days(365),
            not_after: now + chrono::Duration::days(365),
            ocsp_url: None,
            crl_url: None,
        }
    }
}

/// A card: its certificate and private key.
pub struct Card {
    pub cert: X509,
    pub key: PKey<Private>,
}

impl Card {
    pub fn pem(&self) -> String {
        String::from_utf8(self.cert.to_pem().unwrap()).unwrap()
    }

    /// The hex serial as `openssl ocsp` indexes it.
    pub fn serial_hex(&self) -> String {
        self.cert
            .serial_number()
            .to_bn()
            .unwrap()
            .to_hex_str()
            .unwrap()
            .to_string()
    }
}

impl TestCa {
    pub fn new(name: &str, now: chrono::DateTime<chrono::Utc>) -> Self {
        let key = rsa_key(2048);
        let mut n = X509NameBuilder::new().unwrap();
        n.append_entry_by_nid(Nid::COUNTRYNAME, "IT").unwrap();
        n.append_entry_by_nid(Nid::ORGANIZATIONNAME, "Prova S.p.A.")
            .unwrap();
        n.append_entry_by_nid(Nid::COMMONNAME, name).unwrap();
        let name = n.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&serial()).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&asn1_time(now - chrono::Duration::days(3650)))
            .unwrap();
        b.set_not_after(&asn1_time(now + chrono::Duration::days(3650)))
            .unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
        let ski = SubjectKeyIdentifier::new()
            .build(&b.x509v3_context(None, None))
            .unwrap();
        b.append_extension(ski).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let ca = Self {
            cert: b.build(),
            key,
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(ca.dir.path().join("ca.pem"), ca.cert.to_pem().unwrap()).unwrap();
        std::fs::write(
            ca.dir.path().join("ca.key"),
            ca.key.private_key_to_pem_pkcs8().unwrap(),
        )
        .unwrap();
        std::fs::write(ca.dir.path().join("index.txt"), "").unwrap();
        // Every test card has the same index subject.
        std::fs::write(
            ca.dir.path().join("index.txt.attr"),
            "unique_subject = no\n",
        )
        .unwrap();
        ca
    }

    pub fn pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Issues a card; `openssl ocsp` will know it as valid.
    #[allow(deprecated)] // X509Extension::new_nid: the config-string form is the short way here
    pub fn issue(&self, spec: &CardSpec) -> Card {
        let key = rsa_key(spec.key_bits);
        let mut n = X509NameBuilder::new().unwrap();
        n.append_entry_by_nid(Nid::COUNTRYNAME, "IT").unwrap();
        n.append_entry_by_nid(Nid::ORGANIZATIONNAME, "Prova S.p.A.")
            .unwrap();
        n.append_entry_by_nid(Nid::ORGANIZATIONALUNITNAME, "Regione di Prova")
            .unwrap();
        n.append_entry_by_nid(Nid::SURNAME, "ROSSI").unwrap();
        n.append_entry_by_nid(Nid::GIVENNAME, "MARIO").unwrap();
        n.append_entry_by_nid(Nid::COMMONNAME, &spec.common_name)
            .unwrap();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&serial()).unwrap();
        b.set_subject_name(&n.build()).unwrap();
        b.set_issuer_name(self.cert.subject_name()).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&asn1_time(spec.not_before)).unwrap();
        b.set_not_after(&asn1_time(spec.not_after)).unwrap();
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .build()
                .unwrap(),
        )
        .unwrap();
        b.append_extension(ExtendedKeyUsage::new().client_auth().build().unwrap())
            .unwrap();
        let ext = |nid, value: &str| X509Extension::new_nid(None, None, nid, value).unwrap();
        b.append_extension(raw_extension("2.5.29.32", &policies_der(&spec.policy)))
            .unwrap();
        if let Some(url) = &spec.ocsp_url {
            b.append_extension(ext(Nid::INFO_ACCESS, &format!("OCSP;URI:{url}")))
                .unwrap();
        }
        if let Some(url) = &spec.crl_url {
            b.append_extension(ext(Nid::CRL_DISTRIBUTION_POINTS, &format!("URI:{url}")))
                .unwrap();
        }
        b.sign(&self.key, MessageDigest::sha256()).unwrap();
        let card = Card {
            cert: b.build(),
            key,
        };
        self.index(&card, None);
        card
    }

    fn index(&self, card: &Card, revoked_at: Option<&str>) {
        let path = self.dir.path().join("index.txt");
        let mut text = std::fs::read_to_string(&path).unwrap();
        let line_of = |status: &str, revoked: &str| {
            format!(
                "{status}\t491231000000Z\t{revoked}\t{}\tunknown\t/CN=card\n",
                card.serial_hex()
            )
        };
        text = text.replace(&line_of("V", ""), "");
        text.push_str(&match revoked_at {
            None => line_of("V", ""),
            Some(at) => line_of("R", at),
        });
        std::fs::write(&path, text).unwrap();
    }

    /// Marks the card revoked for the OCSP responder.
    pub fn revoke_in_ocsp(&self, card: &Card) {
        self.index(card, Some("261101000000Z"));
    }

    /// A CRL of this CA listing `revoked`, valid from `now` for a day.
    pub fn crl(&self, revoked: &[&Card], now: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
        let mut b = X509CrlBuilder::new().unwrap();
        b.set_issuer_name(self.cert.subject_name()).unwrap();
        b.set_last_update(&asn1_time(now - chrono::Duration::hours(1)))
            .unwrap();
        b.set_next_update(&asn1_time(now + chrono::Duration::days(1)))
            .unwrap();
        for card in revoked {
            let mut r = X509RevokedBuilder::new().unwrap();
            r.set_serial_number(card.cert.serial_number()).unwrap();
            r.set_revocation_date(&asn1_time(now - chrono::Duration::days(1)))
                .unwrap();
            b.add_revoked(r.build()).unwrap();
        }
        // AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier }, which OpenSSL requires.
        let key_id = self.cert.subject_key_id().unwrap().as_slice().to_vec();
        let mut aki = vec![0x30, key_id.len() as u8 + 2, 0x80, key_id.len() as u8];
        aki.extend_from_slice(&key_id);
        b.append_extension(raw_extension("2.5.29.35", &aki))
            .unwrap();
        // CRLNumber ::= INTEGER
        b.append_extension(raw_extension("2.5.29.20", &[0x02, 0x01, 0x01]))
            .unwrap();
        b.sign(&self.key, MessageDigest::sha256()).unwrap();
        b.build().unwrap().to_der().unwrap()
    }
}

/// The CA's OCSP responder and CRL server on loopback, counting what it is asked.
pub struct Responder {
    pub base: String,
    pub ocsp_requests: Arc<AtomicUsize>,
    pub crl: Arc<Mutex<Vec<u8>>>,
}

impl Responder {
    pub fn start(ca: &TestCa) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let ocsp_requests = Arc::new(AtomicUsize::new(0));
        let crl = Arc::new(Mutex::new(Vec::new()));
        let dir = ca.dir.path().to_owned();
        let (count, crl_bytes) = (ocsp_requests.clone(), crl.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (dir, count, crl_bytes) = (dir.clone(), count.clone(), crl_bytes.clone());
                std::thread::spawn(move || {
                    let (path, body) = read_request(&mut stream);
                    let answer = if path.starts_with("/ocsp") {
                        count.fetch_add(1, Ordering::SeqCst);
                        Some(ocsp_answer(&dir, &body))
                    } else if path.starts_with("/slow-ocsp") {
                        // A good answer, three seconds late.
                        std::thread::sleep(std::time::Duration::from_secs(3));
                        Some(ocsp_answer(&dir, &body))
                    } else if path.starts_with("/ca.crl") {
                        Some(crl_bytes.lock().unwrap().clone()).filter(|c| !c.is_empty())
                    } else {
                        None
                    };
                    let _ = match answer {
                        Some(bytes) => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                bytes.len()
                            );
                            stream
                                .write_all(head.as_bytes())
                                .and_then(|_| stream.write_all(&bytes))
                        }
                        None => stream.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        ),
                    };
                });
            }
        });
        Self {
            base,
            ocsp_requests,
            crl,
        }
    }

    pub fn ocsp_url(&self) -> String {
        format!("{}/ocsp", self.base)
    }

    pub fn crl_url(&self) -> String {
        format!("{}/ca.crl", self.base)
    }

    pub fn publish_crl(&self, der: Vec<u8>) {
        *self.crl.lock().unwrap() = der;
    }
}

/// A real signed OCSP response from `openssl ocsp` acting as the CA's responder.
fn ocsp_answer(dir: &Path, request: &[u8]) -> Vec<u8> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (req, resp) = (
        dir.join(format!("{id}.req")),
        dir.join(format!("{id}.resp")),
    );
    std::fs::write(&req, request).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["ocsp", "-index"])
        .arg(dir.join("index.txt"))
        .arg("-CA")
        .arg(dir.join("ca.pem"))
        .arg("-rsigner")
        .arg(dir.join("ca.pem"))
        .arg("-rkey")
        .arg(dir.join("ca.key"))
        .arg("-reqin")
        .arg(&req)
        .arg("-respout")
        .arg(&resp)
        .args(["-ndays", "1"])
        .output()
        .expect("the openssl command (scripts/deps.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&resp).unwrap()
}

/// Reads one HTTP/1.1 request: its path and body.
fn read_request(stream: &mut impl Read) -> (String, Vec<u8>) {
    let (head, mut body) = read_head(stream);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let length = header_value(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while body.len() < length {
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    (path, body)
}

/// The request or response head (text) and the bytes read past it.
fn read_head(stream: &mut impl Read) -> (String, Vec<u8>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            return (head, data[end + 4..].to_vec());
        }
        let n = stream.read(&mut buf).unwrap_or(0);
        if n == 0 {
            return (String::from_utf8_lossy(&data).into_owned(), Vec::new());
        }
        data.extend_from_slice(&buf[..n]);
    }
}

fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// An HTTP answer read off a socket.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> String {
        header_value(&self.head, "location").unwrap_or_else(|| panic!("no Location: {self:?}"))
    }
}

fn read_answer(stream: &mut impl Read) -> Answer {
    let (head, mut body) = read_head(stream);
    let _ = stream.read_to_end(&mut body);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A browser presenting `card` over TLS to `addr` (OpenSSL at security level 0 on the
/// client side, so a 1024-bit card can be presented at all): GET `path` with `headers`.
pub fn tls_get(
    addr: SocketAddr,
    card: Option<&Card>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, String> {
    let mut c = SslConnector::builder(SslMethod::tls_client()).unwrap();
    c.set_security_level(0);
    c.set_verify(SslVerifyMode::NONE);
    if let Some(card) = card {
        c.set_certificate(&card.cert).unwrap();
        c.set_private_key(&card.key).unwrap();
    }
    let connector = c.build();
    let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut tls = connector
        .configure()
        .unwrap()
        .verify_hostname(false)
        .connect("cns.procura.test", tcp)
        .map_err(|e| e.to_string())?;
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: cns.procura.test\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    // Under TLS 1.3 the server judges the client certificate after the client has finished
    // its side of the handshake: a refusal is an alert and no HTTP answer at all.
    let answer = read_answer(&mut tls);
    if answer.status == 0 {
        return Err("the connection closed without an HTTP answer".into());
    }
    Ok(answer)
}

/// A self-signed server certificate and key for a TLS endpoint of the test, as PEM files.
pub fn server_identity(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let now = chrono::Utc::now();
    let ca = TestCa::new(name, now);
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, ca.cert.to_pem().unwrap()).unwrap();
    std::fs::write(&key, ca.key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (cert, key)
}

/// URL-escapes every byte but the unreserved ones (nginx `$ssl_client_escaped_cert`).
pub fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A TLS-terminating proxy: asks for a client certificate (any; procura judges it), and
/// forwards each request to `upstream` from 127.0.0.2 with the certificate URL-escaped in
/// `header` (any client copy of that header is dropped, as the proxy must).
pub struct Proxy {
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Proxy {
    pub fn start(upstream: SocketAddr, header: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = server_identity(dir.path(), "proxy");
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        b.set_security_level(0);
        b.set_certificate_chain_file(&cert).unwrap();
        b.set_private_key_file(&key, SslFiletype::PEM).unwrap();
        b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        let acceptor = b.build();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let header = header.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Ok(mut tls) = acceptor.accept(stream) else {
                    continue;
                };
                let (head, _) = read_head(&mut tls);
                let request_line = head.lines().next().unwrap_or("GET / HTTP/1.1").to_owned();
                let cert = tls
                    .ssl()
                    .peer_certificate()
                    .map(|c| url_escape(&String::from_utf8(c.to_pem().unwrap()).unwrap()))
                    .unwrap_or_default();
                let socket =
                    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                        .unwrap();
                socket
                    .bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
                    .unwrap();
                socket.connect(&upstream.into()).unwrap();
                let mut up: TcpStream = socket.into();
                let forwarded = format!(
                    "{request_line}\r\nHost: cns.procura.test\r\n{header}: {cert}\r\nConnection: close\r\n\r\n"
                );
                up.write_all(forwarded.as_bytes()).unwrap();
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer);
                let _ = tls.write_all(&answer);
                let _ = tls.shutdown();
            }
        });
        Self { addr, _dir: dir }
    }
}
