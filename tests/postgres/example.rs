//! The example server on PostgreSQL, from one environment variable: sign
//! up, log in and read `/users/me`, with the account in the database.

use std::path::PathBuf;
use std::process::Stdio;

use sqlx::postgres::PgPoolOptions;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::server;

/// The example binary `cargo test --features postgres` built beside this one.
fn example_server() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/server")
}

/// One HTTP/1.1 request on a fresh connection: the status and the body.
pub async fn request(
    host: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    try_request(host, method, path, bearer, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path} on {host}: {e}"))
}

/// [`request`], or the I/O error of a server that went away.
pub async fn try_request(
    host: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> std::io::Result<(u16, serde_json::Value)> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(host).await?;
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let raw = String::from_utf8_lossy(&raw);
    let status = raw
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP response: {raw:?}")))?;
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, serde_json::from_str(body).unwrap_or_default()))
}

/// An example server process on `url`, killed on drop; its stderr (the
/// log) is collected.
pub struct Instance {
    pub host: String,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
    child: tokio::process::Child,
}

impl Instance {
    /// kill -9.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Starts the example server on `url` in `dir`, with `envs` besides.
pub async fn start(url: &str, dir: &std::path::Path, envs: &[(&str, &str)]) -> Instance {
    let mut cmd = Command::new(example_server());
    for (name, _) in std::env::vars() {
        if name.starts_with("TOWER_USERS_") {
            cmd.env_remove(name);
        }
    }
    cmd.current_dir(dir)
        .env("TOWER_USERS_DATABASE_URL", url)
        .env("TOWER_USERS_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .expect("the server example (built by cargo build --features postgres --example server)");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap_or_default();
    let host = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| {
            panic!(
                "unexpected first line {first:?}; log:\n{}",
                log.lock().unwrap()
            )
        })
        .to_owned();
    Instance { host, log, child }
}

/// A fresh database on the test server; its URL.
pub async fn fresh_database(server: &server::Server) -> String {
    let database = server::fresh_schema();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&server.url())
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&admin)
        .await
        .unwrap();
    format!("postgres://postgres@127.0.0.1:{}/{database}", server.port)
}

#[tokio::test]
async fn the_example_server_runs_on_postgres_from_one_variable() {
    let Some(server) = server::server() else {
        return;
    };
    let url = fresh_database(server).await;
    let dir = tempfile::tempdir().unwrap();
    let instance = start(&url, dir.path(), &[]).await;
    let host = instance.host.clone();

    let credentials =
        serde_json::json!({"email": "pg@example.com", "password": "correct horse battery"});
    let (status, _) = request(
        &host,
        "POST",
        "/users/register",
        None,
        Some(credentials.clone()),
    )
    .await;
    assert_eq!(status, 201);
    let (status, tokens) = request(&host, "POST", "/users/login", None, Some(credentials)).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let (status, me) = request(&host, "GET", "/users/me", Some(access), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "pg@example.com");

    // The account is in PostgreSQL, and no redb file was made.
    let db = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM tower_users.users")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(emails, vec!["pg@example.com".to_owned()]);
    assert!(!dir.path().join("tower-users.redb").exists());
}
