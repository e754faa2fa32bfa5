//! The OpenAPI document, generated from the crate's own types with utoipa.
//!
//! - The response bodies are the types the endpoints serialize
//!   ([`UserRecord`], [`TokenPair`], the admin [`Page`], the [`Problem`]
//!   document), each deriving `ToSchema` where it is defined.
//! - Every route of [`UsersService::routes`] gets its operation from
//!   [`operation`], which panics on a route it does not know, so a route
//!   cannot go undocumented.
//! - Error responses come from [`Error::status`], their descriptions name
//!   [`Error::code`], and the problem document's `code` enum lists every
//!   [`Error`] variant's code.
//! - The request bodies are in [`requests`], held to the decoders by
//!   `tests/http/openapi.rs`.
//!
//! utoipa is a dev-dependency, so applications do not compile it: the test
//! below writes the document to `src/http/openapi.json`, which
//! [`OPENAPI`](super::OPENAPI) embeds, and fails while the checked-in file
//! differs from what the code generates. After a change:
//!
//! ```text
//! UPDATE_OPENAPI=1 cargo test --lib openapi
//! ```

mod requests;

use http::header::RETRY_AFTER;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, Content, Header, InfoBuilder, Object, ObjectBuilder, OneOfBuilder, OpenApi,
    OpenApiBuilder, Paths, Ref, Required, ResponseBuilder, Type,
};

use super::UsersService;
use super::endpoints::Page;
use super::problem::{Problem, problem_headers};
use crate::error::{Error, FieldError};
use crate::{
    MAX_EMAIL_LEN, MAX_PAGE, MAX_USERNAME_LEN, MIN_USERNAME_LEN, PasswordPolicy, TokenPair,
    UserRecord,
};

/// The prefix the document's paths carry: [`UsersService::new`]'s.
const PREFIX: &str = "/users";

/// One of each [`Error`] variant, in declaration order.
fn every_error() -> Vec<Error> {
    let all = vec![
        Error::Validation(Vec::new()),
        Error::UnsupportedMediaType,
        Error::RequestTimeout,
        Error::PayloadTooLarge,
        Error::UserExists,
        Error::UsernameExists,
        Error::InvalidCredentials,
        Error::InactiveUser,
        Error::UnverifiedUser,
        Error::Unauthorized,
        Error::Forbidden,
        Error::CsrfFailed,
        Error::MissingPermission,
        Error::ReauthenticationRequired,
        Error::InvalidToken,
        Error::NotFound,
        Error::MethodNotAllowed,
        Error::RateLimited { retry_after: 1 },
        Error::Unavailable { retry_after: 1 },
        Error::Internal("internal".into()),
    ];
    // A new variant stops the build here, until it is listed above and
    // described below.
    for err in &all {
        match err {
            Error::Validation(_)
            | Error::UnsupportedMediaType
            | Error::RequestTimeout
            | Error::PayloadTooLarge
            | Error::UserExists
            | Error::UsernameExists
            | Error::InvalidCredentials
            | Error::InactiveUser
            | Error::UnverifiedUser
            | Error::Unauthorized
            | Error::Forbidden
            | Error::CsrfFailed
            | Error::MissingPermission
            | Error::ReauthenticationRequired
            | Error::InvalidToken
            | Error::NotFound
            | Error::MethodNotAllowed
            | Error::RateLimited { .. }
            | Error::Unavailable { .. }
            | Error::Internal(_) => {}
        }
    }
    all
}

/// When a client gets `err`, in words.
fn cause(err: &Error) -> &'static str {
    match err {
        Error::Validation(_) => {
            "malformed JSON, a missing or mistyped field, a bad email or username, or a weak \
             password"
        }
        Error::UnsupportedMediaType => "the body is not JSON, or a form where one is accepted",
        Error::RequestTimeout => "the body did not arrive in time",
        Error::PayloadTooLarge => "the body is over the limit",
        Error::UserExists => "the email is taken",
        Error::UsernameExists => "the username is taken",
        Error::InvalidCredentials => "wrong credentials",
        Error::InactiveUser => "an inactive user",
        Error::UnverifiedUser => "an unverified email",
        Error::Unauthorized => "a missing, malformed, expired or revoked access token",
        Error::Forbidden => "not allowed",
        Error::CsrfFailed => {
            "a state-changing request by session cookie from another origin or without \
             the session's CSRF token"
        }
        Error::MissingPermission => "without the role or permission the route requires",
        Error::ReauthenticationRequired => {
            "a sensitive change by a session that has not proved the password within the \
             re-authentication window: re-authenticate and retry"
        }
        Error::InvalidToken => "a token that is bad, expired, used, stale or of another purpose",
        Error::NotFound => "no such user or route",
        Error::MethodNotAllowed => "a method the route does not take",
        Error::RateLimited { .. } => "over a rate limit or locked out",
        Error::Unavailable { .. } => "too busy hashing",
        Error::Internal(_) => "a bug or a backend failure",
    }
}

/// The problem document's `code`: every error's stable code.
pub(crate) fn codes() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(every_error().iter().map(Error::code)))
        .build()
}

/// The token response's `token_type`.
pub(crate) fn bearer() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["bearer"]))
        .build()
}

/// An email field: at most [`MAX_EMAIL_LEN`] once normalized.
fn email() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(MAX_EMAIL_LEN))
        .build()
}

/// A username field (with usernames on): its length and characters once
/// normalized, which the input may spell otherwise (upper case, fullwidth).
fn username() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(MIN_USERNAME_LEN))
        .max_length(Some(MAX_USERNAME_LEN))
        .description(Some(
            "Only with usernames on. Normalized (NFKC, case-folded, trimmed) to 3-32 of a-z, \
             0-9, '_', '-', '.', starting and ending with a letter or digit; never an '@'.",
        ))
        .build()
}

/// [`username`], or `null` to remove it.
fn nullable_username() -> Object {
    let mut schema = username();
    schema.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]);
    schema
}

/// A new password under the default [`PasswordPolicy`].
fn password() -> Object {
    let policy = PasswordPolicy::default();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(policy.min_len))
        .max_length(Some(policy.max_len))
        .build()
}

/// What an operation takes.
enum Body {
    None,
    Json(String),
    /// JSON, or the OAuth2 password-grant form.
    JsonOrForm(String, String),
}

/// The parts of an operation that differ between routes.
struct Op {
    id: &'static str,
    summary: &'static str,
    status: StatusCode,
    description: &'static str,
    /// The JSON success body's schema name, if any.
    returns: Option<String>,
    /// Another success body the same status may carry instead.
    or_returns: Option<String>,
    /// Another success status, with no body, that a setting answers
    /// instead (and its description).
    or_status: Option<(StatusCode, &'static str)>,
    body: Body,
    /// Needs credentials: `Authorization: Bearer` or the session cookie.
    bearer: bool,
    /// Error statuses besides the success.
    errors: &'static [u16],
}

/// Reading a body: timeout, size, media type, fields; and the rate limit
/// of the endpoints that use this list (each charges its own class).
const BODY: &[u16] = &[408, 413, 415, 422, 429];

fn name<T: ToSchema>() -> String {
    T::name().into_owned()
}

/// The operation of one route of [`UsersService::routes`].
fn operation(method: &str, path: &str) -> Op {
    let op = |id, summary, status, description, returns: Option<String>| Op {
        id,
        summary,
        status,
        description,
        returns,
        or_returns: None,
        or_status: None,
        body: Body::None,
        bearer: false,
        errors: &[],
    };
    let record = || Some(name::<UserRecord>());
    let tokens = || Some(name::<TokenPair>());
    let json = |n: String| Body::Json(n);
    match (method, path) {
        ("POST", "/register") => Op {
            body: json(name::<requests::RegisterRequest>()),
            errors: &[408, 413, 415, 422, 429, 409, 503],
            or_status: Some((
                StatusCode::ACCEPTED,
                "With private registration on, instead of 201 and 409: accepted, whether or \
                 not the email is taken (its owner is emailed instead); no body.",
            )),
            ..op(
                "register",
                "Register a user",
                StatusCode::CREATED,
                "The new user.",
                record(),
            )
        },
        ("POST", "/login") => Op {
            body: Body::JsonOrForm(
                name::<requests::LoginRequest>(),
                name::<requests::LoginForm>(),
            ),
            errors: &[408, 413, 415, 422, 429, 401, 403, 503],
            or_returns: Some(name::<super::endpoints::CookieLogin>()),
            ..op(
                "login",
                "Log in",
                StatusCode::OK,
                "A new session: its tokens, or with `cookie` set, the session and CSRF \
                 cookies (Set-Cookie) and the CSRF token.",
                tokens(),
            )
        },
        ("POST", "/refresh") => Op {
            body: json(name::<requests::RefreshRequest>()),
            errors: &[408, 413, 415, 422, 429, 400, 403],
            ..op(
                "refresh",
                "Trade a refresh token for new tokens",
                StatusCode::OK,
                "New tokens; the presented one is spent.",
                tokens(),
            )
        },
        ("POST", "/logout") => Op {
            bearer: true,
            errors: &[401, 403],
            ..op(
                "logout",
                "End the calling session",
                StatusCode::NO_CONTENT,
                "Logged out.",
                None,
            )
        },
        ("POST", "/logout/all") => Op {
            bearer: true,
            errors: &[401, 403],
            ..op(
                "logoutEverywhere",
                "End every session of the caller",
                StatusCode::NO_CONTENT,
                "Every session ended, the calling one included.",
                None,
            )
        },
        ("POST", "/verify/request") => Op {
            body: json(name::<requests::EmailRequest>()),
            errors: BODY,
            ..op(
                "requestVerify",
                "Send a verification link",
                StatusCode::ACCEPTED,
                "Accepted, whoever owns the email.",
                None,
            )
        },
        ("POST", "/verify") => Op {
            body: json(name::<requests::TokenRequest>()),
            errors: &[408, 413, 415, 422, 429, 400, 409],
            ..op(
                "verify",
                "Verify an email, or apply an email change",
                StatusCode::OK,
                "The user.",
                record(),
            )
        },
        ("POST", "/verify/{token}") => Op {
            errors: &[400, 409, 429],
            ..op(
                "verifyPath",
                "Verify an email with the token in the path",
                StatusCode::OK,
                "The user.",
                record(),
            )
        },
        ("POST", "/password-reset/request") => Op {
            body: json(name::<requests::EmailRequest>()),
            errors: BODY,
            ..op(
                "requestPasswordReset",
                "Send a password-reset link",
                StatusCode::ACCEPTED,
                "Accepted, whoever owns the email.",
                None,
            )
        },
        ("POST", "/password-reset") => Op {
            body: json(name::<requests::ResetRequest>()),
            errors: &[408, 413, 415, 422, 429, 400, 503],
            ..op(
                "resetPassword",
                "Set a new password with a reset token",
                StatusCode::OK,
                "The user; every session ended.",
                record(),
            )
        },
        ("POST", "/password-reset/{token}") => Op {
            body: json(name::<requests::PasswordRequest>()),
            errors: &[408, 413, 415, 422, 429, 400, 503],
            ..op(
                "resetPasswordPath",
                "Set a new password with the token in the path",
                StatusCode::OK,
                "The user; every session ended.",
                record(),
            )
        },
        ("GET", "/me") => Op {
            bearer: true,
            errors: &[401, 403],
            ..op(
                "me",
                "The caller's record",
                StatusCode::OK,
                "The caller.",
                record(),
            )
        },
        ("PATCH", "/me") => Op {
            body: json(name::<requests::MePatch>()),
            bearer: true,
            errors: &[408, 413, 415, 422, 429, 401, 403, 409, 503],
            ..op(
                "updateMe",
                "Change password, email or custom fields",
                StatusCode::OK,
                "The caller (a new email waits for confirmation).",
                record(),
            )
        },
        ("DELETE", "/me") => Op {
            body: json(name::<requests::MeDelete>()),
            bearer: true,
            errors: &[408, 413, 415, 422, 429, 401, 403, 503],
            ..op(
                "deleteMe",
                "Delete the caller's account",
                StatusCode::NO_CONTENT,
                "Deleted, with every session.",
                None,
            )
        },
        ("POST", "/reauthenticate") => Op {
            body: json(name::<requests::ReauthenticateRequest>()),
            bearer: true,
            errors: &[408, 413, 415, 422, 429, 401, 403, 503],
            ..op(
                "reauthenticate",
                "Prove the password again in this session",
                StatusCode::NO_CONTENT,
                "The session proved the password now: sensitive changes need no \
                 current_password for the re-authentication window.",
                None,
            )
        },
        ("GET", "") => Op {
            bearer: true,
            errors: &[401, 403, 422],
            ..op(
                "listUsers",
                "List users (superuser)",
                StatusCode::OK,
                "A page of users.",
                Some(name::<Page>()),
            )
        },
        ("GET", "/{id}") => Op {
            bearer: true,
            errors: &[401, 403, 404],
            ..op(
                "getUser",
                "A user (superuser)",
                StatusCode::OK,
                "The user.",
                record(),
            )
        },
        ("PATCH", "/{id}") => Op {
            body: json(name::<requests::AdminPatch>()),
            bearer: true,
            // The admin routes charge no rate-limit class.
            errors: &[408, 413, 415, 422, 401, 403, 404, 409, 503],
            ..op(
                "updateUser",
                "Change a user (superuser)",
                StatusCode::OK,
                "The user.",
                record(),
            )
        },
        ("DELETE", "/{id}") => Op {
            bearer: true,
            errors: &[401, 403, 404],
            ..op(
                "deleteUser",
                "Delete a user (superuser; not oneself)",
                StatusCode::NO_CONTENT,
                "Deleted.",
                None,
            )
        },
        ("PUT", "/{id}/roles/{role}") => Op {
            bearer: true,
            errors: &[401, 403, 404, 422, 503],
            ..op(
                "grantRole",
                "Grant a role the app defined (superuser)",
                StatusCode::OK,
                "The user, holding the role from its next request.",
                record(),
            )
        },
        ("DELETE", "/{id}/roles/{role}") => Op {
            bearer: true,
            errors: &[401, 403, 404, 422, 503],
            ..op(
                "revokeRole",
                "Revoke a role (superuser)",
                StatusCode::OK,
                "The user, without the role from its next request.",
                record(),
            )
        },
        ("GET", "/openapi.json") => op(
            "openapi",
            "This document",
            StatusCode::OK,
            "The OpenAPI document.",
            None,
        ),
        _ => panic!("{method} {path} is routed but has no operation in the OpenAPI document"),
    }
}

/// The path and query parameters of a route.
fn parameters(method: &str, path: &str) -> Vec<utoipa::openapi::path::Parameter> {
    let param = |name: &str, place, required, schema: Object| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(place)
            .required(required)
            .schema(Some(schema))
            .build()
    };
    let uuid = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .build()
    };
    let mut params = Vec::new();
    if path.contains("{token}") {
        let token = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Za-z0-9._-]+$"))
            .build();
        params.push(param("token", ParameterIn::Path, Required::True, token));
    }
    if path.contains("{id}") {
        params.push(param("id", ParameterIn::Path, Required::True, uuid()));
    }
    if path.contains("{role}") {
        let role = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(crate::MAX_ROLE_NAME_LEN))
            .pattern(Some("^[A-Za-z0-9_.:-]+$"))
            .build();
        params.push(param("role", ParameterIn::Path, Required::True, role));
    }
    if (method, path) == ("GET", "") {
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_PAGE as u64))
            .default(Some(Value::from(50)))
            .build();
        params.push(param("limit", ParameterIn::Query, Required::False, limit));
        params.push(param("cursor", ParameterIn::Query, Required::False, uuid()));
    }
    params
}

/// The problem+json response of an error status: its description names
/// every code rendered with that status.
fn problem_response(status: u16) -> utoipa::openapi::Response {
    let errors: Vec<Error> = every_error()
        .into_iter()
        .filter(|e| e.status().as_u16() == status)
        .collect();
    assert!(!errors.is_empty(), "no error is rendered with {status}");
    let causes: Vec<String> = errors
        .iter()
        .map(|e| format!("{} ({})", cause(e), e.code()))
        .collect();
    let mut description = causes.join(", or ");
    description[..1].make_ascii_uppercase();
    let mut response = ResponseBuilder::new().content(
        "application/problem+json",
        Content::new(Some(Ref::from_schema_name(name::<Problem<'static>>()))),
    );
    // A header every one of these errors carries is part of the contract.
    let carries = |header| {
        errors.iter().all(|e| {
            let mut headers = HeaderMap::new();
            problem_headers(e, &mut headers);
            headers.contains_key(&header)
        })
    };
    if carries(RETRY_AFTER) {
        description.push_str("; see Retry-After");
        response = response.header("Retry-After", Header::new(Object::with_type(Type::Integer)));
    }
    description.push('.');
    response.description(description).build()
}

/// Responses carrying a token or a user record must not be cached (RFC
/// 6749 5.1): the endpoints send them with `private_json`.
fn no_store(response: ResponseBuilder) -> ResponseBuilder {
    let constant = |value: &str| {
        Header::new(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([value])),
        )
    };
    response
        .header("Cache-Control", constant("no-store"))
        .header("Pragma", constant("no-cache"))
}

fn method_of(method: &str) -> HttpMethod {
    match method {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PATCH" => HttpMethod::Patch,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        other => panic!("no OpenAPI method for {other}"),
    }
}

fn paths() -> Paths {
    let mut paths = Paths::new();
    for &(method, path) in UsersService::routes() {
        let op = operation(method, path);
        let mut ok = ResponseBuilder::new().description(op.description);
        if let Some(schema) = &op.returns {
            let one = Ref::from_schema_name(schema.clone());
            let content = match &op.or_returns {
                None => Content::new(Some(one)),
                Some(other) => Content::new(Some(
                    OneOfBuilder::new()
                        .item(one)
                        .item(Ref::from_schema_name(other.clone())),
                )),
            };
            ok = no_store(ok).content("application/json", content);
        } else if path == "/openapi.json" {
            ok = ok.content(
                "application/json",
                Content::new(Some(Object::with_type(Type::Object))),
            );
        }
        let mut builder = OperationBuilder::new()
            .summary(Some(op.summary))
            .operation_id(Some(op.id))
            .response(op.status.as_u16().to_string(), ok.build());
        if let Some((status, description)) = op.or_status {
            builder = builder.response(
                status.as_u16().to_string(),
                ResponseBuilder::new().description(description).build(),
            );
        }
        for &status in op.errors {
            builder = builder.response(status.to_string(), problem_response(status));
        }
        // Every endpoint sits behind the body limit, which refuses a
        // declared Content-Length over it whatever the route reads.
        if path != "/openapi.json" && !op.errors.contains(&413) {
            builder = builder.response("413", problem_response(413));
        }
        let content = |name: &String| Content::new(Some(Ref::from_schema_name(name.clone())));
        let body = match &op.body {
            Body::None => None,
            Body::Json(schema) => Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", content(schema)),
            ),
            Body::JsonOrForm(json, form) => Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", content(json))
                    .content("application/x-www-form-urlencoded", content(form)),
            ),
        };
        builder = builder.request_body(body.map(|b| b.build()));
        if op.bearer {
            builder = builder
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .security(SecurityRequirement::new(
                    "sessionCookie",
                    Vec::<String>::new(),
                ));
        }
        let params = parameters(method, path);
        if !params.is_empty() {
            builder = builder.parameters(Some(params));
        }
        paths.add_path_operation(
            format!("{PREFIX}{path}"),
            vec![method_of(method)],
            builder.build(),
        );
    }
    paths
}

/// The whole document, as utoipa builds it.
fn document() -> OpenApi {
    let components = ComponentsBuilder::new()
        .schema_from::<UserRecord>()
        .schema_from::<TokenPair>()
        .schema_from::<super::endpoints::CookieLogin>()
        .schema_from::<Page>()
        .schema_from::<Problem<'static>>()
        .schema_from::<FieldError>()
        .schema_from::<requests::RegisterRequest>()
        .schema_from::<requests::LoginRequest>()
        .schema_from::<requests::LoginForm>()
        .schema_from::<requests::RefreshRequest>()
        .schema_from::<requests::EmailRequest>()
        .schema_from::<requests::TokenRequest>()
        .schema_from::<requests::ResetRequest>()
        .schema_from::<requests::PasswordRequest>()
        .schema_from::<requests::MePatch>()
        .schema_from::<requests::MeDelete>()
        .schema_from::<requests::ReauthenticateRequest>()
        .schema_from::<requests::AdminPatch>()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        )
        .security_scheme(
            "sessionCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-tu-session",
                "The session cookie a login with `cookie` set; a state-changing request \
                 it authenticates also needs the session's CSRF token in `X-CSRF-Token` \
                 and a same-origin (or trusted) `Sec-Fetch-Site`/`Origin`.",
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(env!("CARGO_PKG_NAME"))
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The user lifecycle: registration, sessions, verification, password reset, \
                     account management and administration. Every error is \
                     application/problem+json with a stable code.",
                )),
        )
        .paths(paths())
        .components(Some(components))
        .build()
}

/// The document as JSON text, as `src/http/openapi.json` holds it.
fn generate() -> String {
    let mut doc = serde_json::to_value(document()).expect("the document serializes");
    require_headers(&mut doc);
    one_identifier(&mut doc);
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON serializes");
    text.push('\n');
    text
}

/// utoipa 5's response `Header` has no `required`; every header the
/// document names is one the endpoints always send.
fn require_headers(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for operation in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in operation.values_mut() {
            let Some(responses) = op["responses"].as_object_mut() else {
                continue;
            };
            for response in responses.values_mut() {
                if let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) {
                    for header in headers.values_mut() {
                        header["required"] = Value::Bool(true);
                    }
                }
            }
        }
    }
}

/// A JSON login names its account by `email` or by `login`, exactly one;
/// the derive can say neither is required, not that one of them is.
fn one_identifier(doc: &mut Value) {
    let schema = &mut doc["components"]["schemas"]["LoginRequest"];
    if let Some(schema) = schema.as_object_mut() {
        schema.insert(
            "oneOf".to_owned(),
            serde_json::json!([{"required": ["email"]}, {"required": ["login"]}]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_document_is_the_one_the_code_generates() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/openapi.json");
        let generated = generate();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).expect("write src/http/openapi.json");
            return;
        }
        assert!(
            super::super::OPENAPI == generated,
            "src/http/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test --lib openapi`"
        );
    }

    #[test]
    fn every_reference_names_a_schema_of_the_document() {
        let doc: Value = serde_json::from_str(&generate()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas.contains_key(name), "{r} is not in the document");
        }
    }

    fn collect_refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| collect_refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
