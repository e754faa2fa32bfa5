//! [`CurrentUserLayer`]: authentication for any tower stack, not only axum.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::current_user::{CurrentUser, CurrentUserRejection};
use super::problem::problem_response;
use crate::Users;
use crate::mail::BoxFuture;

/// Authenticates each request and puts the [`CurrentUser`] into its
/// extensions. Without credentials the request is refused with 401, unless
/// the layer is [`optional`](Self::optional); bad credentials are always
/// refused.
#[derive(Clone, Debug)]
pub struct CurrentUserLayer {
    users: Users,
    optional: bool,
}

impl CurrentUserLayer {
    /// Requires an authenticated, active user on every request.
    pub fn new(users: Users) -> Self {
        CurrentUserLayer {
            users,
            optional: false,
        }
    }

    /// Lets requests without credentials through (with no `CurrentUser`).
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

impl<S> Layer<S> for CurrentUserLayer {
    type Service = RequireUser<S>;
    fn layer(&self, inner: S) -> RequireUser<S> {
        RequireUser {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`CurrentUserLayer`].
#[derive(Clone, Debug)]
pub struct RequireUser<S> {
    inner: S,
    layer: CurrentUserLayer,
}

impl<S, B, ResBody> Service<Request<B>> for RequireUser<S>
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
        let layer = self.layer.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            match CurrentUser::optional_from_parts(&parts, &layer.users).await {
                Ok(Some(user)) => {
                    parts.extensions.insert(user);
                }
                Ok(None) if layer.optional => {}
                Ok(None) => return Ok(reject(CurrentUserRejection::MissingCredentials)),
                Err(rejection) => return Ok(reject(rejection)),
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

/// Renders a rejection into the inner service's body type.
fn reject<ResBody: From<Bytes>>(rejection: CurrentUserRejection) -> Response<ResBody> {
    problem_response(&crate::Error::from(rejection))
}
