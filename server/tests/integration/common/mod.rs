//! Starts the real router on a temp SQLite file and speaks HTTP to it.
#![allow(dead_code)]

pub mod smtp_sink;
pub mod twofactor;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use app::backend::infra::clock::{Clock, FixedClock, SystemClock};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use twofold_server::RouterOptions;
use twofold_server::config::{SecurityArgs, SignupArg};

pub const PASSWORD: &str = "tuba lantern orbit 42";

pub struct TestServer {
    pub base: String,
    pub dir: TempDir,
    task: AbortOnDrop,
}

/// Stops the server task when the `TestServer` goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Arc::new(SystemClock), None).await
    }

    pub async fn start_with_clock(clock: FixedClock) -> Self {
        Self::start_with(Arc::new(clock), None).await
    }

    /// Starts on an existing data dir (for restart tests).
    pub async fn start_with(clock: Arc<dyn Clock>, dir: Option<TempDir>) -> Self {
        Self::start_full(clock, dir, security()).await
    }

    pub async fn start_full(
        clock: Arc<dyn Clock>,
        dir: Option<TempDir>,
        security: SecurityArgs,
    ) -> Self {
        Self::start_custom(clock, dir, security, RouterOptions::default()).await
    }

    pub async fn start_custom(
        clock: Arc<dyn Clock>,
        dir: Option<TempDir>,
        security: SecurityArgs,
        options: RouterOptions,
    ) -> Self {
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().expect("temp dir"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let state = twofold_server::startup::build_state(dir.path(), addr, clock, &security)
            .await
            .expect("state");
        let app = twofold_server::router_with(state, &options);
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("serve");
        });
        TestServer {
            base: format!("http://{addr}"),
            dir,
            task: AbortOnDrop(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("twofold.db")
    }

    /// A browser-like client: keeps cookies, does not follow redirects.
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    pub async fn post(&self, c: &Client, path: &str, body: Value) -> Response {
        c.post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, c: &Client, path: &str) -> Response {
        c.get(self.url(path)).send().await.expect("request")
    }

    /// Signs up (the server must run with `--signup open`, as `security()`
    /// sets) and marks the address confirmed, as following the mailed link
    /// would: most tests need an ordinary confirmed account. The link itself
    /// is tested in signup.rs.
    pub async fn register(&self, c: &Client, email: &str) -> Response {
        let r = self
            .post(
                c,
                "/api/auth/register",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        if r.status() == StatusCode::CREATED {
            self.mark_confirmed(email).await;
        }
        r
    }

    pub async fn mark_confirmed(&self, email: &str) {
        sqlx::query("UPDATE users SET email_confirmed_at = created_at WHERE email = ?")
            .bind(email.trim().to_lowercase())
            .execute(&self.db().await)
            .await
            .expect("confirm the address");
    }

    pub async fn login(&self, c: &Client, email: &str, password: &str) -> Response {
        self.post(
            c,
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn assert_healthy(&self) {
        let r = self.get(&self.client(), "/healthz").await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// Registers `email` and makes it an admin in the database, as
    /// `twofold admin create` would (that command is tested in binary.rs).
    /// Returns a signed-in client.
    pub async fn admin(&self, email: &str) -> Client {
        let c = self.client();
        assert_eq!(self.register(&c, email).await.status(), StatusCode::CREATED);
        sqlx::query("UPDATE users SET role = 'Admin' WHERE email = ?")
            .bind(email)
            .execute(&self.db().await)
            .await
            .expect("promote");
        c
    }

    pub async fn db(&self) -> sqlx::AnyPool {
        app::backend::infra::db::open(&self.db_path())
            .await
            .expect("open db")
    }
}

/// The tests' configuration: the defaults, but instant sign-up (`open`), so
/// a test can make accounts in one request. Tests of sign-up modes set their own.
pub fn security() -> SecurityArgs {
    SecurityArgs {
        signup: SignupArg::Open,
        ..SecurityArgs::default()
    }
}

pub async fn json_of(r: Response) -> Value {
    r.json().await.expect("json body")
}

pub fn set_cookie(r: &Response) -> Option<String> {
    r.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// Every message in the data dir's outbox so far.
pub fn outbox(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("outbox")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect()
}

/// Waits (up to 10 s: mail goes out in the background) until `n` messages
/// with `subject` are in the outbox.
pub async fn wait_for_outbox(dir: &std::path::Path, subject: &str, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let found: Vec<String> = outbox(dir)
            .into_iter()
            .filter(|m| m.contains(subject))
            .collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("expected {n} mails with subject {subject:?} in the outbox");
}

/// The token of the `page?token=...` link in a mail.
pub fn link_token(mail: &str, page: &str) -> String {
    // The text is quoted-printable: undo soft line breaks and the `=` escape.
    let mail = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let marker = format!("{page}?token=");
    let start = mail.find(&marker).expect("a link in the mail") + marker.len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Sends `n` requests at once (the `i`-th built by `request(i)`) and returns
/// their statuses: a burst, as an attacker sends it.
pub async fn burst(
    n: usize,
    request: impl Fn(usize) -> reqwest::RequestBuilder,
) -> Vec<reqwest::StatusCode> {
    let sent: Vec<_> = (0..n).map(|i| tokio::spawn(request(i).send())).collect();
    let mut statuses = Vec::with_capacity(n);
    for task in sent {
        statuses.push(task.await.expect("task").expect("response").status());
    }
    statuses
}

pub fn tally(statuses: &[reqwest::StatusCode], status: reqwest::StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// The `Location` header of a redirect ("" when there is none).
pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The query parameters of an absolute URL.
pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// Where a form post sends the browser: a redirect's `Location` within
/// Twofold, or, to another site, the page's `Refresh` target (a redirect
/// there after a form post would be stopped by the CSP's form-action).
pub fn leads_to(r: &Response) -> String {
    if r.status() == StatusCode::OK
        && let Some(to) = r
            .headers()
            .get("refresh")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("0;url="))
    {
        return to.to_string();
    }
    location(r)
}
