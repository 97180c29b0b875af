//! Phones as a second factor, over a fake Twilio started here (axum on a
//! free port) that checks what Twilio's API would: the path, basic auth and
//! the form fields; and fails on demand.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use app::backend::infra::clock::FixedClock;
use axum::extract::{Form, Path, State};
use common::twofactor::T0;
use common::{PASSWORD, TestServer, burst, json_of, tally};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use twofold_server::config::{SecurityArgs, SmsProviderArg};

const SID: &str = "ACtest0123";
const TOKEN: &str = "auth-token-xyz";
const FROM: &str = "+15005550006";
const PHONE: &str = "+44 7911 123456";

#[derive(Debug, Clone)]
struct Sent {
    sid: String,
    authorization: String,
    form: std::collections::HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Twilio {
    sent: Arc<Mutex<Vec<Sent>>>,
    fail: Arc<AtomicBool>,
}

impl Twilio {
    async fn start() -> (Twilio, String) {
        let twilio = Twilio::default();
        let app = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                axum::routing::post(messages),
            )
            .with_state(twilio.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        (twilio, url)
    }

    fn sent(&self) -> Vec<Sent> {
        self.sent.lock().expect("lock").clone()
    }

    /// The code in the latest text.
    fn last_code(&self) -> String {
        let body = self.sent().last().expect("a text").form["Body"].clone();
        body.chars().filter(char::is_ascii_digit).take(6).collect()
    }
}

async fn messages(
    State(twilio): State<Twilio>,
    Path(sid): Path<String>,
    headers: http::HeaderMap,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
    if twilio.fail.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"message": "down"})),
        );
    }
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    twilio.sent.lock().expect("lock").push(Sent {
        sid,
        authorization,
        form,
    });
    (StatusCode::CREATED, axum::Json(json!({"sid": "SM1"})))
}

fn with_twilio(url: &str) -> SecurityArgs {
    SecurityArgs {
        sms_provider: Some(SmsProviderArg::Twilio),
        twilio_api_url: url.to_string(),
        sms_from: Some(FROM.into()),
        twilio_credentials: Some((SID.into(), TOKEN.into())),
        ..common::security()
    }
}

async fn start(security: SecurityArgs, clock: &FixedClock) -> TestServer {
    TestServer::start_full(Arc::new(clock.clone()), None, security).await
}

/// Signs up and adds a phone; returns the signed-in client.
async fn with_phone(s: &TestServer, twilio: &Twilio, email: &str) -> (Client, Value) {
    let c = s.client();
    assert_eq!(s.register(&c, email).await.status(), StatusCode::CREATED);
    let r = s
        .post(
            &c,
            "/api/mfa/phone/start",
            json!({"phone": PHONE, "name": "Pixel"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .post(
            &c,
            "/api/mfa/phone/confirm",
            json!({"code": twilio.last_code()}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    (c, json_of(r).await)
}

async fn sms_challenge(s: &TestServer, email: &str) -> Client {
    let c = s.client();
    let r = s.login(&c, email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let methods = json_of(r).await["SecondFactorRequired"]["methods"].clone();
    assert_eq!(methods, json!(["SmsCode", "BackupCode", "EmailCode"]));
    c
}

#[tokio::test]
async fn a_phone_is_added_with_a_texted_code_and_signs_in() {
    let clock = FixedClock::new(T0);
    let (twilio, url) = Twilio::start().await;
    let s = start(with_twilio(&url), &clock).await;
    let c = s.client();
    assert_eq!(
        s.register(&c, "sms@example.com").await.status(),
        StatusCode::CREATED
    );

    // Bad numbers are refused before anything is sent.
    for bad in ["07700 900123", "+44 12", "hello", ""] {
        let r = s
            .post(
                &c,
                "/api/mfa/phone/start",
                json!({"phone": bad, "name": "Pixel"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(json_of(r).await["field"], "phone");
    }
    assert!(twilio.sent().is_empty());

    let r = s
        .post(
            &c,
            "/api/mfa/phone/start",
            json!({"phone": PHONE, "name": "Pixel"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["phone"], "+44 •••• ••• 456");
    let sent = twilio.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sid, SID);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    assert_eq!(sent[0].authorization, format!("Basic {basic}"));
    assert_eq!(sent[0].form["To"], "+447911123456");
    assert_eq!(sent[0].form["From"], FROM);
    let code = twilio.last_code();
    assert_eq!(code.len(), 6);

    // A wrong code adds nothing.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = s
        .post(&c, "/api/mfa/phone/confirm", json!({"code": wrong}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["error"], "InvalidCode");
    let factors = json_of(s.get(&c, "/api/factors").await).await;
    assert_eq!(factors, json!([]));

    let r = s
        .post(&c, "/api/mfa/phone/confirm", json!({"code": code}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(body["mfa"], "Enabled");
    assert_eq!(body["backup_codes"].as_array().map(Vec::len), Some(10));
    let factors = json_of(s.get(&c, "/api/factors").await).await;
    assert_eq!(factors[0]["kind"], "Phone");
    assert_eq!(factors[0]["name"], "Pixel");
    assert_eq!(factors[0]["phone"], "+44 •••• ••• 456");
    // The number itself is never shown back.
    assert!(!factors.to_string().contains("123456"));

    // Sign in: "Text me a code".
    let c = sms_challenge(&s, "sms@example.com").await;
    let r = s.post(&c, "/api/auth/sms-code", json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(json_of(r).await["phone"], "+44 •••• ••• 456");
    let code = twilio.last_code();
    let r = common::twofactor::answer(&s, &c, "SmsCode", &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(s.get(&c, "/api/me").await).await["mfa"], "Enabled");

    // The same code again, at a new challenge: spent.
    let c2 = sms_challenge(&s, "sms@example.com").await;
    let r = common::twofactor::answer(&s, &c2, "SmsCode", &code).await;
    assert_eq!(json_of(r).await["error"], "InvalidCode");

    // Removed like any factor (inside the re-auth window of a new sign-in).
    let id = json_of(s.get(&c, "/api/factors").await).await[0]["id"].clone();
    let r = s.post(&c, "/api/factors/remove", json!({"id": id})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(s.get(&c, "/api/me").await).await["mfa"], "Disabled");
}

#[tokio::test]
async fn a_provider_failure_says_so_costs_nothing_and_the_next_try_works() {
    let clock = FixedClock::new(T0);
    let (twilio, url) = Twilio::start().await;
    let s = start(with_twilio(&url), &clock).await;
    with_phone(&s, &twilio, "down@example.com").await;
    let c = sms_challenge(&s, "down@example.com").await;
    twilio.fail.store(true, Ordering::SeqCst);
    // Three failures in a row: each is answered plainly and given back, so
    // the hourly budget of 3 is untouched.
    for _ in 0..3 {
        let r = s.post(&c, "/api/auth/sms-code", json!({})).await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        let body = json_of(r).await;
        assert_eq!(body["error"], "SmsNotSent");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("another method")
        );
    }
    twilio.fail.store(false, Ordering::SeqCst);
    let r = s.post(&c, "/api/auth/sms-code", json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = common::twofactor::answer(&s, &c, "SmsCode", &twilio.last_code()).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn forty_racing_sends_for_one_account_get_three_texts() {
    let clock = FixedClock::new(T0);
    let (twilio, url) = Twilio::start().await;
    let s = start(with_twilio(&url), &clock).await;
    with_phone(&s, &twilio, "burst@example.com").await;
    // The enrolment text counts: 2 left this hour.
    let c = sms_challenge(&s, "burst@example.com").await;
    let statuses = burst(40, |_| c.post(s.url("/api/auth/sms-code")).json(&json!({}))).await;
    assert_eq!(tally(&statuses, StatusCode::ACCEPTED), 2, "{statuses:?}");
    assert_eq!(tally(&statuses, StatusCode::TOO_MANY_REQUESTS), 38);
    assert_eq!(twilio.sent().len(), 3);
    let r = s.post(&c, "/api/auth/sms-code", json!({})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(wait > 3500 && wait <= 3600, "{wait}");
    // An hour on, texts go again.
    clock.advance(3601);
    let c = sms_challenge(&s, "burst@example.com").await;
    let r = s.post(&c, "/api/auth/sms-code", json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn one_address_and_the_whole_server_have_budgets_too() {
    let clock = FixedClock::new(T0);
    let (twilio, url) = Twilio::start().await;
    // Per address: 10 an hour, over several accounts (3 each).
    let s = start(with_twilio(&url), &clock).await;
    let mut clients = Vec::new();
    for i in 0..4 {
        let email = format!("addr{i}@example.com");
        with_phone(&s, &twilio, &email).await;
        clients.push(sms_challenge(&s, &email).await);
    }
    // 4 enrolment texts sent; 6 more allowed from this address.
    let mut statuses = Vec::new();
    for c in &clients {
        for _ in 0..2 {
            statuses.push(s.post(c, "/api/auth/sms-code", json!({})).await.status());
        }
    }
    assert_eq!(tally(&statuses, StatusCode::ACCEPTED), 6, "{statuses:?}");
    assert_eq!(tally(&statuses, StatusCode::TOO_MANY_REQUESTS), 2);
    assert_eq!(twilio.sent().len(), 10);

    // The server's daily cap, whoever asks.
    let (twilio, url) = Twilio::start().await;
    let s = start(
        SecurityArgs {
            sms_daily_cap: 3,
            ..with_twilio(&url)
        },
        &clock,
    )
    .await;
    with_phone(&s, &twilio, "cap1@example.com").await;
    with_phone(&s, &twilio, "cap2@example.com").await;
    let c = sms_challenge(&s, "cap1@example.com").await;
    assert_eq!(
        s.post(&c, "/api/auth/sms-code", json!({})).await.status(),
        StatusCode::ACCEPTED
    );
    let c = sms_challenge(&s, "cap2@example.com").await;
    let r = s.post(&c, "/api/auth/sms-code", json!({})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(twilio.sent().len(), 3);
}

#[tokio::test]
async fn five_wrong_codes_spend_the_code_and_count_toward_the_lockout() {
    let clock = FixedClock::new(T0);
    let (twilio, url) = Twilio::start().await;
    let s = start(with_twilio(&url), &clock).await;
    with_phone(&s, &twilio, "guess@example.com").await;
    let c = sms_challenge(&s, "guess@example.com").await;
    s.post(&c, "/api/auth/sms-code", json!({})).await;
    let right = twilio.last_code();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let statuses = burst(30, |_| {
        c.post(s.url("/api/auth/second-factor"))
            .json(&json!({"method": "SmsCode", "code": wrong}))
    })
    .await;
    assert_eq!(tally(&statuses, StatusCode::OK), 0);
    // Whatever the mix of refusals, the right code no longer works.
    let c = sms_challenge(&s, "guess@example.com").await;
    let r = common::twofactor::answer(&s, &c, "SmsCode", &right).await;
    assert_ne!(r.status(), StatusCode::OK);
    let failed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM security_events WHERE kind = 'FactorFailed' AND detail LIKE 'SmsCode%'",
    )
    .fetch_one(&s.db().await)
    .await
    .expect("count");
    assert!(failed >= 5, "{failed}");
}

#[tokio::test]
async fn when_the_policy_disallows_texts_phones_cannot_be_added_or_used() {
    let clock = FixedClock::new(T0);
    let (twilio, url) = Twilio::start().await;
    let s = start(with_twilio(&url), &clock).await;
    with_phone(&s, &twilio, "pol@example.com").await;
    let admin = s.admin("admin@example.com").await;
    let r = s
        .post(
            &admin,
            "/api/admin/policy",
            json!({"require": "Nobody", "grace_days": 7, "allow_email_codes": true, "allow_sms": false}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        json_of(s.get(&admin, "/api/admin/policy").await).await["allow_sms"],
        false
    );
    let before = twilio.sent().len();

    let c = s.client();
    let r = s.login(&c, "pol@example.com", PASSWORD).await;
    let methods = json_of(r).await["SecondFactorRequired"]["methods"].clone();
    assert_eq!(methods, json!(["BackupCode", "EmailCode"]));
    let r = s.post(&c, "/api/auth/sms-code", json!({})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = common::twofactor::answer(&s, &c, "SmsCode", "123456").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let other = s.client();
    assert_eq!(
        s.register(&other, "new@example.com").await.status(),
        StatusCode::CREATED
    );
    let r = s
        .post(
            &other,
            "/api/mfa/phone/start",
            json!({"phone": PHONE, "name": "Pixel"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(twilio.sent().len(), before);
}

#[tokio::test]
async fn without_a_provider_there_are_no_phones_and_the_outbox_provider_writes_files() {
    let s = TestServer::start().await;
    let c = s.client();
    assert_eq!(
        s.register(&c, "none@example.com").await.status(),
        StatusCode::CREATED
    );
    let r = s
        .post(
            &c,
            "/api/mfa/phone/start",
            json!({"phone": PHONE, "name": "Pixel"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let clock = FixedClock::new(T0);
    let s = start(
        SecurityArgs {
            sms_provider: Some(SmsProviderArg::Outbox),
            ..common::security()
        },
        &clock,
    )
    .await;
    let c = s.client();
    assert_eq!(
        s.register(&c, "box@example.com").await.status(),
        StatusCode::CREATED
    );
    let r = s
        .post(
            &c,
            "/api/mfa/phone/start",
            json!({"phone": PHONE, "name": "Pixel"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let dir = s.dir.path().join("sms-outbox");
    let texts: Vec<String> = std::fs::read_dir(&dir)
        .expect("sms-outbox")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].starts_with("To: +447911123456\n\n"),
        "{}",
        texts[0]
    );
}

#[tokio::test]
async fn the_webhook_provider_posts_the_number_and_text_as_json() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hooks/sms",
            axum::routing::post(
                |State(seen): State<Arc<Mutex<Vec<Value>>>>,
                 axum::Json(body): axum::Json<Value>| async move {
                    seen.lock().expect("lock").push(body);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks/sms", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let clock = FixedClock::new(T0);
    let s = start(
        SecurityArgs {
            sms_provider: Some(SmsProviderArg::Webhook),
            sms_webhook_url: Some(url),
            ..common::security()
        },
        &clock,
    )
    .await;
    let c = s.client();
    assert_eq!(
        s.register(&c, "hook@example.com").await.status(),
        StatusCode::CREATED
    );
    let r = s
        .post(
            &c,
            "/api/mfa/phone/start",
            json!({"phone": PHONE, "name": "Pixel"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = received.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["to"], "+447911123456");
    let body = seen[0]["body"].as_str().unwrap_or_default();
    let code: String = body.chars().filter(char::is_ascii_digit).take(6).collect();
    let r = s
        .post(&c, "/api/mfa/phone/confirm", json!({"code": code}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_bad_provider_setting_stops_the_start_with_a_clear_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let addr = "127.0.0.1:0".parse().expect("addr");
    for (security, says) in [
        (
            SecurityArgs {
                sms_provider: Some(SmsProviderArg::Twilio),
                sms_from: Some(FROM.into()),
                ..common::security()
            },
            "TWOFOLD_TWILIO_ACCOUNT_SID",
        ),
        (
            SecurityArgs {
                sms_provider: Some(SmsProviderArg::Webhook),
                ..common::security()
            },
            "--sms-webhook-url",
        ),
        (
            SecurityArgs {
                sms_provider: Some(SmsProviderArg::Webhook),
                sms_webhook_url: Some("ftp://example.com".into()),
                ..common::security()
            },
            "is not an http",
        ),
    ] {
        let clock: Arc<dyn app::backend::infra::clock::Clock> = Arc::new(FixedClock::new(T0));
        let err = twofold_server::startup::build_state(
            &twofold_server::config::DataArgs::dir(dir.path()),
            addr,
            clock,
            &security,
        )
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains(says), "{err}");
    }
}
