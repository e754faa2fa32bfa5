//! The framework-free core: [`Users`] and its builder.
//!
//! Every lifecycle operation is an async method returning
//! `Result<_, Error>`. The HTTP services only decode, call these, and encode;
//! tests, CLIs and other frameworks call them directly. Each capability lives
//! in its own file: `registration`, `sessions`, `verification`,
//! `password_reset`.

mod config;
mod password_reset;
mod registration;
mod sessions;
mod verification;

use std::sync::Arc;

pub use config::UsersBuilder;
pub use sessions::{Authenticated, TokenPair};

use crate::error::Error;
use crate::hooks::Hooks;
use crate::mail::{EmailKind, LinkTemplate, Mailer, OutgoingEmail};
use crate::password::{PasswordParams, PasswordPolicy, Passwords};
use crate::store::{DynStore, Store};
use crate::token::{Purpose, Tokens};
use crate::user::User;

/// The user-lifecycle handle. Cheap to clone: clones share everything.
///
/// Build one with [`Users::builder`]; see the crate docs for a walk-through.
#[derive(Clone)]
pub struct Users {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn DynStore>,
    tokens: Tokens,
    passwords: Passwords,
    mailer: Arc<dyn Mailer>,
    hooks: Arc<dyn Hooks>,
    config: Config,
}

/// Settings, all with secure defaults; set them through [`UsersBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) app_name: String,
    pub(crate) access_ttl: time::Duration,
    pub(crate) session_ttl: time::Duration,
    pub(crate) verify_ttl: time::Duration,
    pub(crate) reset_ttl: time::Duration,
    pub(crate) policy: PasswordPolicy,
    pub(crate) password_params: PasswordParams,
    pub(crate) max_concurrent_hashes: usize,
    pub(crate) body_limit: usize,
    pub(crate) verify_link: LinkTemplate,
    pub(crate) reset_link: LinkTemplate,
    pub(crate) verify_on_register: bool,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Users {
    /// Starts building a `Users` on `store`. A signing secret is required
    /// ([`UsersBuilder::with_secret`]); everything else has a safe default.
    pub fn builder(store: impl Store) -> UsersBuilder {
        UsersBuilder::new(Arc::new(store))
    }

    /// The largest request body the HTTP services accept, in bytes.
    pub fn body_limit(&self) -> usize {
        self.inner.config.body_limit
    }

    /// How long access tokens live.
    pub fn access_ttl(&self) -> time::Duration {
        self.inner.config.access_ttl
    }

    fn store(&self) -> &dyn DynStore {
        &*self.inner.store
    }

    /// Issues a token of `purpose` for `user`, renders its email and hands it
    /// to the mailer. Runs in the background, so the caller's answer (always
    /// 202) and its timing do not depend on whether the user exists.
    fn send_token_email(&self, user: User, purpose: Purpose) {
        let users = self.clone();
        tokio::spawn(async move {
            if let Err(err) = users.send_token_email_now(&user, purpose).await {
                tracing::error!(user.id = %user.id, error = %err, "could not send lifecycle email");
            }
        });
    }

    async fn send_token_email_now(&self, user: &User, purpose: Purpose) -> Result<(), Error> {
        let cfg = &self.inner.config;
        let (ttl, kind, link) = match purpose {
            Purpose::Verify => (cfg.verify_ttl, EmailKind::Verify, &cfg.verify_link),
            _ => (cfg.reset_ttl, EmailKind::PasswordReset, &cfg.reset_link),
        };
        let (token, claims) = self
            .inner
            .tokens
            .issue(purpose, user, ttl, None)
            .map_err(Error::internal)?;
        let email = OutgoingEmail::render(
            kind,
            &cfg.app_name,
            user.email.as_str(),
            link.render(&token),
            claims.expires_at(),
        );
        tracing::info!(user.id = %user.id, kind = ?kind, "sending lifecycle email");
        self.inner
            .mailer
            .send(email)
            .await
            .map_err(Error::Internal)?;
        match purpose {
            Purpose::Verify => self.inner.hooks.after_request_verify(user, &token).await,
            _ => self.inner.hooks.after_forgot_password(user, &token).await,
        }
        Ok(())
    }
}
