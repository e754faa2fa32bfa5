//! The request bodies, as schemas.
//!
//! The endpoints decode their bodies field by field (so a client hears
//! about every bad field at once), so there is no struct to derive these
//! from: each one here names the fields its endpoint takes.
//! `tests/http/openapi.rs` holds them to the decoders: an empty body is
//! refused naming exactly the required fields, and a body with every field
//! mistyped is refused naming every field.
// Never built: they exist for their `ToSchema` derives.
#![allow(dead_code)]

use utoipa::ToSchema;

use super::{email, nullable_username, password, username};

/// `POST /users/register`; any other field is the app's custom profile field.
#[derive(ToSchema)]
pub(super) struct RegisterRequest {
    #[schema(schema_with = email)]
    email: String,
    #[schema(schema_with = password)]
    password: String,
    #[schema(schema_with = username, required = false)]
    username: String,
}

/// `POST /users/login` as JSON: `email`, or instead `login` (an email, or
/// a username with usernames on); exactly one of the two.
#[derive(ToSchema)]
pub(super) struct LoginRequest {
    /// The email; or send `login` instead.
    #[schema(required = false)]
    email: String,
    /// Instead of `email` (never both): an email, or a username with
    /// usernames on.
    #[schema(required = false)]
    login: String,
    password: String,
    /// Sign a browser in with the session cookie instead of answering tokens.
    #[schema(required = false)]
    cookie: bool,
}

/// `POST /users/login` as an OAuth2 password-grant form.
#[derive(ToSchema)]
pub(super) struct LoginForm {
    /// The email, or a username with usernames on.
    username: String,
    password: String,
    #[schema(required = false)]
    grant_type: String,
    /// `true`: sign a browser in with the session cookie instead of answering tokens.
    #[schema(required = false, schema_with = true_or_false)]
    cookie: String,
}

fn true_or_false() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["true", "false"]))
        .build()
}

/// `POST /users/refresh`.
#[derive(ToSchema)]
pub(super) struct RefreshRequest {
    refresh_token: String,
}

/// `POST /users/verify/request` and `POST /users/password-reset/request`.
#[derive(ToSchema)]
pub(super) struct EmailRequest {
    #[schema(schema_with = email)]
    email: String,
}

/// `POST /users/verify`.
#[derive(ToSchema)]
pub(super) struct TokenRequest {
    token: String,
}

/// `POST /users/password-reset`.
#[derive(ToSchema)]
pub(super) struct ResetRequest {
    token: String,
    #[schema(schema_with = password)]
    password: String,
}

/// `POST /users/password-reset/{token}`.
#[derive(ToSchema)]
pub(super) struct PasswordRequest {
    #[schema(schema_with = password)]
    password: String,
}

/// `PATCH /users/me`; any other field is the app's custom profile field.
#[derive(ToSchema)]
pub(super) struct MePatch {
    /// Optional while the session proved the password within the
    /// re-authentication window; checked when sent.
    #[schema(required = false)]
    current_password: String,
    #[schema(schema_with = password, required = false)]
    password: String,
    #[schema(schema_with = email, required = false)]
    email: String,
    #[schema(schema_with = nullable_username, required = false)]
    username: String,
}

/// `DELETE /users/me`.
#[derive(ToSchema)]
pub(super) struct MeDelete {
    /// Optional while the session proved the password within the
    /// re-authentication window; checked when sent.
    #[schema(required = false)]
    current_password: String,
}

/// `POST /users/reauthenticate`.
#[derive(ToSchema)]
pub(super) struct ReauthenticateRequest {
    password: String,
}

/// `PATCH /users/{id}`: any of the fields.
#[derive(ToSchema)]
pub(super) struct AdminPatch {
    #[schema(required = false)]
    is_active: bool,
    #[schema(required = false)]
    is_verified: bool,
    #[schema(required = false)]
    is_superuser: bool,
    #[schema(schema_with = email, required = false)]
    email: String,
    #[schema(schema_with = password, required = false)]
    password: String,
    #[schema(schema_with = nullable_username, required = false)]
    username: String,
}
