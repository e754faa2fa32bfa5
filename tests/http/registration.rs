//! POST /users/register over real HTTP.

use crate::common;

use crate::common::{Client, assert_problem, server};
use http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn register_returns_201_and_the_public_record() {
    let s = server().await;
    let r = Client::new(s.addr)
        .register("  Alice@Example.COM ", "correct horse battery")
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.content_type().starts_with("application/json"));
    let j = r.json();
    assert_eq!(j["email"], "alice@example.com");
    assert_eq!(j["is_active"], true);
    assert_eq!(j["is_verified"], false);
    assert_eq!(j["is_superuser"], false);
    assert!(uuid::Uuid::parse_str(j["id"].as_str().unwrap()).is_ok());
    assert!(j["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(j["roles"], serde_json::json!([]));
    let mut keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "id",
            "is_active",
            "is_superuser",
            "is_verified",
            "roles"
        ],
        "only the public fields may appear"
    );
}

#[tokio::test]
async fn registering_a_taken_email_after_normalization_is_409() {
    let s = server().await;
    let c = Client::new(s.addr);
    c.register("bob@example.com", "correct horse battery").await;
    let r = c
        .register(" BOB@example.com", "another long password")
        .await;
    assert_problem(&r, 409, "USER_EXISTS");
}

#[tokio::test]
async fn bad_input_is_a_422_naming_the_field() {
    let s = server().await;
    let c = Client::new(s.addr);
    let cases = [
        (
            json!({"email": "not-an-email", "password": "correct horse"}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(257)}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "A@example.com"}),
            "password",
        ),
        (json!({"email": "a@example.com"}), "password"),
        (json!({"password": "correct horse"}), "email"),
        (json!({"email": 12, "password": "correct horse"}), "email"),
        (
            json!({"email": "a@example.com", "password": null}),
            "password",
        ),
    ];
    for (body, field) in cases {
        let r = c.post_json("/users/register", body.clone()).await;
        assert_problem(&r, 422, "VALIDATION_ERROR");
        let errors = r.json()["errors"].as_array().unwrap().clone();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["message"].is_string()),
            "{body} should blame {field}: {errors:?}"
        );
    }
    // Nothing was stored by any of them.
    let ok = c.register("a@example.com", "correct horse battery").await;
    assert_eq!(ok.status, StatusCode::CREATED);
}

#[tokio::test]
async fn non_json_bodies_are_415_and_big_ones_413() {
    let s = server().await;
    let req = http::Request::post(format!("http://{}/users/register", s.addr))
        .header("content-type", "text/plain")
        .body(http_body_util::Full::from("email=a"))
        .unwrap();
    assert_problem(
        &common::send(s.addr, req).await,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    );

    let big = json!({"email": "a@example.com", "password": "p".repeat(17 * 1024)});
    let r = Client::new(s.addr).post_json("/users/register", big).await;
    assert_problem(&r, 413, "PAYLOAD_TOO_LARGE");

    let req = http::Request::post(format!("http://{}/users/register", s.addr))
        .header("content-type", "application/json; charset=utf-8")
        .body(http_body_util::Full::from(
            r#"{"email":"c@example.com","password":"correct horse battery"}"#,
        ))
        .unwrap();
    assert_eq!(common::send(s.addr, req).await.status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_registrations_of_one_email_give_exactly_one_201() {
    let s = server().await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let addr = s.addr;
            tokio::spawn(async move {
                Client::new(addr)
                    .register(
                        if i % 2 == 0 {
                            "race@example.com"
                        } else {
                            "RACE@example.com"
                        },
                        &format!("correct horse battery {i}"),
                    )
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
}

#[tokio::test]
async fn registration_sends_one_verification_email() {
    let s = server().await;
    Client::new(s.addr)
        .register("v@example.com", "correct horse battery")
        .await;
    let token = s.outbox.token_for("v@example.com").await;
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "token must be URL-safe: {token}"
    );
    // A marker queued after the registration: once it is out and the outbox
    // is empty, whatever the registration queued has gone out before it.
    let r = Client::new(s.addr)
        .post_json(
            "/users/password-reset/request",
            json!({"email": "v@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    s.outbox
        .wait_for("v@example.com", tower_users::mail::EmailKind::PasswordReset)
        .await;
    common::drained(&s.users).await;
    let verify = tower_users::mail::EmailKind::Verify;
    let reset = tower_users::mail::EmailKind::PasswordReset;
    assert_eq!(
        s.outbox.sent_kinds(),
        [
            ("v@example.com".to_owned(), verify),
            ("v@example.com".to_owned(), reset),
        ]
    );
}

#[tokio::test]
async fn a_superuser_bootstrap_never_takes_over_someone_elses_account() {
    let s = server().await;
    let c = Client::new(s.addr);
    // Someone registers the admin address first, with their own password.
    c.register("boss@example.com", "attacker password 1").await;
    let err = s
        .users
        .ensure_superuser("boss@example.com", "the operator's password")
        .await
        .unwrap_err();
    assert!(
        matches!(err, tower_users::Error::InvalidCredentials),
        "{err:?}"
    );
    let r = c.login("boss@example.com", "attacker password 1").await;
    assert_eq!(r.json()["user"]["is_superuser"], false);

    // The owner's own password promotes; a new address is created verified.
    let promoted = s
        .users
        .ensure_superuser("boss@example.com", "attacker password 1")
        .await
        .unwrap();
    assert!(promoted.is_superuser);
    let fresh = s
        .users
        .ensure_superuser("root@example.com", "kettle staple zebra")
        .await
        .unwrap();
    assert!(fresh.is_superuser && fresh.is_verified && fresh.is_active);
}

#[tokio::test]
async fn a_stalled_body_gets_408_instead_of_holding_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s =
        crate::common::server_with(|b| b.with_body_timeout(std::time::Duration::from_millis(300)))
            .await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(
            b"POST /users/register HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let mut out = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut out))
        .await
        .expect("the server held the stalled request")
        .unwrap();
    let head = String::from_utf8_lossy(&out[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(head.contains("REQUEST_TIMEOUT"), "{head}");
}

#[tokio::test]
async fn every_spelling_of_one_mailbox_is_one_account() {
    let s = server().await;
    let c = Client::new(s.addr);
    let first = c
        .register("carol@example.com", "correct horse battery")
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    for form in [
        "carol@ｅｘａｍｐｌｅ.com",
        "CAROL@ＥＸＡＭＰＬＥ.ＣＯＭ",
        "ｃａｒｏｌ@example.com",
        "carol@example\u{3002}com",
    ] {
        let r = c.register(form, "another long password").await;
        assert_problem(&r, 409, "USER_EXISTS");
    }
    // One DNS name, written as a U-label and as its A-label, either first.
    let idn = c
        .register("carol@bücher.example", "correct horse battery")
        .await;
    assert_eq!(idn.status, StatusCode::CREATED);
    assert_eq!(idn.json()["email"], "carol@xn--bcher-kva.example");
    let r = c
        .register("carol@xn--bcher-kva.example", "another long password")
        .await;
    assert_problem(&r, 409, "USER_EXISTS");
    let a_label = c
        .register("dave@xn--bcher-kva.example", "correct horse battery")
        .await;
    assert_eq!(a_label.status, StatusCode::CREATED);
    let r = c
        .register("Dave@BÜCHER.example", "another long password")
        .await;
    assert_problem(&r, 409, "USER_EXISTS");
    // And login finds the account under any of its spellings.
    let r = c
        .login("CAROL@ＥＸＡＭＰＬＥ.com", "correct horse battery")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

/// Each of `emails` (spellings of `admin@example.com` with something
/// invisible in them) is a 422 on the email field, and none of them took
/// the address: `admin@example.com` itself still registers.
async fn each_is_a_422_on_the_email_field(emails: &[&str]) {
    let s = server().await;
    let c = Client::new(s.addr);
    for email in emails {
        let r = c.register(email, "correct horse battery").await;
        assert_problem(&r, 422, "VALIDATION_ERROR");
        assert_eq!(r.json()["errors"][0]["field"], "email", "{email:?}");
    }
    let r = c
        .register("admin@example.com", "correct horse battery")
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn invisible_or_direction_changing_characters_in_the_local_part_are_a_422() {
    each_is_a_422_on_the_email_field(&[
        "ad\u{200b}min@example.com",
        "ad\u{202e}min@example.com",
        "admin\u{00ad}@example.com",
        "admin\u{feff}@example.com",
        "\u{200d}admin@example.com",
        "ad\u{2066}min\u{2069}@example.com",
        "admin\u{e0001}@example.com",
    ])
    .await;
}

#[tokio::test]
async fn default_ignorable_characters_in_the_local_part_are_a_422() {
    // Not category Cf, yet invisible: the combining grapheme joiner,
    // variation selectors, a Mongolian free variation selector and the
    // Hangul fillers (U+3164 becomes U+1160 under NFKC).
    each_is_a_422_on_the_email_field(&[
        "ad\u{034f}min@example.com",
        "admin\u{fe0f}@example.com",
        "admin\u{e0100}@example.com",
        "ad\u{180b}min@example.com",
        "ad\u{3164}min@example.com",
        "ad\u{1160}min@example.com",
        "ad\u{115f}min@example.com",
    ])
    .await;
}

#[tokio::test]
async fn local_parts_equal_under_case_folding_are_one_account() {
    let s = server().await;
    let c = Client::new(s.addr);
    let r = c
        .register(
            "\u{39f}\u{394}\u{39f}\u{3a3}@example.gr",
            "correct horse battery",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    // Lower-casing the capital gives a final sigma; case folding maps both
    // sigmas to one letter, so this spelling is the same mailbox.
    for other in [
        "\u{3bf}\u{3b4}\u{3bf}\u{3c3}@example.gr",
        "\u{3bf}\u{3b4}\u{3bf}\u{3c2}@example.gr",
    ] {
        let r = c.register(other, "another long password").await;
        assert_problem(&r, 409, "USER_EXISTS");
    }
    let r = c
        .login(
            "\u{3bf}\u{3b4}\u{3bf}\u{3c3}@example.gr",
            "correct horse battery",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

#[tokio::test]
async fn long_passwords_that_merely_contain_the_local_part_are_accepted() {
    let s = server().await;
    let c = Client::new(s.addr);
    // Mostly the local part: refused.
    let r = c.register("admin@acme.test", "admin12345").await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
    assert_eq!(r.json()["errors"][0]["field"], "password");
    for (email, password) in [
        ("admin@acme.test", "Acceptance-Admin-Passw0rd!-7f3c9a1e5b"),
        ("ann@example.com", "planning a long annual trip 2026!"),
    ] {
        let r = c.register(email, password).await;
        assert_eq!(r.status, StatusCode::CREATED, "{email}: {:?}", r.json());
        assert_eq!(c.login(email, password).await.status, StatusCode::OK);
    }
}
