//! The cookie transport: a browser's session in an `HttpOnly` cookie,
//! beside the bearer token.
//!
//! # Design: one signed session cookie, checked against the store
//!
//! A login that asks for cookies (`"cookie": true`, see the
//! [HTTP contract](crate::http::api)) sets two cookies:
//!
//! - `__Host-tu-session`: `HttpOnly; Secure; SameSite=Lax; Path=/`. Its
//!   value names the session and its user, with an expiry and an
//!   HMAC-SHA256 under a key derived from the signing secret for this one
//!   purpose (no access, verify or reset token and no CSRF token can pass
//!   for it, nor it for them). On every request the session is read from
//!   the store exactly as an access token's is: it must be live, of that
//!   user, begun under the current password, and the user active. Logout,
//!   a deactivation, or a password change or reset in another session
//!   therefore end it at once (the session that changes the password
//!   stays signed in). A cookie that no longer checks out counts as no
//!   credentials where a user is optional, and a 401 it causes clears it;
//!   signing in over a session ends it.
//! - `__Host-tu-csrf`: the session's CSRF token (see [`csrf`](super::csrf)),
//!   readable by the page's own JavaScript (not `HttpOnly`) for the
//!   double-submit; the login's answer carries it too.
//!
//! Why not the access and refresh tokens in two cookies: the short access
//! lifetime exists because a JWT is checked without the store, so a stolen
//! one works until it expires. The session cookie is checked against the
//! store on every request, so revocation is immediate and a short lifetime
//! buys nothing, while a refresh dance would have every server-rendered
//! page (and the pages after the email links) juggle two cookies and answer
//! with a redirect whenever the short one lapsed. The refresh token's other
//! use, detecting a stolen copy by its reuse, does not apply to a secret
//! the page's JavaScript cannot read. So the cookie lives as long as the
//! session (`UsersBuilder::with_session_ttl`, 30 days by default) and
//! `/users/refresh` stays a bearer-client endpoint.
//!
//! `Secure` and the `__Host-` prefix are dropped only in the explicitly
//! chosen [`CookieSettings::plain_http_localhost`](crate::CookieSettings::plain_http_localhost)
//! mode; cookies with the other names are ignored, so a cookie without the
//! prefix (planted by a sibling subdomain, say) authenticates nothing.

mod settings;

pub use settings::{CookieSettings, Transport};
pub(crate) use settings::{CookieState, mac};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use http::header::COOKIE;
use http::request::Parts;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::Users;
use crate::error::Error;
use crate::store::SessionId;
use crate::user::UserId;
use crate::users::TokenPair;

/// Labels the MAC input, so the session key signs nothing else by mistake.
const LABEL: &[u8] = b"tower-users session cookie v1|";

/// The longest session cookie value accepted: two simple UUIDs, an expiry
/// and a MAC are about 130 bytes.
const MAX_VALUE_LEN: usize = 256;

/// Set-Cookie header values that sign a browser in with the session just made
/// by `Users::login_from` (or registration + login).
pub(crate) fn sign_in_cookies(users: &Users, pair: &TokenPair) -> Result<Vec<HeaderValue>, Error> {
    if !users.transports().contains(&Transport::Cookie) {
        return Err(Error::internal(
            "cookie sign-in asked for, but the cookie transport is not among the configured transports",
        ));
    }
    let state = users.cookie_state();
    let (session, user, issued_at) = users.session_of(&pair.access_token)?;
    let max_age = users.session_ttl_seconds();
    let expires = issued_at.saturating_add(max_age);
    let value = session_value(state, session, user, expires);
    let csrf = super::csrf::token_for(users, session);
    Ok(vec![
        set_cookie(state, state.session_name(), &value, max_age, true)?,
        set_cookie(state, state.csrf_name(), &csrf, max_age, false)?,
    ])
}

/// Set-Cookie header values that remove the session cookies.
pub(crate) fn sign_out_cookies(users: &Users) -> Vec<HeaderValue> {
    let state = users.cookie_state();
    [(state.session_name(), true), (state.csrf_name(), false)]
        .into_iter()
        .filter_map(|(name, http_only)| set_cookie(state, name, "", 0, http_only).ok())
        .collect()
}

/// The session and user named by the request's session cookie: `Ok(None)`
/// when there is none, an error when there is one but none checks out
/// (forged, truncated, expired).
pub(crate) fn session_cookie(
    users: &Users,
    parts: &Parts,
) -> Result<Option<(SessionId, UserId)>, Error> {
    let state = users.cookie_state();
    let mut found = false;
    for value in cookie_values(parts, state.session_name()) {
        found = true;
        if let Some(ids) = open(state, value) {
            return Ok(Some(ids));
        }
    }
    if found {
        tracing::debug!(target: "tower_users::rejection", "session cookie refused");
        Err(Error::Unauthorized)
    } else {
        Ok(None)
    }
}

/// The request's `Cookie` headers alone, for [`clear_if_dead`] once the
/// request itself has been handed on.
pub(crate) fn cookie_head(parts: &Parts) -> Parts {
    let mut cookies = http::Request::new(()).into_parts().0;
    for value in parts.headers.get_all(COOKIE) {
        cookies.headers.append(COOKIE, value.clone());
    }
    cookies
}

/// Clears the session cookies in `res` if it is a 401 to a request (its
/// head `parts`) whose session cookie is dead: or the browser would send
/// it until it expires. One store read, only on that path.
pub(crate) async fn clear_if_dead<B>(users: &Users, parts: &Parts, res: &mut http::Response<B>) {
    if res.status() == http::StatusCode::UNAUTHORIZED && dead_session_cookie(users, parts).await {
        clear_cookies(users, res.headers_mut());
    }
}

/// Whether the request carries a session cookie of this server that no
/// longer names a live session (forged, expired, its session ended by a
/// logout, a password change or reset, a deactivation): such a cookie
/// counts as no credentials in the optional paths, and a 401 it caused
/// clears it.
async fn dead_session_cookie(users: &Users, parts: &Parts) -> bool {
    if !users.transports().contains(&Transport::Cookie) {
        return false;
    }
    match session_cookie(users, parts) {
        Ok(None) => false,
        Ok(Some((session, user))) => matches!(
            users.authenticate_session(session, user).await,
            Err(Error::Unauthorized)
        ),
        Err(_) => true,
    }
}

/// Ends the session the request's session cookie names, if it is one of
/// this server's: signing in over it (another account, or the same one
/// again) must not leave the old session alive for its whole lifetime
/// with nothing in the browser that names it any more.
pub(crate) async fn end_cookie_session(users: &Users, parts: &Parts) -> Result<(), Error> {
    if !users.transports().contains(&Transport::Cookie) {
        return Ok(());
    }
    // Only a cookie whose MAC checks out names a session: a forged one
    // cannot end somebody else's.
    if let Ok(Some((session, _))) = session_cookie(users, parts) {
        users.logout(session).await?;
    }
    Ok(())
}

/// Appends the Set-Cookie values that clear the session cookies to `headers`.
pub(crate) fn clear_cookies(users: &Users, headers: &mut http::HeaderMap) {
    for cookie in sign_out_cookies(users) {
        headers.append(http::header::SET_COOKIE, cookie);
    }
}

/// Every value of the cookie `name` in the request's `Cookie` headers.
fn cookie_values<'a>(parts: &'a Parts, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(move |pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value.trim())
        })
}

fn session_value(state: &CookieState, session: SessionId, user: UserId, expires: i64) -> String {
    let body = format!("{}.{}.{}", session.0.simple(), user.0.simple(), expires);
    let tag = mac(&state.session_key, &[LABEL, body.as_bytes()]);
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// The ids in `value` if its MAC is right and it has not expired.
fn open(state: &CookieState, value: &str) -> Option<(SessionId, UserId)> {
    if value.len() > MAX_VALUE_LEN {
        return None;
    }
    let (body, tag) = value.rsplit_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let expected = mac(&state.session_key, &[LABEL, body.as_bytes()]);
    if !bool::from(expected.as_slice().ct_eq(&tag)) {
        return None;
    }
    let mut fields = body.split('.');
    let session = Uuid::try_parse(fields.next()?).ok()?;
    let user = Uuid::try_parse(fields.next()?).ok()?;
    let expires: i64 = fields.next()?.parse().ok()?;
    if fields.next().is_some() || time::OffsetDateTime::now_utc().unix_timestamp() >= expires {
        return None;
    }
    Some((SessionId(session), UserId(user)))
}

/// One `Set-Cookie` value with the transport's attributes.
fn set_cookie(
    state: &CookieState,
    name: &str,
    value: &str,
    max_age: i64,
    http_only: bool,
) -> Result<HeaderValue, Error> {
    let mut cookie = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    if state.secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::try_from(cookie).map_err(Error::internal)
}
