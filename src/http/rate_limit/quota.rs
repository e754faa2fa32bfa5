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

use super::RateLimitConfig;
use super::client_ip::canonical;
use crate::error::{ConfigError, Error};

/// Which quota a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Login,
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
        })
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
                Some(wait.as_secs_f64().ceil().max(1.0) as u64)
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
/// extensions: its limiters and the client to charge. An `Arc` and an
/// address, so inserting it costs no allocation per request.
#[derive(Clone)]
pub(crate) struct Charge {
    pub(super) quotas: Arc<Quotas>,
    pub(super) client: IpAddr,
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

/// The 429 for `class`, if a rate-limit layer in front is tracking this
/// request and its client is over quota. Without a layer, nothing is
/// limited (a warning says so, once).
pub(crate) fn charge(extensions: &http::Extensions, class: Class) -> Option<Response> {
    let Some(charge) = extensions.get::<Charge>() else {
        warn_unlimited(&UNLIMITED_WARNED, class);
        return None;
    };
    let retry_after = charge.quotas.check(class, charge.client)?;
    tracing::debug!(target: "tower_users::rejection", class = ?class, "rate limited");
    Some(Error::RateLimited { retry_after }.into_response())
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
