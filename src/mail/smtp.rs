//! [`SmtpMailer`]: delivery over SMTP with mail-send, one reused connection.

use std::sync::Arc;
use std::time::Duration;

use mail_send::mail_builder::MessageBuilder;
use mail_send::smtp::AssertReply;
use mail_send::smtp::message::Parameters;
use mail_send::{Credentials, SmtpClient, SmtpClientBuilder};
use percent_encoding::percent_decode_str;
use smtp_proto::EXT_START_TLS;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{MailError, Mailer, OutgoingEmail};
use crate::error::ConfigError;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (`smtps://`, usually port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS; refuse to send without it.
    /// Query `?tls=required` on an `smtp://` URL.
    Required,
    /// STARTTLS when the server offers it, plain otherwise. The default for
    /// `smtp://` without credentials (with them, `Required` is).
    Opportunistic,
    /// Never TLS (`?tls=none`): for a relay on loopback only.
    None,
}

/// Sends mail over SMTP.
///
/// ```
/// use tower_users::mail::SmtpMailer;
/// let mailer = SmtpMailer::from_url("smtps://user:secret@mail.example:465", "no-reply@example.com")
///     .unwrap();
/// # let _ = mailer;
/// ```
#[derive(Clone)]
pub struct SmtpMailer {
    inner: Arc<Inner>,
}

struct Inner {
    host: String,
    port: u16,
    tls: TlsMode,
    credentials: Option<Credentials<String>>,
    from: String,
    from_domain: String,
    helo: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    connector: Option<TlsConnector>,
    /// The connection kept between messages.
    conn: Mutex<Option<Conn>>,
}

enum Conn {
    Plain(SmtpClient<TcpStream>),
    Tls(Box<SmtpClient<TlsStream<TcpStream>>>),
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .field("tls", &self.inner.tls)
            .field("from", &self.inner.from)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: "smtp_url",
        reason: reason.into(),
    }
}

fn decode(part: &str) -> Result<String, ConfigError> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| invalid("credentials are not valid UTF-8"))
}

/// Says what is wrong without echoing the URL, which may hold a password.
fn unparsable(err: url::ParseError) -> ConfigError {
    match err {
        url::ParseError::RelativeUrlWithoutBase => invalid("expected smtp:// or smtps://"),
        url::ParseError::EmptyHost => invalid("missing host"),
        url::ParseError::InvalidPort => invalid("bad port"),
        other => invalid(other.to_string()),
    }
}

impl SmtpMailer {
    /// Parses `smtp://[user[:password]@]host[:port][?tls=required|none]` or
    /// `smtps://…`; mail goes out from `from`. Credentials are
    /// percent-decoded. Ports default to 25 (`smtp`) and 465 (`smtps`).
    pub fn from_url(url: &str, from: &str) -> Result<Self, ConfigError> {
        let url = url::Url::parse(url).map_err(unparsable)?;
        let (mut tls, default_port) = match url.scheme() {
            "smtp" => (TlsMode::Opportunistic, 25),
            "smtps" => (TlsMode::Implicit, 465),
            other => return Err(invalid(format!("unknown scheme {other:?}"))),
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) if !host.to_string().is_empty() => host.to_string(),
            _ => return Err(invalid("missing host")),
        };
        // `smtp://host/` is fine; anything more is not a mail server.
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(invalid("expected no path or fragment after the host"));
        }
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, pass) => Some(Credentials::new(decode(user)?, decode(pass.unwrap_or(""))?)),
        };
        let mut explicit_tls = false;
        for (key, value) in url.query_pairs() {
            let mode = match (&*key, &*value) {
                ("tls", "required") => TlsMode::Required,
                ("tls", "none") => TlsMode::None,
                ("tls", "opportunistic") => TlsMode::Opportunistic,
                ("tls", _) => {
                    return Err(invalid(format!(
                        "tls={value:?}: expected required, none or opportunistic"
                    )));
                }
                // Only the name: a misplaced value could be a password.
                _ => return Err(invalid(format!("unknown option {key:?}"))),
            };
            if tls == TlsMode::Implicit {
                return Err(invalid(
                    "smtps:// is TLS from the first byte: no tls= option",
                ));
            }
            (tls, explicit_tls) = (mode, true);
        }
        // Credentials never cross the wire in clear: with them, STARTTLS is
        // required unless `tls=none` is asked for explicitly.
        if credentials.is_some() && tls == TlsMode::Opportunistic && !explicit_tls {
            tls = TlsMode::Required;
        }
        Self::new(
            &host,
            url.port().unwrap_or(default_port),
            tls,
            credentials,
            from,
        )
    }

    fn new(
        host: &str,
        port: u16,
        tls: TlsMode,
        credentials: Option<Credentials<String>>,
        from: &str,
    ) -> Result<Self, ConfigError> {
        // Looser than user emails: `no-reply@localhost` is a fine sender.
        let from = from.trim();
        let from_domain = match from.rsplit_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && !from
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || "<>\",".contains(c)) =>
            {
                domain.to_ascii_lowercase()
            }
            _ => {
                return Err(ConfigError::Invalid {
                    name: "mail_from",
                    reason: format!("{from:?} is not an email address"),
                });
            }
        };
        let connector = match tls {
            TlsMode::None => None,
            _ => Some(
                SmtpClientBuilder::new(host.to_owned(), port)
                    .map_err(invalid)?
                    .tls_connector,
            ),
        };
        Ok(SmtpMailer {
            inner: Arc::new(Inner {
                host: host.to_owned(),
                port,
                tls,
                credentials,
                from: from.to_owned(),
                helo: from_domain.clone(),
                from_domain,
                connect_timeout: Duration::from_secs(10),
                command_timeout: Duration::from_secs(30),
                connector,
                conn: Mutex::new(None),
            }),
        })
    }

    /// Sets how long connecting (TCP, greeting, TLS, EHLO, AUTH) may take,
    /// and how long each SMTP command may wait for its reply.
    /// Defaults: 10 s and 30 s.
    #[must_use]
    pub fn with_timeouts(self, connect: Duration, command: Duration) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => return SmtpMailer { inner: shared },
        };
        inner.connect_timeout = connect;
        inner.command_timeout = command;
        SmtpMailer {
            inner: Arc::new(inner),
        }
    }

    async fn connect(&self) -> Result<Conn, mail_send::Error> {
        let i = &self.inner;
        tokio::time::timeout(i.connect_timeout, async {
            let stream = TcpStream::connect((i.host.as_str(), i.port)).await?;
            // SMTP is a chatty request-reply protocol: with Nagle's algorithm
            // each command can wait ~40 ms for a delayed ACK.
            stream.set_nodelay(true)?;
            let client = SmtpClient {
                stream,
                timeout: i.command_timeout,
            };
            let connector = i.connector.as_ref();
            match (i.tls, connector) {
                (TlsMode::Implicit, Some(connector)) => {
                    let mut client = client.into_tls(connector, &i.host).await?;
                    client.read().await?.assert_positive_completion()?;
                    let caps = client.ehlo(&i.helo).await?;
                    if let Some(creds) = &i.credentials {
                        client.authenticate(creds, &caps).await?;
                    }
                    Ok(Conn::Tls(Box::new(client)))
                }
                (tls, connector) => {
                    let mut client = client;
                    client.read().await?.assert_positive_completion()?;
                    let caps = client.ehlo(&i.helo).await?;
                    let offered = caps.has_capability(EXT_START_TLS);
                    match (tls, connector) {
                        (TlsMode::Required | TlsMode::Opportunistic, Some(connector))
                            if offered =>
                        {
                            let mut client = client.start_tls(connector, &i.host).await?;
                            let caps = client.ehlo(&i.helo).await?;
                            if let Some(creds) = &i.credentials {
                                client.authenticate(creds, &caps).await?;
                            }
                            Ok(Conn::Tls(Box::new(client)))
                        }
                        (TlsMode::Required, _) => Err(mail_send::Error::MissingStartTls),
                        _ => {
                            if let Some(creds) = &i.credentials {
                                client.authenticate(creds, &caps).await?;
                            }
                            Ok(Conn::Plain(client))
                        }
                    }
                }
            }
        })
        .await
        .map_err(|_| mail_send::Error::Timeout)?
    }

    fn build(&self, email: &OutgoingEmail) -> Result<Vec<u8>, MailError> {
        MessageBuilder::new()
            .from(self.inner.from.as_str())
            .to(email.to.as_str())
            .subject(email.subject.as_str())
            .message_id(email.message_id(&self.inner.from_domain))
            .text_body(email.text.as_str())
            .html_body(email.html.as_str())
            .write_to_vec()
            .map_err(MailError::permanent)
    }

    /// Runs one mail transaction, stage by stage, so a refusal can be
    /// classified by where it happened.
    async fn send_on(&self, conn: &mut Conn, body: &[u8], to: &str) -> Result<(), Refusal> {
        match conn {
            Conn::Plain(c) => transaction(c, &self.inner.from, to, body).await,
            Conn::Tls(c) => transaction(c, &self.inner.from, to, body).await,
        }
    }
}

/// Where a mail transaction failed.
enum Refusal {
    /// At the recipient or the message: about this email.
    Message(mail_send::Error),
    /// Anywhere else (connection, sender, server state): about the server.
    Server(mail_send::Error),
}

async fn transaction<T>(
    client: &mut SmtpClient<T>,
    from: &str,
    to: &str,
    body: &[u8],
) -> Result<(), Refusal>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let none = Parameters::default();
    client
        .mail_from(from, &none)
        .await
        .map_err(Refusal::Server)?;
    client.rcpt_to(to, &none).await.map_err(Refusal::Message)?;
    client.data(body).await.map_err(Refusal::Message)?;
    Ok(())
}

/// Only a definite 5xx about this email (an unknown mailbox, a refused
/// message) is permanent. A 5xx at connect, AUTH or MAIL FROM says the
/// server or our setup is wrong; that can be fixed, so the email waits.
fn classify(refusal: Refusal) -> MailError {
    let (err, about_message) = match refusal {
        Refusal::Message(err) => (err, true),
        Refusal::Server(err) => (err, false),
    };
    let permanent = about_message
        && matches!(&err, mail_send::Error::UnexpectedReply(reply) if reply.code >= 500);
    MailError {
        permanent,
        source: Box::new(err),
    }
}

impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let body = self.build(email)?;
        let mut slot = self.inner.conn.lock().await;
        // A kept connection may have been closed by the server while
        // idle: if it fails for any reason but a definite reply, retry
        // once on a fresh one.
        if let Some(mut conn) = slot.take() {
            match self.send_on(&mut conn, &body, &email.to).await {
                Ok(()) => {
                    *slot = Some(conn);
                    return Ok(());
                }
                // A definite answer about this email: the session is
                // sound, but after a failed transaction start afresh.
                Err(Refusal::Message(err @ mail_send::Error::UnexpectedReply(_))) => {
                    return Err(classify(Refusal::Message(err)));
                }
                Err(Refusal::Message(err) | Refusal::Server(err)) => {
                    tracing::debug!(error = %err, "kept SMTP connection failed; reconnecting")
                }
            }
        }
        let mut conn = self
            .connect()
            .await
            .map_err(|e| classify(Refusal::Server(e)))?;
        self.send_on(&mut conn, &body, &email.to)
            .await
            .map_err(classify)?;
        *slot = Some(conn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<SmtpMailer, ConfigError> {
        SmtpMailer::from_url(url, "no-reply@example.com")
    }

    #[test]
    fn urls_give_host_port_tls_and_credentials() {
        let m = parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((m.inner.host.as_str(), m.inner.port), ("127.0.0.1", 2525));
        assert_eq!(m.inner.tls, TlsMode::Opportunistic);
        assert!(m.inner.credentials.is_none());

        let m = parse("smtps://us%40er:p%3Ass@mail.example.com").unwrap();
        assert_eq!(
            (m.inner.host.as_str(), m.inner.port),
            ("mail.example.com", 465)
        );
        assert_eq!(m.inner.tls, TlsMode::Implicit);
        assert!(matches!(
            &m.inner.credentials,
            Some(Credentials::Plain { username, secret }) if username == "us@er" && secret == "p:ss"
        ));

        assert_eq!(
            parse("smtp://h:587?tls=required").unwrap().inner.tls,
            TlsMode::Required
        );
        assert_eq!(parse("smtp://h?tls=none").unwrap().inner.tls, TlsMode::None);
        assert_eq!(parse("smtp://[::1]:25").unwrap().inner.host, "::1");
        assert_eq!(parse("smtp://h").unwrap().inner.port, 25);
        assert_eq!(m.inner.from_domain, "example.com");
    }

    #[test]
    fn scheme_case_trailing_slash_and_credentials_decide_tls() {
        let m = parse("SMTP://Mail.Example:2525/").unwrap();
        assert_eq!(
            (m.inner.host.as_str(), m.inner.port),
            ("Mail.Example", 2525)
        );
        assert_eq!(parse("smtp://[::1]").unwrap().inner.port, 25);
        // With credentials STARTTLS is required, unless asked otherwise.
        assert_eq!(parse("smtp://u:p@h").unwrap().inner.tls, TlsMode::Required);
        assert_eq!(
            parse("smtp://u:p@h?tls=none").unwrap().inner.tls,
            TlsMode::None
        );
        assert_eq!(
            parse("smtp://u:p@h?tls=opportunistic").unwrap().inner.tls,
            TlsMode::Opportunistic
        );
        assert!(matches!(
            &parse("smtp://only-user@h").unwrap().inner.credentials,
            Some(Credentials::Plain { username, secret }) if username == "only-user" && secret.is_empty()
        ));
    }

    #[test]
    fn a_path_fragment_or_bad_part_is_refused_without_echoing_the_password() {
        for bad in [
            "smtp://u:hunter2@h/inbox",
            "smtp://u:hunter2@h#x",
            "smtp://u:hunter2@h:port",
            "smtp://u:hunter2@h?tls",
            "smtp://u:hunter2@h?retries=3",
            "smtp://u@h?password=hunter2",
            "smtps://u:hunter2@h?tls=required",
            "smtp://u:%ff@h",
        ] {
            let err = parse(bad).expect_err(bad).to_string();
            assert!(!err.contains("hunter2"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_urls_are_refused_at_build_time() {
        for bad in [
            "http://h",
            "h:25",
            "smtp://",
            "smtp://h:notaport",
            "smtp://h:99999",
            "smtp://h?tls=maybe",
            "smtps://h?tls=none",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(SmtpMailer::from_url("smtp://h", "not an address").is_err());
        assert!(SmtpMailer::from_url("smtp://h", "a@b\r\nBcc: x@y").is_err());
        assert!(SmtpMailer::from_url("smtp://h", "no-reply@localhost").is_ok());
    }

    /// A server that greets with `greeting` and then accepts anything,
    /// recording each command it was sent.
    async fn fake_server(greeting: &'static str) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (rx, mut tx) = stream.into_split();
                let _ = tx.write_all(greeting.as_bytes()).await;
                let mut lines = BufReader::new(rx).lines();
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if in_data {
                        in_data = line != ".";
                        if in_data { continue } else { b"250 queued\r\n" }
                    } else if line.starts_with("DATA") {
                        in_data = true;
                        b"354 go on\r\n"
                    } else {
                        b"250 ok\r\n"
                    };
                    log.lock().unwrap().push(line);
                    let _ = tx.write_all(reply).await;
                }
            }
        });
        (port, seen)
    }

    fn email() -> OutgoingEmail {
        OutgoingEmail::new(
            uuid::Uuid::now_v7(),
            crate::mail::EmailKind::Verify,
            "to@example.com",
            "Confirm",
            "text",
            "<p>html</p>",
            "http://localhost/verify#token=t",
            time::OffsetDateTime::now_utc(),
        )
    }

    /// mail-send's own reply check (`AssertReply`) reads the greeting: a
    /// server that opens with 554 is not talked to any further.
    #[tokio::test]
    async fn a_refusing_greeting_ends_the_session_before_any_command() {
        let (port, seen) = fake_server("554 5.3.2 no service here\r\n").await;
        let mailer = parse(&format!("smtp://127.0.0.1:{port}?tls=none")).unwrap();
        let err = mailer
            .send(&email())
            .await
            .expect_err("sent past a 554 greeting");
        assert!(!err.permanent, "{err}");
        assert!(
            seen.lock().unwrap().iter().all(|l| !l.starts_with("MAIL")),
            "{:?}",
            seen.lock().unwrap()
        );

        // The same server greeting with 220 takes the email.
        let (port, seen) = fake_server("220 fake ESMTP\r\n").await;
        let mailer = parse(&format!("smtp://127.0.0.1:{port}?tls=none")).unwrap();
        mailer.send(&email()).await.unwrap();
        assert!(
            seen.lock()
                .unwrap()
                .iter()
                .any(|l| l.starts_with("MAIL FROM"))
        );
    }
}
