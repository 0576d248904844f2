//! OAuth request parameters (query string or form body). RFC 6749 §3.1/§3.2: parameters must
//! not appear more than once, and empty values count as absent.
//!
//! Read in one pass into a hash map: each pair costs one look-up, so a body of repeated names
//! is linear in its length (the earlier list of repeated names made it quadratic), and a text
//! with more than [`MAX_PARAMS`] pairs is refused as soon as the pair past the cap is read.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// The most pairs a query string or form body may carry. The longest form procura serves
/// has a few tens of fields; an OAuth request has at most a dozen.
pub const MAX_PARAMS: usize = 100;

/// Why a text is not a parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("more than {MAX_PARAMS} parameters")]
    TooMany,
}

#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
    /// The first name seen twice (with a value both times), kept for the error message.
    first_duplicated: Option<String>,
    duplicated: HashSet<String>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text; `None` when it has more than
    /// [`MAX_PARAMS`] pairs (see [`try_parse`](Self::try_parse) for the reason).
    pub fn parse(encoded: &str) -> Option<Self> {
        Self::try_parse(encoded).ok()
    }

    /// Parses `application/x-www-form-urlencoded` text (invalid percent-escapes and UTF-8
    /// decode lossily, as browsers send them), counting every pair, empty ones included.
    ///
    /// # Errors
    ///
    /// [`ParamsError::TooMany`] past [`MAX_PARAMS`] pairs.
    pub fn try_parse(encoded: &str) -> Result<Self, ParamsError> {
        let mut params = Self::default();
        for (count, (k, v)) in form_urlencoded::parse(encoded.as_bytes()).enumerate() {
            if count >= MAX_PARAMS {
                return Err(ParamsError::TooMany);
            }
            if v.is_empty() {
                continue;
            }
            match params.values.entry(k.into_owned()) {
                Entry::Occupied(e) => {
                    if params.duplicated.insert(e.key().clone())
                        && params.first_duplicated.is_none()
                    {
                        params.first_duplicated = Some(e.key().clone());
                    }
                }
                Entry::Vacant(e) => {
                    e.insert(v.into_owned());
                }
            }
        }
        Ok(params)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The first parameter that appeared more than once, if any.
    pub fn duplicated(&self) -> Option<&str> {
        self.first_duplicated.as_deref()
    }

    pub fn is_duplicated(&self, name: &str) -> bool {
        self.duplicated.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_empties() {
        let p = Params::parse("a=1&b=&c=x%20y&a=2&c=z&a=3").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(p.duplicated(), Some("a"));
        assert!(p.is_duplicated("a") && p.is_duplicated("c") && !p.is_duplicated("b"));
        // An empty repeat is an absent one.
        let p = Params::parse("a=1&a=").unwrap();
        assert_eq!(p.duplicated(), None);
    }

    #[test]
    fn at_most_max_params_pairs() {
        let pairs = |n: usize| {
            (0..n)
                .map(|i| format!("p{i}=1"))
                .collect::<Vec<_>>()
                .join("&")
        };
        let full = Params::try_parse(&pairs(MAX_PARAMS)).unwrap();
        assert_eq!(full.get(&format!("p{}", MAX_PARAMS - 1)), Some("1"));
        assert_eq!(
            Params::try_parse(&pairs(MAX_PARAMS + 1)).err(),
            Some(ParamsError::TooMany)
        );
        // Empty pairs count too: they cost a step each.
        let empties = format!("a=1{}", "&b=".repeat(MAX_PARAMS));
        assert_eq!(
            Params::try_parse(&empties).err(),
            Some(ParamsError::TooMany)
        );
        assert!(Params::parse(&pairs(MAX_PARAMS + 1)).is_none());
    }
}
