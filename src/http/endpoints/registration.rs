use http::StatusCode;
use http::request::Parts;

use super::endpoint;
use crate::error::Error;
use crate::http::body::{RequestBody, json_fields};
use crate::http::problem::{empty, private_json};
use crate::{Registration, Users};

endpoint! {
    /// `POST /register` with `{"email", "password", "username"? (with
    /// usernames on), …custom fields}`: 201 and the user record; with private registration
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
    let mut registration = Registration::new(fields.string("email"), fields.string("password"));
    // With usernames off, `username` is left with the custom fields, as it
    // always was.
    if users.usernames().enabled() {
        registration.username = fields.optional_string("username");
    }
    // Anything else is the app's custom fields (ignored without a profile type).
    registration.profile = fields.rest().into();
    fields.finish()?;
    if users.private_registration() {
        // A taken username cannot be hidden the way a taken address is
        // (there is no one to email instead): it is chosen after sign-in.
        if registration.username.is_some() {
            return Err(Error::field(
                "username",
                "choose a username after signing in (PATCH /users/me)",
            ));
        }
        let Registration {
            email,
            password,
            profile,
            ..
        } = registration;
        users.register_privately(&email, &password, profile).await?;
        return Ok(empty(StatusCode::ACCEPTED));
    }
    let user = users.register_with(registration).await?;
    Ok(private_json(StatusCode::CREATED, &user.record()))
}
