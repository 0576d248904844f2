//! Outbound HTTP of the CIE relying party: federation documents, the token, userinfo and
//! revocation endpoints. Every call is bounded in time (`cie.fetch_timeout_secs`, the whole
//! exchange) and size (`cie.max_document_bytes`, read with a limit), so a hostile or stalled
//! peer costs a bounded amount. `https` only, plain `http` only to the loopback interface
//! (local test federations). Blocking: callers run it on the blocking pool.

use std::io::Read;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("{0}: plain http is allowed only on the loopback interface")]
    Insecure(String),
    #[error("{url}: {reason}")]
    Failed { url: String, reason: String },
    #[error("{url}: HTTP {status}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{0}: larger than the limit")]
    TooLarge(String),
}

/// The limits of one exchange.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_bytes: usize,
}

fn check_scheme(url: &str) -> Result<(), FetchError> {
    if url.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        };
        if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Ok(());
        }
    }
    Err(FetchError::Insecure(url.to_owned()))
}

fn agent(limits: Limits) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(limits.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// A response whose status and size were checked.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

fn read(
    url: &str,
    mut response: ureq::http::Response<ureq::Body>,
    limits: Limits,
) -> Result<Fetched, FetchError> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut bytes = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(limits.max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FetchError::Failed {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    if bytes.len() > limits.max_bytes {
        return Err(FetchError::TooLarge(url.to_owned()));
    }
    let body = String::from_utf8(bytes).map_err(|_| FetchError::Failed {
        url: url.to_owned(),
        reason: "the body is not UTF-8".into(),
    })?;
    Ok(Fetched {
        status,
        content_type,
        body,
    })
}

fn ok(url: &str, fetched: Fetched) -> Result<Fetched, FetchError> {
    if fetched.status == 200 {
        Ok(fetched)
    } else {
        let mut body = fetched.body;
        body.truncate(300);
        Err(FetchError::Status {
            url: url.to_owned(),
            status: fetched.status,
            body,
        })
    }
}

/// GET `url`, optionally with a bearer token; a 200 answer only.
pub fn get(url: &str, bearer: Option<&str>, limits: Limits) -> Result<Fetched, FetchError> {
    check_scheme(url)?;
    let mut request = agent(limits).get(url);
    if let Some(token) = bearer {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let response = request.call().map_err(|e| FetchError::Failed {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    ok(url, read(url, response, limits)?)
}

/// POST a form to `url`; a 200 answer only.
pub fn post_form(url: &str, form: &[(&str, &str)], limits: Limits) -> Result<Fetched, FetchError> {
    check_scheme(url)?;
    let response = agent(limits)
        .post(url)
        .send_form(form.iter().copied())
        .map_err(|e| FetchError::Failed {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    ok(url, read(url, response, limits)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_scheme("https://oidc.registry.servizicie.interno.gov.it").is_ok());
        assert!(check_scheme("http://127.0.0.1:8000/ta").is_ok());
        assert!(check_scheme("http://localhost/x").is_ok());
        assert!(check_scheme("http://[::1]:9/").is_ok());
        assert!(check_scheme("http://127.0.0.1.evil.example/").is_err());
        assert!(check_scheme("http://example.it/").is_err());
        assert!(check_scheme("file:///etc/passwd").is_err());
    }
}
