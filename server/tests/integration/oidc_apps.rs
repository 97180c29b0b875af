//! The client settings docs/OPERATIONS.md gives for Grafana and Gitea, used
//! as written: the clients file is loaded from the page, and each app's
//! requests are made the way its documented settings make them (Grafana:
//! Basic auth, PKCE, no nonce, userinfo, sign-out without a hint; Gitea:
//! discovery, Basic auth, no PKCE, the consent page).

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use base64::Engine;
use common::twofactor::{T0, answer, challenge, clock_now, enrol};
use common::{TestServer, json_of, location, query_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DOCS: &str = include_str!("../../../docs/OPERATIONS.md");
const SECRET: &str = "documented-secret-for-tests";

/// The fenced block right after the `<!-- name: ... -->` marker.
fn block(marker: &str) -> String {
    let start = DOCS
        .find(&format!("<!-- {marker}:"))
        .unwrap_or_else(|| panic!("marker {marker} in OPERATIONS.md"));
    let rest = &DOCS[start..];
    let open = rest.find("```").expect("a fenced block");
    let body = &rest[open..];
    let first_line_end = body.find('\n').expect("fence line");
    let body = &body[first_line_end + 1..];
    let close = body.find("```").expect("closing fence");
    body[..close].to_string()
}

/// `key = value` lines of an ini block.
fn ini(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Every value of `--flag value` in a shell command.
fn flags(command: &str, flag: &str) -> Vec<String> {
    let words: Vec<&str> = command.split_whitespace().filter(|w| *w != "\\").collect();
    words
        .windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].trim_matches('\'').to_string())
        .collect()
}

async fn server(clock: &FixedClock) -> TestServer {
    let hash = app::backend::auth::passwords::hash_blocking(
        &app::backend::auth::passwords::Password::new(SECRET.into()),
    )
    .expect("hash");
    let file_text = block("oidc-clients").replace("$argon2id$v=19$m=19456,t=2,p=1$...", &hash.0);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("clients.toml");
    std::fs::write(&file, file_text).expect("clients");
    let security = twofold_server::config::SecurityArgs {
        oidc_clients: Some(file),
        ..common::security()
    };
    TestServer::start_full(Arc::new(clock.clone()), Some(dir), security).await
}

/// The documented URL, on the test server.
fn here(s: &TestServer, documented: &str) -> String {
    documented.replace("https://login.example.com", &s.base)
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

#[tokio::test]
async fn grafana_as_documented() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let g = ini(&block("grafana"));
    assert_eq!(g["auth_style"], "InHeader");
    assert_eq!(g["use_pkce"], "true");
    let client_id = &g["client_id"];
    let callback = "https://grafana.example.com/login/generic_oauth";
    // An admin with an authenticator app (the client needs two factors).
    let enrolled = enrol(&s, &clock, "root@example.com").await;
    sqlx::query("UPDATE users SET role = 'Admin' WHERE email = 'root@example.com'")
        .execute(&s.db().await)
        .await
        .expect("promote");
    clock.advance(30);
    let browser = challenge(&s, &enrolled.email).await;
    let r = answer(
        &s,
        &browser,
        "Totp",
        &enrolled.secret.code_at(clock_now(&clock)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    // What Grafana sends: PKCE S256 with a 128-character verifier, a padded
    // base64 state, no nonce.
    let verifier = "a".repeat(64) + &"B".repeat(64);
    let challenge_s256 = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let state = "c3RhdGUtd2l0aC1wYWRkaW5nLQ==";
    let auth = format!(
        "{}?{}",
        here(&s, &g["auth_url"]),
        serde_urlencoded::to_string([
            ("client_id", client_id.as_str()),
            ("redirect_uri", callback),
            ("response_type", "code"),
            ("scope", g["scopes"].as_str()),
            ("state", state),
            ("code_challenge", challenge_s256.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .expect("query")
    );
    let r = browser.get(&auth).send().await.expect("authorize");
    let back = location(&r);
    assert!(back.starts_with(callback), "{back}");
    let q = query_of(&back);
    assert_eq!(
        q.get("state").map(String::as_str),
        Some(state),
        "byte for byte"
    );
    let code = q.get("code").cloned().expect("code");

    let http = reqwest::Client::new();
    let r = http
        .post(here(&s, &g["token_url"]))
        .basic_auth(client_id, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", callback),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    let tokens = json_of(r).await;
    let id = payload(tokens["id_token"].as_str().expect("id_token"));
    // The attribute paths of the documented settings.
    assert_eq!(id[g["email_attribute_path"].as_str()], "root@example.com");
    assert_eq!(id[g["login_attribute_path"].as_str()], "root@example.com");
    assert_eq!(id[g["name_attribute_path"].as_str()], "root");
    assert_eq!(id[g["groups_attribute_path"].as_str()], json!(["admin"]));
    assert!(id.get("nonce").is_none());
    assert!(tokens["refresh_token"].as_str().is_some(), "offline_access");
    let r = http
        .get(here(&s, &g["api_url"]))
        .bearer_auth(tokens["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("userinfo");
    let info = json_of(r).await;
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["groups"], json!(["admin"]));

    // Grafana's sign-out: no id_token_hint, its client_id and listed page.
    // Any site could send that, so the person is asked first.
    let r = browser
        .get(here(&s, &g["signout_redirect_url"]))
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap_or_default();
    assert!(page.contains("Sign out of Twofold?"), "{page}");
    assert_eq!(s.get(&browser, "/api/me").await.status(), StatusCode::OK);
    // The page's own form confirms it (a same-origin POST).
    let query = g["signout_redirect_url"]
        .split_once('?')
        .map(|(_, q)| q.to_string())
        .unwrap_or_default();
    let r = browser
        .post(s.url("/oauth2/logout"))
        .header("origin", s.base.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&confirm=yes"))
        .send()
        .await
        .expect("confirm");
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap_or_default();
    assert!(
        page.contains("href=\"https://grafana.example.com/login\""),
        "{page}"
    );
    assert_eq!(
        s.get(&browser, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Another site cannot confirm it.
    let again = challenge(&s, &enrolled.email).await;
    clock.advance(30);
    let r = answer(
        &s,
        &again,
        "Totp",
        &enrolled.secret.code_at(clock_now(&clock)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = again
        .post(s.url("/oauth2/logout"))
        .header("origin", "https://evil.example.net")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&confirm=yes"))
        .send()
        .await
        .expect("cross-site");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.get(&again, "/api/me").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn gitea_as_documented() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let command = block("gitea");
    let key = flags(&command, "--key").pop().expect("--key");
    let scopes = flags(&command, "--scopes").join(" ");
    let discovery_url = flags(&command, "--auto-discover-url").pop().expect("url");
    let callback = "https://git.example.com/user/oauth2/twofold/callback";
    let browser = s.client();
    assert_eq!(
        s.register(&browser, "dev@example.com").await.status(),
        StatusCode::CREATED
    );
    // Gitea reads discovery; the issuer is the public URL.
    let http = reqwest::Client::new();
    let d = json_of(
        http.get(here(&s, &discovery_url))
            .send()
            .await
            .expect("discovery"),
    )
    .await;
    let authorize = d["authorization_endpoint"]
        .as_str()
        .expect("endpoint")
        .replace("localhost", "127.0.0.1");
    let gitea_wants = |browser: reqwest::Client| {
        let authorize = authorize.clone();
        let scopes = scopes.clone();
        let key = key.clone();
        async move {
            browser
                .get(format!(
                    "{authorize}?{}",
                    serde_urlencoded::to_string([
                        ("client_id", key.as_str()),
                        ("redirect_uri", callback),
                        ("response_type", "code"),
                        ("scope", scopes.as_str()),
                        ("state", "9b2f1d5e-8a43-4c1f-9f0e-3c2b1a0d9e8f"),
                    ])
                    .expect("query")
                ))
                .send()
                .await
                .expect("authorize")
        }
    };
    // Gitea's client is `two_factor` by default: this account has no MFA, so
    // it is led into enrolment first.
    let r = gitea_wants(browser.clone()).await;
    assert!(location(&r).starts_with("/account/two-factor?rd="));
    let enrolled_browser = {
        let enrolled = enrol(&s, &clock, "ops@example.com").await;
        clock.advance(30);
        let c = challenge(&s, &enrolled.email).await;
        let r = answer(&s, &c, "Totp", &enrolled.secret.code_at(clock_now(&clock))).await;
        assert_eq!(r.status(), StatusCode::OK);
        c
    };
    let r = gitea_wants(enrolled_browser.clone()).await;
    let to = location(&r);
    assert!(to.starts_with("/consent?"), "explicit consent: {to}");
    let r = s
        .post(
            &enrolled_browser,
            "/api/oauth2/consent",
            json!({"query": to.trim_start_matches("/consent?"), "allow": true}),
        )
        .await;
    let next = json_of(r).await["redirect"]
        .as_str()
        .unwrap_or_default()
        .replace("localhost", "127.0.0.1");
    let r = enrolled_browser.get(&next).send().await.expect("authorize");
    let code = query_of(&location(&r)).get("code").cloned().expect("code");
    let r = http
        .post(d["token_endpoint"].as_str().expect("token endpoint"))
        .basic_auth(&key, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", callback),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    let tokens = json_of(r).await;
    assert!(tokens.get("refresh_token").is_none(), "no offline_access");
    let id = payload(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id["iss"], d["issuer"]);
    assert!(id["exp"].is_i64(), "a number");
    assert_eq!(id["email"], "ops@example.com");
    assert_eq!(id["groups"], json!(["user"]), "not in the admin group");
    let r = http
        .get(d["userinfo_endpoint"].as_str().expect("userinfo endpoint"))
        .bearer_auth(tokens["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("userinfo");
    assert_eq!(json_of(r).await["sub"], id["sub"]);
}
