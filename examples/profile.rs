//! Custom user fields: the app's own `AppProfile` type with a
//! `display_name`, accepted at registration, checked by a hook, stored with
//! the user, returned in every user record, and read back typed in a
//! handler. The lifecycle is rate-limited per client, as in every example.
//!
//! ```text
//! cargo run --example profile
//! curl -X POST localhost:3000/users/register -H 'content-type: application/json' \
//!      -d '{"email":"ann@example.com","password":"correct horse battery","display_name":"Ann"}'
//! ```

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tower_users::http::RateLimitLayer;
use tower_users::{CurrentUser, Error, Hooks, ProfileFields, RedbStore, Users, UsersService};

/// The app's own fields. `deny_unknown_fields` makes a typo a 422.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppProfile {
    display_name: String,
}

/// Rules serde cannot express.
struct ProfileRules;

impl Hooks for ProfileRules {
    async fn validate_profile(&self, fields: &ProfileFields) -> Result<(), Error> {
        // The fields already fit `AppProfile` when this runs.
        let profile: AppProfile = fields.parse()?;
        let name = profile.display_name.trim();
        if name.is_empty() || name.chars().count() > 40 {
            return Err(Error::field("display_name", "1 to 40 characters"));
        }
        Ok(())
    }
}

/// `CurrentUser` dereferences to `User`, whose `profile` reads back typed.
async fn hello(user: CurrentUser) -> Result<String, Error> {
    let profile: AppProfile = user.profile.parse()?;
    Ok(format!("hello {}", profile.display_name))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let users = Users::builder(RedbStore::in_memory()?)
        .with_secret(secret)
        .with_profile::<AppProfile>()
        .with_hooks(ProfileRules)
        .build()?;
    let app = Router::new()
        .route("/hello", get(hello))
        .nest_service("/users", UsersService::new(users.clone()).with_prefix(""))
        .with_state(users)
        // Per-client quotas on the lifecycle endpoints, wherever mounted.
        .layer(RateLimitLayer::default());
    let bind = std::env::var("TOWER_USERS_BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // ConnectInfo names each client, for the rate limits and the login lockout.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
