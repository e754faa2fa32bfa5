//! [`ClientIpLayer`]: resolves each request's client once, for the rate
//! limits and the login lockout alike.

use std::task::{Context, Poll};

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use super::client_ip::{ClientIp, ForwardedHeader, TrustedProxy};
use super::client_key::ProxyChain;

/// Puts the request's client into the extensions as [`ClientIp`]: the
/// connection's peer ([`PeerAddr`](super::PeerAddr) or axum's `ConnectInfo`),
/// or, when that peer is a trusted proxy, the address the proxy reports in
/// the chosen header (see [`ProxyChain`]).
///
/// The login lockout counts failures per (account, client): behind a proxy,
/// without this layer (or [`RateLimitLayer`](super::RateLimitLayer), which
/// resolves clients the same way), every login would be the proxy's and a
/// few guesses would lock the owner out. Apply it outside the rate limits
/// (they reuse the [`ClientIp`] it set) and keep it when they are off.
/// Requests without a peer, or that already carry a [`ClientIp`], pass
/// unchanged.
///
/// ```
/// use tower_users::http::Layer;
/// use tower_users::http::{ClientIpLayer, ForwardedHeader, TrustedProxy};
/// use tower_users::{RedbStore, Users, UsersService};
///
/// let users = Users::builder(RedbStore::in_memory().unwrap())
///     .with_secret([7u8; 32])
///     .build()
///     .unwrap();
/// let proxies = vec![TrustedProxy::parse("10.0.0.0/8").unwrap()];
/// let layer = ClientIpLayer::new(proxies, ForwardedHeader::XForwardedFor);
/// let _service = layer.layer(UsersService::new(users));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientIpLayer {
    chain: ProxyChain,
}

impl ClientIpLayer {
    /// Believes `header` from peers in `trusted` (none: every client is
    /// its peer).
    pub fn new(trusted: Vec<TrustedProxy>, header: ForwardedHeader) -> Self {
        ClientIpLayer {
            chain: ProxyChain::new(trusted, header),
        }
    }
}

impl<S> Layer<S> for ClientIpLayer {
    type Service = ResolveClientIp<S>;
    fn layer(&self, inner: S) -> ResolveClientIp<S> {
        ResolveClientIp {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`ClientIpLayer`].
#[derive(Debug, Clone)]
pub struct ResolveClientIp<S> {
    inner: S,
    layer: ClientIpLayer,
}

impl<S, B> Service<Request<B>> for ResolveClientIp<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        if req.extensions().get::<ClientIp>().is_none()
            && let Some(ip) = self.layer.chain.resolve(req.extensions(), req.headers())
        {
            req.extensions_mut().insert(ClientIp(ip));
        }
        self.inner.call(req)
    }
}
