//! Abuse resistance over real HTTP: rate limits, trusted proxies, lockout,
//! and the 503 backpressure of bounded hashing. Functional assertions only.

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use tower_users::LockoutPolicy;
use tower_users::http::{Rate, RateLimitConfig, TrustedProxy};

use crate::common::{Client, Reply, assert_problem, serve_limited, server_with};

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
    assert!((1..=30).contains(&retry_after(&r)), "{:?}", r.headers);
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
    let s = server_with(|b| {
        b.with_lockout(LockoutPolicy {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_at_one_account_are_checked_one_at_a_time() {
    let s = server_with(|b| b).await;
    let c = Client::new(s.addr);
    c.register("target@example.com", "correct horse battery")
        .await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let addr = s.addr;
            tokio::spawn(async move {
                Client::new(addr)
                    .login("target@example.com", &format!("guess number {i}"))
                    .await
                    .status
                    .as_u16()
            })
        })
        .collect();
    let mut checked = 0;
    for t in tasks {
        match t.await.unwrap() {
            401 => checked += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    // Without the one-at-a-time rule all 30 would be checked before the
    // first failure counted; with it, the lockout (5) holds.
    assert!((1..=5).contains(&checked), "{checked} guesses were checked");
}
