//! Sessions: login, refresh with rotation, logout, and authenticating an
//! access token.

use std::net::IpAddr;

use serde::Serialize;
use time::OffsetDateTime;

use super::Users;
use super::lockout::Origin;
use crate::error::Error;
use crate::password::Verified;
use crate::store::{Rotation, Session, SessionId, StoreError, UserUpdate};
use crate::token::{MAX_TOKEN_LEN, Purpose, digest, new_refresh_token};
use crate::user::{User, UserId, UserRecord};

/// What a login or refresh returns: the token response of the
/// [HTTP contract](crate::http::api).
#[derive(Clone, Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[cfg_attr(test, schema(as = TokenResponse, description = "A new session's tokens."))]
pub struct TokenPair {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `bearer`.
    #[cfg_attr(test, schema(schema_with = crate::http::openapi::bearer))]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The opaque refresh token; spent on use.
    pub refresh_token: String,
    /// The user's public record.
    pub user: UserRecord,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// An access token that checked out: the user, as of this request, and the
/// session the token belongs to.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The user, read from the store on this request.
    pub user: User,
    /// The session the access token names.
    pub session: SessionId,
    /// When the session last proved the password (see
    /// [`Users::is_recent`]).
    pub authenticated_at: OffsetDateTime,
}

impl Users {
    /// Logs in with email (or, with usernames on, username: see
    /// [`UsersBuilder::with_usernames`](crate::UsersBuilder::with_usernames))
    /// and password, starting a new session, as a client
    /// whose address is unknown: all such calls share one lockout count per
    /// account. Servers should call [`login_from`](Self::login_from) with
    /// the client's address instead.
    ///
    /// An unknown email or username and a wrong password all give
    /// [`Error::InvalidCredentials`] after the same argon2 work. A correct
    /// password on a deactivated account gives [`Error::InactiveUser`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tower_users::{Error, RedbStore, Users};
    /// # let users = Users::builder(RedbStore::in_memory()?)
    /// #     .with_secret(b"an example secret of at least 32 bytes!!")
    /// #     .build()?;
    /// users.register("alice@example.com", "correct horse battery").await?;
    /// let tokens = users.login("alice@example.com", "correct horse battery").await?;
    /// assert_eq!(tokens.token_type, "bearer");
    /// assert_eq!(tokens.user.email, "alice@example.com");
    ///
    /// // A wrong password and an unknown email cannot be told apart.
    /// let wrong = users.login("alice@example.com", "not the password").await;
    /// let unknown = users.login("nobody@example.com", "not the password").await;
    /// assert!(matches!(wrong, Err(Error::InvalidCredentials)));
    /// assert!(matches!(unknown, Err(Error::InvalidCredentials)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn login(&self, login: &str, password: &str) -> Result<TokenPair, Error> {
        self.login_from(login, password, None).await
    }

    /// Logs in with email (or username) and password from the client at
    /// `client` (`None` when unknown), starting a new session. With
    /// usernames on, `login` without an `@` is a username, anything else an
    /// email.
    ///
    /// Failed logins lock the pair (account, client) after
    /// [`LockoutPolicy::threshold`](super::LockoutPolicy::threshold)
    /// failures, so guesses from one address do not lock the owner out when
    /// logging in from another; IPv6 clients count by their /64. The account
    /// locks for every client after
    /// [`account_threshold`](super::LockoutPolicy::account_threshold)
    /// failures from all of them, until a password reset, except for
    /// addresses that logged in to it successfully within 30 days. While locked,
    /// even the right password gets [`Error::RateLimited`], before any
    /// hashing. A success clears the pair's count and the account-wide one.
    ///
    /// Concurrent logins of one account wait their turn rather than being
    /// refused, at most as many at once as failures remain before a lock;
    /// a login that gets no turn within
    /// [`max_wait`](super::LockoutPolicy::max_wait) gets
    /// [`Error::Unavailable`]. The HTTP endpoint passes the address that
    /// [`ClientIpLayer`](crate::http::ClientIpLayer) or
    /// [`RateLimitLayer`](crate::http::RateLimitLayer) resolved (through
    /// trusted proxies), or else the connection's peer: a
    /// [`PeerAddr`](crate::http::PeerAddr) from
    /// [`PeerAddrLayer`](crate::http::PeerAddrLayer) on plain hyper, or
    /// axum's `ConnectInfo<SocketAddr>` (serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`).
    ///
    /// Errors as [`login`](Self::login).
    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn login_from(
        &self,
        login: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<TokenPair, Error> {
        self.inner.passwords.would_admit()?; // a full hashing line: refuse before any work
        let origin = client.map_or(Origin::Unknown, Origin::Ip);
        // Refuses while locked, before any hashing; reads the account once
        // this check's turn has come.
        let (attempt, user) = self.begin_attempt(login, origin).await?;
        let hash = user.as_ref().map(|u| u.password_hash.as_str());
        let verified = self.inner.passwords.verify(password, hash).await?;
        let (Verified::Yes { rehash }, Some(mut user)) = (verified, user) else {
            // Unknown emails and usernames are counted too, so lockout
            // reveals nothing.
            attempt.failed().await?;
            return Err(Error::InvalidCredentials);
        };
        // With private registration, a login right after a 202 would tell
        // whether the address was new (a 200) or taken (a 401): an account
        // not yet verified answers, and counts, as a wrong password does.
        if self.inner.config.private_registration && !user.is_verified {
            attempt.failed().await?;
            return Err(Error::InvalidCredentials);
        }
        attempt.succeeded().await?;
        tracing::Span::current().record("user.id", tracing::field::display(user.id));
        if !user.is_active {
            return Err(Error::InactiveUser);
        }
        if let Some(new_hash) = rehash {
            let mut updated = user.clone();
            updated.password_hash = new_hash;
            // A compare-and-swap: any concurrent change wins over the rehash.
            match self
                .store()
                .update_user(UserUpdate::new(&user, updated.clone()))
                .await
            {
                Ok(()) => user = updated,
                Err(err) => tracing::warn!(error = %err, "rehash skipped"),
            }
        }
        let pair = self.start_session(&user).await?;
        tracing::info!("logged in");
        self.inner.hooks.after_login(&user).await;
        Ok(pair)
    }

    async fn start_session(&self, user: &User) -> Result<TokenPair, Error> {
        let now = crate::user::now_seconds();
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            password_version: user.password_version,
            created_at: now,
            expires_at: now + self.inner.config.session_ttl,
            // A login proves the password.
            authenticated_at: now,
        };
        let (refresh_token, refresh_digest) = new_refresh_token();
        match self.store().create_session(&session, refresh_digest).await {
            Ok(()) => {}
            // The password changed (or the account was deactivated) while
            // this login was being checked: the credentials are stale.
            Err(StoreError::Conflict) => return Err(Error::InvalidCredentials),
            Err(err) => return Err(err.into()),
        }
        self.token_pair(user, session.id, refresh_token)
    }

    fn token_pair(
        &self,
        user: &User,
        session: SessionId,
        refresh_token: String,
    ) -> Result<TokenPair, Error> {
        let ttl = self.inner.config.access_ttl;
        let (access_token, _) = self
            .inner
            .tokens
            .issue(Purpose::Access, user, ttl, Some(session))
            .map_err(Error::internal)?;
        Ok(TokenPair {
            access_token,
            token_type: "bearer",
            expires_in: ttl.whole_seconds(),
            refresh_token,
            user: user.record(),
        })
    }

    /// Trades a refresh token for a new access and refresh token. The
    /// presented token is spent; presenting it again revokes the session.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tower_users::{Error, RedbStore, Users};
    /// # let users = Users::builder(RedbStore::in_memory()?)
    /// #     .with_secret(b"an example secret of at least 32 bytes!!")
    /// #     .build()?;
    /// users.register("alice@example.com", "correct horse battery").await?;
    /// let first = users.login("alice@example.com", "correct horse battery").await?;
    /// let second = users.refresh(&first.refresh_token).await?;
    /// users.authenticate(&second.access_token).await?;
    ///
    /// // The spent token again looks like a stolen copy: refused, and the whole
    /// // session is revoked, so the pair it was traded for stops working too.
    /// let replay = users.refresh(&first.refresh_token).await;
    /// assert!(matches!(replay, Err(Error::InvalidToken)));
    /// let after = users.authenticate(&second.access_token).await;
    /// assert!(matches!(after, Err(Error::Unauthorized)));
    /// # Ok(())
    /// # }
    /// ```
    #[tracing::instrument(skip_all, fields(user.id))]
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, Error> {
        if refresh_token.is_empty() || refresh_token.len() > MAX_TOKEN_LEN {
            return Err(Error::InvalidToken);
        }
        let (next_token, next_digest) = new_refresh_token();
        let now = OffsetDateTime::now_utc();
        let session = match self
            .store()
            .rotate_refresh(digest(refresh_token), next_digest, now)
            .await?
        {
            Rotation::Rotated(session) => session,
            Rotation::Reused => {
                tracing::warn!("spent refresh token presented again: session revoked");
                return Err(Error::InvalidToken);
            }
            Rotation::Unknown => return Err(Error::InvalidToken),
        };
        let user = self.store().user(session.user_id).await?;
        let user = match user {
            Some(u) if u.password_version == session.password_version => u,
            _ => {
                self.store().delete_session(session.id).await?;
                return Err(Error::InvalidToken);
            }
        };
        tracing::Span::current().record("user.id", tracing::field::display(user.id));
        if !user.is_active {
            self.store().delete_session(session.id).await?;
            return Err(Error::InactiveUser);
        }
        self.token_pair(&user, session.id, next_token)
    }

    /// Ends one session: its access and refresh tokens stop working at once.
    /// The user's other sessions are untouched.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tower_users::{Error, RedbStore, Users};
    /// # let users = Users::builder(RedbStore::in_memory()?)
    /// #     .with_secret(b"an example secret of at least 32 bytes!!")
    /// #     .build()?;
    /// users.register("alice@example.com", "correct horse battery").await?;
    /// let laptop = users.login("alice@example.com", "correct horse battery").await?;
    /// let phone = users.login("alice@example.com", "correct horse battery").await?;
    ///
    /// let session = users.authenticate(&laptop.access_token).await?.session;
    /// users.logout(session).await?;
    /// assert!(users.authenticate(&laptop.access_token).await.is_err());
    /// assert!(users.refresh(&laptop.refresh_token).await.is_err());
    /// // The phone's session is another one.
    /// users.authenticate(&phone.access_token).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn logout(&self, session: SessionId) -> Result<(), Error> {
        self.store().delete_session(session).await?;
        Ok(())
    }

    /// Ends every session of `user`, the caller's own included: on every
    /// device, access and refresh tokens stop working at once. Sessions
    /// started after this call are not touched. The password and any
    /// outstanding verify or reset link stay valid.
    ///
    /// An unknown user is [`Error::Unauthorized`] (a deleted account has no
    /// sessions left to end).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tower_users::{Error, RedbStore, Users};
    /// # let users = Users::builder(RedbStore::in_memory()?)
    /// #     .with_secret(b"an example secret of at least 32 bytes!!")
    /// #     .build()?;
    /// let alice = users.register("alice@example.com", "correct horse battery").await?;
    /// let laptop = users.login("alice@example.com", "correct horse battery").await?;
    /// let phone = users.login("alice@example.com", "correct horse battery").await?;
    ///
    /// users.logout_everywhere(alice.id).await?;
    /// assert!(users.authenticate(&laptop.access_token).await.is_err());
    /// assert!(users.authenticate(&phone.access_token).await.is_err());
    /// assert!(users.refresh(&phone.refresh_token).await.is_err());
    /// // The password still works: a new login starts a new session.
    /// users.login("alice@example.com", "correct horse battery").await?;
    /// # Ok(())
    /// # }
    /// ```
    #[tracing::instrument(skip_all, fields(user.id = %user))]
    pub async fn logout_everywhere(&self, user: UserId) -> Result<(), Error> {
        // An update that changes nothing but deletes the sessions in its
        // transaction: the one way every store already ends them all at
        // once (a password change or a reset does the same).
        self.change_user(user, Error::Unauthorized, |current| {
            Ok(UserUpdate::new(current, current.clone()).revoking_sessions())
        })
        .await?;
        tracing::info!("logged out everywhere");
        Ok(())
    }

    /// Checks an access token: signature, pinned algorithm, purpose, expiry,
    /// that its session is live, that the user exists and is active, and
    /// that the token's `password_version` is current.
    ///
    /// Fails with [`Error::Unauthorized`], or [`Error::InactiveUser`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tower_users::{Error, RedbStore, Users};
    /// # let users = Users::builder(RedbStore::in_memory()?)
    /// #     .with_secret(b"an example secret of at least 32 bytes!!")
    /// #     .build()?;
    /// users.register("alice@example.com", "correct horse battery").await?;
    /// let tokens = users.login("alice@example.com", "correct horse battery").await?;
    ///
    /// // What a server does with `Authorization: Bearer <token>`.
    /// let header = format!("Bearer {}", tokens.access_token);
    /// let token = header.strip_prefix("Bearer ").unwrap();
    /// let me = users.authenticate(token).await?;
    /// assert_eq!(me.user.email.as_str(), "alice@example.com");
    ///
    /// let forged = users.authenticate("eyJhbGciOiJub25lIn0.e30.").await;
    /// assert!(matches!(forged, Err(Error::Unauthorized)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn authenticate(&self, access_token: &str) -> Result<Authenticated, Error> {
        let claims = self
            .inner
            .tokens
            .decode(access_token, Purpose::Access)
            .map_err(|err| {
                tracing::debug!(target: "tower_users::rejection", error = %err, "access token refused");
                Error::Unauthorized
            })?;
        let session = SessionId(claims.sid.ok_or(Error::Unauthorized)?);
        self.authenticate_session(session, claims.user_id()).await
    }

    /// The checks of [`authenticate`](Self::authenticate) after the token's
    /// own: session `session` is live and `user`'s, begun under the current
    /// password, and the user active. The session cookie ends here too.
    pub(crate) async fn authenticate_session(
        &self,
        session: SessionId,
        user_id: crate::user::UserId,
    ) -> Result<Authenticated, Error> {
        let now = OffsetDateTime::now_utc();
        let (session, user) = self
            .store()
            .session_with_user(session, now)
            .await?
            .ok_or(Error::Unauthorized)?;
        // The session records the password_version it began under: a
        // password change since then ends it, even before it is deleted.
        if session.user_id != user_id || session.password_version != user.password_version {
            return Err(Error::Unauthorized);
        }
        if !user.is_active {
            return Err(Error::InactiveUser);
        }
        Ok(Authenticated {
            user,
            session: session.id,
            authenticated_at: session.authenticated_at,
        })
    }
}

impl Users {
    /// The session, user and issue time (unix seconds) named by an access
    /// token this instance issued: what the session cookie is made from.
    pub(crate) fn session_of(
        &self,
        access_token: &str,
    ) -> Result<(SessionId, crate::user::UserId, i64), Error> {
        let claims = self
            .inner
            .tokens
            .decode(access_token, Purpose::Access)
            .map_err(Error::internal)?;
        let session = claims
            .sid
            .ok_or_else(|| Error::internal("access token without a session"))?;
        Ok((SessionId(session), claims.user_id(), claims.iat))
    }
}
