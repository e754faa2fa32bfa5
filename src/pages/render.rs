//! Rendering: a page's context, the HTML response with its security
//! headers, the redirect of POST/redirect/GET, and errors in words a person
//! understands.

use std::collections::BTreeMap;

use axum_core::body::Body;
use axum_core::response::Response;
use base64::Engine;
use http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION, RETRY_AFTER, SET_COOKIE,
};
use http::{HeaderMap, StatusCode};
use minijinja::Value;
use rand::RngCore;

use super::Pages;
use crate::error::Error;

/// One page to render: which template, and what goes into it.
pub(super) struct Page {
    template: &'static str,
    title: &'static str,
    status: StatusCode,
    notice: Option<String>,
    alert: Option<String>,
    /// `"form.field"` (or `"form"` for the whole form) to its message.
    errors: BTreeMap<String, String>,
    first_error: Option<String>,
    values: BTreeMap<&'static str, String>,
    extra: BTreeMap<&'static str, Value>,
    retry_after: Option<u64>,
    cookies: Vec<HeaderValue>,
}

impl Page {
    pub(super) fn new(template: &'static str, title: &'static str) -> Self {
        Page {
            template,
            title,
            status: StatusCode::OK,
            notice: None,
            alert: None,
            errors: BTreeMap::new(),
            first_error: None,
            values: BTreeMap::new(),
            extra: BTreeMap::new(),
            retry_after: None,
            cookies: Vec::new(),
        }
    }

    /// A one-line outcome, with a link onwards.
    pub(super) fn message(title: &'static str, next: (&str, &str)) -> Self {
        Page::new("message.html", title)
            .with("next_path", next.0)
            .with("next_label", next.1)
    }

    pub(super) fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// A success, announced politely (`role="status"`).
    pub(super) fn notice(mut self, text: impl Into<String>) -> Self {
        self.notice = Some(text.into());
        self
    }

    /// A failure of the whole page (`role="alert"`).
    pub(super) fn alert(mut self, text: impl Into<String>) -> Self {
        self.alert = Some(text.into());
        self
    }

    /// What the user typed in `field`, to fill it in again.
    pub(super) fn value(mut self, field: &'static str, value: impl Into<String>) -> Self {
        self.values.insert(field, value.into());
        self
    }

    pub(super) fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.extra.insert(key, value.into());
        self
    }

    pub(super) fn cookies(mut self, cookies: Vec<HeaderValue>) -> Self {
        self.cookies = cookies;
        self
    }

    /// An error on `field` of `form` (or on the whole form when `field` is
    /// empty); the first one recorded takes the focus.
    pub(super) fn error(mut self, form: &str, field: &str, text: impl Into<String>) -> Self {
        let key = if field.is_empty() {
            form.to_owned()
        } else {
            format!("{form}.{field}")
        };
        if self.first_error.is_none() && !field.is_empty() {
            self.first_error = Some(key.clone());
        }
        self.errors.entry(key).or_insert_with(|| text.into());
        self
    }

    /// Shows `err` on `form`, each field problem on its field (named by
    /// `field`, from the core's field name), anything else on the form or,
    /// for a wrong password, on the password field named by `password`.
    pub(super) fn failed(
        mut self,
        err: &Error,
        form: &str,
        field: impl Fn(&str) -> &str,
        password: &str,
    ) -> Self {
        self.status = err.status();
        match err {
            Error::Validation(problems) => {
                for p in problems {
                    let name = field(&p.field);
                    // A field the pages have no input for (an app's
                    // required custom field, say) is said on the form, so
                    // the problem is never silently dropped.
                    self = if FIELDS.contains(&name) {
                        self.error(form, name, sentence(&p.message))
                    } else {
                        self.error(form, "", format!("{}: {}", p.field, sentence(&p.message)))
                    };
                }
                self
            }
            // Both forms that can meet it have their email field `email`.
            Error::UserExists => self.error(form, "email", explain(err)),
            Error::InvalidCredentials if !password.is_empty() => {
                self.error(form, password, explain(err))
            }
            Error::RateLimited { retry_after } | Error::Unavailable { retry_after } => {
                self.retry_after = Some(*retry_after);
                self.error(form, "", explain(err))
            }
            _ => self.error(form, "", explain(err)),
        }
    }

    /// The HTML response.
    pub(super) fn render(self, pages: &Pages) -> Response {
        // A fresh nonce per response: the pages' few inline scripts run,
        // anything injected does not, and overridden templates keep working.
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        // URL-safe: auto-escaping would turn a `/` into `&#x2f;` in the page.
        let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(nonce);
        let mut ctx: BTreeMap<&str, Value> = BTreeMap::new();
        ctx.insert("title", self.title.into());
        ctx.insert("app_name", pages.users.app_name().into());
        ctx.insert("base", pages.prefix.as_str().into());
        ctx.insert("notice", self.notice.into());
        ctx.insert("alert", self.alert.into());
        ctx.insert("errors", Value::from_pairs(self.errors));
        ctx.insert("first_error", self.first_error.into());
        ctx.insert("values", Value::from_pairs(self.values));
        ctx.insert("csp_nonce", nonce.as_str().into());
        ctx.extend(self.extra);
        let html = match pages
            .templates
            .render(self.template, Value::from_pairs(ctx))
        {
            Ok(html) => html,
            Err(err) => {
                tracing::error!(template = self.template, error = %err, "page template failed");
                return failure(&nonce);
            }
        };
        let mut res = html_response(self.status, html, &nonce);
        if let Some(seconds) = self.retry_after {
            res.headers_mut().insert(RETRY_AFTER, seconds.into());
        }
        for cookie in self.cookies {
            res.headers_mut().append(SET_COOKIE, cookie);
        }
        res
    }
}

/// The inputs the embedded pages have, by name.
const FIELDS: &[&str] = &["email", "password", "current_password"];

/// For forms whose fields are named as the core names them.
pub(super) fn same(field: &str) -> &str {
    field
}

/// `text` as a sentence: a capital first letter and a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// What went wrong, for a person rather than a program.
pub(super) fn explain(err: &Error) -> String {
    match err {
        Error::Validation(problems) => problems
            .iter()
            .map(|p| sentence(&p.message))
            .collect::<Vec<_>>()
            .join(" "),
        Error::UnsupportedMediaType | Error::PayloadTooLarge => {
            "The form could not be read. Reload the page and try again.".to_owned()
        }
        Error::RequestTimeout => "The form took too long to arrive. Try again.".to_owned(),
        Error::UserExists => "An account with this email already exists.".to_owned(),
        Error::InvalidCredentials => "Wrong email or password.".to_owned(),
        Error::InactiveUser => "This account has been deactivated.".to_owned(),
        Error::Unauthorized => "Your session has ended. Log in again.".to_owned(),
        Error::UnverifiedUser | Error::Forbidden => {
            "This is not allowed for your account.".to_owned()
        }
        Error::InvalidToken => "This link has expired or was already used.".to_owned(),
        Error::CsrfFailed => "This form was sent from another site or from a page that is out \
                              of date, so nothing was changed. Reload the page and try again."
            .to_owned(),
        Error::RateLimited { retry_after } => {
            format!(
                "Too many attempts. Try again in {}.",
                duration(*retry_after)
            )
        }
        Error::Unavailable { retry_after } => format!(
            "We are busy right now. Try again in {}.",
            duration(*retry_after)
        ),
        _ => "Something went wrong on our side. Try again in a moment.".to_owned(),
    }
}

/// `seconds` in the largest unit that reads well.
fn duration(seconds: u64) -> String {
    match seconds {
        0..=1 => "a second".to_owned(),
        2..=90 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

/// A 303 to `path` under the pages' prefix, setting `cookies`: the R of
/// POST/redirect/GET.
pub(super) fn redirect(pages: &Pages, path: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    let location = format!("{}{path}", pages.prefix);
    // The path is ours (a fixed route and query), never the visitor's.
    if let Ok(value) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(LOCATION, value);
    }
    no_store(res.headers_mut());
    for cookie in cookies {
        res.headers_mut().append(SET_COOKIE, cookie);
    }
    res
}

/// Pages show personal data and carry CSRF tokens: never cached.
fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn html_response(status: StatusCode, html: String, nonce: &str) -> Response {
    let mut res = Response::new(Body::from(html));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    no_store(h);
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'nonce-{nonce}'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        h.insert(HeaderName::from_static("content-security-policy"), csp);
    }
    // `frame-ancestors` for older browsers, which know only this header.
    h.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// The answer when a template fails to render: plain, fixed HTML.
fn failure(nonce: &str) -> Response {
    html_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "<!doctype html><title>Error</title><p>Something went wrong on our side. \
         Try again in a moment.</p>"
            .to_owned(),
        nonce,
    )
}

/// The stylesheet.
pub(super) fn stylesheet(pages: &Pages) -> Response {
    let css = pages
        .templates
        .render("pages.css", Value::from(()))
        .unwrap_or_default();
    let mut res = Response::new(Body::from(css));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    res.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_with_a_field_the_form_lacks_is_said_on_the_form() {
        let err = Error::Validation(vec![
            crate::FieldError::new("password", "too short"),
            crate::FieldError::new("display_name", "this field is required"),
        ]);
        let page = Page::new("signup.html", "Sign up").failed(&err, "signup", same, "");
        assert_eq!(page.errors["signup.password"], "Too short.");
        assert_eq!(
            page.errors["signup"],
            "display_name: This field is required."
        );
        assert_eq!(page.first_error.as_deref(), Some("signup.password"));
    }

    #[test]
    fn core_messages_read_as_sentences() {
        assert_eq!(
            sentence("password must be at least 8 characters"),
            "Password must be at least 8 characters."
        );
        assert_eq!(sentence("Done!"), "Done!");
        assert_eq!(duration(30), "30 seconds");
        assert_eq!(duration(600), "10 minutes");
    }
}
