//! Re-authentication: a session records when its user last proved the
//! password, and sensitive changes need that proof recent.

use time::OffsetDateTime;

use super::Users;
use crate::error::Error;
use crate::store::SessionId;
use crate::user::{UserId, now_seconds};

/// How far ahead of this instance's clock a proof may be stamped (by
/// another instance) and still count.
const MAX_CLOCK_SKEW: time::Duration = time::Duration::seconds(5);

impl Users {
    /// Re-opens the re-authentication window of `session` (of user `id`):
    /// checks `password` and records it as proved now, so that sensitive
    /// changes need no `current_password` for the window's length (see
    /// [`UsersBuilder::with_reauthentication_window`](crate::UsersBuilder::with_reauthentication_window)).
    ///
    /// A wrong password is [`Error::InvalidCredentials`] and counts toward
    /// the lockout as a failed login does; while locked, even the right
    /// one gets [`Error::RateLimited`]. A session that is not `id`'s or no
    /// longer live is [`Error::Unauthorized`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tower_users::{AccountChange, Error, RedbStore, Users};
    /// let users = Users::builder(RedbStore::in_memory()?)
    ///     .with_secret(b"an example secret of at least 32 bytes!!")
    ///     .build()?;
    /// users.register("alice@example.com", "correct horse battery").await?;
    /// let tokens = users.login("alice@example.com", "correct horse battery").await?;
    /// let me = users.authenticate(&tokens.access_token).await?;
    ///
    /// let wrong = users.reauthenticate(me.session, me.user.id, "not it").await;
    /// assert!(matches!(wrong, Err(Error::InvalidCredentials)));
    /// users.reauthenticate(me.session, me.user.id, "correct horse battery").await?;
    ///
    /// // Within the window, a change needs no current password.
    /// let mut change = AccountChange::recently_authenticated();
    /// change.password = Some("a brand new passphrase".into());
    /// users.update_account(me.user.id, me.session, change).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[tracing::instrument(skip_all, fields(user.id = %id))]
    pub async fn reauthenticate(
        &self,
        session: SessionId,
        id: UserId,
        password: &str,
    ) -> Result<(), Error> {
        self.inner.passwords.would_admit()?; // a full hashing line: refuse before any work
        let user = self.authenticate_session(session, id).await?.user;
        self.check_current_password(&user, password).await?;
        if !self
            .store()
            .reauthenticate_session(session, now_seconds())
            .await?
        {
            // Ended while the password was being checked.
            return Err(Error::Unauthorized);
        }
        tracing::info!("re-authenticated");
        Ok(())
    }

    /// How recently a session must have proved the password for a
    /// sensitive change without `current_password`.
    pub fn reauthentication_window(&self) -> std::time::Duration {
        self.inner.config.reauth_window.unsigned_abs()
    }

    /// Whether a proof of the password at `authenticated_at` (a session's
    /// [`authenticated_at`](crate::store::Session::authenticated_at)) is
    /// within the re-authentication window now.
    ///
    /// Proofs are kept to the whole second, so both ends are compared as
    /// whole seconds: a proof counts until the window has passed in full
    /// seconds, never less than the window after it.
    pub fn is_recent(&self, authenticated_at: OffsetDateTime) -> bool {
        let age = now_seconds() - authenticated_at;
        // A proof stamped ahead of this clock (another instance's, running
        // fast) must not stay recent for longer than the window: beyond a
        // few seconds of skew, it does not count.
        age >= -MAX_CLOCK_SKEW && age <= self.inner.config.reauth_window
    }

    /// [`Error::ReauthenticationRequired`] unless the live session
    /// `session` of user `id` proved the password within the window.
    pub(super) async fn check_recent_session(
        &self,
        session: SessionId,
        id: UserId,
    ) -> Result<(), Error> {
        let now = OffsetDateTime::now_utc();
        let (live, _) = self
            .store()
            .session_with_user(session, now)
            .await?
            .ok_or(Error::Unauthorized)?;
        if live.user_id != id {
            return Err(Error::Unauthorized);
        }
        if self.is_recent(live.authenticated_at) {
            Ok(())
        } else {
            Err(Error::ReauthenticationRequired)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{RedbStore, Users};

    #[test]
    fn a_proof_stamped_well_ahead_of_this_clock_is_not_recent() {
        let users = Users::builder(RedbStore::in_memory().unwrap())
            .with_secret([5u8; 32])
            .build()
            .unwrap();
        let now = crate::user::now_seconds();
        assert!(users.is_recent(now));
        // Another instance a little fast: within the tolerated skew.
        assert!(users.is_recent(now + time::Duration::seconds(2)));
        // Far ahead: it would stay "recent" past the window.
        assert!(!users.is_recent(now + time::Duration::minutes(5)));
        assert!(!users.is_recent(now - time::Duration::minutes(11)));
    }
}
