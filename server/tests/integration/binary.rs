//! The `twofold` binary as an operator runs it: alone in an empty directory,
//! with bad configuration, and stopped by SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The release binary `cargo leptos build --release` made, with the site
/// embedded: the artifact operators run. `make test` builds it first.
fn release_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("release/twofold");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo leptos build --release --precompress` first (make test does)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Copies the binary alone into a new empty directory.
fn lone_binary() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("twofold");
    std::fs::copy(release_binary(), &bin).expect("copy binary");
    (dir, bin)
}

/// Tests copy the binary in parallel: a copy still open for writing in one
/// thread is inherited by a process another thread forks at that moment, and
/// executing the copy then fails with "text file busy" until that process
/// has exec'd. Such a start is simply tried again.
fn retry_busy<T>(mut start: impl FnMut() -> std::io::Result<T>) -> T {
    for _ in 0..100 {
        match start() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.expect("run twofold"),
        }
    }
    panic!("the binary stayed busy");
}

fn run_to_end(cmd: &mut Command) -> (i32, String) {
    let out = retry_busy(|| cmd.output());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_healthy(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http_get::blocking_get(&format!("http://127.0.0.1:{port}/healthz"))
            .is_ok_and(|s| s == 200)
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server did not become healthy");
}

/// A tiny blocking GET so this test needs no async runtime.
mod http_get {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    pub fn blocking_get(url: &str) -> std::io::Result<u16> {
        get(url).map(|(status, _, _)| status)
    }

    /// Status, raw headers, body.
    pub fn get(url: &str) -> std::io::Result<(u16, String, Vec<u8>)> {
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut s = TcpStream::connect(host)?;
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(buf.len());
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((status, head, buf[(split + 4).min(buf.len())..].to_vec()))
    }
}

#[test]
fn runs_alone_from_an_empty_directory_and_stops_on_sigterm() {
    let (dir, bin) = lone_binary();
    let port = free_port();
    let mut cmd = Command::new(&bin);
    cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("TWOFOLD_DATA_DIR")
        .stderr(Stdio::piped());
    let mut child = retry_busy(|| cmd.spawn());
    wait_healthy(port, &mut child);
    assert!(
        dir.path().join("data/twofold.db").exists(),
        "default data dir ./data"
    );

    let (status, _, body) = http_get::get(&format!("http://127.0.0.1:{port}/")).expect("GET /");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("Twofold"));

    // The site is embedded: the wasm and its loader come from the binary.
    let (status, head, _) =
        http_get::get(&format!("http://127.0.0.1:{port}/pkg/twofold.wasm")).expect("wasm");
    assert_eq!(
        status, 200,
        "site not embedded; build it first with `cargo leptos build`"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/wasm"),
        "{head}"
    );
    let (status, _, _) =
        http_get::get(&format!("http://127.0.0.1:{port}/pkg/twofold.js")).expect("js");
    assert_eq!(status, 200);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let mut log = String::new();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            log.push_str(&line);
            log.push('\n');
        }
    }
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn a_taken_port_is_one_line_and_exit_2() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let (dir, bin) = lone_binary();
    let (code, stderr) = run_to_end(
        Command::new(&bin)
            .args([
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
                "d",
            ])
            .current_dir(dir.path()),
    );
    assert_eq!(code, 2, "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("cannot listen on"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn a_bad_address_is_one_line_and_exit_2() {
    let (dir, bin) = lone_binary();
    let (code, stderr) = run_to_end(
        Command::new(&bin)
            .args(["serve", "--addr", "not-an-address"])
            .current_dir(dir.path()),
    );
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not-an-address"));
}

#[test]
fn a_bad_access_rules_file_is_one_line_naming_the_line_and_exit_2() {
    let (dir, bin) = lone_binary();
    std::fs::write(
        dir.path().join("rules.toml"),
        "default_policy = \"deny\"\n\n[[rules]]\ndomain = \"*.example.com\"\npath = \"admin\"\npolicy = \"deny\"\n",
    )
    .expect("write");
    let (code, stderr) = run_to_end(
        Command::new(&bin)
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--access-rules",
                "rules.toml",
            ])
            .current_dir(dir.path()),
    );
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("line 3") && stderr.contains("'admin'"),
        "{stderr}"
    );
}

#[test]
fn a_bad_oidc_clients_file_is_one_line_naming_the_line_and_exit_2() {
    let (dir, bin) = lone_binary();
    std::fs::write(
        dir.path().join("clients.toml"),
        "[[clients]]\nid = \"grafana\"\nsecret = \"hunter2\"\nredirect_uris = [\"https://g.example.com/cb\"]\n",
    )
    .expect("write");
    let (code, stderr) = run_to_end(
        Command::new(&bin)
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--oidc-clients",
                "clients.toml",
            ])
            .current_dir(dir.path()),
    );
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("line 1") && stderr.contains("argon2id hash"),
        "{stderr}"
    );
}

#[test]
fn oidc_new_secret_prints_a_secret_and_a_hash_that_loads() {
    let (dir, bin) = lone_binary();
    let out = Command::new(&bin)
        .args(["oidc", "new-secret"])
        .output()
        .expect("new-secret");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("secret = "))
        .expect("a line for the clients file");
    std::fs::write(
        dir.path().join("clients.toml"),
        format!(
            "[[clients]]\nid = \"app\"\n{line}\nredirect_uris = [\"https://a.example.com/cb\"]\n"
        ),
    )
    .expect("write");
    // The file it makes is accepted: the server starts (then is stopped).
    let mut child = Command::new(&bin)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--oidc-clients",
            "clients.toml",
        ])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(child.try_wait().expect("wait").is_none(), "still running");
    let _ = child.kill();
    let _ = child.wait();
    // And the signing key can be rotated on that data directory.
    let out = Command::new(&bin)
        .args(["oidc", "rotate-key"])
        .current_dir(dir.path())
        .output()
        .expect("rotate-key");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("new ID-token signing key"), "{said}");
}

#[test]
fn an_unwritable_data_dir_is_one_line_and_exit_2() {
    let (dir, bin) = lone_binary();
    // A regular file where the directory should be: no user (not even root)
    // can create a directory there.
    std::fs::write(dir.path().join("blocker"), b"x").expect("write");
    let (code, stderr) = run_to_end(
        Command::new(&bin)
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--data-dir",
                "blocker/data",
            ])
            .current_dir(dir.path()),
    );
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot use data directory"), "{stderr}");
}

#[test]
fn environment_variables_configure_it_too() {
    let (dir, bin) = lone_binary();
    let (code, stderr) = run_to_end(
        Command::new(&bin)
            .arg("migrate")
            .env("TWOFOLD_DATA_DIR", "from-env")
            .current_dir(dir.path()),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(dir.path().join("from-env/twofold.db").exists());
    // Running it again is a no-op, not an error.
    let (code, _) = run_to_end(
        Command::new(&bin)
            .arg("migrate")
            .env("TWOFOLD_DATA_DIR", "from-env")
            .current_dir(dir.path()),
    );
    assert_eq!(code, 0);
}

#[test]
fn help_documents_every_flag() {
    let out = Command::new(release_binary())
        .args(["serve", "--help"])
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--addr",
        "TWOFOLD_ADDR",
        "--data-dir",
        "TWOFOLD_DATA_DIR",
        "127.0.0.1:3000",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    let out = Command::new(release_binary())
        .arg("--help")
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("serve") && text.contains("migrate"));
}

#[test]
fn a_failed_migration_stops_startup_with_a_clear_message() {
    let (dir, bin) = lone_binary();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    // A database file that is not SQLite.
    std::fs::write(data.join("twofold.db"), vec![b'x'; 4096]).expect("write");
    let (code, stderr) = run_to_end(
        Command::new(&bin)
            .args(["migrate", "--data-dir", "data"])
            .current_dir(dir.path()),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("error"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}
