//! Persistence: the [`Store`] trait, its embedded redb implementation, and
//! (feature `postgres`) `PostgresStore`.
//!
//! The trait speaks only domain types. Every guarantee the lifecycle relies on
//! (email uniqueness, single-use tokens, refresh rotation with reuse
//! detection, "a password change kills every session") is a single store
//! operation, so a network database can implement it atomically too. The
//! `store_conformance!` macro (feature `test-util`) runs the same cases
//! against any implementation.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use tower_users::{store::Store, Email, RedbStore, User};
//!
//! let store = RedbStore::in_memory().unwrap();
//! let user = User::new(Email::parse("a@example.com").unwrap(), "hash".into());
//! store.create_user(&user, None).await.unwrap();
//! let found = store.user_by_email(&user.email).await.unwrap();
//! assert_eq!(found.map(|u| u.id), Some(user.id));
//! # });
//! ```

mod conformance;
mod conformance_usernames;
mod dyn_store;
mod gcra;
#[cfg(feature = "postgres")]
pub mod postgres;
mod redb;

use std::future::Future;

use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) use dyn_store::DynStore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresConfig, PostgresStore};
pub use redb::RedbStore;

use crate::mail::OutgoingEmail;
use crate::user::{Email, User, UserId};
use crate::username::Username;

/// A failure of a store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Create or update would give two users one email.
    #[error("email already taken")]
    EmailTaken,
    /// Create or update would give two users one username.
    #[error("username already taken")]
    UsernameTaken,
    /// The compare-and-swap lost: the stored record changed since it was read.
    #[error("the user changed concurrently")]
    Conflict,
    /// The single-use token was already spent.
    #[error("token already spent")]
    TokenSpent,
    /// The user or session does not exist.
    #[error("not found")]
    NotFound,
    /// The change would leave no active superuser: it took away the last
    /// one's `is_superuser` or `is_active`, or deleted it.
    #[error("the last active superuser cannot be removed")]
    LastSuperuser,
    /// The backend failed; the source is kept for logs.
    #[error("store backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Backend(err.into())
    }
}

/// A session's id, named by the access tokens issued for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub Uuid);

impl SessionId {
    /// A new random, time-ordered id.
    pub fn new() -> Self {
        SessionId(Uuid::now_v7())
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

/// The SHA-256 digest of an opaque token. Only digests are stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub [u8; 32]);

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(..)")
    }
}

/// A login session: one device's refresh chain. Times have whole-second
/// precision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// The user's `password_version` when the session began; a password
    /// change makes the session dead even before it is deleted.
    pub password_version: u64,
    /// When the session began.
    pub created_at: OffsetDateTime,
    /// When the session (and so its refresh token) expires.
    pub expires_at: OffsetDateTime,
    /// When its user last proved the password in it: at login, then at
    /// each re-authentication. Sensitive changes need it recent (see
    /// [`UsersBuilder::with_reauthentication_window`](crate::UsersBuilder::with_reauthentication_window));
    /// a refresh keeps it, as a refresh token proves no password.
    pub authenticated_at: OffsetDateTime,
}

/// A single-use token being spent, recorded until it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpentToken {
    /// The token's unique id (`jti`).
    pub id: Uuid,
    /// When the token would have expired anyway; the record may go after it.
    pub expires_at: OffsetDateTime,
}

/// An email in the outbox, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueuedEmail {
    /// The rendered email; its `id` keys the outbox row.
    pub email: OutgoingEmail,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When it was queued (whole seconds); it is dead-lettered once older
    /// than the outbox's maximum age.
    pub created_at: OffsetDateTime,
    /// When the worker should next try it (whole seconds).
    pub next_attempt_at: OffsetDateTime,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// A stand-in queued for an unknown address, so that the request costs
    /// the same as a real one; the worker drops it without sending.
    pub decoy: bool,
    /// The claim this copy was returned under by
    /// [`claim_mail`](Store::claim_mail), if the store fences claims: while
    /// set, [`renew_claim`](Store::renew_claim),
    /// [`reschedule_mail`](Store::reschedule_mail) and dead-lettering act
    /// only if the email is still held under it, so a worker whose lease
    /// ran out and was claimed again by another cannot undo that one's
    /// work. `None` (a store one process owns, or a copy not from a claim)
    /// acts on the email by id.
    pub claim: Option<Uuid>,
}

impl QueuedEmail {
    /// A new outbox entry, due at once.
    pub fn new(email: OutgoingEmail) -> Self {
        let now = crate::user::now_seconds();
        QueuedEmail {
            email,
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            last_error: None,
            decoy: false,
            claim: None,
        }
    }
}

/// A compare-and-swap update of a user, applied in one transaction.
///
/// The whole record is compared, not one field: two writers that read the
/// same user cannot both win, so neither undoes the other's change.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UserUpdate {
    /// The new state of the user.
    pub user: User,
    /// The user as the caller read it; the update fails with
    /// [`StoreError::Conflict`] if the stored one differs in any field.
    pub expected: User,
    /// A single-use token spent by this change: fails with
    /// [`StoreError::TokenSpent`] if already spent.
    pub spend: Option<SpentToken>,
    /// Delete every session of the user in the same transaction.
    pub revoke_sessions: bool,
    /// With `revoke_sessions`: the one session to keep (the caller's own),
    /// moved to the user's new `password_version`.
    pub keep_session: Option<SessionId>,
    /// Emails caused by this change, queued in the same transaction.
    pub mail: Vec<QueuedEmail>,
}

impl UserUpdate {
    /// Replace `before` (as read) with `after`.
    pub fn new(before: &User, after: User) -> Self {
        UserUpdate {
            user: after,
            expected: before.clone(),
            spend: None,
            revoke_sessions: false,
            keep_session: None,
            mail: Vec::new(),
        }
    }

    /// Also spend `token` in the same transaction.
    #[must_use]
    pub fn spending(mut self, token: SpentToken) -> Self {
        self.spend = Some(token);
        self
    }

    /// Also queue `mail` in the same transaction.
    #[must_use]
    pub fn queuing(mut self, mail: QueuedEmail) -> Self {
        self.mail.push(mail);
        self
    }

    /// Also delete all of the user's sessions but `keep`, which lives on
    /// under the new `password_version`.
    #[must_use]
    pub fn revoking_sessions_except(mut self, keep: SessionId) -> Self {
        self.revoke_sessions = true;
        self.keep_session = Some(keep);
        self
    }

    /// Also delete all of the user's sessions in the same transaction.
    #[must_use]
    pub fn revoking_sessions(mut self) -> Self {
        self.revoke_sessions = true;
        self
    }
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now spent and `next` is the current one.
    Rotated(Session),
    /// The token had already been spent: someone replayed it, so the whole
    /// session has been revoked.
    Reused,
    /// No live session knows this token.
    Unknown,
}

/// Failed logins recorded against one account key (the normalized email,
/// whether or not an account has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    /// Consecutive failures.
    pub count: u32,
    /// When the last one happened (whole seconds).
    pub last_failure: OffsetDateTime,
}

/// Where users and sessions live.
///
/// Implementations must make each method atomic. Methods taking `now`
/// filter out anything expired at that instant, so expiry is enforced in one
/// place and testable with a fixed clock.
///
/// Once there is an active superuser (`is_active` and `is_superuser`), one
/// always remains: [`update_user`](Store::update_user) and
/// [`delete_user`](Store::delete_user) fail with
/// [`StoreError::LastSuperuser`] (and write nothing) when they would take
/// away the last one. The check must share the change's transaction, so
/// that two superusers demoting each other at once cannot both succeed.
pub trait Store: Send + Sync + 'static {
    /// Inserts a new user, and queues `mail` in the same transaction;
    /// [`StoreError::EmailTaken`] (and nothing written) if the email is in
    /// use, [`StoreError::UsernameTaken`] if its username is.
    fn create_user(
        &self,
        user: &User,
        mail: Option<&QueuedEmail>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user with this id, if any.
    fn user(&self, id: UserId) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// The user with this (normalized) email, if any.
    fn user_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// The user with this (normalized) username, if any.
    ///
    /// Usernames are unique like emails: [`create_user`](Store::create_user)
    /// and [`update_user`](Store::update_user) must refuse, in the write's
    /// own transaction, a username another user holds
    /// ([`StoreError::UsernameTaken`]), and a user's old username is free
    /// again once it changes or clears its own, or is deleted. No default
    /// body: a store that ignored usernames would let two users share one.
    fn user_by_username(
        &self,
        username: &Username,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Applies `update` atomically; see [`UserUpdate`] for the guarantees.
    /// Fails with [`StoreError::LastSuperuser`] if it would demote or
    /// deactivate the last active superuser, with
    /// [`StoreError::EmailTaken`] or [`StoreError::UsernameTaken`] if the
    /// new email or username belongs to another user.
    fn update_user(
        &self,
        update: UserUpdate,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the user, its email, and all its sessions in one transaction;
    /// false if there was no such user. Fails with
    /// [`StoreError::LastSuperuser`] if it is the last active superuser.
    fn delete_user(&self, id: UserId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Up to `limit` users in id order (creation order, as ids are UUIDv7),
    /// starting after `after`. New users sort last, so paging with the last
    /// id seen is stable while users are added.
    fn list_users(
        &self,
        after: Option<UserId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;

    /// Stores a new session whose current refresh token has `refresh` as
    /// digest. Fails with [`StoreError::Conflict`] unless the user exists,
    /// is active and still has the session's `password_version`.
    fn create_session(
        &self,
        session: &Session,
        refresh: TokenDigest,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A live (unexpired) session and its user, read together: the hot path
    /// of every authenticated request.
    fn session_with_user(
        &self,
        id: SessionId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<(Session, User)>, StoreError>> + Send;

    /// Spends `presented` and makes `next` the session's refresh token;
    /// a second presentation of a spent token revokes the whole session.
    fn rotate_refresh(
        &self,
        presented: TokenDigest,
        next: TokenDigest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    /// Records that the user of the live session `id` proved the password
    /// at `at`: its [`authenticated_at`](Session::authenticated_at) becomes
    /// `at` (never earlier than it was). False, and nothing written, if no
    /// session `id` is live at `at`.
    fn reauthenticate_session(
        &self,
        id: SessionId,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes one session and its refresh tokens. Deleting a missing
    /// session is not an error.
    fn delete_session(&self, id: SessionId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Queues `mail` durably.
    fn enqueue_mail(
        &self,
        mail: &QueuedEmail,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` queued emails due at `now`, soonest first.
    fn due_mail(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<QueuedEmail>, StoreError>> + Send;

    /// Claims up to `limit` emails due at `now` for delivery, soonest
    /// first: the outbox worker's read. A store that several processes
    /// share must hide each claimed email from other claims until
    /// `now + lease` (moving its `next_attempt_at` there), so that two
    /// workers never send one email at once, and one claimed by a process
    /// that died is claimed again once the lease ends. A store only one
    /// process can open (redb) may return what [`due_mail`](Store::due_mail)
    /// does.
    ///
    /// `now` is the caller's clock. A store that several processes share
    /// should measure due times and leases by one clock of its own instead
    /// and ignore it, as `PostgresStore`
    /// does (the database's `now()`): instances whose clocks disagree then
    /// still agree on when a lease ends.
    fn claim_mail(
        &self,
        now: OffsetDateTime,
        limit: usize,
        lease: time::Duration,
    ) -> impl Future<Output = Result<Vec<QueuedEmail>, StoreError>> + Send;

    /// Extends the claim on `mail` to `now + lease`, just before it is
    /// sent; false if the claim no longer holds (the email was finished, or
    /// its lease ran out and another worker claimed it), and then the
    /// worker must not send it. A store one process owns (redb) answers
    /// whether the email is still queued. A store with a clock of its own
    /// extends from its own now, as [`claim_mail`](Store::claim_mail)
    /// leases.
    fn renew_claim(
        &self,
        mail: &QueuedEmail,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a failed attempt: the new `attempts`, `next_attempt_at` and
    /// `last_error` of `mail`; nothing if its [`claim`](QueuedEmail::claim)
    /// no longer holds.
    fn reschedule_mail(
        &self,
        mail: &QueuedEmail,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes `mail` out of the outbox: delivered, or (with `dead_letter`)
    /// given up on and kept in the dead-letter list with that reason.
    /// Delivered mail is removed whoever holds it now (it went out, and a
    /// worker that claimed it since then finds its claim gone and does not
    /// send it again); dead-lettering needs the
    /// [`claim`](QueuedEmail::claim) to hold, as another worker may still
    /// deliver it.
    fn finish_mail(
        &self,
        mail: &QueuedEmail,
        dead_letter: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// How many emails wait in the outbox.
    fn pending_mail(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Up to `limit` dead-lettered emails, oldest first.
    fn dead_letters(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<QueuedEmail>, StoreError>> + Send;

    /// The failed logins recorded for `key`, if any since `forget_before`.
    fn login_failures(
        &self,
        key: &str,
        forget_before: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<LoginFailures>, StoreError>> + Send;

    /// Atomically counts one more failed login for `key` at `now` and
    /// returns the new state. A record whose last failure is older than
    /// `forget_before` starts again from one; such old records may be
    /// deleted on the way.
    fn record_login_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> impl Future<Output = Result<LoginFailures, StoreError>> + Send;

    /// Forgets the failed logins of `key` (after a successful one).
    fn clear_login_failures(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Charges one request to the rate-limit bucket `key` at `now`, as one
    /// atomic step: `None` if it passes, or how long to wait before one
    /// would. The bucket allows `burst` at once and one more every `per`
    /// (GCRA: the store keeps each key's theoretical arrival time); a
    /// `burst` of zero counts as one. Stores that several processes share
    /// must decide within one statement or transaction, so that concurrent
    /// charges of an exhausted bucket from several instances cannot both
    /// pass. Idle buckets (back at a full burst) may be deleted on the way.
    fn rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        burst: u32,
        per: time::Duration,
    ) -> impl Future<Output = Result<Option<time::Duration>, StoreError>> + Send;

    /// A small named secret kept with the data (the generated signing key).
    fn get_or_create_secret(
        &self,
        name: &str,
        make: Vec<u8>,
    ) -> impl Future<Output = Result<(Vec<u8>, bool), StoreError>> + Send;
}
