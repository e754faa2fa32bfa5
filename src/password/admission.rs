//! Admission to the hashing pool by expected wait, not by a fixed count.
//!
//! A request waiting for a hashing thread holds its job (a closure with the
//! password, a oneshot channel: kilobytes at most, see the parent module);
//! only a running hash holds its 19 MiB, and the number of those is bounded
//! by the threads. So the queue is bounded by time: a request is admitted
//! while the wait predicted for it, `(admitted − threads + 1)⁺ × hash time
//! ÷ threads`, stays within `max_wait`, and refused past it with a
//! `Retry-After` of how much that wait exceeds the bound: by then the line
//! has shortened enough for it to be admitted (the full wait would send it
//! back to a queue long drained). The hash time is an average of measured
//! hashes, seeded at build by the quicker of two hashes on a hashing thread
//! (the second on the blocks the first grew, as the pool runs them), so the
//! prediction follows the machine: slower when other work takes the CPU,
//! faster when it frees up.
//!
//! A refusal is one atomic read-compare and a little arithmetic: it takes
//! no lock, allocates nothing and never reaches a hashing thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How much one measured hash moves the average: 1/8, so a change in the
/// machine's speed shows within about eight hashes while one slow hash
/// barely moves it.
const EWMA_SHIFT: u32 = 3;

/// Past `max_wait`: come back once the line has shortened enough to be
/// admitted again, the predicted wait minus `max_wait` (whole seconds, at
/// least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Busy {
    pub(super) retry_after: u64,
}

/// The pool's load: how much work is admitted, and how long a hash takes.
#[derive(Debug)]
pub(super) struct Admission {
    threads: u64,
    max_wait_nanos: u64,
    /// Requests admitted and neither finished nor abandoned by their caller.
    admitted: AtomicU64,
    /// Moving average of one job's duration on a hashing thread.
    hash_nanos: AtomicU64,
}

impl Admission {
    pub(super) fn new(threads: usize, max_wait: Duration, seed: Duration) -> Self {
        Admission {
            threads: (threads as u64).max(1),
            max_wait_nanos: nanos(max_wait),
            admitted: AtomicU64::new(0),
            hash_nanos: AtomicU64::new(nanos(seed).max(1)),
        }
    }

    /// Takes a place in line if the predicted wait is within the bound.
    /// Every `Ok` must be matched by one [`leave`](Self::leave).
    pub(super) fn enter(&self) -> Result<(), Busy> {
        let hash = self.hash_nanos.load(Ordering::Relaxed);
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |ahead| {
                self.admits(ahead, hash).then_some(ahead + 1)
            })
            .map(drop)
            .map_err(|ahead| self.busy(ahead, hash))
    }

    /// Whether [`enter`](Self::enter) would admit a request now, taking no
    /// place: for refusing before any other work is done. Two atomic loads.
    pub(super) fn would_admit(&self) -> Result<(), Busy> {
        let hash = self.hash_nanos.load(Ordering::Relaxed);
        let ahead = self.admitted.load(Ordering::Acquire);
        if self.admits(ahead, hash) {
            Ok(())
        } else {
            Err(self.busy(ahead, hash))
        }
    }

    fn admits(&self, ahead: u64, hash: u64) -> bool {
        self.wait_nanos(ahead, hash) <= self.max_wait_nanos
    }

    /// A refusal behind `ahead` admitted requests.
    fn busy(&self, ahead: u64, hash: u64) -> Busy {
        Busy {
            retry_after: (self
                .wait_nanos(ahead, hash)
                .saturating_sub(self.max_wait_nanos))
            .div_ceil(1_000_000_000)
            .max(1),
        }
    }

    /// Replaces the hash time with a fresh measurement, at build.
    pub(super) fn seed(&self, took: Duration) {
        self.hash_nanos.store(nanos(took).max(1), Ordering::Relaxed);
    }

    /// Gives a place back: its job ended, or its caller left before it
    /// started.
    pub(super) fn leave(&self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }

    /// Folds one measured job duration into the average.
    pub(super) fn record(&self, took: Duration) {
        let sample = nanos(took).max(1);
        let _ = self
            .hash_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| {
                Some((avg - (avg >> EWMA_SHIFT) + (sample >> EWMA_SHIFT)).max(1))
            });
    }

    /// The wait predicted for a request arriving behind `ahead` admitted
    /// ones: none while a thread is free, then the queue's share of the
    /// threads' time.
    fn wait_nanos(&self, ahead: u64, hash: u64) -> u64 {
        (ahead + 1)
            .saturating_sub(self.threads)
            .saturating_mul(hash)
            / self.threads
    }

    #[cfg(test)]
    pub(super) fn admitted(&self) -> u64 {
        self.admitted.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub(super) fn threads(&self) -> u64 {
        self.threads
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_admitted_while_their_predicted_wait_is_within_the_bound() {
        // Two threads, 1 s a hash, 2 s of patience.
        let a = Admission::new(2, Duration::from_secs(2), Duration::from_secs(1));
        // Two run at once, then each waits half a hash more than the last:
        // 0, 0, 0.5, 1, 1.5, 2 seconds.
        for _ in 0..6 {
            assert_eq!(a.enter(), Ok(()));
        }
        // The seventh would wait 2.5 s: refused, told to come back once
        // the half second past the bound has drained: 1 s, rounded up.
        assert_eq!(a.enter(), Err(Busy { retry_after: 1 }));
        assert_eq!(a.admitted(), 6);
        // Half a second later one hash has ended on average, and it is in.
        a.leave();
        assert_eq!(a.enter(), Ok(()));
    }

    #[test]
    fn the_retry_after_is_the_wait_past_the_bound() {
        // One thread, 3.5 s a hash, 2 s of patience: the second request
        // would wait 3.5 s, 1.5 s too long.
        let a = Admission::new(1, Duration::from_secs(2), Duration::from_millis(3500));
        assert_eq!(a.enter(), Ok(()));
        assert_eq!(a.enter(), Err(Busy { retry_after: 2 }));
    }

    #[test]
    fn would_admit_answers_as_enter_would_and_takes_no_place() {
        let a = Admission::new(1, Duration::from_secs(2), Duration::from_millis(3500));
        assert_eq!(a.would_admit(), Ok(()));
        assert_eq!(a.admitted(), 0);
        assert_eq!(a.enter(), Ok(()));
        assert_eq!(a.would_admit(), Err(Busy { retry_after: 2 }));
        a.leave();
        assert_eq!(a.would_admit(), Ok(()));
    }

    #[test]
    fn a_zero_bound_admits_only_what_can_start_at_once() {
        let a = Admission::new(1, Duration::ZERO, Duration::from_millis(1500));
        assert_eq!(a.enter(), Ok(()));
        // A refusal takes no place: however many there are, the count
        // stays at the one running job.
        for _ in 0..100 {
            assert_eq!(a.enter(), Err(Busy { retry_after: 2 }));
        }
        assert_eq!(a.admitted(), 1);
        a.leave();
        assert_eq!(a.enter(), Ok(()));
    }

    #[test]
    fn a_short_wait_still_asks_for_at_least_a_second() {
        let a = Admission::new(1, Duration::ZERO, Duration::from_millis(20));
        assert_eq!(a.enter(), Ok(()));
        assert_eq!(a.enter(), Err(Busy { retry_after: 1 }));
    }

    #[test]
    fn the_hash_time_follows_measurements() {
        let a = Admission::new(1, Duration::from_secs(1), Duration::from_millis(100));
        // At 100 ms a hash, ten may wait; once hashes take 1 s, only one.
        for _ in 0..64 {
            a.record(Duration::from_secs(1));
        }
        assert_eq!(a.enter(), Ok(()));
        assert_eq!(a.enter(), Ok(()));
        assert!(a.enter().is_err());
    }
}
