//! The user model: ids, normalized emails, the stored user and its public record.

use std::collections::BTreeSet;
use std::fmt;

use icu_casemap::CaseMapper;
use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
use icu_properties::{CodePointMapData, CodePointSetData};
use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Redacted};
use crate::username::Username;
use crate::users::ProfileFields;

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

/// An email address, normalized so that every spelling of one mailbox is
/// one value, and checked for a plausible shape.
///
/// Normalization happens once, here, so uniqueness and lookups always
/// compare like with like:
///
/// - surrounding whitespace is trimmed;
/// - the domain is mapped with UTS #46 (IDNA: case folding, width folding,
///   NFKC) and kept as its lower-case A-label, so `bücher.example`,
///   `BÜCHER.example` and `xn--bcher-kva.example` are one domain, and so are
///   `ｅｘａｍｐｌｅ.com` and `example.com`;
/// - the local part is NFKC-normalized and fully case-folded (Unicode
///   `CaseFolding.txt`, not mere lower-casing), so a fullwidth `ｃａｒｏｌ` is
///   `carol`, `ΟΔΟΣ`, `οδος` and `οδοσ` are one local part (both sigmas
///   fold to `σ`) and `STRASSE` and `straße` are `strasse`. Mail servers may in principle tell such local
///   parts apart; in practice none hands them different mailboxes, while
///   keeping them apart would let look-alike accounts exist side by side.
///   Mail always goes to the normalized address, so registering a variant
///   never reaches someone else's mailbox;
/// - a local part with a Unicode format character (general category `Cf`:
///   zero-width spaces and joiners, bidi controls, the soft hyphen, the BOM,
///   tag characters) is refused: such characters are invisible, or reorder
///   what is shown, so two addresses that look alike would be two accounts.
///   So is one with a `Default_Ignorable_Code_Point` (variation selectors,
///   the combining grapheme joiner, Hangul fillers, Mongolian free
///   variation selectors), before or after normalization, for the same
///   reason: renderers draw them as nothing.
///
/// ```
/// use tower_users::Email;
/// let email = Email::parse("  Alice@Example.COM ").unwrap();
/// assert_eq!(email.as_str(), "alice@example.com");
/// let idn = Email::parse("Carol@BÜCHER.example").unwrap();
/// assert_eq!(idn.as_str(), "carol@xn--bcher-kva.example");
/// assert!(Email::parse("ad\u{200b}min@example.com").is_err());
/// assert!(Email::parse("not an email").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalizes and validates `raw`; the error says why it was refused.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        let reject = |why: &str| Err(Error::field("email", why));
        if raw.is_empty() {
            return reject("email is required");
        }
        // Normalizing can only grow an address so much; anything this long
        // is refused before the work, and the result is checked again below.
        if raw.len() > 4 * MAX_EMAIL_LEN {
            return reject("email is too long");
        }
        let Some((raw_local, raw_domain)) = raw.rsplit_once('@') else {
            return reject("email must contain '@'");
        };
        if raw_local.chars().any(is_invisible) {
            return reject("email must not contain invisible or direction-changing characters");
        }
        let local = normalize_local(raw_local);
        // NFKC followed by case folding is not a fixed point for a handful
        // of characters; refusing those keeps `parse(email.as_str()) == email`.
        if normalize_local(&local) != local || case_fold(&local) != local {
            return reject("email has invalid characters");
        }
        if local.is_empty() || local.len() > 64 {
            return reject("email has an invalid local part");
        }
        if local.contains('@') {
            return reject("email must contain exactly one '@'");
        }
        // Control characters, spaces, quotes and angle brackets have no place
        // in an address we will put into a mail header.
        if local.chars().any(|c| {
            c.is_control() || c.is_whitespace() || is_invisible(c) || "\"<>()[]\\,;:".contains(c)
        }) {
            return reject("email has invalid characters");
        }
        let Some(domain) = domain_to_ascii(raw_domain) else {
            return reject("email has an invalid domain");
        };
        let domain_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return reject("email has an invalid domain");
        }
        let email = format!("{local}@{domain}");
        if email.len() > MAX_EMAIL_LEN {
            return reject("email is too long");
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
    /// The normalized username, unique across users; `None` when the user
    /// has none (always, unless usernames are or were on: see
    /// [`UsersBuilder::with_usernames`](crate::UsersBuilder::with_usernames)).
    /// Turning usernames off keeps the names already set.
    pub username: Option<Username>,
    /// The app's own fields (see [`UsersBuilder::with_profile`]), shown
    /// flattened in the public record. Read them typed with
    /// `user.profile.parse::<Profile>()` ([`ProfileFields::parse`]).
    ///
    /// [`UsersBuilder::with_profile`]: crate::UsersBuilder::with_profile
    pub profile: ProfileFields,
    /// The roles the user holds, granted by a superuser; what each allows
    /// is defined by the app ([`UsersBuilder::with_role`]). Read from the
    /// store on every request, so a grant or revoke holds at once.
    ///
    /// [`UsersBuilder::with_role`]: crate::UsersBuilder::with_role
    pub roles: BTreeSet<String>,
}

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
            username: None,
            profile: ProfileFields::new(),
            roles: BTreeSet::new(),
        }
    }

    /// Whether the user holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
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
            .field("username", &self.username)
            .field("profile", &self.profile)
            .field("roles", &self.roles)
            .finish()
    }
}

/// The public user record of the [HTTP contract](crate::http::api): what
/// clients see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[cfg_attr(
    test,
    schema(
        description = "The public user record; the app's custom fields, if any, appear beside these."
    )
)]
pub struct UserRecord {
    /// The user's id (UUIDv7).
    #[cfg_attr(test, schema(value_type = uuid::Uuid))]
    pub id: UserId,
    /// The normalized email.
    pub email: String,
    /// The normalized username; absent (not `null`) when the user has none,
    /// so with usernames off the record is what it always was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, schema(nullable = false, max_length = 32, min_length = 3))]
    pub username: Option<String>,
    /// Whether the account may log in.
    pub is_active: bool,
    /// Whether the email is confirmed.
    pub is_verified: bool,
    /// Whether the user is an administrator.
    pub is_superuser: bool,
    /// Registration time, RFC 3339 UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The roles the user holds, in name order (always sent, `[]` for
    /// none).
    #[serde(default)]
    #[cfg_attr(test, schema(required = true))]
    pub roles: BTreeSet<String>,
    /// The app's own fields, side by side with the ones above.
    #[serde(flatten)]
    #[cfg_attr(test, schema(ignore))]
    pub profile: ProfileFields,
}

impl From<&User> for UserRecord {
    fn from(user: &User) -> Self {
        UserRecord {
            id: user.id,
            email: user.email.as_str().to_owned(),
            username: user.username.as_ref().map(|u| u.as_str().to_owned()),
            is_active: user.is_active,
            is_verified: user.is_verified,
            is_superuser: user.is_superuser,
            created_at: user.created_at,
            roles: user.roles.clone(),
            // A profile key named like a record field (kept while usernames
            // were off, or stored before roles existed) would shadow the
            // real field or repeat its key: the record never shows it.
            profile: user
                .profile
                .as_map()
                .iter()
                .filter(|(key, _)| !is_record_field(key))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
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
    "roles",
    "password",
    "current_password",
];

/// Whether a profile key would collide with a field of the public record,
/// `username` included whatever the [`Usernames`](crate::Usernames)
/// setting, so the record's own fields always mean one thing.
pub(crate) fn is_record_field(key: &str) -> bool {
    key == "username" || RECORD_FIELDS.contains(&key)
}

/// An identifier (a username) normalized as an email's local part is.
pub(crate) fn normalize_identifier(raw: &str) -> String {
    normalize_local(raw)
}

/// NFKC, case-folded, NFKC again (folding can leave a sequence that is not
/// in normal form).
fn normalize_local(local: &str) -> String {
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    nfkc.normalize(&case_fold(&nfkc.normalize(local)))
        .into_owned()
}

/// Full Unicode case folding: unlike lower-casing it maps every case
/// variant of a letter to one form (both Greek sigmas to `σ`, `ß` to `ss`).
fn case_fold(text: &str) -> String {
    CaseMapper::new().fold_string(text).into_owned()
}

/// Characters that draw as nothing or reorder what is drawn: general
/// category `Cf` (format characters) and `Default_Ignorable_Code_Point`
/// (variation selectors, fillers, joiners outside `Cf`).
fn is_invisible(c: char) -> bool {
    CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// The lower-case A-label form of `domain` after UTS #46 processing, with
/// the STD3 rules (letters, digits and hyphens only) and DNS lengths
/// checked; `None` if it is not a valid domain name.
fn domain_to_ascii(domain: &str) -> Option<String> {
    Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Verify,
        )
        .ok()
        .map(|ascii| ascii.into_owned())
}

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
    fn every_spelling_of_one_mailbox_is_one_email() {
        let carol = Email::parse("carol@example.com").unwrap();
        for form in [
            "carol@ｅｘａｍｐｌｅ.com",
            "CAROL@ＥＸＡＭＰＬＥ.ＣＯＭ",
            "ｃａｒｏｌ@example.com",
            "carol@example\u{3002}com",
            " Carol@Example.Com ",
        ] {
            assert_eq!(Email::parse(form).unwrap(), carol, "{form:?}");
        }
        let idn = Email::parse("carol@bücher.example").unwrap();
        assert_eq!(idn.as_str(), "carol@xn--bcher-kva.example");
        for form in [
            "carol@xn--bcher-kva.example",
            "Carol@BÜCHER.example",
            "carol@bu\u{308}cher.example",
        ] {
            assert_eq!(Email::parse(form).unwrap(), idn, "{form:?}");
        }
    }

    #[test]
    fn format_characters_in_the_local_part_are_refused() {
        for c in [
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{202e}',
            '\u{2066}',
            '\u{00ad}',
            '\u{feff}',
            '\u{2060}',
            '\u{180e}',
            '\u{e0041}',
        ] {
            for local in [
                format!("ad{c}min"),
                format!("admin{c}"),
                format!("{c}admin"),
            ] {
                let raw = format!("{local}@example.com");
                let err = Email::parse(&raw).unwrap_err();
                assert_eq!(err.code(), "VALIDATION_ERROR", "{raw:?}");
            }
        }
    }

    #[test]
    fn default_ignorable_characters_in_the_local_part_are_refused() {
        // None of these is category Cf; U+3164 and U+FFA0 become U+1160
        // under NFKC, so the check must also run after normalization.
        for c in [
            '\u{034f}',
            '\u{fe0f}',
            '\u{e0100}',
            '\u{180b}',
            '\u{3164}',
            '\u{ffa0}',
            '\u{1160}',
            '\u{115f}',
        ] {
            for local in [format!("ad{c}min"), format!("admin{c}")] {
                let raw = format!("{local}@example.com");
                let err = Email::parse(&raw).unwrap_err();
                assert_eq!(err.code(), "VALIDATION_ERROR", "{raw:?}");
            }
        }
    }

    #[test]
    fn local_parts_are_case_folded_not_just_lowercased() {
        let odos = Email::parse("\u{3bf}\u{3b4}\u{3bf}\u{3c3}@example.gr").unwrap();
        for form in [
            "\u{39f}\u{394}\u{39f}\u{3a3}@example.gr",
            "\u{3bf}\u{3b4}\u{3bf}\u{3c2}@example.gr",
        ] {
            assert_eq!(Email::parse(form).unwrap(), odos, "{form:?}");
        }
        let strasse = Email::parse("strasse@example.com").unwrap();
        assert_eq!(Email::parse("Straße@example.com").unwrap(), strasse);
        assert_eq!(Email::parse("STRASSE@example.com").unwrap(), strasse);
    }

    #[test]
    fn an_accepted_email_parses_again_to_itself() {
        for raw in [
            "Ǆ@example.com",
            "İstanbul@example.com",
            "ﬃ@example.com",
            "Ⅻ@example.com",
            "ß@straße.de",
            "ΣΑΣ@example.gr",
            "x@xn--bcher-kva.example",
            "㍿@example.com",
            "\u{ab70}@example.com",
            "\u{13a0}@example.com",
        ] {
            if let Ok(email) = Email::parse(raw) {
                assert_eq!(Email::parse(email.as_str()).unwrap(), email, "{raw:?}");
                assert_eq!(email.as_str(), case_fold(email.as_str()));
            }
        }
    }

    #[test]
    fn with_any_one_code_point_an_accepted_email_is_normalized_and_stable() {
        // The BMP and plane 1, the compatibility ideographs (NFKC maps
        // them), and the tags and variation selectors of plane 14; the rest
        // is CJK ideographs, private use or unassigned, alike for this test.
        let planes = (0..=0x1_FFFF)
            .chain(0x2_F800..=0x2_FA1F)
            .chain(0xE_0000..=0xE_01EF);
        for c in planes.filter_map(char::from_u32) {
            for raw in [format!("a{c}b@example.com"), format!("ab@ex{c}ample.com")] {
                let Ok(email) = Email::parse(&raw) else {
                    continue;
                };
                let s = email.as_str();
                assert!(s.len() <= MAX_EMAIL_LEN, "{raw:?}");
                assert_eq!(s, case_fold(s), "{raw:?}");
                assert!(
                    !s.chars().any(|c| c.is_whitespace() || is_invisible(c)),
                    "{raw:?}"
                );
                assert_eq!(s.matches('@').count(), 1, "{raw:?}");
                assert!(
                    email.as_str().rsplit_once('@').unwrap().1.is_ascii(),
                    "{raw:?}"
                );
                assert_eq!(Email::parse(s).unwrap(), email, "{raw:?}");
            }
        }
    }

    #[test]
    fn invalid_domains_stay_refused_after_mapping() {
        for bad in [
            "bob@exa_mple.com",
            "bob@example.com.",
            "bob@xn--a.example",
            "bob@ex\u{200b}ample\u{202e}.com",
            "bob@[127.0.0.1]",
            "bob＠example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
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
    fn profile_fields_sit_flat_in_the_record_and_read_back() {
        let mut user = User::new(Email::parse("a@example.com").unwrap(), String::new());
        user.profile =
            ProfileFields::from_typed(&serde_json::json!({"display_name": "A"})).unwrap();
        let json = serde_json::to_value(user.record()).unwrap();
        assert_eq!(json["display_name"], "A");
        let back: UserRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, user.record());
    }

    #[test]
    fn a_profile_key_named_like_a_record_field_never_reaches_the_record() {
        let mut user = User::new(Email::parse("a@example.com").unwrap(), String::new());
        user.profile = ProfileFields::from_typed(&serde_json::json!({
            "username": "kept-while-off",
            "roles": ["from-before-roles"],
            "is_superuser": true,
            "display_name": "A",
        }))
        .unwrap();
        let json = serde_json::to_string(&user.record()).unwrap();
        assert!(!json.contains("\"username\""), "{json}");
        assert!(!json.contains("kept-while-off"), "{json}");
        assert!(!json.contains("from-before-roles"), "{json}");
        assert_eq!(json.matches("\"roles\"").count(), 1, "{json}");
        assert_eq!(json.matches("\"is_superuser\"").count(), 1, "{json}");
        user.username = Some(Username::parse("alice").unwrap());
        let json = serde_json::to_string(&user.record()).unwrap();
        assert_eq!(json.matches("\"username\"").count(), 1, "{json}");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["username"], "alice");
        assert_eq!(value["is_superuser"], false);
        assert_eq!(value["display_name"], "A");
    }

    #[test]
    fn record_renders_rfc3339() {
        let user = User::new(Email::parse("a@example.com").unwrap(), String::new());
        let json = serde_json::to_value(user.record()).unwrap();
        assert!(json["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(json.get("password_hash").is_none());
    }
}
