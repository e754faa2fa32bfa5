//! Two example-server processes on one PostgreSQL database, requests
//! alternating between them: they behave as one server.

use serde_json::json;
use sqlx::postgres::PgPoolOptions;

use crate::example::{Instance, fresh_database, request, start};
use crate::server;
use crate::smtp_sink::{Sink, token_in};

const PASSWORD: &str = "correct horse battery";

async fn two_instances() -> Option<(Instance, Instance, String, tempfile::TempDir)> {
    let server = server::server()?;
    let url = fresh_database(server).await;
    let dir = tempfile::tempdir().unwrap();
    // No TOWER_USERS_SECRET: the signing secret is generated once and kept
    // in the database, so the second instance signs with the first's.
    // Rate limits off: governor counts per process, and this test counts
    // the store's lockout.
    let envs = [("TOWER_USERS_RATE_LIMIT", "off")];
    let a = start(&url, dir.path(), &envs).await;
    let b = start(&url, dir.path(), &envs).await;
    Some((a, b, url, dir))
}

fn credentials(email: &str, password: &str) -> serde_json::Value {
    json!({"email": email, "password": password})
}

async fn login(host: &str, email: &str) -> serde_json::Value {
    let (status, tokens) = request(
        host,
        "POST",
        "/users/login",
        None,
        Some(credentials(email, PASSWORD)),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_behave_as_one_server() {
    let Some((a_instance, b_instance, url, _dir)) = two_instances().await else {
        return;
    };
    let (a, b) = (a_instance.host.as_str(), b_instance.host.as_str());
    let user = credentials("one@example.com", PASSWORD);
    let (status, _) = request(a, "POST", "/users/register", None, Some(user)).await;
    assert_eq!(status, 201);

    // A login on one is valid on the other.
    let tokens = login(a, "one@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, me) = request(b, "GET", "/users/me", Some(access), None).await;
    assert_eq!(status, 200, "{me}");

    // Refreshing on B, then replaying the spent token on A, is reuse: the
    // session ends everywhere.
    let refresh = json!({"refresh_token": tokens["refresh_token"]});
    let (status, rotated) = request(b, "POST", "/users/refresh", None, Some(refresh.clone())).await;
    assert_eq!(status, 200, "{rotated}");
    let (status, body) = request(a, "POST", "/users/refresh", None, Some(refresh)).await;
    assert_eq!((status, &body["code"]), (400, &json!("INVALID_TOKEN")));
    let newer = rotated["access_token"].as_str().unwrap();
    let (status, _) = request(b, "GET", "/users/me", Some(newer), None).await;
    assert_eq!(status, 401, "the replay revoked the session on both");

    // A logout on one kills the token on the other at once: B has just
    // verified this token (and may cache it), yet asks the store again.
    let tokens = login(b, "one@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = request(b, "GET", "/users/me", Some(access), None).await;
    assert_eq!(status, 200);
    let (status, _) = request(a, "POST", "/users/logout", Some(access), None).await;
    assert_eq!(status, 204);
    let (status, _) = request(b, "GET", "/users/me", Some(access), None).await;
    assert_eq!(status, 401);

    // A password change on one ends the other sessions on the other.
    let mine = login(a, "one@example.com").await;
    let other = login(b, "one@example.com").await;
    let other = other["access_token"].as_str().unwrap();
    let (status, _) = request(b, "GET", "/users/me", Some(other), None).await;
    assert_eq!(status, 200);
    let change = json!({"current_password": PASSWORD, "password": "a brand new passphrase"});
    let (status, body) = request(
        a,
        "PATCH",
        "/users/me",
        mine["access_token"].as_str(),
        Some(change),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = request(b, "GET", "/users/me", Some(other), None).await;
    assert_eq!(status, 401);

    // A lockout earned on one holds on the other: five failures on A, the
    // sixth attempt, on B, is refused as locked rather than checked.
    let (status, _) = request(
        b,
        "POST",
        "/users/register",
        None,
        Some(credentials("two@example.com", PASSWORD)),
    )
    .await;
    assert_eq!(status, 201);
    for _ in 0..5 {
        let wrong = credentials("two@example.com", "not the password at all");
        let (status, _) = request(a, "POST", "/users/login", None, Some(wrong)).await;
        assert_eq!(status, 401);
    }
    let wrong = credentials("two@example.com", "not the password at all");
    let (status, body) = request(b, "POST", "/users/login", None, Some(wrong)).await;
    assert_eq!(status, 429, "{body}");

    // One email registered on both at once makes one account.
    for i in 0..5 {
        let email = format!("race{i}@example.com");
        let (one, two) = tokio::join!(
            request(
                a,
                "POST",
                "/users/register",
                None,
                Some(credentials(&email, PASSWORD))
            ),
            request(
                b,
                "POST",
                "/users/register",
                None,
                Some(credentials(&email, PASSWORD))
            ),
        );
        let mut statuses = [one.0, two.0];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "{email}: {one:?} {two:?}");
    }

    // Each email (one verification per account) was sent exactly once,
    // with both outbox workers running.
    let db = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM tower_users.users")
        .fetch_one(&db)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM tower_users.outbox")
            .fetch_one(&db)
            .await
            .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{pending} emails never sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let delivered = |i: &Instance| i.log.lock().unwrap().matches("email delivered").count();
    let (on_a, on_b) = (delivered(&a_instance), delivered(&b_instance));
    assert_eq!(
        on_a + on_b,
        accounts as usize,
        "sent {on_a} on A, {on_b} on B"
    );
}

/// kill -9 of one instance in the middle of a registration storm spread
/// over both: every registration either instance acknowledged is in the
/// database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_instance_mid_storm_loses_no_acknowledged_registration() {
    let Some((mut a, b, url, _dir)) = two_instances().await else {
        return;
    };
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let host = if i % 2 == 0 {
                a.host.clone()
            } else {
                b.host.clone()
            };
            tokio::spawn(async move {
                let email = format!("storm{i}@example.com");
                let body = credentials(&email, PASSWORD);
                let reply =
                    crate::example::try_request(&host, "POST", "/users/register", None, Some(body))
                        .await;
                (email, reply)
            })
        })
        .collect();
    // Kill A once some registrations were acknowledged, others in flight.
    let db = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tower_users.users")
            .fetch_one(&db)
            .await
            .unwrap();
        if n >= 5 || started.elapsed() > std::time::Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    a.kill().await;
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            (email, Ok((201, _))) => acknowledged.push(email),
            (_, Ok((status, body))) => panic!("unexpected {status}: {body}"),
            (_, Err(_)) => refused += 1,
        }
    }
    assert!(!acknowledged.is_empty());
    let stored: Vec<String> = sqlx::query_scalar("SELECT email FROM tower_users.users")
        .fetch_all(&db)
        .await
        .unwrap();
    for email in &acknowledged {
        assert!(
            stored.contains(email),
            "{email} was acknowledged but is gone"
        );
    }
    // B kept serving through A's death.
    let (status, _) = request(
        &b.host,
        "POST",
        "/users/register",
        None,
        Some(credentials("after@example.com", PASSWORD)),
    )
    .await;
    assert_eq!(
        status, 201,
        "{refused} requests to the killed instance failed"
    );
}

/// With the rate limits on, logins from one client alternating between two
/// instances spend one quota kept in the database: the default login burst
/// (10) passes, the next is refused on whichever instance it reaches. Kept
/// in each process's memory, the two would allow 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_rate_limit_per_client() {
    let Some(server) = server::server() else {
        return;
    };
    let url = fresh_database(server).await;
    let dir = tempfile::tempdir().unwrap();
    let a = start(&url, dir.path(), &[]).await;
    let b = start(&url, dir.path(), &[]).await;
    let hosts = [a.host.as_str(), b.host.as_str()];
    let user = credentials("limited@example.com", PASSWORD);
    let (status, _) = request(hosts[0], "POST", "/users/register", None, Some(user)).await;
    assert_eq!(status, 201);
    let burst = tower_users::http::RateLimitConfig::default().login.burst;
    for i in 0..burst {
        let (status, body) = request(
            hosts[i as usize % 2],
            "POST",
            "/users/login",
            None,
            Some(credentials("limited@example.com", PASSWORD)),
        )
        .await;
        assert_eq!(status, 200, "login {i}: {body}");
    }
    for host in hosts {
        let (status, body) = request(
            host,
            "POST",
            "/users/login",
            None,
            Some(credentials("limited@example.com", PASSWORD)),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (429, Some("RATE_LIMITED")),
            "{body}"
        );
    }
    // `GET /users/me` is never charged: the exhausted client still reaches it.
    let (status, body) = request(hosts[1], "GET", "/users/me", None, None).await;
    assert_eq!(status, 401, "{body}");
}

/// A password reset crosses instances: requested on A, its emailed link
/// redeemed on B. Every session ends on both, the old password fails on
/// both and the new one works on both, and the link is spent everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_requested_on_one_instance_and_redeemed_on_the_other_holds_on_both() {
    let Some(server) = server::server() else {
        return;
    };
    let sink = Sink::start();
    let url = fresh_database(server).await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = sink.url();
    let envs = [
        ("TOWER_USERS_RATE_LIMIT", "off"),
        ("TOWER_USERS_SMTP_URL", smtp.as_str()),
    ];
    let a_instance = start(&url, dir.path(), &envs).await;
    let b_instance = start(&url, dir.path(), &envs).await;
    let (a, b) = (a_instance.host.as_str(), b_instance.host.as_str());
    let email = "reset@example.com";
    let (status, _) = request(
        a,
        "POST",
        "/users/register",
        None,
        Some(credentials(email, PASSWORD)),
    )
    .await;
    assert_eq!(status, 201);
    let on_a = login(a, email).await;
    let on_b = login(b, email).await;
    let sessions = [
        on_a["access_token"].as_str().unwrap(),
        on_b["access_token"].as_str().unwrap(),
    ];
    for host in [a, b] {
        for access in sessions {
            let (status, body) = request(host, "GET", "/users/me", Some(access), None).await;
            assert_eq!(status, 200, "{body}");
        }
    }

    let (status, _) = request(
        a,
        "POST",
        "/users/password-reset/request",
        None,
        Some(json!({"email": email})),
    )
    .await;
    assert_eq!(status, 202);
    // The verification email and the reset link, in either order: either
    // instance's worker may send either.
    let mails = sink.wait_for(email, 2, 30).await;
    let reset = mails
        .iter()
        .find(|m| {
            m["text"]
                .as_str()
                .unwrap()
                .contains("/password-reset#token=")
        })
        .unwrap_or_else(|| panic!("no reset link in {mails:?}"));
    let token = token_in(reset);
    let new_password = "a brand new passphrase";
    let (status, body) = request(
        b,
        "POST",
        "/users/password-reset",
        None,
        Some(json!({"token": token, "password": new_password})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    for host in [a, b] {
        for access in sessions {
            let (status, body) = request(host, "GET", "/users/me", Some(access), None).await;
            assert_eq!(
                status, 401,
                "a session outlived the reset on {host}: {body}"
            );
        }
        let (status, body) = request(
            host,
            "POST",
            "/users/login",
            None,
            Some(credentials(email, PASSWORD)),
        )
        .await;
        assert_eq!(
            status, 401,
            "the old password still works on {host}: {body}"
        );
        let (status, body) = request(
            host,
            "POST",
            "/users/login",
            None,
            Some(credentials(email, new_password)),
        )
        .await;
        assert_eq!(status, 200, "the new password fails on {host}: {body}");
    }

    // The link is spent on every instance.
    let (status, body) = request(
        a,
        "POST",
        "/users/password-reset",
        None,
        Some(json!({"token": token, "password": "yet another passphrase"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_TOKEN")),
        "{body}"
    );
}
