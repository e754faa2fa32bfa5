//! The time of one `Store::session_with_user` on PostgreSQL, the store call
//! behind every authenticated request, one call at a time.
//!
//! ```text
//! cargo run --release --features postgres --example session_rtt -- postgres://… [CALLS]
//! ```
//!
//! Opens the store as the example server does ([`PostgresStore::connect`]),
//! creates one user and one session in it, then times `CALLS` (default
//! 5,000) lookups of that session after a warm-up, and as the floor the
//! same number of `SELECT 1` on the store's pool. Prints the median and
//! p99 of each. `scripts/bench_postgres.sh` runs it.

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tower_users::store::{Session, SessionId, Store, TokenDigest};
use tower_users::{Email, PostgresStore, User};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The median and p99 of `samples`, sorted in place.
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .ok_or("usage: session_rtt postgres://user@host/db [CALLS]")?;
    let calls: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let store = PostgresStore::connect(url).await?;

    // A user and a live session of its own, so that runs never collide.
    let email = Email::parse(&format!("rtt-{}@example.com", uuid::Uuid::now_v7()))?;
    let user = User::new(email, "$argon2id$not-a-real-hash".into());
    store.create_user(&user, None).await?;
    let now = OffsetDateTime::now_utc();
    let session = Session {
        id: SessionId::new(),
        user_id: user.id,
        password_version: user.password_version,
        created_at: now,
        expires_at: now + time::Duration::hours(1),
        authenticated_at: now,
    };
    let mut digest = [0u8; 32];
    digest[..16].copy_from_slice(session.id.0.as_bytes());
    store.create_session(&session, TokenDigest(digest)).await?;

    // Warm-up: the pool's connections open and the statements are prepared.
    for _ in 0..200 {
        store.session_with_user(session.id, now).await?;
    }
    let mut lookups = Vec::with_capacity(calls);
    let mut floor = Vec::with_capacity(calls);
    // Alternating, so that both see the same moments of a noisy machine.
    for _ in 0..calls {
        let start = Instant::now();
        let found = store.session_with_user(session.id, now).await?;
        lookups.push(start.elapsed());
        if found.is_none() {
            return Err("the session went missing".into());
        }
        let start = Instant::now();
        sqlx::query("SELECT 1").execute(store.pool()).await?;
        floor.push(start.elapsed());
    }
    let (median, p99) = percentiles(&mut lookups);
    let (floor_median, floor_p99) = percentiles(&mut floor);
    println!(
        "session_with_user, one at a time over {calls} calls: median {:.0} µs, p99 {:.0} µs \
         (SELECT 1 on the same pool: median {:.0} µs, p99 {:.0} µs)",
        micros(median),
        micros(p99),
        micros(floor_median),
        micros(floor_p99),
    );
    Ok(())
}
