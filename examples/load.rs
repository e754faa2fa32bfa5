//! A load generator for the example server, over loopback HTTP.
//!
//! ```text
//! cargo run --release --example load -- http://127.0.0.1:3000 SCENARIO [SECONDS] [CONNECTIONS]
//! ```
//!
//! The first argument may name several servers sharing one database,
//! comma-separated (`http://127.0.0.1:3000,http://127.0.0.1:3001`): the
//! connections are then dealt out among them in turn, and the setup (the
//! bench accounts and their sessions) goes to the first.
//!
//! Scenarios, each printing markdown table rows (answers/s that succeeded,
//! refusals, p50 and p99 of the successes, every status counted):
//!
//! - `healthz`, `me`: GET /healthz; GET /users/me, each connection with
//!   a session of its own (of its own account), as that many users would.
//! - `login`: every connection posts the right password in a loop, each
//!   for its own account (registered first, 64 at a time); `login-one`:
//!   every connection for the one same account. A refusal waits its
//!   `Retry-After`, as a well-behaved client would.
//! - `me-during-login`: GET /users/me alone, then during a `login` flood of
//!   64 connections.
//! - `burst`: 64 fresh emails register at the same moment, then log in at
//!   the same moment.
//! - `hash`: the time of one argon2id hash at the default cost, hashing on
//!   every core at once in this process (the server idle), and the rate.
//! - `attack`, `hostile`: GET /users/me while 200 connections flood
//!   POST /users/login with wrong passwords for unknown emails, honouring
//!   `Retry-After` or not.
//!
//! Run the server with `TOWER_USERS_RATE_LIMIT=off`, or the limits will
//! answer instead of the endpoints. `scripts/bench.sh` runs them all.

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
    /// The `Retry-After` of the last answer, in seconds.
    retry_after: Option<u64>,
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
            retry_after: None,
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
        self.retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let bytes = res.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }
}

const PASSWORD: &str = "correct horse battery";

fn account(c: usize) -> String {
    format!("bench-{c}@example.com")
}

fn creds(email: &str) -> String {
    format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#)
}

#[derive(Clone)]
enum Work {
    Healthz,
    /// `GET /users/me`, connection `c` with token `c % len`.
    Me(Arc<[String]>),
    /// Right-password logins: each connection for its own account, or all
    /// for `bench@example.com`.
    Login {
        one_account: bool,
    },
    /// Wrong-password logins for unknown emails; with `true`, a 503 or 429
    /// is honoured by sleeping its `Retry-After` (the flood still keeps
    /// hashing saturated); with `false`, retried at once.
    Flood(bool),
}

/// Runs `conns` connections doing `work` until `stop`; returns latencies
/// (µs) of successful requests and a count per status.
async fn drive(
    hosts: &[String],
    work: Work,
    conns: usize,
    stop: Arc<AtomicBool>,
) -> Result<(Vec<u64>, BTreeMap<u16, u64>), BoxError> {
    let mut tasks = Vec::new();
    for c in 0..conns {
        let host = hosts[c % hosts.len()].clone();
        let (work, stop) = (work.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&host).await?;
            let mut lat = Vec::new();
            let mut statuses = BTreeMap::new();
            let mut i = 0u64;
            let login = match &work {
                Work::Login { one_account: true } => creds("bench@example.com"),
                _ => creds(&account(c)),
            };
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let start = Instant::now();
                let (status, _) = match &work {
                    Work::Healthz => conn.call(Method::GET, "/healthz", None, None).await?,
                    Work::Me(tokens) => {
                        let token = &tokens[c % tokens.len()];
                        conn.call(Method::GET, "/users/me", Some(token), None)
                            .await?
                    }
                    Work::Login { .. } => {
                        conn.call(Method::POST, "/users/login", None, Some(&login))
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
                if stop.load(Ordering::Relaxed) {
                    // Answered after the measured window: a deep queue
                    // draining must not count towards the rate.
                    break;
                }
                let elapsed = start.elapsed().as_micros() as u64;
                *statuses.entry(status).or_insert(0) += 1;
                if status < 400 {
                    lat.push(elapsed);
                }
                if let (Work::Login { .. }, Some(secs)) = (&work, conn.retry_after) {
                    tokio::time::sleep(Duration::from_secs(secs)).await;
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

fn refused(statuses: &BTreeMap<u16, u64>) -> u64 {
    statuses.get(&429).unwrap_or(&0) + statuses.get(&503).unwrap_or(&0)
}

fn row(name: &str, conns: usize, rps: f64, lat: &[u64], statuses: &BTreeMap<u16, u64>) {
    println!(
        "| {name} | {conns} | {rps:.0} | {} | {:.2} ms | {:.2} ms | {statuses:?} |",
        refused(statuses),
        pct(lat, 0.5),
        pct(lat, 0.99)
    );
}

async fn measure(
    hosts: &[String],
    name: &str,
    work: Work,
    conns: usize,
    secs: u64,
) -> Result<f64, BoxError> {
    let stop = Arc::new(AtomicBool::new(false));
    let runner = tokio::spawn({
        let (hosts, stop) = (hosts.to_vec(), stop.clone());
        async move { drive(&hosts, work, conns, stop).await }
    });
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let (lat, statuses) = runner.await??;
    let rps = lat.len() as f64 / secs as f64;
    row(name, conns, rps, &lat, &statuses);
    Ok(rps)
}

/// `GET /users/me` alone, then again while `flood_conns` connections do
/// `flood`: prints both rows and returns the flood's latencies and
/// statuses, and the share of its throughput `/users/me` kept (percent).
async fn me_during(
    hosts: &[String],
    tokens: Arc<[String]>,
    conns: usize,
    secs: u64,
    flood: Work,
    flood_conns: usize,
    name: &str,
) -> Result<(Vec<u64>, BTreeMap<u16, u64>, f64), BoxError> {
    let me = Work::Me(tokens);
    let alone = measure(hosts, "GET /users/me, alone", me.clone(), conns, secs).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let flooding = tokio::spawn({
        let (hosts, stop) = (hosts.to_vec(), stop.clone());
        async move { drive(&hosts, flood, flood_conns, stop).await }
    });
    // The flood reaches full strength before /users/me is measured.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let under = measure(hosts, name, me, conns, secs).await?;
    stop.store(true, Ordering::Relaxed);
    let (lat, statuses) = flooding.await??;
    Ok((lat, statuses, under / alone * 100.0))
}

/// Sends one request per body, each on its own connection, all at the
/// same moment; returns the statuses and how long the slowest took.
async fn at_once(
    hosts: &[String],
    path: &'static str,
    bodies: Vec<String>,
) -> Result<(BTreeMap<u16, u64>, Duration), BoxError> {
    let mut conns = Vec::new();
    for i in 0..bodies.len() {
        conns.push(Conn::open(&hosts[i % hosts.len()]).await?);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(bodies.len()));
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(bodies)
        .map(|(mut conn, body)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                conn.call(Method::POST, path, None, Some(&body))
                    .await
                    .map(|(status, _)| status)
            })
        })
        .collect();
    let mut statuses = BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await??).or_insert(0) += 1;
    }
    Ok((statuses, start.elapsed()))
}

/// A session for each of `bench-0` .. `bench-{n-1}` (registered first),
/// so that `n` connections load `n` sessions, as `n` users would.
async fn sign_in_each(host: &str, n: usize) -> Result<Arc<[String]>, BoxError> {
    register_accounts(host, n).await?;
    let mut conn = Conn::open(host).await?;
    let mut tokens = Vec::with_capacity(n);
    for c in 0..n {
        let (status, body) = conn
            .call(
                Method::POST,
                "/users/login",
                None,
                Some(&creds(&account(c))),
            )
            .await?;
        if status != 200 {
            let body = String::from_utf8_lossy(&body);
            return Err(format!("login for {} failed: {status} {body}", account(c)).into());
        }
        let json: serde_json::Value = serde_json::from_slice(&body)?;
        tokens.push(json["access_token"].as_str().unwrap_or_default().to_owned());
    }
    Ok(tokens.into())
}

/// Registers `bench-0` .. `bench-{n-1}` (201 the first time, 409 after),
/// 64 at a time.
async fn register_accounts(host: &str, n: usize) -> Result<(), BoxError> {
    let host = [host.to_owned()];
    for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
        let bodies = chunk.iter().map(|&c| creds(&account(c))).collect();
        let (statuses, _) = at_once(&host, "/users/register", bodies).await?;
        if statuses.keys().any(|s| *s != 201 && *s != 409) {
            return Err(format!("registering bench accounts: {statuses:?}").into());
        }
    }
    Ok(())
}

/// One argon2id hash at the library's default cost on each of `threads`
/// threads at once, 11 times: the median time of one hash, and hashes per
/// second over all of them.
fn hash_time(threads: usize) -> Result<(Duration, f64), BoxError> {
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(19_456, 2, 1, None).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let per_thread: Vec<Vec<Duration>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
                // One buffer per thread, reused, as the server's hashing
                // threads do.
                let mut blocks = vec![argon2::Block::default(); params.block_count()];
                scope.spawn(move || {
                    let mut out = [0u8; 32];
                    (0..11)
                        .map(|_| {
                            let start = Instant::now();
                            argon
                                .hash_password_into_with_memory(
                                    PASSWORD.as_bytes(),
                                    b"sixteen byte salt",
                                    &mut out,
                                    &mut blocks,
                                )
                                .map(|()| start.elapsed())
                                .map_err(|e| e.to_string())
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| "a hashing thread panicked".to_owned())?
            })
            .collect::<Result<_, String>>()
    })?;
    let rate = (threads * 11) as f64 / start.elapsed().as_secs_f64();
    let mut times: Vec<Duration> = per_thread.into_iter().flatten().collect();
    times.sort_unstable();
    Ok((times[times.len() / 2], rate))
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
    let hosts: Vec<String> = url
        .split(',')
        .map(|u| {
            u.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned()
        })
        .collect();
    let hosts = hosts.as_slice();
    let host = hosts[0].as_str();

    if scenario == "hash" {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (t, rate) = hash_time(cores)?;
        println!(
            "argon2id at the default cost (m=19456 KiB, t=2, p=1), {cores} threads hashing \
             at once in the generator: {:.1} ms a hash (median), {rate:.0} hashes/s \
             ({cores} cores ÷ that time = {:.0}/s)",
            t.as_secs_f64() * 1000.0,
            cores as f64 / t.as_secs_f64()
        );
        return Ok(());
    }

    // The account of `login-one` (201 the first time, 409 after).
    let mut setup = Conn::open(host).await?;
    setup
        .call(
            Method::POST,
            "/users/register",
            None,
            Some(&creds("bench@example.com")),
        )
        .await?;

    match scenario {
        "healthz" => {
            measure(hosts, "GET /healthz", Work::Healthz, conns, secs).await?;
        }
        "me" => {
            let tokens = sign_in_each(host, conns).await?;
            measure(hosts, "GET /users/me", Work::Me(tokens), conns, secs).await?;
        }
        "login" => {
            register_accounts(host, conns).await?;
            let work = Work::Login { one_account: false };
            let name = "POST /users/login, one account per connection";
            measure(hosts, name, work, conns, secs).await?;
        }
        "login-one" => {
            let work = Work::Login { one_account: true };
            let name = "POST /users/login, every connection for one account";
            measure(hosts, name, work, conns, secs).await?;
        }
        "me-during-login" => {
            register_accounts(host, 64).await?;
            let tokens = sign_in_each(host, conns).await?;
            let flood = Work::Login { one_account: false };
            let name = "GET /users/me, during a 64-connection login flood";
            let (lat, statuses, kept) =
                me_during(hosts, tokens, conns, secs, flood, 64, name).await?;
            let rps = lat.len() as f64 / (secs as f64 + 0.5);
            row("(the login flood meanwhile)", 64, rps, &lat, &statuses);
            eprintln!("/users/me kept {kept:.0}% of its throughput");
        }
        "burst" => {
            // Fresh emails on every run, so each registration is a real one.
            let run = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis();
            let bodies: Vec<String> = (0..conns)
                .map(|i| creds(&format!("burst-{run}-{i}@example.com")))
                .collect();
            for (path, name) in [
                ("/users/register", "simultaneous registrations"),
                ("/users/login", "then simultaneous logins of them"),
            ] {
                let (statuses, took) = at_once(hosts, path, bodies.clone()).await?;
                println!(
                    "| {name} | {conns} | all answered in {:.2} s | {} | | | {statuses:?} |",
                    took.as_secs_f64(),
                    refused(&statuses),
                );
            }
        }
        "attack" | "hostile" => {
            let backoff = scenario == "attack";
            let name = if backoff {
                "GET /users/me, during a 200-connection login flood"
            } else {
                "GET /users/me, during a 200-connection login flood that ignores Retry-After"
            };
            let tokens = sign_in_each(host, conns).await?;
            let flood = Work::Flood(backoff);
            let (_, statuses, kept) =
                me_during(hosts, tokens, conns, secs, flood, 200, name).await?;
            eprintln!("login flood answers: {statuses:?}");
            eprintln!("/users/me kept {kept:.0}% of its throughput");
        }
        other => return Err(format!("unknown scenario {other}").into()),
    }
    Ok(())
}
