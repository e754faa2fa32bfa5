//! tower-users served by plain hyper: what `examples/axum.rs` does, with no
//! axum anywhere. The app needs neither axum-core nor tower in its own
//! Cargo.toml: the body, response and tower plumbing it touches are
//! re-exported from `tower_users::http` (`tests/outside-apps` builds this
//! file with only what it uses).
//!
//! ```text
//! TOWER_USERS_SUPERUSER='root@example.com:kettle staple zebra' cargo run --example hyper
//! curl -X POST localhost:3000/users/register -H 'content-type: application/json' \
//!      -d '{"email":"a@example.com","password":"correct horse battery","display_name":"Ann"}'
//! ```
//!
//! Routes: `/hello` (any signed-in user, greeted by display name), `/maybe`
//! (anyone), `/verified` (a verified email), `/admin` (a superuser), and
//! the lifecycle under `/users`, rate-limited per client.
//! `TOWER_USERS_SUPERUSER` (`email:password`, optional) creates the first
//! superuser; `TOWER_USERS_BIND` (127.0.0.1:3000) and `RUST_LOG` as usual.
//! Uses an in-memory store and a random secret: data is gone on exit.

use std::convert::Infallible;

use http::{Method, Request};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tower_users::http::{
    Body, Layer, PeerAddrLayer, RateLimitLayer, Response, ServiceExt, service_fn,
};
use tower_users::{
    CurrentUser, CurrentUserLayer, Error, OptionalUserLayer, RedbStore, Users, UsersService,
};

/// The app's own user fields, sent beside email and password at
/// registration. A wrong type or an unknown field is a 422.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppProfile {
    /// Optional: the superuser from the environment is created without one.
    display_name: Option<String>,
}

/// The user `CurrentUserLayer` put in front of this route.
fn user(req: &Request<Incoming>) -> &CurrentUser {
    req.extensions()
        .get::<CurrentUser>()
        .expect("the route is behind CurrentUserLayer::new")
}

fn text(body: String) -> Result<Response, Infallible> {
    Ok(Response::new(Body::from(body)))
}

async fn hello(req: Request<Incoming>) -> Result<Response, Infallible> {
    let user = user(&req);
    let profile: AppProfile = match user.profile.parse() {
        Ok(profile) => profile,
        Err(err) => return Ok(err.into_response()),
    };
    let name = profile
        .display_name
        .unwrap_or_else(|| user.email.to_string());
    text(format!("hello {name}"))
}

async fn maybe(req: Request<Incoming>) -> Result<Response, Infallible> {
    match req.extensions().get::<CurrentUser>() {
        Some(user) => text(format!("signed in as {}", user.email)),
        None => text("anonymous".to_owned()),
    }
}

async fn verified_only(req: Request<Incoming>) -> Result<Response, Infallible> {
    text(format!("{} is verified", user(&req).email))
}

async fn admin_only(req: Request<Incoming>) -> Result<Response, Infallible> {
    text(format!("{} is an administrator", user(&req).email))
}

/// The users core, with the superuser from `TOWER_USERS_SUPERUSER`, if set.
async fn users() -> Result<Users, Box<dyn std::error::Error>> {
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
    Ok(builder.start().await?)
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
    let users = users().await?;

    // Each route is a tower service behind its guard layer.
    let hello = CurrentUserLayer::new(users.clone()).layer(service_fn(hello));
    let maybe = OptionalUserLayer::new(users.clone()).layer(service_fn(maybe));
    let verified = CurrentUserLayer::new(users.clone())
        .verified()
        .layer(service_fn(verified_only));
    let admin = CurrentUserLayer::new(users.clone())
        .superuser()
        .layer(service_fn(admin_only));
    let lifecycle = UsersService::new(users);

    let app = service_fn(move |req: Request<Incoming>| {
        let (hello, maybe, verified, admin, lifecycle) = (
            hello.clone(),
            maybe.clone(),
            verified.clone(),
            admin.clone(),
            lifecycle.clone(),
        );
        async move {
            match (req.method(), req.uri().path()) {
                (&Method::GET, "/hello") => hello.oneshot(req).await,
                (&Method::GET, "/maybe") => maybe.oneshot(req).await,
                (&Method::GET, "/verified") => verified.oneshot(req).await,
                (&Method::GET, "/admin") => admin.oneshot(req).await,
                // `/users` itself is the admin list; the rest is under it.
                (_, path) if path == "/users" || path.starts_with("/users/") => {
                    lifecycle.oneshot(req).await
                }
                _ => Ok(Error::NotFound.into_response()),
            }
        }
    });
    // Per-client quotas on login, register, the emails and the tokens,
    // wherever those endpoints are mounted; the app's routes are not counted.
    let app = RateLimitLayer::default().layer(app);

    let bind = std::env::var("TOWER_USERS_BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        // The rate limits and the login lockout count per client: tell
        // them the connection's.
        let service = TowerToHyperService::new(PeerAddrLayer::new(peer).layer(app.clone()));
        tokio::spawn(async move {
            // A client that goes away mid-request is no concern of the server's.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
