//! Two `twofold` processes on one PostgreSQL database, as behind a load
//! balancer: every guarantee holds across them (one winner per code, one
//! lockout, sessions and policy shared, one migration). Runs when the suite
//! runs on PostgreSQL (`TWOFOLD_TEST_POSTGRES_URL`, as `make test` sets);
//! on SQLite alone there is nothing to share and each test says so.

use crate::common;

use std::sync::Arc;

use app::backend::infra::clock::{Clock, FixedClock, SystemClock};
use common::twofactor::{Enrolled, answer, challenge, enrol};
use common::{PASSWORD, TestServer, json_of};
use reqwest::StatusCode;
use serde_json::json;
use twofold_server::config::DataArgs;

/// Instance A and instance B on a fresh database, started together.
async fn pair() -> Option<(Arc<TestServer>, Arc<TestServer>)> {
    let Some(server) = common::postgres_server() else {
        eprintln!("not on PostgreSQL (TWOFOLD_TEST_POSTGRES_URL unset): skipped");
        return None;
    };
    // The test cluster trusts local connections, so the password is only
    // there to prove it never reaches the log.
    let url =
        common::fresh_database(&server)
            .await
            .replacen("://twofold@", "://twofold:pw-in-url@", 1);
    let data = DataArgs {
        data_dir: std::path::PathBuf::new(),
        database_url: Some(url),
    };
    let key: String = rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // A generous per-address budget: every request here comes from
    // 127.0.0.1, and the account's own limits are what is tested.
    let flags = ["--ip-max-failures", "1000", "--signup-per-hour", "1000"];
    let (a, b) = tokio::join!(
        TestServer::spawn_process(data.clone(), &key, &flags),
        TestServer::spawn_process(data, &key, &flags),
    );
    Some((Arc::new(a), Arc::new(b)))
}

fn now_clock() -> FixedClock {
    FixedClock::new(SystemClock.now())
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// `n` sign-ins at their password step, alternately on A and B, then all
/// answering `code` at once, each on the other instance than its challenge.
async fn race_across(
    a: &Arc<TestServer>,
    b: &Arc<TestServer>,
    e: &Enrolled,
    method: &'static str,
    code: &str,
    n: usize,
) -> Vec<StatusCode> {
    let mut clients = Vec::new();
    for i in 0..n {
        let (asked, answering) = if i % 2 == 0 { (a, b) } else { (b, a) };
        clients.push((challenge(asked, &e.email).await, answering.clone()));
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(c, s)| {
            let code = code.to_string();
            tokio::spawn(async move { answer(&s, &c, method, &code).await.status() })
        })
        .collect();
    common::statuses(tasks).await
}

#[tokio::test]
async fn two_instances_started_at_once_migrate_once_and_make_one_signing_key() {
    let Some((a, b)) = pair().await else { return };
    let db = a.db().await;
    let migrations: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&db)
            .await
            .expect("migrations");
    assert!(!migrations.is_empty());
    assert!(migrations.iter().all(|(_, ok)| *ok), "{migrations:?}");
    let mut versions: Vec<i64> = migrations.iter().map(|(v, _)| *v).collect();
    versions.dedup();
    assert_eq!(versions.len(), migrations.len(), "each version once");
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_keys WHERE retired_at IS NULL")
        .fetch_one(&db)
        .await
        .expect("keys");
    assert_eq!(keys, 1, "one ID-token signing key between them");
    // Both publish it.
    let jwks_a = json_of(a.get(&a.client(), "/oauth2/jwks").await).await;
    let jwks_b = json_of(b.get(&b.client(), "/oauth2/jwks").await).await;
    assert_eq!(jwks_a, jwks_b);
    // The start-up line names the database without its password.
    let log = std::fs::read_to_string(a.dir.path().join("server.log")).expect("log");
    assert!(log.contains("twofold:***@"), "{log}");
    assert!(!log.contains("pw-in-url"), "{log}");
}

#[tokio::test]
async fn eight_requests_racing_one_totp_code_across_two_instances_one_wins() {
    let Some((a, b)) = pair().await else { return };
    let clock = now_clock();
    let e = enrol(&a, &clock, "totp@example.com").await;
    // The next step's code: within the accepted skew, and not the step the
    // enrolment spent.
    let code = e.secret.code_at(clock.now() + 30);
    let statuses = race_across(&a, &b, &e, "Totp", &code, 8).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| !s.is_server_error()),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn eight_requests_racing_one_backup_code_across_two_instances_one_wins() {
    let Some((a, b)) = pair().await else { return };
    let e = enrol(&b, &now_clock(), "backup@example.com").await;
    let statuses = race_across(&a, &b, &e, "BackupCode", &e.codes[0], 8).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| !s.is_server_error()),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn eight_requests_racing_one_email_code_across_two_instances_one_wins() {
    let Some((a, b)) = pair().await else { return };
    let e = enrol(&a, &now_clock(), "mail@example.com").await;
    let c = challenge(&a, &e.email).await;
    let r = a.post(&c, "/api/auth/email-code", json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = common::wait_for_outbox(a.dir.path(), "sign-in code", 1).await;
    let code = common::smtp_sink::code_in(&mail[0]);
    let statuses = race_across(&a, &b, &e, "EmailCode", &code, 8).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| !s.is_server_error()),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn forty_wrong_passwords_split_across_two_instances_get_five_through_then_both_lock() {
    let Some((a, b)) = pair().await else { return };
    assert_eq!(
        a.register(&a.client(), "lock@example.com").await.status(),
        StatusCode::CREATED
    );
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                s.login(&s.client(), "lock@example.com", "wrong horse battery 9")
                    .await
                    .status()
            })
        })
        .collect();
    let statuses = common::statuses(tasks).await;
    // One budget of five for the account, whichever instance counted.
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        5,
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 35);
    // The lockout earned holds on both: even the right password waits.
    for s in [&a, &b] {
        let r = s.login(&s.client(), "lock@example.com", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
async fn a_session_made_on_one_instance_works_on_the_other_until_revoked_there() {
    let Some((a, b)) = pair().await else { return };
    let on_a = a.client();
    assert_eq!(
        a.register(&on_a, "jo@example.com").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        a.login(&on_a, "jo@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    // The same cookie, the other instance.
    let me = b.get(&on_a, "/api/me").await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(json_of(me).await["email"], "jo@example.com");
    // Another sign-in on B ends every other session.
    let on_b = b.client();
    assert_eq!(
        b.login(&on_b, "jo@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let r = b
        .post(&on_b, "/api/auth/logout-all", json!({"keep_current": true}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // A knows at once: nothing is cached per instance.
    assert_eq!(
        a.get(&on_a, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(b.get(&on_b, "/api/me").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_policy_set_on_one_instance_applies_on_the_other() {
    let Some((a, b)) = pair().await else { return };
    let admin = a.admin("boss@example.com").await;
    let user = b.client();
    assert_eq!(
        b.register(&user, "ann@example.com").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        json_of(b.get(&user, "/api/me").await).await["mfa_required_by"],
        serde_json::Value::Null
    );
    let r = a
        .post(
            &admin,
            "/api/admin/policy",
            json!({"require": "Everyone", "grace_days": 0}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let policy: String = sqlx::query_scalar("SELECT require FROM mfa_policy")
        .fetch_one(&b.db().await)
        .await
        .expect("policy");
    assert_eq!(policy, "Everyone");
    // On B the account is due at once: past the deadline (a second on)
    // only enrolment is open.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let me = json_of(b.get(&user, "/api/me").await).await;
    assert!(me["mfa_required_by"].is_i64(), "{me}");
    assert_eq!(me["mfa_enrolment_required"], true, "{me}");
    assert_eq!(
        b.get(&user, "/api/sessions").await.status(),
        StatusCode::FORBIDDEN
    );
}
