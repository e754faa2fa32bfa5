//! The pages' templates: minijinja, embedded in the binary, overridable one
//! file at a time from a directory, like the email templates
//! ([`Templates`](crate::mail::Templates)).

use std::path::Path;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Value, context};

use crate::error::ConfigError;

/// Every page template, by the name an override file takes.
const EMBEDDED: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/pages/base.html")),
    (
        "_form.html",
        include_str!("../../templates/pages/_form.html"),
    ),
    (
        "signup.html",
        include_str!("../../templates/pages/signup.html"),
    ),
    (
        "login.html",
        include_str!("../../templates/pages/login.html"),
    ),
    (
        "forgot_password.html",
        include_str!("../../templates/pages/forgot_password.html"),
    ),
    (
        "verify.html",
        include_str!("../../templates/pages/verify.html"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/pages/password_reset.html"),
    ),
    (
        "account.html",
        include_str!("../../templates/pages/account.html"),
    ),
    (
        "message.html",
        include_str!("../../templates/pages/message.html"),
    ),
    ("pages.css", include_str!("../../templates/pages/pages.css")),
];

/// The templates of [`PagesService`](super::PagesService).
///
/// The files are `base.html` (the layout every page extends), `_form.html`
/// (the field macros), `signup.html`, `login.html`, `forgot_password.html`,
/// `verify.html`, `password_reset.html`, `account.html`, `message.html`
/// (a one-line outcome, such as a refused request) and the stylesheet
/// `pages.css`. `.html` files are auto-escaped. Every page gets `title`,
/// `app_name`, `base` (the prefix the pages are served under), `notice`
/// (a success, shown with `role="status"`), `alert` (a failure of the page,
/// `role="alert"`), `errors` (`"form.field"` or `"form"` to a message),
/// `first_error` (the key of the field to focus) and `values` (what the
/// user typed, passwords never); the account page also `user` (`email`,
/// `is_verified`, `pending_email`) and `csrf_token`.
///
/// ```
/// use tower_users::pages::PageTemplates;
/// // The embedded pages, with any of the files found in `./my-pages`
/// // taking their place.
/// let templates = PageTemplates::embedded().with_overrides_from("./my-pages").unwrap();
/// # let _ = templates;
/// ```
#[derive(Clone)]
pub struct PageTemplates {
    env: Environment<'static>,
}

impl std::fmt::Debug for PageTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageTemplates").finish_non_exhaustive()
    }
}

impl Default for PageTemplates {
    fn default() -> Self {
        Self::embedded()
    }
}

impl PageTemplates {
    /// The templates shipped in `templates/pages/`, compiled into the binary.
    pub fn embedded() -> Self {
        let mut env = Environment::new();
        // Block tags leave no blank lines behind in the HTML.
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build();
        match syntax {
            Ok(syntax) => env.set_syntax(syntax),
            Err(err) => tracing::error!(error = %err, "page template syntax refused"),
        }
        // minijinja escapes `.html` templates and leaves `.css` alone.
        for (name, source) in EMBEDDED {
            // Checked by the tests below: a failure would be a build defect.
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(template = name, error = %err, "embedded page template is invalid");
            }
        }
        PageTemplates { env }
    }

    /// Replaces each embedded template for which `dir` holds a file of the
    /// same name; the others stay. Every page is test-rendered, so a broken
    /// override is refused here rather than when a visitor meets it.
    pub fn with_overrides_from(mut self, dir: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let dir = dir.as_ref();
        let invalid = |path: &Path, err: &dyn std::fmt::Display| ConfigError::Invalid {
            name: "page templates",
            reason: format!("{}: {err}", path.display()),
        };
        for (name, _) in EMBEDDED {
            let path = dir.join(name);
            if !path.is_file() {
                continue;
            }
            let source = std::fs::read_to_string(&path).map_err(|e| invalid(&path, &e))?;
            self.env
                .add_template_owned(*name, source)
                .map_err(|e| invalid(&path, &e))?;
        }
        self.check()?;
        Ok(self)
    }

    /// Renders every page once with sample values, the account page both
    /// with and without errors.
    fn check(&self) -> Result<(), ConfigError> {
        let user = context! { email => "a@example.com", is_verified => false,
        pending_email => "b@example.com" };
        let errors = Value::from_iter(
            [
                "signup.email",
                "login",
                "reset.password",
                "password.current_password",
                "delete",
            ]
            .map(|key| (key, "e")),
        );
        for (name, _) in EMBEDDED {
            if name.starts_with('_') || *name == "base.html" {
                continue;
            }
            for errors in [Value::from(()), errors.clone()] {
                let ctx = context! {
                    title => "T", app_name => "App", base => "", notice => "n", alert => "a",
                    errors, first_error => "signup.email", values => context! { email => "a@x" },
                    user => user.clone(), csrf_token => "c", token => "t",
                    next_path => "/login", next_label => "Log in",
                };
                self.render(name, ctx).map_err(|e| ConfigError::Invalid {
                    name: "page templates",
                    reason: format!("{name}: {e}"),
                })?;
            }
        }
        Ok(())
    }

    /// Renders template `name` with `ctx`.
    pub(crate) fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_embedded_page_renders() {
        PageTemplates::embedded().check().unwrap();
    }

    #[test]
    fn an_override_replaces_one_page_and_a_broken_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("login.html"), "custom {{ title }}").unwrap();
        let t = PageTemplates::embedded()
            .with_overrides_from(dir.path())
            .unwrap();
        let html = t.render("login.html", context! { title => "<b>" }).unwrap();
        assert_eq!(html, "custom &lt;b&gt;");
        std::fs::write(dir.path().join("signup.html"), "{% if %}").unwrap();
        let err = PageTemplates::embedded().with_overrides_from(dir.path());
        assert!(matches!(err, Err(ConfigError::Invalid { .. })));
    }
}
