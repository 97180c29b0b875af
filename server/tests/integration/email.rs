//! Email one-time codes over a real SMTP conversation, and the outbox.

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::smtp_sink::{CODE_SUBJECT, SmtpSink, code_in};
use common::twofactor::{T0, answer, challenge, enrol};
use common::{TestServer, json_of};
use reqwest::StatusCode;
use serde_json::json;
use twofold_server::config::SecurityArgs;

async fn with_smtp(clock: &FixedClock, max_failures: u32) -> (TestServer, SmtpSink) {
    let sink = SmtpSink::start().await;
    let security = SecurityArgs {
        smtp_url: Some(sink.url()),
        max_failures,
        ..common::security()
    };
    let s = TestServer::start_full(Arc::new(clock.clone()), None, security).await;
    (s, sink)
}

async fn request_code(s: &TestServer, c: &reqwest::Client) -> reqwest::Response {
    s.post(c, "/api/auth/email-code", json!({})).await
}

#[tokio::test]
async fn an_emailed_code_arrives_over_smtp_and_signs_in_once() {
    let clock = FixedClock::new(T0);
    let (s, sink) = with_smtp(&clock, 5).await;
    let e = enrol(&s, &clock, "em@example.com").await;
    let c = challenge(&s, &e.email).await;
    let r = request_code(&s, &c).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(json_of(r).await, json!({"expires_in_s": 600}));
    let mail = sink.wait_for_subject(CODE_SUBJECT, 1).await;
    assert!(mail[0].contains("To: em@example.com"), "{}", mail[0]);
    assert!(mail[0].contains("Subject: Your Twofold sign-in code"));
    assert!(mail[0].contains("text/html"), "a simple HTML part too");
    let code = code_in(&mail[0]);
    assert_eq!(
        answer(&s, &c, "EmailCode", &code).await.status(),
        StatusCode::OK
    );
    // Single use.
    s.post(&c, "/api/auth/logout", json!({})).await;
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "EmailCode", &code).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn only_a_live_challenge_can_ask_for_a_code() {
    let clock = FixedClock::new(T0);
    let (s, sink) = with_smtp(&clock, 5).await;
    let c = s.client();
    s.register(&c, "ec@example.com").await;
    let r = request_code(&s, &c).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(r).await["error"], "ChallengeExpired");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!sink.messages().iter().any(|m| m.contains(CODE_SUBJECT)));
}

#[tokio::test]
async fn codes_expire_after_ten_minutes() {
    let clock = FixedClock::new(T0);
    let (s, sink) = with_smtp(&clock, 5).await;
    let e = enrol(&s, &clock, "ex@example.com").await;
    let c = challenge(&s, &e.email).await;
    request_code(&s, &c).await;
    let code = code_in(&sink.wait_for_subject(CODE_SUBJECT, 1).await[0]);
    clock.advance(4 * 60);
    // The challenge itself lasts 5 minutes: start a new one, keep the code.
    let c = challenge(&s, &e.email).await;
    clock.advance(6 * 60 + 1);
    let c2 = challenge(&s, &e.email).await;
    drop(c);
    assert_eq!(
        answer(&s, &c2, "EmailCode", &code).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_fourth_code_within_the_hour_is_refused() {
    let clock = FixedClock::new(T0);
    let (s, sink) = with_smtp(&clock, 5).await;
    let e = enrol(&s, &clock, "e4@example.com").await;
    let c = challenge(&s, &e.email).await;
    for _ in 0..3 {
        assert_eq!(request_code(&s, &c).await.status(), StatusCode::ACCEPTED);
    }
    let r = request_code(&s, &c).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "3600");
    sink.wait_for_subject(CODE_SUBJECT, 3).await;
    let codes = sink
        .messages()
        .iter()
        .filter(|m| m.contains(CODE_SUBJECT))
        .count();
    assert_eq!(codes, 3);
}

#[tokio::test]
async fn the_sixth_try_fails_even_with_the_right_code_and_new_codes_do_not_reset_failures() {
    let clock = FixedClock::new(T0);
    // A high account limit, so the per-code limit is what is tested first.
    let (s, sink) = with_smtp(&clock, 20).await;
    let e = enrol(&s, &clock, "e6@example.com").await;
    let c = challenge(&s, &e.email).await;
    request_code(&s, &c).await;
    let code = code_in(&sink.wait_for_subject(CODE_SUBJECT, 1).await[0]);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
    for _ in 0..5 {
        assert_eq!(
            answer(&s, &c, "EmailCode", &wrong).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    // Five wrong codes also end this sign-in challenge; in a new one, the
    // code itself is spent: its sixth try fails even when right.
    assert_eq!(
        answer(&s, &c, "EmailCode", &code).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "EmailCode", &code).await.status(),
        StatusCode::BAD_REQUEST
    );

    // Asking for a new code leaves the account's failure count (6 so far)
    // as it is; the lockout keeps counting across codes.
    let failures: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM auth_failures WHERE scope LIKE '%factor:%'")
            .fetch_one(&s.db().await)
            .await
            .expect("count");
    assert_eq!(failures, 6);
    request_code(&s, &c).await;
    let fresh = code_in(&sink.wait_for_subject(CODE_SUBJECT, 2).await[1]);
    let failures_after: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM auth_failures WHERE scope LIKE '%factor:%'")
            .fetch_one(&s.db().await)
            .await
            .expect("count");
    assert_eq!(failures_after, failures);
    assert_eq!(
        answer(&s, &c, "EmailCode", &fresh).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_smtp_the_mail_lands_in_the_outbox() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "ob@example.com").await;
    let c = challenge(&s, &e.email).await;
    assert_eq!(request_code(&s, &c).await.status(), StatusCode::ACCEPTED);
    let outbox = s.dir.path().join("outbox");
    let mut eml = None;
    for _ in 0..200 {
        eml = std::fs::read_dir(&outbox).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .filter(|f| f.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|f| std::fs::read_to_string(f.path()).ok())
                .find(|text| text.contains(CODE_SUBJECT))
        });
        if eml.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let eml = eml.expect("an .eml file in the outbox");
    assert!(eml.contains("To: ob@example.com"));
    let code = code_in(&eml);
    assert_eq!(
        answer(&s, &c, "EmailCode", &code).await.status(),
        StatusCode::OK
    );
}

/// The no-JavaScript "Email me a code" form keeps the page's flags and the
/// way back to the app (`rd`) that sent the person, and nothing else.
#[tokio::test]
async fn the_email_code_form_keeps_the_way_back_to_the_app() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "rd@example.com").await;
    let c = challenge(&s, &e.email).await;
    let rd = "http://app.localhost:8080/dash?tab=1";
    let r = c
        .post(s.url(&format!(
            "/api/auth/email-code?passkey=on&rd={}&evil=%0D%0ASet-Cookie",
            app::api::client::encode_query(rd)
        )))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .expect("form post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        to,
        format!(
            "/login/second-factor?passkey=on&rd={}&method=email",
            "http%3A%2F%2Fapp.localhost%3A8080%2Fdash%3Ftab%3D1"
        )
    );
}
