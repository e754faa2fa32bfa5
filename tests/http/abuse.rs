//! Abuse resistance over real HTTP: rate limits, trusted proxies, lockout,
//! and the 503 backpressure of bounded hashing. Functional assertions only.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use tower_users::http::{Rate, RateLimitConfig, TrustedProxy};
use tower_users::{LockoutPolicy, PasswordParams, UsersBuilder};

use crate::common::{Client, Reply, TestServer, assert_problem, serve_limited, server_with};

fn retry_after(r: &Reply) -> u64 {
    r.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn over_quota_is_429_with_retry_after_per_route_class() {
    let s = server_with(|b| b).await;
    let config = RateLimitConfig {
        register: Rate::new(2, Duration::from_secs(60)),
        email_requests: Rate::new(1, Duration::from_secs(60)),
        ..RateLimitConfig::default()
    };
    let c = Client::new(serve_limited(s.users.clone(), config).await);
    for i in 0..2 {
        let r = c
            .register(&format!("u{i}@example.com"), "correct horse battery")
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = c.register("u9@example.com", "correct horse battery").await;
    assert_problem(&r, 429, "RATE_LIMITED");
    assert!((1..=60).contains(&retry_after(&r)));
    // The email-request class has its own quota, shared by both endpoints.
    let body = json!({"email": "u0@example.com"});
    assert_eq!(
        c.post_json("/users/verify/request", body.clone())
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let r = c.post_json("/users/password-reset/request", body).await;
    assert_problem(&r, 429, "RATE_LIMITED");
    // Login is a class of its own, still open; /me is not limited.
    assert_eq!(
        c.login("u0@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        c.get("/users/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let s = server_with(|b| b).await;
    let limited = |trusted: Vec<TrustedProxy>| RateLimitConfig {
        email_requests: Rate::new(1, Duration::from_secs(60)),
        trusted_proxies: trusted,
        ..RateLimitConfig::default()
    };
    let body = json!({"email": "x@example.com"});
    let path = "/users/verify/request";

    // Untrusted: the header is ignored, everyone is 127.0.0.1.
    let c = Client::new(serve_limited(s.users.clone(), limited(vec![])).await);
    let a = c
        .post_with(path, &[("x-forwarded-for", "198.51.100.1")], body.clone())
        .await;
    let b = c
        .post_with(path, &[("x-forwarded-for", "198.51.100.2")], body.clone())
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_problem(&b, 429, "RATE_LIMITED");

    // Trusted loopback proxy: each forwarded client has its own quota.
    let trusted = vec![TrustedProxy::parse("127.0.0.0/8").unwrap()];
    let c = Client::new(serve_limited(s.users.clone(), limited(trusted)).await);
    let a = c
        .post_with(path, &[("x-forwarded-for", "198.51.100.1")], body.clone())
        .await;
    let b = c
        .post_with(path, &[("x-forwarded-for", "198.51.100.2")], body.clone())
        .await;
    assert_eq!(
        (a.status, b.status),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED)
    );
    let again = c
        .post_with(path, &[("x-forwarded-for", "198.51.100.1")], body.clone())
        .await;
    assert_problem(&again, 429, "RATE_LIMITED");
    // The header the proxy does not manage is ignored: both of these are
    // keyed on the proxy itself, so the second is over its quota.
    let f1 = c
        .post_with(path, &[("forwarded", "for=203.0.113.9")], body.clone())
        .await;
    let f2 = c
        .post_with(path, &[("forwarded", "for=203.0.113.10")], body.clone())
        .await;
    assert_eq!(f1.status, StatusCode::ACCEPTED);
    assert_problem(&f2, 429, "RATE_LIMITED");
    // A spoofed leftmost entry does not buy a fresh quota.
    let spoof = c
        .post_with(path, &[("x-forwarded-for", "6.6.6.6, 198.51.100.1")], body)
        .await;
    assert_problem(&spoof, 429, "RATE_LIMITED");
}

/// nginx appends the real client to whatever line the client sent, so a
/// byte of garbage from the client must not make everyone the proxy.
#[tokio::test]
async fn a_non_utf8_forwarded_entry_does_not_hide_the_client_the_proxy_appended() {
    let s = server_with(|b| b).await;
    let config = RateLimitConfig {
        email_requests: Rate::new(1, Duration::from_secs(60)),
        trusted_proxies: vec![TrustedProxy::parse("127.0.0.0/8").unwrap()],
        ..RateLimitConfig::default()
    };
    let addr = serve_limited(s.users.clone(), config).await;
    let from = |line: &'static [u8]| {
        let req = http::Request::post(format!("http://{addr}/users/verify/request"))
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .header(
                "x-forwarded-for",
                http::HeaderValue::from_bytes(line).unwrap(),
            )
            .body(json!({"email": "x@example.com"}).to_string().into())
            .unwrap();
        crate::common::send(addr, req)
    };
    let a = from(b"\xff, 198.51.100.1").await;
    let b = from(b"\xff, 198.51.100.2").await;
    assert_eq!(
        (a.status, b.status),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED)
    );
    assert_problem(&from(b"\xfe, 198.51.100.1").await, 429, "RATE_LIMITED");
}

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let s = server_with(|b| b).await;
    let c = Client::new(s.addr);
    c.register("lock@example.com", "correct horse battery")
        .await;
    c.register("other@example.com", "correct horse battery")
        .await;
    for _ in 0..5 {
        assert_problem(
            &c.login("lock@example.com", "wrong password").await,
            401,
            "INVALID_CREDENTIALS",
        );
    }
    let r = c.login("lock@example.com", "correct horse battery").await;
    assert_problem(&r, 429, "RATE_LIMITED");
    // 30 s from the failure, counted from the end of its (stored) second.
    assert!((1..=31).contains(&retry_after(&r)), "{:?}", r.headers);
    // One locked account never blocks another.
    assert_eq!(
        c.login("other@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_emails_lock_exactly_like_known_ones() {
    let s = server_with(|b| b).await;
    let c = Client::new(s.addr);
    c.register("real@example.com", "correct horse battery")
        .await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..6 {
        known.push(c.login("real@example.com", "wrong password").await);
        unknown.push(c.login("ghost@example.com", "wrong password").await);
    }
    for (k, u) in known.iter().zip(&unknown) {
        assert_eq!(k.status, u.status);
        assert_eq!(k.body, u.body);
    }
    assert_problem(&known[5], 429, "RATE_LIMITED");
    // Equal, but for a second boundary crossed between the two requests.
    assert!(retry_after(&known[5]).abs_diff(retry_after(&unknown[5])) <= 1);
}

#[tokio::test]
async fn a_success_resets_the_count_and_locks_expire() {
    // Cheap hashing: the 1 s lock must outlast the checks that follow it.
    let s = server_with(|b| {
        cheap(b).with_lockout(LockoutPolicy {
            threshold: 3,
            base_delay: Duration::from_secs(1),
            ..LockoutPolicy::default()
        })
    })
    .await;
    let c = Client::new(s.addr);
    c.register("reset@example.com", "correct horse battery")
        .await;
    for _ in 0..2 {
        c.login("reset@example.com", "wrong password").await;
    }
    assert_eq!(
        c.login("reset@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..2 {
        c.login("reset@example.com", "wrong password").await;
    }
    // Two failures since the success: still open.
    assert_eq!(
        c.login("reset@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..3 {
        c.login("reset@example.com", "wrong password").await;
    }
    assert_problem(
        &c.login("reset@example.com", "correct horse battery").await,
        429,
        "RATE_LIMITED",
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        c.login("reset@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_past_the_hashing_wait_bound_gets_503_with_retry_after() {
    // A zero bound admits only what can start at once: one hash.
    let s = server_with(|b| {
        b.with_max_concurrent_hashes(1)
            .with_max_hash_wait(Duration::ZERO)
    })
    .await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let addr = s.addr;
            tokio::spawn(async move {
                Client::new(addr)
                    .login(&format!("flood{i}@example.com"), "wrong password")
                    .await
            })
        })
        .collect();
    let mut busy = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            401 => {}
            503 => {
                assert_problem(&r, 503, "SERVICE_UNAVAILABLE");
                assert!(retry_after(&r) >= 1);
                busy += 1;
            }
            other => panic!("unexpected {other}: {:?}", r.json()),
        }
    }
    assert!(busy > 0, "no request was turned away");
}

/// A server behind `RateLimitLayer` trusting the loopback proxy, so each
/// request names its client in `X-Forwarded-For`; login quotas are out of
/// the way, so only the lockout answers 429.
async fn proxied(configure: impl FnOnce(UsersBuilder) -> UsersBuilder) -> (TestServer, SocketAddr) {
    let s = server_with(configure).await;
    let config = RateLimitConfig {
        login: Rate::new(10_000, Duration::from_millis(1)),
        trusted_proxies: vec![TrustedProxy::parse("127.0.0.0/8").unwrap()],
        ..RateLimitConfig::default()
    };
    let addr = serve_limited(s.users.clone(), config).await;
    (s, addr)
}

/// Cheap hashing, for tests that check many passwords.
fn cheap(b: UsersBuilder) -> UsersBuilder {
    b.with_password_params(PasswordParams {
        m_cost: 1024,
        t_cost: 1,
        p_cost: 1,
    })
}

async fn login_from(addr: SocketAddr, client: &str, email: &str, password: &str) -> Reply {
    Client::new(addr)
        .post_with(
            "/users/login",
            &[("x-forwarded-for", client)],
            json!({"email": email, "password": password}),
        )
        .await
}

async fn reset_password(s: &TestServer, c: &Client, email: &str, password: &str) {
    s.outbox.clear();
    let r = c
        .post_json("/users/password-reset/request", json!({"email": email}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let token = s.outbox.token_for(email).await;
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": token, "password": password}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn guesses_from_one_client_do_not_lock_the_owner_out_from_another() {
    let (s, addr) = proxied(|b| b).await;
    Client::new(s.addr)
        .register("owner@example.com", PASSWORD)
        .await;
    let attacker = "198.51.100.1";
    for _ in 0..5 {
        let r = login_from(addr, attacker, "owner@example.com", "guess").await;
        assert_problem(&r, 401, "INVALID_CREDENTIALS");
    }
    // The attacker's client is locked, even with the right password...
    let r = login_from(addr, attacker, "owner@example.com", PASSWORD).await;
    assert_problem(&r, 429, "RATE_LIMITED");
    // ...but the owner, elsewhere, logs in.
    let r = login_from(addr, "203.0.113.7", "owner@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    // IPv6 clients count by their /64: another address in it is locked too.
    for _ in 0..5 {
        login_from(addr, "2001:db8:1:2::1", "owner@example.com", "guess").await;
    }
    let r = login_from(addr, "2001:db8:1:2::99", "owner@example.com", PASSWORD).await;
    assert_problem(&r, 429, "RATE_LIMITED");
    let r = login_from(addr, "2001:db8:1:3::1", "owner@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// The documented limit: 100 consecutive failures from all clients together
/// (NIST SP 800-63B's ceiling) lock the account for everyone, until a
/// password reset.
#[tokio::test]
async fn a_hundred_failures_from_many_clients_lock_everyone_until_a_reset() {
    let (s, addr) = proxied(cheap).await;
    let c = Client::new(s.addr);
    c.register("target@example.com", PASSWORD).await;
    for client in 0..20 {
        let ip = format!("198.51.100.{client}");
        for _ in 0..5 {
            let r = login_from(addr, &ip, "target@example.com", "guess").await;
            assert_problem(&r, 401, "INVALID_CREDENTIALS");
        }
    }
    let r = login_from(addr, "203.0.113.7", "target@example.com", PASSWORD).await;
    assert_problem(&r, 429, "RATE_LIMITED");
    assert!(retry_after(&r) > 15 * 60, "{:?}", r.headers);
    // A reset lifts it, for every client.
    reset_password(&s, &c, "target@example.com", "a brand new password").await;
    for client in ["203.0.113.7", "198.51.100.0"] {
        let r = login_from(addr, client, "target@example.com", "a brand new password").await;
        assert_eq!(r.status, StatusCode::OK, "{client}: {:?}", r.json());
    }
}

#[tokio::test]
async fn a_password_reset_lifts_the_lock() {
    let s = server_with(|b| b).await;
    let c = Client::new(s.addr);
    c.register("locked@example.com", PASSWORD).await;
    for _ in 0..5 {
        c.login("locked@example.com", "guess").await;
    }
    assert_problem(
        &c.login("locked@example.com", PASSWORD).await,
        429,
        "RATE_LIMITED",
    );
    reset_password(&s, &c, "locked@example.com", "a brand new password").await;
    let r = c.login("locked@example.com", "a brand new password").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

#[tokio::test]
async fn a_success_clears_the_account_wide_count() {
    let (s, addr) = proxied(|b| {
        b.with_lockout(LockoutPolicy {
            threshold: 3,
            account_threshold: 5,
            ..LockoutPolicy::default()
        })
    })
    .await;
    Client::new(s.addr)
        .register("wide@example.com", PASSWORD)
        .await;
    let guesses = |clients: [&'static str; 2]| async move {
        for client in clients {
            for _ in 0..2 {
                let r = login_from(addr, client, "wide@example.com", "guess").await;
                assert_problem(&r, 401, "INVALID_CREDENTIALS");
            }
        }
    };
    guesses(["198.51.100.1", "198.51.100.2"]).await;
    let r = login_from(addr, "203.0.113.1", "wide@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    // Four more from fresh clients: eight in all, but only four since the
    // success, under the ceiling of five.
    guesses(["198.51.100.3", "198.51.100.4"]).await;
    let r = login_from(addr, "203.0.113.2", "wide@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_emails_lock_per_client_exactly_like_known_ones() {
    let (s, addr) = proxied(|b| b).await;
    Client::new(s.addr)
        .register("real@example.com", PASSWORD)
        .await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..6 {
        known.push(login_from(addr, "198.51.100.1", "real@example.com", "guess").await);
        unknown.push(login_from(addr, "198.51.100.1", "ghost@example.com", "guess").await);
    }
    // Another client: a first failure for both, not a lock.
    known.push(login_from(addr, "198.51.100.2", "real@example.com", "guess").await);
    unknown.push(login_from(addr, "198.51.100.2", "ghost@example.com", "guess").await);
    for (k, u) in known.iter().zip(&unknown) {
        assert_eq!((k.status, &k.body), (u.status, &u.body));
    }
    assert_problem(&known[5], 429, "RATE_LIMITED");
    assert_problem(&known[6], 401, "INVALID_CREDENTIALS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_right_logins_of_one_account_all_succeed() {
    let s = server_with(cheap).await;
    Client::new(s.addr)
        .register("many@example.com", PASSWORD)
        .await;
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let addr = s.addr;
            tokio::spawn(async move { Client::new(addr).login("many@example.com", PASSWORD).await })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_guesses_check_no_more_than_the_lockout_allows() {
    let s = server_with(cheap).await;
    let c = Client::new(s.addr);
    c.register("target@example.com", PASSWORD).await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let addr = s.addr;
            tokio::spawn(async move {
                Client::new(addr)
                    .login("target@example.com", &format!("guess number {i}"))
                    .await
            })
        })
        .collect();
    let mut checked = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            401 => checked += 1,
            429 => assert_problem(&r, 429, "RATE_LIMITED"),
            other => panic!("unexpected {other}: {:?}", r.json()),
        }
    }
    // Every guess waited its turn; exactly the five the lockout allows were
    // checked, and the rest found the account locked.
    assert_eq!(checked, 5);
    assert_problem(
        &c.login("target@example.com", PASSWORD).await,
        429,
        "RATE_LIMITED",
    );
}

#[tokio::test]
async fn guesses_at_login_do_not_block_the_owner_changing_the_account() {
    let s = server_with(|b| b).await;
    let c = Client::new(s.addr);
    let (access, _) = c.signed_up("busy@example.com", PASSWORD).await;
    for _ in 0..5 {
        c.login("busy@example.com", "guess").await;
    }
    assert_problem(
        &c.login("busy@example.com", PASSWORD).await,
        429,
        "RATE_LIMITED",
    );
    // The signed-in owner confirms the password as a client of their own.
    let r = c
        .request(
            http::Method::PATCH,
            "/users/me",
            Some(&access),
            Some(json!({"current_password": PASSWORD, "password": "a fresh new password"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    // A password change starts the counts afresh, as a reset does.
    let r = c.login("busy@example.com", "a fresh new password").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

/// Serves `users` behind `ClientIpLayer` trusting the loopback proxy, with
/// `limits` (which trust no proxy) inside it if given, recording each
/// connection's peer as servers do.
async fn serve_resolved(users: tower_users::Users, limits: Option<RateLimitConfig>) -> SocketAddr {
    use tower::util::Either;
    use tower::{Layer, ServiceExt};
    use tower_users::http::{ClientIpLayer, ForwardedHeader, PeerAddr, RateLimitLayer};
    let trusted = vec![TrustedProxy::parse("127.0.0.0/8").unwrap()];
    let lifecycle = tower_users::UsersService::new(users);
    let inner = match limits {
        Some(config) => Either::Left(RateLimitLayer::new(config).layer(lifecycle)),
        None => Either::Right(lifecycle),
    };
    let service = ClientIpLayer::new(trusted, ForwardedHeader::XForwardedFor).layer(inner);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let service = service.clone();
            let svc =
                hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(PeerAddr(peer));
                    service.clone().oneshot(req)
                });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc),
            );
        }
    });
    addr
}

#[tokio::test]
async fn rate_limits_reuse_the_client_an_outer_client_ip_layer_resolved() {
    let s = server_with(|b| b).await;
    let config = RateLimitConfig {
        email_requests: Rate::new(1, Duration::from_secs(60)),
        ..RateLimitConfig::default()
    };
    let c = Client::new(serve_resolved(s.users.clone(), Some(config)).await);
    let body = json!({"email": "x@example.com"});
    let path = "/users/verify/request";
    for client in ["198.51.100.1", "198.51.100.2"] {
        let r = c
            .post_with(path, &[("x-forwarded-for", client)], body.clone())
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{client}");
    }
    let again = c
        .post_with(path, &[("x-forwarded-for", "198.51.100.1")], body)
        .await;
    assert_problem(&again, 429, "RATE_LIMITED");
}

#[tokio::test]
async fn behind_a_proxy_without_rate_limits_the_lockout_still_sees_each_client() {
    let s = server_with(|b| b).await;
    Client::new(s.addr)
        .register("proxied@example.com", PASSWORD)
        .await;
    let addr = serve_resolved(s.users.clone(), None).await;
    for _ in 0..5 {
        let r = login_from(addr, "198.51.100.1", "proxied@example.com", "guess").await;
        assert_problem(&r, 401, "INVALID_CREDENTIALS");
    }
    let r = login_from(addr, "198.51.100.1", "proxied@example.com", PASSWORD).await;
    assert_problem(&r, 429, "RATE_LIMITED");
    // Not the proxy's own pair: the owner, elsewhere, gets in.
    let r = login_from(addr, "203.0.113.7", "proxied@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

/// A lockout whose account-wide ceiling is reached in a few guesses.
fn low_ceiling(b: UsersBuilder) -> UsersBuilder {
    cheap(b).with_lockout(LockoutPolicy {
        threshold: 3,
        account_threshold: 6,
        ..LockoutPolicy::default()
    })
}

/// Locks `email` account-wide: three guesses from each of two clients.
async fn lock_account_wide(addr: SocketAddr, email: &str) {
    for client in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..3 {
            let r = login_from(addr, client, email, "guess").await;
            assert_problem(&r, 401, "INVALID_CREDENTIALS");
        }
    }
    let r = login_from(addr, "203.0.113.99", email, PASSWORD).await;
    assert_problem(&r, 429, "RATE_LIMITED");
}

#[tokio::test]
async fn the_account_wide_lock_never_blocks_the_signed_in_owner() {
    let (s, addr) = proxied(low_ceiling).await;
    let c = Client::new(s.addr);
    let (access, _) = c.signed_up("owner@example.com", PASSWORD).await;
    lock_account_wide(addr, "owner@example.com").await;
    let body = json!({"current_password": PASSWORD});
    let r = c
        .request(
            http::Method::PATCH,
            "/users/me",
            Some(&access),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let r = c
        .request(http::Method::DELETE, "/users/me", Some(&access), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
}

#[tokio::test]
async fn a_client_that_logged_in_before_is_spared_the_account_wide_lock() {
    let (s, addr) = proxied(low_ceiling).await;
    Client::new(s.addr)
        .register("known@example.com", PASSWORD)
        .await;
    let home = "203.0.113.7";
    let r = login_from(addr, home, "known@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    lock_account_wide(addr, "known@example.com").await;
    // It logs in while everyone else is locked out; its own pair still
    // locks after its own failures.
    let r = login_from(addr, home, "known@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    for _ in 0..3 {
        login_from(addr, home, "known@example.com", "typo").await;
    }
    let r = login_from(addr, home, "known@example.com", PASSWORD).await;
    assert_problem(&r, 429, "RATE_LIMITED");
}

#[tokio::test]
async fn malformed_emails_do_not_tell_registered_from_unregistered() {
    let s = server_with(cheap).await;
    let c = Client::new(s.addr);
    c.register("bob@example.com", PASSWORD).await;
    let mut after = Vec::new();
    for email in ["bob@example.com", "alice@example.com"] {
        // Five failures under a malformed spelling of the address...
        for _ in 0..5 {
            c.login(&format!("{email}\u{0}"), "guess").await;
        }
        // ...must not count against the address itself.
        after.push(c.login(email, "guess").await);
    }
    for r in &after {
        assert_problem(r, 401, "INVALID_CREDENTIALS");
    }
    assert_eq!(after[0].body, after[1].body);
}
