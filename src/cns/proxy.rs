//! The TLS-terminating proxy in front of the CNS host: which addresses may speak for it, and
//! the client certificate it forwards URL-escaped in a header (nginx
//! `$ssl_client_escaped_cert`, Apache `%{escape:%{SSL_CLIENT_CERT}s}`).

use openssl::x509::X509;
use std::net::IpAddr;
use std::str::FromStr;

/// An address or a network (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .trim()
            .split_once('/')
            .map_or((s.trim(), None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("not an IP address: {s}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad prefix length: {s}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer seen on an IPv6 socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses `cns.trusted_proxies`.
pub fn networks(list: &[String]) -> Result<Vec<Network>, String> {
    list.iter().map(|s| s.parse()).collect()
}

/// What the proxy's header says.
#[derive(Debug)]
pub enum Forwarded {
    /// The browser presented no certificate (empty header, nginx `-`/`(null)`).
    Nothing,
    /// The certificate (first) and any chain the proxy forwarded.
    Chain(Vec<X509>),
    Unreadable,
}

/// Decodes the header value: percent-decoding only (a `+` is a `+`, not a space), then PEM.
pub fn decode(value: &[u8]) -> Forwarded {
    let decoded: Vec<u8> = percent_encoding::percent_decode(value).collect();
    let text = String::from_utf8_lossy(&decoded);
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "-" || trimmed == "(null)" {
        return Forwarded::Nothing;
    }
    match X509::stack_from_pem(trimmed.as_bytes()) {
        Ok(chain) if !chain.is_empty() => Forwarded::Chain(chain),
        _ => Forwarded::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_addresses() {
        let n: Network = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: Network = "127.0.0.2".parse().unwrap();
        assert!(one.contains("127.0.0.2".parse().unwrap()));
        assert!(!one.contains("127.0.0.1".parse().unwrap()));
        let v6: Network = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("proxy.example".parse::<Network>().is_err());
    }

    #[test]
    fn empty_headers_mean_no_certificate() {
        for v in ["", "-", "(null)", "  "] {
            assert!(matches!(decode(v.as_bytes()), Forwarded::Nothing), "{v}");
        }
        assert!(matches!(
            decode(b"-----BEGIN%20CERTIFICATE-----%0Agarbage"),
            Forwarded::Unreadable
        ));
    }
}
