//! The HTTP side: endpoint services, the router, and the current-user
//! extractor and layer.
//!
//! What clients see on the wire (routes, bodies, codes) is the
//! [HTTP contract](api); [`OPENAPI`] is the same as an OpenAPI document.
//!
//! The login lockout counts failures per (account, client), and
//! [`RateLimitLayer`] limits per client. The client is the connection's
//! peer: axum's `ConnectInfo<SocketAddr>` (serve with
//! `into_make_service_with_connect_info::<SocketAddr>()`), or a
//! [`PeerAddr`] the server inserts per connection ([`PeerAddrLayer`] on
//! plain hyper). Behind a proxy, apply [`ClientIpLayer`] (or
//! [`RateLimitLayer`], which resolves clients the same way) with the proxy
//! as trusted, so each login counts as the client the proxy reports
//! ([`ClientIp`]).
//!
//! A plain hyper or tower server needs neither axum-core nor tower in its
//! own `Cargo.toml`: the [`Body`] and [`Response`] the services answer
//! with, and tower's [`Layer`], [`Service`], [`ServiceBuilder`],
//! [`ServiceExt`] and [`service_fn`], are re-exported here; [`Error`] and
//! [`CurrentUserRejection`] answer problem+json with an inherent
//! `into_response()`. `examples/hyper.rs` in the repository is such a server.
//!
//! [`Error`]: crate::Error
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use http::{Request, StatusCode};
//! use tower_users::http::{Body, ServiceExt};
//! use tower_users::{RedbStore, Users, UsersService};
//!
//! let users = Users::builder(RedbStore::in_memory().unwrap())
//!     .with_secret([7u8; 32])
//!     .build()
//!     .unwrap();
//! let req = Request::post("/users/register")
//!     .header("content-type", "application/json")
//!     .body(Body::from(r#"{"email":"a@example.com","password":"long enough pw"}"#))
//!     .unwrap();
//! let res = UsersService::new(users).oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::CREATED);
//! # });
//! ```

mod authorization;
pub(crate) mod body;
pub mod cookies;
pub mod csrf;
mod current_user;
pub mod endpoints;
mod layer;
#[cfg(test)]
pub(crate) mod openapi;
mod problem;
pub(crate) mod rate_limit;
mod recent;
mod redact;
mod service;

pub use authorization::{RequirePermission, RequireRole};
pub use cookies::{CookieSettings, Transport};
pub use current_user::{CurrentUser, CurrentUserRejection, Superuser, VerifiedUser};
pub use layer::{CurrentUserLayer, CurrentUserService, OptionalUserLayer};
pub use problem::ErrorCode;
pub use rate_limit::{
    AddPeerAddr, ClientIp, ClientIpLayer, ClientKey, ConnectionPeer, ForwardedHeader, PeerAddr,
    PeerAddrLayer, ProxyChain, Rate, RateLimit, RateLimitConfig, RateLimitLayer, ResolveClientIp,
    TrustedProxy,
};
pub use recent::RecentlyAuthenticated;
pub use redact::redacted_path;
pub use service::UsersService;

// What a plain hyper or tower server touches, so that it needs neither
// axum-core nor tower in its own Cargo.toml: the response and body types
// the services answer with, and tower's service and layer plumbing.
// Listed as re-exports, not inlined: inlined, their upstream docs would read
// as this crate's own, with links that resolve nowhere.
#[doc(no_inline)]
pub use axum_core::body::Body;
#[doc(no_inline)]
pub use axum_core::response::Response;
#[doc(no_inline)]
pub use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

#[doc = include_str!("../../docs/API.md")]
pub mod api {}

/// The OpenAPI 3.1 document of every route [`UsersService`] serves under
/// its default prefix `/users`, with bodies, responses and problem+json
/// errors: the [HTTP contract](api) as JSON. It is also served at
/// `GET /users/openapi.json`.
///
/// It is generated from the crate's own types (the `openapi` test module,
/// with utoipa) and checked in as `src/http/openapi.json`, so applications
/// do not compile the generator.
pub const OPENAPI: &str = include_str!("openapi.json");
