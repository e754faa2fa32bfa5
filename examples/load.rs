//! A load generator for the example server, over loopback HTTP.
//!
//! ```text
//! cargo run --release --example load -- http://127.0.0.1:3000 SCENARIO [SECONDS] [CONNECTIONS]
//! ```
//!
//! Scenarios: `healthz`, `me` (GET /users/me with a fresh token), `login`
//! (POST /users/login, right password), and `attack` (GET /users/me while
//! 200 connections flood POST /users/login with wrong passwords for unknown
//! emails, saturating hashing). Each prints one markdown table row: req/s,
//! p50 and p99. Run the server with `TOWER_USERS_RATE_LIMIT=off`, or the
//! limits will answer instead of the endpoints. `scripts/bench.sh` runs
//! them all with the server and the generator on separate cores.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(host: &str) -> Result<Conn, BoxError> {
        let stream = tokio::net::TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Conn {
            sender,
            host: host.to_owned(),
        })
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
    ) -> Result<(u16, Bytes), BoxError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        if let Some(token) = bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Full::from(b.to_owned())
            }
            None => Full::default(),
        };
        self.sender.ready().await?;
        let res = self.sender.send_request(req.body(body)?).await?;
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }
}

#[derive(Clone)]
enum Work {
    Healthz,
    Me(String),
    Login,
    /// Wrong-password logins for unknown emails; with `true`, a 503 or 429
    /// is honoured by sleeping its `Retry-After` (the flood still keeps
    /// hashing saturated); with `false`, retried at once.
    Flood(bool),
}

/// Runs `conns` connections doing `work` until `stop`; returns latencies
/// (µs) of successful requests and a count per status.
async fn drive(
    host: &str,
    work: Work,
    conns: usize,
    stop: Arc<AtomicBool>,
) -> Result<(Vec<u64>, BTreeMap<u16, u64>), BoxError> {
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (host, work, stop) = (host.to_owned(), work.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&host).await?;
            let mut lat = Vec::new();
            let mut statuses = BTreeMap::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let start = Instant::now();
                let (status, _) = match &work {
                    Work::Healthz => conn.call(Method::GET, "/healthz", None, None).await?,
                    Work::Me(token) => {
                        conn.call(Method::GET, "/users/me", Some(token), None)
                            .await?
                    }
                    Work::Login => {
                        // One account per connection: an account is checked
                        // one login at a time.
                        let body = format!(
                            r#"{{"email":"bench-{c}@example.com","password":"correct horse battery"}}"#
                        );
                        conn.call(Method::POST, "/users/login", None, Some(&body))
                            .await?
                    }
                    Work::Flood(backoff) => {
                        let body = format!(
                            r#"{{"email":"flood-{c}-{i}@example.com","password":"not it"}}"#
                        );
                        let answer = conn
                            .call(Method::POST, "/users/login", None, Some(&body))
                            .await?;
                        if *backoff && (answer.0 == 503 || answer.0 == 429) {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        answer
                    }
                };
                let elapsed = start.elapsed().as_micros() as u64;
                *statuses.entry(status).or_insert(0) += 1;
                if status < 400 {
                    lat.push(elapsed);
                }
            }
            Ok::<_, BoxError>((lat, statuses))
        }));
    }
    let mut all = Vec::new();
    let mut statuses = BTreeMap::new();
    for t in tasks {
        let (lat, st) = t.await??;
        all.extend(lat);
        for (k, v) in st {
            *statuses.entry(k).or_insert(0) += v;
        }
    }
    all.sort_unstable();
    Ok((all, statuses))
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

async fn measure(
    host: &str,
    name: &str,
    work: Work,
    conns: usize,
    secs: u64,
) -> Result<f64, BoxError> {
    let stop = Arc::new(AtomicBool::new(false));
    let runner = tokio::spawn({
        let (host, stop) = (host.to_owned(), stop.clone());
        async move { drive(&host, work, conns, stop).await }
    });
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let (lat, statuses) = runner.await??;
    let rps = lat.len() as f64 / secs as f64;
    println!(
        "| {name} | {conns} | {rps:.0} | {:.2} ms | {:.2} ms | {statuses:?} |",
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
    Ok(rps)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("http://127.0.0.1:3000");
    let scenario = args.get(2).map(String::as_str).unwrap_or("me");
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let conns: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(32);
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    // A user to log in as (201 the first time, 409 after).
    let mut setup = Conn::open(&host).await?;
    let creds = r#"{"email":"bench@example.com","password":"correct horse battery"}"#;
    setup
        .call(Method::POST, "/users/register", None, Some(creds))
        .await?;
    let (status, body) = setup
        .call(Method::POST, "/users/login", None, Some(creds))
        .await?;
    if status != 200 {
        return Err(format!(
            "login for the bench user failed: {status} {}",
            String::from_utf8_lossy(&body)
        )
        .into());
    }
    let json: serde_json::Value = serde_json::from_slice(&body)?;
    let token = json["access_token"].as_str().unwrap_or_default().to_owned();
    if scenario == "login" {
        for c in 0..conns.min(16) {
            let creds = format!(
                r#"{{"email":"bench-{c}@example.com","password":"correct horse battery"}}"#
            );
            setup
                .call(Method::POST, "/users/register", None, Some(&creds))
                .await?;
        }
    }

    match scenario {
        "healthz" => {
            measure(&host, "GET /healthz", Work::Healthz, conns, secs).await?;
        }
        "me" => {
            measure(&host, "GET /users/me", Work::Me(token), conns, secs).await?;
        }
        "login" => {
            measure(&host, "POST /users/login", Work::Login, conns.min(16), secs).await?;
        }
        "attack" | "hostile" => {
            let backoff = scenario == "attack";
            let alone = measure(
                &host,
                "GET /users/me, alone",
                Work::Me(token.clone()),
                conns,
                secs,
            )
            .await?;
            let stop = Arc::new(AtomicBool::new(false));
            let flood = tokio::spawn({
                let (host, stop) = (host.clone(), stop.clone());
                async move { drive(&host, Work::Flood(backoff), 200, stop).await }
            });
            tokio::time::sleep(Duration::from_millis(500)).await;
            let name = if backoff {
                "GET /users/me, during a 200-connection login flood"
            } else {
                "GET /users/me, during a 200-connection login flood that ignores Retry-After"
            };
            let under = measure(&host, name, Work::Me(token), conns, secs).await?;
            stop.store(true, Ordering::Relaxed);
            let (_, statuses) = flood.await??;
            eprintln!("login flood answers: {statuses:?}");
            eprintln!(
                "/users/me kept {:.0}% of its throughput",
                under / alone * 100.0
            );
        }
        other => return Err(format!("unknown scenario {other}").into()),
    }
    Ok(())
}
