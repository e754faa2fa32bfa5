//! The axum and hyper examples, run as the binaries a newcomer starts, walk
//! the same path: sign up with the app's typed profile, the guarded routes,
//! the superuser from the environment, the admin list at `GET /users`, and
//! the rate limit on login (the profile example limits logins too).

use std::net::SocketAddr;

use http::StatusCode;
use serde_json::json;

use crate::common::{Client, Reply, assert_problem};
use crate::processes::start;

const ROOT: &str = "root@example.com";
const ROOT_PASSWORD: &str = "kettle staple zebra";
const PASSWORD: &str = "correct horse battery";

#[track_caller]
fn assert_body(reply: &Reply, body: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    assert_eq!(String::from_utf8_lossy(&reply.body), body);
}

/// The example's `AppProfile`: fields of the wrong type or unknown ones
/// are refused, naming the field; a good one is stored, returned in the
/// record, and read back typed by `/hello`.
async fn signed_up_with_profile(c: &Client) -> String {
    for (bad, field) in [
        (json!({"display_name": 5}), "display_name"),
        (
            json!({"display_name": "Walker", "nickname": "W"}),
            "nickname",
        ),
    ] {
        let mut body = json!({"email": "walk@example.com", "password": PASSWORD});
        body.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        let r = c.post_json("/users/register", body).await;
        assert_problem(&r, 422, "VALIDATION_ERROR");
        assert_eq!(r.json()["errors"][0]["field"], field, "{:?}", r.json());
    }
    let r = c
        .post_json(
            "/users/register",
            json!({"email": "walk@example.com", "password": PASSWORD, "display_name": "Walker"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["display_name"], "Walker");
    c.access_token("walk@example.com", PASSWORD).await
}

async fn walk(addr: SocketAddr) {
    let c = Client::new(addr);
    let access = signed_up_with_profile(&c).await;

    assert_body(&c.get("/hello", Some(&access)).await, "hello Walker");
    assert_problem(&c.get("/hello", None).await, 401, "UNAUTHORIZED");
    assert_body(&c.get("/maybe", None).await, "anonymous");
    assert_body(
        &c.get("/maybe", Some(&access)).await,
        "signed in as walk@example.com",
    );
    // A fresh user has not followed the verification link yet.
    assert_problem(
        &c.get("/verified", Some(&access)).await,
        403,
        "UNVERIFIED_USER",
    );
    assert_problem(&c.get("/admin", Some(&access)).await, 403, "FORBIDDEN");
    assert_problem(&c.get("/users", Some(&access)).await, 403, "FORBIDDEN");

    // The superuser the example created from TOWER_USERS_SUPERUSER.
    let root = c.access_token(ROOT, ROOT_PASSWORD).await;
    // Created without a profile: no display name, so greeted by email.
    assert_body(
        &c.get("/hello", Some(&root)).await,
        "hello root@example.com",
    );
    assert_body(
        &c.get("/admin", Some(&root)).await,
        "root@example.com is an administrator",
    );
    // `/users` itself (no slash) is the admin list, not some other route.
    let list = c.get("/users", Some(&root)).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.json());
    let emails: Vec<_> = list.json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        emails.contains(&"walk@example.com".to_owned()),
        "{emails:?}"
    );
    assert!(emails.contains(&ROOT.to_owned()), "{emails:?}");
    assert_logins_are_rate_limited(&c).await;
}

/// A burst of logins from one client, each for another (unknown)
/// account so the per-account lockout never counts: only a rate limit
/// on the lifecycle routes can answer 429.
async fn assert_logins_are_rate_limited(c: &Client) {
    let mut statuses = Vec::new();
    for i in 0..16 {
        let r = c.login(&format!("nobody{i}@example.com"), PASSWORD).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_problem(&r, 429, "RATE_LIMITED");
            assert!(r.headers.contains_key("retry-after"));
            return;
        }
        statuses.push(r.status);
    }
    panic!("16 logins in a burst were never limited: {statuses:?}");
}

fn superuser() -> String {
    format!("{ROOT}:{ROOT_PASSWORD}")
}

#[tokio::test]
async fn the_axum_example_reads_a_typed_profile_guards_routes_bootstraps_a_superuser_and_limits_logins()
 {
    let running = start("axum", &[("TOWER_USERS_SUPERUSER", &superuser())]);
    walk(running.addr).await;
}

#[tokio::test]
async fn the_hyper_example_reads_a_typed_profile_guards_routes_bootstraps_a_superuser_and_limits_logins()
 {
    let running = start("hyper", &[("TOWER_USERS_SUPERUSER", &superuser())]);
    walk(running.addr).await;
}

/// The profile example is a newcomer's starting point too: its lifecycle
/// routes are rate-limited like the other examples'.
#[tokio::test]
async fn the_profile_example_limits_logins() {
    let running = start("profile", &[]);
    assert_logins_are_rate_limited(&Client::new(running.addr)).await;
}
