//! Trusted devices: "trust this device" skips the second factor on that
//! browser for 30 days, until revoked or MFA changes; never for step-up.

use crate::common;

use app::backend::infra::clock::FixedClock;
use common::twofactor::{T0, answer, challenge, enrol, start};
use common::{PASSWORD, TestServer, json_of, set_cookie};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// Signs in with password + backup code, asking to trust the browser.
async fn trusted_browser(s: &TestServer, email: &str, code: &str) -> Client {
    let c = challenge(s, email).await;
    let r = s
        .post(
            &c,
            "/api/auth/second-factor",
            json!({"method": "BackupCode", "code": code, "trust_device": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect();
    let device = cookies
        .iter()
        .find(|c| c.starts_with("twofold_device="))
        .expect("device cookie");
    assert!(
        device.contains("HttpOnly")
            && device.contains("Max-Age=2592000")
            && device.contains("Path=/api")
    );
    s.post(&c, "/api/auth/logout", json!({})).await;
    c
}

async fn login_outcome(s: &TestServer, c: &Client, email: &str) -> Value {
    let r = s.login(c, email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    json_of(r).await
}

#[tokio::test]
async fn a_trusted_browser_skips_the_second_factor_other_browsers_do_not() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "td@example.com").await;
    let c = trusted_browser(&s, &e.email, &e.codes[0]).await;
    assert_eq!(login_outcome(&s, &c, &e.email).await, json!("SignedIn"));
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(me["trusted_devices"], 1);
    // Another browser still gets the challenge; a wrong password gets nothing.
    assert!(
        login_outcome(&s, &s.client(), &e.email)
            .await
            .get("SecondFactorRequired")
            .is_some()
    );
    let r = s.login(&c, &e.email, "wrong password 123").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Listed, with this browser marked.
    let list = json_of(s.get(&c, "/api/devices").await).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["current"], true);
}

#[tokio::test]
async fn trust_expires_after_30_days() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "te@example.com").await;
    let c = trusted_browser(&s, &e.email, &e.codes[0]).await;
    clock.advance(30 * 24 * 3600 - 60);
    assert_eq!(login_outcome(&s, &c, &e.email).await, json!("SignedIn"));
    s.post(&c, "/api/auth/logout", json!({})).await;
    clock.advance(61);
    assert!(
        login_outcome(&s, &c, &e.email)
            .await
            .get("SecondFactorRequired")
            .is_some()
    );
}

#[tokio::test]
async fn a_revoked_device_no_longer_skips() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "tr@example.com").await;
    let c = trusted_browser(&s, &e.email, &e.codes[0]).await;
    let other = trusted_browser(&s, &e.email, &e.codes[1]).await;
    assert_eq!(login_outcome(&s, &c, &e.email).await, json!("SignedIn"));
    let list = json_of(s.get(&c, "/api/devices").await).await;
    let theirs = list
        .as_array()
        .and_then(|l| l.iter().find(|d| d["current"] == false))
        .map(|d| d["id"].clone())
        .expect("the other device");
    let r = s
        .post(&c, "/api/devices/revoke", json!({"id": theirs}))
        .await;
    assert_eq!(json_of(r).await, json!({"revoked": 1}));
    assert!(
        login_outcome(&s, &other, &e.email)
            .await
            .get("SecondFactorRequired")
            .is_some()
    );
    // Bad requests change nothing.
    let r = s.post(&c, "/api/devices/revoke", json!({})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .post(&c, "/api/devices/revoke", json!({"id": theirs}))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .post(&c, "/api/devices/revoke", json!({"all": true}))
        .await;
    assert_eq!(json_of(r).await, json!({"revoked": 1}));
    s.post(&c, "/api/auth/logout", json!({})).await;
    assert!(
        login_outcome(&s, &c, &e.email)
            .await
            .get("SecondFactorRequired")
            .is_some()
    );
}

#[tokio::test]
async fn disabling_mfa_forgets_every_device_and_trust_is_no_step_up() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "tm@example.com").await;
    let c = trusted_browser(&s, &e.email, &e.codes[0]).await;
    assert_eq!(login_outcome(&s, &c, &e.email).await, json!("SignedIn"));
    // Step-up still needs a code on a trusted browser.
    let r = s
        .post(
            &c,
            "/api/mfa/disable",
            json!({"password": PASSWORD, "code": ""}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .post(&c, "/api/mfa/backup-codes/regenerate", json!({"code": ""}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    clock.advance(30);
    let code = e.secret.code_at(T0 + 30);
    let r = s
        .post(
            &c,
            "/api/mfa/disable",
            json!({"password": PASSWORD, "code": code}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM trusted_devices")
        .fetch_one(&s.db().await)
        .await
        .expect("count");
    assert_eq!(left, 0);
    assert_eq!(
        json_of(s.get(&c, "/api/me").await).await["trusted_devices"],
        0
    );
}

#[tokio::test]
async fn trusting_without_asking_sets_no_device_cookie() {
    let clock = FixedClock::new(T0);
    let s = start(&clock).await;
    let e = enrol(&s, &clock, "tn@example.com").await;
    let c = challenge(&s, &e.email).await;
    let r = answer(&s, &c, "BackupCode", &e.codes[0]).await;
    assert!(set_cookie(&r).is_some());
    assert!(
        !r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.starts_with("twofold_device=")))
    );
}
