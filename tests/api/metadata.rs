//! The provider metadata documents, checked against what OpenID Connect Discovery 1.0 §3
//! and RFC 8414 §2–3 require of them.

use crate::helpers::TestApp;
use serde_json::Value;

/// Problems of one metadata document served for `issuer`; empty when it is valid.
fn violations(doc: &Value, issuer: &str) -> Vec<String> {
    let mut v = Vec::new();
    let Some(obj) = doc.as_object() else {
        return vec!["not a JSON object".into()];
    };
    // RFC 8414 §2 / Discovery §3: required members.
    for member in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        if !obj.contains_key(member) {
            v.push(format!("{member} is missing"));
        }
    }
    // §3.3: the issuer is identical to the one the document was asked for.
    if doc["issuer"] != issuer {
        v.push(format!("issuer {} is not {issuer}", doc["issuer"]));
    }
    for (name, value) in obj {
        if name.ends_with("_endpoint") || name == "jwks_uri" {
            match value.as_str() {
                Some(url) if url.starts_with(issuer) && !url.contains('#') => {}
                _ => v.push(format!("{name} {value} is not a URL under the issuer")),
            }
        }
        if name.ends_with("_supported") && !value.is_array() && !value.is_boolean() {
            v.push(format!("{name} is neither a list nor a boolean"));
        }
        if let Some(list) = value.as_array()
            && name.ends_with("_values_supported")
            && list.is_empty()
        {
            v.push(format!("{name} is empty"));
        }
    }
    // RFC 8414 §2: an endpoint that accepts private_key_jwt (or client_secret_jwt) must say
    // which algorithms, and `none` is not one of them.
    for endpoint in [
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        let methods = &doc[format!("{endpoint}_auth_methods_supported")];
        let jwt = methods.as_array().is_some_and(|m| {
            m.iter()
                .any(|x| x == "private_key_jwt" || x == "client_secret_jwt")
        });
        let algs_member = format!("{endpoint}_auth_signing_alg_values_supported");
        match doc[&algs_member].as_array() {
            Some(algs) if jwt && (algs.is_empty() || algs.iter().any(|a| a == "none")) => {
                v.push(format!("{algs_member} must list algorithms, never none"));
            }
            None if jwt => v.push(format!("{algs_member} is missing ({endpoint} takes JWTs)")),
            Some(_) | None => {}
        }
    }
    // PKCE: S256, never plain.
    let pkce = doc["code_challenge_methods_supported"].as_array();
    if !pkce.is_some_and(|m| m.iter().any(|x| x == "S256") && !m.iter().any(|x| x == "plain")) {
        v.push("code_challenge_methods_supported must be S256 only".into());
    }
    v
}

#[actix_web::test]
async fn discovery_and_rfc_8414_metadata_are_valid_and_the_same() {
    let app = TestApp::spawn_with(|c| c.oauth.issuer = "https://login.inps.example".into()).await;
    let discovery = app.get("/.well-known/openid-configuration").await;
    let rfc8414 = app.get("/.well-known/oauth-authorization-server").await;
    for (name, r) in [("discovery", &discovery), ("RFC 8414", &rfc8414)] {
        assert_eq!(r.status.as_u16(), 200, "{name}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=300"),
            "{name}"
        );
        let problems = violations(&r.json(), "https://login.inps.example");
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }
    assert_eq!(discovery.json(), rfc8414.json());
    assert_eq!(
        rfc8414.json()["introspection_endpoint_auth_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256", "PS256"])
    );
}

#[test]
fn the_validation_notices_what_issue_19_found() {
    // The discovery document before issue 19: private_key_jwt at introspection and
    // revocation without the algorithm members.
    let doc = serde_json::json!({
        "issuer": "https://i.example",
        "authorization_endpoint": "https://i.example/authorize",
        "token_endpoint": "https://i.example/token",
        "jwks_uri": "https://i.example/jwks.json",
        "introspection_endpoint": "https://i.example/introspect",
        "revocation_endpoint": "https://i.example/revoke",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
        "introspection_endpoint_auth_methods_supported": ["private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
    });
    let problems = violations(&doc, "https://i.example");
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(violations(&doc, "https://other.example").len() > 2);
}
