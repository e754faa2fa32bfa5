//! The limiters themselves, and how an endpoint charges its class.
//!
//! [`RateLimitLayer`](super::RateLimitLayer) only names the client and hands
//! the request a [`Charge`]; the endpoint that answers charges its own
//! class. So a `Login` counts as a login wherever the app mounts it, and the
//! app's own routes behind the layer are never counted.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Once};

use axum_core::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::client_ip::canonical;
use super::{Rate, RateLimitConfig};
use crate::error::{ConfigError, Error};
use crate::mail::BoxFuture;
use crate::store::DynStore;

/// `Retry-After` when the store that keeps the buckets failed: long
/// enough not to hammer a struggling database, short enough for a blip.
const STORE_FAILED_RETRY_AFTER: u64 = 5;

/// Which quota a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Login = 0,
    Register,
    /// The endpoints that can send an email.
    EmailRequest,
    /// The endpoints that spend or check a token.
    Token,
}

type Limiter = DefaultKeyedRateLimiter<IpAddr>;

/// One keyed limiter per class.
pub(super) struct Quotas {
    login: Limiter,
    register: Limiter,
    email_requests: Limiter,
    tokens: Limiter,
    clock: DefaultClock,
    /// The configured rates, for buckets kept in a store.
    rates: [Rate; 4],
}

impl Quotas {
    pub(super) fn new(config: &RateLimitConfig) -> Result<Self, ConfigError> {
        let keyed =
            |rate: super::Rate, name| Ok::<_, ConfigError>(Limiter::keyed(quota(rate, name)?));
        Ok(Quotas {
            login: keyed(config.login, "rate_limit.login")?,
            register: keyed(config.register, "rate_limit.register")?,
            email_requests: keyed(config.email_requests, "rate_limit.email_requests")?,
            tokens: keyed(config.tokens, "rate_limit.tokens")?,
            clock: DefaultClock::default(),
            rates: [
                config.login,
                config.register,
                config.email_requests,
                config.tokens,
            ],
        })
    }

    fn rate(&self, class: Class) -> Rate {
        self.rates[class as usize]
    }

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
    pub(super) fn check(&self, class: Class, ip: IpAddr) -> Option<u64> {
        match self.limiter(class).check_key(&key(ip)) {
            Ok(()) => None,
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Some(seconds(wait.as_secs_f64()))
            }
        }
    }

    pub(super) fn tracked_keys(&self) -> usize {
        self.all().iter().map(|l| l.len()).sum()
    }

    pub(super) fn prune(&self) {
        for limiter in self.all() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn quota(rate: super::Rate, name: &'static str) -> Result<Quota, ConfigError> {
    let invalid = || ConfigError::Invalid {
        name,
        reason: "burst and period must be above zero".into(),
    };
    let burst = std::num::NonZeroU32::new(rate.burst).ok_or_else(invalid)?;
    Ok(Quota::with_period(rate.per)
        .ok_or_else(invalid)?
        .allow_burst(burst))
}

/// IPv6 clients by their /64; IPv4 by address. An IPv4-mapped address is
/// its IPv4 client: masked as IPv6, every such client would be `::`, one
/// bucket for all. Canonicalised here because a [`ClientIp`] the app set or
/// a custom [`ClientKey`] may hand over any form.
///
/// [`ClientIp`]: super::ClientIp
/// [`ClientKey`]: super::ClientKey
pub(super) fn key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// What [`RateLimitLayer`](super::RateLimitLayer) leaves in the request
/// extensions: its limiters, the store if it keeps the buckets there, and
/// the client to charge. `Arc`s and an address, so inserting it costs no
/// allocation per request.
#[derive(Clone)]
pub(crate) struct Charge {
    pub(super) quotas: Arc<Quotas>,
    pub(super) store: Option<Arc<dyn DynStore>>,
    pub(super) client: IpAddr,
}

/// What charging a request decided, or will.
pub(crate) enum Charged {
    /// Within quota (or no layer in front): answer it.
    Passed,
    /// Decided at once: answer this instead.
    Refused(Response),
    /// Asked of the store: `Some` response to answer instead.
    Asking(BoxFuture<'static, Option<Response>>),
}

/// Whole seconds for `Retry-After`, at least one.
fn seconds(wait: f64) -> u64 {
    wait.ceil().max(1.0) as u64
}

impl Class {
    /// As the warning names it.
    fn name(self) -> &'static str {
        match self {
            Class::Login => "login",
            Class::Register => "register",
            Class::EmailRequest => "email-sending",
            Class::Token => "token",
        }
    }

    /// Its buckets' key prefix in a store.
    fn bucket(self) -> &'static str {
        match self {
            Class::Login => "login",
            Class::Register => "register",
            Class::EmailRequest => "email",
            Class::Token => "token",
        }
    }
}

static UNLIMITED_WARNED: Once = Once::new();

/// Forgetting the layer must not fail silently: the first endpoint that
/// answers without one says so (once per process, so a server that runs
/// without limits on purpose is not flooded).
fn warn_unlimited(once: &Once, class: Class) {
    once.call_once(|| {
        tracing::warn!(
            "a tower-users {} endpoint answered with no RateLimitLayer in front: its \
             requests are not rate-limited. Apply `.layer(RateLimitLayer::default())` \
             around the tower-users services (said once).",
            class.name()
        );
    });
}

/// Charges `class` to the request's client, if a rate-limit layer in front
/// is tracking it: over quota, a 429. Without a layer, nothing is limited
/// (a warning says so, once).
///
/// With the buckets in a store, the charge is one atomic store operation,
/// awaited before any other work. If the store fails, the request is
/// refused with a 503 and `Retry-After` rather than let through: an outage
/// of the limiter must not lift the limit that guards password guessing
/// and email sending, and the endpoint would need the same store anyway.
pub(crate) fn charge(extensions: &http::Extensions, class: Class) -> Charged {
    let Some(charge) = extensions.get::<Charge>() else {
        warn_unlimited(&UNLIMITED_WARNED, class);
        return Charged::Passed;
    };
    let Some(store) = charge.store.clone() else {
        return match charge.quotas.check(class, charge.client) {
            None => Charged::Passed,
            Some(retry_after) => Charged::Refused(limited(class, retry_after)),
        };
    };
    let rate = charge.quotas.rate(class);
    let bucket = format!("{} {}", class.bucket(), key(charge.client));
    Charged::Asking(Box::pin(async move {
        let per = time::Duration::try_from(rate.per).unwrap_or(time::Duration::MAX);
        let now = time::OffsetDateTime::now_utc();
        match store.rate_limit(&bucket, now, rate.burst, per).await {
            Ok(None) => None,
            Ok(Some(wait)) => Some(limited(class, seconds(wait.as_seconds_f64()))),
            Err(err) => {
                tracing::error!(
                    error = &err as &dyn std::error::Error,
                    "rate limiting in the store failed; refusing the request"
                );
                let retry_after = STORE_FAILED_RETRY_AFTER;
                Some(Error::Unavailable { retry_after }.into_response())
            }
        }
    }))
}

fn limited(class: Class, retry_after: u64) -> Response {
    tracing::debug!(target: "tower_users::rejection", class = ?class, "rate limited");
    Error::RateLimited { retry_after }.into_response()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use http::{Request, StatusCode};
    use http_body_util::Full;
    use tower::{Layer, ServiceExt};

    use super::{Class, key, warn_unlimited};
    use crate::http::endpoints::Login;
    use crate::http::{Rate, RateLimitConfig, RateLimitLayer};
    use crate::{RedbStore, Users};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// An endpoint with no layer in front warns once, naming its class and
    /// the fix; later requests stay quiet.
    #[test]
    fn an_endpoint_without_the_layer_warns_once_naming_the_fix() {
        let once = std::sync::Once::new();
        let ((), text) = crate::test_log::logged(tracing::Level::TRACE, || {
            warn_unlimited(&once, Class::Login);
            warn_unlimited(&once, Class::Register);
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("WARN"), "{text}");
        assert!(text.contains("login endpoint"), "{text}");
        assert!(text.contains(".layer(RateLimitLayer::default())"), "{text}");
    }

    /// Through the endpoint itself: no `Charge`, no limit, and the
    /// process-wide warning has fired by the time it answers.
    #[tokio::test]
    async fn login_without_the_layer_is_unlimited_and_has_warned() {
        let users = Users::builder(RedbStore::in_memory().unwrap())
            .with_secret([7u8; 32])
            .build()
            .unwrap();
        let req = Request::post("/")
            .header("content-type", "application/json")
            .body(Full::<bytes::Bytes>::from(
                r#"{"email":"a@example.com","password":"guess"}"#,
            ))
            .unwrap();
        let res = Login::new(users).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(super::UNLIMITED_WARNED.is_completed());
    }

    #[test]
    fn ipv4_mapped_clients_are_keyed_as_their_ipv4_address() {
        assert_eq!(key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_ne!(key(ip("::ffff:192.0.2.1")), key(ip("::ffff:198.51.100.2")));
    }

    /// A client key that returns mapped addresses (as a dual-stack socket
    /// reports IPv4 peers) still gives each client its own quota.
    #[tokio::test]
    async fn mapped_addresses_from_a_client_key_are_separate_clients() {
        let users = Users::builder(RedbStore::in_memory().unwrap())
            .with_secret([7u8; 32])
            .build()
            .unwrap();
        let config = RateLimitConfig {
            login: Rate::new(1, Duration::from_secs(60)),
            ..RateLimitConfig::default()
        };
        let service = RateLimitLayer::new(config)
            .with_client_key(|parts: &http::request::Parts| {
                parts.headers.get("x-client")?.to_str().ok()?.parse().ok()
            })
            .layer(Login::new(users));
        let mut statuses = Vec::new();
        for client in ["::ffff:192.0.2.1", "::ffff:198.51.100.2"] {
            let req = Request::post("/")
                .header("content-type", "application/json")
                .header("x-client", client)
                .body(Full::<bytes::Bytes>::from(
                    r#"{"email":"a@example.com","password":"guess"}"#,
                ))
                .unwrap();
            statuses.push(service.clone().oneshot(req).await.unwrap().status());
        }
        assert_eq!(statuses, [StatusCode::UNAUTHORIZED; 2]);
    }
}
