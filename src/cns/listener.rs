//! procura's own TLS listener for the CNS host, on OpenSSL: it asks every browser for a
//! client certificate during the handshake and lets the handshake finish whatever is
//! presented (the browser must still prove it holds the card's key), so that procura itself
//! validates the certificate and answers with a page the citizen can read, rather than a TLS
//! alert the browser shows as a network error. Its security level is its own: level 1 admits
//! RSA-1024 cards; the main listener is not affected.

use super::trust::TrustAnchors;
use crate::config::CnsConfig;
use actix_web::dev::Extensions;
use anyhow::Context;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod, SslVerifyMode};
use openssl::stack::Stack;
use openssl::x509::{X509, X509Name};
use std::any::Any;

/// `X509_V_ERR_EE_KEY_TOO_SMALL`, `X509_V_ERR_CA_KEY_TOO_SMALL`, `X509_V_ERR_CA_MD_TOO_WEAK`
/// (OpenSSL `x509_vfy.h`): the verification errors the security level raises.
const SECURITY_LEVEL_ERRORS: [i32; 3] = [66, 67, 68];

/// The certificates the browser presented on this connection (the card's first).
#[derive(Clone, Debug)]
pub struct PresentedChain(pub Vec<X509>);

/// The OpenSSL acceptor of the CNS listener.
pub fn acceptor(config: &CnsConfig, anchors: &TrustAnchors) -> anyhow::Result<SslAcceptorBuilder> {
    let cert = config
        .tls_certificate
        .as_ref()
        .context("cns.listen needs cns.tls_certificate")?;
    let key = config
        .tls_private_key
        .as_ref()
        .context("cns.listen needs cns.tls_private_key")?;
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    builder.set_security_level(config.security_level);
    builder
        .set_certificate_chain_file(cert)
        .with_context(|| format!("CNS listener certificate {}", cert.display()))?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .with_context(|| format!("CNS listener key {}", key.display()))?;
    builder.check_private_key()?;
    // Ask for a certificate and let the handshake finish whatever the chain (procura
    // decides), except what the listener's security level forbids: a key or signature hash
    // too weak for it (at level 2 and up, RSA-1024 cards), so the level means what it says.
    builder.set_verify_callback(SslVerifyMode::PEER, |preverified, ctx| {
        preverified || !SECURITY_LEVEL_ERRORS.contains(&ctx.error().as_raw())
    });
    // Tell browsers which CAs are wanted, so they offer the card's certificate.
    let mut names = Stack::<X509Name>::new()?;
    for anchor in &anchors.certificates {
        names.push(anchor.subject_name().to_owned()?)?;
    }
    builder.set_client_ca_list(names);
    // Session resumption with client certificates needs a context id.
    builder.set_session_id_context(b"procura-cns")?;
    Ok(builder)
}

/// `HttpServer::on_connect` of the CNS listener: keeps the presented chain with the
/// connection, where the `/cns/login` handler finds it.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    type Tls = actix_tls::accept::openssl::TlsStream<actix_web::rt::net::TcpStream>;
    let Some(tls) = connection.downcast_ref::<Tls>() else {
        return;
    };
    let ssl = tls.ssl();
    let mut chain = Vec::new();
    if let Some(leaf) = ssl.peer_certificate() {
        chain.push(leaf);
        // On a server, the peer chain does not repeat the leaf.
        if let Some(rest) = ssl.peer_cert_chain() {
            chain.extend(rest.iter().map(|c| c.to_owned()));
        }
    }
    data.insert(PresentedChain(chain));
}
