//! [`LogMailer`], the default: emails shown to the developer, not sent.

use std::io::Write;

use super::{MailError, Mailer, OutgoingEmail};

/// The default mailer: shows each email to the developer instead of sending
/// it, so the link can be copied.
///
/// With a `tracing` subscriber that records INFO events of target
/// `tower_users::mail`, the email is logged there. Without one (a
/// quickstart that never set one up, or `tracing_subscriber::fmt::init()`,
/// which keeps only errors unless `RUST_LOG` says otherwise), that event
/// would go nowhere while the outbox counts the email as delivered, so it
/// is written to stderr instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_users::{RedbStore, Users};
/// use tower_users::mail::LogMailer;
///
/// // The default; with no subscriber, the verification link shows on stderr.
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret([7u8; 32])
///     .with_mailer(LogMailer)
///     .build()?;
/// # let _ = users;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

impl Mailer for LogMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        if !heard_by_the_log() {
            return write_to_stderr(email).map_err(MailError::transient);
        }
        tracing::info!(
            target: "tower_users::mail",
            to = %email.to,
            subject = %email.subject,
            "email written to the log (no SMTP configured):\n{}",
            email.text
        );
        Ok(())
    }
}

/// Whether the current subscriber (scoped, else global; none drops every
/// event) would record the email's event.
fn heard_by_the_log() -> bool {
    tracing::enabled!(target: "tower_users::mail", tracing::Level::INFO)
}

/// The email as a developer reads it; one write, so that two emails never
/// interleave.
fn write_to_stderr(email: &OutgoingEmail) -> std::io::Result<()> {
    let shown = format!(
        "tower-users: email not sent (no mailer configured, and the log does not record INFO from tower_users::mail)\n\
         To: {}\nSubject: {}\n\n{}\n",
        email.to,
        email.subject,
        email.text.trim_end()
    );
    std::io::stderr().lock().write_all(shown.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::EmailKind;

    #[test]
    fn the_email_goes_to_stderr_unless_a_subscriber_records_info() {
        assert!(!heard_by_the_log(), "no subscriber here");
        let errors_only = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::ERROR)
            .finish();
        tracing::subscriber::with_default(errors_only, || assert!(!heard_by_the_log()));
        let info = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::with_default(info, || assert!(heard_by_the_log()));
    }

    /// With a subscriber the email is an event like any other (the stderr
    /// path is seen by a process test, `tests/http/processes.rs`).
    #[test]
    fn with_a_subscriber_the_email_is_logged() {
        let email = OutgoingEmail::new(
            uuid::Uuid::now_v7(),
            EmailKind::Verify,
            "ann@example.com",
            "Confirm your email",
            "Open http://localhost:3000/verify#token=abc",
            "<p>html</p>",
            "http://localhost:3000/verify#token=abc",
            time::OffsetDateTime::now_utc(),
        );
        let ((), text) = crate::test_log::logged(tracing::Level::TRACE, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(LogMailer.send(&email)).unwrap();
        });
        assert!(text.contains("verify#token=abc"), "{text}");
        assert!(text.contains("ann@example.com"), "{text}");
    }
}
