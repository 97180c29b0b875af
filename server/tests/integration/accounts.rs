//! Register, sign in, sign out and `/api/me` over real HTTP on a temp database.

use crate::common;

use common::{PASSWORD, TestServer, json_of, set_cookie};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn register_signs_in_and_me_shows_the_account() {
    let s = TestServer::start().await;
    let c = s.client();
    let r = s.register(&c, "  Ana@Example.COM ").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let cookie = set_cookie(&r).expect("session cookie");
    assert!(cookie.starts_with("twofold_session="));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let body = json_of(r).await;
    assert_eq!(body["email"], "ana@example.com");
    let me = s.get(&c, "/api/me").await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(
        json_of(me).await,
        json!({"email": "ana@example.com", "role": "User", "mfa": "Disabled",
               "backup_codes_left": 0, "trusted_devices": 0,
               "mfa_required_by": null, "mfa_enrolment_required": false,
               "sms_available": false})
    );
}

#[tokio::test]
async fn duplicate_email_is_refused_whatever_the_case() {
    let s = TestServer::start().await;
    assert_eq!(
        s.register(&s.client(), "bo@example.com").await.status(),
        StatusCode::CREATED
    );
    let r = s.register(&s.client(), "BO@example.com").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body = json_of(r).await;
    assert_eq!(body["error"], "EmailTaken");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn bad_email_and_weak_passwords_are_400_and_create_nothing() {
    let s = TestServer::start().await;
    let c = s.client();
    let r = s
        .post(
            &c,
            "/api/auth/register",
            json!({"email": "not-an-email", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = json_of(r).await;
    assert_eq!(
        (body["error"].as_str(), body["field"].as_str()),
        (Some("Validation"), Some("email"))
    );

    for (password, why) in [("short pw", "12"), ("password1234", "common")] {
        let r = s
            .post(
                &c,
                "/api/auth/register",
                json!({"email": "cy@example.com", "password": password}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(set_cookie(&r).is_none());
        let body = json_of(r).await;
        assert_eq!(body["field"], "password");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(why)),
            "{body}"
        );
    }
    // Nothing was created: the address is still free and nobody is signed in.
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.register(&c, "cy@example.com").await.status(),
        StatusCode::CREATED
    );
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&s.db().await)
        .await
        .expect("count");
    assert_eq!(users, 1);
}

#[tokio::test]
async fn login_logout_and_the_old_cookie_is_dead() {
    let s = TestServer::start().await;
    s.register(&s.client(), "di@example.com").await;
    let c = s.client();
    let r = s.login(&c, "di@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = set_cookie(&r).expect("cookie");
    assert!(
        !cookie.contains("Max-Age"),
        "no remember-me: browser-session cookie"
    );
    assert_eq!(json_of(r).await, json!("SignedIn"));
    assert_eq!(s.get(&c, "/api/me").await.status(), StatusCode::OK);

    let token = cookie.split(';').next().unwrap_or_default().to_string();
    let r = s.post(&c, "/api/auth/logout", json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie(&r).is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Replaying the old cookie by hand: the row is gone.
    let raw = reqwest::Client::new()
        .get(s.url("/api/me"))
        .header("cookie", token)
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status(), StatusCode::UNAUTHORIZED);
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&s.db().await)
        .await
        .expect("count");
    assert_eq!(sessions, 1, "only the registration session remains");
}

#[tokio::test]
async fn unknown_email_answers_exactly_like_a_wrong_password() {
    let s = TestServer::start().await;
    s.register(&s.client(), "ed@example.com").await;
    let wrong = s
        .login(&s.client(), "ed@example.com", "wrong password 123")
        .await;
    let unknown = s
        .login(&s.client(), "nobody@example.com", "wrong password 123")
        .await;
    let malformed = s.login(&s.client(), "nobody", "wrong password 123").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), wrong.status());
    assert_eq!(malformed.status(), wrong.status());
    assert!(set_cookie(&wrong).is_none() && set_cookie(&unknown).is_none());
    let (w, u, m) = (
        json_of(wrong).await,
        json_of(unknown).await,
        json_of(malformed).await,
    );
    assert_eq!(
        w,
        json!({"error": "InvalidCredentials", "message": "The email or password is not right."})
    );
    assert_eq!(u, w);
    assert_eq!(m, w);
}

#[tokio::test]
async fn remember_me_sets_a_30_day_cookie() {
    let s = TestServer::start().await;
    s.register(&s.client(), "fa@example.com").await;
    let c = s.client();
    let r = s
        .post(
            &c,
            "/api/auth/login",
            json!({"email": "fa@example.com", "password": PASSWORD, "remember_me": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookie(&r).is_some_and(|c| c.contains("Max-Age=2592000")));
}

#[tokio::test]
async fn secure_cookie_behind_an_https_proxy() {
    let s = TestServer::start().await;
    let r = s
        .client()
        .post(s.url("/api/auth/register"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "gu@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert!(set_cookie(&r).is_some_and(|c| c.contains("; Secure")));
}

#[tokio::test]
async fn only_the_token_hash_is_stored_and_events_are_recorded() {
    let s = TestServer::start().await;
    let c = s.client();
    let r = s.register(&c, "ha@example.com").await;
    let cookie = set_cookie(&r).expect("cookie");
    let token = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("token");
    assert_eq!(
        s.login(&c, "ha@example.com", "wrong password 123")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let pool = s.db().await;
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_all(&pool)
        .await
        .expect("hashes");
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].len(), 32);
    assert_ne!(hashes[0], token.as_bytes());
    let kinds: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT kind, ip FROM security_events ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("events");
    assert_eq!(
        kinds.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        ["Registered", "LoginFailed"]
    );
    assert!(kinds.iter().all(|k| k.1.as_deref() == Some("127.0.0.1")));
}

#[tokio::test]
async fn sessions_expire_after_24_hours_or_30_days_with_remember_me() {
    let clock = app::backend::infra::clock::FixedClock::new(1_800_000_000);
    let s = TestServer::start_with_clock(clock.clone()).await;
    s.register(&s.client(), "ia@example.com").await;
    let short = s.client();
    s.login(&short, "ia@example.com", PASSWORD).await;
    let long = s.client();
    s.post(
        &long,
        "/api/auth/login",
        json!({"email": "ia@example.com", "password": PASSWORD, "remember_me": true}),
    )
    .await;
    // Used often enough not to idle out (see session_rules.rs): the
    // absolute lifetimes decide.
    clock.advance(12 * 3600 - 1);
    assert_eq!(s.get(&short, "/api/me").await.status(), StatusCode::OK);
    assert_eq!(s.get(&long, "/api/me").await.status(), StatusCode::OK);
    clock.advance(12 * 3600 - 1);
    assert_eq!(s.get(&short, "/api/me").await.status(), StatusCode::OK);
    clock.advance(2);
    assert_eq!(
        s.get(&short, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.get(&long, "/api/me").await.status(), StatusCode::OK);
    // 30 days from the start, used every 6 days.
    for _ in 0..4 {
        clock.advance(6 * 24 * 3600);
        assert_eq!(s.get(&long, "/api/me").await.status(), StatusCode::OK);
    }
    clock.advance(5 * 24 * 3600 - 2);
    assert_eq!(s.get(&long, "/api/me").await.status(), StatusCode::OK);
    clock.advance(2);
    assert_eq!(
        s.get(&long, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forms_posted_without_javascript_redirect() {
    let s = TestServer::start().await;
    let c = s.client();
    let r = c
        .post(s.url("/api/auth/register"))
        .form(&[("email", "ja@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account");
    assert!(set_cookie(&r).is_some());

    let r = c
        .post(s.url("/api/auth/login"))
        .form(&[
            ("email", "ja@example.com"),
            ("password", "wrong password 123"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?error=InvalidCredentials");

    let r = c
        .post(s.url("/api/auth/register"))
        .form(&[("email", "nope"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(
        r.headers()["location"],
        "/signup?error=Validation&field=email"
    );

    let r = c
        .post(s.url("/api/auth/login"))
        .form(&[
            ("email", "ja@example.com"),
            ("password", PASSWORD),
            ("remember_me", "true"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.headers()["location"], "/account");
    assert!(set_cookie(&r).is_some_and(|c| c.contains("Max-Age=2592000")));

    let r = c
        .post(s.url("/api/auth/logout"))
        .form(&[("x", "")])
        .send()
        .await
        .expect("request");
    assert_eq!(r.headers()["location"], "/login");
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_account_page_is_rendered_on_the_server_with_the_account() {
    let s = TestServer::start().await;
    let c = s.client();
    s.register(&c, "ka@example.com").await;
    let r = s.get(&c, "/account").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    assert!(html.contains("ka@example.com"), "{html}");
    assert!(html.contains("Two-factor authentication: off"));
    // Sessions and recent activity are rendered on the server too.
    assert!(html.contains("This device"), "{html}");
    assert!(html.contains("Recent security activity") && html.contains("Account created"));
    let signed_out = s
        .get(&s.client(), "/account")
        .await
        .text()
        .await
        .expect("html");
    assert!(signed_out.contains("You are signed out"));
    assert!(!signed_out.contains("ka@example.com"));
}
