//! Outgoing text messages (`--sms-provider`): Twilio's REST API, a webhook
//! for any other provider, or files in `<data-dir>/sms-outbox/` for trying
//! Twofold out and for tests. Off when no provider is set.
//!
//! A text is sent on a task of its own, with a timeout and a few retries,
//! so a client that goes away does not cut a send in half; the request
//! waits for the outcome, because the person must hear at once when no text
//! is coming ("try another method"). Errors are logged without the message
//! text (it holds the code) or the credentials.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(10);
/// Twilio's API; `--twilio-api-url` points elsewhere (tests, compatible
/// gateways).
pub const TWILIO_API: &str = "https://api.twilio.com";

#[derive(Debug, thiserror::Error)]
pub enum SmsConfigError {
    #[error("--sms-provider twilio needs TWOFOLD_TWILIO_ACCOUNT_SID and TWOFOLD_TWILIO_AUTH_TOKEN")]
    TwilioCredentials,
    #[error("--sms-provider twilio needs --sms-from (the sending number, E.164)")]
    NoFrom,
    #[error("--sms-provider webhook needs --sms-webhook-url")]
    NoWebhook,
    #[error("{0} '{1}' is not an http:// or https:// URL")]
    BadUrl(&'static str, String),
    #[error("cannot create the SMS outbox {0}: {1}")]
    Outbox(String, std::io::Error),
    #[error("cannot make the HTTP client: {0}")]
    Client(String),
}

/// Why a text did not go out (after the retries).
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("no SMS provider is set")]
    Off,
    #[error("the provider answered {0}")]
    Refused(u16),
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("writing to the SMS outbox: {0}")]
    Outbox(String),
}

/// What `--sms-provider` and its settings say.
#[derive(Debug, Clone, Default)]
pub enum SmsConfig {
    #[default]
    Off,
    Outbox(PathBuf),
    Twilio {
        api_url: String,
        account_sid: String,
        auth_token: String,
        from: String,
    },
    Webhook {
        url: String,
    },
}

enum Transport {
    Off,
    Outbox(PathBuf),
    Twilio {
        client: reqwest::Client,
        endpoint: String,
        account_sid: String,
        auth_token: String,
        from: String,
    },
    Webhook {
        client: reqwest::Client,
        url: String,
    },
}

#[derive(Clone)]
pub struct SmsSender {
    transport: Arc<Transport>,
}

impl std::fmt::Debug for SmsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        let what = match &*self.transport {
            Transport::Off => "off".to_string(),
            Transport::Outbox(dir) => format!("outbox {}", dir.display()),
            Transport::Twilio { endpoint, .. } => format!("twilio {endpoint}"),
            Transport::Webhook { .. } => "webhook".to_string(),
        };
        write!(f, "SmsSender({what})")
    }
}

fn http_url(flag: &'static str, url: &str) -> Result<String, SmsConfigError> {
    let parsed = url::Url::parse(url).map_err(|_| SmsConfigError::BadUrl(flag, url.into()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(SmsConfigError::BadUrl(flag, url.into()));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn client() -> Result<reqwest::Client, SmsConfigError> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        // A provider never needs to send us elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| SmsConfigError::Client(e.to_string()))
}

impl SmsSender {
    pub fn off() -> Self {
        SmsSender {
            transport: Arc::new(Transport::Off),
        }
    }

    pub fn new(config: SmsConfig) -> Result<Self, SmsConfigError> {
        let transport = match config {
            SmsConfig::Off => Transport::Off,
            SmsConfig::Outbox(dir) => {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| SmsConfigError::Outbox(dir.display().to_string(), e))?;
                Transport::Outbox(dir)
            }
            SmsConfig::Twilio {
                api_url,
                account_sid,
                auth_token,
                from,
            } => {
                if account_sid.is_empty() || auth_token.is_empty() {
                    return Err(SmsConfigError::TwilioCredentials);
                }
                if from.is_empty() {
                    return Err(SmsConfigError::NoFrom);
                }
                let base = http_url("--twilio-api-url", &api_url)?;
                Transport::Twilio {
                    client: client()?,
                    endpoint: format!("{base}/2010-04-01/Accounts/{account_sid}/Messages.json"),
                    account_sid,
                    auth_token,
                    from,
                }
            }
            SmsConfig::Webhook { url } => {
                if url.is_empty() {
                    return Err(SmsConfigError::NoWebhook);
                }
                Transport::Webhook {
                    client: client()?,
                    url: http_url("--sms-webhook-url", &url)?,
                }
            }
        };
        Ok(SmsSender {
            transport: Arc::new(transport),
        })
    }

    /// Whether texts can be sent at all.
    pub fn is_on(&self) -> bool {
        !matches!(*self.transport, Transport::Off)
    }

    /// Sends `body` to `to` (E.164) and says whether it went out.
    pub async fn send(&self, to: &str, body: &str) -> Result<(), SmsError> {
        let transport = self.transport.clone();
        let masked = crate::backend::factors::phones::mask(to);
        let (to, body) = (to.to_string(), body.to_string());
        // Its own task: the send finishes (or gives up) even if the request
        // that asked for it is dropped.
        let task = tokio::spawn(async move {
            let mut last = SmsError::Off;
            for attempt in 0..ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt))).await;
                }
                match deliver(&transport, &to, &body).await {
                    Ok(()) => return Ok(()),
                    // A refusal (bad number, bad credentials) will not change.
                    Err(e) if !retryable(&e) => return Err(e),
                    Err(e) => last = e,
                }
            }
            Err(last)
        });
        let outcome = task
            .await
            .unwrap_or_else(|e| Err(SmsError::Unreachable(format!("send task: {e}"))));
        if let Err(e) = &outcome {
            tracing::warn!(to = %masked, "a text was not sent: {e}");
        }
        outcome
    }
}

/// Worth another try: the provider was unreachable, busy or failing.
fn retryable(e: &SmsError) -> bool {
    match e {
        SmsError::Unreachable(_) => true,
        SmsError::Refused(status) => *status >= 500 || *status == 429,
        SmsError::Off | SmsError::Outbox(_) => false,
    }
}

async fn deliver(transport: &Transport, to: &str, body: &str) -> Result<(), SmsError> {
    match transport {
        Transport::Off => Err(SmsError::Off),
        Transport::Outbox(dir) => write_outbox(dir, to, body).await,
        Transport::Twilio {
            client,
            endpoint,
            account_sid,
            auth_token,
            from,
        } => {
            let answer = client
                .post(endpoint)
                .basic_auth(account_sid, Some(auth_token))
                .form(&[("To", to), ("From", from.as_str()), ("Body", body)])
                .send()
                .await
                .map_err(unreachable)?;
            status_of(answer)
        }
        Transport::Webhook { client, url } => {
            let answer = client
                .post(url)
                .json(&serde_json::json!({ "to": to, "body": body }))
                .send()
                .await
                .map_err(unreachable)?;
            status_of(answer)
        }
    }
}

fn unreachable(e: reqwest::Error) -> SmsError {
    // Without the URL: a webhook's may carry a secret.
    SmsError::Unreachable(e.without_url().to_string())
}

fn status_of(answer: reqwest::Response) -> Result<(), SmsError> {
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(SmsError::Refused(status.as_u16()))
    }
}

/// One file per message, a random name (`<hex>.txt`; the newest is the one
/// written last): a `To:` line, a blank line, the text.
async fn write_outbox(dir: &Path, to: &str, body: &str) -> Result<(), SmsError> {
    use rand::Rng;
    let name = format!("{:032x}.txt", rand::rngs::OsRng.r#gen::<u128>());
    tokio::fs::write(dir.join(name), format!("To: {to}\n\n{body}\n"))
        .await
        .map_err(|e| SmsError::Outbox(e.to_string()))
}
