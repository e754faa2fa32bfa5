//! Session lookups that wait at the same moment share one query.
//!
//! Every authenticated request looks its session up (`session_with_user`),
//! and each query costs the server and PostgreSQL a round trip of socket
//! work and wake-ups whatever it fetches: on loopback that, not the index
//! scan, is the price of a lookup. So the lookups waiting when a query goes
//! out go in that one query (`WHERE s.id = ANY($1)`), one round trip for
//! all of them. At most [`IN_FLIGHT`] such queries run at once; a lookup
//! arriving while they all run waits in a queue, and the next query takes
//! it with every other lookup queued meanwhile. A lookup with no company is
//! sent at once, so a quiet server answers as soon as before, and no lookup
//! waits on a timer.
//!
//! Each query is sent by the task of one of the lookups it carries (the
//! turn's holder), never by a task of its own: the store spawns nothing,
//! so it works from whatever runtime (or runtimes) its callers run on.
//! When the holder has its answer it hands the turn to the first lookup
//! still queued. A holder dropped mid-query (its client gone) puts the
//! lookups it carried back at the head of the queue and hands the turn on
//! in the same way, so no lookup is stranded. A turn moves on only while
//! its holder's future is polled: should one be kept alive unpolled (a
//! request's task never does that), the lookups waiting on it stop waiting
//! after [`WAIT_AT_MOST`] and send a query each, outside the turns.
//!
//! Each answer is the store as the query found it, checked against the
//! caller's own clock, exactly as one query per lookup would answer: a
//! lookup joins only a query not yet sent.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool, Row as _, SqlSafeStr as _, SqlStr};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::db;
use super::hot::{Held, Hot};
use super::rows::{SESSION_COLUMNS, USER_COLUMNS, session_from, user_from};
use super::schema::Names;
use crate::store::{Session, SessionId, StoreError};
use crate::user::User;

/// How many lookup queries may run at once. Two keep a query on the wire
/// while the answer to the other is handed out; more would only split the
/// waiting lookups into smaller queries.
pub(super) const IN_FLIGHT: usize = 2;

/// The most lookups one query takes: the rest wait for the next.
const BATCH_AT_MOST: usize = 128;

/// How long a lookup waits for a turn's holder before it sends a query of
/// its own. Far beyond a query's time (a lookup waits for at most two
/// queries ahead of it, milliseconds), so it matters only when a holder
/// stalls.
const WAIT_AT_MOST: std::time::Duration = std::time::Duration::from_secs(3);

/// What a lookup gets back: its session and user, if live, or the
/// failure of the query that carried it.
type Answer = Result<Option<(Session, User)>, StoreError>;

/// What a queued lookup is told.
// Moved once, through a oneshot channel: boxing the answer would only add
// an allocation per lookup.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Told {
    /// Its answer, from a query another lookup's task sent.
    Answer(Answer),
    /// To send the next query itself: the turn is its now.
    YourTurn,
}

/// A queued lookup.
#[derive(Debug)]
struct Waiting {
    id: SessionId,
    now: OffsetDateTime,
    tell: oneshot::Sender<Told>,
}

/// Lookups queued, and how many turns (queries being sent) are held.
#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    turns: usize,
}

/// Gathers session lookups into shared queries; one per store, shared by
/// its clones.
#[derive(Debug)]
pub(super) struct Lookups {
    pool: PgPool,
    hot: Arc<Hot>,
    /// The queries, spelled out once: each use clones a pointer. `one` for
    /// a lookup alone: PostgreSQL plans the array form afresh for a single
    /// id every time (its generic plan looks dearer), which costs more than
    /// the round trip.
    many: SqlStr,
    one: SqlStr,
    queue: Mutex<Queue>,
    /// Lookup queries sent so far.
    queries: AtomicU64,
}

/// How a store's lookups stand, for tests: queries sent so far, turns
/// held, lookups queued.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupStats {
    /// Lookup queries sent since the store was made.
    pub queries: u64,
    /// Queries being sent now (at most two).
    pub turns: usize,
    /// Lookups waiting for a query.
    pub queued: usize,
}

impl Lookups {
    /// Lookups on `pool`, in the tables `names` names, handing connections
    /// on through `hot`.
    pub(super) fn new(pool: PgPool, names: &Names, hot: Hot) -> Self {
        let select = format!(
            "SELECT {SESSION_COLUMNS}, {USER_COLUMNS} FROM {{s}}.{{p}}sessions s \
             JOIN {{s}}.{{p}}users u ON u.id = s.user_id WHERE "
        );
        let sql = |filter: &str| {
            let sql = names.expand(&format!("{select}{filter}"));
            AssertSqlSafe(Arc::<str>::from(sql)).into_sql_str()
        };
        Lookups {
            pool,
            hot: Arc::new(hot),
            many: sql("s.id = ANY($1)"),
            one: sql("s.id = $1"),
            queue: Mutex::new(Queue::default()),
            queries: AtomicU64::new(0),
        }
    }

    /// How the lookups stand.
    #[cfg(any(test, feature = "test-util"))]
    pub(super) fn stats(&self) -> LookupStats {
        let queue = self.lock();
        LookupStats {
            queries: self.queries.load(Ordering::Relaxed),
            turns: queue.turns,
            queued: queue.waiting.len(),
        }
    }

    /// Up to `most` lookups from the head of the queue, those whose
    /// request is gone left out (and dropped outside the lock: dropping a
    /// channel drops a task's waker, which should not run under it).
    fn take(&self, most: usize) -> Vec<Waiting> {
        let mut batch: Vec<Waiting> = {
            let mut queue = self.lock();
            let n = queue.waiting.len().min(most);
            queue.waiting.drain(..n).collect()
        };
        batch.retain(|w| !w.tell.is_closed());
        batch
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a turn that is ending to the first lookup still listening;
    /// with none queued, the turn ends. (Told outside the lock: telling
    /// wakes a task, which should not wait for this lock meanwhile.)
    fn pass_turn(&self) {
        loop {
            let next = {
                let mut queue = self.lock();
                match queue.waiting.pop_front() {
                    Some(next) => next,
                    None => {
                        debug_assert!(queue.turns > 0, "a turn ended twice");
                        queue.turns = queue.turns.saturating_sub(1);
                        return;
                    }
                }
            };
            // A lookup whose request is gone no longer listens: the next.
            if next.tell.send(Told::YourTurn).is_ok() {
                return;
            }
        }
    }

    /// The session `id` and its user, if the session is stored and expires
    /// after `now`.
    pub(super) async fn find(self: &Arc<Self>, id: SessionId, now: OffsetDateTime) -> Answer {
        let told = {
            let mut queue = self.lock();
            if queue.turns < IN_FLIGHT {
                queue.turns += 1;
                None
            } else {
                let (tell, told) = oneshot::channel();
                queue.waiting.push_back(Waiting { id, now, tell });
                Some(told)
            }
        };
        if let Some(told) = told {
            let mut listening = Listening {
                lookups: self,
                told,
            };
            match tokio::time::timeout(WAIT_AT_MOST, &mut listening.told).await {
                Ok(Ok(Told::Answer(answer))) => return answer,
                Ok(Ok(Told::YourTurn)) => {}
                Ok(Err(_)) => {
                    return Err(StoreError::Backend(
                        "the session lookup was dropped unanswered".into(),
                    ));
                }
                Err(_) => {
                    // A turn's holder stalled (or the database is that
                    // slow). Closed first, so that nothing can arrive after
                    // the look below.
                    listening.told.close();
                    match listening.told.try_recv() {
                        Ok(Told::Answer(answer)) => return answer,
                        Ok(Told::YourTurn) => {}
                        Err(_) => {
                            tracing::warn!(
                                "postgres store: a session lookup waited {WAIT_AT_MOST:?} for a \
                                 shared query and sent its own (the database slow, or a \
                                 lookup's future kept alive unpolled)"
                            );
                            let held = self.connection().await?;
                            return self.query(held, &[id.0]).await?.answer(id, now);
                        }
                    }
                }
            }
        }
        self.send(id, now).await
    }

    /// Holds a turn: sends one query for this lookup and those queued,
    /// answers them, and hands the turn on.
    async fn send(self: &Arc<Self>, id: SessionId, now: OffsetDateTime) -> Answer {
        let mut turn = Turn {
            lookups: self,
            carried: Vec::new(),
        };
        // The connection first: the lookups queued meanwhile go in too, and
        // none waits for a connection in a turn that may not get one (the
        // other turn goes on answering them).
        let held = self.connection().await?;
        turn.carried = self.take(BATCH_AT_MOST - 1);
        let mut ids: Vec<Uuid> = Vec::with_capacity(turn.carried.len() + 1);
        ids.push(id.0);
        ids.extend(turn.carried.iter().map(|w| w.id.0));
        let found = self.query(held, &ids).await;
        let carried = std::mem::take(&mut turn.carried);
        let own = match found {
            Ok(found) => {
                for w in carried {
                    let answer = found.answer(w.id, w.now);
                    let _ = w.tell.send(Told::Answer(answer));
                }
                found.answer(id, now)
            }
            // Alone, the failure is this lookup's own.
            Err(err) if carried.is_empty() => Err(err),
            Err(err) => {
                let shared = Shared(Arc::new(err));
                for w in carried {
                    let _ = w.tell.send(Told::Answer(Err(shared.to_store_error())));
                }
                Err(shared.to_store_error())
            }
        };
        drop(turn);
        own
    }

    /// A connection handed on by the last query if one is aside, else one
    /// from the pool.
    async fn connection(&self) -> Result<Held, StoreError> {
        match self.hot.take() {
            Some(held) => Ok(held),
            None => Ok(Held::new(self.pool.acquire().await.map_err(db)?)),
        }
    }

    /// The rows for `ids`, on `held`, which goes back aside for the next
    /// query. On a failure it is dropped instead, so that it goes back to
    /// the pool, which tests it.
    async fn query(&self, mut held: Held, ids: &[Uuid]) -> Result<Found, StoreError> {
        let query = match ids {
            [one] => sqlx::query(self.one.clone()).bind(*one),
            _ => sqlx::query(self.many.clone()).bind(ids),
        };
        self.queries.fetch_add(1, Ordering::Relaxed);
        let rows = query.fetch_all(&mut *held.conn).await.map_err(db)?;
        self.hot.put(held);
        Found::from_rows(&rows)
    }
}

/// What one query found, by session id. A row that does not read back
/// fails the lookups of its session only.
struct Found(HashMap<Uuid, Result<(Session, User), Shared>>);

impl Found {
    fn from_rows(rows: &[PgRow]) -> Result<Self, StoreError> {
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let id: Uuid = row.try_get("s_id").map_err(db)?;
            let read = session_from(row)
                .and_then(|session| Ok((session, user_from(row)?)))
                .map_err(|err| Shared(Arc::new(err)));
            found.insert(id, read);
        }
        Ok(Found(found))
    }

    /// The answer for the lookup of `id` at `now`.
    fn answer(&self, id: SessionId, now: OffsetDateTime) -> Answer {
        match self.0.get(&id.0) {
            None => Ok(None),
            Some(Err(shared)) => Err(shared.to_store_error()),
            Some(Ok((session, user))) => {
                Ok((session.expires_at > now).then(|| (session.clone(), user.clone())))
            }
        }
    }
}

/// A held turn: on drop (the query answered, or its holder dropped
/// mid-query), the lookups it carried unanswered go back to the head of
/// the queue and the turn passes on.
struct Turn<'a> {
    lookups: &'a Lookups,
    carried: Vec<Waiting>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if !self.carried.is_empty() {
            let mut queue = self.lookups.lock();
            for w in self.carried.drain(..).rev() {
                queue.waiting.push_front(w);
            }
        }
        self.lookups.pass_turn();
    }
}

/// A queued lookup's wait: dropped (its request gone) after the turn was
/// handed to it, it hands the turn on, or no lookup would send the next
/// query.
struct Listening<'a> {
    lookups: &'a Lookups,
    told: oneshot::Receiver<Told>,
}

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        // Closed first, so that no turn can arrive after the look below.
        self.told.close();
        if let Ok(Told::YourTurn) = self.told.try_recv() {
            self.lookups.pass_turn();
        }
    }
}

/// One failure, answered to every lookup it concerns.
#[derive(Debug, Clone)]
pub(super) struct Shared(Arc<StoreError>);

impl Shared {
    /// The failure as one lookup's error (retryable if the query's was:
    /// see [`super::retryable`]).
    fn to_store_error(&self) -> StoreError {
        StoreError::Backend(Box::new(self.clone()))
    }

    /// The query's own failure.
    pub(super) fn inner(&self) -> &StoreError {
        &self.0
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a session lookup failed: {}", self.0)
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}
