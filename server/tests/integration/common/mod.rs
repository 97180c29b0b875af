//! Starts the real router on a temp SQLite file (or, when
//! `TWOFOLD_TEST_POSTGRES_URL` names a PostgreSQL server, on a fresh
//! database there) and speaks HTTP to it.
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
use twofold_server::config::{DataArgs, SecurityArgs, SignupArg};

pub const PASSWORD: &str = "tuba lantern orbit 42";

pub struct TestServer {
    pub base: String,
    pub dir: TempDir,
    /// The data directory and the database the server runs on.
    pub data: DataArgs,
    task: AbortOnDrop,
}

/// Stops the server (a task in this process, or a `twofold` process) when
/// the `TestServer` goes away.
enum AbortOnDrop {
    Task(tokio::task::JoinHandle<()>),
    Process(std::process::Child),
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        match self {
            AbortOnDrop::Task(task) => task.abort(),
            AbortOnDrop::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
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

    /// On a SQLite file whatever the suite runs on: for what only SQLite has
    /// (the backup command's file copy).
    pub async fn start_on_sqlite() -> Self {
        Self::start_on_sqlite_with(Arc::new(SystemClock)).await
    }

    pub async fn start_on_sqlite_with(clock: Arc<dyn Clock>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = DataArgs::dir(dir.path());
        let pool = app::backend::infra::db::open(&data.target().expect("target"))
            .await
            .expect("create the SQLite file");
        pool.close().await;
        Self::start_with(clock, Some(dir)).await
    }

    /// Stops the server and hands back its data directory.
    pub fn stop(self) -> TempDir {
        drop(self.task);
        self.dir
    }

    pub async fn start_custom(
        clock: Arc<dyn Clock>,
        dir: Option<TempDir>,
        security: SecurityArgs,
        options: RouterOptions,
    ) -> Self {
        // `TWOFOLD_TEST_LOG=1`: the servers' logs on stderr (with
        // --nocapture), e.g. to see what an unexpected 500 was.
        static LOGS: std::sync::Once = std::sync::Once::new();
        if std::env::var_os("TWOFOLD_TEST_LOG").is_some() {
            LOGS.call_once(|| {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter("warn")
                    .with_writer(std::io::stderr)
                    .try_init();
            });
        }
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().expect("temp dir"));
        let data = data_args(dir.path()).await;
        Self::start_on(clock, dir, data, security, options).await
    }

    /// On the database `data` names, with `dir` as the data directory.
    pub async fn start_on(
        clock: Arc<dyn Clock>,
        dir: TempDir,
        data: DataArgs,
        security: SecurityArgs,
        options: RouterOptions,
    ) -> Self {
        let mut security = security;
        if data.database_url.is_some()
            && security.secret_key_file.is_none()
            && security.secret_key_hex.is_none()
        {
            security.secret_key_hex = Some(shared_key(dir.path()));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let state = twofold_server::startup::build_state(&data, addr, clock, &security)
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
            data,
            task: AbortOnDrop::Task(task),
        }
    }

    /// A `twofold serve` process of its own (the debug binary) on `data`'s
    /// database with the shared key `key_hex`, sign-up open; returns once it
    /// answers /healthz. `extra` are more flags.
    pub async fn spawn_process(data: DataArgs, key_hex: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_twofold"));
        command
            .args([
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--signup",
                "open",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra)
            .env_remove("TWOFOLD_DATA_DIR")
            .env_remove("TWOFOLD_SMTP_URL")
            .env_remove("TWOFOLD_SECRET_KEY_FILE")
            .env("TWOFOLD_SECRET_KEY", key_hex)
            .stdout(std::process::Stdio::null())
            .stderr(log);
        match &data.database_url {
            Some(url) => command.env("TWOFOLD_DATABASE_URL", url),
            None => command.env_remove("TWOFOLD_DATABASE_URL"),
        };
        let child = command.spawn().expect("start twofold");
        let server = TestServer {
            base: format!("http://127.0.0.1:{port}"),
            dir,
            data,
            task: AbortOnDrop::Process(child),
        };
        for _ in 0..200 {
            if let Ok(r) = server.client().get(server.url("/healthz")).send().await
                && r.status() == StatusCode::OK
            {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default();
        panic!("twofold did not start:\n{log}");
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
        sqlx::query("UPDATE users SET email_confirmed_at = created_at WHERE email = $1")
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
        sqlx::query("UPDATE users SET role = 'Admin' WHERE email = $1")
            .bind(email)
            .execute(&self.db().await)
            .await
            .expect("promote");
        c
    }

    pub async fn db(&self) -> sqlx::AnyPool {
        let target = self.data.target().expect("database target");
        app::backend::infra::db::open(&target)
            .await
            .expect("open db")
    }

    /// The key the server seals and hashes with.
    pub fn secret_key(&self) -> app::backend::infra::crypto::SecretKey {
        use app::backend::infra::crypto::SecretKey;
        if self.on_postgres() {
            SecretKey::from_hex(&shared_key(self.dir.path())).expect("shared key")
        } else {
            SecretKey::load_or_create(None, self.dir.path()).expect("key file")
        }
    }

    /// A second `AppState` on this server's data (for calling the backend
    /// directly), with `security` and the server's key.
    pub async fn state(
        &self,
        clock: Arc<dyn Clock>,
        security: &SecurityArgs,
    ) -> app::backend::AppState {
        let mut security = security.clone();
        if self.on_postgres() && security.secret_key_file.is_none() {
            security.secret_key_hex = Some(shared_key(self.dir.path()));
        }
        twofold_server::startup::build_state(
            &self.data,
            "127.0.0.1:0".parse().expect("addr"),
            clock,
            &security,
        )
        .await
        .expect("state")
    }

    pub fn on_postgres(&self) -> bool {
        self.data.database_url.is_some()
    }
}

/// The PostgreSQL server the suite runs on, if any: `postgres://USER@HOST:PORT`
/// of a throwaway cluster (scripts/test.sh starts one).
pub fn postgres_server() -> Option<String> {
    std::env::var("TWOFOLD_TEST_POSTGRES_URL")
        .ok()
        .map(|u| u.trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
}

/// The data directory's database: its SQLite file, or on PostgreSQL a
/// database of its own, made on first use and named in the directory so a
/// restart on the same directory finds the same data.
pub async fn data_args(dir: &std::path::Path) -> DataArgs {
    // A directory that already has a SQLite file (an upgrade test's old
    // schema, a SQLite-only test) stays on it.
    let Some(server) = postgres_server().filter(|_| !dir.join("twofold.db").exists()) else {
        return DataArgs::dir(dir);
    };
    let note = dir.join("postgres-database");
    let name = match std::fs::read_to_string(&note) {
        Ok(name) => name,
        Err(_) => {
            let name = format!("t_{:016x}", rand::random::<u64>());
            create_database(&server, &name).await;
            std::fs::write(&note, &name).expect("note the database");
            name
        }
    };
    DataArgs {
        data_dir: dir.to_path_buf(),
        database_url: Some(format!("{server}/{name}")),
    }
}

/// A new empty database on the test PostgreSQL server; its URL.
pub async fn fresh_database(server: &str) -> String {
    let name = format!("t_{:016x}", rand::random::<u64>());
    create_database(server, &name).await;
    format!("{server}/{name}")
}

/// The statuses the spawned requests answered, in order.
pub async fn statuses(tasks: Vec<tokio::task::JoinHandle<StatusCode>>) -> Vec<StatusCode> {
    let mut statuses = Vec::with_capacity(tasks.len());
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    statuses
}

pub async fn create_database(server: &str, name: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let _ = admin.close().await;
}

/// The key instances on one PostgreSQL database share, kept in the data
/// directory so a restart uses it again.
pub fn shared_key(dir: &std::path::Path) -> String {
    let file = dir.join("shared-key.hex");
    if let Ok(hex) = std::fs::read_to_string(&file) {
        return hex;
    }
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&file, &hex).expect("write the shared key");
    hex
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
