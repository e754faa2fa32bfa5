//! Self-service account management: change password, email or custom
//! fields (`PATCH /users/me`) and delete the account (`DELETE /users/me`).
//! Both require a proof of the password: `current_password` in the
//! request, or a session that proved it within the re-authentication
//! window ([`Users::reauthenticate`]).

use super::Users;
use crate::error::Error;
use crate::mail::EmailKind;
use crate::password::Verified;
use crate::store::{QueuedEmail, SessionId, UserUpdate};
use crate::user::{Email, User, UserId};
use crate::users::ProfileFields;

/// What `PATCH /users/me` asks for.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct AccountChange {
    /// The password the user has now: a one-shot proof, checked (and a
    /// wrong one refused) whenever it is given. Without it the change needs
    /// a session that proved the password within the re-authentication
    /// window, else [`Error::ReauthenticationRequired`].
    pub current_password: Option<String>,
    /// A new password.
    pub password: Option<String>,
    /// A new email: it becomes the login only once confirmed through the
    /// link sent to it.
    pub email: Option<String>,
    /// A new username (`Some(Some(name))`), or none (`Some(None)`, refused
    /// with [`Usernames::Required`](crate::Usernames::Required)); only with
    /// usernames on.
    pub username: Option<Option<String>>,
    /// Custom fields to set (merged into the stored ones).
    pub profile: ProfileFields,
}

impl AccountChange {
    /// A change authorized by `current_password`; set the fields to change.
    pub fn new(current_password: impl Into<String>) -> Self {
        AccountChange {
            current_password: Some(current_password.into()),
            ..AccountChange::default()
        }
    }

    /// A change authorized by the calling session's recent proof of the
    /// password (see [`Users::reauthenticate`]); set the fields to change.
    pub fn recently_authenticated() -> Self {
        AccountChange::default()
    }
}

impl std::fmt::Debug for AccountChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountChange")
            .field("password", &self.password.as_ref().map(|_| "REDACTED"))
            .field("email", &self.email)
            .field("username", &self.username)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Users {
    /// Checks the caller's current password, counting failures toward the
    /// account's lockout like logins do (as one client of their own: only a
    /// session holder can fail here). The account-wide lock, reached by
    /// guesses at the login, never applies here; this client's own does.
    pub(super) async fn check_current_password(
        &self,
        user: &User,
        password: &str,
    ) -> Result<(), Error> {
        let origin = super::lockout::Origin::SignedIn;
        let (attempt, _) = self.begin_attempt(user.email.as_str(), origin).await?;
        let verified = self
            .inner
            .passwords
            .verify(password, Some(&user.password_hash))
            .await?;
        if verified == Verified::No {
            attempt.failed().await?;
            return Err(Error::InvalidCredentials);
        }
        attempt.succeeded().await
    }

    /// Checks that the caller may make a sensitive change: by
    /// `current_password` when given (a one-shot proof; a wrong one is
    /// refused even inside the window), else by `session` having proved
    /// the password within the re-authentication window.
    async fn check_proof(
        &self,
        user: &User,
        session: SessionId,
        current_password: Option<&str>,
    ) -> Result<(), Error> {
        match current_password {
            Some(password) => self.check_current_password(user, password).await,
            None => self.check_recent_session(session, user.id).await,
        }
    }

    /// Applies `change` to the account `id`, called from `session`.
    ///
    /// Proved by `change.current_password`, or without it by `session`
    /// having proved the password within the re-authentication window
    /// ([`Error::ReauthenticationRequired`] otherwise). A wrong
    /// `current_password` is [`Error::InvalidCredentials`] and counts
    /// toward the lockout.
    ///
    /// A new password bumps `password_version`: every other session and
    /// every outstanding verify/reset token dies, the calling session stays.
    /// A new email goes pending: a confirmation link goes to it, a notice to
    /// the old address, and nothing else changes until the link is used.
    #[tracing::instrument(skip_all, fields(user.id = %id))]
    pub async fn update_account(
        &self,
        id: UserId,
        session: SessionId,
        change: AccountChange,
    ) -> Result<User, Error> {
        self.inner.passwords.would_admit()?; // a full hashing line: refuse before any work
        let user = self.store().user(id).await?.ok_or(Error::Unauthorized)?;
        self.check_proof(&user, session, change.current_password.as_deref())
            .await?;
        let new_email = match &change.email {
            Some(raw) => {
                let email = Email::parse(raw)?;
                if email == user.email {
                    None
                } else if self.store().user_by_email(&email).await?.is_some() {
                    return Err(Error::UserExists);
                } else {
                    Some(email)
                }
            }
            None => None,
        };
        let new_username = self
            .changed_username(&user, change.username.as_ref())
            .await?;
        let new_hash = match &change.password {
            Some(password) => {
                self.check_new_password(password, &user.email).await?;
                Some(self.inner.passwords.hash(password).await?)
            }
            None => None,
        };
        let profile = if change.profile.is_empty() {
            None
        } else {
            Some(
                self.accept_profile_change(&user.profile, &change.profile)
                    .await?,
            )
        };
        let mut before = None;
        let after = self
            .change_user(id, Error::Unauthorized, |current| {
                // The current password was checked against `user`: if the
                // password changed since (a reset, say), that check is void.
                if current.password_version != user.password_version || !current.is_active {
                    return Err(Error::Unauthorized);
                }
                before = Some(current.clone());
                let mut next = current.clone();
                if let Some(profile) = &profile {
                    next.profile = profile.clone();
                }
                if let Some(username) = &new_username {
                    next.username = username.clone();
                }
                if let Some(hash) = &new_hash {
                    next.password_hash = hash.clone();
                    next.password_version += 1;
                }
                // Issued from `next`, so a password changed in the same
                // request does not void the confirmation link at once.
                let mut mails = Vec::new();
                if let Some(email) = &new_email {
                    next.pending_email = Some(email.clone());
                    mails = self.email_change_mails(&next, email)?;
                }
                let mut update = if new_hash.is_some() {
                    UserUpdate::new(current, next).revoking_sessions_except(session)
                } else {
                    UserUpdate::new(current, next)
                };
                for mail in mails {
                    update = update.queuing(mail);
                }
                Ok(update)
            })
            .await?;
        if new_email.is_some() {
            self.inner.outbox.doorbell().notify_one();
        }
        if let Some(before) = &before {
            self.inner.hooks.after_update(before, &after).await;
        }
        tracing::info!(
            password = new_hash.is_some(),
            email = new_email.is_some(),
            username = new_username.is_some(),
            "account updated"
        );
        Ok(after)
    }

    /// The confirmation link for `new` and the notice to the old address.
    fn email_change_mails(&self, user: &User, new: &Email) -> Result<Vec<QueuedEmail>, Error> {
        let cfg = &self.inner.config;
        let (token, claims) = self
            .inner
            .tokens
            .issue_email_change(user, new.as_str(), cfg.verify_ttl)
            .map_err(Error::internal)?;
        let link = cfg.verify_link.render(&token);
        let expires = claims.expires_at();
        let t = &self.inner.templates;
        let confirm = t
            .render(
                EmailKind::EmailChange,
                &cfg.app_name,
                new.as_str(),
                &link,
                expires,
            )
            .map_err(Error::internal)?;
        let notice = t
            .render_with(
                EmailKind::EmailChangeNotice,
                &cfg.app_name,
                user.email.as_str(),
                "",
                expires,
                new.as_str(),
            )
            .map_err(Error::internal)?;
        Ok(vec![
            super::queued(
                EmailKind::EmailChange,
                new.as_str(),
                confirm,
                &link,
                expires,
            ),
            super::queued(
                EmailKind::EmailChangeNotice,
                user.email.as_str(),
                notice,
                "",
                expires,
            ),
        ])
    }

    /// Deletes the account `id`, called from `session`, after checking
    /// `current_password`, or without it that `session` proved the
    /// password within the re-authentication window
    /// ([`Error::ReauthenticationRequired`] otherwise): the user and every
    /// session go in one write. The last active superuser cannot delete
    /// itself ([`Error::Forbidden`], checked before the `before_delete`
    /// hook and again in that write).
    pub async fn delete_account(
        &self,
        id: UserId,
        session: SessionId,
        current_password: Option<&str>,
    ) -> Result<(), Error> {
        self.inner.passwords.would_admit()?; // a full hashing line: refuse before any work
        let user = self.store().user(id).await?.ok_or(Error::Unauthorized)?;
        self.check_proof(&user, session, current_password).await?;
        self.delete_user_record(&user).await
    }

    /// Runs the delete hooks around the store's delete. The last active
    /// superuser is refused ([`Error::Forbidden`]) before `before_delete`,
    /// which may do work an app cannot take back; the store refuses it
    /// again in the delete's own transaction.
    pub(super) async fn delete_user_record(&self, user: &User) -> Result<(), Error> {
        if user.is_active
            && user.is_superuser
            && !self.other_active_superuser_exists(Some(user.id)).await?
        {
            return Err(Error::Forbidden);
        }
        self.inner.hooks.before_delete(user).await?;
        if !self.store().delete_user(user.id).await? {
            return Err(Error::NotFound);
        }
        tracing::info!(user.id = %user.id, "user deleted");
        self.inner.hooks.after_delete(user).await;
        Ok(())
    }
}
