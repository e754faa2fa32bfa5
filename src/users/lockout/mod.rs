//! Lockout: escalating delays after repeated failed logins, per account and
//! client, with an account-wide ceiling.
//!
//! Failures are counted per pair (account, client): after
//! [`threshold`](LockoutPolicy::threshold) of them that client is locked
//! out of that account for 30 s, doubling up to 15 minutes, while the owner
//! logging in from anywhere else is not. The client is the address the
//! request came from (IPv6 by its /64), as the HTTP side resolves it (see
//! [`Users::login_from`]); requests whose address is unknown share one
//! client. All clients together may fail at most
//! [`account_threshold`](LockoutPolicy::account_threshold) times in a row
//! (100, the most NIST SP 800-63B allows); then the account is locked for
//! every other client until a password reset (or change), or until
//! [`forget_after`](LockoutPolicy::forget_after) passes with no failure. A
//! successful login clears its pair and the account-wide count.
//!
//! The account-wide lock spares two origins (their own pair lock still
//! holds): the signed-in owner confirming the current password on
//! `PATCH`/`DELETE /users/me`, and a *known client*, an address (IPv6 by its
//! /64) that logged in to the account successfully within the last 30 days.
//! This is OWASP's "device cookie" idea keyed by address instead of a
//! cookie, so it needs nothing from the client, and its limits are the
//! address's: a known address shared with an attacker (one NAT, one /64)
//! spares the attacker too, though only for the pair's few guesses; an
//! owner on a new address meets the lock. A known client's login clears the
//! account-wide count, so it lifts the lock for everyone. Markers live in
//! the failure counters' table under their own keys
//! (`account NUL known <user id> NUL client`), dated so that the table's
//! forgetting ends them after 30 days.
//!
//! Counters live in the [`Store`](crate::store::Store), so every instance
//! that shares a store shares them. They are keyed by the normalized email
//! (or, with usernames on, the normalized username typed), whether or not
//! an account has it: an unknown address or name locks exactly like a known
//! one, so lockout reveals nothing about who is registered. A pair counts
//! per identifier typed, the account-wide count per account (named by its
//! email), so failures by username and by email share the ceiling but a
//! client cannot link a username to its email by locking one. Each
//! key also names the account's `password_version`, so a password reset or
//! change starts every counter of the account afresh in the same write that
//! sets the new password; the old counters are forgotten in time.
//!
//! This is independent of [`RateLimitLayer`](crate::http::RateLimitLayer):
//! the lockout holds with the layer off.
//!
//! Limits: an attacker with `account_threshold / threshold` addresses (20
//! by default), or one address guessing at the locked pace for about a day
//! with no successful login of the owner in between, reaches the ceiling and
//! locks the account for every client that is neither signed in nor known,
//! until a reset. Clients behind one NAT share an address, so they share a
//! pair.

mod gate;

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use time::OffsetDateTime;

use super::Users;
use crate::error::Error;
use crate::store::LoginFailures;
use crate::user::{Email, MAX_EMAIL_LEN, User};
use crate::username::Username;

pub(super) use gate::Gates;
use gate::{Entry, Turn};

/// When failed logins lock an account, and for how long.
///
/// After `threshold` consecutive failures from one client the account is
/// locked for that client for `base_delay`; each further failure doubles
/// it, up to `max_delay`. After `account_threshold` consecutive failures
/// from all clients together it is locked for every client until a password
/// reset or until `forget_after` passes, except for the signed-in owner and
/// addresses that logged in to it within 30 days (see the module docs). A
/// successful login clears its client's count and the account-wide one, and
/// failures older than `forget_after` are forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures from one client before the first lock (default 5).
    pub threshold: u32,
    /// The first lock's length (default 30 s).
    pub base_delay: Duration,
    /// The longest lock (default 15 minutes).
    pub max_delay: Duration,
    /// How long a failure is remembered (default 24 hours).
    pub forget_after: Duration,
    /// Failures from all clients together that lock the account for every
    /// client but the signed-in owner and known addresses (default 100, the
    /// most NIST SP 800-63B allows).
    pub account_threshold: u32,
    /// How long a check waits for its turn behind other checks of the same
    /// account before it is refused with 503 (default 30 s).
    pub max_wait: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            threshold: 5,
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(24 * 60 * 60),
            account_threshold: 100,
            max_wait: Duration::from_secs(30),
        }
    }
}

impl LockoutPolicy {
    /// How long `failures` from one client lock the account for that client
    /// after the last one.
    pub fn lock_for(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.threshold)?;
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        Some(self.base_delay.saturating_mul(factor).min(self.max_delay))
    }

    /// How long `failures` from all clients lock the account for everyone.
    fn account_lock_for(&self, failures: u32) -> Option<Duration> {
        (failures >= self.account_threshold).then_some(self.forget_after)
    }

    pub(in crate::users) fn check(&self) -> Result<(), &'static str> {
        if self.threshold == 0 {
            return Err("threshold must be at least 1");
        }
        if self.account_threshold < self.threshold {
            return Err("account_threshold must be at least threshold");
        }
        if self.max_wait.is_zero() {
            return Err("max_wait must be above zero");
        }
        Ok(())
    }
}

/// Seconds until `lock` after the last of `failures` ends, if it has not.
fn left(failures: &LoginFailures, lock: Option<Duration>, now: OffsetDateTime) -> Option<u64> {
    // Failures are stored to the whole second, up to one before they
    // happened: count from the end of that second, so no lock is shorter
    // than its policy says.
    let until = failures.last_failure + Duration::from_secs(1) + lock?;
    let left = (until - now).as_seconds_f64();
    (left > 0.0).then(|| left.ceil() as u64)
}

/// The counter key for what the client typed as its email.
pub(super) fn account_key(email: &str) -> String {
    match Email::parse(email) {
        Ok(email) => email.as_str().to_owned(),
        // Malformed input gets its own bounded key, treated like any other,
        // under a prefix with a space, which no valid email has: otherwise
        // `bob@example.com\0` would count as an unregistered bob, and lock
        // (429) where a registered one answers 401. Control characters go,
        // so none can forge the separator of a pair.
        Err(_) => {
            let typed: String = email
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_EMAIL_LEN)
                .collect();
            format!("{MALFORMED}{typed}")
        }
    }
}

/// The prefix of the keys of malformed emails.
const MALFORMED: &str = "malformed ";

/// The prefix of the keys of usernames; no email holds a space.
const USERNAME: &str = "username ";

/// What the client typed in the login field, recognised.
enum Login {
    Email(Email),
    Username(Username),
    /// Neither: it matches no one, but costs and counts the same.
    Malformed,
}

impl Users {
    /// Recognises `login` and names its counters: with usernames on, input
    /// without an `@` is a username (one never holds an `@`), anything else
    /// an email.
    fn recognise(&self, login: &str) -> (Login, String) {
        if self.inner.config.usernames.enabled() && !login.contains('@') {
            if let Ok(name) = Username::parse(login) {
                let key = format!("{USERNAME}{}", name.as_str());
                return (Login::Username(name), key);
            }
            return (Login::Malformed, account_key(login));
        }
        match Email::parse(login) {
            Ok(email) => {
                let key = email.as_str().to_owned();
                (Login::Email(email), key)
            }
            Err(_) => (Login::Malformed, account_key(login)),
        }
    }
}

/// Where a password check comes from: the client half of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A login from this address.
    Ip(IpAddr),
    /// A login whose address nobody told us: all such share one client.
    Unknown,
    /// A signed-in user confirming the current password (`PATCH` or
    /// `DELETE /users/me`): only a session holder can fail here.
    SignedIn,
}

impl Origin {
    /// The client's name in keys: IPv4 by address, IPv6 by its /64.
    fn label(self) -> String {
        match self {
            Origin::Ip(IpAddr::V4(v4)) => v4.to_string(),
            Origin::Ip(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let net = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
                    format!("{net}/64")
                }
            },
            Origin::Unknown => "unknown".to_owned(),
            Origin::SignedIn => "signed-in".to_owned(),
        }
    }
}

/// The store keys of one check: `account NUL generation NUL client`, and
/// `account NUL generation NUL *` for the account-wide count. No account key
/// holds a NUL, so no input can name another account's counters.
struct Keys {
    pair: String,
    account: String,
    /// The "known client" marker of an address on an existing account:
    /// `account NUL known <user id> NUL client` (no generation is a word).
    known: Option<String>,
}

impl Keys {
    /// `login` is the key of what the client typed (an email, a username
    /// or malformed input); the account-wide count and the known-client
    /// marker are the account's, named by its email, whichever identifier
    /// found it.
    fn new(login: &str, user: Option<&User>, origin: Origin) -> Self {
        // The generation is the password version: a reset or change bumps
        // it, so every earlier counter of the account stops counting.
        let generation = user.map_or_else(|| "-".to_owned(), |u| u.password_version.to_string());
        let account = user.map_or(login, |u| u.email.as_str());
        let client = origin.label();
        let known = match (user, origin) {
            (Some(user), Origin::Ip(_)) => {
                Some(format!("{account}\u{0}known {}\u{0}{client}", user.id))
            }
            _ => None,
        };
        Keys {
            pair: format!("{login}\u{0}{generation}\u{0}{client}"),
            account: format!("{account}\u{0}{generation}\u{0}*"),
            known,
        }
    }
}

/// How long a successful login makes its address a known client.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The time to record a known-client marker under at `now`. Markers share
/// the failure counters' table, which forgets a record `forget_after` past
/// its time; dating the marker `KNOWN_FOR - forget_after` ahead makes it
/// last `KNOWN_FOR` (or `forget_after`, if that is longer).
fn known_stamp(policy: &LockoutPolicy, now: OffsetDateTime) -> OffsetDateTime {
    now + KNOWN_FOR.saturating_sub(policy.forget_after)
}

/// A password check that got its turn; it ends on drop. Report its outcome
/// with [`failed`](Self::failed) or [`succeeded`](Self::succeeded) so the
/// counts are in the store before the next check of the account starts.
pub(super) struct Attempt<'a> {
    users: &'a Users,
    keys: Keys,
    _turn: Entry<'a>,
}

impl Attempt<'_> {
    /// Counts the failure for the pair and for the account.
    pub(super) async fn failed(self) -> Result<(), Error> {
        let users = self.users;
        let now = crate::user::now_seconds();
        let forget = users.forget_before(now);
        let store = users.store();
        let pair = store
            .record_login_failure(&self.keys.pair, now, forget)
            .await?;
        let account = store
            .record_login_failure(&self.keys.account, now, forget)
            .await?;
        let policy = &users.inner.config.lockout;
        if let Some(lock) = policy.lock_for(pair.count) {
            tracing::warn!(
                failures = pair.count,
                lock_secs = lock.as_secs(),
                "login locked for one client after repeated failures"
            );
        }
        if policy.account_lock_for(account.count).is_some() {
            tracing::warn!(
                failures = account.count,
                "login locked for every client after repeated failures; a password reset lifts it"
            );
        }
        Ok(())
    }

    /// Clears the pair's failures and the account-wide count, and marks a
    /// login's address as a known client of the account.
    pub(super) async fn succeeded(self) -> Result<(), Error> {
        let users = self.users;
        users.clear_failures(&self.keys.pair).await?;
        users.clear_failures(&self.keys.account).await?;
        let Some(known) = &self.keys.known else {
            return Ok(());
        };
        let policy = &users.inner.config.lockout;
        let now = crate::user::now_seconds();
        let stamp = known_stamp(policy, now);
        let forget = users.forget_before(now);
        // One write a day per known client is enough to keep it known.
        let marked = users.store().login_failures(known, forget).await?;
        if marked.is_none_or(|m| m.last_failure + Duration::from_secs(86_400) < stamp) {
            users
                .store()
                .record_login_failure(known, stamp, forget)
                .await?;
        }
        Ok(())
    }
}

impl Users {
    /// Waits for a turn to check a password for `login` (an email, or a
    /// username when they are on) from `origin`, or refuses: 429 while the
    /// pair or the account is locked, 503 when no turn came within
    /// [`LockoutPolicy::max_wait`]. Returns the account (read once the turn
    /// came) with the turn.
    ///
    /// The pair's count is kept per identifier typed, the account-wide one
    /// per account: a client's failures with a username do not lock that
    /// client out of the email, so a few guesses cannot tell which email a
    /// username belongs to, while all failures, by either, count toward
    /// the account's ceiling.
    pub(super) async fn begin_attempt(
        &self,
        login: &str,
        origin: Origin,
    ) -> Result<(Attempt<'_>, Option<User>), Error> {
        let policy = self.inner.config.lockout;
        let (parsed, account) = self.recognise(login);
        let client = origin.label();
        let deadline = tokio::time::Instant::now() + policy.max_wait;
        // The line is the account's, whichever identifier was typed, so
        // checks by email and by username share the account's ceiling of
        // checks at once; within it, a pair is the identifier typed and the
        // client, as its count is. A typed email names the account's line
        // itself; a username takes one lookup on arrival, before the turn
        // (one per request, not per wake). The account is read again with
        // the turn, as a rename or reset may land meanwhile.
        let line = match &parsed {
            Login::Username(_) => match self.find(&parsed).await? {
                Some(user) => user.email.as_str().to_owned(),
                None => account.clone(),
            },
            Login::Email(_) | Login::Malformed => account.clone(),
        };
        let mut turn = self
            .inner
            .attempts
            .enter(&line, &format!("{account}\u{0}{client}"));
        loop {
            // Only a task holding a turn reads the store: an ended check
            // wakes one waiter, not the whole line.
            if tokio::time::timeout_at(deadline, turn.wait())
                .await
                .is_err()
            {
                tracing::warn!("login refused: no turn among this account's checks in time");
                return Err(Error::Unavailable {
                    retry_after: policy.max_wait.as_secs().max(1),
                });
            }
            let seen = turn.ended();
            let user = self.find(&parsed).await?;
            let keys = Keys::new(&account, user.as_ref(), origin);
            let now = OffsetDateTime::now_utc();
            let forget = self.forget_before(now);
            let pair = self.store().login_failures(&keys.pair, forget).await?;
            let all = self.store().login_failures(&keys.account, forget).await?;
            let mut account_lock = all
                .as_ref()
                .and_then(|f| left(f, policy.account_lock_for(f.count), now));
            // The account-wide lock never shuts out the signed-in owner, nor
            // an address that logged in to the account lately.
            if account_lock.is_some() && self.exempt_from_account_lock(origin, &keys, now).await? {
                account_lock = None;
            }
            let locked = [
                pair.as_ref()
                    .and_then(|f| left(f, policy.lock_for(f.count), now)),
                account_lock,
            ];
            if let Some(retry_after) = locked.into_iter().flatten().max() {
                return Err(Error::RateLimited { retry_after });
            }
            // Each running check may add one failure: let no more run than
            // failures remain before a lock (one at a time past it).
            let room = |limit: u32, f: Option<LoginFailures>| {
                limit.saturating_sub(f.map_or(0, |f| f.count)).max(1)
            };
            match turn.try_admit(
                seen,
                room(policy.threshold, pair),
                room(policy.account_threshold, all),
            ) {
                Turn::Admitted => {
                    let attempt = Attempt {
                        users: self,
                        keys,
                        _turn: turn,
                    };
                    return Ok((attempt, user));
                }
                Turn::Stale | Turn::Wait => {}
            }
        }
    }

    /// The account `login` names, if any.
    async fn find(&self, login: &Login) -> Result<Option<User>, Error> {
        Ok(match login {
            Login::Email(email) => self.store().user_by_email(email).await?,
            Login::Username(name) => self.store().user_by_username(name).await?,
            // Malformed input cannot match anyone, but must cost the same.
            Login::Malformed => None,
        })
    }

    /// Whether the account-wide lock spares this check: a signed-in
    /// owner's, or one from a known client of the account.
    async fn exempt_from_account_lock(
        &self,
        origin: Origin,
        keys: &Keys,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        if origin == Origin::SignedIn {
            return Ok(true);
        }
        let Some(known) = &keys.known else {
            return Ok(false);
        };
        let marked = self
            .store()
            .login_failures(known, self.forget_before(now))
            .await?;
        Ok(marked.is_some())
    }

    fn forget_before(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.inner.config.lockout.forget_after
    }

    async fn clear_failures(&self, key: &str) -> Result<(), Error> {
        let now = OffsetDateTime::now_utc();
        if self
            .store()
            .login_failures(key, self.forget_before(now))
            .await?
            .is_some()
        {
            self.store().clear_login_failures(key).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_escalate_exponentially_to_the_cap() {
        let p = LockoutPolicy::default();
        assert_eq!(p.lock_for(4), None);
        assert_eq!(p.lock_for(5), Some(Duration::from_secs(30)));
        assert_eq!(p.lock_for(6), Some(Duration::from_secs(60)));
        assert_eq!(p.lock_for(8), Some(Duration::from_secs(240)));
        assert_eq!(p.lock_for(9), Some(Duration::from_secs(480)));
        assert_eq!(p.lock_for(10), Some(Duration::from_secs(900)));
        assert_eq!(p.lock_for(u32::MAX), Some(Duration::from_secs(900)));
        assert_eq!(p.account_lock_for(99), None);
        assert_eq!(p.account_lock_for(100), Some(p.forget_after));
    }

    #[test]
    fn a_lock_lasts_its_full_length_though_failures_are_kept_to_the_second() {
        let stored = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        let failures = LoginFailures {
            count: 5,
            last_failure: stored,
        };
        let lock = Some(Duration::from_secs(1));
        // The failure came at .999 of its second, the check 2 ms later.
        let now = stored + Duration::from_millis(1001);
        assert_eq!(left(&failures, lock, now), Some(1));
        assert_eq!(left(&failures, lock, stored + Duration::from_secs(2)), None);
    }

    #[test]
    fn keys_are_normalized_and_bounded() {
        assert_eq!(account_key(" A@Example.com "), "a@example.com");
        let long = account_key(&"x".repeat(1000));
        assert_eq!(long.len(), MALFORMED.len() + MAX_EMAIL_LEN);
        assert!(!account_key("a@example.com\u{0}1.2.3.4").contains('\u{0}'));
        // Malformed input never shares a valid address's counters.
        assert_ne!(account_key("bob@example.com\u{0}"), "bob@example.com");
        assert!(Email::parse(&account_key("bob@example.com\u{0}")).is_err());
    }

    #[test]
    fn a_username_counts_its_own_pair_and_its_accounts_ceiling() {
        let user = User::new(Email::parse("a@example.com").unwrap(), String::new());
        let origin = Origin::Ip("203.0.113.5".parse().unwrap());
        let by_email = Keys::new("a@example.com", Some(&user), origin);
        let by_name = Keys::new("username alice", Some(&user), origin);
        assert_ne!(by_name.pair, by_email.pair);
        assert_eq!(by_name.account, by_email.account);
        assert_eq!(by_name.known, by_email.known);
        // An unknown name has counters of its own, as an unknown email does.
        let unknown = Keys::new("username nobody", None, origin);
        assert!(unknown.account.starts_with("username nobody\u{0}"));
    }

    #[test]
    fn a_fullwidth_at_sign_is_malformed_alike_with_usernames_on_or_off() {
        // `Email::parse` refuses an address without a plain `@` (a
        // normalized `＠` included) and a username never holds one, so the
        // setting must not change how such input is counted.
        let users = |mode| {
            Users::builder(crate::RedbStore::in_memory().unwrap())
                .with_secret([5u8; 32])
                .with_usernames(mode)
                .build()
                .unwrap()
        };
        let (off, on) = (
            users(crate::Usernames::Off),
            users(crate::Usernames::Optional),
        );
        for login in [
            "a\u{ff20}example.com",
            "A\u{fe6b}Example.com",
            "alice\u{ff20}x",
        ] {
            let (parsed_off, key_off) = off.recognise(login);
            let (parsed_on, key_on) = on.recognise(login);
            assert!(matches!(parsed_off, Login::Malformed), "{login:?}");
            assert!(matches!(parsed_on, Login::Malformed), "{login:?}");
            assert_eq!(key_on, key_off, "{login:?}");
        }
        assert!(matches!(on.recognise("ａｌｉｃｅ").0, Login::Username(_)));
    }

    #[test]
    fn clients_are_addresses_with_ipv6_by_its_64() {
        let ip = |s: &str| Origin::Ip(s.parse().unwrap()).label();
        assert_eq!(ip("203.0.113.5"), "203.0.113.5");
        assert_eq!(ip("::ffff:203.0.113.5"), "203.0.113.5");
        assert_eq!(ip("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2:bbbb::2"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(Origin::Unknown.label(), "unknown");
    }
}
