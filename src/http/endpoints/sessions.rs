use http::StatusCode;
use http::header::SET_COOKIE;
use http::request::Parts;
use serde::Serialize;

use super::endpoint;
use crate::Users;
use crate::error::Error;
use crate::http::body::{
    Fields, MediaType, RequestBody, form_object, json_object, media_type, read,
};
use crate::http::cookies::{Transport, clear_cookies, end_cookie_session, sign_in_cookies};
use crate::http::problem::{empty, private_json};
use crate::http::{CurrentUser, csrf};
use crate::user::UserRecord;

endpoint! {
    /// `POST /login` with `{"email", "password"}` or `{"login",
    /// "password"}` (`login`: an email, or a username with usernames on),
    /// or an urlencoded form with `username` (either identifier) and
    /// `password` as OAuth2 password-grant clients send it: 200 and the
    /// token response. With `"cookie": true` (`cookie=true` in a
    /// form) it signs a browser in instead: the session cookie and CSRF
    /// cookie are set, and the answer is the user and the CSRF token, no
    /// tokens (see the [cookie transport](crate::http::cookies)). The lockout
    /// counts failures per account and client: the
    /// [`ClientIp`](crate::http::ClientIp) that
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
    /// `POST /logout` with a bearer token or the session cookie: 204; the
    /// calling session ends, and by cookie the cookies are cleared (a dead
    /// session cookie gets 401 and is cleared too).
    Logout => logout
}

endpoint! {
    /// `POST /logout/all` with a bearer token or the session cookie: 204; every session of the
    /// caller ends, this one included (see
    /// [`Users::logout_everywhere`](crate::Users::logout_everywhere)), and
    /// by cookie the cookies are cleared.
    LogoutAll => logout_all
}

/// What a login that asked for cookies answers: no token reaches the
/// page's scripts, only what they need.
#[derive(Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[cfg_attr(
    test,
    schema(
        as = CookieLoginResponse,
        description = "A browser's sign-in: the session is in the cookies just set."
    )
)]
pub(crate) struct CookieLogin {
    /// The session's CSRF token, for `X-CSRF-Token`.
    csrf_token: String,
    /// Seconds until the session ends.
    expires_in: i64,
    /// The user's public record.
    user: UserRecord,
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
    let login_sent = fields.present("login");
    let login = match fields.optional_string("login") {
        Some(_) if fields.contains("email") => {
            return Err(Error::field(
                "login",
                "send either email or login, not both",
            ));
        }
        Some(login) => login,
        // A mistyped `login` has its own error; "email is required" too
        // would send the client after a field it chose not to use.
        None if login_sent && !fields.contains("email") => String::new(),
        None => fields.string("email"),
    };
    let password = fields.string("password");
    let cookie = wants_cookie(&mut fields, kind);
    fields.finish()?;
    if cookie {
        if !users.transports().contains(&Transport::Cookie) {
            return Err(Error::field("cookie", "the cookie transport is off"));
        }
        // No session token exists yet: the origin check alone keeps a page
        // of another site from signing this browser into its own account.
        csrf::check_origin(&users, &parts)?;
    }
    let client = crate::http::rate_limit::request_client(&parts.extensions);
    let pair = users.login_from(&login, &password, client).await?;
    if !cookie {
        return Ok(private_json(StatusCode::OK, &pair));
    }
    let cookies = sign_in_cookies(&users, &pair)?;
    end_cookie_session(&users, &parts).await?;
    let (session, _, _) = users.session_of(&pair.access_token)?;
    let answer = CookieLogin {
        csrf_token: csrf::token_for(&users, session),
        expires_in: users.session_ttl_seconds(),
        user: pair.user,
    };
    let mut res = private_json(StatusCode::OK, &answer);
    for cookie in cookies {
        res.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(res)
}

/// The `cookie` flag: a JSON boolean, or in a form `true` or `false`.
fn wants_cookie(fields: &mut Fields, kind: MediaType) -> bool {
    if kind != MediaType::Form {
        return fields.optional_bool("cookie").unwrap_or(false);
    }
    match fields.optional_string("cookie").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            fields.error("cookie", "this field must be true or false");
            false
        }
    }
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
    // A dead session cookie is a 401 that clears it: see `body::guarded`.
    let user = CurrentUser::checked(&parts, &users).await?;
    users.logout(user.session()).await?;
    Ok(signed_out(&users, &user))
}

async fn logout_all<B>(
    users: Users,
    parts: Parts,
    _body: B,
) -> Result<axum_core::response::Response, Error> {
    let user = CurrentUser::checked(&parts, &users).await?;
    users.logout_everywhere(user.id).await?;
    Ok(signed_out(&users, &user))
}

/// The 204 of a logout: by cookie, it also removes the cookies.
fn signed_out(users: &Users, user: &CurrentUser) -> axum_core::response::Response {
    let mut res = empty(StatusCode::NO_CONTENT);
    if user.transport() == Transport::Cookie {
        clear_cookies(users, res.headers_mut());
    }
    res
}
