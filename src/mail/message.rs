//! The rendered email handed to a [`Mailer`](super::Mailer).

use time::OffsetDateTime;
use uuid::Uuid;

/// Which lifecycle email this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmailKind {
    /// Confirms the address of a new account.
    Verify,
    /// Carries a password-reset link.
    PasswordReset,
    /// Confirms a new address for an existing account.
    EmailChange,
    /// Tells the old address that a change to a new one was asked for.
    EmailChangeNotice,
    /// Tells an account's owner that someone tried to register its address
    /// (private registration, see
    /// [`with_private_registration`](crate::UsersBuilder::with_private_registration));
    /// carries a password-reset link.
    RegistrationNotice,
}

impl EmailKind {
    /// Every kind, once. Anything that must hold for each kind (templates
    /// present and checked at start, names that parse back) iterates this,
    /// and a test ties it to the variants, so a new kind cannot be missed.
    pub const ALL: [EmailKind; 5] = [
        EmailKind::Verify,
        EmailKind::PasswordReset,
        EmailKind::EmailChange,
        EmailKind::EmailChangeNotice,
        EmailKind::RegistrationNotice,
    ];

    /// A stable name, used in storage and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::Verify => "verify",
            EmailKind::PasswordReset => "password_reset",
            EmailKind::EmailChange => "email_change",
            EmailKind::EmailChangeNotice => "email_change_notice",
            EmailKind::RegistrationNotice => "registration_notice",
        }
    }

    /// The kind named by [`as_str`](Self::as_str).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "verify" => EmailKind::Verify,
            "password_reset" => EmailKind::PasswordReset,
            "email_change" => EmailKind::EmailChange,
            "email_change_notice" => EmailKind::EmailChangeNotice,
            "registration_notice" => EmailKind::RegistrationNotice,
            _ => return None,
        })
    }
}

/// One rendered email with a text and an HTML part.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutgoingEmail {
    /// Stable across retries: mailers derive the `Message-ID` from it, so a
    /// redelivered email is recognisably the same one.
    pub id: Uuid,
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

impl OutgoingEmail {
    /// An email with these parts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: Uuid,
        kind: EmailKind,
        to: impl Into<String>,
        subject: impl Into<String>,
        text: impl Into<String>,
        html: impl Into<String>,
        link: impl Into<String>,
        expires_at: OffsetDateTime,
    ) -> Self {
        OutgoingEmail {
            id,
            kind,
            to: to.into(),
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
            link: link.into(),
            expires_at,
        }
    }

    /// The `Message-ID` for this email, with `domain` on the right.
    pub fn message_id(&self, domain: &str) -> String {
        format!("{}@{}", self.id.simple(), domain)
    }
}

impl std::fmt::Debug for OutgoingEmail {
    // The body carries a live token: keep it out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}
