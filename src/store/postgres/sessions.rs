//! Sessions and refresh-token rotation.

use time::OffsetDateTime;

use super::rows::{SESSION_COLUMNS, session_from, to_i64};
use super::{PostgresStore, db};
use crate::store::{Rotation, Session, SessionId, StoreError, TokenDigest};

impl PostgresStore {
    pub(super) async fn insert_session(
        &self,
        session: &Session,
        refresh: TokenDigest,
    ) -> Result<(), StoreError> {
        // One statement. FOR SHARE waits for a password change or
        // deactivation in flight and then re-reads the user, so a login
        // that was hashing meanwhile starts no session for a stale user.
        let inserted = sqlx::query(self.names.sql(
            "WITH s AS (\
                INSERT INTO {s}.{p}sessions \
                (id, user_id, password_version, created_at, expires_at, authenticated_at) \
                SELECT $1, u.id, $3, $4, $5, $7 FROM {s}.{p}users u \
                WHERE u.id = $2 AND u.password_version = $3 AND u.is_active FOR SHARE \
                RETURNING id) \
             INSERT INTO {s}.{p}refresh_tokens (digest, session_id, spent) \
             SELECT $6, id, false FROM s",
        ))
        .bind(session.id.0)
        .bind(session.user_id.0)
        .bind(to_i64(session.password_version)?)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(refresh.0.as_slice())
        .bind(session.authenticated_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        // Housekeeping on the side, not part of the guarantee: a few expired
        // sessions (and, by cascade, their tokens), skipping locked ones.
        // Best effort: the session above is committed, and failing (or
        // retrying, which would insert it again) over a prune that the next
        // login redoes would be wrong.
        let pruned = sqlx::query(self.names.sql(
            "DELETE FROM {s}.{p}sessions WHERE id IN (SELECT id FROM {s}.{p}sessions \
             WHERE expires_at <= now() ORDER BY expires_at LIMIT 32 FOR UPDATE SKIP LOCKED)",
        ))
        .execute(&self.pool)
        .await;
        if let Err(err) = pruned {
            tracing::warn!(error = %err, "postgres store: could not prune expired sessions");
        }
        Ok(())
    }

    pub(super) async fn rotate(
        &self,
        presented: TokenDigest,
        next: TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The session row first, then its token: the order in which a
        // password change deletes them (sessions, then tokens by cascade),
        // so the two never deadlock. A second presentation of the same token
        // waits here for the first to commit.
        let row = sqlx::query(self.names.sql(&format!(
            "SELECT {SESSION_COLUMNS} FROM {{s}}.{{p}}sessions s WHERE s.id = \
             (SELECT session_id FROM {{s}}.{{p}}refresh_tokens WHERE digest = $1) FOR UPDATE"
        )))
        .bind(presented.0.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(Rotation::Unknown);
        };
        let session = session_from(&row)?;
        // A statement of its own, so that (at READ COMMITTED) it reads what
        // the presentation we waited for committed.
        let spent: Option<bool> = sqlx::query_scalar(
            self.names
                .sql("SELECT spent FROM {s}.{p}refresh_tokens WHERE digest = $1"),
        )
        .bind(presented.0.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(spent) = spent else {
            return Ok(Rotation::Unknown);
        };
        let ended = if session.expires_at <= now {
            Some(Rotation::Unknown)
        } else if spent {
            // A spent token came back: the client or a thief holds a copy.
            // Ending the session locks both out.
            Some(Rotation::Reused)
        } else {
            None
        };
        if let Some(outcome) = ended {
            sqlx::query(self.names.sql("DELETE FROM {s}.{p}sessions WHERE id = $1"))
                .bind(session.id.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
            return Ok(outcome);
        }
        sqlx::query(self.names.sql(
            "WITH spent AS (UPDATE {s}.{p}refresh_tokens SET spent = true WHERE digest = $1) \
             INSERT INTO {s}.{p}refresh_tokens (digest, session_id, spent) \
             VALUES ($2, $3, false)",
        ))
        .bind(presented.0.as_slice())
        .bind(next.0.as_slice())
        .bind(session.id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Rotation::Rotated(session))
    }

    pub(super) async fn stamp_session(
        &self,
        id: SessionId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let stamped = sqlx::query(self.names.sql(
            "UPDATE {s}.{p}sessions SET authenticated_at = GREATEST(authenticated_at, $2) \
             WHERE id = $1 AND expires_at > $2",
        ))
        .bind(id.0)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(stamped.rows_affected() == 1)
    }

    pub(super) async fn remove_session(&self, id: SessionId) -> Result<(), StoreError> {
        // Its refresh tokens go by ON DELETE CASCADE.
        sqlx::query(self.names.sql("DELETE FROM {s}.{p}sessions WHERE id = $1"))
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
