//! SPEC section 4 rules at the HTTP edge: headers, cross-origin refusal, bad input.

use crate::common;

use common::{PASSWORD, TestServer, json_of};
use reqwest::StatusCode;
use serde_json::json;

fn assert_security_headers(r: &reqwest::Response, path: &str) {
    let h = r.headers();
    let get = |k: &str| {
        h.get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let csp = get("content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{path}");
    assert!(!csp.contains("unsafe-inline"), "{path}");
    assert_eq!(get("x-frame-options"), "DENY", "{path}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let s = TestServer::start().await;
    let c = s.client();
    s.register(&c, "la@example.com").await;
    for path in [
        "/",
        "/login",
        "/signup",
        "/account",
        "/api/me",
        "/healthz",
        "/nowhere",
        "/api/nowhere",
    ] {
        let r = s.get(&c, path).await;
        assert_security_headers(&r, path);
        assert_eq!(
            r.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{path}"
        );
    }
    let r = s.post(&s.client(), "/api/auth/login", json!({})).await;
    assert_security_headers(&r, "POST /api/auth/login");
}

#[tokio::test]
async fn the_hydration_script_carries_the_csp_nonce() {
    let s = TestServer::start().await;
    let r = s.get(&s.client(), "/login").await;
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("nonce in CSP")
        .to_string();
    assert!(nonce.len() >= 16);
    let html = r.text().await.unwrap_or_default();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "page scripts must carry the nonce"
    );
    // Every inline script carries it, so nothing runs without it.
    assert_eq!(
        html.matches("<script").count(),
        html.matches(&format!("nonce=\"{nonce}\"")).count()
    );
    // A new nonce for every response.
    let again = s.get(&s.client(), "/login").await;
    assert!(
        !again.headers()["content-security-policy"]
            .to_str()
            .unwrap_or_default()
            .contains(&nonce)
    );
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let s = TestServer::start().await;
    let r = s.get(&s.client(), "/no/such/page").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.text()
            .await
            .unwrap_or_default()
            .contains("Page not found")
    );
    let r = s.get(&s.client(), "/api/no/such/endpoint").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(r).await["error"], "NotFound");
}

#[tokio::test]
async fn cross_origin_posts_are_refused_and_change_nothing() {
    let s = TestServer::start().await;
    let c = s.client();
    let r = c
        .post(s.url("/api/auth/register"))
        .header("origin", "https://evil.example")
        .json(&json!({"email": "ma@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(r).await["error"], "Forbidden");
    let r = c
        .post(s.url("/api/auth/register"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "ma@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Nothing was created.
    assert_eq!(
        s.login(&c, "ma@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A signed-in user cannot be signed out from another site either.
    s.register(&c, "ma@example.com").await;
    let r = c
        .post(s.url("/api/auth/logout"))
        .header("origin", "http://attacker.test")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.get(&c, "/api/me").await.status(), StatusCode::OK);

    // `Origin: null` (what browsers send on form posts under no-referrer) is
    // only accepted when Fetch Metadata says the post came from this site.
    let form = [("email", "mb@example.com"), ("password", PASSWORD)];
    let r = s
        .client()
        .post(s.url("/api/auth/register"))
        .header("origin", "null")
        .form(&form)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s
        .client()
        .post(s.url("/api/auth/register"))
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The same site is fine.
    let r = c
        .post(s.url("/api/auth/logout"))
        .header("origin", s.base.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn bad_bodies_are_4xx_with_json_errors_and_the_server_stays_healthy() {
    let s = TestServer::start().await;
    let c = s.client();
    let send = |body: reqwest::Body, ct: &'static str| {
        c.post(s.url("/api/auth/register"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let cases: Vec<(&str, reqwest::Body, &'static str, StatusCode)> = vec![
        (
            "malformed",
            "{\"email\": ".into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong types",
            r#"{"email": 5, "password": ["x"]}"#.into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing field",
            r#"{"email": "na@example.com"}"#.into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "not an object",
            "[1,2,3]".into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "empty",
            "".into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "2 MB",
            vec![b'a'; 2 * 1024 * 1024].into(),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "bad form",
            "email=%ZZ".into(),
            "application/x-www-form-urlencoded",
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (name, body, ct, want) in cases {
        let r = send(body, ct).await.expect("request");
        assert_eq!(r.status(), want, "{name}");
        let body = json_of(r).await;
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{name}: {body}"
        );
        assert!(
            !body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("sqlx"),
            "{name}"
        );
    }
    // Unicode and SQL fragments are just a bad email, not an error of ours.
    for email in [
        "Zoë@exämple.com",
        "x' OR '1'='1@example.com",
        "a@b.com; DROP TABLE users",
    ] {
        let r = s
            .post(
                &c,
                "/api/auth/register",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{email}");
    }
    s.assert_healthy().await;
    assert_eq!(
        s.register(&c, "na@example.com").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn health_reports_the_database() {
    let s = TestServer::start().await;
    let r = s.get(&s.client(), "/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await, json!({"status": "ok", "database": "ok"}));
}
