//! Passwords are compared in Unicode NFKC, as NIST SP 800-63B asks: the
//! same password typed on two keyboards (a precomposed `é` on one, `e` and a
//! combining accent on the other; fullwidth letters from an IME) is one
//! password. The policy sees the normalized form and the stored hash is of
//! the normalized form.
//!
//! Hashes stored before normalization was introduced are of the raw form.
//! So that those accounts keep working, a password that NFKC changes is
//! also tried as typed when its normalized form does not match; a match that
//! way is answered with a rehash of the normalized form, which the login
//! stores, so each such account needs the fallback once. Only passwords that
//! NFKC changes pay for the second check, and a wrong one costs two argon2
//! runs instead of one (unknown emails pay the same, so timing does not tell
//! them apart).

use std::borrow::Cow;

use argon2::Params;
use argon2::password_hash::phc::PasswordHash;
use icu_normalizer::ComposingNormalizerBorrowed;

/// `password` in Unicode Normalization Form KC.
pub(crate) fn nfkc(password: &str) -> Cow<'_, str> {
    ComposingNormalizerBorrowed::new_nfkc().normalize(password)
}

/// A password as typed at login, ready to check against a stored hash.
pub(super) struct Typed {
    normalized: String,
    /// The form as typed, kept only when NFKC changed it.
    raw: Option<String>,
}

/// How a password matched its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Match {
    /// The normalized form matched: the hash is of today's kind.
    Normalized,
    /// Only the form as typed matched: a hash from before normalization,
    /// to be replaced by one of the normalized form.
    Raw,
}

impl Typed {
    pub(super) fn new(password: &str) -> Self {
        match nfkc(password) {
            Cow::Borrowed(_) => Typed {
                normalized: password.to_owned(),
                raw: None,
            },
            Cow::Owned(normalized) => Typed {
                normalized,
                raw: Some(password.to_owned()),
            },
        }
    }

    /// The normalized form: what a new hash is made of.
    pub(super) fn normalized(&self) -> &[u8] {
        self.normalized.as_bytes()
    }

    /// Which form, if any, `hash` was made from; `current` is today's
    /// cost (see [`argon::verify`](super::argon::verify)).
    pub(super) fn check(&self, hash: &PasswordHash, current: &Params) -> Option<Match> {
        if super::argon::verify(hash, self.normalized(), current) {
            return Some(Match::Normalized);
        }
        let raw = self.raw.as_deref()?;
        super::argon::verify(hash, raw.as_bytes(), current).then_some(Match::Raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfc_nfd_and_fullwidth_forms_normalize_alike() {
        let nfc = "caf\u{e9} au lait";
        let nfd = "cafe\u{301} au lait";
        assert_eq!(nfkc(nfc), nfkc(nfd));
        assert_eq!(nfkc("ｐａｓｓｗｏｒｄ"), "password");
        assert!(matches!(nfkc("plain ascii"), Cow::Borrowed(_)));
    }

    #[test]
    fn only_a_changed_password_keeps_its_raw_form() {
        assert!(Typed::new("plain ascii").raw.is_none());
        let typed = Typed::new("cafe\u{301}");
        assert_eq!(typed.normalized(), "caf\u{e9}".as_bytes());
        assert_eq!(typed.raw.as_deref(), Some("cafe\u{301}"));
    }

    #[test]
    fn a_hash_of_the_raw_form_still_matches_and_asks_for_a_rehash() {
        use argon2::{Algorithm, Argon2, PasswordHasher as _, Version};
        let params = Params::new(1024, 1, 1, None).unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let hash = |pw: &str| {
            argon
                .hash_password_with_salt(pw.as_bytes(), b"0123456789abcdef")
                .unwrap()
                .to_string()
        };
        let nfd = "cafe\u{301} au lait";
        let nfc = "caf\u{e9} au lait";
        // Stored before normalization: the raw NFD form.
        let legacy = hash(nfd);
        let legacy = PasswordHash::new(&legacy).unwrap();
        assert_eq!(Typed::new(nfd).check(&legacy, &params), Some(Match::Raw));
        // Stored since: the normalized form, which both spellings reach.
        let current = hash(&nfkc(nfd));
        let current = PasswordHash::new(&current).unwrap();
        assert_eq!(
            Typed::new(nfd).check(&current, &params),
            Some(Match::Normalized)
        );
        assert_eq!(
            Typed::new(nfc).check(&current, &params),
            Some(Match::Normalized)
        );
        assert_eq!(Typed::new("cafe au lait").check(&current, &params), None);
    }
}
