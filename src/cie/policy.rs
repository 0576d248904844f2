//! OpenID Federation metadata policy (§6.1): what a superior's statement says the metadata
//! of the entities below it must look like. Pure functions.
//!
//! The operators, applied to one metadata parameter in this order: `value` (set, or remove
//! with null), `add` (union into an array), `default` (when absent), then the checks
//! `one_of`, `subset_of` (keeps the intersection), `superset_of`, and `essential` (must be
//! present). The policies of a trust chain are applied one after the other from the trust
//! anchor's statement down to the one about the subject, so a lower authority can only narrow
//! what a higher one allowed. An unknown operator makes the policy fail (it could be a
//! restriction procura does not understand).

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("metadata parameter `{0}` violates the `{1}` policy")]
    Violated(String, &'static str),
    #[error("metadata policy for `{0}` is not understood: {1}")]
    Unknown(String, String),
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// Applies `policy` (one entity type's policy: parameter → operators) to `metadata`.
pub fn apply(
    metadata: &mut Map<String, Value>,
    policy: &Map<String, Value>,
) -> Result<(), PolicyError> {
    for (name, operators) in policy {
        let Value::Object(ops) = operators else {
            return Err(PolicyError::Unknown(name.clone(), "not an object".into()));
        };
        for op in ops.keys() {
            if !matches!(
                op.as_str(),
                "value" | "add" | "default" | "one_of" | "subset_of" | "superset_of" | "essential"
            ) {
                return Err(PolicyError::Unknown(name.clone(), op.clone()));
            }
        }
        if let Some(v) = ops.get("value") {
            if v.is_null() {
                metadata.remove(name);
            } else {
                metadata.insert(name.clone(), v.clone());
            }
        }
        if let Some(add) = ops.get("add") {
            let mut current = metadata.get(name).map(as_list).unwrap_or_default();
            for item in as_list(add) {
                if !current.contains(&item) {
                    current.push(item);
                }
            }
            metadata.insert(name.clone(), Value::Array(current));
        }
        if let Some(default) = ops.get("default")
            && !metadata.contains_key(name)
        {
            metadata.insert(name.clone(), default.clone());
        }
        if let (Some(allowed), Some(current)) = (ops.get("one_of"), metadata.get(name))
            && !as_list(allowed).contains(current)
        {
            return Err(PolicyError::Violated(name.clone(), "one_of"));
        }
        if let (Some(allowed), Some(current)) = (ops.get("subset_of"), metadata.get(name).cloned())
        {
            let allowed = as_list(allowed);
            let kept: Vec<Value> = as_list(&current)
                .into_iter()
                .filter(|v| allowed.contains(v))
                .collect();
            if kept.is_empty() {
                metadata.remove(name);
            } else {
                metadata.insert(name.clone(), Value::Array(kept));
            }
        }
        if let Some(required) = ops.get("superset_of") {
            let current = metadata.get(name).map(as_list).unwrap_or_default();
            if !as_list(required).iter().all(|v| current.contains(v)) {
                return Err(PolicyError::Violated(name.clone(), "superset_of"));
            }
        }
        if ops.get("essential") == Some(&Value::Bool(true)) && !metadata.contains_key(name) {
            return Err(PolicyError::Violated(name.clone(), "essential"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn operators_table() {
        // (metadata, policy, expected metadata or error)
        let cases: Vec<(Value, Value, Result<Value, PolicyError>)> = vec![
            (
                json!({"a": 1}),
                json!({"a": {"value": 2}}),
                Ok(json!({"a": 2})),
            ),
            (
                json!({"a": 1}),
                json!({"a": {"value": null}}),
                Ok(json!({})),
            ),
            (
                json!({"s": ["x"]}),
                json!({"s": {"add": ["y", "x"]}}),
                Ok(json!({"s": ["x", "y"]})),
            ),
            (
                json!({}),
                json!({"d": {"default": "v"}}),
                Ok(json!({"d": "v"})),
            ),
            (
                json!({"d": "mine"}),
                json!({"d": {"default": "v"}}),
                Ok(json!({"d": "mine"})),
            ),
            (
                json!({"o": "b"}),
                json!({"o": {"one_of": ["a", "b"]}}),
                Ok(json!({"o": "b"})),
            ),
            (
                json!({"o": "c"}),
                json!({"o": {"one_of": ["a", "b"]}}),
                Err(PolicyError::Violated("o".into(), "one_of")),
            ),
            (
                json!({"algs": ["RS256", "HS256", "RS512"]}),
                json!({"algs": {"subset_of": ["RS256", "RS512", "ES256"]}}),
                Ok(json!({"algs": ["RS256", "RS512"]})),
            ),
            (
                json!({"algs": ["HS256"]}),
                json!({"algs": {"subset_of": ["RS256"]}}),
                Ok(json!({})),
            ),
            (
                json!({"scope": ["openid", "profile"]}),
                json!({"scope": {"superset_of": ["openid"]}}),
                Ok(json!({"scope": ["openid", "profile"]})),
            ),
            (
                json!({"scope": ["profile"]}),
                json!({"scope": {"superset_of": ["openid"]}}),
                Err(PolicyError::Violated("scope".into(), "superset_of")),
            ),
            (
                json!({}),
                json!({"jwks": {"essential": true}}),
                Err(PolicyError::Violated("jwks".into(), "essential")),
            ),
            (
                json!({"a": 1}),
                json!({"a": {"regexp": ".*"}}),
                Err(PolicyError::Unknown("a".into(), "regexp".into())),
            ),
        ];
        for (metadata, policy, expected) in cases {
            let mut m = obj(metadata.clone());
            let got = apply(&mut m, &obj(policy.clone())).map(|()| Value::Object(m));
            assert_eq!(got, expected, "{metadata} with {policy}");
        }
    }
}
