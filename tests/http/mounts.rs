//! The rate limits wherever the endpoints are mounted: a standalone `Login`
//! and `Register` under paths of the app's choosing, and an axum app that
//! names its clients through `ConnectInfo` alone.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket};
use tower::{Layer, ServiceExt};
use tower_users::http::endpoints::{Login, Register};
use tower_users::http::{PeerAddrLayer, Rate, RateLimitConfig, RateLimitLayer};
use tower_users::{Users, UsersService};

use crate::common::{Client, Reply, assert_problem, send_over, server};

const PASSWORD: &str = "correct horse battery";

fn one_each() -> RateLimitConfig {
    let once = Rate::new(1, Duration::from_secs(60));
    RateLimitConfig {
        login: once,
        register: once,
        email_requests: once,
        tokens: once,
        ..RateLimitConfig::default()
    }
}

/// `Login` at /signin and `Register` at /join in a router of the app's own
/// (a plain tower `service_fn`), which also answers /home itself; behind
/// the rate limits, served by hyper with `PeerAddrLayer` per connection.
async fn custom_router(users: Users, config: RateLimitConfig) -> SocketAddr {
    let (login, register) = (Login::new(users.clone()), Register::new(users));
    let router = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let (login, register) = (login.clone(), register.clone());
        async move {
            match req.uri().path() {
                "/signin" => login.oneshot(req).await,
                "/join" => register.oneshot(req).await,
                _ => Ok::<_, Infallible>(http::Response::new(Default::default())),
            }
        }
    });
    let app = RateLimitLayer::new(config).layer(router);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let service = TowerToHyperService::new(PeerAddrLayer::new(peer).layer(app.clone()));
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[tokio::test]
async fn a_login_mounted_at_another_path_is_limited_as_a_login() {
    let s = server().await;
    let c = Client::new(custom_router(s.users.clone(), one_each()).await);
    let guess = json!({"email": "nobody@example.com", "password": "a wrong guess"});
    let first = c.post_json("/signin", guess.clone()).await;
    assert_problem(&first, 401, "INVALID_CREDENTIALS");
    let second = c.post_json("/signin", guess).await;
    assert_problem(&second, 429, "RATE_LIMITED");
    assert!(second.headers.contains_key("retry-after"));
    // The app's own routes behind the layer are not counted.
    for _ in 0..3 {
        assert_eq!(c.get("/home", None).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_register_mounted_at_another_path_is_limited_as_a_register() {
    let s = server().await;
    let config = RateLimitConfig {
        // Login open: the register quota alone answers.
        login: Rate::new(100, Duration::from_secs(1)),
        ..one_each()
    };
    let c = Client::new(custom_router(s.users.clone(), config).await);
    let join = |email: &str| json!({"email": email, "password": PASSWORD});
    let r = c.post_json("/join", join("first@example.com")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let r = c.post_json("/join", join("second@example.com")).await;
    assert_problem(&r, 429, "RATE_LIMITED");
    // Its own class: a login from the same client still goes through.
    let r = c
        .post_json(
            "/signin",
            json!({"email": "first@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

/// The README's axum setup: the rate limits (if any) as a plain `.layer`,
/// served with `into_make_service_with_connect_info`, and no shim of any
/// kind.
async fn axum_app(users: Users, limits: Option<RateLimitConfig>) -> SocketAddr {
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .nest_service("/users", UsersService::new(users.clone()).with_prefix(""))
        .with_state(users);
    let app = match limits {
        Some(config) => app.layer(RateLimitLayer::new(config)),
        None => app,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// POSTs `body` to `path` from a connection whose own address is `from`
/// (any 127.x address reaches a listener on 127.0.0.1).
async fn post_from(from: [u8; 4], addr: SocketAddr, path: &str, body: Value) -> Reply {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    assert_eq!(stream.local_addr().unwrap().ip(), IpAddr::from(from));
    let req = Request::post(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::<Bytes>::from(body.to_string()))
        .unwrap();
    send_over(stream, req).await
}

const ONE: [u8; 4] = [127, 0, 0, 1];
const TWO: [u8; 4] = [127, 0, 0, 2];

#[tokio::test]
async fn an_axum_app_with_connect_info_gives_each_client_its_own_quota() {
    let s = server().await;
    let addr = axum_app(s.users.clone(), Some(one_each())).await;
    let body = json!({"email": "someone@example.com"});
    let path = "/users/verify/request";
    let r = post_from(ONE, addr, path, body.clone()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json());
    let r = post_from(ONE, addr, path, body.clone()).await;
    assert_problem(&r, 429, "RATE_LIMITED");
    // Another client has a quota of its own.
    let r = post_from(TWO, addr, path, body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json());
}

#[tokio::test]
async fn in_an_axum_app_with_connect_info_the_lockout_sees_each_client() {
    let s = server().await;
    Client::new(s.addr)
        .register("owner@example.com", PASSWORD)
        .await;
    // No rate limits: the login endpoint reads ConnectInfo itself.
    let addr = axum_app(s.users.clone(), None).await;
    let login = |password: &str| json!({"email": "owner@example.com", "password": password});
    for _ in 0..5 {
        let r = post_from(TWO, addr, "/users/login", login("a wrong guess")).await;
        assert_problem(&r, 401, "INVALID_CREDENTIALS");
    }
    let r = post_from(TWO, addr, "/users/login", login(PASSWORD)).await;
    assert_problem(&r, 429, "RATE_LIMITED");
    // The owner, at another address, is not locked out by those guesses.
    let r = post_from(ONE, addr, "/users/login", login(PASSWORD)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}
