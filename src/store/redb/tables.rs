//! Every redb table, declared once. Their names are on-disk identities:
//! renaming one orphans existing data. All carry the format generation
//! (`_v2`, also recorded under `format` in `META`), so a file written by an
//! older generation is refused at open rather than half read.

use redb::{MultimapTableDefinition, TableDefinition};

/// user id → encoded user (postcard).
pub(super) const USERS: TableDefinition<u128, &[u8]> = TableDefinition::new("users_v2");
/// normalized email → user id: the uniqueness index.
pub(super) const USERS_BY_EMAIL: TableDefinition<&str, u128> =
    TableDefinition::new("users_by_email_v2");
/// normalized username → user id: the username uniqueness index. Users
/// without a username have no entry.
pub(super) const USERS_BY_USERNAME: TableDefinition<&str, u128> =
    TableDefinition::new("users_by_username_v2");
/// id of every active superuser → (): lets the write that would remove the
/// last one see, in its own transaction, whether another remains. Checked
/// against `USERS`, and rebuilt if it differs, at every open.
pub(super) const ACTIVE_SUPERUSERS: TableDefinition<u128, ()> =
    TableDefinition::new("active_superusers_v2");
/// session id → encoded session (postcard).
pub(super) const SESSIONS: TableDefinition<u128, &[u8]> = TableDefinition::new("sessions_v2");
/// user id → its session ids, so a password change can end them all.
pub(super) const USER_SESSIONS: MultimapTableDefinition<u128, u128> =
    MultimapTableDefinition::new("user_sessions_v2");
/// refresh-token digest → (session id, spent?). Spent digests stay until the
/// session goes, so a replay can be recognised and punished.
pub(super) const REFRESH: TableDefinition<&[u8; 32], (u128, bool)> =
    TableDefinition::new("refresh_tokens_v2");
/// session id → every refresh digest it ever had, for clean deletion.
pub(super) const SESSION_REFRESH: MultimapTableDefinition<u128, &[u8; 32]> =
    MultimapTableDefinition::new("session_refresh_v2");
/// spent single-use token id (`jti`) → its expiry (unix seconds).
pub(super) const SPENT_TOKENS: TableDefinition<u128, i64> = TableDefinition::new("spent_tokens_v2");
/// outbox email id → encoded queued email.
pub(super) const OUTBOX: TableDefinition<u128, &[u8]> = TableDefinition::new("outbox_v2");
/// (next attempt, unix seconds; email id) → (): the worker's due index.
pub(super) const OUTBOX_DUE: TableDefinition<(i64, u128), ()> =
    TableDefinition::new("outbox_due_v2");
/// email id → encoded queued email with its last error: given up on.
pub(super) const DEAD_LETTERS: TableDefinition<u128, &[u8]> =
    TableDefinition::new("dead_letters_v2");
/// account key (normalized email) → (consecutive failed logins, last
/// failure in unix seconds): the lockout counters.
pub(super) const LOCKOUTS: TableDefinition<&str, (u32, i64)> = TableDefinition::new("lockouts_v2");
/// (last failure, account key) → (): lets old counters be pruned oldest first.
pub(super) const LOCKOUT_AGE: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("lockout_age_v2");
/// rate-limit bucket key → its theoretical arrival time (GCRA, unix
/// microseconds); a bucket whose time has passed is at a full burst and
/// may go.
pub(super) const RATE_LIMITS: TableDefinition<&str, i64> = TableDefinition::new("rate_limits_v2");
/// small named values: the generated signing secret.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta_v2");
