//! The built-in password policy, after NIST SP 800-63B: length, not a
//! commonly used password, not too similar to the account's own email.
//!
//! Every rule sees the password in Unicode NFKC, the form that is hashed.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::normalize::nfkc;
use crate::error::{Error, FieldError};
use crate::user::Email;

/// The 10,000 most common passwords (see `COMMON_PASSWORDS_LICENSE.txt`).
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common_passwords.txt").lines().collect());

/// The rules every new password must pass. Apps add their own with
/// [`Hooks::validate_password`](crate::Hooks::validate_password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Fewest characters accepted (default 8).
    pub min_len: usize,
    /// Most characters accepted (default 256); bounds the hashing input.
    pub max_len: usize,
    /// Refuse the 10,000 most commonly used passwords, compared without
    /// case (default true).
    pub reject_common: bool,
    /// Refuse passwords too similar to the email (default true), as Ory
    /// Kratos does: compared without case to the local part and to the whole
    /// address, a password is refused when their longest common substring
    /// is at least half the password's length, or when fewer than 5
    /// single-character edits turn one into the other. A long password
    /// that merely contains a short local part passes. A password equal to
    /// the whole email is refused even when this is off.
    pub reject_email: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_len: 8,
            max_len: 256,
            reject_common: true,
            reject_email: true,
        }
    }
}

impl PasswordPolicy {
    /// Checks the NFKC form of `password` for the account `email`; the
    /// error names the `password` field.
    pub fn check(&self, password: &str, email: &Email) -> Result<(), Error> {
        let password = nfkc(password);
        let len = password.chars().count();
        let lower = password.trim().to_lowercase();
        let problem = if len < self.min_len {
            Some(format!(
                "password must be at least {} characters",
                self.min_len
            ))
        } else if len > self.max_len {
            Some(format!(
                "password must be at most {} characters",
                self.max_len
            ))
        } else if lower == email.as_str() {
            Some("password must not be the email address".to_owned())
        } else if self.reject_email && too_similar(&lower, email) {
            Some("password is too similar to the email address".to_owned())
        } else if self.reject_common && COMMON.contains(lower.as_str()) {
            Some("this password is too common; choose another".to_owned())
        } else {
            None
        };
        match problem {
            Some(message) => Err(Error::Validation(vec![FieldError::new(
                "password", message,
            )])),
            None => Ok(()),
        }
    }
}

/// Levenshtein distances below this mean "nearly the identifier" (Kratos'
/// `minIdentifierPasswordDist`).
const MIN_DISTANCE: usize = 5;

/// Whether the lower-cased `password` is too close to `email`'s local part
/// or to the whole address.
fn too_similar(password: &str, email: &Email) -> bool {
    let len = password.chars().count();
    [email.local_part(), email.as_str()].into_iter().any(|id| {
        2 * longest_common_substring(password, id) >= len
            || strsim::levenshtein(password, id) < MIN_DISTANCE
    })
}

/// The length in characters of the longest run of characters that `a` and
/// `b` share. Both are bounded (the password by `max_len`, the email by
/// its own limit), so the quadratic table is small.
fn longest_common_substring(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // `run[j]`: the length of the common run ending at the current
    // character of `a` and at `b[j - 1]`.
    let mut run = vec![0usize; b.len() + 1];
    let mut best = 0;
    for ca in a.chars() {
        for j in (1..=b.len()).rev() {
            run[j] = if b[j - 1] == ca { run[j - 1] + 1 } else { 0 };
            best = best.max(run[j]);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("alice@example.com").unwrap()
    }

    #[test]
    fn the_list_is_embedded_in_full() {
        assert!(COMMON.len() >= 10_000 - 10, "{}", COMMON.len());
    }

    #[test]
    fn length_email_and_common_passwords_are_refused() {
        let p = PasswordPolicy::default();
        assert!(p.check("short", &email()).is_err());
        assert!(p.check(&"x".repeat(257), &email()).is_err());
        assert!(p.check("Alice@Example.com", &email()).is_err());
        assert!(p.check("alice2024!", &email()).is_err());
        for common in [
            "password",
            "12345678",
            "iloveyou",
            "PASSWORD1",
            "qwertyuiop",
        ] {
            assert!(p.check(common, &email()).is_err(), "{common}");
        }
        assert!(p.check("correct horse battery", &email()).is_ok());
        assert!(p.check("zebra staple kettle", &email()).is_ok());
    }

    #[test]
    fn each_rule_can_be_turned_off() {
        let p = PasswordPolicy {
            reject_common: false,
            reject_email: false,
            ..PasswordPolicy::default()
        };
        assert!(p.check("password", &email()).is_ok());
        assert!(p.check("alice2024!", &email()).is_ok());
        // Equal to the email stays refused.
        assert!(p.check("alice@example.com", &email()).is_err());
    }

    #[test]
    fn only_passwords_too_similar_to_the_email_are_refused() {
        let p = PasswordPolicy::default();
        let admin = Email::parse("admin@acme.test").unwrap();
        // Half or more of the password is the local part.
        assert!(p.check("admin12345", &admin).is_err());
        assert!(p.check("ADMINadmin", &admin).is_err());
        // Within 4 edits of the whole address.
        assert!(p.check("admin@acme.tes", &admin).is_err());
        assert!(p.check("xadmin@acme.tst", &admin).is_err());
        // Long passwords that merely contain a short local part pass.
        assert!(
            p.check("Acceptance-Admin-Passw0rd!-7f3c9a1e5b", &admin)
                .is_ok()
        );
        let ann = Email::parse("ann@example.com").unwrap();
        assert!(p.check("planning a long annual trip 2026!", &ann).is_ok());
        assert!(p.check("my-alice-2024!", &email()).is_ok());
    }

    #[test]
    fn the_longest_common_substring_counts_characters() {
        assert_eq!(longest_common_substring("admin12345", "admin"), 5);
        assert_eq!(longest_common_substring("xyz", "admin"), 0);
        assert_eq!(longest_common_substring("éé-ab", "ééab"), 2);
        assert_eq!(longest_common_substring("", "abc"), 0);
    }

    #[test]
    fn the_policy_sees_the_normalized_password() {
        let p = PasswordPolicy::default();
        // Fullwidth "password" is the common password once normalized.
        assert!(p.check("ｐａｓｓｗｏｒｄ", &email()).is_err());
        // "ﬀ" is one character typed and two after NFKC: 7 become 8.
        assert!(p.check("a\u{fb00}bcde!", &email()).is_ok());
    }
}
