//! Password reset: request a link, set a new password with its token.

use super::Users;
use crate::error::Error;
use crate::store::{SpentToken, UserUpdate};
use crate::token::Purpose;
use crate::user::{Email, User};

impl Users {
    /// Sends a reset link if `email` belongs to an active user. Always
    /// succeeds for a well-formed email, and returns before any email work.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), Error> {
        let email = Email::parse(email)?;
        let users = self.clone();
        tokio::spawn(async move {
            match users.store().user_by_email(&email).await {
                Ok(Some(user)) if user.is_active => {
                    users.send_token_email(user, Purpose::Reset);
                }
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "reset request lookup failed"),
            }
        });
        Ok(())
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
