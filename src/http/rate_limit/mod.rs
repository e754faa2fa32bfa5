//! [`RateLimitLayer`]: per-client-IP rate limits on governor, with separate
//! quotas per route class.
//!
//! Each class (login, register, the endpoints that can send email, and the
//! token endpoints) has a burst and a sustained rate. Over quota, the answer
//! is 429 `RATE_LIMITED` (problem+json) with `Retry-After`. The client is
//! the connection's peer ([`PeerAddr`] in the request extensions), or the
//! address a trusted proxy reports; the layer passes it on as [`ClientIp`]
//! for the login lockout. A [`ClientIp`] already in the request (set by
//! [`ClientIpLayer`], which resolves clients without limiting them) is used
//! as it is. IPv6 clients are keyed by their /64, the
//! block one subscriber usually gets. Keys idle long enough to be back at a
//! full burst are pruned on a timer, so memory stays bounded however many
//! addresses an attacker uses.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::net::SocketAddr;
//! use http::{Request, StatusCode};
//! use http_body_util::Full;
//! use tower::{Layer, ServiceExt};
//! use tower_users::http::{PeerAddr, RateLimitConfig, RateLimitLayer};
//! use tower_users::{RedbStore, Users, UsersService};
//!
//! let users = Users::builder(RedbStore::in_memory().unwrap())
//!     .with_secret([7u8; 32])
//!     .build()
//!     .unwrap();
//! let layer = RateLimitLayer::new(RateLimitConfig::default());
//! let service = layer.layer(UsersService::new(users));
//! let peer: SocketAddr = "203.0.113.5:4000".parse().unwrap();
//! let mut last = StatusCode::OK;
//! for _ in 0..30 {
//!     let mut req = Request::post("/users/password-reset/request")
//!         .header("content-type", "application/json")
//!         .body(Full::<bytes::Bytes>::from(r#"{"email":"a@example.com"}"#))
//!         .unwrap();
//!     req.extensions_mut().insert(PeerAddr(peer));
//!     last = service.clone().oneshot(req).await.unwrap().status();
//! }
//! assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
//! # });
//! ```

mod client_ip;
mod client_layer;

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

pub(crate) use client_ip::request_client;
pub use client_ip::{ClientIp, ForwardedHeader, PeerAddr, TrustedProxy};
pub use client_layer::{ClientIpLayer, ResolveClientIp};

use super::problem::problem_response;
use crate::error::{ConfigError, Error};
use crate::mail::BoxFuture;

/// A burst and a sustained rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed at once from a fresh client.
    pub burst: u32,
    /// One more request is allowed every `per`.
    pub per: Duration,
}

impl Rate {
    /// `burst` at once, then one every `per`.
    pub const fn new(burst: u32, per: Duration) -> Self {
        Rate { burst, per }
    }

    fn quota(&self, name: &'static str) -> Result<Quota, ConfigError> {
        let invalid = || ConfigError::Invalid {
            name,
            reason: "burst and period must be above zero".into(),
        };
        let burst = NonZeroU32::new(self.burst).ok_or_else(invalid)?;
        Ok(Quota::with_period(self.per)
            .ok_or_else(invalid)?
            .allow_burst(burst))
    }
}

/// Quotas per route class, trusted proxies, and the pruning interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// `POST …/login` (default: 10 at once, then 1 every 6 s).
    pub login: Rate,
    /// `POST …/register` (default: 5 at once, then 1 every 12 s).
    pub register: Rate,
    /// `POST …/verify/request` and `…/password-reset/request`, and
    /// `PATCH`/`DELETE …/me`, together (default: 3 at once, then 1 every
    /// 20 s): each can send an email.
    pub email_requests: Rate,
    /// `POST …/refresh`, `…/verify[/{token}]`, `…/password-reset[/{token}]`
    /// (default: 20 at once, then 1 every second).
    pub tokens: Rate,
    /// Proxies whose forwarding header is believed.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// Which header they report clients in (default `X-Forwarded-For`).
    pub forwarded_header: ForwardedHeader,
    /// How often idle keys are pruned (default 60 s).
    pub prune_every: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            login: Rate::new(10, Duration::from_secs(6)),
            register: Rate::new(5, Duration::from_secs(12)),
            email_requests: Rate::new(3, Duration::from_secs(20)),
            tokens: Rate::new(20, Duration::from_secs(1)),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            prune_every: Duration::from_secs(60),
        }
    }
}

/// Which quota a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Login,
    Register,
    EmailRequest,
    Token,
}

fn classify(method: &http::Method, path: &str) -> Option<Class> {
    let path = path.trim_end_matches('/');
    // Changing the account can send email (a new address's confirmation)
    // and checks the current password: the strictest quota.
    if (method == http::Method::PATCH || method == http::Method::DELETE) && path.ends_with("/me") {
        return Some(Class::EmailRequest);
    }
    if method != http::Method::POST {
        return None;
    }
    if path.ends_with("/login") {
        Some(Class::Login)
    } else if path.ends_with("/register") {
        Some(Class::Register)
    } else if path.ends_with("/verify/request") || path.ends_with("/password-reset/request") {
        Some(Class::EmailRequest)
    } else if path.ends_with("/refresh")
        || path.ends_with("/verify")
        || path.ends_with("/password-reset")
        || path
            .rsplit_once('/')
            .is_some_and(|(base, _)| base.ends_with("/verify") || base.ends_with("/password-reset"))
    {
        Some(Class::Token)
    } else {
        None
    }
}

type Limiter = DefaultKeyedRateLimiter<IpAddr>;

struct Limits {
    login: Limiter,
    register: Limiter,
    email_requests: Limiter,
    tokens: Limiter,
    trusted: Vec<TrustedProxy>,
    header: ForwardedHeader,
    clock: DefaultClock,
}

impl Limits {
    fn limiter(&self, class: Class) -> &Limiter {
        match class {
            Class::Login => &self.login,
            Class::Register => &self.register,
            Class::EmailRequest => &self.email_requests,
            Class::Token => &self.tokens,
        }
    }

    fn all(&self) -> [&Limiter; 4] {
        [
            &self.login,
            &self.register,
            &self.email_requests,
            &self.tokens,
        ]
    }

    /// Seconds to wait, if `ip` is over the quota of `class`.
    fn check(&self, class: Class, ip: IpAddr) -> Option<u64> {
        match self.limiter(class).check_key(&key(ip)) {
            Ok(()) => None,
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Some(wait.as_secs_f64().ceil().max(1.0) as u64)
            }
        }
    }

    fn prune(&self) {
        for limiter in self.all() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// IPv6 clients by their /64; IPv4 by address.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// Rate limits in front of any service: per client IP and route class,
/// 429 `RATE_LIMITED` with `Retry-After` over quota (see [`RateLimitConfig`]).
#[derive(Clone)]
pub struct RateLimitLayer {
    limits: Arc<Limits>,
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer").finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// A layer with `config`. Fails on a zero burst or period. Inside a tokio
    /// runtime it starts the pruning timer, which ends with the last clone.
    pub fn try_new(config: RateLimitConfig) -> Result<Self, ConfigError> {
        let limits = Arc::new(Limits {
            login: Limiter::keyed(config.login.quota("rate_limit.login")?),
            register: Limiter::keyed(config.register.quota("rate_limit.register")?),
            email_requests: Limiter::keyed(
                config.email_requests.quota("rate_limit.email_requests")?,
            ),
            tokens: Limiter::keyed(config.tokens.quota("rate_limit.tokens")?),
            trusted: config.trusted_proxies,
            header: config.forwarded_header,
            clock: DefaultClock::default(),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(prune_loop(Arc::downgrade(&limits), config.prune_every));
        }
        Ok(RateLimitLayer { limits })
    }

    /// A layer with `config`; the defaults cannot fail.
    ///
    /// # Panics
    ///
    /// If `config` has a zero burst or period: use [`try_new`](Self::try_new)
    /// for configuration read at run time.
    #[allow(clippy::expect_used)]
    pub fn new(config: RateLimitConfig) -> Self {
        Self::try_new(config).expect("invalid rate-limit configuration")
    }

    /// How many client keys are tracked now (for monitoring and tests).
    pub fn tracked_keys(&self) -> usize {
        self.limits.all().iter().map(|l| l.len()).sum()
    }

    /// Drops keys that are back at a full burst (the timer does this too).
    pub fn prune(&self) {
        self.limits.prune();
    }
}

async fn prune_loop(limits: Weak<Limits>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(limits) = limits.upgrade() else {
            return;
        };
        limits.prune();
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            limits: self.limits.clone(),
        }
    }
}

/// The service made by [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    limits: Arc<Limits>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

static MISSING_PEER_WARNED: std::sync::Once = std::sync::Once::new();

impl<S, B, ResBody> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Some(class) = classify(req.method(), req.uri().path()) {
            // A ClientIpLayer outside has resolved the client already.
            let resolved = req.extensions().get::<ClientIp>().map(|c| c.0);
            let peer = match req.extensions().get::<PeerAddr>() {
                _ if resolved.is_some() => None,
                Some(PeerAddr(addr)) => Some(addr.ip()),
                None => {
                    MISSING_PEER_WARNED.call_once(|| {
                        tracing::warn!(
                            "RateLimitLayer: no PeerAddr in the request extensions; all \
                             clients share one quota. Insert PeerAddr for each connection."
                        )
                    });
                    None
                }
            };
            let ip = match (resolved, peer) {
                (Some(ip), _) => ip,
                (None, Some(peer)) => {
                    let ip = client_ip::client_ip(
                        peer,
                        req.headers(),
                        &self.limits.trusted,
                        self.limits.header,
                    );
                    // The login lockout keys on the same client.
                    req.extensions_mut().insert(ClientIp(ip));
                    ip
                }
                (None, None) => IpAddr::from([0, 0, 0, 0]),
            };
            if let Some(retry_after) = self.limits.check(class, ip) {
                tracing::debug!(target: "tower_users::rejection", class = ?class, "rate limited");
                let res = problem_response(&Error::RateLimited { retry_after });
                return Box::pin(async move { Ok(res) });
            }
        }
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_their_classes() {
        let post = http::Method::POST;
        assert_eq!(classify(&post, "/users/login"), Some(Class::Login));
        assert_eq!(
            classify(&post, "/api/users/register"),
            Some(Class::Register)
        );
        assert_eq!(
            classify(&post, "/users/verify/request"),
            Some(Class::EmailRequest)
        );
        assert_eq!(
            classify(&post, "/users/password-reset/request"),
            Some(Class::EmailRequest)
        );
        assert_eq!(classify(&post, "/users/refresh"), Some(Class::Token));
        assert_eq!(classify(&post, "/users/verify"), Some(Class::Token));
        assert_eq!(classify(&post, "/users/verify/abc.def"), Some(Class::Token));
        assert_eq!(
            classify(&post, "/users/password-reset/abc"),
            Some(Class::Token)
        );
        assert_eq!(classify(&http::Method::GET, "/users/me"), None);
        assert_eq!(classify(&post, "/users/logout"), None);
        assert_eq!(
            classify(&http::Method::PATCH, "/users/me"),
            Some(Class::EmailRequest)
        );
        assert_eq!(
            classify(&http::Method::DELETE, "/users/me"),
            Some(Class::EmailRequest)
        );
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(c));
    }

    #[test]
    fn over_quota_says_how_long_to_wait_and_quotas_are_per_client() {
        let layer = RateLimitLayer::new(RateLimitConfig {
            login: Rate::new(2, Duration::from_secs(30)),
            ..RateLimitConfig::default()
        });
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        assert_eq!(layer.limits.check(Class::Login, a), None);
        assert_eq!(layer.limits.check(Class::Login, a), None);
        let wait = layer.limits.check(Class::Login, a).unwrap();
        assert!((1..=30).contains(&wait), "{wait}");
        // Other clients and other classes are untouched.
        assert_eq!(layer.limits.check(Class::Login, b), None);
        assert_eq!(layer.limits.check(Class::Register, a), None);
    }

    #[test]
    fn idle_keys_are_pruned() {
        let layer = RateLimitLayer::new(RateLimitConfig {
            tokens: Rate::new(1, Duration::from_millis(1)),
            ..RateLimitConfig::default()
        });
        for i in 0..1000u32 {
            layer
                .limits
                .check(Class::Token, IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(layer.tracked_keys(), 1000);
        std::thread::sleep(Duration::from_millis(20));
        layer.prune();
        assert_eq!(layer.tracked_keys(), 0);
    }
}
