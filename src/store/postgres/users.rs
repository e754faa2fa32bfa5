//! Users: create, read, the compare-and-swap update, delete, and the
//! last-superuser rule.

use sqlx::{Postgres, Transaction};

use super::rows::{USER_COLUMNS, profile_json, roles_array, to_i64, user_from};
use super::{PostgresStore, db, sqlstate};
use crate::store::{QueuedEmail, StoreError, UserUpdate};
use crate::user::{Email, User, UserId};
use crate::username::Username;

/// PostgreSQL's SQLSTATE for a unique-index violation.
const UNIQUE_VIOLATION: &str = "23505";

impl PostgresStore {
    /// A unique violation on the email index becomes `EmailTaken`, one on
    /// the username index `UsernameTaken`.
    fn email_taken_or(&self, err: sqlx::Error) -> StoreError {
        if sqlstate(&err).as_deref() != Some(UNIQUE_VIOLATION) {
            return db(err);
        }
        let index = err.as_database_error().and_then(|e| e.constraint());
        if index == Some(self.names.email_index().as_str()) {
            StoreError::EmailTaken
        } else if index == Some(self.names.username_index().as_str()) {
            StoreError::UsernameTaken
        } else {
            db(err)
        }
    }

    pub(super) async fn insert_user(
        &self,
        user: &User,
        mail: Option<&QueuedEmail>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Two registrations of one address both reach this insert; the
        // unique index makes the second wait for the first and then fail.
        sqlx::query(self.names.sql(
            "INSERT INTO {s}.{p}users (id, email, password_hash, password_version, is_active, \
             is_verified, is_superuser, created_at, pending_email, profile, roles, username) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::json, $11, $12)",
        ))
        .bind(user.id.0)
        .bind(user.email.as_str())
        .bind(&user.password_hash)
        .bind(to_i64(user.password_version)?)
        .bind(user.is_active)
        .bind(user.is_verified)
        .bind(user.is_superuser)
        .bind(user.created_at)
        .bind(user.pending_email.as_ref().map(Email::as_str))
        .bind(profile_json(user)?)
        .bind(roles_array(user))
        .bind(user.username.as_ref().map(Username::as_str))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.email_taken_or(e))?;
        if let Some(mail) = mail {
            self.insert_mail_in(&mut tx, mail).await?;
        }
        tx.commit().await.map_err(db)
    }

    pub(super) async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(self.names.sql(&format!(
            "SELECT {USER_COLUMNS} FROM {{s}}.{{p}}users u WHERE u.id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(user_from).transpose()
    }

    pub(super) async fn find_user_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(self.names.sql(&format!(
            "SELECT {USER_COLUMNS} FROM {{s}}.{{p}}users u WHERE u.email = $1"
        )))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(user_from).transpose()
    }

    pub(super) async fn find_user_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(self.names.sql(&format!(
            "SELECT {USER_COLUMNS} FROM {{s}}.{{p}}users u WHERE u.username = $1"
        )))
        .bind(username.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(user_from).transpose()
    }

    pub(super) async fn page_users(
        &self,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<User>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // From the nil id (below every UUIDv7) when starting: a plain range
        // on the primary key, which the index serves page by page.
        let rows = sqlx::query(self.names.sql(&format!(
            "SELECT {USER_COLUMNS} FROM {{s}}.{{p}}users u \
             WHERE u.id > $1 ORDER BY u.id LIMIT $2"
        )))
        .bind(after.map_or(uuid::Uuid::nil(), |a| a.0))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(user_from).collect()
    }

    /// The user, locked until the transaction ends.
    async fn lock_user(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        id: UserId,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(self.names.sql(&format!(
            "SELECT {USER_COLUMNS} FROM {{s}}.{{p}}users u WHERE u.id = $1 FOR UPDATE"
        )))
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
        row.as_ref().map(user_from).transpose()
    }

    /// Refuses (with `LastSuperuser`) to let `before` stop being an active
    /// superuser when no other active one remains. Removals take one
    /// advisory lock, held to the end of the transaction, so each sees the
    /// ones committed before it: two superusers demoting each other cannot
    /// both see the other still standing.
    async fn keep_a_superuser(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        before: &User,
        after: Option<&User>,
    ) -> Result<(), StoreError> {
        let active = |u: &User| u.is_active && u.is_superuser;
        if !active(before) || after.is_some_and(active) {
            return Ok(());
        }
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(self.names.superuser_lock())
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        let another: bool = sqlx::query_scalar(self.names.sql(
            "SELECT EXISTS (SELECT 1 FROM {s}.{p}users \
             WHERE is_active AND is_superuser AND id <> $1)",
        ))
        .bind(before.id.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
        if another {
            Ok(())
        } else {
            Err(StoreError::LastSuperuser)
        }
    }

    pub(super) async fn apply_update(&self, update: &UserUpdate) -> Result<(), StoreError> {
        let new = &update.user;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(current) = self.lock_user(&mut tx, new.id).await? else {
            return Err(StoreError::NotFound);
        };
        // The whole record, compared in Rust exactly as the redb store does,
        // while the row lock keeps it from changing underneath.
        if current != update.expected {
            return Err(StoreError::Conflict);
        }
        self.keep_a_superuser(&mut tx, &current, Some(new)).await?;
        sqlx::query(self.names.sql(
            "UPDATE {s}.{p}users SET email = $2, password_hash = $3, password_version = $4, \
             is_active = $5, is_verified = $6, is_superuser = $7, created_at = $8, \
             pending_email = $9, profile = $10::json, roles = $11, username = $12 WHERE id = $1",
        ))
        .bind(new.id.0)
        .bind(new.email.as_str())
        .bind(&new.password_hash)
        .bind(to_i64(new.password_version)?)
        .bind(new.is_active)
        .bind(new.is_verified)
        .bind(new.is_superuser)
        .bind(new.created_at)
        .bind(new.pending_email.as_ref().map(Email::as_str))
        .bind(profile_json(new)?)
        .bind(roles_array(new))
        .bind(new.username.as_ref().map(Username::as_str))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.email_taken_or(e))?;
        if let Some(token) = update.spend {
            // A concurrent spender of the same token waits on this row and
            // then inserts nothing.
            let spent = sqlx::query(self.names.sql(
                "INSERT INTO {s}.{p}spent_tokens (id, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO NOTHING",
            ))
            .bind(token.id)
            .bind(token.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if spent.rows_affected() == 0 {
                return Err(StoreError::TokenSpent);
            }
            self.prune_spent_tokens(&mut tx).await?;
        }
        if update.revoke_sessions {
            sqlx::query(
                self.names.sql(
                    "DELETE FROM {s}.{p}sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2",
                ),
            )
            .bind(new.id.0)
            .bind(update.keep_session.map(|k| k.0))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if let Some(keep) = update.keep_session {
                sqlx::query(self.names.sql(
                    "UPDATE {s}.{p}sessions SET password_version = $3 \
                     WHERE id = $1 AND user_id = $2",
                ))
                .bind(keep.0)
                .bind(new.id.0)
                .bind(to_i64(new.password_version)?)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
        }
        for mail in &update.mail {
            self.insert_mail_in(&mut tx, mail).await?;
        }
        tx.commit().await.map_err(db)
    }

    /// Clears a few expired spent tokens, oldest first, skipping rows
    /// another writer is clearing: the table stays bounded without a
    /// sweeper task.
    async fn prune_spent_tokens(
        &self,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<(), StoreError> {
        sqlx::query(self.names.sql(
            "DELETE FROM {s}.{p}spent_tokens WHERE id IN (SELECT id FROM {s}.{p}spent_tokens \
             WHERE expires_at < now() ORDER BY expires_at LIMIT 32 FOR UPDATE SKIP LOCKED)",
        ))
        .execute(&mut **tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub(super) async fn remove_user(&self, id: UserId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(current) = self.lock_user(&mut tx, id).await? else {
            return Ok(false);
        };
        self.keep_a_superuser(&mut tx, &current, None).await?;
        // Sessions and their refresh tokens go by ON DELETE CASCADE.
        sqlx::query(self.names.sql("DELETE FROM {s}.{p}users WHERE id = $1"))
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}
