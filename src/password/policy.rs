//! The built-in password policy, after NIST SP 800-63B: length, not a
//! commonly used password, not the account's own email.

use std::collections::HashSet;
use std::sync::LazyLock;

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
    /// Refuse passwords that contain the email's local part, when it has at
    /// least 3 characters (default true), or equal the whole email (always).
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
    /// Checks `password` for the account `email`; the error names the
    /// `password` field.
    pub fn check(&self, password: &str, email: &Email) -> Result<(), Error> {
        let len = password.chars().count();
        let lower = password.trim().to_lowercase();
        let local = email.local_part();
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
        } else if self.reject_email && local.chars().count() >= 3 && lower.contains(local) {
            Some("password must not contain the email address".to_owned())
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
        assert!(p.check("my-alice-2024!", &email()).is_err());
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
        assert!(p.check("my-alice-2024!", &email()).is_ok());
        // Equal to the email stays refused.
        assert!(p.check("alice@example.com", &email()).is_err());
    }
}
