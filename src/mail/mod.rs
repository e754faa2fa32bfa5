//! Outgoing email: templates, the [`Mailer`] trait, SMTP delivery, and the
//! durable outbox.
//!
//! Lifecycle emails are rendered from [`Templates`] when they are caused,
//! written to the store's outbox in the same write transaction as the state
//! change that caused them, and delivered by a background worker that
//! retries with exponential backoff and jitter until the email is sent or
//! too old ([`OutboxConfig`]). A request that queues an email is answered at
//! once, whatever the state of the mail server.
//!
//! Each email carries exactly one link, built from a [`LinkTemplate`] with a
//! `{token}` placeholder. The default links put the token in the URL
//! fragment, so it never reaches server logs or `Referer` headers.

mod dyn_mailer;
mod link;
mod log_mailer;
mod message;
pub(crate) mod outbox;
mod smtp;
mod templates;

use std::future::Future;
use std::pin::Pin;

pub(crate) use dyn_mailer::DynMailer;
pub use link::LinkTemplate;
pub use log_mailer::LogMailer;
pub use message::{EmailKind, OutgoingEmail};
pub use outbox::OutboxConfig;
pub use smtp::{SmtpMailer, TlsMode};
pub use templates::{Rendered, Templates};

use crate::error::BoxError;

/// A boxed, sendable future: what the object-safe shims over the app's
/// traits and the endpoint services return. Crate-private: no public trait
/// asks an app to write one.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a delivery failed, and whether trying again could help.
#[derive(Debug, thiserror::Error)]
#[error("{}mail delivery failed: {source}", if *.permanent { "permanent " } else { "" })]
pub struct MailError {
    /// The server refused for good (an SMTP 5xx, such as an unknown
    /// mailbox): the outbox dead-letters the email instead of retrying.
    pub permanent: bool,
    /// What went wrong.
    #[source]
    pub source: BoxError,
}

impl MailError {
    /// A failure worth retrying (connection refused, timeout, 4xx).
    pub fn transient(source: impl Into<BoxError>) -> Self {
        MailError {
            permanent: false,
            source: source.into(),
        }
    }

    /// A failure that will not change on retry.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        MailError {
            permanent: true,
            source: source.into(),
        }
    }
}

/// Delivers rendered emails. The outbox calls it, one email at a time, and
/// retries transient failures: an implementation should not retry itself.
///
/// Written as a plain `async fn`; here, one that hands each email to a
/// channel (a test's inbox, or a queue another service drains):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tokio::sync::mpsc;
/// use tower_users::mail::{MailError, Mailer, OutgoingEmail};
/// use tower_users::{RedbStore, Users};
///
/// struct Channel(mpsc::UnboundedSender<OutgoingEmail>);
///
/// impl Mailer for Channel {
///     async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
///         // Transient: the outbox tries again later.
///         self.0.send(email.clone()).map_err(MailError::transient)
///     }
/// }
///
/// let (tx, mut inbox) = mpsc::unbounded_channel();
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret([7u8; 32])
///     .with_mailer(Channel(tx))
///     .build()?;
/// users.register("ann@example.com", "correct horse battery").await?;
/// let email = inbox.recv().await.ok_or("no email")?;
/// assert!(email.link.contains("#token="));
/// # Ok(())
/// # }
/// ```
pub trait Mailer: Send + Sync + 'static {
    /// Sends one email.
    fn send(&self, email: &OutgoingEmail) -> impl Future<Output = Result<(), MailError>> + Send;
}
