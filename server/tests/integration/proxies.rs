//! Twofold behind real reverse proxies, as a self-hoster runs it: Debian's
//! nginx (`auth_request`) and Caddy (`forward_auth`) in front of a small app
//! that echoes the `Remote-User` it is given. Signed out, the app sends the
//! browser to Twofold; after the password and a TOTP code the same request
//! reaches the app with the right user; a path a rule denies is 403. The
//! proxies run as this test process on free ports with configs in a temp
//! dir (no service, no root), and are killed when the test ends.
//!
//! The configs here are the snippets docs/OPERATIONS.md shows.

use crate::common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use app::backend::factors::totp::TotpSecret;
use app::backend::infra::clock::FixedClock;
use common::twofactor::{T0, clock_now, secret_of};
use common::{PASSWORD, TestServer};
use reqwest::StatusCode;
use serde_json::json;
use twofold_server::RouterOptions;
use twofold_server::client_ip::TrustedProxies;

const APP: &str = "app.twofold.localhost";
const LOGIN: &str = "login.twofold.localhost";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A process killed when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The app behind the proxy: answers who the proxy says is asking.
async fn echo_app() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().fallback(|headers: http::HeaderMap| async move {
        let user = headers
            .get("remote-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nobody")
            .to_string();
        format!("hello {user}")
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

/// Twofold with the rules, the cookie domain and the proxy's address, its
/// public URL at the proxy.
async fn twofold(clock: &FixedClock, proxy_port: u16) -> TestServer {
    let dir = tempfile::tempdir().expect("dir");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            "[[rules]]\ndomain = \"{APP}\"\npath = \"/admin\"\npolicy = \"deny\"\n\n\
             [[rules]]\ndomain = \"{APP}\"\npolicy = \"two_factor\"\n"
        ),
    )
    .expect("rules");
    let security = twofold_server::config::SecurityArgs {
        access_rules: Some(rules),
        public_url: Some(format!("http://{LOGIN}:{proxy_port}")),
        cookie_domain: Some("twofold.localhost".into()),
        ..common::security()
    };
    let options = RouterOptions {
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1".to_string()]).expect("proxies"),
        ..RouterOptions::default()
    };
    TestServer::start_custom(Arc::new(clock.clone()), Some(dir), security, options).await
}

fn nginx_conf(dir: &Path, port: u16, twofold: &str, app: u16) -> String {
    let d = dir.display();
    format!(
        r#"worker_processes 1;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    # The protected app.
    server {{
        listen 127.0.0.1:{port};
        server_name {APP};

        location = /internal/twofold {{
            internal;
            proxy_pass {twofold}/api/authz/auth-request;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
        }}

        location / {{
            auth_request /internal/twofold;
            auth_request_set $user $upstream_http_remote_user;
            auth_request_set $groups $upstream_http_remote_groups;
            auth_request_set $email $upstream_http_remote_email;
            auth_request_set $signin $upstream_http_location;
            error_page 401 =302 $signin;
            proxy_set_header Remote-User $user;
            proxy_set_header Remote-Groups $groups;
            proxy_set_header Remote-Email $email;
            proxy_pass http://127.0.0.1:{app};
        }}
    }}

    # Twofold itself.
    server {{
        listen 127.0.0.1:{port};
        server_name {LOGIN};
        location / {{
            proxy_pass {twofold};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"#
    )
}

fn caddyfile(port: u16, twofold: &str, app: u16) -> String {
    let twofold = twofold.trim_start_matches("http://");
    format!(
        r#"{{
    admin off
    auto_https off
    storage file_system {{
        root {{$CADDY_DATA}}
    }}
}}

http://{APP}:{port} {{
    forward_auth {twofold} {{
        uri /api/authz/forward-auth
        copy_headers Remote-User Remote-Groups Remote-Email Remote-Name
    }}
    reverse_proxy 127.0.0.1:{app}
}}

http://{LOGIN}:{port} {{
    reverse_proxy {twofold}
}}
"#
    )
}

fn nginx_bin() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

async fn wait_for(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

/// A browser-like client that finds both names on the proxy's port.
fn browser(port: u16) -> reqwest::Client {
    let at = SocketAddr::from(([127, 0, 0, 1], port));
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(APP, at)
        .resolve(LOGIN, at)
        .build()
        .expect("client")
}

/// An account with TOTP on, made through the proxy (the session cookie
/// belongs to the cookie domain, so only names under it get it back).
async fn enrol_via(port: u16, clock: &FixedClock, email: &str) -> TotpSecret {
    let b = browser(port);
    let url = |path: &str| format!("http://{LOGIN}:{port}{path}");
    let r = b
        .post(url("/api/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = b
        .post(url("/api/mfa/totp/start"))
        .json(&json!({}))
        .send()
        .await
        .expect("start");
    let secret = secret_of(&r.json().await.expect("setup"));
    let r = b
        .post(url("/api/mfa/totp/confirm"))
        .json(&json!({"code": secret.code_at(clock_now(clock))}))
        .send()
        .await
        .expect("confirm");
    assert_eq!(r.status(), StatusCode::OK);
    secret
}

/// The whole journey through a proxy at `port`.
async fn journey(clock: &FixedClock, port: u16, email: &str) {
    let secret = enrol_via(port, clock, email).await;
    let b = browser(port);
    let app_url = format!("http://{APP}:{port}/dash?tab=1");

    // Signed out: sent to Twofold, with the way back.
    let r = b.get(&app_url).send().await.expect("app");
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let rd = app::api::client::encode_query(&app_url);
    assert_eq!(location, format!("http://{LOGIN}:{port}/login?rd={rd}"));

    // Password and code at Twofold, through the proxy.
    let login = |path: &str| format!("http://{LOGIN}:{port}{path}");
    let r = b
        .post(login("/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    clock.advance(30);
    let r = b
        .post(login("/api/auth/second-factor"))
        .json(&json!({"method": "Totp", "code": secret.code_at(clock_now(clock))}))
        .send()
        .await
        .expect("second factor");
    assert_eq!(r.status(), StatusCode::OK);
    // Back to the app, as the page does after signing in.
    let r = b
        .get(login(&format!("/api/auth/continue?rd={rd}")))
        .send()
        .await
        .expect("continue");
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(app_url.as_str())
    );
    let r = b.get(&app_url).send().await.expect("app");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), format!("hello {email}"));

    // A path the rules deny.
    let r = b
        .get(format!("http://{APP}:{port}/admin"))
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Signing out signs out of the app at once.
    let r = b
        .post(login("/api/auth/logout"))
        .send()
        .await
        .expect("logout");
    assert!(r.status().is_success());
    let r = b.get(&app_url).send().await.expect("app");
    assert_eq!(r.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn through_nginx_auth_request() {
    let clock = FixedClock::new(T0);
    let port = free_port();
    let s = twofold(&clock, port).await;
    let app = echo_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path(), port, &s.base, app)).expect("conf");
    let pid = dir.path().join("nginx.pid");
    let child = Command::new(nginx_bin())
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .arg("-g")
        .arg(format!("daemon off; pid {};", pid.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx runs (scripts/setup.sh installs it)");
    let _nginx = Running(child);
    wait_for(port).await;
    journey(&clock, port, "nginx@example.com").await;
}

#[tokio::test]
async fn through_caddy_forward_auth() {
    let clock = FixedClock::new(T0);
    let port = free_port();
    let s = twofold(&clock, port).await;
    let app = echo_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("Caddyfile");
    std::fs::write(&file, caddyfile(port, &s.base, app)).expect("Caddyfile");
    let child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("CADDY_DATA", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("caddy runs (scripts/setup.sh installs it)");
    let _caddy = Running(child);
    wait_for(port).await;
    journey(&clock, port, "caddy@example.com").await;
}
