//! [`RequirePermission`] and [`RequireRole`]: extractors that admit a
//! [`CurrentUser`] only with a permission (or role) the app declared as a
//! type.
//!
//! The requirement is in the handler's signature, so a handler cannot
//! forget to check, and the name is written once, in the marker type's
//! `impl`, so a misspelt name is a compile error rather than a route that
//! refuses everyone. The roles are read with the user on every request:
//! a grant or revoke holds from the next one, whatever the access token.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use axum_core::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use super::current_user::{CurrentUser, CurrentUserRejection};
use crate::Users;
use crate::users::{Permission, Role};

/// A [`CurrentUser`] who holds a role granting the permission `P`;
/// otherwise 403 `MISSING_PERMISSION` (problem+json). No credentials is
/// 401, as for [`CurrentUser`].
///
/// In axum, take it as a handler argument; `P` is a type the app declares
/// with [`Permission`], and the same `P::NAME` goes into
/// [`with_role`](crate::UsersBuilder::with_role). Without axum, use
/// [`RequirePermission::from_parts`] or
/// [`CurrentUserLayer::permission`](super::CurrentUserLayer::permission).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::post};
/// use http::{Request, StatusCode};
/// use tower_users::http::{Body, RequirePermission, ServiceExt};
/// use tower_users::{Permission, RedbStore, Users};
///
/// /// May publish posts.
/// struct WritePosts;
/// impl Permission for WritePosts {
///     const NAME: &'static str = "posts:write";
/// }
///
/// async fn publish(user: RequirePermission<WritePosts>) -> String {
///     format!("published by {}", user.email)
/// }
///
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret(b"an example secret of at least 32 bytes!!")
///     .with_role("editor", [WritePosts::NAME])
///     .with_superuser("root@example.com", "kettle staple zebra")
///     .start()
///     .await?;
/// let app = Router::new().route("/posts", post(publish)).with_state(users.clone());
///
/// let alice = users.register("alice@example.com", "correct horse battery").await?;
/// let tokens = users.login("alice@example.com", "correct horse battery").await?;
/// let publish = || {
///     Request::post("/posts")
///         .header("authorization", format!("Bearer {}", tokens.access_token))
///         .body(Body::empty())
/// };
/// // Signed in, but no role grants posts:write: 403 MISSING_PERMISSION.
/// let res = app.clone().oneshot(publish()?).await?;
/// assert_eq!(res.status(), StatusCode::FORBIDDEN);
///
/// // A superuser grants the role (over HTTP: PUT /users/{id}/roles/editor);
/// // the same access token passes on the next request.
/// let root = users.login("root@example.com", "kettle staple zebra").await?;
/// users.grant_role(root.user.id, alice.id, "editor").await?;
/// assert_eq!(app.clone().oneshot(publish()?).await?.status(), StatusCode::OK);
///
/// // And a revoke holds as soon.
/// users.revoke_role(root.user.id, alice.id, "editor").await?;
/// assert_eq!(app.oneshot(publish()?).await?.status(), StatusCode::FORBIDDEN);
/// # Ok(())
/// # }
/// ```
pub struct RequirePermission<P: Permission> {
    user: CurrentUser,
    // `fn() -> P`: the marker is never held, so it needs no bounds.
    permission: PhantomData<fn() -> P>,
}

/// A [`CurrentUser`] who holds the role `R`; otherwise 403
/// `MISSING_PERMISSION` (problem+json). Prefer [`RequirePermission`]: a
/// route that names what it needs keeps working when roles are reshaped.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_users::http::RequireRole;
/// use tower_users::{Role, Users};
///
/// struct Editor;
/// impl Role for Editor {
///     const NAME: &'static str = "editor";
/// }
///
/// fn routes() -> Router<Users> {
///     Router::new().route(
///         "/desk",
///         get(|user: RequireRole<Editor>| async move { format!("{} at the desk", user.email) }),
///     )
/// }
/// ```
pub struct RequireRole<R: Role> {
    user: CurrentUser,
    role: PhantomData<fn() -> R>,
}

impl<P: Permission> RequirePermission<P> {
    /// Authenticates the request whose head is `parts`, as
    /// [`CurrentUser::from_parts`], and refuses a user whose roles do not
    /// grant `P` (403 `MISSING_PERMISSION`).
    ///
    /// Unlike the axum extractor, it does not run the [CSRF
    /// checks](super::csrf): on a state-changing request, call
    /// [`CurrentUser::check_csrf`] on the user it holds.
    pub async fn from_parts(parts: &Parts, users: &Users) -> Result<Self, CurrentUserRejection> {
        Self::admit(CurrentUser::from_parts(parts, users).await?, users)
    }

    /// `user`, if its roles grant `P` (else 403 `MISSING_PERMISSION`).
    pub fn admit(user: CurrentUser, users: &Users) -> Result<Self, CurrentUserRejection> {
        if !users.has_permission(&user, P::NAME) {
            return Err(CurrentUserRejection::MissingPermission);
        }
        Ok(RequirePermission {
            user,
            permission: PhantomData,
        })
    }

    /// The user who holds the permission.
    pub fn into_inner(self) -> CurrentUser {
        self.user
    }
}

impl<R: Role> RequireRole<R> {
    /// Authenticates the request whose head is `parts`, as
    /// [`CurrentUser::from_parts`], and refuses a user without the role `R`
    /// (403 `MISSING_PERMISSION`).
    ///
    /// Unlike the axum extractor, it does not run the [CSRF
    /// checks](super::csrf): on a state-changing request, call
    /// [`CurrentUser::check_csrf`] on the user it holds.
    pub async fn from_parts(parts: &Parts, users: &Users) -> Result<Self, CurrentUserRejection> {
        Self::admit(CurrentUser::from_parts(parts, users).await?, users)
    }

    /// `user`, if it holds the role `R` (else 403 `MISSING_PERMISSION`).
    pub fn admit(user: CurrentUser, _users: &Users) -> Result<Self, CurrentUserRejection> {
        if !user.has_role(R::NAME) {
            return Err(CurrentUserRejection::MissingPermission);
        }
        Ok(RequireRole {
            user,
            role: PhantomData,
        })
    }

    /// The user who holds the role.
    pub fn into_inner(self) -> CurrentUser {
        self.user
    }
}

/// What both extractors share: the user, `Clone`, `Debug` naming the
/// requirement, and `FromRequestParts`: the user as `CurrentUser`'s
/// extractor finds it (CSRF checks included), then `admit`.
macro_rules! common {
    ($name:ident<$t:ident: $bound:ident>, $field:ident) => {
        impl<$t: $bound> Deref for $name<$t> {
            type Target = CurrentUser;
            fn deref(&self) -> &CurrentUser {
                &self.user
            }
        }

        impl<$t: $bound> Clone for $name<$t> {
            fn clone(&self) -> Self {
                $name {
                    user: self.user.clone(),
                    $field: PhantomData,
                }
            }
        }

        impl<$t: $bound> fmt::Debug for $name<$t> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("requires", &$t::NAME)
                    .field("user", &self.user)
                    .finish()
            }
        }

        impl<S, $t: $bound> FromRequestParts<S> for $name<$t>
        where
            Users: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = CurrentUserRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                let users = Users::from_ref(state);
                Self::admit(CurrentUser::checked(parts, &users).await?, &users)
            }
        }
    };
}

common!(RequirePermission<P: Permission>, permission);
common!(RequireRole<R: Role>, role);
