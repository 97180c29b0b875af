//! Sessions (list, revoke, sign out everywhere) and the audit trail over HTTP.

use crate::common;

use common::{PASSWORD, TestServer, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn sessions(s: &TestServer, c: &reqwest::Client) -> Vec<Value> {
    let r = s.get(c, "/api/sessions").await;
    assert_eq!(r.status(), StatusCode::OK);
    json_of(r).await.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn list_marks_the_current_session_and_revoking_one_ends_it() {
    let s = TestServer::start().await;
    let laptop = s.client();
    s.register(&laptop, "se@example.com").await;
    let phone = s.client();
    let r = phone
        .post(s.url("/api/auth/login"))
        .header(
            "user-agent",
            "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 Chrome/156.0 Mobile Safari/537.36",
        )
        .json(&json!({"email": "se@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);

    let list = sessions(&s, &laptop).await;
    assert_eq!(list.len(), 2);
    let current: Vec<&Value> = list.iter().filter(|x| x["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let other = list
        .iter()
        .find(|x| x["current"] == false)
        .expect("phone session");
    assert_eq!(other["device"], "Chrome on Android");
    assert_eq!(other["ip"], "127.0.0.1");

    let r = s
        .post(&laptop, "/api/sessions/revoke", json!({"id": other["id"]}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&phone, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.get(&laptop, "/api/me").await.status(), StatusCode::OK);
    // Gone is gone.
    let r = s
        .post(&laptop, "/api/sessions/revoke", json!({"id": other["id"]}))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn nobody_can_end_someone_elses_session() {
    let s = TestServer::start().await;
    let ann = s.client();
    s.register(&ann, "ann@example.com").await;
    let bob = s.client();
    s.register(&bob, "bob@example.com").await;
    let bobs = sessions(&s, &bob).await;
    let r = s
        .post(&ann, "/api/sessions/revoke", json!({"id": bobs[0]["id"]}))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.get(&bob, "/api/me").await.status(), StatusCode::OK);
    let r = s
        .post(&ann, "/api/sessions/revoke", json!({"id": "one"}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn logout_all_ends_the_others_or_everything() {
    let s = TestServer::start().await;
    let a = s.client();
    s.register(&a, "lo@example.com").await;
    let b = s.client();
    s.login(&b, "lo@example.com", PASSWORD).await;
    let c = s.client();
    s.login(&c, "lo@example.com", PASSWORD).await;

    let r = s
        .post(&a, "/api/auth/logout-all", json!({"keep_current": true}))
        .await;
    assert_eq!(json_of(r).await, json!({"revoked": 2}));
    assert_eq!(s.get(&a, "/api/me").await.status(), StatusCode::OK);
    assert_eq!(
        s.get(&b, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );

    s.login(&b, "lo@example.com", PASSWORD).await;
    let r = a
        .post(s.url("/api/auth/logout-all"))
        .send()
        .await
        .expect("request");
    assert_eq!(json_of(r).await, json!({"revoked": 2}));
    assert_eq!(
        s.get(&a, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.get(&b, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.post(&a, "/api/auth/logout-all", json!({})).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_audit_trail_is_per_user_newest_first_and_paginated() {
    let s = TestServer::start().await;
    let ann = s.client();
    s.register(&ann, "au@example.com").await;
    s.login(&s.client(), "au@example.com", "wrong password 123")
        .await;
    s.login(&s.client(), "au@example.com", PASSWORD).await;
    let bob = s.client();
    s.register(&bob, "bu@example.com").await;

    let page = json_of(s.get(&ann, "/api/security/events?limit=2").await).await;
    let kinds: Vec<&str> = page["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["kind"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["LoginSucceeded", "LoginFailed"]);
    assert_eq!(page["events"][0]["ip"], "127.0.0.1");
    let before = page["next_before"].as_i64().expect("more pages");
    let rest = json_of(
        s.get(&ann, &format!("/api/security/events?before={before}"))
            .await,
    )
    .await;
    assert_eq!(rest["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["events"][0]["kind"], "Registered");
    assert_eq!(rest["next_before"], Value::Null);

    // Bob sees only his own registration.
    let bobs = json_of(s.get(&bob, "/api/security/events").await).await;
    assert_eq!(bobs["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        s.get(&s.client(), "/api/security/events").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = s.get(&ann, "/api/security/events?limit=lots").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
