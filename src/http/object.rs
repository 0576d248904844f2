//! JSON request bodies are objects.
//!
//! A derived `Deserialize` for a struct also accepts a JSON array holding the fields in
//! declaration order (`["RSSMRA85T10A562S", "…"]` for `{codice_fiscale, …}`). The API
//! documents objects only, so [`Object`] asks the parser for an object and hands the struct
//! nothing but its members: an array (or any other value) at the top of a body is the
//! `validation-failed` problem "expected a JSON object". Use it around every body type:
//! `web::Json<Object<Form>>`, [`super::auth::json_body`], the JSON parts of multipart
//! uploads ([`from_slice`]).
//!
//! Every JSON body is read by [`Json`] (or [`read_body`]), which also refuses nesting past
//! [`MAX_DEPTH`] (see [`super::json_depth`]) before serde parses anything.

use super::json_depth::{self, MAX_DEPTH};
use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor};
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

/// `serde_json::from_slice`, refusing anything but an object, and any nesting past
/// [`MAX_DEPTH`].
pub fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    if let Some(at) = json_depth::too_deep(bytes, MAX_DEPTH) {
        return Err(de::Error::custom(format!(
            "nested deeper than {MAX_DEPTH} levels at byte {at}"
        )));
    }
    serde_json::from_slice::<Object<T>>(bytes).map(Object::into_inner)
}

/// Why a JSON body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// As actix's JSON extractor says (content type, size, syntax, shape).
    Json(JsonPayloadError),
    /// Nested past [`MAX_DEPTH`]; the byte offset of the bracket that went past it.
    TooDeep(usize),
}

/// The JSON body of a request as a `T` read from an object: `application/json` (or
/// `+json`), at most `limit` bytes, nested at most [`MAX_DEPTH`] levels. What actix's
/// `web::Json` does, with the depth scanned between reading and parsing.
pub async fn read_body<T: DeserializeOwned>(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<T, BodyError> {
    let is_json = req.mime_type().ok().flatten().is_some_and(|m| {
        m.subtype().as_str() == "json" || m.suffix().is_some_and(|s| s.as_str() == "json")
    });
    if !is_json {
        return Err(BodyError::Json(JsonPayloadError::ContentType));
    }
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(length) = length.filter(|l| *l > limit) {
        return Err(BodyError::Json(JsonPayloadError::OverflowKnownLength {
            length,
            limit,
        }));
    }
    let mut body = web::BytesMut::with_capacity(length.unwrap_or(8192).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e: PayloadError| BodyError::Json(e.into()))?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(BodyError::Json(JsonPayloadError::Overflow { limit }));
        }
        body.extend_from_slice(&chunk);
    }
    if let Some(at) = json_depth::too_deep(&body, MAX_DEPTH) {
        return Err(BodyError::TooDeep(at));
    }
    serde_json::from_slice::<Object<T>>(&body)
        .map(Object::into_inner)
        .map_err(|e| BodyError::Json(JsonPayloadError::Deserialize(e)))
}

/// The extractor form of [`read_body`], with the body limit of the configuration
/// (`server.body_limit_bytes`); refusals are problems ([`super::problems::body_problem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let limit = req.app_data::<web::Data<crate::AppState>>().map_or(
                crate::config::ServerConfig::default().body_limit_bytes,
                |s| s.config.server.body_limit_bytes,
            );
            read_body(&req, payload, limit)
                .await
                .map(Json)
                .map_err(|e| super::problems::body_problem(e, limit, &req).into())
        })
    }
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
