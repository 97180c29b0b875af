//! Running Twofold as a service: `/metrics`, client addresses behind a
//! trusted proxy, and an online backup while writes go on.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use app::backend::infra::clock::SystemClock;
use common::{PASSWORD, TestServer, json_of};
use reqwest::StatusCode;
use serde_json::json;
use twofold_server::RouterOptions;
use twofold_server::client_ip::TrustedProxies;
use twofold_server::config::{BackupArgs, DataArgs};

async fn with_options(options: RouterOptions) -> TestServer {
    TestServer::start_custom(Arc::new(SystemClock), None, common::security(), options).await
}

/// A strict reader of the Prometheus text format (0.0.4): every line is a
/// comment (`# HELP`/`# TYPE` with a known type) or `name{labels} value`;
/// every sample belongs to a declared family. Returns series -> value.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = value.parse().expect("numeric value");
        let name = series.split('{').next().unwrap_or_default();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split("\",") {
                let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                assert!(!k.is_empty() && !v.contains('\n'), "{line}");
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "sample of undeclared family: {line}"
        );
        samples.insert(series.to_string(), value);
    }
    samples
}

async fn scrape(s: &TestServer) -> BTreeMap<String, f64> {
    let r = s.get(&s.client(), "/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    parse_prometheus(&r.text().await.expect("body"))
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_counters_move() {
    let s = with_options(RouterOptions {
        metrics: true,
        ..Default::default()
    })
    .await;
    let before = scrape(&s).await;
    let signed_in = "twofold_sign_ins_total{outcome=\"signed_in\"}";
    let wrong = "twofold_sign_ins_total{outcome=\"wrong_password\"}";
    assert_eq!(before.get(signed_in), Some(&0.0));

    let c = s.client();
    s.register(&c, "m@example.com").await;
    assert_eq!(
        s.login(&c, "m@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    s.login(&c, "m@example.com", "wrong password 1").await;
    assert_eq!(s.get(&c, "/api/me").await.status(), StatusCode::OK);

    let after = scrape(&s).await;
    assert_eq!(after.get(signed_in), Some(&1.0));
    assert_eq!(after.get(wrong), Some(&1.0));
    let logins =
        "twofold_http_requests_total{route=\"/api/auth/login\",method=\"POST\",status=\"200\"}";
    assert_eq!(after.get(logins), Some(&1.0));
    let count = "twofold_http_request_duration_seconds_count{route=\"/api/me\",method=\"GET\"}";
    assert_eq!(after.get(count), Some(&1.0));
    // Raw paths and made-up methods never become labels: they would add a
    // series each.
    s.get(&c, "/no/such/page/123").await;
    s.get(&c, "/no/such/page/456").await;
    let made_up = reqwest::Method::from_bytes(b"FROBNICATE").expect("method");
    let _ = c.request(made_up, s.url("/healthz")).send().await;
    let after = scrape(&s).await;
    assert!(!after.keys().any(|k| k.contains("/no/such")), "{after:?}");
    assert!(!after.keys().any(|k| k.contains("FROBNICATE")), "{after:?}");
    assert!(
        after.keys().any(|k| k.contains("method=\"OTHER\"")),
        "{after:?}"
    );
}

#[tokio::test]
async fn metrics_are_off_unless_asked_for() {
    let s = TestServer::start().await;
    let r = s.get(&s.client(), "/metrics").await;
    assert_ne!(r.status(), StatusCode::OK);
    assert!(
        !r.text()
            .await
            .unwrap_or_default()
            .contains("twofold_sign_ins_total")
    );
}

async fn session_ip(s: &TestServer, forwarded: &str) -> String {
    let c = s.client();
    let r = c
        .post(s.url("/api/auth/register"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"email": format!("ip{}@example.com", forwarded.len()), "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let sessions = json_of(s.get(&c, "/api/sessions").await).await;
    sessions[0]["ip"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let untrusting = TestServer::start().await;
    assert_eq!(session_ip(&untrusting, "203.0.113.5").await, "127.0.0.1");

    let proxies = TrustedProxies::parse(&["127.0.0.0/8".to_string()]).expect("ranges");
    let behind_proxy = with_options(RouterOptions {
        trusted_proxies: proxies,
        ..Default::default()
    })
    .await;
    assert_eq!(
        session_ip(&behind_proxy, "203.0.113.5").await,
        "203.0.113.5"
    );
    // A client-supplied entry left of the real one does not fool it, nor
    // does a header line of its own, nor a byte that is not text.
    assert_eq!(
        session_ip(&behind_proxy, "6.6.6.6, 198.51.100.7").await,
        "198.51.100.7"
    );
    let c = behind_proxy.client();
    let fake = reqwest::header::HeaderValue::from_bytes(b"6.6.6.6\xff").expect("bytes");
    let r = c
        .post(behind_proxy.url("/api/auth/register"))
        .header("x-forwarded-for", fake)
        .header("x-forwarded-for", "198.51.100.9")
        .json(&json!({"email": "lines@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let sessions = json_of(behind_proxy.get(&c, "/api/sessions").await).await;
    assert_eq!(sessions[0]["ip"], "198.51.100.9");
}

#[tokio::test]
async fn backup_while_writes_go_on_is_consistent() {
    let s = TestServer::start_on_sqlite().await;
    let c = s.client();
    s.register(&c, "first@example.com").await;
    // A steady write load: security events through the API, and direct rows.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let pool = s.db().await;
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) {
                sqlx::query("INSERT INTO security_events (user_id, kind, at, detail) VALUES (NULL, 'LoadTest', $1, 'x')")
                    .bind(i64::from(n))
                    .execute(&pool)
                    .await
                    .expect("insert");
                n += 1;
            }
            n
        })
    };
    let api_writes = {
        let c = c.clone();
        let url = s.url("/api/auth/logout-all");
        tokio::spawn(async move {
            for _ in 0..20 {
                let _ = c
                    .post(&url)
                    .json(&json!({"keep_current": true}))
                    .send()
                    .await;
            }
        })
    };
    let out = tempfile::tempdir().expect("temp");
    let mut backups = Vec::new();
    for i in 0..3 {
        let to = out.path().join(format!("backup-{i}.db"));
        let args = BackupArgs {
            to: to.clone(),
            data: DataArgs::dir(s.dir.path()),
        };
        twofold_server::cli::backup(&args).await.expect("backup");
        backups.push(to);
    }
    let _ = api_writes.await;
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.expect("writer");
    assert!(written > 0);

    for file in &backups {
        let pool =
            app::backend::infra::db::open(&app::backend::infra::db::Target::Sqlite(file.clone()))
                .await
                .expect("open backup");
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .expect("integrity_check");
        assert_eq!(check, "ok");
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&pool)
            .await
            .expect("users");
        assert_eq!(users, 1);
    }
    // A backup never overwrites.
    let args = BackupArgs {
        to: backups[0].clone(),
        data: DataArgs::dir(s.dir.path()),
    };
    let err = twofold_server::cli::backup(&args)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("already exists")));
}
