use http::request::Parts;
use http::{Method, StatusCode};

use super::endpoint;
use crate::error::Error;
use crate::http::body::{RequestBody, json_fields};
use crate::http::csrf::CSRF_HEADER;
use crate::http::problem::{empty, private_json};
use crate::http::{CurrentUser, Transport};
use crate::{AccountChange, Users};

endpoint! {
    /// `/me` with a bearer token or the session cookie: `GET` returns the
    /// caller's record (by cookie, with the session's CSRF token in the
    /// `X-CSRF-Token` header, for a page that lost it);
    /// `PATCH` with `{"current_password"?, "password"?, "email"?,
    /// "username"? (with usernames on; `null` clears it), …custom fields}`
    /// changes it; `DELETE` with `{"current_password"?}` deletes the
    /// account (204). `current_password` may be left out while the session
    /// proved the password within the re-authentication window (else 403
    /// `REAUTHENTICATION_REQUIRED`); when sent, it is checked.
    Me => me, rate_limit = EmailRequest if PATCH | DELETE
}

async fn me<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let caller = CurrentUser::checked(&parts, &users).await?;
    match parts.method {
        Method::PATCH => {
            let mut fields = json_fields(&parts, body).await?;
            let mut change = AccountChange::recently_authenticated();
            change.current_password = fields.optional_string("current_password");
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
            let current = fields.optional_string("current_password");
            fields.finish()?;
            users
                .delete_account(caller.id, caller.session(), current.as_deref())
                .await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        _ => {
            let mut res = private_json(StatusCode::OK, &caller.record());
            if caller.transport() == Transport::Cookie {
                let token = caller.csrf_token(&users);
                if let Ok(value) = http::HeaderValue::try_from(token) {
                    res.headers_mut().insert(CSRF_HEADER, value);
                }
            }
            Ok(res)
        }
    }
}
