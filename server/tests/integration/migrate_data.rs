//! `twofold migrate-data`: a SQLite installation with enrolled users moves
//! to PostgreSQL, where they sign in with their authenticator app and a
//! backup code. Runs when the suite runs on PostgreSQL.

use crate::common;

use std::process::Command;
use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::twofactor::{T0, answer, challenge, enrol};
use common::{TestServer, json_of};
use reqwest::StatusCode;
use twofold_server::RouterOptions;
use twofold_server::config::DataArgs;

fn migrate_data(from: &str, to: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .args(["migrate-data", "--from", from, "--to", to])
        .env_remove("TWOFOLD_DATABASE_URL")
        .output()
        .expect("run twofold");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn count(pool: &sqlx::AnyPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn a_sqlite_installation_moves_to_postgres_and_its_factors_still_sign_in() {
    let Some(server) = common::postgres_server() else {
        eprintln!("not on PostgreSQL (TWOFOLD_TEST_POSTGRES_URL unset): skipped");
        return;
    };
    let clock = FixedClock::new(T0);
    let s = TestServer::start_on_sqlite_with(Arc::new(clock.clone())).await;
    let ann = enrol(&s, &clock, "ann@example.com").await;
    let bob = enrol(&s, &clock, "bob@example.com").await;
    assert_eq!(
        s.register(&s.client(), "cy@example.com").await.status(),
        StatusCode::CREATED
    );
    let sqlite = s.db().await;
    let mut before = Vec::new();
    for table in [
        "users",
        "factors",
        "backup_codes",
        "sessions",
        "security_events",
    ] {
        before.push((table, count(&sqlite, table).await));
    }
    sqlite.close().await;
    let dir = s.stop();
    let from = format!("sqlite://{}", dir.path().join("twofold.db").display());
    let to = common::fresh_database(&server).await;

    // Wrong way round, or not a database: one line, exit 2, nothing copied.
    for (bad_from, bad_to, says) in [
        (from.as_str(), "sqlite:///tmp/x.db", "must be a PostgreSQL"),
        (to.as_str(), to.as_str(), "must be the SQLite"),
        ("sqlite:///nowhere/twofold.db", to.as_str(), "no such file"),
    ] {
        let (code, _, err) = migrate_data(bad_from, bad_to);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(says), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }

    let (code, out, err) = migrate_data(&from, &to);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("users 3"), "{out}");

    // Every table's rows are there.
    let data = DataArgs {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(to.clone()),
    };
    let pg = app::backend::infra::db::open(&data.target().expect("target"))
        .await
        .expect("open");
    for (table, n) in &before {
        assert_eq!(count(&pg, table).await, *n, "{table}");
    }

    // Into a database that has accounts now: refused, nothing changes.
    let (code, _, err) = migrate_data(&from, &to);
    assert_eq!(code, 2);
    assert!(err.contains("already holds 3 account"), "{err}");
    assert_eq!(count(&pg, "users").await, 3);

    // On PostgreSQL, with the installation's key: both factors sign in.
    let security = twofold_server::config::SecurityArgs {
        secret_key_file: Some(dir.path().join("secret.key")),
        ..common::security()
    };
    let p = TestServer::start_on(
        Arc::new(clock.clone()),
        dir,
        data,
        security,
        RouterOptions::default(),
    )
    .await;
    clock.advance(30);
    let c = challenge(&p, &ann.email).await;
    let r = answer(&p, &c, "Totp", &ann.secret.code_at(T0 + 30)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let c = challenge(&p, &bob.email).await;
    let r = answer(&p, &c, "BackupCode", &bob.codes[0]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = json_of(p.get(&c, "/api/me").await).await;
    assert_eq!(me["email"], "bob@example.com");
    // New rows get new ids (the sequences moved on past the copied ones).
    assert_eq!(
        p.register(&p.client(), "dee@example.com").await.status(),
        StatusCode::CREATED
    );
}

/// The two migration sets describe one schema: the same tables with the
/// same columns, at the same latest version. A migration added for one
/// engine only fails here.
#[tokio::test]
async fn sqlite_and_postgres_migrations_give_the_same_tables_and_columns() {
    let Some(server) = common::postgres_server() else {
        eprintln!("not on PostgreSQL (TWOFOLD_TEST_POSTGRES_URL unset): skipped");
        return;
    };
    use app::backend::infra::db::{self, Target};
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = db::open(&Target::Sqlite(dir.path().join("twofold.db")))
        .await
        .expect("sqlite");
    db::migrate(&sqlite).await.expect("migrate sqlite");
    let pg = db::open(&Target::Postgres(common::fresh_database(&server).await))
        .await
        .expect("postgres");
    db::migrate(&pg).await.expect("migrate postgres");

    let latest = "SELECT MAX(version) FROM _sqlx_migrations";
    let (a, b): (i64, i64) = (
        sqlx::query_scalar(latest)
            .fetch_one(&sqlite)
            .await
            .expect("v"),
        sqlx::query_scalar(latest).fetch_one(&pg).await.expect("v"),
    );
    assert_eq!(a, b, "both engines at the same migration version");

    let sqlite_columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'
         ORDER BY 1, 2",
    )
    .fetch_all(&sqlite)
    .await
    .expect("sqlite columns");
    let pg_columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'
         ORDER BY 1, 2",
    )
    .fetch_all(&pg)
    .await
    .expect("postgres columns");
    let only_sqlite: Vec<_> = sqlite_columns
        .iter()
        .filter(|c| !pg_columns.contains(c))
        .collect();
    let only_pg: Vec<_> = pg_columns
        .iter()
        .filter(|c| !sqlite_columns.contains(c))
        .collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "only in SQLite: {only_sqlite:?}; only in PostgreSQL: {only_pg:?}"
    );
    assert!(sqlite_columns.len() > 100, "the whole schema was compared");
}
