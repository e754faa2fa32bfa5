//! Email for real: SMTP to an aiosmtpd server over TCP, through the outbox.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use tower_users::mail::{OutboxConfig, OutgoingEmail, SmtpMailer};
use tower_users::{Hooks, RedbStore, Users};

use crate::common::{Client, SECRET, assert_problem, drained, serve};
use crate::smtp_sink::{Sink, free_port, token_in};

/// Fast retries, so outage tests take seconds.
fn quick_outbox() -> OutboxConfig {
    OutboxConfig {
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        max_age: Duration::from_secs(3600),
        ..OutboxConfig::default()
    }
}

#[derive(Clone, Default)]
struct DeadLetters(Arc<Mutex<Vec<(String, String)>>>);

impl Hooks for DeadLetters {
    async fn on_dead_letter(&self, email: &OutgoingEmail, error: &str) {
        self.0
            .lock()
            .unwrap()
            .push((email.to.clone(), error.to_owned()));
    }
}

struct App {
    client: Client,
    users: Users,
    _dir: tempfile::TempDir,
}

async fn app(smtp_url: &str, hooks: DeadLetters) -> App {
    app_with(smtp_url, hooks, quick_outbox()).await
}

async fn app_with(smtp_url: &str, hooks: DeadLetters, outbox: OutboxConfig) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("mail.redb")).unwrap();
    let users = Users::builder(store)
        .with_secret(SECRET)
        .with_public_url("http://app.test")
        .with_app_name("Mail Test")
        .with_mailer(SmtpMailer::from_url(smtp_url, "no-reply@app.test").unwrap())
        .with_outbox(outbox)
        .with_hooks(hooks)
        .build()
        .unwrap();
    let addr = serve(users.clone()).await;
    App {
        client: Client::new(addr),
        users,
        _dir: dir,
    }
}

#[tokio::test]
async fn verify_and_reset_emails_arrive_with_both_parts_and_a_working_link() {
    let sink = Sink::start_on(free_port(), Some("mailer:s3cr%t"));
    // Credentials come from the URL, percent-encoded. With credentials,
    // STARTTLS is required unless plain is asked for, as here on loopback.
    let url = format!("smtp://mailer:s3cr%25t@127.0.0.1:{}?tls=none", sink.port);
    let a = app(&url, DeadLetters::default()).await;
    let c = &a.client;
    c.register("ann@example.com", "correct horse battery").await;

    let verify = &sink.wait_for("ann@example.com", 1, 10).await[0];
    assert_eq!(verify["authenticated"], true);
    assert_eq!(verify["subject"], "Confirm your email for Mail Test");
    assert_eq!(verify["from"], "no-reply@app.test");
    let (text, html) = (
        verify["text"].as_str().unwrap(),
        verify["html"].as_str().unwrap(),
    );
    assert_eq!(text.matches("http").count(), 1, "{text}");
    assert_eq!(html.matches("http").count(), 1, "{html}");
    let token = token_in(verify);
    let link = format!("http://app.test/verify#token={token}");
    assert!(text.contains(&link) && html.contains(&link));
    let mid = verify["message_id"].as_str().unwrap();
    assert!(mid.starts_with('<') && mid.ends_with("@app.test>"), "{mid}");
    let r = c.post_json("/users/verify", json!({"token": token})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["is_verified"], true);

    let r = c
        .post_json(
            "/users/password-reset/request",
            json!({"email": "ann@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let reset = &sink.wait_for("ann@example.com", 2, 10).await[1];
    assert_eq!(reset["subject"], "Reset your Mail Test password");
    assert!(
        reset["html"]
            .as_str()
            .unwrap()
            .contains("http://app.test/password-reset#token=")
    );
    let r = c
        .post_json(
            "/users/password-reset",
            json!({"token": token_in(reset), "password": "a new good password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        c.login("ann@example.com", "a new good password")
            .await
            .status,
        StatusCode::OK
    );

    // Both emails went over one kept connection.
    let peers: Vec<_> = sink.messages().iter().map(|m| m["peer"].clone()).collect();
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[0], peers[1], "the SMTP connection was not reused");
    drained(&a.users).await;
}

#[tokio::test]
async fn mail_requested_while_smtp_is_down_arrives_once_it_is_up() {
    let port = free_port();
    let a = app(&format!("smtp://127.0.0.1:{port}"), DeadLetters::default()).await;
    let c = &a.client;
    c.register("down@example.com", "correct horse battery")
        .await;
    let started = std::time::Instant::now();
    let r = c
        .post_json(
            "/users/password-reset/request",
            json!({"email": "down@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // Answered without waiting for the dead server.
    assert!(started.elapsed() < Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.users.pending_mail().await.unwrap(), 2);

    let sink = Sink::start_on(port, None);
    let mails = sink.wait_for("down@example.com", 2, 15).await;
    let subjects: Vec<_> = mails
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.iter().any(|s| s.starts_with("Confirm")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.starts_with("Reset")),
        "{subjects:?}"
    );
    drained(&a.users).await;
}

#[tokio::test]
async fn a_permanently_refused_address_is_dead_lettered_not_retried() {
    let sink = Sink::start();
    let hooks = DeadLetters::default();
    let a = app(&sink.url(), hooks.clone()).await;
    a.client
        .register("bounce-me@example.com", "correct horse battery")
        .await;
    a.client
        .register("fine@example.com", "correct horse battery")
        .await;
    sink.wait_for("fine@example.com", 1, 10).await;
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = a.users.dead_letters(10).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].email.to, "bounce-me@example.com");
    assert_eq!(dead[0].attempts, 1, "a 5xx must not be retried");
    assert!(dead[0].last_error.as_deref().unwrap().contains("550"));
    drained(&a.users).await;
    let calls = hooks.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "bounce-me@example.com");
}

#[tokio::test]
async fn request_endpoints_answer_202_for_unknown_emails_and_send_nothing() {
    let sink = Sink::start();
    let a = app(&sink.url(), DeadLetters::default()).await;
    for path in ["/users/verify/request", "/users/password-reset/request"] {
        let r = a
            .client
            .post_json(path, json!({"email": "nobody@example.com"}))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    let r = a
        .client
        .post_json("/users/verify/request", json!({"email": 3}))
        .await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
    // The decoys queued for them are dropped by the worker, unsent.
    drained(&a.users).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn mail_still_undeliverable_at_its_maximum_age_is_dead_lettered() {
    let hooks = DeadLetters::default();
    let outbox = OutboxConfig {
        max_age: Duration::from_secs(1),
        ..quick_outbox()
    };
    let a = app_with(
        &format!("smtp://127.0.0.1:{}", free_port()),
        hooks.clone(),
        outbox,
    )
    .await;
    a.client
        .register("old@example.com", "correct horse battery")
        .await;
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = a.users.dead_letters(10).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "not dead-lettered within 5 s");
    assert!(dead[0].attempts > 1, "transient failures are retried first");
    assert_eq!(a.users.pending_mail().await.unwrap(), 0);
    assert_eq!(hooks.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn credentials_are_never_sent_without_tls_unless_asked() {
    // The sink offers no STARTTLS: with credentials and no explicit
    // `tls=none`, the mailer refuses to log in in clear, and the email waits.
    let sink = Sink::start_on(free_port(), Some("mailer:secret"));
    let url = format!("smtp://mailer:secret@127.0.0.1:{}", sink.port);
    let attempts = Attempts::default();
    let dir = tempfile::tempdir().unwrap();
    let users = Users::builder(RedbStore::open(dir.path().join("tls.redb")).unwrap())
        .with_secret(SECRET)
        .with_mailer(Recorded {
            smtp: SmtpMailer::from_url(&url, "no-reply@app.test").unwrap(),
            attempts: attempts.clone(),
        })
        .with_outbox(quick_outbox())
        .build()
        .unwrap();
    let c = Client::new(serve(users.clone()).await);
    c.register("tls@example.com", "correct horse battery").await;
    // The worker ran: the mailer was called, reached the server, and gave up
    // on finding no STARTTLS, without ever trying AUTH.
    let outcome = attempts.first().await;
    assert!(outcome.contains("STARTTLS"), "{outcome}");
    assert!(
        sink.events("ehlo") >= 1,
        "the mailer never reached the sink"
    );
    assert_eq!(sink.events("auth"), 0, "credentials went out in clear");
    assert!(sink.messages().is_empty());
    // It is kept for a retry, not dead-lettered.
    assert_eq!(users.pending_mail().await.unwrap(), 1);
    assert!(users.dead_letters(10).await.unwrap().is_empty());
}

/// What each delivery attempt of [`Recorded`] returned.
#[derive(Clone, Default)]
struct Attempts(Arc<Mutex<Vec<String>>>);

impl Attempts {
    /// Waits (up to 10 s) for the first attempt to finish; its outcome.
    async fn first(&self) -> String {
        for _ in 0..200 {
            if let Some(first) = self.0.lock().unwrap().first() {
                return first.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the outbox worker never tried to send");
    }
}

/// The real SMTP mailer, with each attempt's outcome written down.
struct Recorded {
    smtp: SmtpMailer,
    attempts: Attempts,
}

impl tower_users::mail::Mailer for Recorded {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), tower_users::mail::MailError> {
        let result = self.smtp.send(email).await;
        let outcome = match &result {
            Ok(()) => "sent".to_owned(),
            Err(err) => format!("{err}: {:?}", err.source),
        };
        self.attempts.0.lock().unwrap().push(outcome);
        result
    }
}

/// Panics on its first email, then delivers for real.
struct PanicsOnce {
    smtp: SmtpMailer,
    panicked: std::sync::atomic::AtomicBool,
}

impl tower_users::mail::Mailer for PanicsOnce {
    // Not an `async fn`: the panic comes from the call itself, before any
    // future exists.
    fn send(
        &self,
        email: &OutgoingEmail,
    ) -> impl Future<Output = Result<(), tower_users::mail::MailError>> + Send {
        if !self
            .panicked
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("a buggy mailer");
        }
        self.smtp.send(email)
    }
}

#[tokio::test]
async fn a_panicking_mailer_costs_one_attempt_not_the_worker() {
    let sink = Sink::start();
    let dir = tempfile::tempdir().unwrap();
    let users = Users::builder(RedbStore::open(dir.path().join("p.redb")).unwrap())
        .with_secret(SECRET)
        .with_mailer(PanicsOnce {
            smtp: SmtpMailer::from_url(&sink.url(), "no-reply@app.test").unwrap(),
            panicked: Default::default(),
        })
        .with_outbox(quick_outbox())
        .build()
        .unwrap();
    let c = Client::new(serve(users.clone()).await);
    c.register("p1@example.com", "correct horse battery").await;
    c.register("p2@example.com", "correct horse battery").await;
    sink.wait_for("p1@example.com", 1, 10).await;
    sink.wait_for("p2@example.com", 1, 10).await;
    drained(&users).await;
}
