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
    pub async fn request_verify(&self, email: &str) -> Result<(), Error> {
        let email = Email::parse(email)?;
        let user = self.store().user_by_email(&email).await?;
        let eligible = user.filter(|u| u.is_active && !u.is_verified);
        self.queue_or_decoy(&email, eligible, Purpose::Verify).await
    }

    /// Confirms an email with a verification token. The token is single-use
    /// and dies if the password or the email changed since it was issued.
    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn verify(&self, token: &str) -> Result<User, Error> {
        let claims = self
            .inner
            .tokens
            .decode(token, Purpose::Verify)
            .map_err(|_| Error::InvalidToken)?;
        tracing::Span::current().record("user.id", tracing::field::display(claims.sub));
        let spend = SpentToken {
            id: claims.jti,
            expires_at: claims.expires_at(),
        };
        let verified = self
            .change_user(claims.user_id(), Error::InvalidToken, |user| {
                let same_email = claims.email.as_deref() == Some(user.email.as_str());
                if Some(user.password_version) != claims.pv
                    || !same_email
                    || user.is_verified
                    || !user.is_active
                {
                    return Err(Error::InvalidToken);
                }
                let mut verified = user.clone();
                verified.is_verified = true;
                Ok(UserUpdate::new(user, verified).spending(spend))
            })
            .await?;
        tracing::info!("email verified");
        self.inner.hooks.after_verify(&verified).await;
        Ok(verified)
    }
}
