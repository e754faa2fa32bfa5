//! The embedded default store: one redb file (or redb's in-memory backend).
//!
//! Reads run inline on the async worker: a read transaction with two lookups
//! costs microseconds, far less than a blocking-pool hand-off. Each state
//! change is one write transaction on the blocking pool, committed with
//! redb's default immediate durability, so a 2xx means the change is on disk.

mod codec;
mod rate_limits;
mod tables;

use std::path::Path;
use std::sync::Arc;

use ::redb::{
    Database, MultimapTable, ReadableDatabase, ReadableTable, Table, WriteTransaction,
    backends::{FileBackend, InMemoryBackend},
};
use time::OffsetDateTime;

use self::codec::{
    decode_mail, decode_session, decode_user, encode_mail, encode_session, encode_user,
};
use self::tables::*;
use super::{
    LoginFailures, QueuedEmail, Rotation, Session, SessionId, Store, StoreError, TokenDigest,
    UserUpdate,
};
use crate::user::{Email, User, UserId};
use crate::username::Username;

/// A [`Store`] on redb. Cheap to clone: clones share one database.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    /// Rate-limit charges so far, to prune idle buckets every so often.
    charges: Arc<std::sync::atomic::AtomicU32>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

/// Opens `path` for reading and writing, creating it owner-only if absent.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let file = options.open(path)?;
        let mode = file.metadata()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{mode:o}"),
                "the database file is open to other users; it holds the signing secret and \
                 password hashes: consider `chmod 600`"
            );
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.open(path)
    }
}

fn backend(err: impl Into<::redb::Error>) -> StoreError {
    StoreError::Backend(Box::new(err.into()))
}

impl RedbStore {
    /// Opens (or creates) the database file at `path`.
    ///
    /// The file holds the signing secret, password hashes and live links, so
    /// on Unix a new file is created readable and writable by its owner only
    /// (mode 0600, whatever the umask). An existing file keeps the mode it
    /// has, which the operator may have chosen (a backup group, say); if it
    /// lets anyone else read or write it, a warning says so at every open.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let file = private_file(path.as_ref()).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let db = Database::builder()
            .create_with_backend(FileBackend::new(file).map_err(backend)?)
            .map_err(backend)?;
        Self::init(db)
    }

    /// A fresh database in memory: for tests and examples.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .map_err(backend)?;
        Self::init(db)
    }

    /// Creates every table in one write transaction, so later read
    /// transactions never meet a missing table (redb#182), and checks the
    /// file's format generation.
    fn init(db: Database) -> Result<Self, StoreError> {
        let tx = db.begin_write().map_err(backend)?;
        {
            let mut meta = tx.open_table(META).map_err(backend)?;
            let format = meta
                .get("format")
                .map_err(backend)?
                .map(|v| v.value().to_vec());
            match format.as_deref() {
                Some(FORMAT) => {}
                None if is_fresh(&tx)? => {
                    meta.insert("format", FORMAT).map_err(backend)?;
                }
                _ => {
                    return Err(StoreError::backend(
                        "this database file was written by an older, incompatible version of \
                         tower-users (a pre-release format); start with a new file",
                    ));
                }
            }
            check_record_formats(&mut meta)?;
        }
        index_active_superusers(&tx)?;
        {
            tx.open_table(USERS).map_err(backend)?;
            tx.open_table(USERS_BY_EMAIL).map_err(backend)?;
            tx.open_table(USERS_BY_USERNAME).map_err(backend)?;
            tx.open_table(SESSIONS).map_err(backend)?;
            tx.open_multimap_table(USER_SESSIONS).map_err(backend)?;
            tx.open_table(REFRESH).map_err(backend)?;
            tx.open_multimap_table(SESSION_REFRESH).map_err(backend)?;
            tx.open_table(SPENT_TOKENS).map_err(backend)?;
            tx.open_table(META).map_err(backend)?;
            tx.open_table(OUTBOX).map_err(backend)?;
            tx.open_table(OUTBOX_DUE).map_err(backend)?;
            tx.open_table(DEAD_LETTERS).map_err(backend)?;
            tx.open_table(LOCKOUTS).map_err(backend)?;
            tx.open_table(LOCKOUT_AGE).map_err(backend)?;
            tx.open_table(RATE_LIMITS).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(RedbStore {
            db: Arc::new(db),
            charges: Arc::default(),
        })
    }

    /// Runs `f` in one write transaction on the blocking pool and commits
    /// only if it succeeds. A transaction is never held across an await.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let tx = db.begin_write().map_err(backend)?;
            match f(&tx) {
                Ok(value) => {
                    tx.commit().map_err(backend)?;
                    Ok(value)
                }
                Err(err) => {
                    tx.abort().map_err(backend)?;
                    Err(err)
                }
            }
        })
        .await
        .map_err(StoreError::backend)?
    }

    fn read_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let users = tx.open_table(USERS).map_err(backend)?;
        let found = users.get(id.0.as_u128()).map_err(backend)?;
        found.map(|v| decode_user(v.value())).transpose()
    }
}

/// The on-disk format generation (see `tables.rs`).
const FORMAT: &[u8] = b"2";

/// Refuses a file whose records a newer build wrote in formats this one
/// cannot read (each user answered 500 "corrupt user record" otherwise),
/// and records this build's formats for the builds after it. Builds from
/// before the `record_formats` key do not look for it: they cannot refuse, which
/// is why the README says an upgraded file is not for an older version.
fn check_record_formats(meta: &mut Table<&str, &[u8]>) -> Result<(), StoreError> {
    let ours = codec::RECORD_FORMATS;
    let stored = meta
        .get("record_formats")
        .map_err(backend)?
        .map(|v| v.value().to_vec());
    if let Some(stored) = &stored
        && (stored.len() > ours.len() || stored.iter().zip(ours).any(|(s, o)| *s > o))
    {
        return Err(StoreError::backend(format!(
            "this database file holds records written by a newer version of tower-users \
             (user and session record formats {stored:?}; this version reads up to {ours:?}): \
             downgrading after an upgrade is not supported; run the newer version, or \
             restore a copy of the file taken before the upgrade"
        )));
    }
    if stored.as_deref() != Some(ours.as_slice()) {
        meta.insert("record_formats", ours.as_slice())
            .map_err(backend)?;
    }
    Ok(())
}

/// Whether the file holds no user tables of an earlier generation.
fn is_fresh(tx: &WriteTransaction) -> Result<bool, StoreError> {
    use ::redb::TableHandle;
    let mut tables = tx.list_tables().map_err(backend)?;
    Ok(!tables.any(|t| t.name() == "users_v1"))
}

/// Rebuilds the active-superuser index from one scan of the users, in the
/// open's write transaction, at every open. The index is only as good as
/// the writes that kept it: a file written before it existed has none, and
/// an older binary sharing a format-2 file changes users without touching
/// it. A stale id would count as a superuser that remains, letting the
/// real last one be removed; a missing one would block a legitimate change.
fn index_active_superusers(tx: &WriteTransaction) -> Result<(), StoreError> {
    let mut expected = std::collections::BTreeSet::new();
    {
        let users = tx.open_table(USERS).map_err(backend)?;
        for entry in users.range::<u128>(..).map_err(backend)? {
            let (id, raw) = entry.map_err(backend)?;
            if is_active_superuser(&decode_user(raw.value())?) {
                expected.insert(id.value());
            }
        }
    }
    let mut index = tx.open_table(ACTIVE_SUPERUSERS).map_err(backend)?;
    let mut indexed = std::collections::BTreeSet::new();
    for entry in index.range::<u128>(..).map_err(backend)? {
        indexed.insert(entry.map_err(backend)?.0.value());
    }
    if indexed == expected {
        return Ok(());
    }
    let (stale, missing) = (indexed.difference(&expected), expected.difference(&indexed));
    tracing::warn!(
        stale = stale.clone().count(),
        missing = missing.clone().count(),
        "the active-superuser index did not match the users (a file from before the \
         index, or changed by an older version); rebuilt"
    );
    for id in stale {
        index.remove(*id).map_err(backend)?;
    }
    for id in missing {
        index.insert(*id, ()).map_err(backend)?;
    }
    Ok(())
}

fn is_active_superuser(user: &User) -> bool {
    user.is_active && user.is_superuser
}

/// Keeps the active-superuser index in step with a user going from
/// `before` to `after` (`None`: absent), and refuses the change that would
/// empty it. The caller's transaction is aborted on that error, so the
/// removal here is undone with the rest.
fn track_superuser(
    tx: &WriteTransaction,
    before: Option<&User>,
    after: Option<&User>,
) -> Result<(), StoreError> {
    let was = before.is_some_and(is_active_superuser);
    let is = after.is_some_and(is_active_superuser);
    let Some(id) = before.or(after).map(|u| u.id.0.as_u128()) else {
        return Ok(());
    };
    if was == is {
        return Ok(());
    }
    let mut index = tx.open_table(ACTIVE_SUPERUSERS).map_err(backend)?;
    if was {
        index.remove(id).map_err(backend)?;
        if index.first().map_err(backend)?.is_none() {
            return Err(StoreError::LastSuperuser);
        }
    } else {
        index.insert(id, ()).map_err(backend)?;
    }
    Ok(())
}

/// Writes (or rewrites) an outbox row and its due-index entry.
fn put_mail(tx: &WriteTransaction, mail: &QueuedEmail) -> Result<(), StoreError> {
    let id = mail.email.id.as_u128();
    let mut outbox = tx.open_table(OUTBOX).map_err(backend)?;
    outbox
        .insert(id, encode_mail(mail)?.as_slice())
        .map_err(backend)?;
    let mut due = tx.open_table(OUTBOX_DUE).map_err(backend)?;
    due.insert((mail.next_attempt_at.unix_timestamp(), id), ())
        .map_err(backend)?;
    Ok(())
}

/// Removes an outbox row and its due entry; returns the stored row.
fn take_mail(tx: &WriteTransaction, id: u128) -> Result<Option<QueuedEmail>, StoreError> {
    let mut outbox = tx.open_table(OUTBOX).map_err(backend)?;
    let Some(raw) = outbox.remove(id).map_err(backend)? else {
        return Ok(None);
    };
    let stored = decode_mail(raw.value())?;
    drop(raw);
    let mut due = tx.open_table(OUTBOX_DUE).map_err(backend)?;
    due.remove((stored.next_attempt_at.unix_timestamp(), id))
        .map_err(backend)?;
    Ok(Some(stored))
}

/// Deletes a session with its refresh digests and index entry.
fn remove_session(tx: &WriteTransaction, id: u128) -> Result<(), StoreError> {
    let mut sessions = tx.open_table(SESSIONS).map_err(backend)?;
    let Some(raw) = sessions.remove(id).map_err(backend)? else {
        return Ok(());
    };
    let session = decode_session(raw.value())?;
    drop(raw);
    let mut user_sessions = tx.open_multimap_table(USER_SESSIONS).map_err(backend)?;
    user_sessions
        .remove(session.user_id.0.as_u128(), id)
        .map_err(backend)?;
    remove_refresh_digests(tx, id)
}

fn remove_refresh_digests(tx: &WriteTransaction, session: u128) -> Result<(), StoreError> {
    let mut by_session: MultimapTable<u128, &[u8; 32]> =
        tx.open_multimap_table(SESSION_REFRESH).map_err(backend)?;
    let mut refresh: Table<&[u8; 32], (u128, bool)> = tx.open_table(REFRESH).map_err(backend)?;
    let digests = by_session.remove_all(session).map_err(backend)?;
    for digest in digests {
        let digest = digest.map_err(backend)?;
        refresh.remove(digest.value()).map_err(backend)?;
    }
    Ok(())
}

/// How many expired records one write may clear on the side. Keys of both
/// tables are UUIDv7 (time-ordered) and lifetimes are uniform, so the
/// oldest, most likely expired, records come first; a small batch per write
/// keeps the tables bounded without a sweeper task or a long transaction.
const PRUNE_BATCH: usize = 32;

fn prune_spent_tokens(tx: &WriteTransaction, now: i64) -> Result<(), StoreError> {
    let mut spent = tx.open_table(SPENT_TOKENS).map_err(backend)?;
    let mut expired = Vec::new();
    for entry in spent.range::<u128>(..).map_err(backend)?.take(PRUNE_BATCH) {
        let (jti, exp) = entry.map_err(backend)?;
        if exp.value() < now {
            expired.push(jti.value());
        }
    }
    for jti in expired {
        spent.remove(jti).map_err(backend)?;
    }
    Ok(())
}

fn prune_sessions(tx: &WriteTransaction, now: OffsetDateTime) -> Result<(), StoreError> {
    let mut expired = Vec::new();
    {
        let sessions = tx.open_table(SESSIONS).map_err(backend)?;
        for entry in sessions
            .range::<u128>(..)
            .map_err(backend)?
            .take(PRUNE_BATCH)
        {
            let (id, raw) = entry.map_err(backend)?;
            if decode_session(raw.value())?.expires_at <= now {
                expired.push(id.value());
            }
        }
    }
    for id in expired {
        remove_session(tx, id)?;
    }
    Ok(())
}

/// Deletes every session of `user` but `keep`, which is moved to
/// `password_version`.
fn remove_user_sessions(
    tx: &WriteTransaction,
    user: u128,
    keep: Option<SessionId>,
    password_version: u64,
) -> Result<(), StoreError> {
    let keep = keep.map(|k| k.0.as_u128());
    let ids: Vec<u128> = {
        let mut user_sessions = tx.open_multimap_table(USER_SESSIONS).map_err(backend)?;
        let values = user_sessions.remove_all(user).map_err(backend)?;
        values
            .map(|v| v.map(|g| g.value()).map_err(backend))
            .collect::<Result<_, _>>()?
    };
    let mut sessions = tx.open_table(SESSIONS).map_err(backend)?;
    for id in ids {
        if Some(id) == keep {
            let kept = sessions
                .get(id)
                .map_err(backend)?
                .map(|r| decode_session(r.value()));
            if let Some(mut session) = kept.transpose()? {
                session.password_version = password_version;
                sessions
                    .insert(id, encode_session(&session)?.as_slice())
                    .map_err(backend)?;
                let mut user_sessions = tx.open_multimap_table(USER_SESSIONS).map_err(backend)?;
                user_sessions.insert(user, id).map_err(backend)?;
            }
            continue;
        }
        sessions.remove(id).map_err(backend)?;
        remove_refresh_digests(tx, id)?;
    }
    Ok(())
}

/// Moves user `id`'s entry in the username index from `old` to `new`,
/// refusing a name another user holds. It shares the caller's write
/// transaction, and redb serializes writers, so two claims of one name
/// cannot both pass.
fn index_username(
    tx: &WriteTransaction,
    id: UserId,
    old: Option<&Username>,
    new: Option<&Username>,
) -> Result<(), StoreError> {
    if old == new {
        return Ok(());
    }
    let mut by_username = tx.open_table(USERS_BY_USERNAME).map_err(backend)?;
    if let Some(new) = new
        && by_username.get(new.as_str()).map_err(backend)?.is_some()
    {
        return Err(StoreError::UsernameTaken);
    }
    if let Some(old) = old {
        by_username.remove(old.as_str()).map_err(backend)?;
    }
    if let Some(new) = new {
        by_username
            .insert(new.as_str(), id.0.as_u128())
            .map_err(backend)?;
    }
    Ok(())
}

impl Store for RedbStore {
    async fn create_user(&self, user: &User, mail: Option<&QueuedEmail>) -> Result<(), StoreError> {
        let user = user.clone();
        let mail = mail.cloned();
        self.write(move |tx| {
            let mut by_email = tx.open_table(USERS_BY_EMAIL).map_err(backend)?;
            // The uniqueness check and the insert share this transaction, and
            // redb serializes writers: two registrations cannot both pass.
            if by_email
                .get(user.email.as_str())
                .map_err(backend)?
                .is_some()
            {
                return Err(StoreError::EmailTaken);
            }
            by_email
                .insert(user.email.as_str(), user.id.0.as_u128())
                .map_err(backend)?;
            index_username(tx, user.id, None, user.username.as_ref())?;
            let mut users = tx.open_table(USERS).map_err(backend)?;
            users
                .insert(user.id.0.as_u128(), encode_user(&user)?.as_slice())
                .map_err(backend)?;
            drop((by_email, users));
            track_superuser(tx, None, Some(&user))?;
            if let Some(mail) = &mail {
                put_mail(tx, mail)?;
            }
            Ok(())
        })
        .await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.read_user(id)
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let by_email = tx.open_table(USERS_BY_EMAIL).map_err(backend)?;
        let Some(id) = by_email.get(email.as_str()).map_err(backend)? else {
            return Ok(None);
        };
        let users = tx.open_table(USERS).map_err(backend)?;
        let found = users.get(id.value()).map_err(backend)?;
        found.map(|v| decode_user(v.value())).transpose()
    }

    async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let by_username = tx.open_table(USERS_BY_USERNAME).map_err(backend)?;
        let Some(id) = by_username.get(username.as_str()).map_err(backend)? else {
            return Ok(None);
        };
        let users = tx.open_table(USERS).map_err(backend)?;
        let found = users.get(id.value()).map_err(backend)?;
        found.map(|v| decode_user(v.value())).transpose()
    }

    async fn update_user(&self, update: UserUpdate) -> Result<(), StoreError> {
        self.write(move |tx| {
            let new = &update.user;
            let key = new.id.0.as_u128();
            let mut users = tx.open_table(USERS).map_err(backend)?;
            let current = match users.get(key).map_err(backend)? {
                Some(raw) => decode_user(raw.value())?,
                None => return Err(StoreError::NotFound),
            };
            if current != update.expected || new.id != current.id {
                return Err(StoreError::Conflict);
            }
            track_superuser(tx, Some(&current), Some(new))?;
            if current.email != new.email {
                let mut by_email = tx.open_table(USERS_BY_EMAIL).map_err(backend)?;
                if by_email.get(new.email.as_str()).map_err(backend)?.is_some() {
                    return Err(StoreError::EmailTaken);
                }
                by_email.remove(current.email.as_str()).map_err(backend)?;
                by_email.insert(new.email.as_str(), key).map_err(backend)?;
            }
            index_username(tx, new.id, current.username.as_ref(), new.username.as_ref())?;
            if let Some(token) = update.spend {
                let mut spent = tx.open_table(SPENT_TOKENS).map_err(backend)?;
                let jti = token.id.as_u128();
                if spent.get(jti).map_err(backend)?.is_some() {
                    return Err(StoreError::TokenSpent);
                }
                spent
                    .insert(jti, token.expires_at.unix_timestamp())
                    .map_err(backend)?;
                drop(spent);
                prune_spent_tokens(tx, OffsetDateTime::now_utc().unix_timestamp())?;
            }
            users
                .insert(key, encode_user(new)?.as_slice())
                .map_err(backend)?;
            drop(users);
            if update.revoke_sessions {
                remove_user_sessions(tx, key, update.keep_session, new.password_version)?;
            }
            for mail in &update.mail {
                put_mail(tx, mail)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let key = id.0.as_u128();
            let mut users = tx.open_table(USERS).map_err(backend)?;
            let Some(raw) = users.remove(key).map_err(backend)? else {
                return Ok(false);
            };
            let user = decode_user(raw.value())?;
            drop(raw);
            let mut by_email = tx.open_table(USERS_BY_EMAIL).map_err(backend)?;
            by_email.remove(user.email.as_str()).map_err(backend)?;
            drop((users, by_email));
            index_username(tx, user.id, user.username.as_ref(), None)?;
            track_superuser(tx, Some(&user), None)?;
            remove_user_sessions(tx, key, None, 0)?;
            Ok(true)
        })
        .await
    }

    async fn list_users(
        &self,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<User>, StoreError> {
        use std::ops::Bound;
        let tx = self.db.begin_read().map_err(backend)?;
        let users = tx.open_table(USERS).map_err(backend)?;
        let start = match after {
            Some(id) => Bound::Excluded(id.0.as_u128()),
            None => Bound::Unbounded,
        };
        let mut found = Vec::new();
        for entry in users
            .range::<u128>((start, Bound::Unbounded))
            .map_err(backend)?
            .take(limit)
        {
            let (_, raw) = entry.map_err(backend)?;
            found.push(decode_user(raw.value())?);
        }
        Ok(found)
    }

    async fn create_session(
        &self,
        session: &Session,
        refresh: TokenDigest,
    ) -> Result<(), StoreError> {
        let session = session.clone();
        self.write(move |tx| {
            // A password change or deactivation that committed while the
            // login was hashing must win: no session for a stale user.
            {
                let users = tx.open_table(USERS).map_err(backend)?;
                let raw = users.get(session.user_id.0.as_u128()).map_err(backend)?;
                let user = raw.map(|r| decode_user(r.value())).transpose()?;
                match user {
                    Some(u) if u.password_version == session.password_version && u.is_active => {}
                    _ => return Err(StoreError::Conflict),
                }
            }
            let id = session.id.0.as_u128();
            let mut sessions = tx.open_table(SESSIONS).map_err(backend)?;
            if sessions.get(id).map_err(backend)?.is_some() {
                return Err(StoreError::backend("session id collision"));
            }
            sessions
                .insert(id, encode_session(&session)?.as_slice())
                .map_err(backend)?;
            let mut user_sessions = tx.open_multimap_table(USER_SESSIONS).map_err(backend)?;
            user_sessions
                .insert(session.user_id.0.as_u128(), id)
                .map_err(backend)?;
            let mut refresh_table = tx.open_table(REFRESH).map_err(backend)?;
            refresh_table
                .insert(&refresh.0, (id, false))
                .map_err(backend)?;
            let mut by_session = tx.open_multimap_table(SESSION_REFRESH).map_err(backend)?;
            by_session.insert(id, &refresh.0).map_err(backend)?;
            drop((sessions, user_sessions, refresh_table, by_session));
            prune_sessions(tx, OffsetDateTime::now_utc())
        })
        .await
    }

    async fn session_with_user(
        &self,
        id: SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<(Session, User)>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let sessions = tx.open_table(SESSIONS).map_err(backend)?;
        let Some(raw) = sessions.get(id.0.as_u128()).map_err(backend)? else {
            return Ok(None);
        };
        let session = decode_session(raw.value())?;
        if session.expires_at <= now {
            return Ok(None);
        }
        let users = tx.open_table(USERS).map_err(backend)?;
        let Some(raw) = users.get(session.user_id.0.as_u128()).map_err(backend)? else {
            return Ok(None);
        };
        Ok(Some((session, decode_user(raw.value())?)))
    }

    async fn rotate_refresh(
        &self,
        presented: TokenDigest,
        next: TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        self.write(move |tx| {
            let mut refresh = tx.open_table(REFRESH).map_err(backend)?;
            let Some((sid, spent)) = refresh
                .get(&presented.0)
                .map_err(backend)?
                .map(|g| g.value())
            else {
                return Ok(Rotation::Unknown);
            };
            let session = {
                let sessions = tx.open_table(SESSIONS).map_err(backend)?;
                let raw = sessions.get(sid).map_err(backend)?;
                raw.map(|r| decode_session(r.value())).transpose()?
            };
            let Some(session) = session.filter(|s| s.expires_at > now) else {
                drop(refresh);
                remove_session(tx, sid)?;
                return Ok(Rotation::Unknown);
            };
            if spent {
                // A spent token came back: either the client or a thief holds
                // a copy. Ending the session locks both out.
                drop(refresh);
                remove_session(tx, sid)?;
                return Ok(Rotation::Reused);
            }
            refresh.insert(&presented.0, (sid, true)).map_err(backend)?;
            refresh.insert(&next.0, (sid, false)).map_err(backend)?;
            let mut by_session = tx.open_multimap_table(SESSION_REFRESH).map_err(backend)?;
            by_session.insert(sid, &next.0).map_err(backend)?;
            Ok(Rotation::Rotated(session))
        })
        .await
    }

    async fn delete_session(&self, id: SessionId) -> Result<(), StoreError> {
        self.write(move |tx| remove_session(tx, id.0.as_u128()))
            .await
    }

    async fn reauthenticate_session(
        &self,
        id: SessionId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let mut sessions = tx.open_table(SESSIONS).map_err(backend)?;
            let key = id.0.as_u128();
            let session = sessions
                .get(key)
                .map_err(backend)?
                .map(|raw| decode_session(raw.value()))
                .transpose()?;
            let Some(mut session) = session.filter(|s| s.expires_at > at) else {
                return Ok(false);
            };
            session.authenticated_at = session.authenticated_at.max(at);
            sessions
                .insert(key, encode_session(&session)?.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn enqueue_mail(&self, mail: &QueuedEmail) -> Result<(), StoreError> {
        let mail = mail.clone();
        self.write(move |tx| put_mail(tx, &mail)).await
    }

    async fn due_mail(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let due = tx.open_table(OUTBOX_DUE).map_err(backend)?;
        let outbox = tx.open_table(OUTBOX).map_err(backend)?;
        let mut found = Vec::new();
        let upto = now.unix_timestamp();
        for entry in due
            .range(..=(upto, u128::MAX))
            .map_err(backend)?
            .take(limit)
        {
            let (key, _) = entry.map_err(backend)?;
            let (_, id) = key.value();
            if let Some(raw) = outbox.get(id).map_err(backend)? {
                found.push(decode_mail(raw.value())?);
            }
        }
        Ok(found)
    }

    /// One process opens a redb file (redb locks it), so there is no other
    /// worker to hide a claim from: no lease, and after a crash the
    /// restarted worker sends what was pending at once.
    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        limit: usize,
        _lease: time::Duration,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        self.due_mail(now, limit).await
    }

    /// No other process can have claimed it: the claim holds while the
    /// email is queued.
    async fn renew_claim(
        &self,
        mail: &QueuedEmail,
        _now: OffsetDateTime,
        _lease: time::Duration,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let outbox = tx.open_table(OUTBOX).map_err(backend)?;
        Ok(outbox
            .get(mail.email.id.as_u128())
            .map_err(backend)?
            .is_some())
    }

    async fn reschedule_mail(&self, mail: &QueuedEmail) -> Result<(), StoreError> {
        let mail = mail.clone();
        self.write(move |tx| {
            // Gone means delivered or dead-lettered meanwhile: nothing to do.
            if take_mail(tx, mail.email.id.as_u128())?.is_none() {
                return Ok(());
            }
            put_mail(tx, &mail)
        })
        .await
    }

    async fn finish_mail(
        &self,
        mail: &QueuedEmail,
        dead_letter: Option<&str>,
    ) -> Result<(), StoreError> {
        let id = mail.email.id.as_u128();
        let dead = dead_letter.map(|reason| {
            let mut dead = mail.clone();
            dead.last_error = Some(reason.to_owned());
            dead
        });
        self.write(move |tx| {
            take_mail(tx, id)?;
            if let Some(dead) = &dead {
                let mut letters = tx.open_table(DEAD_LETTERS).map_err(backend)?;
                letters
                    .insert(id, encode_mail(dead)?.as_slice())
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn pending_mail(&self) -> Result<u64, StoreError> {
        use ::redb::ReadableTableMetadata;
        let tx = self.db.begin_read().map_err(backend)?;
        let outbox = tx.open_table(OUTBOX).map_err(backend)?;
        outbox.len().map_err(backend)
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<QueuedEmail>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let letters = tx.open_table(DEAD_LETTERS).map_err(backend)?;
        let mut found = Vec::new();
        for entry in letters.range::<u128>(..).map_err(backend)?.take(limit) {
            let (_, raw) = entry.map_err(backend)?;
            found.push(decode_mail(raw.value())?);
        }
        Ok(found)
    }

    async fn login_failures(
        &self,
        key: &str,
        forget_before: OffsetDateTime,
    ) -> Result<Option<LoginFailures>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let lockouts = tx.open_table(LOCKOUTS).map_err(backend)?;
        let Some((count, last)) = lockouts.get(key).map_err(backend)?.map(|g| g.value()) else {
            return Ok(None);
        };
        if last < forget_before.unix_timestamp() {
            return Ok(None);
        }
        Ok(Some(LoginFailures {
            count,
            last_failure: OffsetDateTime::from_unix_timestamp(last).map_err(StoreError::backend)?,
        }))
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Result<LoginFailures, StoreError> {
        let key = key.to_owned();
        let (now, forget) = (now.unix_timestamp(), forget_before.unix_timestamp());
        self.write(move |tx| {
            let mut lockouts = tx.open_table(LOCKOUTS).map_err(backend)?;
            let mut ages = tx.open_table(LOCKOUT_AGE).map_err(backend)?;
            let previous = lockouts
                .get(key.as_str())
                .map_err(backend)?
                .map(|g| g.value());
            let count = match previous {
                Some((count, last)) => {
                    ages.remove((last, key.as_str())).map_err(backend)?;
                    if last < forget {
                        1
                    } else {
                        count.saturating_add(1)
                    }
                }
                None => 1,
            };
            lockouts
                .insert(key.as_str(), (count, now))
                .map_err(backend)?;
            ages.insert((now, key.as_str()), ()).map_err(backend)?;
            // Clear a few forgotten counters, oldest first, so that guesses
            // at random addresses cannot grow the table without bound.
            let mut old = Vec::new();
            for entry in ages
                .range(..(forget, ""))
                .map_err(backend)?
                .take(PRUNE_BATCH)
            {
                let (k, _) = entry.map_err(backend)?;
                let (last, email) = k.value();
                old.push((last, email.to_owned()));
            }
            for (last, email) in old {
                ages.remove((last, email.as_str())).map_err(backend)?;
                lockouts.remove(email.as_str()).map_err(backend)?;
            }
            Ok(LoginFailures {
                count,
                last_failure: OffsetDateTime::from_unix_timestamp(now)
                    .map_err(StoreError::backend)?,
            })
        })
        .await
    }

    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |tx| {
            let mut lockouts = tx.open_table(LOCKOUTS).map_err(backend)?;
            if let Some((_, last)) = lockouts
                .remove(key.as_str())
                .map_err(backend)?
                .map(|g| g.value())
            {
                let mut ages = tx.open_table(LOCKOUT_AGE).map_err(backend)?;
                ages.remove((last, key.as_str())).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        burst: u32,
        per: time::Duration,
    ) -> Result<Option<time::Duration>, StoreError> {
        self.charge_bucket(key, now, burst, per).await
    }

    async fn get_or_create_secret(
        &self,
        name: &str,
        make: Vec<u8>,
    ) -> Result<(Vec<u8>, bool), StoreError> {
        let name = name.to_owned();
        self.write(move |tx| {
            let mut meta = tx.open_table(META).map_err(backend)?;
            if let Some(existing) = meta.get(name.as_str()).map_err(backend)? {
                return Ok((existing.value().to_vec(), false));
            }
            meta.insert(name.as_str(), make.as_slice())
                .map_err(backend)?;
            Ok((make, true))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use ::redb::{ReadableTableMetadata, TableDefinition};

    use super::*;
    use crate::store::SpentToken;

    fn count(store: &RedbStore, table: TableDefinition<u128, &[u8]>) -> u64 {
        let tx = store.db.begin_read().unwrap();
        tx.open_table(table).unwrap().len().unwrap()
    }

    #[test]
    fn a_file_of_an_older_format_generation_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.redb");
        {
            let db = Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(TableDefinition::<u128, &[u8]>::new("users_v1"))
                .unwrap();
            tx.commit().unwrap();
        }
        let err = RedbStore::open(&path).unwrap_err();
        let StoreError::Backend(source) = &err else {
            panic!("expected a backend error, got {err:?}");
        };
        assert!(
            source.to_string().contains("older, incompatible version"),
            "the error must say why: {source}"
        );
        // A fresh file gets the current generation, and opens again.
        let fresh = dir.path().join("new.redb");
        drop(RedbStore::open(&fresh).unwrap());
        drop(RedbStore::open(&fresh).unwrap());
    }

    #[test]
    fn a_file_with_records_of_a_newer_format_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("newer.redb");
        drop(RedbStore::open(&path).unwrap());
        // As a build writing these formats would record them.
        let record = |formats: [u8; 2]| {
            let db = Database::open(&path).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(META)
                .unwrap()
                .insert("record_formats", formats.as_slice())
                .unwrap();
            tx.commit().unwrap();
        };
        let [user, session] = codec::RECORD_FORMATS;
        for newer in [[user + 1, session], [user, session + 1]] {
            record(newer);
            let err = RedbStore::open(&path).unwrap_err();
            let StoreError::Backend(source) = &err else {
                panic!("expected a backend error, got {err:?}");
            };
            assert!(
                source.to_string().contains("downgrading after an upgrade"),
                "the error must say why: {source}"
            );
        }
        // Older formats are this version's to read and rewrite.
        record([1, 1]);
        drop(RedbStore::open(&path).unwrap());
        let db = Database::open(&path).unwrap();
        let tx = db.begin_read().unwrap();
        let meta = tx.open_table(META).unwrap();
        let recorded = meta
            .get("record_formats")
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        assert_eq!(recorded, codec::RECORD_FORMATS);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_database_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        // What the umask alone gives a new file (0644 under the usual 022).
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let path = dir.path().join("users.redb");
        drop(RedbStore::open(&path).unwrap());
        assert_eq!(
            mode(&path),
            0o600,
            "a plain file here gets {:o}",
            mode(&plain)
        );
        // Reopening keeps it so, and an operator's own choice is kept too.
        drop(RedbStore::open(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        drop(RedbStore::open(&path).unwrap());
        assert_eq!(mode(&path), 0o640);
    }

    #[tokio::test]
    async fn a_file_without_the_superuser_index_gets_it_built_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("older.redb");
        let mut root = User::new(Email::parse("root@example.com").unwrap(), "h".into());
        root.is_superuser = true;
        {
            let store = RedbStore::open(&path).unwrap();
            store.create_user(&root, None).await.unwrap();
            // As a file written before the index existed.
            let tx = store.db.begin_write().unwrap();
            tx.delete_table(ACTIVE_SUPERUSERS).unwrap();
            tx.commit().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        let err = store.delete_user(root.id).await.unwrap_err();
        assert!(matches!(err, StoreError::LastSuperuser), "{err:?}");
    }

    #[tokio::test]
    async fn a_stale_superuser_index_is_rebuilt_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.redb");
        let superuser = |email: &str| {
            let mut u = User::new(Email::parse(email).unwrap(), "h".into());
            u.is_superuser = true;
            u
        };
        let (root, alice) = (
            superuser("root@example.com"),
            superuser("alice@example.com"),
        );
        {
            let store = RedbStore::open(&path).unwrap();
            store.create_user(&root, None).await.unwrap();
            store.create_user(&alice, None).await.unwrap();
            // As an older binary sharing the file leaves it: a superuser it
            // deleted still indexed, and one it promoted not indexed.
            let tx = store.db.begin_write().unwrap();
            {
                let mut index = tx.open_table(ACTIVE_SUPERUSERS).unwrap();
                index.insert(UserId::new().0.as_u128(), ()).unwrap();
                index.remove(alice.id.0.as_u128()).unwrap();
            }
            tx.commit().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        assert!(store.delete_user(root.id).await.unwrap());
        let err = store.delete_user(alice.id).await.unwrap_err();
        assert!(matches!(err, StoreError::LastSuperuser), "{err:?}");
        assert!(store.user(alice.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn expired_sessions_and_spent_tokens_are_pruned_by_later_writes() {
        let store = RedbStore::in_memory().unwrap();
        let user = User::new(Email::parse("p@example.com").unwrap(), "h".into());
        store.create_user(&user, None).await.unwrap();
        let now = crate::user::now_seconds();
        let session = |ttl: i64| Session {
            id: SessionId::new(),
            user_id: user.id,
            password_version: 0,
            created_at: now,
            expires_at: now + time::Duration::seconds(ttl),
            authenticated_at: now,
        };
        for i in 0..5u8 {
            store
                .create_session(&session(-1), TokenDigest([i; 32]))
                .await
                .unwrap();
        }
        store
            .create_session(&session(3600), TokenDigest([9; 32]))
            .await
            .unwrap();
        assert_eq!(count(&store, SESSIONS), 1);

        let spent = |offset: i64| SpentToken {
            id: uuid::Uuid::now_v7(),
            expires_at: now + time::Duration::seconds(offset),
        };
        for offset in [-10, -10, 3600] {
            let token = spent(offset);
            store
                .update_user(UserUpdate::new(&user, user.clone()).spending(token))
                .await
                .unwrap();
        }
        let tx = store.db.begin_read().unwrap();
        assert_eq!(tx.open_table(SPENT_TOKENS).unwrap().len().unwrap(), 1);
    }

    crate::store_conformance!(in_memory, || crate::RedbStore::in_memory().unwrap());

    crate::store_conformance!(on_disk, || {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::RedbStore::open(dir.path().join("t.redb")).unwrap();
        // The directory must outlive the test; leak it deliberately.
        std::mem::forget(dir);
        store
    });
}
