//! JSON request bodies are objects.
//!
//! A derived `Deserialize` for a struct also accepts a JSON array holding the fields in
//! declaration order (`["RSSMRA85T10A562S", "…"]` for `{codice_fiscale, …}`). The API
//! documents objects only, so [`Object`] asks the parser for an object and hands the struct
//! nothing but its members: an array (or any other value) at the top of a body is the
//! `validation-failed` problem "expected a JSON object". Use it around every body type:
//! `web::Json<Object<Form>>`, [`super::auth::json_body`], the JSON parts of multipart
//! uploads ([`from_slice`]).

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// What serde says when the body is not an object (matched to word the Italian detail).
pub const EXPECTED: &str = "a JSON object";

/// A `T` read only from a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object<T>(pub T);

impl<T> Object<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Object)
    }
}

/// `serde_json::from_slice`, refusing anything but an object.
pub fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    serde_json::from_slice::<Object<T>>(bytes).map(Object::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Form {
        codice_fiscale: String,
        #[serde(default)]
        note: Option<String>,
    }

    #[test]
    fn objects_pass_and_arrays_in_field_order_do_not() {
        assert_eq!(
            from_slice::<Form>(br#" {"codice_fiscale": "X", "note": null} "#).unwrap(),
            Form {
                codice_fiscale: "X".into(),
                note: None
            }
        );
        // Plain serde takes the array; `Object` does not.
        assert!(serde_json::from_slice::<Form>(br#"["X", "n"]"#).is_ok());
        for body in [&br#"["X", "n"]"#[..], b"\"X\"", b"42", b"null", b"true"] {
            let e = from_slice::<Form>(body).unwrap_err();
            assert!(e.is_data(), "{e}");
            assert!(e.to_string().contains(EXPECTED), "{e}");
        }
        // The members are still checked as before.
        let e = from_slice::<Form>(br#"{"codice_fiscale": "X", "x": 1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `x`"), "{e}");
        let e = from_slice::<Form>(b"{}").unwrap_err();
        assert!(
            e.to_string().contains("missing field `codice_fiscale`"),
            "{e}"
        );
        assert!(from_slice::<Form>(b"{").unwrap_err().is_eof());
    }
}
