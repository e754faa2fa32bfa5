use http::StatusCode;
use http::request::Parts;

use super::endpoint;
use crate::Users;
use crate::error::Error;
use crate::http::CurrentUser;
use crate::http::body::{RequestBody, json_fields};
use crate::http::problem::empty;

endpoint! {
    /// `POST /reauthenticate` with `{"password"}` and a bearer token or the
    /// session cookie: 204, and the calling session has proved the password
    /// now, so sensitive changes need no `current_password` for the
    /// re-authentication window (see
    /// [`Users::reauthenticate`](crate::Users::reauthenticate)). A wrong
    /// password is 401 `INVALID_CREDENTIALS` and counts toward the lockout
    /// as a failed login does. Rate-limited as logins are.
    Reauthenticate => reauthenticate, rate_limit = Login
}

async fn reauthenticate<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let caller = CurrentUser::checked(&parts, &users).await?;
    let mut fields = json_fields(&parts, body).await?;
    let password = fields.string("password");
    fields.finish()?;
    users
        .reauthenticate(caller.session(), caller.id, &password)
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
