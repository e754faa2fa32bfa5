//! Pages for browsers: sign up, log in, forgot password, the landing pages
//! of the emailed links, and the account page, served by the library as one
//! tower `Service`, [`PagesService`], beside the API.
//!
//! | path | page |
//! |---|---|
//! | `/signup` | sign up (signed in at once) |
//! | `/login` | log in |
//! | `/forgot-password` | ask for a password-reset link |
//! | `/verify` | where the verification (and email-change) link leads |
//! | `/password-reset` | where the password-reset link leads: set a new password |
//! | `/account` | email and status; resend verification, change password or email, log out, log out everywhere, delete the account |
//! | `/pages.css` | the stylesheet |
//!
//! Plain HTML forms that post to their own path and answer with a redirect
//! (POST/redirect/GET), minijinja templates ([`PageTemplates`], overridable
//! one file at a time), no JavaScript but the few lines that read a link's
//! token from the URL fragment, so the token never reaches a URL or a
//! server log. Every POST passes the API's `Sec-Fetch-Site` / `Origin`
//! check ([`csrf`](crate::http::csrf), tower-http's policy, with the origins
//! the app trusts), logins too, so no other site can sign a browser into an
//! account of its choosing; the account page's forms also carry the
//! session's CSRF token.
//!
//! The session is the cookie of the API's cookie transport; the pages call
//! [`Users`] directly, never over HTTP. The default email links,
//! `{public_url}/verify#token=…` and `{public_url}/password-reset#token=…`,
//! lead to these pages when they are mounted at the root.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use http::{Request, StatusCode};
//! use tower_users::http::{Body, ServiceExt};
//! use tower_users::pages::PagesService;
//! use tower_users::{RedbStore, Users};
//!
//! let users = Users::builder(RedbStore::in_memory().unwrap())
//!     .with_secret([7u8; 32])
//!     .build()
//!     .unwrap();
//! let pages = PagesService::new(users);
//! let res = pages.oneshot(Request::get("/login").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
//! # });
//! ```

mod account;
mod form;
mod links;
mod public;
mod render;
mod session;
mod templates;

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::Response;
use http::header::{ALLOW, HeaderValue, RETRY_AFTER};
use http::request::Parts;
use http::{Method, Request, StatusCode};
use tower_service::Service;

pub use templates::PageTemplates;

use crate::Users;
use crate::error::{BoxError, ConfigError, Error};
use crate::http::body::{RequestBody, guarded};
use crate::http::rate_limit::{Charged, Class, charge};
use crate::mail::BoxFuture;
use form::Form;
use render::{Page, explain, redirect};

/// The pages as one tower `Service`; mount it at the root (or set a
/// prefix with [`with_prefix`](Self::with_prefix) and matching email links).
///
/// Put the same [`RateLimitLayer`](crate::http::RateLimitLayer) in front as
/// in front of the API: each form charges the class of the API endpoint it
/// stands for (log in, sign up, emails, links).
#[derive(Clone, Debug)]
pub struct PagesService {
    // Shared: cloning the service (once per request in most servers) is one
    // reference-count increment.
    pages: Arc<Pages>,
}

/// What every request of the pages shares.
pub(crate) struct Pages {
    users: Users,
    templates: PageTemplates,
    /// Where the pages are mounted, without a trailing slash ("" at the root).
    prefix: String,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl PagesService {
    /// The pages for `users`, at the root, with the embedded templates.
    ///
    /// # Panics
    ///
    /// If `users` has the cookie transport off
    /// ([`UsersBuilder::with_transports`](crate::UsersBuilder::with_transports)
    /// without [`Transport::Cookie`](crate::Transport::Cookie)): the pages'
    /// session is that cookie, so no visitor could ever sign in. Use
    /// [`try_new`](Self::try_new) for configuration read at run time.
    #[allow(clippy::expect_used)]
    pub fn new(users: Users) -> Self {
        Self::try_new(users).expect("PagesService needs the cookie transport")
    }

    /// [`new`](Self::new), refusing `users` without the cookie transport
    /// with [`ConfigError::Invalid`] (`transports`).
    pub fn try_new(users: Users) -> Result<Self, ConfigError> {
        if !users.transports().contains(&crate::Transport::Cookie) {
            return Err(ConfigError::Invalid {
                name: "transports",
                reason: "the pages sign visitors in with the session cookie, and the cookie \
                         transport is off: add Transport::Cookie to with_transports"
                    .to_owned(),
            });
        }
        Ok(Self::with(Pages {
            users,
            templates: PageTemplates::embedded(),
            prefix: String::new(),
        }))
    }

    fn with(pages: Pages) -> Self {
        PagesService {
            pages: Arc::new(pages),
        }
    }

    /// Renders the pages with `templates` instead of the embedded ones.
    #[must_use]
    pub fn with_templates(self, templates: PageTemplates) -> Self {
        Self::with(Pages {
            users: self.pages.users.clone(),
            templates,
            prefix: self.pages.prefix.clone(),
        })
    }

    /// Serves the pages under `prefix` (such as `/account-pages`) instead
    /// of the root; their links and forms follow. Point the email links
    /// there too ([`UsersBuilder::with_verify_link`](crate::UsersBuilder::with_verify_link),
    /// [`with_reset_link`](crate::UsersBuilder::with_reset_link)).
    #[must_use]
    pub fn with_prefix(self, prefix: impl Into<String>) -> Self {
        Self::with(Pages {
            users: self.pages.users.clone(),
            templates: self.pages.templates.clone(),
            prefix: prefix.into().trim_end_matches('/').to_owned(),
        })
    }
}

/// Which page a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Root,
    SignUp,
    LogIn,
    ForgotPassword,
    Verify,
    VerifyResend,
    PasswordReset,
    Account,
    Stylesheet,
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        Some(match path {
            "" | "/" => Route::Root,
            "/signup" => Route::SignUp,
            "/login" => Route::LogIn,
            "/forgot-password" => Route::ForgotPassword,
            "/verify" => Route::Verify,
            "/verify/resend" => Route::VerifyResend,
            "/password-reset" => Route::PasswordReset,
            "/account" => Route::Account,
            "/pages.css" => Route::Stylesheet,
            _ => return None,
        })
    }

    fn allow(self) -> &'static str {
        match self {
            Route::Root | Route::Stylesheet => "GET, HEAD",
            Route::VerifyResend => "POST",
            _ => "GET, HEAD, POST",
        }
    }

    /// The rate-limit class a POST of this page charges, as its API
    /// endpoint does; the account page charges per action.
    fn class(self) -> Option<Class> {
        match self {
            Route::SignUp => Some(Class::Register),
            Route::LogIn => Some(Class::Login),
            Route::ForgotPassword | Route::VerifyResend => Some(Class::EmailRequest),
            Route::Verify | Route::PasswordReset => Some(Class::Token),
            _ => None,
        }
    }
}

impl<B> Service<Request<B>> for PagesService
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

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let pages = self.pages.clone();
        let route = req
            .uri()
            .path()
            .strip_prefix(pages.prefix.as_str())
            .and_then(Route::parse);
        let Some(route) = route else {
            return Box::pin(async move {
                Ok(
                    Page::message("Page not found", ("/account", "Go to your account"))
                        .status(StatusCode::NOT_FOUND)
                        .alert("There is no page at this address.")
                        .render(&pages),
                )
            });
        };
        let method = req.method().clone();
        let get = method == Method::GET || method == Method::HEAD;
        if get && route.allow().starts_with("GET") {
            let (parts, _) = req.into_parts();
            return Box::pin(async move { Ok(show(&pages, route, &parts).await) });
        }
        if method != Method::POST || !route.allow().ends_with("POST") {
            return Box::pin(async move {
                let mut res =
                    Page::message("Method not allowed", ("/account", "Go to your account"))
                        .status(StatusCode::METHOD_NOT_ALLOWED)
                        .alert("This page cannot be used that way.")
                        .render(&pages);
                res.headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(route.allow()));
                Ok(res)
            });
        }
        // Every POST, the login's and the sign-up's too: no page of another
        // site may sign this browser into an account of its choosing. With
        // the API's policy, so the origins the app trusts are the same.
        let (mut parts, body) = req.into_parts();
        if session::check_origin(&pages.users, &parts).is_err() {
            return Box::pin(async move { Ok(session::refused(&pages)) });
        }
        let limited = route.class().map(|class| charge(&parts.extensions, class));
        parts.extensions.insert(Posted(pages.clone(), route));
        let req = Request::from_parts(parts, body);
        let users = pages.users.clone();
        Box::pin(async move {
            if let Some(res) = over_limit(&pages, limited).await {
                return Ok(res);
            }
            Ok(guarded(users, req, post).await)
        })
    }
}

/// The page and route of a POST, for the handler behind the body limits.
#[derive(Clone)]
struct Posted(Arc<Pages>, Route);

/// The answer for a charge over its rate limit, as a page.
async fn over_limit(pages: &Pages, charged: Option<Charged>) -> Option<Response> {
    let refused = match charged? {
        Charged::Passed => return None,
        Charged::Refused(res) => res,
        Charged::Asking(verdict) => verdict.await?,
    };
    let retry_after = refused
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let err = if refused.status() == StatusCode::TOO_MANY_REQUESTS {
        Error::RateLimited { retry_after }
    } else {
        Error::Unavailable { retry_after }
    };
    let mut res = Page::message("Too many attempts", ("/login", "Log in"))
        .status(err.status())
        .alert(explain(&err))
        .render(pages);
    res.headers_mut().insert(RETRY_AFTER, retry_after.into());
    Some(res)
}

async fn show(pages: &Pages, route: Route, parts: &Parts) -> Response {
    let page = match route {
        Route::Root => return redirect(pages, "/account", Vec::new()),
        Route::Stylesheet => return render::stylesheet(pages),
        Route::Account => return account::show(pages, parts).await,
        // Already signed in: nothing to do here.
        Route::SignUp | Route::LogIn if signed_in(pages, parts).await => {
            return redirect(pages, "/account", Vec::new());
        }
        Route::SignUp => public::signup_page(),
        Route::LogIn => public::login_page(parts),
        Route::ForgotPassword => public::forgot_page(parts),
        Route::Verify | Route::VerifyResend => links::verify_landing(parts),
        Route::PasswordReset => links::reset_landing(),
    };
    page.render(pages)
}

/// Whether the request carries a session that checks out.
async fn signed_in(pages: &Pages, parts: &Parts) -> bool {
    matches!(
        crate::http::CurrentUser::optional_from_parts(parts, &pages.users).await,
        Ok(Some(_))
    )
}

async fn post<B: RequestBody>(_users: Users, parts: Parts, body: B) -> Result<Response, Error> {
    let Some(Posted(pages, route)) = parts.extensions.get::<Posted>().cloned() else {
        return Err(Error::internal(
            "pages: a POST reached the handler unrouted",
        ));
    };
    let form = match Form::read(&parts, body).await {
        Ok(form) => form,
        Err(err) => {
            return Ok(
                Page::message("The form could not be sent", ("/account", "Go back"))
                    .status(err.status())
                    .alert(explain(&err))
                    .render(&pages),
            );
        }
    };
    Ok(match route {
        Route::SignUp => public::signup(&pages, &parts, &form).await,
        Route::LogIn => public::login(&pages, &parts, &form).await,
        Route::ForgotPassword => public::forgot(&pages, &form).await,
        Route::Verify => links::verify(&pages, &form).await,
        Route::VerifyResend => links::resend(&pages, &form).await,
        Route::PasswordReset => links::reset(&pages, &form).await,
        Route::Account => account::act(&pages, &parts, &form).await,
        Route::Root | Route::Stylesheet => return Err(Error::MethodNotAllowed),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum_core::body::Body;
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::RedbStore;

    fn pages() -> PagesService {
        let users = Users::builder(RedbStore::in_memory().unwrap())
            .with_secret([3u8; 32])
            .build()
            .unwrap();
        PagesService::new(users)
    }

    async fn call(pages: &PagesService, req: Request<Body>) -> Response {
        pages.clone().oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn under_a_prefix_the_pages_and_their_links_move_together() {
        let pages = pages().with_prefix("/auth/");
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        assert_eq!(
            call(&pages, get("/auth/login")).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            call(&pages, get("/login")).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&pages, get("/authlogin")).await.status(),
            StatusCode::NOT_FOUND
        );
        let res = call(&pages, get("/auth/account")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/auth/login");
    }

    #[tokio::test]
    async fn a_post_that_is_not_a_form_is_refused_with_a_page() {
        let req = Request::post("/login")
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let res = call(&pages(), req).await;
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    }
}
