//! The cookie transport over real HTTP: a browser's session in a
//! `__Host-` cookie, CSRF checks on every state-changing request it
//! authenticates, CORS for a single-page app, and bearer clients unchanged.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use tower_users::{CookieSettings, Transport, UsersBuilder};

use crate::common::{Client, Reply, TestServer, assert_problem, send, server_with};

const PASSWORD: &str = "correct horse battery";

/// A browser-like request: method, path, the cookie header, extra headers,
/// and a JSON or form body.
struct Call<'a> {
    method: Method,
    path: &'a str,
    cookie: Option<&'a str>,
    headers: Vec<(&'a str, String)>,
    body: Option<(&'static str, String)>,
}

impl<'a> Call<'a> {
    fn new(method: Method, path: &'a str) -> Self {
        Call {
            method,
            path,
            cookie: None,
            headers: Vec::new(),
            body: None,
        }
    }

    fn cookie(mut self, cookie: &'a str) -> Self {
        self.cookie = Some(cookie);
        self
    }

    fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn json(mut self, body: Value) -> Self {
        self.body = Some(("application/json", body.to_string()));
        self
    }

    fn form(mut self, body: &str) -> Self {
        self.body = Some(("application/x-www-form-urlencoded", body.to_owned()));
        self
    }

    async fn send(self, addr: SocketAddr) -> Reply {
        let mut req = Request::builder()
            .method(self.method)
            .uri(format!("http://{addr}{}", self.path))
            .header("host", addr.to_string());
        if let Some(cookie) = self.cookie {
            req = req.header("cookie", cookie);
        }
        for (name, value) in self.headers {
            req = req.header(name, value);
        }
        let body = match self.body {
            Some((kind, body)) => {
                req = req.header("content-type", kind);
                Full::from(body)
            }
            None => Full::<Bytes>::default(),
        };
        send(addr, req.body(body).unwrap()).await
    }
}

/// A signed-in browser: its `Cookie` header and the CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
    set_cookies: Vec<String>,
}

impl Browser {
    /// The session cookie alone (`name=value`).
    fn session_cookie(&self) -> &str {
        self.cookie.split("; ").next().unwrap()
    }
}

async fn cookie_server(configure: impl FnOnce(UsersBuilder) -> UsersBuilder) -> TestServer {
    server_with(|b| configure(b.with_verify_on_register(false))).await
}

async fn register(addr: SocketAddr, email: &str) {
    let r = Client::new(addr).register(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
}

/// Logs in asking for cookies, which must succeed.
async fn sign_in(addr: SocketAddr, email: &str) -> Browser {
    let r = Call::new(Method::POST, "/users/login")
        .json(json!({"email": email, "password": PASSWORD, "cookie": true}))
        .send(addr)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let set_cookies: Vec<String> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let cookie = set_cookies
        .iter()
        .map(|c| c.split(';').next().unwrap())
        .collect::<Vec<_>>()
        .join("; ");
    Browser {
        cookie,
        csrf: r.json()["csrf_token"].as_str().unwrap().to_owned(),
        set_cookies,
    }
}

#[tokio::test]
async fn a_cookie_login_sets_host_prefixed_http_only_lax_cookies_and_no_tokens() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let r = Call::new(Method::POST, "/users/login")
        .json(json!({"email": "alice@example.com", "password": PASSWORD, "cookie": true}))
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["csrf_token"].as_str().unwrap().len(), 43);
    assert_eq!(r.headers["cache-control"], "no-store");
    let cookies: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-tu-session="))
        .expect("session cookie");
    for attribute in ["Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age="] {
        assert!(session.contains(attribute), "{session} lacks {attribute}");
    }
    assert!(!session.contains("Domain"), "{session}");
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("__Host-tu-csrf="))
        .expect("CSRF cookie");
    // Readable by the page's scripts for the double-submit.
    assert!(
        !csrf.contains("HttpOnly") && csrf.contains("Secure"),
        "{csrf}"
    );
    assert!(csrf.contains(&format!("={};", body["csrf_token"].as_str().unwrap())));
}

#[tokio::test]
async fn a_bearer_login_sets_no_cookie() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let r = Client::new(s.addr)
        .login("alice@example.com", PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()["access_token"].is_string());
    assert!(r.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn the_cookie_authenticates_me_and_current_user_and_me_returns_the_csrf_token() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    let r = Call::new(Method::GET, "/users/me")
        .cookie(browser.session_cookie())
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["email"], "alice@example.com");
    assert_eq!(r.headers["x-csrf-token"], browser.csrf.as_str());
    // The app's own handler (`CurrentUser::from_parts`) takes it too.
    let r = Call::new(Method::GET, "/hello")
        .cookie(&browser.cookie)
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"hello alice@example.com");
}

#[tokio::test]
async fn a_state_changing_cookie_request_with_the_token_from_the_same_origin_passes() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    let origin = format!("http://{}", s.addr);
    let r = Call::new(Method::PATCH, "/users/me")
        .cookie(&browser.cookie)
        .header("sec-fetch-site", "same-origin")
        .header("origin", origin)
        .header("x-csrf-token", &browser.csrf)
        .json(json!({"current_password": PASSWORD, "nickname": "al"}))
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

#[tokio::test]
async fn a_cross_site_form_post_with_the_cookie_is_refused() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    // Even with the right token (say it leaked): the browser says the
    // request comes from another site.
    let r = Call::new(Method::POST, "/users/logout")
        .cookie(&browser.cookie)
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .form(&format!("csrf_token={}", browser.csrf))
        .send(s.addr)
        .await;
    assert_problem(&r, 403, "CSRF_FAILED");
    // An older browser sends only a foreign Origin.
    let r = Call::new(Method::POST, "/users/logout")
        .cookie(&browser.cookie)
        .header("origin", "https://evil.example")
        .header("x-csrf-token", &browser.csrf)
        .send(s.addr)
        .await;
    assert_problem(&r, 403, "CSRF_FAILED");
    // The session was not ended by either.
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&browser.cookie)
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_missing_wrong_or_other_sessions_csrf_token_is_refused() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    let other = sign_in(s.addr, "alice@example.com").await;
    assert_ne!(browser.csrf, other.csrf);
    let patch = |token: Option<&str>| {
        let mut call = Call::new(Method::PATCH, "/users/me")
            .cookie(&browser.cookie)
            .json(json!({"current_password": PASSWORD, "nickname": "al"}));
        if let Some(token) = token {
            call = call.header("x-csrf-token", token);
        }
        call.send(s.addr)
    };
    assert_problem(&patch(None).await, 403, "CSRF_FAILED");
    assert_problem(&patch(Some("not-the-token")).await, 403, "CSRF_FAILED");
    assert_problem(&patch(Some(&other.csrf)).await, 403, "CSRF_FAILED");
    // Deleting the account is as guarded.
    let r = Call::new(Method::DELETE, "/users/me")
        .cookie(&browser.cookie)
        .json(json!({"current_password": PASSWORD}))
        .send(s.addr)
        .await;
    assert_problem(&r, 403, "CSRF_FAILED");
    assert_eq!(patch(Some(&browser.csrf)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_session_cookie_without_the_host_prefix_authenticates_nothing() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    // The same valid value, as a sibling subdomain could plant it.
    let value = browser
        .session_cookie()
        .strip_prefix("__Host-tu-session=")
        .unwrap();
    let unprefixed = format!("tu-session={value}");
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&unprefixed)
        .send(s.addr)
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_forged_or_truncated_session_cookie_is_refused() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    let cookie = browser.session_cookie();
    let truncated = &cookie[..cookie.len() - 2];
    let mut forged = cookie.to_owned();
    // Another expiry under the old MAC.
    let (body, tag) = forged.rsplit_once('.').unwrap();
    let (head, _) = body.rsplit_once('.').unwrap();
    forged = format!("{head}.99999999999.{tag}");
    // Values made for another purpose: the access token, the CSRF token.
    let token = Client::new(s.addr)
        .access_token("alice@example.com", PASSWORD)
        .await;
    let access = format!("__Host-tu-session={token}");
    let csrf = format!("__Host-tu-session={}", browser.csrf);
    let long = format!("__Host-tu-session={}", "a.".repeat(5000));
    for bad in [
        truncated,
        &forged,
        &access,
        &csrf,
        &long,
        "__Host-tu-session=",
        "__Host-tu-session=a.b.c.d",
    ] {
        let r = Call::new(Method::GET, "/users/me")
            .cookie(bad)
            .send(s.addr)
            .await;
        assert_problem(&r, 401, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn an_expired_session_cookie_is_refused() {
    let s = cookie_server(|b| b.with_session_ttl(Duration::from_secs(1))).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    assert!(
        browser.set_cookies[0].contains("Max-Age=1;"),
        "{:?}",
        browser.set_cookies
    );
    // Past the one-second session (whole seconds, so up to two).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&browser.cookie)
        .send(s.addr)
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn logout_by_cookie_clears_the_cookies_and_revokes_the_session() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    let r = Call::new(Method::POST, "/users/logout")
        .cookie(&browser.cookie)
        .header("sec-fetch-site", "same-origin")
        .header("x-csrf-token", &browser.csrf)
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    let cleared: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    for cookie in &cleared {
        assert!(
            cookie.contains("Max-Age=0") && cookie.contains("Secure"),
            "{cookie}"
        );
    }
    assert!(cleared.iter().any(|c| c.starts_with("__Host-tu-session=;")));
    // The old cookie, replayed, is dead: the session is gone from the store.
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&browser.cookie)
        .send(s.addr)
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
    // Logging out with the dead cookie is a 401 that still clears it.
    let r = Call::new(Method::POST, "/users/logout")
        .cookie(&browser.cookie)
        .send(s.addr)
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
    assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);
    // Without any cookie, nothing is set.
    let r = Call::new(Method::POST, "/users/logout").send(s.addr).await;
    assert_problem(&r, 401, "UNAUTHORIZED");
    assert!(r.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn a_password_change_ends_the_cookie_session() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    let token = Client::new(s.addr)
        .access_token("alice@example.com", PASSWORD)
        .await;
    let r = Client::new(s.addr)
        .request(
            Method::PATCH,
            "/users/me",
            Some(&token),
            Some(json!({"current_password": PASSWORD, "password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&browser.cookie)
        .send(s.addr)
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn bearer_requests_are_not_subject_to_csrf_checks() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let token = Client::new(s.addr)
        .access_token("alice@example.com", PASSWORD)
        .await;
    let r = Call::new(Method::POST, "/users/logout")
        .header("authorization", format!("Bearer {token}"))
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://elsewhere.example")
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    assert!(r.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn a_cross_site_cookie_login_is_refused() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let r = Call::new(Method::POST, "/users/login")
        .header("sec-fetch-site", "cross-site")
        .form(&format!(
            "username=alice%40example.com&password={PASSWORD}&cookie=true"
        ))
        .send(s.addr)
        .await;
    assert_problem(&r, 403, "CSRF_FAILED");
    assert!(r.headers.get("set-cookie").is_none());
    // A same-origin form login asking for cookies gets them.
    let r = Call::new(Method::POST, "/users/login")
        .header("sec-fetch-site", "same-origin")
        .form(&format!(
            "username=alice%40example.com&password={PASSWORD}&cookie=true"
        ))
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert!(r.headers.get("set-cookie").is_some());
}

/// Alice's bearer token and Bob's cookie on one request: the first
/// transport in the configured order decides who it is.
async fn whoami(order: Option<[Transport; 2]>) -> String {
    let s = cookie_server(|b| match order {
        Some(order) => b.with_transports(order),
        None => b,
    })
    .await;
    register(s.addr, "alice@example.com").await;
    register(s.addr, "bob@example.com").await;
    let alice = Client::new(s.addr)
        .access_token("alice@example.com", PASSWORD)
        .await;
    let bob = sign_in(s.addr, "bob@example.com").await;
    let r = Call::new(Method::GET, "/users/me")
        .header("authorization", format!("Bearer {alice}"))
        .cookie(&bob.cookie)
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    r.json()["email"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_transport_order_is_configurable() {
    assert_eq!(whoami(None).await, "alice@example.com");
    assert_eq!(
        whoami(Some([Transport::Cookie, Transport::Bearer])).await,
        "bob@example.com"
    );
}

#[tokio::test]
async fn a_bad_bearer_token_does_not_hide_a_valid_cookie() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    let r = Call::new(Method::GET, "/users/me")
        .header("authorization", "Bearer forged")
        .cookie(&browser.cookie)
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}

#[tokio::test]
async fn without_the_cookie_transport_cookies_are_neither_set_nor_read() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    let bearer_only = cookie_server(|b| b.with_transports([Transport::Bearer])).await;
    register(bearer_only.addr, "alice@example.com").await;
    let r = Call::new(Method::POST, "/users/login")
        .json(json!({"email": "alice@example.com", "password": PASSWORD, "cookie": true}))
        .send(bearer_only.addr)
        .await;
    assert_problem(&r, 422, "VALIDATION_ERROR");
    // Same secret, so the cookie would verify: it is not even looked at.
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&browser.cookie)
        .send(bearer_only.addr)
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn plain_http_localhost_mode_drops_secure_and_the_prefix() {
    let s = cookie_server(|b| b.with_cookies(CookieSettings::plain_http_localhost())).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    for cookie in &browser.set_cookies {
        assert!(cookie.starts_with("tu-"), "{cookie}");
        assert!(!cookie.contains("Secure"), "{cookie}");
    }
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&browser.cookie)
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// The single-page app's origin, which both the CORS allow-list and the
/// cookie settings trust.
const APP_ORIGIN: &str = "http://app.localhost:5173";

/// Serves `users` under /users behind a CORS layer allowing only
/// [`APP_ORIGIN`], with credentials, as the README shows.
async fn serve_with_cors(users: tower_users::Users) -> SocketAddr {
    use hyper_util::rt::TokioIo;
    use tower::{Layer, ServiceExt};
    use tower_http::cors::CorsLayer;
    let cors = CorsLayer::new()
        .allow_origin([APP_ORIGIN.parse::<http::HeaderValue>().unwrap()])
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([http::header::CONTENT_TYPE, "x-csrf-token".parse().unwrap()])
        .expose_headers(["x-csrf-token".parse::<http::HeaderName>().unwrap()]);
    let service = cors.layer(tower_users::UsersService::new(users));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
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

async fn preflight(addr: SocketAddr, origin: &str) -> Reply {
    Call::new(Method::OPTIONS, "/users/logout")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-csrf-token")
        .send(addr)
        .await
}

#[tokio::test]
async fn a_cookie_request_from_a_disallowed_origin_fails_cors_and_csrf() {
    let s = cookie_server(|b| {
        b.with_cookies(CookieSettings::default().with_trusted_origin(APP_ORIGIN))
    })
    .await;
    let addr = serve_with_cors(s.users.clone()).await;
    register(addr, "alice@example.com").await;
    let browser = sign_in(addr, "alice@example.com").await;

    // The browser's preflight from a foreign origin is not granted: without
    // `Access-Control-Allow-Origin` naming it, the browser sends nothing
    // and shows the answer to no script.
    let evil = "http://evil.localhost:6666";
    let r = preflight(addr, evil).await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // And the request itself (a form post needs no preflight) is refused
    // by the CSRF check even with the token.
    let r = Call::new(Method::POST, "/users/logout")
        .cookie(&browser.cookie)
        .header("origin", evil)
        .header("sec-fetch-site", "same-site")
        .header("x-csrf-token", &browser.csrf)
        .send(addr)
        .await;
    assert_problem(&r, 403, "CSRF_FAILED");

    // The app's own origin: allowed by name (never `*`), with credentials,
    // and its request passes with the token.
    let r = preflight(addr, APP_ORIGIN).await;
    assert_eq!(r.headers["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(r.headers["access-control-allow-credentials"], "true");
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&browser.cookie)
        .header("origin", APP_ORIGIN)
        .header("sec-fetch-site", "same-site")
        .send(addr)
        .await;
    assert_eq!(r.headers["access-control-expose-headers"], "x-csrf-token");
    let r = Call::new(Method::POST, "/users/logout")
        .cookie(&browser.cookie)
        .header("origin", APP_ORIGIN)
        .header("sec-fetch-site", "same-site")
        .send(addr)
        .await;
    assert_problem(&r, 403, "CSRF_FAILED");
    let r = Call::new(Method::POST, "/users/logout")
        .cookie(&browser.cookie)
        .header("origin", APP_ORIGIN)
        .header("sec-fetch-site", "same-site")
        .header("x-csrf-token", &browser.csrf)
        .send(addr)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
}

/// The example server signs browsers in with the `__Host-` cookie and
/// answers CORS for the origins of `TOWER_USERS_CORS_ORIGINS` only.
#[tokio::test]
async fn the_example_server_has_cookies_on_and_cors_for_the_named_origins() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.redb");
    let running = crate::processes::start(
        "server",
        &[
            ("TOWER_USERS_DB", db.to_str().unwrap()),
            ("TOWER_USERS_CORS_ORIGINS", APP_ORIGIN),
        ],
    );
    let addr = running.addr;
    register(addr, "alice@example.com").await;
    let browser = sign_in(addr, "alice@example.com").await;
    assert!(browser.set_cookies[0].starts_with("__Host-tu-session="));
    let r = preflight(addr, APP_ORIGIN).await;
    assert_eq!(r.headers["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(r.headers["access-control-allow-credentials"], "true");
    let r = preflight(addr, "http://evil.localhost:6666").await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // The app's cookie request: its origin is trusted, its token required.
    let logout = |token: Option<&str>| {
        let mut call = Call::new(Method::POST, "/users/logout")
            .cookie(&browser.cookie)
            .header("origin", APP_ORIGIN)
            .header("sec-fetch-site", "same-site");
        if let Some(token) = token {
            call = call.header("x-csrf-token", token);
        }
        call.send(addr)
    };
    assert_problem(&logout(None).await, 403, "CSRF_FAILED");
    assert_eq!(
        logout(Some(&browser.csrf)).await.status,
        StatusCode::NO_CONTENT
    );
}

/// The guard layers and the axum extractors run the CSRF checks on a
/// cookie-authenticated state-changing request, with the header.
#[tokio::test]
async fn guard_layers_and_extractors_check_csrf_on_cookie_requests() {
    use axum::routing::post;
    use tower::{Layer, ServiceExt};
    use tower_users::http::{Body, Response, service_fn};
    use tower_users::{CurrentUser, CurrentUserLayer, VerifiedUser};

    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    let request = |method: Method, token: Option<&str>| {
        let mut req = Request::builder()
            .method(method)
            .uri("/action")
            .header("cookie", &browser.cookie);
        if let Some(token) = token {
            req = req.header("x-csrf-token", token);
        }
        req.body(Body::empty()).unwrap()
    };
    let layered =
        CurrentUserLayer::new(s.users.clone()).layer(service_fn(|req: Request<Body>| async move {
            let user = req.extensions().get::<CurrentUser>().unwrap();
            assert_eq!(user.transport(), Transport::Cookie);
            Ok::<_, std::convert::Infallible>(Response::new(Body::from("done")))
        }));
    let app = axum::Router::new()
        .route("/action", post(|_: CurrentUser| async { "done" }))
        .with_state(s.users.clone());
    let verified = axum::Router::new()
        .route("/action", post(|_: VerifiedUser| async { "done" }))
        .with_state(s.users.clone());
    for (name, res) in [
        (
            "layer without token",
            layered
                .clone()
                .oneshot(request(Method::POST, None))
                .await
                .unwrap(),
        ),
        (
            "extractor without token",
            app.clone()
                .oneshot(request(Method::POST, None))
                .await
                .unwrap(),
        ),
        (
            "guard extractor with a wrong token",
            verified
                .oneshot(request(Method::POST, Some("x")))
                .await
                .unwrap(),
        ),
    ] {
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{name}");
        let code = res.extensions().get::<tower_users::http::ErrorCode>();
        assert_eq!(
            code,
            Some(&tower_users::http::ErrorCode("CSRF_FAILED")),
            "{name}"
        );
    }
    let res = layered
        .clone()
        .oneshot(request(Method::GET, None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a safe method needs no token");
    let res = layered
        .oneshot(request(Method::POST, Some(&browser.csrf)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .oneshot(request(Method::POST, Some(&browser.csrf)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_role_permission_and_recent_proof_extractors_check_csrf_on_cookie_requests() {
    use axum::routing::post;
    use tower::ServiceExt;
    use tower_users::http::Body;
    use tower_users::{Permission, RecentlyAuthenticated, RequirePermission, RequireRole, Role};

    struct Write;
    impl Permission for Write {
        const NAME: &'static str = "posts:write";
    }
    struct Editor;
    impl Role for Editor {
        const NAME: &'static str = "editor";
    }

    let s = cookie_server(|b| b.with_role(Editor::NAME, [Write::NAME])).await;
    let r = Client::new(s.addr)
        .register("alice@example.com", PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = tower_users::UserId(r.json()["id"].as_str().unwrap().parse().unwrap());
    s.users.grant_role(id, id, Editor::NAME).await.unwrap();
    let browser = sign_in(s.addr, "alice@example.com").await;
    let app = axum::Router::new()
        .route(
            "/permission",
            post(|_: RequirePermission<Write>| async { "done" }),
        )
        .route("/role", post(|_: RequireRole<Editor>| async { "done" }))
        .route("/recent", post(|_: RecentlyAuthenticated| async { "done" }))
        .with_state(s.users.clone());
    for path in ["/permission", "/role", "/recent"] {
        for token in [None, Some("wrong")] {
            let mut req = Request::post(path).header("cookie", &browser.cookie);
            if let Some(token) = token {
                req = req.header("x-csrf-token", token);
            }
            let res = app
                .clone()
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} {token:?}");
            assert_eq!(
                res.extensions().get::<tower_users::http::ErrorCode>(),
                Some(&tower_users::http::ErrorCode("CSRF_FAILED")),
                "{path} {token:?}"
            );
        }
        let req = Request::post(path)
            .header("cookie", &browser.cookie)
            .header("x-csrf-token", &browser.csrf)
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path} with its token");
    }
}

/// The Set-Cookie values of `r` that clear a cookie.
fn cleared(r: &Reply) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .filter(|c| c.contains("Max-Age=0"))
        .collect()
}

/// A session cookie whose session ended elsewhere (here a log-out
/// everywhere from an API client) is no credential on the optional routes,
/// so they stay open to that browser, and the 401s it causes on the routes
/// that need a user clear it; a bad bearer token stays a 401.
#[tokio::test]
async fn a_dead_session_cookie_is_anonymous_where_optional_and_cleared_by_its_401s() {
    use tower::{Layer, ServiceExt};
    use tower_users::http::{Body, Response, service_fn};
    use tower_users::{CurrentUser, CurrentUserLayer, OptionalUserLayer};

    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    let browser = sign_in(s.addr, "alice@example.com").await;
    let token = Client::new(s.addr)
        .access_token("alice@example.com", PASSWORD)
        .await;
    let r = Client::new(s.addr)
        .request(Method::POST, "/users/logout/all", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());

    let request = |cookie: Option<&str>, bearer: Option<&str>| {
        let mut req = Request::get("/who");
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        if let Some(bearer) = bearer {
            req = req.header("authorization", format!("Bearer {bearer}"));
        }
        req.body(Body::empty()).unwrap()
    };
    let who = service_fn(|req: Request<Body>| async move {
        let who = match req.extensions().get::<CurrentUser>() {
            Some(user) => user.email.to_string(),
            None => "anonymous".to_owned(),
        };
        Ok::<_, std::convert::Infallible>(Response::new(Body::from(who)))
    });
    let optional = OptionalUserLayer::new(s.users.clone()).layer(who);
    let res = optional
        .clone()
        .oneshot(request(Some(&browser.cookie), None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "OptionalUserLayer");
    let res = optional
        .oneshot(request(None, Some("forged")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a bad bearer token");

    let app = axum::Router::new()
        .route(
            "/who",
            axum::routing::get(|user: Option<CurrentUser>| async move {
                user.map_or("anonymous".to_owned(), |u| u.email.to_string())
            }),
        )
        .with_state(s.users.clone());
    let res = app
        .clone()
        .oneshot(request(Some(&browser.cookie), None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "Option<CurrentUser>");
    let res = app.oneshot(request(None, Some("forged"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a bad bearer token");

    // Where a user is required: 401, and the cookies are cleared.
    let required = CurrentUserLayer::new(s.users.clone()).layer(who);
    let res = required
        .oneshot(request(Some(&browser.cookie), None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers().get_all("set-cookie").iter().count(), 2);
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&browser.cookie)
        .send(s.addr)
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
    assert_eq!(cleared(&r).len(), 2, "{:?}", r.headers);
    // A forged cookie is as dead.
    let forged = format!("{}x", browser.session_cookie());
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&forged)
        .send(s.addr)
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
    assert_eq!(cleared(&r).len(), 2, "{:?}", r.headers);

    // A 401 for another reason leaves a live cookie alone.
    let live = sign_in(s.addr, "alice@example.com").await;
    let r = Call::new(Method::POST, "/users/login")
        .cookie(&live.cookie)
        .json(json!({"email": "alice@example.com", "password": "not the password"}))
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.json());
    assert!(r.headers.get("set-cookie").is_none(), "{:?}", r.headers);
}

/// Signing in by cookie over a live session of this server ends that
/// session: nothing in the browser names it any more.
#[tokio::test]
async fn a_cookie_login_over_a_session_ends_the_old_session() {
    let s = cookie_server(|b| b).await;
    register(s.addr, "alice@example.com").await;
    register(s.addr, "bob@example.com").await;
    let old = sign_in(s.addr, "alice@example.com").await;
    let r = Call::new(Method::POST, "/users/login")
        .cookie(&old.cookie)
        .json(json!({"email": "bob@example.com", "password": PASSWORD, "cookie": true}))
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&old.cookie)
        .send(s.addr)
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
    // A failed login leaves the session it was sent with alone.
    let live = sign_in(s.addr, "alice@example.com").await;
    let r = Call::new(Method::POST, "/users/login")
        .cookie(&live.cookie)
        .json(json!({"email": "bob@example.com", "password": "wrong password!", "cookie": true}))
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.json());
    let r = Call::new(Method::GET, "/users/me")
        .cookie(&live.cookie)
        .send(s.addr)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
}
