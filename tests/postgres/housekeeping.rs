//! Housekeeping beside a committed change (pruning expired sessions and
//! forgotten login-failure counters) is best effort: its failure neither
//! fails the change nor makes the store run the change again.

use sqlx::postgres::PgPoolOptions;
use time::Duration;
use tower_users::store::{PostgresConfig, PostgresStore, Session, SessionId, Store, TokenDigest};

use crate::{now, server, user};

/// A store in a fresh schema whose every DELETE on `table` fails with a
/// serialization failure (40001), as a prune can at SERIALIZABLE.
async fn store_failing_deletes_on(table: &str) -> Option<PostgresStore> {
    let server = server::server()?;
    let schema = server::fresh_schema();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&server.url())
        .await
        .unwrap();
    let store =
        PostgresStore::from_pool_with(pool, PostgresConfig::default().schema(schema.clone()))
            .await
            .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION {schema}.conflict() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; END $$; \
         CREATE TRIGGER conflict BEFORE DELETE ON {schema}.{table} \
         FOR EACH ROW EXECUTE FUNCTION {schema}.conflict();"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    Some(store)
}

/// A login whose prune of expired sessions fails still starts its one
/// session, rather than being retried into a duplicate insert.
#[tokio::test]
async fn a_failed_session_prune_does_not_fail_the_login() {
    let Some(store) = store_failing_deletes_on("sessions").await else {
        return;
    };
    let u = user("a@example.com");
    store.create_user(&u, None).await.unwrap();
    let session = |expires_at| Session {
        id: SessionId::new(),
        user_id: u.id,
        password_version: 0,
        created_at: now() - Duration::hours(2),
        expires_at,
        authenticated_at: now() - Duration::hours(2),
    };
    // Left to prune. Its own prune finds nothing expired yet.
    let expired = session(now() - Duration::hours(1));
    store
        .create_session(&expired, TokenDigest([1; 32]))
        .await
        .unwrap();
    let live = session(now() + Duration::hours(1));
    store
        .create_session(&live, TokenDigest([2; 32]))
        .await
        .unwrap();
    assert!(
        store
            .session_with_user(live.id, now())
            .await
            .unwrap()
            .is_some()
    );
}

/// A failed login whose prune of forgotten counters fails is counted once,
/// not once per retry.
#[tokio::test]
async fn a_failed_counter_prune_counts_the_failure_once() {
    let Some(store) = store_failing_deletes_on("login_failures").await else {
        return;
    };
    let t0 = now();
    let window = Duration::minutes(15);
    store
        .record_login_failure(
            "old@example.com",
            t0 - Duration::hours(1),
            t0 - Duration::days(1),
        )
        .await
        .unwrap();
    let counted = store
        .record_login_failure("a@example.com", t0, t0 - window)
        .await
        .unwrap();
    assert_eq!(counted.count, 1);
    let stored = store
        .login_failures("a@example.com", t0 - window)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.count, 1);
}
