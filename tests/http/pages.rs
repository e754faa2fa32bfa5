//! The pages for browsers over real HTTP, as plain requests (the browser
//! suite drives Chromium through the same flows): each page renders and
//! escapes what it shows, each form's success and errors, the link pages,
//! the account actions, and the cross-origin refusals. Also the API's
//! `POST /users/logout/all`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tower::Layer;
use tower::ServiceExt;
use tower::util::Either;
use tower_users::http::{PeerAddr, Rate, RateLimitConfig, RateLimitLayer};
use tower_users::mail::EmailKind;
use tower_users::pages::PagesService;
use tower_users::{Users, UsersService};

use crate::common::{Client, Outbox, Reply, assert_problem, builder, send};

const PASSWORD: &str = "correct horse battery";

/// A server with the API under /users and the pages at the root, as the
/// example server mounts them.
struct Site {
    addr: SocketAddr,
    users: Users,
    outbox: Outbox,
    _dir: tempfile::TempDir,
}

async fn site() -> Site {
    site_limited(None).await
}

/// [`site`], behind a `RateLimitLayer` with `limits` when given.
async fn site_limited(limits: Option<RateLimitConfig>) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let store = tower_users::RedbStore::open(dir.path().join("users.redb")).unwrap();
    let outbox = Outbox::default();
    let users = builder(store, outbox.clone()).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let api = UsersService::new(users.clone());
    let pages = PagesService::new(users.clone());
    let (api, pages) = match limits {
        Some(config) => {
            let layer = RateLimitLayer::new(config);
            (
                Either::Left(layer.layer(api)),
                Either::Left(layer.layer(pages)),
            )
        }
        None => (Either::Right(api), Either::Right(pages)),
    };
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let (api, pages) = (api.clone(), pages.clone());
            let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                let (api, pages) = (api.clone(), pages.clone());
                async move {
                    if req.uri().path().starts_with("/users") {
                        api.oneshot(req).await
                    } else {
                        pages.oneshot(req).await
                    }
                    .map_err(|e: Infallible| e)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Site {
        addr,
        users,
        outbox,
        _dir: dir,
    }
}

/// A browser, as far as these tests need one: keeps the cookies it is
/// given and sends them back, and says where its requests come from.
struct Browser {
    addr: SocketAddr,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(addr: SocketAddr) -> Self {
        Browser {
            addr,
            cookies: Vec::new(),
        }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn request(&self, method: &str, path: &str) -> http::request::Builder {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("host", self.addr.to_string());
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        req
    }

    /// Keeps the cookies `reply` sets (and drops those it clears).
    fn remember(&mut self, reply: &Reply) {
        for value in reply.headers.get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap();
            let (name, val) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            let cleared = val.is_empty() || value.to_ascii_lowercase().contains("max-age=0");
            if !cleared {
                self.cookies.push((name.to_owned(), val.to_owned()));
            }
        }
    }

    async fn get(&mut self, path: &str) -> Reply {
        let req = self
            .request("GET", path)
            .body(Full::<Bytes>::default())
            .unwrap();
        let reply = send(self.addr, req).await;
        self.remember(&reply);
        reply
    }

    /// Posts `fields` as a same-origin form, as a browser does.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let origin = self.origin();
        self.post_from(
            path,
            fields,
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
        )
        .await
    }

    async fn post_from(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .request("POST", path)
            .header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = serde_urlencoded::to_string(fields).unwrap();
        let reply = send(self.addr, req.body(Full::from(body)).unwrap()).await;
        self.remember(&reply);
        reply
    }

    /// Posts an account form, with the CSRF token of the account page.
    async fn act(&mut self, action: &str, fields: &[(&str, &str)]) -> Reply {
        let page = self.get("/account").await;
        assert_eq!(page.status, StatusCode::OK, "{}", text(&page));
        let token = csrf_token(&text(&page));
        let mut all = vec![("action", action), ("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post("/account", &all).await
    }

    /// Signs up through the page; the browser is signed in after.
    async fn sign_up(&mut self, email: &str) {
        let r = self
            .post("/signup", &[("email", email), ("password", PASSWORD)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    }
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn location(reply: &Reply) -> &str {
    reply.headers["location"].to_str().unwrap()
}

/// The hidden `csrf_token` of a page's form.
fn csrf_token(html: &str) -> String {
    let (_, rest) = html
        .split_once(r#"name="csrf_token" value=""#)
        .expect("a csrf_token field");
    rest.split('"').next().unwrap().to_owned()
}

#[track_caller]
fn assert_html(reply: &Reply, status: StatusCode) -> String {
    let body = text(reply);
    assert_eq!(reply.status, status, "{body}");
    assert_eq!(reply.content_type(), "text/html; charset=utf-8");
    body
}

#[tokio::test]
async fn every_page_renders_with_its_heading_labels_and_button() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    for (path, h1, labels, button) in [
        ("/signup", "Sign up", &["Email", "Password"][..], "Sign up"),
        ("/login", "Log in", &["Email", "Password"], "Log in"),
        (
            "/forgot-password",
            "Forgot password",
            &["Email"],
            "Send reset link",
        ),
        (
            "/verify",
            "Verify your email",
            &["Email"],
            "Send a new link",
        ),
        (
            "/password-reset",
            "Set a new password",
            &["New password"],
            "Set new password",
        ),
    ] {
        let html = assert_html(&b.get(path).await, StatusCode::OK);
        assert!(html.contains(&format!("<h1>{h1}</h1>")), "{path}: {html}");
        for label in labels {
            assert!(
                html.contains(&format!(">{label}</label>")),
                "{path}: {label}"
            );
        }
        assert!(
            html.contains(&format!(r#"<button type="submit">{button}</button>"#)),
            "{path}"
        );
    }
    let css = b.get("/pages.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.content_type().starts_with("text/css"));
    // Not signed in: the account page sends the visitor to log in.
    let r = b.get("/account").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
}

#[tokio::test]
async fn the_link_pages_read_the_token_from_the_fragment_with_a_script_the_policy_allows() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    // Many times over: a nonce is random, and one with a character the
    // page escapes would break the script only now and then.
    for path in ["/verify", "/password-reset"].repeat(20) {
        let r = b.get(path).await;
        let html = assert_html(&r, StatusCode::OK);
        assert!(html.contains("location.hash"), "{path}");
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|n| n.split('\'').next())
            .unwrap();
        assert!(
            html.contains(&format!(r#"<script nonce="{nonce}">"#)),
            "{path}"
        );
        assert!(csp.contains("form-action 'self'"));
    }
}

#[tokio::test]
async fn unknown_pages_are_404_and_wrong_methods_405_as_pages() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    assert_html(&b.get("/nowhere").await, StatusCode::NOT_FOUND);
    let r = b.post("/pages.css", &[]).await;
    assert_html(&r, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "GET, HEAD");
}

#[tokio::test]
async fn sign_up_errors_are_shown_on_their_field_escaped() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    // What the visitor typed comes back escaped.
    let r = b
        .post(
            "/signup",
            &[
                ("email", "<script>alert(1)</script>"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let html = assert_html(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{html}");
    assert!(html.contains(r#"aria-describedby="signup-email-error""#));
    assert!(html.contains(r#"id="signup-email-error" class="error" role="alert""#));
    assert!(html.contains("autofocus"));

    // A weak password: the error is tied to the password field, which
    // takes the focus; the email is kept.
    let r = b
        .post(
            "/signup",
            &[("email", "weak@example.com"), ("password", "short")],
        )
        .await;
    let html = assert_html(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Password must be at least 8 characters."),
        "{html}"
    );
    let input = html
        .split("<input")
        .find(|i| i.contains(r#"id="signup-password""#))
        .unwrap();
    assert!(
        input.contains(r#"aria-describedby="signup-password-error""#),
        "{input}"
    );
    assert!(input.contains("autofocus"));
    assert!(html.contains(r#"value="weak@example.com""#));

    // A taken email.
    b.sign_up("taken@example.com").await;
    let mut other = Browser::new(s.addr);
    let r = other
        .post(
            "/signup",
            &[("email", "taken@example.com"), ("password", PASSWORD)],
        )
        .await;
    let html = assert_html(&r, StatusCode::CONFLICT);
    assert!(html.contains("An account with this email already exists."));
}

#[tokio::test]
async fn a_wrong_password_is_said_in_words_and_nobody_is_signed_in() {
    let s = site().await;
    s.users
        .register("wrong@example.com", PASSWORD)
        .await
        .unwrap();
    let mut b = Browser::new(s.addr);
    let r = b
        .post(
            "/login",
            &[
                ("email", "wrong@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    let html = assert_html(&r, StatusCode::UNAUTHORIZED);
    assert!(
        html.contains(r#"role="alert">Wrong email or password.<"#),
        "{html}"
    );
    assert!(r.headers.get("set-cookie").is_none());
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forgot_password_sends_the_link_and_the_reset_page_sets_the_password_once() {
    let s = site().await;
    s.users
        .register("reset@example.com", PASSWORD)
        .await
        .unwrap();
    let mut b = Browser::new(s.addr);
    let r = b
        .post("/forgot-password", &[("email", "reset@example.com")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let html = assert_html(&b.get(location(&r)).await, StatusCode::OK);
    assert!(html.contains("Check your email"), "{html}");
    let email = s
        .outbox
        .wait_for("reset@example.com", EmailKind::PasswordReset)
        .await;
    let token = email.link.split_once("#token=").unwrap().1.to_owned();

    // A weak password: said on the field, and the token is kept for the
    // next try (in the form, not in a URL).
    let r = b
        .post(
            "/password-reset",
            &[("token", &token), ("password", "short")],
        )
        .await;
    let html = assert_html(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(r#"aria-describedby="reset-password-error""#),
        "{html}"
    );
    assert!(html.contains(&format!(r#"value="{token}""#)));

    let r = b
        .post(
            "/password-reset",
            &[("token", &token), ("password", "a brand new password")],
        )
        .await;
    let html = assert_html(&r, StatusCode::OK);
    assert!(html.contains("Your password has been changed"), "{html}");
    assert!(html.contains(">Log in</a>"));

    // The link is spent: said so, with a way to a new one.
    let r = b
        .post(
            "/password-reset",
            &[("token", &token), ("password", "yet another password")],
        )
        .await;
    let html = assert_html(&r, StatusCode::BAD_REQUEST);
    assert!(html.contains("This link has expired or was already used."));
    assert!(html.contains(r#"href="/forgot-password""#));

    // Only the new password logs in.
    let c = Client::new(s.addr);
    assert_eq!(
        c.login("reset@example.com", "a brand new password")
            .await
            .status,
        StatusCode::OK
    );
    assert_problem(
        &c.login("reset@example.com", PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    );
}

#[tokio::test]
async fn the_verify_page_verifies_once_and_offers_a_new_link_after() {
    let s = site().await;
    s.users
        .register("verify@example.com", PASSWORD)
        .await
        .unwrap();
    let token = s.outbox.token_for("verify@example.com").await;
    let mut b = Browser::new(s.addr);
    let html = assert_html(
        &b.post("/verify", &[("token", &token)]).await,
        StatusCode::OK,
    );
    assert!(html.contains("Your email is verified"), "{html}");

    let r = b.post("/verify", &[("token", &token)]).await;
    let html = assert_html(&r, StatusCode::BAD_REQUEST);
    assert!(html.contains("This link has expired or was already used."));
    assert!(html.contains("Send a new link"));
    // A forged token reads the same.
    let r = b.post("/verify", &[("token", "not.a.token")]).await;
    assert_html(&r, StatusCode::BAD_REQUEST);

    // Asking for a new link: sent to an unverified account.
    s.users
        .register("later@example.com", PASSWORD)
        .await
        .unwrap();
    s.outbox
        .wait_for("later@example.com", EmailKind::Verify)
        .await;
    s.outbox.clear();
    let r = b
        .post("/verify/resend", &[("email", "later@example.com")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let html = assert_html(&b.get(location(&r)).await, StatusCode::OK);
    assert!(html.contains("Check your email"));
    s.outbox
        .wait_for("later@example.com", EmailKind::Verify)
        .await;
}

#[tokio::test]
async fn a_cross_origin_form_post_is_refused_before_anything_happens() {
    let s = site().await;
    s.users
        .register("xorigin@example.com", PASSWORD)
        .await
        .unwrap();
    let mut b = Browser::new(s.addr);
    let fields = [("email", "xorigin@example.com"), ("password", PASSWORD)];
    // A same-site page on another port, and a page on another site.
    for headers in [
        &[
            ("sec-fetch-site", "same-site"),
            ("origin", "http://localhost:1"),
        ][..],
        &[("sec-fetch-site", "cross-site")],
        &[("origin", "http://evil.example")],
    ] {
        let r = b.post_from("/login", &fields, headers).await;
        let html = assert_html(&r, StatusCode::FORBIDDEN);
        assert!(html.contains("another site"), "{html}");
        assert!(r.headers.get("set-cookie").is_none());
        let r = b
            .post_from(
                "/forgot-password",
                &[("email", "xorigin@example.com")],
                headers,
            )
            .await;
        assert_html(&r, StatusCode::FORBIDDEN);
    }
    crate::common::drained(&s.users).await;
    assert_eq!(
        s.outbox.count_to("xorigin@example.com"),
        1,
        "only the sign-up email"
    );
}

#[tokio::test]
async fn logout_all_over_the_api_ends_every_session() {
    let s = site().await;
    let c = Client::new(s.addr);
    let (phone, _) = c.signed_up("all@example.com", PASSWORD).await;
    let laptop = c.login("all@example.com", PASSWORD).await.json();
    let laptop_access = laptop["access_token"].as_str().unwrap();
    let laptop_refresh = laptop["refresh_token"].as_str().unwrap();

    let r = c
        .request(http::Method::POST, "/users/logout/all", Some(&phone), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    for token in [phone.as_str(), laptop_access] {
        assert_problem(&c.get("/users/me", Some(token)).await, 401, "UNAUTHORIZED");
    }
    let r = c
        .post_json("/users/refresh", json!({"refresh_token": laptop_refresh}))
        .await;
    assert_problem(&r, 400, "INVALID_TOKEN");
    // Without credentials it is refused; the password still logs in.
    let r = c
        .request(http::Method::POST, "/users/logout/all", None, None)
        .await;
    assert_problem(&r, 401, "UNAUTHORIZED");
    assert_eq!(
        c.login("all@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

/// The `<dt>`/`<dd>` pair of the account page for `term`.
fn account_entry(html: &str, term: &str) -> Option<String> {
    let (_, rest) = html.split_once(&format!("<dt>{term}</dt><dd>"))?;
    Some(rest.split("</dd>").next()?.to_owned())
}

#[tokio::test]
async fn sign_up_signs_in_and_the_verify_link_marks_the_account_verified() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    let r = b
        .post(
            "/signup",
            &[("email", "alice@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    assert_eq!(location(&r), "/account");
    assert!(r.headers.get("set-cookie").is_some(), "signed in by cookie");

    let html = assert_html(&b.get(location(&r)).await, StatusCode::OK);
    assert!(html.contains("<h1>Your account</h1>"));
    assert_eq!(account_entry(&html, "Email").unwrap(), "alice@example.com");
    assert_eq!(account_entry(&html, "Status").unwrap(), "Not verified");
    for form in [
        "Resend verification email",
        "Change password",
        "Change email",
        "Log out",
        "Log out everywhere",
        "Delete account",
    ] {
        assert!(html.contains(&format!(r#"aria-label="{form}""#)), "{form}");
    }
    assert!(!csrf_token(&html).is_empty());

    let token = s.outbox.token_for("alice@example.com").await;
    let html = assert_html(
        &b.post("/verify", &[("token", &token)]).await,
        StatusCode::OK,
    );
    assert!(html.contains("Your email is verified"));
    let html = assert_html(&b.get("/account").await, StatusCode::OK);
    assert_eq!(account_entry(&html, "Status").unwrap(), "Verified");
    assert!(!html.contains(r#"aria-label="Resend verification email""#));
}

#[tokio::test]
async fn log_in_signs_in_and_log_out_signs_out() {
    let s = site().await;
    s.users.register("bob@example.com", PASSWORD).await.unwrap();
    let mut b = Browser::new(s.addr);
    let r = b
        .post(
            "/login",
            &[("email", "bob@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    assert_eq!(location(&r), "/account");
    assert_html(&b.get("/account").await, StatusCode::OK);

    let r = b.act("logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    let html = assert_html(&b.get(location(&r)).await, StatusCode::OK);
    assert!(html.contains("You are logged out."));
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_account_forms_change_the_password_with_errors_on_their_fields() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    b.sign_up("carol@example.com").await;

    let r = b
        .act(
            "password",
            &[
                ("current_password", "not it at all"),
                ("password", "a fresh new password"),
            ],
        )
        .await;
    let html = assert_html(&r, StatusCode::UNAUTHORIZED);
    assert!(
        html.contains(r#"aria-describedby="password-current_password-error""#),
        "{html}"
    );
    let r = b
        .act(
            "password",
            &[("current_password", PASSWORD), ("password", "short")],
        )
        .await;
    let html = assert_html(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(r#"aria-describedby="password-password-error""#),
        "{html}"
    );

    let r = b
        .act(
            "password",
            &[
                ("current_password", PASSWORD),
                ("password", "a fresh new password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    // This browser stays signed in; the new password is the one that works.
    let html = assert_html(&b.get(location(&r)).await, StatusCode::OK);
    assert!(html.contains("Your password has been changed."));
    let c = Client::new(s.addr);
    assert_eq!(
        c.login("carol@example.com", "a fresh new password")
            .await
            .status,
        StatusCode::OK
    );
    assert_problem(
        &c.login("carol@example.com", PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    );
}

#[tokio::test]
async fn the_email_change_waits_for_the_link_sent_to_the_new_address() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    b.sign_up("dave@example.com").await;
    s.users
        .register("taken2@example.com", PASSWORD)
        .await
        .unwrap();

    let r = b
        .act(
            "email",
            &[
                ("email", "taken2@example.com"),
                ("current_password", PASSWORD),
            ],
        )
        .await;
    let html = assert_html(&r, StatusCode::CONFLICT);
    assert!(
        html.contains(r#"aria-describedby="email-email-error""#),
        "{html}"
    );
    // What was typed comes back escaped.
    let r = b
        .act(
            "email",
            &[("email", "\"><b>x</b>"), ("current_password", PASSWORD)],
        )
        .await;
    let html = assert_html(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !html.contains("<b>x</b>") && html.contains("&lt;b&gt;x"),
        "{html}"
    );

    let r = b
        .act(
            "email",
            &[
                ("email", "dave@new.example"),
                ("current_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    let html = assert_html(&b.get(location(&r)).await, StatusCode::OK);
    assert_eq!(
        account_entry(&html, "Pending email").unwrap(),
        "dave@new.example"
    );
    assert_eq!(account_entry(&html, "Email").unwrap(), "dave@example.com");
    s.outbox
        .wait_for("dave@example.com", EmailKind::EmailChangeNotice)
        .await;
    let link = s
        .outbox
        .wait_for("dave@new.example", EmailKind::EmailChange)
        .await
        .link;
    let token = link.split_once("#token=").unwrap().1;
    let html = assert_html(
        &b.post("/verify", &[("token", token)]).await,
        StatusCode::OK,
    );
    assert!(html.contains("Your email is verified"));
    let html = assert_html(&b.get("/account").await, StatusCode::OK);
    assert_eq!(account_entry(&html, "Email").unwrap(), "dave@new.example");
    assert!(account_entry(&html, "Pending email").is_none());
}

#[tokio::test]
async fn resend_verification_sends_another_link() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    b.sign_up("erin@example.com").await;
    s.outbox
        .wait_for("erin@example.com", EmailKind::Verify)
        .await;
    let r = b.act("resend", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    let html = assert_html(&b.get(location(&r)).await, StatusCode::OK);
    assert!(html.contains(r#"role="status""#) && html.contains("verification email"));
    crate::common::drained(&s.users).await;
    assert_eq!(s.outbox.count_to("erin@example.com"), 2);
}

#[tokio::test]
async fn log_out_everywhere_ends_the_other_browsers_and_api_sessions() {
    let s = site().await;
    let mut laptop = Browser::new(s.addr);
    laptop.sign_up("frank@example.com").await;
    let mut phone = Browser::new(s.addr);
    let r = phone
        .post(
            "/login",
            &[("email", "frank@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let c = Client::new(s.addr);
    let api = c.access_token("frank@example.com", PASSWORD).await;

    let r = laptop.act("logout_all", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    let html = assert_html(&laptop.get(location(&r)).await, StatusCode::OK);
    assert!(html.contains("You are logged out on every device."));
    for browser in [&mut laptop, &mut phone] {
        let r = browser.get("/account").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/login");
    }
    assert_problem(&c.get("/users/me", Some(&api)).await, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn delete_account_needs_the_password_and_then_the_account_is_gone() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    b.sign_up("gina@example.com").await;
    let r = b
        .act("delete", &[("current_password", "wrong password!")])
        .await;
    let html = assert_html(&r, StatusCode::UNAUTHORIZED);
    assert!(
        html.contains(r#"aria-describedby="delete-current_password-error""#),
        "{html}"
    );

    let r = b.act("delete", &[("current_password", PASSWORD)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    let html = assert_html(&b.get(location(&r)).await, StatusCode::OK);
    assert!(html.contains("Your account has been deleted."));
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
    let c = Client::new(s.addr);
    assert_problem(
        &c.login("gina@example.com", PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    );
}

#[tokio::test]
async fn an_account_form_without_the_sessions_token_or_from_another_origin_is_refused() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    b.sign_up("hank@example.com").await;
    let html = text(&b.get("/account").await);
    let token = csrf_token(&html);
    let delete = |t: &'static str| {
        [
            ("action", "delete"),
            ("current_password", PASSWORD),
            ("csrf_token", t),
        ]
    };

    // No token, and a wrong one.
    let r = b.post("/account", &delete("")).await;
    assert_html(&r, StatusCode::FORBIDDEN);
    let r = b
        .post(
            "/account",
            &delete("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )
        .await;
    assert_html(&r, StatusCode::FORBIDDEN);
    // The right token, from a page on another origin of the same site (so
    // the Lax cookie rides along), and from another site.
    let fields = [
        ("action", "delete"),
        ("current_password", PASSWORD),
        ("csrf_token", token.as_str()),
    ];
    for headers in [
        &[
            ("sec-fetch-site", "same-site"),
            ("origin", "http://localhost:1"),
        ][..],
        &[("origin", "http://evil.example")],
    ] {
        let r = b.post_from("/account", &fields, headers).await;
        assert_html(&r, StatusCode::FORBIDDEN);
    }
    // Nothing happened: the account is there, the browser signed in.
    assert_html(&b.get("/account").await, StatusCode::OK);
    let c = Client::new(s.addr);
    assert_eq!(
        c.login("hank@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_all_over_the_api_by_cookie_needs_the_csrf_token_and_clears_the_cookies() {
    let s = site().await;
    s.users.register("ivy@example.com", PASSWORD).await.unwrap();
    let mut b = Browser::new(s.addr);
    let origin = b.origin();
    let same = [
        ("origin", origin.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    let login =
        serde_json::json!({"email": "ivy@example.com", "password": PASSWORD, "cookie": true});
    let req = b
        .request("POST", "/users/login")
        .header("content-type", "application/json")
        .header("origin", origin.as_str())
        .body(Full::from(login.to_string()))
        .unwrap();
    let r = send(s.addr, req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    b.remember(&r);
    let csrf = r.json()["csrf_token"].as_str().unwrap().to_owned();
    let mut other = Browser::new(s.addr);
    other
        .post(
            "/login",
            &[("email", "ivy@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_html(&other.get("/account").await, StatusCode::OK);

    // The cookie alone is not enough: a forged request has no token.
    let r = b.post_from("/users/logout/all", &[], &same).await;
    assert_problem(&r, 403, "CSRF_FAILED");
    assert_html(&other.get("/account").await, StatusCode::OK);

    let with_token = [same[0], same[1], ("x-csrf-token", csrf.as_str())];
    let r = b.post_from("/users/logout/all", &[], &with_token).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    assert!(r.headers.get_all("set-cookie").iter().count() >= 1);
    assert!(
        b.cookies.is_empty(),
        "the cookies are cleared: {:?}",
        b.cookies
    );
    assert_eq!(other.get("/account").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_example_server_serves_the_pages_where_the_email_links_lead() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pages.redb");
    let running = crate::processes::start("server", &[("TOWER_USERS_DB", db.to_str().unwrap())]);
    let mut b = Browser::new(running.addr);
    // The default links are `{public_url}/verify#token=…` and
    // `{public_url}/password-reset#token=…`: the fragment stays in the browser.
    for (path, h1) in [
        ("/verify", "Verify your email"),
        ("/password-reset", "Set a new password"),
    ] {
        let html = assert_html(&b.get(path).await, StatusCode::OK);
        assert!(html.contains(&format!("<h1>{h1}</h1>")), "{path}");
    }
    b.sign_up("web@example.com").await;
    let html = assert_html(&b.get("/account").await, StatusCode::OK);
    assert_eq!(account_entry(&html, "Email").unwrap(), "web@example.com");
    // Beside the API and the example's own routes.
    let c = Client::new(running.addr);
    assert_eq!(c.get("/healthz", None).await.status, StatusCode::OK);
    let token = c.access_token("web@example.com", PASSWORD).await;
    assert_eq!(c.get("/hello", Some(&token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_form_over_its_rate_limit_gets_a_page_that_says_when_to_retry() {
    let once = Rate::new(1, std::time::Duration::from_secs(600));
    let s = site_limited(Some(RateLimitConfig {
        login: once,
        email_requests: once,
        ..RateLimitConfig::default()
    }))
    .await;
    let mut b = Browser::new(s.addr);
    let fields = [
        ("email", "limited@example.com"),
        ("password", "whatever it is"),
    ];
    assert_html(&b.post("/login", &fields).await, StatusCode::UNAUTHORIZED);
    let r = b.post("/login", &fields).await;
    let html = assert_html(&r, StatusCode::TOO_MANY_REQUESTS);
    assert!(html.contains("Too many attempts. Try again in"), "{html}");
    assert!(r.headers.contains_key("retry-after"));
    // The page and its API endpoint draw on one quota.
    let r = Client::new(s.addr)
        .login("limited@example.com", "whatever it is")
        .await;
    assert_problem(&r, 429, "RATE_LIMITED");
    let forgot = [("email", "limited@example.com")];
    assert_eq!(
        b.post("/forgot-password", &forgot).await.status,
        StatusCode::SEE_OTHER
    );
    assert_html(
        &b.post("/forgot-password", &forgot).await,
        StatusCode::TOO_MANY_REQUESTS,
    );
}

/// Logging in or signing up on the pages over a live session ends that
/// session: the browser's new cookie replaces the only thing naming it.
#[tokio::test]
async fn logging_in_or_signing_up_over_a_session_ends_the_old_one() {
    let s = site().await;
    s.users
        .register("grace@example.com", PASSWORD)
        .await
        .unwrap();
    let mut b = Browser::new(s.addr);
    b.sign_up("heidi@example.com").await;
    let before_login = b.cookies.clone();
    let r = b
        .post(
            "/login",
            &[("email", "grace@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    let before_signup = b.cookies.clone();
    b.sign_up("ivan@example.com").await;
    for (when, jar) in [("login", before_login), ("sign-up", before_signup)] {
        let mut old = Browser::new(s.addr);
        old.cookies = jar;
        let r = old.get("/users/me").await;
        assert_problem(&r, 401, "UNAUTHORIZED");
        assert!(old.cookies.is_empty(), "{when}: the dead cookie is cleared");
    }
    let r = b.get("/users/me").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["email"], "ivan@example.com");
}

/// Every page forbids framing twice: the CSP's `frame-ancestors 'none'`
/// for current browsers, `X-Frame-Options: DENY` for older ones.
#[tokio::test]
async fn every_page_forbids_framing_for_old_browsers_too() {
    let s = site().await;
    let mut signed_in = Browser::new(s.addr);
    signed_in.sign_up("judy@example.com").await;
    let mut visitor = Browser::new(s.addr);
    for (member, path) in [
        (true, "/account"),
        (false, "/login"),
        (false, "/signup"),
        (false, "/forgot-password"),
        (false, "/verify"),
        (false, "/password-reset"),
        (false, "/nowhere"),
    ] {
        let b = if member { &mut signed_in } else { &mut visitor };
        let r = b.get(path).await;
        assert!(r.headers.contains_key("content-type"), "{path}");
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(r.headers["x-frame-options"], "DENY", "{path}");
    }
}

/// The pages' session is the cookie: without the cookie transport nobody
/// could sign in, so the service is refused when it is made, not with an
/// error page at the first sign-in.
#[test]
fn the_pages_without_the_cookie_transport_are_refused_when_made() {
    let users = Users::builder(tower_users::RedbStore::in_memory().unwrap())
        .with_secret([4u8; 32])
        .with_transports([tower_users::Transport::Bearer])
        .build()
        .unwrap();
    let err = PagesService::try_new(users.clone()).unwrap_err();
    assert!(err.to_string().contains("cookie transport"), "{err}");
    let panicked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| PagesService::new(users)));
    assert!(panicked.is_err());
    let users = Users::builder(tower_users::RedbStore::in_memory().unwrap())
        .with_secret([4u8; 32])
        .build()
        .unwrap();
    assert!(PagesService::try_new(users).is_ok());
}

#[tokio::test]
async fn a_blank_current_password_is_pointed_at_not_counted_as_a_wrong_one() {
    let s = site().await;
    let mut b = Browser::new(s.addr);
    b.sign_up("dora@example.com").await;
    // More blank submissions than the lockout allows wrong passwords: none
    // counts, so the real password still works after them.
    for _ in 0..8 {
        let r = b
            .act(
                "password",
                &[
                    ("current_password", ""),
                    ("password", "a fresh new password"),
                ],
            )
            .await;
        let html = assert_html(&r, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("Enter your current password."), "{html}");
    }
    let r = b
        .act(
            "password",
            &[
                ("current_password", PASSWORD),
                ("password", "a fresh new password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
}
