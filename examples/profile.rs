//! Custom user fields: the app's own `Profile` type with a `display_name`,
//! accepted at registration, checked by a hook, stored with the user and
//! returned in every user record.
//!
//! ```text
//! cargo run --example profile
//! curl -X POST localhost:3000/users/register -H 'content-type: application/json' \
//!      -d '{"email":"ann@example.com","password":"correct horse battery","display_name":"Ann"}'
//! ```

use axum::Router;
use axum::routing::get;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tower_users::mail::BoxFuture;
use tower_users::{CurrentUser, FieldError, Hooks, RedbStore, Users, UsersService};

/// The app's own fields. `deny_unknown_fields` makes a typo a 422.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    display_name: String,
}

/// Rules serde cannot express.
struct ProfileRules;

impl Hooks for ProfileRules {
    fn validate_profile<'a>(
        &'a self,
        profile: &'a tower_users::Profile,
    ) -> BoxFuture<'a, Result<(), Vec<FieldError>>> {
        Box::pin(async move {
            let name = profile
                .get("display_name")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            if name.trim().is_empty() || name.chars().count() > 40 {
                return Err(vec![FieldError::new("display_name", "1 to 40 characters")]);
            }
            Ok(())
        })
    }
}

async fn hello(user: CurrentUser) -> String {
    let name = user
        .profile
        .get("display_name")
        .and_then(|v| v.as_str())
        .unwrap_or("stranger");
    format!("hello {name}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let users = Users::builder(RedbStore::in_memory()?)
        .with_secret(secret)
        .with_profile::<Profile>()
        .with_hooks(ProfileRules)
        .build()?;
    let app = Router::new()
        .route("/hello", get(hello))
        .nest_service("/users", UsersService::new(users.clone()).with_prefix(""))
        .with_state(users);
    let bind = std::env::var("TOWER_USERS_BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
