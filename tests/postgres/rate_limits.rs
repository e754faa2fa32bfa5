//! Rate limits kept in a PostgreSQL store that cannot be reached.

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
