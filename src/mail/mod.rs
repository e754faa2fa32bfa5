//! Outgoing email: the [`Mailer`] trait and the default [`LogMailer`].
//!
//! Each verification or reset email carries exactly one link, built from a
//! template with a `{token}` placeholder (see [`LinkTemplate`]). The default
//! links put the token in the URL fragment, so it never reaches server logs
//! or `Referer` headers.

mod link;
mod message;

use std::future::Future;
use std::pin::Pin;

pub use link::LinkTemplate;
pub use message::{EmailKind, OutgoingEmail};

use crate::error::BoxError;

/// A boxed, sendable future, as returned by [`Mailer`] and [`Hooks`](crate::Hooks).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Delivers rendered emails.
///
/// Implement it to hand mail to your own transport. Errors are logged; the
/// request that caused the email still succeeds (its answer never reveals
/// whether an account exists).
pub trait Mailer: Send + Sync + 'static {
    /// Sends one email.
    fn send(&self, email: OutgoingEmail) -> BoxFuture<'_, Result<(), BoxError>>;
}

/// The default mailer: writes each email to `tracing` at INFO level, target
/// `tower_users::mail`, so a developer can copy the link from the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send(&self, email: OutgoingEmail) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            tracing::info!(
                target: "tower_users::mail",
                to = %email.to,
                subject = %email.subject,
                "email (log mailer; set up SMTP to deliver it)\n{}",
                email.text
            );
            Ok(())
        })
    }
}
