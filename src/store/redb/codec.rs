//! How domain records are encoded in redb values.
//!
//! A private serde mirror keeps the storage format apart from the public
//! types, so a field added to `User` is a deliberate format change here.
//! Users and sessions are read on every authenticated request, so they are
//! postcard (compact, fast); outbox rows are JSON. Each postcard record
//! starts with a format version.
//!
//! Session formats: 1 is [`StoredSession`] alone; 2 appends when the
//! password was last proved in it (an `i64`). Format 1 records read as
//! proved when they were created, and are rewritten as format 2 on their
//! next change.
//!
//! User formats: 1 is [`StoredUser`] alone; 2 appends the roles (a
//! postcard `Vec<String>`); 3, the one written now, appends
//! [`StoredUserExtra`] (the roles and the username). Older records still
//! read (no roles, no username) and are rewritten as format 3 on their next
//! change, so no migration is needed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::mail::{EmailKind, OutgoingEmail};
use crate::store::{QueuedEmail, Session, SessionId, StoreError};
use crate::user::{Email, User, UserId};
use crate::username::Username;
use crate::users::ProfileFields;

/// A session record with nothing after [`StoredSession`]: written before
/// re-authentication was recorded, read as proved at its creation (its
/// login).
const SESSION_FORMAT_V1: u8 = 1;
/// A session record followed by when its password was last proved (unix
/// seconds): the one written now.
const SESSION_FORMAT: u8 = 2;
/// A user record with nothing after [`StoredUser`].
const USER_FORMAT_V1: u8 = 1;
/// A user record followed by its roles alone.
const USER_FORMAT_V2: u8 = 2;
/// A user record followed by [`StoredUserExtra`]: the one written now.
const USER_FORMAT: u8 = 3;

/// The newest user and session record formats this build writes (and
/// reads), in that order: recorded in the file's `META` under `record_formats`.
pub(super) const RECORD_FORMATS: [u8; 2] = [USER_FORMAT, SESSION_FORMAT];

/// What a user record holds beyond format 1, appended after it.
#[derive(Serialize, Deserialize)]
struct StoredUserExtra {
    roles: Vec<String>,
    username: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredUser {
    format: u8,
    id: Uuid,
    email: String,
    password_hash: String,
    password_version: u64,
    is_active: bool,
    is_verified: bool,
    is_superuser: bool,
    created_at: i64,
    pending_email: Option<String>,
    /// The custom fields as a JSON object ("" when there are none):
    /// postcard cannot hold free-form JSON values.
    profile: String,
}

#[derive(Serialize, Deserialize)]
struct StoredSession {
    format: u8,
    id: Uuid,
    user_id: Uuid,
    password_version: u64,
    created_at: i64,
    expires_at: i64,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::backend(format!("corrupt {what} record"))
}

fn time_from(unix: i64, what: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| corrupt(what))
}

pub(super) fn encode_user(user: &User) -> Result<Vec<u8>, StoreError> {
    let profile = if user.profile.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&user.profile).map_err(StoreError::backend)?
    };
    let bytes = postcard::to_allocvec(&StoredUser {
        format: USER_FORMAT,
        id: user.id.0,
        email: user.email.as_str().to_owned(),
        password_hash: user.password_hash.clone(),
        password_version: user.password_version,
        is_active: user.is_active,
        is_verified: user.is_verified,
        is_superuser: user.is_superuser,
        created_at: user.created_at.unix_timestamp(),
        pending_email: user.pending_email.as_ref().map(|e| e.as_str().to_owned()),
        profile,
    })
    .map_err(StoreError::backend)?;
    let extra = StoredUserExtra {
        roles: user.roles.iter().cloned().collect(),
        username: user.username.as_ref().map(|u| u.as_str().to_owned()),
    };
    postcard::to_extend(&extra, bytes).map_err(StoreError::backend)
}

pub(super) fn decode_user(bytes: &[u8]) -> Result<User, StoreError> {
    let (s, rest): (StoredUser, _) =
        postcard::take_from_bytes(bytes).map_err(|_| corrupt("user"))?;
    let extra = match s.format {
        USER_FORMAT_V1 if rest.is_empty() => StoredUserExtra {
            roles: Vec::new(),
            username: None,
        },
        USER_FORMAT_V2 => StoredUserExtra {
            roles: postcard::from_bytes(rest).map_err(|_| corrupt("user"))?,
            username: None,
        },
        USER_FORMAT => postcard::from_bytes(rest).map_err(|_| corrupt("user"))?,
        _ => return Err(corrupt("user")),
    };
    let profile: ProfileFields = if s.profile.is_empty() {
        ProfileFields::new()
    } else {
        serde_json::from_str(&s.profile).map_err(|_| corrupt("user"))?
    };
    Ok(User {
        id: UserId(s.id),
        email: Email::from_stored(s.email),
        password_hash: s.password_hash,
        password_version: s.password_version,
        is_active: s.is_active,
        is_verified: s.is_verified,
        is_superuser: s.is_superuser,
        created_at: time_from(s.created_at, "user")?,
        pending_email: s.pending_email.map(Email::from_stored),
        profile,
        roles: extra.roles.into_iter().collect(),
        username: extra.username.map(Username::from_stored),
    })
}

pub(super) fn encode_session(session: &Session) -> Result<Vec<u8>, StoreError> {
    let bytes = postcard::to_allocvec(&StoredSession {
        format: SESSION_FORMAT,
        id: session.id.0,
        user_id: session.user_id.0,
        password_version: session.password_version,
        created_at: session.created_at.unix_timestamp(),
        expires_at: session.expires_at.unix_timestamp(),
    })
    .map_err(StoreError::backend)?;
    postcard::to_extend(&session.authenticated_at.unix_timestamp(), bytes)
        .map_err(StoreError::backend)
}

pub(super) fn decode_session(bytes: &[u8]) -> Result<Session, StoreError> {
    let (s, rest): (StoredSession, _) =
        postcard::take_from_bytes(bytes).map_err(|_| corrupt("session"))?;
    let authenticated_at = match s.format {
        SESSION_FORMAT_V1 if rest.is_empty() => s.created_at,
        SESSION_FORMAT => postcard::from_bytes(rest).map_err(|_| corrupt("session"))?,
        _ => return Err(corrupt("session")),
    };
    Ok(Session {
        id: SessionId(s.id),
        user_id: UserId(s.user_id),
        password_version: s.password_version,
        created_at: time_from(s.created_at, "session")?,
        expires_at: time_from(s.expires_at, "session")?,
        authenticated_at: time_from(authenticated_at, "session")?,
    })
}

#[derive(Serialize, Deserialize)]
struct StoredMail {
    id: Uuid,
    kind: String,
    to: String,
    subject: String,
    text: String,
    html: String,
    link: String,
    expires_at: i64,
    attempts: u32,
    created_at: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    #[serde(default)]
    decoy: bool,
}

pub(super) fn encode_mail(mail: &QueuedEmail) -> Result<Vec<u8>, StoreError> {
    let e = &mail.email;
    serde_json::to_vec(&StoredMail {
        id: e.id,
        kind: e.kind.as_str().to_owned(),
        to: e.to.clone(),
        subject: e.subject.clone(),
        text: e.text.clone(),
        html: e.html.clone(),
        link: e.link.clone(),
        expires_at: e.expires_at.unix_timestamp(),
        attempts: mail.attempts,
        created_at: mail.created_at.unix_timestamp(),
        next_attempt_at: mail.next_attempt_at.unix_timestamp(),
        last_error: mail.last_error.clone(),
        decoy: mail.decoy,
    })
    .map_err(StoreError::backend)
}

pub(super) fn decode_mail(bytes: &[u8]) -> Result<QueuedEmail, StoreError> {
    let s: StoredMail = serde_json::from_slice(bytes).map_err(|_| corrupt("outbox"))?;
    let kind = EmailKind::parse(&s.kind).ok_or_else(|| corrupt("outbox"))?;
    let mut mail = QueuedEmail::new(OutgoingEmail::new(
        s.id,
        kind,
        s.to,
        s.subject,
        s.text,
        s.html,
        s.link,
        time_from(s.expires_at, "outbox")?,
    ));
    mail.attempts = s.attempts;
    mail.created_at = time_from(s.created_at, "outbox")?;
    mail.next_attempt_at = time_from(s.next_attempt_at, "outbox")?;
    mail.last_error = s.last_error;
    mail.decoy = s.decoy;
    Ok(mail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User::new(Email::parse("a@example.com").unwrap(), "$argon2id$x".into())
    }

    #[test]
    fn roles_and_username_round_trip() {
        let mut u = user();
        u.roles = ["editor".to_owned(), "viewer".to_owned()].into();
        assert_eq!(decode_user(&encode_user(&u).unwrap()).unwrap(), u);
        u.username = Some(Username::parse("alice").unwrap());
        assert_eq!(decode_user(&encode_user(&u).unwrap()).unwrap(), u);
    }

    #[test]
    fn a_record_written_with_roles_alone_reads_without_a_username() {
        let mut u = user();
        u.roles = ["editor".to_owned()].into();
        // Format 2: the format 1 fields, then the roles alone.
        let mut old = encode_user(&u).unwrap();
        let extra_len = postcard::to_allocvec(&StoredUserExtra {
            roles: vec!["editor".to_owned()],
            username: None,
        })
        .unwrap()
        .len();
        old.truncate(old.len() - extra_len);
        old[0] = USER_FORMAT_V2;
        let old = postcard::to_extend(&vec!["editor"], old).unwrap();
        assert_eq!(decode_user(&old).unwrap(), u);
    }

    fn session() -> Session {
        let now = crate::user::now_seconds();
        Session {
            id: SessionId::new(),
            user_id: UserId(Uuid::now_v7()),
            password_version: 3,
            created_at: now - time::Duration::hours(1),
            expires_at: now + time::Duration::days(1),
            authenticated_at: now,
        }
    }

    #[test]
    fn sessions_round_trip_with_their_proof_time() {
        let s = session();
        assert_eq!(decode_session(&encode_session(&s).unwrap()).unwrap(), s);
    }

    #[test]
    fn a_session_written_before_reauthentication_reads_as_proved_at_its_login() {
        let s = session();
        // Format 1, as written before sessions recorded their proof time.
        let old = postcard::to_allocvec(&StoredSession {
            format: SESSION_FORMAT_V1,
            id: s.id.0,
            user_id: s.user_id.0,
            password_version: s.password_version,
            created_at: s.created_at.unix_timestamp(),
            expires_at: s.expires_at.unix_timestamp(),
        })
        .unwrap();
        let read = decode_session(&old).unwrap();
        assert_eq!(read.authenticated_at, s.created_at);
        assert_eq!(read.id, s.id);
        let mut trailing = old.clone();
        trailing.push(0);
        assert!(decode_session(&trailing).is_err());
        let mut unknown = old;
        unknown[0] = 9;
        assert!(decode_session(&unknown).is_err());
    }

    #[test]
    fn a_record_written_before_roles_reads_as_a_user_without_roles() {
        let u = user();
        // Format 1, as written by the versions before roles: the same
        // fields, nothing after them.
        let old = postcard::to_allocvec(&StoredUser {
            format: USER_FORMAT_V1,
            id: u.id.0,
            email: u.email.as_str().to_owned(),
            password_hash: u.password_hash.clone(),
            password_version: 0,
            is_active: true,
            is_verified: false,
            is_superuser: false,
            created_at: u.created_at.unix_timestamp(),
            pending_email: None,
            profile: String::new(),
        })
        .unwrap();
        assert_eq!(decode_user(&old).unwrap(), u);
        // Anything after a format 1 record, or an unknown format, is
        // corruption, not a user.
        let mut trailing = old.clone();
        trailing.push(0);
        assert!(decode_user(&trailing).is_err());
        let mut unknown = old;
        unknown[0] = 9;
        assert!(decode_user(&unknown).is_err());
    }
}
