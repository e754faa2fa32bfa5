//! [`ClientIpLayer`]: resolves each request's client once, for the rate
//! limits and the login lockout alike.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use super::client_ip::{ClientIp, ForwardedHeader, PeerAddr, TrustedProxy, client_ip};

/// Puts the request's client into the extensions as [`ClientIp`]: the
/// connection's [`PeerAddr`], or, when that peer is a trusted proxy, the
/// address the proxy reports in the chosen header.
///
/// The login lockout counts failures per (account, client): behind a proxy,
/// without this layer (or [`RateLimitLayer`](super::RateLimitLayer), which
/// resolves clients the same way), every login would be the proxy's and a
/// few guesses would lock the owner out. Apply it outside the rate limits
/// (they reuse the [`ClientIp`] it set) and keep it when they are off.
/// Requests without a [`PeerAddr`], or that already carry a [`ClientIp`],
/// pass unchanged.
///
/// ```
/// use tower::Layer;
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
    trusted: Arc<[TrustedProxy]>,
    header: ForwardedHeader,
}

impl ClientIpLayer {
    /// Believes `header` from peers in `trusted` (none: every client is
    /// its peer).
    pub fn new(trusted: Vec<TrustedProxy>, header: ForwardedHeader) -> Self {
        ClientIpLayer {
            trusted: trusted.into(),
            header,
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
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
        if let Some(peer) = peer
            && req.extensions().get::<ClientIp>().is_none()
        {
            let ip = client_ip(peer, req.headers(), &self.layer.trusted, self.layer.header);
            req.extensions_mut().insert(ClientIp(ip));
        }
        self.inner.call(req)
    }
}
