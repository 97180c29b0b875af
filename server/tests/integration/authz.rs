//! Forward-auth over HTTP, as a reverse proxy asks it: every branch of both
//! endpoints (signed out, one factor against two, a rule that denies, a
//! bypass, the default), a peer that is not a trusted proxy, and a session
//! revoked a moment ago refused at once.

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::twofactor::{T0, clock_now, enrol};
use common::{PASSWORD, TestServer, set_cookie};
use reqwest::StatusCode;
use twofold_server::RouterOptions;
use twofold_server::client_ip::TrustedProxies;

const RULES: &str = r#"default_policy = "deny"

[[rules]]
domain = "public.example.com"
policy = "bypass"

[[rules]]
domain = "secure.example.com"
policy = "two_factor"

[[rules]]
domain = "*.example.com"
path = "/admin"
roles = ["Admin"]
policy = "one_factor"

[[rules]]
domain = "*.example.com"
path = "/admin"
policy = "deny"

[[rules]]
domain = "*.example.com"
policy = "one_factor"
"#;

async fn server(clock: &FixedClock, trusted: &[&str]) -> TestServer {
    let dir = tempfile::tempdir().expect("dir");
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, RULES).expect("rules");
    let security = twofold_server::config::SecurityArgs {
        access_rules: Some(rules),
        ..common::security()
    };
    let list: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
    let options = RouterOptions {
        trusted_proxies: TrustedProxies::parse(&list).expect("proxies"),
        ..RouterOptions::default()
    };
    TestServer::start_custom(Arc::new(clock.clone()), Some(dir), security, options).await
}

/// What Traefik or Caddy sends for `method url`, with the browser's cookie.
async fn forward(
    s: &TestServer,
    method: &str,
    url: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    let (proto, rest) = url.split_once("://").expect("absolute url");
    let (host, uri) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut req = s
        .client()
        .get(s.url("/api/authz/forward-auth"))
        .header("X-Forwarded-Method", method)
        .header("X-Forwarded-Proto", proto)
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", if uri.is_empty() { "/" } else { uri });
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    req.send().await.expect("request")
}

/// What nginx's `auth_request` sends.
async fn auth_request(s: &TestServer, url: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = s
        .client()
        .get(s.url("/api/authz/auth-request"))
        .header("X-Original-URL", url)
        .header("X-Original-Method", "GET");
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    req.send().await.expect("request")
}

/// The `name=value` of a session cookie from a response that set one.
fn session_of(r: &reqwest::Response) -> String {
    let set = set_cookie(r).expect("a cookie");
    set.split(';').next().expect("pair").to_string()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn remote_user(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("remote-user")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

#[tokio::test]
async fn signed_out_is_sent_to_sign_in_with_the_way_back() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, &["127.0.0.1"]).await;
    let port = s.base.rsplit(':').next().expect("port").to_string();
    let login =
        format!("http://localhost:{port}/login?rd=https%3A%2F%2Fapp.example.com%2Fdash%3Fx%3D1");
    let r = forward(&s, "GET", "https://app.example.com/dash?x=1", None).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), login);
    let r = forward(&s, "HEAD", "https://app.example.com/dash?x=1", None).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    // A form post cannot be repeated at the sign-in page: 303.
    let r = forward(&s, "POST", "https://app.example.com/dash?x=1", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), login);
    let r = auth_request(&s, "https://app.example.com/dash?x=1", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(location(&r), login);
    // A bypass lets anyone through, without identity headers.
    let r = forward(&s, "GET", "https://public.example.com/", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(remote_user(&r), None);
    // Nothing matches: the default, deny.
    let r = forward(&s, "GET", "https://other.test/", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_session_passes_with_who_it_is_and_rules_deny_by_path_and_role() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, &["127.0.0.1"]).await;
    let c = s.client();
    s.register(&c, "ana@example.com").await;
    let r = s.login(&s.client(), "ana@example.com", PASSWORD).await;
    let cookie = session_of(&r);

    for r in [
        forward(&s, "GET", "http://app.example.com/", Some(&cookie)).await,
        auth_request(&s, "http://app.example.com/", Some(&cookie)).await,
    ] {
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(remote_user(&r).as_deref(), Some("ana@example.com"));
        let h = r.headers();
        assert_eq!(
            h.get("remote-email").and_then(|v| v.to_str().ok()),
            Some("ana@example.com")
        );
        assert_eq!(
            h.get("remote-groups").and_then(|v| v.to_str().ok()),
            Some("User")
        );
        assert_eq!(
            h.get("remote-name").and_then(|v| v.to_str().ok()),
            Some("ana@example.com")
        );
    }
    let r = forward(&s, "GET", "http://app.example.com/admin/x", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = auth_request(&s, "http://app.example.com/admin/x", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // An admin passes the admin rule.
    s.admin("root@example.com").await;
    let r = s.login(&s.client(), "root@example.com", PASSWORD).await;
    let root = session_of(&r);
    let r = forward(&s, "GET", "http://app.example.com/admin/x", Some(&root)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("remote-groups")
            .and_then(|v| v.to_str().ok()),
        Some("Admin")
    );

    // Signed out: refused at the very next request.
    let r = s
        .client()
        .post(s.url("/api/auth/logout"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("logout");
    assert!(r.status().is_success());
    let r = forward(&s, "GET", "http://app.example.com/", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn two_factor_rules_need_a_session_made_with_a_second_factor() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, &["127.0.0.1"]).await;
    let port = s.base.rsplit(':').next().expect("port").to_string();
    // MFA off: one factor is all the account has; it is sent to set one up.
    let c = s.client();
    s.register(&c, "plain@example.com").await;
    let r = s.login(&s.client(), "plain@example.com", PASSWORD).await;
    let plain = session_of(&r);
    let r = forward(&s, "GET", "http://secure.example.com/", Some(&plain)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        location(&r),
        format!("http://localhost:{port}/account/two-factor?rd=http%3A%2F%2Fsecure.example.com%2F")
    );

    // With TOTP: the password and the code make a two-factor session.
    let e = enrol(&s, &clock, "strong@example.com").await;
    clock.advance(30);
    let b = s.client();
    let r = s.login(&b, &e.email, PASSWORD).await;
    let challenge_cookie = session_of(&r);
    let r = s
        .client()
        .post(s.url("/api/auth/second-factor"))
        .header("Cookie", &challenge_cookie)
        .json(&serde_json::json!({"method": "Totp", "code": e.secret.code_at(clock_now(&clock))}))
        .send()
        .await
        .expect("second factor");
    assert_eq!(r.status(), StatusCode::OK);
    let strong = session_of(&r);
    let r = forward(&s, "GET", "http://secure.example.com/", Some(&strong)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(remote_user(&r).as_deref(), Some("strong@example.com"));
}

#[tokio::test]
async fn only_a_trusted_proxy_may_ask() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, &["10.0.0.1"]).await;
    let r = forward(&s, "GET", "https://public.example.com/", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = auth_request(&s, "https://public.example.com/", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_question_without_the_request_is_a_clear_400() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, &["127.0.0.1"]).await;
    let r = s
        .client()
        .get(s.url("/api/authz/forward-auth"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .client()
        .get(s.url("/api/authz/auth-request"))
        .header("X-Original-URL", "javascript:alert(1)")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn a_bad_rules_file_stops_start_up_naming_the_line() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        "default_policy = \"deny\"\n\n[[rules]]\ndomain = \"a b\"\npolicy = \"deny\"\n",
    )
    .expect("write");
    let e = twofold_server::startup::load_access_rules(Some(&path)).expect_err("bad file");
    let text = e.to_string();
    assert!(text.contains("line 3") && text.contains("a b"), "{text}");
    assert!(!text.contains('\n'));
    let missing = dir.path().join("none.toml");
    let e = twofold_server::startup::load_access_rules(Some(&missing)).expect_err("missing");
    assert!(e.to_string().contains("none.toml"), "{e}");
}

#[tokio::test]
async fn after_sign_in_rd_leads_back_only_to_allowed_domains() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, &["127.0.0.1"]).await;
    let go = |rd: &'static str| {
        let url = s.url(&format!(
            "/api/auth/continue?rd={}",
            app::api::client::encode_query(rd)
        ));
        let c = s.client();
        async move { c.get(url).send().await.expect("request") }
    };
    let r = go("https://app.example.com/dash?x=1").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "https://app.example.com/dash?x=1");
    for bad in [
        "//evil.net",
        "https://example.com.evil.net/",
        "javascript:alert(1)",
        "%2F%2Fevil.net",
        "https://app.example.com@evil.net/",
    ] {
        let r = go(bad).await;
        assert_eq!(location(&r), "/account", "{bad}");
    }
}

#[tokio::test]
async fn the_sign_in_forms_carry_rd_through_both_steps() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, &["127.0.0.1"]).await;
    let c = s.client();
    s.register(&c, "form@example.com").await;
    let form = [
        ("email", "form@example.com"),
        ("password", PASSWORD),
        ("rd", "https://app.example.com/x"),
    ];
    let r = s
        .client()
        .post(s.url("/api/auth/login"))
        .form(&form)
        .send()
        .await
        .expect("login");
    // Another site after a form post: a page that leads on, not a redirect.
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(common::leads_to(&r), "https://app.example.com/x");

    // With MFA: to the second step with rd, then back to the app.
    let e = enrol(&s, &clock, "form2@example.com").await;
    clock.advance(30);
    let b = s.client();
    let form = [
        ("email", e.email.as_str()),
        ("password", PASSWORD),
        ("rd", "https://app.example.com/y"),
    ];
    let r = b
        .post(s.url("/api/auth/login"))
        .form(&form)
        .send()
        .await
        .expect("login");
    let page = location(&r);
    assert!(page.starts_with("/login/second-factor?"), "{page}");
    assert!(
        page.ends_with("rd=https%3A%2F%2Fapp.example.com%2Fy"),
        "{page}"
    );
    let code = e.secret.code_at(clock_now(&clock));
    let form = [
        ("method", "Totp"),
        ("code", code.as_str()),
        ("rd", "https://app.example.com/y"),
    ];
    let r = b
        .post(s.url("/api/auth/second-factor"))
        .form(&form)
        .send()
        .await
        .expect("second factor");
    assert_eq!(common::leads_to(&r), "https://app.example.com/y");
    // A look-alike rd is dropped: the account page instead.
    let r = s
        .client()
        .post(s.url("/api/auth/login"))
        .form(&[
            ("email", "form@example.com"),
            ("password", PASSWORD),
            ("rd", "https://example.com.evil.net/"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(location(&r), "/account");
}

#[tokio::test]
async fn a_cookie_domain_shares_one_sign_in_with_every_app_under_it() {
    let clock = FixedClock::new(T0);
    let dir = tempfile::tempdir().expect("dir");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\ndomain = \"*.example.test\"\npolicy = \"one_factor\"\n",
    )
    .expect("rules");
    let security = twofold_server::config::SecurityArgs {
        access_rules: Some(rules),
        public_url: Some("http://login.example.test:3000".into()),
        cookie_domain: Some("example.test".into()),
        ..common::security()
    };
    let options = RouterOptions {
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1".to_string()]).expect("proxies"),
        ..RouterOptions::default()
    };
    let s = TestServer::start_custom(Arc::new(clock.clone()), Some(dir), security, options).await;
    s.register(&s.client(), "sso@example.com").await;
    let r = s.login(&s.client(), "sso@example.com", PASSWORD).await;
    let set = set_cookie(&r).expect("cookie");
    assert!(set.contains("; Domain=example.test;"), "{set}");
    let cookie = session_of(&r);
    let r = forward(&s, "GET", "http://grafana.example.test/", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(remote_user(&r).as_deref(), Some("sso@example.com"));
    // The same cookie is the Twofold session too.
    let r = s
        .client()
        .get(s.url("/api/me"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn a_cookie_domain_must_hold_the_public_url() {
    use twofold_server::startup::cookie_domain;
    assert_eq!(
        cookie_domain(Some(".Example.com"), "https://login.example.com").expect("ok"),
        Some("example.com".into())
    );
    assert_eq!(
        cookie_domain(None, "https://login.example.com").expect("ok"),
        None
    );
    for bad in ["other.com", "com", "xample.com", "exa mple.com"] {
        let e = cookie_domain(Some(bad), "https://login.example.com").expect_err(bad);
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(e.to_string().contains("--cookie-domain"), "{e}");
    }
}

#[tokio::test]
async fn a_trusted_device_session_proves_a_factor_once_for_two_factor_apps() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, &["127.0.0.1"]).await;
    let port = s.base.rsplit(':').next().expect("port").to_string();
    let e = enrol(&s, &clock, "device@example.com").await;
    // Password and code once, trusting this browser...
    clock.advance(30);
    let b = s.client();
    s.login(&b, &e.email, PASSWORD).await;
    let r = s
        .post(
            &b,
            "/api/auth/second-factor",
            serde_json::json!({"method": "Totp", "code": e.secret.code_at(clock_now(&clock)), "trust_device": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // ...then a sign-in on it skips the code: a session without a factor.
    let r = s.login(&b, &e.email, PASSWORD).await;
    let cookie = session_of(&r);
    // The app is on https: the browser sends the session as a __Host- cookie.
    let https = |c: &str| format!("__Host-{c}");
    let r = forward(
        &s,
        "GET",
        "https://secure.example.com/x",
        Some(&https(&cookie)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        location(&r),
        format!("http://localhost:{port}/reauth?rd=https%3A%2F%2Fsecure.example.com%2Fx")
    );
    // The re-auth page's form: password, code, and back to the app.
    clock.advance(30);
    let code = e.secret.code_at(clock_now(&clock));
    let r = s
        .client()
        .post(s.url("/api/auth/reauth"))
        .header("Cookie", &cookie)
        .form(&[
            ("password", PASSWORD),
            ("code", code.as_str()),
            ("rd", "https://secure.example.com/x"),
        ])
        .send()
        .await
        .expect("reauth");
    assert_eq!(common::leads_to(&r), "https://secure.example.com/x");
    let fresh = session_of(&r);
    let r = forward(
        &s,
        "GET",
        "https://secure.example.com/x",
        Some(&https(&fresh)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn admins_see_the_rules_and_what_they_refused() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, &["127.0.0.1"]).await;
    let admin = s.admin("boss@example.com").await;
    let user = s.client();
    s.register(&user, "worker@example.com").await;
    let r = s.login(&s.client(), "worker@example.com", PASSWORD).await;
    let cookie = session_of(&r);
    let r = forward(
        &s,
        "GET",
        "http://app.example.com/admin/panel",
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = forward(&s, "POST", "https://nowhere.test/x", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = s.get(&user, "/api/admin/access").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s.get(&admin, "/api/admin/access").await;
    assert_eq!(r.status(), StatusCode::OK);
    let view = common::json_of(r).await;
    assert_eq!(view["default_policy"], "deny");
    assert_eq!(view["rules"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        view["rules"][2]["domains"],
        serde_json::json!(["*.example.com"])
    );
    assert_eq!(view["rules"][2]["roles"], serde_json::json!(["Admin"]));
    assert_eq!(view["rules"][3]["policy"], "deny");
    let denials = view["denials"].as_array().cloned().unwrap_or_default();
    assert_eq!(denials.len(), 2, "{view}");
    // Newest first.
    assert_eq!(denials[0]["url"], "https://nowhere.test/x");
    assert_eq!(denials[0]["method"], "POST");
    assert_eq!(denials[0]["line"], serde_json::Value::Null);
    assert_eq!(denials[1]["user"], "worker@example.com");
    assert_eq!(denials[1]["line"], 17);
}
