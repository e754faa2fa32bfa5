//! Rate-limit buckets in PostgreSQL: pruning, and a store that fails.

use std::time::Duration;

use http::{Request, StatusCode};
use sqlx::postgres::PgPoolOptions;
use tower_users::http::{Body, Layer, PeerAddr, RateLimitLayer, ServiceExt};
use tower_users::store::{PostgresConfig, PostgresStore};
use tower_users::{Users, UsersService};

/// A limiter whose store fails refuses the request with a 503 and
/// `Retry-After` instead of serving it unlimited: a database outage must not
/// open the login endpoint to unlimited guessing. Needs no server: the
/// database is a port nobody listens on.
#[tokio::test]
async fn a_failing_store_refuses_limited_requests_with_503_and_retry_after() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&format!("postgres://nobody@127.0.0.1:{port}/none"))
        .unwrap();
    let store = PostgresStore::lazy(pool, PostgresConfig::default()).unwrap();
    let users = Users::builder(store)
        .with_secret([7u8; 32])
        .build()
        .unwrap();
    let service = RateLimitLayer::default()
        .in_store(&users)
        .layer(UsersService::new(users.clone()));
    let mut req = Request::post("/users/login")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"email":"a@example.com","password":"guess"}"#,
        ))
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr("192.0.2.1:4000".parse().unwrap()));
    let res = service.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
}

/// Buckets back at a full burst are deleted on the way (every 256th
/// charge), so requests from ever new addresses do not grow the table
/// without bound; a bucket still spent is kept.
#[tokio::test]
async fn idle_buckets_are_pruned_and_spent_ones_kept() {
    use time::OffsetDateTime;
    use tower_users::store::Store;

    let Some(server) = crate::server::server() else {
        return;
    };
    let schema = crate::server::fresh_schema();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&server.url())
        .await
        .unwrap();
    let config = PostgresConfig::default().schema(schema.clone());
    let store = PostgresStore::from_pool_with(pool, config).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let per = time::Duration::seconds(1);
    for i in 0..255 {
        let key = format!("login 192.0.2.{i}");
        assert_eq!(store.rate_limit(&key, now, 1, per).await.unwrap(), None);
    }
    // An hour later, past the clock-skew margin: the 256th charge prunes
    // the buckets from before, and its own, still spent, stays.
    let later = now + time::Duration::hours(1);
    let wait = store.rate_limit("login spent", later, 1, time::Duration::hours(2));
    assert_eq!(wait.await.unwrap(), None);
    let keys: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT key FROM {schema}.rate_limits"
    )))
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(keys, ["login spent"]);
}
