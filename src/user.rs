//! The user model: ids, normalized emails, the stored user and its public record.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Redacted};

/// A user's id: a UUIDv7, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl UserId {
    /// A new time-ordered id.
    pub fn new() -> Self {
        UserId(Uuid::now_v7())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

/// The longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// An email address, trimmed and lower-cased, checked for a plausible shape.
///
/// Normalization happens once, here, so uniqueness and lookups always
/// compare like with like.
///
/// ```
/// use tower_users::Email;
/// let email = Email::parse("  Alice@Example.COM ").unwrap();
/// assert_eq!(email.as_str(), "alice@example.com");
/// assert!(Email::parse("not an email").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalizes and validates `raw`; the error says why it was refused.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let email = raw.trim().to_lowercase();
        let reject = |why: &str| Err(Error::field("email", why));
        if email.is_empty() {
            return reject("email is required");
        }
        if email.len() > MAX_EMAIL_LEN {
            return reject("email is too long");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return reject("email must contain '@'");
        };
        if local.is_empty() || local.len() > 64 {
            return reject("email has an invalid local part");
        }
        if local.contains('@') {
            return reject("email must contain exactly one '@'");
        }
        let domain_ok = !domain.is_empty()
            && domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return reject("email has an invalid domain");
        }
        // Control characters, spaces, quotes and angle brackets have no place
        // in an address we will put into a mail header.
        if local
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"<>()[]\\,;:".contains(c))
        {
            return reject("email has invalid characters");
        }
        Ok(Email(email))
    }

    /// An address that was normalized before it was stored.
    pub(crate) fn from_stored(email: String) -> Self {
        Email(email)
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(&self.0, |(local, _)| local)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.0)
    }
}

/// A user as the store keeps it.
///
/// It carries the password hash and `password_version`, so it is never sent
/// to a client: responses use [`UserRecord`]. `Debug` redacts the hash.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The normalized email, unique across users.
    pub email: Email,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Bumped on every password change; tokens and sessions bound to an
    /// older value are dead.
    pub password_version: u64,
    /// Deactivated users cannot log in or authenticate.
    pub is_active: bool,
    /// The email was confirmed through a verification link.
    pub is_verified: bool,
    /// May use the admin routes.
    pub is_superuser: bool,
    /// When the user registered (UTC).
    pub created_at: OffsetDateTime,
    /// An address the user asked to change to, waiting for confirmation:
    /// only the token sent for this exact address can apply it.
    pub pending_email: Option<Email>,
    /// The app's own fields (see [`UsersBuilder::with_profile`]), shown
    /// flattened in the public record.
    ///
    /// [`UsersBuilder::with_profile`]: crate::UsersBuilder::with_profile
    pub profile: Profile,
}

/// The app's own user fields, as a JSON object.
pub type Profile = serde_json::Map<String, serde_json::Value>;

impl User {
    /// A fresh, active, unverified user.
    pub fn new(email: Email, password_hash: String) -> Self {
        User {
            id: UserId::new(),
            email,
            password_hash,
            password_version: 0,
            is_active: true,
            is_verified: false,
            is_superuser: false,
            created_at: now_seconds(),
            pending_email: None,
            profile: Profile::new(),
        }
    }

    /// The public record of this user, safe to send to clients.
    pub fn record(&self) -> UserRecord {
        UserRecord::from(self)
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &Redacted)
            .field("password_version", &self.password_version)
            .field("is_active", &self.is_active)
            .field("is_verified", &self.is_verified)
            .field("is_superuser", &self.is_superuser)
            .field("created_at", &self.created_at)
            .field("pending_email", &self.pending_email)
            .field("profile", &self.profile)
            .finish()
    }
}

/// The public user record of API.md: what clients see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user's id (UUIDv7).
    pub id: UserId,
    /// The normalized email.
    pub email: String,
    /// Whether the account may log in.
    pub is_active: bool,
    /// Whether the email is confirmed.
    pub is_verified: bool,
    /// Whether the user is an administrator.
    pub is_superuser: bool,
    /// Registration time, RFC 3339 UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The app's own fields, side by side with the ones above.
    #[serde(flatten)]
    pub profile: Profile,
}

impl From<&User> for UserRecord {
    fn from(user: &User) -> Self {
        UserRecord {
            id: user.id,
            email: user.email.as_str().to_owned(),
            is_active: user.is_active,
            is_verified: user.is_verified,
            is_superuser: user.is_superuser,
            created_at: user.created_at,
            profile: user.profile.clone(),
        }
    }
}

/// The fields of the public record; profile fields may not reuse them.
pub(crate) const RECORD_FIELDS: &[&str] = &[
    "id",
    "email",
    "is_active",
    "is_verified",
    "is_superuser",
    "created_at",
    "password",
    "current_password",
];

/// Now, truncated to whole seconds (the stored and rendered precision).
pub(crate) fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let email = Email::parse(" Bob@Example.org\n").unwrap();
        assert_eq!(email.as_str(), "bob@example.org");
        assert_eq!(email.local_part(), "bob");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "bob@",
            "bob@localhost",
            "bob@exa mple.com",
            "a@b@example.com",
            "bob@-example.com",
            "bo b@example.com",
            "bob@example..com",
            "<bob>@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(300));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn debug_never_prints_the_hash() {
        let user = User::new(
            Email::parse("a@example.com").unwrap(),
            "$argon2id$secret".into(),
        );
        assert!(!format!("{user:?}").contains("secret"));
    }

    #[test]
    fn record_renders_rfc3339() {
        let user = User::new(Email::parse("a@example.com").unwrap(), String::new());
        let json = serde_json::to_value(user.record()).unwrap();
        assert!(json["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(json.get("password_hash").is_none());
    }
}
