//! procura's entity configuration: the self-signed entity statement (`typ`
//! `entity-statement+jwt`) served at `/.well-known/openid-federation`, with the
//! `federation_entity` and `openid_relying_party` metadata (`metadata_oidc_rp.rst`), the
//! federation keys in `jwks` (the relying-party keys only inside its metadata, as CIE wants
//! `jwks` there, not `signed_jwks_uri`), `authority_hints` and the configured trust marks.

use super::jose::{self, JoseError};
use super::keys;
use super::{RelyingParty, secs};
use crate::config::Config;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The claims of the entity configuration at `now`.
pub fn claims(rp: &RelyingParty, config: &Config, now: DateTime<Utc>) -> Map<String, Value> {
    let cie = &config.cie;
    let keep = RelyingParty::keep_retired(config);
    let federation = keys::published(&rp.keys.federation, now, keep, "sig", Some("RS256"));
    let mut rp_keys = keys::published(&rp.keys.signing, now, keep, "sig", Some("RS256"));
    rp_keys.extend(keys::published(&rp.keys.encryption, now, keep, "enc", None));
    rp_keys.extend(keys::published(
        &rp.keys.encryption_ec,
        now,
        keep,
        "enc",
        None,
    ));
    let hints = if cie.authority_hints.is_empty() {
        vec![cie.trust_anchor.clone()]
    } else {
        cie.authority_hints.clone()
    };
    let mut relying_party = json!({
        "client_id": rp.entity_id,
        "client_registration_types": ["automatic"],
        "client_name": cie.client_name,
        "organization_name": cie.organization_name,
        "application_type": "web",
        "redirect_uris": [rp.redirect_uri],
        "response_types": ["code"],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "private_key_jwt",
        "id_token_signed_response_alg": "RS256",
        "userinfo_signed_response_alg": "RS256",
        "userinfo_encrypted_response_alg": cie.userinfo_encrypted_response_alg,
        "userinfo_encrypted_response_enc": cie.userinfo_encrypted_response_enc,
        "contacts": cie.contacts,
        "jwks": jose::jwks_value(&rp_keys),
    });
    if let (Some(alg), Some(enc), Some(md)) = (
        &cie.id_token_encrypted_response_alg,
        &cie.id_token_encrypted_response_enc,
        relying_party.as_object_mut(),
    ) {
        md.insert("id_token_encrypted_response_alg".into(), json!(alg));
        md.insert("id_token_encrypted_response_enc".into(), json!(enc));
    }
    let mut claims = json!({
        "iss": rp.entity_id,
        "sub": rp.entity_id,
        "iat": now.timestamp(),
        "exp": (now + secs(cie.entity_configuration_ttl_secs)).timestamp(),
        "jwks": jose::jwks_value(&federation),
        "authority_hints": hints,
        "metadata": {
            "federation_entity": {
                "organization_name": cie.organization_name,
                "homepage_uri": cie.homepage_uri,
                "policy_uri": cie.policy_uri,
                "logo_uri": cie.logo_uri,
                "contacts": cie.contacts,
            },
            "openid_relying_party": relying_party,
        },
    });
    if !cie.trust_marks.is_empty()
        && let Some(c) = claims.as_object_mut()
    {
        c.insert(
            "trust_marks".into(),
            Value::Array(
                cie.trust_marks
                    .iter()
                    .map(|t| json!({ "id": t.id, "trust_mark_type": t.id, "trust_mark": t.trust_mark }))
                    .collect(),
            ),
        );
    }
    match claims {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The signed entity configuration at `now`, with the federation key current then.
pub fn sign(rp: &RelyingParty, config: &Config, now: DateTime<Utc>) -> Result<String, JoseError> {
    let key = rp.keys.federation.signing_key(now);
    jose::sign(
        &claims(rp, config, now),
        Some(super::federation::STATEMENT_TYP),
        &key,
    )
}
