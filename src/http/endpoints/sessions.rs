use http::StatusCode;
use http::request::Parts;

use super::endpoint;
use crate::Users;
use crate::error::Error;
use crate::http::CurrentUser;
use crate::http::body::{MediaType, RequestBody, form_object, json_object, media_type, read};
use crate::http::problem::{empty, private_json};

endpoint! {
    /// `POST /login` with `{"email", "password"}` or `{"login",
    /// "password"}` (`login`: an email, or a username with usernames on),
    /// or an urlencoded form with `username` (either identifier) and
    /// `password` as OAuth2 password-grant clients send it: 200 and the
    /// token response. The lockout counts failures per account
    /// and client: the [`ClientIp`](crate::http::ClientIp) that
    /// [`ClientIpLayer`](crate::http::ClientIpLayer) or
    /// [`RateLimitLayer`](crate::http::RateLimitLayer) resolved, else the
    /// [`PeerAddr`](crate::http::PeerAddr) or axum's `ConnectInfo`, else one
    /// shared unknown client (with a warning, once).
    Login => login, rate_limit = Login
}

endpoint! {
    /// `POST /refresh` with `{"refresh_token"}`: 200 and a new token
    /// response; the presented token is spent.
    Refresh => refresh, rate_limit = Token
}

endpoint! {
    /// `POST /logout` with a bearer token: 204; the calling session ends.
    Logout => logout
}

async fn login<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let kind = media_type(&parts.headers);
    if kind == MediaType::Other {
        return Err(Error::UnsupportedMediaType);
    }
    let bytes = read(body).await?;
    let mut fields = match kind {
        MediaType::Form => form_object(&bytes)?.alias("username", "email"),
        _ => json_object(&bytes)?,
    };
    // JSON names the identifier `email`, or `login` for an email or a
    // username; the form's `username` (aliased above) takes either too.
    let login = match fields.optional_string("login") {
        Some(_) if fields.contains("email") => {
            return Err(Error::field(
                "login",
                "send either email or login, not both",
            ));
        }
        Some(login) => login,
        None => fields.string("email"),
    };
    let password = fields.string("password");
    fields.finish()?;
    let client = crate::http::rate_limit::request_client(&parts.extensions);
    let pair = users.login_from(&login, &password, client).await?;
    Ok(private_json(StatusCode::OK, &pair))
}

async fn refresh<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let mut fields = crate::http::body::json_fields(&parts, body).await?;
    let token = fields.string("refresh_token");
    fields.finish()?;
    let pair = users.refresh(&token).await?;
    Ok(private_json(StatusCode::OK, &pair))
}

async fn logout<B>(
    users: Users,
    parts: Parts,
    _body: B,
) -> Result<axum_core::response::Response, Error> {
    let user = CurrentUser::from_parts(&parts, &users).await?;
    users.logout(user.session()).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
