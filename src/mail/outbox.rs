//! The outbox worker: delivers queued emails with retries.
//!
//! Emails wait in the store, so they survive restarts and mail-server
//! outages. Delivery is at-least-once: an email is removed only after the
//! mailer accepted it, so a crash between the two sends it again, under the
//! same `Message-ID`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::DynMailer;
use crate::hooks::DynHooks;
use crate::store::{DynStore, QueuedEmail};

/// Retry policy of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Delay after the first failure; it doubles on each further failure.
    pub base_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
    /// After this long in the outbox an email is dead-lettered (default 24 h).
    pub max_age: Duration,
    /// How long a worker's claim hides an email from other instances'
    /// workers sharing the store (default 5 min). The claim is renewed just
    /// before each email of a batch is sent, and one send is cut off after
    /// half of it (counted as a failed attempt), so a slow mail relay cannot
    /// outlive the claim; an email claimed by an instance that died goes out
    /// once it ends.
    pub claim_lease: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(10 * 60),
            max_age: Duration::from_secs(24 * 60 * 60),
            claim_lease: Duration::from_secs(5 * 60),
        }
    }
}

impl OutboxConfig {
    /// The delay before attempt `attempts + 1`: exponential, capped, with
    /// "equal jitter" (half fixed, half random) so that retries after an
    /// outage do not arrive in lockstep.
    ///
    /// Kept by hand: the attempt count lives in the store, so the delay must
    /// be a function of it, and the crates do worse. `exponential-backoff`
    /// is an iterator to replay, and clamps after its jitter, so every
    /// retry past the cap waits exactly `max_delay` (lockstep again);
    /// `backoff` is stateful and unmaintained (RUSTSEC-2025-0012).
    pub(crate) fn backoff(&self, attempts: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(
            1u32.checked_shl(attempts.saturating_sub(1).min(30))
                .unwrap_or(u32::MAX),
        );
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        half + half.mul_f64(rand::thread_rng().r#gen::<f64>())
    }

    /// The claim lease as the store takes it.
    fn lease(&self) -> time::Duration {
        time::Duration::try_from(self.claim_lease).unwrap_or(time::Duration::MAX)
    }

    /// How long one send may take: half the lease, so that the claim
    /// renewed just before it still holds when it ends.
    fn send_timeout(&self) -> Duration {
        self.claim_lease / 2
    }

    /// How often an idle worker looks for due mail.
    fn poll_interval(&self) -> Duration {
        self.base_delay
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// Handle on the background worker; owned by `Users`.
pub(crate) struct Outbox {
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    parts: WorkerParts,
}

#[derive(Clone)]
struct WorkerParts {
    store: Arc<dyn DynStore>,
    mailer: Arc<dyn DynMailer>,
    hooks: Arc<dyn DynHooks>,
    config: OutboxConfig,
}

impl Outbox {
    pub(crate) fn new(
        store: Arc<dyn DynStore>,
        mailer: Arc<dyn DynMailer>,
        hooks: Arc<dyn DynHooks>,
        config: OutboxConfig,
    ) -> Self {
        let outbox = Outbox {
            wake: Arc::new(Notify::new()),
            stop: watch::channel(false).0,
            task: Mutex::new(None),
            parts: WorkerParts {
                store,
                mailer,
                hooks,
                config,
            },
        };
        // Built inside a runtime (the usual case): start now, so mail left
        // from before a restart goes out without waiting for new traffic.
        if tokio::runtime::Handle::try_current().is_ok() {
            outbox.ensure_started();
        }
        outbox
    }

    /// Starts the worker if it is not running (and not stopped).
    pub(crate) fn ensure_started(&self) {
        if *self.stop.borrow() {
            return;
        }
        let Ok(mut task) = self.task.lock() else {
            return;
        };
        // A worker that ended (it never should; a panic would) is replaced.
        let running = task.as_ref().is_some_and(|t| !t.is_finished());
        if running || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let worker = Worker {
            parts: self.parts.clone(),
            wake: self.wake.clone(),
            stop: self.stop.subscribe(),
        };
        *task = Some(tokio::spawn(worker.run()));
    }

    /// The worker's doorbell, with the worker started. Ring it a moment
    /// after the request ([`WAKE_DELAY`]): delivery work that started at once
    /// would compete for CPU with the very response that queued the email,
    /// and make "this account exists" visible in that response's timing.
    pub(crate) fn doorbell(&self) -> Arc<Notify> {
        self.ensure_started();
        self.wake.clone()
    }

    /// Stops the worker after the email it is sending, if any. Mail still
    /// queued stays in the store for the next start; what it had claimed
    /// but not sent is released, due at once for other instances' workers.
    pub(crate) async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct Worker {
    parts: WorkerParts,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
}

const BATCH: usize = 32;

/// How long after a request its email's delivery starts.
pub(crate) const WAKE_DELAY: Duration = Duration::from_millis(20);

impl Worker {
    async fn run(mut self) {
        tracing::debug!("outbox worker started");
        loop {
            if *self.stop.borrow() {
                break;
            }
            let sent_full_batch = match self.deliver_due().await {
                Ok(full) => full,
                Err(err) => {
                    tracing::error!(error = %err, "outbox: could not read the queue");
                    false
                }
            };
            if sent_full_batch {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.parts.config.poll_interval()) => {}
                _ = self.stop.changed() => {}
            }
        }
        tracing::debug!("outbox worker stopped");
    }

    /// Delivers one batch of due mail; true if the batch was full.
    async fn deliver_due(&mut self) -> Result<bool, crate::store::StoreError> {
        let now = OffsetDateTime::now_utc();
        let lease = self.parts.config.lease();
        let due = self.parts.store.claim_mail(now, BATCH, lease).await?;
        let full = due.len() == BATCH;
        let mut due = due.into_iter();
        while let Some(mail) = due.next() {
            if *self.stop.borrow() {
                self.release(std::iter::once(mail).chain(due)).await;
                return Ok(false);
            }
            self.deliver(mail).await;
        }
        Ok(full)
    }

    /// Gives back claimed emails this worker will not send (it is
    /// stopping), so that another instance's worker sends them now rather
    /// than once the lease ends. A renewal for no time at all: due at once,
    /// and only if the claim still holds.
    async fn release(&self, unsent: impl Iterator<Item = QueuedEmail>) {
        let now = crate::user::now_seconds();
        for mail in unsent {
            let released = self
                .parts
                .store
                .renew_claim(&mail, now, time::Duration::ZERO)
                .await;
            if let Err(err) = released {
                // It goes out once the lease ends.
                tracing::warn!(mail.id = %mail.email.id, error = %err, "outbox: could not release a claim");
            }
        }
    }

    async fn deliver(&self, mut mail: QueuedEmail) {
        let p = &self.parts;
        let id = mail.email.id;
        // The batch was claimed at once and is sent one by one: by now the
        // lease may have run out and another worker claimed this email.
        // Renewing fences the send: only the current holder sends it.
        let now = OffsetDateTime::now_utc();
        match p.store.renew_claim(&mail, now, p.config.lease()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(mail.id = %id, "outbox: claim lost to another worker; not sending");
                return;
            }
            Err(err) => {
                // Its lease ends on its own; sending unfenced could send it twice.
                tracing::error!(mail.id = %id, error = %err, "outbox: could not renew a claim");
                return;
            }
        }
        if mail.decoy {
            if let Err(err) = p.store.finish_mail(&mail, None).await {
                tracing::error!(mail.id = %id, error = %err, "outbox: could not clear a decoy");
            }
            return;
        }
        // Run the app's mailer in its own task: if it panics, this email
        // counts as a failed attempt and the worker goes on.
        let mailer = p.mailer.clone();
        let email = mail.email.clone();
        let timeout = p.config.send_timeout();
        let sent = tokio::spawn(async move {
            // An app's mailer may have no timeout of its own; one stuck past
            // the lease would let another worker send the email too.
            tokio::time::timeout(timeout, mailer.send(&email))
                .await
                .unwrap_or_else(|_| {
                    Err(super::MailError::transient(format!(
                        "mailer timed out after {timeout:?}"
                    )))
                })
        })
        .await
        .unwrap_or_else(|panic| {
            Err(super::MailError::transient(format!(
                "mailer panicked: {panic}"
            )))
        });
        match sent {
            Ok(()) => {
                tracing::info!(mail.id = %id, kind = mail.email.kind.as_str(), attempts = mail.attempts + 1, "email delivered");
                if let Err(err) = p.store.finish_mail(&mail, None).await {
                    // It will be sent again: at-least-once, same Message-ID.
                    tracing::error!(mail.id = %id, error = %err, "outbox: delivered but not cleared");
                }
            }
            Err(err) => {
                mail.attempts += 1;
                let reason = err.to_string();
                let now = crate::user::now_seconds();
                let next = now + p.config.backoff(mail.attempts);
                let too_old = next - mail.created_at > p.config.max_age;
                if err.permanent || too_old {
                    tracing::error!(mail.id = %id, attempts = mail.attempts, error = %reason, "email dead-lettered");
                    if let Err(err) = p.store.finish_mail(&mail, Some(&reason)).await {
                        tracing::error!(mail.id = %id, error = %err, "outbox: could not dead-letter");
                        return;
                    }
                    mail.last_error = Some(reason.clone());
                    let hooks = p.hooks.clone();
                    let email = mail.email.clone();
                    let hook =
                        tokio::spawn(async move { hooks.on_dead_letter(&email, &reason).await });
                    if hook.await.is_err() {
                        tracing::error!(mail.id = %id, "on_dead_letter hook panicked");
                    }
                } else {
                    tracing::warn!(mail.id = %id, attempts = mail.attempts, error = %reason, "email delivery failed; will retry");
                    mail.next_attempt_at = next;
                    mail.last_error = Some(reason);
                    if let Err(err) = p.store.reschedule_mail(&mail).await {
                        tracing::error!(mail.id = %id, error = %err, "outbox: could not reschedule");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        let c = OutboxConfig {
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            claim_lease: Duration::from_secs(300),
        };
        for _ in 0..100 {
            let first = c.backoff(1);
            assert!(first >= Duration::from_secs(1) && first <= Duration::from_secs(2));
            let third = c.backoff(3);
            assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(8));
            let late = c.backoff(40);
            assert!(late >= Duration::from_secs(30) && late <= Duration::from_secs(60));
        }
    }

    /// Past the cap the delays must still differ, or every email queued
    /// during an outage would retry at the same instant.
    #[test]
    fn retries_past_the_cap_still_spread_out() {
        let c = OutboxConfig {
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            claim_lease: Duration::from_secs(300),
        };
        let late: std::collections::HashSet<Duration> = (0..50).map(|_| c.backoff(40)).collect();
        assert!(late.len() > 25, "{late:?}");
    }
}
