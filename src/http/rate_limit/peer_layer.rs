//! [`PeerAddrLayer`]: the connection's peer, in every request's extensions.

use std::net::SocketAddr;
use std::task::{Context, Poll};

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use super::client_ip::PeerAddr;

/// Inserts [`PeerAddr`] into each request of one connection, so the rate
/// limits and the login lockout know the client. A plain hyper server
/// wraps each connection's service in it (axum apps served with
/// `into_make_service_with_connect_info::<SocketAddr>()` need nothing: their
/// `ConnectInfo` is read as it is).
///
/// ```no_run
/// use hyper_util::rt::TokioIo;
/// use hyper_util::service::TowerToHyperService;
/// use tower_users::http::Layer;
/// use tower_users::http::{PeerAddrLayer, RateLimitLayer};
/// use tower_users::{RedbStore, Users, UsersService};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret([7u8; 32])
///     .build()?;
/// let app = RateLimitLayer::default().layer(UsersService::new(users));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// loop {
///     let (stream, peer) = listener.accept().await?;
///     let service = TowerToHyperService::new(PeerAddrLayer::new(peer).layer(app.clone()));
///     tokio::spawn(
///         hyper::server::conn::http1::Builder::new()
///             .serve_connection(TokioIo::new(stream), service),
///     );
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PeerAddrLayer {
    peer: SocketAddr,
}

impl PeerAddrLayer {
    /// Tags requests as coming from `peer`, the address `accept` returned.
    pub fn new(peer: SocketAddr) -> Self {
        PeerAddrLayer { peer }
    }
}

impl<S> Layer<S> for PeerAddrLayer {
    type Service = AddPeerAddr<S>;
    fn layer(&self, inner: S) -> AddPeerAddr<S> {
        AddPeerAddr::new(inner, self.peer)
    }
}

/// The service made by [`PeerAddrLayer`].
#[derive(Debug, Clone, Copy)]
pub struct AddPeerAddr<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S> AddPeerAddr<S> {
    /// `inner`, with every request tagged as coming from `peer`.
    pub fn new(inner: S, peer: SocketAddr) -> Self {
        AddPeerAddr { inner, peer }
    }
}

impl<S, B> Service<Request<B>> for AddPeerAddr<S>
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
        req.extensions_mut().insert(PeerAddr(self.peer));
        self.inner.call(req)
    }
}
