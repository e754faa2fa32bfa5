//! How domain records are encoded in redb values.
//!
//! A private serde mirror keeps the storage format apart from the public
//! types, so a field added to `User` is a deliberate format change here.
//! Users and sessions are read on every authenticated request, so they are
//! postcard (compact, fast); outbox rows are JSON. Each postcard record
//! starts with a format version.
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

/// The current postcard record format of sessions.
const FORMAT: u8 = 1;
/// A user record with nothing after [`StoredUser`].
const USER_FORMAT_V1: u8 = 1;
/// A user record followed by its roles alone.
const USER_FORMAT_V2: u8 = 2;
/// A user record followed by [`StoredUserExtra`]: the one written now.
const USER_FORMAT: u8 = 3;

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
    postcard::to_allocvec(&StoredSession {
        format: FORMAT,
        id: session.id.0,
        user_id: session.user_id.0,
        password_version: session.password_version,
        created_at: session.created_at.unix_timestamp(),
        expires_at: session.expires_at.unix_timestamp(),
    })
    .map_err(StoreError::backend)
}

pub(super) fn decode_session(bytes: &[u8]) -> Result<Session, StoreError> {
    let s: StoredSession = postcard::from_bytes(bytes).map_err(|_| corrupt("session"))?;
    if s.format != FORMAT {
        return Err(corrupt("session"));
    }
    Ok(Session {
        id: SessionId(s.id),
        user_id: UserId(s.user_id),
        password_version: s.password_version,
        created_at: time_from(s.created_at, "session")?,
        expires_at: time_from(s.expires_at, "session")?,
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
