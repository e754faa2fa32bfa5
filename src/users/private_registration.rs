//! Registration that reveals nothing: the same answer, work and single
//! email whether or not the address is taken.

use super::Users;
use crate::error::Error;
use crate::mail::EmailKind;
use crate::store::StoreError;
use crate::token::Purpose;
use crate::user::User;
use crate::users::ProfileFields;

impl Users {
    /// Whether the HTTP services and pages register through
    /// [`register_privately`](Self::register_privately) (see
    /// [`UsersBuilder::with_private_registration`](crate::UsersBuilder::with_private_registration)).
    pub fn private_registration(&self) -> bool {
        self.inner.config.private_registration
    }

    /// Registers like [`register_with_profile`](Self::register_with_profile),
    /// but says nothing about whether the address was taken: `Ok(())`
    /// either way, after the same work (the password is hashed and one
    /// email is queued in one store write on both paths). A new address
    /// gets the verification email (always, whatever
    /// [`with_verify_on_register`](crate::UsersBuilder::with_verify_on_register)
    /// says); a taken one gets a
    /// [`RegistrationNotice`](EmailKind::RegistrationNotice) with a
    /// password-reset link, and its account is not changed. Invalid input
    /// (a bad email, a weak password, a refused profile) still fails with
    /// [`Error::Validation`]: that is about the request, not the account.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tower_users::{ProfileFields, RedbStore, Users};
    /// # let users = Users::builder(RedbStore::in_memory()?)
    /// #     .with_secret(b"an example secret of at least 32 bytes!!")
    /// #     .with_private_registration(true)
    /// #     .build()?;
    /// let fields = || ProfileFields::new();
    /// users.register_privately("alice@example.com", "correct horse battery", fields()).await?;
    /// // The same answer for a taken address: its owner gets an email instead.
    /// users.register_privately("alice@example.com", "another long password", fields()).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn register_privately(
        &self,
        email: &str,
        password: &str,
        profile: ProfileFields,
    ) -> Result<(), Error> {
        let (email, profile) = self.check_registration(email, password, profile).await?;
        let existing = self.store().user_by_email(&email).await?;
        // Hashed on both paths: the hash is most of the time an answer takes.
        let hash = self.inner.passwords.hash(password).await?;
        if let Some(owner) = existing {
            return self.notify_owner(&owner).await;
        }
        let mut user = User::new(email, hash);
        user.profile = profile;
        let (mail, token) = self.token_email(&user, Purpose::Verify)?;
        match self.store().create_user(&user, Some(&mail)).await {
            Ok(()) => {}
            // Registered by someone else since the read: they are the owner now.
            Err(StoreError::EmailTaken) => {
                return match self.store().user_by_email(&user.email).await? {
                    Some(owner) => self.notify_owner(&owner).await,
                    None => Err(Error::Unavailable { retry_after: 1 }),
                };
            }
            Err(err) => return Err(err.into()),
        }
        tracing::Span::current().record("user.id", tracing::field::display(user.id));
        tracing::info!("user registered");
        // The hooks run after the answer, so their time does not show in it.
        let hooks = self.inner.hooks.clone();
        let doorbell = self.inner.outbox.doorbell();
        tokio::spawn(async move {
            doorbell.notify_one();
            hooks.after_register(&user).await;
            hooks.after_request_verify(&user, &token).await;
        });
        Ok(())
    }

    /// Queues the notice for `owner`, whose address someone tried to
    /// register: one store write, as a new account's is.
    async fn notify_owner(&self, owner: &User) -> Result<(), Error> {
        let (mut mail, _) =
            self.token_email_as(owner, Purpose::Reset, EmailKind::RegistrationNotice)?;
        // A deactivated owner could not use the reset link: the notice goes
        // through the outbox as a decoy (same write, dropped unsent), as a
        // reset request for such an account does.
        mail.decoy = !owner.is_active;
        self.store().enqueue_mail(&mail).await?;
        tracing::info!(user.id = %owner.id, "registration of a taken address: owner notified");
        self.inner.outbox.doorbell().notify_one();
        Ok(())
    }
}
