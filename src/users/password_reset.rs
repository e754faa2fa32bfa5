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
    pub async fn request_password_reset(&self, email: &str) -> Result<(), Error> {
        let email = Email::parse(email)?;
        let user = self.store().user_by_email(&email).await?;
        let eligible = user.filter(|u| u.is_active);
        self.queue_or_decoy(eligible, Purpose::Reset).await
    }

    /// Sets a new password with a reset token. In one write it bumps
    /// `password_version`, spends the token and ends every session, so every
    /// outstanding token of the user dies. A refused new password spends
    /// nothing: the user can try again with the same token.
    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Result<User, Error> {
        let claims = self
            .inner
            .tokens
            .decode(token, Purpose::Reset)
            .map_err(|_| Error::InvalidToken)?;
        let user = self
            .store()
            .user(claims.user_id())
            .await?
            .ok_or(Error::InvalidToken)?;
        tracing::Span::current().record("user.id", tracing::field::display(user.id));
        if user.password_version != claims.pv || !user.is_active {
            return Err(Error::InvalidToken);
        }
        self.inner.config.policy.check(new_password, &user.email)?;
        let mut changed = user.clone();
        changed.password_hash = self.inner.passwords.hash(new_password).await?;
        changed.password_version += 1;
        let spend = SpentToken {
            id: claims.jti,
            expires_at: claims.expires_at(),
        };
        self.store()
            .update_user(
                UserUpdate::new(changed.clone(), user.password_version)
                    .spending(spend)
                    .revoking_sessions(),
            )
            .await?;
        tracing::info!("password reset");
        self.inner.hooks.after_reset_password(&changed).await;
        Ok(changed)
    }
}
