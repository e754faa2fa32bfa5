use http::request::Parts;
use http::{Method, StatusCode};

use super::endpoint;
use crate::error::Error;
use crate::http::CurrentUser;
use crate::http::body::{RequestBody, json_fields};
use crate::http::problem::{empty, private_json};
use crate::{AccountChange, Users};

endpoint! {
    /// `/me` with a bearer token: `GET` returns the caller's record;
    /// `PATCH` with `{"current_password", "password"?, "email"?,
    /// "username"? (with usernames on; `null` clears it), …custom fields}`
    /// changes it; `DELETE` with `{"current_password"}` deletes the
    /// account (204).
    Me => me, rate_limit = EmailRequest if PATCH | DELETE
}

async fn me<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let caller = CurrentUser::from_parts(&parts, &users).await?;
    match parts.method {
        Method::PATCH => {
            let mut fields = json_fields(&parts, body).await?;
            let mut change = AccountChange::new(fields.string("current_password"));
            change.password = fields.optional_string("password");
            change.email = fields.optional_string("email");
            // With usernames off, `username` stays with the custom fields,
            // as it always did.
            if users.usernames().enabled() {
                change.username = fields.nullable_string("username");
            }
            change.profile = fields.rest().into();
            fields.finish()?;
            let user = users
                .update_account(caller.id, caller.session(), change)
                .await?;
            Ok(private_json(StatusCode::OK, &user.record()))
        }
        Method::DELETE => {
            let mut fields = json_fields(&parts, body).await?;
            let current = fields.string("current_password");
            fields.finish()?;
            users.delete_account(caller.id, &current).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        _ => Ok(private_json(StatusCode::OK, &caller.record())),
    }
}
