//! The account's named factors over HTTP: listed, renamed, removed one by
//! one inside the re-authentication window; the last one turns MFA off.

use crate::common;

use app::backend::UserId;
use app::backend::factors::{mfa, totp::TotpSecret};
use app::backend::infra::clock::FixedClock;
use common::twofactor::{Enrolled, T0, answer, challenge, clock_now, enrol};
use common::{PASSWORD, TestServer, json_of, wait_for_outbox};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// Signed in with password and TOTP (a fresh re-authentication window).
async fn signed_in(s: &TestServer, clock: &FixedClock, e: &Enrolled) -> Client {
    clock.advance(30);
    let c = challenge(s, &e.email).await;
    let r = answer(s, &c, "Totp", &e.secret.code_at(clock_now(clock))).await;
    assert_eq!(r.status(), StatusCode::OK);
    c
}

async fn factors(s: &TestServer, c: &Client) -> Vec<Value> {
    let r = s.get(c, "/api/factors").await;
    assert_eq!(r.status(), StatusCode::OK);
    serde_json::from_value(json_of(r).await).expect("list")
}

/// A second authenticator app written straight into the tables (the
/// account page cannot add one yet).
async fn add_second_app(s: &TestServer, email: &str, name: &str) -> i64 {
    let db = s.db().await;
    let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&db)
        .await
        .expect("user");
    let key = s.secret_key();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO factors (user_id, kind, name, created_at) VALUES ($1, 'Totp', $2, $3)
         RETURNING id",
    )
    .bind(user)
    .bind(name)
    .bind(T0)
    .fetch_one(&db)
    .await
    .expect("factor");
    sqlx::query("INSERT INTO totp_factors (factor_id, secret_enc) VALUES ($1, $2)")
        .bind(id)
        .bind(mfa::seal_secret(
            &key,
            UserId(user),
            &TotpSecret::generate(),
        ))
        .execute(&db)
        .await
        .expect("secret");
    id
}

#[tokio::test]
async fn the_enrolled_app_is_listed_and_can_be_renamed() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "list@example.com").await;
    let c = signed_in(&s, &clock, &e).await;
    let list = factors(&s, &c).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["kind"], "Totp");
    assert_eq!(list[0]["name"], "Authenticator app");
    assert_eq!(list[0]["created_at"], T0);
    // The sign-in just now used it.
    assert_eq!(list[0]["last_used_at"], T0 + 30);
    let id = list[0]["id"].as_i64().expect("id");

    let r = s
        .post(
            &c,
            "/api/factors/rename",
            json!({"id": id, "name": "  Pixel 8 "}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["name"], "Pixel 8");
    assert_eq!(factors(&s, &c).await[0]["name"], "Pixel 8");

    // Bad names: a clear error, nothing changed.
    for bad in ["", "   ", "two\nlines", &"x".repeat(65)] {
        let r = s
            .post(&c, "/api/factors/rename", json!({"id": id, "name": bad}))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(json_of(r).await["error"], "Validation");
    }
    assert_eq!(factors(&s, &c).await[0]["name"], "Pixel 8");
    // Signed out: nothing to list or rename.
    let stranger = s.client();
    assert_eq!(
        s.get(&stranger, "/api/factors").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn another_accounts_factor_cannot_be_renamed_or_removed() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let victim = enrol(&s, &clock, "victim@example.com").await;
    let other = enrol(&s, &clock, "other@example.com").await;
    let vc = signed_in(&s, &clock, &victim).await;
    let victim_factor = factors(&s, &vc).await[0]["id"].as_i64().expect("id");
    let oc = signed_in(&s, &clock, &other).await;
    let r = s
        .post(
            &oc,
            "/api/factors/rename",
            json!({"id": victim_factor, "name": "mine now"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .post(&oc, "/api/factors/remove", json!({"id": victim_factor}))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let list = factors(&s, &vc).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "Authenticator app");
}

#[tokio::test]
async fn removing_needs_the_re_authentication_window() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "stale@example.com").await;
    let c = signed_in(&s, &clock, &e).await;
    let id = factors(&s, &c).await[0]["id"].as_i64().expect("id");
    clock.advance(11 * 60);
    let r = s.post(&c, "/api/factors/remove", json!({"id": id})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(r).await["error"], "ReauthRequired");
    assert_eq!(factors(&s, &c).await.len(), 1, "nothing was removed");
}

#[tokio::test]
async fn removing_one_of_two_keeps_mfa_on_and_the_other_app_working() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "two@example.com").await;
    let tablet = add_second_app(&s, &e.email, "Tablet").await;
    let c = signed_in(&s, &clock, &e).await;
    let r = s
        .post(&c, "/api/factors/remove", json!({"id": tablet}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["mfa"], "Enabled");
    let list = factors(&s, &c).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "Authenticator app");
    assert_eq!(json_of(s.get(&c, "/api/me").await).await["mfa"], "Enabled");
    wait_for_outbox(
        s.dir.path(),
        "A second factor was removed from your account",
        1,
    )
    .await;
    // The app that is left still signs in.
    s.post(&c, "/api/auth/logout", json!({})).await;
    signed_in(&s, &clock, &e).await;
}

#[tokio::test]
async fn removing_the_last_factor_turns_mfa_off() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "last@example.com").await;
    let c = signed_in(&s, &clock, &e).await;
    let id = factors(&s, &c).await[0]["id"].as_i64().expect("id");
    let r = s.post(&c, "/api/factors/remove", json!({"id": id})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["mfa"], "Disabled");
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(me["mfa"], "Disabled");
    assert_eq!(me["backup_codes_left"], 0);
    assert!(factors(&s, &c).await.is_empty());
    wait_for_outbox(s.dir.path(), "Two-factor authentication was turned off", 1).await;
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM security_events WHERE kind IN ('FactorRemoved', 'MfaDisabled') ORDER BY id",
    )
    .fetch_all(&s.db().await)
    .await
    .expect("events");
    assert_eq!(kinds, vec!["FactorRemoved", "MfaDisabled"]);
    // The password alone signs in now.
    s.post(&c, "/api/auth/logout", json!({})).await;
    let c = s.client();
    let r = s.login(&c, &e.email, PASSWORD).await;
    assert_eq!(json_of(r).await, json!("SignedIn"));
}

#[tokio::test]
async fn the_last_factor_stays_when_the_policy_requires_mfa() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "kept@example.com").await;
    sqlx::query("UPDATE mfa_policy SET require = 'Everyone'")
        .execute(&s.db().await)
        .await
        .expect("policy");
    let c = signed_in(&s, &clock, &e).await;
    let id = factors(&s, &c).await[0]["id"].as_i64().expect("id");
    let r = s.post(&c, "/api/factors/remove", json!({"id": id})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(factors(&s, &c).await.len(), 1);
    assert_eq!(json_of(s.get(&c, "/api/me").await).await["mfa"], "Enabled");
}

/// Forty removals at once, twenty for each of two apps: each app goes once,
/// MFA turns off exactly once, and the audit trail says so exactly once.
#[tokio::test]
async fn forty_removals_at_once_remove_each_factor_once() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "burst-remove@example.com").await;
    let tablet = add_second_app(&s, &e.email, "Tablet").await;
    let c = signed_in(&s, &clock, &e).await;
    let phone = factors(&s, &c)
        .await
        .iter()
        .find(|f| f["name"] == "Authenticator app")
        .and_then(|f| f["id"].as_i64())
        .expect("phone id");
    let sent: Vec<_> = (0..40)
        .map(|i| {
            let id = if i % 2 == 0 { phone } else { tablet };
            tokio::spawn(
                c.post(s.url("/api/factors/remove"))
                    .json(&json!({"id": id}))
                    .send(),
            )
        })
        .collect();
    let mut answers = Vec::new();
    for task in sent {
        let r = task.await.expect("task").expect("response");
        let status = r.status();
        let body = json_of(r).await;
        answers.push((status, body));
    }
    let ok: Vec<&Value> = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(ok.len(), 2, "{answers:?}");
    assert_eq!(ok.iter().filter(|b| b["mfa"] == "Disabled").count(), 1);
    assert!(
        answers
            .iter()
            .all(|(st, _)| *st == StatusCode::OK || *st == StatusCode::NOT_FOUND),
        "{answers:?}"
    );
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM security_events WHERE kind IN ('FactorRemoved', 'MfaDisabled') ORDER BY id",
    )
    .fetch_all(&s.db().await)
    .await
    .expect("events");
    assert_eq!(
        events,
        vec!["FactorRemoved", "FactorRemoved", "MfaDisabled"]
    );
}

#[tokio::test]
async fn a_second_app_runs_the_wizard_and_keeps_the_backup_codes() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "second-app@example.com").await;
    let c = signed_in(&s, &clock, &e).await;
    let setup = json_of(s.post(&c, "/api/mfa/totp/start", json!({})).await).await;
    let second = common::twofactor::secret_of(&setup);
    // While it is set up, MFA stays on.
    assert_eq!(json_of(s.get(&c, "/api/me").await).await["mfa"], "Enabled");
    clock.advance(30);
    let code = second.code_at(clock_now(&clock));
    let r = s
        .post(&c, "/api/mfa/totp/confirm", json!({ "code": code }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(body["mfa"], "Enabled");
    assert_eq!(body["backup_codes"], json!([]), "no new codes");
    let list = factors(&s, &c).await;
    let names: Vec<&str> = list.iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(names, ["Authenticator app", "Authenticator app 2"]);
    wait_for_outbox(s.dir.path(), "A second factor was added to your account", 1).await;

    // Both apps sign in; the old backup codes still work.
    clock.advance(30);
    let b = challenge(&s, &e.email).await;
    let r = answer(&s, &b, "Totp", &second.code_at(clock_now(&clock))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = challenge(&s, &e.email).await;
    let r = answer(&s, &b, "Totp", &e.secret.code_at(clock_now(&clock))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = challenge(&s, &e.email).await;
    let r = answer(&s, &b, "BackupCode", &e.codes[0]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn adding_a_second_app_needs_a_fresh_factor() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "stale-app@example.com").await;
    let c = signed_in(&s, &clock, &e).await;
    clock.advance(11 * 60);
    let r = s.post(&c, "/api/mfa/totp/start", json!({})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(r).await["error"], "ReauthRequired");
}
