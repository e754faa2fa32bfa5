//! The pages for visitors who are not signed in: sign up, log in, and
//! forgot password.

use axum_core::response::Response;
use http::request::Parts;

use super::form::{Form, query};
use super::render::{Page, redirect, same};
use super::{Pages, session};

pub(super) fn signup_page() -> Page {
    Page::new("signup.html", "Sign up")
}

pub(super) async fn signup(pages: &Pages, parts: &Parts, form: &Form) -> Response {
    let (email, password) = (form.get("email"), form.get("password"));
    let users = &pages.users;
    let failed = |err| {
        signup_page()
            .value("email", email)
            .failed(&err, "signup", same, "")
            .render(pages)
    };
    if users.private_registration() {
        // The answer may not be about a new account: no sign-in, only
        // the same page whoever owns the address.
        let fields = crate::ProfileFields::new();
        return match users.register_privately(email, password, fields).await {
            Ok(()) => Page::message("Check your email", ("/login", "Log in"))
                .notice(
                    "Check your email: we sent a message to that address. \
                     If it is new, the message confirms it, then you can log in.",
                )
                .render(pages),
            Err(err) => failed(err),
        };
    }
    if let Err(err) = users.register(email, password).await {
        return failed(err);
    }
    // Signed in at once, as the user just proved the password.
    let client = crate::http::rate_limit::request_client(&parts.extensions);
    let signed_in = match users.login_from(email, password, client).await {
        Ok(pair) => session::sign_in(users, parts, &pair).await,
        Err(err) => Err(err),
    };
    match signed_in {
        Ok(cookies) => redirect(pages, "/account", cookies),
        // The account exists all the same: saying the sign-up failed would
        // send the visitor into "already exists".
        Err(err) => {
            tracing::warn!(error = %err, "signed up, but the sign-in after it failed");
            redirect(pages, "/login?done=created", Vec::new())
        }
    }
}

pub(super) fn login_page(parts: &Parts) -> Page {
    let page = Page::new("login.html", "Log in");
    match query(parts, "done").as_deref() {
        Some("logout") => page.notice("You are logged out."),
        Some("logout_all") => page.notice("You are logged out on every device."),
        Some("deleted") => page.notice("Your account has been deleted."),
        Some("created") => page.notice("Your account has been created. Log in to continue."),
        _ => page,
    }
}

pub(super) async fn login(pages: &Pages, parts: &Parts, form: &Form) -> Response {
    let (email, password) = (form.get("email"), form.get("password"));
    let users = &pages.users;
    let client = crate::http::rate_limit::request_client(&parts.extensions);
    let result = match users.login_from(email, password, client).await {
        Ok(pair) => session::sign_in(users, parts, &pair).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(cookies) => redirect(pages, "/account", cookies),
        Err(err) => Page::new("login.html", "Log in")
            .value("email", email)
            .failed(&err, "login", same, "password")
            .render(pages),
    }
}

pub(super) fn forgot_page(parts: &Parts) -> Page {
    let page = Page::new("forgot_password.html", "Forgot password");
    if query(parts, "sent").is_some() {
        page.notice("Check your email.").with("sent", true)
    } else {
        page
    }
}

pub(super) async fn forgot(pages: &Pages, form: &Form) -> Response {
    let email = form.get("email");
    match pages.users.request_password_reset(email).await {
        Ok(()) => redirect(pages, "/forgot-password?sent", Vec::new()),
        Err(err) => Page::new("forgot_password.html", "Forgot password")
            .value("email", email)
            .failed(&err, "forgot", same, "")
            .render(pages),
    }
}
