//! Runs tests/support/smtp_sink.py (aiosmtpd) as a real SMTP server over TCP.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct Sink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (for a server started later).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Installs aiosmtpd (from PyPI) once if python3 lacks it, so `cargo test`
/// works on a fresh machine too.
fn ensure_aiosmtpd() {
    static READY: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    READY.get_or_init(|| {
        let has = |c: &mut Command| c.status().is_ok_and(|s| s.success());
        if has(Command::new("python3").args(["-c", "import aiosmtpd"])) {
            return;
        }
        let installed = has(Command::new("python3").args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "aiosmtpd",
        ]));
        assert!(
            installed,
            "could not install aiosmtpd: run `python3 -m pip install aiosmtpd`"
        );
    });
}

impl Sink {
    pub fn start() -> Sink {
        Sink::start_on(free_port(), None)
    }

    /// Starts the sink on `port`; with `auth`, AUTH is required.
    pub fn start_on(port: u16, auth: Option<&str>) -> Sink {
        ensure_aiosmtpd();
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(auth) = auth {
            cmd.args(["--auth", auth]);
        }
        let mut child = cmd
            .spawn()
            .expect("python3 is needed for the SMTP tests (.ci/run installs aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP sink did not start: is aiosmtpd installed? (pip install aiosmtpd)"
        );
        Sink { port, dir, child }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Where each received message lands as one JSON file (the browser
    /// tests' scripts read it directly).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// How many `kind` events (`"ehlo"`, `"auth"`) the sink has seen.
    pub fn events(&self, kind: &str) -> usize {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with(kind) && name.ends_with(".event")
            })
            .count()
    }

    /// Waits up to `secs` for `n` messages to `to`.
    pub async fn wait_for(&self, to: &str, n: usize, secs: u64) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let found: Vec<Value> = self
                .messages()
                .into_iter()
                .filter(|m| m["rcpt_tos"].as_array().unwrap().iter().any(|r| r == to))
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {n} emails to {to} arrived within {secs} s",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The token in the one link of a message's text part.
pub fn token_in(message: &Value) -> String {
    let text = message["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap();
    link.split_once("#token=").unwrap().1.to_owned()
}
