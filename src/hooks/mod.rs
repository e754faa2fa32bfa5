//! App callbacks on lifecycle events, with no-op defaults.

mod dyn_hooks;

use std::future::Future;

pub(crate) use dyn_hooks::DynHooks;

use crate::error::Error;
use crate::mail::OutgoingEmail;
use crate::user::{Email, User};
use crate::users::ProfileFields;

/// Callbacks after each lifecycle event, and the app's own rules. Override
/// only what you need, each as a plain `async fn`.
///
/// Hooks run after the state change is committed; they cannot undo it. A
/// slow hook delays the response, so hand long work to a queue. A hook's
/// future must be `Send` (it runs on the server's tasks): hold no
/// `std::sync::MutexGuard` or `Rc` across an `.await`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use serde::{Deserialize, Serialize};
/// use tower_users::{Error, Hooks, ProfileFields, RedbStore, User, Users};
///
/// #[derive(Serialize, Deserialize)]
/// struct Profile {
///     display_name: String,
/// }
///
/// struct Audit;
///
/// impl Hooks for Audit {
///     async fn after_register(&self, user: &User) {
///         tracing::info!(user.id = %user.id, "welcome");
///     }
///
///     // Runs after the fields fitted `Profile`, so reading them back as
///     // `Profile` succeeds; an error here is the answer (a 422 for this one).
///     async fn validate_profile(&self, fields: &ProfileFields) -> Result<(), Error> {
///         let profile: Profile = fields.parse()?;
///         if profile.display_name.trim().is_empty() {
///             return Err(Error::field("display_name", "must not be blank"));
///         }
///         Ok(())
///     }
/// }
///
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret(b"an example secret of at least 32 bytes!!")
///     .with_profile::<Profile>()
///     .with_hooks(Audit)
///     .build()?;
/// let blank = ProfileFields::from_typed(&Profile { display_name: " ".into() })?;
/// let refused = users
///     .register_with_profile("ann@example.com", "correct horse battery", blank)
///     .await;
/// assert!(matches!(refused, Err(Error::Validation(_))));
/// # Ok(())
/// # }
/// ```
#[allow(unused_variables)]
pub trait Hooks: Send + Sync + 'static {
    /// A user registered.
    fn after_register(&self, user: &User) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// A user logged in (a new session began).
    fn after_login(&self, user: &User) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// A verification token was issued (it is also emailed).
    fn after_request_verify(&self, user: &User, token: &str) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// A user confirmed their email.
    fn after_verify(&self, user: &User) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// A password-reset token was issued (it is also emailed).
    fn after_forgot_password(&self, user: &User, token: &str) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// A user set a new password with a reset token.
    fn after_reset_password(&self, user: &User) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// The app's own password rules, run after the built-in policy on every
    /// new password (registration, reset, change, admin), on its NFKC form
    /// (the form that is hashed). `Err(message)` refuses it with a 422
    /// naming the `password` field.
    fn validate_password(
        &self,
        password: &str,
        email: &Email,
    ) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }
    /// The app's own rules for its custom fields, at registration and on
    /// `PATCH /users/me` (with the stored fields merged in), after the
    /// profile type of [`UsersBuilder::with_profile`] accepted them: reading
    /// them back as that type with [`ProfileFields::parse`] succeeds.
    ///
    /// An error is the answer to the request: return
    /// [`Error::field`] (or [`Error::Validation`] for several fields) for a
    /// 422 listing each field.
    ///
    /// [`UsersBuilder::with_profile`]: crate::UsersBuilder::with_profile
    fn validate_profile(
        &self,
        fields: &ProfileFields,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }
    /// A user changed (by themselves or an admin); `before` and `after` are
    /// the stored records around the change.
    fn after_update(&self, before: &User, after: &User) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// A user is about to be deleted. An error vetoes the deletion and is
    /// the answer to the request (use [`Error::Forbidden`], say).
    fn before_delete(&self, user: &User) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }
    /// A user was deleted, with all their sessions.
    fn after_delete(&self, user: &User) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// The outbox gave up on an email: the server refused it for good, or it
    /// was still undelivered at the outbox's maximum age. It has been logged
    /// at ERROR and kept in the store's dead-letter list.
    fn on_dead_letter(
        &self,
        email: &OutgoingEmail,
        error: &str,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// The default: does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}
