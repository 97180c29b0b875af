//! Opening the SQLite database and running the embedded migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens (creating if missing) the database file with WAL, foreign keys and a
/// busy timeout, so concurrent writers wait instead of failing.
pub async fn open(path: &Path) -> Result<SqlitePool, DbError> {
    open_with(path, 8).await
}

/// The writer: one connection that every hot write transaction queues for.
/// SQLite takes one writer at a time anyway; queueing in the pool (a wake-up
/// when the connection is free) replaces the busy handler's sleeps of 1 to
/// 100 ms that racing connections otherwise take.
pub async fn open_writer(path: &Path) -> Result<SqlitePool, DbError> {
    open_with(path, 1).await
}

/// A write transaction that takes SQLite's write lock at once (`BEGIN
/// IMMEDIATE`): what it reads cannot change before it writes, and it never
/// has to upgrade a read lock (which can fail instead of waiting).
pub async fn begin_write(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, crate::api::AppError> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| super::internal("begin", e))
}

async fn open_with(path: &Path, connections: u32) -> Result<SqlitePool, DbError> {
    let display = path.display().to_string();
    let options = SqliteConnectOptions::from_str("sqlite://")
        .map_err(|source| DbError::Open {
            path: display.clone(),
            source,
        })?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(connections)
        .connect_with(options)
        .await
        .map_err(|source| DbError::Open {
            path: display,
            source,
        })
}

/// Applies every migration embedded in the binary.
pub async fn migrate(pool: &SqlitePool) -> Result<(), DbError> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}

/// `SELECT 1` through the pool: the health check.
pub async fn ping(pool: &SqlitePool) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(pool)
        .await
        .is_ok()
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; choose a new file, a backup never overwrites")]
    Exists(String),
    #[error("cannot write the backup to {path}: {source}")]
    Write { path: String, source: sqlx::Error },
}

/// A consistent copy of the live database in one new file, taken while the
/// server keeps running: `VACUUM INTO` reads one snapshot (WAL lets writers
/// go on) and writes a compact, self-contained database.
pub async fn backup_to(pool: &SqlitePool, to: &Path) -> Result<(), BackupError> {
    let display = to.display().to_string();
    if to.exists() {
        return Err(BackupError::Exists(display));
    }
    sqlx::query("VACUUM INTO ?")
        .bind(display.clone())
        .execute(pool)
        .await
        .map_err(|source| BackupError::Write {
            path: display,
            source,
        })?;
    Ok(())
}
