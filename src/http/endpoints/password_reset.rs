use http::StatusCode;
use http::request::Parts;

use super::{PathToken, endpoint};
use crate::Users;
use crate::error::Error;
use crate::http::body::{RequestBody, json_fields};
use crate::http::problem::{empty, private_json};

endpoint! {
    /// `POST /password-reset/request` with `{"email"}`: 202, whoever owns it.
    ResetRequest => reset_request, rate_limit = EmailRequest
}

endpoint! {
    /// `POST /password-reset` with `{"token", "password"}`, or
    /// `POST /password-reset/{token}` with `{"password"}` (see
    /// [`PathToken`]): 200 and the user record. Every session ends.
    ResetPassword => reset_password, rate_limit = Token
}

async fn reset_request<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let mut fields = json_fields(&parts, body).await?;
    let email = fields.string("email");
    fields.finish()?;
    users.request_password_reset(&email).await?;
    Ok(empty(StatusCode::ACCEPTED))
}

async fn reset_password<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let path_token = parts.extensions.get::<PathToken>().map(|t| t.0.clone());
    let mut fields = json_fields(&parts, body).await?;
    let token = match path_token {
        Some(token) => token,
        None => fields.string("token"),
    };
    let password = fields.string("password");
    fields.finish()?;
    let user = users.reset_password(&token, &password).await?;
    Ok(private_json(StatusCode::OK, &user.record()))
}
