//! Roles over HTTP on PostgreSQL: a superuser's grant opens a permission
//! guard for the user's next request, with the access token it already
//! had, and a revoke closes it; the roles are in the stored record.

use axum::Router;
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tower_users::{Permission, RequirePermission, Users, UsersService};

use crate::example::request;
use crate::server;

struct WritePosts;
impl Permission for WritePosts {
    const NAME: &'static str = "posts:write";
}

const PASSWORD: &str = "correct horse battery";
const ROOT_PASSWORD: &str = "kettle staple zebra";

async fn login(host: &str, email: &str, password: &str) -> String {
    let body = json!({"email": email, "password": password});
    let (status, tokens) = request(host, "POST", "/users/login", None, Some(body)).await;
    assert_eq!(status, 200, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_and_a_revoke_hold_from_the_next_request() {
    let Some(server) = server::server() else {
        return;
    };
    let users = Users::builder(server::store(server, 4).await)
        .with_secret(b"postgres roles test secret, 32 bytes or more")
        .with_role("editor", [WritePosts::NAME])
        .with_superuser("root@example.com", ROOT_PASSWORD)
        .start()
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/publish",
            get(|u: RequirePermission<WritePosts>| async move { format!("\"{}\"", u.email) }),
        )
        .nest_service("/users", UsersService::new(users.clone()).with_prefix(""))
        .with_state(users);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let host = host.as_str();

    let body = json!({"email": "alice@example.com", "password": PASSWORD});
    let (status, alice) = request(host, "POST", "/users/register", None, Some(body)).await;
    assert_eq!(status, 201, "{alice}");
    assert_eq!(alice["roles"], json!([]));
    let id = alice["id"].as_str().unwrap().to_owned();
    let token = login(host, "alice@example.com", PASSWORD).await;
    let root = login(host, "root@example.com", ROOT_PASSWORD).await;

    let (status, refused) = request(host, "GET", "/publish", Some(&token), None).await;
    assert_eq!(
        (status, &refused["code"]),
        (403, &json!("MISSING_PERMISSION"))
    );

    let role = format!("/users/{id}/roles/editor");
    let (status, granted) = request(host, "PUT", &role, Some(&root), None).await;
    assert_eq!(status, 200, "{granted}");
    assert_eq!(granted["roles"], json!(["editor"]));
    let (status, _) = request(host, "GET", "/publish", Some(&token), None).await;
    assert_eq!(status, 200);
    let (_, me) = request(host, "GET", "/users/me", Some(&token), None).await;
    assert_eq!(me["roles"], json!(["editor"]));

    let (status, unknown) = request(
        host,
        "PUT",
        &format!("/users/{id}/roles/admin"),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(
        (status, &unknown["code"]),
        (422, &json!("VALIDATION_ERROR"))
    );
    let (status, _) = request(host, "PUT", &role, Some(&token), None).await;
    assert_eq!(status, 403);

    let (status, revoked) = request(host, "DELETE", &role, Some(&root), None).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["roles"], json!([]));
    let (status, refused) = request(host, "GET", "/publish", Some(&token), None).await;
    assert_eq!(
        (status, &refused["code"]),
        (403, &json!("MISSING_PERMISSION"))
    );
}
