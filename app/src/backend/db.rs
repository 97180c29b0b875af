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
        .max_connections(8)
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
