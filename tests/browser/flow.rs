//! One flow: a fresh example server on a fresh database, mailing through a
//! fresh SMTP sink, and the flow's node script driving Chromium against it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use crate::setup;
use crate::smtp_sink::{Sink, free_port};

/// The example server, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/<profile>/examples/server`, beside this test's own binary.
fn example_server() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/server")
}

/// `target/browser-screenshots`: kept after the run, for a person to look at.
fn screenshots_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Server {
    /// Starts the server on a free port of 127.0.0.1, its links pointing at
    /// `http://localhost:PORT` (what a person's browser would open), its
    /// log in `log`.
    fn start(dir: &Path, sink: &Sink, log: &Path) -> Server {
        let exe = example_server();
        assert!(
            exe.exists(),
            "{} is missing: build it with `cargo build --example server` \
             (`cargo test` does; `cargo test --test browser` alone does not)",
            exe.display()
        );
        let port = free_port();
        let mut child = Command::new(&exe)
            .env("TOWER_USERS_BIND", format!("127.0.0.1:{port}"))
            .env("TOWER_USERS_PUBLIC_URL", format!("http://localhost:{port}"))
            .env("TOWER_USERS_DB", dir.join("browser.redb"))
            .env("TOWER_USERS_SMTP_URL", sink.url())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("listening on http://"),
            "the example server did not start (first line {line:?}); its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        Server { child, port }
    }
}

/// Runs tests/browser/`name`.mjs against a fresh server, and fails with its
/// output and the server's log unless the script exits 0.
pub fn run(name: &str) {
    setup::ready();
    // One Chromium at a time: the flows share two cores with the rest of
    // `cargo test`, and a starved browser only makes slow flows slower.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());

    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start();
    let log = dir.path().join("server.log");
    let server = Server::start(dir.path(), &sink, &log);
    let scripts = setup::scripts_dir();
    let out = Command::new("node")
        .arg(scripts.join(format!("{name}.mjs")))
        .current_dir(&scripts)
        .env("BASE_URL", format!("http://localhost:{}", server.port))
        .env("MAIL_DIR", sink.dir())
        .env("SHOT_DIR", screenshots_dir())
        .env("FLOW", name)
        .env("CHROMIUM", setup::CHROMIUM)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "browser flow {name} failed ({}).\n--- node stdout\n{stdout}\n--- node stderr\n{}\n\
             --- server log\n{}\n(if the pages changed, rebuild the server: \
             `cargo build --example server`)",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    // The screenshots' paths, for `cargo test -- --nocapture`.
    print!("{stdout}");
}
