use http::StatusCode;
use http::request::Parts;

use super::{PathToken, endpoint};
use crate::Users;
use crate::error::Error;
use crate::http::body::{RequestBody, json_fields};
use crate::http::problem::{empty, private_json};

endpoint! {
    /// `POST /verify/request` with `{"email"}`: 202, whoever owns the email.
    VerifyRequest => verify_request, rate_limit = EmailRequest
}

endpoint! {
    /// `POST /verify` with `{"token"}`, or `POST /verify/{token}` with no
    /// body (see [`PathToken`]): 200 and the verified user's record.
    Verify => verify, rate_limit = Token
}

async fn verify_request<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let mut fields = json_fields(&parts, body).await?;
    let email = fields.string("email");
    fields.finish()?;
    users.request_verify(&email).await?;
    Ok(empty(StatusCode::ACCEPTED))
}

async fn verify<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let token = match parts.extensions.get::<PathToken>() {
        Some(PathToken(token)) => token.clone(),
        None => {
            let mut fields = json_fields(&parts, body).await?;
            let token = fields.string("token");
            fields.finish()?;
            token
        }
    };
    let user = users.verify(&token).await?;
    Ok(private_json(StatusCode::OK, &user.record()))
}
