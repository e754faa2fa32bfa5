//! [`UsersService`]: every endpoint under one prefix, routed by method and path.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::Response;
use http::header::{ALLOW, HeaderValue};
use http::{Method, Request};
use tower_service::Service;

use super::endpoints::{
    AdminUser, AdminUserRole, ListUsers, Login, Logout, LogoutAll, Me, PathRole, PathToken,
    PathUserId, Reauthenticate, Refresh, Register, ResetPassword, ResetRequest, Verify,
    VerifyRequest,
};
use crate::Users;
use crate::error::{BoxError, Error};
use crate::mail::BoxFuture;

/// The whole lifecycle API as one tower `Service`.
///
/// Routes (under the prefix, `/users` by default): `POST /register`,
/// `/login`, `/refresh`, `/logout`, `/logout/all`, `/verify/request`,
/// `/verify`, `/verify/{token}`, `/password-reset/request`, `/password-reset`,
/// `/password-reset/{token}`, `/reauthenticate`; `GET`, `PATCH` and
/// `DELETE /me`; and for
/// superusers `GET /` (the user list), `GET`, `PATCH`, `DELETE /{id}` and
/// `PUT`, `DELETE /{id}/roles/{role}` (grant and revoke a role);
/// and `GET /openapi.json`, the OpenAPI 3.1 document of all of them.
/// Anything else under the prefix is a problem+json 404 (or 405 for a known
/// path).
///
/// Served by plain hyper it needs nothing else; nested in axum with
/// `nest_service("/users", …)`, set the prefix to `""` because axum strips
/// it.
#[derive(Clone, Debug)]
pub struct UsersService {
    // Shared: cloning the service (once per request in most servers) is one
    // reference-count increment.
    inner: Arc<Endpoints>,
}

#[derive(Debug)]
struct Endpoints {
    prefix: String,
    register: Register,
    login: Login,
    refresh: Refresh,
    logout: Logout,
    logout_all: LogoutAll,
    verify_request: VerifyRequest,
    verify: Verify,
    reset_request: ResetRequest,
    reset_password: ResetPassword,
    me: Me,
    reauthenticate: Reauthenticate,
    list_users: ListUsers,
    admin_user: AdminUser,
    admin_user_role: AdminUserRole,
    users: Users,
}

/// Which endpoint a path names.
enum Route {
    Register,
    Login,
    Refresh,
    Logout,
    LogoutAll,
    VerifyRequest,
    Verify(Option<String>),
    ResetRequest,
    ResetPassword(Option<String>),
    Me,
    Reauthenticate,
    List,
    User(crate::UserId),
    UserRole(crate::UserId, String),
    OpenApi,
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        Some(match path {
            "" | "/" => Route::List,
            "/openapi.json" => Route::OpenApi,
            "/register" => Route::Register,
            "/login" => Route::Login,
            "/refresh" => Route::Refresh,
            "/logout" => Route::Logout,
            "/logout/all" => Route::LogoutAll,
            "/verify/request" => Route::VerifyRequest,
            "/verify" => Route::Verify(None),
            "/password-reset/request" => Route::ResetRequest,
            "/password-reset" => Route::ResetPassword(None),
            "/me" => Route::Me,
            "/reauthenticate" => Route::Reauthenticate,
            _ => {
                let (base, token) = path.rsplit_once('/')?;
                if token.is_empty() {
                    return None;
                }
                match base {
                    "/verify" => Route::Verify(Some(token.to_owned())),
                    "/password-reset" => Route::ResetPassword(Some(token.to_owned())),
                    "" => Route::User(user_id(token)?),
                    _ => {
                        // `/{id}/roles/{role}`
                        let id = base.strip_prefix('/')?.strip_suffix("/roles")?;
                        let role = percent_encoding::percent_decode_str(token)
                            .decode_utf8()
                            .ok()?;
                        Route::UserRole(user_id(id)?, role.into_owned())
                    }
                }
            }
        })
    }

    fn methods(&self) -> &'static [Method] {
        const POST: &[Method] = &[Method::POST];
        const GET: &[Method] = &[Method::GET];
        const ONE_USER: &[Method] = &[Method::GET, Method::PATCH, Method::DELETE];
        const ROLE: &[Method] = &[Method::PUT, Method::DELETE];
        match self {
            Route::Me | Route::User(_) => ONE_USER,
            Route::UserRole(..) => ROLE,
            Route::List | Route::OpenApi => GET,
            _ => POST,
        }
    }

    fn allow(&self) -> HeaderValue {
        let methods: Vec<&str> = self.methods().iter().map(Method::as_str).collect();
        HeaderValue::from_str(&methods.join(", ")).unwrap_or(HeaderValue::from_static("GET"))
    }
}

/// A user id from the path; `None` (a 404) if it is not a UUID.
fn user_id(segment: &str) -> Option<crate::UserId> {
    Some(crate::UserId(uuid::Uuid::parse_str(segment).ok()?))
}

/// Every route as (method, path template under the prefix): what the
/// router serves and the OpenAPI document describes (a test holds the two
/// together).
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/register"),
    ("POST", "/login"),
    ("POST", "/refresh"),
    ("POST", "/logout"),
    ("POST", "/logout/all"),
    ("POST", "/verify/request"),
    ("POST", "/verify"),
    ("POST", "/verify/{token}"),
    ("POST", "/password-reset/request"),
    ("POST", "/password-reset"),
    ("POST", "/password-reset/{token}"),
    ("GET", "/me"),
    ("PATCH", "/me"),
    ("DELETE", "/me"),
    ("POST", "/reauthenticate"),
    ("GET", ""),
    ("GET", "/{id}"),
    ("PATCH", "/{id}"),
    ("DELETE", "/{id}"),
    ("PUT", "/{id}/roles/{role}"),
    ("DELETE", "/{id}/roles/{role}"),
    ("GET", "/openapi.json"),
];

impl UsersService {
    /// Every route this service answers, as (method, path template under
    /// the prefix), such as `("POST", "/verify/{token}")`.
    pub fn routes() -> &'static [(&'static str, &'static str)] {
        ROUTES
    }

    /// All endpoints for `users`, under `/users`.
    pub fn new(users: Users) -> Self {
        Self::with_endpoints("/users".to_owned(), users)
    }

    fn with_endpoints(prefix: String, users: Users) -> Self {
        let inner = Endpoints {
            prefix,
            register: Register::new(users.clone()),
            login: Login::new(users.clone()),
            refresh: Refresh::new(users.clone()),
            logout: Logout::new(users.clone()),
            logout_all: LogoutAll::new(users.clone()),
            verify_request: VerifyRequest::new(users.clone()),
            verify: Verify::new(users.clone()),
            reset_request: ResetRequest::new(users.clone()),
            reset_password: ResetPassword::new(users.clone()),
            me: Me::new(users.clone()),
            reauthenticate: Reauthenticate::new(users.clone()),
            list_users: ListUsers::new(users.clone()),
            admin_user: AdminUser::new(users.clone()),
            admin_user_role: AdminUserRole::new(users.clone()),
            users,
        };
        UsersService {
            inner: Arc::new(inner),
        }
    }

    /// Serves the endpoints under `prefix` (`""` for none) instead.
    #[must_use]
    pub fn with_prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into().trim_end_matches('/').to_owned();
        Self::with_endpoints(prefix, self.inner.users.clone())
    }

    /// The path relative to the prefix, if it is under the prefix.
    fn relative<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.inner.prefix.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }
}

impl<B> Service<Request<B>> for UsersService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let route = self.relative(req.uri().path()).and_then(Route::parse);
        let Some(route) = route else {
            return Box::pin(async { Ok(Error::NotFound.into_response()) });
        };
        if !route.methods().contains(req.method()) {
            let allow = route.allow();
            return Box::pin(async move {
                let mut res = Error::MethodNotAllowed.into_response();
                res.headers_mut().insert(ALLOW, allow);
                Ok(res)
            });
        }
        match route {
            Route::Register => self.inner.register.respond(req),
            Route::Login => self.inner.login.respond(req),
            Route::Refresh => self.inner.refresh.respond(req),
            Route::Logout => self.inner.logout.respond(req),
            Route::LogoutAll => self.inner.logout_all.respond(req),
            Route::VerifyRequest => self.inner.verify_request.respond(req),
            Route::ResetRequest => self.inner.reset_request.respond(req),
            Route::Me => self.inner.me.respond(req),
            Route::Reauthenticate => self.inner.reauthenticate.respond(req),
            Route::List => self.inner.list_users.respond(req),
            Route::OpenApi => Box::pin(async {
                let mut res = Response::new(axum_core::body::Body::from(super::OPENAPI));
                res.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Ok(res)
            }),
            Route::User(id) => {
                req.extensions_mut().insert(PathUserId(id));
                self.inner.admin_user.respond(req)
            }
            Route::UserRole(id, role) => {
                req.extensions_mut().insert(PathUserId(id));
                req.extensions_mut().insert(PathRole(role));
                self.inner.admin_user_role.respond(req)
            }
            Route::Verify(token) => {
                if let Some(token) = token {
                    req.extensions_mut().insert(PathToken(token));
                }
                self.inner.verify.respond(req)
            }
            Route::ResetPassword(token) => {
                if let Some(token) = token {
                    req.extensions_mut().insert(PathToken(token));
                }
                self.inner.reset_password.respond(req)
            }
        }
    }
}
