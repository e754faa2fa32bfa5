//! Request decoding: media type, size limit, and field-by-field validation.
//!
//! Bodies are read through `http_body_util::Limited`, so an endpoint is safe
//! even mounted alone, and every failure is a problem+json answer: 415 for a
//! wrong media type, 413 over the limit, 422 for bad JSON or fields.

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};

use crate::Users;
use crate::error::{BoxError, Error, FieldError};

/// A request body the endpoints can read: any `http_body::Body` that is
/// `Send`, whose errors convert to [`BoxError`] (hyper's `Incoming`,
/// axum's `Body`, `Full<Bytes>`, ...).
pub(crate) trait RequestBody:
    http_body::Body<Data: Send, Error: Into<BoxError>> + Send
{
}

impl<B> RequestBody for B
where
    B: http_body::Body + Send,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
}

/// Which media type a request body has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaType {
    Json,
    Form,
    Other,
}

/// The media type of `headers`, ignoring parameters such as `charset`.
pub(crate) fn media_type(headers: &HeaderMap) -> MediaType {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return MediaType::Other;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        MediaType::Json
    } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        MediaType::Form
    } else {
        MediaType::Other
    }
}

/// Reads the whole body, refusing more than the body limit, or a body that
/// takes longer than the body timeout (a stalled upload would otherwise hold
/// its connection and task forever).
pub(crate) async fn read<B: RequestBody>(
    headers: &HeaderMap,
    body: B,
    users: &Users,
) -> Result<Bytes, Error> {
    let (limit, timeout) = (users.body_limit(), users.body_timeout());
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Error::PayloadTooLarge);
    }
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| Error::RequestTimeout)?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(Error::PayloadTooLarge),
        Err(_) => Err(Error::field("body", "the request body could not be read")),
    }
}

/// Parses `bytes` as a JSON object.
pub(crate) fn json_object(bytes: &[u8]) -> Result<Fields, Error> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(Fields::new(map)),
        Ok(_) => Err(Error::field("body", "the body must be a JSON object")),
        Err(err) => Err(Error::field("body", format!("malformed JSON: {err}"))),
    }
}

/// Parses `bytes` as an urlencoded form into string fields.
pub(crate) fn form_object(bytes: &[u8]) -> Result<Fields, Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|_| Error::field("body", "malformed form body"))?;
    let mut map = Map::new();
    for (key, value) in pairs {
        map.insert(key, Value::String(value));
    }
    Ok(Fields::new(map))
}

/// A decoded body whose fields are taken one by one; problems are collected
/// so the client hears about every bad field at once.
pub(crate) struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    fn new(map: Map<String, Value>) -> Self {
        Fields {
            map,
            errors: Vec::new(),
        }
    }

    /// A required string field; records an error (and yields "") if absent
    /// or not a string.
    pub(crate) fn string(&mut self, name: &str) -> String {
        match self.map.remove(name) {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => {
                self.errors
                    .push(FieldError::new(name, "this field is required"));
                String::new()
            }
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "this field must be a string"));
                String::new()
            }
        }
    }

    /// An optional string field; records an error if present but not a
    /// string.
    pub(crate) fn optional_string(&mut self, name: &str) -> Option<String> {
        match self.map.remove(name) {
            Some(Value::String(s)) => Some(s),
            Some(Value::Null) | None => None,
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "this field must be a string"));
                None
            }
        }
    }

    /// An optional boolean field; records an error if present but not a
    /// boolean.
    pub(crate) fn optional_bool(&mut self, name: &str) -> Option<bool> {
        match self.map.remove(name) {
            Some(Value::Bool(b)) => Some(b),
            Some(Value::Null) | None => None,
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "this field must be true or false"));
                None
            }
        }
    }

    /// Every field not taken yet: the app's custom fields.
    pub(crate) fn rest(&mut self) -> Map<String, Value> {
        std::mem::take(&mut self.map)
    }

    /// Renames a field (form logins send `username` for the email).
    pub(crate) fn alias(mut self, from: &str, to: &str) -> Self {
        if !self.map.contains_key(to) {
            if let Some(v) = self.map.remove(from) {
                self.map.insert(to.to_owned(), v);
            }
        }
        self
    }

    /// Ends decoding: any recorded problem becomes one validation error.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// Reads a JSON body (refusing other media types) into [`Fields`].
pub(crate) async fn json_fields<B: RequestBody>(
    parts: &http::request::Parts,
    body: B,
    users: &Users,
) -> Result<Fields, Error> {
    if media_type(&parts.headers) != MediaType::Json {
        return Err(Error::UnsupportedMediaType);
    }
    let bytes = read(&parts.headers, body, users).await?;
    json_object(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_type_ignores_parameters_and_case() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(media_type(&h), MediaType::Json);
        h.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(media_type(&h), MediaType::Other);
        assert_eq!(media_type(&HeaderMap::new()), MediaType::Other);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut f = json_object(br#"{"email": 5}"#).unwrap();
        f.string("email");
        f.string("password");
        match f.finish() {
            Err(Error::Validation(errors)) => {
                let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["email", "password"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_objects_and_garbage_are_validation_errors() {
        for body in [&b"[]"[..], b"\"x\"", b"{", b"\xff\xfe", b""] {
            assert!(matches!(json_object(body), Err(Error::Validation(_))));
        }
    }
}
