//! App callbacks on lifecycle events, with no-op defaults.
//!
//! Hooks run after the state change is committed; they cannot undo it. A
//! slow hook delays the response, so hand long work to a queue.
//!
//! ```
//! use tower_users::{Hooks, User, mail::BoxFuture};
//!
//! struct Audit;
//! impl Hooks for Audit {
//!     fn after_register<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
//!         Box::pin(async move { tracing::info!(user.id = %user.id, "welcome") })
//!     }
//! }
//! ```

use crate::error::{Error, FieldError};
use crate::mail::{BoxFuture, OutgoingEmail};
use crate::user::{Email, Profile, User};

fn done<'a>() -> BoxFuture<'a, ()> {
    Box::pin(std::future::ready(()))
}

fn ok<'a, E: Send + 'a>() -> BoxFuture<'a, Result<(), E>> {
    Box::pin(std::future::ready(Ok(())))
}

/// Callbacks after each lifecycle event. Override only what you need.
#[allow(unused_variables)]
pub trait Hooks: Send + Sync + 'static {
    /// A user registered.
    fn after_register<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
        done()
    }
    /// A user logged in (a new session began).
    fn after_login<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
        done()
    }
    /// A verification token was issued (it is also emailed).
    fn after_request_verify<'a>(&'a self, user: &'a User, token: &'a str) -> BoxFuture<'a, ()> {
        done()
    }
    /// A user confirmed their email.
    fn after_verify<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
        done()
    }
    /// A password-reset token was issued (it is also emailed).
    fn after_forgot_password<'a>(&'a self, user: &'a User, token: &'a str) -> BoxFuture<'a, ()> {
        done()
    }
    /// A user set a new password with a reset token.
    fn after_reset_password<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
        done()
    }
    /// The app's own password rules, run after the built-in policy on every
    /// new password (registration, reset, change, admin), on its NFKC form
    /// (the form that is hashed). `Err(message)` refuses it with a 422
    /// naming the `password` field.
    fn validate_password<'a>(
        &'a self,
        password: &'a str,
        email: &'a Email,
    ) -> BoxFuture<'a, Result<(), String>> {
        ok()
    }
    /// The app's own rules for its custom fields, at registration and on
    /// `PATCH /users/me`, after the profile type (if any) accepted them.
    /// Errors become a 422 listing each field.
    fn validate_profile<'a>(
        &'a self,
        profile: &'a Profile,
    ) -> BoxFuture<'a, Result<(), Vec<FieldError>>> {
        ok()
    }
    /// A user changed (by themselves or an admin); `before` and `after` are
    /// the stored records around the change.
    fn after_update<'a>(&'a self, before: &'a User, after: &'a User) -> BoxFuture<'a, ()> {
        done()
    }
    /// A user is about to be deleted. An error vetoes the deletion and is
    /// the answer to the request (use [`Error::Forbidden`], say).
    fn before_delete<'a>(&'a self, user: &'a User) -> BoxFuture<'a, Result<(), Error>> {
        ok()
    }
    /// A user was deleted, with all their sessions.
    fn after_delete<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
        done()
    }
    /// The outbox gave up on an email: the server refused it for good, or it
    /// was still undelivered at the outbox's maximum age. It has been logged
    /// at ERROR and kept in the store's dead-letter list.
    fn on_dead_letter<'a>(&'a self, email: &'a OutgoingEmail, error: &'a str) -> BoxFuture<'a, ()> {
        done()
    }
}

/// The default: does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}
