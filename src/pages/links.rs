//! The landing pages of the emailed links. The token rides in the link's
//! fragment, which browsers never send; the page's script reads it and posts
//! it in a form body, so it reaches no URL, server log or `Referer`.

use axum_core::response::Response;
use http::StatusCode;
use http::request::Parts;

use super::Pages;
use super::form::{Form, query};
use super::render::{Page, redirect, same};
use crate::error::Error;

const EXPIRED: &str = "This link has expired or was already used.";

fn verify_page() -> Page {
    Page::new("verify.html", "Verify your email")
}

pub(super) fn verify_landing(parts: &Parts) -> Page {
    if query(parts, "sent").is_some() {
        verify_page()
            .notice("Check your email for the new link.")
            .with("sent", true)
    } else {
        verify_page()
    }
}

pub(super) async fn verify(pages: &Pages, form: &Form) -> Response {
    match pages.users.verify(form.get("token")).await {
        // Answered at once, not redirected: a "verified" page anyone could
        // open by URL would say nothing true.
        Ok(_) => verify_page()
            .notice("Your email is verified.")
            .with("verified", true)
            .render(pages),
        Err(Error::InvalidToken) => verify_page()
            .status(StatusCode::BAD_REQUEST)
            .alert(format!(
                "{EXPIRED} Enter your email below to get a new link, or log in and \
                 ask for one from your account."
            ))
            .with("failed", true)
            .render(pages),
        Err(err) => verify_page()
            .with("failed", true)
            .failed(&err, "resend", same, "")
            .render(pages),
    }
}

pub(super) async fn resend(pages: &Pages, form: &Form) -> Response {
    let email = form.get("email");
    match pages.users.request_verify(email).await {
        Ok(()) => redirect(pages, "/verify?sent", Vec::new()),
        Err(err) => verify_page()
            .with("failed", true)
            .value("email", email)
            .failed(&err, "resend", same, "")
            .render(pages),
    }
}

fn reset_page() -> Page {
    Page::new("password_reset.html", "Set a new password")
}

pub(super) fn reset_landing() -> Page {
    reset_page()
}

pub(super) async fn reset(pages: &Pages, form: &Form) -> Response {
    let token = form.get("token");
    match pages.users.reset_password(token, form.get("password")).await {
        Ok(_) => reset_page()
            .notice("Your password has been changed. You are logged out everywhere; log in with the new password.")
            .with("done", true)
            .render(pages),
        Err(Error::InvalidToken) => reset_page()
            .status(StatusCode::BAD_REQUEST)
            .alert(format!("{EXPIRED} Ask for a new one: it takes a minute."))
            .with("expired", true)
            .render(pages),
        // Kept in the form's body (never a URL) for the next try.
        Err(err) => reset_page()
            .with("token", token)
            .failed(&err, "reset", same, "")
            .render(pages),
    }
}
