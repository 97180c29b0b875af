//! The operator commands of the `twofold` binary, run as a process on the
//! data directory a live server uses: `admin create`, `user reset-mfa`,
//! `user unlock`, `backup`; and JSON logs that never carry secrets.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::twofactor::{T0, enrol};
use common::{PASSWORD, TestServer, json_of};
use reqwest::StatusCode;

/// Runs `twofold ARGS --data-dir DIR` with `stdin` piped in.
/// Runs the binary on the data directory, and on the PostgreSQL database a
/// test server made for it, if any (see `common::data_args`).
fn twofold(dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twofold"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("TWOFOLD_DATA_DIR")
        .env_remove("TWOFOLD_SMTP_URL")
        .env_remove("TWOFOLD_DATABASE_URL")
        .env_remove("TWOFOLD_SECRET_KEY");
    if let (Some(server), Ok(name)) = (
        common::postgres_server(),
        std::fs::read_to_string(dir.join("postgres-database")),
    ) {
        command
            .env("TWOFOLD_DATABASE_URL", format!("{server}/{name}"))
            .env("TWOFOLD_SECRET_KEY", common::shared_key(dir));
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run twofold");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn admin_create_makes_an_admin_and_nothing_else_does() {
    let dir = tempfile::tempdir().expect("temp");
    let (code, _, err) = twofold(
        dir.path(),
        &["admin", "create", "--email", "boss@example.com"],
        "short\n",
    );
    assert_eq!(code, 2, "a weak password is refused");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, out, err) = twofold(
        dir.path(),
        &["admin", "create", "--email", "Boss@Example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created admin"), "{out}");

    let s =
        TestServer::start_with(Arc::new(app::backend::infra::clock::SystemClock), Some(dir)).await;
    let c = s.client();
    assert_eq!(
        s.login(&c, "boss@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(json_of(s.get(&c, "/api/me").await).await["role"], "Admin");
    assert_eq!(s.get(&c, "/api/admin/stats").await.status(), StatusCode::OK);

    // An existing account (whoever signed up with the address first) is
    // refused without --promote-existing...
    let u = s.client();
    s.register(&u, "ann@example.com").await;
    assert_eq!(
        s.get(&u, "/api/admin/stats").await.status(),
        StatusCode::FORBIDDEN
    );
    let (code, _, err) = twofold(
        s.dir.path(),
        &["admin", "create", "--email", "ann@example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("--promote-existing"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(
        s.get(&u, "/api/admin/stats").await.status(),
        StatusCode::FORBIDDEN
    );
    // ...and with it, promoted, its password kept, none read.
    let (code, out, _) = twofold(
        s.dir.path(),
        &[
            "admin",
            "create",
            "--email",
            "ann@example.com",
            "--promote-existing",
        ],
        "",
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("promoted the existing account ann@example.com"),
        "{out}"
    );
    assert_eq!(s.get(&u, "/api/admin/stats").await.status(), StatusCode::OK);
    let (_, out, _) = twofold(
        s.dir.path(),
        &["admin", "create", "--email", "ann@example.com"],
        "",
    );
    assert!(out.contains("already an admin"), "{out}");
}

fn outbox_subjects(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("outbox"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|m| {
                    m.lines()
                        .find_map(|l| l.strip_prefix("Subject: ").map(String::from))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn reset_mfa_and_unlock_from_the_command_line() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "lost@example.com").await;

    let (code, _, err) = twofold(
        s.dir.path(),
        &["user", "reset-mfa", "--email", "nobody@example.com"],
        "",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no account with the email nobody@example.com"),
        "{err}"
    );

    let (code, out, err) = twofold(
        s.dir.path(),
        &["user", "reset-mfa", "--email", &e.email],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reset to Disabled"), "{out}");
    let c = s.client();
    let r = s.login(&c, &e.email, PASSWORD).await;
    assert_eq!(
        json_of(r).await,
        serde_json::json!("SignedIn"),
        "no second factor any more"
    );
    let events = json_of(s.get(&c, "/api/security/events?limit=100").await).await;
    let reset = events["events"]
        .as_array()
        .and_then(|v| v.iter().find(|e| e["kind"] == "MfaReset").cloned())
        .expect("MfaReset event");
    assert!(
        reset["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("operator")
    );
    assert!(
        outbox_subjects(s.dir.path())
            .iter()
            .any(|s| s.contains("reset by an administrator")),
        "{:?}",
        outbox_subjects(s.dir.path())
    );

    for _ in 0..5 {
        s.login(&s.client(), &e.email, "wrong password 1").await;
    }
    assert_eq!(
        s.login(&s.client(), &e.email, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let (code, _, err) = twofold(s.dir.path(), &["user", "unlock", "--email", &e.email], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        s.login(&s.client(), &e.email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn backup_command_writes_a_database_that_opens() {
    let s = TestServer::start_on_sqlite().await;
    s.register(&s.client(), "a@example.com").await;
    let out = tempfile::tempdir().expect("temp");
    let to = out.path().join("copy.db");
    let to_str = to.to_string_lossy().to_string();
    let (code, stdout, err) = twofold(s.dir.path(), &["backup", "--to", &to_str], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("secret.key"),
        "reminds of the key file: {stdout}"
    );
    let pool = app::backend::infra::db::open(&app::backend::infra::db::Target::Sqlite(to.clone()))
        .await
        .expect("open");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(n, 1);
    let (code, _, err) = twofold(s.dir.path(), &["backup", "--to", &to_str], "");
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    let empty = tempfile::tempdir().expect("temp");
    let (code, _, err) = twofold(empty.path(), &["backup", "--to", &to_str], "");
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
}

#[tokio::test]
async fn json_logs_are_json_and_hold_no_secrets() {
    let dir = tempfile::tempdir().expect("temp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let child = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .args([
            "serve",
            "--log-format",
            "json",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--signup",
            "open",
        ])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let mut up = false;
    for _ in 0..100 {
        if c.get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "server did not start");
    let secret_password = "zebra-canyon-secret-991";
    let r = c
        .post(format!("{base}/api/auth/register"))
        .json(&serde_json::json!({"email": "log@example.com", "password": secret_password}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"email": "log@example.com", "password": "wrong-secret-xyz-123"}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // /metrics lives on its own address, not on the main one.
    let m = c
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(m.status(), StatusCode::OK);
    assert!(
        m.text()
            .await
            .unwrap_or_default()
            .contains("twofold_sign_ins_total{outcome=\"wrong_password\"} 1")
    );
    assert_ne!(
        c.get(format!("{base}/metrics"))
            .send()
            .await
            .map(|r| r.status())
            .ok(),
        Some(StatusCode::OK)
    );

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.lines().count() >= 2, "{log}");
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{line}"
        );
    }
    assert!(
        log.contains("/api/auth/login"),
        "request lines are logged at debug: {log}"
    );
    for secret in [secret_password, "wrong-secret-xyz-123", "twofold_session="] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}

#[tokio::test]
async fn user_add_mails_a_link_that_sets_the_password() {
    // The command reads the wall clock, so the server does too.
    let s = TestServer::start().await;
    let (code, out, err) = twofold(
        s.dir.path(),
        &["user", "add", "--email", "Zoe@Example.com"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added zoe@example.com"), "{out}");
    let token = common::link_token(&out, "/set-password");
    let mail = common::wait_for_outbox(s.dir.path(), "You are invited to Twofold", 1).await;
    assert_eq!(common::link_token(&mail[0], "/set-password"), token);
    let c = s.client();
    let r = s
        .post(
            &c,
            "/api/auth/set-password",
            serde_json::json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        json_of(s.get(&c, "/api/me").await).await["email"],
        "zoe@example.com"
    );
    // A second add of the same address changes nothing.
    let (code, _, err) = twofold(
        s.dir.path(),
        &["user", "add", "--email", "zoe@example.com"],
        "",
    );
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test]
async fn access_check_says_which_rule_decides() {
    let s = TestServer::start().await;
    s.admin("root@example.com").await;
    let rules = s.dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "default_policy = \"deny\"\n\n[[rules]]\ndomain = \"*.example.com\"\npath = \"/admin\"\nroles = [\"Admin\"]\npolicy = \"two_factor\"\n\n[[rules]]\ndomain = \"*.example.com\"\npolicy = \"one_factor\"\n",
    )
    .expect("rules");
    let file = rules.to_string_lossy().to_string();
    let check = |args: &[&str]| {
        let mut all = vec!["access", "check", "--access-rules", file.as_str()];
        all.extend_from_slice(args);
        twofold(s.dir.path(), &all, "")
    };
    let (code, out, err) = check(&[
        "--url",
        "https://app.example.com/admin/x",
        "--email",
        "root@example.com",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("line 3") && out.contains("two_factor"),
        "{out}"
    );
    assert!(out.contains("root@example.com (Admin)"), "{out}");
    let (_, out, _) = check(&["--url", "https://app.example.com/admin/x"]);
    assert!(
        out.contains("line 3") && out.contains("not signed in"),
        "{out}"
    );
    let (_, out, _) = check(&["--url", "https://other.test/"]);
    assert!(
        out.contains("default_policy") && out.contains("deny"),
        "{out}"
    );
    // Mistakes are one line and exit 2.
    let (code, _, err) = check(&["--url", "not a url"]);
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    let (code, _, err) = check(&[
        "--url",
        "https://a.example.com/",
        "--email",
        "nobody@example.com",
    ]);
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    std::fs::write(
        &rules,
        "[[rules]]\ndomain = \"a.test\"\npolicy = \"sometimes\"\n",
    )
    .expect("rules");
    let (code, _, err) = check(&["--url", "https://a.test/"]);
    assert_eq!(code, 2);
    assert!(err.contains("line 3") && err.lines().count() == 1, "{err}");
}

#[tokio::test]
async fn postgres_without_a_shared_key_is_a_one_line_error() {
    // Refused before any connection: no server needed at that address.
    let dir = tempfile::tempdir().expect("temp");
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--database-url",
            "postgres://twofold:hunter2@127.0.0.1:1/twofold",
        ])
        .env_remove("TWOFOLD_SECRET_KEY")
        .env_remove("TWOFOLD_SECRET_KEY_FILE")
        .output()
        .expect("run twofold");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--secret-key-file"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        !dir.path().join("secret.key").exists(),
        "no key made per instance"
    );
    // A key that is not 64 hex characters is named as such.
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--database-url", "postgres://twofold@127.0.0.1:1/twofold"])
        .env("TWOFOLD_SECRET_KEY", "not-hex")
        .output()
        .expect("run twofold");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("TWOFOLD_SECRET_KEY must be 64 hex"), "{err}");
}

#[tokio::test]
async fn on_postgres_migrate_works_and_backup_points_to_pg_dump() {
    let s = TestServer::start().await;
    if !s.on_postgres() {
        eprintln!("not on PostgreSQL: skipped");
        return;
    }
    let (code, out, err) = twofold(s.dir.path(), &["migrate"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("migrations applied to postgres://"), "{out}");
    let to = s.dir.path().join("copy.db");
    let (code, _, err) = twofold(s.dir.path(), &["backup", "--to", &to.to_string_lossy()], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pg_dump"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!to.exists());
}
