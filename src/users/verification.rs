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

    /// Confirms an email with a verification token, or applies a pending
    /// email change with an email-change token. Tokens are single-use and
    /// die if the password changed since they were issued; an email-change
    /// token also dies if a newer change was asked for, and is refused with
    /// [`Error::UserExists`] if its address was taken meanwhile.
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
