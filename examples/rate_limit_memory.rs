//! Memory of the rate limiter under many distinct clients: RSS before and
//! after 1,000,000 distinct IPv4 keys in one route class, then after the
//! pruning that the layer's timer runs.
//!
//! ```text
//! cargo run --release --example rate_limit_memory
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt};
use tower_users::http::endpoints::Login;
use tower_users::http::{PeerAddr, Rate, RateLimitConfig, RateLimitLayer};
use tower_users::{RedbStore, Users};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    const KEYS: u32 = 1_000_000;
    // Short replenish period, so every key is idle again shortly after.
    let layer = RateLimitLayer::new(RateLimitConfig {
        login: Rate::new(10, Duration::from_millis(1)),
        prune_every: Duration::from_secs(3600),
        ..RateLimitConfig::default()
    });
    // The endpoint charges the login class, then refuses the bodiless
    // request (415) before any hashing: only the limiter does work.
    let users = Users::builder(RedbStore::in_memory()?)
        .with_secret([7u8; 32])
        .build()?;
    let mut service = layer.layer(Login::new(users));
    let before = rss_mib();
    for i in 0..KEYS {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000u32 + i);
        let mut req = Request::post("/users/login").body(Full::<Bytes>::default())?;
        req.extensions_mut()
            .insert(PeerAddr(SocketAddr::from((ip, 4000))));
        ServiceExt::<Request<Full<Bytes>>>::ready(&mut service)
            .await?
            .call(req)
            .await?;
    }
    let full = rss_mib();
    let tracked = layer.tracked_keys();
    tokio::time::sleep(Duration::from_millis(50)).await;
    layer.prune();
    let pruned = rss_mib();
    println!("| keys tracked | RSS |");
    println!("|---|---|");
    println!("| 0 (start) | {before:.1} MiB |");
    println!(
        "| {tracked} | {full:.1} MiB (+{:.1} MiB, {:.0} bytes a key) |",
        full - before,
        (full - before) * 1048576.0 / f64::from(KEYS)
    );
    println!(
        "| {} (after pruning) | {pruned:.1} MiB |",
        layer.tracked_keys()
    );
    Ok(())
}
