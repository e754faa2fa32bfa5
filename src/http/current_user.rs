//! [`CurrentUser`]: the authenticated caller, for the app's own handlers.
//!
//! On every request it checks the access token's signature, pinned
//! algorithm, purpose and expiry (or the session cookie's MAC and expiry),
//! that its session is not revoked, that the user still exists and is
//! active, and that the session began under the current password. It is an
//! immutable snapshot: no lock is shared with anything.
//!
//! The transports ([`Transport`]) are tried in the order
//! [`UsersBuilder::with_transports`](crate::UsersBuilder::with_transports)
//! sets (bearer, then cookie, by default); the first that yields a user
//! wins. The extractors and the guard layers also run the
//! [CSRF checks](super::csrf) on a state-changing request the cookie
//! authenticated, with the token from the `X-CSRF-Token` header;
//! [`CurrentUser::from_parts`] leaves them to the caller
//! ([`CurrentUser::check_csrf`]), who may have the token in a form field.
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

use super::cookies::{Transport, session_cookie};
use crate::Users;
use crate::error::Error;
use crate::store::SessionId;
use crate::token::MAX_TOKEN_LEN;
use crate::user::{User, UserRecord};
use crate::users::Issuer;

/// The authenticated, active user making this request.
///
/// Dereferences to [`User`], so the app's own fields read back typed with
/// `user.profile.parse::<AppProfile>()` (see
/// [`UsersBuilder::with_profile`](crate::UsersBuilder::with_profile)). A
/// guard for verified users is [`VerifiedUser`], for administrators
/// [`Superuser`]. `Option<CurrentUser>` is `None` when no
/// credentials were sent (or only a session cookie that no longer checks
/// out), and still a rejection when a bad bearer token was.
///
/// In axum, take it as a handler argument; the state provides [`Users`]
/// (through `FromRef`). A request without a valid access token or session
/// cookie never reaches the handler: it gets 401 `UNAUTHORIZED`
/// (problem+json); a state-changing one the cookie authenticated without
/// passing the [CSRF checks](super::csrf) gets 403 `CSRF_FAILED`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::get};
/// use http::{Request, StatusCode};
/// use tower_users::http::{Body, ServiceExt};
/// use tower_users::{CurrentUser, RedbStore, Users};
///
/// async fn hello(user: CurrentUser) -> String {
///     format!("hello {}", user.email)
/// }
///
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret(b"an example secret of at least 32 bytes!!")
///     .build()?;
/// let app = Router::new().route("/hello", get(hello)).with_state(users.clone());
///
/// let res = app.clone().oneshot(Request::get("/hello").body(Body::empty())?).await?;
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
///
/// users.register("alice@example.com", "correct horse battery").await?;
/// let tokens = users.login("alice@example.com", "correct horse battery").await?;
/// let req = Request::get("/hello")
///     .header("authorization", format!("Bearer {}", tokens.access_token))
///     .body(Body::empty())?;
/// assert_eq!(app.oneshot(req).await?.status(), StatusCode::OK);
/// # Ok(())
/// # }
/// ```
///
/// Without axum, put [`CurrentUserLayer`](super::CurrentUserLayer) in front
/// of the app's service and read the user from the request extensions, or
/// call [`from_parts`](Self::from_parts) in the handler:
///
/// ```
/// use http::Request;
/// use tower_users::http::{Body, Response};
/// use tower_users::{CurrentUser, Users};
///
/// async fn hello(users: &Users, req: Request<Body>) -> Response {
///     let (parts, _body) = req.into_parts();
///     match CurrentUser::from_parts(&parts, users).await {
///         Ok(user) => Response::new(Body::from(format!("hello {}", user.email))),
///         // 401 or 403, problem+json with its code.
///         Err(rejection) => rejection.into_response(),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct CurrentUser {
    user: User,
    session: SessionId,
    /// When the session last proved the password.
    authenticated_at: time::OffsetDateTime,
    transport: Transport,
    /// The `Users` that authenticated it: one found in the request
    /// extensions is reused only by services on that same `Users`.
    issuer: Issuer,
}

/// Why [`CurrentUser`] (or a guard) refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CurrentUserRejection {
    /// No credentials were sent (no `Authorization: Bearer`, no session
    /// cookie).
    #[error("no credentials")]
    MissingCredentials,
    /// The token (or session cookie) is malformed, forged, expired,
    /// revoked, stale or of another purpose.
    #[error("invalid access token")]
    InvalidToken,
    /// A state-changing request authenticated by the session cookie failed
    /// the [CSRF checks](super::csrf).
    #[error("CSRF check failed")]
    CsrfFailed,
    /// The user is deactivated.
    #[error("inactive user")]
    Inactive,
    /// The route requires a verified email.
    #[error("unverified user")]
    Unverified,
    /// The route requires a superuser, or the app's own rule
    /// ([`CurrentUserLayer::require`](super::CurrentUserLayer::require))
    /// refused the user.
    #[error("forbidden")]
    Forbidden,
    /// The route requires a role or permission the user does not hold
    /// ([`RequireRole`](super::RequireRole),
    /// [`RequirePermission`](super::RequirePermission),
    /// [`CurrentUserLayer::role`](super::CurrentUserLayer::role),
    /// [`CurrentUserLayer::permission`](super::CurrentUserLayer::permission)):
    /// 403 `MISSING_PERMISSION`.
    #[error("missing role or permission")]
    MissingPermission,
    /// The route needs the password proved within the re-authentication
    /// window ([`RecentlyAuthenticated`](super::RecentlyAuthenticated),
    /// [`CurrentUserLayer::recently_authenticated`](super::CurrentUserLayer::recently_authenticated)),
    /// and the session last proved it earlier: 403
    /// `REAUTHENTICATION_REQUIRED`.
    #[error("re-authentication required")]
    ReauthenticationRequired,
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
            CurrentUserRejection::CsrfFailed => Error::CsrfFailed,
            CurrentUserRejection::MissingPermission => Error::MissingPermission,
            CurrentUserRejection::ReauthenticationRequired => Error::ReauthenticationRequired,
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
            Error::CsrfFailed => CurrentUserRejection::CsrfFailed,
            Error::MissingPermission => CurrentUserRejection::MissingPermission,
            Error::ReauthenticationRequired => CurrentUserRejection::ReauthenticationRequired,
            other => CurrentUserRejection::Internal(other),
        }
    }
}

impl CurrentUserRejection {
    /// The problem+json response for this refusal (401, or 403 with its
    /// code), as the extractors and [`CurrentUserLayer`](super::CurrentUserLayer)
    /// answer it: for servers without axum, no trait to import.
    pub fn into_response(self) -> Response {
        Error::from(self).into_response()
    }
}

impl IntoResponse for CurrentUserRejection {
    fn into_response(self) -> Response {
        CurrentUserRejection::into_response(self)
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
    /// [`CurrentUserLayer`](super::CurrentUserLayer)) is reused if the layer
    /// was built on this `users` (or a clone); otherwise the request is
    /// authenticated again, so a token of another `Users` counts for nothing.
    ///
    /// Unlike the axum extractor and the guard layers, it does not run the
    /// [CSRF checks](super::csrf): on a state-changing request (a form
    /// post, say), call [`check_csrf`](Self::check_csrf) on the user it
    /// returns, or a cross-site page can act with the visitor's cookie.
    pub async fn from_parts(parts: &Parts, users: &Users) -> Result<Self, CurrentUserRejection> {
        match Self::resolve(parts, users).await? {
            (Some(user), _) => Ok(user),
            (None, true) => Err(CurrentUserRejection::InvalidToken),
            (None, false) => Err(CurrentUserRejection::MissingCredentials),
        }
    }

    /// Like [`from_parts`](Self::from_parts), but `Ok(None)` when the request
    /// carries no credentials at all.
    ///
    /// A session cookie that no longer checks out (expired, or its session
    /// ended: a log-out everywhere, a password change elsewhere, a
    /// deactivation) counts as no credentials here, so a public page stays
    /// public to a browser that still sends it. A bad bearer token is
    /// still a refusal: an API client sent it on purpose.
    pub async fn optional_from_parts(
        parts: &Parts,
        users: &Users,
    ) -> Result<Option<Self>, CurrentUserRejection> {
        Ok(Self::resolve(parts, users).await?.0)
    }

    /// The user of the request, if any, and whether a session cookie was
    /// sent that does not check out.
    async fn resolve(
        parts: &Parts,
        users: &Users,
    ) -> Result<(Option<Self>, bool), CurrentUserRejection> {
        let reused = parts.extensions.get::<CurrentUser>();
        if let Some(user) = reused.filter(|user| users.issued(&user.issuer)) {
            return Ok((Some(user.clone()), false));
        }
        // The first transport that yields a user wins; bad credentials on
        // one are the answer only if no later one yields a user.
        let mut refusal = None;
        let mut dead_cookie = false;
        for &transport in users.transports() {
            match Self::by(transport, parts, users).await {
                Ok(Some(user)) => return Ok((Some(user), false)),
                Ok(None) => {}
                Err(CurrentUserRejection::Internal(err)) => {
                    return Err(CurrentUserRejection::Internal(err));
                }
                Err(CurrentUserRejection::InvalidToken) if transport == Transport::Cookie => {
                    dead_cookie = true;
                }
                Err(rejection) => {
                    refusal.get_or_insert(rejection);
                }
            }
        }
        refusal.map_or(Ok((None, dead_cookie)), Err)
    }

    /// The user `transport` names in `parts`, if it carries credentials.
    async fn by(
        transport: Transport,
        parts: &Parts,
        users: &Users,
    ) -> Result<Option<Self>, CurrentUserRejection> {
        let auth = match transport {
            Transport::Bearer => {
                let Some(token) = bearer(parts)? else {
                    return Ok(None);
                };
                users.authenticate(token).await?
            }
            Transport::Cookie => {
                let Some((session, user)) = session_cookie(users, parts)? else {
                    return Ok(None);
                };
                users.authenticate_session(session, user).await?
            }
        };
        Ok(Some(CurrentUser {
            user: auth.user,
            session: auth.session,
            authenticated_at: auth.authenticated_at,
            transport,
            issuer: users.issuer(),
        }))
    }

    /// [`from_parts`](Self::from_parts), then the [CSRF checks](super::csrf)
    /// with the `X-CSRF-Token` header: what every endpoint, extractor and
    /// guard layer runs.
    pub(crate) async fn checked(
        parts: &Parts,
        users: &Users,
    ) -> Result<Self, CurrentUserRejection> {
        let user = Self::from_parts(parts, users).await?;
        user.check_csrf(users, parts, None)?;
        Ok(user)
    }

    /// [`optional_from_parts`](Self::optional_from_parts), then the CSRF
    /// checks as [`checked`](Self::checked).
    pub(crate) async fn optional_checked(
        parts: &Parts,
        users: &Users,
    ) -> Result<Option<Self>, CurrentUserRejection> {
        let user = Self::optional_from_parts(parts, users).await?;
        if let Some(user) = &user {
            user.check_csrf(users, parts, None)?;
        }
        Ok(user)
    }

    /// Refuses a forged request: when the session cookie authenticated
    /// this state-changing request (any method but `GET`, `HEAD`,
    /// `OPTIONS`), it must come from this origin (or a trusted one) and
    /// carry the session's CSRF token, `submitted` (an HTML form's
    /// `csrf_token` field, say) or else the `X-CSRF-Token` header. Bearer
    /// requests and safe methods always pass. See [`csrf`](super::csrf).
    ///
    /// The extractors and guard layers run it with the header; call it
    /// after [`from_parts`](Self::from_parts) in a handler that takes form
    /// posts.
    pub fn check_csrf(
        &self,
        users: &Users,
        parts: &Parts,
        submitted: Option<&str>,
    ) -> Result<(), CurrentUserRejection> {
        super::csrf::check_csrf(users, parts, self, submitted).map_err(CurrentUserRejection::from)
    }

    /// The session's CSRF token, for a form's hidden `csrf_token` field or
    /// a script's `X-CSRF-Token` header.
    pub fn csrf_token(&self, users: &Users) -> String {
        super::csrf::csrf_token(users, self)
    }

    /// How this request was authenticated.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The user, as read from the store on this request.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// Takes the user out.
    pub fn into_user(self) -> User {
        self.user
    }

    /// The session the access token (or session cookie) belongs to.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// When the session last proved the password: at login, or at the
    /// last re-authentication (whole seconds).
    pub fn authenticated_at(&self) -> time::OffsetDateTime {
        self.authenticated_at
    }

    /// Refuses (403 `REAUTHENTICATION_REQUIRED`) unless the session proved
    /// the password within `users`' re-authentication window: the check of
    /// [`RecentlyAuthenticated`](super::RecentlyAuthenticated), for a
    /// handler that decides per request.
    pub fn require_recent_authentication(&self, users: &Users) -> Result<(), CurrentUserRejection> {
        if users.is_recent(self.authenticated_at) {
            Ok(())
        } else {
            Err(CurrentUserRejection::ReauthenticationRequired)
        }
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
        CurrentUser::checked(parts, &Users::from_ref(state)).await
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
        CurrentUser::optional_checked(parts, &Users::from_ref(state)).await
    }
}

/// A [`CurrentUser`] whose email is verified; otherwise 403
/// `UNVERIFIED_USER` (problem+json).
///
/// In axum, take it as a handler argument in place of [`CurrentUser`].
/// Without axum, use [`CurrentUserLayer::verified`](super::CurrentUserLayer::verified),
/// or [`VerifiedUser::from_parts`] in a handler.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::get};
/// use http::{Request, StatusCode};
/// use tower_users::http::{Body, ServiceExt};
/// use tower_users::{AdminChange, RedbStore, Users, VerifiedUser};
///
/// async fn downloads(user: VerifiedUser) -> String {
///     format!("{} may download", user.email)
/// }
///
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret(b"an example secret of at least 32 bytes!!")
///     .build()?;
/// let app = Router::new().route("/downloads", get(downloads)).with_state(users.clone());
///
/// let alice = users.register("alice@example.com", "correct horse battery").await?;
/// let tokens = users.login("alice@example.com", "correct horse battery").await?;
/// let request = || {
///     Request::get("/downloads")
///         .header("authorization", format!("Bearer {}", tokens.access_token))
///         .body(Body::empty())
/// };
/// // Registered, but the verification link was not followed yet.
/// let res = app.clone().oneshot(request()?).await?;
/// assert_eq!(res.status(), StatusCode::FORBIDDEN);
///
/// // Verified (here by an administrator's change; usually by the link):
/// // the guard reads the user on every request, so it applies at once.
/// let mut change = AdminChange::default();
/// change.is_verified = Some(true);
/// users.admin_update(alice.id, alice.id, change).await?;
/// assert_eq!(app.oneshot(request()?).await?.status(), StatusCode::OK);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedUser(pub CurrentUser);

/// A [`CurrentUser`] who is a superuser; otherwise 403 `FORBIDDEN`
/// (problem+json).
///
/// In axum, take it as a handler argument in place of [`CurrentUser`].
/// Without axum, use [`CurrentUserLayer::superuser`](super::CurrentUserLayer::superuser),
/// or [`Superuser::from_parts`] in a handler. The first superuser comes from
/// [`UsersBuilder::with_superuser`](crate::UsersBuilder::with_superuser).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::get};
/// use http::{Request, StatusCode};
/// use tower_users::http::{Body, ServiceExt};
/// use tower_users::{RedbStore, Superuser, Users};
///
/// async fn admin(user: Superuser) -> String {
///     format!("{} administers", user.email)
/// }
///
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret(b"an example secret of at least 32 bytes!!")
///     .with_superuser("root@example.com", "kettle staple zebra")
///     .start()
///     .await?;
/// let app = Router::new().route("/admin", get(admin)).with_state(users.clone());
/// let get = |token: &str| {
///     Request::get("/admin")
///         .header("authorization", format!("Bearer {token}"))
///         .body(Body::empty())
/// };
///
/// let root = users.login("root@example.com", "kettle staple zebra").await?;
/// let res = app.clone().oneshot(get(&root.access_token)?).await?;
/// assert_eq!(res.status(), StatusCode::OK);
///
/// users.register("alice@example.com", "correct horse battery").await?;
/// let alice = users.login("alice@example.com", "correct horse battery").await?;
/// let res = app.oneshot(get(&alice.access_token)?).await?;
/// assert_eq!(res.status(), StatusCode::FORBIDDEN);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Superuser(pub CurrentUser);

impl TryFrom<CurrentUser> for VerifiedUser {
    type Error = CurrentUserRejection;

    /// Refuses a user whose email is not verified.
    fn try_from(user: CurrentUser) -> Result<Self, CurrentUserRejection> {
        if user.is_verified {
            Ok(VerifiedUser(user))
        } else {
            Err(CurrentUserRejection::Unverified)
        }
    }
}

impl TryFrom<CurrentUser> for Superuser {
    type Error = CurrentUserRejection;

    /// Refuses a user who is not a superuser.
    fn try_from(user: CurrentUser) -> Result<Self, CurrentUserRejection> {
        if user.is_superuser {
            Ok(Superuser(user))
        } else {
            Err(CurrentUserRejection::Forbidden)
        }
    }
}

impl VerifiedUser {
    /// Authenticates the request whose head is `parts`, as
    /// [`CurrentUser::from_parts`], and refuses an unverified email.
    ///
    /// Unlike the axum extractor, it does not run the [CSRF
    /// checks](super::csrf): on a state-changing request, call
    /// [`CurrentUser::check_csrf`] on the user it holds.
    pub async fn from_parts(parts: &Parts, users: &Users) -> Result<Self, CurrentUserRejection> {
        CurrentUser::from_parts(parts, users).await?.try_into()
    }
}

impl Superuser {
    /// Authenticates the request whose head is `parts`, as
    /// [`CurrentUser::from_parts`], and refuses anyone but a superuser.
    ///
    /// Unlike the axum extractor, it does not run the [CSRF
    /// checks](super::csrf): on a state-changing request, call
    /// [`CurrentUser::check_csrf`] on the user it holds.
    pub async fn from_parts(parts: &Parts, users: &Users) -> Result<Self, CurrentUserRejection> {
        CurrentUser::from_parts(parts, users).await?.try_into()
    }
}

impl<S> FromRequestParts<S> for VerifiedUser
where
    Users: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = CurrentUserRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let users = Users::from_ref(state);
        CurrentUser::checked(parts, &users).await?.try_into()
    }
}

impl<S> FromRequestParts<S> for Superuser
where
    Users: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = CurrentUserRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let users = Users::from_ref(state);
        CurrentUser::checked(parts, &users).await?.try_into()
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

    #[tokio::test]
    async fn a_user_in_the_extensions_is_reused_only_by_the_users_that_made_it() {
        let users = || {
            Users::builder(crate::RedbStore::in_memory().unwrap())
                .with_secret([7u8; 32])
                .build()
                .unwrap()
        };
        let (a, b) = (users(), users());
        a.register("ann@example.com", "correct horse battery")
            .await
            .unwrap();
        let tokens = a
            .login("ann@example.com", "correct horse battery")
            .await
            .unwrap();
        let bearer = format!("Bearer {}", tokens.access_token);
        let ann = CurrentUser::from_parts(&parts(Some(&bearer)), &a)
            .await
            .unwrap();
        // No credentials on the request: only the user in its extensions.
        let mut vouched = parts(None);
        vouched.extensions.insert(ann);
        let reused = CurrentUser::optional_from_parts(&vouched, &a.clone()).await;
        assert_eq!(reused.unwrap().unwrap().email.as_str(), "ann@example.com");
        let elsewhere = CurrentUser::optional_from_parts(&vouched, &b).await;
        assert!(elsewhere.unwrap().is_none());
        assert!(matches!(
            CurrentUser::from_parts(&vouched, &b).await,
            Err(CurrentUserRejection::MissingCredentials)
        ));
    }
}
