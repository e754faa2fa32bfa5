use http::StatusCode;
use http::request::Parts;

use super::endpoint;
use crate::Users;
use crate::error::Error;
use crate::http::body::{RequestBody, json_fields};
use crate::http::problem::{empty, private_json};

endpoint! {
    /// `POST /register` with `{"email", "password", …custom fields}`: 201
    /// and the user record; with private registration
    /// ([`with_private_registration`](crate::UsersBuilder::with_private_registration)),
    /// 202 and no body, whether or not the address was taken.
    Register => register, rate_limit = Register
}

async fn register<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let mut fields = json_fields(&parts, body).await?;
    let email = fields.string("email");
    let password = fields.string("password");
    // Anything else is the app's custom fields (ignored without a profile type).
    let profile = fields.rest().into();
    fields.finish()?;
    if users.private_registration() {
        users.register_privately(&email, &password, profile).await?;
        return Ok(empty(StatusCode::ACCEPTED));
    }
    let user = users
        .register_with_profile(&email, &password, profile)
        .await?;
    Ok(private_json(StatusCode::CREATED, &user.record()))
}
