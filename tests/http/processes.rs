//! The example binaries, run as real processes: the axum and hyper examples
//! serve the lifecycle, and the server survives kill -9 without losing an
//! acknowledged registration.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use crate::common::Client;

/// `target/<profile>/examples/<name>`: cargo builds examples before tests.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join(name)
}

pub(crate) struct Running {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start(name: &str, envs: &[(&str, &str)]) -> Running {
    start_with(Command::new(example(name)), name, envs, Stdio::null())
}

/// Runs example `name` with at most `nofile` open files, its log in `log`.
fn start_limited(name: &str, envs: &[(&str, &str)], nofile: u32, log: &std::fs::File) -> Running {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\""))
        .arg(example(name));
    start_with(cmd, name, envs, Stdio::from(log.try_clone().unwrap()))
}

/// Runs example `name` with its stderr (the log) in `log`.
fn start_logged(name: &str, envs: &[(&str, &str)], log: &std::fs::File) -> Running {
    let stderr = Stdio::from(log.try_clone().unwrap());
    start_with(Command::new(example(name)), name, envs, stderr)
}

/// Waits until the file at `path` holds a line for which `found` is true.
async fn wait_for_line(path: &std::path::Path, found: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap();
        if text.lines().any(&found) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no such line in {}:\n{text}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_with(mut cmd: Command, name: &str, envs: &[(&str, &str)], stderr: Stdio) -> Running {
    cmd.env("TOWER_USERS_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("run example {name} (built by cargo test): {e}"));
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    Running { child, addr }
}

async fn walk_lifecycle(addr: SocketAddr) {
    let c = Client::new(addr);
    let (access, refresh) = c
        .signed_up("walk@example.com", "correct horse battery")
        .await;
    let me = c.get("/users/me", Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK);
    let hello = c.get("/hello", Some(&access)).await;
    assert_eq!(hello.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&hello.body).contains("walk@example.com"));
    assert_eq!(c.get("/hello", None).await.status, StatusCode::UNAUTHORIZED);
    let r = c
        .post_json(
            "/users/refresh",
            serde_json::json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let access = r.json()["access_token"].as_str().unwrap().to_owned();
    let out = c
        .request(Method::POST, "/users/logout", Some(&access), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_axum_example_serves_the_lifecycle() {
    let running = start("axum", &[]);
    walk_lifecycle(running.addr).await;
}

#[tokio::test]
async fn the_hyper_example_serves_the_lifecycle() {
    let running = start("hyper", &[]);
    walk_lifecycle(running.addr).await;
}

#[tokio::test]
async fn the_server_example_serves_the_lifecycle_and_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.redb");
    let running = start(
        "server",
        &[
            ("TOWER_USERS_DB", db.to_str().unwrap()),
            (
                "TOWER_USERS_SUPERUSER",
                "root@example.com:kettle staple zebra",
            ),
        ],
    );
    let c = Client::new(running.addr);
    assert_eq!(c.get("/healthz", None).await.status, StatusCode::OK);
    walk_lifecycle(running.addr).await;
    let root = c.login("root@example.com", "kettle staple zebra").await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(root.json()["user"]["is_superuser"], true);
}

/// `TOWER_USERS_RATE_LIMIT=off` takes the rate-limit layer away, not the
/// per-account lockout, which the core applies to every login.
#[tokio::test]
async fn the_lockout_holds_in_the_server_with_rate_limits_off() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.redb");
    let running = start(
        "server",
        &[
            ("TOWER_USERS_DB", db.to_str().unwrap()),
            ("TOWER_USERS_RATE_LIMIT", "off"),
        ],
    );
    let c = Client::new(running.addr);
    let password = "correct horse battery";
    assert_eq!(
        c.register("off@example.com", password).await.status,
        StatusCode::CREATED
    );
    for _ in 0..5 {
        let r = c.login("off@example.com", "guess").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = c.login("off@example.com", password).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.json());
}

#[tokio::test]
async fn the_server_exits_cleanly_on_sigterm_with_idle_connections_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.redb");
    let mut running = start("server", &[("TOWER_USERS_DB", db.to_str().unwrap())]);
    // An idle keep-alive connection that never sends anything more.
    let _idle = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let c = Client::new(running.addr);
    assert_eq!(c.get("/healthz", None).await.status, StatusCode::OK);
    let pid = running.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let started = Instant::now();
    loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not exit within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_server_mid_storm_loses_no_acknowledged_registration() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.redb");
    let db = db.to_str().unwrap().to_owned();
    let secret = (
        "TOWER_USERS_SECRET",
        "crash-test-secret-crash-test-secret-0123",
    );
    // The storm comes from one address: rate limiting would stop it.
    let no_limit = ("TOWER_USERS_RATE_LIMIT", "off");
    let mut running = start("server", &[("TOWER_USERS_DB", &db), secret, no_limit]);

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (stop, acked, addr) = (stop.clone(), acked.clone(), running.addr);
        workers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let email = format!("storm-{w}-{i}@example.com");
                i += 1;
                // Raw attempt: the connection may die mid-request.
                if try_register(addr, &email).await == Some(201) {
                    acked.lock().unwrap().push(email);
                }
            }
        }));
    }
    // Let the storm run, then kill -9 while requests are in flight.
    while acked.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.child.kill().unwrap();
    running.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40);

    let restarted = start("server", &[("TOWER_USERS_DB", &db), secret, no_limit]);
    let c = Client::new(restarted.addr);
    for email in &acked {
        let r = c.login(email, "correct horse battery").await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{email} was acknowledged but lost"
        );
    }
}

/// Registers over a fresh connection; `None` if the server vanished.
async fn try_register(addr: SocketAddr, email: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::json!({"email": email, "password": "correct horse battery"}).to_string();
    let req = format!(
        "POST /users/register HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test]
async fn mail_pending_when_the_server_dies_is_delivered_after_restart() {
    use crate::smtp_sink::{Sink, free_port};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mail.redb");
    let db = db.to_str().unwrap().to_owned();
    let port = free_port();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let env = [
        ("TOWER_USERS_DB", db.as_str()),
        ("TOWER_USERS_SMTP_URL", smtp.as_str()),
        (
            "TOWER_USERS_SECRET",
            "restart-test-secret-restart-test-secret-01",
        ),
    ];
    let mut running = start("server", &env);
    let c = Client::new(running.addr);
    // The SMTP server is down: both emails wait in the outbox.
    assert_eq!(
        c.register("later@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::CREATED
    );
    let r = c
        .post_json(
            "/users/password-reset/request",
            serde_json::json!({"email": "later@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    running.child.kill().unwrap();
    running.child.wait().unwrap();

    let sink = Sink::start_on(port, None);
    let _restarted = start("server", &env);
    let mails = sink.wait_for("later@example.com", 2, 30).await;
    let mut subjects: Vec<_> = mails
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    assert!(
        subjects[0].starts_with("Confirm") && subjects[1].starts_with("Reset"),
        "{subjects:?}"
    );
}

#[tokio::test]
async fn the_profile_example_stores_and_returns_display_name() {
    let running = start("profile", &[]);
    let c = Client::new(running.addr);
    let r = c
        .post_json(
            "/users/register",
            serde_json::json!({"email": "ann@example.com", "password": "correct horse battery", "display_name": "Ann"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["display_name"], "Ann");
    let token = c
        .access_token("ann@example.com", "correct horse battery")
        .await;
    assert_eq!(&c.get("/hello", Some(&token)).await.body[..], b"hello Ann");
    let r = c
        .post_json(
            "/users/register",
            serde_json::json!({"email": "bo@example.com", "password": "correct horse battery", "display_name": ""}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A `TOWER_USERS_SUPERUSER` gone stale (the superuser changed its
/// password, or someone else registered the address) must not keep the
/// server down, and must never hand the account over.
#[tokio::test]
async fn the_server_starts_with_a_stale_superuser_setting_and_leaves_the_account_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stale.redb");
    let db = db.to_str().unwrap();
    let env = [
        ("TOWER_USERS_DB", db),
        (
            "TOWER_USERS_SUPERUSER",
            "root@example.com:kettle staple zebra",
        ),
    ];
    let running = start("server", &env);
    let c = Client::new(running.addr);
    let token = c
        .access_token("root@example.com", "kettle staple zebra")
        .await;
    let r = c
        .request(
            Method::PATCH,
            "/users/me",
            Some(&token),
            Some(serde_json::json!({"current_password": "kettle staple zebra", "password": "a newer secret phrase"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    // Someone registers an address that a later setting will name.
    assert_eq!(
        c.register("boss@example.com", "the registrant's own words")
            .await
            .status,
        StatusCode::CREATED
    );
    drop(running);

    for spec in [
        "root@example.com:kettle staple zebra",
        "boss@example.com:the operator's password",
    ] {
        let env = [("TOWER_USERS_DB", db), ("TOWER_USERS_SUPERUSER", spec)];
        let restarted = start("server", &env);
        let c = Client::new(restarted.addr);
        assert_eq!(c.get("/healthz", None).await.status, StatusCode::OK);
        let (email, stale) = spec.split_once(':').unwrap();
        assert_eq!(c.login(email, stale).await.status, StatusCode::UNAUTHORIZED);
    }
    let env = [("TOWER_USERS_DB", db)];
    let restarted = start("server", &env);
    let c = Client::new(restarted.addr);
    let root = c.login("root@example.com", "a newer secret phrase").await;
    assert_eq!(
        root.json()["user"]["is_superuser"],
        true,
        "{:?}",
        root.json()
    );
    let boss = c
        .login("boss@example.com", "the registrant's own words")
        .await;
    assert_eq!(
        boss.json()["user"]["is_superuser"],
        false,
        "{:?}",
        boss.json()
    );
}

/// CPU time (user + system) the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th of the whole line.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second: u64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100);
    Duration::from_millis(ticks * 1000 / per_second)
}

/// Starts the server under 64 open files, opens more idle connections than
/// that, and checks that it waits instead of spinning: the log grows by a
/// few lines a second at most (once it has said `expect`), the process
/// stays nearly idle, and once the connections close it serves again.
async fn outlives_running_out_of_descriptors(max_connections: &str, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fd.redb");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let env = [
        ("TOWER_USERS_DB", db.to_str().unwrap()),
        ("TOWER_USERS_MAX_CONNECTIONS", max_connections),
    ];
    let running = start_limited("server", &env, 64, &log);
    let pid = running.child.id();
    let mut idle = Vec::new();
    for _ in 0..150 {
        // Beyond what the server accepts, the kernel's backlog holds them.
        idle.push(tokio::net::TcpStream::connect(running.addr).await.unwrap());
    }
    let lines = || {
        std::fs::read_to_string(&log_path)
            .unwrap()
            .lines()
            .filter(|l| l.contains(expect))
            .count()
    };
    let started = Instant::now();
    while lines() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server never logged {expect:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (lines_before, cpu_before, window) = (lines(), cpu_time(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (logged, cpu) = (lines() - lines_before, cpu_time(pid) - cpu_before);
    let elapsed = window.elapsed();
    // One line a second, with slack for a slow machine; a spinning loop
    // writes thousands.
    assert!(logged <= 6, "{logged} lines of {expect:?} in {elapsed:?}");
    // A spinning loop burns a core; waiting costs next to nothing.
    assert!(
        cpu < elapsed / 4,
        "the server used {cpu:?} of CPU in {elapsed:?} while waiting"
    );
    drop(idle);
    let c = Client::new(running.addr);
    assert_eq!(c.get("/healthz", None).await.status, StatusCode::OK);
    let r = c
        .register("after@example.com", "correct horse battery")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
}

#[tokio::test]
async fn out_of_descriptors_the_server_backs_off_and_serves_again() {
    // A cap above the limit: accept itself fails with EMFILE.
    outlives_running_out_of_descriptors("100000", "accept failed").await;
}

#[tokio::test]
async fn at_the_default_connection_cap_the_server_waits_and_serves_again() {
    // The default cap sits below the open-file limit: accept waits for a
    // connection to close instead of failing.
    outlives_running_out_of_descriptors("", "too many connections").await;
}

/// The example server logs requests with their headers through tower-http's
/// `TraceLayer`; credentials are marked sensitive first, so even at TRACE
/// the log shows that an `Authorization` header came, never the token.
#[tokio::test]
async fn the_server_log_at_trace_level_never_shows_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.redb");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let env = [
        ("TOWER_USERS_DB", db.to_str().unwrap()),
        ("RUST_LOG", "trace"),
    ];
    let running = start_logged("server", &env, &log);
    let c = Client::new(running.addr);
    let (token, _) = c
        .signed_up("traced@example.com", "correct horse battery")
        .await;
    assert_eq!(
        c.get("/users/me", Some(&token)).await.status,
        StatusCode::OK
    );
    // A token in a path is as secret as one in a header.
    let path_token = "a-made-up-reset-token-9f8e7d6c5b4a";
    let r = c
        .post_json(
            &format!("/users/password-reset/{path_token}"),
            serde_json::json!({"password": "another long password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The access token's signature: the part no other log line could hold.
    let signature = token.rsplit('.').next().unwrap();
    let text = wait_for_line(&log_path, |l| {
        l.contains("finished processing request") && l.contains("/users/me")
    })
    .await;
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("/users/me") && l.contains("authorization"))
        .collect();
    assert!(
        !headers.is_empty()
            && headers
                .iter()
                .all(|l| l.contains(r#""authorization": Sensitive"#)),
        "the request's headers were not logged, or not masked:\n{text}"
    );
    assert!(!text.contains(signature), "the token is in the log");
    let text = wait_for_line(&log_path, |l| l.contains("/users/password-reset/{token}")).await;
    assert!(!text.contains(path_token), "the path token is in the log");
}

/// A newcomer's app sets up no tracing subscriber (the profile example has
/// none): the default mailer must still show the verification link, on
/// stderr, instead of logging it to nowhere.
#[tokio::test]
async fn without_a_tracing_subscriber_the_emailed_link_shows_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let running = start_logged("profile", &[], &log);
    let c = Client::new(running.addr);
    let r = c
        .post_json(
            "/users/register",
            serde_json::json!({"email": "new@example.com", "password": "correct horse battery", "display_name": "New"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let text = wait_for_line(&log_path, |l| l.contains("/verify#token=")).await;
    assert!(text.contains("To: new@example.com"), "{text}");
}

/// The CSRF token is a credential too: sent by scripts in `X-CSRF-Token`
/// and answered in it by `GET /users/me` by cookie, it is masked in the
/// example server's request log as the cookies are.
#[tokio::test]
async fn the_server_log_at_debug_level_never_shows_the_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("csrf-log.redb");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let env = [
        ("TOWER_USERS_DB", db.to_str().unwrap()),
        ("RUST_LOG", "debug"),
    ];
    let running = start_logged("server", &env, &log);
    let c = Client::new(running.addr);
    c.signed_up("csrf@example.com", "correct horse battery")
        .await;
    let r = c
        .post_json(
            "/users/login",
            serde_json::json!({
                "email": "csrf@example.com",
                "password": "correct horse battery",
                "cookie": true,
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let crate::common::Session { cookie, csrf } = crate::common::Session::from_login(&r);
    let req = http::Request::get(format!("http://{}/users/me", running.addr))
        .header("host", running.addr.to_string())
        .header("cookie", &cookie)
        .body(http_body_util::Full::<bytes::Bytes>::default())
        .unwrap();
    let me = crate::common::send(running.addr, req).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.headers["x-csrf-token"], csrf.as_str());
    let out = c
        .post_with(
            "/users/logout",
            &[
                ("cookie", &cookie),
                ("x-csrf-token", &csrf),
                ("sec-fetch-site", "same-origin"),
            ],
            serde_json::json!({}),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let text = wait_for_line(&log_path, |l| {
        l.contains("finished processing request") && l.contains("/users/logout")
    })
    .await;
    assert!(
        text.contains(r#""x-csrf-token": Sensitive"#),
        "the header was not logged, or not masked:\n{text}"
    );
    assert!(!text.contains(&csrf), "the CSRF token is in the log");
}

/// Plain-HTTP cookies are for a development server on this machine: bound
/// to an address the network reaches, the server refuses to start.
#[tokio::test]
async fn plain_http_cookies_beyond_loopback_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plain.redb");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(example("server"))
        .env("TOWER_USERS_DB", &db)
        .env("TOWER_USERS_COOKIES", "plain-http")
        .env("TOWER_USERS_BIND", "0.0.0.0:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started with plain-HTTP cookies on 0.0.0.0");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success());
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        text.contains("TOWER_USERS_COOKIES=plain-http") && text.contains("loopback"),
        "{text}"
    );
    assert!(!db.exists(), "nothing is set up before the refusal");
}
