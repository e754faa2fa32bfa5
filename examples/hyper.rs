//! tower-users served by plain hyper, with `CurrentUserLayer` guarding the
//! app's own tower service: no axum anywhere.
//!
//! ```text
//! cargo run --example hyper
//! ```

use std::convert::Infallible;

use axum_core::body::Body;
use axum_core::response::Response;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rand::RngCore;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_users::http::PeerAddr;
use tower_users::{CurrentUser, CurrentUserLayer, RedbStore, Users, UsersService};

/// The app's own handler: the layer has already put the user in.
async fn hello(req: Request<Incoming>) -> Result<Response, Infallible> {
    let name = req
        .extensions()
        .get::<CurrentUser>()
        .map(|u| u.email.to_string())
        .unwrap_or_default();
    Ok(Response::new(Body::from(format!("hello {name}"))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let users = Users::builder(RedbStore::in_memory()?)
        .with_secret(secret)
        .build()?;

    let lifecycle = UsersService::new(users.clone());
    let protected = ServiceBuilder::new()
        .layer(CurrentUserLayer::new(users))
        .service(service_fn(hello));
    let app = service_fn(move |req: Request<Incoming>| {
        let lifecycle = lifecycle.clone();
        let protected = protected.clone();
        async move {
            if req.uri().path().starts_with("/users/") {
                lifecycle.oneshot(req).await
            } else {
                protected.oneshot(req).await
            }
        }
    });

    let bind = std::env::var("TOWER_USERS_BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        // The login lockout counts per client: tell it the connection's.
        let app = app.clone();
        let service = TowerToHyperService::new(service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(PeerAddr(peer));
            app.clone().oneshot(req)
        }));
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
