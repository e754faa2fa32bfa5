//! Usernames in the lifecycle: what registration and the account and admin
//! changes accept (see [`UsersBuilder::with_usernames`](crate::UsersBuilder::with_usernames)).

use super::Users;
use crate::Usernames;
use crate::error::Error;
use crate::user::{User, UserId};
use crate::username::Username;

impl Users {
    /// The username a new user asks for, checked against the setting and
    /// (as a cheap early answer; the store enforces it atomically) against
    /// the names taken.
    pub(super) async fn new_username(&self, raw: Option<&str>) -> Result<Option<Username>, Error> {
        match (self.inner.config.usernames, raw) {
            (Usernames::Off, Some(_)) => Err(off()),
            (Usernames::Required, None) => Err(Error::field("username", "username is required")),
            (_, None) => Ok(None),
            (_, Some(raw)) => {
                let name = Username::parse(raw)?;
                self.username_free(&name, None).await?;
                Ok(Some(name))
            }
        }
    }

    /// What a change asks of `user`'s username: `None` to leave it,
    /// `Some(None)` to clear it, `Some(Some(raw))` to set it. Answers the
    /// name to store, or `None` when nothing changes.
    pub(super) async fn changed_username(
        &self,
        user: &User,
        change: Option<&Option<String>>,
    ) -> Result<Option<Option<Username>>, Error> {
        let Some(wanted) = change else {
            return Ok(None);
        };
        let usernames = self.inner.config.usernames;
        if usernames == Usernames::Off {
            return Err(off());
        }
        let next = match wanted {
            None if usernames == Usernames::Required => {
                return Err(Error::field(
                    "username",
                    "a username is required: it can be changed, not removed",
                ));
            }
            None => None,
            Some(raw) => {
                let name = Username::parse(raw)?;
                self.username_free(&name, Some(user.id)).await?;
                Some(name)
            }
        };
        Ok((next != user.username).then_some(next))
    }

    /// [`Error::UsernameExists`] if someone other than `owner` holds `name`.
    async fn username_free(&self, name: &Username, owner: Option<UserId>) -> Result<(), Error> {
        match self.store().user_by_username(name).await? {
            Some(holder) if Some(holder.id) != owner => Err(Error::UsernameExists),
            _ => Ok(()),
        }
    }
}

/// The answer to a username while usernames are off, through the core API
/// (the HTTP side leaves the field to the app's profile then).
fn off() -> Error {
    Error::field("username", "usernames are not enabled")
}
