//! Rendering: JSON success bodies and `application/problem+json` errors.

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use serde::Serialize;

use crate::error::Error;

const PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The problem document of the [HTTP contract](crate::http::api).
#[derive(Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[cfg_attr(
    test,
    schema(description = "RFC 9457 problem details with a stable code.")
)]
pub(crate) struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    #[cfg_attr(test, schema(schema_with = crate::http::openapi::codes))]
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, schema(value_type = Vec<crate::error::FieldError>, required = false))]
    errors: Option<&'a [crate::error::FieldError]>,
}

/// The body bytes of `err`'s problem document.
pub(crate) fn problem_body(err: &Error) -> bytes::Bytes {
    let problem = Problem {
        kind: "about:blank",
        title: err.title(),
        status: err.status().as_u16(),
        code: err.code(),
        errors: match err {
            Error::Validation(errors) => Some(errors),
            _ => None,
        },
    };
    // Serializing plain strings and numbers cannot fail; fall back anyway.
    serde_json::to_vec(&problem)
        .map(bytes::Bytes::from)
        .unwrap_or_else(|_| bytes::Bytes::from_static(b"{\"code\":\"INTERNAL\"}"))
}

/// The headers an error's response needs besides its body.
pub(crate) fn problem_headers(err: &Error, headers: &mut http::HeaderMap) {
    headers.insert(CONTENT_TYPE, PROBLEM_JSON);
    match err {
        Error::Unauthorized => {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Error::RateLimited { retry_after } | Error::Unavailable { retry_after } => {
            headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        _ => {}
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Error::into_response(self)
    }
}

impl Error {
    /// The problem+json response for this error, with its status, stable
    /// `code` and headers (`WWW-Authenticate`, `Retry-After`), as the
    /// endpoints answer it: for servers without axum, no trait to import.
    pub fn into_response(self) -> Response {
        problem_response::<Body>(&self)
    }
}

/// Put into the extensions of every error response, so middleware can see
/// which error a response carries without parsing its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// `err` as a problem+json response with any body type that can be made
/// from bytes (for middleware wrapping services with their own body type).
/// Every error response is made here, so none leaves without its log line
/// (an internal failure at ERROR, whichever service or layer hit it).
pub(crate) fn problem_response<B: From<bytes::Bytes>>(err: &Error) -> http::Response<B> {
    if let Error::Internal(source) = err {
        tracing::error!(error = %source, source = ?source, "internal error");
    } else {
        tracing::trace!(target: "tower_users::rejection", code = err.code(), "request refused");
    }
    let mut res = http::Response::new(B::from(problem_body(err)));
    *res.status_mut() = err.status();
    problem_headers(err, res.headers_mut());
    res.extensions_mut().insert(ErrorCode(err.code()));
    res
}

/// A JSON response.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut res = Response::new(Body::from(bytes));
            *res.status_mut() = status;
            res.headers_mut().insert(CONTENT_TYPE, JSON);
            res
        }
        Err(err) => Error::internal(err).into_response(),
    }
}

/// A JSON response that no cache may keep: it carries a token or a user
/// record (RFC 6749 5.1 asks this of every token response; `Pragma` is for
/// HTTP/1.0 caches).
pub(crate) fn private_json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let mut res = json(status, value);
    let headers = res.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// A bodiless response with `status`.
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    res
}
