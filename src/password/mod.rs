//! Passwords: argon2id hashing on a bounded blocking pool, and the policy.
//!
//! Hashing is deliberately slow (tens of milliseconds), so it never runs on
//! an async worker: it runs on `max_concurrent` dedicated threads at a lower
//! OS priority, behind a queue of bounded length. A login flood queues, then
//! gets 503, instead of starving every other request of CPU or memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use rand::RngCore;

pub(crate) mod normalize;
mod policy;
mod pool;

pub use policy::PasswordPolicy;

use pool::HashPool;

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

/// What verifying a password found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verified {
    /// Wrong password (or no such user).
    No,
    /// Right password; `rehash` holds a new hash if the stored one used
    /// weaker parameters than today's.
    Yes { rehash: Option<String> },
}

/// The argon2id hasher with its bounded pool.
#[derive(Clone)]
pub(crate) struct Passwords {
    params: Params,
    pool: Arc<HashPool>,
    /// Hashes running plus waiting; past `capacity` callers get a 503
    /// instead of a place in an ever-growing queue.
    in_flight: Arc<AtomicUsize>,
    capacity: usize,
    /// A real hash of a random password: verifying against it costs what a
    /// real verify costs, so unknown emails take as long as wrong passwords.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub(crate) fn new(
        params: PasswordParams,
        max_concurrent: usize,
        max_queue: usize,
    ) -> Result<Self, ConfigError> {
        let params =
            Params::new(params.m_cost, params.t_cost, params.p_cost, None).map_err(|e| {
                ConfigError::Invalid {
                    name: "password_params",
                    reason: e.to_string(),
                }
            })?;
        if max_concurrent == 0 {
            return Err(ConfigError::Invalid {
                name: "max_concurrent_hashes",
                reason: "must be at least 1".into(),
            });
        }
        let mut random = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut random);
        let dummy_hash = hash_with(&params, &random).map_err(|e| ConfigError::Invalid {
            name: "password_params",
            reason: e.to_string(),
        })?;
        Ok(Passwords {
            params,
            pool: Arc::new(
                HashPool::new(max_concurrent).map_err(|e| ConfigError::Invalid {
                    name: "max_concurrent_hashes",
                    reason: format!("could not start hashing threads: {e}"),
                })?,
            ),
            in_flight: Arc::new(AtomicUsize::new(0)),
            capacity: max_concurrent + max_queue,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes the NFKC form of `password` on the blocking pool.
    pub(crate) async fn hash(&self, password: &str) -> Result<String, Error> {
        let params = self.params.clone();
        let password = normalize::nfkc(password).into_owned();
        self.on_pool(move || hash_with(&params, password.as_bytes()))
            .await?
            .map_err(Error::internal)
    }

    /// Verifies `password` against `hash`, or against the dummy hash when
    /// there is no user, so both paths cost one argon2 run.
    pub(crate) async fn verify(
        &self,
        password: &str,
        hash: Option<&str>,
    ) -> Result<Verified, Error> {
        let params = self.params.clone();
        let password = normalize::Typed::new(password);
        let (hash, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        self.on_pool(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return Verified::No;
            };
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            let matched = password.check(&argon, &parsed);
            if matched.is_none() || !real {
                return Verified::No;
            }
            let rehash =
                if is_current(&parsed, &params) && matched == Some(normalize::Match::Normalized) {
                    None
                } else {
                    hash_with(&params, password.normalized()).ok()
                };
            Verified::Yes { rehash }
        })
        .await
    }

    async fn on_pool<T, F>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = Slot::take(&self.in_flight, self.capacity)
            .ok_or(Error::Unavailable { retry_after: 1 })?;
        // The slot travels with the work, not with this future: a client that
        // hangs up mid-login drops the future, but a hash that already started
        // keeps its place until it really ends.
        self.pool
            .run(move || {
                let result = work();
                drop(slot);
                result
            })
            .await
            .ok_or_else(|| Error::internal("the hashing pool stopped"))
    }
}

/// One place in the bounded hashing queue, given back on drop.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(counter: &Arc<AtomicUsize>, capacity: usize) -> Option<Slot> {
        let taken = counter.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(counter.clone());
        (taken < capacity).then_some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn hash_with(params: &Params, password: &[u8]) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    Ok(argon.hash_password_with_salt(password, &salt)?.to_string())
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

    #[tokio::test]
    async fn hashes_are_argon2id_phc_with_owasp_params() {
        let pw = Passwords::new(PasswordParams::default(), 2, 8).unwrap();
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
        let pw = Passwords::new(PasswordParams::default(), 1, 8).unwrap();
        assert_eq!(pw.verify("anything", None).await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn hashes_under_old_params_are_rehashed_on_success() {
        let old = Passwords::new(
            PasswordParams {
                m_cost: 8192,
                t_cost: 1,
                p_cost: 1,
            },
            1,
            8,
        )
        .unwrap();
        let hash = old.hash("correct horse").await.unwrap();
        let current = Passwords::new(PasswordParams::default(), 1, 8).unwrap();
        match current.verify("correct horse", Some(&hash)).await.unwrap() {
            Verified::Yes { rehash: Some(new) } => {
                assert!(new.contains("m=19456,t=2,p=1"), "{new}")
            }
            other => panic!("expected a rehash, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_queue_bound_callers_get_503_not_a_place_in_line() {
        let pw = Passwords::new(PasswordParams::default(), 1, 2).unwrap();
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let pw = pw.clone();
                tokio::spawn(async move { pw.verify("x", None).await })
            })
            .collect();
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(Verified::No) => {}
                Err(Error::Unavailable { retry_after }) => {
                    assert!(retry_after >= 1);
                    busy += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        // One running and two waiting at most: the rest were turned away.
        assert!(busy >= 9, "only {busy} refused");
        // And the slots all came back.
        assert_eq!(pw.verify("x", None).await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn garbage_hashes_never_verify() {
        let pw = Passwords::new(PasswordParams::default(), 1, 8).unwrap();
        assert_eq!(
            pw.verify("x", Some("not a hash")).await.unwrap(),
            Verified::No
        );
    }
}
