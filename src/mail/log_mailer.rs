//! [`LogMailer`], the default: emails shown to the developer, not sent.

use std::io::Write;

use tracing::subscriber::NoSubscriber;

use super::{BoxFuture, MailError, Mailer, OutgoingEmail};

/// The default mailer: shows each email to the developer instead of sending
/// it, so the link can be copied.
///
/// With a `tracing` subscriber in place, the email is logged at INFO level,
/// target `tower_users::mail`. Without one (a quickstart that never set one
/// up), that event would go nowhere while the outbox counts the email as
/// delivered, so it is written to stderr instead.
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
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            // The dispatcher of this thread: a scoped one, else the global
            // one, else the no-op that drops every event.
            let unheard = tracing::dispatcher::get_default(|d| d.is::<NoSubscriber>());
            if unheard {
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
        })
    }
}

/// The email as a developer reads it; one write, so that two emails never
/// interleave.
fn write_to_stderr(email: &OutgoingEmail) -> std::io::Result<()> {
    let shown = format!(
        "tower-users: email not sent (no mailer configured, and no tracing subscriber)\n\
         To: {}\nSubject: {}\n\n{}\n",
        email.to,
        email.subject,
        email.text.trim_end()
    );
    std::io::stderr().lock().write_all(shown.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::mail::EmailKind;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// With a subscriber the email is an event like any other (the stderr
    /// path is seen by a process test, `tests/http/processes.rs`).
    #[test]
    fn with_a_subscriber_the_email_is_logged() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
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
        tracing::subscriber::with_default(subscriber, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(LogMailer.send(&email)).unwrap();
        });
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("verify#token=abc"), "{text}");
        assert!(text.contains("ann@example.com"), "{text}");
    }
}
