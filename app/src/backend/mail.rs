//! Outgoing mail: over SMTP when configured, otherwise written as `.eml`
//! files to `<data-dir>/outbox/` (for people trying Twofold, and for tests).
//! Sending happens in the background, with a timeout and a few retries, so a
//! slow mail server never holds up a request.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("--smtp-url '{0}' is not smtp://HOST:PORT")]
    BadUrl(String),
    #[error("--mail-from '{0}' is not an address like 'Twofold <twofold@example.com>'")]
    BadFrom(String),
    #[error("cannot create the outbox {0}: {1}")]
    Outbox(String, std::io::Error),
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
        })
    }

    /// Sends over plain SMTP to `smtp://host:port` (a relay on the same host
    /// or network; TLS to the relay is not supported yet).
    pub fn smtp(url: &str, from: &str) -> Result<Self, MailError> {
        let bad = || MailError::BadUrl(url.to_string());
        let rest = url.strip_prefix("smtp://").ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.trim_end_matches('/').parse().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(TIMEOUT))
            .build();
        Ok(Mailer {
            transport: Arc::new(Transport::Smtp(transport)),
            from: parse_from(from)?,
            describe: format!("smtp {host}:{port}"),
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
        tokio::spawn(async move {
            for attempt in 1..=ATTEMPTS {
                let sent = tokio::time::timeout(TIMEOUT, async {
                    match transport.as_ref() {
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
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        assert!(Mailer::smtp("smtp://127.0.0.1:2525", "Twofold <t@example.com>").is_ok());
        for bad in [
            "127.0.0.1:25",
            "smtp://host",
            "smtp://:25",
            "smtp://h:port",
            "http://h:25",
        ] {
            assert!(
                matches!(
                    Mailer::smtp(bad, "t@example.com"),
                    Err(MailError::BadUrl(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Mailer::smtp("smtp://h:25", "not an address"),
            Err(MailError::BadFrom(_))
        ));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html("<b>&\""), "&lt;b&gt;&amp;&quot;");
    }
}
