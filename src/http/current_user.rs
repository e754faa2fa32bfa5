//! [`CurrentUser`]: the authenticated caller, for the app's own handlers.
//!
//! On every request it checks the access token's signature, pinned
//! algorithm, purpose and expiry, that its session is not revoked, that the
//! user still exists and is active, and that the token's `password_version`
//! is current. It is an immutable snapshot: no lock is shared with anything.
//!
//! In axum, take it as an argument (state must provide [`Users`] through
//! `FromRef`). Elsewhere call [`CurrentUser::from_parts`], or put
//! [`CurrentUserLayer`](super::CurrentUserLayer) in the stack and read it
//! from the request extensions.

use std::ops::Deref;

use axum_core::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;
use http::request::Parts;

use crate::Users;
use crate::error::Error;
use crate::store::SessionId;
use crate::token::MAX_TOKEN_LEN;
use crate::user::{User, UserRecord};

/// The authenticated, active user making this request.
///
/// Dereferences to [`User`]. A guard for verified users is [`VerifiedUser`],
/// for administrators [`Superuser`]. `Option<CurrentUser>` is `None` when no
/// credentials were sent, and still a rejection when bad ones were.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    user: User,
    session: SessionId,
}

/// Why [`CurrentUser`] (or a guard) refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CurrentUserRejection {
    /// No `Authorization: Bearer` credentials were sent.
    #[error("no credentials")]
    MissingCredentials,
    /// The token is malformed, forged, expired, revoked, stale or of another purpose.
    #[error("invalid access token")]
    InvalidToken,
    /// The user is deactivated.
    #[error("inactive user")]
    Inactive,
    /// The route requires a verified email.
    #[error("unverified user")]
    Unverified,
    /// The route requires a superuser.
    #[error("forbidden")]
    Forbidden,
    /// The store failed.
    #[error("internal error")]
    Internal(#[source] Error),
}

impl From<CurrentUserRejection> for Error {
    fn from(r: CurrentUserRejection) -> Self {
        match r {
            CurrentUserRejection::MissingCredentials | CurrentUserRejection::InvalidToken => {
                Error::Unauthorized
            }
            CurrentUserRejection::Inactive => Error::InactiveUser,
            CurrentUserRejection::Unverified => Error::UnverifiedUser,
            CurrentUserRejection::Forbidden => Error::Forbidden,
            CurrentUserRejection::Internal(err) => err,
        }
    }
}

impl From<Error> for CurrentUserRejection {
    fn from(err: Error) -> Self {
        match err {
            Error::Unauthorized => CurrentUserRejection::InvalidToken,
            Error::InactiveUser => CurrentUserRejection::Inactive,
            Error::UnverifiedUser => CurrentUserRejection::Unverified,
            Error::Forbidden => CurrentUserRejection::Forbidden,
            other => CurrentUserRejection::Internal(other),
        }
    }
}

impl IntoResponse for CurrentUserRejection {
    fn into_response(self) -> Response {
        Error::from(self).into_response()
    }
}

/// The bearer token of `parts`: `Ok(None)` if there is no `Authorization`
/// header, an error if there is one that is not a usable bearer token.
pub(crate) fn bearer(parts: &Parts) -> Result<Option<&str>, CurrentUserRejection> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    // Oversized or non-ASCII headers are refused before any decoding.
    if value.len() > MAX_TOKEN_LEN + 16 {
        return Err(CurrentUserRejection::InvalidToken);
    }
    let value = value
        .to_str()
        .map_err(|_| CurrentUserRejection::InvalidToken)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(CurrentUserRejection::InvalidToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(CurrentUserRejection::InvalidToken);
    }
    Ok(Some(token))
}

impl CurrentUser {
    /// Authenticates the request whose head is `parts`.
    ///
    /// A `CurrentUser` already in the extensions (put there by
    /// [`CurrentUserLayer`](super::CurrentUserLayer)) is reused.
    pub async fn from_parts(parts: &Parts, users: &Users) -> Result<Self, CurrentUserRejection> {
        Self::optional_from_parts(parts, users)
            .await?
            .ok_or(CurrentUserRejection::MissingCredentials)
    }

    /// Like [`from_parts`](Self::from_parts), but `Ok(None)` when the request
    /// carries no credentials at all.
    pub async fn optional_from_parts(
        parts: &Parts,
        users: &Users,
    ) -> Result<Option<Self>, CurrentUserRejection> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(Some(user.clone()));
        }
        let Some(token) = bearer(parts)? else {
            return Ok(None);
        };
        let auth = users.authenticate(token).await?;
        Ok(Some(CurrentUser {
            user: auth.user,
            session: auth.session,
        }))
    }

    /// The user, as read from the store on this request.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// Takes the user out.
    pub fn into_user(self) -> User {
        self.user
    }

    /// The session the access token belongs to.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The public record of the user.
    pub fn record(&self) -> UserRecord {
        self.user.record()
    }
}

impl Deref for CurrentUser {
    type Target = User;
    fn deref(&self) -> &User {
        &self.user
    }
}

impl<S> FromRequestParts<S> for CurrentUser
where
    Users: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = CurrentUserRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        CurrentUser::from_parts(parts, &Users::from_ref(state)).await
    }
}

impl<S> OptionalFromRequestParts<S> for CurrentUser
where
    Users: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = CurrentUserRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        CurrentUser::optional_from_parts(parts, &Users::from_ref(state)).await
    }
}

/// A [`CurrentUser`] whose email is verified; otherwise 403 `UNVERIFIED_USER`.
#[derive(Debug, Clone)]
pub struct VerifiedUser(pub CurrentUser);

/// A [`CurrentUser`] who is a superuser; otherwise 403 `FORBIDDEN`.
#[derive(Debug, Clone)]
pub struct Superuser(pub CurrentUser);

impl<S> FromRequestParts<S> for VerifiedUser
where
    Users: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = CurrentUserRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_parts(parts, &Users::from_ref(state)).await?;
        if !user.is_verified {
            return Err(CurrentUserRejection::Unverified);
        }
        Ok(VerifiedUser(user))
    }
}

impl<S> FromRequestParts<S> for Superuser
where
    Users: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = CurrentUserRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_parts(parts, &Users::from_ref(state)).await?;
        if !user.is_superuser {
            return Err(CurrentUserRejection::Forbidden);
        }
        Ok(Superuser(user))
    }
}

impl Deref for VerifiedUser {
    type Target = CurrentUser;
    fn deref(&self) -> &CurrentUser {
        &self.0
    }
}

impl Deref for Superuser {
    type Target = CurrentUser;
    fn deref(&self) -> &CurrentUser {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(auth: Option<&str>) -> Parts {
        let mut b = http::Request::builder();
        if let Some(a) = auth {
            b = b.header(AUTHORIZATION, a);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_parsing_is_strict_but_case_insensitive() {
        assert_eq!(bearer(&parts(None)).unwrap(), None);
        assert_eq!(bearer(&parts(Some("Bearer abc"))).unwrap(), Some("abc"));
        assert_eq!(bearer(&parts(Some("bearer  abc "))).unwrap(), Some("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc", ""] {
            assert!(bearer(&parts(Some(bad))).is_err(), "{bad:?}");
        }
        let huge = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 100));
        assert!(bearer(&parts(Some(&huge))).is_err());
    }
}
