//! # tower-users
//!
//! The whole user lifecycle for hyper, tower and axum servers: register,
//! login, refresh, logout, email verification, password reset and `/me`,
//! with the security details done for you (argon2id with timing-equal
//! misses, purpose-bound JWTs with a pinned algorithm, rotating refresh
//! tokens with reuse detection, revocable sessions).
//!
//! Three layers, each usable alone:
//!
//! - [`Users`], the framework-free core: one async method per lifecycle
//!   operation, returning `Result<_, Error>`.
//! - [`http`]: one tower `Service` per endpoint, composed by
//!   [`UsersService`] under a prefix (`/users` by default), answering JSON
//!   or `application/problem+json` with a stable `code`.
//! - [`CurrentUser`]: an extractor (axum-core `FromRequestParts`) and a
//!   tower layer ([`CurrentUserLayer`]) for the app's own handlers, with
//!   guards for verified users, superusers, and any rule of the app's on
//!   the user ([`CurrentUserLayer::require`]). Plain hyper and tower apps
//!   need neither axum-core nor tower of their own: what they touch is
//!   re-exported from [`http`].
//!
//! Around them:
//!
//! - [`pages`]: the pages a browser meets (sign up, log in, forgot
//!   password, the emailed links' landing pages, the account page), as one
//!   tower `Service`, [`PagesService`](pages::PagesService).
//! - [`mail`]: minijinja templates, an SMTP mailer, and a durable outbox
//!   that delivers with retries and survives restarts.
//! - [`http::RateLimitLayer`]: per-client rate limits, and
//!   [`http::ClientIpLayer`] to resolve clients behind trusted proxies; the
//!   core adds a lockout per account and client (with an account-wide
//!   ceiling) and low-priority hashing that admits work by expected wait.
//! - Account management and administration: `PATCH`/`DELETE /users/me`
//!   and the superuser routes under `/users`.
//! - [`Hooks`] for the app's callbacks and rules, and custom user fields
//!   ([`UsersBuilder::with_profile`]).
//!
//! Data lives in a [`Store`](store::Store); [`RedbStore`] keeps it in one
//! embedded redb file.
//!
//! What clients see on the wire (routes, bodies, status codes, error codes)
//! is the [HTTP contract](http::api), also served as an OpenAPI document
//! ([`http::OPENAPI`]).
//!
//! ## The core, without HTTP
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_users::{Error, RedbStore, Users};
//!
//! let users = Users::builder(RedbStore::in_memory()?)
//!     .with_secret(b"an example secret of at least 32 bytes!!")
//!     .build()?;
//!
//! let alice = users.register("Alice@Example.com", "correct horse battery").await?;
//! assert_eq!(alice.email.as_str(), "alice@example.com");
//!
//! let tokens = users.login("alice@example.com", "correct horse battery").await?;
//! let me = users.authenticate(&tokens.access_token).await?;
//! assert_eq!(me.user.id, alice.id);
//!
//! let wrong = users.login("alice@example.com", "not the password").await;
//! assert!(matches!(wrong, Err(Error::InvalidCredentials)));
//! # Ok(())
//! # }
//! ```
//!
//! ## Over HTTP, in axum
//!
//! ```no_run
//! use std::net::SocketAddr;
//!
//! use axum::{Router, routing::get};
//! use tower_users::http::RateLimitLayer;
//! use tower_users::{CurrentUser, RedbStore, Users, UsersService};
//!
//! async fn hello(user: CurrentUser) -> String {
//!     format!("hello {}", user.email)
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let users = Users::builder(RedbStore::open("app.redb")?)
//!     .with_secret(std::env::var("SECRET")?)
//!     .build()?;
//! let app = Router::new()
//!     .route("/hello", get(hello))
//!     // nest_service strips `/users`, so the service itself has no prefix.
//!     .nest_service("/users", UsersService::new(users.clone()).with_prefix(""))
//!     .with_state(users)
//!     // Per-client quotas on the lifecycle endpoints, wherever they are
//!     // mounted; /hello is not counted.
//!     .layer(RateLimitLayer::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! // ConnectInfo names each client, for the rate limits and the login lockout.
//! let app = app.into_make_service_with_connect_info::<SocketAddr>();
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod hooks;
pub mod http;
pub mod mail;
pub mod pages;
mod password;
pub mod store;
#[cfg(test)]
mod test_log;
pub mod token;
mod user;
mod username;
mod users;

/// The README's Rust blocks, compiled (and run unless `no_run`) as doctests,
/// so the quickstart and the hyper setup cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// What `store_conformance!` names, so that a store crate needs only
/// tower-users and tokio as dependencies to run it.
#[cfg(any(test, feature = "test-util"))]
#[doc(hidden)]
pub mod __private {
    pub use time;
    pub use uuid;
}

pub use error::{BoxError, ConfigError, Error, FieldError};
pub use hooks::{Hooks, NoHooks};
pub use http::{
    CookieSettings, CurrentUser, CurrentUserLayer, OptionalUserLayer, RecentlyAuthenticated,
    RequirePermission, RequireRole, Superuser, Transport, UsersService, VerifiedUser,
};
pub use password::{PasswordParams, PasswordPolicy};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
pub use store::RedbStore;
pub use token::{MAX_TOKEN_LEN, MIN_SECRET_LEN};
pub use user::{Email, MAX_EMAIL_LEN, User, UserId, UserRecord};
pub use username::{MAX_USERNAME_LEN, MIN_USERNAME_LEN, Username, Usernames};
pub use users::{
    AccountChange, AdminChange, Authenticated, LockoutPolicy, MAX_PAGE, MAX_ROLE_NAME_LEN,
    Permission, ProfileFields, Registration, Role, TokenPair, UserPage, Users, UsersBuilder,
};
