//! [`UsersBuilder`]: every setting, with secure defaults.

use std::sync::Arc;

use super::{Config, Inner, Users};
use crate::error::ConfigError;
use crate::hooks::{DynHooks, Hooks, NoHooks};
use crate::http::cookies::{CookieSettings, CookieState, Transport};
use crate::mail::outbox::Outbox;
use crate::mail::{DynMailer, LinkTemplate, LogMailer, Mailer, OutboxConfig, Templates};
use crate::password::{HashingConfig, PasswordParams, PasswordPolicy, Passwords};
use crate::store::DynStore;
use crate::token::Tokens;

/// The audience (`aud`) of every token, so tokens minted for another app
/// with the same secret are refused.
const DEFAULT_AUDIENCE: &str = "tower-users";

/// Builds a [`Users`]. Only the secret is required; every other setting
/// has a secure default, listed on its `with_*` method.
///
/// Start from [`Users::builder`], chain the settings, and finish with
/// [`build`](Self::build), or with [`start`](Self::start) when a superuser
/// is to be created. A server's set-up:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.redb");
/// # let secret = "an example secret of at least 32 bytes!!";
/// # let root_password = "kettle staple zebra";
/// use std::time::Duration;
///
/// use tower_users::mail::SmtpMailer;
/// use tower_users::{RedbStore, Users};
///
/// // `secret`: at least 32 random bytes, from the environment or a secret
/// // store, the same on every start (tokens signed with another are refused).
/// let users = Users::builder(RedbStore::open(&path)?)
///     .with_secret(secret)
///     .with_app_name("Example")
///     // Links in emails: https://app.example/verify#token=…
///     .with_public_url("https://app.example")
///     .with_mailer(SmtpMailer::from_url("smtp://mail.app.example:587", "no-reply@app.example")?)
///     .with_max_hash_wait(Duration::from_secs(3))
///     .with_superuser("root@app.example", root_password)
///     .start()
///     .await?;
/// let root = users.login("root@app.example", root_password).await?;
/// assert!(root.user.is_superuser);
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct UsersBuilder {
    store: Arc<dyn DynStore>,
    secret: Option<Vec<u8>>,
    audience: String,
    /// `None` until the app sets one: the default [`LogMailer`], which
    /// `build` warns about.
    mailer: Option<Arc<dyn DynMailer>>,
    hooks: Arc<dyn DynHooks>,
    public_url: String,
    verify_link: Option<LinkTemplate>,
    reset_link: Option<LinkTemplate>,
    templates: Templates,
    outbox: OutboxConfig,
    superuser: Option<(String, String)>,
    cookies: CookieSettings,
    /// Checked by `build`, into `config.roles`.
    roles: Vec<(String, Vec<String>)>,
    config: Config,
}

impl UsersBuilder {
    pub(super) fn new(store: Arc<dyn DynStore>) -> Self {
        UsersBuilder {
            store,
            secret: None,
            audience: DEFAULT_AUDIENCE.to_owned(),
            mailer: None,
            hooks: Arc::new(NoHooks),
            public_url: "http://localhost:3000".to_owned(),
            verify_link: None,
            reset_link: None,
            templates: Templates::embedded(),
            outbox: OutboxConfig::default(),
            superuser: None,
            cookies: CookieSettings::default(),
            roles: Vec::new(),
            config: Config {
                app_name: "tower-users".to_owned(),
                access_ttl: time::Duration::minutes(15),
                session_ttl: time::Duration::days(30),
                reauth_window: time::Duration::minutes(10),
                verify_ttl: time::Duration::hours(1),
                reset_ttl: time::Duration::hours(1),
                policy: PasswordPolicy::default(),
                password_params: PasswordParams::default(),
                // Every core hashes when nobody else wants it; the hashing
                // threads' low priority keeps other requests first.
                hashing: HashingConfig::default(),
                body_limit: 16 * 1024,
                body_timeout: std::time::Duration::from_secs(10),
                verify_link: LinkTemplate::default_for("http://localhost:3000", "verify"),
                reset_link: LinkTemplate::default_for("http://localhost:3000", "password-reset"),
                verify_on_register: true,
                private_registration: false,
                lockout: super::LockoutPolicy::default(),
                profile: None,
                cookies: CookieState::unkeyed(),
                transports: vec![Transport::Bearer, Transport::Cookie],
                roles: Default::default(),
                usernames: crate::Usernames::Off,
            },
        }
    }

    /// The token signing secret: at least 32 bytes of randomness.
    pub fn with_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self
    }

    /// The JWT audience (`aud`); defaults to `tower-users`.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The email templates (default: the embedded ones; see
    /// [`Templates::with_overrides_from`]).
    pub fn with_templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }

    /// The outbox's retry policy.
    pub fn with_outbox(mut self, config: OutboxConfig) -> Self {
        self.outbox = config;
        self
    }

    /// Where emails go; defaults to [`LogMailer`], which writes each email,
    /// link and token included, to the log (or stderr) and which
    /// [`build`](Self::build) warns about once. Use
    /// [`SmtpMailer`](crate::mail::SmtpMailer) for real delivery.
    pub fn with_mailer(mut self, mailer: impl Mailer) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// App callbacks on lifecycle events.
    pub fn with_hooks(mut self, hooks: impl Hooks) -> Self {
        self.hooks = Arc::new(hooks);
        self
    }

    /// The app's name, used in email subjects.
    pub fn with_app_name(mut self, name: impl Into<String>) -> Self {
        self.config.app_name = name.into();
        self
    }

    /// The base of the default email links: `{public_url}/verify#token=…`
    /// and `{public_url}/password-reset#token=…`.
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = url.into();
        self
    }

    /// A custom verification link, e.g. `https://app.example/confirm?t={token}`.
    pub fn with_verify_link(mut self, link: LinkTemplate) -> Self {
        self.verify_link = Some(link);
        self
    }

    /// A custom password-reset link.
    pub fn with_reset_link(mut self, link: LinkTemplate) -> Self {
        self.reset_link = Some(link);
        self
    }

    /// How the session cookie is set (default: `Secure`, `__Host-` prefix,
    /// no trusted cross-origin pages); see the
    /// [cookie transport](crate::http::cookies). Cookies are only ever set
    /// for a login that asks for them, so bearer clients see no change.
    pub fn with_cookies(mut self, settings: CookieSettings) -> Self {
        self.cookies = settings;
        self
    }

    /// Which transports authenticate requests, tried in this order; the
    /// first that yields a user wins (default: bearer, then cookie). Leave
    /// [`Transport::Cookie`] out to turn the cookie transport off: a login
    /// asking for cookies is then refused, and cookies are ignored.
    /// [`build`](Self::build) refuses an empty list.
    ///
    /// ```
    /// use tower_users::{RedbStore, Transport, Users};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // A browser-first app: the cookie is looked at before any bearer token.
    /// let users = Users::builder(RedbStore::in_memory()?)
    ///     .with_secret(b"an example secret of at least 32 bytes!!")
    ///     .with_transports([Transport::Cookie, Transport::Bearer])
    ///     .build()?;
    /// # let _ = users;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_transports(mut self, order: impl IntoIterator<Item = Transport>) -> Self {
        let mut transports = Vec::new();
        for transport in order {
            if !transports.contains(&transport) {
                transports.push(transport);
            }
        }
        self.config.transports = transports;
        self
    }

    /// Access-token lifetime (default 15 minutes). Every lifetime must be
    /// above zero and at most 10 years, or [`build`](Self::build) refuses it.
    pub fn with_access_ttl(mut self, ttl: std::time::Duration) -> Self {
        let ttl = ttl_of(ttl);
        self.config.access_ttl = ttl;
        self
    }

    /// Session (refresh-token) lifetime (default 30 days).
    pub fn with_session_ttl(mut self, ttl: std::time::Duration) -> Self {
        let ttl = ttl_of(ttl);
        self.config.session_ttl = ttl;
        self
    }

    /// How recently a session must have proved the password (at login, or
    /// at [`Users::reauthenticate`](crate::Users::reauthenticate), `POST
    /// /users/reauthenticate`) for a sensitive change without
    /// `current_password` (default 10 minutes, as Ory Kratos'
    /// `privileged_session_max_age`): password, email or account deletion
    /// through `/users/me`, the superuser routes that change a user or its
    /// roles, and the app's own routes behind
    /// [`RecentlyAuthenticated`](crate::RecentlyAuthenticated). Outside it
    /// they answer 403 `REAUTHENTICATION_REQUIRED`. Like the lifetimes, it
    /// must be above zero and at most 10 years.
    pub fn with_reauthentication_window(mut self, window: std::time::Duration) -> Self {
        self.config.reauth_window = ttl_of(window);
        self
    }

    /// Verify and reset token lifetime (default 1 hour).
    pub fn with_email_token_ttl(mut self, ttl: std::time::Duration) -> Self {
        let ttl = ttl_of(ttl);
        self.config.verify_ttl = ttl;
        self.config.reset_ttl = ttl;
        self
    }

    /// argon2id parameters (default m=19456 KiB, t=2, p=1).
    pub fn with_password_params(mut self, params: PasswordParams) -> Self {
        self.config.password_params = params;
        self
    }

    /// Password length rules (default 8 to 256 characters).
    pub fn with_password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.config.policy = policy;
        self
    }

    /// How many argon2 computations may run at once: the number of hashing
    /// threads (default: one per CPU core). They run at the lowest OS
    /// priority, so they use the cores nobody else wants and requests that
    /// need no hashing still come first. Each running hash holds the
    /// argon2 memory cost (19 MiB by default).
    ///
    /// The limit, like the wait bound and its queue, is per process: N
    /// instances behind one balancer run up to N times as many hashes at
    /// once, each instance on its own CPU (and on one machine, N pools that
    /// each default to every core contend for the same cores).
    pub fn with_max_concurrent_hashes(mut self, n: usize) -> Self {
        self.config.hashing.threads = n;
        self
    }

    /// The memory running hashes may hold together, in bytes (default:
    /// enough for every hashing thread). Fewer hashes run at once if it
    /// holds fewer than the threads times the argon2 memory cost, and
    /// [`build`](Self::build) refuses a budget below one hash. Waiting
    /// requests hold only their password (about twice its length, 12 KiB
    /// at most under the default policy) and a few hundred bytes each, and
    /// are bounded by [`with_max_hash_wait`](Self::with_max_hash_wait)
    /// instead.
    pub fn with_hash_memory(mut self, bytes: usize) -> Self {
        self.config.hashing.memory = Some(bytes);
        self
    }

    /// The longest a login, registration or password change may be
    /// predicted to wait for a hashing thread (default 5 s). The prediction
    /// is the work admitted ahead of it times the measured time of one
    /// hash, divided by the threads. Within the bound a burst queues; past
    /// it, requests get 503 `SERVICE_UNAVAILABLE`, before any other work,
    /// with a `Retry-After` of how far their wait passed the bound (whole
    /// seconds, at least 1) plus 0 or 1 s at random, so refused clients do
    /// not all return at once. Zero admits only what can start at once;
    /// [`build`](Self::build) refuses more than 60 s.
    pub fn with_max_hash_wait(mut self, wait: std::time::Duration) -> Self {
        self.config.hashing.max_wait = wait;
        self
    }

    /// The request body limit of the HTTP services (default 16 KiB).
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// How long the HTTP services wait for a request body before answering
    /// 408 (default 10 s).
    pub fn with_body_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config.body_timeout = timeout;
        self
    }

    /// When repeated failed logins lock an account (default: after 5 from
    /// one client, for that client, 30 s doubling up to 15 minutes; after 100
    /// from all clients, for everyone until a password reset).
    pub fn with_lockout(mut self, policy: super::LockoutPolicy) -> Self {
        self.config.lockout = policy;
        self
    }

    /// Custom user fields of type `T`: registration (and `PATCH /users/me`)
    /// accept them beside the built-in fields, they must deserialize into
    /// `T`, pass [`Hooks::validate_profile`],
    /// and are stored and returned flattened in the user record. Without
    /// it, extra fields are ignored.
    ///
    /// What is stored is `T` serialized again (defaults and renames apply),
    /// so `user.profile.parse::<T>()` ([`ProfileFields::parse`](crate::ProfileFields::parse)) reads it
    /// back typed, on a [`User`](crate::User) or a
    /// [`CurrentUser`](crate::CurrentUser). The superuser from
    /// [`with_superuser`](Self::with_superuser) gets what `T` makes of no
    /// fields (its defaults); if `T` has a required field,
    /// [`start`](Self::start) fails with a 422-style [`Error::Validation`](crate::Error::Validation)
    /// naming it. Users stored before `with_profile` was set hold an empty
    /// profile: where those read theirs, make each field an `Option` or
    /// `#[serde(default)]`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use serde::{Deserialize, Serialize};
    /// use tower_users::{CurrentUser, Error, ProfileFields, RedbStore, Users};
    ///
    /// /// The app's own fields; `deny_unknown_fields` makes a typo a 422.
    /// #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// #[serde(deny_unknown_fields)]
    /// struct Profile {
    ///     display_name: String,
    /// }
    ///
    /// // In a handler (axum here), through `CurrentUser`.
    /// async fn hello(user: CurrentUser) -> Result<String, Error> {
    ///     let profile: Profile = user.profile.parse()?;
    ///     Ok(format!("hello {}", profile.display_name))
    /// }
    ///
    /// let users = Users::builder(RedbStore::in_memory()?)
    ///     .with_secret(b"an example secret of at least 32 bytes!!")
    ///     .with_profile::<Profile>()
    ///     .build()?;
    /// // Over HTTP the fields come beside email and password:
    /// // {"email": "ann@example.com", "password": "…", "display_name": "Ann"}
    /// let fields = ProfileFields::from_typed(&Profile { display_name: "Ann".into() })?;
    /// let ann = users
    ///     .register_with_profile("ann@example.com", "correct horse battery", fields)
    ///     .await?;
    /// assert_eq!(ann.profile.parse::<Profile>()?, Profile { display_name: "Ann".into() });
    /// assert_eq!(serde_json::to_value(ann.record())?["display_name"], "Ann");
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_profile<T: serde::Serialize + serde::de::DeserializeOwned + 'static>(
        mut self,
    ) -> Self {
        self.config.profile = Some(super::profile::schema::<T>());
        self
    }

    /// Defines the role `name` and the permissions it grants. Users hold
    /// roles (granted by a superuser, `PUT /users/{id}/roles/{role}`, or
    /// [`Users::grant_role`](crate::Users::grant_role)); routes require a
    /// role or, better, a permission
    /// ([`RequirePermission`](crate::http::RequirePermission),
    /// [`CurrentUserLayer::permission`](crate::CurrentUserLayer::permission)).
    /// Only roles defined here can be granted (anything else is a 422).
    ///
    /// The map lives in code, not in the store, on purpose: a change to
    /// what a role may do is reviewed and deployed with the routes that
    /// check it; no admin route exists through which a stolen session
    /// could widen a role; and every instance has the same map, so a check
    /// costs no store read. Which users hold a role is data, and changes
    /// without a deploy.
    ///
    /// Names are 1 to [`MAX_ROLE_NAME_LEN`](crate::MAX_ROLE_NAME_LEN) ASCII
    /// letters, digits, `_`, `-`, `.` or `:`; [`build`](Self::build)
    /// refuses other names and a role defined twice. Superusers get no
    /// permission implicitly.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_users::{Permission, RedbStore, Users};
    ///
    /// struct WritePosts;
    /// impl Permission for WritePosts {
    ///     const NAME: &'static str = "posts:write";
    /// }
    ///
    /// let users = Users::builder(RedbStore::in_memory()?)
    ///     .with_secret(b"an example secret of at least 32 bytes!!")
    ///     .with_role("editor", [WritePosts::NAME, "posts:read"])
    ///     .with_role("viewer", ["posts:read"])
    ///     .build()?;
    /// # let _ = users;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_role<I>(mut self, name: impl Into<String>, permissions: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let permissions = permissions.into_iter().map(Into::into).collect();
        self.roles.push((name.into(), permissions));
        self
    }

    /// Whether users have usernames (default [`Usernames::Off`]: nothing
    /// changes for existing users or on the wire).
    ///
    /// With [`Usernames::Optional`] or [`Usernames::Required`], registration
    /// and `PATCH /users/me` (and the admin's `PATCH /users/{id}`) take a
    /// `username` field, the user record shows it when set, and the login
    /// field takes an email or a username. Usernames are unique once
    /// normalized (see [`Username`](crate::Username)); a taken one is a 409
    /// `USERNAME_EXISTS`. Turning them off again later keeps stored names
    /// (and their uniqueness, and the record still shows them) but stops
    /// their use for login.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_users::{Error, RedbStore, Registration, Users, Usernames};
    ///
    /// let users = Users::builder(RedbStore::in_memory()?)
    ///     .with_secret(b"an example secret of at least 32 bytes!!")
    ///     .with_usernames(Usernames::Optional)
    ///     .build()?;
    /// let password = "correct horse battery";
    /// let reg = Registration::new("alice@example.com", password).with_username("Alice");
    /// let alice = users.register_with(reg).await?;
    /// assert_eq!(alice.username.unwrap().as_str(), "alice");
    ///
    /// // The login field takes either identifier, in any case.
    /// assert!(users.login("ALICE", password).await.is_ok());
    /// assert!(users.login("alice@example.com", password).await.is_ok());
    ///
    /// let taken = Registration::new("bob@example.com", password).with_username("alice");
    /// assert!(matches!(users.register_with(taken).await, Err(Error::UsernameExists)));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Usernames::Off`]: crate::Usernames::Off
    /// [`Usernames::Optional`]: crate::Usernames::Optional
    /// [`Usernames::Required`]: crate::Usernames::Required
    pub fn with_usernames(mut self, usernames: crate::Usernames) -> Self {
        self.config.usernames = usernames;
        self
    }

    /// Whether registering sends a verification email (default true).
    /// Private registration
    /// ([`with_private_registration`](Self::with_private_registration))
    /// always sends it: the email is its only answer.
    pub fn with_verify_on_register(mut self, send: bool) -> Self {
        self.config.verify_on_register = send;
        self
    }

    /// Registration that reveals nothing (default off): `POST
    /// /users/register` and the sign-up page answer the same (202, no body;
    /// "Check your email") whether or not the address is taken, after the
    /// same work (validation, a password hash, one email queued). A new
    /// address gets the verification email (whatever
    /// [`with_verify_on_register`](Self::with_verify_on_register) says); a
    /// taken one gets the `registration_notice` email instead, with a
    /// password-reset link, and its account is left as it is. See
    /// [`Users::register_privately`].
    ///
    /// The trade-off: the client cannot tell someone that the address is
    /// taken, so a user who mistyped theirs learns it only by not getting
    /// an email; and sign-up cannot sign in at once (the answer may not
    /// be about a new account), so the user logs in after verifying (until
    /// then, a login answers as a wrong password would, or it would tell a
    /// new address from a taken one). The
    /// `after_register` and `after_request_verify` hooks run after the
    /// answer, so their time does not show in it. With usernames on, a
    /// username is chosen after sign-in (`PATCH /users/me`), not at
    /// registration (a 422 there): a taken username cannot be hidden, there
    /// being no one to email instead; so `build` refuses this together with
    /// [`Usernames::Required`](crate::Usernames::Required).
    ///
    /// [`Users::register_privately`]: crate::Users::register_privately
    pub fn with_private_registration(mut self, on: bool) -> Self {
        self.config.private_registration = on;
        self
    }

    /// A superuser to create when [`start`](Self::start) builds (or, while
    /// no active superuser exists, to promote, if the password is the
    /// account's own). `build` refuses it, since it
    /// cannot wait for the store.
    pub fn with_superuser(mut self, email: impl Into<String>, password: impl Into<String>) -> Self {
        self.superuser = Some((email.into(), password.into()));
        self
    }

    /// Builds, then creates the superuser set with
    /// [`with_superuser`](Self::with_superuser), if any, or promotes that
    /// existing account while no active superuser exists (so a demotion
    /// survives restarts). If that account
    /// exists with another password (the superuser changed it, or someone
    /// else registered the address), it is left alone with a logged
    /// warning and the start goes on: a setting gone stale must not keep
    /// the service down, nor hand over someone's account.
    pub async fn start(mut self) -> Result<Users, crate::Error> {
        let superuser = self.superuser.take();
        let users = self.build().map_err(crate::Error::internal)?;
        if let Some((email, password)) = superuser {
            match users.ensure_superuser(&email, &password).await {
                Ok(_) | Err(crate::Error::InvalidCredentials) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(users)
    }

    /// Checks the settings and builds. Computes one argon2 hash (the dummy
    /// used for unknown emails), so call it once at start-up. Inside a tokio
    /// runtime it also starts the outbox worker (otherwise it starts with
    /// the first queued email).
    ///
    /// Every setting is checked here, so a bad one stops the start rather
    /// than a request:
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_users::{ConfigError, RedbStore, Users};
    ///
    /// let missing = Users::builder(RedbStore::in_memory()?).build();
    /// assert!(matches!(missing, Err(ConfigError::MissingSecret)));
    ///
    /// let short = Users::builder(RedbStore::in_memory()?)
    ///     .with_secret("only 19 bytes long!")
    ///     .build();
    /// assert!(matches!(short, Err(ConfigError::SecretTooShort(19))));
    ///
    /// let users = Users::builder(RedbStore::in_memory()?)
    ///     .with_secret("an example secret of at least 32 bytes!!")
    ///     .build()?;
    /// # let _ = users;
    /// # Ok(())
    /// # }
    /// ```
    pub fn build(self) -> Result<Users, ConfigError> {
        if self.superuser.is_some() {
            return Err(ConfigError::Invalid {
                name: "superuser",
                reason: "with_superuser needs `start().await`, which can create it".into(),
            });
        }
        let secret = self.secret.ok_or(ConfigError::MissingSecret)?;
        let tokens = Tokens::new(&secret, &self.audience)?;
        let mut config = self.config;
        config.cookies = CookieState::new(&self.cookies, &secret, &self.public_url)?;
        if config.private_registration && config.usernames == crate::Usernames::Required {
            return Err(ConfigError::Invalid {
                name: "private_registration",
                reason: "a required username cannot be taken at a registration that reveals \
                         nothing (a taken one cannot be hidden); use Usernames::Optional"
                    .into(),
            });
        }
        if config.transports.is_empty() {
            return Err(ConfigError::Invalid {
                name: "transports",
                reason: "at least one transport is needed".into(),
            });
        }
        for (name, ttl) in [
            ("access_ttl", config.access_ttl),
            ("session_ttl", config.session_ttl),
            ("reauthentication_window", config.reauth_window),
            ("email_token_ttl", config.verify_ttl),
        ] {
            // The cap keeps `now + ttl` far inside the representable range.
            if ttl <= time::Duration::ZERO || ttl > time::Duration::days(3650) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "must be positive and at most 10 years".into(),
                });
            }
        }
        if config.policy.min_len == 0 || config.policy.min_len > config.policy.max_len {
            return Err(ConfigError::Invalid {
                name: "password_policy",
                reason: "need 1 <= min_len <= max_len".into(),
            });
        }
        if let Err(reason) = config.lockout.check() {
            return Err(ConfigError::Invalid {
                name: "lockout",
                reason: reason.into(),
            });
        }
        if config.body_limit < 256 {
            return Err(ConfigError::Invalid {
                name: "body_limit",
                reason: "must be at least 256 bytes".into(),
            });
        }
        config.roles = Arc::new(super::roles::RoleMap::new(self.roles).map_err(|reason| {
            ConfigError::Invalid {
                name: "roles",
                reason,
            }
        })?);
        let passwords = Passwords::new(config.password_params, config.hashing, &config.policy)?;
        config.verify_link = self
            .verify_link
            .unwrap_or_else(|| LinkTemplate::default_for(&self.public_url, "verify"));
        config.reset_link = self
            .reset_link
            .unwrap_or_else(|| LinkTemplate::default_for(&self.public_url, "password-reset"));
        self.templates.check()?;
        let mailer = self.mailer.unwrap_or_else(|| {
            // Once per `Users`, here rather than per email: a server that
            // forgot its SMTP setting would otherwise log every verify and
            // reset token, and the warning is what says so at start-up.
            tracing::warn!(
                target: "tower_users::mail",
                "no mailer set: emails, with their links and tokens, are written to the log \
                 (or stderr), not sent; set one with with_mailer(SmtpMailer::from_url(..))"
            );
            Arc::new(LogMailer)
        });
        let outbox = Outbox::new(self.store.clone(), mailer, self.hooks.clone(), self.outbox);
        Ok(Users {
            inner: Arc::new(Inner {
                store: self.store,
                tokens,
                passwords,
                hooks: self.hooks,
                templates: self.templates,
                outbox,
                attempts: Default::default(),
                config,
            }),
        })
    }
}

impl Users {
    /// The cookie transport's names, flags, policy and keys.
    pub(crate) fn cookie_state(&self) -> &CookieState {
        &self.inner.config.cookies
    }

    /// The transports, in the order they are tried.
    pub(crate) fn transports(&self) -> &[Transport] {
        &self.inner.config.transports
    }

    /// How long a session lives, in seconds.
    pub(crate) fn session_ttl_seconds(&self) -> i64 {
        self.inner.config.session_ttl.whole_seconds()
    }
}

/// A lifetime as the token clock counts it; one beyond its range is left
/// for `build` to refuse with the other out-of-range values.
fn ttl_of(ttl: std::time::Duration) -> time::Duration {
    time::Duration::try_from(ttl).unwrap_or(time::Duration::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use crate::{ConfigError, RedbStore, Users};

    fn builder() -> crate::UsersBuilder {
        Users::builder(RedbStore::in_memory().unwrap()).with_secret([3u8; 32])
    }

    /// What `build` logs at WARN and above, as a server's log shows it.
    fn warnings_of_build(builder: crate::UsersBuilder) -> String {
        crate::test_log::logged(tracing::Level::WARN, || builder.build().unwrap()).1
    }

    #[test]
    fn the_default_mailer_is_warned_about_once_at_build() {
        let text = warnings_of_build(builder());
        assert_eq!(text.matches("no mailer set").count(), 1, "{text}");
        assert!(text.contains("WARN"), "{text}");
        assert!(
            text.contains("with_mailer(SmtpMailer::from_url(..))"),
            "{text}"
        );
    }

    #[test]
    fn a_mailer_set_by_the_app_is_not_warned_about() {
        // Even the default type, chosen on purpose, is the app's decision.
        let text = warnings_of_build(builder().with_mailer(crate::mail::LogMailer));
        assert!(!text.contains("no mailer set"), "{text}");
    }

    #[test]
    fn lifetimes_are_std_durations_within_ten_years() {
        let users = builder()
            .with_access_ttl(Duration::from_secs(90))
            .build()
            .unwrap();
        assert_eq!(users.access_ttl(), Duration::from_secs(90));
        for bad in [
            Duration::ZERO,
            Duration::MAX,
            Duration::from_secs(11 * 366 * 86_400),
        ] {
            for builder in [
                builder().with_access_ttl(bad),
                builder().with_session_ttl(bad),
                builder().with_email_token_ttl(bad),
            ] {
                assert!(matches!(builder.build(), Err(ConfigError::Invalid { .. })));
            }
        }
    }

    #[test]
    fn plain_http_cookies_are_refused_off_localhost() {
        use crate::CookieSettings;
        let plain = || CookieSettings::plain_http_localhost();
        for url in [
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://app.localhost",
            "http://[::1]/",
        ] {
            let built = builder().with_public_url(url).with_cookies(plain()).build();
            assert!(built.is_ok(), "{url}");
        }
        for url in [
            "https://example.com",
            "http://localhost.example.com",
            "http://10.0.0.1",
        ] {
            let built = builder().with_public_url(url).with_cookies(plain()).build();
            assert!(
                matches!(
                    built,
                    Err(ConfigError::Invalid {
                        name: "cookies",
                        ..
                    })
                ),
                "{url}"
            );
        }
        // The secure default goes anywhere; a malformed trusted origin does not.
        assert!(
            builder()
                .with_public_url("https://example.com")
                .build()
                .is_ok()
        );
        let odd = CookieSettings::default().with_trusted_origin("not an origin");
        let built = builder().with_cookies(odd).build();
        assert!(matches!(
            built,
            Err(ConfigError::Invalid {
                name: "cookies.trusted_origin",
                ..
            })
        ));
        let none = builder().with_transports([]).build();
        assert!(matches!(
            none,
            Err(ConfigError::Invalid {
                name: "transports",
                ..
            })
        ));
    }
}
