//! Failed-login counters and the named secrets.

use sqlx::Row as _;
use time::OffsetDateTime;

use super::{PostgresStore, db};
use crate::store::{LoginFailures, StoreError};

fn failures_from(row: &sqlx::postgres::PgRow) -> Result<LoginFailures, StoreError> {
    let count: i64 = row.try_get("failures").map_err(db)?;
    Ok(LoginFailures {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        last_failure: row.try_get("last_failure").map_err(db)?,
    })
}

impl PostgresStore {
    pub(super) async fn failures(
        &self,
        key: &str,
        forget_before: OffsetDateTime,
    ) -> Result<Option<LoginFailures>, StoreError> {
        let row = sqlx::query(self.names.sql(
            "SELECT failures, last_failure FROM {s}.{p}login_failures \
             WHERE key = $1 AND last_failure >= $2",
        ))
        .bind(key.as_bytes())
        .bind(forget_before)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(failures_from).transpose()
    }

    pub(super) async fn count_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Result<LoginFailures, StoreError> {
        // One atomic upsert: concurrent failures on several instances each
        // count. A record older than the window starts again from one; the
        // count saturates at u32::MAX like the redb store's.
        let row = sqlx::query(self.names.sql(
            "INSERT INTO {s}.{p}login_failures AS f (key, failures, last_failure) \
             VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN f.last_failure < $3 THEN 1 \
                               ELSE least(f.failures + 1, 4294967295) END, \
               last_failure = $2 \
             RETURNING failures, last_failure",
        ))
        .bind(key.as_bytes())
        .bind(now)
        .bind(forget_before)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let failures = failures_from(&row)?;
        // Forgotten counters, a few at a time and oldest first, so that
        // guesses at random addresses cannot grow the table without bound.
        // Best effort: the failure above is counted and committed; a retry
        // would count it again, and the next failure prunes anyway.
        let pruned = sqlx::query(self.names.sql(
            "DELETE FROM {s}.{p}login_failures WHERE key IN (\
               SELECT key FROM {s}.{p}login_failures WHERE last_failure < $1 \
               ORDER BY last_failure LIMIT 32 FOR UPDATE SKIP LOCKED)",
        ))
        .bind(forget_before)
        .execute(&self.pool)
        .await;
        if let Err(err) = pruned {
            tracing::warn!(error = %err, "postgres store: could not prune forgotten login failures");
        }
        Ok(failures)
    }

    pub(super) async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            self.names
                .sql("DELETE FROM {s}.{p}login_failures WHERE key = $1"),
        )
        .bind(key.as_bytes())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub(super) async fn secret(
        &self,
        name: &str,
        make: &[u8],
    ) -> Result<(Vec<u8>, bool), StoreError> {
        // Two instances starting at once: the second insert waits for the
        // first, does nothing, and both then read the one secret.
        let created = sqlx::query(self.names.sql(
            "INSERT INTO {s}.{p}secrets (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        ))
        .bind(name)
        .bind(make)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected()
            == 1;
        if created {
            return Ok((make.to_vec(), true));
        }
        let value: Vec<u8> = sqlx::query_scalar(
            self.names
                .sql("SELECT value FROM {s}.{p}secrets WHERE name = $1"),
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok((value, false))
    }
}
