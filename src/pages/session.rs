//! The browser session of the pages: the cookie transport's session
//! cookie ([`cookies`](crate::http::cookies)), and its CSRF checks
//! ([`csrf`]).

use axum_core::response::Response;
use http::HeaderValue;
use http::request::Parts;

use super::Pages;
use super::render::{Page, explain, redirect};
use crate::error::Error;
use crate::http::cookies::{end_cookie_session, sign_in_cookies, sign_out_cookies};
use crate::http::csrf;
use crate::http::{CurrentUser, CurrentUserRejection};
use crate::{TokenPair, Users};

/// The signed-in user, or the response for a visitor who is not: to the
/// login page (clearing a stale cookie), or why the account is refused.
pub(super) async fn current(pages: &Pages, parts: &Parts) -> Result<CurrentUser, Response> {
    match CurrentUser::from_parts(parts, &pages.users).await {
        Ok(user) => Ok(user),
        Err(CurrentUserRejection::MissingCredentials | CurrentUserRejection::InvalidToken) => {
            Err(redirect(pages, "/login", sign_out(&pages.users)))
        }
        Err(rejection) => {
            let err = Error::from(rejection);
            Err(Page::message("Your account", ("/login", "Log in"))
                .status(err.status())
                .alert(explain(&err))
                .cookies(sign_out(&pages.users))
                .render(pages))
        }
    }
}

/// The Set-Cookie values that sign the browser in with `pair`'s session,
/// ending the session the browser's cookie named until now (if any).
pub(super) async fn sign_in(
    users: &Users,
    parts: &Parts,
    pair: &TokenPair,
) -> Result<Vec<HeaderValue>, Error> {
    let cookies = sign_in_cookies(users, pair)?;
    end_cookie_session(users, parts).await?;
    Ok(cookies)
}

/// The Set-Cookie values that sign the browser out.
pub(super) fn sign_out(users: &Users) -> Vec<HeaderValue> {
    sign_out_cookies(users)
}

/// The CSRF token the account forms carry.
pub(super) fn csrf_token(users: &Users, user: &CurrentUser) -> String {
    csrf::csrf_token(users, user)
}

/// Ok when the account form came from our own page of this session: the
/// origin check and the session's token (a bearer request needs neither).
pub(super) fn check_csrf(
    users: &Users,
    parts: &Parts,
    user: &CurrentUser,
    submitted: &str,
) -> Result<(), Error> {
    csrf::check_csrf(users, parts, user, Some(submitted))
}

/// The cross-origin half alone, for every POST of the pages: a login or a
/// sign-up from another site's page must not sign this browser in.
pub(super) fn check_origin(users: &Users, parts: &Parts) -> Result<(), Error> {
    csrf::check_origin(users, parts)
}

/// The answer to a cross-site (or stale) form post, which the CSRF checks
/// refused (and logged, with the reason).
pub(super) fn refused(pages: &Pages) -> Response {
    Page::message("Request refused", ("/account", "Back to your account"))
        .status(http::StatusCode::FORBIDDEN)
        .alert(explain(&Error::CsrfFailed))
        .render(pages)
}
