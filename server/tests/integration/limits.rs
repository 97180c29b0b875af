//! The brute-force limits under attack: bursts of parallel guesses, the cap
//! on failures in a row, the owner's own budget, IPv6 /64 budgets.

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::twofactor::{T0, answer, challenge, enrol};
use common::{PASSWORD, TestServer, burst, json_of, link_token, tally, wait_for_outbox};
use reqwest::{Client, StatusCode};
use serde_json::json;
use twofold_server::RouterOptions;
use twofold_server::client_ip::TrustedProxies;
use twofold_server::config::SecurityArgs;

/// A server that believes `X-Forwarded-For` from the test (127.0.0.1), so
/// each request can come from the address the test picks.
async fn behind_proxy(clock: &FixedClock, security: SecurityArgs) -> TestServer {
    let options = RouterOptions {
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1".to_string()]).expect("proxies"),
        ..RouterOptions::default()
    };
    TestServer::start_custom(Arc::new(clock.clone()), None, security, options).await
}

async fn login_from(
    s: &TestServer,
    c: &Client,
    from: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    c.post(s.url("/api/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
}

async fn count_events(s: &TestServer, kind: &str, detail: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM security_events WHERE kind = $1 AND detail = $2")
        .bind(kind)
        .bind(detail)
        .fetch_one(&s.db().await)
        .await
        .expect("count events")
}

#[tokio::test]
async fn eighty_parallel_wrong_passwords_get_exactly_five_through_and_one_alert() {
    let clock = FixedClock::new(T0);
    let s = behind_proxy(&clock, common::security()).await;
    s.register(&s.client(), "burst@example.com").await;
    let statuses = burst(80, |i| {
        s.client()
            .post(s.url("/api/auth/login"))
            // Strangers, from many addresses: only the account budget holds.
            .header("x-forwarded-for", format!("203.0.113.{}", i % 40 + 1))
            .json(&json!({"email": "burst@example.com", "password": "wrong horse battery 9"}))
    })
    .await;
    assert_eq!(
        tally(&statuses, StatusCode::UNAUTHORIZED),
        5,
        "{statuses:?}"
    );
    assert_eq!(tally(&statuses, StatusCode::TOO_MANY_REQUESTS), 75);
    assert_eq!(count_events(&s, "AlertSent", "LockedOut").await, 1);
    assert_eq!(count_events(&s, "LoginFailed", "wrong password").await, 5);
    wait_for_outbox(s.dir.path(), "Sign-in locked after failed attempts", 1).await;
}

#[tokio::test]
async fn forty_parallel_wrong_codes_get_exactly_five_through() {
    let clock = FixedClock::new(T0);
    let s = common::twofactor::start(&clock).await;
    let e = enrol(&s, &clock, "codes@example.com").await;
    clock.advance(30);
    let c = challenge(&s, &e.email).await;
    let right = e.secret.code_at(T0 + 30);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
    let statuses = burst(40, |_| {
        c.post(s.url("/api/auth/second-factor"))
            .json(&json!({"method": "Totp", "code": &wrong, "trust_device": false}))
    })
    .await;
    assert_eq!(tally(&statuses, StatusCode::BAD_REQUEST), 5, "{statuses:?}");
    assert_eq!(tally(&statuses, StatusCode::TOO_MANY_REQUESTS), 35);
    assert_eq!(count_events(&s, "AlertSent", "LockedOut").await, 1);
    // Locked: even the right code is refused now.
    assert_eq!(
        answer(&s, &c, "Totp", &right).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn thirty_parallel_email_code_sends_mail_exactly_three() {
    let clock = FixedClock::new(T0);
    let s = common::twofactor::start(&clock).await;
    let e = enrol(&s, &clock, "sends@example.com").await;
    let c = challenge(&s, &e.email).await;
    let statuses = burst(30, |_| {
        c.post(s.url("/api/auth/email-code")).json(&json!({}))
    })
    .await;
    assert_eq!(tally(&statuses, StatusCode::ACCEPTED), 3, "{statuses:?}");
    assert_eq!(tally(&statuses, StatusCode::TOO_MANY_REQUESTS), 27);
    let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM email_code_sends")
        .fetch_one(&s.db().await)
        .await
        .expect("count");
    assert_eq!(sent, 3);
}

#[tokio::test]
async fn thirty_parallel_sign_ups_from_one_address_get_the_hourly_budget() {
    let clock = FixedClock::new(T0);
    let security = SecurityArgs {
        signup_per_hour: 4,
        ..common::security()
    };
    let s = TestServer::start_full(Arc::new(clock.clone()), None, security).await;
    let statuses = burst(30, |i| {
        s.client()
            .post(s.url("/api/auth/register"))
            .json(&json!({"email": format!("many{i}@example.com"), "password": PASSWORD}))
    })
    .await;
    assert_eq!(tally(&statuses, StatusCode::CREATED), 4, "{statuses:?}");
    assert_eq!(tally(&statuses, StatusCode::TOO_MANY_REQUESTS), 26);
    clock.advance(3600);
    assert_eq!(
        s.register(&s.client(), "later@example.com").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn failures_in_a_row_hit_a_cap_that_only_an_unlock_link_lifts() {
    let clock = FixedClock::new(T0);
    let security = SecurityArgs {
        max_failures: 3,
        max_failures_in_a_row: 7,
        ..common::security()
    };
    let s = behind_proxy(&clock, security).await;
    s.register(&s.client(), "cap@example.com").await;
    let stranger = "198.51.100.66";
    let mut wrong = 0;
    // Three windows: 3 + 3 + 1 failures reach the cap of 7.
    while wrong < 7 {
        let r = login_from(
            &s,
            &s.client(),
            stranger,
            "cap@example.com",
            "not the password 1",
        )
        .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            clock.advance(15 * 60);
            continue;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        wrong += 1;
    }
    // Windows pass, but the cap holds, even for the right password.
    clock.advance(60 * 60);
    let r = login_from(&s, &s.client(), stranger, "cap@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json_of(r).await["error"], "AccountLocked");
    let locked = r_body_of_cap(&s, stranger, "cap@example.com").await;
    // An unknown email, hammered alike, answers exactly alike (no enumeration).
    let mut wrong = 0;
    while wrong < 7 {
        let r = login_from(
            &s,
            &s.client(),
            stranger,
            "ghost@example.com",
            "not the password 1",
        )
        .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            clock.advance(15 * 60);
            continue;
        }
        wrong += 1;
    }
    clock.advance(60 * 60);
    assert_eq!(
        r_body_of_cap(&s, stranger, "ghost@example.com").await,
        locked
    );
    // The owner was mailed an unlock link; it works once.
    let mail = wait_for_outbox(s.dir.path(), "Your Twofold sign-in is locked", 1).await;
    let token = link_token(&mail[0], "/unlock");
    // Used by 30 requests at once: it works exactly once.
    let statuses = burst(30, |_| {
        s.client()
            .post(s.url("/api/auth/unlock"))
            .json(&json!({"token": &token}))
    })
    .await;
    assert_eq!(tally(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(tally(&statuses, StatusCode::BAD_REQUEST), 29);
    let r = s
        .post(&s.client(), "/api/auth/unlock", json!({"token": token}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = login_from(&s, &s.client(), stranger, "cap@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Status and body of a sign-in with the right password (for cap@).
async fn r_body_of_cap(s: &TestServer, from: &str, email: &str) -> (StatusCode, String) {
    let r = login_from(s, &s.client(), from, email, PASSWORD).await;
    (r.status(), r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_success_resets_the_count_of_failures_in_a_row() {
    let clock = FixedClock::new(T0);
    let security = SecurityArgs {
        max_failures: 3,
        max_failures_in_a_row: 4,
        ..common::security()
    };
    let s = behind_proxy(&clock, security).await;
    s.register(&s.client(), "reset@example.com").await;
    let from = "198.51.100.70";
    for _ in 0..3 {
        for _ in 0..3 {
            let r = login_from(
                &s,
                &s.client(),
                from,
                "reset@example.com",
                "wrong pass word 7",
            )
            .await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        clock.advance(15 * 60);
        // The right password in between: never 4 in a row.
        let r = login_from(&s, &s.client(), from, "reset@example.com", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn the_owner_signs_in_while_a_stranger_keeps_the_account_locked() {
    let clock = FixedClock::new(T0);
    let s = behind_proxy(&clock, common::security()).await;
    let home = "198.51.100.10";
    let c = s.client();
    let r = c
        .post(s.url("/api/auth/register"))
        .header("x-forwarded-for", home)
        .json(&json!({"email": "owner@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let attacker = "203.0.113.99";
    for _ in 0..5 {
        let r = login_from(
            &s,
            &s.client(),
            attacker,
            "owner@example.com",
            "guess guess guess 1",
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login_from(&s, &s.client(), attacker, "owner@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The owner, from the address that signed in before: its own budget.
    let r = login_from(&s, &s.client(), home, "owner@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    // A new address is a stranger's: still locked.
    let r = login_from(
        &s,
        &s.client(),
        "192.0.2.200",
        "owner@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // After 30 days an address no longer vouches.
    clock.advance(31 * 24 * 3600);
    for _ in 0..5 {
        login_from(
            &s,
            &s.client(),
            attacker,
            "owner@example.com",
            "guess guess guess 2",
        )
        .await;
    }
    let r = login_from(&s, &s.client(), home, "owner@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_trusted_device_signs_in_from_anywhere_while_locked() {
    let clock = FixedClock::new(T0);
    let s = behind_proxy(&clock, common::security()).await;
    let e = enrol(&s, &clock, "device@example.com").await;
    clock.advance(30);
    // Sign in with "trust this device" from a travel address.
    let phone = s.client();
    let travel = "192.0.2.50";
    let r = login_from(&s, &phone, travel, &e.email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = phone
        .post(s.url("/api/auth/second-factor"))
        .header("x-forwarded-for", travel)
        .json(&json!({"method": "Totp", "code": e.secret.code_at(T0 + 30), "trust_device": true}))
        .send()
        .await
        .expect("second factor");
    assert_eq!(r.status(), StatusCode::OK);
    phone
        .post(s.url("/api/auth/logout"))
        .json(&json!({}))
        .send()
        .await
        .expect("logout");
    for _ in 0..5 {
        login_from(
            &s,
            &s.client(),
            "203.0.113.7",
            &e.email,
            "guess guess guess 3",
        )
        .await;
    }
    assert_eq!(
        login_from(&s, &s.client(), "203.0.113.7", &e.email, PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another new address, but the browser holds the trusted-device cookie.
    let r = login_from(&s, &phone, "192.0.2.77", &e.email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await, json!("SignedIn"));
}

#[tokio::test]
async fn change_password_works_for_the_owner_while_someone_hammers_the_second_factor() {
    let clock = FixedClock::new(T0);
    let s = behind_proxy(&clock, common::security()).await;
    let e = enrol(&s, &clock, "hammer@example.com").await;
    clock.advance(30);
    // The owner signs in fully.
    let owner = s.client();
    login_from(&s, &owner, "198.51.100.20", &e.email, PASSWORD).await;
    let r = owner
        .post(s.url("/api/auth/second-factor"))
        .header("x-forwarded-for", "198.51.100.20")
        .json(&json!({"method": "Totp", "code": e.secret.code_at(T0 + 30), "trust_device": false}))
        .send()
        .await
        .expect("second factor");
    assert_eq!(r.status(), StatusCode::OK);
    // Someone with the password hammers the second factor until it locks.
    let thief = s.client();
    let r = login_from(&s, &thief, "203.0.113.30", &e.email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut locked = false;
    for _ in 0..8 {
        let r = thief
            .post(s.url("/api/auth/second-factor"))
            .header("x-forwarded-for", "203.0.113.30")
            .json(&json!({"method": "Totp", "code": "000000", "trust_device": false}))
            .send()
            .await
            .expect("guess");
        locked |= r.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(locked, "the stranger's second-factor budget is spent");
    // The owner, 11 minutes on (no fresh factor), changes the password with a code.
    clock.advance(11 * 60);
    let code = e.secret.code_at(T0 + 30 + 11 * 60);
    let r = owner
        .post(s.url("/api/auth/change-password"))
        .header("x-forwarded-for", "198.51.100.20")
        .json(&json!({
            "current_password": PASSWORD,
            "new_password": "brand new river song 64",
            "code": code
        }))
        .send()
        .await
        .expect("change password");
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
}

#[tokio::test]
async fn an_ipv6_client_is_counted_by_its_64() {
    let clock = FixedClock::new(T0);
    let security = SecurityArgs {
        ip_max_failures: 3,
        ..common::security()
    };
    let s = behind_proxy(&clock, security).await;
    for (i, from) in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:abcd::3"]
        .into_iter()
        .enumerate()
    {
        let r = login_from(
            &s,
            &s.client(),
            from,
            &format!("v6-{i}@example.com"),
            "nope nope nope 1",
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Any address in the same /64 is out of budget...
    let r = login_from(
        &s,
        &s.client(),
        "2001:db8:1:2:ffff::9",
        "v6-x@example.com",
        "nope nope 2",
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // ...the next /64 is someone else.
    let r = login_from(
        &s,
        &s.client(),
        "2001:db8:1:3::1",
        "v6-y@example.com",
        "nope nope 3",
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // IPv4 addresses count one by one.
    for _ in 0..3 {
        login_from(
            &s,
            &s.client(),
            "192.0.2.1",
            "v4@example.com",
            "nope nope 4",
        )
        .await;
    }
    let r = login_from(
        &s,
        &s.client(),
        "192.0.2.2",
        "v4b@example.com",
        "nope nope 5",
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_challenge_ends_after_five_wrong_codes() {
    let clock = FixedClock::new(T0);
    let security = SecurityArgs {
        max_failures: 50,
        ..common::security()
    };
    let s = TestServer::start_full(Arc::new(clock.clone()), None, security).await;
    let e = enrol(&s, &clock, "tries@example.com").await;
    clock.advance(30);
    let c = challenge(&s, &e.email).await;
    for _ in 0..5 {
        assert_eq!(
            answer(&s, &c, "Totp", "000000").await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    // The account is not locked (50 allowed), but this challenge is over.
    let r = answer(&s, &c, "Totp", &e.secret.code_at(T0 + 30)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(r).await["error"], "ChallengeExpired");
    let c = challenge(&s, &e.email).await;
    assert_eq!(
        answer(&s, &c, "Totp", &e.secret.code_at(T0 + 30))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn thirty_parallel_wrong_passwords_at_re_authentication_get_five_through() {
    let clock = FixedClock::new(T0);
    let s = common::twofactor::start(&clock).await;
    let c = s.client();
    s.register(&c, "reauth@example.com").await;
    let statuses = burst(30, |_| {
        c.post(s.url("/api/auth/reauth"))
            .json(&json!({"password": "not my password 42"}))
    })
    .await;
    assert_eq!(
        tally(&statuses, StatusCode::UNAUTHORIZED),
        5,
        "{statuses:?}"
    );
    assert_eq!(tally(&statuses, StatusCode::TOO_MANY_REQUESTS), 25);
    // The session's budget is its own: signing in is not locked by it.
    assert_eq!(
        s.login(&s.client(), "reauth@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

/// Many writers at once, of every kind the hot paths have (sign-ins that
/// make sessions, wrong passwords that count failures, sign-ups, signed-in
/// reads that touch the session): SQLite's single writer makes them queue,
/// and none may fail with a 500 (`SQLITE_BUSY` must never reach a person).
#[tokio::test]
async fn sixty_four_mixed_writers_at_once_get_no_server_error() {
    let security = SecurityArgs {
        signup_per_hour: 100,
        ..common::security()
    };
    let s = TestServer::start_custom(
        Arc::new(FixedClock::new(T0)),
        None,
        security,
        RouterOptions::default(),
    )
    .await;
    let accounts: Vec<String> = (0..8).map(|i| format!("writer-{i}@example.com")).collect();
    let signed_in = s.client();
    for email in &accounts {
        s.register(&s.client(), email).await;
    }
    s.register(&signed_in, "reader@example.com").await;
    let statuses = burst(64, |i| {
        let email = &accounts[i % accounts.len()];
        match i % 4 {
            0 => s
                .client()
                .post(s.url("/api/auth/login"))
                .json(&json!({"email": email, "password": PASSWORD})),
            1 => s
                .client()
                .post(s.url("/api/auth/login"))
                .json(&json!({"email": email, "password": "not the password 1"})),
            2 => s
                .client()
                .post(s.url("/api/auth/register"))
                .json(&json!({"email": format!("new-{i}@example.com"), "password": PASSWORD})),
            _ => signed_in.get(s.url("/api/me")),
        }
    })
    .await;
    assert!(
        statuses.iter().all(|s| !s.is_server_error()),
        "{statuses:?}"
    );
    // The signed-in reads and the sign-ups never meet a limit here.
    let reads_and_signups: Vec<_> = statuses
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 >= 2)
        .map(|(_, s)| *s)
        .collect();
    assert!(
        reads_and_signups.iter().all(|s| s.is_success()),
        "{reads_and_signups:?}"
    );
}
