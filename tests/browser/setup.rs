//! What the flows need on the machine, installed loudly when missing:
//! Debian's Chromium (as root; otherwise a failure that says what to run),
//! node, and `playwright-core` from tests/browser/package-lock.json.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Debian's build: the flows never download a browser of their own.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// tests/browser, where the scripts and their node_modules live.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Makes sure Chromium, node and node_modules are there, once per run.
pub fn ready() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        ensure_chromium();
        ensure_node_modules();
    });
}

fn succeeded(cmd: &mut Command) -> bool {
    cmd.status().is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn ensure_chromium() {
    if Path::new(CHROMIUM).exists() {
        return;
    }
    assert!(
        is_root(),
        "the browser tests need Debian's Chromium at {CHROMIUM}: \
         run `sudo apt-get install -y chromium` (.ci/run does it)"
    );
    eprintln!("browser tests: {CHROMIUM} is missing; installing Debian's chromium with apt-get");
    let updated = succeeded(Command::new("apt-get").args(["update", "-qq"]));
    let installed = updated
        && succeeded(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
    assert!(
        installed && Path::new(CHROMIUM).exists(),
        "could not install Chromium: run `apt-get install -y chromium`"
    );
}

fn ensure_node_modules() {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "the browser tests need node (20 or later) on the PATH"
    );
    let dir = scripts_dir();
    if dir.join("node_modules/playwright-core").exists() {
        return;
    }
    eprintln!(
        "browser tests: installing playwright-core with `npm ci` in {}",
        dir.display()
    );
    let installed = succeeded(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir),
    );
    assert!(
        installed,
        "`npm ci` failed in {}: the browser tests need playwright-core",
        dir.display()
    );
}
