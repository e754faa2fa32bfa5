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
async fn request(
    host: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(host).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let status = raw[9..12].parse().unwrap();
    let (_, body) = raw.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or_default())
}

#[tokio::test]
async fn the_example_server_runs_on_postgres_from_one_variable() {
    let Some(server) = server::server() else {
        return;
    };
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
    let url = format!("postgres://postgres@127.0.0.1:{}/{database}", server.port);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(example_server());
    for (name, _) in std::env::vars() {
        if name.starts_with("TOWER_USERS_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .current_dir(dir.path())
        .env("TOWER_USERS_DATABASE_URL", &url)
        .env("TOWER_USERS_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn,tower_users=debug")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server example (built by cargo test --features postgres)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap_or_default();
    let host = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();

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
    child.kill().await.unwrap();
}
