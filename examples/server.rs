//! The main job: the whole user lifecycle on an embedded redb file, with no
//! configuration needed: the API under `/users`, and the pages for browsers
//! at the root (`/signup`, `/login`, `/account`, and `/verify` and
//! `/password-reset`, where the emailed links lead).
//!
//! ```text
//! cargo run --release --example server
//! ```
//!
//! Environment (all optional): `TOWER_USERS_BIND` (127.0.0.1:3000),
//! `TOWER_USERS_DB` (tower-users.redb), `TOWER_USERS_SECRET` (generated on
//! first start and kept in the DB file), `TOWER_USERS_PUBLIC_URL`
//! (http://localhost:3000), `TOWER_USERS_MAIL_FROM`, `TOWER_USERS_SMTP_URL`,
//! `TOWER_USERS_RATE_LIMIT` (`off` for benchmarks),
//! `TOWER_USERS_TRUSTED_PROXIES` (comma-separated addresses or CIDR blocks
//! whose forwarding header is believed), `TOWER_USERS_FORWARDED_HEADER`
//! (`x-forwarded-for`, the default, or `forwarded`), `TOWER_USERS_SUPERUSER` (`email:password`),
//! `TOWER_USERS_TEMPLATES` (a directory of template overrides; the pages' in
//! its `pages/`),
//! `TOWER_USERS_MAX_CONNECTIONS` (connections served at once; by default
//! what the open-file limit leaves after a reserve),
//! `TOWER_USERS_CORS_ORIGINS` (comma-separated origins of single-page apps
//! allowed to call with credentials), `TOWER_USERS_COOKIES` (`plain-http`
//! drops `Secure` and the `__Host-` prefix, for plain-HTTP development; the
//! server then refuses to start unless `TOWER_USERS_BIND` is loopback) and
//! `RUST_LOG`.
//!
//! The cookie transport is on: a login with `"cookie": true` signs a browser
//! in with a `__Host-` session cookie (browsers keep `Secure` cookies from
//! `http://localhost` too).
//!
//! `TOWER_USERS_DATABASE_URL=postgres://user:pass@host/db` keeps everything
//! in PostgreSQL instead of the redb file (`TOWER_USERS_DB` is then unused),
//! the rate limits' buckets too, so that several instances on one database
//! share each client's quotas; it needs the `postgres` feature:
//!
//! ```text
//! cargo run --release --features postgres --example server
//! ```

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum_core::body::Body;
use axum_core::response::Response;
use http::header::{AUTHORIZATION, COOKIE, HeaderName, SET_COOKIE};
use http::{HeaderValue, Method, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rand::RngCore;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tower::util::Either;
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};
use tower_http::cors::CorsLayer;
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tower_users::http::{
    ClientIpLayer, ForwardedHeader, PeerAddr, RateLimit, RateLimitConfig, RateLimitLayer,
    ResolveClientIp, TrustedProxy, redacted_path,
};
use tower_users::mail::{SmtpMailer, Templates};
use tower_users::pages::{PageTemplates, PagesService};
use tower_users::store::Store;
use tower_users::{CookieSettings, CurrentUser, RedbStore, Users, UsersService};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The signing secret: from the environment, or generated once and kept in
/// the database so tokens survive restarts.
async fn secret(store: &impl Store) -> Result<Vec<u8>, BoxError> {
    if let Ok(secret) = std::env::var("TOWER_USERS_SECRET") {
        return Ok(secret.into_bytes());
    }
    let mut fresh = vec![0u8; 64];
    rand::thread_rng().fill_bytes(&mut fresh);
    let (secret, created) = store.get_or_create_secret("token_secret", fresh).await?;
    if created {
        tracing::warn!(
            "TOWER_USERS_SECRET is not set: generated a signing secret and kept it in the \
             database. Set TOWER_USERS_SECRET in production."
        );
    } else {
        tracing::warn!("TOWER_USERS_SECRET is not set: using the secret kept in the database");
    }
    Ok(secret)
}

async fn build_users() -> Result<Users, BoxError> {
    if let Ok(url) = std::env::var("TOWER_USERS_DATABASE_URL") {
        let users = configure(postgres(&url).await?).await?;
        // Not the URL: it may hold a password.
        tracing::info!("store open on PostgreSQL");
        return Ok(users);
    }
    let db = env("TOWER_USERS_DB", "tower-users.redb");
    let users = configure(RedbStore::open(&db)?).await?;
    tracing::info!(db = %db, "store open");
    Ok(users)
}

/// The PostgreSQL store at `url`, migrated.
#[cfg(feature = "postgres")]
async fn postgres(url: &str) -> Result<tower_users::PostgresStore, BoxError> {
    Ok(tower_users::PostgresStore::connect(url).await?)
}

/// Without the feature, a set URL must not quietly fall back to a redb file.
#[cfg(not(feature = "postgres"))]
async fn postgres(_url: &str) -> Result<RedbStore, BoxError> {
    Err(
        "TOWER_USERS_DATABASE_URL is set, but this build has no PostgreSQL support: \
         run with `--features postgres` (or unset it to use the redb file)"
            .into(),
    )
}

/// `Users` on `store`, configured from the environment.
async fn configure(store: impl Store) -> Result<Users, BoxError> {
    let secret = secret(&store).await?;
    let mut builder = Users::builder(store)
        .with_secret(secret)
        .with_public_url(env("TOWER_USERS_PUBLIC_URL", "http://localhost:3000"))
        .with_cookies(cookie_settings()?);
    match std::env::var("TOWER_USERS_SMTP_URL") {
        Ok(url) => {
            let from = env("TOWER_USERS_MAIL_FROM", "no-reply@localhost");
            builder = builder.with_mailer(SmtpMailer::from_url(&url, &from)?);
            tracing::info!("emails go out over SMTP");
        }
        Err(_) => tracing::info!("TOWER_USERS_SMTP_URL is not set: emails are written to the log"),
    }
    if let Ok(dir) = std::env::var("TOWER_USERS_TEMPLATES") {
        builder = builder.with_templates(Templates::embedded().with_overrides_from(dir)?);
    }
    if let Ok(spec) = std::env::var("TOWER_USERS_SUPERUSER") {
        let (email, password) = spec
            .split_once(':')
            .ok_or("TOWER_USERS_SUPERUSER must be email:password")?;
        // A stale setting (the password changed since) logs a warning and
        // the server starts: `start` never takes the account over.
        builder = builder.with_superuser(email, password);
    }
    Ok(builder.start().await?)
}

/// The origins of `TOWER_USERS_CORS_ORIGINS`: named one by one, never `*`
/// (a wildcard cannot go with credentials, and would let any site act with
/// the visitor's cookie).
fn cors_origins() -> Result<Vec<HeaderValue>, BoxError> {
    let mut origins = Vec::new();
    for origin in env("TOWER_USERS_CORS_ORIGINS", "").split(',') {
        let origin = origin.trim();
        if origin.is_empty() {
            continue;
        }
        if origin == "*" {
            return Err("TOWER_USERS_CORS_ORIGINS must name origins; `*` is refused".into());
        }
        origins.push(HeaderValue::from_str(origin)?);
    }
    Ok(origins)
}

/// The cookie transport: `Secure` with the `__Host-` prefix unless
/// `TOWER_USERS_COOKIES=plain-http`; the CORS origins are trusted by its
/// CSRF check (the token is still required of them).
fn cookie_settings() -> Result<CookieSettings, BoxError> {
    let mut settings = match env("TOWER_USERS_COOKIES", "secure").as_str() {
        "secure" => CookieSettings::default(),
        "plain-http" => {
            tracing::warn!(
                "cookies without Secure (TOWER_USERS_COOKIES=plain-http): localhost only"
            );
            CookieSettings::plain_http_localhost()
        }
        _ => return Err("TOWER_USERS_COOKIES must be `secure` or `plain-http`".into()),
    };
    for origin in cors_origins()? {
        settings = settings.with_trusted_origin(origin.to_str()?);
    }
    Ok(settings)
}

/// Plain-HTTP cookies (`TOWER_USERS_COOKIES=plain-http`) are for a
/// development server on this machine: listening anywhere but on loopback
/// would hand session cookies without `Secure` to the network.
fn refuse_plain_http_beyond_loopback(addr: SocketAddr) -> Result<(), BoxError> {
    if env("TOWER_USERS_COOKIES", "secure") == "plain-http" && !addr.ip().is_loopback() {
        return Err(format!(
            "TOWER_USERS_COOKIES=plain-http serves cookies without Secure, so it is for a \
             loopback address only, and TOWER_USERS_BIND listens on {addr}: bind to \
             127.0.0.1 or [::1], or serve HTTPS with the default secure cookies"
        )
        .into());
    }
    Ok(())
}

/// CORS for the single-page apps of `TOWER_USERS_CORS_ORIGINS`, with
/// credentials, and `X-CSRF-Token` allowed and exposed; none when unset.
fn cors() -> Result<Option<CorsLayer>, BoxError> {
    let origins = cors_origins()?;
    if origins.is_empty() {
        return Ok(None);
    }
    let csrf = HeaderName::from_static("x-csrf-token");
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([http::header::CONTENT_TYPE, AUTHORIZATION, csrf.clone()])
            .expose_headers([csrf]),
    ))
}

/// What every connection shares: the lifecycle service and the pages,
/// rate-limited (sharing each client's quotas) unless
/// `TOWER_USERS_RATE_LIMIT=off`, behind trusted proxies either way.
#[derive(Clone)]
struct App {
    users: Users,
    lifecycle: ResolveClientIp<Either<RateLimit<UsersService>, UsersService>>,
    pages: ResolveClientIp<Either<RateLimit<PagesService>, PagesService>>,
}

fn app(users: Users) -> Result<App, BoxError> {
    let mut config = RateLimitConfig::default();
    if env("TOWER_USERS_FORWARDED_HEADER", "x-forwarded-for").eq_ignore_ascii_case("forwarded") {
        config.forwarded_header = ForwardedHeader::Forwarded;
    }
    for proxy in env("TOWER_USERS_TRUSTED_PROXIES", "").split(',') {
        if !proxy.trim().is_empty() {
            config.trusted_proxies.push(TrustedProxy::parse(proxy)?);
        }
    }
    // The login lockout counts per client: resolve it even without limits.
    let clients = ClientIpLayer::new(config.trusted_proxies.clone(), config.forwarded_header);
    let lifecycle = UsersService::new(users.clone());
    let mut pages = PagesService::new(users.clone());
    if let Ok(dir) = std::env::var("TOWER_USERS_TEMPLATES") {
        // The pages' overrides sit in `pages/`, as in the repository.
        let dir = std::path::Path::new(&dir).join("pages");
        pages = pages.with_templates(PageTemplates::embedded().with_overrides_from(dir)?);
    }
    let (lifecycle, pages) = if env("TOWER_USERS_RATE_LIMIT", "on") == "off" {
        tracing::warn!("rate limiting is off (TOWER_USERS_RATE_LIMIT=off)");
        (Either::Right(lifecycle), Either::Right(pages))
    } else {
        let limits = RateLimitLayer::try_new(config)?;
        // Instances sharing a database share their clients' quotas too: in
        // memory, each would allow every client its own full quota.
        let limits = if std::env::var_os("TOWER_USERS_DATABASE_URL").is_some() {
            tracing::info!("rate limits are kept in PostgreSQL, shared by every instance");
            limits.in_store(&users)
        } else {
            limits
        };
        // One layer for both: a form on a page and its API endpoint draw
        // on the same quota.
        (
            Either::Left(limits.layer(lifecycle)),
            Either::Left(limits.layer(pages)),
        )
    };
    let lifecycle = clients.layer(lifecycle);
    let pages = clients.layer(pages);
    Ok(App {
        users,
        lifecycle,
        pages,
    })
}

async fn route(app: Arc<App>, req: Request<Incoming>) -> Result<Response, Infallible> {
    let users = &app.users;
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => Ok(Response::new(Body::from("ok"))),
        (&Method::GET, "/hello") => {
            let (parts, _) = req.into_parts();
            Ok(match CurrentUser::from_parts(&parts, users).await {
                Ok(user) => {
                    let body = serde_json::json!({ "hello": user.email.as_str() });
                    let mut res = Response::new(Body::from(body.to_string()));
                    res.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    res
                }
                Err(rejection) => rejection.into_response(),
            })
        }
        (_, path) if path == "/users" || path.starts_with("/users/") => {
            app.lifecycle.clone().oneshot(req).await
        }
        // Everything else is a page (or the pages' own 404): where the
        // emailed links lead.
        _ => app.pages.clone().oneshot(req).await,
    }
}

/// Connections served at once: `TOWER_USERS_MAX_CONNECTIONS`, or by default
/// the open-file limit less a reserve for the database, the log, SMTP and
/// the runtime, so the cap is met before the descriptors run out.
fn max_connections() -> Result<usize, BoxError> {
    let set = std::env::var("TOWER_USERS_MAX_CONNECTIONS").ok();
    if let Some(raw) = set.filter(|raw| !raw.trim().is_empty()) {
        return match raw.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n.min(Semaphore::MAX_PERMITS)),
            _ => Err("TOWER_USERS_MAX_CONNECTIONS must be a positive whole number".into()),
        };
    }
    let limit = open_file_limit().min(1 << 20);
    Ok(limit.saturating_sub(32 + limit / 8).max(1) as usize)
}

/// The soft `RLIMIT_NOFILE`; unlimited counts as very large.
#[cfg(target_os = "linux")]
fn open_file_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

#[cfg(not(target_os = "linux"))]
fn open_file_limit() -> u64 {
    1024
}

/// A condition logged at most once a second, with how many repeats were
/// held back in between: a log must not grow at the speed of a failure.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    /// `Some(repeats held back since the last line)` when a line may go out.
    fn ready(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            self.held += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held))
    }
}

/// A served connection's place under the cap; giving it back also wakes an
/// accept loop that is backing off, since a descriptor has just come free.
struct Slot {
    _permit: OwnedSemaphorePermit,
    closed: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.closed.notify_one();
    }
}

/// The first and the longest pause after a failed accept: as in hyper
/// 0.14's `AddrIncoming` and axum's `serve`, which sleep a second, but
/// starting short so that a brief shortage costs little.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts connections without ever spinning: at most `max` are served at
/// once (the next accept waits for a slot, leaving new clients in the
/// listen backlog), and out of descriptors or memory it backs off, from
/// 10 ms doubling to 1 s, retrying at once when a connection closes.
struct Acceptor {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    max: usize,
    closed: Arc<Notify>,
    /// A slot kept across a failed accept, so the failure frees nothing
    /// that would wake the back-off at once.
    spare: Option<OwnedSemaphorePermit>,
    backoff: Duration,
    full_log: Throttle,
    error_log: Throttle,
}

impl Acceptor {
    fn new(listener: TcpListener, max: usize) -> Self {
        Acceptor {
            listener,
            slots: Arc::new(Semaphore::new(max)),
            max,
            closed: Arc::new(Notify::new()),
            spare: None,
            backoff: MIN_BACKOFF,
            full_log: Throttle::default(),
            error_log: Throttle::default(),
        }
    }

    /// The next connection, with the slot it holds while it is served.
    async fn next(&mut self) -> Result<(TcpStream, SocketAddr, Slot), BoxError> {
        loop {
            let permit = match self.spare.take() {
                Some(permit) => permit,
                None => self.slot().await?,
            };
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    self.backoff = MIN_BACKOFF;
                    let closed = self.closed.clone();
                    return Ok((
                        stream,
                        peer,
                        Slot {
                            _permit: permit,
                            closed,
                        },
                    ));
                }
                // That one client's connection failed; the next is fine.
                Err(err) if is_connection_error(&err) => {
                    self.spare = Some(permit);
                    tracing::debug!(error = %err, "a connection failed before it was accepted");
                }
                Err(err) => {
                    self.spare = Some(permit);
                    if let Some(held) = self.error_log.ready() {
                        tracing::warn!(
                            error = %err,
                            repeats = held,
                            retry_in_ms = self.backoff.as_millis() as u64,
                            "accept failed (out of file descriptors or memory?): backing off; \
                             raise `ulimit -n` or lower TOWER_USERS_MAX_CONNECTIONS"
                        );
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(self.backoff) => {}
                        _ = self.closed.notified() => {}
                    }
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// A free slot, waiting (and saying so, at most once a second) while
    /// `max` connections are being served.
    async fn slot(&mut self) -> Result<OwnedSemaphorePermit, BoxError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if let Some(held) = self.full_log.ready() {
            tracing::warn!(
                max = self.max,
                repeats = held,
                "too many connections: new ones wait until one closes \
                 (TOWER_USERS_MAX_CONNECTIONS)"
            );
        }
        Ok(self.slots.clone().acquire_owned().await?)
    }
}

/// Failures of one incoming connection, not of the listener (the set
/// hyper and axum skip without pausing).
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

/// The span of one request in tower-http's log: method, path and headers
/// (credentials already masked), with the tokens in `/verify/{token}` and
/// `/password-reset/{token}` masked too. The query is left out.
fn request_span(req: &Request<Incoming>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %req.method(),
        path = %redacted_path(req.uri().path()),
        headers = ?req.headers(),
    )
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, never in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let listener = TcpListener::bind(env("TOWER_USERS_BIND", "127.0.0.1:3000")).await?;
    let addr = listener.local_addr()?;
    refuse_plain_http_beyond_loopback(addr)?;
    let users = build_users().await?;
    // Shared by every connection and request: one Arc to clone.
    let app = Arc::new(app(users.clone())?);
    let max = max_connections()?;
    let mut acceptor = Acceptor::new(listener, max);
    tracing::info!(max_connections = max, "listening on http://{addr}");
    // On stdout too, for scripts and tests that bind port 0.
    println!("listening on http://{addr}");

    // tower-http's request log (`RUST_LOG=tower_http=debug`), headers
    // included, with credentials masked: `Authorization`, `Cookie`,
    // `Set-Cookie` and `X-CSRF-Token` (sent by scripts, and answered by
    // `GET /users/me` by cookie) are marked sensitive before `TraceLayer`
    // sees the request and before it sees the response, so they are logged
    // as `Sensitive`.
    let csrf = HeaderName::from_static("x-csrf-token");
    let secret: Arc<[HeaderName]> = Arc::new([AUTHORIZATION, COOKIE, SET_COOKIE, csrf]);
    let logged = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::from_shared(secret.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().include_headers(true))
                // A 503 under a burst is the admission control at work, not
                // an error: the default ERROR line per 5xx would flood the log.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(SetSensitiveResponseHeadersLayer::from_shared(secret))
        .option_layer(cors()?);

    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // Slow or stalled clients cannot hold a connection open forever.
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = acceptor.next() => {
                let (stream, peer, slot) = accepted?;
                let app = app.clone();
                let service = logged.service(service_fn(move |mut req: Request<Incoming>| {
                    // The rate limits key on the connection's peer.
                    req.extensions_mut().insert(PeerAddr(peer));
                    route(app.clone(), req)
                }));
                let service = TowerToHyperService::new(service);
                let conn = http.serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(err) = conn.await {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    drop(acceptor);
    if tokio::time::timeout(Duration::from_secs(7), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 7 s; closing them");
    }
    // Let the outbox finish the email it is sending, briefly: an email cut
    // off here stays queued and goes out after the next start.
    let _ = tokio::time::timeout(Duration::from_secs(1), users.shutdown()).await;
    Ok(())
}
