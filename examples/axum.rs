//! tower-users nested in an axum app, with the `CurrentUser` extractor and
//! its guards, and the lifecycle rate-limited per client.
//!
//! ```text
//! TOWER_USERS_SUPERUSER='root@example.com:kettle staple zebra' cargo run --example axum
//! curl -X POST localhost:3000/users/register -H 'content-type: application/json' \
//!      -d '{"email":"a@example.com","password":"correct horse battery"}'
//! ```
//!
//! `TOWER_USERS_SUPERUSER` (`email:password`, optional) creates the first
//! superuser, who can use `/admin` and the admin routes under `/users`;
//! `TOWER_USERS_BIND` (127.0.0.1:3000) and `RUST_LOG` as usual. Uses an
//! in-memory store and a random secret: data is gone on exit.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use rand::RngCore;
use tower_users::http::{Layer, RateLimitConfig, RateLimitLayer};
use tower_users::{CurrentUser, RedbStore, Superuser, Users, UsersService, VerifiedUser};

async fn hello(user: CurrentUser) -> String {
    format!("hello {}", user.email)
}

async fn maybe(user: Option<CurrentUser>) -> String {
    match user {
        Some(user) => format!("signed in as {}", user.email),
        None => "anonymous".to_owned(),
    }
}

async fn verified_only(user: VerifiedUser) -> String {
    format!("{} is verified", user.email)
}

async fn admin_only(user: Superuser) -> String {
    format!("{} is an administrator", user.email)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let mut builder = Users::builder(RedbStore::in_memory()?).with_secret(secret);
    if let Ok(spec) = std::env::var("TOWER_USERS_SUPERUSER") {
        let (email, password) = spec
            .split_once(':')
            .ok_or("TOWER_USERS_SUPERUSER must be email:password")?;
        builder = builder.with_superuser(email, password);
    }
    let users = builder.start().await?;
    // Per-client quotas on login, register, the emails and the tokens.
    let lifecycle = RateLimitLayer::try_new(RateLimitConfig::default())?
        // axum strips the nesting path, so the service's own prefix is empty.
        .layer(UsersService::new(users.clone()).with_prefix(""));

    let app = Router::new()
        .route("/hello", get(hello))
        .route("/maybe", get(maybe))
        .route("/verified", get(verified_only))
        .route("/admin", get(admin_only))
        .nest_service("/users", lifecycle)
        .with_state(users);

    let bind = std::env::var("TOWER_USERS_BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // The rate limits and the login lockout count per client: served with
    // connect info, they read each connection's address themselves.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
