//! The rendered email handed to a [`Mailer`](super::Mailer).

use time::OffsetDateTime;

/// Which lifecycle email this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmailKind {
    /// Confirms the address of a new account.
    Verify,
    /// Carries a password-reset link.
    PasswordReset,
}

/// One rendered email with a text and an HTML part.
#[derive(Clone)]
#[non_exhaustive]
pub struct OutgoingEmail {
    /// What the email is for.
    pub kind: EmailKind,
    /// The recipient address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// The one link the email carries.
    pub link: String,
    /// When the token in the link expires.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for OutgoingEmail {
    // The body carries a live token: keep it out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl OutgoingEmail {
    /// Renders the built-in email of `kind` for `to`, with `link`.
    pub(crate) fn render(
        kind: EmailKind,
        app_name: &str,
        to: &str,
        link: String,
        expires_at: OffsetDateTime,
    ) -> Self {
        let (subject, intro, action) = match kind {
            EmailKind::Verify => (
                format!("Confirm your email for {app_name}"),
                "Please confirm your email address by opening this link:",
                "Confirm email",
            ),
            EmailKind::PasswordReset => (
                format!("Reset your {app_name} password"),
                "Someone asked to reset your password. If it was you, open this link:",
                "Reset password",
            ),
        };
        let minutes = (expires_at - OffsetDateTime::now_utc())
            .whole_minutes()
            .max(1);
        let text = format!(
            "{intro}\n\n{link}\n\nThe link expires in {minutes} minutes. \
             If you did not ask for this, ignore this email.\n"
        );
        let html = format!(
            "<p>{}</p>\n<p><a href=\"{}\">{}</a></p>\n<p>The link expires in {minutes} minutes. \
             If you did not ask for this, ignore this email.</p>\n",
            escape_html(intro),
            escape_html(&link),
            escape_html(action),
        );
        OutgoingEmail {
            kind,
            to: to.to_owned(),
            subject,
            text,
            html,
            link,
            expires_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parts_carry_the_one_link() {
        let link = "http://localhost:3000/verify#token=a.b.c".to_owned();
        let e = OutgoingEmail::render(
            EmailKind::Verify,
            "App",
            "a@example.com",
            link.clone(),
            OffsetDateTime::now_utc() + time::Duration::hours(1),
        );
        assert_eq!(e.text.matches("http").count(), 1);
        assert_eq!(e.html.matches("http").count(), 1);
        assert!(e.text.contains(&link) && e.html.contains(&link));
    }
}
