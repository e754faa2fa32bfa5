//! The mail outbox and its dead letters.

use sqlx::Row as _;
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use super::rows::{MAIL_COLUMNS, mail_from};
use super::{PostgresStore, db};
use crate::store::{QueuedEmail, StoreError};

/// The thirteen values of an outbox row, in `MAIL_COLUMNS` order. An
/// email due when it was made (`next_attempt_at` at or before `created_at`)
/// is due at once by the database's clock, whatever the clock of the
/// instance that queued it says; one put off on purpose keeps its time.
const MAIL_VALUES: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
     CASE WHEN $11 <= $10 THEN LEAST($11, now()) ELSE $11 END, $12, $13";

/// The plain thirteen values, for a dead letter, which is never due.
const DEAD_VALUES: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13";

/// A lease as microseconds, for `$n * interval '1 microsecond'`.
fn micros(lease: time::Duration) -> i64 {
    i64::try_from(lease.whole_microseconds()).unwrap_or(i64::MAX)
}

/// The row of `$1`, if still held under the claim `$2` (any, when `$2` is
/// null: a copy not from a claim).
const HELD: &str = "id = $1 AND ($2::uuid IS NULL OR claim_token = $2)";

/// Binds `mail` to a query written with `MAIL_VALUES`.
fn bind_mail<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    mail: &'q QueuedEmail,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    let e = &mail.email;
    query
        .bind(e.id)
        .bind(e.kind.as_str())
        .bind(&e.to)
        .bind(&e.subject)
        .bind(&e.text)
        .bind(&e.html)
        .bind(&e.link)
        .bind(e.expires_at)
        .bind(i64::from(mail.attempts))
        .bind(mail.created_at)
        .bind(mail.next_attempt_at)
        .bind(mail.last_error.as_deref())
        .bind(mail.decoy)
}

impl PostgresStore {
    /// Queues `mail` in the caller's transaction, so that it is sent if and
    /// only if the change that caused it commits.
    pub(super) async fn insert_mail_in(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        mail: &QueuedEmail,
    ) -> Result<(), StoreError> {
        let sql = self.names.sql(&format!(
            "INSERT INTO {{s}}.{{p}}outbox ({MAIL_COLUMNS}) VALUES ({MAIL_VALUES})"
        ));
        bind_mail(sqlx::query(sql), mail)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    pub(super) async fn insert_mail(&self, mail: &QueuedEmail) -> Result<(), StoreError> {
        let sql = self.names.sql(&format!(
            "INSERT INTO {{s}}.{{p}}outbox ({MAIL_COLUMNS}) VALUES ({MAIL_VALUES})"
        ));
        bind_mail(sqlx::query(sql), mail)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    pub(super) async fn mail_due(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        let rows = sqlx::query(self.names.sql(&format!(
            "SELECT {MAIL_COLUMNS} FROM {{s}}.{{p}}outbox WHERE next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        )))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(mail_from).collect()
    }

    /// Claims by the database's clock, not the caller's `now`: every
    /// instance then agrees on when a lease ends, so one whose clock runs
    /// ahead cannot take an email another still holds, and one whose clock
    /// runs behind neither misses due mail nor takes a lease that has
    /// already ended.
    pub(super) async fn claim(
        &self,
        limit: usize,
        lease: time::Duration,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        // One statement: rows another worker is claiming are skipped, not
        // waited for, and a row claimed meanwhile is no longer due when it
        // is re-read, so no two claims return one email within a lease. The
        // fresh token fences the claim: once it is replaced, the worker
        // holding the old one can no longer renew, reschedule or
        // dead-letter these rows.
        let token = uuid::Uuid::now_v7();
        let columns: String = MAIL_COLUMNS
            .split(", ")
            .map(|c| format!("o.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(self.names.sql(&format!(
            "WITH due AS (SELECT id, next_attempt_at AS due_at FROM {{s}}.{{p}}outbox \
               WHERE next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT $1 \
               FOR UPDATE SKIP LOCKED) \
             UPDATE {{s}}.{{p}}outbox o \
               SET next_attempt_at = now() + $2 * interval '1 microsecond', claim_token = $3 \
               FROM due WHERE o.id = due.id \
             RETURNING {columns}, due.due_at"
        )))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(micros(lease))
        .bind(token)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let due_at: OffsetDateTime = row.try_get("due_at").map_err(db)?;
                let mut mail = mail_from(row)?;
                mail.claim = Some(token);
                Ok((due_at, mail))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        claimed.sort_by_key(|(due_at, mail)| (*due_at, mail.email.id));
        Ok(claimed.into_iter().map(|(_, mail)| mail).collect())
    }

    /// Renews by the database's clock, as [`claim`](Self::claim) leases.
    pub(super) async fn renew(
        &self,
        mail: &QueuedEmail,
        lease: time::Duration,
    ) -> Result<bool, StoreError> {
        let renewed = sqlx::query(self.names.sql(&format!(
            "UPDATE {{s}}.{{p}}outbox SET next_attempt_at = now() + $3 * interval '1 microsecond' \
             WHERE {HELD}"
        )))
        .bind(mail.email.id)
        .bind(mail.claim)
        .bind(micros(lease))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(renewed.rows_affected() == 1)
    }

    pub(super) async fn reschedule(&self, mail: &QueuedEmail) -> Result<(), StoreError> {
        // No row means delivered, dead-lettered, or claimed again by another
        // worker meanwhile: nothing to do.
        sqlx::query(self.names.sql(&format!(
            "UPDATE {{s}}.{{p}}outbox SET attempts = $3, next_attempt_at = $4, last_error = $5 \
             WHERE {HELD}"
        )))
        .bind(mail.email.id)
        .bind(mail.claim)
        .bind(i64::from(mail.attempts))
        .bind(mail.next_attempt_at)
        .bind(mail.last_error.as_deref())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub(super) async fn finish(
        &self,
        mail: &QueuedEmail,
        dead_letter: Option<&str>,
    ) -> Result<(), StoreError> {
        let Some(reason) = dead_letter else {
            // Delivered: removed whoever holds it now, so that a worker
            // that claimed it since finds its claim gone and skips it.
            sqlx::query(self.names.sql("DELETE FROM {s}.{p}outbox WHERE id = $1"))
                .bind(mail.email.id)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            return Ok(());
        };
        let mut tx = self.pool.begin().await.map_err(db)?;
        let taken = sqlx::query(
            self.names
                .sql(&format!("DELETE FROM {{s}}.{{p}}outbox WHERE {HELD}")),
        )
        .bind(mail.email.id)
        .bind(mail.claim)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // Another worker holds it now and may yet deliver it.
        if taken.rows_affected() == 1 {
            let mut dead = mail.clone();
            dead.last_error = Some(reason.to_owned());
            let sql = self.names.sql(&format!(
                "INSERT INTO {{s}}.{{p}}dead_letters ({MAIL_COLUMNS}) VALUES ({DEAD_VALUES}) \
                 ON CONFLICT (id) DO UPDATE SET last_error = excluded.last_error, \
                 attempts = excluded.attempts, dead_at = now()"
            ));
            bind_mail(sqlx::query(sql), &dead)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub(super) async fn count_pending(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(self.names.sql("SELECT count(*) FROM {s}.{p}outbox"))
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(super) async fn list_dead_letters(
        &self,
        limit: usize,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        let rows = sqlx::query(self.names.sql(&format!(
            "SELECT {MAIL_COLUMNS} FROM {{s}}.{{p}}dead_letters ORDER BY id LIMIT $1"
        )))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(mail_from).collect()
    }
}
