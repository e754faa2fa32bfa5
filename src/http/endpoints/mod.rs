//! One small tower `Service` per lifecycle endpoint.
//!
//! Each is usable alone (mount only [`Register`] and [`Login`] in your own
//! router if that is all you want, at any path) and is infallible: every
//! failure is a problem+json response. Behind a
//! [`RateLimitLayer`](super::RateLimitLayer), each limited endpoint charges
//! its own class first thing, wherever it is mounted. Handlers only decode,
//! call [`Users`](crate::Users), and encode.

mod admin;
mod me;
mod password_reset;
mod reauth;
mod registration;
mod sessions;
mod verification;

#[cfg(test)]
pub(crate) use admin::Page;
pub use admin::{AdminUser, AdminUserRole, ListUsers, PathRole, PathUserId};
pub use me::Me;
pub use password_reset::{ResetPassword, ResetRequest};
pub use reauth::Reauthenticate;
pub use registration::Register;
#[cfg(test)]
pub(crate) use sessions::CookieLogin;
pub use sessions::{Login, Logout, LogoutAll, Refresh};
pub use verification::{Verify, VerifyRequest};

/// A token taken from the request path (`/verify/{token}`), set by
/// [`UsersService`](super::UsersService) before it calls [`Verify`] or
/// [`ResetPassword`]. Insert it yourself to use the path forms elsewhere.
#[derive(Clone)]
pub struct PathToken(pub String);

impl std::fmt::Debug for PathToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PathToken(..)")
    }
}

/// Declares an endpoint service around `async fn handler(Users, Parts, B)`.
///
/// `rate_limit = Class` (optionally `if METHOD | …`) makes it charge that
/// rate-limit class first thing, when a `RateLimitLayer` in front tracks the
/// request: the class goes with the endpoint, not with a path.
macro_rules! endpoint {
    (
        $(#[$meta:meta])* $name:ident => $handler:path
        $(, rate_limit = $class:ident $(if $($method:ident)|+)?)?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub struct $name {
            users: $crate::Users,
        }

        impl $name {
            /// The endpoint, answering for `users`.
            pub fn new(users: $crate::Users) -> Self {
                Self { users }
            }
        }

        impl<B> tower_service::Service<http::Request<B>> for $name
        where
            B: http_body::Body + Send + 'static,
            B::Data: Send,
            B::Error: Into<$crate::BoxError>,
        {
            type Response = axum_core::response::Response;
            type Error = std::convert::Infallible;
            type Future = $crate::mail::BoxFuture<'static, Result<Self::Response, Self::Error>>;

            fn poll_ready(
                &mut self,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), Self::Error>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn call(&mut self, req: http::Request<B>) -> Self::Future {
                self.respond(req)
            }
        }

        impl $name {
            /// Answers `req`; what `Service::call` does, without `&mut`.
            pub(crate) fn respond<B>(
                &self,
                req: http::Request<B>,
            ) -> $crate::mail::BoxFuture<'static, Result<axum_core::response::Response, std::convert::Infallible>>
            where
                B: http_body::Body + Send + 'static,
                B::Data: Send,
                B::Error: Into<$crate::BoxError>,
            {
                #[allow(unused_mut)]
                let mut asking: Option<$crate::mail::BoxFuture<'static, Option<axum_core::response::Response>>> = None;
                $(
                    let limited = true $(&& matches!(*req.method(), $(http::Method::$method)|+))?;
                    if limited {
                        use $crate::http::rate_limit::Charged;
                        match $crate::http::rate_limit::charge(
                            req.extensions(),
                            $crate::http::rate_limit::Class::$class,
                        ) {
                            Charged::Passed => {}
                            Charged::Refused(res) => return Box::pin(async move { Ok(res) }),
                            Charged::Asking(verdict) => asking = Some(verdict),
                        }
                    }
                )?
                let users = self.users.clone();
                Box::pin(async move {
                    // A store-kept limit is charged before any other work.
                    if let Some(verdict) = asking
                        && let Some(res) = verdict.await
                    {
                        return Ok(res);
                    }
                    Ok($crate::http::body::guarded(users, req, $handler).await)
                })
            }
        }
    };
}
pub(crate) use endpoint;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use http::{Request, StatusCode};
    use http_body_util::{BodyExt, Full};
    use tower::ServiceExt;

    use super::*;
    use crate::{RedbStore, Users};

    fn users() -> Users {
        Users::builder(RedbStore::in_memory().unwrap())
            .with_secret([9u8; 32])
            .with_verify_on_register(false)
            .build()
            .unwrap()
    }

    fn post(json: &str) -> Request<Full<bytes::Bytes>> {
        Request::post("/")
            .header("content-type", "application/json")
            .body(Full::from(json.to_owned()))
            .unwrap()
    }

    #[tokio::test]
    async fn register_alone_creates_a_user_and_refuses_a_duplicate() {
        let users = users();
        let body = r#"{"email":"a@example.com","password":"long enough pw"}"#;
        let res = Register::new(users.clone())
            .oneshot(post(body))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = Register::new(users).oneshot(post(body)).await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["code"], "USER_EXISTS");
    }

    #[tokio::test]
    async fn login_alone_refuses_a_non_json_body_with_415() {
        let req = Request::post("/")
            .header("content-type", "text/plain")
            .body(Full::<bytes::Bytes>::from("hi"))
            .unwrap();
        let res = Login::new(users()).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    /// Two calls from one client through a fresh layer allowing one of each
    /// class: the status of the second.
    async fn second_status<S>(endpoint: S, method: http::Method) -> StatusCode
    where
        S: tower_service::Service<
                Request<Full<bytes::Bytes>>,
                Response = axum_core::response::Response,
                Error = std::convert::Infallible,
            > + Clone,
    {
        use crate::http::{PeerAddr, Rate, RateLimitConfig, RateLimitLayer};
        use tower::Layer;
        let once = Rate::new(1, std::time::Duration::from_secs(60));
        let layer = RateLimitLayer::new(RateLimitConfig {
            login: once,
            register: once,
            email_requests: once,
            tokens: once,
            ..RateLimitConfig::default()
        });
        let service = layer.layer(endpoint);
        let mut status = StatusCode::OK;
        for _ in 0..2 {
            let mut req = Request::builder()
                .method(method.clone())
                .uri("/anywhere")
                .header("content-type", "application/json")
                .body(Full::from("{}"))
                .unwrap();
            req.extensions_mut()
                .insert(PeerAddr("192.0.2.1:1000".parse().unwrap()));
            status = service.clone().oneshot(req).await.unwrap().status();
        }
        status
    }

    #[tokio::test]
    async fn each_endpoint_charges_its_own_class_whatever_the_path() {
        use http::Method;
        let u = users();
        let limited = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            second_status(Register::new(u.clone()), Method::POST).await,
            limited
        );
        assert_eq!(
            second_status(Login::new(u.clone()), Method::POST).await,
            limited
        );
        assert_eq!(
            second_status(Refresh::new(u.clone()), Method::POST).await,
            limited
        );
        assert_eq!(
            second_status(Verify::new(u.clone()), Method::POST).await,
            limited
        );
        assert_eq!(
            second_status(VerifyRequest::new(u.clone()), Method::POST).await,
            limited
        );
        assert_eq!(
            second_status(ResetRequest::new(u.clone()), Method::POST).await,
            limited
        );
        assert_eq!(
            second_status(ResetPassword::new(u.clone()), Method::POST).await,
            limited
        );
        assert_eq!(
            second_status(Me::new(u.clone()), Method::PATCH).await,
            limited
        );
        assert_eq!(
            second_status(Me::new(u.clone()), Method::DELETE).await,
            limited
        );
        // Reading the account, logging out and the admin routes are not limited.
        let unauthorized = StatusCode::UNAUTHORIZED;
        assert_eq!(
            second_status(Me::new(u.clone()), Method::GET).await,
            unauthorized
        );
        assert_eq!(
            second_status(Logout::new(u.clone()), Method::POST).await,
            unauthorized
        );
        assert_eq!(
            second_status(ListUsers::new(u), Method::GET).await,
            unauthorized
        );
    }

    #[tokio::test]
    async fn me_without_a_token_is_401_with_www_authenticate() {
        let req = Request::get("/")
            .body(Full::<bytes::Bytes>::default())
            .unwrap();
        let res = Me::new(users()).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
    }
}
