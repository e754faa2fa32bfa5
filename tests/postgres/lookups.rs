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
}
