//! The guards over real HTTP: `CurrentUser`, `VerifiedUser`, `Superuser` and
//! `Option<CurrentUser>` in an axum app, and `CurrentUserLayer` (required,
//! optional, verified, superuser, and the app's own predicate) in a plain
//! tower stack served by hyper and as an axum route layer.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt};
use tower_users::http::CurrentUserService;
use tower_users::store::{Store, UserUpdate};
use tower_users::token::Purpose;
use tower_users::{
    CurrentUser, CurrentUserLayer, OptionalUserLayer, Superuser, Users, UsersService, VerifiedUser,
};

use crate::common::{Client, Reply, TestServer, assert_problem, server};

const PASSWORD: &str = "correct horse battery";

/// The app under test: every guard on its own route, and the lifecycle
/// routes under /users, on one listener.
async fn axum_app(users: Users) -> SocketAddr {
    let app = Router::new()
        .route(
            "/current",
            get(|u: CurrentUser| async move { format!("current {}", u.email) }),
        )
        .route(
            "/maybe",
            get(|u: Option<CurrentUser>| async move {
                u.map_or("anonymous".to_owned(), |u| format!("maybe {}", u.email))
            }),
        )
        .route(
            "/verified",
            get(|u: VerifiedUser| async move { format!("verified {}", u.email) }),
        )
        .route(
            "/admin",
            get(|u: Superuser| async move { format!("admin {}", u.email) }),
        )
        .nest_service("/users", UsersService::new(users.clone()).with_prefix(""))
        .with_state(users);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The app's service behind the layer under test.
type Handler = BoxCloneService<Request<hyper::body::Incoming>, Response<Full<Bytes>>, Infallible>;

/// A tower stack with no axum in it: `layer` in front of a handler that
/// reports what the layer left in the request extensions.
async fn layered<L>(layer: L) -> SocketAddr
where
    L: Layer<Handler, Service = CurrentUserService<Handler>>,
{
    let handler = tower::service_fn(|req: Request<hyper::body::Incoming>| async move {
        let who = match req.extensions().get::<CurrentUser>() {
            Some(user) => format!("layer {}", user.email),
            None => "layer anonymous".to_owned(),
        };
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(who)))
    });
    let service = layer.layer(BoxCloneService::new(handler));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            let svc = hyper::service::service_fn(move |req| service.clone().oneshot(req));
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Another active superuser, so that the users under test may lose the
/// role or be deactivated: the store never lets the last one go.
async fn keep_a_superuser(s: &TestServer, c: &Client) {
    token_of(c, "keeper@example.com").await;
    change(s, "keeper@example.com", |u| u.is_superuser = true).await;
}

/// Registers `email` and logs in: its access token.
async fn token_of(c: &Client, email: &str) -> String {
    c.signed_up(email, PASSWORD).await.0
}

/// Applies `change` to the stored user directly, as an app with its own
/// admin tooling would: the user's sessions stay alive.
async fn change(s: &TestServer, email: &str, change: impl FnOnce(&mut tower_users::User)) {
    let email = tower_users::Email::parse(email).unwrap();
    let user = s.store.user_by_email(&email).await.unwrap().unwrap();
    let mut next = user.clone();
    change(&mut next);
    s.store
        .update_user(UserUpdate::new(&user, next))
        .await
        .unwrap();
}

#[track_caller]
fn assert_ok(reply: &Reply, body: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    assert_eq!(reply.body, body.as_bytes());
}

/// 401 `UNAUTHORIZED` with the `WWW-Authenticate: Bearer` challenge.
#[track_caller]
fn assert_unauthorized(reply: &Reply) {
    assert_problem(reply, 401, "UNAUTHORIZED");
    assert_eq!(reply.headers["www-authenticate"], "Bearer");
}

/// Tokens that must be refused everywhere, even where credentials are
/// optional: garbage, a forged signature, and a genuine token of another
/// purpose.
async fn bad_tokens(s: &TestServer, good: &str) -> Vec<String> {
    let forged = crate::common::forged(good);
    let user = s
        .store
        .user_by_email(&tower_users::Email::parse("a@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    let tokens = tower_users::token::Tokens::new(crate::common::SECRET, "tower-users").unwrap();
    let (verify, _) = tokens
        .issue(Purpose::Verify, &user, time::Duration::hours(1), None)
        .unwrap();
    vec!["garbage".to_owned(), forged, verify]
}

#[tokio::test]
async fn every_guard_without_credentials_or_with_bad_ones() {
    let s = server().await;
    let app = Client::new(axum_app(s.users.clone()).await);
    let good = token_of(&Client::new(s.addr), "a@example.com").await;
    let bad = bad_tokens(&s, &good).await;
    for route in ["/current", "/verified", "/admin"] {
        assert_unauthorized(&app.get(route, None).await);
        for token in &bad {
            assert_unauthorized(&app.get(route, Some(token)).await);
        }
    }
    // Option<CurrentUser>: no credentials is anonymous; a bad bearer token
    // is not, while a dead or forged session cookie is (the browser keeps
    // sending it; the session is simply over).
    assert_ok(&app.get("/maybe", None).await, "anonymous");
    for token in &bad {
        let reply = app.get("/maybe", Some(token)).await;
        if crate::common::Session::parse(token).is_some() {
            assert_ok(&reply, "anonymous");
        } else {
            assert_unauthorized(&reply);
        }
    }
    // A malformed Authorization header is bad credentials too.
    let r = app
        .request(http::Method::GET, "/maybe", Some(""), None)
        .await;
    assert_unauthorized(&r);
    // A logged-out session's token is dead everywhere.
    let r = app
        .request(http::Method::POST, "/users/logout", Some(&good), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for route in ["/current", "/verified", "/admin"] {
        assert_unauthorized(&app.get(route, Some(&good)).await);
    }
    // Where a user is optional, a dead bearer token is still refused; a
    // dead session cookie is no credential.
    let r = app.get("/maybe", Some(&good)).await;
    if crate::common::Session::parse(&good).is_some() {
        assert_ok(&r, "anonymous");
    } else {
        assert_unauthorized(&r);
    }
}

#[tokio::test]
async fn each_guard_admits_exactly_the_users_it_names() {
    let s = server().await;
    let app = Client::new(axum_app(s.users.clone()).await);
    let c = Client::new(s.addr);
    keep_a_superuser(&s, &c).await;
    let plain = token_of(&c, "plain@example.com").await;
    let verified = token_of(&c, "verified@example.com").await;
    change(&s, "verified@example.com", |u| u.is_verified = true).await;
    let admin = token_of(&c, "admin@example.com").await;
    change(&s, "admin@example.com", |u| u.is_superuser = true).await;

    // An unverified, ordinary user.
    assert_ok(
        &app.get("/current", Some(&plain)).await,
        "current plain@example.com",
    );
    assert_ok(
        &app.get("/maybe", Some(&plain)).await,
        "maybe plain@example.com",
    );
    assert_problem(
        &app.get("/verified", Some(&plain)).await,
        403,
        "UNVERIFIED_USER",
    );
    assert_problem(&app.get("/admin", Some(&plain)).await, 403, "FORBIDDEN");

    // Verified, not a superuser.
    assert_ok(
        &app.get("/verified", Some(&verified)).await,
        "verified verified@example.com",
    );
    assert_problem(&app.get("/admin", Some(&verified)).await, 403, "FORBIDDEN");

    // A superuser whose email is not verified: admin, but not "verified".
    assert_ok(
        &app.get("/admin", Some(&admin)).await,
        "admin admin@example.com",
    );
    assert_problem(
        &app.get("/verified", Some(&admin)).await,
        403,
        "UNVERIFIED_USER",
    );

    // The guards read the user on every request: a change applies at once.
    change(&s, "plain@example.com", |u| u.is_verified = true).await;
    assert_ok(
        &app.get("/verified", Some(&plain)).await,
        "verified plain@example.com",
    );
    change(&s, "admin@example.com", |u| u.is_superuser = false).await;
    assert_problem(&app.get("/admin", Some(&admin)).await, 403, "FORBIDDEN");
}

#[tokio::test]
async fn an_inactive_user_is_refused_by_every_guard_with_a_live_session() {
    let s = server().await;
    let app = Client::new(axum_app(s.users.clone()).await);
    let c = Client::new(s.addr);
    keep_a_superuser(&s, &c).await;
    let token = token_of(&c, "gone@example.com").await;
    change(&s, "gone@example.com", |u| {
        u.is_verified = true;
        u.is_superuser = true;
    })
    .await;
    assert_ok(
        &app.get("/admin", Some(&token)).await,
        "admin gone@example.com",
    );
    change(&s, "gone@example.com", |u| u.is_active = false).await;
    for route in ["/current", "/maybe", "/verified", "/admin"] {
        assert_problem(&app.get(route, Some(&token)).await, 403, "INACTIVE_USER");
    }
    let optional = Client::new(layered(OptionalUserLayer::new(s.users.clone())).await);
    assert_problem(&optional.get("/", Some(&token)).await, 403, "INACTIVE_USER");
    for layer in guard_layers(&s.users) {
        let stack = Client::new(layered(layer).await);
        assert_problem(&stack.get("/", Some(&token)).await, 403, "INACTIVE_USER");
    }
}

/// Every required mode of the layer: plain, verified, superuser, the app's
/// predicate, and two guards chained.
fn guard_layers(users: &Users) -> Vec<CurrentUserLayer> {
    let layer = || CurrentUserLayer::new(users.clone());
    vec![
        layer(),
        layer().verified(),
        layer().superuser(),
        layer().require(staff),
        layer().verified().superuser(),
    ]
}

/// The app's own rule in the predicate tests.
fn staff(user: &CurrentUser) -> bool {
    user.email.as_str().starts_with("staff")
}

#[tokio::test]
async fn each_guard_layer_admits_exactly_the_users_it_names() {
    let s = server().await;
    let c = Client::new(s.addr);
    keep_a_superuser(&s, &c).await;
    let plain = token_of(&c, "plain@example.com").await;
    let verified = token_of(&c, "verified@example.com").await;
    change(&s, "verified@example.com", |u| u.is_verified = true).await;
    let admin = token_of(&c, "admin@example.com").await;
    change(&s, "admin@example.com", |u| u.is_superuser = true).await;
    let staffer = token_of(&c, "staff@example.com").await;

    let verified_only =
        Client::new(layered(CurrentUserLayer::new(s.users.clone()).verified()).await);
    assert_problem(
        &verified_only.get("/", Some(&plain)).await,
        403,
        "UNVERIFIED_USER",
    );
    assert_problem(
        &verified_only.get("/", Some(&admin)).await,
        403,
        "UNVERIFIED_USER",
    );
    assert_ok(
        &verified_only.get("/", Some(&verified)).await,
        "layer verified@example.com",
    );

    let admin_only = Client::new(layered(CurrentUserLayer::new(s.users.clone()).superuser()).await);
    assert_problem(&admin_only.get("/", Some(&plain)).await, 403, "FORBIDDEN");
    assert_problem(
        &admin_only.get("/", Some(&verified)).await,
        403,
        "FORBIDDEN",
    );
    assert_ok(
        &admin_only.get("/", Some(&admin)).await,
        "layer admin@example.com",
    );

    let staff_only =
        Client::new(layered(CurrentUserLayer::new(s.users.clone()).require(staff)).await);
    assert_problem(&staff_only.get("/", Some(&plain)).await, 403, "FORBIDDEN");
    assert_problem(&staff_only.get("/", Some(&admin)).await, 403, "FORBIDDEN");
    assert_ok(
        &staff_only.get("/", Some(&staffer)).await,
        "layer staff@example.com",
    );

    // Chained guards must all hold, and each refuses with its own code.
    let both = Client::new(
        layered(
            CurrentUserLayer::new(s.users.clone())
                .verified()
                .superuser(),
        )
        .await,
    );
    assert_problem(&both.get("/", Some(&admin)).await, 403, "UNVERIFIED_USER");
    assert_problem(&both.get("/", Some(&verified)).await, 403, "FORBIDDEN");
    change(&s, "admin@example.com", |u| u.is_verified = true).await;
    assert_ok(
        &both.get("/", Some(&admin)).await,
        "layer admin@example.com",
    );

    // The user is read on every request: a lost role applies at once.
    change(&s, "admin@example.com", |u| u.is_superuser = false).await;
    assert_problem(&admin_only.get("/", Some(&admin)).await, 403, "FORBIDDEN");
}

#[tokio::test]
async fn every_guard_layer_refuses_missing_and_bad_credentials_with_401() {
    let s = server().await;
    let good = token_of(&Client::new(s.addr), "a@example.com").await;
    let bad = bad_tokens(&s, &good).await;
    for layer in guard_layers(&s.users) {
        let stack = Client::new(layered(layer).await);
        assert_unauthorized(&stack.get("/", None).await);
        for token in &bad {
            assert_unauthorized(&stack.get("/", Some(token)).await);
        }
    }
}

#[tokio::test]
async fn the_predicate_layer_guards_axum_routes_and_the_extractor_reuses_its_user() {
    let s = server().await;
    let c = Client::new(s.addr);
    let plain = token_of(&c, "plain@example.com").await;
    let staffer = token_of(&c, "staff@example.com").await;
    let app = Router::new()
        .route(
            "/staff",
            get(|u: CurrentUser| async move { format!("staff {}", u.email) }),
        )
        .route_layer(CurrentUserLayer::new(s.users.clone()).require(staff))
        .route("/open", get(|| async { "open" }))
        .with_state(s.users.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let app = Client::new(addr);

    assert_unauthorized(&app.get("/staff", None).await);
    assert_problem(&app.get("/staff", Some(&plain)).await, 403, "FORBIDDEN");
    assert_ok(
        &app.get("/staff", Some(&staffer)).await,
        "staff staff@example.com",
    );
    // Routes added after `route_layer` are not guarded by it.
    assert_ok(&app.get("/open", None).await, "open");
}

#[tokio::test]
async fn the_layer_requires_a_user_unless_optional_and_always_refuses_bad_tokens() {
    let s = server().await;
    let good = token_of(&Client::new(s.addr), "a@example.com").await;
    let bad = bad_tokens(&s, &good).await;
    let required = Client::new(layered(CurrentUserLayer::new(s.users.clone())).await);
    let optional = Client::new(layered(OptionalUserLayer::new(s.users.clone())).await);

    assert_ok(&required.get("/", Some(&good)).await, "layer a@example.com");
    assert_ok(&optional.get("/", Some(&good)).await, "layer a@example.com");
    assert_unauthorized(&required.get("/", None).await);
    assert_ok(&optional.get("/", None).await, "layer anonymous");
    for token in &bad {
        assert_unauthorized(&required.get("/", Some(token)).await);
        // A bad session cookie is no credential where a user is optional.
        let reply = optional.get("/", Some(token)).await;
        if crate::common::Session::parse(token).is_some() {
            assert_ok(&reply, "layer anonymous");
        } else {
            assert_unauthorized(&reply);
        }
    }
}

/// Serves `service` on a fresh listener.
async fn listen<S>(service: S) -> SocketAddr
where
    S: tower::Service<
            Request<hyper::body::Incoming>,
            Response = Response<tower_users::http::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service.clone();
            let svc = hyper::service::service_fn(move |req| service.clone().oneshot(req));
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    addr
}

/// A layer on one `Users` in front of services on another: the user it
/// vouched for is not taken on trust; the token is checked again against
/// the services' own `Users`, where it means nothing.
#[tokio::test]
async fn a_user_vouched_for_by_a_layer_on_another_users_is_authenticated_again() {
    let (a, b) = (server().await, server().await);
    let a_root = token_of(&Client::new(a.addr), "aroot@example.com").await;
    change(&a, "aroot@example.com", |u| u.is_superuser = true).await;
    let b_root = token_of(&Client::new(b.addr), "broot@example.com").await;
    change(&b, "broot@example.com", |u| u.is_superuser = true).await;
    let b_service = UsersService::new(b.users.clone());
    let a_on_b =
        Client::new(listen(OptionalUserLayer::new(a.users.clone()).layer(b_service.clone())).await);
    let b_on_b =
        Client::new(listen(OptionalUserLayer::new(b.users.clone()).layer(b_service)).await);

    // A's superuser is nobody to B's list, or to B's `me`.
    assert_unauthorized(&a_on_b.get("/users", Some(&a_root)).await);
    assert_unauthorized(&a_on_b.get("/users/me", Some(&a_root)).await);
    // A layer on B itself still admits B's superuser, and only B's.
    let list = b_on_b.get("/users", Some(&b_root)).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.json());
    assert_problem(
        &b_on_b.get("/users", Some(&a_root)).await,
        401,
        "UNAUTHORIZED",
    );
}
