//! The re-authentication window over HTTP: sensitive changes need a
//! session that proved the password recently, or `current_password`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use http::{Method, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_users::{CurrentUser, CurrentUserLayer, RecentlyAuthenticated, Users, UsersService};

use crate::common::{Client, Reply, TestServer, assert_problem, server, server_with};

const PASSWORD: &str = "correct horse battery";
const ROOT_PASSWORD: &str = "kettle staple zebra";
const CODE: &str = "REAUTHENTICATION_REQUIRED";

/// A window short enough to outlast in a test; proofs count in whole
/// seconds, so it closes for certain once [`STALE`] has passed, and stays
/// open for what a request or two take.
const WINDOW: Duration = Duration::from_secs(2);
const STALE: Duration = Duration::from_millis(3100);

async fn short_window() -> TestServer {
    server_with(|b| {
        b.with_reauthentication_window(WINDOW)
            .with_role("editor", ["posts:write"])
    })
    .await
}

async fn call(c: &Client, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
    c.request(method, path, Some(token), body).await
}

async fn reauthenticate(c: &Client, token: &str, password: &str) -> Reply {
    call(
        c,
        Method::POST,
        "/users/reauthenticate",
        token,
        Some(json!({"password": password})),
    )
    .await
}

#[tokio::test]
async fn a_fresh_login_changes_the_password_and_deletes_without_current_password() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, _) = c.signed_up("alice@example.com", PASSWORD).await;
    let r = call(
        &c,
        Method::PATCH,
        "/users/me",
        &token,
        Some(json!({"password": "a brand new passphrase"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    c.access_token("alice@example.com", "a brand new passphrase")
        .await;
    let r = call(&c, Method::DELETE, "/users/me", &token, Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
}

#[tokio::test]
async fn a_wrong_current_password_is_refused_even_inside_the_window() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, _) = c.signed_up("alice@example.com", PASSWORD).await;
    let body =
        json!({"current_password": "not the password", "password": "a brand new passphrase"});
    let r = call(&c, Method::PATCH, "/users/me", &token, Some(body)).await;
    assert_problem(&r, 401, "INVALID_CREDENTIALS");
    let body = json!({"current_password": "not the password"});
    let r = call(&c, Method::DELETE, "/users/me", &token, Some(body)).await;
    assert_problem(&r, 401, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn a_stale_session_must_reauthenticate_or_send_current_password() {
    let s = short_window().await;
    let c = Client::new(s.addr);
    let (token, _) = c.signed_up("alice@example.com", PASSWORD).await;
    tokio::time::sleep(STALE).await;

    for (method, body) in [
        (Method::PATCH, json!({"password": "a brand new passphrase"})),
        (Method::PATCH, json!({"email": "new@example.com"})),
        (Method::DELETE, json!({})),
    ] {
        let r = call(&c, method.clone(), "/users/me", &token, Some(body)).await;
        assert_problem(&r, 403, CODE);
    }
    assert!(s.outbox.sent().iter().all(|m| m.to != "new@example.com"));

    // current_password still works, as a one-shot proof...
    let body = json!({"current_password": PASSWORD, "password": "a brand new passphrase"});
    let r = call(&c, Method::PATCH, "/users/me", &token, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    // ...that does not re-open the window.
    let r = call(&c, Method::DELETE, "/users/me", &token, Some(json!({}))).await;
    assert_problem(&r, 403, CODE);

    // The right password at /reauthenticate does.
    let r = reauthenticate(&c, &token, "a brand new passphrase").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    let r = call(&c, Method::DELETE, "/users/me", &token, Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
}

#[tokio::test]
async fn a_wrong_reauthentication_is_401_and_counts_toward_the_lockout() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, _) = c.signed_up("alice@example.com", PASSWORD).await;
    let r = call(
        &c,
        Method::POST,
        "/users/reauthenticate",
        &token,
        Some(json!({})),
    )
    .await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
    let r = c
        .request(
            Method::POST,
            "/users/reauthenticate",
            None,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
    // The default lockout threshold is 5 failures.
    for _ in 0..5 {
        let r = reauthenticate(&c, &token, "not the password").await;
        assert_problem(&r, 401, "INVALID_CREDENTIALS");
    }
    // Locked like a login: even the right password waits.
    let r = reauthenticate(&c, &token, PASSWORD).await;
    assert_problem(&r, 429, "RATE_LIMITED");
}

#[tokio::test]
async fn a_refresh_does_not_reopen_the_window() {
    crate::common::bearer_only!("about POST /users/refresh, which cookie sessions do not use");
    let s = short_window().await;
    let c = Client::new(s.addr);
    let (_, refresh) = c.signed_up("alice@example.com", PASSWORD).await;
    tokio::time::sleep(STALE).await;
    let r = c
        .post_json("/users/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let body = json!({"password": "a brand new passphrase"});
    let r = call(&c, Method::PATCH, "/users/me", &token, Some(body.clone())).await;
    assert_problem(&r, 403, CODE);
    // The refreshed session re-authenticates like any other.
    let r = reauthenticate(&c, &token, PASSWORD).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    let r = call(&c, Method::PATCH, "/users/me", &token, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

#[tokio::test]
async fn a_superuser_whose_proof_is_stale_cannot_change_users_or_roles() {
    let s = short_window().await;
    let c = Client::new(s.addr);
    s.users
        .ensure_superuser("root@example.com", ROOT_PASSWORD)
        .await
        .unwrap();
    let root = c.access_token("root@example.com", ROOT_PASSWORD).await;
    let (alice, _) = c.signed_up("alice@example.com", PASSWORD).await;
    let id = c.get("/users/me", Some(&alice)).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = format!("/users/{id}");
    let role = format!("/users/{id}/roles/editor");
    tokio::time::sleep(STALE).await;

    let refused = [
        (
            Method::PATCH,
            user.as_str(),
            Some(json!({"is_verified": true})),
        ),
        (Method::DELETE, user.as_str(), None),
        (Method::PUT, role.as_str(), None),
        (Method::DELETE, role.as_str(), None),
    ];
    for (method, path, body) in refused.clone() {
        let r = call(&c, method, path, &root, body).await;
        assert_problem(&r, 403, CODE);
    }
    // Reading is not a change.
    let r = c.get(&user, Some(&root)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["is_verified"], false);
    assert_eq!(r.json()["roles"], json!([]));

    let r = reauthenticate(&c, &root, ROOT_PASSWORD).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    let expected = [
        StatusCode::OK,
        StatusCode::NO_CONTENT,
        StatusCode::NOT_FOUND,
        StatusCode::NOT_FOUND,
    ];
    // Granting before the delete, so that each route is seen to work.
    let r = call(&c, Method::PUT, &role, &root, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["roles"], json!(["editor"]));
    let r = call(&c, Method::DELETE, &role, &root, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    for ((method, path, body), status) in refused.into_iter().zip(expected) {
        let r = call(&c, method, path, &root, body).await;
        assert_eq!(r.status, status, "{:?}", r.json());
    }
}

/// The app's own sensitive routes: one behind the extractor, one behind
/// the layer, and the lifecycle routes under /users.
async fn app(users: Users) -> SocketAddr {
    let layered = Router::new()
        .route(
            "/layer",
            post(|u: CurrentUser| async move { format!("layer {}", u.email) }),
        )
        .route_layer(CurrentUserLayer::new(users.clone()).recently_authenticated());
    let app = Router::new()
        .route(
            "/extractor",
            post(|u: RecentlyAuthenticated| async move { format!("extractor {}", u.email) }),
        )
        .merge(layered)
        .nest_service("/users", UsersService::new(users.clone()).with_prefix(""))
        .with_state(users);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn the_extractor_and_the_layer_admit_only_a_recent_proof() {
    let s = short_window().await;
    let c = Client::new(app(s.users.clone()).await);
    let (token, _) = c.signed_up("alice@example.com", PASSWORD).await;
    for path in ["/extractor", "/layer"] {
        let r = c.request(Method::POST, path, None, None).await;
        assert_problem(&r, 401, "UNAUTHORIZED");
        let r = call(&c, Method::POST, path, &token, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    }
    tokio::time::sleep(STALE).await;
    for path in ["/extractor", "/layer"] {
        let r = call(&c, Method::POST, path, &token, None).await;
        assert_problem(&r, 403, CODE);
    }
    let r = reauthenticate(&c, &token, PASSWORD).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    for path in ["/extractor", "/layer"] {
        let r = call(&c, Method::POST, path, &token, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        assert_eq!(
            std::str::from_utf8(&r.body).unwrap(),
            format!("{} alice@example.com", &path[1..])
        );
    }
}

#[tokio::test]
async fn a_cookie_session_reauthenticates_with_the_csrf_token_only() {
    let s = short_window().await;
    let c = Client::new(s.addr);
    assert_eq!(
        c.register("alice@example.com", PASSWORD).await.status,
        StatusCode::CREATED
    );
    let r = c
        .post_json(
            "/users/login",
            json!({"email": "alice@example.com", "password": PASSWORD, "cookie": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let crate::common::Session { cookie, csrf } = crate::common::Session::from_login(&r);
    tokio::time::sleep(STALE).await;
    let origin = format!("http://{}", s.addr);
    let forged = [
        ("cookie", cookie.as_str()),
        ("sec-fetch-site", "same-origin"),
        ("origin", origin.as_str()),
    ];
    let body = json!({"password": PASSWORD});
    // Without the CSRF token: refused before any password check.
    let r = c
        .post_with("/users/reauthenticate", &forged, body.clone())
        .await;
    assert_problem(&r, 403, "CSRF_FAILED");
    let mut headers = forged.to_vec();
    headers.push(("x-csrf-token", csrf.as_str()));
    let delete_me = || {
        let mut req = http::Request::delete(format!("http://{}/users/me", s.addr))
            .header("host", s.addr.to_string())
            .header("content-type", "application/json");
        for (name, value) in &headers {
            req = req.header(*name, *value);
        }
        crate::common::send(s.addr, req.body(Full::from("{}")).unwrap())
    };
    assert_problem(&delete_me().await, 403, CODE);
    let r = c.post_with("/users/reauthenticate", &headers, body).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    let r = delete_me().await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
}
