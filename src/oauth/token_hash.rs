//! High-entropy random tokens (codes, refresh tokens, cookies, client secrets): created from
//! the system CSPRNG, shown once, stored only as SHA-256 (design §4: argon2 would cap token
//! issuance for no gain, since these cannot be guessed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A new random token: 32 bytes, base64url without padding (43 characters).
pub fn new_token() -> std::io::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(crate::secret_file::random_bytes::<32>()?))
}

/// A shorter random identifier (16 bytes, 22 characters), for ids that are not secrets.
pub fn new_id() -> std::io::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(crate::secret_file::random_bytes::<16>()?))
}

/// The stored form of a token: lowercase hex SHA-256.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality for secrets of any length (the length itself is not secret).
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash(&a), hash(&a));
        assert_eq!(hash(&a).len(), 64);
        assert!(eq(b"same", b"same") && !eq(b"same", b"diff") && !eq(b"a", b"ab"));
    }
}
