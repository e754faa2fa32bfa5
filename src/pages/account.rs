//! The account page: the user's email and status, and one form per action.
//! Every action is authenticated by the session and carries its CSRF token.

use axum_core::response::Response;
use http::StatusCode;
use http::request::Parts;

use super::form::{Form, query};
use super::render::{Page, redirect, same};
use super::{Pages, session};
use crate::AccountChange;
use crate::error::Error;
use crate::http::CurrentUser;
use crate::http::rate_limit::{Class, charge};

/// The action (and form) of "Log out".
const LOG_OUT: &str = "logout";

/// The account page for `user`, before any form's outcome.
fn account_page(pages: &Pages, user: &CurrentUser) -> Page {
    let record = minijinja::context! {
        email => user.email.as_str(),
        is_verified => user.is_verified,
        pending_email => user.pending_email.as_ref().map(|e| e.as_str()),
    };
    Page::new("account.html", "Your account")
        .with("user", record)
        .with("csrf_token", session::csrf_token(&pages.users, user))
}

pub(super) async fn show(pages: &Pages, parts: &Parts) -> Response {
    let user = match session::current(pages, parts).await {
        Ok(user) => user,
        Err(res) => return res,
    };
    let page = account_page(pages, &user);
    let page = match query(parts, "done").as_deref() {
        Some("resend") => page.notice("A new verification email is on its way."),
        Some("password") => {
            page.notice("Your password has been changed. Your other sessions have been logged out.")
        }
        Some("email") => page.notice(
            "We sent a confirmation link to your new address. The change takes effect once \
             you open it.",
        ),
        _ => page,
    };
    page.render(pages)
}

pub(super) async fn act(pages: &Pages, parts: &Parts, form: &Form) -> Response {
    let user = match session::current(pages, parts).await {
        Ok(user) => user,
        Err(res) => return res,
    };
    if session::check_csrf(&pages.users, parts, &user, form.get("csrf_token")).is_err() {
        return session::refused(pages);
    }
    let users = &pages.users;
    let action = form.get("action");
    // As the API's PATCH and DELETE /users/me: these check a password or
    // send an email.
    if matches!(action, "resend" | "password" | "email" | "delete") {
        let charged = charge(&parts.extensions, Class::EmailRequest);
        if let Some(res) = super::over_limit(pages, Some(charged)).await {
            return res;
        }
    }
    let current = form.get("current_password");
    // A blank field is a mistake to point at, not a wrong password to count
    // toward the account's lockout.
    if matches!(action, "password" | "email" | "delete") && current.is_empty() {
        let err = Error::field("current_password", "Enter your current password.");
        return failed(pages, &user, action, &err);
    }
    let outcome = match action {
        "resend" => users
            .request_verify(user.email.as_str())
            .await
            .map(|()| "/account?done=resend"),
        "password" => {
            let mut change = AccountChange::new(current);
            change.password = Some(form.get("password").to_owned());
            users
                .update_account(user.id, user.session(), change)
                .await
                .map(|_| "/account?done=password")
        }
        "email" => {
            let mut change = AccountChange::new(current);
            change.email = Some(form.get("email").to_owned());
            users
                .update_account(user.id, user.session(), change)
                .await
                .map(|_| "/account?done=email")
        }
        LOG_OUT => {
            return match users.logout(user.session()).await {
                Ok(()) => redirect(pages, "/login?done=logout", session::sign_out(users)),
                Err(err) => failed(pages, &user, LOG_OUT, &err),
            };
        }
        "logout_all" => {
            return match users.logout_everywhere(user.id).await {
                Ok(()) => redirect(pages, "/login?done=logout_all", session::sign_out(users)),
                Err(err) => failed(pages, &user, "logout_all", &err),
            };
        }
        "delete" => {
            return match users
                .delete_account(user.id, user.session(), Some(current))
                .await
            {
                Ok(()) => redirect(pages, "/login?done=deleted", session::sign_out(users)),
                Err(err) => failed(pages, &user, "delete", &err),
            };
        }
        _ => {
            return Page::message("Your account", ("/account", "Back to your account"))
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .alert("This form is not one we know. Reload the page and try again.")
                .render(pages);
        }
    };
    match outcome {
        Ok(next) => redirect(pages, next, Vec::new()),
        Err(err) => {
            let form_name = action;
            let mut page =
                account_page(pages, &user).failed(&err, form_name, same, "current_password");
            if action == "email" {
                page = page.value("email", form.get("email"));
            }
            page.render(pages)
        }
    }
}

/// The account page with `err` on `form`.
fn failed(pages: &Pages, user: &CurrentUser, form: &str, err: &Error) -> Response {
    account_page(pages, user)
        .failed(err, form, same, "current_password")
        .render(pages)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use http_body_util::BodyExt;

    use super::*;
    use crate::{RedbStore, Users};

    /// A failed "Log out" says so on its own form, not on "Log out
    /// everywhere" (the store failing is the only way it fails, so the
    /// page is rendered as `act` renders it).
    #[tokio::test]
    async fn a_failed_log_out_is_shown_on_the_log_out_form() {
        let users = Users::builder(RedbStore::in_memory().unwrap())
            .with_secret([6u8; 32])
            .build()
            .unwrap();
        users
            .register("kim@example.com", "correct horse battery")
            .await
            .unwrap();
        let pair = users
            .login("kim@example.com", "correct horse battery")
            .await
            .unwrap();
        let parts = http::Request::get("/account")
            .header("authorization", format!("Bearer {}", pair.access_token))
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let user = CurrentUser::from_parts(&parts, &users).await.unwrap();
        let pages = crate::pages::PagesService::new(users);
        let err = Error::internal("the store is down");
        let res = failed(&pages.pages, &user, LOG_OUT, &err);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let html = String::from_utf8(body.to_vec()).unwrap();
        let form = |label: &str| {
            let start = html.find(&format!(r#"aria-label="{label}""#)).unwrap();
            let end = start + html[start..].find("</form>").unwrap();
            html[start..end].to_owned()
        };
        assert!(form("Log out").contains(r#"role="alert""#), "{html}");
        assert!(!form("Log out everywhere").contains(r#"role="alert""#));
    }
}
