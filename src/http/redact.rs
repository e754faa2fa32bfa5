//! [`redacted_path`]: request paths safe to log.

/// `path` with the tokens of `/verify/{token}` and `/password-reset/{token}`
/// replaced by `{token}`, for request logs: a token in a log can be redeemed
/// by anyone who reads the log. Use it in tower-http's `TraceLayer` span in
/// place of the URI, which `DefaultMakeSpan` records as it is (the query is
/// best left out too).
///
/// Recognizes the paths [`UsersService`](crate::UsersService) serves;
/// [`Verify`](super::endpoints::Verify) or
/// [`ResetPassword`](super::endpoints::ResetPassword) mounted under other
/// names are not masked.
///
/// ```
/// use tower_users::http::redacted_path;
///
/// assert_eq!(
///     redacted_path("/users/password-reset/eyJhbGciOi.x.y"),
///     "/users/password-reset/{token}"
/// );
/// assert_eq!(redacted_path("/users/me"), "/users/me");
///
/// // In a TraceLayer (tower-http's `trace` feature):
/// # fn span(req: &http::Request<()>) -> tracing::Span {
/// tracing::debug_span!("request", method = %req.method(), path = %redacted_path(req.uri().path()))
/// # }
/// ```
pub fn redacted_path(path: &str) -> String {
    let mut redacted = String::with_capacity(path.len());
    let mut after_token_route = false;
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            redacted.push('/');
        }
        // `/verify/request` and `/password-reset/request` are routes, not tokens.
        let token = after_token_route && !segment.is_empty() && segment != "request";
        redacted.push_str(if token { "{token}" } else { segment });
        after_token_route = matches!(segment, "verify" | "password-reset");
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::redacted_path;

    #[test]
    fn tokens_after_the_token_routes_are_masked_and_nothing_else() {
        for (path, shown) in [
            ("/users/verify/abc.def", "/users/verify/{token}"),
            ("/verify/abc", "/verify/{token}"),
            (
                "/users/password-reset/abc/",
                "/users/password-reset/{token}/",
            ),
            ("/users/verify", "/users/verify"),
            ("/users/verify/", "/users/verify/"),
            ("/users/verify/request", "/users/verify/request"),
            (
                "/users/0192f0c2-7d3e-7a39-8c1b-2b1d6c7e1a00",
                "/users/0192f0c2-7d3e-7a39-8c1b-2b1d6c7e1a00",
            ),
            ("", ""),
            ("/", "/"),
        ] {
            assert_eq!(redacted_path(path), shown, "{path}");
        }
    }
}
