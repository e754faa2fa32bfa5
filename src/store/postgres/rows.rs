//! Domain records to and from PostgreSQL rows.

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::mail::{EmailKind, OutgoingEmail};
use crate::store::{QueuedEmail, Session, SessionId, StoreError};
use crate::user::{Email, User, UserId};
use crate::username::Username;
use crate::users::ProfileFields;

use super::db;

/// The user columns, as `user_from` reads them, of the users table aliased `u`.
pub(super) const USER_COLUMNS: &str = "u.id, u.email, u.password_hash, u.password_version, \
     u.is_active, u.is_verified, u.is_superuser, u.created_at, u.pending_email, \
     u.profile::text AS profile, u.roles, u.username";

/// The session columns of the sessions table aliased `s`, named apart from
/// the user's so that one row can carry both.
pub(super) const SESSION_COLUMNS: &str = "s.id AS s_id, s.user_id AS s_user_id, \
     s.password_version AS s_password_version, s.created_at AS s_created_at, \
     s.expires_at AS s_expires_at, s.authenticated_at AS s_authenticated_at";

/// The outbox columns, in the order `mail_from` and the inserts use.
pub(super) const MAIL_COLUMNS: &str = "id, kind, recipient, subject, text_body, html_body, link, \
     expires_at, attempts, created_at, next_attempt_at, last_error, decoy";

fn corrupt(what: &str) -> StoreError {
    StoreError::backend(format!("corrupt {what} row"))
}

/// `u64` as PostgreSQL's `bigint`.
pub(super) fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::backend("counter out of range for bigint"))
}

fn to_u64(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| corrupt(what))
}

/// The roles as the array bound to a `text[]` parameter, in name order.
pub(super) fn roles_array(user: &User) -> Vec<String> {
    user.roles.iter().cloned().collect()
}

/// The profile fields as the JSON text bound to a `json` parameter.
pub(super) fn profile_json(user: &User) -> Result<String, StoreError> {
    serde_json::to_string(&user.profile).map_err(StoreError::backend)
}

pub(super) fn user_from(row: &PgRow) -> Result<User, StoreError> {
    let profile: String = row.try_get("profile").map_err(db)?;
    let profile: ProfileFields = serde_json::from_str(&profile).map_err(|_| corrupt("user"))?;
    let pending: Option<String> = row.try_get("pending_email").map_err(db)?;
    let roles: Vec<String> = row.try_get("roles").map_err(db)?;
    let username: Option<String> = row.try_get("username").map_err(db)?;
    Ok(User {
        id: UserId(row.try_get("id").map_err(db)?),
        email: Email::from_stored(row.try_get("email").map_err(db)?),
        password_hash: row.try_get("password_hash").map_err(db)?,
        password_version: to_u64(row.try_get("password_version").map_err(db)?, "user")?,
        is_active: row.try_get("is_active").map_err(db)?,
        is_verified: row.try_get("is_verified").map_err(db)?,
        is_superuser: row.try_get("is_superuser").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        pending_email: pending.map(Email::from_stored),
        username: username.map(Username::from_stored),
        profile,
        roles: roles.into_iter().collect(),
    })
}

pub(super) fn session_from(row: &PgRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId(row.try_get::<Uuid, _>("s_id").map_err(db)?),
        user_id: UserId(row.try_get::<Uuid, _>("s_user_id").map_err(db)?),
        password_version: to_u64(row.try_get("s_password_version").map_err(db)?, "session")?,
        created_at: row.try_get("s_created_at").map_err(db)?,
        expires_at: row.try_get("s_expires_at").map_err(db)?,
        authenticated_at: row.try_get("s_authenticated_at").map_err(db)?,
    })
}

pub(super) fn mail_from(row: &PgRow) -> Result<QueuedEmail, StoreError> {
    let kind: String = row.try_get("kind").map_err(db)?;
    let kind = EmailKind::parse(&kind).ok_or_else(|| corrupt("outbox"))?;
    let mut mail = QueuedEmail::new(OutgoingEmail::new(
        row.try_get::<Uuid, _>("id").map_err(db)?,
        kind,
        row.try_get::<String, _>("recipient").map_err(db)?,
        row.try_get::<String, _>("subject").map_err(db)?,
        row.try_get::<String, _>("text_body").map_err(db)?,
        row.try_get::<String, _>("html_body").map_err(db)?,
        row.try_get::<String, _>("link").map_err(db)?,
        row.try_get::<OffsetDateTime, _>("expires_at").map_err(db)?,
    ));
    let attempts: i64 = row.try_get("attempts").map_err(db)?;
    mail.attempts = u32::try_from(attempts).map_err(|_| corrupt("outbox"))?;
    mail.created_at = row.try_get("created_at").map_err(db)?;
    mail.next_attempt_at = row.try_get("next_attempt_at").map_err(db)?;
    mail.last_error = row.try_get("last_error").map_err(db)?;
    mail.decoy = row.try_get("decoy").map_err(db)?;
    Ok(mail)
}
