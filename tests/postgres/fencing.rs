//! Outbox claims are fenced: a worker whose lease ran out and whose emails
//! another worker claimed again can neither send them nor undo that
//! worker's bookkeeping.

use std::sync::Arc;

use time::Duration;
use tokio::sync::{Notify, mpsc};
use tower_users::Users;
use tower_users::mail::{EmailKind, MailError, Mailer, OutboxConfig, OutgoingEmail};
use tower_users::store::{QueuedEmail, Store};

use crate::{now, server};

fn mail(to: &str) -> QueuedEmail {
    QueuedEmail::new(OutgoingEmail::new(
        uuid::Uuid::now_v7(),
        EmailKind::Verify,
        to,
        "subject",
        "text",
        "<p>html</p>",
        "http://x/#token=t",
        now() + Duration::hours(1),
    ))
}

/// A claim re-claimed by another worker after its lease: the stale holder's
/// renewal, reschedule and dead-lettering all find it gone, and the new
/// holder's state stands.
#[tokio::test]
async fn a_stale_claim_cannot_renew_reschedule_or_dead_letter() {
    let Some(server) = server::server() else {
        return;
    };
    let (store, schema) = server::store_in(server, 2).await;
    let lease = Duration::seconds(30);
    let queued = mail("a@example.com");
    store.enqueue_mail(&queued).await.unwrap();
    let stale = store.claim_mail(now(), 10, lease).await.unwrap().remove(0);
    server::age_outbox(&store, &schema, lease + Duration::seconds(1)).await;
    let later = now();
    let current = store.claim_mail(later, 10, lease).await.unwrap().remove(0);
    assert_eq!(current.email.id, stale.email.id);
    assert_ne!(current.claim, stale.claim);

    assert!(!store.renew_claim(&stale, later, lease).await.unwrap());
    let mut failed = stale.clone();
    failed.attempts = 1;
    failed.next_attempt_at = later;
    failed.last_error = Some("421 try later".into());
    store.reschedule_mail(&failed).await.unwrap();
    store
        .finish_mail(&failed, Some("550 no such user"))
        .await
        .unwrap();
    assert_eq!(store.pending_mail().await.unwrap(), 1);
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    // Still hidden under the current claim's lease, not made due by the
    // stale reschedule.
    assert!(store.claim_mail(later, 10, lease).await.unwrap().is_empty());
    assert!(store.renew_claim(&current, later, lease).await.unwrap());
}

/// Reports each email it is asked to send; holds the first until released,
/// as a slow relay would.
struct SlowRelay {
    sent: mpsc::UnboundedSender<uuid::Uuid>,
    release: Arc<Notify>,
    first: std::sync::atomic::AtomicBool,
}

impl Mailer for SlowRelay {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let _ = self.sent.send(email.id);
        if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.release.notified().await;
        }
        Ok(())
    }
}

/// A worker stuck on the first email of its batch while its lease runs out
/// and another worker claims the rest: it does not send the rest. The email
/// queued afterwards shows that it got past them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_claim_was_taken_does_not_send_it() {
    let Some(server) = server::server() else {
        return;
    };
    let (store, schema) = server::store_in(server, 4).await;
    let (first, second, third) = (
        mail("1@example.com"),
        mail("2@example.com"),
        mail("3@example.com"),
    );
    store.enqueue_mail(&first).await.unwrap();
    store.enqueue_mail(&second).await.unwrap();
    let (tx, mut sent) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let config = OutboxConfig::default();
    let users = Users::builder(store.clone())
        .with_secret(b"integration-test-secret-of-32-bytes-or-more")
        .with_mailer(SlowRelay {
            sent: tx,
            release: release.clone(),
            first: true.into(),
        })
        .with_outbox(config)
        .build()
        .unwrap();
    let guard = std::time::Duration::from_secs(60);
    let got = tokio::time::timeout(guard, sent.recv()).await.unwrap();
    assert_eq!(got, Some(first.email.id));

    // Another instance, once the lease has run out, claims both.
    let lease = Duration::try_from(config.claim_lease).unwrap();
    server::age_outbox(&store, &schema, lease + Duration::seconds(1)).await;
    let taken = store.claim_mail(now(), 32, lease).await.unwrap();
    assert!(taken.iter().any(|m| m.email.id == second.email.id));
    store.enqueue_mail(&third).await.unwrap();
    release.notify_one();

    let got = tokio::time::timeout(guard, sent.recv()).await.unwrap();
    assert_eq!(
        got,
        Some(third.email.id),
        "the stale worker sent an email it no longer held"
    );
    users.shutdown().await;
}

/// A worker stopped while sending the first email of its batch gives the
/// rest back: another instance can claim them at once, not after the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_worker_releases_what_it_did_not_send() {
    let Some(server) = server::server() else {
        return;
    };
    let store = server::store(server, 4).await;
    let (first, second) = (mail("1@example.com"), mail("2@example.com"));
    store.enqueue_mail(&first).await.unwrap();
    store.enqueue_mail(&second).await.unwrap();
    let (tx, mut sent) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let users = Users::builder(store.clone())
        .with_secret(b"integration-test-secret-of-32-bytes-or-more")
        .with_mailer(SlowRelay {
            sent: tx,
            release: release.clone(),
            first: true.into(),
        })
        .build()
        .unwrap();
    let guard = std::time::Duration::from_secs(60);
    let got = tokio::time::timeout(guard, sent.recv()).await.unwrap();
    assert_eq!(got, Some(first.email.id));

    let shutdown = users.shutdown();
    tokio::pin!(shutdown);
    // One poll asks the worker to stop; it is still sending the first.
    assert!(
        tokio::time::timeout(std::time::Duration::ZERO, &mut shutdown)
            .await
            .is_err()
    );
    release.notify_one();
    tokio::time::timeout(guard, shutdown).await.unwrap();

    let lease = Duration::minutes(5);
    let left = store.claim_mail(now(), 32, lease).await.unwrap();
    let left: Vec<_> = left.iter().map(|m| m.email.id).collect();
    assert_eq!(left, vec![second.email.id]);
}
