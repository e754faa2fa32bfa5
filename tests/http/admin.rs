//! The admin routes over real HTTP: superusers only.

use http::{Method, StatusCode};
use serde_json::json;

use crate::common::{Client, TestServer, assert_problem, server};

async fn admin(s: &TestServer, c: &Client) -> String {
    s.users
        .ensure_superuser("admin@example.com", "kettle staple zebra")
        .await
        .unwrap();
    c.access_token("admin@example.com", "kettle staple zebra")
        .await
}

async fn id_of(c: &Client, token: &str) -> String {
    c.get("/users/me", Some(token)).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn non_superusers_are_refused_on_every_admin_route() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, _) = c
        .signed_up("plain@example.com", "correct horse battery")
        .await;
    let id = id_of(&c, &token).await;
    let path = format!("/users/{id}");
    let calls = [
        (Method::GET, "/users?limit=5".to_owned(), None),
        (Method::GET, path.clone(), None),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"is_superuser": true})),
        ),
        (Method::DELETE, path.clone(), None),
    ];
    for (method, p, body) in calls {
        let r = c
            .request(method.clone(), &p, Some(&token), body.clone())
            .await;
        assert_problem(&r, 403, "FORBIDDEN");
        let r = c.request(method, &p, None, body).await;
        assert_problem(&r, 401, "UNAUTHORIZED");
    }
    assert_eq!(
        c.get("/users/me", Some(&token)).await.json()["is_superuser"],
        false
    );
}

#[tokio::test]
async fn the_user_list_pages_stably_past_one_page() {
    let s = server().await;
    let c = Client::new(s.addr);
    let token = admin(&s, &c).await;
    for i in 0..7 {
        c.register(&format!("u{i}@example.com"), "correct horse battery")
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cur) => format!("/users?limit=3&cursor={cur}"),
            None => "/users?limit=3".to_owned(),
        };
        let page = c.get(&path, Some(&token)).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.json());
        let j = page.json();
        let users = j["users"].as_array().unwrap();
        assert!(users.len() <= 3);
        for u in users {
            assert!(u.get("password_hash").is_none());
            seen.push(u["email"].as_str().unwrap().to_owned());
        }
        pages += 1;
        if pages == 1 {
            // Added while paging: comes last, nothing is skipped or repeated.
            c.register("late@example.com", "correct horse battery")
                .await;
        }
        match j["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 9, "{seen:?}");
    assert_eq!(seen.first().unwrap(), "admin@example.com");
    assert_eq!(seen.last().unwrap(), "late@example.com");
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), seen.len());
    for bad in [
        "/users?limit=0",
        "/users?limit=501",
        "/users?limit=x",
        "/users?cursor=nope",
    ] {
        assert_problem(&c.get(bad, Some(&token)).await, 422, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn admins_read_change_and_delete_users() {
    let s = server().await;
    let c = Client::new(s.addr);
    let token = admin(&s, &c).await;
    let (user_token, user_refresh) = c
        .signed_up("target@example.com", "correct horse battery")
        .await;
    let id = id_of(&c, &user_token).await;
    let path = format!("/users/{id}");

    let r = c.get(&path, Some(&token)).await;
    assert_eq!(r.json()["email"], "target@example.com");
    assert_problem(
        &c.get("/users/01936f6e-8d2a-7c3b-9e51-6a1f0c2d3e4f", Some(&token))
            .await,
        404,
        "NOT_FOUND",
    );

    let r = c
        .request(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"is_verified": true, "is_superuser": true})),
        )
        .await;
    assert_eq!(
        (
            r.json()["is_verified"].clone(),
            r.json()["is_superuser"].clone()
        ),
        (json!(true), json!(true))
    );
    let r = c
        .request(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"is_active": "no"})),
        )
        .await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
    let r = c
        .request(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"email": "admin@example.com"})),
        )
        .await;
    assert_problem(&r, 409, "USER_EXISTS");

    // Deactivating ends the user's sessions at once.
    let r = c
        .request(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(r.json()["is_active"], false);
    assert_ne!(
        c.get("/users/me", Some(&user_token)).await.status,
        StatusCode::OK
    );
    // A cookie session has no refresh token to try.
    if !crate::common::cookie_mode() {
        let r = c
            .post_json("/users/refresh", json!({"refresh_token": user_refresh}))
            .await;
        assert_problem(&r, 400, "INVALID_TOKEN");
    }
    assert_problem(
        &c.login("target@example.com", "correct horse battery").await,
        403,
        "INACTIVE_USER",
    );

    // Reactivate with a new password and email.
    let r = c
        .request(Method::PATCH, &path, Some(&token), Some(json!({"is_active": true, "email": "moved@example.com", "password": "chosen by admin"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(
        c.login("moved@example.com", "chosen by admin").await.status,
        StatusCode::OK
    );

    let admin_id = id_of(&c, &token).await;
    let me = format!("/users/{admin_id}");
    let r = c.request(Method::DELETE, &me, Some(&token), None).await;
    assert_problem(&r, 403, "FORBIDDEN");
    // Nor can an admin deactivate or demote itself.
    for body in [json!({"is_active": false}), json!({"is_superuser": false})] {
        let r = c
            .request(Method::PATCH, &me, Some(&token), Some(body))
            .await;
        assert_problem(&r, 403, "FORBIDDEN");
    }
    let r = c.request(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_problem(&c.get(&path, Some(&token)).await, 404, "NOT_FOUND");
    assert_problem(
        &c.request(Method::DELETE, &path, Some(&token), None).await,
        404,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn a_deactivated_users_token_is_refused() {
    let s = server().await;
    let c = Client::new(s.addr);
    let token = admin(&s, &c).await;
    let (user_token, _) = c
        .signed_up("off@example.com", "correct horse battery")
        .await;
    let id = id_of(&c, &user_token).await;
    c.request(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&token),
        Some(json!({"is_active": false})),
    )
    .await;
    let r = c.get("/users/me", Some(&user_token)).await;
    assert!(
        r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::FORBIDDEN,
        "{:?}",
        r.status
    );
    assert!(!c.get("/hello", Some(&user_token)).await.status.is_success());
}

async fn token_of(c: &Client, email: &str) -> String {
    c.access_token(email, "kettle staple zebra").await
}

#[tokio::test]
async fn the_only_superuser_cannot_delete_its_own_account() {
    let s = server().await;
    let c = Client::new(s.addr);
    let token = admin(&s, &c).await;
    let body = json!({"current_password": "kettle staple zebra"});
    let r = c
        .request(
            Method::DELETE,
            "/users/me",
            Some(&token),
            Some(body.clone()),
        )
        .await;
    assert_problem(&r, 403, "FORBIDDEN");
    assert_eq!(
        c.get("/users/me", Some(&token)).await.json()["is_superuser"],
        true
    );

    // Once another superuser exists, it may.
    s.users
        .ensure_superuser("deputy@example.com", "kettle staple zebra")
        .await
        .unwrap();
    let r = c
        .request(Method::DELETE, "/users/me", Some(&token), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

/// Two superusers, each removing the other at the same moment, ten times
/// over: exactly one wins every time and one superuser remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_superusers_removing_each_other_at_once_leave_one() {
    let s = server().await;
    let c = Client::new(s.addr);
    admin(&s, &c).await;
    s.users
        .ensure_superuser("deputy@example.com", "kettle staple zebra")
        .await
        .unwrap();
    let names = ["admin@example.com", "deputy@example.com"];
    let mut ids = Vec::new();
    for name in names {
        ids.push(id_of(&c, &token_of(&c, name).await).await);
    }
    let bodies = [
        json!({"is_superuser": false}),
        json!({"is_active": false}),
        json!({"is_superuser": false, "is_active": false}),
    ];
    for round in 0..10 {
        let body = bodies[round % bodies.len()].clone();
        let tokens = [token_of(&c, names[0]).await, token_of(&c, names[1]).await];
        let remove = |by: usize| {
            let (c, token, body) = (Client::new(s.addr), tokens[by].clone(), body.clone());
            let path = format!("/users/{}", ids[1 - by]);
            async move {
                c.request(Method::PATCH, &path, Some(&token), Some(body))
                    .await
            }
        };
        let (a, b) = tokio::join!(remove(0), remove(1));
        let won: Vec<usize> = [&a, &b]
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status == StatusCode::OK)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: {:?} / {:?}",
            a.json(),
            b.json()
        );
        let lost = if won[0] == 0 { &b } else { &a };
        if lost.status == StatusCode::UNAUTHORIZED {
            // Deactivated first, its session was already gone.
            assert!(body.get("is_active").is_some(), "round {round}");
            assert_problem(lost, 401, "UNAUTHORIZED");
        } else {
            assert_problem(lost, 403, "FORBIDDEN");
        }
        // The winner is the one superuser left; it restores the other.
        let winner = won[0];
        let loser = &ids[1 - winner];
        let path = format!("/users/{loser}");
        let r = c.get(&path, Some(&tokens[winner])).await;
        assert!(
            r.json()["is_superuser"] == false || r.json()["is_active"] == false,
            "{:?}",
            r.json()
        );
        let r = c
            .request(
                Method::PATCH,
                &path,
                Some(&tokens[winner]),
                Some(json!({"is_superuser": true, "is_active": true})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    }
}

#[tokio::test]
async fn a_demoted_superuser_is_not_promoted_again_by_the_bootstrap_setting() {
    let s = server().await;
    let c = Client::new(s.addr);
    let token = admin(&s, &c).await;
    // The bootstrap account (same password, never changed) is demoted by
    // another administrator...
    let deputy = s
        .users
        .ensure_superuser("deputy@example.com", "kettle staple zebra")
        .await
        .unwrap();
    let r = c
        .request(
            Method::PATCH,
            &format!("/users/{}", deputy.id),
            Some(&token),
            Some(json!({"is_superuser": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    // ...and the next start, with the setting unchanged, leaves it so.
    let again = s
        .users
        .ensure_superuser("deputy@example.com", "kettle staple zebra")
        .await
        .unwrap();
    assert!(!again.is_superuser);
    assert!(!s.users.get_user(deputy.id).await.unwrap().is_superuser);
    let r = c.login("deputy@example.com", "kettle staple zebra").await;
    assert_eq!(r.json()["user"]["is_superuser"], false, "{:?}", r.json());
}

/// Counts `before_delete` calls: an app hook may do irreversible work
/// there (cancel a subscription, notify someone), so it must not run for a
/// delete that is refused anyway.
#[derive(Clone, Default)]
struct CountDeletes(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl tower_users::Hooks for CountDeletes {
    async fn before_delete(&self, _user: &tower_users::User) -> Result<(), tower_users::Error> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn refusing_to_delete_the_last_superuser_runs_no_before_delete_hook() {
    let deletes = CountDeletes::default();
    let hook = deletes.clone();
    let s = crate::common::server_with(|b| b.with_hooks(hook)).await;
    let c = Client::new(s.addr);
    let token = admin(&s, &c).await;
    let root = tower_users::UserId(id_of(&c, &token).await.parse().unwrap());
    let count = || deletes.0.load(std::sync::atomic::Ordering::SeqCst);

    let body = json!({"current_password": "kettle staple zebra"});
    let r = c
        .request(Method::DELETE, "/users/me", Some(&token), Some(body))
        .await;
    assert_problem(&r, 403, "FORBIDDEN");
    assert_eq!(count(), 0, "before_delete ran for a refused self-delete");
    // The core's admin delete trusts its caller, so it meets the same check.
    let err = s
        .users
        .admin_delete(tower_users::UserId::new(), root)
        .await
        .unwrap_err();
    assert!(matches!(err, tower_users::Error::Forbidden), "{err:?}");
    assert_eq!(count(), 0, "before_delete ran for a refused admin delete");

    // A delete that goes through still runs it, once.
    let (other, _) = c
        .signed_up("plain@example.com", "correct horse battery")
        .await;
    let r = c
        .request(
            Method::DELETE,
            &format!("/users/{}", id_of(&c, &other).await),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    assert_eq!(count(), 1);
}
