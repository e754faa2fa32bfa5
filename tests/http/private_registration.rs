//! Registration that reveals nothing (`with_private_registration`): the
//! same answer for a new and a taken address, the right email to each, and
//! the default (201/409) left as it was.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_users::Users;
use tower_users::mail::EmailKind;
use tower_users::pages::PagesService;

use crate::common::{self, Client, Reply, TestServer, assert_problem, send, server_with};

const OWNER: &str = "owner@example.com";
const OWNER_PASSWORD: &str = "the owner's own password";
const OTHER_PASSWORD: &str = "somebody else's password";

/// A private-registration server whose `OWNER` is registered and
/// verified, with the outbox emptied.
async fn private_server(
    configure: fn(tower_users::UsersBuilder) -> tower_users::UsersBuilder,
) -> TestServer {
    let s = server_with(|b| configure(b.with_private_registration(true))).await;
    let fields = tower_users::ProfileFields::new();
    s.users
        .register_privately(OWNER, OWNER_PASSWORD, fields)
        .await
        .unwrap();
    let token = s.outbox.token_for(OWNER).await;
    s.users.verify(&token).await.unwrap();
    common::drained(&s.users).await;
    s.outbox.clear();
    s
}

/// The headers a client could tell two answers apart by (all but `date`).
fn telling_headers(reply: &Reply) -> Vec<(String, String)> {
    let mut headers: Vec<_> = reply
        .headers
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    headers
}

#[tokio::test]
async fn a_new_and_a_taken_address_get_the_same_answer() {
    let s = private_server(|b| b).await;
    let c = Client::new(s.addr);
    let new = c.register("new@example.com", OTHER_PASSWORD).await;
    let taken = c.register(OWNER, OTHER_PASSWORD).await;
    // Another spelling of the taken address is the taken address.
    let spelled = c.register(" Owner@Example.COM", OTHER_PASSWORD).await;
    for reply in [&new, &taken, &spelled] {
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.json());
        assert_eq!(reply.body, new.body);
        assert_eq!(telling_headers(reply), telling_headers(&new));
        assert!(reply.headers.get("set-cookie").is_none());
    }
    assert!(new.body.is_empty(), "no user record, no id: {:?}", new.body);
}

#[tokio::test]
async fn the_new_address_gets_the_verification_email_and_the_owner_a_notice() {
    let s = private_server(|b| b).await;
    let c = Client::new(s.addr);
    c.register("new@example.com", OTHER_PASSWORD).await;
    c.register(OWNER, OTHER_PASSWORD).await;

    // The new account verifies by its link and logs in.
    let token = s.outbox.token_for("new@example.com").await;
    let r = c.post_json("/users/verify", json!({"token": token})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["is_verified"], true);
    c.access_token("new@example.com", OTHER_PASSWORD).await;

    // The owner is told, and the account is as it was: the other password
    // does not log in, the owner's does.
    let notice = s
        .outbox
        .wait_for(OWNER, EmailKind::RegistrationNotice)
        .await;
    assert!(notice.subject.contains("sign up"), "{}", notice.subject);
    assert!(
        notice.text.contains("If it was you, log in"),
        "{}",
        notice.text
    );
    assert!(
        notice.link.contains("/password-reset#token="),
        "{}",
        notice.link
    );
    assert_problem(
        &c.login(OWNER, OTHER_PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    );
    let me = c
        .get(
            "/users/me",
            Some(&c.access_token(OWNER, OWNER_PASSWORD).await),
        )
        .await;
    assert_eq!(me.json()["is_verified"], true);

    // One email each, nothing else.
    common::drained(&s.users).await;
    let mut sent = s.outbox.sent_kinds();
    sent.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        sent,
        [
            ("new@example.com".to_owned(), EmailKind::Verify),
            (OWNER.to_owned(), EmailKind::RegistrationNotice),
        ]
    );

    // The notice's link sets a new password for the owner.
    let (_, token) = notice.link.split_once("#token=").unwrap();
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": token, "password": "a brand new password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    c.access_token(OWNER, "a brand new password").await;
}

#[tokio::test]
async fn private_registration_sends_the_verification_email_even_when_told_not_to() {
    let s = private_server(|b| b.with_verify_on_register(false)).await;
    let c = Client::new(s.addr);
    let r = c.register("new@example.com", OTHER_PASSWORD).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    s.outbox
        .wait_for("new@example.com", EmailKind::Verify)
        .await;
}

#[tokio::test]
async fn invalid_input_is_still_refused_under_private_registration() {
    let s = private_server(|b| b).await;
    let c = Client::new(s.addr);
    let weak = c.register("new@example.com", "password").await;
    assert_problem(&weak, 422, "VALIDATION_ERROR");
    let bad = c.register("not an email", OTHER_PASSWORD).await;
    assert_problem(&bad, 422, "VALIDATION_ERROR");
}

#[tokio::test]
async fn registration_answers_201_and_409_by_default() {
    let s = server_with(|b| b).await;
    let c = Client::new(s.addr);
    let r = c.register("new@example.com", OTHER_PASSWORD).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["email"], "new@example.com");
    assert_problem(
        &c.register("new@example.com", OTHER_PASSWORD).await,
        409,
        "USER_EXISTS",
    );
}

/// Serves the pages of `users` at the root.
async fn serve_pages(users: Users) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pages = PagesService::new(users);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let pages = pages.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let pages = pages.clone();
                async move { pages.oneshot(req).await.map_err(|e: Infallible| e) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

async fn sign_up_page(addr: SocketAddr, email: &str) -> Reply {
    let body = serde_urlencoded::to_string([("email", email), ("password", OTHER_PASSWORD)]);
    let req = Request::post(format!("http://{addr}/signup"))
        .header("host", addr.to_string())
        .header("origin", format!("http://{addr}"))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::<Bytes>::from(body.unwrap()))
        .unwrap();
    send(addr, req).await
}

#[tokio::test]
async fn the_sign_up_page_says_check_your_email_and_does_not_sign_in() {
    let s = private_server(|b| b).await;
    let addr = serve_pages(s.users.clone()).await;
    let new = sign_up_page(addr, "new@example.com").await;
    let taken = sign_up_page(addr, OWNER).await;
    for reply in [&new, &taken] {
        assert_eq!(reply.status, StatusCode::OK);
        let html = String::from_utf8_lossy(&reply.body);
        assert!(html.contains("Check your email"), "{html}");
        assert!(reply.headers.get("set-cookie").is_none());
    }
    assert_eq!(new.body, taken.body);
    s.outbox
        .wait_for("new@example.com", EmailKind::Verify)
        .await;
    s.outbox
        .wait_for(OWNER, EmailKind::RegistrationNotice)
        .await;
}

#[tokio::test]
async fn with_usernames_a_username_is_chosen_after_sign_in_not_at_registration() {
    // A taken username could not be hidden (there is no one to email
    // instead), so registration takes none: the same 422 for a taken and a
    // free name, and nothing registered.
    let s = private_server(|b| b.with_usernames(tower_users::Usernames::Optional)).await;
    let c = Client::new(s.addr);
    for email in ["a@example.com", OWNER] {
        let r = c
            .post_json(
                "/users/register",
                json!({"email": email, "password": OTHER_PASSWORD, "username": "alice"}),
            )
            .await;
        assert_problem(&r, 422, "VALIDATION_ERROR");
        assert_eq!(r.json()["errors"][0]["field"], "username");
    }
    assert_eq!(
        s.outbox.sent().len(),
        0,
        "nothing registered, nobody emailed"
    );
    // Required usernames and private registration cannot be had together.
    let refused = tower_users::Users::builder(tower_users::RedbStore::in_memory().unwrap())
        .with_secret([7u8; 32])
        .with_private_registration(true)
        .with_usernames(tower_users::Usernames::Required)
        .build();
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_login_right_after_registering_cannot_tell_a_new_address_from_a_taken_one() {
    // Register X with P, then log in with X and P: were a new, unverified
    // account to log in, 200 against the taken address's 401 would tell.
    let s = private_server(|b| b).await;
    let c = Client::new(s.addr);
    assert_eq!(
        c.register("new@example.com", OTHER_PASSWORD).await.status,
        202
    );
    assert_eq!(c.register(OWNER, OTHER_PASSWORD).await.status, 202);
    let new = c.login("new@example.com", OTHER_PASSWORD).await;
    let taken = c.login(OWNER, OTHER_PASSWORD).await;
    assert_problem(&new, 401, "INVALID_CREDENTIALS");
    assert_problem(&taken, 401, "INVALID_CREDENTIALS");
    assert_eq!(new.body, taken.body);
    // Once the address is verified, the account logs in.
    let token = s.outbox.token_for("new@example.com").await;
    let r = c.post_json("/users/verify", json!({"token": token})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(c.login("new@example.com", OTHER_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_deactivated_owner_gets_no_notice_and_the_answer_is_the_same() {
    let s = private_server(|b| b).await;
    let owner = s
        .users
        .list_users(10, None)
        .await
        .unwrap()
        .users
        .into_iter()
        .find(|u| u.email.as_str() == OWNER)
        .unwrap();
    let mut change = tower_users::AdminChange::default();
    change.is_active = Some(false);
    s.users
        .admin_update(tower_users::UserId::new(), owner.id, change)
        .await
        .unwrap();
    let c = Client::new(s.addr);
    let taken = c.register(OWNER, OTHER_PASSWORD).await;
    let new = c.register("new@example.com", OTHER_PASSWORD).await;
    assert_eq!(taken.status, StatusCode::ACCEPTED);
    assert_eq!(taken.body, new.body);
    common::drained(&s.users).await;
    assert_eq!(s.outbox.count_to(OWNER), 0, "a reset link it could not use");
    assert_eq!(s.outbox.count_to("new@example.com"), 1);
}
