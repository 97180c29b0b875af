//! A forgotten password: the same answer for every address, a single-use
//! 30-minute link by mail, and never a way around the second factor.

use crate::common;

use app::backend::infra::clock::FixedClock;
use common::twofactor::{T0, enrol};
use common::{PASSWORD, TestServer, burst, json_of, link_token, outbox, tally, wait_for_outbox};
use reqwest::StatusCode;
use serde_json::json;

const SUBJECT: &str = "Reset your Twofold password";
const NEW_PASSWORD: &str = "violet harbour engine 77";

async fn request(s: &TestServer, email: &str) -> (StatusCode, serde_json::Value) {
    let r = s
        .post(
            &s.client(),
            "/api/auth/password-reset/request",
            json!({"email": email}),
        )
        .await;
    (r.status(), json_of(r).await)
}

#[tokio::test]
async fn every_address_gets_the_same_answer_and_only_accounts_get_mail() {
    let s = TestServer::start().await;
    s.register(&s.client(), "known@example.com").await;
    let known = request(&s, "known@example.com").await;
    let unknown = request(&s, "nobody@example.com").await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::ACCEPTED);
    let mails = wait_for_outbox(s.dir.path(), SUBJECT, 1).await;
    assert!(mails[0].contains("known@example.com"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let all = outbox(s.dir.path());
    assert!(!all.iter().any(|m| m.contains("nobody@example.com")));
    // A malformed address is said to be one (the input alone decides that).
    let (status, body) = request(&s, "not an email").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "email");
}

#[tokio::test]
async fn without_mfa_the_link_sets_a_password_once_and_ends_every_session() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let signed_in = s.client();
    s.register(&signed_in, "plain@example.com").await;
    request(&s, "plain@example.com").await;
    let mail = wait_for_outbox(s.dir.path(), SUBJECT, 1).await.remove(0);
    let token = link_token(&mail, "/reset-password");

    let info = s
        .post(
            &s.client(),
            "/api/auth/password-reset/info",
            json!({"token": token}),
        )
        .await;
    assert_eq!(json_of(info).await, json!({"mfa": false, "methods": []}));

    // A weak password changes nothing and keeps the link alive.
    let c = s.client();
    let weak = json!({"token": token, "password": "password"});
    let r = s.post(&c, "/api/auth/password-reset/complete", weak).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let done = json!({"token": token, "password": NEW_PASSWORD});
    let r = s
        .post(&c, "/api/auth/password-reset/complete", done.clone())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["sessions_ended"], 1);
    // Single use.
    let r = s.post(&c, "/api/auth/password-reset/complete", done).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["field"], "token");

    assert_eq!(
        s.get(&signed_in, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = s.login(&s.client(), "plain@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .login(&s.client(), "plain@example.com", NEW_PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    wait_for_outbox(s.dir.path(), "Your password was reset", 1).await;
}

#[tokio::test]
async fn the_link_expires_after_thirty_minutes() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    s.register(&s.client(), "late@example.com").await;
    request(&s, "late@example.com").await;
    let mail = wait_for_outbox(s.dir.path(), SUBJECT, 1).await.remove(0);
    let token = link_token(&mail, "/reset-password");
    clock.advance(30 * 60 + 1);
    let r = s
        .post(
            &s.client(),
            "/api/auth/password-reset/complete",
            json!({"token": token, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s.login(&s.client(), "late@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_mfa_on_the_reset_needs_a_factor_and_a_refusal_changes_nothing() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "mfa@example.com").await;
    let signed_in = common::twofactor::challenge(&s, &e.email).await;
    let r = common::twofactor::answer(&s, &signed_in, "BackupCode", &e.codes[0]).await;
    assert_eq!(r.status(), StatusCode::OK);
    request(&s, &e.email).await;
    let mail = wait_for_outbox(s.dir.path(), SUBJECT, 1).await.remove(0);
    let token = link_token(&mail, "/reset-password");
    let c = s.client();
    let info = json_of(
        s.post(&c, "/api/auth/password-reset/info", json!({"token": token}))
            .await,
    )
    .await;
    // Never email codes: the link itself came by mail.
    assert_eq!(
        info,
        json!({"mfa": true, "methods": ["Totp", "BackupCode"]})
    );

    let complete = |body: serde_json::Value| s.post(&c, "/api/auth/password-reset/complete", body);
    // No factor.
    let r = complete(json!({"token": token, "password": NEW_PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["field"], "method");
    // An email code is no factor here.
    let r = complete(
        json!({"token": token, "password": NEW_PASSWORD, "method": "EmailCode", "code": "123456"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A wrong code: refused and counted.
    let r = complete(
        json!({"token": token, "password": NEW_PASSWORD, "method": "Totp", "code": "000000"}),
    )
    .await;
    assert_eq!(json_of(r).await["error"], "InvalidCode");
    // Nothing changed: the old password and the session still work.
    assert_eq!(s.get(&signed_in, "/api/me").await.status(), StatusCode::OK);
    let r = s.login(&s.client(), &e.email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);

    // The enrolment spent the code of T0's step: the next one.
    clock.advance(30);
    let code = e.secret.code_at(T0 + 30);
    let r =
        complete(json!({"token": token, "password": NEW_PASSWORD, "method": "Totp", "code": code}))
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.get(&signed_in, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // MFA stays on: the new password leads to the challenge.
    let r = s.login(&s.client(), &e.email, NEW_PASSWORD).await;
    assert!(json_of(r).await.get("SecondFactorRequired").is_some());
}

#[tokio::test]
async fn thirty_racing_completions_of_one_link_set_one_password() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    s.register(&s.client(), "race@example.com").await;
    request(&s, "race@example.com").await;
    let mail = wait_for_outbox(s.dir.path(), SUBJECT, 1).await.remove(0);
    let token = link_token(&mail, "/reset-password");
    let c = s.client();
    let statuses = burst(30, |i| {
        c.post(s.url("/api/auth/password-reset/complete"))
            .json(&json!({"token": token, "password": format!("{NEW_PASSWORD} {i}")}))
    })
    .await;
    assert_eq!(tally(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(tally(&statuses, StatusCode::BAD_REQUEST), 29);
}

#[tokio::test]
async fn requests_are_limited_per_address_and_links_per_account() {
    let s = TestServer::start().await;
    s.register(&s.client(), "many@example.com").await;
    let c = s.client();
    // 40 at once from one address: 10 an hour get through.
    let statuses = burst(40, |_| {
        c.post(s.url("/api/auth/password-reset/request"))
            .json(&json!({"email": "many@example.com"}))
    })
    .await;
    assert_eq!(tally(&statuses, StatusCode::ACCEPTED), 10, "{statuses:?}");
    assert_eq!(tally(&statuses, StatusCode::TOO_MANY_REQUESTS), 30);
    // ...and of those, 3 links went to the account.
    wait_for_outbox(s.dir.path(), SUBJECT, 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mails = outbox(s.dir.path())
        .into_iter()
        .filter(|m| m.contains(SUBJECT))
        .count();
    assert_eq!(mails, 3);
}

#[tokio::test]
async fn the_reset_form_works_without_javascript() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "form@example.com").await;
    request(&s, &e.email).await;
    let mail = wait_for_outbox(s.dir.path(), SUBJECT, 1).await.remove(0);
    let token = link_token(&mail, "/reset-password");
    let c = s.client();
    let post = |fields: Vec<(&'static str, String)>| {
        c.post(s.url("/api/auth/password-reset/complete"))
            .form(&fields)
            .send()
    };
    // A wrong code: back to the page with the error, the token kept.
    let r = post(vec![
        ("token", token.clone()),
        ("password", NEW_PASSWORD.into()),
        ("method", "Totp".into()),
        ("code", "000000".into()),
    ])
    .await
    .expect("post");
    let to = common::location(&r);
    assert!(
        to.starts_with(&format!("/reset-password?token={token}&error=InvalidCode")),
        "{to}"
    );
    clock.advance(30);
    let r = post(vec![
        ("token", token.clone()),
        ("password", NEW_PASSWORD.into()),
        ("method", "Totp".into()),
        ("code", e.secret.code_at(T0 + 30)),
    ])
    .await
    .expect("post");
    assert_eq!(common::location(&r), "/login?reset=1");
    // The page a mailed link opens is served (and names no secret).
    let page = s
        .get(&s.client(), &format!("/reset-password?token={token}"))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
}
