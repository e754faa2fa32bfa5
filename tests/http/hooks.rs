//! The `after_*` hooks over real HTTP: each runs once per operation, with
//! the right user, after the change is stored. Every hook call reads the
//! store from inside the hook and writes down what it failed to see.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;
use time::OffsetDateTime;
use tower_users::mail::EmailKind;
use tower_users::store::Store;
use tower_users::{Email, Hooks, PasswordParams, RedbStore, User, Users};

use crate::common::{Client, Outbox, Reply, builder, serve};

const PASSWORD: &str = "correct horse battery";

/// One hook call: its name, the users it was given, the token (if any), and
/// what the hook found missing from the store (`None`: all was there).
#[derive(Debug, Clone)]
struct Call {
    hook: &'static str,
    users: Vec<User>,
    token: Option<String>,
    missing: Option<String>,
}

#[derive(Clone)]
struct Recorder {
    store: RedbStore,
    outbox: Outbox,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Recorder {
    fn push(
        &self,
        hook: &'static str,
        users: &[&User],
        token: Option<&str>,
        missing: Option<String>,
    ) {
        self.calls.lock().unwrap().push(Call {
            hook,
            users: users.iter().map(|u| (*u).clone()).collect(),
            token: token.map(str::to_owned),
            missing,
        });
    }

    /// `None` if the store holds exactly `user`.
    async fn stored_as(&self, user: &User) -> Option<String> {
        match self.store.user(user.id).await.unwrap() {
            Some(stored) if stored == *user => None,
            Some(stored) => Some(format!("stored {stored:?}, hook got {user:?}")),
            None => Some("user not stored".to_owned()),
        }
    }

    /// `None` if an email carrying `token` is queued or already sent.
    async fn mailed(&self, token: &str) -> Option<String> {
        let later = OffsetDateTime::now_utc() + time::Duration::days(1);
        // Queued first, then sent: an email leaves the queue only after the
        // mailer took it, so one of the two reads finds it.
        let queued = self.store.due_mail(later, 1000).await.unwrap();
        let found = queued.iter().any(|m| m.email.link.ends_with(token))
            || self.outbox.sent().iter().any(|e| e.link.ends_with(token));
        (!found).then(|| "no email carries the token".to_owned())
    }

    async fn token_hook(&self, hook: &'static str, user: &User, token: &str) {
        let missing = match self.stored_as(user).await {
            Some(m) => Some(m),
            None => self.mailed(token).await,
        };
        self.push(hook, &[user], Some(token), missing);
    }

    async fn user_hook(&self, hook: &'static str, user: &User) {
        let missing = self.stored_as(user).await;
        self.push(hook, &[user], None, missing);
    }
}

impl Hooks for Recorder {
    async fn after_register(&self, user: &User) {
        self.user_hook("after_register", user).await
    }
    async fn after_login(&self, user: &User) {
        self.user_hook("after_login", user).await
    }
    async fn after_request_verify(&self, user: &User, token: &str) {
        self.token_hook("after_request_verify", user, token).await
    }
    async fn after_verify(&self, user: &User) {
        self.user_hook("after_verify", user).await
    }
    async fn after_forgot_password(&self, user: &User, token: &str) {
        self.token_hook("after_forgot_password", user, token).await
    }
    async fn after_reset_password(&self, user: &User) {
        self.user_hook("after_reset_password", user).await
    }
    async fn after_update(&self, before: &User, after: &User) {
        let missing = self.stored_as(after).await;
        self.push("after_update", &[before, after], None, missing);
    }
    async fn after_delete(&self, user: &User) {
        let by_id = self.store.user(user.id).await.unwrap();
        let by_email = self.store.user_by_email(&user.email).await.unwrap();
        let missing =
            (by_id.is_some() || by_email.is_some()).then(|| "the user is still stored".into());
        self.push("after_delete", &[user], None, missing);
    }
}

struct App {
    c: Client,
    users: Users,
    store: RedbStore,
    outbox: Outbox,
    calls: Arc<Mutex<Vec<Call>>>,
    _dir: tempfile::TempDir,
}

impl App {
    async fn new() -> App {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("hooks.redb")).unwrap();
        App::on(dir, store).await
    }

    async fn on(dir: tempfile::TempDir, store: RedbStore) -> App {
        let outbox = Outbox::default();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder {
            store: store.clone(),
            outbox: outbox.clone(),
            calls: calls.clone(),
        };
        let users = builder(store.clone(), outbox.clone())
            .with_hooks(recorder)
            .build()
            .unwrap();
        App {
            c: Client::new(serve(users.clone()).await),
            users,
            store,
            outbox,
            calls,
            _dir: dir,
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The hook calls since the last `take`, after waiting (up to 5 s) for
    /// at least `n` of them: some hooks run in the background.
    async fn take(&self, n: usize) -> Vec<Call> {
        for _ in 0..500 {
            if self.calls.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    async fn stored(&self, email: &str) -> User {
        let email = Email::parse(email).unwrap();
        self.store.user_by_email(&email).await.unwrap().unwrap()
    }

    async fn login(&self, email: &str, password: &str) -> String {
        self.c.access_token(email, password).await
    }

    async fn token_in(&self, to: &str, kind: EmailKind) -> String {
        let email = self.outbox.wait_for(to, kind).await;
        email.link.split_once("#token=").unwrap().1.to_owned()
    }
}

/// Asserts `calls` are exactly `hooks`, in order, each about `email` and
/// each having seen its change in the store.
#[track_caller]
fn assert_calls(calls: &[Call], hooks: &[&str], email: &str) {
    let names: Vec<_> = calls.iter().map(|c| c.hook).collect();
    assert_eq!(names, hooks, "{calls:#?}");
    for call in calls {
        assert_eq!(
            call.missing, None,
            "{} ran before the change was stored",
            call.hook
        );
        for user in &call.users {
            assert_eq!(user.email.as_str(), email, "{} got another user", call.hook);
        }
    }
}

#[track_caller]
fn accepted(r: &Reply) {
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json());
}

#[tokio::test]
async fn registration_and_verification_hooks_run_once_after_the_change() {
    let a = App::new().await;
    let r = a.c.register("a@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let calls = a.take(2).await;
    assert_calls(
        &calls,
        &["after_register", "after_request_verify"],
        "a@example.com",
    );
    assert_eq!(calls[0].users[0], a.stored("a@example.com").await);
    let first = a.token_in("a@example.com", EmailKind::Verify).await;
    assert_eq!(calls[1].token.as_deref(), Some(first.as_str()));

    // A request for an unknown address runs no hook; a real one does, in
    // the background, with the token that was mailed.
    accepted(
        &a.c.post_json(
            "/users/verify/request",
            json!({"email": "ghost@example.com"}),
        )
        .await,
    );
    accepted(
        &a.c.post_json("/users/verify/request", json!({"email": "a@example.com"}))
            .await,
    );
    let calls = a.take(1).await;
    assert_calls(&calls, &["after_request_verify"], "a@example.com");
    let token = calls[0].token.clone().unwrap();
    assert_ne!(token, first);
    crate::common::drained(&a.users).await;
    assert!(a.outbox.sent().iter().any(|e| e.link.ends_with(&token)));

    let r =
        a.c.post_json("/users/verify", json!({"token": token}))
            .await;
    assert_eq!(r.status, StatusCode::OK);
    let calls = a.take(1).await;
    assert_calls(&calls, &["after_verify"], "a@example.com");
    assert!(calls[0].users[0].is_verified);

    // Refused operations run no hook.
    let r =
        a.c.post_json("/users/verify", json!({"token": token}))
            .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.c.register("a@example.com", PASSWORD).await.status,
        StatusCode::CONFLICT
    );
    // Made after the refusals, so their hooks would have landed before it.
    a.login("a@example.com", PASSWORD).await;
    assert_calls(&a.take(1).await, &["after_login"], "a@example.com");
}

#[tokio::test]
async fn the_login_hook_sees_the_rehashed_password_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("hooks.redb")).unwrap();
    // Registered under weaker argon2 settings: the next login rehashes.
    let weak = builder(store.clone(), Outbox::default())
        .with_password_params(PasswordParams {
            m_cost: 8 * 1024,
            t_cost: 1,
            p_cost: 1,
        })
        .with_verify_on_register(false)
        .build()
        .unwrap();
    let old_hash = weak
        .register("a@example.com", PASSWORD)
        .await
        .unwrap()
        .password_hash;
    weak.shutdown().await;
    let a = App::on(dir, store).await;

    let r = a.c.login("a@example.com", "not the password").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    a.login("a@example.com", PASSWORD).await;
    let calls = a.take(1).await;
    assert_calls(&calls, &["after_login"], "a@example.com");
    assert_ne!(
        calls[0].users[0].password_hash, old_hash,
        "no rehash happened"
    );
    assert!(a.calls().is_empty());
}

#[tokio::test]
async fn password_reset_hooks_run_once_after_the_change() {
    let a = App::new().await;
    a.c.register("a@example.com", PASSWORD).await;
    a.take(2).await;
    let before = a.stored("a@example.com").await;

    accepted(
        &a.c.post_json(
            "/users/password-reset/request",
            json!({"email": "ghost@example.com"}),
        )
        .await,
    );
    accepted(
        &a.c.post_json(
            "/users/password-reset/request",
            json!({"email": "a@example.com"}),
        )
        .await,
    );
    let calls = a.take(1).await;
    assert_calls(&calls, &["after_forgot_password"], "a@example.com");
    let token = a.token_in("a@example.com", EmailKind::PasswordReset).await;
    assert_eq!(calls[0].token.as_deref(), Some(token.as_str()));

    let weak = json!({"token": token, "password": "short"});
    assert_eq!(
        a.c.post_json("/users/password-reset", weak)
            .await
            .status
            .as_u16(),
        422
    );
    let body = json!({"token": token, "password": "a brand new password"});
    assert_eq!(
        a.c.post_json("/users/password-reset", body).await.status,
        StatusCode::OK
    );
    let calls = a.take(1).await;
    assert_calls(&calls, &["after_reset_password"], "a@example.com");
    let after = &calls[0].users[0];
    assert_eq!(after.password_version, before.password_version + 1);
    assert_ne!(after.password_hash, before.password_hash);
    a.login("a@example.com", "a brand new password").await;
    assert_calls(&a.take(1).await, &["after_login"], "a@example.com");
}

#[tokio::test]
async fn self_service_changes_and_deletion_run_their_hooks_once() {
    let a = App::new().await;
    a.c.register("a@example.com", PASSWORD).await;
    let token = a.login("a@example.com", PASSWORD).await;
    a.take(3).await;

    let patch = |body| {
        a.c.request(Method::PATCH, "/users/me", Some(&token), Some(body))
    };
    let r = patch(json!({"current_password": PASSWORD, "password": "another good password"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let calls = a.take(1).await;
    assert_calls(&calls, &["after_update"], "a@example.com");
    let (before, after) = (&calls[0].users[0], &calls[0].users[1]);
    assert_eq!(after.password_version, before.password_version + 1);

    let r =
        patch(json!({"current_password": "another good password", "email": "b@example.com"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let calls = a.take(1).await;
    assert_calls(&calls, &["after_update"], "a@example.com");
    assert_eq!(calls[0].users[0].pending_email, None);
    assert_eq!(
        calls[0].users[1].pending_email,
        Some(Email::parse("b@example.com").unwrap())
    );

    // Confirming the new address is an update, not a verification.
    let confirm = a.token_in("b@example.com", EmailKind::EmailChange).await;
    let r =
        a.c.post_json("/users/verify", json!({"token": confirm}))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let calls = a.take(1).await;
    let names: Vec<_> = calls.iter().map(|c| c.hook).collect();
    assert_eq!(names, ["after_update"]);
    assert_eq!(calls[0].missing, None);
    assert_eq!(calls[0].users[0].email.as_str(), "a@example.com");
    assert_eq!(calls[0].users[1].email.as_str(), "b@example.com");

    // A wrong current password changes nothing and runs nothing.
    let r =
        a.c.request(
            Method::DELETE,
            "/users/me",
            Some(&token),
            Some(json!({"current_password": "wrong one!"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r =
        a.c.request(
            Method::DELETE,
            "/users/me",
            Some(&token),
            Some(json!({"current_password": "another good password"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    assert_calls(&a.take(1).await, &["after_delete"], "b@example.com");
}

#[tokio::test]
async fn admin_changes_and_deletion_run_their_hooks_once() {
    let a = App::new().await;
    a.users
        .ensure_superuser("root@example.com", "kettle staple zebra")
        .await
        .unwrap();
    let root = a.login("root@example.com", "kettle staple zebra").await;
    a.c.register("a@example.com", PASSWORD).await;
    let id = a.stored("a@example.com").await.id;
    a.take(3).await;

    let path = format!("/users/{id}");
    let r =
        a.c.request(
            Method::PATCH,
            &path,
            Some(&root),
            Some(json!({"is_verified": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let calls = a.take(1).await;
    assert_calls(&calls, &["after_update"], "a@example.com");
    assert!(!calls[0].users[0].is_verified && calls[0].users[1].is_verified);

    let r = a.c.request(Method::DELETE, &path, Some(&root), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    assert_calls(&a.take(1).await, &["after_delete"], "a@example.com");
    // Gone: a second delete is refused and runs nothing.
    let r = a.c.request(Method::DELETE, &path, Some(&root), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    a.login("root@example.com", "kettle staple zebra").await;
    assert_calls(&a.take(1).await, &["after_login"], "root@example.com");
}
