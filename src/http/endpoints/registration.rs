use http::StatusCode;
use http::request::Parts;

use super::endpoint;
use crate::Users;
use crate::error::Error;
use crate::http::body::{RequestBody, json_fields};
use crate::http::problem::private_json;

endpoint! {
    /// `POST /register` with `{"email", "password", …custom fields}`: 201
    /// and the user record.
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
    let user = users
        .register_with_profile(&email, &password, profile)
        .await?;
    Ok(private_json(StatusCode::CREATED, &user.record()))
}
