//! The OpenID Connect provider face. So far: the signing keys and their JWKS.

pub mod keys;
