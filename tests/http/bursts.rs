//! Bursts of sign-ups and logins are served, not refused: hashing admits
//! requests by their predicted wait, so 64 at once queue for the hashing
//! threads instead of overflowing a fixed queue into 503s.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;
use tokio::sync::Barrier;
use tower_users::Email;
use tower_users::store::{Store, UserUpdate};

use crate::common::{Client, Reply, assert_problem, server, server_with};

const BURST: usize = 64;
const PASSWORD: &str = "correct horse battery";

/// Sends `BURST` requests at the same moment, one per email, and returns
/// each status with the body of any that was not `expected`.
async fn at_once<F, Fut>(send: F, expected: StatusCode) -> Vec<(usize, u16, String)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = crate::common::Reply> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(BURST));
    let tasks: Vec<_> = (0..BURST)
        .map(|i| {
            let barrier = barrier.clone();
            let request = send(i);
            tokio::spawn(async move {
                barrier.wait().await;
                request.await
            })
        })
        .collect();
    let mut unexpected = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        if r.status != expected {
            unexpected.push((i, r.status.as_u16(), r.code()));
        }
    }
    unexpected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_simultaneous_sign_ups_then_logins_all_succeed() {
    // Default settings: as many hashing threads as cores, a 5 s wait bound.
    let s = server().await;
    let addr = s.addr;
    let email = |i: usize| format!("burst-{i}@example.com");

    let refused = at_once(
        |i| {
            let email = email(i);
            async move { Client::new(addr).register(&email, PASSWORD).await }
        },
        StatusCode::CREATED,
    )
    .await;
    assert!(refused.is_empty(), "registrations not created: {refused:?}");

    let refused = at_once(
        |i| {
            let email = email(i);
            async move { Client::new(addr).login(&email, PASSWORD).await }
        },
        StatusCode::OK,
    )
    .await;
    assert!(refused.is_empty(), "logins refused: {refused:?}");
}

/// A stored hash whose check takes seconds (argon2id, 19 MiB, 400 passes)
/// and never matches: it holds a hashing thread while a test looks.
const SLOW_HASH: &str = "$argon2id$v=19$m=19456,t=400,p=1$c2l4dGVlbiBieXRlIHNhbHQ$\
                         AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn assert_busy(r: &Reply, what: &str) {
    assert_eq!(r.status.as_u16(), 503, "{what}: {:?}", r.json());
    assert_problem(r, 503, "SERVICE_UNAVAILABLE");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "{what}: Retry-After {retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_hashing_line_is_refused_before_any_other_work() {
    // One hashing thread and no waiting: while one check runs, every other
    // request that would hash is refused, and refused first, before its
    // store reads, lockout turn, validation or hooks: a 503, where the work
    // done first would have answered 409, 401 or 422.
    let s = server_with(|b| {
        b.with_max_concurrent_hashes(1)
            .with_max_hash_wait(Duration::ZERO)
    })
    .await;
    let c = Client::new(s.addr);
    let (me, _) = c.signed_up("me@example.com", PASSWORD).await;
    let me_id = c.get("/users/me", Some(&me)).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.users
        .ensure_superuser("admin@example.com", "kettle staple zebra")
        .await
        .unwrap();
    let admin = c
        .access_token("admin@example.com", "kettle staple zebra")
        .await;
    let r = c
        .post_json(
            "/users/password-reset/request",
            json!({"email": "me@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let reset = s.outbox.token_for("me@example.com").await;
    c.register("slow@example.com", PASSWORD).await;
    let email = Email::parse("slow@example.com").unwrap();
    let before = s.store.user_by_email(&email).await.unwrap().unwrap();
    let mut slow = before.clone();
    slow.password_hash = SLOW_HASH.to_owned();
    s.store
        .update_user(UserUpdate::new(&before, slow))
        .await
        .unwrap();

    let addr = s.addr;
    let held =
        tokio::spawn(async move { Client::new(addr).login("slow@example.com", PASSWORD).await });
    // Until the slow check holds the thread, a sign-up of a taken email is
    // 409; once it does, 503.
    let mut full = false;
    while !held.is_finished() {
        let r = c.register("slow@example.com", PASSWORD).await;
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            full = true;
            break;
        }
        assert_problem(&r, 409, "USER_EXISTS");
    }
    assert!(
        full,
        "a sign-up of a taken email was never refused for the full line"
    );
    assert_busy(
        &c.register("new@example.com", "short").await,
        "weak sign-up",
    );
    // Would otherwise wait for the slow check's lockout turn, then fail.
    assert_busy(&c.login("slow@example.com", "wrong").await, "login");
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": reset, "password": "short"}),
        )
        .await;
    assert_busy(&r, "reset with a weak password");
    let r = c
        .request(
            Method::PATCH,
            "/users/me",
            Some(&me),
            Some(json!({"current_password": "wrong", "password": "a fresh new password"})),
        )
        .await;
    assert_busy(&r, "PATCH /users/me");
    let r = c
        .request(
            Method::DELETE,
            "/users/me",
            Some(&me),
            Some(json!({"current_password": "wrong"})),
        )
        .await;
    assert_busy(&r, "DELETE /users/me");
    let r = c
        .request(
            Method::PATCH,
            &format!("/users/{me_id}"),
            Some(&admin),
            Some(json!({"password": "a fresh new password", "email": "not an email"})),
        )
        .await;
    assert_busy(&r, "admin password set");
    assert!(
        !held.is_finished(),
        "the slow check ended while the test looked"
    );
    assert_problem(&held.await.unwrap(), 401, "INVALID_CREDENTIALS");
}
