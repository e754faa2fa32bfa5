//! A few pooled connections kept aside between session lookups.
//!
//! sqlx tests every connection as it returns to its pool, always: one more
//! round trip after each query, which on the hot path of an authenticated
//! request (one query) doubles the socket work of both processes. A
//! connection that has just answered a session lookup query is alive, so
//! it is handed to the next such query directly (see the `lookups`
//! module), and only one left unused for a moment goes back to the pool
//! (tested there as usual).
//!
//! A connection goes back to the pool at least every
//! [`BACK_TO_POOL_EVERY`] even under steady traffic, so that the pool's
//! own rules (its `max_lifetime`, its test) still reach it.
//!
//! Only for a pool the store made itself ([`PostgresStore::connect`]),
//! which is sized with room for these: an app's own pool keeps all its
//! connections.
//!
//! [`PostgresStore::connect`]: super::PostgresStore::connect

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

/// How long a connection may wait aside for the next lookup before it goes
/// back to the pool; as long as a pooled one may sit idle untested.
const PARKED_AT_MOST: Duration = super::UNTESTED_IDLE;

/// How long a connection may go from lookup query to lookup query before
/// it goes back to the pool.
const BACK_TO_POOL_EVERY: Duration = Duration::from_secs(60);

/// A pooled connection out for lookup queries, and since when.
#[derive(Debug)]
pub(super) struct Held {
    pub(super) conn: PoolConnection<Postgres>,
    out_since: Instant,
}

impl Held {
    /// `conn`, just taken from the pool.
    pub(super) fn new(conn: PoolConnection<Postgres>) -> Self {
        Held {
            conn,
            out_since: Instant::now(),
        }
    }

    /// Whether it has been out of the pool long enough to go back.
    pub(super) fn due_back(&self) -> bool {
        self.out_since.elapsed() >= BACK_TO_POOL_EVERY
    }
}

/// Connections set aside by finished lookups, most recent last.
#[derive(Debug)]
pub(super) struct Hot {
    parked: Mutex<Vec<(Held, Instant)>>,
    keep: usize,
    /// Whether a task is returning the connections parked too long, so
    /// that none stays out of the pool once lookups stop (`PgPool::close`
    /// waits for every connection to come back).
    sweeping: AtomicBool,
    /// The pool the connections belong to: once it is closed, none is
    /// handed on or kept (lookups fail as the pool's own would).
    pool: Option<PgPool>,
    /// The runtime the store was made on, which sweeps: not whichever
    /// runtime a lookup happened to run on, which may stop being driven.
    runtime: Option<tokio::runtime::Handle>,
}

impl Hot {
    /// Keeps none.
    pub(super) fn none() -> Self {
        Hot {
            parked: Mutex::new(Vec::new()),
            keep: 0,
            sweeping: AtomicBool::new(false),
            pool: None,
            runtime: None,
        }
    }

    /// Keeps up to `keep` connections of `pool` aside.
    pub(super) fn new(keep: usize, pool: PgPool) -> Self {
        Hot {
            parked: Mutex::new(Vec::with_capacity(keep)),
            keep,
            sweeping: AtomicBool::new(false),
            pool: Some(pool),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Whether the pool was closed: then every parked connection goes back
    /// (so that `PgPool::close` ends) and none is handed on.
    fn closed(&self) -> bool {
        self.pool.as_ref().is_some_and(PgPool::is_closed)
    }

    /// Empties the list (dropped outside the lock).
    fn drain(&self) {
        let all: Vec<_> = {
            let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            parked.drain(..).collect()
        };
        drop(all);
    }

    /// Splits off the connections parked for [`PARKED_AT_MOST`] or more,
    /// for the caller to drop outside the lock (each drop spawns its
    /// return to the pool).
    fn stale(parked: &mut Vec<(Held, Instant)>) -> Vec<Held> {
        let cutoff = Instant::now().checked_sub(PARKED_AT_MOST);
        // The oldest come first.
        let fresh_from = parked
            .iter()
            .position(|(_, at)| cutoff.is_none_or(|c| *at >= c))
            .unwrap_or(parked.len());
        parked.drain(..fresh_from).map(|(conn, _)| conn).collect()
    }

    /// Every [`PARKED_AT_MOST`], returns the connections parked that long,
    /// until none is parked.
    fn sweep(self: &Arc<Self>) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        // Made before the task, so that it ends the claim even if the task
        // is dropped unrun (its runtime shutting down): else no sweep would
        // ever start again.
        let mut claim = SweepClaim(Arc::clone(self), true);
        let sweep = async move {
            let hot = Arc::clone(&claim.0);
            loop {
                tokio::time::sleep(PARKED_AT_MOST).await;
                let (stale, empty) = {
                    let mut parked = hot.parked.lock().unwrap_or_else(|e| e.into_inner());
                    let stale = Self::stale(&mut parked);
                    (stale, parked.is_empty())
                };
                drop(stale);
                if empty {
                    hot.sweeping.store(false, Ordering::Release);
                    // A connection parked between the check and the store
                    // must not wait for the next one.
                    let parked = hot.parked.lock().unwrap_or_else(|e| e.into_inner());
                    if parked.is_empty() || hot.sweeping.swap(true, Ordering::AcqRel) {
                        // Ended here, or claimed by another sweep.
                        claim.end();
                        return;
                    }
                }
            }
        };
        match &self.runtime {
            Some(runtime) => drop(runtime.spawn(sweep)),
            None => drop(tokio::spawn(sweep)),
        }
    }

    /// The most recently parked connection, if one waited less than
    /// [`PARKED_AT_MOST`]; older ones go back to the pool.
    pub(super) fn take(&self) -> Option<Held> {
        if self.keep == 0 {
            return None;
        }
        if self.closed() {
            self.drain();
            return None;
        }
        let (conn, stale) = {
            let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            let conn = parked.pop();
            (conn, Self::stale(&mut parked))
        };
        // Dropped outside the lock: each spawns its return to the pool.
        drop(stale);
        match conn {
            Some((conn, at)) if at.elapsed() < PARKED_AT_MOST && !conn.due_back() => Some(conn),
            _ => None,
        }
    }

    /// Sets aside `conn`, which has just answered a lookup in full; if
    /// enough are aside already, or it is due back, it goes back to the
    /// pool.
    pub(super) fn put(self: &Arc<Self>, conn: Held) {
        if self.keep == 0 || conn.due_back() {
            return;
        }
        if self.closed() {
            drop(conn);
            self.drain();
            return;
        }
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        if parked.len() < self.keep {
            parked.push((conn, Instant::now()));
            drop(parked);
            self.sweep();
            return;
        }
        drop(parked);
        drop(conn);
    }
}

/// A sweep's claim on [`Hot::sweeping`], given up if the sweep is dropped
/// while it holds it (the bool: it does).
struct SweepClaim(Arc<Hot>, bool);

impl SweepClaim {
    /// The sweep ended with the claim given up (or never its own).
    fn end(&mut self) {
        self.1 = false;
    }
}

impl Drop for SweepClaim {
    fn drop(&mut self) {
        if self.1 {
            self.0.sweeping.store(false, Ordering::Release);
        }
    }
}
