//! [`ClientKey`]: where [`RateLimitLayer`](super::RateLimitLayer) learns
//! who a request comes from, with the ready answers.

use std::net::IpAddr;
use std::sync::Arc;

use http::request::Parts;

use super::client_ip::{ForwardedHeader, TrustedProxy, canonical, client_ip, connection_peer};

/// Names the client of a request, for the rate limits and the login lockout
/// behind them.
///
/// Ready ones: [`ConnectionPeer`] (the TCP peer: [`PeerAddr`] or axum's
/// `ConnectInfo<SocketAddr>`) and [`ProxyChain`] (the same peer, or behind
/// trusted proxies the client they report; what
/// [`RateLimitLayer::new`](super::RateLimitLayer::new) uses, built from
/// [`RateLimitConfig::trusted_proxies`](super::RateLimitConfig::trusted_proxies)).
/// Any `Fn(&Parts) -> Option<IpAddr>` closure is one too, for a platform
/// that reports clients its own way:
///
/// ```
/// use std::net::IpAddr;
/// use http::request::Parts;
/// use tower_users::http::RateLimitLayer;
///
/// // Behind a load balancer that always sets `Fly-Client-IP` itself.
/// let layer = RateLimitLayer::default().with_client_key(|parts: &Parts| {
///     let value = parts.headers.get("fly-client-ip")?.to_str().ok()?;
///     value.parse::<IpAddr>().ok()
/// });
/// # drop(layer);
/// ```
///
/// Trust such a header only if the app cannot be reached except through
/// that load balancer: otherwise any client sets the header and gets a
/// fresh quota.
///
/// IPv6 clients are limited by their /64, whatever the key returns; an
/// IPv4-mapped address (`::ffff:192.0.2.1`) as the IPv4 client it maps.
///
/// [`PeerAddr`]: super::PeerAddr
pub trait ClientKey: Send + Sync + 'static {
    /// The client's address, or `None` if this request does not say (all
    /// such requests share one quota).
    fn client(&self, parts: &Parts) -> Option<IpAddr>;
}

impl<F> ClientKey for F
where
    F: Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
{
    fn client(&self, parts: &Parts) -> Option<IpAddr> {
        self(parts)
    }
}

/// The connection's peer: the [`PeerAddr`](super::PeerAddr) in the request
/// extensions, else axum 0.8's `ConnectInfo<SocketAddr>` (feature `axum`,
/// on by default). Another axum major's `ConnectInfo` is another type and
/// is not seen: such requests have no client, and
/// [`RateLimitLayer`](super::RateLimitLayer) warns once that they share one
/// quota. Forwarding headers are ignored: the right key when clients
/// connect directly, with no proxy in front.
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use http::Request;
/// use tower_users::http::{ClientKey, ConnectionPeer, PeerAddr, RateLimitLayer};
///
/// let layer = RateLimitLayer::default().with_client_key(ConnectionPeer);
/// # drop(layer);
///
/// // What it reads: the peer that hyper (PeerAddrLayer) or axum recorded.
/// let peer: SocketAddr = "203.0.113.5:4000".parse().unwrap();
/// let mut req = Request::new(());
/// req.headers_mut().insert("x-forwarded-for", "198.51.100.7".parse().unwrap());
/// req.extensions_mut().insert(PeerAddr(peer));
/// let (parts, ()) = req.into_parts();
/// // A header the client wrote is not believed.
/// assert_eq!(ConnectionPeer.client(&parts), Some(peer.ip()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectionPeer;

impl ClientKey for ConnectionPeer {
    fn client(&self, parts: &Parts) -> Option<IpAddr> {
        connection_peer(&parts.extensions).map(|addr| canonical(addr.ip()))
    }
}

/// The connection's peer, as [`ConnectionPeer`] finds it; when that peer is
/// a trusted proxy, the nearest hop in its forwarding header that is not
/// one. Walks right to left, so a client cannot buy a fresh quota by
/// prepending addresses.
///
/// [`RateLimitLayer::default`](super::RateLimitLayer::default) uses one
/// that trusts nobody. Behind proxies in `10.0.0.0/8`:
///
/// ```
/// use std::net::SocketAddr;
/// use http::Request;
/// use tower_users::http::{
///     ClientKey, ForwardedHeader, PeerAddr, ProxyChain, RateLimitLayer, TrustedProxy,
/// };
///
/// let proxies = vec![TrustedProxy::parse("10.0.0.0/8").unwrap()];
/// let chain = ProxyChain::new(proxies, ForwardedHeader::XForwardedFor);
/// let layer = RateLimitLayer::default().with_client_key(chain.clone());
/// # drop(layer);
///
/// // The proxy at 10.0.0.1 reports the client; what the client prepended
/// // (203.0.113.9) is not believed.
/// let mut req = Request::new(());
/// req.headers_mut().insert(
///     "x-forwarded-for",
///     "203.0.113.9, 198.51.100.7".parse().unwrap(),
/// );
/// let proxy: SocketAddr = "10.0.0.1:443".parse().unwrap();
/// req.extensions_mut().insert(PeerAddr(proxy));
/// let (parts, ()) = req.into_parts();
/// assert_eq!(chain.client(&parts), Some("198.51.100.7".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProxyChain {
    trusted: Arc<[TrustedProxy]>,
    header: ForwardedHeader,
}

impl ProxyChain {
    /// Believes `header` from peers in `trusted` (none: every client is
    /// its peer).
    pub fn new(trusted: Vec<TrustedProxy>, header: ForwardedHeader) -> Self {
        ProxyChain {
            trusted: trusted.into(),
            header,
        }
    }

    pub(super) fn resolve(
        &self,
        extensions: &http::Extensions,
        headers: &http::HeaderMap,
    ) -> Option<IpAddr> {
        let peer = connection_peer(extensions)?.ip();
        Some(client_ip(peer, headers, &self.trusted, self.header))
    }
}

impl ClientKey for ProxyChain {
    fn client(&self, parts: &Parts) -> Option<IpAddr> {
        self.resolve(&parts.extensions, &parts.headers)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::http::PeerAddr;

    fn parts(peer: Option<SocketAddr>, xff: Option<&str>) -> Parts {
        let mut req = http::Request::new(());
        if let Some(peer) = peer {
            req.extensions_mut().insert(PeerAddr(peer));
        }
        if let Some(xff) = xff {
            req.headers_mut()
                .insert("x-forwarded-for", xff.parse().unwrap());
        }
        req.into_parts().0
    }

    #[test]
    fn the_chain_believes_only_trusted_peers_and_the_peer_ignores_headers() {
        let peer: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let p = parts(Some(peer), Some("198.51.100.7"));
        let chain = ProxyChain::new(
            vec![TrustedProxy::parse("10.0.0.0/8").unwrap()],
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(chain.client(&p), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(ConnectionPeer.client(&p), Some(peer.ip()));
        assert_eq!(ProxyChain::default().client(&p), Some(peer.ip()));
        assert_eq!(chain.client(&parts(None, Some("198.51.100.7"))), None);
    }

    #[cfg(feature = "axum")]
    #[test]
    fn axum_connect_info_is_the_peer() {
        let mut req = http::Request::new(());
        let addr: SocketAddr = "[::ffff:192.0.2.4]:5000".parse().unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
        let (p, ()) = req.into_parts();
        // Canonical: the IPv4 client a mapped address stands for.
        assert_eq!(
            ConnectionPeer.client(&p),
            Some("192.0.2.4".parse().unwrap())
        );
    }
}
