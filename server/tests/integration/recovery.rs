//! Lost every factor: a recovery that waits, that the owner can cancel from
//! the mail, that admins can cancel or approve, and that removes the factors
//! only once the delay has passed.

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::{Clock, FixedClock};
use common::smtp_sink::{CODE_SUBJECT, code_in};
use common::twofactor::{T0, challenge, enrol};
use common::{TestServer, json_of, link_token, wait_for_outbox};
use reqwest::{Client, StatusCode};
use serde_json::json;

const STARTED: &str = "Your Twofold account is being recovered";
const DELAY_S: i64 = 72 * 3600;

async fn start_recovery(s: &TestServer, email: &str) -> (Client, String) {
    let c = challenge(s, email).await;
    let r = s.post(&c, "/api/auth/recovery/start", json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body = json_of(r).await;
    assert_eq!(body["pending"], true);
    assert_eq!(body["ready"], false);
    let mail = wait_for_outbox(s.dir.path(), STARTED, 1).await.remove(0);
    (c, link_token(&mail, "/recovery/cancel"))
}

/// Sends an email code to the challenge (the test's only one) and finishes
/// the recovery with it.
async fn finish(s: &TestServer, c: &Client) -> reqwest::Response {
    let r = s.post(c, "/api/auth/email-code", json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = wait_for_outbox(s.dir.path(), CODE_SUBJECT, 1)
        .await
        .remove(0);
    s.post(
        c,
        "/api/auth/recovery/complete",
        json!({"code": code_in(&mail)}),
    )
    .await
}

async fn factors(s: &TestServer, email: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM factors f JOIN users u ON u.id = f.user_id WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(&s.db().await)
    .await
    .expect("count")
}

#[tokio::test]
async fn the_delay_is_honoured_then_an_email_code_removes_the_factors() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "lost@example.com").await;
    let (c, _cancel) = start_recovery(&s, &e.email).await;
    // Starting again changes nothing: same date, no second mail.
    let again = json_of(s.post(&c, "/api/auth/recovery/start", json!({})).await).await;
    assert_eq!(again["ready_at"], T0 + DELAY_S);

    // Before the delay: refused, factors untouched.
    let r = s
        .post(&c, "/api/auth/recovery/complete", json!({"code": "123456"}))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(factors(&s, &e.email).await, 1);

    clock.advance(DELAY_S - 10);
    let c = challenge(&s, &e.email).await;
    let status = json_of(s.get(&c, "/api/auth/recovery").await).await;
    assert_eq!(status["ready"], false);
    clock.advance(10);
    let c = challenge(&s, &e.email).await;
    let status = json_of(s.get(&c, "/api/auth/recovery").await).await;
    assert_eq!(status["ready"], true);

    // A wrong code counts and removes nothing.
    let r = s
        .post(&c, "/api/auth/recovery/complete", json!({"code": "000000"}))
        .await;
    assert_ne!(r.status(), StatusCode::OK);
    assert_eq!(factors(&s, &e.email).await, 1);

    let r = finish(&s, &c).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["next"], "/account/two-factor");
    assert_eq!(factors(&s, &e.email).await, 0);
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(me["mfa"], "Disabled");
    assert_eq!(me["backup_codes_left"], 0);
    wait_for_outbox(s.dir.path(), "Your account was recovered", 1).await;
    // Done: nothing is pending any more.
    let admin = s.admin("admin@example.com").await;
    let pending = json_of(s.get(&admin, "/api/admin/recoveries").await).await;
    assert_eq!(pending, json!([]));
}

#[tokio::test]
async fn the_owners_cancel_link_works_once_and_signs_everyone_out() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "owner@example.com").await;
    let owner = challenge(&s, &e.email).await;
    let r = common::twofactor::answer(&s, &owner, "BackupCode", &e.codes[0]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (thief, cancel) = start_recovery(&s, &e.email).await;

    let r = s
        .post(
            &s.client(),
            "/api/auth/recovery/cancel",
            json!({"token": cancel}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.get(&owner, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    wait_for_outbox(
        s.dir.path(),
        "The recovery of your account was cancelled",
        1,
    )
    .await;
    let r = s
        .post(
            &s.client(),
            "/api/auth/recovery/cancel",
            json!({"token": cancel}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Long after, nothing can finish: the challenge was cancelled, and a
    // new one finds no recovery.
    clock.advance(DELAY_S + 1);
    let r = s
        .post(
            &thief,
            "/api/auth/recovery/complete",
            json!({"code": "123456"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let c = challenge(&s, &e.email).await;
    let status = json_of(s.get(&c, "/api/auth/recovery").await).await;
    assert_eq!(status["pending"], false);
    assert_eq!(factors(&s, &e.email).await, 1);
}

#[tokio::test]
async fn admins_see_pending_recoveries_and_can_approve_or_cancel_them() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let one = enrol(&s, &clock, "one@example.com").await;
    let two = enrol(&s, &clock, "two@example.com").await;
    let (c1, _) = start_recovery(&s, &one.email).await;
    let c = challenge(&s, &two.email).await;
    assert_eq!(
        s.post(&c, "/api/auth/recovery/start", json!({}))
            .await
            .status(),
        StatusCode::ACCEPTED
    );

    let user = s.client();
    s.register(&user, "user@example.com").await;
    assert_eq!(
        s.get(&user, "/api/admin/recoveries").await.status(),
        StatusCode::FORBIDDEN
    );
    let admin = s.admin("admin@example.com").await;
    let pending = json_of(s.get(&admin, "/api/admin/recoveries").await).await;
    let list = pending.as_array().expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["email"], "one@example.com");
    assert_eq!(list[0]["ready_at"], T0 + DELAY_S);
    let (id1, id2) = (list[0]["id"].clone(), list[1]["id"].clone());

    let r = s
        .post(&admin, "/api/admin/recoveries/approve", json!({"id": id1}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .post(&admin, "/api/admin/recoveries/cancel", json!({"id": id2}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .post(&admin, "/api/admin/recoveries/cancel", json!({"id": 9999}))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let pending = json_of(s.get(&admin, "/api/admin/recoveries").await).await;
    assert_eq!(pending.as_array().map(Vec::len), Some(1));
    assert_eq!(pending[0]["approved"], true);

    // Approved: it finishes now, without waiting.
    let r = finish(&s, &c1).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(factors(&s, &one.email).await, 0);
    assert_eq!(factors(&s, &two.email).await, 1);
}

#[tokio::test]
async fn a_reminder_goes_halfway_and_a_covering_policy_makes_enrolment_due() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "half@example.com").await;
    let admin = s.admin("admin@example.com").await;
    let r = s
        .post(
            &admin,
            "/api/admin/policy",
            json!({"require": "Everyone", "grace_days": 7}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    start_recovery(&s, &e.email).await;
    let state = s.state(Arc::new(clock.clone()), &common::security()).await;
    let remind = app::backend::auth::recovery::remind_halfway;
    clock.advance(DELAY_S / 2 - 60);
    assert_eq!(remind(&state, clock.now()).await.expect("pass"), 0);
    clock.advance(60);
    assert_eq!(remind(&state, clock.now()).await.expect("pass"), 1);
    assert_eq!(remind(&state, clock.now()).await.expect("pass"), 0);
    let reminder = wait_for_outbox(s.dir.path(), "Reminder: your Twofold account", 1)
        .await
        .remove(0);
    // The reminder carries its own working cancel link.
    assert!(!link_token(&reminder, "/recovery/cancel").is_empty());

    clock.advance(DELAY_S / 2);
    let c = challenge(&s, &e.email).await;
    let r = finish(&s, &c).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(me["mfa"], "Disabled");
    assert_eq!(me["mfa_enrolment_required"], true);
}
