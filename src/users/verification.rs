//! Email verification: request a link, confirm with its token.

use super::Users;
use crate::error::Error;
use crate::store::{SpentToken, UserUpdate};
use crate::token::Purpose;
use crate::user::{Email, User};

impl Users {
    /// Queues a verification link if `email` belongs to an active,
    /// unverified user. Succeeds for every well-formed email, whoever owns
    /// it, after the same work either way; when it returns, the email is on
    /// disk in the outbox.
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
    /// let _lost = next_token().await;
    ///
    /// // Lost the email? Ask again: a new link, for this address only.
    /// users.request_verify("alice@example.com").await?;
    /// let second = next_token().await;
    /// assert!(users.verify(&second).await?.is_verified);
    ///
    /// // The same answer for an address nobody registered (no email is sent).
    /// users.request_verify("nobody@example.com").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn request_verify(&self, email: &str) -> Result<(), Error> {
        let email = Email::parse(email)?;
        let user = self.store().user_by_email(&email).await?;
        let eligible = user.filter(|u| u.is_active && !u.is_verified);
        self.queue_or_decoy(&email, eligible, Purpose::Verify).await
    }

    /// Confirms an email with a verification token, or applies a pending
    /// email change with an email-change token. Tokens are single-use and
    /// die if the password changed since they were issued; an email-change
    /// token also dies if a newer change was asked for, and is refused with
    /// [`Error::UserExists`] if its address was taken meanwhile.
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
    /// let token = next_token().await;
    ///
    /// let alice = users.verify(&token).await?;
    /// assert!(alice.is_verified);
    /// // Single-use: the same link again is refused.
    /// assert!(matches!(users.verify(&token).await, Err(Error::InvalidToken)));
    /// # Ok(())
    /// # }
    /// ```
    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn verify(&self, token: &str) -> Result<User, Error> {
        let claims = self
            .inner
            .tokens
            .decode_any(token, &[Purpose::Verify, Purpose::EmailChange])
            .map_err(|_| Error::InvalidToken)?;
        tracing::Span::current().record("user.id", tracing::field::display(claims.sub));
        let spend = SpentToken {
            id: claims.jti,
            expires_at: claims.expires_at(),
        };
        let change = claims.typ == Purpose::EmailChange;
        let mut before = None;
        let verified = self
            .change_user(claims.user_id(), Error::InvalidToken, |user| {
                let token_email = claims.email.as_deref();
                let bound = if change {
                    // Only the latest requested address: the token and the
                    // value it binds were written together.
                    user.pending_email.as_ref().map(Email::as_str) == token_email
                } else {
                    token_email == Some(user.email.as_str()) && !user.is_verified
                };
                if Some(user.password_version) != claims.pv || !bound || !user.is_active {
                    return Err(Error::InvalidToken);
                }
                before = Some(user.clone());
                let mut verified = user.clone();
                if let Some(new) = user.pending_email.as_ref().filter(|_| change) {
                    verified.email = new.clone();
                    verified.pending_email = None;
                }
                verified.is_verified = true;
                Ok(UserUpdate::new(user, verified).spending(spend))
            })
            .await?;
        if change {
            tracing::info!("email changed");
            if let Some(before) = &before {
                self.inner.hooks.after_update(before, &verified).await;
            }
        } else {
            tracing::info!("email verified");
            self.inner.hooks.after_verify(&verified).await;
        }
        Ok(verified)
    }
}
