//! Rate-limit buckets (GCRA) for a store one process owns.

use std::sync::atomic::Ordering;

use ::redb::{Durability, ReadableTable};
use time::OffsetDateTime;

use super::tables::RATE_LIMITS;
use super::{RedbStore, backend};
use crate::store::{StoreError, gcra};

/// Idle buckets are pruned once every this many charges.
const PRUNE_EVERY: u32 = 256;

impl RedbStore {
    pub(super) async fn charge_bucket(
        &self,
        key: &str,
        now: OffsetDateTime,
        burst: u32,
        per: time::Duration,
    ) -> Result<Option<time::Duration>, StoreError> {
        let key = key.to_owned();
        let now = gcra::micros(now);
        let prune = self.charges.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut tx = db.begin_write().map_err(backend)?;
            // Bucket times need not survive a crash (a restart only forgives
            // a few requests), so they skip the fsync; the next durable
            // commit persists them anyway.
            tx.set_durability(Durability::None).map_err(backend)?;
            let verdict = {
                let mut buckets = tx.open_table(RATE_LIMITS).map_err(backend)?;
                let tat = buckets
                    .get(key.as_str())
                    .map_err(backend)?
                    .map(|g| g.value());
                let (next, wait) = gcra::charge(tat, now, burst, per);
                if wait.is_none() {
                    buckets.insert(key.as_str(), next).map_err(backend)?;
                }
                if prune {
                    // A bucket whose time has passed is at a full burst:
                    // forgetting it changes no decision.
                    buckets.retain(|_, tat| tat > now).map_err(backend)?;
                }
                wait
            };
            tx.commit().map_err(backend)?;
            Ok(verdict)
        })
        .await
        .map_err(StoreError::backend)?
    }
}

#[cfg(test)]
mod tests {
    use ::redb::{ReadableDatabase, ReadableTableMetadata};

    use super::*;
    use crate::store::Store;

    /// Every 256th charge drops the buckets back at a full burst and keeps
    /// the spent ones.
    #[tokio::test]
    async fn idle_buckets_are_pruned_and_spent_ones_kept() {
        let store = RedbStore::in_memory().unwrap();
        let now = OffsetDateTime::now_utc();
        let per = time::Duration::seconds(1);
        for i in 0..255 {
            let key = format!("login 192.0.2.{i}");
            assert_eq!(store.rate_limit(&key, now, 1, per).await.unwrap(), None);
        }
        let later = now + time::Duration::minutes(1);
        let spent = store.rate_limit("login spent", later, 1, time::Duration::hours(1));
        assert_eq!(spent.await.unwrap(), None);
        let tx = store.db.begin_read().unwrap();
        let buckets = tx.open_table(RATE_LIMITS).unwrap();
        assert_eq!(buckets.len().unwrap(), 1);
        assert!(buckets.get("login spent").unwrap().is_some());
    }
}
