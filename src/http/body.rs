//! Request decoding: media type, size limit, and field-by-field validation.
//!
//! Every endpoint answers behind tower-http's `RequestBodyLimit` and
//! `RequestBodyDeadline` ([`guarded`]), so an endpoint is safe even mounted
//! alone, and every failure is a problem+json answer: 415 for a wrong media
//! type, 413 over the limit, 408 for a body that takes too long, 422 for
//! bad JSON or fields.

use std::convert::Infallible;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, LengthLimitError};
use serde_json::{Map, Value};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{DeadlineBody, RequestBodyDeadlineLayer, TimeoutError};

use crate::Users;
use crate::error::{BoxError, Error, FieldError};
use crate::http::cookies::{clear_if_dead, cookie_head};

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

/// The body a handler reads: tower-http's size limit inside its deadline.
pub(crate) type Guarded<B> = DeadlineBody<tower_http::body::Limited<B>>;

/// Answers `req` with `handler` behind tower-http's body limits: over
/// `Users::body_limit` it is 413, and a body not in within
/// `Users::body_timeout` of its arrival is 408. The deadline covers the whole
/// body, not the gap between two chunks, so a client trickling a byte at a
/// time cannot hold the task either.
pub(crate) async fn guarded<B, H, F>(users: Users, req: Request<B>, handler: H) -> Response
where
    B: RequestBody + 'static,
    H: Fn(Users, http::request::Parts, Guarded<B>) -> F + Copy + Send + 'static,
    F: Future<Output = Result<Response, Error>> + Send,
{
    let (limit, timeout) = (users.body_limit(), users.body_timeout());
    let endpoint = tower::service_fn(move |req: Request<Guarded<B>>| {
        let users = users.clone();
        async move {
            let (parts, body) = req.into_parts();
            let cookies = cookie_head(&parts);
            let res = handler(users.clone(), parts, body).await;
            let mut res = res.unwrap_or_else(IntoResponse::into_response);
            clear_if_dead(&users, &cookies, &mut res).await;
            Ok::<_, Infallible>(res)
        }
    });
    let answered = ServiceBuilder::new()
        .map_response(limit_problem)
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(RequestBodyDeadlineLayer::new(timeout))
        .service(endpoint)
        .oneshot(req)
        .await;
    let Ok(res) = answered;
    res
}

/// tower-http refuses a declared length over the limit with a text/plain
/// 413 of its own; the API promises problem+json with `PAYLOAD_TOO_LARGE`.
fn limit_problem<B>(res: Response<B>) -> Response
where
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    let ours = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE && !ours {
        return Error::PayloadTooLarge.into_response();
    }
    res.map(Body::new)
}

/// Reads the whole body. Only call it on a [`Guarded`] body (every
/// endpoint's, see [`guarded`]): the limits are in the body, not here.
pub(crate) async fn read<B: RequestBody>(body: B) -> Result<Bytes, Error> {
    let err: BoxError = match body.collect().await {
        Ok(collected) => return Ok(collected.to_bytes()),
        Err(err) => err.into(),
    };
    if err.is::<LengthLimitError>() {
        Err(Error::PayloadTooLarge)
    } else if err.is::<TimeoutError>() {
        Err(Error::RequestTimeout)
    } else {
        Err(Error::field("body", "the request body could not be read"))
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
    /// A field that may be absent (`None`), `null` (`Some(None)`: clear
    /// it) or a string.
    pub(crate) fn nullable_string(&mut self, name: &str) -> Option<Option<String>> {
        match self.map.remove(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "this field must be a string or null"));
                None
            }
        }
    }

    /// Whether the body has `name` (not yet taken).
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Whether the body has `name` (not yet taken) with a value other than
    /// `null`, which counts as absent.
    pub(crate) fn present(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| !v.is_null())
    }

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

    /// Records a problem with `name` found by the caller.
    pub(crate) fn error(&mut self, name: &str, message: &str) {
        self.errors.push(FieldError::new(name, message));
    }

    /// Every field not taken yet: the app's custom fields.
    pub(crate) fn rest(&mut self) -> Map<String, Value> {
        std::mem::take(&mut self.map)
    }

    /// Renames a field (form logins send `username` for the email).
    pub(crate) fn alias(mut self, from: &str, to: &str) -> Self {
        if !self.map.contains_key(to)
            && let Some(v) = self.map.remove(from)
        {
            self.map.insert(to.to_owned(), v);
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
) -> Result<Fields, Error> {
    if media_type(&parts.headers) != MediaType::Json {
        return Err(Error::UnsupportedMediaType);
    }
    let bytes = read(body).await?;
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
