//! A table of malformed requests, sent as raw bytes: none may produce a 5xx,
//! a panic or a hung connection, and each gets the documented answer.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::server;

fn post(path: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut req = format!("POST {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n");
    if let Some(ct) = content_type {
        req.push_str(&format!("content-type: {ct}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn json(path: &str, body: &str) -> Vec<u8> {
    post(path, Some("application/json"), body.as_bytes())
}

fn get_with_auth(auth: &[u8]) -> Vec<u8> {
    let mut bytes =
        b"GET /users/me HTTP/1.1\r\nhost: t\r\nconnection: close\r\nauthorization: ".to_vec();
    bytes.extend_from_slice(auth);
    bytes.extend_from_slice(b"\r\n\r\n");
    bytes
}

fn raw(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Sends `bytes` and returns the status code of the answer.
async fn status_of(addr: std::net::SocketAddr, bytes: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before reading everything we send.
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "connection hung");
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn malformed_requests_never_yield_a_5xx() {
    let s = server().await;
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD
            .encode(br#"{"sub":"x","typ":"access","aud":"tower-users","exp":9999999999}"#)
    );
    let huge_token = "a".repeat(70 * 1024);
    let chunked_big = {
        let chunk = "a".repeat(20 * 1024);
        format!(
            "POST /users/register HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/json\r\n\
             transfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        )
    };
    let long_path_token = format!("/users/verify/{}", "a".repeat(9000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("no content type", post("/users/register", None, b"{}"), 415),
        (
            "text/plain",
            post("/users/register", Some("text/plain"), b"{}"),
            415,
        ),
        (
            "multipart login",
            post("/users/login", Some("multipart/form-data"), b"x"),
            415,
        ),
        ("truncated json", json("/users/register", "{"), 422),
        ("json array", json("/users/register", "[]"), 422),
        ("json null", json("/users/register", "null"), 422),
        ("json string", json("/users/register", "\"x\""), 422),
        ("empty body", json("/users/register", ""), 422),
        (
            "invalid utf-8",
            post(
                "/users/register",
                Some("application/json"),
                b"{\"email\":\"\xff\xfe\"}",
            ),
            422,
        ),
        (
            "utf-8 bom",
            post(
                "/users/register",
                Some("application/json"),
                b"\xef\xbb\xbf{}",
            ),
            422,
        ),
        (
            "huge number",
            json("/users/register", r#"{"email":1e999999,"password":"x"}"#),
            422,
        ),
        ("deep nesting", json("/users/register", &nested), 422),
        (
            "email object",
            json(
                "/users/register",
                r#"{"email":{},"password":"correct horse"}"#,
            ),
            422,
        ),
        (
            "password array",
            json("/users/register", r#"{"email":"a@b.co","password":[1]}"#),
            422,
        ),
        (
            "nul in email",
            json(
                "/users/register",
                "{\"email\":\"a\\u0000@b.co\",\"password\":\"correct horse\"}",
            ),
            422,
        ),
        (
            "10k email",
            json(
                "/users/register",
                &format!(
                    r#"{{"email":"{}@b.co","password":"correct horse"}}"#,
                    "a".repeat(10_000)
                ),
            ),
            422,
        ),
        (
            "emoji password too long",
            json(
                "/users/register",
                &format!(r#"{{"email":"e@b.co","password":"{}"}}"#, "😀".repeat(300)),
            ),
            422,
        ),
        (
            "declared length over limit",
            raw(
                "POST /users/register HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{}",
            ),
            413,
        ),
        ("chunked over limit", chunked_big.into_bytes(), 413),
        (
            "form garbage",
            post(
                "/users/login",
                Some("application/x-www-form-urlencoded"),
                b"%%%=&&=%",
            ),
            422,
        ),
        (
            "form without password",
            post(
                "/users/login",
                Some("application/x-www-form-urlencoded"),
                b"username=a%40b.co",
            ),
            422,
        ),
        (
            "refresh token number",
            json("/users/refresh", r#"{"refresh_token":5}"#),
            422,
        ),
        (
            "verify token number",
            json("/users/verify", r#"{"token":5}"#),
            422,
        ),
        (
            "reset without password",
            json("/users/password-reset", r#"{"token":"x"}"#),
            422,
        ),
        (
            "auth 70 KiB",
            get_with_auth(format!("Bearer {huge_token}").as_bytes()),
            401,
        ),
        ("auth non-ascii", get_with_auth(b"Bearer \xff\xfe"), 401),
        ("auth basic", get_with_auth(b"Basic YTpi"), 401),
        ("auth two parts", get_with_auth(b"Bearer a.b"), 401),
        (
            "auth alg none",
            get_with_auth(format!("Bearer {alg_none}").as_bytes()),
            401,
        ),
        ("auth empty bearer", get_with_auth(b"Bearer"), 401),
        (
            "dot-dot path",
            raw("GET /users/%2e%2e/me HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"),
            404,
        ),
        ("empty path token", json("/users/verify/", "{}"), 404),
        ("9 KiB path token", post(&long_path_token, None, b""), 400),
        ("nul path token", post("/users/verify/%00", None, b""), 400),
        (
            "options",
            raw("OPTIONS /users/register HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"),
            405,
        ),
        (
            "query string on me",
            raw("GET /users/me?x=%ff HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"),
            401,
        ),
        ("garbage request line", raw("GARBAGE\r\n\r\n"), 400),
        (
            "header without colon",
            raw("GET /users/me HTTP/1.1\r\nhost t\r\n\r\n"),
            400,
        ),
    ];
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for (name, bytes, expected) in &cases {
        let status = status_of(s.addr, bytes).await;
        if status >= 500 || status != *expected {
            failures.push(format!("{name}: got {status}, expected {expected}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The server is still healthy afterwards.
    let ok = crate::common::Client::new(s.addr)
        .register("after@example.com", "correct horse battery")
        .await;
    assert_eq!(ok.status, http::StatusCode::CREATED);
}

/// Sends `bytes` and returns the whole answer as text.
async fn answer_to(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "connection hung");
    String::from_utf8_lossy(&out).into_owned()
}

/// tower-http's body limit answers a declared length over the limit with a
/// text/plain 413 of its own: every endpoint must turn it into the API's
/// problem, as it does a chunked body caught while it is read.
#[tokio::test]
async fn an_oversized_body_is_a_problem_json_413_whether_declared_or_streamed() {
    let s = server().await;
    let chunk = "a".repeat(20 * 1024);
    for path in ["/users/register", "/users/login", "/users/verify/request"] {
        let declared = format!(
            "POST {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\
             content-type: application/json\r\ncontent-length: 100000\r\n\r\n{{}}"
        );
        let streamed = format!(
            "POST {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\
             content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n\
             {:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        );
        for (how, req) in [("declared", declared), ("streamed", streamed)] {
            let answer = answer_to(s.addr, req.as_bytes()).await;
            let lower = answer.to_ascii_lowercase();
            assert!(answer.starts_with("HTTP/1.1 413"), "{path} {how}: {answer}");
            assert!(
                lower.contains("content-type: application/problem+json"),
                "{path} {how}: {answer}"
            );
            assert!(
                answer.contains(r#""code":"PAYLOAD_TOO_LARGE""#),
                "{path} {how}: {answer}"
            );
        }
    }
}

/// The body deadline covers the whole body, not the gap between two
/// chunks: a client sending one byte every 50 ms never leaves a gap of the
/// 300 ms allowed, and is still answered 408 while it is trickling.
#[tokio::test]
async fn a_trickled_body_gets_408_while_it_is_still_arriving() {
    let s = crate::common::server_with(|b| b.with_body_timeout(Duration::from_millis(300))).await;
    let stream = TcpStream::connect(s.addr).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    let length = 200;
    let head = format!(
        "POST /users/register HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n"
    );
    tx.write_all(head.as_bytes()).await.unwrap();
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let finished = finished.clone();
        tokio::spawn(async move {
            for _ in 0..length {
                if tx.write_all(b" ").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            finished.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let mut out = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(30), rx.read(&mut out))
        .await
        .expect("no answer")
        .unwrap();
    let answered_mid_body = !finished.load(std::sync::atomic::Ordering::SeqCst);
    trickle.abort();
    let head = String::from_utf8_lossy(&out[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(head.contains("REQUEST_TIMEOUT"), "{head}");
    assert!(
        answered_mid_body,
        "answered only once the whole body was in"
    );
}
