//! Passwords: argon2id hashing on a pool admitted by expected wait, and the
//! policy.
//!
//! Hashing is deliberately slow (tens of milliseconds and 19 MiB each), so
//! it never runs on an async worker: it runs on dedicated threads, one per
//! core by default, at the lowest OS priority, so it has every core nobody
//! else wants while requests that need no hashing still come first.
//!
//! A burst queues rather than failing. A request waiting for a hashing
//! thread holds its password in NFKC (and, at login, as typed and the
//! stored hash) plus a few hundred bytes of job and channel: a login
//! password over 4 × the policy's `max_len` bytes is refused unhashed, and
//! NFKC makes UTF-8 at most 11 times longer (UAX #15), so with the default
//! policy that is at most about 12 KiB, and about twice the password's
//! length for ordinary passwords. A running hash holds its `m_cost` (each
//! thread reuses one buffer of that size). So the running hashes are
//! bounded by the threads and a memory budget, and the waiting ones by
//! time: a request is admitted while its predicted wait (the work admitted
//! ahead of it × the measured time of one hash ÷ the threads) is within a
//! bound (5 s by default), and answered 503 past it, with a `Retry-After`
//! of how far past the bound its wait was (by then the line will admit it)
//! plus 0 or 1 s at random, so refused clients do not return as one wave.
//! Refusing costs an atomic check: no lock, no allocation, nothing for the
//! hashing threads to do, and every operation that will hash makes that
//! check first (`Passwords::would_admit`), before its store reads. A
//! request whose client hangs up before its hash starts leaves the line at
//! once.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Params, Version};
use rand::{Rng as _, RngCore};

mod admission;
mod argon;
pub(crate) mod normalize;
mod policy;
mod pool;

pub use policy::PasswordPolicy;

use pool::{HashPool, Place};

use crate::error::{ConfigError, Error};

/// argon2id cost parameters. The default is OWASP's first recommendation:
/// 19 MiB of memory, 2 iterations, 1 lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory cost in KiB.
    pub m_cost: u32,
    /// Number of iterations.
    pub t_cost: u32,
    /// Degree of parallelism.
    pub p_cost: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams {
            m_cost: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// How long a hashing request may wait for a thread before it is refused.
pub(crate) const DEFAULT_MAX_HASH_WAIT: Duration = Duration::from_secs(5);

/// The most bytes one character takes in UTF-8.
const MAX_UTF8_BYTES: usize = 4;

/// The longest wait bound accepted: past a minute a client has long given
/// up, and a bound like `Duration::MAX` would admit without limit.
const MAX_MAX_HASH_WAIT: Duration = Duration::from_secs(60);

/// The hashing pool's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HashingConfig {
    /// Hashing threads: at most this many hashes run at once.
    pub(crate) threads: usize,
    /// Memory the running hashes may hold, in bytes; `None` is enough for
    /// every thread.
    pub(crate) memory: Option<usize>,
    /// The longest predicted wait a request is admitted with.
    pub(crate) max_wait: Duration,
}

impl Default for HashingConfig {
    fn default() -> Self {
        HashingConfig {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory: None,
            max_wait: DEFAULT_MAX_HASH_WAIT,
        }
    }
}

/// What verifying a password found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verified {
    /// Wrong password (or no such user).
    No,
    /// Right password; `rehash` holds a new hash if the stored one used
    /// weaker parameters than today's.
    Yes { rehash: Option<String> },
}

/// The argon2id hasher with its pool.
#[derive(Clone)]
pub(crate) struct Passwords {
    params: Params,
    pool: Arc<HashPool>,
    /// A real hash of a random password: verifying against it costs what a
    /// real verify costs, so unknown emails take as long as wrong passwords.
    dummy_hash: Arc<str>,
    /// The longest password, in bytes as typed, worth checking: see
    /// [`verify`](Self::verify).
    max_typed_bytes: usize,
}

impl Passwords {
    /// Starts the hashing threads. `policy` bounds the passwords worth
    /// checking at login.
    pub(crate) fn new(
        params: PasswordParams,
        hashing: HashingConfig,
        policy: &PasswordPolicy,
    ) -> Result<Self, ConfigError> {
        let params =
            Params::new(params.m_cost, params.t_cost, params.p_cost, None).map_err(|e| {
                ConfigError::Invalid {
                    name: "password_params",
                    reason: e.to_string(),
                }
            })?;
        if hashing.threads == 0 {
            return Err(ConfigError::Invalid {
                name: "max_concurrent_hashes",
                reason: "must be at least 1".into(),
            });
        }
        if hashing.max_wait > MAX_MAX_HASH_WAIT {
            return Err(ConfigError::Invalid {
                name: "max_hash_wait",
                reason: format!("must be at most {} s", MAX_MAX_HASH_WAIT.as_secs()),
            });
        }
        // argon2 without its parallel feature fills all lanes on the one
        // thread, so one running hash holds m_cost KiB, whatever p_cost is.
        let per_hash = (params.m_cost() as usize).saturating_mul(1024);
        let threads = match hashing.memory {
            None => hashing.threads,
            Some(budget) if budget >= per_hash => hashing.threads.min(budget / per_hash),
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "hash_memory",
                    reason: format!("must hold at least one hash ({per_hash} bytes)"),
                });
            }
        };
        let pool = HashPool::new(threads, hashing.max_wait, Duration::ZERO).map_err(|e| {
            ConfigError::Invalid {
                name: "max_concurrent_hashes",
                reason: format!("could not start hashing threads: {e}"),
            }
        })?;
        // The dummy is made on a hashing thread, which also seeds the wait
        // prediction (see `calibrate`) until real hashes are measured.
        let dummy_hash = pool
            .calibrate({
                let params = params.clone();
                move || {
                    let mut random = [0u8; 32];
                    rand::thread_rng().fill_bytes(&mut random);
                    argon::hash(&params, &random).map_err(|e| e.to_string())
                }
            })
            .map_err(|lost| format!("{lost:?}"))
            .and_then(|hashed| hashed)
            .map_err(|reason| ConfigError::Invalid {
                name: "password_params",
                reason,
            })?;
        Ok(Passwords {
            params,
            pool: Arc::new(pool),
            dummy_hash: dummy_hash.into(),
            max_typed_bytes: policy.max_len.saturating_mul(MAX_UTF8_BYTES),
        })
    }

    /// Hashes the NFKC form of `password` on the hashing pool.
    pub(crate) async fn hash(&self, password: &str) -> Result<String, Error> {
        let place = self.admit()?;
        let params = self.params.clone();
        let password = normalize::nfkc(password).into_owned();
        on_pool(place, move || argon::hash(&params, password.as_bytes()))
            .await?
            .map_err(Error::internal)
    }

    /// Refuses at once when the hashing line is too long to admit a
    /// request now, with the `Retry-After` a hash would get. An operation
    /// that will hash calls it before any other work (store reads, locks,
    /// hooks), so a refusal under load stays one atomic check; the place
    /// itself is still taken when the hash is ready to queue.
    pub(crate) fn would_admit(&self) -> Result<(), Error> {
        self.pool.would_admit().map_err(unavailable)
    }

    /// Verifies `password` against `hash`, or against the dummy hash when
    /// there is no user, so both paths cost one argon2 run.
    ///
    /// A password longer than the policy's `max_len` characters can take in
    /// UTF-8 (4 bytes each) is wrong without hashing, for a known email as
    /// for an unknown one: no password set under the policy is that long as
    /// typed (unless typed decomposed, as jamo or base and marks, and that
    /// long), and a waiting request holds its password and NFKC form, which
    /// the request body alone would let grow to 16 KiB and over 11 times
    /// that.
    pub(crate) async fn verify(
        &self,
        password: &str,
        hash: Option<&str>,
    ) -> Result<Verified, Error> {
        if password.len() > self.max_typed_bytes {
            return Ok(Verified::No);
        }
        let place = self.admit()?;
        let params = self.params.clone();
        let password = normalize::Typed::new(password);
        let (hash, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        on_pool(place, move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return Verified::No;
            };
            let matched = password.check(&parsed, &params);
            if matched.is_none() || !real {
                return Verified::No;
            }
            let rehash =
                if is_current(&parsed, &params) && matched == Some(normalize::Match::Normalized) {
                    None
                } else {
                    argon::hash(&params, password.normalized()).ok()
                };
            Verified::Yes { rehash }
        })
        .await
    }

    /// A place in the hashing line, decided before anything is copied or
    /// allocated, so a refusal costs an atomic check.
    fn admit(&self) -> Result<Place<'_>, Error> {
        self.pool.admit().map_err(unavailable)
    }
}

/// A refusal's answer: come back when the line will admit again, plus 0 or
/// 1 s at random, so clients refused together do not all return in the
/// same second as one wave.
fn unavailable(busy: admission::Busy) -> Error {
    Error::Unavailable {
        retry_after: busy.retry_after + rand::thread_rng().gen_range(0..=1),
    }
}

async fn on_pool<T, F>(place: Place<'_>, work: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    place.run(work).await.map_err(|lost| {
        Error::internal(match lost {
            pool::Lost::Stopped => "the hashing pool stopped",
            pool::Lost::Panicked => "a hashing job panicked",
        })
    })
}

/// Whether `hash` was made with exactly today's algorithm and parameters.
fn is_current(hash: &PasswordHash, params: &Params) -> bool {
    let Ok(stored) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm.as_str() == "argon2id"
        && hash.version == Some(Version::V0x13.into())
        && stored.m_cost() == params.m_cost()
        && stored.t_cost() == params.t_cost()
        && stored.p_cost() == params.p_cost()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords(threads: usize) -> Passwords {
        build(
            PasswordParams::default(),
            HashingConfig {
                threads,
                ..HashingConfig::default()
            },
        )
        .unwrap()
    }

    /// Holds the one hashing thread of `pw` until the sender is used.
    async fn hold_the_thread(
        pw: &Passwords,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), Error>>,
    ) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let blocker = tokio::spawn({
            let pw = pw.clone();
            async move {
                let place = pw.admit()?;
                on_pool(place, move || {
                    let _ = started.send(());
                    let _ = held.recv();
                })
                .await
            }
        });
        running.await.unwrap();
        (release, blocker)
    }

    fn build(params: PasswordParams, hashing: HashingConfig) -> Result<Passwords, ConfigError> {
        Passwords::new(params, hashing, &PasswordPolicy::default())
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_with_owasp_params() {
        let pw = passwords(2);
        let hash = pw.hash("correct horse").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(
            pw.verify("correct horse", Some(&hash)).await.unwrap(),
            Verified::Yes { rehash: None }
        );
        assert_eq!(pw.verify("wrong", Some(&hash)).await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn unknown_users_verify_against_the_dummy_and_fail() {
        let pw = passwords(1);
        assert_eq!(pw.verify("anything", None).await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn hashes_under_old_params_are_rehashed_on_success() {
        let old = build(
            PasswordParams {
                m_cost: 8192,
                t_cost: 1,
                p_cost: 1,
            },
            HashingConfig::default(),
        )
        .unwrap();
        let hash = old.hash("correct horse").await.unwrap();
        let current = passwords(1);
        match current.verify("correct horse", Some(&hash)).await.unwrap() {
            Verified::Yes { rehash: Some(new) } => {
                assert!(new.contains("m=19456,t=2,p=1"), "{new}")
            }
            other => panic!("expected a rehash, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_far_larger_than_the_threads_is_served_not_refused() {
        // Cheap hashes keep the test quick; the wait bound is the default.
        let pw = build(
            PasswordParams {
                m_cost: 1024,
                t_cost: 1,
                p_cost: 1,
            },
            HashingConfig {
                threads: 2,
                ..HashingConfig::default()
            },
        )
        .unwrap();
        let hash = pw.hash("correct horse").await.unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (pw, hash) = (pw.clone(), hash.clone());
                tokio::spawn(async move { pw.verify("correct horse", Some(&hash)).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), Verified::Yes { rehash: None });
        }
        assert_eq!(pw.pool.admitted(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_wait_bound_callers_get_503_with_the_predicted_wait() {
        let pw = build(
            PasswordParams::default(),
            HashingConfig {
                threads: 1,
                memory: None,
                max_wait: Duration::from_secs(2),
            },
        )
        .unwrap();
        // One thread held by a job, and hashes said to take 3.5 s: the next
        // request would wait 3.5 s, 1.5 s past the bound.
        pw.pool.set_hash_time(Duration::from_millis(3500));
        let (release, blocker) = hold_the_thread(&pw).await;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            match pw.verify("x", None).await {
                Err(Error::Unavailable { retry_after }) => seen.insert(retry_after),
                other => panic!("{other:?}"),
            };
        }
        // 1.5 s rounded up, plus a second of jitter or none; both show up
        // in 200 refusals.
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![2, 3]);
        // Refusals took no place.
        assert_eq!(pw.pool.admitted(), 1);
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        assert_eq!(pw.pool.admitted(), 0);
        assert_eq!(pw.verify("x", None).await.unwrap(), Verified::No);
    }

    #[test]
    fn running_hashes_are_bounded_by_the_memory_budget() {
        let config = |memory| HashingConfig {
            threads: 4,
            memory: Some(memory),
            max_wait: DEFAULT_MAX_HASH_WAIT,
        };
        let small = PasswordParams {
            m_cost: 1024,
            t_cost: 1,
            p_cost: 1,
        };
        // 2.5 hashes' worth of memory: two run at once, not four.
        let pw = build(small, config(5 * 1024 * 1024 / 2)).unwrap();
        assert_eq!(pw.pool.threads(), 2);
        assert!(matches!(
            build(small, config(1024 * 1024 - 1)),
            Err(ConfigError::Invalid {
                name: "hash_memory",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_panicking_hash_job_says_so() {
        let pw = passwords(1);
        let place = pw.admit().unwrap();
        let err = on_pool(place, || -> u8 { panic!("boom") })
            .await
            .unwrap_err();
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "a hashing job panicked"
        );
    }

    #[test]
    fn a_wait_bound_past_a_minute_is_refused_at_build() {
        let with = |max_wait| {
            build(
                PasswordParams::default(),
                HashingConfig {
                    max_wait,
                    ..HashingConfig::default()
                },
            )
        };
        for wait in [Duration::from_secs(61), Duration::MAX] {
            assert!(matches!(
                with(wait),
                Err(ConfigError::Invalid {
                    name: "max_hash_wait",
                    ..
                })
            ));
        }
        assert!(with(MAX_MAX_HASH_WAIT).is_ok());
    }

    #[tokio::test]
    async fn the_dummy_is_made_on_a_hashing_thread_and_leaves_its_blocks_there() {
        let pw = passwords(1);
        let held = pw.admit().unwrap().run(argon::held_blocks).await;
        assert_eq!(held, Ok(pw.params.block_count()));
        // The caller's thread is not left holding blocks it never reuses.
        assert_eq!(argon::held_blocks(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_password_longer_than_the_policy_allows_is_wrong_without_hashing() {
        let small = PasswordParams {
            m_cost: 1024,
            t_cost: 1,
            p_cost: 1,
        };
        let pw = build(
            small,
            HashingConfig {
                threads: 1,
                memory: None,
                max_wait: Duration::ZERO,
            },
        )
        .unwrap();
        let cap = PasswordPolicy::default().max_len * MAX_UTF8_BYTES;
        // Hashes the policy would never have let through, made directly.
        let at_cap = "\u{10348}".repeat(cap / 4);
        assert_eq!(at_cap.len(), cap);
        let long = format!("{at_cap}x");
        let hashed_at_cap = pw.hash(&at_cap).await.unwrap();
        let hashed_long = pw.hash(&long).await.unwrap();
        assert_eq!(
            pw.verify(&at_cap, Some(&hashed_at_cap)).await.unwrap(),
            Verified::Yes { rehash: None }
        );
        assert_eq!(
            pw.verify(&long, Some(&hashed_long)).await.unwrap(),
            Verified::No
        );
        // No hashing: answered while the only thread is busy and the line
        // refuses everything else, known email or not.
        let (release, blocker) = hold_the_thread(&pw).await;
        assert!(matches!(
            pw.verify("x", None).await,
            Err(Error::Unavailable { .. })
        ));
        assert_eq!(pw.verify(&long, None).await.unwrap(), Verified::No);
        assert_eq!(
            pw.verify(&long, Some(&hashed_long)).await.unwrap(),
            Verified::No
        );
        assert_eq!(pw.pool.admitted(), 1);
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn would_admit_refuses_as_a_hash_would_without_taking_a_place() {
        let pw = build(
            PasswordParams::default(),
            HashingConfig {
                threads: 1,
                memory: None,
                max_wait: Duration::ZERO,
            },
        )
        .unwrap();
        assert!(pw.would_admit().is_ok());
        let (release, blocker) = hold_the_thread(&pw).await;
        assert!(matches!(
            pw.would_admit(),
            Err(Error::Unavailable { retry_after: 1..=2 })
        ));
        assert_eq!(pw.pool.admitted(), 1);
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        assert!(pw.would_admit().is_ok());
    }

    #[tokio::test]
    async fn garbage_hashes_never_verify() {
        let pw = passwords(1);
        assert_eq!(
            pw.verify("x", Some("not a hash")).await.unwrap(),
            Verified::No
        );
    }
}
