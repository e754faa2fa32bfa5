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

use crate::mail::{BoxFuture, OutgoingEmail};
use crate::user::User;

fn done<'a>() -> BoxFuture<'a, ()> {
    Box::pin(std::future::ready(()))
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
