//! Login, refresh, logout, /me and the CurrentUser checks over real HTTP.

use http::{Method, StatusCode};
use serde_json::json;
use tower_users::store::{Store, UserUpdate};

use crate::common::{self, Client, assert_problem, server};

#[tokio::test]
async fn login_returns_the_token_response() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("a@example.com", "correct horse battery").await;
    let r = c.login("A@Example.com", "correct horse battery").await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    assert_eq!(j["token_type"], "bearer");
    assert_eq!(j["expires_in"], 900);
    assert!(j["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(j["refresh_token"].as_str().unwrap().len() >= 43);
    assert_eq!(j["user"]["email"], "a@example.com");
    assert!(j["user"].get("password_hash").is_none());
}

#[tokio::test]
async fn login_accepts_the_oauth2_form() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("form@example.com", "correct horse battery")
        .await;
    let req = http::Request::post(format!("http://{}/users/login", s.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::from(
            "grant_type=password&username=form%40example.com&password=correct+horse+battery",
        ))
        .unwrap();
    let r = common::send(s.addr, req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["user"]["email"], "form@example.com");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_the_same_401() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("a@example.com", "correct horse battery").await;
    let wrong = c.login("a@example.com", "incorrect horse").await;
    let unknown = c.login("nobody@example.com", "incorrect horse").await;
    let malformed = c.login("not an email", "incorrect horse").await;
    assert_problem(&wrong, 401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, malformed.body);
    let missing = c
        .post_json("/users/login", json!({"email": "a@example.com"}))
        .await;
    assert_problem(&missing, 422, "VALIDATION_ERROR");
}

#[tokio::test]
async fn an_inactive_user_cannot_log_in_or_authenticate() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (access, refresh) = c.signed_up("in@example.com", "correct horse battery").await;
    let mut user = s
        .store
        .user_by_email(&tower_users::Email::parse("in@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    let before = user.clone();
    user.is_active = false;
    s.store
        .update_user(UserUpdate::new(&before, user))
        .await
        .unwrap();
    assert_problem(
        &c.login("in@example.com", "correct horse battery").await,
        403,
        "INACTIVE_USER",
    );
    // A wrong password still says only "invalid credentials".
    assert_problem(
        &c.login("in@example.com", "wrong password!").await,
        401,
        "INVALID_CREDENTIALS",
    );
    assert_problem(
        &c.get("/users/me", Some(&access)).await,
        403,
        "INACTIVE_USER",
    );
    // A cookie session has no refresh token to try.
    if !crate::common::cookie_mode() {
        let r = c
            .post_json("/users/refresh", json!({"refresh_token": refresh}))
            .await;
        assert_problem(&r, 403, "INACTIVE_USER");
    }
}

#[tokio::test]
async fn me_returns_the_caller_and_hello_sees_current_user() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (access, _) = c.signed_up("me@example.com", "correct horse battery").await;
    let r = c.get("/users/me", Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["email"], "me@example.com");
    let hello = c.get("/hello", Some(&access)).await;
    assert_eq!(hello.status, StatusCode::OK);
    assert_eq!(&hello.body[..], b"hello me@example.com");
}

#[tokio::test]
async fn me_refuses_missing_garbage_and_forged_tokens() {
    crate::common::bearer_only!("forges the JWT's signature and expects WWW-Authenticate: Bearer");
    let s = server().await;
    let c = Client::new(s.addr);
    let (access, _) = c.signed_up("f@example.com", "correct horse battery").await;
    let forged = {
        let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
        parts[2] = parts[2].chars().rev().collect();
        parts.join(".")
    };
    for token in [None, Some("garbage"), Some("a.b.c"), Some(forged.as_str())] {
        let r = c.get("/users/me", token).await;
        assert_problem(&r, 401, "UNAUTHORIZED");
        assert_eq!(r.headers["www-authenticate"], "Bearer");
    }
}

#[tokio::test]
async fn a_password_set_in_one_unicode_form_logs_in_typed_in_another() {
    let s = server().await;
    let c = Client::new(s.addr);
    let nfc = "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e";
    let nfd = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e";
    c.signed_up("nfc@example.com", nfc).await;
    let r = c.login("nfc@example.com", nfd).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    c.signed_up("nfd@example.com", nfd).await;
    let r = c.login("nfd@example.com", nfc).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    // Fullwidth (an IME's) and plain letters are one password too.
    c.signed_up("wide@example.com", "ｚｅｂｒａ ｓｔａｐｌｅ ｋｅｔｔｌｅ")
        .await;
    let r = c.login("wide@example.com", "zebra staple kettle").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let r = c.login("nfc@example.com", "cafe creme brulee").await;
    assert_problem(&r, 401, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn a_hash_stored_before_normalization_still_logs_in_and_is_replaced() {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
    let s = server().await;
    let c = Client::new(s.addr);
    let nfd = "cafe\u{301} au lait, s'il vous plai\u{302}t";
    let nfc = "caf\u{e9} au lait, s'il vous pla\u{ee}t";
    c.signed_up("old@example.com", nfc).await;
    // What an older version stored: a hash of the form as typed.
    let email = tower_users::Email::parse("old@example.com").unwrap();
    let before = s.store.user_by_email(&email).await.unwrap().unwrap();
    let mut user = before.clone();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default());
    user.password_hash = argon
        .hash_password_with_salt(nfd.as_bytes(), b"an-old-salt-1234")
        .unwrap()
        .to_string();
    s.store
        .update_user(UserUpdate::new(&before, user.clone()))
        .await
        .unwrap();
    // Typed as before, it still works, and the stored hash is replaced by
    // one of the normalized form...
    let r = c.login("old@example.com", nfd).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let after = s.store.user_by_email(&email).await.unwrap().unwrap();
    assert_ne!(after.password_hash, user.password_hash);
    // ...so the other spelling now works as well.
    let r = c.login("old@example.com", nfc).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

#[tokio::test]
async fn responses_with_a_token_or_the_callers_record_are_never_cached() {
    #[track_caller]
    fn assert_no_store(r: &common::Reply, what: &str) {
        assert!(r.status.is_success(), "{what}: {} {:?}", r.status, r.json());
        assert_eq!(
            r.headers.get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{what}"
        );
        assert_eq!(
            r.headers.get("pragma").map(|v| v.to_str().unwrap()),
            Some("no-cache"),
            "{what}"
        );
    }
    let s = server().await;
    let c = Client::new(s.addr);
    let email = "cache@example.com";
    let r = c.register(email, "correct horse battery").await;
    assert_no_store(&r, "register");
    let token = s.outbox.token_for(email).await;
    let r = c.post_json("/users/verify", json!({"token": token})).await;
    assert_no_store(&r, "verify");
    let r = c.login(email, "correct horse battery").await;
    assert_no_store(&r, "login");
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_owned();
    let r = c
        .post_json("/users/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_no_store(&r, "refresh");
    let access = r.json()["access_token"].as_str().unwrap().to_owned();
    let r = c.get("/users/me", Some(&access)).await;
    assert_no_store(&r, "GET /users/me");
    let r = c
        .request(
            Method::PATCH,
            "/users/me",
            Some(&access),
            Some(json!({"current_password": "correct horse battery", "password": "a brand new password"})),
        )
        .await;
    assert_no_store(&r, "PATCH /users/me");
    s.outbox.clear();
    let r = c
        .post_json("/users/password-reset/request", json!({"email": email}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let token = s.outbox.token_for(email).await;
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": token, "password": "yet another new password"}),
        )
        .await;
    assert_no_store(&r, "password reset");
    // A superuser's own record comes back through the admin routes too.
    s.users
        .ensure_superuser("root@example.com", "kettle staple zebra")
        .await
        .unwrap();
    let admin = c.login("root@example.com", "kettle staple zebra").await;
    let admin = admin.json()["access_token"].as_str().unwrap().to_owned();
    let r = c.get("/users?limit=5", Some(&admin)).await;
    assert_no_store(&r, "GET /users");
    let id = c.get("/users/me", Some(&admin)).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c.get(&format!("/users/{id}"), Some(&admin)).await;
    assert_no_store(&r, "GET /users/{id}");
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_session() {
    crate::common::bearer_only!("refresh-token rotation and reuse detection");
    let s = server().await;
    let c = Client::new(s.addr);
    let (access, refresh) = c.signed_up("r@example.com", "correct horse battery").await;
    let r = c
        .post_json("/users/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let j = r.json();
    let access2 = j["access_token"].as_str().unwrap().to_owned();
    let refresh2 = j["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);
    assert_eq!(
        c.get("/users/me", Some(&access2)).await.status,
        StatusCode::OK
    );

    // The spent token comes back: the whole session dies.
    let replay = c
        .post_json("/users/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_problem(&replay, 400, "INVALID_TOKEN");
    let r = c
        .post_json("/users/refresh", json!({"refresh_token": refresh2}))
        .await;
    assert_problem(&r, 400, "INVALID_TOKEN");
    assert_problem(
        &c.get("/users/me", Some(&access2)).await,
        401,
        "UNAUTHORIZED",
    );
    assert_problem(
        &c.get("/users/me", Some(&access)).await,
        401,
        "UNAUTHORIZED",
    );
}

#[tokio::test]
async fn refresh_refuses_unknown_and_malformed_tokens() {
    let s = server().await;
    let c = Client::new(s.addr);
    for body in [
        json!({"refresh_token": "nope"}),
        json!({"refresh_token": ""}),
        json!({"refresh_token": "x".repeat(9000)}),
    ] {
        assert_problem(
            &c.post_json("/users/refresh", body).await,
            400,
            "INVALID_TOKEN",
        );
    }
    assert_problem(
        &c.post_json("/users/refresh", json!({"refresh_token": 5}))
            .await,
        422,
        "VALIDATION_ERROR",
    );
    // An access token is not a refresh token.
    let (access, _) = c.signed_up("x@example.com", "correct horse battery").await;
    let r = c
        .post_json("/users/refresh", json!({"refresh_token": access}))
        .await;
    assert_problem(&r, 400, "INVALID_TOKEN");
}

#[tokio::test]
async fn logout_revokes_the_access_token_at_once_and_only_that_session() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (phone, phone_refresh) = c.signed_up("lo@example.com", "correct horse battery").await;
    let laptop = c
        .access_token("lo@example.com", "correct horse battery")
        .await;
    let r = c
        .request(Method::POST, "/users/logout", Some(&phone), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_problem(&c.get("/users/me", Some(&phone)).await, 401, "UNAUTHORIZED");
    if !crate::common::cookie_mode() {
        let r = c
            .post_json("/users/refresh", json!({"refresh_token": phone_refresh}))
            .await;
        assert_problem(&r, 400, "INVALID_TOKEN");
    }
    assert_eq!(
        c.get("/users/me", Some(&laptop)).await.status,
        StatusCode::OK
    );
    // Logging out twice, or without a token, is a 401.
    let again = c
        .request(Method::POST, "/users/logout", Some(&phone), None)
        .await;
    assert_problem(&again, 401, "UNAUTHORIZED");
    let none = c.request(Method::POST, "/users/logout", None, None).await;
    assert_problem(&none, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_token_of_another_purpose_is_refused_everywhere() {
    crate::common::bearer_only!(
        "about the purpose of JWTs: the access token as a verify or reset token"
    );
    let s = server().await;
    let c = Client::new(s.addr);
    let (access, _) = c.signed_up("p@example.com", "correct horse battery").await;
    let verify = s.outbox.token_for("p@example.com").await;
    c.post_json(
        "/users/password-reset/request",
        json!({"email": "p@example.com"}),
    )
    .await;
    let reset = loop {
        let t = s.outbox.token_for("p@example.com").await;
        if t != verify {
            break t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    // Verify and reset tokens are not access tokens.
    assert_problem(
        &c.get("/users/me", Some(&verify)).await,
        401,
        "UNAUTHORIZED",
    );
    assert_problem(&c.get("/users/me", Some(&reset)).await, 401, "UNAUTHORIZED");
    // Access and reset tokens do not verify; access and verify tokens do not reset.
    for t in [&access, &reset] {
        let r = c.post_json("/users/verify", json!({"token": t})).await;
        assert_problem(&r, 400, "INVALID_TOKEN");
    }
    for t in [&access, &verify] {
        let r = c
            .post_json(
                "/users/password-reset",
                json!({"token": t, "password": "a new long password"}),
            )
            .await;
        assert_problem(&r, 400, "INVALID_TOKEN");
    }
    // Refused attempts spent nothing: both still work for their own purpose.
    let r = c.post_json("/users/verify", json!({"token": verify})).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": reset, "password": "a new long password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let s = server().await;
    let c = Client::new(s.addr);
    assert_problem(&c.get("/users/nope", None).await, 404, "NOT_FOUND");
    assert_problem(&c.get("/users/not-a-uuid", None).await, 404, "NOT_FOUND");
    assert_problem(&c.get("/users/me/extra", None).await, 404, "NOT_FOUND");
    let r = c.get("/users/login", None).await;
    assert_problem(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.headers["allow"], "POST");
    let r = c
        .request(Method::DELETE, "/users/verify/abc", None, None)
        .await;
    assert_problem(&r, 405, "METHOD_NOT_ALLOWED");
}
