//! The hashing pool: a few dedicated threads at a lower OS priority.
//!
//! argon2 is meant to be slow. Run on tokio's shared blocking pool at normal
//! priority, a login flood would take every core from the requests that
//! need no hashing. Here hashing gets its own threads, whose niceness is
//! raised (Linux), so when the CPU is contended the scheduler favours the
//! async workers serving everything else, and hashes queue instead.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// How much lower than normal hashing threads run (nice value, 0 to 19).
const HASH_NICENESS: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// K hashing threads fed from one queue. Dropping the pool ends them.
pub(super) struct HashPool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl HashPool {
    pub(super) fn new(threads: usize) -> std::io::Result<Self> {
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
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(HashPool {
            jobs: Mutex::new(tx),
        })
    }

    /// Runs `work` on a hashing thread. If the caller stops waiting (a
    /// client hung up), work that has not started yet is skipped.
    pub(super) async fn run<T, F>(&self, work: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            if !tx.is_closed() {
                let _ = tx.send(work());
            }
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        rx.await.ok()
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

    #[tokio::test]
    async fn jobs_run_and_return_their_result() {
        let pool = HashPool::new(2).unwrap();
        let results: Vec<_> = futures_join(&pool).await;
        assert_eq!(results, vec![Some(0), Some(1), Some(4), Some(9)]);
    }

    async fn futures_join(pool: &HashPool) -> Vec<Option<i32>> {
        let mut out = Vec::new();
        for i in 0..4 {
            out.push(pool.run(move || i * i).await);
        }
        out
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_a_lower_priority() {
        let pool = HashPool::new(1).unwrap();
        let nice = pool
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(nice, HASH_NICENESS);
    }
}
