//! Opening the database and running the embedded migrations. Queries go
//! through sqlx's `Any` driver, so one set of them (with `$N` parameters)
//! serves SQLite and, as the port goes on, PostgreSQL.

use std::path::Path;

use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::{AnyPool, Arguments};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens (creating if missing) the database file with WAL, foreign keys and a
/// busy timeout, so concurrent writers wait instead of failing.
///
/// One connection per core: each connection has its own sqlx worker thread,
/// and more threads than cores only add wake-ups (measured in
/// docs/BENCHMARKS.md: 8 connections on 2 cores cost a third of the
/// second-factor rate).
pub async fn open(path: &Path) -> Result<AnyPool, DbError> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    open_with(path, cores.clamp(2, 8) as u32).await
}

/// The writer: one connection that every hot write transaction queues for.
/// SQLite takes one writer at a time anyway; queueing in the pool (a wake-up
/// when the connection is free) replaces the busy handler's sleeps of 1 to
/// 100 ms that racing connections otherwise take.
pub async fn open_writer(path: &Path) -> Result<AnyPool, DbError> {
    open_with(path, 1).await
}

/// A write transaction that takes SQLite's write lock at once (`BEGIN
/// IMMEDIATE`): what it reads cannot change before it writes, and it never
/// has to upgrade a read lock (which can fail instead of waiting).
pub async fn begin_write(pool: &AnyPool) -> Result<WriteTx, crate::api::AppError> {
    let tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| crate::backend::internal("begin", e))?;
    Ok(WriteTx {
        tx,
        later: Batch::default(),
    })
}

/// A write transaction and the writes in it whose results nobody reads (an
/// audit row, a new session, a cleared counter). Those wait in `later` and go
/// to SQLite as one multi-statement call just before the commit: each call is
/// a round trip to sqlx's worker thread, and on the hot paths those round
/// trips, not SQLite, are what costs. Statements that decide something (a
/// reservation, the replay guard) run at once through `Deref`. Dropped
/// without [`WriteTx::commit`], everything rolls back, `later` included.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    pub later: Batch,
}

impl WriteTx {
    pub async fn commit(mut self) -> Result<(), crate::api::AppError> {
        self.later.run(&mut self.tx).await?;
        self.tx
            .commit()
            .await
            .map_err(|e| crate::backend::internal("commit", e))
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Statements run later in one call, in the order they were added.
#[derive(Default)]
pub struct Batch {
    sql: String,
    args: AnyArguments<'static>,
    /// Values bound so far: a statement's `$N` are numbered from 1 and
    /// shifted by this when added, since the batch is one call.
    bound: usize,
    /// The first value that could not be encoded: `run` fails with it.
    error: Option<String>,
}

impl Batch {
    /// Adds a statement (without its `;`); bind its `$1`, `$2`... next, in
    /// order.
    pub fn add(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(&shift_parameters(sql, self.bound));
        self.sql.push_str(";\n");
        self
    }

    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + 'static,
    {
        if let Err(e) = self.args.add(value)
            && self.error.is_none()
        {
            self.error = Some(e.to_string());
        }
        self.bound += 1;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// Runs the statements and empties the batch.
    pub async fn run(
        &mut self,
        conn: &mut sqlx::AnyConnection,
    ) -> Result<(), crate::api::AppError> {
        if let Some(e) = self.error.take() {
            return Err(crate::backend::internal("encoding a deferred write", e));
        }
        if self.is_empty() {
            return Ok(());
        }
        let sql = std::mem::take(&mut self.sql);
        let args = std::mem::take(&mut self.args);
        self.bound = 0;
        sqlx::query_with(&sql, args)
            .execute(conn)
            .await
            .map_err(|e| crate::backend::internal("deferred writes", e))?;
        Ok(())
    }
}

/// `sql` with each `$N` parameter renumbered `$(N + by)`.
fn shift_parameters(sql: &str, by: usize) -> String {
    if by == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

/// A yes/no column as read back: PostgreSQL has BOOLEAN, SQLite stores 0/1
/// (which sqlx's `Any` driver will not decode as `bool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flag(pub bool);

impl sqlx::Type<sqlx::Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <bool as sqlx::Type<sqlx::Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        ty.kind() == sqlx::any::AnyTypeInfoKind::Bool || ty.kind().is_integer()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        match <bool as sqlx::Decode<sqlx::Any>>::decode(value.clone()) {
            Ok(b) => Ok(Flag(b)),
            Err(_) => <i64 as sqlx::Decode<sqlx::Any>>::decode(value).map(|i| Flag(i != 0)),
        }
    }
}

/// The `sqlite://` URL of a database file (percent-encoded, so any path
/// works), created when missing.
pub fn sqlite_url(path: &Path) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'.')
        .remove(b'-')
        .remove(b'_');
    let path = path.to_string_lossy();
    format!(
        "sqlite://{}?mode=rwc",
        percent_encoding::utf8_percent_encode(&path, KEEP)
    )
}

async fn open_with(path: &Path, connections: u32) -> Result<AnyPool, DbError> {
    sqlx::any::install_default_drivers();
    let display = path.display().to_string();
    AnyPoolOptions::new()
        .max_connections(connections)
        // A file connection does not go stale the way a network one does:
        // pinging it before every use only doubles the round trips.
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                if conn.backend_name() == "SQLite" {
                    // WAL: readers never wait for the writer; NORMAL sync
                    // is durable across crashes of the process; writers
                    // wait (up to 5 s) instead of failing.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA busy_timeout = 5000",
                    ] {
                        sqlx::Executor::execute(&mut *conn, pragma).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&sqlite_url(path))
        .await
        .map_err(|source| DbError::Open {
            path: display,
            source,
        })
}

/// Applies every migration embedded in the binary.
pub async fn migrate(pool: &AnyPool) -> Result<(), DbError> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}

/// `SELECT 1` through the pool: the health check.
pub async fn ping(pool: &AnyPool) -> bool {
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
pub async fn backup_to(pool: &AnyPool, to: &Path) -> Result<(), BackupError> {
    let display = to.display().to_string();
    if to.exists() {
        return Err(BackupError::Exists(display));
    }
    sqlx::query("VACUUM INTO $1")
        .bind(display.clone())
        .execute(pool)
        .await
        .map_err(|source| BackupError::Write {
            path: display,
            source,
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn table() -> (tempfile::TempDir, AnyPool) {
        let dir = tempfile::tempdir().expect("dir");
        let pool = open_writer(&dir.path().join("t.db")).await.expect("open");
        sqlx::query("CREATE TABLE t (a INTEGER, b TEXT)")
            .execute(&pool)
            .await
            .expect("create");
        (dir, pool)
    }

    async fn rows(pool: &AnyPool) -> Vec<(i64, String)> {
        sqlx::query_as("SELECT a, b FROM t ORDER BY rowid")
            .fetch_all(pool)
            .await
            .expect("rows")
    }

    #[tokio::test]
    async fn deferred_writes_run_in_order_with_their_own_parameters() {
        let (_dir, pool) = table().await;
        let mut tx = begin_write(&pool).await.expect("begin");
        tx.later
            .add("INSERT INTO t VALUES ($1, $2)")
            .bind(1_i64)
            .bind("one".to_string())
            .add("UPDATE t SET b = $1 WHERE a = $2")
            .bind("uno".to_string())
            .bind(1_i64)
            .add("INSERT INTO t VALUES ($1, $2)")
            .bind(2_i64)
            .bind("two".to_string());
        tx.commit().await.expect("commit");
        assert_eq!(
            rows(&pool).await,
            vec![(1, "uno".to_string()), (2, "two".to_string())]
        );
    }

    #[tokio::test]
    async fn a_failing_deferred_write_rolls_back_the_whole_transaction() {
        let (_dir, pool) = table().await;
        let mut tx = begin_write(&pool).await.expect("begin");
        sqlx::query("INSERT INTO t VALUES (1, 'at once')")
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx.later.add("INSERT INTO missing VALUES ($1)").bind(1_i64);
        assert!(tx.commit().await.is_err());
        assert!(rows(&pool).await.is_empty());
    }

    #[tokio::test]
    async fn dropping_the_transaction_drops_the_deferred_writes() {
        let (_dir, pool) = table().await;
        let mut tx = begin_write(&pool).await.expect("begin");
        tx.later
            .add("INSERT INTO t VALUES ($1, $2)")
            .bind(1_i64)
            .bind("never".to_string());
        drop(tx);
        assert!(rows(&pool).await.is_empty());
    }
}
