//! A few pooled connections kept aside between session lookups.
//!
//! sqlx tests every connection as it returns to its pool, always: one more
//! round trip after each query, which on the hot path of an authenticated
//! request (one query) doubles the socket work of both processes. A
//! connection that has just answered a lookup is alive, so lookups hand
//! their connection to the next lookup directly, and only one left unused
//! for a moment goes back to the pool (tested there as usual).
//!
//! Only for a pool the store made itself ([`PostgresStore::connect`]),
//! which is sized with room for these: an app's own pool keeps all its
//! connections.
//!
//! [`PostgresStore::connect`]: super::PostgresStore::connect

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::Postgres;
use sqlx::pool::PoolConnection;

/// How long a connection may wait aside for the next lookup before it goes
/// back to the pool; as long as a pooled one may sit idle untested.
const PARKED_AT_MOST: Duration = super::UNTESTED_IDLE;

/// Connections set aside by finished lookups, most recent last.
#[derive(Debug)]
pub(super) struct Hot {
    parked: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    keep: usize,
}

impl Hot {
    /// Keeps up to `keep` connections aside; zero keeps none.
    pub(super) fn new(keep: usize) -> Self {
        Hot {
            parked: Mutex::new(Vec::with_capacity(keep)),
            keep,
        }
    }

    /// The most recently parked connection, if one waited less than
    /// [`PARKED_AT_MOST`]; older ones go back to the pool.
    pub(super) fn take(&self) -> Option<PoolConnection<Postgres>> {
        if self.keep == 0 {
            return None;
        }
        let (conn, stale) = {
            let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            let conn = parked.pop();
            let cutoff = Instant::now().checked_sub(PARKED_AT_MOST);
            // The oldest come first: split off those parked too long.
            let fresh_from = parked
                .iter()
                .position(|(_, at)| cutoff.is_none_or(|c| *at >= c))
                .unwrap_or(parked.len());
            let stale: Vec<_> = parked.drain(..fresh_from).collect();
            (conn, stale)
        };
        // Dropped outside the lock: each spawns its return to the pool.
        drop(stale);
        match conn {
            Some((conn, at)) if at.elapsed() < PARKED_AT_MOST => Some(conn),
            _ => None,
        }
    }

    /// Sets aside `conn`, which has just answered a lookup in full; if
    /// enough are aside already, it goes back to the pool.
    pub(super) fn put(&self, conn: PoolConnection<Postgres>) {
        if self.keep == 0 {
            return;
        }
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        if parked.len() < self.keep {
            parked.push((conn, Instant::now()));
            return;
        }
        drop(parked);
        drop(conn);
    }
}
