//! Security alerts: each event sends exactly one mail to the account's
//! address (over a real SMTP conversation) and is recorded as sent.

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::smtp_sink::SmtpSink;
use common::twofactor::{T0, answer, challenge, enrol};
use common::{PASSWORD, TestServer, json_of};
use reqwest::StatusCode;
use serde_json::json;
use twofold_server::config::SecurityArgs;

/// How many mails to `to` have this subject.
fn count(sink: &SmtpSink, to: &str, subject: &str) -> usize {
    sink.messages()
        .iter()
        .filter(|m| m.contains(&format!("To: {to}")) && m.contains(&format!("Subject: {subject}")))
        .count()
}

/// Waits for the mail count to reach `total`, then checks one subject.
async fn expect_one(sink: &SmtpSink, total: usize, to: &str, subject: &str) {
    sink.wait_for(total).await;
    assert_eq!(
        count(sink, to, subject),
        1,
        "{subject}: {:#?}",
        sink.messages()
    );
    assert_eq!(sink.messages().len(), total, "exactly one new mail");
}

#[tokio::test]
async fn each_security_event_sends_exactly_one_alert() {
    let clock = FixedClock::new(T0);
    let sink = SmtpSink::start().await;
    let security = SecurityArgs {
        smtp_url: Some(sink.url()),
        ..common::security()
    };
    let s = TestServer::start_full(Arc::new(clock.clone()), None, security).await;
    let to = "al@example.com";

    let e = enrol(&s, &clock, to).await;
    expect_one(&sink, 1, to, "Two-factor authentication was turned on").await;
    let body = &sink.messages()[0];
    assert!(body.contains("127.0.0.1") && body.contains("If it was not you"));

    // A backup code at sign-in, trusting the browser: two alerts.
    let c = challenge(&s, to).await;
    let r = s
        .post(
            &c,
            "/api/auth/second-factor",
            json!({"method": "BackupCode", "code": e.codes[0], "trust_device": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    sink.wait_for(3).await;
    assert_eq!(count(&sink, to, "A backup code was used to sign in"), 1);
    assert_eq!(count(&sink, to, "A new device is trusted to skip codes"), 1);

    // New backup codes.
    clock.advance(30);
    let r = s
        .post(
            &c,
            "/api/mfa/backup-codes/regenerate",
            json!({"code": e.secret.code_at(T0 + 30)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    expect_one(&sink, 4, to, "New backup codes were made").await;

    // The same TOTP code again: possible phishing.
    let r = s
        .post(
            &c,
            "/api/mfa/backup-codes/regenerate",
            json!({"code": e.secret.code_at(T0 + 30)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    expect_one(&sink, 5, to, "An authenticator code was used twice").await;

    // Lockout: the fifth failure locks and alerts once; later tries do not.
    // (The reused code above was in a session: it counts in the session's
    // own budget, not the sign-in challenge's.)
    let other = challenge(&s, to).await;
    for _ in 0..5 {
        answer(&s, &other, "Totp", "000000").await;
    }
    let r = answer(&s, &other, "Totp", "000000").await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "5 wrong codes at the challenge"
    );
    sink.wait_for(6).await;
    let r = answer(&s, &other, "Totp", "000000").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    expect_one(&sink, 6, to, "Sign-in locked after failed attempts").await;

    // Turning it off (after the lock passes).
    clock.advance(15 * 60);
    let code = e.secret.code_at(T0 + 30 + 15 * 60);
    let r = s
        .post(
            &c,
            "/api/mfa/disable",
            json!({"password": PASSWORD, "code": code}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    expect_one(&sink, 7, to, "Two-factor authentication was turned off").await;

    // Every alert is in the audit trail.
    let page = json_of(s.get(&c, "/api/security/events?limit=100").await).await;
    let sent = page["events"]
        .as_array()
        .map(|e| e.iter().filter(|x| x["kind"] == "AlertSent").count())
        .unwrap_or(0);
    assert_eq!(sent, 7);
}
