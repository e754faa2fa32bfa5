//! Session lookups arriving together share one query: each must still get
//! its own answer, by its own clock, and none may be stranded by another
//! that was dropped.

use std::time::Duration as StdDuration;

use time::Duration;
use tower_users::store::{PostgresStore, Session, SessionId, Store, TokenDigest};

use super::{now, server, user};

/// What a lookup should find: the user's id, or nothing.
type Expected = Option<tower_users::UserId>;

/// Stores `live` users with a session each, one session that expires in
/// 30 s and one deleted again; returns every id with what a lookup now
/// should find. (A session stored already expired would be pruned at once:
/// expiry is tested by lookups with a later clock.)
async fn sessions(store: &PostgresStore, tag: &str, live: usize) -> Vec<(SessionId, Expected)> {
    let t0 = now();
    let mut ids = Vec::new();
    for n in 0..live + 2 {
        let u = user(&format!("lookup-{tag}-{n}@example.com"));
        store.create_user(&u, None).await.unwrap();
        let expires_at = match n.checked_sub(live) {
            Some(0) => t0 + Duration::seconds(30),
            _ => t0 + Duration::hours(1),
        };
        let session = Session {
            id: SessionId::new(),
            user_id: u.id,
            password_version: u.password_version,
            created_at: t0 - Duration::hours(1),
            expires_at,
            authenticated_at: t0,
        };
        let mut digest = [0u8; 32];
        digest[..16].copy_from_slice(session.id.0.as_bytes());
        store
            .create_session(&session, TokenDigest(digest))
            .await
            .unwrap();
        let expected = match n.checked_sub(live) {
            Some(1) => {
                store.delete_session(session.id).await.unwrap();
                None
            }
            _ => Some(u.id),
        };
        ids.push((session.id, expected));
    }
    // A session never stored.
    ids.push((SessionId::new(), None));
    ids
}

/// One live session (of a user of its own, `lookup-{tag}-0`), for the
/// tests of lookups beside this module's.
pub(crate) async fn session(store: &PostgresStore, tag: &str) -> Session {
    let (id, _) = sessions(store, tag, 1).await[0];
    let (session, _) = store.session_with_user(id, now()).await.unwrap().unwrap();
    session
}

/// Many lookups at once, of many sessions and of the same ones, with
/// clocks on either side of one session's expiry: every answer is the one
/// a lookup alone would get.
async fn each_gets_its_own_answer(store: PostgresStore, tag: &str) {
    let ids = sessions(&store, tag, 40).await;
    let expiring = ids[40].0;
    let t0 = now();
    for _round in 0..3 {
        let lookups: Vec<_> = (0..400)
            .map(|i| {
                let (id, mut expected) = ids[(i * 7) % ids.len()];
                // Half the lookups of the session expiring in 30 s come
                // with a clock past its expiry.
                let at = if id == expiring && (i / ids.len()) % 2 == 0 {
                    expected = None;
                    t0 + Duration::minutes(1)
                } else {
                    t0
                };
                let store = store.clone();
                tokio::spawn(async move {
                    let found = store.session_with_user(id, at).await.unwrap();
                    (id, found, expected)
                })
            })
            .collect();
        for lookup in lookups {
            let (id, found, expected) = tokio::time::timeout(StdDuration::from_secs(10), lookup)
                .await
                .expect("every lookup is answered")
                .unwrap();
            match (found, expected) {
                (None, None) => {}
                (Some((session, user)), Some(user_id)) => {
                    assert_eq!(session.id, id, "another lookup's session");
                    assert_eq!(user.id, user_id, "another session's user");
                    assert_eq!(session.user_id, user_id);
                }
                (found, expected) => {
                    panic!("session {id:?}: found {found:?}, expected {expected:?}")
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_at_once_on_the_stores_own_pool_each_get_their_own_answer() {
    let Some(server) = server::server() else {
        return;
    };
    let url = crate::example::fresh_database(server).await;
    let store = PostgresStore::connect(&url).await.unwrap();
    each_gets_its_own_answer(store, "own").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_at_once_on_an_apps_pool_each_get_their_own_answer() {
    let Some(server) = server::server() else {
        return;
    };
    let store = server::store(server, 4).await;
    each_gets_its_own_answer(store, "app").await;
}

/// Lookups dropped while their query runs (their clients gone) neither
/// strand the lookups sharing it nor leave the store unable to send the
/// next: afterwards every lookup is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_dropped_mid_query_strand_no_other() {
    let Some(server) = server::server() else {
        return;
    };
    let url = crate::example::fresh_database(server).await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let ids = sessions(&store, "dropped", 8).await;
    let (live, owner) = (ids[0].0, ids[0].1);
    for round in 0..40u64 {
        let lookups: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.session_with_user(live, now()).await })
            })
            .collect();
        // Every other one is dropped at some point of its query: before,
        // while or after it is sent.
        let mut kept = Vec::new();
        for (i, lookup) in lookups.into_iter().enumerate() {
            if i % 2 == 0 {
                kept.push(lookup);
            } else {
                let delay = StdDuration::from_micros((round * 37 + i as u64 * 11) % 400);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    lookup.abort();
                });
            }
        }
        for lookup in kept {
            let found = tokio::time::timeout(StdDuration::from_secs(10), lookup)
                .await
                .expect("a lookup sharing a dropped one's query is still answered")
                .unwrap()
                .unwrap();
            assert_eq!(found.map(|(_, u)| u.id), owner);
        }
        // A lone lookup dropped mid-query, by a timeout shorter than a
        // round trip.
        let _ = tokio::time::timeout(
            StdDuration::from_micros(round * 5),
            store.session_with_user(live, now()),
        )
        .await;
    }
    for _ in 0..8 {
        let found = tokio::time::timeout(
            StdDuration::from_secs(10),
            store.session_with_user(live, now()),
        )
        .await
        .expect("lookups are still sent after many were dropped")
        .unwrap();
        assert_eq!(found.map(|(_, u)| u.id), owner);
    }
    settled(&store).await;
}

/// Waits (up to 5 s) until `until(queries sent, lookups queued)`.
async fn wait_for(store: &PostgresStore, until: impl Fn(u64, usize) -> bool) {
    for _ in 0..500 {
        let stats = store.lookup_stats();
        if until(stats.queries, stats.queued) {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    panic!("lookups stand otherwise: {:?}", store.lookup_stats());
}

/// Once lookups stop, no turn is held and none is queued: a turn lost on
/// the way would show here, long before the last one is lost.
async fn settled(store: &PostgresStore) {
    for _ in 0..100 {
        let stats = store.lookup_stats();
        if (stats.turns, stats.queued) == (0, 0) {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    panic!("turns still held: {:?}", store.lookup_stats());
}

/// Holds an exclusive lock on `schema`'s sessions table until the returned
/// transaction ends: every lookup query waits, so lookups pile up behind
/// the ones holding the turns.
async fn block_lookups(url: &str, schema: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let locker = sqlx::PgPool::connect(url).await.unwrap();
    let mut tx = locker.begin().await.unwrap();
    let lock = format!("LOCK TABLE {schema}.sessions IN ACCESS EXCLUSIVE MODE");
    sqlx::query(sqlx::AssertSqlSafe(lock))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// A lookup that held a turn from a runtime driven only while it waited
/// (`block_on` on a helper runtime, as a synchronous bridge does) hands the
/// turn to lookups of other runtimes: the store runs no task of its own
/// that such a runtime would leave unpolled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_queued_behind_another_runtimes_lookups_are_answered() {
    let Some(server) = server::server() else {
        return;
    };
    let url = crate::example::fresh_database(server).await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let ids = sessions(&store, "runtimes", 1).await;
    let (id, owner) = ids[0];
    let lock = block_lookups(&url, "tower_users").await;
    // Both turns held by lookups of helper runtimes, which then idle.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let helpers: Vec<_> = (0..2)
        .map(|_| {
            let (store, done_tx) = (store.clone(), done_tx.clone());
            let helper = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let found = rt.block_on(store.session_with_user(id, now()));
                done_tx.send(found.is_ok()).unwrap();
                std::thread::sleep(StdDuration::from_secs(3));
            });
            std::thread::sleep(StdDuration::from_millis(100));
            helper
        })
        .collect();
    let queued: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.session_with_user(id, now()).await })
        })
        .collect();
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    lock.commit().await.unwrap();
    for lookup in queued {
        let found = tokio::time::timeout(StdDuration::from_secs(2), lookup)
            .await
            .expect("a lookup queued behind another runtime's is answered")
            .unwrap()
            .unwrap();
        assert_eq!(found.map(|(_, u)| u.id), owner);
    }
    for _ in 0..2 {
        assert!(done_rx.recv().unwrap(), "the helpers' own lookups succeed");
    }
    for helper in helpers {
        helper.join().unwrap();
    }
    settled(&store).await;
}

/// A session deleted while lookups of it run back to back: every lookup
/// that began after the deletion returned finds nothing (none joins a
/// query sent before it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lookup_begun_after_a_deletion_finds_the_session() {
    let Some(server) = server::server() else {
        return;
    };
    let url = crate::example::fresh_database(server).await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let ids = sessions(&store, "deleted", 1).await;
    let id = ids[0].0;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..8)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let began = std::time::Instant::now();
                    let found = store.session_with_user(id, now()).await.unwrap();
                    seen.push((began, found.is_some()));
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    store.delete_session(id).await.unwrap();
    let deleted = std::time::Instant::now();
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut before, mut after) = (0, 0);
    for task in busy {
        for (began, found) in task.await.unwrap() {
            if began > deleted {
                after += 1;
                assert!(
                    !found,
                    "a lookup begun after the deletion found the session"
                );
            } else if found {
                before += 1;
            }
        }
    }
    assert!(
        before > 0 && after > 0,
        "lookups ran on both sides: {before}, {after}"
    );
}

/// A user row that no longer reads back (its profile not an object) fails
/// the lookups of its sessions only, not the others sharing their query.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_that_does_not_read_back_fails_only_its_own_lookups() {
    let Some(server) = server::server() else {
        return;
    };
    let (store, schema) = server::store_in(server, 4).await;
    let ids = sessions(&store, "corrupt", 4).await;
    let (bad, _) = ids[0];
    let corrupt = format!(
        "UPDATE {schema}.users SET profile = '[1]' \
         WHERE id = (SELECT user_id FROM {schema}.sessions WHERE id = $1)"
    );
    sqlx::query(sqlx::AssertSqlSafe(corrupt))
        .bind(bad.0)
        .execute(store.pool())
        .await
        .unwrap();
    // Queued behind a lock, so that the lookups of every session go out in
    // one query once it is released.
    let lock = block_lookups(&server.url(), &schema).await;
    let lookups: Vec<_> = (0..40)
        .map(|i| {
            let (id, expected) = ids[i % 4];
            let store = store.clone();
            tokio::spawn(async move { (id, expected, store.session_with_user(id, now()).await) })
        })
        .collect();
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    lock.commit().await.unwrap();
    for lookup in lookups {
        let (id, expected, found) = tokio::time::timeout(StdDuration::from_secs(10), lookup)
            .await
            .expect("answered")
            .unwrap();
        if id == bad {
            assert!(found.is_err(), "the unreadable row is an error");
        } else {
            assert_eq!(found.unwrap().map(|(_, u)| u.id), expected);
        }
    }
}

/// Lookups queued while the turns' queries are held up go out together, in
/// one or two queries, once those are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_queued_together_go_out_in_one_query() {
    let Some(server) = server::server() else {
        return;
    };
    let url = crate::example::fresh_database(server).await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let ids = sessions(&store, "together", 40).await;
    let lock = block_lookups(&url, "tower_users").await;
    let before = store.lookup_stats().queries;
    let spawn = |range: std::ops::Range<usize>| -> Vec<_> {
        ids[range]
            .iter()
            .map(|&(id, expected)| {
                let store = store.clone();
                tokio::spawn(async move { (expected, store.session_with_user(id, now()).await) })
            })
            .collect()
    };
    // Two lookups take the turns and send their queries (which wait for
    // the lock); only then come the other 38, which queue behind them.
    let mut lookups = spawn(0..2);
    wait_for(&store, |queries, _| queries - before == 2).await;
    lookups.extend(spawn(2..40));
    wait_for(&store, |_, queued| queued == 38).await;
    lock.commit().await.unwrap();
    for lookup in lookups {
        let (expected, found) = lookup.await.unwrap();
        assert_eq!(found.unwrap().map(|(_, u)| u.id), expected);
    }
    // The two held up, then one for each turn they hand on: the first
    // lookup queued takes every other, unless the second turn's new
    // holder takes some of them first.
    let queries = store.lookup_stats().queries - before;
    assert!(queries <= 4, "40 lookups took {queries} queries");
    settled(&store).await;
}

/// Two lookups whose futures are polled once (so each holds a turn) and
/// then kept alive unpolled, as a careless caller might: other lookups
/// still get their answers, after waiting a bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_kept_alive_unpolled_stall_no_other() {
    let Some(server) = server::server() else {
        return;
    };
    let url = crate::example::fresh_database(server).await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let ids = sessions(&store, "unpolled", 1).await;
    let (id, owner) = ids[0];
    let mut stalled: Vec<_> = (0..2)
        .map(|_| Box::pin(store.session_with_user(id, now())))
        .collect();
    // Polled once, by hand, while their queries cannot be answered, and
    // never again.
    let lock = block_lookups(&url, "tower_users").await;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for lookup in &mut stalled {
        let polled = std::future::Future::poll(lookup.as_mut(), &mut cx);
        assert!(
            polled.is_pending(),
            "a lookup does not finish in its first poll: {polled:?}"
        );
    }
    assert_eq!(store.lookup_stats().turns, 2);
    lock.commit().await.unwrap();
    for _ in 0..3 {
        let other = {
            let store = store.clone();
            tokio::spawn(async move { store.session_with_user(id, now()).await })
        };
        let found = tokio::time::timeout(StdDuration::from_secs(10), other)
            .await
            .expect("a lookup behind stalled turns is answered")
            .unwrap()
            .unwrap();
        assert_eq!(found.map(|(_, u)| u.id), owner);
    }
    drop(stalled);
    settled(&store).await;
}

/// A pool that gives no connection fails the lookups waiting for one, and
/// they work again once it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_fail_while_the_pool_has_no_connection_and_recover() {
    let Some(server) = server::server() else {
        return;
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(StdDuration::from_millis(300))
        .connect(&server.url())
        .await
        .unwrap();
    let schema = server::fresh_schema();
    let store = PostgresStore::from_pool_with(
        pool.clone(),
        tower_users::store::PostgresConfig::default().schema(&*schema),
    )
    .await
    .unwrap();
    let ids = sessions(&store, "exhausted", 1).await;
    let (id, owner) = ids[0];
    let taken = pool.acquire().await.unwrap();
    let lookups: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.session_with_user(id, now()).await })
        })
        .collect();
    for lookup in lookups {
        let found = tokio::time::timeout(StdDuration::from_secs(20), lookup)
            .await
            .expect("a lookup without a connection fails, it does not hang")
            .unwrap();
        assert!(found.is_err(), "no connection, no answer");
    }
    drop(taken);
    let found = store.session_with_user(id, now()).await.unwrap();
    assert_eq!(found.map(|(_, u)| u.id), owner);
    settled(&store).await;
}
