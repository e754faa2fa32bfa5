//! A [`Store`] on PostgreSQL (feature `postgres`), for apps whose users
//! belong in the database they already run, and for several server
//! instances sharing one database.
//!
//! Built on [sqlx](https://docs.rs/sqlx) with runtime-checked queries: an
//! app hands over the [`PgPool`] it already has ([`PostgresStore::from_pool`])
//! or a URL ([`PostgresStore::connect`]). TLS is not compiled in; connect
//! over a private network or a local socket, or give a pool of your own.
//!
//! # Schema
//!
//! Every table lives in one schema (default `tower_users`), and every table
//! and index name starts with an optional prefix (default none); see
//! [`PostgresConfig`]. Opening the store creates the schema if it is missing
//! and applies the embedded migrations it lacks, in one READ COMMITTED
//! transaction under an advisory lock, so instances starting together do
//! not race. Its version is
//! in `schema_migrations`; a database migrated by a newer tower-users is
//! refused. Version 4, with the default names:
//!
//! | table | holds | key |
//! | --- | --- | --- |
//! | `tower_users.users` | one row per account: `id uuid`, `email text` (normalized, unique index `users_email_key`), `password_hash`, `password_version bigint`, `is_active`, `is_verified`, `is_superuser`, `created_at timestamptz`, `pending_email`, `profile json`, `username text` (normalized, nullable, unique index `users_username_key`; version 4), `roles text[]` (the roles held, read with the user on every request) (version 5) | `id` |
//! | `tower_users.sessions` | login sessions: `user_id` → `users` (cascade), `password_version`, `created_at`, `expires_at`, `authenticated_at` (when the password was last proved in it; version 6) | `id` |
//! | `tower_users.refresh_tokens` | SHA-256 digests of refresh tokens, `spent` kept for reuse detection; `session_id` → `sessions` (cascade) | `digest` |
//! | `tower_users.spent_tokens` | single-use tokens already spent, until they expire | `id` |
//! | `tower_users.outbox` | emails waiting to be sent; `claim_token uuid` names the worker claim that holds one (version 2) | `id` |
//! | `tower_users.dead_letters` | emails given up on | `id` |
//! | `tower_users.login_failures` | failed-login counters per account (and client); the key is UTF-8 `bytea`, as it holds NUL separators | `key` |
//! | `tower_users.secrets` | the generated signing secret | `name` |
//! | `tower_users.rate_limits` | rate-limit buckets shared by every instance (version 3): `tat bigint`, the GCRA theoretical arrival time in Unix microseconds, and `passed`, the last charge's verdict; idle ones are deleted a few at a time | `key` |
//!
//! An app's own tables may reference an account:
//!
//! ```sql
//! CREATE TABLE orders (
//!     id bigserial PRIMARY KEY,
//!     user_id uuid NOT NULL REFERENCES tower_users.users (id) ON DELETE CASCADE
//! );
//! ```
//!
//! Use `ON DELETE CASCADE` or `SET NULL`: a plain reference makes deleting
//! the user fail. Treat the tables as tower-users' own: read them freely,
//! write them only through the library.
//!
//! # Guarantees
//!
//! Each [`Store`] method is one statement or one transaction, correct at
//! the default READ COMMITTED and at SERIALIZABLE (the tests run the suite
//! at both); serialization failures and deadlocks are retried a few times.
//! the email's and the username's uniqueness are unique indexes; an update
//! locks the user row, compares the whole record, and in the same
//! transaction spends its single-use token (a primary key), ends sessions
//! and queues its mail; a refresh token is locked while it is spent, so one
//! of two concurrent presentations rotates and the other is seen as reuse;
//! failed logins are counted by one upsert. Removing an active superuser
//! takes a transaction-level advisory lock before checking that another
//! remains, so two demoting each other cannot both succeed. Outbox workers
//! claim mail with a lease (`FOR UPDATE SKIP LOCKED`), so instances sharing
//! the database never claim one email twice; leases and due times run by
//! the database's clock (`now()`), not the caller's, so instances whose
//! clocks disagree still agree on when a lease ends; and under a token that a
//! later claim replaces, so a worker that outlived its lease can neither
//! send nor reschedule an email another worker now holds.
//! [`session_with_user`](Store::session_with_user), the hot path of every
//! authenticated request, is one indexed join in one round trip; lookups
//! waiting at the same moment share that round trip (one query for all of
//! them), so under load the database answers many per query.

mod hot;
mod lockouts;
mod lookups;
mod outbox;
mod rate_limits;
mod rows;
mod schema;
mod sessions;
mod users;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::Connection as _;
pub use sqlx::PgPool;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::postgres::PgConnection;
pub use sqlx::postgres::PgPoolOptions;
use time::OffsetDateTime;

use self::schema::Names;
use super::{
    LoginFailures, QueuedEmail, Rotation, Session, SessionId, Store, StoreError, TokenDigest,
    UserUpdate,
};
use crate::user::{Email, User, UserId};
use crate::username::Username;

/// Where a [`PostgresStore`] keeps its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    schema: String,
    table_prefix: String,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            schema: "tower_users".into(),
            table_prefix: String::new(),
        }
    }
}

impl PostgresConfig {
    /// The schema holding the tables (default `tower_users`), created if
    /// missing. Lower-case ASCII letters, digits and `_` only.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// A prefix for every table and index name (default none), e.g. `tu_`
    /// for `tu_users`. Same characters as the schema.
    #[must_use]
    pub fn table_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.table_prefix = prefix.into();
        self
    }
}

/// A [`Store`] on PostgreSQL; see the [module docs](self) for the schema.
/// Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    names: Arc<Names>,
    /// Set once the schema is migrated: at construction, or for
    /// [`lazy`](PostgresStore::lazy) at the first operation.
    migrated: Arc<tokio::sync::OnceCell<()>>,
    /// Rate-limit charges so far, to prune idle buckets every so often.
    charges: Arc<std::sync::atomic::AtomicU32>,
    /// Session lookups, gathered into shared queries (see the `lookups`
    /// module); their connections are handed from query to query only on
    /// a pool of our own (see the `hot` module).
    lookups: Arc<lookups::Lookups>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// Wraps a sqlx error.
fn db(err: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(err))
}

/// The SQLSTATE of a database error, if it is one.
fn sqlstate(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// Whether running the transaction again may succeed: a serialization
/// failure (at SERIALIZABLE, or on CockroachDB) or a deadlock that
/// PostgreSQL broke by aborting this side.
fn retryable(err: &StoreError) -> bool {
    let StoreError::Backend(source) = err else {
        return false;
    };
    if let Some(shared) = source.downcast_ref::<lookups::Shared>() {
        return retryable(shared.inner());
    }
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(sqlstate)
        .is_some_and(|code| code == "40001" || code == "40P01")
}

/// sqlx's default pool size, which [`PostgresStore::connect`] keeps for
/// everything but session lookups.
const POOL_CONNECTIONS: u32 = 10;

/// How many connections session lookups may keep aside on a pool made by
/// [`PostgresStore::connect`]: one per lookup query that may run at once.
const HOT_CONNECTIONS: usize = lookups::IN_FLIGHT;

/// How long a pooled connection may sit idle and still be handed out
/// untested; see [`PostgresStore::pool_options`].
const UNTESTED_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// The pool's check before handing out a connection: a round trip only
/// for one idle for [`UNTESTED_IDLE`] or more.
fn ping_if_idle(
    conn: &mut PgConnection,
    meta: PoolConnectionMetadata,
) -> Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        if meta.idle_for >= UNTESTED_IDLE {
            conn.ping().await?;
        }
        Ok(true)
    })
}

/// How often a transaction is tried before its serialization failure is
/// returned.
const ATTEMPTS: u32 = 5;

/// Runs a transactional operation again while it fails retryably.
macro_rules! retrying {
    ($op:expr) => {{
        let mut attempt = 1;
        loop {
            match $op.await {
                Err(err) if attempt < ATTEMPTS && retryable(&err) => {
                    // A little longer each time, so that the transactions
                    // that collided do not collide again in lockstep.
                    let pause = std::time::Duration::from_millis(u64::from(attempt) * 3);
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => break other,
            }
        }
    }};
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host/db`) with a pool
    /// from [`pool_options`](Self::pool_options) and the default
    /// [`PostgresConfig`], and migrates.
    ///
    /// On this pool, which is the store's own, session lookup queries
    /// (every authenticated request) hand a connection that has just
    /// answered to the next such query for up to a second, rather than back
    /// to the pool, which tests it with one more round trip each time. The
    /// pool has room for those (two) beside the 10 connections of sqlx's
    /// default.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = Self::pool_options()
            .max_connections(POOL_CONNECTIONS + HOT_CONNECTIONS as u32)
            .connect(url)
            .await
            .map_err(db)?;
        let mut store = Self::from_pool_with(pool, PostgresConfig::default()).await?;
        let hot = hot::Hot::new(HOT_CONNECTIONS, store.pool.clone());
        store.lookups = Arc::new(lookups::Lookups::new(store.pool.clone(), &store.names, hot));
        Ok(store)
    }

    /// sqlx's default pool options (10 connections at most), except that a
    /// connection is tested before it is handed out only if it sat idle
    /// for a second or more, for an app building its own pool for
    /// [`from_pool`](Self::from_pool).
    ///
    /// sqlx's default tests every connection before handing it out, and
    /// always again as it comes back: for the one query of an
    /// authenticated request, three round trips, two of them before the
    /// answer; with these options two, one before the answer. The test on
    /// return, which sqlx always makes, already shows that a connection in
    /// constant use is alive; one idle long enough to have been dropped by
    /// the server, a proxy or a firewall is still tested first.
    pub fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .test_before_acquire(false)
            .before_acquire(ping_if_idle)
    }

    /// Uses the app's own pool with the default [`PostgresConfig`], and
    /// migrates.
    pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        Self::from_pool_with(pool, PostgresConfig::default()).await
    }

    /// Uses the app's own pool with tables where `config` says, and
    /// migrates.
    pub async fn from_pool_with(pool: PgPool, config: PostgresConfig) -> Result<Self, StoreError> {
        let store = Self::lazy(pool, config)?;
        store.ready().await?;
        Ok(store)
    }

    /// Uses `pool` without touching the database yet, for code that must
    /// build its state synchronously (pair it with sqlx's
    /// `PgPoolOptions::connect_lazy`). The first operation migrates, and
    /// fails if migrating does.
    pub fn lazy(pool: PgPool, config: PostgresConfig) -> Result<Self, StoreError> {
        let names = Names::new(&config.schema, &config.table_prefix)?;
        Ok(PostgresStore {
            lookups: Arc::new(lookups::Lookups::new(
                pool.clone(),
                &names,
                hot::Hot::none(),
            )),
            pool,
            names: Arc::new(names),
            migrated: Arc::new(tokio::sync::OnceCell::new()),
            charges: Arc::default(),
        })
    }

    /// Migrates the schema once; afterwards one atomic load.
    async fn ready(&self) -> Result<(), StoreError> {
        self.migrated
            .get_or_try_init(|| schema::migrate(&self.pool, &self.names))
            .await
            .map(|_| ())
    }

    /// How session lookups stand (queries sent, turns held, lookups
    /// queued), for tests of the shared lookups.
    #[cfg(any(test, feature = "test-util"))]
    #[doc(hidden)]
    pub fn lookup_stats(&self) -> lookups::LookupStats {
        self.lookups.stats()
    }

    /// The pool this store uses, for the app's own queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Store for PostgresStore {
    async fn create_user(&self, user: &User, mail: Option<&QueuedEmail>) -> Result<(), StoreError> {
        self.ready().await?;
        retrying!(self.insert_user(user, mail))
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.ready().await?;
        retrying!(self.user_by_id(id))
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.ready().await?;
        retrying!(self.find_user_by_email(email))
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.ready().await?;
        retrying!(self.find_user_by_username(username))
    }

    async fn update_user(&self, update: UserUpdate) -> Result<(), StoreError> {
        self.ready().await?;
        retrying!(self.apply_update(&update))
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.ready().await?;
        retrying!(self.remove_user(id))
    }

    async fn list_users(
        &self,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<User>, StoreError> {
        self.ready().await?;
        retrying!(self.page_users(after, limit))
    }

    async fn create_session(
        &self,
        session: &Session,
        refresh: TokenDigest,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        retrying!(self.insert_session(session, refresh))
    }

    async fn session_with_user(
        &self,
        id: SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<(Session, User)>, StoreError> {
        self.ready().await?;
        retrying!(self.lookups.find(id, now))
    }

    async fn rotate_refresh(
        &self,
        presented: TokenDigest,
        next: TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        self.ready().await?;
        retrying!(self.rotate(presented, next, now))
    }

    async fn delete_session(&self, id: SessionId) -> Result<(), StoreError> {
        self.ready().await?;
        retrying!(self.remove_session(id))
    }

    async fn reauthenticate_session(
        &self,
        id: SessionId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        retrying!(self.stamp_session(id, at))
    }

    async fn enqueue_mail(&self, mail: &QueuedEmail) -> Result<(), StoreError> {
        self.ready().await?;
        retrying!(self.insert_mail(mail))
    }

    async fn due_mail(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        self.ready().await?;
        retrying!(self.mail_due(now, limit))
    }

    /// Leases by the database's clock: the caller's `now` is not used.
    async fn claim_mail(
        &self,
        _now: OffsetDateTime,
        limit: usize,
        lease: time::Duration,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        self.ready().await?;
        retrying!(self.claim(limit, lease))
    }

    /// Renews by the database's clock: the caller's `now` is not used.
    async fn renew_claim(
        &self,
        mail: &QueuedEmail,
        _now: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        retrying!(self.renew(mail, lease))
    }

    async fn reschedule_mail(&self, mail: &QueuedEmail) -> Result<(), StoreError> {
        self.ready().await?;
        retrying!(self.reschedule(mail))
    }

    async fn finish_mail(
        &self,
        mail: &QueuedEmail,
        dead_letter: Option<&str>,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        retrying!(self.finish(mail, dead_letter))
    }

    async fn pending_mail(&self) -> Result<u64, StoreError> {
        self.ready().await?;
        retrying!(self.count_pending())
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<QueuedEmail>, StoreError> {
        self.ready().await?;
        retrying!(self.list_dead_letters(limit))
    }

    async fn login_failures(
        &self,
        key: &str,
        forget_before: OffsetDateTime,
    ) -> Result<Option<LoginFailures>, StoreError> {
        self.ready().await?;
        retrying!(self.failures(key, forget_before))
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Result<LoginFailures, StoreError> {
        self.ready().await?;
        retrying!(self.count_failure(key, now, forget_before))
    }

    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        self.ready().await?;
        retrying!(self.clear_failures(key))
    }

    async fn rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        burst: u32,
        per: time::Duration,
    ) -> Result<Option<time::Duration>, StoreError> {
        self.ready().await?;
        retrying!(self.charge_bucket(key, now, burst, per))
    }

    async fn get_or_create_secret(
        &self,
        name: &str,
        make: Vec<u8>,
    ) -> Result<(Vec<u8>, bool), StoreError> {
        self.ready().await?;
        retrying!(self.secret(name, &make))
    }
}
