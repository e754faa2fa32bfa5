//! Email normalization and validation: never panics; whatever it accepts is
//! normalized (trimmed, lower-cased, bounded) and stays the same when parsed
//! again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_users::Email;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(email) = Email::parse(&raw) {
        let s = email.as_str();
        assert!(s.len() <= tower_users::MAX_EMAIL_LEN);
        assert_eq!(s, s.trim());
        assert_eq!(s, s.to_lowercase());
        assert!(!s.chars().any(char::is_whitespace));
        assert_eq!(s.matches('@').count(), 1);
        let again = Email::parse(s).expect("a normalized email parses again");
        assert_eq!(again, email);
    }
});
