//! Outbound fetches of the CNS validation (OCSP, CRL, the trusted list): bounded in time
//! and size, blocking (callers run on the blocking pool, never on an async worker).

use std::io::Read;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("only http and https URLs are fetched: {0}")]
    Scheme(String),
    #[error("{0}")]
    Transport(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
}

/// GET `url` (POST `body` with `content_type` when given), at most `timeout` for the whole
/// exchange and `max_bytes` of answer.
pub fn fetch(
    url: &str,
    body: Option<(&[u8], &str)>,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, FetchError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(FetchError::Scheme(url.chars().take(64).collect()));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let response = match body {
        Some((bytes, content_type)) => agent
            .post(url)
            .header("Content-Type", content_type)
            .send(bytes),
        None => agent.get(url).call(),
    };
    let mut response = response.map_err(|e| FetchError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    let mut bytes = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FetchError::Transport(e.to_string()))?;
    if bytes.len() > max_bytes {
        return Err(FetchError::TooLarge(max_bytes));
    }
    Ok(bytes)
}
