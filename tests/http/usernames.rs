//! Login by email or username (`UsersBuilder::with_usernames`).

use http::StatusCode;
use serde_json::{Value, json};
use tower_users::{LockoutPolicy, Usernames};

use crate::common::{self, Client, TestServer, assert_problem, server, server_with};

const PASSWORD: &str = "correct horse battery";

async fn with_usernames(mode: Usernames) -> TestServer {
    server_with(|b| b.with_usernames(mode)).await
}

async fn register(c: &Client, email: &str, username: &str) -> common::Reply {
    c.post_json(
        "/users/register",
        json!({"email": email, "password": PASSWORD, "username": username}),
    )
    .await
}

async fn login_as(c: &Client, login: &str, password: &str) -> common::Reply {
    c.post_json(
        "/users/login",
        json!({"login": login, "password": password}),
    )
    .await
}

async fn login_form(s: &TestServer, username: &str, password: &str) -> common::Reply {
    let body = serde_urlencoded::to_string([
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ])
    .unwrap();
    let req = http::Request::post(format!("http://{}/users/login", s.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::from(body))
        .unwrap();
    common::send(s.addr, req).await
}

/// Registers `email` with `username` and logs in; returns the access token.
async fn signed_up(c: &Client, email: &str, username: &str) -> String {
    let r = register(c, email, username).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    c.access_token(email, PASSWORD).await
}

async fn patch(c: &Client, path: &str, token: &str, body: Value) -> common::Reply {
    c.request(http::Method::PATCH, path, Some(token), Some(body))
        .await
}

#[tokio::test]
async fn usernames_are_off_by_default_and_a_username_field_changes_nothing() {
    let s = server().await;
    let c = Client::new(s.addr);
    let r = register(&c, "a@example.com", "alice").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    // No such field in the record, not even `null`.
    assert!(r.json().get("username").is_none(), "{:?}", r.json());
    let by_name = login_as(&c, "alice", PASSWORD).await;
    assert_problem(&by_name, 401, "INVALID_CREDENTIALS");
    let by_form = login_form(&s, "alice", PASSWORD).await;
    assert_problem(&by_form, 401, "INVALID_CREDENTIALS");
    // The JSON `login` field takes the email whatever the setting.
    assert_eq!(login_as(&c, "a@example.com", PASSWORD).await.status, 200);
    let token = c.access_token("a@example.com", PASSWORD).await;
    let r = patch(
        &c,
        "/users/me",
        &token,
        json!({"current_password": PASSWORD, "username": "alice"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert!(r.json().get("username").is_none(), "{:?}", r.json());
}

#[tokio::test]
async fn a_user_registers_with_a_username_and_logs_in_by_any_spelling_of_it() {
    let s = with_usernames(Usernames::Optional).await;
    let c = Client::new(s.addr);
    let r = register(&c, "a@example.com", " Alice_1 ").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["username"], "alice_1");
    for spelling in ["alice_1", "ALICE_1", "ａｌｉｃｅ_１", "Alice_1"] {
        let r = login_as(&c, spelling, PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{spelling:?}: {:?}", r.json());
        assert_eq!(r.json()["user"]["username"], "alice_1");
        let r = login_form(&s, spelling, PASSWORD).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "form {spelling:?}: {:?}",
            r.json()
        );
    }
    // The email keeps working, in every field that took it before.
    assert_eq!(c.login("A@example.com", PASSWORD).await.status, 200);
    assert_eq!(login_form(&s, "a@example.com", PASSWORD).await.status, 200);
    let me = c
        .get(
            "/users/me",
            Some(&c.access_token("a@example.com", PASSWORD).await),
        )
        .await;
    assert_eq!(me.json()["username"], "alice_1");
    // A user without one has none in the record.
    let r = c.register("b@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.json().get("username").is_none(), "{:?}", r.json());
    // `email` and `login` together are ambiguous.
    let both = c
        .post_json(
            "/users/login",
            json!({"email": "a@example.com", "login": "alice_1", "password": PASSWORD}),
        )
        .await;
    assert_problem(&both, 422, "VALIDATION_ERROR");
    assert_eq!(both.json()["errors"][0]["field"], "login");
}

#[tokio::test]
async fn an_unknown_username_gets_the_same_401_as_a_wrong_password() {
    let s = with_usernames(Usernames::Optional).await;
    let c = Client::new(s.addr);
    register(&c, "a@example.com", "alice").await;
    let wrong = login_as(&c, "alice", "incorrect horse").await;
    let unknown = login_as(&c, "nobody", "incorrect horse").await;
    let malformed = login_as(&c, "n o", "incorrect horse").await;
    let unknown_email = login_as(&c, "nobody@example.com", "incorrect horse").await;
    assert_problem(&wrong, 401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, malformed.body);
    assert_eq!(wrong.body, unknown_email.body);
    let form = login_form(&s, "nobody", "incorrect horse").await;
    assert_eq!(wrong.body, form.body);
}

#[tokio::test]
async fn an_unknown_username_locks_out_like_a_known_one() {
    let policy = LockoutPolicy {
        threshold: 2,
        account_threshold: 2,
        ..LockoutPolicy::default()
    };
    let s = server_with(|b| b.with_usernames(Usernames::Optional).with_lockout(policy)).await;
    let c = Client::new(s.addr);
    register(&c, "a@example.com", "alice").await;
    for name in ["alice", "nobody"] {
        for _ in 0..2 {
            let r = login_as(&c, name, "incorrect horse").await;
            assert_problem(&r, 401, "INVALID_CREDENTIALS");
        }
        let locked = login_as(&c, name, "incorrect horse").await;
        assert_problem(&locked, 429, "RATE_LIMITED");
    }
    // Failures by username count toward the account's own ceiling: the
    // email is locked for everyone too.
    let by_email = c.login("a@example.com", PASSWORD).await;
    assert_problem(&by_email, 429, "RATE_LIMITED");
}

#[tokio::test]
async fn guesses_at_a_username_do_not_lock_its_email_for_that_client() {
    // Were the pair counted per account, a client could lock a username and
    // then see which email answers 429: the email of that username.
    let policy = LockoutPolicy {
        threshold: 2,
        ..LockoutPolicy::default()
    };
    let s = server_with(|b| b.with_usernames(Usernames::Optional).with_lockout(policy)).await;
    let c = Client::new(s.addr);
    register(&c, "a@example.com", "alice").await;
    for _ in 0..2 {
        let r = login_as(&c, "alice", "incorrect horse").await;
        assert_problem(&r, 401, "INVALID_CREDENTIALS");
    }
    assert_problem(&login_as(&c, "alice", PASSWORD).await, 429, "RATE_LIMITED");
    assert_eq!(c.login("a@example.com", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_taken_username_is_409_in_any_spelling_and_a_bad_one_422() {
    let s = with_usernames(Usernames::Optional).await;
    let c = Client::new(s.addr);
    register(&c, "a@example.com", "alice").await;
    for spelling in ["alice", "ALICE", "ａｌｉｃｅ"] {
        let r = register(&c, "b@example.com", spelling).await;
        assert_problem(&r, 409, "USERNAME_EXISTS");
    }
    for bad in [
        "al",
        "bob@example.com",
        "bob smith",
        "_bob",
        "bоb",
        &"b".repeat(33),
    ] {
        let r = register(&c, "b@example.com", bad).await;
        assert_problem(&r, 422, "VALIDATION_ERROR");
        assert_eq!(r.json()["errors"][0]["field"], "username", "{bad:?}");
    }
    let mistyped = c
        .post_json(
            "/users/register",
            json!({"email": "b@example.com", "password": PASSWORD, "username": 5}),
        )
        .await;
    assert_problem(&mistyped, 422, "VALIDATION_ERROR");
    // Nothing of the refused attempts was stored.
    assert_eq!(register(&c, "b@example.com", "bob").await.status, 201);
}

#[tokio::test]
async fn required_usernames_refuse_a_registration_or_a_change_without_one() {
    let s = with_usernames(Usernames::Required).await;
    let c = Client::new(s.addr);
    let r = c.register("a@example.com", PASSWORD).await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
    assert_eq!(r.json()["errors"][0]["field"], "username");
    let token = signed_up(&c, "a@example.com", "alice").await;
    let r = patch(
        &c,
        "/users/me",
        &token,
        json!({"current_password": PASSWORD, "username": null}),
    )
    .await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
    assert_eq!(r.json()["errors"][0]["field"], "username");
    assert_eq!(login_as(&c, "alice", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn the_owner_and_an_admin_change_it_and_the_old_name_is_freed() {
    let s = with_usernames(Usernames::Optional).await;
    s.users
        .ensure_superuser("admin@example.com", "kettle staple zebra")
        .await
        .unwrap();
    let c = Client::new(s.addr);
    let admin = c
        .access_token("admin@example.com", "kettle staple zebra")
        .await;
    let token = signed_up(&c, "a@example.com", "alice").await;
    signed_up(&c, "b@example.com", "bob").await;

    // The owner renames itself (the current password proves it, as for any
    // change; a fresh login would too); the old name stops logging in.
    let r = patch(
        &c,
        "/users/me",
        &token,
        json!({"current_password": PASSWORD, "username": "Alicia"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["username"], "alicia");
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_problem(
        &login_as(&c, "alice", PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(login_as(&c, "ALICIA", PASSWORD).await.status, 200);
    let taken = patch(
        &c,
        "/users/me",
        &token,
        json!({"current_password": PASSWORD, "username": "BOB"}),
    )
    .await;
    assert_problem(&taken, 409, "USERNAME_EXISTS");

    // The freed name is anyone's again.
    signed_up(&c, "c@example.com", "alice").await;

    // An administrator renames and clears it.
    let path = format!("/users/{id}");
    let r = patch(&c, &path, &admin, json!({"username": "Carol"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["username"], "carol");
    assert_eq!(login_as(&c, "carol", PASSWORD).await.status, 200);
    let taken = patch(&c, &path, &admin, json!({"username": "bob"})).await;
    assert_problem(&taken, 409, "USERNAME_EXISTS");
    let bad = patch(&c, &path, &admin, json!({"username": "x@y"})).await;
    assert_problem(&bad, 422, "VALIDATION_ERROR");
    assert_eq!(bad.json()["errors"][0]["field"], "username");
    let r = patch(&c, &path, &admin, json!({"username": null})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert!(r.json().get("username").is_none(), "{:?}", r.json());
    assert_problem(
        &login_as(&c, "carol", PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    );
}

/// An app's profile type from before usernames: it kept its own `username`.
#[derive(serde::Serialize, serde::Deserialize)]
struct LegacyProfile {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

#[tokio::test]
async fn a_username_kept_in_the_profile_never_shows_as_the_users_username() {
    let off = server_with(|b| b.with_profile::<LegacyProfile>()).await;
    let c = Client::new(off.addr);
    let r = register(&c, "a@example.com", "profile-name").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert!(r.json().get("username").is_none(), "{:?}", r.json());

    // The app turns usernames on, over the same store.
    let users = common::builder(off.store.clone(), off.outbox.clone())
        .with_profile::<LegacyProfile>()
        .with_usernames(Usernames::Optional)
        .build()
        .unwrap();
    let c = Client::new(common::serve(users).await);
    let token = c.access_token("a@example.com", PASSWORD).await;
    let me = c.get("/users/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(me.json().get("username").is_none(), "{:?}", me.json());
    // The stale key does not make later profile changes a 422.
    let r = patch(&c, "/users/me", &token, json!({"display_name": "Ann"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let r = patch(&c, "/users/me", &token, json!({"username": "alice"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    // One `username` key, the real one.
    let body = String::from_utf8(r.body.to_vec()).unwrap();
    assert_eq!(body.matches("\"username\"").count(), 1, "{body}");
    assert_eq!(r.json()["username"], "alice");
    assert_eq!(r.json()["display_name"], "Ann");
}

#[tokio::test]
async fn guesses_by_email_and_by_username_at_once_share_the_accounts_ceiling() {
    // One client, so the pair lets through as many as the account does:
    // what holds the burst back is the account's line, which must be one
    // line whichever identifier is typed.
    let policy = LockoutPolicy {
        threshold: 3,
        account_threshold: 3,
        ..LockoutPolicy::default()
    };
    let s = server_with(|b| b.with_usernames(Usernames::Optional).with_lockout(policy)).await;
    let c = Client::new(s.addr);
    register(&c, "a@example.com", "alice").await;
    let guesses: Vec<_> = ["a@example.com", "alice"]
        .into_iter()
        .cycle()
        .take(10)
        .map(|login| {
            let c = Client::new(s.addr);
            tokio::spawn(async move { login_as(&c, login, "incorrect horse").await })
        })
        .collect();
    let mut checked = 0;
    for guess in guesses {
        let r = guess.await.unwrap();
        match r.status.as_u16() {
            401 => checked += 1,
            429 => {}
            other => panic!("unexpected {other}: {:?}", r.json()),
        }
    }
    assert_eq!(checked, 3, "password checks past the account's ceiling");
}
