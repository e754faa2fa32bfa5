//! Registration, and bootstrapping a superuser.

use super::Users;
use crate::error::Error;
use crate::password::Verified;
use crate::store::UserUpdate;
use crate::token::Purpose;
use crate::user::{Email, User};
use crate::users::ProfileFields;

/// What [`Users::register_with`] registers: an email and password, and
/// optionally a username and the app's custom fields.
#[derive(Clone)]
#[non_exhaustive]
pub struct Registration {
    /// The email, as typed (normalized on registration).
    pub email: String,
    /// The password, as typed.
    pub password: String,
    /// A username, as typed; only with usernames on (see
    /// [`UsersBuilder::with_usernames`](crate::UsersBuilder::with_usernames)).
    pub username: Option<String>,
    /// The app's custom fields (see
    /// [`UsersBuilder::with_profile`](crate::UsersBuilder::with_profile)).
    pub profile: ProfileFields,
}

impl Registration {
    /// A registration of `email` with `password`.
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        Registration {
            email: email.into(),
            password: password.into(),
            username: None,
            profile: ProfileFields::new(),
        }
    }

    /// Also asks for `username`.
    #[must_use]
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Also sets the app's custom fields.
    #[must_use]
    pub fn with_profile(mut self, profile: ProfileFields) -> Self {
        self.profile = profile;
        self
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("email", &self.email)
            .field("password", &"REDACTED")
            .field("username", &self.username)
            .field("profile", &self.profile)
            .finish()
    }
}

impl Users {
    /// Registers a new user: normalizes the email, applies the password
    /// policy, hashes, and stores. Sends a verification email unless turned
    /// off with [`with_verify_on_register`](crate::UsersBuilder::with_verify_on_register).
    ///
    /// Fails with [`Error::Validation`] or [`Error::UserExists`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tower_users::{Error, RedbStore, Users};
    /// # let users = Users::builder(RedbStore::in_memory()?)
    /// #     .with_secret(b"an example secret of at least 32 bytes!!")
    /// #     .build()?;
    /// let alice = users.register(" Alice@Example.COM", "correct horse battery").await?;
    /// assert_eq!(alice.email.as_str(), "alice@example.com");
    /// assert!(!alice.is_verified);
    ///
    /// // The normalized address is taken, whatever its spelling.
    /// let again = users.register("alice@example.com", "another long password").await;
    /// assert!(matches!(again, Err(Error::UserExists)));
    ///
    /// // Weak passwords are refused before anything is stored.
    /// let weak = users.register("bob@example.com", "password").await;
    /// assert_eq!(weak.unwrap_err().code(), "VALIDATION_ERROR");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn register(&self, email: &str, password: &str) -> Result<User, Error> {
        self.register_with_profile(email, password, ProfileFields::new())
            .await
    }

    /// [`register`](Self::register) with the app's custom fields (see
    /// [`UsersBuilder::with_profile`](crate::UsersBuilder::with_profile)).
    pub async fn register_with_profile(
        &self,
        email: &str,
        password: &str,
        profile: ProfileFields,
    ) -> Result<User, Error> {
        self.register_with(Registration::new(email, password).with_profile(profile))
            .await
    }

    /// [`register`](Self::register) with everything a registration may
    /// carry: a username (with usernames on; required with
    /// [`Usernames::Required`](crate::Usernames::Required)) and the app's
    /// custom fields. A taken username fails with
    /// [`Error::UsernameExists`], a username while usernames are off with
    /// [`Error::Validation`].
    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn register_with(&self, registration: Registration) -> Result<User, Error> {
        let Registration {
            email,
            password,
            username,
            profile,
        } = registration;
        let password = password.as_str();
        let (email, profile) = self.check_registration(&email, password, profile).await?;
        // Cheap early answer; the store still enforces uniqueness atomically.
        if self.store().user_by_email(&email).await?.is_some() {
            return Err(Error::UserExists);
        }
        let username = self.new_username(username.as_deref()).await?;
        let hash = self.inner.passwords.hash(password).await?;
        let mut user = User::new(email, hash);
        user.profile = profile;
        user.username = username;
        // The verification email is queued in the same transaction as the
        // user: both are on disk, or neither.
        let mail = if self.inner.config.verify_on_register {
            Some(self.token_email(&user, Purpose::Verify)?)
        } else {
            None
        };
        self.store()
            .create_user(&user, mail.as_ref().map(|(m, _)| m))
            .await?;
        tracing::Span::current().record("user.id", tracing::field::display(user.id));
        tracing::info!("user registered");
        self.inner.hooks.after_register(&user).await;
        if let Some((_, token)) = mail {
            self.inner.outbox.doorbell().notify_one();
            self.inner.hooks.after_request_verify(&user, &token).await;
        }
        Ok(user)
    }

    /// The checks every registration passes before the store is read: room
    /// in the hashing line, the address, the password, the custom fields.
    pub(super) async fn check_registration(
        &self,
        email: &str,
        password: &str,
        profile: ProfileFields,
    ) -> Result<(Email, ProfileFields), Error> {
        self.inner.passwords.would_admit()?; // a full hashing line: refuse before any work
        let email = Email::parse(email)?;
        self.check_new_password(password, &email).await?;
        let profile = self.accept_profile(profile).await?;
        Ok((email, profile))
    }

    /// Creates `email` as an active, verified superuser if no such user
    /// exists. An existing user with that email is promoted only to
    /// bootstrap: when `password` is theirs and there is no active
    /// superuser at all. Once there is one, promotion is an administrator's
    /// decision: a superuser demoted by another keeps the demotion across
    /// restarts, so the existing user is returned as it is, with a logged
    /// warning. Someone else
    /// may have registered the address first, or the superuser may have
    /// changed its password since: without the matching password the
    /// existing account is left alone (never taken over, never promoted),
    /// a warning is logged, and this fails with
    /// [`Error::InvalidCredentials`]. [`UsersBuilder::start`](crate::UsersBuilder::start)
    /// starts anyway in that case.
    pub async fn ensure_superuser(&self, email: &str, password: &str) -> Result<User, Error> {
        let email = Email::parse(email)?;
        if let Some(user) = self.store().user_by_email(&email).await? {
            let hash = user.password_hash.clone();
            if self.inner.passwords.verify(password, Some(&hash)).await? == Verified::No {
                tracing::warn!(
                    user.id = %user.id,
                    superuser = user.is_superuser,
                    "superuser bootstrap: the account exists with another password (changed \
                     since, or registered by someone else); left as it is, not promoted"
                );
                return Err(Error::InvalidCredentials);
            }
            if user.is_superuser {
                return Ok(user);
            }
            if self.other_active_superuser_exists(None).await? {
                tracing::warn!(
                    user.id = %user.id,
                    "superuser bootstrap: the account exists and is not a superuser, and another \
                     active superuser does; left as it is (promote it through the admin API)"
                );
                return Ok(user);
            }
            let promoted = self
                .change_user(user.id, Error::NotFound, |current| {
                    let mut promoted = current.clone();
                    promoted.is_superuser = true;
                    Ok(UserUpdate::new(current, promoted))
                })
                .await?;
            tracing::info!(user.id = %promoted.id, "promoted to superuser");
            return Ok(promoted);
        }
        self.check_new_password(password, &email).await?;
        // The profile the app's type makes of no fields (its defaults), so
        // the superuser's reads back typed like anyone's; a type with
        // required fields refuses it here, at start, not in a handler.
        let profile = self.accept_profile(ProfileFields::new()).await?;
        let mut user = User::new(email, self.inner.passwords.hash(password).await?);
        user.profile = profile;
        user.is_superuser = true;
        user.is_verified = true;
        self.store().create_user(&user, None).await?;
        tracing::info!(user.id = %user.id, "superuser created");
        Ok(user)
    }
}
