//! [`RecentlyAuthenticated`]: an extractor for the app's own sensitive
//! routes, admitting a session that proved the password recently.

use std::ops::Deref;

use axum_core::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use super::current_user::{CurrentUser, CurrentUserRejection};
use crate::Users;

/// A [`CurrentUser`] whose session proved the password within the
/// re-authentication window (see
/// [`UsersBuilder::with_reauthentication_window`](crate::UsersBuilder::with_reauthentication_window));
/// otherwise 403 `REAUTHENTICATION_REQUIRED` (problem+json), which tells
/// the client to `POST /users/reauthenticate` with the password and retry.
///
/// In axum, take it as a handler argument in place of [`CurrentUser`].
/// Without axum, use
/// [`CurrentUserLayer::recently_authenticated`](super::CurrentUserLayer::recently_authenticated),
/// or [`RecentlyAuthenticated::from_parts`] in a handler.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use axum::{Router, routing::post};
/// use http::{Request, StatusCode};
/// use tower_users::http::{Body, ServiceExt};
/// use tower_users::{RecentlyAuthenticated, RedbStore, Users};
///
/// async fn export(user: RecentlyAuthenticated) -> String {
///     format!("exporting the data of {}", user.email)
/// }
///
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret(b"an example secret of at least 32 bytes!!")
///     .with_reauthentication_window(Duration::from_secs(1))
///     .build()?;
/// let app = Router::new().route("/export", post(export)).with_state(users.clone());
///
/// users.register("alice@example.com", "correct horse battery").await?;
/// let tokens = users.login("alice@example.com", "correct horse battery").await?;
/// let request = || {
///     Request::post("/export")
///         .header("authorization", format!("Bearer {}", tokens.access_token))
///         .body(Body::empty())
/// };
/// // Just logged in: the login proved the password.
/// assert_eq!(app.clone().oneshot(request()?).await?.status(), StatusCode::OK);
///
/// // Later (proofs count in whole seconds): the window has closed.
/// tokio::time::sleep(Duration::from_millis(2100)).await;
/// let res = app.clone().oneshot(request()?).await?;
/// assert_eq!(res.status(), StatusCode::FORBIDDEN); // REAUTHENTICATION_REQUIRED
///
/// // The password again (POST /users/reauthenticate) re-opens it.
/// let me = users.authenticate(&tokens.access_token).await?;
/// users.reauthenticate(me.session, me.user.id, "correct horse battery").await?;
/// assert_eq!(app.oneshot(request()?).await?.status(), StatusCode::OK);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RecentlyAuthenticated(pub CurrentUser);

impl RecentlyAuthenticated {
    /// Authenticates the request whose head is `parts`, as
    /// [`CurrentUser::from_parts`], and refuses a session that did not
    /// prove the password within `users`' re-authentication window.
    ///
    /// Unlike the axum extractor, it does not run the [CSRF
    /// checks](super::csrf): on a state-changing request, call
    /// [`CurrentUser::check_csrf`] on the user it holds.
    pub async fn from_parts(parts: &Parts, users: &Users) -> Result<Self, CurrentUserRejection> {
        Self::admit(CurrentUser::from_parts(parts, users).await?, users)
    }

    /// `user`, if its session proved the password recently enough.
    pub fn admit(user: CurrentUser, users: &Users) -> Result<Self, CurrentUserRejection> {
        user.require_recent_authentication(users)?;
        Ok(RecentlyAuthenticated(user))
    }
}

impl<S> FromRequestParts<S> for RecentlyAuthenticated
where
    Users: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = CurrentUserRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let users = Users::from_ref(state);
        Self::admit(CurrentUser::checked(parts, &users).await?, &users)
    }
}

impl Deref for RecentlyAuthenticated {
    type Target = CurrentUser;

    fn deref(&self) -> &CurrentUser {
        &self.0
    }
}
