use http::StatusCode;
use http::request::Parts;

use super::endpoint;
use crate::error::Error;
use crate::http::body::{RequestBody, json_fields};
use crate::http::problem::private_json;
use crate::{Registration, Users};

endpoint! {
    /// `POST /register` with `{"email", "password", "username"? (with
    /// usernames on), …custom fields}`: 201 and the user record.
    Register => register, rate_limit = Register
}

async fn register<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let mut fields = json_fields(&parts, body).await?;
    let mut registration = Registration::new(fields.string("email"), fields.string("password"));
    // With usernames off, `username` is left with the custom fields, as it
    // always was.
    if users.usernames().enabled() {
        registration.username = fields.optional_string("username");
    }
    // Anything else is the app's custom fields (ignored without a profile type).
    registration.profile = fields.rest().into();
    fields.finish()?;
    let user = users.register_with(registration).await?;
    Ok(private_json(StatusCode::CREATED, &user.record()))
}
