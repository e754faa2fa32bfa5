//! Test support: a real server on 127.0.0.1:0 and a small HTTP client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum_core::response::IntoResponse;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use tower_users::http::{PeerAddr, RateLimitConfig, RateLimitLayer};
use tower_users::mail::{EmailKind, MailError, Mailer, OutgoingEmail};
use tower_users::{CurrentUser, RedbStore, Users, UsersBuilder, UsersService};

/// Keeps every email the server sends, in order.
#[derive(Clone, Default)]
pub struct Outbox(Arc<Mutex<Vec<OutgoingEmail>>>);

impl Mailer for Outbox {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        self.0.lock().unwrap().push(email.clone());
        Ok(())
    }
}

impl Outbox {
    /// Waits (up to 5 s) for an email to `to` and returns the token in its link.
    pub async fn token_for(&self, to: &str) -> String {
        for _ in 0..500 {
            let found = self
                .0
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|e| e.to == to)
                .map(|e| e.link.clone());
            if let Some(link) = found {
                return link.split_once("#token=").unwrap().1.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no email to {to} arrived");
    }

    /// Waits (up to 5 s) for an email of `kind` to `to`.
    pub async fn wait_for(&self, to: &str, kind: EmailKind) -> OutgoingEmail {
        for _ in 0..500 {
            let found = self
                .sent()
                .into_iter()
                .find(|e| e.to == to && e.kind == kind);
            if let Some(email) = found {
                return email;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {kind:?} email to {to} arrived");
    }

    /// Every email sent so far, in order, as (recipient, kind).
    pub fn sent_kinds(&self) -> Vec<(String, EmailKind)> {
        self.sent().into_iter().map(|e| (e.to, e.kind)).collect()
    }

    /// Every email sent so far, in order.
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.0.lock().unwrap().clone()
    }

    pub fn count_to(&self, to: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|e| e.to == to).count()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// Waits (up to 5 s) until the outbox is empty: the worker clears a row
/// (a decoy too) only after dealing with it.
pub async fn drained(users: &Users) {
    for _ in 0..100 {
        if users.pending_mail().await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the outbox did not drain");
}

pub const SECRET: &[u8] = b"integration-test-secret-of-32-bytes-or-more";

pub struct TestServer {
    pub addr: SocketAddr,
    pub users: Users,
    pub store: RedbStore,
    pub outbox: Outbox,
    _dir: tempfile::TempDir,
}

/// Fast argon2 settings for tests that do not measure hashing.
pub fn builder(store: RedbStore, outbox: Outbox) -> UsersBuilder {
    Users::builder(store)
        .with_secret(SECRET)
        .with_mailer(outbox)
}

pub async fn server() -> TestServer {
    server_with(|b| b).await
}

pub async fn server_with(configure: impl FnOnce(UsersBuilder) -> UsersBuilder) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("users.redb")).unwrap();
    let outbox = Outbox::default();
    let users = configure(builder(store.clone(), outbox.clone()))
        .build()
        .unwrap();
    let addr = serve(users.clone()).await;
    TestServer {
        addr,
        users,
        store,
        outbox,
        _dir: dir,
    }
}

/// Serves `users` under /users behind `RateLimitLayer`, recording each
/// connection's peer as real servers do.
pub async fn serve_limited(users: Users, config: RateLimitConfig) -> SocketAddr {
    use tower::Layer;
    let service = RateLimitLayer::new(config).layer(UsersService::new(users));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                service.clone().oneshot(req)
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

/// Serves `users` under /users, plus GET /hello behind CurrentUser.
pub async fn serve(users: Users) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let users = users.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let users = users.clone();
                async move {
                    if req.uri().path() == "/hello" {
                        let (parts, _) = req.into_parts();
                        let res = match CurrentUser::from_parts(&parts, &users).await {
                            Ok(u) => format!("hello {}", u.email).into_response(),
                            Err(r) => r.into_response(),
                        };
                        return Ok::<_, Infallible>(res);
                    }
                    UsersService::new(users).oneshot(req).await
                }
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

/// A response, with the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
    send_over(TcpStream::connect(addr).await.unwrap(), req).await
}

/// Sends `req` over a connection the caller opened (from a chosen local
/// address, say).
pub async fn send_over(stream: TcpStream, req: Request<Full<Bytes>>) -> Reply {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let res = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .expect("request hung")
        .unwrap();
    let (parts, body) = res.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub struct Client {
    pub addr: SocketAddr,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Client { addr }
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, None, Some(body)).await
    }

    /// POSTs JSON with extra headers.
    pub async fn post_with(&self, path: &str, headers: &[(&str, &str)], body: Value) -> Reply {
        let mut req = Request::post(format!("http://{}{}", self.addr, path))
            .header("host", self.addr.to_string())
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        send(self.addr, req.body(Full::from(body.to_string())).unwrap()).await
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path))
            .header("host", self.addr.to_string());
        if let Some(credential) = bearer {
            req = match Session::parse(credential) {
                Some(session) => req
                    .header("cookie", session.cookie)
                    .header("x-csrf-token", session.csrf),
                None => req.header("authorization", format!("Bearer {credential}")),
            };
        }
        let body = match body {
            Some(json) => {
                req = req.header("content-type", "application/json");
                Full::from(json.to_string())
            }
            None => Full::default(),
        };
        send(self.addr, req.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.request(Method::GET, path, bearer, None).await
    }

    pub async fn register(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/users/register",
            serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/users/login",
            serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in, which must succeed; returns the credential the request
    /// helpers send: the access token, or in cookie mode the browser's
    /// session (see [`Session`]).
    pub async fn access_token(&self, email: &str, password: &str) -> String {
        if cookie_mode() {
            return self.cookie_session(email, password).await;
        }
        let r = self.login(email, password).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// Registers and logs in; returns (access_token, refresh_token). In
    /// cookie mode the first is the browser's session and the second
    /// [`NO_REFRESH_TOKEN`]: a cookie session has nothing to refresh.
    pub async fn signed_up(&self, email: &str, password: &str) -> (String, String) {
        assert_eq!(
            self.register(email, password).await.status,
            StatusCode::CREATED
        );
        if cookie_mode() {
            let session = self.cookie_session(email, password).await;
            return (session, NO_REFRESH_TOKEN.to_owned());
        }
        let r = self.login(email, password).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
        let j = r.json();
        (
            j["access_token"].as_str().unwrap().to_owned(),
            j["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Logs in asking for cookies, which must succeed; returns the session
    /// as a credential for the request helpers.
    pub async fn cookie_session(&self, email: &str, password: &str) -> String {
        let r = self
            .post_json(
                "/users/login",
                serde_json::json!({"email": email, "password": password, "cookie": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
        Session::from_login(&r).credential()
    }
}

/// `credential` with its signature altered by one character: for a bearer
/// token its last, for a session the first of the session cookie's tag (a
/// whole base64 digit, so the tag's bytes change).
pub fn forged(credential: &str) -> String {
    let swap = |c: char| if c == 'A' { 'B' } else { 'A' };
    match Session::parse(credential) {
        Some(mut session) => {
            let end = session.cookie.find(';').unwrap_or(session.cookie.len());
            let at = session.cookie[..end]
                .rfind('.')
                .expect("a signed session cookie")
                + 1;
            let old = session.cookie[at..].chars().next().unwrap();
            session
                .cookie
                .replace_range(at..at + old.len_utf8(), &swap(old).to_string());
            session.credential()
        }
        None => {
            let mut forged = credential.to_owned();
            let last = forged.pop().unwrap();
            forged.push(swap(last));
            forged
        }
    }
}

/// The variable that switches the sign-in helpers to the cookie transport.
pub const TRANSPORT_VAR: &str = "TOWER_USERS_TEST_TRANSPORT";

/// True when the tests run as a browser would: `TOWER_USERS_TEST_TRANSPORT=cookie`
/// makes [`Client::access_token`] and [`Client::signed_up`] log in with
/// `"cookie": true` and the request helpers send the cookie and the CSRF
/// token instead of `Authorization: Bearer`.
pub fn cookie_mode() -> bool {
    std::env::var(TRANSPORT_VAR).is_ok_and(|v| v == "cookie")
}

/// What [`Client::signed_up`] gives as the refresh token in cookie mode:
/// refused by `/users/refresh`, so a test that needs one and is not marked
/// [`bearer_only!`] fails loudly instead of passing by accident.
pub const NO_REFRESH_TOKEN: &str = "cookie-mode-has-no-refresh-token";

/// Ends a test early in cookie mode, saying why on stderr past the test
/// harness's capture (so a plain `cargo test` run shows every skip): for a
/// test about bearer or refresh-token mechanics themselves.
macro_rules! bearer_only {
    ($why:expr) => {
        if $crate::common::cookie_mode() {
            $crate::common::report_skip($why);
            return;
        }
    };
}
pub(crate) use bearer_only;

/// Writes the skip notice straight to stderr: `eprintln!` would be
/// captured and shown only for failing tests.
pub fn report_skip(why: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let _ = writeln!(
        std::io::stderr(),
        "bearer-only, skipped in cookie mode: {test}: {why}"
    );
}

/// A signed-in browser as a credential string: `cookie:<Cookie header>|<CSRF token>`,
/// which [`Client::request`] sends as `Cookie` and `X-CSRF-Token`.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    const PREFIX: &'static str = "cookie:";

    /// The session a cookie login's reply sets.
    pub fn from_login(reply: &Reply) -> Self {
        let cookie = reply
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        assert!(!cookie.is_empty(), "the cookie login set no cookie");
        let csrf = reply.json()["csrf_token"].as_str().unwrap().to_owned();
        Session { cookie, csrf }
    }

    /// The credential string [`Client::request`] turns back into this session.
    pub fn credential(&self) -> String {
        format!("{}{}|{}", Self::PREFIX, self.cookie, self.csrf)
    }

    /// The session in a credential string, if it is one.
    pub fn parse(credential: &str) -> Option<Self> {
        let (cookie, csrf) = credential.strip_prefix(Self::PREFIX)?.split_once('|')?;
        Some(Session {
            cookie: cookie.to_owned(),
            csrf: csrf.to_owned(),
        })
    }
}

/// Asserts `reply` is a problem+json error with `status` and `code`.
#[track_caller]
pub fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status.as_u16(), status, "body: {:?}", reply.json());
    assert!(
        reply.content_type().starts_with("application/problem+json"),
        "content-type {:?}",
        reply.content_type()
    );
    let j = reply.json();
    assert_eq!(j["code"], code, "body: {j}");
    assert_eq!(j["status"], status);
    assert!(j["title"].is_string());
    assert_eq!(j["type"], "about:blank");
}
