//! Email templates: minijinja, embedded in the binary, overridable one file
//! at a time from a directory.
//!
//! Each kind of email has three templates: `{name}.subject.txt`,
//! `{name}.txt` and `{name}.html` (autoescaped), where `name` is `verify`,
//! `password_reset`, `email_change`, `email_change_notice` or
//! `registration_notice`. Their context:
//!
//! | variable | value |
//! |---|---|
//! | `link` | the one link of the email (with the token) |
//! | `app_name` | [`with_app_name`](crate::UsersBuilder::with_app_name) |
//! | `recipient` | the address the email goes to |
//! | `expires_at` | when the link expires, RFC 3339 UTC |
//! | `expires_in_minutes` | the same, in whole minutes from now |
//! | `new_email` | `email_change_notice` only: the address asked for |
//!
//! `email_change_notice` goes to the old address when a change is asked
//! for; it carries no link. `registration_notice` goes to an account's
//! owner when someone registers its address under private registration;
//! its `link` is a password-reset link.

use std::path::Path;

use minijinja::{Environment, Value, context};
use time::OffsetDateTime;

use super::EmailKind;
use crate::error::ConfigError;

const EMBEDDED: &[(&str, &str)] = &[
    (
        "verify.subject.txt",
        include_str!("../../templates/verify.subject.txt"),
    ),
    ("verify.txt", include_str!("../../templates/verify.txt")),
    ("verify.html", include_str!("../../templates/verify.html")),
    (
        "password_reset.subject.txt",
        include_str!("../../templates/password_reset.subject.txt"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/password_reset.html"),
    ),
    (
        "email_change.subject.txt",
        include_str!("../../templates/email_change.subject.txt"),
    ),
    (
        "email_change.txt",
        include_str!("../../templates/email_change.txt"),
    ),
    (
        "email_change.html",
        include_str!("../../templates/email_change.html"),
    ),
    (
        "email_change_notice.subject.txt",
        include_str!("../../templates/email_change_notice.subject.txt"),
    ),
    (
        "email_change_notice.txt",
        include_str!("../../templates/email_change_notice.txt"),
    ),
    (
        "email_change_notice.html",
        include_str!("../../templates/email_change_notice.html"),
    ),
    (
        "registration_notice.subject.txt",
        include_str!("../../templates/registration_notice.subject.txt"),
    ),
    (
        "registration_notice.txt",
        include_str!("../../templates/registration_notice.txt"),
    ),
    (
        "registration_notice.html",
        include_str!("../../templates/registration_notice.html"),
    ),
];

/// The rendered parts of one email.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line (one line, trimmed).
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// The set of email templates.
///
/// ```
/// use tower_users::mail::Templates;
/// // Embedded defaults, with any of the fifteen files found in `./my-templates`
/// // taking their place.
/// let templates = Templates::embedded().with_overrides_from("./my-templates").unwrap();
/// # let _ = templates;
/// ```
#[derive(Clone)]
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::embedded()
    }
}

impl Templates {
    /// The templates shipped in `templates/`, compiled into the binary.
    pub fn embedded() -> Self {
        let mut env = Environment::new();
        // minijinja's default escapes `.html` templates and leaves `.txt` alone.
        for (name, source) in EMBEDDED {
            // The embedded templates are checked by the tests below; a
            // failure here would be a build defect, so keep the old one.
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(template = name, error = %err, "embedded template is invalid");
            }
        }
        Templates { env }
    }

    /// Replaces each embedded template for which `dir` holds a file of the
    /// same name; the others stay. Every template is test-rendered, so a
    /// broken override is refused here rather than at send time.
    pub fn with_overrides_from(mut self, dir: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let dir = dir.as_ref();
        for (name, _) in EMBEDDED {
            let path = dir.join(name);
            if !path.is_file() {
                continue;
            }
            let source = std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                name: "templates",
                reason: format!("{}: {e}", path.display()),
            })?;
            self.env
                .add_template_owned(*name, source)
                .map_err(|e| ConfigError::Invalid {
                    name: "templates",
                    reason: format!("{}: {e}", path.display()),
                })?;
        }
        self.check()?;
        Ok(self)
    }

    /// Renders every kind of [`EmailKind::ALL`] once with sample values,
    /// so a template that fails only when rendered is refused at start.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let expires = OffsetDateTime::now_utc() + time::Duration::hours(1);
        for kind in EmailKind::ALL {
            self.render_with(
                kind,
                "App",
                "a@example.com",
                "https://x/#token=t",
                expires,
                "b@example.com",
            )
            .map_err(|e| ConfigError::Invalid {
                name: "templates",
                reason: format!("{}: {e}", kind.as_str()),
            })?;
        }
        Ok(())
    }

    /// Renders the email of `kind`.
    pub fn render(
        &self,
        kind: EmailKind,
        app_name: &str,
        recipient: &str,
        link: &str,
        expires_at: OffsetDateTime,
    ) -> Result<Rendered, minijinja::Error> {
        self.render_with(kind, app_name, recipient, link, expires_at, "")
    }

    /// [`render`](Self::render), with `new_email` for the change notice.
    pub fn render_with(
        &self,
        kind: EmailKind,
        app_name: &str,
        recipient: &str,
        link: &str,
        expires_at: OffsetDateTime,
        new_email: &str,
    ) -> Result<Rendered, minijinja::Error> {
        let name = kind.as_str();
        let minutes = (expires_at - OffsetDateTime::now_utc())
            .whole_minutes()
            .max(0);
        let expires = expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let ctx = |link: Value| {
            context! {
                link => link,
                app_name => app_name,
                recipient => recipient,
                expires_at => expires.clone(),
                expires_in_minutes => minutes,
                new_email => new_email,
            }
        };
        let text_ctx = ctx(Value::from(link));
        // minijinja's HTML escaping also rewrites `/` as `&#x2f;`; valid,
        // but it makes links unreadable in the source of the email. Escape
        // only what matters in a quoted attribute (`& < > " '`), and mark it
        // safe.
        let html_ctx = ctx(Value::from_safe_string(
            html_escape::encode_quoted_attribute(link).into_owned(),
        ));
        let part = |suffix: &str, ctx: &Value| {
            self.env
                .get_template(&format!("{name}.{suffix}"))?
                .render(ctx.clone())
        };
        let subject = part("subject.txt", &text_ctx)?;
        // A subject is one header line: no line breaks may reach it.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(Rendered {
            subject,
            text: part("txt", &text_ctx)?,
            html: part("html", &html_ctx)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Templates, kind: EmailKind) -> Rendered {
        let link = "http://localhost:3000/verify#token=aaa.bbb-ccc_ddd";
        t.render(
            kind,
            "Acme & Co",
            "bob@example.com",
            link,
            OffsetDateTime::now_utc() + time::Duration::minutes(61),
        )
        .unwrap()
    }

    #[test]
    fn all_lists_every_kind() {
        // No wildcard arm: a new kind stops this compiling until it has a
        // place here and, at the same index, in `EmailKind::ALL`.
        fn index(kind: EmailKind) -> usize {
            match kind {
                EmailKind::Verify => 0,
                EmailKind::PasswordReset => 1,
                EmailKind::EmailChange => 2,
                EmailKind::EmailChangeNotice => 3,
                EmailKind::RegistrationNotice => 4,
            }
        }
        for (i, kind) in EmailKind::ALL.into_iter().enumerate() {
            assert_eq!(index(kind), i, "{kind:?}");
            assert_eq!(EmailKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn every_kind_has_its_three_embedded_templates_and_nothing_else() {
        let mut expected: Vec<String> = EmailKind::ALL
            .into_iter()
            .flat_map(|kind| {
                ["subject.txt", "txt", "html"].map(|part| format!("{}.{part}", kind.as_str()))
            })
            .collect();
        let mut embedded: Vec<String> = EMBEDDED.iter().map(|(name, _)| name.to_string()).collect();
        expected.sort();
        embedded.sort();
        assert_eq!(embedded, expected);
        assert!(Templates::embedded().check().is_ok());
    }

    #[test]
    fn an_override_that_fails_only_when_rendered_is_refused_for_every_kind() {
        for (name, _) in EMBEDDED {
            let dir = tempfile::tempdir().unwrap();
            // Parses, but fails on render: attribute access on an undefined value.
            std::fs::write(dir.path().join(name), "{{ no_such_value.field }}").unwrap();
            let err = Templates::embedded()
                .with_overrides_from(dir.path())
                .expect_err(name);
            assert!(err.to_string().contains("templates"), "{name}: {err}");
        }
    }

    #[test]
    fn a_broken_email_change_notice_refuses_to_build_users() {
        // A set changed without `with_overrides_from`'s own check is
        // still checked, for every kind, when the builder builds.
        let mut broken = Templates::embedded();
        broken
            .env
            .add_template("email_change_notice.txt", "{{ no_such_value.field }}")
            .unwrap();
        let built = crate::Users::builder(crate::RedbStore::in_memory().unwrap())
            .with_secret([7u8; 32])
            .with_templates(broken)
            .build();
        assert!(built.is_err());
    }

    #[test]
    fn every_embedded_template_renders_both_parts_with_the_single_link() {
        let t = Templates::embedded();
        for kind in [
            EmailKind::Verify,
            EmailKind::PasswordReset,
            EmailKind::EmailChange,
            EmailKind::RegistrationNotice,
        ] {
            let r = render(&t, kind);
            assert!(!r.subject.is_empty() && !r.subject.contains('\n'));
            assert!(r.subject.contains("Acme & Co"), "{}", r.subject);
            for part in [&r.text, &r.html] {
                assert_eq!(part.matches("http").count(), 1, "{kind:?}: {part}");
                assert!(part.contains("http://localhost:3000/verify#token=aaa.bbb-ccc_ddd"));
                assert!(part.contains("60 minutes") || part.contains("61 minutes"));
            }
            // HTML is escaped, text is not.
            assert!(r.html.contains("Acme &amp; Co"));
            assert!(r.text.contains("Acme & Co"));
        }
    }

    #[test]
    fn the_change_notice_names_the_new_address_and_carries_no_link() {
        let t = Templates::embedded();
        let r = t
            .render_with(
                EmailKind::EmailChangeNotice,
                "App",
                "old@example.com",
                "",
                OffsetDateTime::now_utc(),
                "new@example.com",
            )
            .unwrap();
        for part in [&r.text, &r.html] {
            assert!(part.contains("new@example.com"));
            assert!(!part.contains("http"));
        }
    }

    #[test]
    fn a_directory_overrides_one_template_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("verify.subject.txt"),
            "Welcome to {{ app_name }}!",
        )
        .unwrap();
        let t = Templates::embedded()
            .with_overrides_from(dir.path())
            .unwrap();
        let r = render(&t, EmailKind::Verify);
        assert_eq!(r.subject, "Welcome to Acme & Co!");
        assert!(r.text.contains("confirm your email"));
    }

    #[test]
    fn a_broken_override_is_refused_at_build_time() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("verify.html"), "{% if %}").unwrap();
        assert!(
            Templates::embedded()
                .with_overrides_from(dir.path())
                .is_err()
        );
    }

    #[test]
    fn the_html_link_is_escaped_for_an_attribute_and_stays_readable() {
        let link = r#"https://app.example/verify?a=1&b="'<x>#token=t"#;
        let r = Templates::embedded()
            .render(
                EmailKind::Verify,
                "App",
                "bob@example.com",
                link,
                OffsetDateTime::now_utc() + time::Duration::minutes(60),
            )
            .unwrap();
        let escaped = "https://app.example/verify?a=1&amp;b=&quot;&#x27;&lt;x&gt;#token=t";
        assert!(r.html.contains(escaped), "{}", r.html);
        assert!(!r.html.contains(r#"b=""#) && !r.html.contains("<x>"));
        assert!(r.text.contains(link));
    }
}
