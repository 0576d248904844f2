//! OAuth request parameters (query string or form body). RFC 6749 §3.1/§3.2: parameters must
//! not appear more than once, and empty values count as absent.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
    duplicated: Vec<String>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text; `None` when it is not well formed.
    pub fn parse(encoded: &str) -> Option<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(encoded).ok()?;
        let mut params = Self::default();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            match params.values.entry(k) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    if !params.duplicated.contains(e.key()) {
                        params.duplicated.push(e.key().clone());
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        Some(params)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The first parameter that appeared more than once, if any.
    pub fn duplicated(&self) -> Option<&str> {
        self.duplicated.first().map(String::as_str)
    }

    pub fn is_duplicated(&self, name: &str) -> bool {
        self.duplicated.iter().any(|d| d == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_empties() {
        let p = Params::parse("a=1&b=&c=x%20y&a=2").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(p.duplicated(), Some("a"));
        assert!(p.is_duplicated("a") && !p.is_duplicated("c"));
    }
}
