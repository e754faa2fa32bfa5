//! Rate-limit buckets shared by every instance on the database.

use std::sync::atomic::Ordering;

use sqlx::Row as _;
use time::OffsetDateTime;

use super::{PostgresStore, db};
use crate::store::{StoreError, gcra};

/// Idle buckets are pruned once every this many charges of an instance.
const PRUNE_EVERY: u32 = 256;

/// How far past its time a bucket must be before it is pruned: instances'
/// clocks may differ by this much without one forgetting a bucket another
/// still counts as spent.
const CLOCK_SKEW_MICROS: i64 = 60_000_000;

impl PostgresStore {
    pub(super) async fn charge_bucket(
        &self,
        key: &str,
        now: OffsetDateTime,
        burst: u32,
        per: time::Duration,
    ) -> Result<Option<time::Duration>, StoreError> {
        let now = gcra::micros(now);
        let (per, span) = gcra::interval_and_span(burst, per);
        // One statement decides: the row lock taken by ON CONFLICT makes
        // concurrent charges of one key (from any instance) queue, and each
        // sees the one before it, so an exhausted bucket lets none through.
        // A refusal keeps the time and records the verdict, which RETURNING
        // cannot otherwise tell from a pass. The first charge always passes
        // (a burst is at least one).
        let row = sqlx::query(self.names.sql(
            "INSERT INTO {s}.{p}rate_limits AS r (key, tat, passed) \
             VALUES ($1, $2 + $3, true) \
             ON CONFLICT (key) DO UPDATE SET \
               passed = greatest(r.tat, $2) + $3 <= $2 + $4, \
               tat = CASE WHEN greatest(r.tat, $2) + $3 <= $2 + $4 \
                          THEN greatest(r.tat, $2) + $3 ELSE r.tat END \
             RETURNING tat, passed",
        ))
        .bind(key)
        .bind(now)
        .bind(per)
        .bind(span)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let tat: i64 = row.try_get("tat").map_err(db)?;
        let passed: bool = row.try_get("passed").map_err(db)?;
        if self.charges.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune_buckets(now).await;
        }
        Ok((!passed).then(|| gcra::wait(tat.saturating_add(per), now, span)))
    }

    /// Deletes a few buckets back at a full burst, so that requests from
    /// ever new addresses cannot grow the table without bound. Best
    /// effort: the charge is decided and committed already.
    async fn prune_buckets(&self, now: i64) {
        let pruned = sqlx::query(self.names.sql(
            "DELETE FROM {s}.{p}rate_limits WHERE key IN (\
               SELECT key FROM {s}.{p}rate_limits WHERE tat < $1 \
               LIMIT 256 FOR UPDATE SKIP LOCKED)",
        ))
        .bind(now.saturating_sub(CLOCK_SKEW_MICROS))
        .execute(&self.pool)
        .await;
        if let Err(err) = pruned {
            tracing::warn!(error = %err, "postgres store: could not prune idle rate-limit buckets");
        }
    }
}
