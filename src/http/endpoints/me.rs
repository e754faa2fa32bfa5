use http::StatusCode;
use http::request::Parts;

use super::endpoint;
use crate::Users;
use crate::error::Error;
use crate::http::CurrentUser;
use crate::http::problem::json;

endpoint! {
    /// `GET /me` with a bearer token: 200 and the caller's user record.
    Me => me
}

async fn me<B>(
    users: Users,
    parts: Parts,
    _body: B,
) -> Result<axum_core::response::Response, Error> {
    let user = CurrentUser::from_parts(&parts, &users).await?;
    Ok(json(StatusCode::OK, &user.record()))
}
