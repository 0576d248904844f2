//! openapi.yaml against the code: every route served is documented and nothing else is,
//! every problem type the code can emit is listed (with its status and title), and every
//! operation documents its errors: as problem+json, or (declared with `x-error-format`) as
//! RFC 6749 JSON errors or HTML pages, the router's 405 staying problem+json. No server needed.

use procura::error::ProblemKind;
use procura::http::ROUTES;
use procura::person::CodiceFiscaleError;
use std::collections::{BTreeMap, BTreeSet};
use yaml_rust2::{Yaml, YamlLoader};

const SPEC: &str = "openapi.yaml";
const PROBLEM_JSON: &str = "application/problem+json";
const JSON: &str = "application/json";
const HTML: &str = "text/html";
const OAUTH_ERROR: &str = "#/components/schemas/OAuthError";
const TYPE_BASE: &str = "https://procura.inps.it/problems/";
const ABOUT_BLANK: &str = "about:blank";
const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

pub(crate) fn spec() -> Yaml {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SPEC);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1, "{SPEC} must hold exactly one YAML document");
    docs.remove(0)
}

/// A mapping key as text; response codes may be written `200` or `'200'`.
fn key_text(key: &Yaml) -> String {
    match key {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

pub(crate) fn entries(node: &Yaml) -> Vec<(String, &Yaml)> {
    node.as_hash()
        .map(|h| h.iter().map(|(k, v)| (key_text(k), v)).collect())
        .unwrap_or_default()
}

/// Follows local `$ref`s (`#/components/...`) until a node that is not a reference.
pub(crate) fn resolve<'a>(root: &'a Yaml, mut node: &'a Yaml) -> &'a Yaml {
    for _ in 0..16 {
        let Some(reference) = node["$ref"].as_str() else {
            return node;
        };
        let pointer = reference
            .strip_prefix("#/")
            .unwrap_or_else(|| panic!("{SPEC}: only local references are supported: {reference}"));
        let mut target = root;
        for part in pointer.split('/') {
            target = &target[part.replace("~1", "/").replace("~0", "~").as_str()];
        }
        assert!(
            !target.is_badvalue(),
            "{SPEC}: `$ref: {reference}` points at nothing"
        );
        node = target;
    }
    panic!("{SPEC}: reference loop at {node:?}");
}

/// Every operation: (METHOD, path, operation node).
pub(crate) fn operations(root: &Yaml) -> Vec<(String, String, &Yaml)> {
    let paths = &root["paths"];
    assert!(paths.is_hash(), "{SPEC} has no `paths` mapping");
    let mut ops = Vec::new();
    for (path, item) in entries(paths) {
        for (method, op) in entries(item) {
            if HTTP_METHODS.contains(&method.as_str()) {
                ops.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    ops
}

fn listed(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "  (none)".to_owned()
    } else {
        set.iter().map(|s| format!("  {s}\n")).collect()
    }
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_served() {
    let root = spec();
    let served: BTreeSet<String> = ROUTES.iter().map(|(m, p)| format!("{m} {p}")).collect();
    let documented: BTreeSet<String> = operations(&root)
        .iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    let undocumented: BTreeSet<String> = served.difference(&documented).cloned().collect();
    let phantom: BTreeSet<String> = documented.difference(&served).cloned().collect();
    assert!(
        undocumented.is_empty() && phantom.is_empty(),
        "{SPEC} and procura::http::ROUTES disagree.\n\
         Served but missing from {SPEC} (document them):\n{}\
         In {SPEC} but not served (remove them, or add the route):\n{}",
        listed(&undocumented),
        listed(&phantom),
    );
}

#[test]
fn every_problem_kind_is_listed_with_its_status_and_title() {
    let root = spec();
    let list = root["x-problem-types"].as_vec().unwrap_or_else(|| {
        panic!("{SPEC} has no top-level `x-problem-types` list");
    });

    let mut documented: BTreeMap<String, &Yaml> = BTreeMap::new();
    let mut problems = Vec::new();
    for entry in list {
        let Some(uri) = entry["type"].as_str() else {
            problems.push(format!("an entry has no `type`: {entry:?}"));
            continue;
        };
        if entry["when"].as_str().is_none_or(|w| w.trim().is_empty()) {
            problems.push(format!("{uri}: no `when` saying when it happens"));
        }
        if documented.insert(uri.to_owned(), entry).is_some() {
            problems.push(format!("{uri}: listed twice"));
        }
    }

    for kind in ProblemKind::ALL {
        let uri = kind.type_uri();
        let status = i64::from(kind.status().as_u16());
        let Some(entry) = documented.remove(&uri) else {
            problems.push(format!(
                "{uri} ({kind:?}, {status}): missing from x-problem-types"
            ));
            continue;
        };
        if entry["status"].as_i64() != Some(status) {
            problems.push(format!(
                "{uri}: status is {:?} in {SPEC}, {status} in the code",
                entry["status"]
            ));
        }
        if entry["title"].as_str() != Some(kind.title()) {
            problems.push(format!(
                "{uri}: title is {:?} in {SPEC}, {:?} in the code",
                entry["title"],
                kind.title()
            ));
        }
    }
    // The safety net (src/http/problems.rs) emits about:blank for unusual statuses.
    if documented.remove(ABOUT_BLANK).is_none() {
        problems.push(format!("{ABOUT_BLANK}: missing from x-problem-types"));
    }
    for uri in documented.keys() {
        problems.push(format!(
            "{uri}: listed in x-problem-types but no ProblemKind has it"
        ));
    }

    assert!(
        problems.is_empty(),
        "x-problem-types in {SPEC} does not match procura::error::ProblemKind:\n  {}",
        problems.join("\n  ")
    );
}

/// Every `https://procura.inps.it/problems/...` written anywhere (descriptions, examples,
/// `const`s) names a problem type the code has, so a renamed type cannot linger in the prose.
#[test]
fn every_problem_type_mentioned_in_the_spec_exists() {
    fn collect(node: &Yaml, out: &mut BTreeSet<String>) {
        match node {
            Yaml::String(s) => {
                for (at, _) in s.match_indices(TYPE_BASE) {
                    let slug: String = s
                        .get(at + TYPE_BASE.len()..)
                        .unwrap_or_default()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    out.insert(format!("{TYPE_BASE}{slug}"));
                }
            }
            Yaml::Array(items) => items.iter().for_each(|i| collect(i, out)),
            Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
                collect(k, out);
                collect(v, out);
            }),
            _ => {}
        }
    }
    let mut mentioned = BTreeSet::new();
    collect(&spec(), &mut mentioned);
    let known: BTreeSet<String> = ProblemKind::ALL.iter().map(|k| k.type_uri()).collect();
    let unknown: BTreeSet<String> = mentioned.difference(&known).cloned().collect();
    assert!(
        unknown.is_empty(),
        "{SPEC} mentions problem types no ProblemKind has:\n{}",
        listed(&unknown)
    );
}

/// How an operation answers its errors, declared by its `x-error-format`. Whatever it
/// declares, the router answers other methods on its path with a `405` problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorFormat {
    /// No `x-error-format`: every error is an RFC 9457 problem.
    Problem,
    /// `oauth`: RFC 6749 §5.2 JSON errors (`application/json`, schema `OAuthError`).
    OAuth,
    /// `html`: pages for the person at the browser (`text/html`).
    Html,
}

impl ErrorFormat {
    pub(crate) fn of(op: &Yaml) -> Result<Self, String> {
        match &op["x-error-format"] {
            Yaml::BadValue => Ok(Self::Problem),
            declared => match declared.as_str() {
                Some("oauth") => Ok(Self::OAuth),
                Some("html") => Ok(Self::Html),
                _ => Err(format!(
                    "x-error-format must be `oauth` or `html` (or absent), is {declared:?}"
                )),
            },
        }
    }

    /// The media type its error responses may have besides problem+json.
    pub(crate) fn own_media(self) -> Option<&'static str> {
        match self {
            Self::Problem => None,
            Self::OAuth => Some(JSON),
            Self::Html => Some(HTML),
        }
    }
}

/// A media type without its parameters: `text/html; charset=utf-8` is `text/html`.
pub(crate) fn essence(media: &str) -> &str {
    media.split(';').next().unwrap_or(media).trim()
}

/// Whether every value `schema` admits is a `target` (a `$ref` string): it is the reference,
/// or (after references) an `allOf` with a member that is, or a `oneOf`/`anyOf` whose
/// members all are.
fn is_schema(root: &Yaml, schema: &Yaml, target: &str) -> bool {
    fn walk(root: &Yaml, schema: &Yaml, target: &str, depth: u8) -> bool {
        if depth > 16 {
            return false;
        }
        if schema["$ref"].as_str() == Some(target) {
            return true;
        }
        let schema = resolve(root, schema);
        let members = |key: &str| schema[key].as_vec().filter(|m| !m.is_empty());
        members("allOf").is_some_and(|m| m.iter().any(|s| walk(root, s, target, depth + 1)))
            || ["oneOf", "anyOf"].iter().any(|key| {
                members(key).is_some_and(|m| m.iter().all(|s| walk(root, s, target, depth + 1)))
            })
    }
    walk(root, schema, target, 0)
}

#[test]
fn every_operation_has_a_unique_id_and_documents_a_problem_json_4xx() {
    let root = spec();
    let mut problems = Vec::new();
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (method, path, op) in operations(&root) {
        let name = format!("{method} {path}");
        match op["operationId"].as_str() {
            Some(id) if !id.trim().is_empty() => {
                ids.entry(id.to_owned()).or_default().push(name.clone());
            }
            _ => problems.push(format!("{name}: no operationId")),
        }
        for field in ["summary", "description"] {
            if op[field].as_str().is_none_or(|s| s.trim().is_empty()) {
                problems.push(format!("{name}: no {field}"));
            }
        }
        let format = ErrorFormat::of(op).unwrap_or_else(|e| {
            problems.push(format!("{name}: {e}"));
            ErrorFormat::Problem
        });
        let responses = entries(&op["responses"]);
        if responses.is_empty() {
            problems.push(format!("{name}: no responses"));
        }
        let mut has_problem_4xx = false;
        let mut own_format_errors = 0;
        for (code, response) in responses {
            let response = resolve(&root, response);
            let content = &response["content"];
            let media: Vec<String> = entries(content).into_iter().map(|(m, _)| m).collect();
            let is_error = code.starts_with('4') || code.starts_with('5');
            if is_error {
                let own = format.own_media().filter(|_| code != "405");
                let allowed =
                    |m: &String| m == PROBLEM_JSON || own.is_some_and(|own| essence(m) == own);
                // A 405 is the router's problem; a browser navigation outside the APIs gets
                // the same answer as a page (both documented together).
                let router_405 = code == "405"
                    && media.first().is_some_and(|m| m == PROBLEM_JSON)
                    && media.iter().skip(1).all(|m| essence(m) == HTML)
                    && media.len() <= 2;
                if !router_405 && (media.len() != 1 || !allowed(&media[0])) {
                    let expected = match own {
                        Some(own) => format!("{own} or {PROBLEM_JSON}, one of them"),
                        None if code == "405" => {
                            format!(
                                "{PROBLEM_JSON} (the router answers every 405), and {HTML} for browsers"
                            )
                        }
                        None => format!("{PROBLEM_JSON} only"),
                    };
                    problems.push(format!(
                        "{name} {code}: an error response must be {expected}, is {media:?}"
                    ));
                }
                for m in media.iter().filter(|m| allowed(m)) {
                    let schema = &content[m.as_str()]["schema"];
                    if resolve(&root, schema).is_badvalue() {
                        problems.push(format!("{name} {code}: {m} without a schema"));
                    } else if m == PROBLEM_JSON {
                        has_problem_4xx |= code.starts_with('4');
                    } else if essence(m) == JSON && !is_schema(&root, schema, OAUTH_ERROR) {
                        problems.push(format!(
                            "{name} {code}: an {JSON} error must have the schema {OAUTH_ERROR}"
                        ));
                    } else {
                        own_format_errors += 1;
                    }
                }
            } else if code.starts_with('3') {
                if resolve(&root, &response["headers"]["Location"]).is_badvalue() {
                    problems.push(format!(
                        "{name} {code}: a redirect without a Location header"
                    ));
                }
            } else if response["x-empty-body"].as_bool() == Some(true) {
                if !media.is_empty() {
                    problems.push(format!(
                        "{name} {code}: x-empty-body, yet it has content {media:?}"
                    ));
                }
            } else if media.is_empty() {
                problems.push(format!(
                    "{name} {code}: no content (declare `x-empty-body: true` if it has none)"
                ));
            }
            if resolve(&root, &response["headers"]["X-Request-Id"]).is_badvalue() {
                problems.push(format!(
                    "{name} {code}: no X-Request-Id header (every response carries one)"
                ));
            }
            if code == "405" && resolve(&root, &response["headers"]["Allow"]).is_badvalue() {
                problems.push(format!("{name} 405: no Allow header"));
            }
        }
        if !has_problem_4xx {
            problems.push(format!(
                "{name}: documents no 4xx response with {PROBLEM_JSON}"
            ));
        }
        // A declared format must be used, so the declaration cannot be empty.
        match format {
            ErrorFormat::Problem => {}
            ErrorFormat::OAuth if own_format_errors == 0 => problems.push(format!(
                "{name}: x-error-format: oauth, yet no error response is {JSON} with the schema {OAUTH_ERROR}"
            )),
            ErrorFormat::Html if own_format_errors == 0 => problems.push(format!(
                "{name}: x-error-format: html, yet no error response is {HTML}"
            )),
            ErrorFormat::OAuth | ErrorFormat::Html => {}
        }
    }
    for (id, used_by) in ids {
        if used_by.len() > 1 {
            problems.push(format!(
                "operationId {id:?} is used by {}",
                used_by.join(" and ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "operations in {SPEC}:\n  {}",
        problems.join("\n  ")
    );
}

/// The `reason` values of `invalid-codice-fiscale` are exactly `CodiceFiscaleError::reason`.
#[test]
fn invalid_codice_fiscale_reasons_match_the_code() {
    // REASONS is kept equal to every `reason()` by the unit test beside it.
    let in_code: BTreeSet<String> = CodiceFiscaleError::REASONS
        .iter()
        .map(|r| (*r).to_owned())
        .collect();

    let root = spec();
    let reason = &resolve(&root, &root["components"]["schemas"]["Problem"])["properties"]["reason"];
    let in_spec: BTreeSet<String> = reason["enum"]
        .as_vec()
        .unwrap_or_else(|| {
            panic!("{SPEC}: components.schemas.Problem.properties.reason has no enum")
        })
        .iter()
        .map(|v| v.as_str().map_or_else(|| format!("{v:?}"), str::to_owned))
        .collect();

    let missing: BTreeSet<String> = in_code.difference(&in_spec).cloned().collect();
    let extra: BTreeSet<String> = in_spec.difference(&in_code).cloned().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "Problem.reason in {SPEC} and CodiceFiscaleError::reason disagree.\n\
         In the code, missing from {SPEC}:\n{}In {SPEC}, not in the code:\n{}",
        listed(&missing),
        listed(&extra),
    );
}
