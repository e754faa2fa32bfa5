//! Session lookups that wait at the same moment share one query.
//!
//! Every authenticated request looks its session up (`session_with_user`),
//! and each query costs the server and PostgreSQL a round trip of socket
//! work and wake-ups whatever it fetches: on loopback that, not the index
//! scan, is the price of a lookup. So the lookups waiting when a query goes
//! out go in that one query (`WHERE s.id = ANY($1)`), one round trip for
//! all of them. At most [`IN_FLIGHT`] such queries run at once; a lookup
//! arriving while they all run is taken by the next, with every lookup
//! queued meanwhile. A lookup with no company is sent at once, so a quiet
//! server answers as soon as before, and no lookup waits on a timer.
//!
//! The queries run in tasks of their own, so that a request dropped while
//! waiting (its client gone) strands none of the lookups sharing its query.
//! Each answer is the store as the query found it, checked against the
//! caller's own clock, exactly as one query per lookup would answer.

use std::sync::{Arc, Mutex};

use sqlx::{AssertSqlSafe, PgPool, SqlSafeStr as _, SqlStr};
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

/// What a lookup gets back: its session and user, if live, or the
/// failure of the query that carried it.
type Answer = Result<Option<(Session, User)>, StoreError>;

/// Lookups waiting, and how many queries are running.
#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<(SessionId, OffsetDateTime, oneshot::Sender<Answer>)>,
    running: usize,
}

/// Gathers session lookups into shared queries; one per store, shared by
/// its clones.
#[derive(Debug)]
pub(super) struct Lookups {
    pool: PgPool,
    hot: Arc<Hot>,
    /// The query, spelled out once: each use clones a pointer.
    sql: SqlStr,
    one: SqlStr,
    queue: Mutex<Queue>,
}

impl Lookups {
    /// Lookups on `pool`, in the tables `names` names, handing connections
    /// on through `hot`.
    pub(super) fn new(pool: PgPool, names: &Names, hot: Hot) -> Self {
        let sql = names.expand(&format!(
            "SELECT {SESSION_COLUMNS}, {USER_COLUMNS} FROM {{s}}.{{p}}sessions s \
             JOIN {{s}}.{{p}}users u ON u.id = s.user_id WHERE s.id = ANY($1)"
        ));
        let one = names.expand(&format!(
            "SELECT {SESSION_COLUMNS}, {USER_COLUMNS} FROM {{s}}.{{p}}sessions s \
             JOIN {{s}}.{{p}}users u ON u.id = s.user_id WHERE s.id = $1"
        ));
        Lookups {
            one: AssertSqlSafe(Arc::<str>::from(one)).into_sql_str(),
            pool,
            hot: Arc::new(hot),
            sql: AssertSqlSafe(Arc::<str>::from(sql)).into_sql_str(),
            queue: Mutex::new(Queue::default()),
        }
    }

    /// The session `id` and its user, if the session is stored and expires
    /// after `now`.
    pub(super) async fn find(self: &Arc<Self>, id: SessionId, now: OffsetDateTime) -> Answer {
        let (tx, rx) = oneshot::channel();
        let alone = {
            let mut queue = self.lock();
            if queue.running < IN_FLIGHT && queue.waiting.is_empty() {
                queue.running += 1;
                true
            } else {
                queue.waiting.push((id, now, tx));
                if queue.running < IN_FLIGHT {
                    queue.running += 1;
                    self.spawn_runner();
                }
                false
            }
        };
        if alone {
            // No company: this request's own task sends the query, saving
            // the hand-over to a query task and back (two wake-ups), and
            // passes its turn on to the lookups that queued meanwhile.
            let _turn = Turn::new(self, Ended::PassOn);
            let mut conn = None;
            let found = self.query(&mut conn, &[id.0]).await;
            if let Some(conn) = conn {
                self.hot.put(conn);
            }
            return found
                .map(|rows| live(&rows, id, now))
                .map_err(|err| err.to_store_error());
        }
        rx.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "the session lookup was abandoned (is the runtime shutting down?)".into(),
            ))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a task sending queries; the caller counted it as running.
    fn spawn_runner(self: &Arc<Self>) {
        // The turn is made here, not in the task: a task dropped before
        // it ever runs (its runtime shutting down) still ends it.
        let turn = Turn::new(self, Ended::Fail);
        tokio::spawn(async move { turn.lookups.clone().run(turn).await });
    }

    /// Ends a turn at sending queries (counted in `running`) before the
    /// queue was found empty; `ended` says what becomes of the lookups
    /// still waiting.
    fn leave(self: &Arc<Self>, ended: Ended) {
        let mut queue = self.lock();
        if queue.waiting.is_empty() {
            queue.running -= 1;
            return;
        }
        if ended == Ended::PassOn && tokio::runtime::Handle::try_current().is_ok() {
            // The turn goes on in a task of its own (still counted).
            drop(queue);
            self.spawn_runner();
            return;
        }
        queue.running -= 1;
        if queue.running > 0 {
            // A turn still running takes them when it ends.
            return;
        }
        // Nothing left to send them: their senders dropped, each lookup
        // gets the "abandoned" error rather than waiting for ever.
        let stranded = std::mem::take(&mut queue.waiting);
        drop(queue);
        drop(stranded);
    }

    /// Sends queries until no lookup waits, then stops.
    async fn run(self: Arc<Self>, mut turn: Turn) {
        let mut conn = None;
        loop {
            let batch: Vec<_> = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.running -= 1;
                    turn.ended = None;
                    break;
                }
                let take = queue.waiting.len().min(BATCH_AT_MOST);
                queue.waiting.drain(..take).collect()
            };
            let ids: Vec<Uuid> = batch.iter().map(|(id, _, _)| id.0).collect();
            let found = self.query(&mut conn, &ids).await;
            answer(batch, found);
        }
        if let Some(conn) = conn {
            self.hot.put(conn);
        }
    }

    /// The live rows for `ids`, on `conn` (taken first if there is none).
    /// On a failure the connection is dropped, so that it goes back to the
    /// pool, which tests it, rather than to the next query.
    async fn query(
        &self,
        conn: &mut Option<Held>,
        ids: &[Uuid],
    ) -> Result<Vec<(Session, User)>, Shared> {
        // Once the pool is closed no connection is used again, so that
        // closing (which waits for every connection) ends under load too;
        // one out long enough goes back even under steady load.
        let held = conn
            .take()
            .filter(|held| !self.pool.is_closed() && !held.due_back());
        let mut held = match held.or_else(|| self.hot.take()) {
            Some(held) => held,
            None => Held::new(self.pool.acquire().await.map_err(Shared::new)?),
        };
        let query = match ids {
            [one] => sqlx::query(self.one.clone()).bind(*one),
            _ => sqlx::query(self.sql.clone()).bind(ids),
        };
        let rows = query
            .fetch_all(&mut *held.conn)
            .await
            .map_err(Shared::new)?;
        *conn = Some(held);
        rows.iter()
            .map(|row| Ok((session_from(row)?, user_from(row)?)))
            .collect::<Result<_, StoreError>>()
            .map_err(|err| Shared(Arc::new(err)))
    }
}

/// The answer for the lookup of `id` at `now` among the rows found.
fn live(rows: &[(Session, User)], id: SessionId, now: OffsetDateTime) -> Option<(Session, User)> {
    rows.iter()
        .find(|(session, _)| session.id == id)
        .filter(|(session, _)| session.expires_at > now)
        .cloned()
}

/// Gives each lookup of `batch` its answer from `found`.
fn answer(
    batch: Vec<(SessionId, OffsetDateTime, oneshot::Sender<Answer>)>,
    found: Result<Vec<(Session, User)>, Shared>,
) {
    for (id, now, tx) in batch {
        let answer = match &found {
            Ok(rows) => Ok(live(rows, id, now)),
            Err(shared) => Err(shared.to_store_error()),
        };
        // A lookup whose request is gone no longer listens.
        let _ = tx.send(answer);
    }
}

/// What a turn at sending queries that ends early (dropped) does with the
/// lookups still waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// A new task takes them: a request that sent a lone lookup itself was
    /// dropped (its client went away), and the runtime goes on.
    PassOn,
    /// A query task ended early: a panic, or its runtime shutting down.
    /// Another turn takes them, or they fail; never a new task, which a
    /// dying runtime would drop at once, again and again.
    Fail,
}

/// One turn at sending queries (counted in `running`), ended by
/// [`Lookups::leave`] when dropped, unless it ended by finding the queue
/// empty (`ended` taken).
struct Turn {
    lookups: Arc<Lookups>,
    ended: Option<Ended>,
}

impl Turn {
    fn new(lookups: &Arc<Lookups>, ended: Ended) -> Self {
        Turn {
            lookups: Arc::clone(lookups),
            ended: Some(ended),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(ended) = self.ended {
            self.lookups.leave(ended);
        }
    }
}

/// One failure, answered to every lookup of its query.
#[derive(Debug, Clone)]
pub(super) struct Shared(Arc<StoreError>);

impl Shared {
    fn new(err: sqlx::Error) -> Self {
        Shared(Arc::new(db(err)))
    }

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
        write!(f, "the session lookup's query failed: {}", self.0)
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}
