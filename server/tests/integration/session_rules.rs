//! Session rules: idle timeout, a new token at re-authentication, challenges
//! cancelled when the factors change, enrolment behind the re-auth window,
//! admin resets, and housekeeping of expired rows.

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::{Clock, FixedClock};
use common::twofactor::{T0, answer, challenge, enrol};
use common::{PASSWORD, TestServer, json_of, set_cookie, wait_for_outbox};
use reqwest::StatusCode;
use serde_json::json;

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

async fn me_with(s: &TestServer, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(s.url("/api/me"))
        .header("cookie", format!("twofold_session={token}"))
        .send()
        .await
        .expect("me")
        .status()
}

#[tokio::test]
async fn a_session_ends_after_twelve_idle_hours_and_remember_me_after_seven_days() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    s.register(&s.client(), "idle@example.com").await;
    let short = s.client();
    s.login(&short, "idle@example.com", PASSWORD).await;
    let long = s.client();
    let r = s
        .post(
            &long,
            "/api/auth/login",
            json!({"email": "idle@example.com", "password": PASSWORD, "remember_me": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Used every 11 hours: alive past 12 hours in all.
    clock.advance(11 * 3600);
    assert_eq!(s.get(&short, "/api/me").await.status(), StatusCode::OK);
    clock.advance(11 * 3600);
    assert_eq!(s.get(&short, "/api/me").await.status(), StatusCode::OK);
    clock.advance(2 * 3600);
    assert_eq!(
        s.get(&short, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "24 h absolute"
    );
    let fresh = s.client();
    s.login(&fresh, "idle@example.com", PASSWORD).await;
    clock.advance(12 * 3600);
    assert_eq!(
        s.get(&fresh, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Remember me: 22 hours idle is fine, 7 days idle is not.
    assert_eq!(s.get(&long, "/api/me").await.status(), StatusCode::OK);
    clock.advance(7 * 24 * 3600);
    assert_eq!(
        s.get(&long, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn re_authentication_gives_the_session_a_new_token() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let c = s.client();
    let r = s.register(&c, "rot@example.com").await;
    let old = cookie_value(&set_cookie(&r).expect("cookie"));
    let r = s
        .post(&c, "/api/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let new = cookie_value(&set_cookie(&r).expect("a new cookie"));
    assert_ne!(old, new);
    assert_eq!(me_with(&s, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_with(&s, &new).await, StatusCode::OK);
    assert_eq!(s.get(&c, "/api/me").await.status(), StatusCode::OK);
    // A wrong password rotates nothing.
    let r = s
        .post(
            &c,
            "/api/auth/reauth",
            json!({"password": "wrong wrong wrong"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&r).is_none());
}

#[tokio::test]
async fn cookies_use_the_host_prefix_over_https() {
    let s = TestServer::start().await;
    let c = s.client();
    let r = c
        .post(s.url("/api/auth/register"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "https@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    let cookie = set_cookie(&r).expect("cookie");
    assert!(cookie.starts_with("__Host-twofold_session="), "{cookie}");
    assert!(cookie.contains("; Path=/;") && cookie.contains("Secure"));
    let token = cookie_value(&cookie);
    // Over https, the unprefixed name (which a subdomain could plant) is ignored.
    let status = |name: &'static str| {
        let url = s.url("/api/me");
        let token = token.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .header("x-forwarded-proto", "https")
                .header("cookie", format!("{name}={token}"))
                .send()
                .await
                .expect("me")
                .status()
        }
    };
    assert_eq!(status("__Host-twofold_session").await, StatusCode::OK);
    assert_eq!(status("twofold_session").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn enrolling_needs_the_re_authentication_window() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let c = s.client();
    s.register(&c, "late@example.com").await;
    clock.advance(11 * 60);
    let r = s.post(&c, "/api/mfa/totp/start", json!({})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(r).await["error"], "ReauthRequired");
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM totp_enrolments")
        .fetch_one(&s.db().await)
        .await
        .expect("count");
    assert_eq!(pending, 0, "nothing was started");
    let r = s
        .post(&c, "/api/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.post(&c, "/api/mfa/totp/start", json!({})).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_change_cancels_live_sign_in_challenges() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "cc@example.com").await;
    clock.advance(30);
    // The owner signs in fully; someone else holds a half sign-in.
    let owner = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &owner, "Totp", &e.secret.code_at(T0 + 30))
            .await
            .status(),
        StatusCode::OK
    );
    let other = challenge(&s, &e.email).await;
    let r = s
        .post(
            &owner,
            "/api/auth/change-password",
            json!({"current_password": PASSWORD, "new_password": "a whole new phrase 77"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    clock.advance(30);
    let r = answer(&s, &other, "Totp", &e.secret.code_at(T0 + 60)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(r).await["error"], "ChallengeExpired");
}

#[tokio::test]
async fn an_admin_reset_ends_sessions_and_challenges_and_tells_every_admin() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let root = s.admin("root@example.com").await;
    let e = enrol(&s, &clock, "second@example.com").await;
    sqlx::query("UPDATE users SET role = 'Admin' WHERE email = $1")
        .bind(&e.email)
        .execute(&s.db().await)
        .await
        .expect("promote");
    clock.advance(30);
    let session = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &session, "Totp", &e.secret.code_at(T0 + 30))
            .await
            .status(),
        StatusCode::OK
    );
    let half = challenge(&s, &e.email).await;
    let r = s
        .post(
            &root,
            "/api/admin/users/reset-mfa",
            json!({"email": e.email}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    assert_eq!(
        s.get(&session, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = answer(&s, &half, "Totp", &e.secret.code_at(T0 + 30)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let mails = wait_for_outbox(
        s.dir.path(),
        "An administrator's two-factor authentication was reset",
        2,
    )
    .await;
    assert!(mails.iter().any(|m| m.contains("To: root@example.com")));
    assert!(mails.iter().any(|m| m.contains("To: second@example.com")));
}

#[tokio::test]
async fn housekeeping_removes_expired_rows() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let e = enrol(&s, &clock, "hk@example.com").await;
    let c = challenge(&s, &e.email).await;
    s.post(&c, "/api/auth/email-code", json!({})).await;
    s.login(&s.client(), "hk@example.com", "wrong wrong wrong 1")
        .await;
    s.login(&s.client(), "ghost@example.com", "wrong wrong wrong 2")
        .await;
    s.register(&s.client(), "other@example.com").await;
    // A passkey sign-in started and never finished.
    s.post(&s.client(), "/api/webauthn/login/start", json!({}))
        .await;
    let db = s.db().await;
    let count = |table: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&db)
                .await
                .expect("count")
        }
    };
    for table in [
        "login_challenges",
        "email_codes",
        "email_code_sends",
        "auth_failures",
        "failure_streaks",
        "known_addresses",
        "webauthn_ceremonies",
    ] {
        assert!(count(table).await > 0, "{table} has rows to expire");
    }
    let state = s.state(Arc::new(clock.clone()), &common::security()).await;
    // Nothing has expired yet: nothing goes.
    let tables = [
        "sessions",
        "login_challenges",
        "email_codes",
        "email_code_sends",
        "auth_failures",
        "failure_streaks",
        "known_addresses",
        "webauthn_ceremonies",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(count(table).await);
    }
    let removed = app::backend::infra::housekeeping::run_once(&state, clock.now())
        .await
        .expect("pass");
    assert_eq!(
        removed,
        app::backend::infra::housekeeping::Removed::default()
    );
    for (table, n) in tables.into_iter().zip(before) {
        assert_eq!(count(table).await, n, "{table} untouched");
    }
    // 31 days on, everything above is past its time.
    clock.advance(31 * 24 * 3600);
    let removed = app::backend::infra::housekeeping::run_once(&state, clock.now())
        .await
        .expect("pass");
    assert!(removed.total() > 0);
    for table in [
        "sessions",
        "login_challenges",
        "email_codes",
        "email_code_sends",
        "auth_failures",
        "failure_streaks",
        "known_addresses",
        "webauthn_ceremonies",
    ] {
        assert_eq!(count(table).await, 0, "{table} emptied");
    }
    assert_eq!(count("users").await, 2, "accounts stay");
}

#[tokio::test]
async fn past_the_enrolment_deadline_re_authentication_opens_enrolment() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let admin = s.admin("root@example.com").await;
    let r = s
        .post(
            &admin,
            "/api/admin/policy",
            json!({"require": "Everyone", "grace_days": 0}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let c = s.client();
    s.register(&c, "due@example.com").await;
    // An old session (11 minutes): enrolment needs the password again...
    clock.advance(11 * 60);
    let r = s.post(&c, "/api/mfa/totp/start", json!({})).await;
    assert_eq!(json_of(r).await["error"], "ReauthRequired");
    // ...and re-authentication stays open past the deadline, so it can be given.
    let r = s
        .post(&c, "/api/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.post(&c, "/api/mfa/totp/start", json!({})).await.status(),
        StatusCode::OK
    );
    // Everything else stays closed.
    assert_eq!(
        s.get(&c, "/api/sessions").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_password_change_forgets_the_addresses_that_vouched_for_the_owner() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    let c = s.client();
    s.register(&c, "moved@example.com").await;
    let known = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM known_addresses")
            .fetch_one(&s.db().await)
            .await
            .expect("count")
    };
    assert_eq!(known().await, 1);
    let r = s
        .post(
            &c,
            "/api/auth/change-password",
            json!({"current_password": PASSWORD, "new_password": "a fresh start phrase 31"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(known().await, 0);
}
