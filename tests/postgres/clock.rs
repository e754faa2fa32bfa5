//! Outbox leases and due times are measured by the database's clock, not
//! by the clock of the instance that asks: instances whose clocks disagree
//! still never send one email twice and never leave one unsent.

use time::Duration;
use tower_users::mail::{EmailKind, OutgoingEmail};
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

/// Ten minutes, twice the lease: as far as an instance's clock is off.
const SKEW: Duration = Duration::minutes(10);
const LEASE: Duration = Duration::minutes(5);

/// An instance whose clock runs ahead cannot take an email whose lease,
/// taken by an instance on time, still runs; nor can it push an email's
/// due time into the database's future by queueing it.
#[tokio::test]
async fn an_instance_whose_clock_runs_ahead_takes_no_email_another_holds() {
    let Some(server) = server::server() else {
        return;
    };
    let store = server::store(server, 2).await;
    let held = mail("held@example.com");
    store.enqueue_mail(&held).await.unwrap();
    let claimed = store.claim_mail(now(), 10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);

    let ahead = store.claim_mail(now() + SKEW, 10, LEASE).await.unwrap();
    assert!(
        ahead.is_empty(),
        "a clock {SKEW} ahead took an email whose lease still runs"
    );
    // Nor does its renewal outlast the holder's: the holder, on time,
    // still holds it.
    assert!(store.renew_claim(&claimed[0], now(), LEASE).await.unwrap());

    // Queued by that instance, due at once by its clock: due at once by
    // the database's too, not ten minutes from now.
    let mut queued = mail("queued-ahead@example.com");
    queued.created_at = now() + SKEW;
    queued.next_attempt_at = queued.created_at;
    store.enqueue_mail(&queued).await.unwrap();
    let due = store.claim_mail(now(), 10, LEASE).await.unwrap();
    let due: Vec<_> = due.iter().map(|m| m.email.id).collect();
    assert_eq!(due, vec![queued.email.id]);
}

/// An instance whose clock runs behind still sends what is due, and the
/// lease it takes runs by the database's clock: an instance on time cannot
/// take the email from it at once.
#[tokio::test]
async fn an_instance_whose_clock_runs_behind_sends_due_mail_under_a_full_lease() {
    let Some(server) = server::server() else {
        return;
    };
    let store = server::store(server, 2).await;
    let due = mail("due@example.com");
    store.enqueue_mail(&due).await.unwrap();

    let behind = store.claim_mail(now() - SKEW, 10, LEASE).await.unwrap();
    let ids: Vec<_> = behind.iter().map(|m| m.email.id).collect();
    assert_eq!(
        ids,
        vec![due.email.id],
        "a clock {SKEW} behind left due mail"
    );
    let on_time = store.claim_mail(now(), 10, LEASE).await.unwrap();
    assert!(
        on_time.is_empty(),
        "the lease taken by a clock {SKEW} behind had already ended"
    );
    // Renewed by that clock, the lease still runs from the database's now.
    assert!(
        store
            .renew_claim(&behind[0], now() - SKEW, LEASE)
            .await
            .unwrap()
    );
    assert!(store.claim_mail(now(), 10, LEASE).await.unwrap().is_empty());
}
