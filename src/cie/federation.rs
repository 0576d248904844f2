//! OpenID Federation trust chains: procura's own part of the federation, which no Rust crate
//! offers. Resolving an OpenID provider means:
//!
//! 1. fetch its entity configuration (`<entity>/.well-known/openid-federation`, a JWS of
//!    `typ` `entity-statement+jwt`, `iss` = `sub`), signed by one of its own federation keys;
//! 2. for each of its `authority_hints` (at most [`MAX_HINTS`]), fetch that authority's entity
//!    configuration and, from its `federation_fetch_endpoint`, the subordinate statement
//!    about the entity: signed by the authority, it lists the keys that may sign the entity's
//!    configuration — the entity configuration must verify with one of those;
//! 3. climb until the configured trust anchor, whose own configuration must verify with the
//!    keys pinned in procura's configuration (never with keys it brings itself), within
//!    [`MAX_INTERMEDIATES`] intermediates and every `constraints.max_path_length` on the way;
//! 4. apply the metadata policies from the trust anchor down ([`super::policy`]).
//!
//! Every statement must be within its `iat`/`exp` (with the configured skew); the chain is
//! good until the earliest `exp` of its statements. A chain that does not end at the trust
//! anchor is refused. Fetches are bounded in number ([`MAX_FETCHES`]), size and time.

use super::fetch::{self, FetchError, Limits};
use super::jose::{self, JoseError};
use super::policy::{self, PolicyError};
use chrono::{DateTime, Duration, Utc};
use josekit::jwk::Jwk;
use serde_json::{Map, Value};

pub const WELL_KNOWN: &str = "/.well-known/openid-federation";
pub const STATEMENT_TYP: &str = "entity-statement+jwt";
/// Authority hints followed per entity.
pub const MAX_HINTS: usize = 4;
/// Intermediates between the provider and the trust anchor.
pub const MAX_INTERMEDIATES: usize = 2;
/// Documents fetched for one resolution.
pub const MAX_FETCHES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("statement of {iss} about {sub}: {error}")]
    Signature {
        iss: String,
        sub: String,
        error: JoseError,
    },
    #[error("statement {0}: {1}")]
    Invalid(String, String),
    #[error("statement of {iss} about {sub} expired at {exp}")]
    Expired {
        iss: String,
        sub: String,
        exp: DateTime<Utc>,
    },
    #[error("statement of {iss} about {sub} is not yet valid")]
    NotYetValid { iss: String, sub: String },
    #[error("the trust chain of {0} does not end at the trust anchor {1}")]
    NotUnderAnchor(String, String),
    #[error("the trust anchor's configuration does not verify with the pinned keys: {0}")]
    AnchorKeys(JoseError),
    #[error("{0}: too many documents to fetch")]
    TooManyFetches(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("{0} has no openid_provider metadata")]
    NoProviderMetadata(String),
}

impl ChainError {
    /// A short stable reason for logs and the audit.
    pub fn reason(&self) -> &'static str {
        match self {
            ChainError::Fetch(_) => "federation_fetch",
            ChainError::Signature { .. } | ChainError::AnchorKeys(_) => "statement_signature",
            ChainError::Invalid(..) => "statement_invalid",
            ChainError::Expired { .. } => "statement_expired",
            ChainError::NotYetValid { .. } => "statement_not_yet_valid",
            ChainError::NotUnderAnchor(..) => "not_under_trust_anchor",
            ChainError::TooManyFetches(_) => "too_many_fetches",
            ChainError::Policy(_) => "metadata_policy",
            ChainError::NoProviderMetadata(_) => "no_provider_metadata",
        }
    }
}

/// A verified entity statement (an entity configuration when `iss` = `sub`).
#[derive(Debug, Clone)]
pub struct Statement {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// The federation keys of `sub`.
    pub jwks: Vec<Jwk>,
    pub payload: Map<String, Value>,
    pub jwt: String,
}

impl Statement {
    pub fn authority_hints(&self) -> Vec<String> {
        self.payload
            .get("authority_hints")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn metadata(&self, entity_type: &str) -> Option<&Map<String, Value>> {
        self.payload.get("metadata")?.get(entity_type)?.as_object()
    }

    fn max_path_length(&self) -> Option<usize> {
        let n = self
            .payload
            .get("constraints")?
            .get("max_path_length")?
            .as_u64()?;
        Some(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn fetch_endpoint(&self) -> Option<&str> {
        self.metadata("federation_entity")?
            .get("federation_fetch_endpoint")?
            .as_str()
    }
}

/// The time checks every statement passes.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub now: DateTime<Utc>,
    pub skew: Duration,
}

fn timestamp(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Verifies a statement's signature with `keys`, its header, its claims and its times.
pub fn verify_statement(jwt: &str, keys: &[Jwk], times: Times) -> Result<Statement, ChainError> {
    let peeked =
        jose::peek_payload(jwt).map_err(|e| ChainError::Invalid("?".into(), e.to_string()))?;
    let claim = |name: &str| {
        peeked
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    let (iss, sub) = (claim("iss"), claim("sub"));
    let header = jose::header(jwt).map_err(|e| ChainError::Invalid(iss.clone(), e.to_string()))?;
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    if !typ.eq_ignore_ascii_case(STATEMENT_TYP) {
        return Err(ChainError::Invalid(
            iss,
            format!("typ is `{typ}`, not {STATEMENT_TYP}"),
        ));
    }
    if header
        .get("kid")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ChainError::Invalid(iss, "no kid in the header".into()));
    }
    let verified = jose::verify(jwt, keys).map_err(|error| ChainError::Signature {
        iss: iss.clone(),
        sub: sub.clone(),
        error,
    })?;
    let p = verified.payload;
    let text = |name: &str| p.get(name).and_then(Value::as_str).map(str::to_owned);
    let (Some(iss), Some(sub)) = (text("iss"), text("sub")) else {
        return Err(ChainError::Invalid(iss, "iss or sub missing".into()));
    };
    let (Some(iat), Some(exp)) = (
        p.get("iat").and_then(Value::as_i64),
        p.get("exp").and_then(Value::as_i64),
    ) else {
        return Err(ChainError::Invalid(iss, "iat or exp missing".into()));
    };
    if timestamp(exp) + times.skew <= times.now {
        return Err(ChainError::Expired {
            iss,
            sub,
            exp: timestamp(exp),
        });
    }
    if timestamp(iat) - times.skew > times.now {
        return Err(ChainError::NotYetValid { iss, sub });
    }
    let jwks = p.get("jwks").map(jose::signature_keys).unwrap_or_default();
    if jwks.is_empty() {
        return Err(ChainError::Invalid(
            iss,
            "no usable federation key in jwks".into(),
        ));
    }
    Ok(Statement {
        iss,
        sub,
        iat,
        exp,
        jwks,
        payload: p,
        jwt: jwt.to_owned(),
    })
}

/// Where the federation documents come from: HTTP in production, anything in unit tests.
pub trait Source {
    fn get(&self, url: &str) -> Result<String, FetchError>;
}

/// The HTTP source, with limits.
pub struct Http(pub Limits);

impl Source for Http {
    fn get(&self, url: &str) -> Result<String, FetchError> {
        fetch::get(url, None, self.0).map(|f| f.body)
    }
}

/// What a resolution is checked against.
pub struct Anchor<'a> {
    pub entity_id: &'a str,
    /// The trust anchor's federation keys, pinned in configuration.
    pub keys: &'a [Jwk],
}

/// A resolved trust chain.
#[derive(Debug, Clone)]
pub struct TrustChain {
    pub subject: String,
    pub trust_anchor: String,
    /// The statements: the subject's configuration, the subordinate statements upward, and
    /// the trust anchor's configuration.
    pub statements: Vec<String>,
    /// The earliest `exp` of the statements.
    pub expires_at: DateTime<Utc>,
    /// The subject's `openid_provider` metadata after every policy.
    pub metadata: Map<String, Value>,
}

/// The `.well-known` URL of an entity.
pub fn configuration_url(entity_id: &str) -> String {
    format!("{}{WELL_KNOWN}", entity_id.trim_end_matches('/'))
}

struct Resolver<'a> {
    source: &'a dyn Source,
    anchor: Anchor<'a>,
    times: Times,
    fetches: std::cell::Cell<usize>,
}

/// One step up: the superior's configuration and its statement about the entity below.
struct Link {
    superior: Statement,
    about_subordinate: Statement,
}

impl Resolver<'_> {
    fn get(&self, url: &str) -> Result<String, ChainError> {
        let n = self.fetches.get() + 1;
        if n > MAX_FETCHES {
            return Err(ChainError::TooManyFetches(url.to_owned()));
        }
        self.fetches.set(n);
        Ok(self.source.get(url)?)
    }

    /// An entity's configuration, self-signed (the trust anchor's: with the pinned keys).
    fn configuration(&self, entity_id: &str) -> Result<Statement, ChainError> {
        let jwt = self.get(&configuration_url(entity_id))?;
        let keys = if entity_id == self.anchor.entity_id {
            self.anchor.keys.to_vec()
        } else {
            let claimed = jose::peek_payload(&jwt)
                .map_err(|e| ChainError::Invalid(entity_id.to_owned(), e.to_string()))?;
            claimed
                .get("jwks")
                .map(jose::signature_keys)
                .unwrap_or_default()
        };
        let statement = verify_statement(&jwt, &keys, self.times).map_err(|e| match e {
            ChainError::Signature { error, .. } if entity_id == self.anchor.entity_id => {
                ChainError::AnchorKeys(error)
            }
            other => other,
        })?;
        if statement.iss != entity_id || statement.sub != entity_id {
            return Err(ChainError::Invalid(
                entity_id.to_owned(),
                "its entity configuration names another entity".into(),
            ));
        }
        Ok(statement)
    }

    /// `superior_id`'s statement about `subject`, and the subject's configuration checked
    /// against the keys it lists.
    fn link(&self, superior_id: &str, subject: &Statement) -> Result<Link, ChainError> {
        let superior = self.configuration(superior_id)?;
        let endpoint = superior.fetch_endpoint().ok_or_else(|| {
            ChainError::Invalid(
                superior_id.to_owned(),
                "no federation_fetch_endpoint".into(),
            )
        })?;
        let url = format!(
            "{endpoint}{}{}",
            if endpoint.contains('?') { '&' } else { '?' },
            serde_urlencoded::to_string([("sub", subject.sub.as_str())]).unwrap_or_default()
        );
        let jwt = self.get(&url)?;
        let about = verify_statement(&jwt, &superior.jwks, self.times)?;
        if about.iss != superior_id || about.sub != subject.sub {
            return Err(ChainError::Invalid(
                superior_id.to_owned(),
                "its subordinate statement names other entities".into(),
            ));
        }
        // The binding: the subject's configuration is signed by a key its superior vouches for.
        jose::verify(&subject.jwt, &about.jwks).map_err(|error| ChainError::Signature {
            iss: subject.sub.clone(),
            sub: subject.sub.clone(),
            error,
        })?;
        Ok(Link {
            superior,
            about_subordinate: about,
        })
    }

    /// Depth-first up the authority hints from `entity`; returns the links to the anchor.
    fn climb(&self, entity: &Statement, depth: usize) -> Result<Vec<Link>, ChainError> {
        let hints = entity.authority_hints();
        if hints.is_empty() {
            return Err(ChainError::NotUnderAnchor(
                entity.sub.clone(),
                self.anchor.entity_id.to_owned(),
            ));
        }
        let mut last = None;
        for hint in hints.iter().take(MAX_HINTS) {
            let is_anchor = hint == self.anchor.entity_id;
            if !is_anchor && depth >= MAX_INTERMEDIATES {
                continue;
            }
            let attempt = self.link(hint, entity).and_then(|link| {
                if is_anchor {
                    return Ok(vec![link]);
                }
                let mut above = self.climb(&link.superior, depth + 1)?;
                above.insert(0, link);
                Ok(above)
            });
            match attempt {
                Ok(links) => return Ok(links),
                Err(e @ ChainError::TooManyFetches(_)) => return Err(e),
                Err(e) => {
                    tracing::debug!(entity = %entity.sub, authority = %hint, error = %e, "authority hint refused");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            ChainError::NotUnderAnchor(entity.sub.clone(), self.anchor.entity_id.to_owned())
        }))
    }
}

/// Resolves the trust chain of `subject` up to `anchor`, with its final `openid_provider`
/// metadata. Blocking (HTTP): run it on the blocking pool.
pub fn resolve(
    source: &dyn Source,
    subject: &str,
    anchor: Anchor<'_>,
    times: Times,
) -> Result<TrustChain, ChainError> {
    let resolver = Resolver {
        source,
        anchor,
        times,
        fetches: std::cell::Cell::new(0),
    };
    let leaf = resolver.configuration(subject)?;
    let links = resolver.climb(&leaf, 0)?;
    // Path-length constraints: a statement (or the anchor's configuration) saying
    // `max_path_length` n allows at most n intermediates between its issuer and the subject.
    let intermediates = links.len() - 1;
    for (i, link) in links.iter().enumerate() {
        let below = i; // intermediates strictly between this link's superior and the subject
        for limit in [
            link.about_subordinate.max_path_length(),
            link.superior.max_path_length(),
        ]
        .into_iter()
        .flatten()
        {
            if below > limit {
                return Err(ChainError::Invalid(
                    link.superior.sub.clone(),
                    format!("max_path_length {limit} exceeded ({intermediates} intermediates)"),
                ));
            }
        }
    }
    let mut metadata = leaf
        .metadata("openid_provider")
        .cloned()
        .ok_or_else(|| ChainError::NoProviderMetadata(subject.to_owned()))?;
    // The immediate superior may override metadata values; then the policies, top first.
    if let Some(first) = links.first()
        && let Some(over) = first.about_subordinate.metadata("openid_provider")
    {
        for (k, v) in over {
            metadata.insert(k.clone(), v.clone());
        }
    }
    for link in links.iter().rev() {
        if let Some(p) = link
            .about_subordinate
            .payload
            .get("metadata_policy")
            .and_then(|p| p.get("openid_provider"))
            .and_then(Value::as_object)
        {
            policy::apply(&mut metadata, p)?;
        }
    }
    let mut statements = vec![leaf.jwt.clone()];
    let mut exps = vec![leaf.exp];
    for link in &links {
        statements.push(link.about_subordinate.jwt.clone());
        exps.push(link.about_subordinate.exp);
        exps.push(link.superior.exp);
    }
    if let Some(top) = links.last() {
        statements.push(top.superior.jwt.clone());
    }
    let earliest = exps.into_iter().min().unwrap_or(leaf.exp);
    Ok(TrustChain {
        subject: subject.to_owned(),
        trust_anchor: resolver.anchor.entity_id.to_owned(),
        statements,
        expires_at: timestamp(earliest),
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwk::KeyPair;
    use josekit::jwk::alg::rsa::RsaKeyPair;
    use serde_json::json;
    use std::collections::HashMap;

    /// A federation party: its key and the documents it serves.
    struct Party {
        id: String,
        pem: Vec<u8>,
        jwk: Jwk,
    }

    impl Party {
        fn new(id: &str) -> Self {
            let pair = RsaKeyPair::generate(2048).unwrap();
            let mut jwk = pair.to_jwk_public_key();
            jwk.set_key_id(format!("{id}-key"));
            Self {
                id: format!("https://{id}.example"),
                pem: pair.to_pem_private_key(),
                jwk,
            }
        }

        fn sign(&self, claims: Value) -> String {
            let mut header = josekit::jws::JwsHeader::new();
            header.set_key_id(self.jwk.key_id().unwrap());
            header.set_token_type(STATEMENT_TYP);
            let signer = josekit::jws::RS256.signer_from_pem(&self.pem).unwrap();
            josekit::jws::serialize_compact(&serde_json::to_vec(&claims).unwrap(), &header, &signer)
                .unwrap()
        }

        fn jwks(&self) -> Value {
            json!({ "keys": [Value::Object(self.jwk.as_ref().clone())] })
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn times() -> Times {
        Times {
            now: timestamp(NOW),
            skew: Duration::seconds(30),
        }
    }

    #[derive(Default)]
    struct Docs(HashMap<String, String>);

    impl Source for Docs {
        fn get(&self, url: &str) -> Result<String, FetchError> {
            self.0.get(url).cloned().ok_or(FetchError::Status {
                url: url.into(),
                status: 404,
                body: String::new(),
            })
        }
    }

    impl Docs {
        /// `party`'s entity configuration, with `hints` and `extra` claims.
        fn configuration(&mut self, party: &Party, hints: &[&Party], extra: Value) {
            let mut claims = json!({
                "iss": party.id, "sub": party.id, "iat": NOW - 10, "exp": NOW + 3600,
                "jwks": party.jwks(),
                "authority_hints": hints.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
                "metadata": {
                    "federation_entity": { "federation_fetch_endpoint": format!("{}/fetch", party.id) },
                    "openid_provider": { "issuer": party.id, "token_endpoint": format!("{}/token", party.id),
                        "id_token_signing_alg_values_supported": ["RS256", "HS256"] },
                },
            });
            for (k, v) in extra.as_object().unwrap() {
                claims[k] = v.clone();
            }
            self.0
                .insert(configuration_url(&party.id), party.sign(claims));
        }

        /// `superior`'s statement about `subject`, with `extra` claims.
        fn statement(&mut self, superior: &Party, subject: &Party, extra: Value) {
            let mut claims = json!({
                "iss": superior.id, "sub": subject.id, "iat": NOW - 10, "exp": NOW + 7200,
                "jwks": subject.jwks(),
            });
            for (k, v) in extra.as_object().unwrap() {
                claims[k] = v.clone();
            }
            let url = format!(
                "{}/fetch?sub={}",
                superior.id,
                serde_urlencoded::to_string([("", &subject.id)])
                    .unwrap()
                    .trim_start_matches('=')
            );
            self.0.insert(url, superior.sign(claims));
        }
    }

    fn resolve_with(
        docs: &Docs,
        op: &Party,
        ta: &Party,
        pinned: &[Jwk],
    ) -> Result<TrustChain, ChainError> {
        resolve(
            docs,
            &op.id,
            Anchor {
                entity_id: &ta.id,
                keys: pinned,
            },
            times(),
        )
    }

    #[test]
    fn chains_through_an_intermediate_applying_policies_from_the_top() {
        let (ta, int, op) = (Party::new("ta"), Party::new("int"), Party::new("op"));
        let mut docs = Docs::default();
        docs.configuration(&ta, &[], json!({"constraints": {"max_path_length": 1}}));
        docs.configuration(&int, &[&ta], json!({}));
        docs.configuration(&op, &[&int], json!({}));
        docs.statement(
            &ta,
            &int,
            json!({"metadata_policy": {"openid_provider": {
            "id_token_signing_alg_values_supported": {"subset_of": ["RS256", "RS512"]}}}}),
        );
        docs.statement(
            &int,
            &op,
            json!({"exp": NOW + 600, "metadata_policy": {"openid_provider": {
            "token_endpoint": {"essential": true}}}}),
        );
        let chain = resolve_with(&docs, &op, &ta, std::slice::from_ref(&ta.jwk)).unwrap();
        assert_eq!(chain.statements.len(), 4);
        assert_eq!(chain.expires_at, timestamp(NOW + 600), "the earliest exp");
        assert_eq!(
            chain.metadata["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );

        // max_path_length 0 at the anchor: no intermediate allowed.
        docs.configuration(&ta, &[], json!({"constraints": {"max_path_length": 0}}));
        let err = resolve_with(&docs, &op, &ta, std::slice::from_ref(&ta.jwk)).unwrap_err();
        assert_eq!(err.reason(), "statement_invalid", "{err}");
    }

    #[test]
    fn the_anchor_must_verify_with_the_pinned_keys_and_the_binding_must_hold() {
        let (ta, op, other) = (Party::new("ta"), Party::new("op"), Party::new("other"));
        let mut docs = Docs::default();
        docs.configuration(&ta, &[], json!({}));
        docs.configuration(&op, &[&ta], json!({}));
        docs.statement(&ta, &op, json!({}));
        assert!(resolve_with(&docs, &op, &ta, std::slice::from_ref(&ta.jwk)).is_ok());
        // A trust anchor configuration that does not verify with the pinned keys.
        let err = resolve_with(&docs, &op, &ta, std::slice::from_ref(&other.jwk)).unwrap_err();
        assert_eq!(err.reason(), "statement_signature", "{err}");
        // The anchor vouches for other keys than those signing the provider's configuration.
        let mut claims = json!({"jwks": other.jwks()});
        claims["iss"] = json!(ta.id);
        docs.statement(&ta, &op, claims);
        let err = resolve_with(&docs, &op, &ta, std::slice::from_ref(&ta.jwk)).unwrap_err();
        assert_eq!(err.reason(), "statement_signature", "{err}");
    }

    #[test]
    fn loops_and_endless_hints_cost_a_bounded_number_of_fetches() {
        let (ta, a, b) = (Party::new("ta"), Party::new("a"), Party::new("b"));
        let mut docs = Docs::default();
        docs.configuration(&ta, &[], json!({}));
        // a and b name each other, never the anchor.
        docs.configuration(&a, &[&b, &b, &b, &b, &b], json!({}));
        docs.configuration(&b, &[&a, &a, &a, &a, &a], json!({}));
        docs.statement(&b, &a, json!({}));
        docs.statement(&a, &b, json!({}));
        let err = resolve_with(&docs, &a, &ta, std::slice::from_ref(&ta.jwk)).unwrap_err();
        assert!(
            matches!(
                err,
                ChainError::NotUnderAnchor(..) | ChainError::TooManyFetches(_)
            ),
            "{err}"
        );
    }
}
