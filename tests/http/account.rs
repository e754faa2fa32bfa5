//! PATCH and DELETE /users/me over real HTTP: password and email changes,
//! deletion, the hooks, and custom profile fields.

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_users::store::Store;
use tower_users::{CurrentUser, Email, Error, Hooks, ProfileFields, User};

use crate::common::{Client, assert_problem, cookie_mode, server, server_with};

async fn patch_me(c: &Client, token: &str, body: serde_json::Value) -> crate::common::Reply {
    c.request(Method::PATCH, "/users/me", Some(token), Some(body))
        .await
}

#[tokio::test]
async fn a_password_change_keeps_only_the_calling_session() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (phone, phone_refresh) = c.signed_up("pw@example.com", "correct horse battery").await;
    let laptop = c
        .login("pw@example.com", "correct horse battery")
        .await
        .json();
    let (laptop_access, laptop_refresh) = (
        laptop["access_token"].as_str().unwrap().to_owned(),
        laptop["refresh_token"].as_str().unwrap().to_owned(),
    );
    c.post_json(
        "/users/password-reset/request",
        json!({"email": "pw@example.com"}),
    )
    .await;
    let reset = s.outbox.token_for("pw@example.com").await;

    let r = patch_me(
        &c,
        &phone,
        json!({"current_password": "correct horse battery", "password": "a fresh new password"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());

    // The calling session lives on, access and refresh (a cookie session
    // has no refresh token: in cookie mode its cookie is what lives on).
    assert_eq!(
        c.get("/users/me", Some(&phone)).await.status,
        StatusCode::OK
    );
    if !cookie_mode() {
        let r = c
            .post_json("/users/refresh", json!({"refresh_token": phone_refresh}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // Every other session and outstanding token is dead.
    assert_problem(
        &c.get("/users/me", Some(&laptop_access)).await,
        401,
        "UNAUTHORIZED",
    );
    let r = c
        .post_json("/users/refresh", json!({"refresh_token": laptop_refresh}))
        .await;
    assert_problem(&r, 400, "INVALID_TOKEN");
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": reset, "password": "another new one!"}),
        )
        .await;
    assert_problem(&r, 400, "INVALID_TOKEN");
    assert_eq!(
        c.login("pw@example.com", "a fresh new password")
            .await
            .status,
        StatusCode::OK
    );
    assert_problem(
        &c.login("pw@example.com", "correct horse battery").await,
        401,
        "INVALID_CREDENTIALS",
    );
}

#[tokio::test]
async fn changes_need_the_right_current_password_and_a_good_new_one() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, _) = c
        .signed_up("cur@example.com", "correct horse battery")
        .await;
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "nope nope", "password": "a fresh new password"}),
    )
    .await;
    assert_problem(&r, 401, "INVALID_CREDENTIALS");
    // Without current_password, a session that just logged in proves the
    // password itself: tests/http/reauth.rs covers that, and the 403 once
    // the re-authentication window has passed.
    for weak in ["short", "password1", "cur@example.org"] {
        let r = patch_me(
            &c,
            &token,
            json!({"current_password": "correct horse battery", "password": weak}),
        )
        .await;
        assert_problem(&r, 422, "VALIDATION_ERROR");
    }
    assert_problem(
        &patch_me(&c, "garbage", json!({})).await,
        401,
        "UNAUTHORIZED",
    );
    // Nothing changed.
    assert_eq!(
        c.login("cur@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_email_change_applies_only_when_the_new_address_confirms_it() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, _) = c
        .signed_up("old@example.com", "correct horse battery")
        .await;
    let before = s.outbox.count_to("old@example.com");
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "email": "New@Example.com"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(
        r.json()["email"],
        "old@example.com",
        "the switch waits for the link"
    );

    let confirm = s.outbox.token_for("new@example.com").await;
    // The old address is told.
    for _ in 0..200 {
        if s.outbox.count_to("old@example.com") > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(s.outbox.count_to("old@example.com"), before + 1);
    // Never confirmed: the old email stays in place.
    assert_eq!(
        c.login("old@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::OK
    );
    assert_problem(
        &c.login("new@example.com", "correct horse battery").await,
        401,
        "INVALID_CREDENTIALS",
    );

    let r = c
        .post_json("/users/verify", json!({"token": confirm}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["email"], "new@example.com");
    assert_eq!(r.json()["is_verified"], true);
    assert_eq!(
        c.login("new@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::OK
    );
    assert_problem(
        &c.login("old@example.com", "correct horse battery").await,
        401,
        "INVALID_CREDENTIALS",
    );
    // Single use.
    let r = c
        .post_json("/users/verify", json!({"token": confirm}))
        .await;
    assert_problem(&r, 400, "INVALID_TOKEN");
}

#[tokio::test]
async fn only_the_latest_requested_address_can_be_confirmed() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, _) = c.signed_up("me@example.com", "correct horse battery").await;
    for email in ["first@example.com", "second@example.com"] {
        let r = patch_me(
            &c,
            &token,
            json!({"current_password": "correct horse battery", "email": email}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let first = s.outbox.token_for("first@example.com").await;
    let second = s.outbox.token_for("second@example.com").await;
    assert_problem(
        &c.post_json("/users/verify", json!({"token": first})).await,
        400,
        "INVALID_TOKEN",
    );
    let r = c.post_json("/users/verify", json!({"token": second})).await;
    assert_eq!(r.json()["email"], "second@example.com");
}

#[tokio::test]
async fn an_email_change_to_a_taken_address_is_409_now_or_at_confirmation() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("taken@example.com", "correct horse battery")
        .await;
    let (token, _) = c
        .signed_up("mover@example.com", "correct horse battery")
        .await;
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "email": "TAKEN@example.com"}),
    )
    .await;
    assert_problem(&r, 409, "USER_EXISTS");
    // Free when asked, taken by the time the link is used.
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "email": "later@example.com"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let confirm = s.outbox.token_for("later@example.com").await;
    c.register("later@example.com", "correct horse battery")
        .await;
    assert_problem(
        &c.post_json("/users/verify", json!({"token": confirm}))
            .await,
        409,
        "USER_EXISTS",
    );
    assert_eq!(
        c.get("/users/me", Some(&token)).await.json()["email"],
        "mover@example.com"
    );
}

#[tokio::test]
async fn an_email_change_to_another_spelling_of_a_taken_mailbox_is_409() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("carol@xn--bcher-kva.example", "correct horse battery")
        .await;
    let (token, _) = c
        .signed_up("mover@example.com", "correct horse battery")
        .await;
    for email in ["Carol@BÜCHER.example", "ｃａｒｏｌ@bücher.example"] {
        let r = patch_me(
            &c,
            &token,
            json!({"current_password": "correct horse battery", "email": email}),
        )
        .await;
        assert_problem(&r, 409, "USER_EXISTS");
    }
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "email": "mo\u{200b}ver@example.org"}),
    )
    .await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
    // A new address is asked for, and mailed, in its normalized form.
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "email": "Mover@ＢÜCHER.example"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    s.outbox.token_for("mover@xn--bcher-kva.example").await;
}

#[tokio::test]
async fn deleting_the_account_needs_the_password_and_removes_everything() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, refresh) = c
        .signed_up("gone@example.com", "correct horse battery")
        .await;
    let r = c
        .request(
            Method::DELETE,
            "/users/me",
            Some(&token),
            Some(json!({"current_password": "wrong one!"})),
        )
        .await;
    assert_problem(&r, 401, "INVALID_CREDENTIALS");
    let r = c
        .request(
            Method::DELETE,
            "/users/me",
            Some(&token),
            Some(json!({"current_password": "correct horse battery"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_problem(&c.get("/users/me", Some(&token)).await, 401, "UNAUTHORIZED");
    if !cookie_mode() {
        assert_problem(
            &c.post_json("/users/refresh", json!({"refresh_token": refresh}))
                .await,
            400,
            "INVALID_TOKEN",
        );
    }
    assert_problem(
        &c.login("gone@example.com", "correct horse battery").await,
        401,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(
        c.register("gone@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::CREATED
    );
}

/// The app's own rules: no "tower" in passwords, and no deleting "keep@…".
struct AppRules;

impl Hooks for AppRules {
    async fn validate_password(&self, password: &str, _: &Email) -> Result<(), String> {
        if password.contains("tower") {
            Err("passwords may not mention our product".to_owned())
        } else {
            Ok(())
        }
    }

    /// Reads the fields as the app's type, as an app would.
    async fn validate_profile(&self, fields: &ProfileFields) -> Result<(), Error> {
        let profile: AppProfile = fields.parse()?;
        let name = profile.display_name.trim();
        if name.is_empty() || name.chars().count() > 40 {
            return Err(Error::field("display_name", "1 to 40 characters"));
        }
        Ok(())
    }

    async fn before_delete(&self, user: &User) -> Result<(), Error> {
        if user.email.as_str().starts_with("keep@") {
            Err(Error::Forbidden)
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppProfile {
    display_name: String,
    /// Optional, so the stored profile holds it even when a request left
    /// it out: what is stored is the type serialized again.
    #[serde(default)]
    languages: Vec<String>,
}

#[tokio::test]
async fn hooks_validate_passwords_and_can_veto_deletion() {
    let s = server_with(|b| b.with_hooks(AppRules).with_profile::<AppProfile>()).await;
    let c = Client::new(s.addr);
    let r = c
        .post_json("/users/register", json!({"email": "h@example.com", "password": "i love tower users", "display_name": "H"}))
        .await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
    assert_eq!(r.json()["errors"][0]["field"], "password");
    let r = c
        .post_json("/users/register", json!({"email": "keep@example.com", "password": "correct horse battery", "display_name": "K"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let token = c
        .access_token("keep@example.com", "correct horse battery")
        .await;
    let r = c
        .request(
            Method::DELETE,
            "/users/me",
            Some(&token),
            Some(json!({"current_password": "correct horse battery"})),
        )
        .await;
    assert_problem(&r, 403, "FORBIDDEN");
    assert_eq!(
        c.get("/users/me", Some(&token)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn custom_profile_fields_are_validated_stored_and_returned() {
    let s = server_with(|b| b.with_hooks(AppRules).with_profile::<AppProfile>()).await;
    let c = Client::new(s.addr);
    let r = c
        .post_json("/users/register", json!({"email": "p@example.com", "password": "correct horse battery", "display_name": "Pat"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["display_name"], "Pat");
    // Missing, mistyped, unknown, reserved, or refused by the hook: 422.
    for (body, field) in [
        (
            json!({"email": "q@example.com", "password": "correct horse battery"}),
            "display_name",
        ),
        (
            json!({"email": "q@example.com", "password": "correct horse battery", "display_name": 5}),
            "display_name",
        ),
        (
            json!({"email": "q@example.com", "password": "correct horse battery", "display_name": "Q", "age": 3}),
            "age",
        ),
        (
            json!({"email": "q@example.com", "password": "correct horse battery", "display_name": "Q", "is_superuser": true}),
            "is_superuser",
        ),
        (
            json!({"email": "q@example.com", "password": "correct horse battery", "display_name": "  "}),
            "display_name",
        ),
    ] {
        let r = c.post_json("/users/register", body.clone()).await;
        assert_problem(&r, 422, "VALIDATION_ERROR");
        assert_eq!(r.json()["errors"][0]["field"], field, "{body}");
    }
    let login = c
        .login("p@example.com", "correct horse battery")
        .await
        .json();
    assert_eq!(login["user"]["display_name"], "Pat");
    let token = c
        .access_token("p@example.com", "correct horse battery")
        .await;
    assert_eq!(
        c.get("/users/me", Some(&token)).await.json()["display_name"],
        "Pat"
    );
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "display_name": "Patricia"}),
    )
    .await;
    assert_eq!(r.json()["display_name"], "Patricia");
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "display_name": ""}),
    )
    .await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
    assert_eq!(
        c.get("/users/me", Some(&token)).await.json()["display_name"],
        "Patricia"
    );
}

#[tokio::test]
async fn a_password_and_email_change_together_leave_a_working_link() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, _) = c
        .signed_up("both@example.com", "correct horse battery")
        .await;
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "password": "a fresh new password", "email": "both2@example.com"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let confirm = s.outbox.token_for("both2@example.com").await;
    let r = c
        .post_json("/users/verify", json!({"token": confirm}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(
        c.login("both2@example.com", "a fresh new password")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_email_change_voids_reset_links_sent_to_the_old_address() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, _) = c
        .signed_up("mine@example.com", "correct horse battery")
        .await;
    // Someone with access to the old mailbox asks for a reset link...
    c.post_json(
        "/users/password-reset/request",
        json!({"email": "mine@example.com"}),
    )
    .await;
    let reset = s.outbox.token_for("mine@example.com").await;
    // ...then the owner moves to a new address.
    patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "email": "moved@example.com"}),
    )
    .await;
    let confirm = s.outbox.token_for("moved@example.com").await;
    assert_eq!(
        c.post_json("/users/verify", json!({"token": confirm}))
            .await
            .status,
        StatusCode::OK
    );
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": reset, "password": "taken over now!"}),
        )
        .await;
    assert_problem(&r, 400, "INVALID_TOKEN");
}

/// The app's own route: the typed profile of the caller, through
/// `CurrentUser`'s deref to `User`.
async fn my_profile(user: CurrentUser) -> Result<axum::Json<AppProfile>, Error> {
    Ok(axum::Json(user.profile.parse()?))
}

/// The app's router: `/users` and `/profile`, served on 127.0.0.1:0.
async fn serve_app(users: tower_users::Users) -> std::net::SocketAddr {
    let app = axum::Router::new()
        .route("/profile", axum::routing::get(my_profile))
        .nest_service(
            "/users",
            tower_users::UsersService::new(users.clone()).with_prefix(""),
        )
        .with_state(users);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn a_typed_profile_round_trips_to_the_apps_handler() {
    let s = server_with(|b| b.with_hooks(AppRules).with_profile::<AppProfile>()).await;
    let c = Client::new(serve_app(s.users.clone()).await);
    let r = c
        .post_json("/users/register", json!({"email": "t@example.com", "password": "correct horse battery", "display_name": "Tam", "languages": ["gd", "en"]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let token = c
        .access_token("t@example.com", "correct horse battery")
        .await;
    let r = c.get("/profile", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(
        r.json(),
        json!({"display_name": "Tam", "languages": ["gd", "en"]})
    );

    // A partial change keeps the other fields, and reads back typed too.
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "display_name": "Tamsin"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let email = Email::parse("t@example.com").unwrap();
    let stored = s.store.user_by_email(&email).await.unwrap().unwrap();
    assert_eq!(
        stored.profile.parse::<AppProfile>().unwrap(),
        AppProfile {
            display_name: "Tamsin".into(),
            languages: vec!["gd".into(), "en".into()],
        }
    );
    assert_eq!(
        c.get("/profile", Some(&token)).await.json()["display_name"],
        "Tamsin"
    );
}

#[tokio::test]
async fn a_default_filled_in_by_the_type_is_stored_and_read_back() {
    let s = server_with(|b| b.with_profile::<AppProfile>()).await;
    let c = Client::new(serve_app(s.users.clone()).await);
    let r = c
        .post_json("/users/register", json!({"email": "d@example.com", "password": "correct horse battery", "display_name": "Dee"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    // The record and the typed read agree: the default is part of what is stored.
    assert_eq!(r.json()["languages"], json!([]));
    let token = c
        .access_token("d@example.com", "correct horse battery")
        .await;
    assert_eq!(
        c.get("/profile", Some(&token)).await.json(),
        json!({"display_name": "Dee", "languages": []})
    );
}

/// Hooks that read the typed profile of the user they are given.
#[derive(Clone, Default)]
struct TypedNames(std::sync::Arc<std::sync::Mutex<Vec<(&'static str, String)>>>);

impl TypedNames {
    fn seen(&self, hook: &'static str, user: &User) {
        let profile: AppProfile = user.profile.parse().unwrap();
        self.0.lock().unwrap().push((hook, profile.display_name));
    }
}

impl Hooks for TypedNames {
    async fn after_register(&self, user: &User) {
        self.seen("after_register", user);
    }
    async fn after_update(&self, _before: &User, after: &User) {
        self.seen("after_update", after);
    }
}

#[tokio::test]
async fn hooks_read_the_typed_profile_of_the_user() {
    let names = TypedNames::default();
    let hooks = names.clone();
    let s = server_with(|b| b.with_hooks(hooks).with_profile::<AppProfile>()).await;
    let c = Client::new(s.addr);
    let r = c
        .post_json("/users/register", json!({"email": "n@example.com", "password": "correct horse battery", "display_name": "Nia"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let token = c
        .access_token("n@example.com", "correct horse battery")
        .await;
    let r = patch_me(
        &c,
        &token,
        json!({"current_password": "correct horse battery", "display_name": "Nia B"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(
        *names.0.lock().unwrap(),
        vec![
            ("after_register", "Nia".to_owned()),
            ("after_update", "Nia B".to_owned()),
        ]
    );
}
