//! Email verification over real HTTP.

use http::{Method, StatusCode};
use serde_json::json;

use crate::common::{Client, assert_problem, server};

#[tokio::test]
async fn the_emailed_link_verifies_the_user_once() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("v@example.com", "correct horse battery").await;
    let token = s.outbox.token_for("v@example.com").await;
    let r = c.post_json("/users/verify", json!({"token": token})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["is_verified"], true);
    let again = c.post_json("/users/verify", json!({"token": token})).await;
    assert_problem(&again, 400, "INVALID_TOKEN");
}

#[tokio::test]
async fn the_path_form_verifies_without_a_body() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("path@example.com", "correct horse battery")
        .await;
    let token = s.outbox.token_for("path@example.com").await;
    let r = c
        .request(Method::POST, &format!("/users/verify/{token}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["is_verified"], true);
}

#[tokio::test]
async fn request_is_202_for_everyone_and_mails_only_the_unverified() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("known@example.com", "correct horse battery")
        .await;
    s.outbox.token_for("known@example.com").await;
    for email in ["known@example.com", "unknown@example.com"] {
        let r = c
            .post_json("/users/verify/request", json!({"email": email}))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        assert!(r.body.is_empty());
    }
    // The known one gets a second email, the unknown one none.
    for _ in 0..200 {
        if s.outbox.count_to("known@example.com") == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(s.outbox.count_to("known@example.com"), 2);
    assert_eq!(s.outbox.count_to("unknown@example.com"), 0);
    let bad = c
        .post_json("/users/verify/request", json!({"email": "nope"}))
        .await;
    assert_problem(&bad, 422, "VALIDATION_ERROR");
}

#[tokio::test]
async fn bad_verify_tokens_are_400() {
    let s = server().await;
    let c = Client::new(s.addr);
    for token in ["", "garbage", "a.b.c"] {
        let r = c.post_json("/users/verify", json!({"token": token})).await;
        assert_problem(&r, 400, "INVALID_TOKEN");
    }
    let r = c.post_json("/users/verify", json!({})).await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
}

#[tokio::test]
async fn a_verify_token_dies_when_the_password_changes() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("pv@example.com", "correct horse battery").await;
    let verify = s.outbox.token_for("pv@example.com").await;
    s.outbox.clear();
    c.post_json(
        "/users/password-reset/request",
        json!({"email": "pv@example.com"}),
    )
    .await;
    let reset = s.outbox.token_for("pv@example.com").await;
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": reset, "password": "brand new password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c.post_json("/users/verify", json!({"token": verify})).await;
    assert_problem(&r, 400, "INVALID_TOKEN");
}
