//! tower-users nested in an axum app: the lifecycle rate-limited per
//! client, the `CurrentUser` extractor and its guards, and the app's own
//! typed user fields.
//!
//! ```text
//! TOWER_USERS_SUPERUSER='root@example.com:kettle staple zebra' cargo run --example axum
//! curl -X POST localhost:3000/users/register -H 'content-type: application/json' \
//!      -d '{"email":"a@example.com","password":"correct horse battery","display_name":"Ann"}'
//! ```
//!
//! Routes: `/hello` (any signed-in user, greeted by display name), `/maybe`
//! (anyone), `/verified` (a verified email), `/admin` (a superuser), and
//! the lifecycle under `/users`. `TOWER_USERS_SUPERUSER` (`email:password`,
//! optional) creates the first superuser, who can use `/admin` and the
//! admin routes under `/users`; `TOWER_USERS_BIND` (127.0.0.1:3000) and
//! `RUST_LOG` as usual. Uses an in-memory store and a random secret: data
//! is gone on exit. The app's `Cargo.toml` needs neither axum-core nor
//! tower (`tests/outside-apps` builds this file with only what it uses).

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tower_users::http::RateLimitLayer;
use tower_users::{CurrentUser, Error, RedbStore, Superuser, Users, UsersService, VerifiedUser};

/// The app's own user fields, sent beside email and password at
/// registration. A wrong type or an unknown field is a 422.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppProfile {
    /// Optional: the superuser from the environment is created without one.
    display_name: Option<String>,
}

async fn hello(user: CurrentUser) -> Result<String, Error> {
    let profile: AppProfile = user.profile.parse()?;
    let name = profile
        .display_name
        .unwrap_or_else(|| user.email.to_string());
    Ok(format!("hello {name}"))
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
    // The default mailer writes emails (with their links) to this log.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, never in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let mut builder = Users::builder(RedbStore::in_memory()?)
        .with_secret(secret)
        .with_profile::<AppProfile>();
    if let Ok(spec) = std::env::var("TOWER_USERS_SUPERUSER") {
        let (email, password) = spec
            .split_once(':')
            .ok_or("TOWER_USERS_SUPERUSER must be email:password")?;
        builder = builder.with_superuser(email, password);
    }
    let users = builder.start().await?;

    let app = Router::new()
        .route("/hello", get(hello))
        .route("/maybe", get(maybe))
        .route("/verified", get(verified_only))
        .route("/admin", get(admin_only))
        // axum strips the nesting path, so the service's own prefix is empty.
        .nest_service("/users", UsersService::new(users.clone()).with_prefix(""))
        .with_state(users)
        // Per-client quotas on login, register, the emails and the tokens,
        // wherever those endpoints are mounted; the app's routes are not
        // counted.
        .layer(RateLimitLayer::default());

    let bind = std::env::var("TOWER_USERS_BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // ConnectInfo names each client, for the rate limits and the login lockout.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
