//! Measures what one login and one GET /users/me cost over loopback HTTP:
//! the medians (and p99) of sequential requests against an in-process
//! server on a redb file, at the default argon2id parameters.
//!
//! ```text
//! cargo run --release --example latency
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tower::ServiceExt;
use tower_users::{RedbStore, Users, UsersService};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<16} n={:<5} median={:>9.1?} p99={:>9.1?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempfile::tempdir()?;
    let users = Users::builder(RedbStore::open(dir.path().join("latency.redb"))?)
        .with_secret([42u8; 32])
        .with_verify_on_register(false)
        .build()?;
    let service = UsersService::new(users);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = service.clone();
            let hyper_svc =
                hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let svc = svc.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(match svc.oneshot(req).await {
                            Ok(res) => res,
                            Err(never) => match never {},
                        })
                    }
                });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper_svc)
                    .await;
            });
        }
    });

    // One keep-alive connection, as a real client would hold.
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut call = async |req: Request<Full<Bytes>>| -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
        sender.ready().await?;
        let res = sender.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)).into());
        }
        Ok(body)
    };
    let json = |path: &str, body: String| {
        Request::post(path)
            .header("host", "bench")
            .header("content-type", "application/json")
            .body(Full::from(body))
    };

    let creds = r#"{"email":"bench@example.com","password":"correct horse battery"}"#;
    call(json("/users/register", creds.to_owned())?).await?;

    let mut logins = Vec::new();
    let mut token = String::new();
    for _ in 0..200 {
        let start = Instant::now();
        let body = call(json("/users/login", creds.to_owned())?).await?;
        logins.push(start.elapsed());
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        token = v["access_token"].as_str().unwrap_or_default().to_owned();
    }
    let mut mes = Vec::new();
    for _ in 0..20_000 {
        let req = Request::get("/users/me")
            .header("host", "bench")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::default())?;
        let start = Instant::now();
        call(req).await?;
        mes.push(start.elapsed());
    }
    report("POST /users/login", logins);
    report("GET /users/me", mes);
    Ok(())
}
