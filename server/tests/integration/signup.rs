//! Sign-up modes (`--signup confirm | open | closed`), mailed links,
//! invitations, and the email-code switch.

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::twofactor::{T0, enrol};
use common::{PASSWORD, TestServer, burst, json_of, link_token, outbox, tally, wait_for_outbox};
use reqwest::StatusCode;
use serde_json::json;
use twofold_server::config::{SecurityArgs, SignupArg};

const CONFIRM_SUBJECT: &str = "Confirm your email for Twofold";
const TRIED_SUBJECT: &str = "Someone tried to sign up with your address";

async fn server(clock: &FixedClock, signup: SignupArg) -> TestServer {
    let security = SecurityArgs {
        signup,
        ..SecurityArgs::default()
    };
    TestServer::start_full(Arc::new(clock.clone()), None, security).await
}

/// Status, headers (but the date) and body, with every digit removed.
async fn shape(r: reqwest::Response) -> String {
    let mut out = format!("{}\n", r.status());
    let mut headers: Vec<String> = r
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != "date")
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
        .collect();
    headers.sort();
    out.push_str(&headers.join("\n"));
    out.push('\n');
    out.push_str(&r.text().await.unwrap_or_default());
    // The CSP nonce is random per response, for every response alike.
    let out = match (out.find("'nonce-"), out.find(" 'wasm-unsafe-eval'")) {
        (Some(a), Some(b)) if a < b => format!("{}'nonce-N'{}", &out[..a], &out[b..]),
        _ => out,
    };
    out.chars().filter(|c| !c.is_ascii_digit()).collect()
}

#[tokio::test]
async fn confirm_mode_answers_alike_for_new_and_taken_addresses() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, SignupArg::Confirm).await;
    // The taken address: made by an earlier confirmed sign-up.
    let r = s
        .post(
            &s.client(),
            "/api/auth/register",
            json!({"email": "taken@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = wait_for_outbox(s.dir.path(), CONFIRM_SUBJECT, 1).await;
    let token = link_token(&mail[0], "/confirm-email");
    let r = s
        .post(
            &s.client(),
            "/api/auth/confirm-email",
            json!({"token": token}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let taken = s
        .post(
            &s.client(),
            "/api/auth/register",
            json!({"email": "taken@example.com", "password": PASSWORD}),
        )
        .await;
    let fresh = s
        .post(
            &s.client(),
            "/api/auth/register",
            json!({"email": "takeo@example.com", "password": PASSWORD}),
        )
        .await;
    assert!(taken.headers().get("set-cookie").is_none());
    let (taken, fresh) = (shape(taken).await, shape(fresh).await);
    // Same length addresses, so the bodies can be equal byte for byte.
    assert_eq!(
        taken.replace("taken@", "X@"),
        fresh.replace("takeo@", "X@"),
        "a taken address must not be told apart"
    );
    // The owner of the taken address hears of it; the new one gets a link.
    let tried = wait_for_outbox(s.dir.path(), TRIED_SUBJECT, 1).await;
    assert!(tried[0].contains("To: taken@example.com"));
    let links = wait_for_outbox(s.dir.path(), CONFIRM_SUBJECT, 2).await;
    assert!(links.iter().any(|m| m.contains("To: takeo@example.com")));
    // No account exists before the link is used.
    let r = s.login(&s.client(), "takeo@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_confirm_link_signs_in_once_and_expires_after_a_day() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, SignupArg::Confirm).await;
    for email in ["first@example.com", "late@example.com"] {
        let r = s
            .post(
                &s.client(),
                "/api/auth/register",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(
            json_of(r).await,
            json!({"email": email, "expires_in_s": 86400})
        );
    }
    let mails = wait_for_outbox(s.dir.path(), CONFIRM_SUBJECT, 2).await;
    let token_of = |to: &str| {
        let m = mails
            .iter()
            .find(|m| m.contains(&format!("To: {to}")))
            .expect("mail");
        link_token(m, "/confirm-email")
    };
    let c = s.client();
    let r = s
        .post(
            &c,
            "/api/auth/confirm-email",
            json!({"token": token_of("first@example.com")}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["email"], "first@example.com");
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(me["email"], "first@example.com");
    // Single use.
    let r = s
        .post(
            &s.client(),
            "/api/auth/confirm-email",
            json!({"token": token_of("first@example.com")}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // 24 hours on, an unused link is dead and made nothing.
    clock.advance(24 * 3600);
    let r = s
        .post(
            &s.client(),
            "/api/auth/confirm-email",
            json!({"token": token_of("late@example.com")}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["field"], "token");
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&s.db().await)
        .await
        .expect("count");
    assert_eq!(users, 1);
    // A made-up token changes nothing either.
    let r = s
        .post(
            &s.client(),
            "/api/auth/confirm-email",
            json!({"token": "not-a-token"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn open_mode_signs_in_at_once_and_closed_mode_refuses() {
    let clock = FixedClock::new(T0);
    let open = server(&clock, SignupArg::Open).await;
    let r = open
        .post(
            &open.client(),
            "/api/auth/register",
            json!({"email": "o@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let closed = server(&clock, SignupArg::Closed).await;
    let r = closed
        .post(
            &closed.client(),
            "/api/auth/register",
            json!({"email": "c@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(r).await["error"], "SignUpClosed");
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&closed.db().await)
        .await
        .expect("count");
    assert_eq!(users, 0);
    assert!(outbox(closed.dir.path()).is_empty());
}

#[tokio::test]
async fn an_admin_invites_and_the_link_sets_the_password() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, SignupArg::Closed).await;
    // The first admin comes from the command line (here: straight into the db).
    let state = s
        .state(Arc::new(clock.clone()), &SecurityArgs::default())
        .await;
    app::backend::admin::create_admin(&state, "boss@example.com", Some(PASSWORD.into()), false)
        .await
        .expect("admin");
    let admin = s.client();
    assert_eq!(
        s.login(&admin, "boss@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let r = s
        .post(
            &admin,
            "/api/admin/users/invite",
            json!({"email": "New@Example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await, json!({"invited": "new@example.com"}));
    // Twice is a conflict, not a second account.
    let r = s
        .post(
            &admin,
            "/api/admin/users/invite",
            json!({"email": "new@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let mail = wait_for_outbox(s.dir.path(), "You are invited to Twofold", 1).await;
    let token = link_token(&mail[0], "/set-password");
    // Nobody knows a password for it yet.
    let r = s.login(&s.client(), "new@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A weak password is refused and the link still works.
    let c = s.client();
    let r = s
        .post(
            &c,
            "/api/auth/set-password",
            json!({"token": token, "password": "password1234"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .post(
            &c,
            "/api/auth/set-password",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        json_of(s.get(&c, "/api/me").await).await["email"],
        "new@example.com"
    );
    let r = s
        .post(
            &s.client(),
            "/api/auth/set-password",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Only admins invite.
    let r = s
        .post(
            &c,
            "/api/admin/users/invite",
            json!({"email": "x@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn email_codes_follow_the_policy_switch_and_need_a_confirmed_address() {
    let clock = FixedClock::new(T0);
    let s = TestServer::start_full(Arc::new(clock.clone()), None, common::security()).await;
    let admin = s.admin("root@example.com").await;
    let e = enrol(&s, &clock, "em@example.com").await;
    let r = s
        .post(
            &admin,
            "/api/admin/policy",
            json!({"require": "Nobody", "grace_days": 7, "allow_email_codes": false}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["allow_email_codes"], false);
    let c = s.client();
    let r = s.login(&c, &e.email, PASSWORD).await;
    assert_eq!(
        json_of(r).await,
        json!({"SecondFactorRequired": {"methods": ["Totp", "BackupCode"], "expires_in_s": 300}})
    );
    let r = s.post(&c, "/api/auth/email-code", json!({})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .post(
            &c,
            "/api/auth/second-factor",
            json!({"method": "EmailCode", "code": "123456", "trust_device": false}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        outbox(s.dir.path())
            .iter()
            .all(|m| !m.contains("sign-in code"))
    );
    // Back on: offered again, but not for an unconfirmed address.
    let r = s
        .post(
            &admin,
            "/api/admin/policy",
            json!({"require": "Nobody", "grace_days": 7}),
        )
        .await;
    assert_eq!(json_of(r).await["allow_email_codes"], true);
    sqlx::query("UPDATE users SET email_confirmed_at = NULL WHERE email = $1")
        .bind(&e.email)
        .execute(&s.db().await)
        .await
        .expect("unconfirm");
    let c = s.client();
    let r = s.login(&c, &e.email, PASSWORD).await;
    assert_eq!(
        json_of(r).await["SecondFactorRequired"]["methods"],
        json!(["Totp", "BackupCode"])
    );
    s.mark_confirmed(&e.email).await;
    let c = s.client();
    let r = s.login(&c, &e.email, PASSWORD).await;
    assert_eq!(
        json_of(r).await["SecondFactorRequired"]["methods"],
        json!(["Totp", "BackupCode", "EmailCode"])
    );
}

#[tokio::test]
async fn sign_ups_cannot_flood_an_address_with_mail() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, SignupArg::Confirm).await;
    for _ in 0..6 {
        let r = s
            .post(
                &s.client(),
                "/api/auth/register",
                json!({"email": "flood@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    wait_for_outbox(s.dir.path(), CONFIRM_SUBJECT, 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mails = outbox(s.dir.path())
        .into_iter()
        .filter(|m| m.contains(CONFIRM_SUBJECT))
        .count();
    assert_eq!(mails, 3, "three an hour, then silence");
    // An hour on, one more may go.
    clock.advance(3600);
    s.post(
        &s.client(),
        "/api/auth/register",
        json!({"email": "flood@example.com", "password": PASSWORD}),
    )
    .await;
    wait_for_outbox(s.dir.path(), CONFIRM_SUBJECT, 4).await;
}

#[tokio::test]
async fn the_first_confirmed_link_wins_and_other_links_for_the_address_fail() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, SignupArg::Confirm).await;
    for password in [PASSWORD, "someone elses phrase 12"] {
        let r = s
            .post(
                &s.client(),
                "/api/auth/register",
                json!({"email": "twice@example.com", "password": password}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let mails = wait_for_outbox(s.dir.path(), CONFIRM_SUBJECT, 2).await;
    let tokens: Vec<String> = mails
        .iter()
        .map(|m| link_token(m, "/confirm-email"))
        .collect();
    assert_ne!(tokens[0], tokens[1]);
    let r = s
        .post(
            &s.client(),
            "/api/auth/confirm-email",
            json!({"token": tokens[0]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .post(
            &s.client(),
            "/api/auth/confirm-email",
            json!({"token": tokens[1]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&s.db().await)
        .await
        .expect("count");
    assert_eq!(users, 1);
}

#[tokio::test]
async fn thirty_parallel_uses_of_one_confirm_link_make_one_account() {
    let clock = FixedClock::new(T0);
    let s = server(&clock, SignupArg::Confirm).await;
    let r = s
        .post(
            &s.client(),
            "/api/auth/register",
            json!({"email": "race@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = wait_for_outbox(s.dir.path(), CONFIRM_SUBJECT, 1).await;
    let token = link_token(&mail[0], "/confirm-email");
    let statuses = burst(30, |_| {
        s.client()
            .post(s.url("/api/auth/confirm-email"))
            .json(&json!({"token": &token}))
    })
    .await;
    assert_eq!(tally(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(tally(&statuses, StatusCode::BAD_REQUEST), 29);
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&s.db().await)
        .await
        .expect("count");
    assert_eq!(sessions, 1, "one link, one sign-in");
}
