//! Password reset over real HTTP, with password_version binding.

use http::{Method, StatusCode};
use serde_json::json;

use tower_users::mail::EmailKind;

use crate::common::{Client, assert_problem, drained, server};

async fn reset_token(s: &crate::common::TestServer, c: &Client, email: &str) -> String {
    s.outbox.clear();
    let r = c
        .post_json("/users/password-reset/request", json!({"email": email}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    s.outbox.token_for(email).await
}

#[tokio::test]
async fn reset_sets_the_password_and_kills_every_session_and_token() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (access, refresh) = c.signed_up("rs@example.com", "correct horse battery").await;
    let verify = s.outbox.token_for("rs@example.com").await;
    let token = reset_token(&s, &c, "rs@example.com").await;
    let second = reset_token(&s, &c, "rs@example.com").await;

    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": token, "password": "a brand new password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["email"], "rs@example.com");

    // The new password works, the old one does not.
    assert_eq!(
        c.login("rs@example.com", "a brand new password")
            .await
            .status,
        StatusCode::OK
    );
    assert_problem(
        &c.login("rs@example.com", "correct horse battery").await,
        401,
        "INVALID_CREDENTIALS",
    );
    // Everything issued under the old password_version is dead.
    assert_problem(
        &c.get("/users/me", Some(&access)).await,
        401,
        "UNAUTHORIZED",
    );
    // A cookie session has no refresh token to try.
    if !crate::common::cookie_mode() {
        let r = c
            .post_json("/users/refresh", json!({"refresh_token": refresh}))
            .await;
        assert_problem(&r, 400, "INVALID_TOKEN");
    }
    let r = c.post_json("/users/verify", json!({"token": verify})).await;
    assert_problem(&r, 400, "INVALID_TOKEN");
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": second, "password": "yet another password"}),
        )
        .await;
    assert_problem(&r, 400, "INVALID_TOKEN");
    // And the used token cannot be replayed.
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": token, "password": "yet another password"}),
        )
        .await;
    assert_problem(&r, 400, "INVALID_TOKEN");
}

#[tokio::test]
async fn a_weak_new_password_is_refused_without_spending_the_token() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("weak@example.com", "correct horse battery")
        .await;
    let token = reset_token(&s, &c, "weak@example.com").await;
    for weak in ["short", "weak@example.com"] {
        let r = c
            .post_json(
                "/users/password-reset",
                json!({"token": token, "password": weak}),
            )
            .await;
        assert_problem(&r, 422, "VALIDATION_ERROR");
        assert_eq!(r.json()["errors"][0]["field"], "password");
    }
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": token, "password": "a good long password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn the_path_form_takes_the_token_from_the_path() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("pf@example.com", "correct horse battery").await;
    let token = reset_token(&s, &c, "pf@example.com").await;
    let r = c
        .request(
            Method::POST,
            &format!("/users/password-reset/{token}"),
            None,
            Some(json!({"password": "a good long password"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(
        c.login("pf@example.com", "a good long password")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn request_is_202_for_unknown_emails_and_sends_nothing() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("known@example.com", "correct horse battery")
        .await;
    s.outbox
        .wait_for("known@example.com", EmailKind::Verify)
        .await;
    let r = c
        .post_json(
            "/users/password-reset/request",
            json!({"email": "ghost@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // A real request after the decoy: once its email is out and the outbox
    // is empty, the worker has dealt with the decoy as well.
    let r = c
        .post_json(
            "/users/password-reset/request",
            json!({"email": "known@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    s.outbox
        .wait_for("known@example.com", EmailKind::PasswordReset)
        .await;
    drained(&s.users).await;
    assert_eq!(
        s.outbox.sent_kinds(),
        [
            ("known@example.com".to_owned(), EmailKind::Verify),
            ("known@example.com".to_owned(), EmailKind::PasswordReset),
        ]
    );
    let r = c
        .post_json("/users/password-reset/request", json!({}))
        .await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
}

#[tokio::test]
async fn bad_reset_tokens_are_400() {
    let s = server().await;
    let c = Client::new(s.addr);
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": "nope", "password": "a good long password"}),
        )
        .await;
    assert_problem(&r, 400, "INVALID_TOKEN");
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"password": "a good long password"}),
        )
        .await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
}
