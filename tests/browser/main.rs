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

/// An account registered through the JSON API: its emailed link, opened in
/// Chromium, verifies it, and the bearer-token API then says so.
#[test]
fn an_api_registration_s_emailed_link_verifies_in_the_browser() {
    flow::run("api_link");
}

/// Sign up in the page, open the emailed verification link, and the
/// account page shows the address as verified (a spent link says so).
#[test]
fn signing_up_and_opening_the_emailed_link_verifies_the_account() {
    flow::run("signup");
}

/// Log out, "forgot password", the emailed link sets a new password that
/// logs in; the old password is refused.
#[test]
fn a_forgotten_password_is_replaced_through_the_emailed_link() {
    flow::run("password_reset");
}

/// The account page's email change: confirmation to the new address, notice
/// to the old; once confirmed the new address logs in and the old does not.
#[test]
fn an_email_change_is_confirmed_from_the_new_address() {
    flow::run("change_email");
}

/// Forms on another origin (same site: the cookie is sent) posting to the
/// account page are refused, with or without the session's CSRF token, and
/// the account is left as it was.
#[test]
fn a_cross_origin_post_to_the_account_page_is_refused() {
    flow::run("cross_origin");
}
