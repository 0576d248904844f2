//! JWS and JWE for the CIE relying party, on josekit (OpenSSL), with the algorithm lists of
//! the SPID/CIE OpenID Connect rules (`cryptographic_algos.rst`) and nothing else:
//!
//! - signatures: RS256 and RS512 with RSA keys of at least 2048 bits, ES256 (P-256);
//!   never `none`, HS*, PS* or anything else;
//! - key encryption: RSA-OAEP, RSA-OAEP-256, ECDH-ES (P-256); never RSA1_5;
//! - content encryption: A128CBC-HS256, A256CBC-HS512; no `zip` (a compressed JWE could
//!   inflate without bound before anything is checked).
//!
//! Headers are read (bounded) before any key operation, so a refused algorithm never reaches
//! OpenSSL. Keys come from the caller (trust chain metadata, procura's own key sets), never
//! from a header (`jwk`, `jku`, `x5u` are ignored).

use super::keys::{EcKey, RsaKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use serde_json::{Map, Value};

pub const SIGNING_ALGS: &[&str] = &["RS256", "RS512", "ES256"];
pub const KEY_ENCRYPTION_ALGS: &[&str] = &["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES"];
pub const CONTENT_ENCRYPTION_ALGS: &[&str] = &["A128CBC-HS256", "A256CBC-HS512"];
pub const MIN_RSA_BITS: usize = 2048;
/// Largest compact JWS or JWE accepted (federation statements and tokens are a few KiB).
pub const MAX_TOKEN_BYTES: usize = 128 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JoseError {
    #[error("not a compact JWS/JWE: {0}")]
    Malformed(&'static str),
    #[error("larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("algorithm not allowed: {0}")]
    Algorithm(String),
    #[error("no usable key for kid {0:?}")]
    UnknownKey(Option<String>),
    #[error("signature does not verify")]
    Signature,
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// The decoded protected header of a compact token.
pub fn header(token: &str) -> Result<Map<String, Value>, JoseError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JoseError::TooLarge);
    }
    let first = token.split('.').next().unwrap_or("");
    let bytes = URL_SAFE_NO_PAD
        .decode(first)
        .map_err(|_| JoseError::Malformed("header is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JoseError::Malformed("header is not a JSON object")),
    }
}

/// Whether `token` is a compact JWE (five parts) rather than a JWS (three).
pub fn is_jwe(token: &str) -> bool {
    token.split('.').count() == 5
}

fn str_member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    map.get(name).and_then(Value::as_str)
}

/// The modulus size of an RSA JWK, in bits.
fn rsa_bits(jwk: &Jwk) -> Option<usize> {
    let n = jwk.parameter("n")?.as_str()?;
    let bytes = URL_SAFE_NO_PAD.decode(n).ok()?;
    let significant = bytes.iter().skip_while(|b| **b == 0).count();
    let top = bytes.iter().find(|b| **b != 0).copied()?;
    Some(significant * 8 - top.leading_zeros() as usize)
}

/// The signature keys out of a JWKS (`{"keys":[…]}` or the list): RSA keys of at least 2048
/// bits and P-256 keys, whose `use` (if any) is `sig`. Anything else is left out.
pub fn signature_keys(jwks: &Value) -> Vec<Jwk> {
    let list = match jwks {
        Value::Object(o) => o.get("keys").and_then(Value::as_array),
        Value::Array(a) => Some(a),
        _ => None,
    };
    list.into_iter()
        .flatten()
        .filter_map(|v| match v {
            Value::Object(o) => Jwk::from_map(o.clone()).ok(),
            _ => None,
        })
        .filter(|k| k.key_use().is_none_or(|u| u == "sig"))
        .filter(|k| match k.key_type() {
            "RSA" => rsa_bits(k).is_some_and(|b| b >= MIN_RSA_BITS),
            "EC" => k.curve() == Some("P-256"),
            _ => false,
        })
        .collect()
}

/// A JWKS document of public keys.
pub fn jwks_value(keys: &[Jwk]) -> Value {
    Value::Object(Map::from_iter([(
        "keys".to_owned(),
        Value::Array(
            keys.iter()
                .map(|k| Value::Object(k.as_ref().clone()))
                .collect(),
        ),
    )]))
}

/// A verified JWS: its header and its payload (a JSON object).
#[derive(Debug, Clone)]
pub struct Verified {
    pub header: Map<String, Value>,
    pub payload: Map<String, Value>,
    /// The kid of the key that verified it.
    pub kid: Option<String>,
}

/// Verifies a compact JWS with one of `keys` (chosen by `kid`; without a `kid` each key of
/// the right type is tried). The payload must be a JSON object.
pub fn verify(token: &str, keys: &[Jwk]) -> Result<Verified, JoseError> {
    if is_jwe(token) || token.split('.').count() != 3 {
        return Err(JoseError::Malformed("a JWS has three parts"));
    }
    let header = header(token)?;
    let alg = str_member(&header, "alg").unwrap_or("").to_owned();
    if !SIGNING_ALGS.contains(&alg.as_str()) {
        return Err(JoseError::Algorithm(alg));
    }
    if header.contains_key("crit") {
        return Err(JoseError::Malformed("critical header parameters"));
    }
    let kid = str_member(&header, "kid").map(str::to_owned);
    let wanted_type = if alg.starts_with("RS") { "RSA" } else { "EC" };
    let candidates = keys.iter().filter(|k| {
        k.key_type() == wanted_type
            && match &kid {
                Some(kid) => k.key_id() == Some(kid.as_str()),
                None => true,
            }
    });
    let mut tried = false;
    for key in candidates {
        tried = true;
        let verified = match alg.as_str() {
            "RS256" => josekit::jws::RS256
                .verifier_from_jwk(key)
                .and_then(|v| josekit::jws::deserialize_compact(token, &v)),
            "RS512" => josekit::jws::RS512
                .verifier_from_jwk(key)
                .and_then(|v| josekit::jws::deserialize_compact(token, &v)),
            _ => josekit::jws::ES256
                .verifier_from_jwk(key)
                .and_then(|v| josekit::jws::deserialize_compact(token, &v)),
        };
        if let Ok((payload, _)) = verified {
            return match serde_json::from_slice(&payload) {
                Ok(Value::Object(payload)) => Ok(Verified {
                    header,
                    payload,
                    kid: key.key_id().map(str::to_owned),
                }),
                _ => Err(JoseError::Malformed("payload is not a JSON object")),
            };
        }
    }
    if tried {
        Err(JoseError::Signature)
    } else {
        Err(JoseError::UnknownKey(kid))
    }
}

/// The payload of a compact JWS, NOT verified: only to learn whom to ask for keys (the
/// `iss` of a statement); nothing read here is trusted.
pub fn peek_payload(token: &str) -> Result<Map<String, Value>, JoseError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JoseError::TooLarge);
    }
    let mut parts = token.split('.');
    let payload = parts
        .nth(1)
        .ok_or(JoseError::Malformed("no payload part"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JoseError::Malformed("payload is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JoseError::Malformed("payload is not a JSON object")),
    }
}

/// Signs `claims` with RS256 and the key's `kid`, with header `typ` when given.
pub fn sign(
    claims: &Map<String, Value>,
    typ: Option<&str>,
    key: &RsaKey,
) -> Result<String, JoseError> {
    let signer = josekit::jws::RS256
        .signer_from_pem(key.pem())
        .map_err(|e| JoseError::Sign(e.to_string()))?;
    let mut header = josekit::jws::JwsHeader::new();
    header.set_key_id(key.kid());
    if let Some(typ) = typ {
        header.set_token_type(typ);
    }
    let payload = serde_json::to_vec(claims).map_err(|e| JoseError::Sign(e.to_string()))?;
    josekit::jws::serialize_compact(&payload, &header, &signer)
        .map_err(|e| JoseError::Sign(e.to_string()))
}

/// procura's decryption keys, RSA and EC.
pub struct DecryptionKeys<'a> {
    pub rsa: &'a [std::sync::Arc<RsaKey>],
    pub ec: &'a [std::sync::Arc<EcKey>],
}

/// Decrypts a compact JWE addressed to one of procura's keys; returns the plaintext (for a
/// nested JWT, the inner JWS).
pub fn decrypt(token: &str, keys: &DecryptionKeys<'_>) -> Result<Vec<u8>, JoseError> {
    if !is_jwe(token) {
        return Err(JoseError::Malformed("a JWE has five parts"));
    }
    let header = header(token)?;
    let alg = str_member(&header, "alg").unwrap_or("").to_owned();
    let enc = str_member(&header, "enc").unwrap_or("").to_owned();
    if !KEY_ENCRYPTION_ALGS.contains(&alg.as_str()) {
        return Err(JoseError::Algorithm(alg));
    }
    if !CONTENT_ENCRYPTION_ALGS.contains(&enc.as_str()) {
        return Err(JoseError::Algorithm(enc));
    }
    if header.contains_key("zip") || header.contains_key("crit") {
        return Err(JoseError::Malformed("compressed or critical JWE"));
    }
    let kid = str_member(&header, "kid");
    let last_error = |e: josekit::JoseError| JoseError::Decrypt(e.to_string());
    let mut error = JoseError::UnknownKey(kid.map(str::to_owned));
    if alg == "ECDH-ES" {
        for key in keys
            .ec
            .iter()
            .filter(|k| kid.is_none_or(|id| id == k.kid()))
        {
            let result = josekit::jwe::ECDH_ES
                .decrypter_from_pem(key.pem())
                .and_then(|d| josekit::jwe::deserialize_compact(token, &d));
            match result {
                Ok((plain, _)) => return Ok(plain),
                Err(e) => error = last_error(e),
            }
        }
    } else {
        let algorithm = if alg == "RSA-OAEP" {
            josekit::jwe::RSA_OAEP
        } else {
            josekit::jwe::RSA_OAEP_256
        };
        for key in keys
            .rsa
            .iter()
            .filter(|k| kid.is_none_or(|id| id == k.kid()))
        {
            let result = algorithm
                .decrypter_from_pem(key.pem())
                .and_then(|d| josekit::jwe::deserialize_compact(token, &d));
            match result {
                Ok((plain, _)) => return Ok(plain),
                Err(e) => error = last_error(e),
            }
        }
    }
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cie::keys::CieKeys;
    use josekit::jwe::JweHeader;

    fn claims() -> Map<String, Value> {
        serde_json::json!({"sub": "x", "n": 1})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn sign_verify_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, _) = CieKeys::load(dir.path(), true).unwrap();
        let now = chrono::Utc::now();
        let key = keys.signing.signing_key(now);
        let token = sign(&claims(), Some("JWT"), &key).unwrap();
        let public = vec![key.public_jwk("sig", None)];
        let v = verify(&token, &public).unwrap();
        assert_eq!(v.payload, claims());
        assert_eq!(v.header["typ"], "JWT");
        // Another key, a tampered payload, `none`, HS256: refused.
        let other = keys.federation.signing_key(now).public_jwk("sig", None);
        assert_eq!(
            verify(&token, &[other]).unwrap_err(),
            JoseError::UnknownKey(Some(key.kid().into()))
        );
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"y","n":1}"#);
        parts[1] = &forged;
        assert_eq!(
            verify(&parts.join("."), &public).unwrap_err(),
            JoseError::Signature
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#)
        );
        assert_eq!(
            verify(&none, &public).unwrap_err(),
            JoseError::Algorithm("none".into())
        );
        let hs = format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#)
        );
        assert_eq!(
            verify(&hs, &public).unwrap_err(),
            JoseError::Algorithm("HS256".into())
        );
    }

    #[test]
    fn decrypts_the_allowed_algorithms_and_refuses_others() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, _) = CieKeys::load(dir.path(), true).unwrap();
        let now = chrono::Utc::now();
        let rsa = keys.encryption.published(now, chrono::Duration::zero());
        let ec = keys.encryption_ec.published(now, chrono::Duration::zero());
        let ours = DecryptionKeys { rsa: &rsa, ec: &ec };
        let rsa_jwk = rsa[0].public_jwk("enc", None);
        let ec_jwk = ec[0].public_jwk("enc", None);
        let encrypt = |alg: &str, enc: &str, jwk: &Jwk| {
            let mut h = JweHeader::new();
            h.set_content_encryption(enc);
            let encrypter: Box<dyn josekit::jwe::JweEncrypter> = match alg {
                "RSA-OAEP" => Box::new(josekit::jwe::RSA_OAEP.encrypter_from_jwk(jwk).unwrap()),
                "RSA-OAEP-256" => {
                    Box::new(josekit::jwe::RSA_OAEP_256.encrypter_from_jwk(jwk).unwrap())
                }
                #[allow(deprecated)] // the point: RSA1_5 must be refused
                "RSA1_5" => Box::new(josekit::jwe::RSA1_5.encrypter_from_jwk(jwk).unwrap()),
                _ => Box::new(josekit::jwe::ECDH_ES.encrypter_from_jwk(jwk).unwrap()),
            };
            josekit::jwe::serialize_compact(b"secret", &h, &*encrypter).unwrap()
        };
        for (alg, jwk) in [
            ("RSA-OAEP", &rsa_jwk),
            ("RSA-OAEP-256", &rsa_jwk),
            ("ECDH-ES", &ec_jwk),
        ] {
            for enc in CONTENT_ENCRYPTION_ALGS {
                assert_eq!(
                    decrypt(&encrypt(alg, enc, jwk), &ours).unwrap(),
                    b"secret",
                    "{alg} {enc}"
                );
            }
        }
        assert_eq!(
            decrypt(&encrypt("RSA1_5", "A128CBC-HS256", &rsa_jwk), &ours),
            Err(JoseError::Algorithm("RSA1_5".into()))
        );
        assert_eq!(
            decrypt(&encrypt("RSA-OAEP", "A128GCM", &rsa_jwk), &ours),
            Err(JoseError::Algorithm("A128GCM".into()))
        );
    }

    #[test]
    fn weak_and_foreign_keys_are_left_out_of_a_jwks() {
        let weak = josekit::jwk::alg::rsa::RsaKeyPair::generate(1024).unwrap();
        let strong = josekit::jwk::alg::rsa::RsaKeyPair::generate(2048).unwrap();
        let mut enc = josekit::jwk::KeyPair::to_jwk_public_key(&strong);
        enc.set_key_use("enc");
        let jwks = jwks_value(&[
            josekit::jwk::KeyPair::to_jwk_public_key(&weak),
            josekit::jwk::KeyPair::to_jwk_public_key(&strong),
            enc,
        ]);
        let usable = signature_keys(&jwks);
        assert_eq!(usable.len(), 1);
        assert_eq!(rsa_bits(&usable[0]), Some(2048));
    }
}
