//! Roles and permissions over real HTTP: superusers grant and revoke roles
//! (`PUT`/`DELETE /users/{id}/roles/{role}`), and the guards
//! (`RequirePermission`, `RequireRole`, `CurrentUserLayer::permission` and
//! `::role`) follow on the user's next request, with the same access token.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_users::{
    CurrentUser, CurrentUserLayer, Hooks, Permission, RequirePermission, RequireRole, Role, User,
    Users, UsersService,
};

use crate::common::{Client, TestServer, assert_problem, server_with};

const PASSWORD: &str = "correct horse battery";
const ROOT_PASSWORD: &str = "kettle staple zebra";

struct WritePosts;
impl Permission for WritePosts {
    const NAME: &'static str = "posts:write";
}

struct Editor;
impl Role for Editor {
    const NAME: &'static str = "editor";
}

/// Every guard under test on its own route, and the lifecycle under
/// /users, on one listener.
async fn app(users: Users) -> SocketAddr {
    let layered = Router::new()
        .route(
            "/layer/permission",
            get(|u: CurrentUser| async move { format!("layer {}", u.email) }),
        )
        .route_layer(CurrentUserLayer::new(users.clone()).permission(WritePosts::NAME));
    let by_role = Router::new()
        .route(
            "/layer/role",
            get(|u: CurrentUser| async move { format!("layer {}", u.email) }),
        )
        .route_layer(CurrentUserLayer::new(users.clone()).role(Editor::NAME));
    let app = Router::new()
        .route(
            "/extractor/permission",
            get(|u: RequirePermission<WritePosts>| async move { format!("ok {}", u.email) }),
        )
        .route(
            "/extractor/role",
            get(|u: RequireRole<Editor>| async move { format!("ok {}", u.email) }),
        )
        .merge(layered)
        .merge(by_role)
        .nest_service("/users", UsersService::new(users.clone()).with_prefix(""))
        .with_state(users);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

const GUARDED: [&str; 4] = [
    "/extractor/permission",
    "/extractor/role",
    "/layer/permission",
    "/layer/role",
];

/// A server whose app defines `editor` (posts:write) and `viewer`
/// (posts:read), the app above on it, a superuser's token, and a plain
/// user's (token, id).
async fn setup() -> (TestServer, Client, String, (String, String)) {
    let s = server_with(|b| {
        b.with_role("editor", [WritePosts::NAME, "posts:read"])
            .with_role("viewer", ["posts:read"])
    })
    .await;
    let c = Client::new(app(s.users.clone()).await);
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
    (s, c, root, (alice, id))
}

async fn grant(c: &Client, token: &str, id: &str, role: &str) -> crate::common::Reply {
    let path = format!("/users/{id}/roles/{role}");
    c.request(Method::PUT, &path, Some(token), None).await
}

async fn revoke(c: &Client, token: &str, id: &str, role: &str) -> crate::common::Reply {
    let path = format!("/users/{id}/roles/{role}");
    c.request(Method::DELETE, &path, Some(token), None).await
}

fn roles(record: &Value) -> Vec<&str> {
    record["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_grant_opens_every_guard_on_the_next_request_and_a_revoke_closes_it() {
    let (_s, c, root, (alice, id)) = setup().await;
    for route in GUARDED {
        let r = c.get(route, Some(&alice)).await;
        assert_problem(&r, 403, "MISSING_PERMISSION");
    }
    assert_eq!(
        roles(&c.get("/users/me", Some(&alice)).await.json()),
        Vec::<&str>::new()
    );

    let r = grant(&c, &root, &id, "editor").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(roles(&r.json()), ["editor"]);
    // The same access token, issued before the grant, passes now.
    for route in GUARDED {
        let r = c.get(route, Some(&alice)).await;
        assert_eq!(r.status, StatusCode::OK, "{route}: {:?}", r.json());
    }
    assert_eq!(
        roles(&c.get("/users/me", Some(&alice)).await.json()),
        ["editor"]
    );
    let listed = c.get(&format!("/users/{id}"), Some(&root)).await;
    assert_eq!(roles(&listed.json()), ["editor"]);

    let r = revoke(&c, &root, &id, "editor").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(roles(&r.json()), Vec::<&str>::new());
    for route in GUARDED {
        let r = c.get(route, Some(&alice)).await;
        assert_problem(&r, 403, "MISSING_PERMISSION");
    }
}

#[tokio::test]
async fn a_role_without_the_permission_does_not_pass_the_permission_guards() {
    let (_s, c, root, (alice, id)) = setup().await;
    assert_eq!(grant(&c, &root, &id, "viewer").await.status, StatusCode::OK);
    for route in GUARDED {
        let r = c.get(route, Some(&alice)).await;
        assert_problem(&r, 403, "MISSING_PERMISSION");
    }
    // Nor does being a superuser: permissions come only from roles.
    for route in GUARDED {
        let r = c.get(route, Some(&root)).await;
        assert_problem(&r, 403, "MISSING_PERMISSION");
    }
}

#[tokio::test]
async fn only_superusers_grant_or_revoke() {
    let (_s, c, root, (alice, id)) = setup().await;
    let (bob, _) = c.signed_up("bob@example.com", PASSWORD).await;
    for token in [&alice, &bob] {
        assert_problem(&grant(&c, token, &id, "editor").await, 403, "FORBIDDEN");
        assert_problem(&revoke(&c, token, &id, "editor").await, 403, "FORBIDDEN");
    }
    let path = format!("/users/{id}/roles/editor");
    for method in [Method::PUT, Method::DELETE] {
        let r = c.request(method, &path, None, None).await;
        assert_problem(&r, 401, "UNAUTHORIZED");
    }
    // Nor through their own record, nor at registration.
    let r = c
        .request(
            Method::PATCH,
            "/users/me",
            Some(&alice),
            Some(json!({"current_password": PASSWORD, "roles": ["editor"]})),
        )
        .await;
    // `roles` is not a field of the caller's own record to set: ignored.
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let r = c
        .post_json(
            "/users/register",
            json!({"email": "carol@example.com", "password": PASSWORD, "roles": ["editor"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    for (email, token) in [
        ("alice@example.com", alice.clone()),
        (
            "carol@example.com",
            c.access_token("carol@example.com", PASSWORD).await,
        ),
    ] {
        let me = c.get("/users/me", Some(&token)).await.json();
        assert_eq!(roles(&me), Vec::<&str>::new(), "{email}");
    }
    assert_eq!(
        roles(&c.get(&format!("/users/{id}"), Some(&root)).await.json()),
        Vec::<&str>::new()
    );
}

#[tokio::test]
async fn a_role_the_app_did_not_define_is_a_422_and_an_unknown_user_a_404() {
    let (s, c, root, (alice, id)) = setup().await;
    for role in ["admin", "Editor", "editor%2Fx", "a%20b"] {
        let r = grant(&c, &root, &id, role).await;
        assert_problem(&r, 422, "VALIDATION_ERROR");
        assert_eq!(r.json()["errors"][0]["field"], "role", "{role}");
        assert_problem(&revoke(&c, &root, &id, role).await, 422, "VALIDATION_ERROR");
    }
    assert_eq!(
        roles(&c.get("/users/me", Some(&alice)).await.json()),
        Vec::<&str>::new()
    );
    let nobody = "01936f6e-8d2a-7c3b-9e51-6a1f0c2d3e4f";
    assert_problem(&grant(&c, &root, nobody, "editor").await, 404, "NOT_FOUND");
    assert_problem(&revoke(&c, &root, nobody, "editor").await, 404, "NOT_FOUND");
    for path in [
        format!("/users/{id}/roles/"),
        format!("/users/{id}/roles"),
        "/users/not-a-uuid/roles/editor".to_owned(),
        format!("/users/{id}/roles/editor/x"),
    ] {
        let r = c.request(Method::PUT, &path, Some(&root), None).await;
        assert_problem(&r, 404, "NOT_FOUND");
    }
    let r = c
        .get(&format!("/users/{id}/roles/editor"), Some(&root))
        .await;
    assert_problem(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.headers["allow"], "PUT, DELETE");

    // A role the app stopped defining can still be revoked from a user who
    // holds it (it grants nothing meanwhile).
    let stored = s
        .users
        .get_user(tower_users::UserId(id.parse().unwrap()))
        .await;
    let stored = stored.unwrap();
    let mut retired = stored.clone();
    retired.roles.insert("retired".to_owned());
    tower_users::store::Store::update_user(
        &s.store,
        tower_users::store::UserUpdate::new(&stored, retired),
    )
    .await
    .unwrap();
    assert_eq!(
        roles(&c.get("/users/me", Some(&alice)).await.json()),
        ["retired"]
    );
    let r = revoke(&c, &root, &id, "retired").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(roles(&r.json()), Vec::<&str>::new());
}

#[tokio::test]
async fn grants_and_revokes_are_idempotent() {
    let (_s, c, root, (_alice, id)) = setup().await;
    for _ in 0..2 {
        let r = grant(&c, &root, &id, "editor").await;
        assert_eq!(roles(&r.json()), ["editor"]);
    }
    for _ in 0..2 {
        let r = revoke(&c, &root, &id, "editor").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(roles(&r.json()), Vec::<&str>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_grants_of_different_roles_all_land() {
    let (_s, c, root, (alice, id)) = setup().await;
    for _ in 0..5 {
        let (a, b) = tokio::join!(
            grant(&c, &root, &id, "editor"),
            grant(&c, &root, &id, "viewer")
        );
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
        assert_eq!(b.status, StatusCode::OK, "{:?}", b.json());
        let me = c.get("/users/me", Some(&alice)).await.json();
        assert_eq!(roles(&me), ["editor", "viewer"]);
        let (a, b) = tokio::join!(
            revoke(&c, &root, &id, "editor"),
            revoke(&c, &root, &id, "viewer")
        );
        assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
        let me = c.get("/users/me", Some(&alice)).await.json();
        assert_eq!(roles(&me), Vec::<&str>::new());
    }
}

/// One `after_update`: (roles before, roles after).
type RoleChange = (Vec<String>, Vec<String>);

/// Records each `after_update`.
#[derive(Clone, Default)]
struct RoleChanges(Arc<Mutex<Vec<RoleChange>>>);

impl Hooks for RoleChanges {
    async fn after_update(&self, before: &User, after: &User) {
        let names = |u: &User| u.roles.iter().cloned().collect();
        self.0.lock().unwrap().push((names(before), names(after)));
    }
}

#[tokio::test]
async fn each_role_change_runs_the_update_hook_once_and_a_no_op_none() {
    let changes = RoleChanges::default();
    let hooks = changes.clone();
    let s = server_with(move |b| b.with_role("editor", ["posts:write"]).with_hooks(hooks)).await;
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
    changes.0.lock().unwrap().clear();
    for _ in 0..2 {
        assert_eq!(grant(&c, &root, &id, "editor").await.status, StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(
            revoke(&c, &root, &id, "editor").await.status,
            StatusCode::OK
        );
    }
    let editor = vec!["editor".to_owned()];
    assert_eq!(
        *changes.0.lock().unwrap(),
        [(vec![], editor.clone()), (editor, vec![])]
    );
}
