//! CSRF protection for cookie-authenticated requests.
//!
//! A browser attaches the session cookie to any request to this site,
//! including one a page of another site makes it send. Two checks stand in
//! the way of such a forged state-changing request (any method but `GET`,
//! `HEAD` and `OPTIONS`), and both must pass:
//!
//! 1. Cross-origin protection (tower-http's `CsrfLayer` policy, the one Go
//!    1.25 ships): `Sec-Fetch-Site` must say `same-origin` or `none`, or,
//!    from browsers that do not send it, `Origin` must match the `Host`;
//!    origins trusted with
//!    [`CookieSettings::with_trusted_origin`](crate::CookieSettings::with_trusted_origin)
//!    pass too. A request with neither header (not a browser, or a very old
//!    one) passes this check: the token is what stops it.
//! 2. The session's CSRF token, sent back as the `X-CSRF-Token` header (or
//!    the `csrf_token` field of an HTML form the pages post): an
//!    HMAC-SHA256 of the session id under a key derived from the signing
//!    secret for this purpose. Another page cannot read it (it is in the
//!    login's answer, the `__Host-tu-csrf` cookie readable only by this
//!    origin's scripts, and the `X-CSRF-Token` header of `GET /users/me`),
//!    and it is worthless for any other session. It is stateless: nothing
//!    is stored, and it dies with the session.
//!
//! Behind a reverse proxy, pass the browser's `Host` on (or trust the
//! public origin): a browser without `Sec-Fetch-Site` is checked by its
//! `Origin` against the `Host` the server sees.
//!
//! A refusal is 403 problem+json with the code `CSRF_FAILED`. Requests
//! authenticated by a bearer token are not subject to either check: a
//! browser never attaches one on its own.

use std::task::{Context, Poll, Waker};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use http::{Method, Request, Response};
use subtle::ConstantTimeEq;
use tower::Layer;
use tower_http::csrf::ProtectionError;
use tower_service::Service;

use super::CurrentUser;
use super::cookies::{Transport, mac};
use crate::Users;
use crate::error::Error;
use crate::store::SessionId;

/// The header a script sends the token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The longest token looked at: a real one is 43 characters.
const MAX_TOKEN_LEN: usize = 128;

/// The CSRF token for this user's session (HMAC of the session id under a key
/// derived from the signing secret): put it in forms as field `csrf_token`.
pub(crate) fn csrf_token(users: &Users, user: &CurrentUser) -> String {
    token_for(users, user.session())
}

/// The CSRF token of `session`.
pub(crate) fn token_for(users: &Users, session: SessionId) -> String {
    let key = &users.cookie_state().csrf_key;
    URL_SAFE_NO_PAD.encode(mac(key, &[b"csrf|", session.0.as_bytes()]))
}

/// Ok when a cookie-authenticated state-changing request may proceed: the
/// Sec-Fetch-Site / Origin check passes AND `submitted` (form field
/// `csrf_token`, or header `X-CSRF-Token`) is this session's token.
/// Err is a 403 problem+json with a stable code (e.g. `CSRF_FAILED`).
///
/// Safe methods and bearer-authenticated requests always pass. Without
/// `submitted`, the `X-CSRF-Token` header is read.
pub(crate) fn check_csrf(
    users: &Users,
    parts: &Parts,
    user: &CurrentUser,
    submitted: Option<&str>,
) -> Result<(), Error> {
    if is_safe(&parts.method) || user.transport() != Transport::Cookie {
        return Ok(());
    }
    check_origin(users, parts)?;
    let submitted =
        submitted.or_else(|| parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()));
    let Some(submitted) = submitted
        .map(str::trim)
        .filter(|t| t.len() <= MAX_TOKEN_LEN)
    else {
        return Err(refused("no CSRF token"));
    };
    let expected = token_for(users, user.session());
    if bool::from(expected.as_bytes().ct_eq(submitted.as_bytes())) {
        Ok(())
    } else {
        Err(refused("wrong CSRF token"))
    }
}

/// The cross-origin half alone: for a request that will set cookies (a
/// login asking for them) and so has no session token to show yet; it
/// stops a page of another site from signing the browser into the
/// attacker's account.
pub(crate) fn check_origin(users: &Users, parts: &Parts) -> Result<(), Error> {
    if is_safe(&parts.method) {
        return Ok(());
    }
    // tower-http's policy is only reachable as a service: run it on a copy
    // of the request head in front of a service that answers at once, so
    // the future is ready on its first poll.
    let mut probe = Request::new(());
    *probe.method_mut() = parts.method.clone();
    *probe.uri_mut() = parts.uri.clone();
    *probe.headers_mut() = parts.headers.clone();
    let mut policy =
        users
            .cookie_state()
            .origin_policy
            .layer(tower::service_fn(|_: Request<()>| {
                std::future::ready(Ok::<_, std::convert::Infallible>(Response::new(())))
            }));
    let mut future = std::pin::pin!(policy.call(probe));
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(res)) => match res.extensions().get::<ProtectionError>() {
            None => Ok(()),
            Some(err) => Err(refused(&err.to_string())),
        },
        // Neither can happen with a service that answers at once; refuse
        // rather than let a request through unchecked.
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => Err(refused("cross-origin check did not finish")),
    }
}

fn is_safe(method: &Method) -> bool {
    // The set tower-http's policy exempts: `Method::is_safe` adds TRACE.
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn refused(reason: &str) -> Error {
    tracing::debug!(target: "tower_users::rejection", reason, "CSRF check refused a request");
    Error::CsrfFailed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use http::Request;

    use super::*;
    use crate::RedbStore;
    use crate::http::cookies::{sign_in_cookies, sign_out_cookies};

    /// A signed-in browser's `Cookie` header, and its user as the pages see it.
    async fn signed_in(users: &Users) -> (String, CurrentUser) {
        users
            .register("alice@example.com", "correct horse battery")
            .await
            .unwrap();
        let pair = users
            .login("alice@example.com", "correct horse battery")
            .await
            .unwrap();
        let cookie = sign_in_cookies(users, &pair)
            .unwrap()
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        let (parts, ()) = Request::get("/account")
            .header("cookie", &cookie)
            .body(())
            .unwrap()
            .into_parts();
        let user = CurrentUser::from_parts(&parts, users).await.unwrap();
        (cookie, user)
    }

    fn post(cookie: &str, site: &str) -> Parts {
        Request::post("/account")
            .header("cookie", cookie)
            .header("sec-fetch-site", site)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[tokio::test]
    async fn the_form_field_token_of_this_session_from_this_origin_passes() {
        let users = Users::builder(RedbStore::in_memory().unwrap())
            .with_secret([5u8; 32])
            .with_verify_on_register(false)
            .build()
            .unwrap();
        let (cookie, user) = signed_in(&users).await;
        assert_eq!(user.transport(), Transport::Cookie);
        let token = csrf_token(&users, &user);
        let same = post(&cookie, "same-origin");
        assert!(check_csrf(&users, &same, &user, Some(&token)).is_ok());
        for (parts, submitted) in [
            (post(&cookie, "same-origin"), None),
            (post(&cookie, "same-origin"), Some("wrong")),
            (post(&cookie, "cross-site"), Some(token.as_str())),
            (post(&cookie, "same-site"), Some(token.as_str())),
        ] {
            let refused = check_csrf(&users, &parts, &user, submitted);
            assert!(matches!(refused, Err(Error::CsrfFailed)), "{submitted:?}");
        }
        // A safe method needs nothing.
        let (get, ()) = Request::get("/account").body(()).unwrap().into_parts();
        assert!(check_csrf(&users, &get, &user, None).is_ok());
        // The clearing cookies name both cookies, expired.
        let cleared = sign_out_cookies(&users);
        assert_eq!(cleared.len(), 2);
        assert!(
            cleared
                .iter()
                .all(|c| c.to_str().unwrap().contains("Max-Age=0"))
        );
    }
}
