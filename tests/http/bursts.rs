//! Bursts of sign-ups and logins are served, not refused: hashing admits
//! requests by their predicted wait, so 64 at once queue for the hashing
//! threads instead of overflowing a fixed queue into 503s.

use std::sync::Arc;

use http::StatusCode;
use tokio::sync::Barrier;

use crate::common::{Client, server};

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
