//! Helpers for tests that need two-factor authentication turned on.
#![allow(dead_code)]

use app::backend::factors::totp::TotpSecret;
use app::backend::infra::clock::{Clock, FixedClock};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::{PASSWORD, TestServer, json_of};

/// A step boundary: codes at T0 belong to one step, T0 + 30 to the next.
pub const T0: i64 = 1_800_000_000;

pub struct Enrolled {
    pub email: String,
    pub secret: TotpSecret,
    pub codes: Vec<String>,
}

pub fn secret_of(setup: &Value) -> TotpSecret {
    TotpSecret::from_base32(setup["secret"].as_str().unwrap_or_default()).expect("base32 key")
}

/// Registers `email` and turns TOTP on at the clock's current time.
pub async fn enrol(s: &TestServer, clock: &FixedClock, email: &str) -> Enrolled {
    let c = s.client();
    assert_eq!(s.register(&c, email).await.status(), StatusCode::CREATED);
    let setup = json_of(s.post(&c, "/api/mfa/totp/start", json!({})).await).await;
    let secret = secret_of(&setup);
    let r = s
        .post(
            &c,
            "/api/mfa/totp/confirm",
            json!({"code": secret.code_at(clock_now(clock))}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(body["mfa"], "Enabled");
    let codes: Vec<String> = serde_json::from_value(body["backup_codes"].clone()).expect("codes");
    s.post(&c, "/api/auth/logout", json!({})).await;
    Enrolled {
        email: email.to_string(),
        secret,
        codes,
    }
}

pub fn clock_now(clock: &FixedClock) -> i64 {
    clock.now()
}

/// Password step; returns the client holding the challenge cookie.
pub async fn challenge(s: &TestServer, email: &str) -> Client {
    let c = s.client();
    let r = s.login(&c, email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(
        body,
        json!({"SecondFactorRequired": {"methods": ["Totp", "BackupCode", "EmailCode"], "expires_in_s": 300}})
    );
    c
}

pub async fn answer(s: &TestServer, c: &Client, method: &str, code: &str) -> reqwest::Response {
    s.post(
        c,
        "/api/auth/second-factor",
        json!({"method": method, "code": code, "trust_device": false}),
    )
    .await
}

pub async fn start(clock: &FixedClock) -> TestServer {
    TestServer::start_with_clock(clock.clone()).await
}
