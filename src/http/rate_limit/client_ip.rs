//! Which client a request comes from: the peer address, or, behind trusted
//! proxies only, the address they report.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

use crate::error::ConfigError;

/// The TCP peer of the connection a request came in on. A server puts it
/// in the request extensions for each connection ([`PeerAddrLayer`] does
/// it in one line); axum's `ConnectInfo<SocketAddr>` is read the same way
/// (feature `axum`, on by default). The rate limits, [`ClientIpLayer`] and
/// the login lockout name the client from it.
///
/// [`PeerAddrLayer`]: super::PeerAddrLayer
/// [`ClientIpLayer`]: super::ClientIpLayer
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The client a request comes from, as [`RateLimitLayer`](super::RateLimitLayer)
/// or [`ClientIpLayer`](super::ClientIpLayer) resolved it: the peer, or the
/// address a trusted proxy reported. The layers insert it into the request
/// extensions, so the login endpoint keys its lockout on the same client the
/// rate limits see; without either the endpoint uses the connection's peer.
/// Insert it yourself if you resolve clients another way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The connection's peer: [`PeerAddr`], else axum's `ConnectInfo`.
pub(crate) fn connection_peer(extensions: &http::Extensions) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = extensions.get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(*addr);
    }
    None
}

/// How to give the crate each request's client, named in every warning
/// about a missing one.
pub(super) const HOW_TO_NAME_CLIENTS: &str = "Serve axum 0.8 apps with \
     into_make_service_with_connect_info::<SocketAddr>() (another axum major's \
     ConnectInfo is another type, not read); on hyper, wrap each \
     connection's service in tower_users::http::PeerAddrLayer::new(peer); or insert \
     tower_users::http::PeerAddr (or ClientIp) per request yourself.";

static UNKNOWN_CLIENT_WARNED: std::sync::Once = std::sync::Once::new();

/// The client of a login: [`ClientIp`] if a layer (or the app) resolved
/// it, else the connection's peer, else unknown (said once per process:
/// all such logins share one lockout count per account).
pub(crate) fn request_client(extensions: &http::Extensions) -> Option<IpAddr> {
    if let Some(ClientIp(ip)) = extensions.get::<ClientIp>() {
        return Some(canonical(*ip));
    }
    let peer = connection_peer(extensions).map(|addr| canonical(addr.ip()));
    if peer.is_none() {
        UNKNOWN_CLIENT_WARNED.call_once(|| {
            tracing::warn!(
                "login with no client address: every such login shares one lockout \
                 count per account, so five wrong guesses from anyone lock the owner out. \
                 {HOW_TO_NAME_CLIENTS}"
            )
        });
    }
    peer
}

/// A network whose proxies are trusted to say who the client is (in
/// `Forwarded` or `X-Forwarded-For`), such as `10.0.0.0/8` or `::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(IpNet);

impl TrustedProxy {
    /// Parses an address (`192.0.2.1`) or a CIDR block (`10.0.0.0/8`).
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let s = s.trim();
        let net = match s.parse::<IpNet>() {
            Ok(net) => Some(net),
            Err(_) => s.parse::<IpAddr>().ok().map(IpNet::from),
        };
        net.map(TrustedProxy).ok_or_else(|| ConfigError::Invalid {
            name: "trusted_proxies",
            reason: format!("{s:?} is not an IP address or CIDR block"),
        })
    }

    pub(super) fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }
}

/// IPv4-mapped IPv6 addresses are the IPv4 client they map.
pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Which header trusted proxies report the client in. Choose the one your
/// proxy *appends* to: a client can send either header itself, and a proxy
/// passes on the one it does not manage untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The client address: the peer, unless the peer is a trusted proxy; then
/// the nearest hop in the forwarding chain that is not a trusted proxy.
pub(crate) fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[TrustedProxy],
    header: ForwardedHeader,
) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    // Walk from the nearest hop outwards; each trusted proxy vouches for the
    // hop before it. A client can prepend anything, so stop at the first
    // untrusted hop; an unreadable hop ends the walk at the last good one.
    let mut client = peer;
    for hop in hops(headers, header).into_iter().rev() {
        let Some(hop) = hop.map(canonical) else {
            break;
        };
        client = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    client
}

/// The hops named in `header`, nearest last; `None` for a hop that names
/// no address (`unknown`, an obfuscated identifier, garbage).
///
/// Split on the raw bytes, each element decoded on its own: a proxy appends
/// its hop after a comma to whatever line the client sent, so one
/// non-UTF-8 byte the client put on that line must spoil only the client's
/// own element, not hide the hop the proxy added after it. (A comma is
/// never part of a multi-byte UTF-8 sequence, and no address holds one.)
fn hops(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| {
            value.as_bytes().split(|&b| b == b',').map(|element| {
                let element = std::str::from_utf8(element).ok()?.trim();
                match header {
                    ForwardedHeader::XForwardedFor => parse_node(element),
                    ForwardedHeader::Forwarded => forwarded_for(element),
                }
            })
        })
        .collect()
}

/// The `for=` address of one `Forwarded` element (no commas in it).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let element = rfc7239::parse(element).next()?.ok()?;
    element.forwarded_for?.ip().copied()
}

/// An `X-Forwarded-For` entry: an address, possibly with a port or in
/// brackets; anything else is `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Ok(sock) = node.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    node.strip_prefix('[')?.split(']').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let xff = ForwardedHeader::XForwardedFor;
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &[], xff),
            ip("203.0.113.9")
        );
        let trusted = [TrustedProxy::parse("10.0.0.0/8").unwrap()];
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &trusted, xff),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_proxies_name_the_nearest_untrusted_hop() {
        let trusted = [
            TrustedProxy::parse("10.0.0.0/8").unwrap(),
            TrustedProxy::parse("::1").unwrap(),
        ];
        let xff = ForwardedHeader::XForwardedFor;
        // A client-supplied spoof on the left is ignored.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.2.3")]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &trusted, xff),
            ip("198.51.100.7")
        );
        // Junk left of the first untrusted hop changes nothing.
        let h = headers(&[("x-forwarded-for", "junk, 198.51.100.7")]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &trusted, xff),
            ip("198.51.100.7")
        );
        // The other header is not read: a client could have sent it.
        let h = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "198.51.100.8"),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &trusted, xff),
            ip("198.51.100.8")
        );
        let fwd = ForwardedHeader::Forwarded;
        let h = headers(&[(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db8::1]:4711";proto=https"#,
        )]);
        assert_eq!(client_ip(ip("::1"), &h, &trusted, fwd), ip("2001:db8::1"));
        let h = headers(&[("forwarded", "for=192.0.2.60:443")]);
        assert_eq!(
            client_ip(ip("10.9.9.9"), &h, &trusted, fwd),
            ip("192.0.2.60")
        );
    }

    #[test]
    fn unreadable_hops_end_the_walk_at_the_last_good_one() {
        let trusted = [TrustedProxy::parse("127.0.0.1").unwrap()];
        let xff = ForwardedHeader::XForwardedFor;
        for bad in ["nonsense", "1.2.3.4, junk", ""] {
            let h = headers(&[("x-forwarded-for", bad)]);
            assert_eq!(
                client_ip(ip("127.0.0.1"), &h, &trusted, xff),
                ip("127.0.0.1"),
                "{bad}"
            );
        }
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &h, &trusted, ForwardedHeader::Forwarded),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_non_utf8_element_spoils_only_itself() {
        let trusted = [TrustedProxy::parse("10.0.0.0/8").unwrap()];
        let client = |name: &str, value: &[u8], header| {
            let mut h = HeaderMap::new();
            h.append(
                http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(value).unwrap(),
            );
            client_ip(ip("10.0.0.1"), &h, &trusted, header)
        };
        let xff = |value: &[u8]| client("x-forwarded-for", value, ForwardedHeader::XForwardedFor);
        let fwd = |value: &[u8]| client("forwarded", value, ForwardedHeader::Forwarded);
        // The client's garbage on the left; the hop the proxy appended counts.
        assert_eq!(xff(b"\xff, 198.51.100.7"), ip("198.51.100.7"));
        assert_eq!(
            xff(b"6.6.6.6\xfe, 198.51.100.7, 10.0.0.2"),
            ip("198.51.100.7")
        );
        assert_eq!(fwd(b"for=\xff, for=198.51.100.7"), ip("198.51.100.7"));
        assert_eq!(
            fwd(b"for=1.2.3.4;x=\"\xff, for=198.51.100.7;proto=https"),
            ip("198.51.100.7")
        );
        // Garbage where the client should be: the last trusted hop, as
        // for any unreadable hop.
        assert_eq!(xff(b"198.51.100.7, \xff"), ip("10.0.0.1"));
        assert_eq!(xff(b"198.51.100.7, \xff, 10.0.0.2"), ip("10.0.0.2"));
        assert_eq!(fwd(b"for=198.51.100.7, for=\xff"), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_elements_are_read_as_rfc_7239_writes_them() {
        let trusted = [TrustedProxy::parse("10.0.0.0/8").unwrap()];
        let fwd = ForwardedHeader::Forwarded;
        let client = |value: &str| {
            let h = headers(&[("forwarded", value)]);
            client_ip(ip("10.0.0.1"), &h, &trusted, fwd)
        };
        // Parameters in any order and case; the chain may span header lines.
        assert_eq!(
            client("proto=https;For=198.51.100.7;by=10.0.0.1"),
            ip("198.51.100.7")
        );
        let h = headers(&[
            ("forwarded", "for=198.51.100.7"),
            ("forwarded", "for=10.0.0.2"),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &trusted, fwd),
            ip("198.51.100.7")
        );
        // An IPv6 node must be bracketed (and quoted); one that is not, or an
        // obfuscated one, names no address: the walk ends at the last hop
        // it could read.
        assert_eq!(client("for=2001:db8::1"), ip("10.0.0.1"));
        assert_eq!(client(r#"for="_hidden", for=10.0.0.3"#), ip("10.0.0.3"));
    }

    #[test]
    fn the_resolved_client_wins_over_the_peer_and_either_may_be_missing() {
        let mut ext = http::Extensions::new();
        assert_eq!(request_client(&ext), None);
        // Said once per process, with the fix.
        assert!(UNKNOWN_CLIENT_WARNED.is_completed());
        ext.insert(PeerAddr("[::ffff:192.0.2.1]:80".parse().unwrap()));
        assert_eq!(request_client(&ext), Some(ip("192.0.2.1")));
        ext.insert(ClientIp(ip("198.51.100.7")));
        assert_eq!(request_client(&ext), Some(ip("198.51.100.7")));
    }

    #[test]
    fn cidr_parsing() {
        assert!(TrustedProxy::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxy::parse("nope").is_err());
        let t = TrustedProxy::parse("192.168.0.0/16").unwrap();
        assert!(t.contains(ip("192.168.4.5")) && !t.contains(ip("192.169.0.1")));
        assert!(t.contains(ip("::ffff:192.168.1.1")));
        assert!(
            TrustedProxy::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
    }
}
