//! Password reset: request a link, set a new password with its token.

use super::Users;
use crate::error::Error;
use crate::store::{SpentToken, UserUpdate};
use crate::token::Purpose;
use crate::user::{Email, User};

impl Users {
    /// Queues a reset link if `email` belongs to an active user. Succeeds
    /// for every well-formed email, after the same work either way; when it
    /// returns, the email is on disk in the outbox.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tower_users::mail::{MailError, Mailer, OutgoingEmail};
    /// # use tower_users::{Error, RedbStore, Users};
    /// # struct Inbox(tokio::sync::mpsc::UnboundedSender<OutgoingEmail>);
    /// # impl Mailer for Inbox {
    /// #     async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
    /// #         let _ = self.0.send(email.clone());
    /// #         Ok(())
    /// #     }
    /// # }
    /// # let (outbox, mut inbox) = tokio::sync::mpsc::unbounded_channel();
    /// # let users = Users::builder(RedbStore::in_memory()?)
    /// #     .with_secret(b"an example secret of at least 32 bytes!!")
    /// #     .with_mailer(Inbox(outbox))
    /// #     .build()?;
    /// # // The token in the link of the next email, as the user would click it.
    /// # let mut next_token = async || -> String {
    /// #     let email = inbox.recv().await.unwrap();
    /// #     email.link.split_once("#token=").unwrap().1.to_owned()
    /// # };
    /// users.register("alice@example.com", "correct horse battery").await?;
    /// let _verify = next_token().await;
    ///
    /// users.request_password_reset("alice@example.com").await?;
    /// let token = next_token().await;
    /// users.reset_password(&token, "a brand new password").await?;
    ///
    /// // The same answer for an address nobody registered (no email is sent).
    /// users.request_password_reset("nobody@example.com").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn request_password_reset(&self, email: &str) -> Result<(), Error> {
        let email = Email::parse(email)?;
        let user = self.store().user_by_email(&email).await?;
        let eligible = user.filter(|u| u.is_active);
        self.queue_or_decoy(&email, eligible, Purpose::Reset).await
    }

    /// Sets a new password with a reset token. In one write it bumps
    /// `password_version`, spends the token and ends every session, so every
    /// outstanding token of the user dies; the login lockout's counters of
    /// the account are keyed by `password_version`, so the same write lifts
    /// any lock, for every client. A refused new password spends
    /// nothing: the user can try again with the same token.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tower_users::mail::{MailError, Mailer, OutgoingEmail};
    /// # use tower_users::{Error, RedbStore, Users};
    /// # struct Inbox(tokio::sync::mpsc::UnboundedSender<OutgoingEmail>);
    /// # impl Mailer for Inbox {
    /// #     async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
    /// #         let _ = self.0.send(email.clone());
    /// #         Ok(())
    /// #     }
    /// # }
    /// # let (outbox, mut inbox) = tokio::sync::mpsc::unbounded_channel();
    /// # let users = Users::builder(RedbStore::in_memory()?)
    /// #     .with_secret(b"an example secret of at least 32 bytes!!")
    /// #     .with_mailer(Inbox(outbox))
    /// #     .build()?;
    /// # // The token in the link of the next email, as the user would click it.
    /// # let mut next_token = async || -> String {
    /// #     let email = inbox.recv().await.unwrap();
    /// #     email.link.split_once("#token=").unwrap().1.to_owned()
    /// # };
    /// users.register("alice@example.com", "correct horse battery").await?;
    /// let _verify = next_token().await;
    /// let before = users.login("alice@example.com", "correct horse battery").await?;
    ///
    /// users.request_password_reset("alice@example.com").await?;
    /// let token = next_token().await;
    ///
    /// // A refused password spends nothing: the link still works.
    /// let weak = users.reset_password(&token, "password").await;
    /// assert!(matches!(weak, Err(Error::Validation(_))));
    /// users.reset_password(&token, "a brand new password").await?;
    ///
    /// // Every session of the user ended with the reset.
    /// let old = users.authenticate(&before.access_token).await;
    /// assert!(matches!(old, Err(Error::Unauthorized)));
    /// users.login("alice@example.com", "a brand new password").await?;
    /// # Ok(())
    /// # }
    /// ```
    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Result<User, Error> {
        self.inner.passwords.would_admit()?; // a full hashing line: refuse before any work
        let claims = self
            .inner
            .tokens
            .decode(token, Purpose::Reset)
            .map_err(|_| Error::InvalidToken)?;
        tracing::Span::current().record("user.id", tracing::field::display(claims.sub));
        // Check before the costly hash; the compare-and-swap re-checks.
        let user = self
            .store()
            .user(claims.user_id())
            .await?
            .ok_or(Error::InvalidToken)?;
        let usable = |u: &User| {
            Some(u.password_version) == claims.pv
                && claims.email.as_deref() == Some(u.email.as_str())
                && u.is_active
        };
        if !usable(&user) {
            return Err(Error::InvalidToken);
        }
        self.check_new_password(new_password, &user.email).await?;
        let hash = self.inner.passwords.hash(new_password).await?;
        let spend = SpentToken {
            id: claims.jti,
            expires_at: claims.expires_at(),
        };
        let changed = self
            .change_user(user.id, Error::InvalidToken, |current| {
                if !usable(current) {
                    return Err(Error::InvalidToken);
                }
                let mut changed = current.clone();
                changed.password_hash = hash.clone();
                changed.password_version += 1;
                Ok(UserUpdate::new(current, changed)
                    .spending(spend)
                    .revoking_sessions())
            })
            .await?;
        tracing::info!("password reset");
        self.inner.hooks.after_reset_password(&changed).await;
        Ok(changed)
    }
}
