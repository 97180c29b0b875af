//! Outgoing mail: over SMTP when configured, otherwise written as `.eml`
//! files to `<data-dir>/outbox/` (for people trying Twofold, and for tests).
//! Sending happens in the background, with a timeout and a few retries, so a
//! slow mail server never holds up a request.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(
        "--smtp-url '{0}' is not smtp://HOST:PORT, smtp://HOST:PORT?tls=required or smtps://HOST:PORT"
    )]
    BadUrl(String),
    #[error("--mail-from '{0}' is not an address like 'Twofold <twofold@example.com>'")]
    BadFrom(String),
    #[error("cannot create the outbox {0}: {1}")]
    Outbox(String, std::io::Error),
    #[error("--smtp-ca-file: {0}")]
    BadCa(String),
}

enum Transport {
    Outbox(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Arc<Transport>,
    from: Mailbox,
    describe: String,
    in_flight: Arc<InFlight>,
}

/// Messages queued but not yet sent or given up, so a short-lived process
/// (the command line) can wait for them before it exits.
#[derive(Default)]
struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mailer({})", self.describe)
    }
}

fn parse_from(from: &str) -> Result<Mailbox, MailError> {
    from.parse()
        .map_err(|_| MailError::BadFrom(from.to_string()))
}

impl Mailer {
    /// Writes every message to `dir` as an `.eml` file.
    pub fn outbox(dir: &Path, from: &str) -> Result<Self, MailError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MailError::Outbox(dir.display().to_string(), e))?;
        Ok(Mailer {
            transport: Arc::new(Transport::Outbox(AsyncFileTransport::new(dir))),
            from: parse_from(from)?,
            describe: format!("outbox {}", dir.display()),
            in_flight: Arc::default(),
        })
    }

    /// Sends over SMTP. `smtp://host:port` is plain (a relay on the same host),
    /// `smtp://host:587?tls=required` upgrades with STARTTLS, and
    /// `smtps://host:465` is TLS from the start. Credentials, when given, are
    /// sent with AUTH (only ever do that over TLS).
    ///
    /// `ca_pem`: certificates (PEM) to trust for the server's TLS besides the
    /// public roots, for mail servers with a private CA.
    pub fn smtp(
        url: &str,
        from: &str,
        credentials: Option<(String, String)>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, MailError> {
        let bad = || MailError::BadUrl(url.to_string());
        if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
            return Err(bad());
        }
        let host_port = url
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split(['?', '/'])
            .next()
            .unwrap_or("");
        let host = host_port.rsplit('@').next().unwrap_or("");
        let valid_port = host
            .rsplit_once(':')
            .is_none_or(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if host.is_empty() || host.starts_with(':') || !valid_port {
            return Err(bad());
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| bad())?;
        if let Some(pem) = ca_pem {
            let domain = host.rsplit_once(':').map_or(host, |(h, _)| h);
            builder = builder.tls(tls_with_ca(url, domain, pem)?);
        }
        if let Some((user, password)) = credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Mailer {
            transport: Arc::new(Transport::Smtp(builder.timeout(Some(TIMEOUT)).build())),
            from: parse_from(from)?,
            // Never the URL itself: it may carry a password.
            describe: format!("smtp {host}"),
            in_flight: Arc::default(),
        })
    }

    /// Queues a message and returns at once. Failures are retried, then
    /// logged; they never undo what the request did.
    pub fn send_later(&self, to: &str, subject: &str, text: String) {
        let message = match self.build(to, subject, text) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("cannot build a message: {e}");
                return;
            }
        };
        let transport = self.transport.clone();
        let in_flight = self.in_flight.clone();
        in_flight
            .count
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            deliver(&transport, message).await;
            if in_flight
                .count
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
                == 1
            {
                in_flight.idle.notify_waiters();
            }
        });
    }

    /// Waits until every queued message was sent or given up on, at most `limit`.
    pub async fn drain(&self, limit: Duration) {
        let wait = async {
            loop {
                let notified = self.in_flight.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self
                    .in_flight
                    .count
                    .load(std::sync::atomic::Ordering::SeqCst)
                    == 0
                {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    fn build(&self, to: &str, subject: &str, text: String) -> Result<Message, String> {
        let to: Mailbox = to.parse().map_err(|e| format!("recipient: {e}"))?;
        let html = format!(
            "<!doctype html><html><body style=\"font-family:sans-serif\">{}</body></html>",
            text.split("\n\n")
                .map(|p| format!("<p>{}</p>", escape_html(p).replace('\n', "<br>")))
                .collect::<String>()
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html),
                    ),
            )
            .map_err(|e| e.to_string())
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The TLS mode the URL asks for, trusting `pem` as well as the public roots.
fn tls_with_ca(url: &str, domain: &str, pem: &[u8]) -> Result<Tls, MailError> {
    let bad = |m: String| MailError::BadCa(m);
    // The parser skips anything that is not a certificate; an empty trust
    // list would be a silent misconfiguration.
    if !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad("no PEM certificate in it".into()));
    }
    let cert =
        Certificate::from_pem(pem).map_err(|e| bad(format!("not a PEM certificate ({e})")))?;
    let params = TlsParameters::builder(domain.to_string())
        .add_root_certificate(cert)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if url.starts_with("smtps://") {
        Ok(Tls::Wrapper(params))
    } else if query.split('&').any(|p| p == "tls=required") {
        Ok(Tls::Required(params))
    } else if query.split('&').any(|p| p == "tls=opportunistic") {
        Ok(Tls::Opportunistic(params))
    } else {
        Err(bad(
            "it only applies to TLS: use smtps:// or ?tls=required in --smtp-url".into(),
        ))
    }
}

/// Sends with a timeout, retrying with a growing pause; failures are logged.
async fn deliver(transport: &Transport, message: Message) {
    for attempt in 1..=ATTEMPTS {
        let sent = tokio::time::timeout(TIMEOUT, async {
            match transport {
                Transport::Outbox(t) => t
                    .send(message.clone())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Transport::Smtp(t) => t
                    .send(message.clone())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            }
        })
        .await;
        match sent {
            Ok(Ok(())) => return,
            Ok(Err(e)) => tracing::warn!(attempt, "sending mail failed: {e}"),
            Err(_) => tracing::warn!(attempt, "sending mail timed out"),
        }
        tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
    }
    tracing::error!("gave up sending a message after {ATTEMPTS} attempts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn smtp_urls() {
        let from = "Twofold <t@example.com>";
        for good in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.com:587?tls=required",
            "smtps://mail.example.com:465",
            "smtps://mail.example.com",
        ] {
            assert!(Mailer::smtp(good, from, None, None).is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1:25",
            "smtp://:25",
            "smtp://h:port",
            "http://h:25",
            "smtp://",
        ] {
            assert!(
                matches!(
                    Mailer::smtp(bad, from, None, None),
                    Err(MailError::BadUrl(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Mailer::smtp("smtp://h:25", "not an address", None, None),
            Err(MailError::BadFrom(_))
        ));
        let with_password = Mailer::smtp("smtps://u:secret@mail.example.com:465", from, None, None);
        assert!(!format!("{with_password:?}").contains("secret"));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html("<b>&\""), "&lt;b&gt;&amp;&quot;");
    }
}
