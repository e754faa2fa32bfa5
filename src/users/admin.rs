//! Administration: list, read, change and delete any user. The HTTP side
//! requires a superuser before calling these; the core trusts its caller.

use super::Users;
use crate::error::Error;
use crate::store::UserUpdate;
use crate::user::{Email, User, UserId};

/// The most users one page may hold.
pub const MAX_PAGE: usize = 500;

/// One page of users, in creation order.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// The users on this page.
    pub users: Vec<User>,
    /// Pass it back for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What an administrator may change on a user (`PATCH /users/{id}`).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct AdminChange {
    /// Deactivating ends every session at once.
    pub is_active: Option<bool>,
    /// Mark the email confirmed or not.
    pub is_verified: Option<bool>,
    /// Grant or revoke administration.
    pub is_superuser: Option<bool>,
    /// A new email, applied at once (uniqueness is checked).
    pub email: Option<String>,
    /// A new password: bumps `password_version`, ending every session and
    /// every outstanding token.
    pub password: Option<String>,
    /// A new username (`Some(Some(name))`), or none (`Some(None)`, refused
    /// with [`Usernames::Required`](crate::Usernames::Required)); only with
    /// usernames on. Uniqueness is checked.
    pub username: Option<Option<String>>,
}

impl std::fmt::Debug for AdminChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminChange")
            .field("is_active", &self.is_active)
            .field("is_verified", &self.is_verified)
            .field("is_superuser", &self.is_superuser)
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "REDACTED"))
            .field("username", &self.username)
            .finish()
    }
}

impl Users {
    /// Up to `limit` users (1 to [`MAX_PAGE`]) after `cursor`. Paging is
    /// stable while users are added: new users come last.
    pub async fn list_users(&self, limit: usize, cursor: Option<&str>) -> Result<UserPage, Error> {
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::field(
                "limit",
                format!("limit must be from 1 to {MAX_PAGE}"),
            ));
        }
        let after = match cursor {
            Some(c) => Some(UserId(
                uuid::Uuid::parse_str(c).map_err(|_| Error::field("cursor", "invalid cursor"))?,
            )),
            None => None,
        };
        // One more than asked says whether there is a next page.
        let mut users = self.store().list_users(after, limit + 1).await?;
        let next_cursor = if users.len() > limit {
            users.truncate(limit);
            users.last().map(|u| u.id.to_string())
        } else {
            None
        };
        Ok(UserPage { users, next_cursor })
    }

    /// The user with `id`, or [`Error::NotFound`].
    pub async fn get_user(&self, id: UserId) -> Result<User, Error> {
        self.store().user(id).await?.ok_or(Error::NotFound)
    }

    /// Applies administrator `actor`'s `change` to user `id`. An
    /// administrator cannot deactivate or demote itself, and no change may
    /// leave no active superuser ([`Error::Forbidden`]): the store checks the
    /// latter in the change's own transaction, so two administrators demoting
    /// each other at once cannot both succeed.
    #[tracing::instrument(skip_all, fields(user.id = %id))]
    pub async fn admin_update(
        &self,
        actor: UserId,
        id: UserId,
        change: AdminChange,
    ) -> Result<User, Error> {
        if actor == id && (change.is_active == Some(false) || change.is_superuser == Some(false)) {
            return Err(Error::Forbidden);
        }
        if change.password.is_some() {
            self.inner.passwords.would_admit()?; // a full hashing line: refuse before any work
        }
        let current = self.get_user(id).await?;
        let email = change.email.as_deref().map(Email::parse).transpose()?;
        let username = self
            .changed_username(&current, change.username.as_ref())
            .await?;
        let hash = match &change.password {
            Some(password) => {
                let for_email = email.as_ref().unwrap_or(&current.email);
                self.check_new_password(password, for_email).await?;
                Some(self.inner.passwords.hash(password).await?)
            }
            None => None,
        };
        let mut before = None;
        let after = self
            .change_user(id, Error::NotFound, |user| {
                before = Some(user.clone());
                let mut next = user.clone();
                next.is_active = change.is_active.unwrap_or(user.is_active);
                next.is_verified = change.is_verified.unwrap_or(user.is_verified);
                next.is_superuser = change.is_superuser.unwrap_or(user.is_superuser);
                if let Some(email) = &email
                    && *email != user.email
                {
                    next.email = email.clone();
                    next.pending_email = None;
                }
                if let Some(username) = &username {
                    next.username = username.clone();
                }
                if let Some(hash) = &hash {
                    next.password_hash = hash.clone();
                    next.password_version += 1;
                }
                // A deactivated user, or one whose password an admin reset,
                // keeps no session.
                let revoke = hash.is_some() || (user.is_active && !next.is_active);
                let update = UserUpdate::new(user, next);
                Ok(if revoke {
                    update.revoking_sessions()
                } else {
                    update
                })
            })
            .await?;
        if let Some(before) = &before {
            self.inner.hooks.after_update(before, &after).await;
        }
        tracing::info!("user changed by an administrator");
        Ok(after)
    }

    /// Whether some active superuser other than `except` exists. Reads the
    /// users page by page and stops at the first one found; superusers are
    /// usually among the first accounts, so this is one page in practice.
    /// A read, so only a courtesy check: the store's own check, in the
    /// write's transaction, stays the one that holds under concurrency.
    pub(super) async fn other_active_superuser_exists(
        &self,
        except: Option<UserId>,
    ) -> Result<bool, Error> {
        let mut after = None;
        loop {
            let page = self.store().list_users(after, MAX_PAGE).await?;
            if page
                .iter()
                .any(|u| u.is_active && u.is_superuser && Some(u.id) != except)
            {
                return Ok(true);
            }
            match page.last() {
                Some(last) if page.len() == MAX_PAGE => after = Some(last.id),
                _ => return Ok(false),
            }
        }
    }

    /// Deletes user `id` on behalf of administrator `actor`; an
    /// administrator cannot delete itself, nor the last active superuser
    /// ([`Error::Forbidden`]).
    pub async fn admin_delete(&self, actor: UserId, id: UserId) -> Result<(), Error> {
        if actor == id {
            return Err(Error::Forbidden);
        }
        let user = self.get_user(id).await?;
        self.delete_user_record(&user).await
    }
}
