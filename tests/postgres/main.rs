//! `PostgresStore` on a real PostgreSQL server started by the tests: the
//! store conformance suite, the concurrency cases of several instances
//! sharing one database, and the migrations.
#![allow(clippy::unwrap_used)]

mod clock;
mod example;
mod fencing;
mod housekeeping;
mod identity;
mod instances;
mod lookups;
mod rate_limits;
mod roles;
mod server;
// The SMTP sink (aiosmtpd) the HTTP tests use, for emailed links.
#[allow(dead_code)]
#[path = "../http/smtp_sink.rs"]
mod smtp_sink;

use std::collections::BTreeSet;

use sqlx::postgres::PgPoolOptions;
use time::{Duration, OffsetDateTime};
use tower_users::mail::{EmailKind, OutgoingEmail};
use tower_users::store::QueuedEmail;
use tower_users::store::{
    PostgresConfig, PostgresStore, Rotation, Session, SessionId, SpentToken, Store, StoreError,
    TokenDigest, UserUpdate,
};
use tower_users::{Email, User};

tower_users::store_conformance!(conformance, crate::server::lazy_store);
tower_users::store_conformance!(serializable, crate::server::lazy_serializable_store);

/// The server, or `None` after the loud skip message.
macro_rules! server_or_skip {
    () => {
        match server::server() {
            Some(server) => server,
            None => return,
        }
    };
}

fn user(email: &str) -> User {
    User::new(Email::parse(email).unwrap(), "$argon2id$x".into())
}

/// How many of `tasks` succeeded; each failure must be one `expected`
/// allows (the loser's answer in a race), anything else fails the test.
async fn successes(
    tasks: Vec<tokio::task::JoinHandle<Result<(), StoreError>>>,
    expected: impl Fn(&StoreError) -> bool,
) -> usize {
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(e) if expected(&e) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    ok
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

/// Twenty registrations of one address at once, each on its own
/// connection (as on several instances): one account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_registrations_of_one_email_make_one_account() {
    let server = server_or_skip!();
    let store = server::store(server, 20).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create_user(&user("race@example.com"), None).await })
        })
        .collect();
    let ok = successes(tasks, |e| matches!(e, StoreError::EmailTaken)).await;
    assert_eq!(ok, 1);
    let email = Email::parse("race@example.com").unwrap();
    assert!(store.user_by_email(&email).await.unwrap().is_some());
    assert_eq!(store.list_users(None, 100).await.unwrap().len(), 1);
}

/// One single-use token redeemed at once by ten writers that do not
/// otherwise conflict (each updates its own user): one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_of_one_token_succeed_once() {
    let server = server_or_skip!();
    let store = server::store(server, 10).await;
    let token = SpentToken {
        id: uuid::Uuid::now_v7(),
        expires_at: now() + Duration::hours(1),
    };
    let mut tasks = Vec::new();
    for i in 0..10 {
        let u = user(&format!("u{i}@example.com"));
        store.create_user(&u, None).await.unwrap();
        let mut verified = u.clone();
        verified.is_verified = true;
        let update = UserUpdate::new(&u, verified).spending(token);
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.update_user(update).await }));
    }
    let ok = successes(tasks, |e| matches!(e, StoreError::TokenSpent)).await;
    assert_eq!(ok, 1);
    let verified = store.list_users(None, 100).await.unwrap();
    assert_eq!(verified.iter().filter(|u| u.is_verified).count(), 1);
}

/// The same token redeemed for one user from ten connections: one wins,
/// the rest lose the compare-and-swap or find the token spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_for_one_user_succeed_once() {
    let server = server_or_skip!();
    let store = server::store(server, 10).await;
    let u = user("a@example.com");
    store.create_user(&u, None).await.unwrap();
    let token = SpentToken {
        id: uuid::Uuid::now_v7(),
        expires_at: now() + Duration::hours(1),
    };
    let mut verified = u.clone();
    verified.is_verified = true;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            let update = UserUpdate::new(&u, verified.clone()).spending(token);
            tokio::spawn(async move { store.update_user(update).await })
        })
        .collect();
    let ok = successes(tasks, |e| {
        matches!(e, StoreError::Conflict | StoreError::TokenSpent)
    })
    .await;
    assert_eq!(ok, 1);
}

/// One refresh token presented ten times at once: one rotation, the reuse
/// is detected as the redb store detects it (the session is revoked), and
/// the token the winner got is dead with it. Several rounds, each started
/// together behind a barrier, so that a lost race shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_with_one_token_rotate_once_and_revoke_on_reuse() {
    let server = server_or_skip!();
    let store = server::store(server, 10).await;
    let u = user("a@example.com");
    store.create_user(&u, None).await.unwrap();
    for round in 0..20u8 {
        let session = Session {
            id: SessionId::new(),
            user_id: u.id,
            password_version: 0,
            created_at: now(),
            expires_at: now() + Duration::hours(1),
            authenticated_at: now(),
        };
        let first = TokenDigest([round; 32]);
        store.create_session(&session, first).await.unwrap();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(10));
        let tasks: Vec<_> = (0..10u8)
            .map(|i| {
                let (store, barrier) = (store.clone(), barrier.clone());
                tokio::spawn(async move {
                    let mut next = [i; 32];
                    next[0] = 100 + round;
                    let next = TokenDigest(next);
                    barrier.wait().await;
                    (next, store.rotate_refresh(first, next, now()).await)
                })
            })
            .collect();
        let (mut rotated, mut reused) = (Vec::new(), 0);
        for task in tasks {
            match task.await.unwrap() {
                (next, Ok(Rotation::Rotated(s))) => {
                    assert_eq!(s, session);
                    rotated.push(next);
                }
                (_, Ok(Rotation::Reused)) => reused += 1,
                (_, Ok(Rotation::Unknown)) => {}
                (_, other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            rotated.len(),
            1,
            "round {round}: exactly one presentation rotates"
        );
        assert!(reused >= 1, "round {round}: the replay is seen as reuse");
        assert!(
            store
                .session_with_user(session.id, now())
                .await
                .unwrap()
                .is_none()
        );
        let after = store
            .rotate_refresh(rotated[0], TokenDigest([255; 32]), now())
            .await
            .unwrap();
        assert_eq!(after, Rotation::Unknown);
    }
}

/// A password change ending every session while those sessions refresh,
/// from other connections (as a reset on one instance while the client
/// refreshes on another): no error, and no session outlives the change.
/// The two lock sessions and refresh tokens in opposite orders, so
/// PostgreSQL may break a deadlock by aborting one; the store retries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_change_racing_refreshes_ends_every_session() {
    let server = server_or_skip!();
    let store = server::store(server, 12).await;
    let mut u = user("a@example.com");
    store.create_user(&u, None).await.unwrap();
    for round in 0..10u8 {
        let mut sessions = Vec::new();
        for i in 0..8u8 {
            let session = Session {
                id: SessionId::new(),
                user_id: u.id,
                password_version: u.password_version,
                created_at: now(),
                expires_at: now() + Duration::hours(1),
                authenticated_at: now(),
            };
            let digest = TokenDigest([
                round, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 1,
            ]);
            store.create_session(&session, digest).await.unwrap();
            sessions.push((session, digest));
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(sessions.len() + 1));
        let mut refreshes = Vec::new();
        for (i, (_, digest)) in sessions.iter().enumerate() {
            let (store, barrier, digest) = (store.clone(), barrier.clone(), *digest);
            let mut next = digest.0;
            next[31] = 2 + i as u8;
            refreshes.push(tokio::spawn(async move {
                barrier.wait().await;
                store.rotate_refresh(digest, TokenDigest(next), now()).await
            }));
        }
        let mut changed = u.clone();
        changed.password_version += 1;
        let update = UserUpdate::new(&u, changed.clone()).revoking_sessions();
        let change = {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.update_user(update).await
            })
        };
        for refresh in refreshes {
            let rotation = refresh.await.unwrap().unwrap();
            assert!(
                matches!(rotation, Rotation::Rotated(_) | Rotation::Unknown),
                "{rotation:?}"
            );
        }
        change.await.unwrap().unwrap();
        for (session, _) in &sessions {
            assert!(
                store
                    .session_with_user(session.id, now())
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        u = changed;
    }
}

/// On the pool `connect` makes, session lookups hand their connections to
/// one another rather than back to the pool: each lookup still asks the
/// database, so a session deleted between two lookups is gone for the
/// second and every one after it.
/// Closing the store's own pool while lookups go on ends, and lookups
/// after it fail as the pool's would: no connection kept aside outlives
/// the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closing_the_stores_own_pool_ends_while_lookups_go_on() {
    let server = server_or_skip!();
    let url = crate::example::fresh_database(server).await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let session = lookups::session(&store, "closing").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Lookups every few milliseconds, as a quiet server's, and back to
    // back, as a busy one's (so that lookup queries keep their connection
    // from one to the next), on through the close; once the pool is
    // closed, every one fails.
    let busy: Vec<_> = [5, 0, 0, 0, 0, 0, 0, 0]
        .into_iter()
        .map(|pause| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut served_after_close = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let closed = store.pool().is_closed();
                    let served = store.session_with_user(session.id, now()).await.is_ok();
                    if closed && served {
                        served_after_close += 1;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                served_after_close
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let closed =
        tokio::time::timeout(std::time::Duration::from_secs(10), store.pool().close()).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut served_after_close = 0;
    for task in busy {
        served_after_close += task.await.unwrap();
    }
    assert!(closed.is_ok(), "the pool closes while lookups go on");
    assert_eq!(served_after_close, 0, "lookups served after the close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_on_the_stores_own_pool_see_a_revocation_at_once() {
    let server = server_or_skip!();
    let url = crate::example::fresh_database(server).await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let session = lookups::session(&store, "hot").await;
    // Many at once, so that connections are handed over.
    let lookups: Vec<_> = (0..64)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.session_with_user(session.id, now()).await })
        })
        .collect();
    for lookup in lookups {
        assert!(lookup.await.unwrap().unwrap().is_some());
    }
    store.delete_session(session.id).await.unwrap();
    for _ in 0..16 {
        assert!(
            store
                .session_with_user(session.id, now())
                .await
                .unwrap()
                .is_none()
        );
    }
    // Once lookups stop, the connections kept aside go back to the pool,
    // so closing it (which waits for every connection) ends.
    let closing = store.pool().close();
    tokio::time::timeout(std::time::Duration::from_secs(60), closing)
        .await
        .expect("the pool closes: no connection stays aside");
}

/// Two instances' outbox workers claiming at once never get one email
/// both; what they claimed is hidden until the lease ends, and then (as
/// after an instance died mid-send) claimed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_claiming_at_once_never_share_an_email() {
    let server = server_or_skip!();
    let (store, schema) = server::store_in(server, 4).await;
    let lease = Duration::minutes(5);
    let t0 = now();
    for round in 0..10 {
        let mut queued = BTreeSet::new();
        for i in 0..40 {
            let mail = QueuedEmail::new(OutgoingEmail::new(
                uuid::Uuid::now_v7(),
                EmailKind::Verify,
                format!("r{round}m{i}@example.com"),
                "subject",
                "text",
                "<p>html</p>",
                "http://x/#token=t",
                t0 + Duration::hours(1),
            ));
            store.enqueue_mail(&mail).await.unwrap();
            queued.insert(mail.email.id);
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let claim = || {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.claim_mail(now(), 32, lease).await.unwrap()
            })
        };
        let (one, two) = (claim(), claim());
        let (one, two) = (one.await.unwrap(), two.await.unwrap());
        let one: BTreeSet<_> = one.iter().map(|m| m.email.id).collect();
        let two: BTreeSet<_> = two.iter().map(|m| m.email.id).collect();
        assert!(
            one.is_disjoint(&two),
            "round {round}: an email claimed twice"
        );
        assert_eq!(
            one.len() + two.len(),
            40,
            "round {round}: every due email claimed"
        );
        assert!(
            store
                .claim_mail(now(), 100, lease)
                .await
                .unwrap()
                .is_empty()
        );
        server::age_outbox(&store, &schema, lease + Duration::seconds(1)).await;
        let after = store.claim_mail(now(), 100, lease).await.unwrap();
        let after: BTreeSet<_> = after.iter().map(|m| m.email.id).collect();
        assert_eq!(
            after, queued,
            "round {round}: claimed again after the lease"
        );
        for id in &after {
            let mut mail = QueuedEmail::new(OutgoingEmail::new(
                *id,
                EmailKind::Verify,
                "x@example.com",
                "s",
                "t",
                "h",
                "l",
                t0,
            ));
            mail.attempts = 0;
            store.finish_mail(&mail, None).await.unwrap();
        }
        assert_eq!(store.pending_mail().await.unwrap(), 0);
    }
}

/// Concurrent failed logins on one key, from separate connections, each
/// count.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_failed_logins_all_count() {
    let server = server_or_skip!();
    let store = server::store(server, 10).await;
    let t0 = now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_login_failure("a@example.com", t0, t0 - Duration::days(1))
                    .await
            })
        })
        .collect();
    let mut counts = BTreeSet::new();
    for task in tasks {
        counts.insert(task.await.unwrap().unwrap().count);
    }
    assert_eq!(counts, (1..=20).collect());
}

/// Two instances starting at once on an empty database: both open, the
/// schema is migrated once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_migrating_at_once_both_start() {
    two_instances_migrate_at_once("read committed").await;
}

/// The same where every transaction defaults to SERIALIZABLE (as on
/// CockroachDB, or a database configured so): the instance that waited for
/// the other's migration must see it, not re-run it from an older snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serializable_instances_migrating_at_once_both_start() {
    two_instances_migrate_at_once("serializable").await;
}

async fn two_instances_migrate_at_once(isolation: &'static str) {
    let server = server_or_skip!();
    let schema = server::fresh_schema();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let open = || {
        let (url, schema, barrier) = (server.url(), schema.clone(), barrier.clone());
        tokio::spawn(async move {
            let options = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(&url)
                .unwrap()
                .options([("default_transaction_isolation", isolation)]);
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .unwrap();
            barrier.wait().await;
            PostgresStore::from_pool_with(pool, PostgresConfig::default().schema(schema)).await
        })
    };
    let (a, b) = (open(), open());
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    a.create_user(&user("a@example.com"), None).await.unwrap();
    assert!(
        b.user_by_email(&Email::parse("a@example.com").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    let versions: Vec<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {schema}.schema_migrations ORDER BY version"
    )))
    .fetch_all(a.pool())
    .await
    .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4, 5, 6]);
}

/// A database migrated by a newer tower-users is refused, not misread.
#[tokio::test]
async fn a_schema_from_a_newer_version_is_refused() {
    let server = server_or_skip!();
    let schema = server::fresh_schema();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&server.url())
        .await
        .unwrap();
    let config = PostgresConfig::default().schema(schema.clone());
    let store = PostgresStore::from_pool_with(pool.clone(), config.clone())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {schema}.schema_migrations (version) VALUES (999)"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    let err = PostgresStore::from_pool_with(pool, config)
        .await
        .unwrap_err();
    let StoreError::Backend(source) = &err else {
        panic!("expected a backend error, got {err:?}");
    };
    assert!(source.to_string().contains("newer"), "{source}");
}

/// A database migrated before roles existed (schema version 3) keeps its
/// users: the roles migration gives each an empty set, and roles granted
/// afterwards are stored and read back.
#[tokio::test]
async fn users_stored_before_roles_read_back_without_roles() {
    let server = server_or_skip!();
    let schema = server::fresh_schema();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&server.url())
        .await
        .unwrap();
    let config = PostgresConfig::default().schema(schema.clone());
    let store = PostgresStore::from_pool_with(pool.clone(), config.clone())
        .await
        .unwrap();
    // Back to version 3, with a user written as version 3 wrote them.
    let old = user("old@example.com");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE {schema}.users DROP COLUMN roles; \
         DELETE FROM {schema}.schema_migrations WHERE version = 5; \
         INSERT INTO {schema}.users (id, email, password_hash, password_version, is_active, \
         is_verified, is_superuser, created_at, pending_email) \
         VALUES ('{}', 'old@example.com', '$argon2id$x', 0, true, false, false, '{}', NULL)",
        old.id,
        old.created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    )))
    .execute(store.pool())
    .await
    .unwrap();
    let store = PostgresStore::from_pool_with(pool, config).await.unwrap();
    let read = store.user(old.id).await.unwrap().unwrap();
    assert_eq!(read, old);
    assert!(read.roles.is_empty());
    let mut editor = read.clone();
    editor.roles.insert("editor".to_owned());
    store
        .update_user(UserUpdate::new(&read, editor.clone()))
        .await
        .unwrap();
    assert_eq!(store.user(old.id).await.unwrap().unwrap(), editor);
}

/// A database migrated before sessions recorded their proof of the password
/// (schema version 5) keeps its sessions: each counts as proved at its
/// login, when it was created.
#[tokio::test]
async fn sessions_stored_before_reauthentication_read_back_as_proved_at_login() {
    let server = server_or_skip!();
    let schema = server::fresh_schema();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&server.url())
        .await
        .unwrap();
    let config = PostgresConfig::default().schema(schema.clone());
    let store = PostgresStore::from_pool_with(pool.clone(), config.clone())
        .await
        .unwrap();
    let u = user("old@example.com");
    store.create_user(&u, None).await.unwrap();
    let created = now() - Duration::hours(1);
    let session = Session {
        id: SessionId::new(),
        user_id: u.id,
        password_version: 0,
        created_at: created,
        expires_at: now() + Duration::hours(1),
        authenticated_at: now(),
    };
    store
        .create_session(&session, TokenDigest([7; 32]))
        .await
        .unwrap();
    // Back to version 5: the column as version 5 had it, that is, none.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE {schema}.sessions DROP COLUMN authenticated_at; \
         DELETE FROM {schema}.schema_migrations WHERE version = 6"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    let store = PostgresStore::from_pool_with(pool, config).await.unwrap();
    let (read, _) = store
        .session_with_user(session.id, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.authenticated_at, created);
    assert_eq!(read.created_at, created);
    // And it is stamped again like any other.
    let at = now();
    assert!(store.reauthenticate_session(session.id, at).await.unwrap());
    let (read, _) = store
        .session_with_user(session.id, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.authenticated_at, at);
}

/// A version below the latest that a database has not recorded (merged in
/// from a branch developed beside a later one) is applied on the next
/// start, not skipped because a higher version is recorded.
#[tokio::test]
async fn a_missing_version_below_the_latest_is_applied() {
    let server = server_or_skip!();
    let schema = server::fresh_schema();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&server.url())
        .await
        .unwrap();
    let config = PostgresConfig::default().schema(schema.clone());
    let store = PostgresStore::from_pool_with(pool.clone(), config.clone())
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TABLE {schema}.rate_limits; \
         DELETE FROM {schema}.schema_migrations WHERE version = 3"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    let store = PostgresStore::from_pool_with(pool, config).await.unwrap();
    let versions: Vec<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {schema}.schema_migrations ORDER BY version"
    )))
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4, 5, 6]);
    let now = now();
    let wait = store
        .rate_limit("k", now, 1, Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(wait, None);
}

/// With a table prefix, an app's own table references the users table with
/// a foreign key, as the module docs show, and deleting a user still works.
#[tokio::test]
async fn an_app_table_can_reference_the_users_table() {
    let server = server_or_skip!();
    let schema = server::fresh_schema();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&server.url())
        .await
        .unwrap();
    let config = PostgresConfig::default()
        .schema(schema.clone())
        .table_prefix("tu_");
    let store = PostgresStore::from_pool_with(pool, config).await.unwrap();
    let u = user("a@example.com");
    store.create_user(&u, None).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {schema}.orders (id bigserial PRIMARY KEY, \
         user_id uuid NOT NULL REFERENCES {schema}.tu_users (id) ON DELETE CASCADE)"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {schema}.orders (user_id) VALUES ($1)"
    )))
    .bind(u.id.0)
    .execute(store.pool())
    .await
    .unwrap();
    assert!(store.delete_user(u.id).await.unwrap());
    let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.orders"
    )))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(left, 0);
}

/// A schema named by a reserved word works: the name is quoted wherever it
/// is spliced into SQL.
#[tokio::test]
async fn a_schema_named_by_a_reserved_word_works() {
    let server = server_or_skip!();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&server.url())
        .await
        .unwrap();
    let store = PostgresStore::from_pool_with(pool, PostgresConfig::default().schema("user"))
        .await
        .unwrap();
    let u = user("a@example.com");
    store.create_user(&u, None).await.unwrap();
    assert_eq!(store.user(u.id).await.unwrap(), Some(u));
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'user'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(tables > 0);
}

/// During a rolling deploy, instances still on schema version 5 insert
/// sessions without `authenticated_at`: their logins keep working, the
/// login counting as the proof.
#[tokio::test]
async fn a_session_inserted_without_its_proof_time_counts_as_proved_now() {
    let server = server_or_skip!();
    let schema = server::fresh_schema();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&server.url())
        .await
        .unwrap();
    let config = PostgresConfig::default().schema(schema.clone());
    let store = PostgresStore::from_pool_with(pool, config).await.unwrap();
    let u = user("rolling@example.com");
    store.create_user(&u, None).await.unwrap();
    let id = SessionId::new();
    // The insert of a version-5 instance, column for column.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{schema}\".sessions (id, user_id, password_version, created_at, expires_at) \
         VALUES ($1, $2, 0, now(), now() + interval '1 hour')"
    )))
    .bind(id.0)
    .bind(u.id.0)
    .execute(store.pool())
    .await
    .unwrap();
    let (read, _) = store.session_with_user(id, now()).await.unwrap().unwrap();
    assert!((now() - read.authenticated_at).abs() < Duration::minutes(1));
}
