//! The framework-free core: [`Users`] and its builder.
//!
//! Every lifecycle operation is an async method returning
//! `Result<_, Error>`. The HTTP services only decode, call these, and encode;
//! tests, CLIs and other frameworks call them directly. Each capability lives
//! in its own file: `registration`, `sessions`, `verification`,
//! `password_reset`, `roles`.

mod account;
mod admin;
mod config;
mod lockout;
mod password_reset;
mod private_registration;
mod profile;
mod reauth;
mod registration;
mod roles;
mod sessions;
mod usernames;
mod verification;

use std::sync::Arc;

pub use account::AccountChange;
pub use admin::{AdminChange, MAX_PAGE, UserPage};
pub use config::UsersBuilder;
pub use lockout::LockoutPolicy;
pub use profile::ProfileFields;
pub use registration::Registration;
pub use roles::{MAX_ROLE_NAME_LEN, Permission, Role};
pub use sessions::{Authenticated, TokenPair};

use crate::error::Error;
use crate::hooks::DynHooks;
use crate::mail::outbox::Outbox;
use crate::mail::{EmailKind, LinkTemplate, OutgoingEmail, Rendered, Templates};
use crate::password::{HashingConfig, PasswordParams, PasswordPolicy, Passwords};
use crate::store::{DynStore, QueuedEmail, Store, StoreError, UserUpdate};
use crate::token::{Purpose, Tokens};
use crate::user::{Email, User, UserId};

/// The user-lifecycle handle. Cheap to clone: clones share everything.
///
/// Build one with [`Users::builder`] (see [`UsersBuilder`] for the
/// settings), once at start-up, and hand clones to whatever needs it: the
/// HTTP services ([`UsersService`](crate::UsersService), the
/// [`CurrentUser`](crate::CurrentUser) extractor) take it, and tests, CLIs
/// and other frameworks call its methods directly. Every method returns
/// `Result<_, `[`Error`]`>`, whose [`code`](Error::code) and
/// [`status`](Error::status) are what the HTTP side answers.
///
/// The whole lifecycle, with a [`Mailer`](crate::mail::Mailer) that hands
/// the emails to the caller instead of sending them, as a test would (in
/// development the default [`LogMailer`](crate::mail::LogMailer); in
/// production an [`SmtpMailer`](crate::mail::SmtpMailer)):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tokio::sync::mpsc;
/// use tower_users::mail::{MailError, Mailer, OutgoingEmail};
/// use tower_users::{Error, RedbStore, Users};
///
/// /// Passes every email on to the test instead of sending it.
/// struct Inbox(mpsc::UnboundedSender<OutgoingEmail>);
///
/// impl Mailer for Inbox {
///     async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
///         let _ = self.0.send(email.clone());
///         Ok(())
///     }
/// }
///
/// let (outbox, mut inbox) = mpsc::unbounded_channel();
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret(b"an example secret of at least 32 bytes!!")
///     .with_mailer(Inbox(outbox))
///     .build()?;
///
/// // Registering queues a verification email; its link carries the token.
/// let alice = users.register("alice@example.com", "correct horse battery").await?;
/// let email = inbox.recv().await.unwrap();
/// let (_, token) = email.link.split_once("#token=").unwrap();
/// assert!(users.verify(token).await?.is_verified);
///
/// // Log in, and check the access token as a server does on each request.
/// let tokens = users.login("alice@example.com", "correct horse battery").await?;
/// let me = users.authenticate(&tokens.access_token).await?;
/// assert_eq!(me.user.id, alice.id);
///
/// // A refresh spends the refresh token for a new pair; logout ends the session.
/// let tokens = users.refresh(&tokens.refresh_token).await?;
/// let me = users.authenticate(&tokens.access_token).await?;
/// users.logout(me.session).await?;
/// let after = users.authenticate(&tokens.access_token).await;
/// assert!(matches!(after, Err(Error::Unauthorized)));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Users {
    inner: Arc<Inner>,
}

/// Which [`Users`] vouched for something (a [`CurrentUser`] in the request
/// extensions), so a service built on another one does not take its word.
/// A `Weak`, so it keeps no `Users` alive, yet holds the allocation: no
/// `Users` made later can reuse the address and pass for this one.
///
/// [`CurrentUser`]: crate::CurrentUser
#[derive(Clone, Debug)]
pub(crate) struct Issuer(std::sync::Weak<Inner>);

struct Inner {
    store: Arc<dyn DynStore>,
    tokens: Tokens,
    passwords: Passwords,
    hooks: Arc<dyn DynHooks>,
    templates: Templates,
    outbox: Outbox,
    attempts: lockout::Gates,
    config: Config,
}

/// Settings, all with secure defaults; set them through [`UsersBuilder`].
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) app_name: String,
    pub(crate) access_ttl: time::Duration,
    pub(crate) session_ttl: time::Duration,
    /// How recently a session must have proved the password for a
    /// sensitive change without `current_password`.
    pub(crate) reauth_window: time::Duration,
    pub(crate) verify_ttl: time::Duration,
    pub(crate) reset_ttl: time::Duration,
    pub(crate) policy: PasswordPolicy,
    pub(crate) password_params: PasswordParams,
    pub(crate) hashing: HashingConfig,
    pub(crate) body_limit: usize,
    pub(crate) body_timeout: std::time::Duration,
    pub(crate) verify_link: LinkTemplate,
    pub(crate) reset_link: LinkTemplate,
    pub(crate) verify_on_register: bool,
    pub(crate) private_registration: bool,
    pub(crate) lockout: LockoutPolicy,
    pub(crate) profile: Option<profile::ProfileSchema>,
    pub(crate) cookies: crate::http::cookies::CookieState,
    pub(crate) transports: Vec<crate::http::cookies::Transport>,
    pub(crate) roles: Arc<roles::RoleMap>,
    pub(crate) usernames: crate::Usernames,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("Users")
            .field("app_name", &c.app_name)
            .field("access_ttl", &c.access_ttl)
            .field("session_ttl", &c.session_ttl)
            .field("reauth_window", &c.reauth_window)
            .field("policy", &c.policy)
            .field("password_params", &c.password_params)
            .field("lockout", &c.lockout)
            .finish_non_exhaustive()
    }
}

impl Users {
    /// Starts building a `Users` on `store`. A signing secret is required
    /// ([`UsersBuilder::with_secret`]); everything else has a safe default.
    pub fn builder(store: impl Store) -> UsersBuilder {
        UsersBuilder::new(Arc::new(store))
    }

    /// This instance, as [`Issuer`] records it.
    pub(crate) fn issuer(&self) -> Issuer {
        Issuer(Arc::downgrade(&self.inner))
    }

    /// Whether `issuer` is this instance (or a clone of it).
    pub(crate) fn issued(&self, issuer: &Issuer) -> bool {
        std::ptr::eq(issuer.0.as_ptr(), Arc::as_ptr(&self.inner))
    }

    /// The application's name, as the emails and pages show it.
    pub fn app_name(&self) -> &str {
        &self.inner.config.app_name
    }

    /// The largest request body the HTTP services accept, in bytes.
    pub fn body_limit(&self) -> usize {
        self.inner.config.body_limit
    }

    /// How long the HTTP services wait for a request body.
    pub fn body_timeout(&self) -> std::time::Duration {
        self.inner.config.body_timeout
    }

    /// How long access tokens live.
    pub fn access_ttl(&self) -> std::time::Duration {
        // Positive by construction: `build` refuses any other lifetime.
        self.inner.config.access_ttl.unsigned_abs()
    }

    /// Whether users have usernames (see
    /// [`UsersBuilder::with_usernames`]).
    pub fn usernames(&self) -> crate::Usernames {
        self.inner.config.usernames
    }

    /// How many emails wait in the outbox.
    pub async fn pending_mail(&self) -> Result<u64, Error> {
        Ok(self.store().pending_mail().await?)
    }

    /// Up to `limit` emails the outbox gave up on, oldest first, each with
    /// the reason in `last_error`.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<QueuedEmail>, Error> {
        Ok(self.store().dead_letters(limit).await?)
    }

    /// Stops the outbox worker after the email it is sending. Queued mail
    /// stays in the store and goes out after the next start; mail it had
    /// claimed but not sent is released at once to other instances sharing
    /// the store. Call it when the server shuts down.
    pub async fn shutdown(&self) {
        self.inner.outbox.shutdown().await;
    }

    fn store(&self) -> &dyn DynStore {
        &*self.inner.store
    }

    /// The store, for a rate limiter that keeps its buckets there.
    pub(crate) fn shared_store(&self) -> Arc<dyn DynStore> {
        self.inner.store.clone()
    }

    /// The built-in policy, then the app's `validate_password` hook, both on
    /// the NFKC form that will be hashed.
    async fn check_new_password(&self, password: &str, email: &Email) -> Result<(), Error> {
        let password = &*crate::password::normalize::nfkc(password);
        self.inner.config.policy.check(password, email)?;
        self.inner
            .hooks
            .validate_password(password, email)
            .await
            .map_err(|message| Error::field("password", message))
    }

    /// Reads user `id`, lets `change` check it and describe the update, and
    /// applies that as a compare-and-swap. If a concurrent write got there
    /// first, re-reads and re-checks (a few times), so no write is lost and
    /// every rule is checked against the state that is actually replaced.
    async fn change_user<F>(&self, id: UserId, missing: Error, mut change: F) -> Result<User, Error>
    where
        F: FnMut(&User) -> Result<UserUpdate, Error>,
    {
        let mut missing = Some(missing);
        for _ in 0..4 {
            let Some(current) = self.store().user(id).await? else {
                return Err(missing.take().unwrap_or(Error::NotFound));
            };
            let update = change(&current)?;
            let after = update.user.clone();
            match self.store().update_user(update).await {
                Ok(()) => return Ok(after),
                Err(StoreError::Conflict) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(Error::Unavailable { retry_after: 1 })
    }

    /// Issues a token of `purpose` for `user` and renders its email, ready
    /// to be queued with the state change that caused it.
    fn token_email(&self, user: &User, purpose: Purpose) -> Result<(QueuedEmail, String), Error> {
        let kind = match purpose {
            Purpose::Verify => EmailKind::Verify,
            _ => EmailKind::PasswordReset,
        };
        self.token_email_as(user, purpose, kind)
    }

    /// [`token_email`](Self::token_email) with the link of `purpose` in
    /// the email of `kind`.
    fn token_email_as(
        &self,
        user: &User,
        purpose: Purpose,
        kind: EmailKind,
    ) -> Result<(QueuedEmail, String), Error> {
        let cfg = &self.inner.config;
        let (ttl, link) = match purpose {
            Purpose::Verify => (cfg.verify_ttl, &cfg.verify_link),
            _ => (cfg.reset_ttl, &cfg.reset_link),
        };
        let (token, claims) = self
            .inner
            .tokens
            .issue(purpose, user, ttl, None)
            .map_err(Error::internal)?;
        let link = link.render(&token);
        let rendered = self
            .inner
            .templates
            .render(
                kind,
                &cfg.app_name,
                user.email.as_str(),
                &link,
                claims.expires_at(),
            )
            .map_err(Error::internal)?;
        let mail = queued(
            kind,
            user.email.as_str(),
            rendered,
            &link,
            claims.expires_at(),
        );
        Ok((mail, token))
    }

    /// Queues a token email for `user`, or, when there is no eligible user,
    /// a decoy made the same way for a stand-in, so the answer's timing says
    /// nothing about the account. The hook runs in the background for the
    /// same reason.
    async fn queue_or_decoy(
        &self,
        email: &Email,
        user: Option<User>,
        purpose: Purpose,
    ) -> Result<(), Error> {
        let decoy = user.is_none();
        let target = user.unwrap_or_else(|| User::new(email.clone(), String::new()));
        let (mut mail, token) = self.token_email(&target, purpose)?;
        // A decoy goes through the outbox like a real email, and the worker
        // drops it unsent: request and background work are the same.
        mail.decoy = decoy;
        self.store().enqueue_mail(&mail).await?;
        let doorbell = self.inner.outbox.doorbell();
        let hooks = (!decoy).then(|| self.inner.hooks.clone());
        tokio::spawn(async move {
            tokio::time::sleep(crate::mail::outbox::WAKE_DELAY).await;
            doorbell.notify_one();
            let Some(hooks) = hooks else {
                return;
            };
            match purpose {
                Purpose::Verify => hooks.after_request_verify(&target, &token).await,
                _ => hooks.after_forgot_password(&target, &token).await,
            }
        });
        Ok(())
    }
}

/// A rendered email for `to`, as a new outbox entry with a fresh id.
fn queued(
    kind: EmailKind,
    to: &str,
    rendered: Rendered,
    link: &str,
    expires_at: time::OffsetDateTime,
) -> QueuedEmail {
    QueuedEmail::new(OutgoingEmail::new(
        uuid::Uuid::now_v7(),
        kind,
        to,
        rendered.subject,
        rendered.text,
        rendered.html,
        link,
        expires_at,
    ))
}
