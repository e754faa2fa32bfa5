//! The HTTP side: endpoint services, the router, and the current-user
//! extractor and layer.
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
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use http::{Request, StatusCode};
//! use http_body_util::Full;
//! use tower::ServiceExt;
//! use tower_users::{RedbStore, Users, UsersService};
//!
//! let users = Users::builder(RedbStore::in_memory().unwrap())
//!     .with_secret([7u8; 32])
//!     .build()
//!     .unwrap();
//! let req = Request::post("/users/register")
//!     .header("content-type", "application/json")
//!     .body(Full::<bytes::Bytes>::from(r#"{"email":"a@example.com","password":"long enough pw"}"#))
//!     .unwrap();
//! let res = UsersService::new(users).oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::CREATED);
//! # });
//! ```

mod body;
mod current_user;
pub mod endpoints;
mod layer;
mod problem;
mod rate_limit;
mod service;

pub use current_user::{CurrentUser, CurrentUserRejection, Superuser, VerifiedUser};
pub use layer::{CurrentUserLayer, RequireUser};
pub use problem::ErrorCode;
pub use rate_limit::{
    AddPeerAddr, ClientIp, ClientIpLayer, ClientKey, ConnectionPeer, ForwardedHeader, PeerAddr,
    PeerAddrLayer, ProxyChain, Rate, RateLimit, RateLimitConfig, RateLimitLayer, ResolveClientIp,
    TrustedProxy,
};
pub use service::UsersService;

/// The OpenAPI 3.1 document of every route [`UsersService`] serves under
/// its default prefix `/users`, with bodies, responses and problem+json
/// errors. It is also served at `GET /users/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");
