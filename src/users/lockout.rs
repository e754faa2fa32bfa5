//! Lockout: escalating delays after repeated failed logins on one account.
//!
//! Counters live in the [`Store`](crate::store::Store), so every instance
//! that shares a store shares them. They are keyed by the normalized email,
//! whether or not an account has it: an unknown address locks exactly like
//! a known one, so lockout reveals nothing about who is registered. Each
//! account has its own counter; one locked account never blocks another.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

use super::Users;
use crate::error::Error;
use crate::store::LoginFailures;
use crate::user::{Email, MAX_EMAIL_LEN};

/// When failed logins lock an account, and for how long.
///
/// After `threshold` consecutive failures the account is locked for
/// `base_delay`; each further failure doubles it, up to `max_delay`. A
/// successful login clears the count, and failures older than
/// `forget_after` are forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures before the first lock (default 5).
    pub threshold: u32,
    /// The first lock's length (default 30 s).
    pub base_delay: Duration,
    /// The longest lock (default 15 minutes).
    pub max_delay: Duration,
    /// How long a failure is remembered (default 24 hours).
    pub forget_after: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            threshold: 5,
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl LockoutPolicy {
    /// How long `failures` lock the account after the last one.
    pub fn lock_for(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.threshold)?;
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        Some(self.base_delay.saturating_mul(factor).min(self.max_delay))
    }

    /// Seconds until a login may be tried again, if locked at `now`.
    fn retry_after(&self, failures: &LoginFailures, now: OffsetDateTime) -> Option<u64> {
        let until = failures.last_failure + self.lock_for(failures.count)?;
        let left = (until - now).as_seconds_f64();
        (left > 0.0).then(|| left.ceil() as u64)
    }
}

/// The counter key for what the client typed as its email.
pub(super) fn account_key(email: &str) -> String {
    match Email::parse(email) {
        Ok(email) => email.as_str().to_owned(),
        // Malformed input gets its own bounded key, treated like any other.
        Err(_) => email
            .trim()
            .to_lowercase()
            .chars()
            .take(MAX_EMAIL_LEN)
            .collect(),
    }
}

/// The accounts with a password check running on this instance. The
/// failure counter is written after the (slow) check, so without this a
/// burst of parallel guesses would all be checked before the first failure
/// counted; one check at a time per account keeps the count honest.
#[derive(Default)]
pub(super) struct InFlight(Mutex<HashSet<String>>);

/// A running password check; ends on drop.
pub(super) struct Attempt<'a> {
    in_flight: &'a InFlight,
    key: String,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Ok(mut keys) = self.in_flight.0.lock() {
            keys.remove(&self.key);
        }
    }
}

impl Users {
    /// Starts a password check for `key`, or refuses with 429 while another
    /// is running for the same account.
    pub(super) fn begin_attempt(&self, key: &str) -> Result<Attempt<'_>, Error> {
        let in_flight = &self.inner.attempts;
        let mut keys = in_flight
            .0
            .lock()
            .map_err(|_| Error::internal("lockout state poisoned"))?;
        if !keys.insert(key.to_owned()) {
            return Err(Error::RateLimited { retry_after: 1 });
        }
        Ok(Attempt {
            in_flight,
            key: key.to_owned(),
        })
    }

    fn forget_before(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.inner.config.lockout.forget_after
    }

    /// Refuses with 429 while `key` is locked.
    pub(super) async fn check_lockout(&self, key: &str) -> Result<(), Error> {
        let now = OffsetDateTime::now_utc();
        let failures = self
            .store()
            .login_failures(key, self.forget_before(now))
            .await?;
        if let Some(retry_after) =
            failures.and_then(|f| self.inner.config.lockout.retry_after(&f, now))
        {
            return Err(Error::RateLimited { retry_after });
        }
        Ok(())
    }

    pub(super) async fn record_failure(&self, key: &str) -> Result<(), Error> {
        let now = crate::user::now_seconds();
        let failures = self
            .store()
            .record_login_failure(key, now, self.forget_before(now))
            .await?;
        if let Some(lock) = self.inner.config.lockout.lock_for(failures.count) {
            tracing::warn!(
                failures = failures.count,
                lock_secs = lock.as_secs(),
                "login locked after repeated failures"
            );
        }
        Ok(())
    }

    pub(super) async fn clear_failures(&self, key: &str) -> Result<(), Error> {
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
    }

    #[test]
    fn keys_are_normalized_and_bounded() {
        assert_eq!(account_key(" A@Example.com "), "a@example.com");
        assert_eq!(account_key(&"x".repeat(1000)).len(), MAX_EMAIL_LEN);
    }
}
