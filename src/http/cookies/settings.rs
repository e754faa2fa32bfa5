//! The cookie transport's settings, given to
//! [`UsersBuilder::with_cookies`](crate::UsersBuilder::with_cookies), and
//! the keys and policy `build` derives from them.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tower_http::csrf::CsrfLayer;

use crate::error::ConfigError;

/// A way a request can carry its credentials. [`CurrentUser`](crate::CurrentUser),
/// the guard layers and every endpoint try the transports in the order
/// [`UsersBuilder::with_transports`](crate::UsersBuilder::with_transports)
/// gives (by default bearer, then cookie); the first that yields a user wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// `Authorization: Bearer <access token>`. Never subject to CSRF checks:
    /// a browser does not attach it to a forged request.
    Bearer,
    /// The session cookie set by a login that asked for it. Every
    /// state-changing request it authenticates must pass the CSRF checks.
    Cookie,
}

/// How the session cookie is set: see the [cookie transport](crate::http::cookies).
///
/// The default is for production: cookies are `Secure` and named with the
/// `__Host-` prefix (so no subdomain and no plain-HTTP page can plant or
/// overwrite them). Chromium and Firefox accept `Secure` cookies from
/// `http://localhost` and `http://127.0.0.1`, so the default works in local
/// development too; [`plain_http_localhost`](Self::plain_http_localhost) is
/// for other browsers and plain-HTTP test clients.
///
/// ```
/// use tower_users::{CookieSettings, RedbStore, Users};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let users = Users::builder(RedbStore::in_memory()?)
///     .with_secret(b"an example secret of at least 32 bytes!!")
///     // The single-page app on another origin of the same site, which the
///     // CORS allow-list names too.
///     .with_cookies(CookieSettings::default().with_trusted_origin("https://app.example.com"))
///     .build()?;
/// # let _ = users;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CookieSettings {
    secure: bool,
    trusted_origins: Vec<String>,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            secure: true,
            trusted_origins: Vec::new(),
        }
    }
}

impl CookieSettings {
    /// Plain-HTTP development on localhost only: the cookies lose `Secure`
    /// and the `__Host-` prefix (browsers refuse a `__Host-` cookie without
    /// `Secure`), and are named `tu-session` and `tu-csrf`. Never use it on
    /// a server reachable by others: anyone on the path reads the cookie.
    /// [`build`](crate::UsersBuilder::build) refuses it unless the public
    /// URL ([`with_public_url`](crate::UsersBuilder::with_public_url)) is on
    /// `localhost`, a `*.localhost` name or a loopback address.
    pub fn plain_http_localhost() -> Self {
        CookieSettings {
            secure: false,
            trusted_origins: Vec::new(),
        }
    }

    /// Trusts cookie-authenticated state-changing requests from `origin`
    /// (`scheme://host[:port]`, as browsers send it in `Origin`), besides
    /// same-origin ones: the single-page app that the CORS allow-list names.
    /// The CSRF token is still required. [`build`](crate::UsersBuilder::build)
    /// refuses a malformed origin.
    pub fn with_trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.trusted_origins.push(origin.into());
        self
    }
}

/// What the cookie transport needs at request time: names, flags, the
/// cross-origin policy and the keys derived from the signing secret.
#[derive(Clone)]
pub(crate) struct CookieState {
    pub(crate) secure: bool,
    pub(crate) origin_policy: CsrfLayer,
    pub(crate) session_key: [u8; 32],
    pub(crate) csrf_key: [u8; 32],
}

impl CookieState {
    /// Checks `settings` and derives the keys from `secret`, one per
    /// purpose, so a value made for one use is worthless in another.
    pub(crate) fn new(
        settings: &CookieSettings,
        secret: &[u8],
        public_url: &str,
    ) -> Result<Self, ConfigError> {
        if !settings.secure && !is_local(public_url) {
            return Err(ConfigError::Invalid {
                name: "cookies",
                reason: format!(
                    "plain-HTTP cookies are for localhost only, but the public URL is {public_url}"
                ),
            });
        }
        let mut origin_policy = CsrfLayer::new();
        for origin in &settings.trusted_origins {
            origin_policy =
                origin_policy
                    .add_trusted_origin(origin)
                    .map_err(|err| ConfigError::Invalid {
                        name: "cookies.trusted_origin",
                        reason: err.to_string(),
                    })?;
        }
        Ok(CookieState {
            secure: settings.secure,
            origin_policy,
            session_key: derive(secret, b"tower-users/session-cookie/v1"),
            csrf_key: derive(secret, b"tower-users/csrf-token/v1"),
        })
    }

    /// A stand-in until [`build`](crate::UsersBuilder::build) derives the
    /// real keys (it always does, before any `Users` exists).
    pub(crate) fn unkeyed() -> Self {
        CookieState {
            secure: true,
            origin_policy: CsrfLayer::new(),
            session_key: [0; 32],
            csrf_key: [0; 32],
        }
    }

    /// The session cookie's name.
    pub(crate) fn session_name(&self) -> &'static str {
        if self.secure {
            "__Host-tu-session"
        } else {
            "tu-session"
        }
    }

    /// The CSRF cookie's name.
    pub(crate) fn csrf_name(&self) -> &'static str {
        if self.secure {
            "__Host-tu-csrf"
        } else {
            "tu-csrf"
        }
    }
}

/// Whether `public_url` names this machine: `localhost`, a `*.localhost`
/// name (RFC 6761 keeps them on the loopback) or a loopback address.
fn is_local(public_url: &str) -> bool {
    match url::Url::parse(public_url)
        .ok()
        .as_ref()
        .and_then(url::Url::host)
    {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// HMAC-SHA256 of `label` under `secret`: a key for one purpose.
fn derive(secret: &[u8], label: &[u8]) -> [u8; 32] {
    mac(secret, &[label])
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub(crate) fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl std::fmt::Debug for CookieState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieState")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}
