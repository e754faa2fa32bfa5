//! Outbox figures against a real SMTP server: emails delivered per second,
//! and the latency from a request's 202 to the SMTP server accepting its
//! email.
//!
//! ```text
//! python3 -m aiosmtpd -n -l 127.0.0.1:2525 -c aiosmtpd.handlers.Sink &
//! cargo run --release --example mail_load -- smtp://127.0.0.1:2525
//! ```

use std::time::{Duration, Instant};

use tower_users::mail::SmtpMailer;
use tower_users::{RedbStore, Users};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn users(db: &std::path::Path, smtp: &str) -> Result<Users, BoxError> {
    Ok(Users::builder(RedbStore::open(db)?)
        .with_secret([3u8; 32])
        .with_verify_on_register(false)
        .with_mailer(SmtpMailer::from_url(smtp, "bench@example.com")?)
        .build()?)
}

async fn drained(users: &Users) -> Result<(), BoxError> {
    while users.pending_mail().await? > 0 {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let smtp = std::env::args()
        .nth(1)
        .ok_or("usage: mail_load smtp://127.0.0.1:2525")?;
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("mail.redb");

    // Latency: one request at a time, 202 to accepted by the SMTP server.
    let live = users(&db, &smtp)?;
    live.register("load@example.com", "correct horse battery")
        .await?;
    let mut latencies = Vec::new();
    for _ in 0..100 {
        let start = Instant::now();
        live.request_password_reset("load@example.com").await?;
        drained(&live).await?;
        latencies.push(start.elapsed());
    }
    latencies.sort();
    live.shutdown().await;
    drop(live);

    // Throughput: queue n emails while the SMTP server is unreachable, then
    // reopen with the live server and time the drain.
    let dead = users(&db, "smtp://127.0.0.1:9")?;
    dead.shutdown().await;
    for _ in 0..n {
        dead.request_password_reset("load@example.com").await?;
    }
    drop(dead);
    let start = Instant::now();
    let live = users(&db, &smtp)?;
    drained(&live).await?;
    let elapsed = start.elapsed();
    live.shutdown().await;

    println!(
        "request -> delivery latency: median {:.1?}, p99 {:.1?} (n=100)",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100]
    );
    println!(
        "throughput: {n} emails in {elapsed:.2?} = {:.0} emails/s over one SMTP connection",
        n as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
