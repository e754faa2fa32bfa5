//! Issue 14's identity features over HTTP on PostgreSQL, one server with
//! all of them on: registration that reveals nothing, login by username,
//! and the re-authentication window for sensitive changes.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_users::store::{PostgresStore, Store, UserUpdate};
use tower_users::{Usernames, Users, UsersService};

use crate::example::request;
use crate::server;

const PASSWORD: &str = "correct horse battery";
const OTHER: &str = "somebody else's password";

async fn login(host: &str, body: Value) -> (u16, String) {
    let (status, tokens) = request(host, "POST", "/users/login", None, Some(body)).await;
    let token = tokens["access_token"].as_str().unwrap_or_default();
    (status, token.to_owned())
}

/// Marks `email` verified, as its emailed link would.
async fn verify(store: &PostgresStore, email: &str) {
    let user = store
        .user_by_email(&tower_users::Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut verified = user.clone();
    verified.is_verified = true;
    store
        .update_user(UserUpdate::new(&user, verified))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_registration_usernames_and_the_reauthentication_window() {
    let Some(server) = server::server() else {
        return;
    };
    let store = server::store(server, 4).await;
    let users = Users::builder(store.clone())
        .with_secret(b"postgres identity test secret, 32 bytes or more")
        .with_private_registration(true)
        .with_usernames(Usernames::Optional)
        .with_reauthentication_window(Duration::from_secs(2))
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let service = UsersService::new(users);
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::Router::new().nest_service("/users", service.with_prefix("")),
        )
        .await
        .unwrap()
    });
    let host = host.as_str();

    // Registration answers alike for a new and a taken address; the taken
    // one's owner keeps their password.
    let alice = json!({"email": "alice@example.com", "password": PASSWORD});
    let (status, body) = request(host, "POST", "/users/register", None, Some(alice)).await;
    assert_eq!((status, &body), (202, &Value::Null));
    let taken = json!({"email": "Alice@Example.com", "password": OTHER});
    let (status, body) = request(host, "POST", "/users/register", None, Some(taken)).await;
    assert_eq!((status, &body), (202, &Value::Null));
    // An account logs in once its address is verified (before, it answers
    // as a wrong password, or a login would tell a new address from a
    // taken one).
    let alice_login = json!({"email": "alice@example.com", "password": PASSWORD});
    let (status, _) = login(host, alice_login.clone()).await;
    assert_eq!(status, 401);
    verify(&store, "alice@example.com").await;
    let (status, alice) = login(host, alice_login).await;
    assert_eq!(status, 200);
    let (status, _) = login(
        host,
        json!({"email": "alice@example.com", "password": OTHER}),
    )
    .await;
    assert_eq!(status, 401);

    // A fresh login proves the password: a username without current_password.
    let name = json!({"username": "Alice"});
    let (status, me) = request(host, "PATCH", "/users/me", Some(&alice), Some(name)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], "alice");
    let (status, _) = login(host, json!({"login": "ALICE", "password": PASSWORD})).await;
    assert_eq!(status, 200);
    let (status, _) = login(host, json!({"login": "nobody", "password": PASSWORD})).await;
    assert_eq!(status, 401);
    let bob = json!({"email": "bob@example.com", "password": OTHER});
    let (status, _) = request(host, "POST", "/users/register", None, Some(bob)).await;
    assert_eq!(status, 202);
    verify(&store, "bob@example.com").await;
    let (_, bob) = login(host, json!({"email": "bob@example.com", "password": OTHER})).await;
    let (status, taken) = request(
        host,
        "PATCH",
        "/users/me",
        Some(&bob),
        Some(json!({"username": "alice"})),
    )
    .await;
    assert_eq!((status, &taken["code"]), (409, &json!("USERNAME_EXISTS")));

    // Once the window has passed, the change needs the password again.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let name = json!({"username": "alicia"});
    let (status, stale) =
        request(host, "PATCH", "/users/me", Some(&alice), Some(name.clone())).await;
    assert_eq!(
        (status, &stale["code"]),
        (403, &json!("REAUTHENTICATION_REQUIRED"))
    );
    let proof = json!({"password": PASSWORD});
    let (status, _) = request(
        host,
        "POST",
        "/users/reauthenticate",
        Some(&alice),
        Some(proof),
    )
    .await;
    assert_eq!(status, 204);
    let (status, me) = request(host, "PATCH", "/users/me", Some(&alice), Some(name)).await;
    assert_eq!((status, &me["username"]), (200, &json!("alicia")));
    let (status, _) = login(host, json!({"login": "alice", "password": PASSWORD})).await;
    assert_eq!(status, 401, "the old name is free, and no longer Alice's");
}
