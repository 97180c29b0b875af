//! Passkeys over HTTP with a software authenticator as the browser: adding
//! one, signing in with it alone, using it as the second factor, and every
//! refusal (replay, tampering, wrong origin or RP ID, a challenge reused or
//! expired, another account's key, an unknown key, a counter that goes
//! backwards), each counted as a failed factor.

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::twofactor::T0;
use common::{PASSWORD, TestServer, json_of, tally, wait_for_outbox};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::WebauthnCError;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{
    Base64UrlSafeData, CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url,
};

/// A person's passkey: a software authenticator that verifies its user,
/// driven as a client that does not police origins (an attacker's, or a
/// broken browser), so the server's own checks are what is tested.
struct Key {
    soft: SoftPasskey,
    /// The credential id and user handle it was registered with.
    id: Option<Value>,
    handle: Option<String>,
}

impl Key {
    fn new() -> Self {
        Key {
            soft: SoftPasskey::new(true),
            id: None,
            handle: None,
        }
    }

    fn register(
        &mut self,
        origin: Url,
        options: CreationChallengeResponse,
    ) -> Result<RegisterPublicKeyCredential, WebauthnCError> {
        AuthenticatorBackend::perform_register(&mut self.soft, origin, options.public_key, 60_000)
    }

    fn sign(
        &mut self,
        origin: Url,
        options: RequestChallengeResponse,
    ) -> Result<PublicKeyCredential, WebauthnCError> {
        AuthenticatorBackend::perform_auth(&mut self.soft, origin, options.public_key, 60_000)
    }
}

fn origin(s: &TestServer) -> Url {
    // The relying party is `http://localhost:PORT` (the loopback default).
    let port = s.base.rsplit(':').next().expect("port");
    Url::parse(&format!("http://localhost:{port}")).expect("origin")
}

async fn clock_server() -> (FixedClock, TestServer) {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_with_clock(clock.clone()).await;
    (clock, s)
}

/// A new account, signed in with its password just now.
async fn account(s: &TestServer, email: &str) -> Client {
    let c = s.client();
    let r = s.register(&c, email).await;
    assert!(r.status().is_success(), "{}", r.status());
    c
}

/// Start and finish a registration; the finish response.
async fn add(s: &TestServer, c: &Client, key: &mut Key, name: &str) -> reqwest::Response {
    let r = s
        .post(c, "/api/webauthn/register/start", json!({ "name": name }))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "start");
    let options = json_of(r).await;
    let handle = options["publicKey"]["user"]["id"]
        .as_str()
        .expect("user handle")
        .to_string();
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    let ccr: CreationChallengeResponse = serde_json::from_value(options).expect("options");
    let credential = key
        .register(origin(s), ccr)
        .expect("authenticator registers");
    let credential = serde_json::to_value(&credential).expect("json");
    let r = s
        .post(
            c,
            "/api/webauthn/register/finish",
            json!({ "name": name, "credential": credential.clone() }),
        )
        .await;
    if r.status() == StatusCode::OK {
        key.id = Some(credential["rawId"].clone());
        key.handle = Some(handle);
    }
    r
}

/// Options of a sign-in ceremony started by `c`.
async fn sign_in_options(s: &TestServer, c: &Client) -> RequestChallengeResponse {
    let r = s.post(c, "/api/webauthn/login/start", json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    serde_json::from_value(json_of(r).await).expect("options")
}

/// An allow list naming one credential (its base64url id).
fn allow<T: serde::de::DeserializeOwned>(id: Value) -> Vec<T> {
    serde_json::from_value(json!([{ "type": "public-key", "id": id }])).expect("allow list")
}

/// What a browser with this key answers to a discoverable sign-in. The soft
/// authenticator keeps no resident keys, so the test names the credential
/// and fills in the user handle, as a passkey would.
fn answer_sign_in(
    s: &TestServer,
    key: &mut Key,
    mut options: RequestChallengeResponse,
) -> PublicKeyCredential {
    options.public_key.allow_credentials = allow(key.id.clone().expect("registered"));
    let mut credential = key.sign(origin(s), options).expect("authenticator signs");
    let handle: Base64UrlSafeData =
        serde_json::from_value(json!(key.handle.clone().expect("handle"))).expect("handle");
    credential.response.user_handle = Some(handle);
    credential
}

async fn finish_sign_in(
    s: &TestServer,
    c: &Client,
    credential: &PublicKeyCredential,
) -> reqwest::Response {
    s.post(
        c,
        "/api/webauthn/login/finish",
        json!({ "credential": credential }),
    )
    .await
}

async fn passkey_sign_in(s: &TestServer, key: &mut Key) -> (Client, reqwest::Response) {
    let c = s.client();
    let options = sign_in_options(s, &c).await;
    let credential = answer_sign_in(s, key, options);
    let r = finish_sign_in(s, &c, &credential).await;
    (c, r)
}

async fn error_of(r: reqwest::Response) -> String {
    json_of(r).await["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn count_events(s: &TestServer, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM security_events WHERE kind = $1")
        .bind(kind)
        .fetch_one(&s.db().await)
        .await
        .expect("count")
}

#[tokio::test]
async fn a_first_passkey_turns_mfa_on_with_backup_codes() {
    let (_clock, s) = clock_server().await;
    let c = account(&s, "first@example.com").await;
    let mut key = Key::new();
    let r = add(&s, &c, &mut key, "Laptop").await;
    assert_eq!(r.status(), StatusCode::OK);
    let added = json_of(r).await;
    assert_eq!(added["mfa"], "Enabled");
    assert_eq!(added["backup_codes"].as_array().map(Vec::len), Some(10));
    assert_eq!(added["factor"]["kind"], "Passkey");
    assert_eq!(added["factor"]["name"], "Laptop");
    // The soft authenticator's key cannot leave it: "this device only".
    assert_eq!(added["factor"]["synced"], false);

    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(me["mfa"], "Enabled");
    let list = json_of(s.get(&c, "/api/factors").await).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["synced"], false);
    wait_for_outbox(s.dir.path(), "Two-factor authentication was turned on", 1).await;
    assert_eq!(count_events(&s, "FactorAdded").await, 1);

    // A second key adds a factor and no new codes; the same key again is
    // refused (the browser is told to exclude it; the server holds too).
    let mut other = Key::new();
    let r = add(&s, &c, &mut other, "YubiKey").await;
    assert_eq!(r.status(), StatusCode::OK);
    let added = json_of(r).await;
    assert_eq!(added["backup_codes"], json!([]));
    wait_for_outbox(s.dir.path(), "A second factor was added to your account", 1).await;
    let r = s
        .post(
            &c,
            "/api/webauthn/register/start",
            json!({ "name": "Again" }),
        )
        .await;
    let options = json_of(r).await;
    let excluded = options["publicKey"]["excludeCredentials"]
        .as_array()
        .map(Vec::len);
    assert_eq!(excluded, Some(2), "{options}");
}

#[tokio::test]
async fn registering_needs_a_session_and_the_reauth_window() {
    let (clock, s) = clock_server().await;
    let anon = s.client();
    let r = s
        .post(
            &anon,
            "/api/webauthn/register/start",
            json!({ "name": "x" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let c = account(&s, "window@example.com").await;
    clock.advance(11 * 60);
    let r = s
        .post(&c, "/api/webauthn/register/start", json!({ "name": "x" }))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(r).await, "ReauthRequired");
}

#[tokio::test]
async fn bad_input_is_refused_and_spends_nothing() {
    let (_clock, s) = clock_server().await;
    let c = account(&s, "bad@example.com").await;
    let r = s
        .post(
            &c,
            "/api/webauthn/register/start",
            json!({ "name": "\u{7}bell" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .post(
            &c,
            "/api/webauthn/register/start",
            json!({ "name": "Phone" }),
        )
        .await;
    let ccr: CreationChallengeResponse = serde_json::from_value(json_of(r).await).expect("ccr");
    for garbage in [json!("nope"), json!({"id": 5}), json!(null)] {
        let r = s
            .post(
                &c,
                "/api/webauthn/register/finish",
                json!({ "name": "Phone", "credential": garbage }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error_of(r).await, "Validation");
    }
    // The ceremony is still there for the real answer.
    let mut key = Key::new();
    let credential = key.register(origin(&s), ccr).expect("register");
    let r = s
        .post(
            &c,
            "/api/webauthn/register/finish",
            json!({ "name": "Phone", "credential": credential }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .post(
            &c,
            "/api/webauthn/login/finish",
            json!({ "credential": [1, 2] }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_passkey_signs_in_alone_with_a_fresh_two_factor_session() {
    let (_clock, s) = clock_server().await;
    let c = account(&s, "alone@example.com").await;
    let mut key = Key::new();
    assert_eq!(
        add(&s, &c, &mut key, "Laptop").await.status(),
        StatusCode::OK
    );

    let (fresh, r) = passkey_sign_in(&s, &mut key).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await, json!("SignedIn"));
    let me = json_of(s.get(&fresh, "/api/me").await).await;
    assert_eq!(me["email"], "alone@example.com");
    // Password and factor both count as just proven: a sensitive action
    // needs no re-authentication.
    let mut other = Key::new();
    assert_eq!(
        add(&s, &fresh, &mut other, "Second").await.status(),
        StatusCode::OK
    );
    let list = json_of(s.get(&fresh, "/api/factors").await).await;
    assert!(list[0]["last_used_at"].is_i64(), "{list}");
    // No code to type with a passkey: new backup codes on the fresh factor.
    let r = s
        .post(
            &fresh,
            "/api/mfa/backup-codes/regenerate",
            json!({ "code": "" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        json_of(r).await["backup_codes"].as_array().map(Vec::len),
        Some(10)
    );
    assert_eq!(count_events(&s, "LoginSucceeded").await, 1);
}

#[tokio::test]
async fn a_passkey_is_the_second_factor_after_the_password() {
    let (_clock, s) = clock_server().await;
    let c = account(&s, "second@example.com").await;
    let mut key = Key::new();
    assert_eq!(add(&s, &c, &mut key, "Key").await.status(), StatusCode::OK);

    let c = s.client();
    let r = s.login(&c, "second@example.com", PASSWORD).await;
    let outcome = json_of(r).await;
    let methods = &outcome["SecondFactorRequired"]["methods"];
    assert!(
        methods
            .as_array()
            .is_some_and(|m| m.contains(&json!("Passkey"))),
        "{outcome}"
    );
    // No authenticator app on this account: not offered.
    assert!(
        !methods
            .as_array()
            .is_some_and(|m| m.contains(&json!("Totp"))),
        "{outcome}"
    );
    let r = s
        .post(&c, "/api/auth/second-factor/passkey/start", json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let options: RequestChallengeResponse = serde_json::from_value(json_of(r).await).expect("rcr");
    assert_eq!(options.public_key.allow_credentials.len(), 1);
    let credential = key.sign(origin(&s), options).expect("sign");
    let r = s
        .post(
            &c,
            "/api/auth/second-factor",
            json!({ "method": "Passkey", "credential": credential, "trust_device": false }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(s.get(&c, "/api/me").await.status(), StatusCode::OK);

    // Without a sign-in challenge there is nothing to start.
    let r = s
        .post(
            &s.client(),
            "/api/auth/second-factor/passkey/start",
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_replayed_or_tampered_assertion_is_refused_and_counted() {
    let (_clock, s) = clock_server().await;
    let c = account(&s, "replay@example.com").await;
    let mut key = Key::new();
    assert_eq!(add(&s, &c, &mut key, "Key").await.status(), StatusCode::OK);

    let b = s.client();
    let options = sign_in_options(&s, &b).await;
    let used = answer_sign_in(&s, &mut key, options);
    assert_eq!(finish_sign_in(&s, &b, &used).await.status(), StatusCode::OK);
    // The same answer again: its ceremony is spent.
    let r = finish_sign_in(&s, &b, &used).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(r).await, "ChallengeExpired");
    // Replayed against a new ceremony: the challenge does not match.
    let _ = sign_in_options(&s, &b).await;
    let r = finish_sign_in(&s, &b, &used).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(r).await, "PasskeyRefused");

    // A flipped bit in the signature.
    let options = sign_in_options(&s, &b).await;
    let mut tampered = answer_sign_in(&s, &mut key, options);
    let mut sig: Vec<u8> = tampered.response.signature.clone().into();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    tampered.response.signature = sig.into();
    let r = finish_sign_in(&s, &b, &tampered).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(r).await, "PasskeyRefused");
    assert_eq!(count_events(&s, "FactorFailed").await, 2);
    let failures: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM auth_failures WHERE scope LIKE 'factor:%'")
            .fetch_one(&s.db().await)
            .await
            .expect("failures");
    assert_eq!(failures, 2);
}

#[tokio::test]
async fn another_origin_or_rp_id_is_refused() {
    let (_clock, s) = clock_server().await;
    let c = account(&s, "origin@example.com").await;
    let mut key = Key::new();
    assert_eq!(add(&s, &c, &mut key, "Key").await.status(), StatusCode::OK);
    let id = key.id.clone().expect("id");

    // A phishing page at another origin relaying our challenge.
    let b = s.client();
    let mut options = sign_in_options(&s, &b).await;
    options.public_key.allow_credentials = allow(id.clone());
    let phished = Url::parse("https://twofold.evil.example").expect("url");
    let mut credential = key.sign(phished, options).expect("sign");
    credential.response.user_handle =
        Some(serde_json::from_value(json!(key.handle.clone().expect("h"))).expect("h"));
    let r = finish_sign_in(&s, &b, &credential).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(r).await, "PasskeyRefused");

    // The right origin, but the authenticator signed for another RP ID.
    let mut options = sign_in_options(&s, &b).await;
    options.public_key.rp_id = "evil.example".into();
    options.public_key.allow_credentials = allow(id);
    let mut credential = key.sign(origin(&s), options).expect("sign");
    credential.response.user_handle =
        Some(serde_json::from_value(json!(key.handle.clone().expect("h"))).expect("h"));
    let r = finish_sign_in(&s, &b, &credential).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count_events(&s, "FactorFailed").await, 2);
}

#[tokio::test]
async fn a_ceremony_expires_after_five_minutes() {
    let (clock, s) = clock_server().await;
    let c = account(&s, "late@example.com").await;
    let mut key = Key::new();
    assert_eq!(add(&s, &c, &mut key, "Key").await.status(), StatusCode::OK);
    let b = s.client();
    let options = sign_in_options(&s, &b).await;
    let credential = answer_sign_in(&s, &mut key, options);
    clock.advance(5 * 60 + 1);
    let r = finish_sign_in(&s, &b, &credential).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(r).await, "ChallengeExpired");
}

#[tokio::test]
async fn another_accounts_key_or_an_unknown_key_signs_nobody_in() {
    let (_clock, s) = clock_server().await;
    let a = account(&s, "alice@example.com").await;
    let mut alice = Key::new();
    assert_eq!(add(&s, &a, &mut alice, "A").await.status(), StatusCode::OK);
    let m = account(&s, "mallory@example.com").await;
    let mut mallory = Key::new();
    assert_eq!(
        add(&s, &m, &mut mallory, "M").await.status(),
        StatusCode::OK
    );

    // Mallory's key claiming to be Alice's (her user handle).
    let b = s.client();
    let options = sign_in_options(&s, &b).await;
    let mut posing = Key {
        soft: mallory.soft,
        id: mallory.id.clone(),
        handle: alice.handle.clone(),
    };
    let credential = answer_sign_in(&s, &mut posing, options);
    let r = finish_sign_in(&s, &b, &credential).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(r).await, "PasskeyRefused");
    assert_eq!(
        s.get(&b, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Mallory's key as Alice's second factor.
    let c = s.client();
    let r = s.login(&c, "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .post(&c, "/api/auth/second-factor/passkey/start", json!({}))
        .await;
    let mut options: RequestChallengeResponse =
        serde_json::from_value(json_of(r).await).expect("rcr");
    let mallory_id: Base64UrlSafeData =
        serde_json::from_value(mallory.id.clone().expect("id")).expect("id");
    options.public_key.allow_credentials[0].id = mallory_id;
    let credential = posing.sign(origin(&s), options).expect("sign");
    let r = s
        .post(
            &c,
            "/api/auth/second-factor",
            json!({ "method": "Passkey", "credential": credential }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A key nobody registered, naming a handle nobody has.
    let mut stranger = Key::new();
    let ccr_owner = account(&s, "nobody@example.com").await;
    let r = s
        .post(
            &ccr_owner,
            "/api/webauthn/register/start",
            json!({ "name": "x" }),
        )
        .await;
    let ccr: CreationChallengeResponse = serde_json::from_value(json_of(r).await).expect("ccr");
    let made = stranger.register(origin(&s), ccr).expect("register");
    stranger.id = Some(serde_json::to_value(&made).expect("json")["rawId"].clone());
    stranger.handle = Some("AAAAAAAAAAAAAAAAAAAAAA".into());
    let options = sign_in_options(&s, &b).await;
    let credential = answer_sign_in(&s, &mut stranger, options);
    let r = finish_sign_in(&s, &b, &credential).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        json_of(r).await["message"]
            .as_str()
            .is_some_and(|m| m.contains("not registered here"))
    );
    assert_eq!(count_events(&s, "FactorFailed").await, 3);
}

#[tokio::test]
async fn a_counter_going_backwards_is_refused_as_a_possible_clone() {
    let (_clock, s) = clock_server().await;
    let c = account(&s, "clone@example.com").await;
    let mut key = Key::new();
    assert_eq!(
        add(&s, &c, &mut key, "Old key").await.status(),
        StatusCode::OK
    );
    // Two ceremonies open at once; the key signs the first, then the
    // second; the later signature arrives first.
    let first = s.client();
    let second = s.client();
    let options1 = sign_in_options(&s, &first).await;
    let options2 = sign_in_options(&s, &second).await;
    let earlier = answer_sign_in(&s, &mut key, options1);
    let later = answer_sign_in(&s, &mut key, options2);
    assert_eq!(
        finish_sign_in(&s, &second, &later).await.status(),
        StatusCode::OK
    );
    let r = finish_sign_in(&s, &first, &earlier).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = json_of(r).await;
    assert_eq!(body["error"], "PasskeyRefused");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("copied"))
    );
    assert_eq!(count_events(&s, "PossibleClonedKey").await, 1);
    let mail = wait_for_outbox(
        s.dir.path(),
        "A passkey was refused: it may have been copied",
        1,
    )
    .await;
    assert!(mail[0].contains("Old key"), "{}", mail[0]);
}

#[tokio::test]
async fn forty_racing_answers_to_one_ceremony_sign_in_once() {
    let (_clock, s) = clock_server().await;
    let c = account(&s, "race@example.com").await;
    let mut key = Key::new();
    assert_eq!(add(&s, &c, &mut key, "Key").await.status(), StatusCode::OK);
    let b = Arc::new(s.client());
    let options = sign_in_options(&s, &b).await;
    let credential = answer_sign_in(&s, &mut key, options);
    let body = json!({ "credential": credential });
    let url = s.url("/api/webauthn/login/finish");
    let statuses = common::burst(40, |_| b.post(&url).json(&body)).await;
    assert_eq!(tally(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| !s.is_server_error()),
        "{statuses:?}"
    );
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&s.db().await)
        .await
        .expect("sessions");
    // The registration's session and the one sign-in.
    assert_eq!(sessions, 2);
}

#[tokio::test]
async fn one_address_cannot_open_unbounded_ceremonies() {
    let (_clock, s) = clock_server().await;
    let c = Arc::new(s.client());
    let url = s.url("/api/webauthn/login/start");
    let statuses = common::burst(130, |_| c.post(&url).json(&json!({}))).await;
    assert_eq!(tally(&statuses, StatusCode::OK), 100, "{statuses:?}");
    assert_eq!(tally(&statuses, StatusCode::TOO_MANY_REQUESTS), 30);
}

#[tokio::test]
async fn removing_the_last_passkey_turns_mfa_off() {
    let (_clock, s) = clock_server().await;
    let c = account(&s, "remove@example.com").await;
    let mut key = Key::new();
    let r = add(&s, &c, &mut key, "Only").await;
    let id = json_of(r).await["factor"]["id"].as_i64().expect("id");
    // Signed in with the passkey: fresh for the removal.
    let (fresh, r) = passkey_sign_in(&s, &mut key).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .post(&fresh, "/api/factors/remove", json!({ "id": id }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["mfa"], "Disabled");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkey_factors")
        .fetch_one(&s.db().await)
        .await
        .expect("rows");
    assert_eq!(rows, 0);
    // The key no longer signs anyone in.
    let (_c, r) = passkey_sign_in(&s, &mut key).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_ip_address_as_public_url_says_why_passkeys_are_off() {
    let security = twofold_server::config::SecurityArgs {
        public_url: Some("http://127.0.0.1:3000".into()),
        ..common::security()
    };
    let s = TestServer::start_full(Arc::new(FixedClock::new(T0)), None, security).await;
    let c = account(&s, "ip@example.com").await;
    let r = s
        .post(&c, "/api/webauthn/register/start", json!({ "name": "x" }))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let message = json_of(r).await["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("IP address") && !message.contains('\n'),
        "{message}"
    );
    let r = s
        .post(&s.client(), "/api/webauthn/login/start", json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Everything else works: the account signs in with its password.
    let r = s.login(&s.client(), "ip@example.com", PASSWORD).await;
    assert_eq!(json_of(r).await, json!("SignedIn"));
}

#[tokio::test]
async fn a_password_reset_can_be_answered_with_a_passkey() {
    let (_clock, s) = clock_server().await;
    let c = account(&s, "resetkey@example.com").await;
    let mut key = Key::new();
    assert_eq!(add(&s, &c, &mut key, "Key").await.status(), StatusCode::OK);
    let r = s
        .post(
            &s.client(),
            "/api/auth/password-reset/request",
            json!({"email": "resetkey@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = wait_for_outbox(s.dir.path(), "Reset your Twofold password", 1)
        .await
        .remove(0);
    let token = common::link_token(&mail, "/reset-password");

    let browser = s.client();
    let info = json_of(
        s.post(
            &browser,
            "/api/auth/password-reset/info",
            json!({"token": token}),
        )
        .await,
    )
    .await;
    assert_eq!(
        info,
        json!({"mfa": true, "methods": ["Passkey", "BackupCode"]})
    );
    let r = s
        .post(
            &browser,
            "/api/auth/password-reset/passkey/start",
            json!({"token": token}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let options: RequestChallengeResponse = serde_json::from_value(json_of(r).await).expect("rcr");
    let credential = key.sign(origin(&s), options).expect("sign");
    let new_password = "violet harbour engine 77";
    let r = s
        .post(
            &browser,
            "/api/auth/password-reset/complete",
            json!({"token": token, "password": new_password, "method": "Passkey", "credential": credential}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The passkey's session ended with the others; the new password works.
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = s
        .login(&s.client(), "resetkey@example.com", new_password)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}
