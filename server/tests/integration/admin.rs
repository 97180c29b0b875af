//! Admin role, MFA policy with its grace period, re-authentication, change
//! of password, user recovery and dashboard statistics, over real HTTP.

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::smtp_sink::SmtpSink;
use common::twofactor::{T0, answer, challenge, clock_now, enrol};
use common::{PASSWORD, TestServer, json_of};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use twofold_server::config::SecurityArgs;

const DAY: i64 = 86_400;
const NEW_PASSWORD: &str = "quartz meadow ferry 77";

async fn with_sink(clock: &FixedClock) -> (TestServer, SmtpSink) {
    let sink = SmtpSink::start().await;
    let security = SecurityArgs {
        smtp_url: Some(sink.url()),
        ..common::security()
    };
    let s = TestServer::start_full(Arc::new(clock.clone()), None, security).await;
    (s, sink)
}

async fn error_kind(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body = json_of(r).await;
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

async fn events_of(s: &TestServer, c: &Client) -> Vec<Value> {
    let body = json_of(s.get(c, "/api/security/events?limit=100").await).await;
    body["events"].as_array().cloned().unwrap_or_default()
}

fn has_event(events: &[Value], kind: &str) -> bool {
    events.iter().any(|e| e["kind"] == kind)
}

async fn post_policy(
    s: &TestServer,
    admin: &Client,
    require: &str,
    days: u32,
) -> reqwest::Response {
    s.post(
        admin,
        "/api/admin/policy",
        json!({"require": require, "grace_days": days}),
    )
    .await
}

async fn set_policy(s: &TestServer, admin: &Client, require: &str, days: u32) -> StatusCode {
    post_policy(s, admin, require, days).await.status()
}

#[tokio::test]
async fn admin_endpoints_refuse_everyone_but_admins() {
    let s = TestServer::start().await;
    let user = s.client();
    assert_eq!(
        s.register(&user, "user@example.com").await.status(),
        StatusCode::CREATED
    );
    let anonymous = s.client();
    let gets = ["/api/admin/users", "/api/admin/stats", "/api/admin/policy"];
    let posts = [
        (
            "/api/admin/policy",
            json!({"require": "Everyone", "grace_days": 7}),
        ),
        (
            "/api/admin/users/reset-mfa",
            json!({"email": "user@example.com"}),
        ),
        (
            "/api/admin/users/unlock",
            json!({"email": "user@example.com"}),
        ),
    ];
    for path in gets {
        assert_eq!(
            error_kind(s.get(&user, path).await).await,
            (StatusCode::FORBIDDEN, "Forbidden".into()),
            "{path}"
        );
        assert_eq!(
            s.get(&anonymous, path).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    for (path, body) in &posts {
        assert_eq!(
            error_kind(s.post(&user, path, body.clone()).await).await,
            (StatusCode::FORBIDDEN, "Forbidden".into()),
            "{path}"
        );
        assert_eq!(
            s.post(&anonymous, path, body.clone()).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        // A body that does not even parse, and a plain form post (what the
        // admin page sends), are refused the same way, before anything else.
        for (content_type, raw) in [
            ("application/json", "{nonsense"),
            (
                "application/x-www-form-urlencoded",
                "email=user%40example.com&require=Everyone&grace_days=7",
            ),
        ] {
            let r = user
                .post(s.url(path))
                .header("content-type", content_type)
                .body(raw)
                .send()
                .await
                .expect("request");
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{content_type} to {path}"
            );
        }
    }
    // Nothing changed: the policy is still the default.
    let admin = s.admin("boss@example.com").await;
    let policy = json_of(s.get(&admin, "/api/admin/policy").await).await;
    assert_eq!(
        policy,
        json!({"require": "Nobody", "grace_days": 7, "allow_email_codes": true, "allow_sms": true})
    );
    // And the admin's role shows in /api/me.
    assert_eq!(
        json_of(s.get(&admin, "/api/me").await).await["role"],
        "Admin"
    );
    assert_eq!(json_of(s.get(&user, "/api/me").await).await["role"], "User");
}

#[tokio::test]
async fn the_admin_page_is_403_for_others() {
    let s = TestServer::start().await;
    let user = s.client();
    s.register(&user, "user@example.com").await;
    let r = s.get(&user, "/admin").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap_or_default();
    assert!(html.contains("not allowed") && !html.contains("Two-factor policy"));
    assert_eq!(
        s.get(&s.client(), "/admin").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let admin = s.admin("boss@example.com").await;
    let r = s.get(&admin, "/admin?q=user").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap_or_default();
    assert!(html.contains("Two-factor policy") && html.contains("user@example.com"));
}

#[tokio::test]
async fn policy_gives_a_grace_period_then_allows_only_enrolment() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let admin = s.admin("boss@example.com").await;
    let user = s.client();
    assert_eq!(
        s.register(&user, "ann@example.com").await.status(),
        StatusCode::CREATED
    );
    let me = json_of(s.get(&user, "/api/me").await).await;
    assert_eq!(me["mfa_required_by"], Value::Null);

    // Bad input changes nothing.
    let r = post_policy(&s, &admin, "Everybody", 7).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post_policy(&s, &admin, "Everyone", 9999).await;
    assert_eq!(
        error_kind(r).await,
        (StatusCode::BAD_REQUEST, "Validation".into())
    );
    assert_eq!(
        json_of(s.get(&admin, "/api/admin/policy").await).await["require"],
        "Nobody"
    );

    assert_eq!(set_policy(&s, &admin, "Everyone", 7).await, StatusCode::OK);
    assert!(has_event(&events_of(&s, &admin).await, "PolicyChanged"));
    let deadline = T0 + 7 * DAY;

    // Before the date: a banner date, and everything still works.
    clock.advance(DAY / 2);
    let c = s.client();
    assert_eq!(
        s.login(&c, "ann@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(me["mfa_required_by"], deadline);
    assert_eq!(me["mfa_enrolment_required"], false);
    assert_eq!(s.get(&c, "/api/sessions").await.status(), StatusCode::OK);
    // The sign-in form (no JavaScript) leads straight into the wizard.
    let r = s
        .client()
        .post(s.url("/api/auth/login"))
        .form(&[("email", "ann@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("form login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/account/two-factor")
    );

    // A later, longer grace period does not move a date already fixed.
    // (Half a day idle ended the admin's session: it signs in again.)
    assert_eq!(
        s.post(&admin, "/api/auth/reauth", json!({"password": PASSWORD}))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.login(&admin, "boss@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(set_policy(&s, &admin, "Everyone", 30).await, StatusCode::OK);
    assert_eq!(
        json_of(s.get(&c, "/api/me").await).await["mfa_required_by"],
        deadline
    );

    // After the date: nothing but enrolment.
    clock.set(deadline + 1);
    let c = s.client();
    assert_eq!(
        s.login(&c, "ann@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(me["mfa_enrolment_required"], true);
    for path in ["/api/sessions", "/api/devices", "/api/security/events"] {
        assert_eq!(
            error_kind(s.get(&c, path).await).await,
            (StatusCode::FORBIDDEN, "EnrolmentRequired".into()),
            "{path}"
        );
    }
    let r = s
        .post(&c, "/api/auth/logout-all", json!({"keep_current": true}))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let setup = json_of(s.post(&c, "/api/mfa/totp/start", json!({})).await).await;
    let secret = common::twofactor::secret_of(&setup);
    let r = s
        .post(
            &c,
            "/api/mfa/totp/confirm",
            json!({"code": secret.code_at(clock_now(&clock))}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Enrolled: free again, and MFA cannot be turned off while required.
    assert_eq!(s.get(&c, "/api/sessions").await.status(), StatusCode::OK);
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(
        (me["mfa"].clone(), me["mfa_required_by"].clone()),
        (json!("Enabled"), Value::Null)
    );
    clock.advance(30);
    let r = s
        .post(
            &c,
            "/api/mfa/disable",
            json!({"password": PASSWORD, "code": secret.code_at(clock_now(&clock))}),
        )
        .await;
    assert_eq!(
        error_kind(r).await,
        (StatusCode::CONFLICT, "Conflict".into())
    );

    // Lost every factor: an admin resets them, and under the policy
    // enrolment is due at once, not after a new grace period.
    let admin = s.client();
    assert_eq!(
        s.login(&admin, "boss@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    // (The admin is covered too, and past the date: enrol first.)
    let setup = json_of(s.post(&admin, "/api/mfa/totp/start", json!({})).await).await;
    let admin_secret = common::twofactor::secret_of(&setup);
    let r = s
        .post(
            &admin,
            "/api/mfa/totp/confirm",
            json!({"code": admin_secret.code_at(clock_now(&clock))}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .post(
            &admin,
            "/api/admin/users/reset-mfa",
            json!({"email": "ann@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The reset ended ann's session; signed in again, only enrolment is open.
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let c = s.client();
    assert_eq!(
        json_of(s.login(&c, "ann@example.com", PASSWORD).await).await,
        json!("SignedIn")
    );
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(
        (me["mfa"].clone(), me["mfa_enrolment_required"].clone()),
        (json!("Disabled"), json!(true))
    );
    assert_eq!(
        s.get(&c, "/api/sessions").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn admins_are_not_exempt_and_users_are_not_caught_by_an_admin_policy() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let admin = s.admin("boss@example.com").await;
    let user = s.client();
    s.register(&user, "ann@example.com").await;
    assert_eq!(set_policy(&s, &admin, "Admins", 0).await, StatusCode::OK);
    // Zero days of grace: the admin must enrol at once, even to use admin pages.
    let r = s.get(&admin, "/api/admin/stats").await;
    assert_eq!(
        error_kind(r).await,
        (StatusCode::FORBIDDEN, "EnrolmentRequired".into())
    );
    assert_eq!(
        json_of(s.get(&user, "/api/me").await).await["mfa_required_by"],
        Value::Null
    );
    assert_eq!(s.get(&user, "/api/sessions").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sensitive_actions_need_a_reauth_within_ten_minutes() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let admin = s.admin("boss@example.com").await;
    assert_eq!(set_policy(&s, &admin, "Nobody", 7).await, StatusCode::OK);
    clock.advance(10 * 60);
    // Exactly ten minutes after the password: too late, whatever the session's age.
    let r = post_policy(&s, &admin, "Everyone", 7).await;
    assert_eq!(
        error_kind(r).await,
        (StatusCode::FORBIDDEN, "ReauthRequired".into())
    );
    assert_eq!(
        json_of(s.get(&admin, "/api/admin/policy").await).await["require"],
        "Nobody"
    );
    // Reading stays open.
    assert_eq!(
        s.get(&admin, "/api/admin/stats").await.status(),
        StatusCode::OK
    );
    let r = s
        .post(
            &admin,
            "/api/auth/reauth",
            json!({"password": "wrong password here"}),
        )
        .await;
    assert_eq!(
        error_kind(r).await,
        (StatusCode::UNAUTHORIZED, "InvalidCredentials".into())
    );
    let r = s
        .post(&admin, "/api/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["fresh_until"], T0 + 20 * 60);
    assert_eq!(set_policy(&s, &admin, "Everyone", 7).await, StatusCode::OK);
    assert!(has_event(&events_of(&s, &admin).await, "Reauthenticated"));
}

#[tokio::test]
async fn with_mfa_on_reauth_needs_a_code_and_regenerate_needs_a_recent_password() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "mo@example.com").await;
    clock.advance(30);
    let c = challenge(&s, &e.email).await;
    let code = e.secret.code_at(clock_now(&clock));
    assert_eq!(answer(&s, &c, "Totp", &code).await.status(), StatusCode::OK);
    clock.advance(11 * 60);
    let code = e.secret.code_at(clock_now(&clock));
    let r = s
        .post(
            &c,
            "/api/mfa/backup-codes/regenerate",
            json!({"code": code}),
        )
        .await;
    assert_eq!(
        error_kind(r).await,
        (StatusCode::FORBIDDEN, "ReauthRequired".into())
    );
    // The refused request did not spend the code.
    let r = s
        .post(&c, "/api/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(
        error_kind(r).await,
        (StatusCode::BAD_REQUEST, "Validation".into())
    );
    let r = s
        .post(
            &c,
            "/api/auth/reauth",
            json!({"password": PASSWORD, "code": code}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    clock.advance(30);
    let code = e.secret.code_at(clock_now(&clock));
    let r = s
        .post(
            &c,
            "/api/mfa/backup-codes/regenerate",
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions_and_devices_and_alerts() {
    let clock = FixedClock::new(T0);
    let (s, sink) = with_sink(&clock).await;
    let e = enrol(&s, &clock, "cy@example.com").await;
    sink.wait_for(1).await;
    // Browser A trusts itself; browser B is another session.
    clock.advance(30);
    let a = challenge(&s, &e.email).await;
    let r = s.post(&a, "/api/auth/second-factor", json!({"method": "Totp", "code": e.secret.code_at(clock_now(&clock)), "trust_device": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    clock.advance(30);
    let b = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &b, "Totp", &e.secret.code_at(clock_now(&clock)))
            .await
            .status(),
        StatusCode::OK
    );
    sink.wait_for(2).await;

    // Bad input changes nothing.
    let r = s
        .post(
            &b,
            "/api/auth/change-password",
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(json_of(r).await["field"], "new_password");
    let r = s
        .post(
            &b,
            "/api/auth/change-password",
            json!({"current_password": "not my password", "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(
        error_kind(r).await,
        (StatusCode::UNAUTHORIZED, "InvalidCredentials".into())
    );
    // Eleven minutes on, the factor is stale: a code is needed now.
    clock.advance(11 * 60);
    let r = s
        .post(
            &b,
            "/api/auth/change-password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(
        error_kind(r).await,
        (StatusCode::FORBIDDEN, "ReauthRequired".into())
    );
    assert_eq!(s.get(&a, "/api/me").await.status(), StatusCode::OK);

    let r = s.post(&b, "/api/auth/change-password", json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "code": e.secret.code_at(clock_now(&clock))})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["revoked"], 1);
    // B goes on, A is signed out, and A's browser is no longer trusted.
    assert_eq!(s.get(&b, "/api/me").await.status(), StatusCode::OK);
    assert_eq!(
        s.get(&a, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = s.login(&a, &e.email, NEW_PASSWORD).await;
    assert!(
        json_of(r).await.get("SecondFactorRequired").is_some(),
        "the device must not skip the code any more"
    );
    assert_eq!(
        s.login(&s.client(), &e.email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(has_event(&events_of(&s, &b).await, "PasswordChanged"));
    let mail = sink.wait_for_subject("Your password was changed", 1).await;
    assert!(mail[0].contains("If it was not you"));
}

#[tokio::test]
async fn admin_resets_a_users_mfa_with_audit_and_alert() {
    let clock = FixedClock::new(T0);
    let (s, sink) = with_sink(&clock).await;
    let e = enrol(&s, &clock, "lost@example.com").await;
    clock.advance(30);
    let c = challenge(&s, &e.email).await;
    let r = s.post(&c, "/api/auth/second-factor", json!({"method": "Totp", "code": e.secret.code_at(clock_now(&clock)), "trust_device": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let admin = s.admin("boss@example.com").await;
    let r = s
        .post(
            &admin,
            "/api/admin/users/reset-mfa",
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .post(
            &admin,
            "/api/admin/users/reset-mfa",
            json!({"email": "Lost@Example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["mfa"], "Disabled");

    // Whoever held a session may have taken the factors: it has ended.
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let c = s.client();
    assert_eq!(
        json_of(s.login(&c, &e.email, PASSWORD).await).await,
        json!("SignedIn")
    );
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(
        (me["mfa"].clone(), me["trusted_devices"].clone()),
        (json!("Disabled"), json!(0))
    );
    let db = s.db().await;
    let left: i64 = sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM factors) + (SELECT COUNT(*) FROM totp_factors) + (SELECT COUNT(*) FROM totp_enrolments) + (SELECT COUNT(*) FROM backup_codes) + (SELECT COUNT(*) FROM trusted_devices)")
        .fetch_one(&db).await.expect("count");
    assert_eq!(left, 0);
    // The user's own trail says so, and the admin's trail records the action.
    let events = events_of(&s, &c).await;
    let reset = events
        .iter()
        .find(|e| e["kind"] == "MfaReset")
        .expect("MfaReset event");
    assert!(
        reset["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("boss@example.com")
    );
    assert!(has_event(&events_of(&s, &admin).await, "AdminAction"));
    sink.wait_for_subject("Two-factor authentication was reset by an administrator", 1)
        .await;
    // Signing in now needs only the password.
    let r = s.login(&s.client(), &e.email, PASSWORD).await;
    assert_eq!(json_of(r).await, json!("SignedIn"));
}

#[tokio::test]
async fn admin_unlocks_a_locked_account() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let user = s.client();
    s.register(&user, "ann@example.com").await;
    for _ in 0..5 {
        s.login(&s.client(), "ann@example.com", "wrong password 1")
            .await;
    }
    assert_eq!(
        s.login(&s.client(), "ann@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let admin = s.admin("boss@example.com").await;
    let list = json_of(s.get(&admin, "/api/admin/users?q=ann").await).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["users"][0]["locked"], true);
    assert_eq!(
        json_of(s.get(&admin, "/api/admin/stats").await).await["active_lockouts"],
        1
    );
    let r = s
        .post(
            &admin,
            "/api/admin/users/unlock",
            json!({"email": "ann@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.login(&s.client(), "ann@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    let list = json_of(s.get(&admin, "/api/admin/users?q=ann").await).await;
    assert_eq!(list["users"][0]["locked"], false);
    assert!(has_event(&events_of(&s, &user).await, "AccountUnlocked"));
}

#[tokio::test]
async fn users_are_searched_and_paginated() {
    let s = TestServer::start().await;
    let admin = s.admin("boss@example.com").await;
    for i in 0..5 {
        s.register(&s.client(), &format!("user{i}@example.com"))
            .await;
    }
    s.register(&s.client(), "x_y@example.com").await;
    let page = |q: &'static str| {
        let s = &s;
        let admin = admin.clone();
        async move { json_of(s.get(&admin, q).await).await }
    };
    let p1 = page("/api/admin/users?q=user&per_page=2").await;
    assert_eq!(
        (p1["total"].clone(), p1["users"].as_array().map(Vec::len)),
        (json!(5), Some(2))
    );
    assert_eq!(p1["users"][0]["email"], "user0@example.com");
    let p3 = page("/api/admin/users?q=user&per_page=2&page=3").await;
    assert_eq!(p3["users"][0]["email"], "user4@example.com");
    // `_` is a literal, not a wildcard.
    assert_eq!(page("/api/admin/users?q=_").await["total"], 1);
    assert_eq!(
        page("/api/admin/users?q=%27%20OR%201%3D1").await["total"],
        0
    );
    let r = s.get(&admin, "/api/admin/users?page=abc").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let all = page("/api/admin/users").await;
    assert_eq!(all["total"], 7);
    assert_eq!(all["users"][0]["role"], "Admin");
    assert!(
        all["users"][0]["last_sign_in_at"].is_null(),
        "registered, never signed in"
    );
}

#[tokio::test]
async fn statistics_match_the_database() {
    let clock = FixedClock::new(T0 - 3 * DAY);
    let s = TestServer::start_with_clock(clock.clone()).await;
    // Three days ago: an account with MFA, a sign-in and a failed code.
    let e = enrol(&s, &clock, "old@example.com").await;
    clock.advance(30);
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "Totp", "000000").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        answer(&s, &c, "Totp", &e.secret.code_at(clock_now(&clock)))
            .await
            .status(),
        StatusCode::OK
    );
    // Now: two more accounts, two sign-ins, one failed code, one lockout.
    clock.set(T0);
    let admin = s.admin("boss@example.com").await;
    s.register(&s.client(), "new@example.com").await;
    assert_eq!(
        s.login(&s.client(), "new@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        s.login(&s.client(), "boss@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    clock.advance(30);
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "Totp", "000000").await.status(),
        StatusCode::BAD_REQUEST
    );
    for _ in 0..5 {
        s.login(&s.client(), "new@example.com", "wrong password 1")
            .await;
    }
    // A wrong password when confirming an action is not a failed factor.
    let r = s
        .post(
            &admin,
            "/api/auth/reauth",
            json!({"password": "not the password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let stats = json_of(s.get(&admin, "/api/admin/stats").await).await;
    assert_eq!(
        stats,
        json!({
            "accounts": 3, "admins": 1, "mfa_enabled": 1, "mfa_enabled_percent": 33.3,
            "sign_ins_24h": 2, "sign_ins_7d": 3,
            "failed_factors_24h": 1, "failed_factors_7d": 2,
            "active_lockouts": 1
        })
    );
}
