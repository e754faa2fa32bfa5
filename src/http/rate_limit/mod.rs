//! [`RateLimitLayer`]: per-client rate limits on governor (or, for several
//! instances, in their shared store), charged by the endpoint that
//! answers, whatever path it is mounted at.
//!
//! The layer names the client ([`ClientKey`]) and leaves the request a
//! handle to its limiters; each endpoint service charges its own class
//! first thing (see `quota.rs`). Keys idle long enough to be back at a full
//! burst are pruned on a timer, so memory stays bounded however many
//! addresses an attacker uses.

mod client_ip;
mod client_key;
mod client_layer;
mod peer_layer;
mod quota;

use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

pub(crate) use client_ip::request_client;
pub use client_ip::{ClientIp, ForwardedHeader, PeerAddr, TrustedProxy};
pub use client_key::{ClientKey, ConnectionPeer, ProxyChain};
pub use client_layer::{ClientIpLayer, ResolveClientIp};
pub use peer_layer::{AddPeerAddr, PeerAddrLayer};
pub(crate) use quota::{Charged, Class, charge};

use crate::Users;
use crate::error::ConfigError;
use crate::store::DynStore;
use quota::{Charge, Quotas};

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
}

/// Quotas per endpoint class, trusted proxies, and the pruning interval.
///
/// Each endpoint service counts against its class wherever it is mounted;
/// the paths below are where [`UsersService`](crate::UsersService) serves
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// [`Login`](super::endpoints::Login), `POST …/login` (default: 10 at
    /// once, then 1 every 6 s).
    pub login: Rate,
    /// [`Register`](super::endpoints::Register), `POST …/register` (default:
    /// 5 at once, then 1 every 12 s).
    pub register: Rate,
    /// [`VerifyRequest`](super::endpoints::VerifyRequest) and
    /// [`ResetRequest`](super::endpoints::ResetRequest) (`POST
    /// …/verify/request`, `…/password-reset/request`), and
    /// [`Me`](super::endpoints::Me) for `PATCH`/`DELETE`, together
    /// (default: 3 at once, then 1 every 20 s): each can send an email.
    pub email_requests: Rate,
    /// [`Refresh`](super::endpoints::Refresh),
    /// [`Verify`](super::endpoints::Verify) and
    /// [`ResetPassword`](super::endpoints::ResetPassword) (`POST
    /// …/refresh`, `…/verify[/{token}]`, `…/password-reset[/{token}]`;
    /// default: 20 at once, then 1 every second).
    pub tokens: Rate,
    /// Proxies whose forwarding header is believed (by the default
    /// [`ProxyChain`] client key).
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

/// Rate limits per client and endpoint class: over quota, 429
/// `RATE_LIMITED` (problem+json) with `Retry-After`.
///
/// The layer names each request's client and hands the request on with a
/// handle to its limiters; the tower-users endpoint that answers charges its
/// own class ([`RateLimitConfig`]) before anything else, whatever path the
/// app mounted it at. The app's own routes behind the layer are not counted.
/// The client also goes on as [`ClientIp`], so the login lockout keys on
/// the same client. A [`ClientIp`] already in the request (from
/// [`ClientIpLayer`], or the app) is used as it is.
///
/// The client comes from a [`ClientKey`]: by default [`ProxyChain`] with
/// the config's trusted proxies, which reads the connection's peer from
/// [`PeerAddr`] or axum's `ConnectInfo<SocketAddr>`. Serve axum apps with
/// `into_make_service_with_connect_info::<SocketAddr>()`; on plain hyper
/// wrap each connection's service in [`PeerAddrLayer`]. A request with no
/// client shares one quota with all the others like it (a warning says so,
/// once). IPv6 clients are keyed by their /64, the block one subscriber
/// usually gets; an IPv4-mapped address counts as its IPv4 client. With several layers stacked, the innermost one's quotas
/// apply.
///
/// In front of [`UsersService`](crate::UsersService):
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::net::SocketAddr;
/// use http::{Request, StatusCode};
/// use tower_users::http::{Body, Layer, PeerAddr, RateLimitLayer, ServiceExt};
/// use tower_users::{RedbStore, Users, UsersService};
///
/// let users = Users::builder(RedbStore::in_memory().unwrap())
///     .with_secret([7u8; 32])
///     .build()
///     .unwrap();
/// // The default quotas (`RateLimitConfig::default()`), no trusted proxies.
/// let layer = RateLimitLayer::default();
/// let service = layer.layer(UsersService::new(users));
/// let peer: SocketAddr = "203.0.113.5:4000".parse().unwrap();
/// let mut statuses = Vec::new();
/// for _ in 0..4 {
///     let mut req = Request::post("/users/password-reset/request")
///         .header("content-type", "application/json")
///         .body(Body::from(r#"{"email":"a@example.com"}"#))
///         .unwrap();
///     // What PeerAddrLayer, or axum's ConnectInfo, provides.
///     req.extensions_mut().insert(PeerAddr(peer));
///     statuses.push(service.clone().oneshot(req).await.unwrap().status());
/// }
/// // Three email requests at once, then one every 20 s.
/// assert_eq!(statuses[2], StatusCode::ACCEPTED);
/// assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
/// # });
/// ```
///
/// In front of a standalone endpoint, under a path of the app's choosing
/// (any router works; here a plain `service_fn`):
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::net::SocketAddr;
/// use http::{Request, StatusCode};
/// use tower_users::http::endpoints::Login;
/// use tower_users::http::{
///     Body, Layer, PeerAddr, Rate, RateLimitConfig, RateLimitLayer, ServiceExt, service_fn,
/// };
/// use tower_users::{RedbStore, Users};
///
/// let users = Users::builder(RedbStore::in_memory().unwrap())
///     .with_secret([7u8; 32])
///     .build()
///     .unwrap();
/// let login = Login::new(users);
/// let app = service_fn(move |req: Request<Body>| {
///     let login = login.clone();
///     async move {
///         match req.uri().path() {
///             "/signin" => login.oneshot(req).await,
///             _ => Ok(http::Response::new(Default::default())),
///         }
///     }
/// });
/// let config = RateLimitConfig {
///     login: Rate::new(1, std::time::Duration::from_secs(60)),
///     ..RateLimitConfig::default()
/// };
/// let app = RateLimitLayer::new(config).layer(app);
/// let peer: SocketAddr = "203.0.113.5:4000".parse().unwrap();
/// let request = |path: &str| {
///     let mut req = Request::post(path)
///         .header("content-type", "application/json")
///         .body(Body::from(r#"{"email":"a@example.com","password":"guess"}"#))
///         .unwrap();
///     req.extensions_mut().insert(PeerAddr(peer));
///     req
/// };
/// let first = app.clone().oneshot(request("/signin")).await.unwrap();
/// assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
/// let second = app.clone().oneshot(request("/signin")).await.unwrap();
/// assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
/// // The app's own routes are not counted.
/// let home = app.clone().oneshot(request("/")).await.unwrap();
/// assert_eq!(home.status(), StatusCode::OK);
/// # });
/// ```
#[derive(Clone)]
pub struct RateLimitLayer {
    quotas: Arc<Quotas>,
    /// Where the buckets live if not in memory.
    store: Option<Arc<dyn DynStore>>,
    key: Arc<dyn ClientKey>,
    pruning: Arc<Pruning>,
}

/// The pruning timer: started with the layer inside a tokio runtime, or
/// else by the first request (a layer built before the runtime would
/// otherwise keep every key it ever saw).
struct Pruning {
    started: std::sync::atomic::AtomicBool,
    every: Duration,
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer").finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// A layer with `config`. Fails on a zero burst or period. It starts the
    /// pruning timer (inside a tokio runtime, else at the first request),
    /// which ends with the last clone.
    pub fn try_new(config: RateLimitConfig) -> Result<Self, ConfigError> {
        let quotas = Arc::new(Quotas::new(&config)?);
        let key = ProxyChain::new(config.trusted_proxies, config.forwarded_header);
        let layer = RateLimitLayer {
            quotas,
            store: None,
            key: Arc::new(key),
            pruning: Arc::new(Pruning {
                started: false.into(),
                every: config.prune_every,
            }),
        };
        layer.start_pruning();
        Ok(layer)
    }

    /// Starts the pruning timer once, if a tokio runtime is there to run it.
    fn start_pruning(&self) {
        use std::sync::atomic::Ordering;
        if self.pruning.started.load(Ordering::Relaxed)
            || tokio::runtime::Handle::try_current().is_err()
            || self.pruning.started.swap(true, Ordering::Relaxed)
        {
            return;
        }
        tokio::spawn(prune_loop(Arc::downgrade(&self.quotas), self.pruning.every));
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

    /// Names clients with `key` instead of the default [`ProxyChain`] (so
    /// the config's `trusted_proxies` and `forwarded_header` no longer
    /// apply). A [`ClientIp`] already in the request still wins: drop an
    /// outer [`ClientIpLayer`] if `key` should decide. See [`ClientKey`]
    /// for an example.
    #[must_use]
    pub fn with_client_key(mut self, key: impl ClientKey) -> Self {
        self.key = Arc::new(key);
        self
    }

    /// Keeps the buckets in the store of `users` instead of in this
    /// process's memory, so that every instance sharing that store (several
    /// servers on one PostgreSQL database behind a balancer) charges the
    /// same quotas: without it each instance allows a client its own full
    /// quota. Each charge of a lifecycle endpoint is then one atomic store
    /// operation (one statement on PostgreSQL) awaited before the
    /// endpoint does anything else; `GET /users/me` and the app's own
    /// routes are never charged. If the store fails, the endpoint answers
    /// 503 `SERVICE_UNAVAILABLE` with `Retry-After` rather than serve
    /// unlimited. The store prunes idle buckets itself.
    ///
    /// One instance (on redb, or alone on PostgreSQL) is better served by
    /// the default in-memory limiter: no store round trip per request.
    #[must_use]
    pub fn in_store(mut self, users: &Users) -> Self {
        self.store = Some(users.shared_store());
        self
    }

    /// How many client keys are tracked in memory now (for monitoring and
    /// tests; none while the buckets are [in a store](Self::in_store)).
    pub fn tracked_keys(&self) -> usize {
        self.quotas.tracked_keys()
    }

    /// Drops keys that are back at a full burst, as the timer does. Public
    /// only for `examples/rate_limit_memory.rs`, which measures memory right
    /// after a prune; hidden because the timer is the way.
    #[doc(hidden)]
    pub fn prune(&self) {
        self.quotas.prune();
    }
}

/// The default quotas ([`RateLimitConfig::default`]), no trusted proxies:
/// the safe path needs no configuration, `.layer(RateLimitLayer::default())`.
impl Default for RateLimitLayer {
    fn default() -> Self {
        Self::new(RateLimitConfig::default())
    }
}

async fn prune_loop(quotas: Weak<Quotas>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(quotas) = quotas.upgrade() else {
            return;
        };
        quotas.prune();
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    layer: RateLimitLayer,
}

impl<S: std::fmt::Debug> std::fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

static MISSING_CLIENT_WARNED: std::sync::Once = std::sync::Once::new();

/// Said once per process when a request's client is unknown.
fn missing_client_warning() -> String {
    format!(
        "RateLimitLayer: a request with no client address (no PeerAddr, ConnectInfo \
         or ClientIp in its extensions); all such clients share one quota. {} Or name \
         clients with RateLimitLayer::with_client_key.",
        client_ip::HOW_TO_NAME_CLIENTS
    )
}

impl<S, B> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> S::Future {
        self.layer.start_pruning();
        let (mut parts, body) = req.into_parts();
        // A ClientIpLayer outside (or the app) has resolved the client already.
        let resolved = parts.extensions.get::<ClientIp>().map(|c| c.0);
        let client = match resolved {
            Some(ip) => Some(ip),
            None => {
                let ip = self.layer.key.client(&parts);
                if let Some(ip) = ip {
                    // The login lockout keys on the same client.
                    parts.extensions.insert(ClientIp(ip));
                }
                ip
            }
        };
        let client = client.unwrap_or_else(|| {
            MISSING_CLIENT_WARNED.call_once(|| tracing::warn!("{}", missing_client_warning()));
            IpAddr::from([0, 0, 0, 0])
        });
        parts.extensions.insert(Charge {
            quotas: self.layer.quotas.clone(),
            store: self.layer.store.clone(),
            client,
        });
        self.inner.call(Request::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quota::key;

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
        assert_eq!(layer.quotas.check(Class::Login, a), None);
        assert_eq!(layer.quotas.check(Class::Login, a), None);
        let wait = layer.quotas.check(Class::Login, a).unwrap();
        assert!((1..=30).contains(&wait), "{wait}");
        // Other clients and other classes are untouched.
        assert_eq!(layer.quotas.check(Class::Login, b), None);
        assert_eq!(layer.quotas.check(Class::Register, a), None);
    }

    #[test]
    fn the_default_layer_has_the_default_quotas() {
        let layer = RateLimitLayer::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let burst = RateLimitConfig::default().login.burst;
        for _ in 0..burst {
            assert_eq!(layer.quotas.check(Class::Login, a), None);
        }
        assert!(layer.quotas.check(Class::Login, a).is_some());
    }

    #[test]
    fn a_layer_built_before_the_runtime_starts_pruning_at_its_first_request() {
        let layer = RateLimitLayer::new(RateLimitConfig {
            tokens: Rate::new(1, Duration::from_millis(1)),
            prune_every: Duration::from_millis(20),
            ..RateLimitConfig::default()
        });
        assert!(
            !layer
                .pruning
                .started
                .load(std::sync::atomic::Ordering::Relaxed)
        );
        for i in 0..100u32 {
            layer
                .quotas
                .check(Class::Token, IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(layer.tracked_keys(), 100);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut service = layer
                .clone()
                .layer(tower::service_fn(|_req: Request<()>| async {
                    Ok::<_, std::convert::Infallible>(())
                }));
            service.call(Request::new(())).await.unwrap();
            // The timer's first prune comes one period in; waited for, not
            // assumed after a fixed sleep.
            let pruned = tokio::time::timeout(Duration::from_secs(10), async {
                while layer.tracked_keys() > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            pruned.await.expect("no pruning timer ran");
        });
    }

    #[test]
    fn idle_keys_are_pruned() {
        let layer = RateLimitLayer::new(RateLimitConfig {
            tokens: Rate::new(1, Duration::from_millis(1)),
            ..RateLimitConfig::default()
        });
        for i in 0..1000u32 {
            layer
                .quotas
                .check(Class::Token, IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(layer.tracked_keys(), 1000);
        std::thread::sleep(Duration::from_millis(20));
        layer.prune();
        assert_eq!(layer.tracked_keys(), 0);
    }

    /// Two layers on one store, as two instances on one database: one
    /// quota per client between them, refused with `Retry-After`; `GET
    /// /users/me` is never charged.
    #[tokio::test]
    async fn layers_keeping_buckets_in_one_store_share_each_clients_quota() {
        use http::StatusCode;
        use tower::ServiceExt;

        let users = Users::builder(crate::RedbStore::in_memory().unwrap())
            .with_secret([7u8; 32])
            .build()
            .unwrap();
        let config = RateLimitConfig {
            login: Rate::new(2, Duration::from_secs(60)),
            ..RateLimitConfig::default()
        };
        let instance = || {
            RateLimitLayer::new(config.clone())
                .in_store(&users)
                .layer(crate::UsersService::new(users.clone()))
        };
        let (a, b) = (instance(), instance());
        let request = |method: &str, path: &str| {
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(crate::http::Body::from(
                    r#"{"email":"a@example.com","password":"guess"}"#,
                ))
                .unwrap();
            req.extensions_mut()
                .insert(PeerAddr("192.0.2.1:4000".parse().unwrap()));
            req
        };
        for _ in 0..5 {
            let me = a
                .clone()
                .oneshot(request("GET", "/users/me"))
                .await
                .unwrap();
            assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
        }
        let first = a.clone().oneshot(request("POST", "/users/login")).await;
        let second = b.clone().oneshot(request("POST", "/users/login")).await;
        assert_eq!(first.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(second.unwrap().status(), StatusCode::UNAUTHORIZED);
        let third = a.clone().oneshot(request("POST", "/users/login")).await;
        let third = third.unwrap();
        assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = third.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        // Nothing was kept in memory.
        assert_eq!(a.layer.tracked_keys(), 0);
    }

    #[test]
    fn zero_bursts_and_periods_are_configuration_errors() {
        for config in [
            RateLimitConfig {
                login: Rate::new(0, Duration::from_secs(1)),
                ..RateLimitConfig::default()
            },
            RateLimitConfig {
                tokens: Rate::new(1, Duration::ZERO),
                ..RateLimitConfig::default()
            },
        ] {
            assert!(RateLimitLayer::try_new(config).is_err());
        }
    }

    #[test]
    fn the_missing_client_warning_names_every_fix() {
        let warning = missing_client_warning();
        for fix in [
            "into_make_service_with_connect_info",
            "PeerAddrLayer",
            "with_client_key",
        ] {
            assert!(warning.contains(fix), "{warning}");
        }
    }
}
