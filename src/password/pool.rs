//! The hashing pool: one thread per core, at the lowest OS priority.
//!
//! argon2 is meant to be slow. Run on tokio's shared blocking pool at normal
//! priority, a login flood would take every core from the requests that
//! need no hashing; leaving a core idle for them wastes it whenever nobody
//! else wants it. Here hashing gets its own threads, one per core by
//! default, at nice 19 (Linux): when nothing else wants the CPU they use all
//! of it, and when the async workers have requests to serve, the scheduler
//! gives them the cores first (a nice-0 thread weighs 1024 to a nice-19
//! thread's 15, so it gets about 98% of a core they share, and a waking
//! request preempts a hash at once).
//!
//! Why nice 19 and not `SCHED_IDLE`: the idle policy only lowers the weight
//! further (3 instead of 15), needs `sched_setscheduler`, which rustix does
//! not offer (so an unsafe FFI call or another crate), and changes nothing a
//! request can measure. `setpriority` is safe, per thread on Linux, and
//! needs no privilege to lower one's own priority.
//!
//! Jobs are admitted by [`Admission`]: a caller first takes a [`Place`]
//! (an atomic check), then hands it its work. A caller that hangs up before
//! its job starts gives the place back at once, and a hashing thread that
//! later finds the job skips it; a job that already started runs to its end
//! and keeps its place until then, since it really holds a core and memory.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::admission::{Admission, Busy};

/// How much lower than normal hashing threads run (nice value, 0 to 19).
const HASH_NICENESS: i32 = 19;

/// A job's life: queued, then taken by a thread or abandoned by its caller,
/// whichever comes first.
const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const ABANDONED: u8 = 2;

type Job = Box<dyn FnOnce() + Send>;

/// Why a job gave no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lost {
    /// The hashing threads are gone: the job was never queued, or never run.
    Stopped,
    /// The job panicked on its thread (the thread lives on).
    Panicked,
}

/// Hashing threads fed from one queue. Dropping the pool ends them.
pub(super) struct HashPool {
    /// `Sender` is `Sync` (since Rust 1.72): callers send without a lock.
    jobs: mpsc::Sender<Job>,
    admission: Arc<Admission>,
}

impl HashPool {
    /// Starts `threads` hashing threads. `hash_time` seeds the prediction
    /// of how long a job takes.
    pub(super) fn new(
        threads: usize,
        max_wait: Duration,
        hash_time: Duration,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("tower-users-argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for a job.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // Jobs catch their own panics (see `run`); this
                            // one keeps the thread alive whatever a job does.
                            Ok(job) => drop(std::panic::catch_unwind(AssertUnwindSafe(job))),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(HashPool {
            jobs: tx,
            admission: Arc::new(Admission::new(threads, max_wait, hash_time)),
        })
    }

    /// Runs `work` twice on one hashing thread, outside admission, and seeds
    /// the wait prediction with the quicker run; answers the first run's
    /// result. For build, which blocks on it: the first run grows that
    /// thread's blocks, the second is timed as the pool runs hashes, at the
    /// pool's priority, so the seed is neither a cold allocation nor a
    /// hash at normal priority.
    pub(super) fn calibrate<T, F>(&self, work: F) -> Result<T, Lost>
    where
        T: Send + 'static,
        F: Fn() -> T + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let timed = || {
                let start = Instant::now();
                let result = work();
                (result, start.elapsed())
            };
            let runs = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let (first, cold) = timed();
                let (_, warm) = timed();
                (first, cold.min(warm))
            }));
            let _ = tx.send(runs.map_err(|_| Lost::Panicked));
        });
        self.jobs.send(job).map_err(|_| Lost::Stopped)?;
        let (first, took) = rx.recv().unwrap_or(Err(Lost::Stopped))?;
        self.admission.seed(took);
        Ok(first)
    }

    /// A place in line, if the predicted wait allows one. A refusal is
    /// decided before anything is allocated.
    pub(super) fn admit(&self) -> Result<Place<'_>, Busy> {
        self.admission.enter()?;
        Ok(Place {
            pool: self,
            state: Arc::new(AtomicU8::new(QUEUED)),
        })
    }

    /// Whether [`admit`](Self::admit) would give a place now; takes none.
    pub(super) fn would_admit(&self) -> Result<(), Busy> {
        self.admission.would_admit()
    }

    #[cfg(test)]
    pub(super) fn admitted(&self) -> u64 {
        self.admission.admitted()
    }

    #[cfg(test)]
    pub(super) fn set_hash_time(&self, took: Duration) {
        self.admission.seed(took);
    }

    #[cfg(test)]
    pub(super) fn threads(&self) -> u64 {
        self.admission.threads()
    }
}

/// An admitted request. Whichever comes first of a hashing thread taking
/// its job and the caller dropping it (or its future) gives the place back.
pub(super) struct Place<'a> {
    pool: &'a HashPool,
    state: Arc<AtomicU8>,
}

impl Place<'_> {
    /// Runs `work` on a hashing thread and waits for its result, or says
    /// why there is none. Dropping the future before the work starts (a
    /// client hung up) withdraws it.
    pub(super) async fn run<T, F>(self, work: F) -> Result<T, Lost>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let admission = self.pool.admission.clone();
        let state = self.state.clone();
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            if state
                .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return;
            }
            let running = Running {
                admission: &admission,
                start: Instant::now(),
            };
            let result =
                std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(|_| Lost::Panicked);
            // The place is given back before the caller hears, so the next
            // request already sees the thread free.
            drop(running);
            let _ = tx.send(result);
        });
        self.pool.jobs.send(job).map_err(|_| Lost::Stopped)?;
        rx.await.unwrap_or(Err(Lost::Stopped))
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self
            .state
            .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.pool.admission.leave();
        }
    }
}

/// A job on a hashing thread: when it ends (or panics), its time is
/// measured and its place given back.
struct Running<'a> {
    admission: &'a Admission,
    start: Instant,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.admission.record(self.start.elapsed());
        self.admission.leave();
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(err) = rustix::process::setpriority_process(Some(tid), HASH_NICENESS) {
        tracing::debug!(error = %err, "could not lower the hashing thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {
    let _ = HASH_NICENESS;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize, max_wait: Duration) -> HashPool {
        HashPool::new(threads, max_wait, Duration::from_millis(100)).unwrap()
    }

    /// Occupies a one-thread pool with a job that runs until `release`
    /// sends (or is dropped); returns once the job is running, with the
    /// job's own future, which ends when it does.
    async fn hold_the_thread(
        pool: &HashPool,
    ) -> (
        std::sync::mpsc::Sender<()>,
        std::pin::Pin<Box<impl std::future::Future<Output = Result<(), Lost>> + '_>>,
    ) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let mut blocker = Box::pin(pool.admit().unwrap().run(move || {
            let _ = started.send(());
            let _ = held.recv();
        }));
        tokio::select! {
            _ = &mut blocker => panic!("the blocker ended early"),
            r = running => r.unwrap(),
        }
        (release, blocker)
    }

    #[tokio::test]
    async fn jobs_run_and_return_their_result() {
        let pool = pool(2, Duration::from_secs(5));
        let mut results = Vec::new();
        for i in 0..4 {
            results.push(pool.admit().unwrap().run(move || i * i).await);
        }
        assert_eq!(results, vec![Ok(0), Ok(1), Ok(4), Ok(9)]);
        assert_eq!(pool.admitted(), 0);
    }

    #[tokio::test]
    async fn a_caller_that_leaves_before_its_job_starts_gives_its_place_back_and_the_job_is_skipped()
     {
        let pool = pool(1, Duration::from_secs(60));
        let (release, blocker) = hold_the_thread(&pool).await;

        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut withdrawn = Box::pin(pool.admit().unwrap().run({
            let ran = ran.clone();
            move || ran.store(true, Ordering::SeqCst)
        }));
        // Polled once, so the job is in the queue behind the blocker.
        tokio::select! {
            biased;
            _ = &mut withdrawn => panic!("a queued job ran while the thread was busy"),
            _ = std::future::ready(()) => {}
        }
        assert_eq!(pool.admitted(), 2);
        drop(withdrawn);
        // The prediction forgets it at once, not when a thread gets to it.
        assert_eq!(pool.admitted(), 1);

        release.send(()).unwrap();
        blocker.await.unwrap();
        // The queue is first in, first out: once a later job has run, the
        // withdrawn one has been seen and skipped.
        assert_eq!(pool.admit().unwrap().run(|| 7).await, Ok(7));
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(pool.admitted(), 0);
    }

    #[tokio::test]
    async fn a_refused_request_takes_no_place_and_never_reaches_a_thread() {
        let pool = pool(1, Duration::ZERO);
        let (release, blocker) = hold_the_thread(&pool).await;
        for _ in 0..1000 {
            let busy = pool.admit().err().expect("admitted past a zero wait bound");
            assert!(busy.retry_after >= 1);
        }
        assert_eq!(pool.admitted(), 1);
        release.send(()).unwrap();
        blocker.await.unwrap();
        // The thread is free again, and the thousand refusals left nothing
        // behind them: the next request runs at once.
        assert_eq!(pool.admit().unwrap().run(|| 7).await, Ok(7));
        assert_eq!(pool.admitted(), 0);
    }

    #[tokio::test]
    async fn a_panicking_job_is_told_apart_from_a_stopped_pool_and_the_thread_lives_on() {
        let pool = pool(1, Duration::from_secs(5));
        let panicked = pool.admit().unwrap().run(|| -> u8 { panic!("boom") });
        assert_eq!(panicked.await, Err(Lost::Panicked));
        assert_eq!(pool.admitted(), 0);
        assert_eq!(pool.admit().unwrap().run(|| 7).await, Ok(7));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_lowest_priority() {
        let pool = pool(1, Duration::from_secs(5));
        let nice = pool
            .admit()
            .unwrap()
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(nice, HASH_NICENESS);
    }
}
