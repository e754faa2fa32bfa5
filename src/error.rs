//! The one public error type, with a stable machine code per variant.
//!
//! Every lifecycle operation returns [`Error`]. The HTTP side renders it as
//! `application/problem+json` (RFC 9457) with the `code` field from the
//! [HTTP contract](crate::http::api)'s table; see [`Error::code`] and
//! [`Error::status`].

use std::fmt;

use http::StatusCode;

/// A boxed error from a backend (store, mailer), kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One field-level validation problem, rendered into the `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The request field at fault (`email`, `password`, ...).
    pub field: String,
    /// What is wrong with it, for a human.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything a lifecycle operation can fail with.
///
/// The variants map one-to-one onto the error codes of the
/// [HTTP contract](crate::http::api). Internal failures keep their source
/// for logs but never show it to clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Malformed body, missing or mistyped field, bad email, weak password.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The body is not JSON (or a form, where a form is accepted).
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The body did not arrive in time.
    #[error("request timeout")]
    RequestTimeout,
    /// The body is over the configured limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The (normalized) email is already registered.
    #[error("a user with this email already exists")]
    UserExists,
    /// The (normalized) username belongs to another user.
    #[error("a user with this username already exists")]
    UsernameExists,
    /// Unknown email or wrong password: deliberately indistinguishable.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The account is deactivated.
    #[error("the user is inactive")]
    InactiveUser,
    /// The route requires a verified email.
    #[error("the user's email is not verified")]
    UnverifiedUser,
    /// No, malformed, expired, revoked or wrong-type access token.
    #[error("authentication required")]
    Unauthorized,
    /// Authenticated, but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// A state-changing request authenticated by the session cookie came
    /// from another origin, or without this session's CSRF token.
    #[error("CSRF check failed")]
    CsrfFailed,
    /// Authenticated, but without the role or permission the route
    /// requires (see [`UsersBuilder::with_role`](crate::UsersBuilder::with_role)).
    #[error("missing role or permission")]
    MissingPermission,
    /// A sensitive change, and the session has not proved the password
    /// within the re-authentication window (see
    /// [`UsersBuilder::with_reauthentication_window`](crate::UsersBuilder::with_reauthentication_window)):
    /// re-authenticate (`POST /users/reauthenticate`) and retry, or send
    /// `current_password` where the route takes it.
    #[error("re-authentication required")]
    ReauthenticationRequired,
    /// A verify, reset or refresh token that is bad, expired, used, stale or
    /// of another purpose.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Unknown route or user.
    #[error("not found")]
    NotFound,
    /// Known route, wrong method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Over a rate limit or locked out; retry after this many seconds.
    #[error("too many requests")]
    RateLimited {
        /// Seconds until a retry may succeed (sent as `Retry-After`).
        retry_after: u64,
    },
    /// Too busy to take the request now; retry after this many seconds.
    #[error("service unavailable")]
    Unavailable {
        /// Seconds until a retry may succeed (sent as `Retry-After`).
        retry_after: u64,
    },
    /// A bug or a backend failure. The source is logged, never sent.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl Error {
    /// The stable machine code of this error, as in the
    /// [HTTP contract](crate::http::api).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(_) => "VALIDATION_ERROR",
            Error::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Error::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Error::RequestTimeout => "REQUEST_TIMEOUT",
            Error::UserExists => "USER_EXISTS",
            Error::UsernameExists => "USERNAME_EXISTS",
            Error::InvalidCredentials => "INVALID_CREDENTIALS",
            Error::InactiveUser => "INACTIVE_USER",
            Error::UnverifiedUser => "UNVERIFIED_USER",
            Error::Unauthorized => "UNAUTHORIZED",
            Error::Forbidden => "FORBIDDEN",
            Error::CsrfFailed => "CSRF_FAILED",
            Error::MissingPermission => "MISSING_PERMISSION",
            Error::ReauthenticationRequired => "REAUTHENTICATION_REQUIRED",
            Error::InvalidToken => "INVALID_TOKEN",
            Error::NotFound => "NOT_FOUND",
            Error::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::Unavailable { .. } => "SERVICE_UNAVAILABLE",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// The HTTP status this error is rendered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::UserExists | Error::UsernameExists => StatusCode::CONFLICT,
            Error::InvalidCredentials | Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::InactiveUser
            | Error::UnverifiedUser
            | Error::Forbidden
            | Error::CsrfFailed
            | Error::MissingPermission
            | Error::ReauthenticationRequired => StatusCode::FORBIDDEN,
            Error::InvalidToken => StatusCode::BAD_REQUEST,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short human title for the problem document.
    pub fn title(&self) -> &'static str {
        match self {
            Error::Validation(_) => "Validation error",
            Error::UnsupportedMediaType => "Unsupported media type",
            Error::PayloadTooLarge => "Payload too large",
            Error::RequestTimeout => "Request timeout",
            Error::UserExists => "User already exists",
            Error::UsernameExists => "Username already taken",
            Error::InvalidCredentials => "Invalid credentials",
            Error::InactiveUser => "Inactive user",
            Error::UnverifiedUser => "Unverified user",
            Error::Unauthorized => "Unauthorized",
            Error::Forbidden => "Forbidden",
            Error::CsrfFailed => "CSRF check failed",
            Error::MissingPermission => "Missing permission",
            Error::ReauthenticationRequired => "Re-authentication required",
            Error::InvalidToken => "Invalid token",
            Error::NotFound => "Not found",
            Error::MethodNotAllowed => "Method not allowed",
            Error::RateLimited { .. } => "Too many requests",
            Error::Unavailable { .. } => "Service unavailable",
            Error::Internal(_) => "Internal server error",
        }
    }

    /// A validation error on one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    /// Wraps a backend failure as [`Error::Internal`].
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Error::Internal(source.into())
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::EmailTaken => Error::UserExists,
            StoreError::UsernameTaken => Error::UsernameExists,
            // A lost compare-and-swap or a spent token means the token or
            // credential the caller relied on is no longer current.
            StoreError::Conflict | StoreError::TokenSpent => Error::InvalidToken,
            StoreError::NotFound => Error::NotFound,
            // At least one active superuser always remains (docs/API.md).
            StoreError::LastSuperuser => Error::Forbidden,
            other => Error::Internal(Box::new(other)),
        }
    }
}

/// A configuration mistake caught when building, never per request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No token-signing secret was given.
    #[error("a token signing secret is required (at least 32 bytes)")]
    MissingSecret,
    /// The secret is too short to resist brute force.
    #[error("the token signing secret must be at least 32 bytes, got {0}")]
    SecretTooShort(usize),
    /// A setting is out of its range.
    #[error("invalid setting `{name}`: {reason}")]
    Invalid {
        /// The setting's name.
        name: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

/// A message for `Display` contexts that must not leak internals.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"REDACTED\"")
    }
}
