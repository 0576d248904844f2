//! The OpenID Connect provider face: clients, signing keys, tokens, the authorization
//! code flow, refresh, introspection, revocation and logout.
//!
//! - [`client`]: relying parties and their authentication at the token endpoint;
//!   [`client_cache`] remembers successful secret authentications for a few seconds.
//! - [`keys`], [`jwt`]: signing keys (rotation, JWKS) and the JWTs they sign;
//!   [`jwt_cache`] remembers access tokens already verified, by their hash.
//! - [`authorize`], [`session`], [`grant`], [`tokens`]: the authorization code flow from
//!   request to token response; [`subject`] the stable `sub` of each person.
//! - [`exchange`]: RFC 8693 token exchange, a delegate acting on behalf of a delegator.
//! - [`scope`], [`params`], [`token_hash`]: the small shared pieces.

pub mod authorize;
pub mod cleanup;
pub mod client;
pub mod client_cache;
pub mod exchange;
pub mod grant;
pub mod jwt;
pub mod jwt_cache;
pub mod keys;
pub mod liveness;
pub mod params;
pub mod scope;
pub mod session;
pub mod subject;
pub mod token_hash;
pub mod tokens;
