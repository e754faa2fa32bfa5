//! End-to-end flows in headless Chromium: Debian's `/usr/bin/chromium`
//! driven by `playwright-core` (pinned in tests/browser/package.json), a
//! person's path through the example server's pages with every email going
//! through a real SMTP server (tests/support/smtp_sink.py). One node script
//! per flow (tests/browser/*.mjs); this target starts the processes, hands
//! each script the server's URL and the directory the mail lands in, and
//! fails with the script's output and the server's log.
//!
//! `cargo test` builds the example server first; `cargo test --test browser`
//! alone does not: run `cargo build --example server` before it. Screenshots
//! of every page land in `target/browser-screenshots/`.
#![allow(clippy::unwrap_used, dead_code)]

mod flow;
mod setup;
#[path = "../http/smtp_sink.rs"]
mod smtp_sink;

/// The harness itself: Chromium opens the example server, and the
/// verification email of an account registered through the JSON API
/// arrives at the SMTP server with a link to the server's public URL.
#[test]
fn an_api_registration_mails_a_link_to_the_public_url() {
    flow::run("api_link");
}
