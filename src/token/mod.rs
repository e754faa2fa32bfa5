//! Tokens: signed JWTs for access, verify and reset; opaque refresh tokens.
//!
//! Every JWT names its purpose in `typ` and is refused for any other. The
//! algorithm is pinned (HS256): a token whose header names another algorithm,
//! or `none`, fails before its claims are looked at. Verify and reset tokens
//! carry the user's `password_version`, so a password change kills them.
//! Refresh tokens are 256 random bits; only their SHA-256 digest is stored.
//!
//! [`Users`](crate::Users) uses these internally; [`Tokens`] is public so a
//! service that shares the secret can check tokens without the store (it
//! then cannot see revocation), and for benchmarks and fuzzing.
//!
//! ```
//! use tower_users::token::{Purpose, Tokens};
//! use tower_users::{Email, User};
//!
//! let tokens = Tokens::new(&[7u8; 32], "tower-users").unwrap();
//! let user = User::new(Email::parse("a@example.com").unwrap(), String::new());
//! let (jwt, _) = tokens
//!     .issue(Purpose::Access, &user, time::Duration::minutes(15), None)
//!     .unwrap();
//! assert_eq!(tokens.decode(&jwt, Purpose::Access).unwrap().user_id(), user.id);
//! assert!(tokens.decode(&jwt, Purpose::Reset).is_err());
//! ```

mod cache;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ConfigError;
use crate::store::{SessionId, TokenDigest};
use crate::user::{User, UserId};

/// The shortest accepted signing secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a JWT may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Authenticates requests (`Authorization: Bearer`).
    Access,
    /// Confirms an email address.
    Verify,
    /// Sets a new password.
    Reset,
    /// Confirms a new address for an existing account.
    EmailChange,
}

impl Purpose {
    const NAMES: &[&str] = &["access", "verify", "reset", "email_change"];
}

impl<'de> Deserialize<'de> for Purpose {
    /// Only the string form. serde's derived enum impl also reads
    /// `{"access": null}`, a spelling never issued here: a differential
    /// fuzz against an independent verifier found it accepted.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(match name.as_str() {
            "access" => Purpose::Access,
            "verify" => Purpose::Verify,
            "reset" => Purpose::Reset,
            "email_change" => Purpose::EmailChange,
            other => return Err(serde::de::Error::unknown_variant(other, Self::NAMES)),
        })
    }
}

/// The claims of every JWT tower-users issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// What the token is for.
    pub typ: Purpose,
    /// The audience: the app the token was made for.
    pub aud: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expires at (unix seconds).
    pub exp: i64,
    /// Unique id: spent-token records key on it.
    pub jti: Uuid,
    /// Verify and reset tokens: the user's password_version at issue time.
    /// Access tokens leave it out (their session carries it), so the
    /// readable payload a client holds says as little as possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pv: Option<u64>,
    /// Access tokens: the session they belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// Verify, reset and email-change tokens: the address the token was
    /// sent to (for email changes, the address being confirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Why a token was refused. Deliberately coarse: callers map every variant
/// to one public error, so the reason only reaches logs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_LEN`]: refused before any decoding.
    #[error("token too long")]
    TooLong,
    /// Malformed, forged (bad signature or algorithm), expired, not yet
    /// valid, or for another audience.
    #[error("token malformed, forged or expired")]
    Invalid,
    /// A genuine token of another purpose.
    #[error("token of another purpose")]
    WrongPurpose,
    /// The header names a key id, key URL, certificate or critical
    /// extension: never issued here.
    #[error("token header carries a forbidden field")]
    ForbiddenHeader,
}

/// Signs and checks tokens with one secret (HS256, pinned).
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    audience: String,
    verified: Arc<cache::VerifiedCache>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("audience", &self.audience)
            .field("keys", &"REDACTED")
            .finish()
    }
}

impl Tokens {
    /// Signs with `secret` (at least [`MIN_SECRET_LEN`] bytes) for `audience`.
    pub fn new(secret: &[u8], audience: &str) -> Result<Self, ConfigError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::SecretTooShort(secret.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.validate_nbf = true;
        // Expiry is a hard edge: a token issued for 15 minutes lasts 15.
        validation.leeway = 0;
        Ok(Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            audience: audience.to_owned(),
            verified: Arc::new(cache::VerifiedCache::new()),
        })
    }

    /// Issues a token of `purpose` for `user`, valid for `ttl`; access
    /// tokens name their `session`.
    pub fn issue(
        &self,
        purpose: Purpose,
        user: &User,
        ttl: time::Duration,
        session: Option<SessionId>,
    ) -> Result<(String, Claims), jsonwebtoken::errors::Error> {
        // Verify and reset tokens name the address they were sent to: an
        // email change voids them.
        let email = matches!(purpose, Purpose::Verify | Purpose::Reset)
            .then(|| user.email.as_str().to_owned());
        self.issue_with(purpose, user, ttl, session, email)
    }

    /// Issues an email-change token that confirms `new_email` for `user`.
    pub(crate) fn issue_email_change(
        &self,
        user: &User,
        new_email: &str,
        ttl: time::Duration,
    ) -> Result<(String, Claims), jsonwebtoken::errors::Error> {
        self.issue_with(
            Purpose::EmailChange,
            user,
            ttl,
            None,
            Some(new_email.to_owned()),
        )
    }

    fn issue_with(
        &self,
        purpose: Purpose,
        user: &User,
        ttl: time::Duration,
        session: Option<SessionId>,
        email: Option<String>,
    ) -> Result<(String, Claims), jsonwebtoken::errors::Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: user.id.0,
            typ: purpose,
            aud: self.audience.clone(),
            iat: now,
            exp: now + ttl.whole_seconds(),
            jti: Uuid::now_v7(),
            pv: (purpose != Purpose::Access).then_some(user.password_version),
            sid: session.map(|s| s.0),
            email,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Checks length, signature, algorithm, header, audience, expiry and
    /// purpose, and returns the claims.
    pub fn decode(&self, token: &str, purpose: Purpose) -> Result<Claims, TokenError> {
        self.decode_any(token, &[purpose])
    }

    /// Like [`decode`](Self::decode), for an endpoint that takes tokens of
    /// any of `purposes`. Public only so the fuzz crate can check the
    /// verify and reset endpoints' decoding against an independent verifier.
    #[doc(hidden)]
    pub fn decode_any(&self, token: &str, purposes: &[Purpose]) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong);
        }
        let slot = self.verified.index(token);
        let claims = match self.verified.get(slot, token) {
            Some(claims) => claims,
            None => {
                let claims = self.verify(token)?;
                if claims.typ == Purpose::Access {
                    self.verified.put(slot, token, &claims);
                }
                claims
            }
        };
        // Checked on every use, cached or not: time moves on.
        if claims.exp <= OffsetDateTime::now_utc().unix_timestamp() {
            return Err(TokenError::Invalid);
        }
        if !purposes.contains(&claims.typ) {
            return Err(TokenError::WrongPurpose);
        }
        Ok(claims)
    }

    /// The full check of signature, algorithm, header, audience and times.
    fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let h = &data.header;
        // We never issue these; a token that carries them was not made here
        // and may expect a verifier to fetch keys or honour extensions.
        if h.kid.is_some()
            || h.jku.is_some()
            || h.x5u.is_some()
            || h.crit.is_some()
            || h.jwk.is_some()
            || h.x5c.is_some()
        {
            return Err(TokenError::ForbiddenHeader);
        }
        Ok(data.claims)
    }
}

impl Claims {
    /// The user the token is about.
    pub fn user_id(&self) -> UserId {
        UserId(self.sub)
    }

    /// When the token expires.
    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// A new opaque refresh token (256 random bits, base64url) and its digest.
pub(crate) fn new_refresh_token() -> (String, TokenDigest) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let digest = digest(&token);
    (token, digest)
}

/// The digest under which an opaque token is stored. A fast hash is right
/// here: the input has 256 bits of entropy, nothing to brute-force.
pub(crate) fn digest(token: &str) -> TokenDigest {
    TokenDigest(Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Email;

    fn tokens() -> Tokens {
        Tokens::new(&[7u8; 32], "tower-users").unwrap()
    }

    fn user() -> User {
        User::new(Email::parse("a@example.com").unwrap(), String::new())
    }

    #[test]
    fn short_secrets_are_refused_at_build_time() {
        assert!(matches!(
            Tokens::new(&[0u8; 31], "aud"),
            Err(ConfigError::SecretTooShort(31))
        ));
    }

    #[test]
    fn a_token_is_accepted_for_its_own_purpose_only() {
        let t = tokens();
        let (token, _) = t
            .issue(Purpose::Verify, &user(), time::Duration::hours(1), None)
            .unwrap();
        assert!(t.decode(&token, Purpose::Verify).is_ok());
        assert_eq!(
            t.decode(&token, Purpose::Reset).unwrap_err(),
            TokenError::WrongPurpose
        );
        assert_eq!(
            t.decode(&token, Purpose::Access).unwrap_err(),
            TokenError::WrongPurpose
        );
    }

    #[test]
    fn a_cached_token_is_still_checked_for_purpose_and_expiry() {
        let t = tokens();
        let (token, _) = t
            .issue(Purpose::Access, &user(), time::Duration::seconds(1), None)
            .unwrap();
        assert!(t.decode(&token, Purpose::Access).is_ok());
        assert!(t.decode(&token, Purpose::Access).is_ok());
        assert_eq!(
            t.decode(&token, Purpose::Verify).unwrap_err(),
            TokenError::WrongPurpose
        );
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_eq!(
            t.decode(&token, Purpose::Access).unwrap_err(),
            TokenError::Invalid
        );
        // A one-byte change never hits the cache.
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(t.decode(&forged, Purpose::Access).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let t = tokens();
        let (token, _) = t
            .issue(Purpose::Access, &user(), time::Duration::seconds(-5), None)
            .unwrap();
        assert_eq!(
            t.decode(&token, Purpose::Access).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn another_secret_or_audience_is_refused() {
        let (token, _) = tokens()
            .issue(Purpose::Access, &user(), time::Duration::hours(1), None)
            .unwrap();
        let other = Tokens::new(&[8u8; 32], "tower-users").unwrap();
        assert!(other.decode(&token, Purpose::Access).is_err());
        let other_aud = Tokens::new(&[7u8; 32], "another-app").unwrap();
        assert!(other_aud.decode(&token, Purpose::Access).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let t = tokens();
        let (token, _) = t
            .issue(Purpose::Access, &user(), time::Duration::hours(1), None)
            .unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            t.decode(&format!("{header}.{payload}."), Purpose::Access)
                .is_err()
        );
    }

    #[test]
    fn the_purpose_is_read_only_as_a_string() {
        let t = tokens();
        let (token, _) = t
            .issue(Purpose::Access, &user(), time::Duration::hours(1), None)
            .unwrap();
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        let mut claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        claims["typ"] = serde_json::json!({"access": null});
        let key = EncodingKey::from_secret(&[7u8; 32]);
        let map_form = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert_eq!(
            t.decode(&map_form, Purpose::Access).unwrap_err(),
            TokenError::Invalid
        );
        claims["typ"] = serde_json::json!("access");
        let string_form =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert!(t.decode(&string_form, Purpose::Access).is_ok());
    }

    #[test]
    fn oversized_tokens_are_refused_before_decoding() {
        let t = tokens();
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            t.decode(&huge, Purpose::Access).unwrap_err(),
            TokenError::TooLong
        );
    }

    #[test]
    fn refresh_tokens_have_256_bits_and_are_stored_as_digests() {
        let (token, d) = new_refresh_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        assert_eq!(digest(&token), d);
        assert_ne!(new_refresh_token().0, token);
    }
}
