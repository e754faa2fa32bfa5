//! Timing equality: does any request endpoint answer faster when the email
//! (or, at login, the username) is unknown (or, for registration with
//! private registration on, taken)? Over loopback HTTP against an in-process server on a redb
//! file, default argon2id parameters, pairs interleaved so drift hits both
//! sides alike. For each pair it prints the medians and a Mann-Whitney U
//! test; the target is no detectable difference (p > 0.01) and medians
//! within 5%.
//!
//! ```text
//! cargo bench --bench timing            # full run
//! cargo bench --bench timing -- quick   # fewer samples
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tower::ServiceExt;
use tower_users::{RedbStore, Registration, Usernames, Users, UsersService};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Two-sided Mann-Whitney U test (normal approximation, tie-corrected);
/// returns (z, p).
fn mann_whitney(a: &[f64], b: &[f64]) -> (f64, f64) {
    let mut all: Vec<(f64, usize)> = a
        .iter()
        .map(|&x| (x, 0))
        .chain(b.iter().map(|&x| (x, 1)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for r in ranks.iter_mut().take(j + 1).skip(i) {
            *r = rank;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let r1: f64 = all
        .iter()
        .zip(&ranks)
        .filter(|((_, g), _)| *g == 0)
        .map(|(_, r)| r)
        .sum();
    let u = r1 - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    let z = (u - mean) / var.sqrt();
    (z, 2.0 * (1.0 - normal_cdf(z.abs())))
}

fn normal_cdf(x: f64) -> f64 {
    // Abramowitz-Stegun 7.1.26 via erf.
    let t = 1.0 / (1.0 + 0.3275911 * x / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    0.5 * (1.0 + erf)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn post(&mut self, path: &str, body: String) -> Result<(u16, Duration), BoxError> {
        let req = Request::post(path)
            .header("host", "bench")
            .header("content-type", "application/json")
            .body(Full::from(body))?;
        self.sender.ready().await?;
        let start = Instant::now();
        let res = self.sender.send_request(req).await?;
        let status = res.status().as_u16();
        res.into_body().collect().await?;
        Ok((status, start.elapsed()))
    }
}

async fn server(users: Users) -> Result<Conn, BoxError> {
    let service = UsersService::new(users);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = service.clone();
            let hyper_svc =
                hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    svc.clone().oneshot(req)
                });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper_svc)
                    .await;
            });
        }
    });
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(Conn { sender })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let quick = std::env::args().any(|a| a == "quick");
    let dir = tempfile::tempdir()?;
    let users = Users::builder(RedbStore::open(dir.path().join("timing.redb"))?)
        .with_secret([7u8; 32])
        .with_verify_on_register(false)
        // Usernames on, to time an unknown username against a known one;
        // the email pairs are unaffected.
        .with_usernames(Usernames::Optional)
        // Registration answers alike for a taken and a new address only
        // with this on; the other pairs do not register.
        .with_private_registration(true)
        // Hundreds of failed logins on purpose: measure the password check,
        // not the (equally fast for both) lockout answer.
        .with_lockout(tower_users::LockoutPolicy {
            threshold: u32::MAX,
            account_threshold: u32::MAX,
            ..Default::default()
        })
        .build()?;
    users
        .register_with(
            Registration::new("known@example.com", "correct horse battery").with_username("known"),
        )
        .await?;
    let mut conn = server(users.clone()).await?;

    // `{i}` in a body becomes the sample's number, so each new address is new.
    let pairs: [(&str, &str, String, String); 6] = [
        (
            "control: unknown vs unknown (A/A)",
            "/users/password-reset/request",
            r#"{"email":"nobody@example.com"}"#.into(),
            r#"{"email":"unknown@example.com"}"#.into(),
        ),
        (
            "POST /users/login (wrong password vs unknown email)",
            "/users/login",
            r#"{"email":"known@example.com","password":"wrong password!"}"#.into(),
            r#"{"email":"unknown@example.com","password":"wrong password!"}"#.into(),
        ),
        (
            "POST /users/login (wrong password vs unknown username)",
            "/users/login",
            r#"{"login":"known","password":"wrong password!"}"#.into(),
            r#"{"login":"unknown","password":"wrong password!"}"#.into(),
        ),
        (
            "POST /users/verify/request (known vs unknown)",
            "/users/verify/request",
            r#"{"email":"known@example.com"}"#.into(),
            r#"{"email":"unknown@example.com"}"#.into(),
        ),
        (
            "POST /users/password-reset/request (known vs unknown)",
            "/users/password-reset/request",
            r#"{"email":"known@example.com"}"#.into(),
            r#"{"email":"unknown@example.com"}"#.into(),
        ),
        (
            "POST /users/register, private registration (taken vs new)",
            "/users/register",
            r#"{"email":"known@example.com","password":"another long password {i}"}"#.into(),
            r#"{"email":"new-{i}@example.com","password":"another long password {i}"}"#.into(),
        ),
    ];
    println!("| pair | n | median known | median unknown | diff | Mann-Whitney p |");
    println!("|---|---|---|---|---|---|");
    for (name, path, known, unknown) in pairs {
        let n = match (path, quick) {
            ("/users/login" | "/users/register", true) => 60,
            ("/users/login" | "/users/register", false) => 300,
            (_, true) => 300,
            _ => 2000,
        };
        // Warm up both paths.
        let nth = |body: &str, i: String| body.replace("{i}", &i);
        for w in 0..10 {
            conn.post(path, nth(&known, format!("w{w}"))).await?;
            conn.post(path, nth(&unknown, format!("w{w}"))).await?;
        }
        let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            // Alternate which goes first, so order effects cancel.
            let (known, unknown) = (nth(&known, i.to_string()), nth(&unknown, i.to_string()));
            let (first, second) = if i % 2 == 0 {
                (known, unknown)
            } else {
                (unknown, known)
            };
            let (s1, t1) = conn.post(path, first).await?;
            let (s2, t2) = conn.post(path, second).await?;
            assert_eq!(s1, s2, "{name}: the two answers differ in status");
            let (tk, tu) = if i % 2 == 0 { (t1, t2) } else { (t2, t1) };
            a.push(tk.as_secs_f64() * 1e6);
            b.push(tu.as_secs_f64() * 1e6);
        }
        let (ma, mb) = (median(&a), median(&b));
        let (_, p) = mann_whitney(&a, &b);
        let diff = (ma - mb) / mb * 100.0;
        println!(
            "| {name} | {n} | {:.0} µs | {:.0} µs | {diff:+.1}% | {p:.3} |",
            ma, mb
        );
    }
    users.shutdown().await;
    Ok(())
}
