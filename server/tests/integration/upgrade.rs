//! Upgrades keep what people set up. A database made by the schema before
//! the factors table, with a user enrolled in TOTP, is upgraded by the
//! server at start; that user still signs in with their authenticator app,
//! and the code they used last is still spent.

use crate::common;

use std::borrow::Cow;
use std::sync::Arc;

use app::backend::UserId;
use app::backend::auth::passwords::{Password, hash_blocking};
use app::backend::factors::mfa;
use app::backend::factors::totp::{TotpSecret, step_of};
use app::backend::infra::clock::FixedClock;
use app::backend::infra::crypto::SecretKey;
use common::twofactor::{T0, answer, challenge};
use common::{PASSWORD, TestServer, json_of};
use reqwest::StatusCode;

/// The last migration before the factors table.
const BEFORE_FACTORS: i64 = 20261202000007;

async fn insert_user(pool: &sqlx::AnyPool, email: &str, mfa_state: &str) -> i64 {
    let hash = hash_blocking(&Password::new(PASSWORD.into())).expect("hash");
    sqlx::query_scalar(
        "INSERT INTO users (email, password_hash, mfa_state, created_at, email_confirmed_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(email)
    .bind(hash.0)
    .bind(mfa_state)
    .bind(T0 - 86_400)
    .bind(T0 - 86_400)
    .fetch_one(pool)
    .await
    .expect("user")
}

#[tokio::test]
async fn an_authenticator_app_enrolled_before_the_factors_table_still_signs_in() {
    let dir = tempfile::tempdir().expect("dir");
    let pool = app::backend::infra::db::open(&app::backend::infra::db::Target::Sqlite(
        dir.path().join("twofold.db"),
    ))
    .await
    .expect("open");
    let mut old = sqlx::migrate!("../app/migrations");
    old.migrations = Cow::Owned(
        old.migrations
            .iter()
            .filter(|m| m.version <= BEFORE_FACTORS)
            .cloned()
            .collect(),
    );
    old.run(&pool).await.expect("old schema");
    let key = SecretKey::load_or_create(None, dir.path()).expect("key");

    // Enrolled, with the code of T0 used already.
    let enrolled = insert_user(&pool, "enrolled@example.com", "Enabled").await;
    let secret = TotpSecret::generate();
    sqlx::query(
        "INSERT INTO totp_credentials (user_id, secret_enc, last_step) VALUES ($1, $2, $3)",
    )
    .bind(enrolled)
    .bind(mfa::seal_secret(&key, UserId(enrolled), &secret))
    .bind(step_of(T0))
    .execute(&pool)
    .await
    .expect("totp row");
    // Halfway through a setup.
    let halfway = insert_user(&pool, "halfway@example.com", "SetupInProgress").await;
    let pending = TotpSecret::generate();
    sqlx::query(
        "INSERT INTO totp_credentials (user_id, pending_enc, pending_since) VALUES ($1, $2, $3)",
    )
    .bind(halfway)
    .bind(mfa::seal_secret(&key, UserId(halfway), &pending))
    .bind(T0)
    .execute(&pool)
    .await
    .expect("pending row");
    pool.close().await;

    let clock = FixedClock::new(T0 + 30);
    let s = TestServer::start_with(Arc::new(clock.clone()), Some(dir)).await;

    // The replay guard came along: the code already used is still spent.
    let c = challenge(&s, "enrolled@example.com").await;
    let r = answer(&s, &c, "Totp", &secret.code_at(T0)).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // The next code signs in, as before the upgrade.
    let c = challenge(&s, "enrolled@example.com").await;
    let r = answer(&s, &c, "Totp", &secret.code_at(T0 + 30)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = json_of(s.get(&c, "/api/me").await).await;
    assert_eq!(me["mfa"], "Enabled");

    // One factor each for the enrolled user, none for the one halfway; the
    // setup in progress is kept with its secret, and the old table is gone.
    let db = s.db().await;
    let factors: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT user_id, kind, name FROM factors ORDER BY id")
            .fetch_all(&db)
            .await
            .expect("factors");
    assert_eq!(
        factors,
        vec![(
            enrolled,
            "Totp".to_string(),
            "Authenticator app".to_string()
        )]
    );
    let pending_rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT user_id, started_at FROM totp_enrolments")
            .fetch_all(&db)
            .await
            .expect("enrolments");
    assert_eq!(pending_rows, vec![(halfway, T0)]);
    let old_table: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'totp_credentials'")
            .fetch_one(&db)
            .await
            .expect("schema");
    assert_eq!(old_table, 0);
}
