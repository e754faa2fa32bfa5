//! Usernames: an optional second login identifier, normalized so that every
//! spelling of one name is one value.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::user::normalize_identifier;

/// The fewest characters a username may have, after normalization.
pub const MIN_USERNAME_LEN: usize = 3;
/// The most characters a username may have, after normalization.
pub const MAX_USERNAME_LEN: usize = 32;

/// Whether users have usernames, set with
/// [`UsersBuilder::with_usernames`](crate::UsersBuilder::with_usernames).
///
/// With usernames on, the login field takes either identifier: input with
/// an `@` is an email, anything else a username (a username never holds an
/// `@`, so the two cannot be confused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Usernames {
    /// No usernames (the default): the wire and every user stay as they
    /// were. A `username` field in a request body is treated like any other
    /// field the service does not know: the app's profile field if it has
    /// one (never shown in the record, whose `username` is only the real
    /// one), otherwise ignored. Names set while usernames were on stay
    /// stored, unique and in the record, but log no one in.
    #[default]
    Off,
    /// A user may set a username at registration or later, and clear it.
    Optional,
    /// Registration requires a username, and a user's username may be
    /// changed but not cleared. Users stored before (and the superuser
    /// [`with_superuser`](crate::UsersBuilder::with_superuser) creates) may
    /// have none until they set one; they log in by email meanwhile.
    Required,
}

impl Usernames {
    /// Whether usernames exist at all.
    pub fn enabled(self) -> bool {
        self != Usernames::Off
    }
}

/// A username, normalized and checked.
///
/// Normalization: surrounding whitespace is trimmed, then the name is
/// NFKC-normalized and fully case-folded (Unicode `CaseFolding.txt`), exactly
/// as an email's local part is (see [`Email`](crate::Email)), so
/// `Alice`, `ALICE` and a fullwidth `ａｌｉｃｅ` are one name, and the
/// Kelvin sign `K` is `k`. Full folding rather than lower-casing, because
/// lower-casing leaves some case variants apart.
///
/// What remains must be 3 to 32 characters of ASCII letters, digits, `_`,
/// `-` and `.`, starting and ending with a letter or digit. ASCII only,
/// because no normalization merges look-alikes from different scripts
/// (Latin `a` and Cyrillic `а`): allowing them would let two accounts show
/// the same name. Non-ASCII input that normalizes to ASCII (fullwidth
/// forms) is accepted. An `@` is refused with its own message: the login
/// field tells a username from an email by it.
///
/// ```
/// use tower_users::Username;
/// let name = Username::parse(" Alice_1 ").unwrap();
/// assert_eq!(name.as_str(), "alice_1");
/// assert_eq!(Username::parse("ＡＬＩＣＥ_1").unwrap(), name);
/// assert!(Username::parse("al").is_err());
/// assert!(Username::parse("alice@example.com").is_err());
/// assert!(Username::parse("аlice").is_err()); // a Cyrillic а
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Normalizes and validates `raw`; the error names the `username` field
    /// and says why it was refused.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let reject = |why: &str| Err(Error::field("username", why));
        let raw = raw.trim();
        if raw.is_empty() {
            return reject("username is required");
        }
        // Normalization grows a string at most a few times over; longer
        // input cannot end within the limit and is refused before the work.
        if raw.len() > 8 * MAX_USERNAME_LEN {
            return reject("username is too long");
        }
        let name = normalize_identifier(raw);
        if name.contains('@') {
            return reject("username must not contain '@'");
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return reject(
                "username may hold only letters a-z, digits, '_', '-' and '.' \
                 (after case folding)",
            );
        }
        if name.len() < MIN_USERNAME_LEN {
            return reject("username is too short (at least 3 characters)");
        }
        if name.len() > MAX_USERNAME_LEN {
            return reject("username is too long (at most 32 characters)");
        }
        let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
            return reject("username must start and end with a letter or digit");
        }
        Ok(Username(name))
    }

    /// A name that was normalized before it was stored.
    pub(crate) fn from_stored(name: String) -> Self {
        Username(name)
    }

    /// The normalized name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_compatibility_variants_are_one_name() {
        let alice = Username::parse("alice").unwrap();
        for form in ["Alice", "ALICE", " alice\t", "ａｌｉｃｅ", "ＡＬＩＣＥ"] {
            assert_eq!(Username::parse(form).unwrap(), alice, "{form:?}");
        }
        // The Kelvin sign and the long s fold to k and s.
        assert_eq!(
            Username::parse("\u{212a}ate").unwrap(),
            Username::parse("kate").unwrap()
        );
        assert_eq!(
            Username::parse("\u{17f}am").unwrap(),
            Username::parse("sam").unwrap()
        );
        // ß folds to ss.
        assert_eq!(
            Username::parse("STRAßE").unwrap(),
            Username::parse("strasse").unwrap()
        );
    }

    #[test]
    fn the_allowed_set_and_length_are_enforced() {
        for ok in ["abc", "a.b-c_d", "x1y", &"a".repeat(32), "0day"] {
            assert!(Username::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            "  ",
            "ab",
            &"a".repeat(33),
            &"a".repeat(10_000),
            "alice@example.com",
            "alice＠example",
            "al ice",
            "_alice",
            "alice.",
            "аlice",
            "ali\u{200b}ce",
            "ali\u{0}ce",
            "名前です",
            "al/ice",
        ] {
            let err = Username::parse(bad).unwrap_err();
            assert_eq!(err.code(), "VALIDATION_ERROR", "{bad:?}");
            let Error::Validation(fields) = err else {
                unreachable!()
            };
            assert_eq!(fields[0].field, "username", "{bad:?}");
        }
    }

    #[test]
    fn an_accepted_name_parses_again_to_itself() {
        for c in (0..=0x1_FFFF).filter_map(char::from_u32) {
            let Ok(name) = Username::parse(&format!("a{c}b")) else {
                continue;
            };
            assert_eq!(Username::parse(name.as_str()).unwrap(), name, "{c:?}");
            assert!(name.as_str().is_ascii(), "{c:?}");
        }
    }
}
