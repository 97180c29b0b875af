//! A small SMTP server that speaks the real protocol (EHLO, MAIL, RCPT,
//! DATA, QUIT; AUTH; STARTTLS or TLS from the start) and keeps what it
//! receives, for tests that send mail.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

#[derive(Clone, Default)]
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
    /// `AUTH` lines received, decoded: "user\0password" style for PLAIN.
    auths: Arc<Mutex<Vec<String>>>,
    tls: Option<TlsMode>,
    /// PEM of the CA that signed the sink's certificate (TLS modes).
    pub ca_pem: String,
}

/// How the sink offers TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (`smtps://`, port 465 style).
    Implicit,
    /// Plain first, upgraded after `STARTTLS` (port 587 style).
    StartTls,
}

#[derive(Clone)]
struct Shared {
    messages: Arc<Mutex<Vec<String>>>,
    auths: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    /// A plaintext sink.
    pub async fn start() -> SmtpSink {
        Self::start_inner(None).await
    }

    /// A sink that speaks TLS with a certificate for `localhost` from a
    /// fresh test CA (`ca_pem`).
    pub async fn start_tls(mode: TlsMode) -> SmtpSink {
        Self::start_inner(Some(mode)).await
    }

    async fn start_inner(tls: Option<TlsMode>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        let (acceptor, ca_pem) = match tls {
            Some(_) => {
                let (a, pem) = test_tls();
                (Some(a), pem)
            }
            None => (None, String::new()),
        };
        let sink = SmtpSink {
            port,
            messages: Arc::default(),
            auths: Arc::default(),
            tls,
            ca_pem,
        };
        let shared = Shared {
            messages: sink.messages.clone(),
            auths: sink.auths.clone(),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match (tls, acceptor) {
                        (Some(TlsMode::Implicit), Some(a)) => {
                            if let Ok(tls) = a.accept(stream).await {
                                converse(Box::new(tls), shared, None, true, true).await;
                            }
                        }
                        (Some(TlsMode::StartTls), Some(a)) => {
                            converse(Box::new(stream), shared, Some(a), false, true).await
                        }
                        _ => converse(Box::new(stream), shared, None, false, true).await,
                    }
                });
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        match self.tls {
            None => format!("smtp://127.0.0.1:{}", self.port),
            Some(TlsMode::Implicit) => format!("smtps://localhost:{}", self.port),
            Some(TlsMode::StartTls) => format!("smtp://localhost:{}?tls=required", self.port),
        }
    }

    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn auths(&self) -> Vec<String> {
        self.auths.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits (up to 10 s) until `n` messages have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} messages, got {}", self.messages().len());
    }

    /// Waits (up to 10 s) for `n` messages with this subject; returns them.
    pub async fn wait_for_subject(&self, subject: &str, n: usize) -> Vec<String> {
        let wanted = format!("Subject: {subject}");
        for _ in 0..200 {
            let m: Vec<String> = self
                .messages()
                .into_iter()
                .filter(|m| m.contains(&wanted))
                .collect();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} messages '{subject}', got {:#?}",
            self.messages()
        );
    }
}

/// A CA, and a server certificate for `localhost` it signed.
fn test_tls() -> (TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Twofold test CA");
    let ca_key = KeyPair::generate().expect("ca key");
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .expect("server config");
    (TlsAcceptor::from(Arc::new(config)), ca.pem())
}

type Conversation = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Any byte stream, plain or TLS: one type, so a session can upgrade itself.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One SMTP session. With `starttls`, the plain session offers STARTTLS and
/// goes on over TLS after it; `secure` says the stream is TLS already (AUTH
/// is only offered then); `greet` is false after an upgrade, where the
/// client speaks first.
fn converse(
    stream: Box<dyn Io>,
    shared: Shared,
    starttls: Option<TlsAcceptor>,
    secure: bool,
    greet: bool,
) -> Conversation {
    Box::pin(async move {
        let mut conn = BufReader::new(stream);
        if greet {
            let _ = conn.get_mut().write_all(b"220 sink ESMTP\r\n").await;
        }
        let mut data: Option<String> = None;
        let mut line = String::new();
        loop {
            line.clear();
            match conn.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let text = line.trim_end_matches(['\r', '\n']).to_string();
            if let Some(body) = data.as_mut() {
                if text == "." {
                    if let Ok(mut m) = shared.messages.lock() {
                        m.push(std::mem::take(body));
                    }
                    data = None;
                    let _ = conn.get_mut().write_all(b"250 queued\r\n").await;
                } else {
                    body.push_str(text.strip_prefix('.').unwrap_or(&text));
                    body.push('\n');
                }
                continue;
            }
            let mut words = text.split_whitespace();
            let verb = words.next().unwrap_or("").to_ascii_uppercase();
            let reply: Vec<u8> = match verb.as_str() {
                "EHLO" | "HELO" => {
                    let mut r = String::from("250-sink\r\n");
                    if starttls.is_some() {
                        r.push_str("250-STARTTLS\r\n");
                    }
                    if secure {
                        r.push_str("250-AUTH PLAIN\r\n");
                    }
                    r.push_str("250 8BITMIME\r\n");
                    r.into_bytes()
                }
                "STARTTLS" => match starttls.clone() {
                    Some(acceptor) => {
                        let _ = conn.get_mut().write_all(b"220 go ahead\r\n").await;
                        if let Ok(tls) = acceptor.accept(conn.into_inner()).await {
                            converse(Box::new(tls), shared, None, true, false).await;
                        }
                        return;
                    }
                    None => b"502 not here\r\n".to_vec(),
                },
                "AUTH" if secure => {
                    // AUTH PLAIN <base64 of "\0user\0password">
                    let decoded = words
                        .nth(1)
                        .and_then(|b| {
                            use base64::Engine;
                            base64::engine::general_purpose::STANDARD.decode(b).ok()
                        })
                        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                        .unwrap_or_default();
                    if let Ok(mut a) = shared.auths.lock() {
                        a.push(decoded.trim().to_string());
                    }
                    b"235 ok\r\n".to_vec()
                }
                "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n".to_vec(),
                "DATA" => {
                    data = Some(String::new());
                    b"354 go ahead\r\n".to_vec()
                }
                "QUIT" => {
                    let _ = conn.get_mut().write_all(b"221 bye\r\n").await;
                    return;
                }
                _ => b"502 not implemented\r\n".to_vec(),
            };
            let _ = conn.get_mut().write_all(&reply).await;
        }
    })
}

pub const CODE_SUBJECT: &str = "Your Twofold sign-in code";

/// The 6-digit code in a sign-in mail.
pub fn code_in(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.chars().all(|c| c.is_ascii_digit()))
        .expect("a 6-digit code in the mail")
        .to_string()
}
