//! Two-step sign-in over HTTP: enrolment, challenge, TOTP replay guard,
//! backup codes, disable, regenerate, lockouts (also across a restart).

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::twofactor::{T0, answer, challenge, clock_now, enrol, secret_of, start};
use common::{PASSWORD, TestServer, json_of, set_cookie};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn enrol_sign_out_sign_in_with_totp() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let c = s.client();
    s.register(&c, "ol@example.com").await;
    let r = s.post(&c, "/api/mfa/totp/start", json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let setup = json_of(r).await;
    let uri = setup["otpauth_uri"].as_str().unwrap_or_default();
    assert!(
        uri.starts_with("otpauth://totp/Twofold:ol%40example.com?secret="),
        "{uri}"
    );
    assert!(
        uri.contains("&issuer=Twofold") && uri.contains("digits=6") && uri.contains("period=30")
    );
    assert!(setup["qr_svg"].as_str().is_some_and(|q| q.contains("<svg")));
    let secret = secret_of(&setup);
    assert_eq!(secret.expose().len(), 20);
    assert!(uri.contains(&secret.base32()));
    assert_eq!(
        json_of(s.get(&c, "/api/me").await).await["mfa"],
        "SetupInProgress"
    );

    // A wrong code does not turn it on.
    let r = s
        .post(&c, "/api/mfa/totp/confirm", json!({"code": "000000"}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["error"], "InvalidCode");
    let r = s
        .post(
            &c,
            "/api/mfa/totp/confirm",
            json!({"code": secret.code_at(T0)}),
        )
        .await;
    let body = json_of(r).await;
    assert_eq!(body["backup_codes"].as_array().map(Vec::len), Some(10));
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(
        (me["mfa"].as_str(), me["backup_codes_left"].as_i64()),
        (Some("Enabled"), Some(10))
    );

    s.post(&c, "/api/auth/logout", json!({})).await;
    let c = challenge(&s, "ol@example.com").await;
    // The pending challenge grants nothing.
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The enrolment code's step counts as used.
    let r = answer(&s, &c, "Totp", &secret.code_at(T0)).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(json_of(r).await["error"], "CodeAlreadyUsed");
    clock.advance(30);
    let code = secret.code_at(T0 + 30);
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let r = answer(&s, &c, "Totp", &spaced).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookie(&r).is_some());
    assert_eq!(json_of(r).await, json!("SignedIn"));
    assert_eq!(
        json_of(s.get(&c, "/api/me").await).await["email"],
        "ol@example.com"
    );
    // The challenge is spent.
    clock.advance(30);
    let r = answer(&s, &c, "Totp", &secret.code_at(T0 + 60)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(r).await["error"], "ChallengeExpired");
}

#[tokio::test]
async fn the_secret_is_encrypted_at_rest() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "pa@example.com").await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_enc FROM totp_factors")
        .fetch_one(&s.db().await)
        .await
        .expect("row");
    let raw = e.secret.expose();
    assert!(stored.len() > raw.len());
    assert!(
        !stored.windows(raw.len()).any(|w| w == raw),
        "raw secret in the database"
    );
    assert!(!String::from_utf8_lossy(&stored).contains(&e.secret.base32()));
    if !s.on_postgres() {
        // On SQLite the key is made beside the database; PostgreSQL
        // instances are given theirs.
        let key = std::fs::metadata(s.dir.path().join("secret.key")).expect("key file");
        assert_eq!(key.len(), 32);
    }
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT code_hash FROM backup_codes")
        .fetch_all(&s.db().await)
        .await
        .expect("rows");
    assert_eq!(hashes.len(), 10);
    for code in &e.codes {
        let plain = code.replace('-', "");
        assert!(
            !hashes
                .iter()
                .any(|h| h.windows(plain.len()).any(|w| w == plain.as_bytes()))
        );
    }
}

/// `n` sign-ins, each at its challenge, all answering with the same code at
/// once; returns their statuses.
async fn race(
    s: TestServer,
    email: &str,
    method: &'static str,
    code: String,
    n: usize,
) -> Vec<StatusCode> {
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(challenge(&s, email).await);
    }
    let s = Arc::new(s);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| {
            let (s, code) = (s.clone(), code.clone());
            tokio::spawn(async move { answer(&s, &c, method, &code).await.status() })
        })
        .collect();
    common::statuses(tasks).await
}

#[tokio::test]
async fn racing_requests_with_one_totp_code_exactly_one_wins() {
    totp_race("qa@example.com", 8).await;
}

#[tokio::test]
async fn thirty_two_racing_requests_with_one_totp_code_exactly_one_wins() {
    totp_race("qa32@example.com", 32).await;
}

async fn totp_race(email: &str, n: usize) {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, email).await;
    clock.advance(30);
    let statuses = race(s, &e.email, "Totp", e.secret.code_at(T0 + 30), n).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    // The others lost the race (409); once five have, the account's lockout
    // answers the rest (429). Never a second 200.
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK
            || *s == StatusCode::CONFLICT
            || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn racing_requests_with_one_backup_code_exactly_one_wins() {
    backup_race("ra@example.com", 8).await;
}

#[tokio::test]
async fn thirty_two_racing_requests_with_one_backup_code_exactly_one_wins() {
    backup_race("ra32@example.com", 32).await;
}

async fn backup_race(email: &str, n: usize) {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, email).await;
    let statuses = race(s, &e.email, "BackupCode", e.codes[0].clone(), n).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| !s.is_server_error()),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_used_backup_code_is_refused_and_input_is_forgiving() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "sa@example.com").await;
    let c = challenge(&s, &e.email).await;
    // Upper case, spaces instead of dashes: still the code.
    let typed = e.codes[1].to_uppercase().replace('-', " ");
    assert_eq!(
        answer(&s, &c, "BackupCode", &typed).await.status(),
        StatusCode::OK
    );
    // The used code was replaced: still ten.
    assert_eq!(
        json_of(s.get(&c, "/api/me").await).await["backup_codes_left"],
        10
    );
    s.post(&c, "/api/auth/logout", json!({})).await;
    let c = challenge(&s, &e.email).await;
    let r = answer(&s, &c, "BackupCode", &e.codes[1]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["error"], "InvalidCode");
}

#[tokio::test]
async fn regenerate_needs_a_fresh_totp_code_and_kills_the_old_set() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "ta@example.com").await;
    clock.advance(30);
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "Totp", &e.secret.code_at(T0 + 30))
            .await
            .status(),
        StatusCode::OK
    );
    // A backup code cannot mint backup codes; a replayed TOTP code cannot either.
    let r = s
        .post(
            &c,
            "/api/mfa/backup-codes/regenerate",
            json!({"code": e.codes[0]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .post(
            &c,
            "/api/mfa/backup-codes/regenerate",
            json!({"code": e.secret.code_at(T0 + 30)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    clock.advance(30);
    let r = s
        .post(
            &c,
            "/api/mfa/backup-codes/regenerate",
            json!({"code": e.secret.code_at(T0 + 60)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh: Vec<String> =
        serde_json::from_value(json_of(r).await["backup_codes"].clone()).expect("codes");
    assert_eq!(fresh.len(), 10);
    s.post(&c, "/api/auth/logout", json!({})).await;
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "BackupCode", &e.codes[0]).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        answer(&s, &c, "BackupCode", &fresh[0]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn disable_needs_both_password_and_code() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "ua@example.com").await;
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "BackupCode", &e.codes[0]).await.status(),
        StatusCode::OK
    );
    clock.advance(30);
    let code = e.secret.code_at(T0 + 30);
    let r = s
        .post(
            &c,
            "/api/mfa/disable",
            json!({"password": "wrong password 123", "code": code}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .post(
            &c,
            "/api/mfa/disable",
            json!({"password": PASSWORD, "code": "000000"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .post(&c, "/api/mfa/disable", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(s.get(&c, "/api/me").await).await["mfa"], "Enabled");
    let r = s
        .post(
            &c,
            "/api/mfa/disable",
            json!({"password": PASSWORD, "code": code}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await, json!({"mfa": "Disabled"}));
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM backup_codes")
        .fetch_one(&s.db().await)
        .await
        .expect("count");
    assert_eq!(left, 0);
    s.post(&c, "/api/auth/logout", json!({})).await;
    let r = s.login(&s.client(), &e.email, PASSWORD).await;
    assert_eq!(json_of(r).await, json!("SignedIn"));
}

#[tokio::test]
async fn five_bad_codes_lock_the_account_even_across_a_restart() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "va@example.com").await;
    clock.advance(30);
    let c = challenge(&s, &e.email).await;
    let right = e.secret.code_at(T0 + 30);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
    // Bad input is refused without counting.
    for _ in 0..6 {
        assert_eq!(
            answer(&s, &c, "Totp", "12a456").await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    for _ in 0..5 {
        assert_eq!(
            answer(&s, &c, "Totp", &wrong).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    let r = answer(&s, &c, "Totp", &right).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(retry > 800 && retry <= 900, "{retry}");
    assert_eq!(json_of(r).await["error"], "TooManyAttempts");

    // Restart on the same data directory: the lock holds.
    let TestServer { dir, .. } = s;
    let s = TestServer::start_with(Arc::new(clock.clone()), Some(dir)).await;
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "Totp", &right).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // After the window, a right code works and resets the counter.
    clock.advance(15 * 60);
    let c = challenge(&s, &e.email).await;
    let code = e.secret.code_at(clock_now(&clock));
    assert_eq!(answer(&s, &c, "Totp", &code).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn five_wrong_passwords_lock_known_and_unknown_emails_alike() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    s.register(&s.client(), "wa@example.com").await;
    for email in ["wa@example.com", "nobody@example.com"] {
        for _ in 0..5 {
            let r = s.login(&s.client(), email, "wrong password 123").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        let r = s.login(&s.client(), email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
        assert!(r.headers().contains_key("retry-after"));
    }
    clock.advance(15 * 60);
    assert_eq!(
        s.login(&s.client(), "wa@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_abandoned_setup_never_blocks_sign_in() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let c = s.client();
    s.register(&c, "xa@example.com").await;
    s.post(&c, "/api/mfa/totp/start", json!({})).await;
    // Sign-out abandons it.
    s.post(&c, "/api/auth/logout", json!({})).await;
    let r = s.login(&c, "xa@example.com", PASSWORD).await;
    assert_eq!(json_of(r).await, json!("SignedIn"));
    assert_eq!(json_of(s.get(&c, "/api/me").await).await["mfa"], "Disabled");
    // Left alone for 15 minutes, it lapses.
    s.post(&c, "/api/mfa/totp/start", json!({})).await;
    let other = s.client();
    assert_eq!(
        json_of(s.login(&other, "xa@example.com", PASSWORD).await).await,
        json!("SignedIn")
    );
    clock.advance(15 * 60);
    assert_eq!(json_of(s.get(&c, "/api/me").await).await["mfa"], "Disabled");
    // Cancel does it at once.
    s.post(&c, "/api/mfa/totp/start", json!({})).await;
    let r = s.post(&c, "/api/mfa/totp/cancel", json!({})).await;
    assert_eq!(json_of(r).await, json!({"mfa": "Disabled"}));
}

#[tokio::test]
async fn a_challenge_expires_after_five_minutes() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "ya@example.com").await;
    let c = challenge(&s, &e.email).await;
    clock.advance(301);
    let r = answer(&s, &c, "Totp", &e.secret.code_at(T0 + 301)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(r).await["error"], "ChallengeExpired");
    // No challenge cookie at all: the same.
    let r = answer(&s, &s.client(), "Totp", "123456").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn mfa_endpoints_need_a_session() {
    let s = TestServer::start().await;
    for path in ["/api/mfa/totp/start", "/api/mfa/totp/cancel"] {
        assert_eq!(
            s.post(&s.client(), path, json!({})).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = s
        .post(
            &s.client(),
            "/api/mfa/totp/confirm",
            json!({"code": "123456"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// An independent TOTP implementation (Python's standard library) reads our
/// otpauth URI and produces the code that confirms the setup.
#[tokio::test]
async fn an_independent_implementation_interoperates() {
    let clock = FixedClock::new(T0 + 7);
    let s = start(&clock).await;
    let c = s.client();
    s.register(&c, "za@example.com").await;
    let setup = json_of(s.post(&c, "/api/mfa/totp/start", json!({})).await).await;
    let uri = setup["otpauth_uri"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let script = r#"
import base64, hashlib, hmac, struct, sys, urllib.parse
uri, now = sys.argv[1], int(sys.argv[2])
u = urllib.parse.urlparse(uri)
assert u.scheme == "otpauth" and u.netloc == "totp"
label = urllib.parse.unquote(u.path[1:])
q = urllib.parse.parse_qs(u.query)
assert label == q["issuer"][0] + ":za@example.com", label
secret = q["secret"][0]
key = base64.b32decode(secret + "=" * (-len(secret) % 8))
counter = now // int(q["period"][0])
mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
o = mac[-1] & 15
n = (struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 10 ** int(q["digits"][0])
print(str(n).zfill(int(q["digits"][0])))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &uri, &(T0 + 7).to_string()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let r = s
        .post(&c, "/api/mfa/totp/confirm", json!({"code": code}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The QR code, rasterized and read back by an independent decoder (Debian's
/// zbarimg), is exactly the otpauth URI.
#[tokio::test]
async fn the_qr_code_decodes_to_the_otpauth_uri() {
    let s = TestServer::start().await;
    let c = s.client();
    s.register(&c, "qr@example.com").await;
    let setup = json_of(s.post(&c, "/api/mfa/totp/start", json!({})).await).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let svg = dir.path().join("qr.svg");
    let png = dir.path().join("qr.png");
    std::fs::write(&svg, setup["qr_svg"].as_str().unwrap_or_default()).expect("write svg");
    let status = std::process::Command::new("rsvg-convert")
        .args(["-w", "400", "-b", "white", "-o"])
        .arg(&png)
        .arg(&svg)
        .status()
        .expect("rsvg-convert (apt: librsvg2-bin; scripts/setup.sh installs it)");
    assert!(status.success());
    let out = std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&png)
        .output()
        .expect("zbarimg (apt: zbar-tools; scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        setup["otpauth_uri"].as_str().unwrap_or_default()
    );
}

/// The per-address budget: failures against different accounts from one
/// address add up, and lock that address (configurable, here 3).
#[tokio::test]
async fn one_address_has_a_budget_across_accounts() {
    let clock = FixedClock::new(T0);
    let security = twofold_server::config::SecurityArgs {
        ip_max_failures: 3,
        ..common::security()
    };
    let s = TestServer::start_full(Arc::new(clock.clone()), None, security).await;
    s.register(&s.client(), "ab@example.com").await;
    for email in ["x1@example.com", "x2@example.com", "x3@example.com"] {
        let r = s.login(&s.client(), email, "wrong password 123").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // A different, untouched account from the same address: locked too.
    let r = s.login(&s.client(), "ab@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    clock.advance(15 * 60);
    assert_eq!(
        s.login(&s.client(), "ab@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

/// NIST SP 800-63B-4: a backup code used to sign in is replaced by one new
/// code, handed out once, so the set stays at ten.
#[tokio::test]
async fn a_used_backup_code_is_replaced_once() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "rc@example.com").await;
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "BackupCode", &e.codes[4]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        json_of(s.get(&c, "/api/me").await).await["backup_codes_left"],
        10
    );
    let first = json_of(
        s.post(&c, "/api/mfa/backup-codes/replacement", json!({}))
            .await,
    )
    .await;
    let code = first["code"]
        .as_str()
        .expect("a replacement code")
        .to_string();
    assert!(!e.codes.contains(&code));
    // Once only.
    let again = json_of(
        s.post(&c, "/api/mfa/backup-codes/replacement", json!({}))
            .await,
    )
    .await;
    assert_eq!(again, json!({"code": null}));
    // Nothing is held in the database in the clear.
    let held: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE replacement_code_enc IS NOT NULL")
            .fetch_one(&s.db().await)
            .await
            .expect("count");
    assert_eq!(held, 0);
    // The replacement works; the used code does not.
    s.post(&c, "/api/auth/logout", json!({})).await;
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "BackupCode", &e.codes[4]).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        answer(&s, &c, "BackupCode", &code).await.status(),
        StatusCode::OK
    );
    // A TOTP sign-in holds no replacement.
    s.post(&c, "/api/auth/logout", json!({})).await;
    clock.advance(30);
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "Totp", &e.secret.code_at(T0 + 30))
            .await
            .status(),
        StatusCode::OK
    );
    let none = json_of(
        s.post(&c, "/api/mfa/backup-codes/replacement", json!({}))
            .await,
    )
    .await;
    assert_eq!(none, json!({"code": null}));
    assert_eq!(
        s.post(&s.client(), "/api/mfa/backup-codes/replacement", json!({}))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Two authenticator apps on one account (the second written straight into
/// the factors table until the account page can add one): each app's codes
/// work, each keeps its own replay guard, and a use is recorded on the app
/// that was used.
#[tokio::test]
async fn two_authenticator_apps_each_work_with_their_own_replay_guard() {
    use app::backend::UserId;
    use app::backend::factors::{mfa, totp::TotpSecret};

    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "two-apps@example.com").await;
    let db = s.db().await;
    let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&e.email)
        .fetch_one(&db)
        .await
        .expect("user");
    let key = s.secret_key();
    let second = TotpSecret::generate();
    let factor: i64 = sqlx::query_scalar(
        "INSERT INTO factors (user_id, kind, name, created_at) VALUES ($1, 'Totp', 'Tablet', $2)
         RETURNING id",
    )
    .bind(user)
    .bind(T0)
    .fetch_one(&db)
    .await
    .expect("factor");
    sqlx::query("INSERT INTO totp_factors (factor_id, secret_enc) VALUES ($1, $2)")
        .bind(factor)
        .bind(mfa::seal_secret(&key, UserId(user), &second))
        .execute(&db)
        .await
        .expect("secret");

    clock.advance(30);
    let now = T0 + 30;
    // The same time step, once with each app: both sign in.
    for code in [e.secret.code_at(now), second.code_at(now)] {
        let c = challenge(&s, &e.email).await;
        assert_eq!(answer(&s, &c, "Totp", &code).await.status(), StatusCode::OK);
    }
    // Either code again: spent.
    for code in [e.secret.code_at(now), second.code_at(now)] {
        let c = challenge(&s, &e.email).await;
        assert_eq!(
            answer(&s, &c, "Totp", &code).await.status(),
            StatusCode::CONFLICT
        );
    }
    let used: Option<i64> = sqlx::query_scalar("SELECT last_used_at FROM factors WHERE id = $1")
        .bind(factor)
        .fetch_one(&db)
        .await
        .expect("last used");
    assert_eq!(used, Some(now));
}
