//! [`CurrentUserLayer`]: authentication and guards for any tower stack, not
//! only axum.
//!
//! The layer authenticates each request, refuses it with problem+json when
//! the user is missing or fails a guard, and puts the [`CurrentUser`] into
//! the request extensions for the service behind it.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::cookies::clear_if_dead;
use super::current_user::{CurrentUser, CurrentUserRejection};
use super::problem::problem_response;
use crate::Users;
use crate::mail::BoxFuture;

/// Authenticates each request, checks its guards, and puts the
/// [`CurrentUser`] into the request extensions.
///
/// A request without credentials is refused with 401 `UNAUTHORIZED`, as is
/// one with bad credentials; a deactivated user gets 403 `INACTIVE_USER`.
/// Guards narrow who gets through, checked in the order they were added:
///
/// - [`verified`](Self::verified): 403 `UNVERIFIED_USER` unless the email
///   is verified (as the [`VerifiedUser`](super::VerifiedUser) extractor);
/// - [`superuser`](Self::superuser): 403 `FORBIDDEN` unless a superuser
///   (as [`Superuser`](super::Superuser));
/// - [`permission`](Self::permission) and [`role`](Self::role): 403
///   `MISSING_PERMISSION` unless one of the user's roles grants the
///   permission, or the user holds the role (as
///   [`RequirePermission`](super::RequirePermission) and
///   [`RequireRole`](super::RequireRole));
/// - [`recently_authenticated`](Self::recently_authenticated): 403
///   `REAUTHENTICATION_REQUIRED` unless the session proved the password
///   within the re-authentication window (as
///   [`RecentlyAuthenticated`](super::RecentlyAuthenticated));
/// - [`require`](Self::require): 403 `FORBIDDEN` unless the app's own
///   predicate holds.
///
/// Where anonymous callers are welcome too, use
/// [`OptionalUserLayer`]: that layer has no guards, so a guarded
/// route can never be opened to anonymous callers by mistake.
///
/// The user is read from the store on every request, so a change (a
/// verified email, a lost role, a deactivation) applies at once.
///
/// A bearer token or the session cookie authenticates (see
/// [`Transport`](super::Transport)); a state-changing request the cookie
/// authenticated must also pass the [CSRF checks](super::csrf), with the
/// token in the `X-CSRF-Token` header, or gets 403 `CSRF_FAILED`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::convert::Infallible;
/// use http::{Request, StatusCode};
/// use tower_users::http::{Body, Layer, Response, ServiceExt, service_fn};
/// use tower_users::{CurrentUser, CurrentUserLayer, RedbStore, Users};
///
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret(b"an example secret of at least 32 bytes!!")
///     .build()?;
///
/// // The app's own service: the layer has put the user in its extensions.
/// let admin = service_fn(|req: Request<Body>| async move {
///     let user = req.extensions().get::<CurrentUser>().expect("put in by the layer");
///     Ok::<_, Infallible>(Response::new(Body::from(format!("hello {}", user.email))))
/// });
/// let admin = CurrentUserLayer::new(users.clone()).superuser().layer(admin);
///
/// // No credentials: 401.
/// let res = admin.clone().oneshot(Request::new(Body::empty())).await?;
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
///
/// // Signed in, but not a superuser: 403 FORBIDDEN.
/// users.register("alice@example.com", "correct horse battery").await?;
/// let tokens = users.login("alice@example.com", "correct horse battery").await?;
/// let req = Request::builder()
///     .header("authorization", format!("Bearer {}", tokens.access_token))
///     .body(Body::empty())?;
/// let res = admin.oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::FORBIDDEN);
/// # Ok(())
/// # }
/// ```
///
/// In axum, the same layer guards a group of routes with `route_layer`,
/// and their handlers take [`CurrentUser`] as an argument (the one the layer
/// found is reused, not authenticated twice, when the layer and the state
/// share one [`Users`]; a user a layer on another `Users` found is checked
/// again):
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_users::{CurrentUser, CurrentUserLayer, Users};
///
/// fn staff_routes(users: Users) -> Router<Users> {
///     Router::new()
///         .route("/staff", get(|user: CurrentUser| async move { format!("hi {}", user.email) }))
///         .route_layer(
///             CurrentUserLayer::new(users)
///                 .verified()
///                 .require(|user| user.email.as_str().ends_with("@example.com")),
///         )
/// }
/// ```
#[derive(Clone)]
#[must_use]
pub struct CurrentUserLayer {
    users: Users,
    guards: Vec<Guard>,
}

/// A check on the authenticated user, and the refusal when it fails.
#[derive(Clone)]
enum Guard {
    Verified,
    Superuser,
    Role(Arc<str>),
    Permission(Arc<str>),
    Recent,
    Predicate(Arc<dyn Fn(&CurrentUser) -> bool + Send + Sync>),
}

impl Guard {
    fn check(&self, users: &Users, user: &CurrentUser) -> Result<(), CurrentUserRejection> {
        let missing = CurrentUserRejection::MissingPermission;
        let (ok, refusal) = match self {
            Guard::Verified => (user.is_verified, CurrentUserRejection::Unverified),
            Guard::Superuser => (user.is_superuser, CurrentUserRejection::Forbidden),
            Guard::Role(role) => (user.has_role(role), missing),
            Guard::Permission(name) => (users.has_permission(user, name), missing),
            Guard::Recent => return user.require_recent_authentication(users),
            Guard::Predicate(allows) => (allows(user), CurrentUserRejection::Forbidden),
        };
        if ok { Ok(()) } else { Err(refusal) }
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Guard::Verified => "Verified",
            Guard::Superuser => "Superuser",
            Guard::Role(_) => "Role",
            Guard::Permission(_) => "Permission",
            Guard::Recent => "RecentlyAuthenticated",
            Guard::Predicate(_) => "Predicate",
        })
    }
}

impl fmt::Debug for CurrentUserLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentUserLayer")
            .field("guards", &self.guards)
            .finish_non_exhaustive()
    }
}

impl CurrentUserLayer {
    /// Requires an authenticated, active user on every request.
    pub fn new(users: Users) -> Self {
        CurrentUserLayer {
            users,
            guards: Vec::new(),
        }
    }

    /// Also requires a verified email: 403 `UNVERIFIED_USER` otherwise.
    pub fn verified(self) -> Self {
        self.with_guard(Guard::Verified)
    }

    /// Also requires a superuser: 403 `FORBIDDEN` otherwise.
    pub fn superuser(self) -> Self {
        self.with_guard(Guard::Superuser)
    }

    /// Also requires that the session proved the password within the
    /// re-authentication window (see
    /// [`UsersBuilder::with_reauthentication_window`](crate::UsersBuilder::with_reauthentication_window)):
    /// 403 `REAUTHENTICATION_REQUIRED` otherwise, which tells the client to
    /// `POST /users/reauthenticate` and retry.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use http::{Request, StatusCode};
    /// use tower_users::http::{Body, Layer, Response, ServiceExt, service_fn};
    /// use tower_users::{CurrentUserLayer, RedbStore, Users};
    ///
    /// let users = Users::builder(RedbStore::in_memory()?)
    ///     .with_secret(b"an example secret of at least 32 bytes!!")
    ///     .with_reauthentication_window(Duration::from_secs(1))
    ///     .build()?;
    /// let close = service_fn(|_req: Request<Body>| async {
    ///     Ok::<_, Infallible>(Response::new(Body::from("account closed")))
    /// });
    /// let close = CurrentUserLayer::new(users.clone()).recently_authenticated().layer(close);
    ///
    /// users.register("alice@example.com", "correct horse battery").await?;
    /// let tokens = users.login("alice@example.com", "correct horse battery").await?;
    /// let request = || {
    ///     Request::post("/close")
    ///         .header("authorization", format!("Bearer {}", tokens.access_token))
    ///         .body(Body::empty())
    /// };
    /// tokio::time::sleep(Duration::from_millis(2100)).await;
    /// let res = close.clone().oneshot(request()?).await?;
    /// assert_eq!(res.status(), StatusCode::FORBIDDEN); // REAUTHENTICATION_REQUIRED
    ///
    /// let me = users.authenticate(&tokens.access_token).await?;
    /// users.reauthenticate(me.session, me.user.id, "correct horse battery").await?;
    /// assert_eq!(close.oneshot(request()?).await?.status(), StatusCode::OK);
    /// # Ok(())
    /// # }
    /// ```
    pub fn recently_authenticated(self) -> Self {
        self.with_guard(Guard::Recent)
    }

    /// Also requires a role that grants `permission` (see
    /// [`UsersBuilder::with_role`](crate::UsersBuilder::with_role)): 403
    /// `MISSING_PERMISSION` otherwise. The user's roles are read from the
    /// store on every request, so a grant or revoke holds from the next
    /// one. A permission that no role grants refuses everyone; the layer
    /// logs a warning when it is made with one, as that is most likely a
    /// typo (the [`RequirePermission`](super::RequirePermission) extractor
    /// rules typos out with a type).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::convert::Infallible;
    /// use http::{Request, StatusCode};
    /// use tower_users::http::{Body, Layer, Response, ServiceExt, service_fn};
    /// use tower_users::{CurrentUserLayer, RedbStore, Users};
    ///
    /// let users = Users::builder(RedbStore::in_memory()?)
    ///     .with_secret(b"an example secret of at least 32 bytes!!")
    ///     .with_role("editor", ["posts:write"])
    ///     .with_superuser("root@example.com", "kettle staple zebra")
    ///     .start()
    ///     .await?;
    /// let publish = service_fn(|_req: Request<Body>| async {
    ///     Ok::<_, Infallible>(Response::new(Body::from("published")))
    /// });
    /// let publish = CurrentUserLayer::new(users.clone())
    ///     .permission("posts:write")
    ///     .layer(publish);
    ///
    /// let alice = users.register("alice@example.com", "correct horse battery").await?;
    /// let tokens = users.login("alice@example.com", "correct horse battery").await?;
    /// let request = || {
    ///     Request::post("/posts")
    ///         .header("authorization", format!("Bearer {}", tokens.access_token))
    ///         .body(Body::empty())
    /// };
    /// let res = publish.clone().oneshot(request()?).await?;
    /// assert_eq!(res.status(), StatusCode::FORBIDDEN); // MISSING_PERMISSION
    ///
    /// let root = users.login("root@example.com", "kettle staple zebra").await?;
    /// users.grant_role(root.user.id, alice.id, "editor").await?;
    /// assert_eq!(publish.oneshot(request()?).await?.status(), StatusCode::OK);
    /// # Ok(())
    /// # }
    /// ```
    pub fn permission(self, permission: &str) -> Self {
        if !self.users.role_map().knows_permission(permission) {
            tracing::warn!(
                permission,
                "CurrentUserLayer::permission: no role defined with with_role grants this \
                 permission, so every request will be refused"
            );
        }
        self.with_guard(Guard::Permission(permission.into()))
    }

    /// Also requires the role `role`: 403 `MISSING_PERMISSION` otherwise.
    /// Prefer [`permission`](Self::permission): a route that names what it
    /// needs keeps working when roles are reshaped. A role the app did not
    /// define refuses everyone, and is warned about when the layer is made.
    pub fn role(self, role: &str) -> Self {
        if !self.users.role_map().defines(role) {
            tracing::warn!(
                role,
                "CurrentUserLayer::role: no such role is defined with with_role, so every \
                 request will be refused"
            );
        }
        self.with_guard(Guard::Role(role.into()))
    }

    /// Also requires `allows(user)` to be true: 403 `FORBIDDEN` otherwise.
    /// Runs after the guards added before it, on every request, with the
    /// user just read from the store.
    ///
    /// ```
    /// use tower_users::{CurrentUserLayer, Users};
    ///
    /// fn staff_only(users: Users) -> CurrentUserLayer {
    ///     CurrentUserLayer::new(users)
    ///         .verified()
    ///         .require(|user| user.email.as_str().ends_with("@staff.example.com"))
    /// }
    /// ```
    pub fn require<F>(self, allows: F) -> Self
    where
        F: Fn(&CurrentUser) -> bool + Send + Sync + 'static,
    {
        self.with_guard(Guard::Predicate(Arc::new(allows)))
    }

    fn with_guard(mut self, guard: Guard) -> Self {
        self.guards.push(guard);
        self
    }
}

impl<S> Layer<S> for CurrentUserLayer {
    type Service = CurrentUserService<S>;
    fn layer(&self, inner: S) -> CurrentUserService<S> {
        CurrentUserService {
            inner,
            rule: Arc::new(Rule {
                users: self.users.clone(),
                optional: false,
                guards: self.guards.clone(),
            }),
        }
    }
}

/// Like [`CurrentUserLayer`], but requests without credentials go through
/// with no [`CurrentUser`]. A bad bearer token is still refused, as with
/// `Option<CurrentUser>`; a session cookie that no longer checks out
/// (expired, or its session ended) counts as none. It takes no guards.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::convert::Infallible;
/// use http::{Request, StatusCode};
/// use tower_users::http::{Body, Layer, Response, ServiceExt, service_fn};
/// use tower_users::{CurrentUser, OptionalUserLayer, RedbStore, Users};
///
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret(b"an example secret of at least 32 bytes!!")
///     .build()?;
/// let greet = service_fn(|req: Request<Body>| async move {
///     let who = match req.extensions().get::<CurrentUser>() {
///         Some(user) => user.email.to_string(),
///         None => "anonymous".to_owned(),
///     };
///     Ok::<_, Infallible>(Response::new(Body::from(who)))
/// });
/// let greet = OptionalUserLayer::new(users).layer(greet);
///
/// let res = greet.clone().oneshot(Request::new(Body::empty())).await?;
/// assert_eq!(res.status(), StatusCode::OK);
///
/// // Present but bad credentials are refused, never anonymous.
/// let req = Request::builder()
///     .header("authorization", "Bearer forged")
///     .body(Body::empty())?;
/// assert_eq!(greet.oneshot(req).await?.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct OptionalUserLayer {
    users: Users,
}

impl OptionalUserLayer {
    /// Lets requests without credentials through (with no [`CurrentUser`]
    /// in the extensions); a bad bearer token is still refused.
    pub fn new(users: Users) -> Self {
        OptionalUserLayer { users }
    }
}

impl fmt::Debug for OptionalUserLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OptionalUserLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for OptionalUserLayer {
    type Service = CurrentUserService<S>;
    fn layer(&self, inner: S) -> CurrentUserService<S> {
        CurrentUserService {
            inner,
            rule: Arc::new(Rule {
                users: self.users.clone(),
                optional: true,
                guards: Vec::new(),
            }),
        }
    }
}

/// What a layer requires, shared by every clone of its service.
struct Rule {
    users: Users,
    optional: bool,
    guards: Vec<Guard>,
}

impl Rule {
    /// The user of the request, checked; `Ok(None)` only where anonymous
    /// requests are let through.
    async fn admit(
        &self,
        parts: &http::request::Parts,
    ) -> Result<Option<CurrentUser>, CurrentUserRejection> {
        // The CSRF checks too: the layer cannot read a form body, so a
        // cookie-authenticated state-changing request needs `X-CSRF-Token`.
        let Some(user) = CurrentUser::optional_checked(parts, &self.users).await? else {
            return if self.optional {
                Ok(None)
            } else {
                Err(CurrentUserRejection::MissingCredentials)
            };
        };
        for guard in &self.guards {
            guard.check(&self.users, &user)?;
        }
        Ok(Some(user))
    }
}

/// The service made by [`CurrentUserLayer`] and [`OptionalUserLayer`].
#[derive(Clone)]
pub struct CurrentUserService<S> {
    inner: S,
    rule: Arc<Rule>,
}

impl<S: fmt::Debug> fmt::Debug for CurrentUserService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentUserService")
            .field("inner", &self.inner)
            .field("optional", &self.rule.optional)
            .field("guards", &self.rule.guards)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for CurrentUserService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    ResBody: From<Bytes> + Send,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let rule = self.rule.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            match rule.admit(&parts).await {
                Ok(Some(user)) => {
                    parts.extensions.insert(user);
                }
                Ok(None) => {}
                Err(rejection) => {
                    let mut res = reject(rejection);
                    clear_if_dead(&rule.users, &parts, &mut res).await;
                    return Ok(res);
                }
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

/// Renders a rejection into the inner service's body type.
fn reject<ResBody: From<Bytes>>(rejection: CurrentUserRejection) -> Response<ResBody> {
    problem_response(&crate::Error::from(rejection))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store failure met by a guard layer is a 500 the operator hears
    /// about, as it is from the endpoints.
    #[test]
    fn a_store_failure_in_a_guard_layer_is_a_500_logged_at_error() {
        let failure = CurrentUserRejection::Internal(crate::Error::internal("store is down"));
        let (res, text): (Response<Bytes>, _) =
            crate::test_log::logged(tracing::Level::TRACE, || reject(failure));
        assert_eq!(res.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            text.contains("ERROR") && text.contains("store is down"),
            "{text}"
        );
    }

    /// A permission no role grants, or a role nobody defined, can only be
    /// a typo: said at start-up, not discovered as 403s in production.
    #[test]
    fn a_guard_nobody_can_pass_is_warned_about_when_the_layer_is_made() {
        let users = Users::builder(crate::RedbStore::in_memory().unwrap())
            .with_secret([5u8; 32])
            .with_role("editor", ["posts:write"])
            .build()
            .unwrap();
        let warned = |make: &dyn Fn() -> CurrentUserLayer| {
            crate::test_log::logged(tracing::Level::WARN, make).1
        };
        let text = warned(&|| CurrentUserLayer::new(users.clone()).permission("posts:wirte"));
        assert!(
            text.contains("WARN") && text.contains("posts:wirte"),
            "{text}"
        );
        let text = warned(&|| CurrentUserLayer::new(users.clone()).role("edtior"));
        assert!(text.contains("WARN") && text.contains("edtior"), "{text}");
        let text = warned(&|| {
            CurrentUserLayer::new(users.clone())
                .permission("posts:write")
                .role("editor")
        });
        assert!(text.is_empty(), "{text}");
    }
}
