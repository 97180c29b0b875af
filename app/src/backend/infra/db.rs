//! Opening the database and running the embedded migrations, and the
//! write transactions. Queries go through sqlx's `Any` driver, so one set
//! of them (with `$N` parameters) serves SQLite and PostgreSQL; on SQLite
//! the hottest ones run straight into the file instead (`infra::direct`),
//! with the same SQL.

use std::path::Path;

use std::sync::Arc;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use super::direct::{self, Arg, Columns};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot open database {path}: {source}")]
    Direct {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "--database-url must be sqlite://PATH or postgres://USER:PASSWORD@HOST[:PORT]/DATABASE, got {0}"
    )]
    BadUrl(String),
}

/// Which database a Twofold installation keeps its data in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One file, the default: `DATA_DIR/twofold.db`.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database that several instances may share.
    Postgres(String),
}

impl Target {
    /// `--database-url`: `sqlite://PATH` or `postgres://...` (also
    /// `postgresql://`). No URL means the file in the data directory.
    pub fn parse(url: Option<&str>, data_dir: &Path) -> Result<Self, DbError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Target::Sqlite(data_dir.join("twofold.db")));
        };
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(DbError::BadUrl(redact(url)));
            }
            let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
            return Ok(Target::Sqlite(decoded.into_owned().into()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return match url::Url::parse(url) {
                Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => {
                    Ok(Target::Postgres(url.to_string()))
                }
                _ => Err(DbError::BadUrl(redact(url))),
            };
        }
        Err(DbError::BadUrl(redact(url)))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Target::Postgres(_))
    }

    /// What the logs and errors may show: the URL without its password.
    pub fn redacted(&self) -> String {
        match self {
            Target::Sqlite(path) => format!("sqlite://{}", path.display()),
            Target::Postgres(url) => redact(url),
        }
    }

    fn url(&self) -> String {
        match self {
            Target::Sqlite(path) => sqlite_url(path),
            Target::Postgres(url) => url.clone(),
        }
    }
}

/// `url` with any password replaced by `***` (and any that cannot be parsed
/// shown only by its scheme, since it might hold one anywhere).
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "***".to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => "(not a URL)".to_string(),
        },
    }
}

/// Whether a pool talks to PostgreSQL (the SQL differs in a few places).
pub fn is_postgres(pool: &AnyPool) -> bool {
    pool.connect_options()
        .database_url
        .scheme()
        .starts_with("postgres")
}

/// Whether a connection talks to PostgreSQL.
pub fn conn_is_postgres(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

/// Opens the database the readers use.
///
/// SQLite: one connection per core: each connection has its own sqlx worker
/// thread, and more threads than cores only add wake-ups (measured in
/// docs/BENCHMARKS.md: 8 connections on 2 cores cost a third of the
/// second-factor rate). PostgreSQL: a few more, since a query there waits on
/// the network rather than on a thread.
pub async fn open(target: &Target) -> Result<AnyPool, DbError> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let connections = match target {
        Target::Sqlite(_) => cores.clamp(2, 8),
        Target::Postgres(_) => (cores * 2).clamp(4, 16),
    };
    open_with(target, connections as u32).await
}

/// The writer. SQLite: one connection that every write transaction queues
/// for. SQLite takes one writer at a time anyway; queueing in the pool (a
/// wake-up when the connection is free) replaces the busy handler's sleeps
/// of 1 to 100 ms that racing connections otherwise take. Beside it, the
/// same file's direct write connection (`infra::direct::Writer`) for the
/// hot paths; the two meet at SQLite's own write lock. PostgreSQL: a
/// pool, since write transactions are ordered by locks in the database
/// instead (see [`begin_write`] and [`begin_keyed`]), across every
/// instance; second-factor sign-ins of different accounts run side by side
/// there, each waiting on network round trips rather than on a core.
pub async fn open_writer(target: &Target) -> Result<Writer, DbError> {
    let connections = match target {
        Target::Sqlite(_) => 1,
        Target::Postgres(_) => 16,
    };
    let pool = open_with(target, connections).await?;
    let direct = match target {
        Target::Sqlite(path) => Some(Arc::new(direct::Writer::open(path).map_err(|e| {
            DbError::Direct {
                path: target.redacted(),
                source: e,
            }
        })?)),
        Target::Postgres(_) => None,
    };
    Ok(Writer { pool, direct })
}

/// Where write transactions go (see [`open_writer`]).
#[derive(Clone, Debug)]
pub struct Writer {
    pool: AnyPool,
    direct: Option<Arc<direct::Writer>>,
}

impl Writer {
    /// The sqlx pool, for single statements that decide for themselves.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// The key of the PostgreSQL advisory lock that write transactions take.
const WRITE_LOCK: i64 = 0x0074_776f_666f_6c64; // "twofold" in ASCII

/// A write transaction that holds the database's one write lock from its
/// start: what it reads cannot change before it writes. Every limit, replay
/// guard and single-use code rests on this (a count and the insert it
/// allows, a read and the update it decides), so it holds for every
/// instance sharing the database.
///
/// SQLite: `BEGIN IMMEDIATE` takes the file's write lock at once, and never
/// has to upgrade a read lock (which can fail instead of waiting).
/// PostgreSQL: a transaction-scoped advisory lock that every write
/// transaction of every instance takes first; PostgreSQL lets it go at
/// commit or rollback, so a crashed instance never leaves it held. Reads
/// outside write transactions never wait for it.
pub async fn begin_write(writer: &Writer) -> Result<WriteTx, crate::api::AppError> {
    let pool = &writer.pool;
    let postgres = is_postgres(pool);
    let mut tx = pool
        .begin_with(if postgres { "BEGIN" } else { "BEGIN IMMEDIATE" })
        .await
        .map_err(|e| crate::backend::internal("begin", e))?;
    if postgres {
        sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(|e| crate::backend::internal("taking the write lock", e))?;
    }
    Ok(WriteTx {
        conn: TxConn::Sqlx { tx },
        later: Batch::default(),
    })
}

/// The class of the two-key advisory locks [`begin_keyed`] takes (a
/// keyspace apart from [`WRITE_LOCK`]'s single key).
const KEYED_CLASS: i32 = 0x7466; // "tf"

/// A write transaction for a hot path whose decisions all concern `keys`
/// (an account and the rate-limit scopes it counts against), so that
/// different accounts need not wait for each other.
///
/// SQLite: the whole transaction on the direct write connection, on the
/// caller's thread (`infra::direct`): one writer anyway, and no thread
/// hand-off per statement. Code in such a transaction uses only
/// [`WriteTx::execute`], [`WriteTx::row`] and `later`. PostgreSQL: the
/// write lock in shared mode (so it still excludes every [`begin_write`]
/// transaction), then one exclusive lock per key, in sorted order (two such
/// transactions never wait for each other in a circle). Transactions on the
/// same account or scope run one at a time, as with the write lock; a
/// caller must only decide about what its keys cover, and everything else it
/// writes must be single statements that decide for themselves (a
/// conditional UPDATE, an INSERT of a new row).
pub async fn begin_keyed(
    writer: &Writer,
    keys: &[String],
) -> Result<WriteTx, crate::api::AppError> {
    if let Some(direct) = &writer.direct {
        return Ok(WriteTx {
            conn: TxConn::Direct(direct.begin().await?),
            later: Batch::default(),
        });
    }
    let lock = |e| crate::backend::internal("taking the write locks", e);
    let mut tx = writer
        .pool
        .begin_with("BEGIN")
        .await
        .map_err(|e| crate::backend::internal("begin", e))?;
    sqlx::query("SELECT 1 FROM pg_advisory_xact_lock_shared($1)")
        .bind(WRITE_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(lock)?;
    let mut hashes: Vec<i32> = keys.iter().map(|k| key_hash(k)).collect();
    hashes.sort_unstable();
    hashes.dedup();
    for hash in hashes {
        sqlx::query(
            "SELECT 1 FROM pg_advisory_xact_lock(CAST($1 AS INTEGER), CAST($2 AS INTEGER))",
        )
        .bind(KEYED_CLASS)
        .bind(hash)
        .execute(&mut *tx)
        .await
        .map_err(lock)?;
    }
    Ok(WriteTx {
        conn: TxConn::Sqlx { tx },
        later: Batch::default(),
    })
}

/// FNV-1a: the same on every instance and every build (unlike std's
/// hasher). Two keys that share a hash only wait for each other.
fn key_hash(key: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(h.to_ne_bytes())
}

/// A write transaction and the writes in it whose results nobody reads (an
/// audit row, a new session, a cleared counter). Those wait in `later` and
/// go just before the commit: through sqlx on SQLite as one multi-statement
/// call, since each call is a round trip to sqlx's worker thread, and on
/// the hot paths those round trips, not SQLite, are what costs. Statements
/// that decide something (a reservation, the replay guard) run at once.
/// Dropped without [`WriteTx::commit`], everything rolls back, `later`
/// included.
pub struct WriteTx {
    conn: TxConn,
    pub later: Batch,
}

enum TxConn {
    Sqlx {
        tx: sqlx::Transaction<'static, sqlx::Any>,
    },
    Direct(direct::Tx),
}

impl WriteTx {
    pub async fn commit(mut self) -> Result<(), crate::api::AppError> {
        let later = std::mem::take(&mut self.later);
        match self.conn {
            TxConn::Sqlx { mut tx } => {
                later.run_sqlx(&mut tx).await?;
                tx.commit()
                    .await
                    .map_err(|e| crate::backend::internal("commit", e))
            }
            TxConn::Direct(mut tx) => {
                later.run_direct(&mut tx)?;
                tx.commit()
                    .await
                    .map_err(|e| crate::backend::internal("commit", e))
            }
        }
    }

    /// Runs `sql` now; the rows it changed.
    pub async fn execute(
        &mut self,
        context: &str,
        sql: &str,
        args: &[Arg],
    ) -> Result<u64, crate::api::AppError> {
        let failed = |e: &dyn std::fmt::Display| crate::backend::internal(context, e);
        match &mut self.conn {
            TxConn::Sqlx { tx, .. } => sqlx::query_with(sql, direct::sqlx_args(args)?)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
                .map_err(|e| failed(&e)),
            TxConn::Direct(tx) => tx.execute(sql, args).map_err(|e| failed(&e)),
        }
    }

    /// The first row `sql` returns (a `SELECT`, or a statement with
    /// `RETURNING`), or `None`.
    pub async fn row<T: Columns>(
        &mut self,
        context: &str,
        sql: &str,
        args: &[Arg],
    ) -> Result<Option<T>, crate::api::AppError> {
        let failed = |e: &dyn std::fmt::Display| crate::backend::internal(context, e);
        match &mut self.conn {
            TxConn::Sqlx { tx, .. } => sqlx::query_as_with(sql, direct::sqlx_args(args)?)
                .fetch_optional(&mut **tx)
                .await
                .map_err(|e| failed(&e)),
            TxConn::Direct(tx) => tx.row(sql, args).map_err(|e| failed(&e)),
        }
    }

    /// Every row `sql` returns.
    pub async fn rows<T: Columns>(
        &mut self,
        context: &str,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<T>, crate::api::AppError> {
        let failed = |e: &dyn std::fmt::Display| crate::backend::internal(context, e);
        match &mut self.conn {
            TxConn::Sqlx { tx, .. } => sqlx::query_as_with(sql, direct::sqlx_args(args)?)
                .fetch_all(&mut **tx)
                .await
                .map_err(|e| failed(&e)),
            TxConn::Direct(tx) => tx.rows(sql, args).map_err(|e| failed(&e)),
        }
    }

    /// Whether this transaction runs on PostgreSQL (a few statements differ).
    pub fn is_postgres(&self) -> bool {
        match &self.conn {
            TxConn::Sqlx { tx, .. } => conn_is_postgres(tx),
            TxConn::Direct(_) => false,
        }
    }

    /// The sqlx connection, for code written against sqlx directly. A
    /// direct transaction ([`begin_keyed`] on SQLite) has none: code it
    /// reaches must use [`Self::execute`] and [`Self::row`].
    pub fn conn(&mut self) -> Result<&mut sqlx::AnyConnection, crate::api::AppError> {
        match &mut self.conn {
            TxConn::Sqlx { tx, .. } => Ok(&mut **tx),
            TxConn::Direct(_) => Err(crate::backend::internal(
                "a direct write transaction",
                "reached code that needs a sqlx connection",
            )),
        }
    }
}

/// Statements run later, in the order they were added.
#[derive(Default)]
pub struct Batch {
    each: Vec<(String, Vec<Arg>)>,
}

impl Batch {
    /// Adds a statement (without its `;`); bind its `$1`, `$2`... next, in
    /// order.
    pub fn add(&mut self, sql: &str) -> &mut Self {
        self.each.push((sql.to_string(), Vec::new()));
        self
    }

    pub fn bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        if let Some((_, args)) = self.each.last_mut() {
            args.push(value.into());
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.each.is_empty()
    }

    /// Through sqlx: on SQLite one multi-statement call (each statement's
    /// `$N` shifted by the values before it), on PostgreSQL one statement
    /// per call (it takes no more when they have parameters, and its round
    /// trips cost little next to SQLite's worker-thread hand-offs).
    async fn run_sqlx(self, conn: &mut sqlx::AnyConnection) -> Result<(), crate::api::AppError> {
        let failed = |e| crate::backend::internal("deferred writes", e);
        if self.is_empty() {
            return Ok(());
        }
        if conn_is_postgres(conn) {
            for (sql, args) in self.each {
                sqlx::query_with(&sql, direct::sqlx_args(&args)?)
                    .execute(&mut *conn)
                    .await
                    .map_err(failed)?;
            }
            return Ok(());
        }
        let mut sql = String::new();
        let mut all = Vec::new();
        for (one, args) in self.each {
            sql.push_str(&shift_parameters(&one, all.len()));
            sql.push_str(";\n");
            all.extend(args);
        }
        sqlx::query_with(&sql, direct::sqlx_args(&all)?)
            .execute(conn)
            .await
            .map_err(failed)?;
        Ok(())
    }

    fn run_direct(self, tx: &mut direct::Tx) -> Result<(), crate::api::AppError> {
        for (sql, args) in self.each {
            tx.execute(&sql, &args)
                .map_err(|e| crate::backend::internal("deferred writes", e))?;
        }
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

impl rusqlite::types::FromSql for Flag {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        i64::column_result(value).map(|i| Flag(i != 0))
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

async fn open_with(target: &Target, connections: u32) -> Result<AnyPool, DbError> {
    sqlx::any::install_default_drivers();
    let sqlite = !target.is_postgres();
    AnyPoolOptions::new()
        .max_connections(connections)
        // A file connection does not go stale the way a network one does:
        // pinging it before every use only doubles the round trips.
        .test_before_acquire(!sqlite)
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
        .connect(&target.url())
        .await
        .map_err(|source| DbError::Open {
            path: target.redacted(),
            source,
        })
}

/// Applies every migration embedded in the binary for the pool's engine.
/// The two sets keep the same versions in the same order; PostgreSQL's
/// starts from a baseline equal to SQLite's schema at its version. sqlx
/// holds PostgreSQL's migration lock while it runs them, so instances that
/// start together migrate once.
pub async fn migrate(pool: &AnyPool) -> Result<(), DbError> {
    if is_postgres(pool) {
        sqlx::migrate!("./migrations-postgres").run(pool).await?;
    } else {
        sqlx::migrate!("./migrations").run(pool).await?;
    }
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
    #[error(
        "twofold backup copies the SQLite file; this installation is on PostgreSQL: back it up with pg_dump (see docs/OPERATIONS.md)"
    )]
    Postgres,
}

/// A consistent copy of the live database in one new file, taken while the
/// server keeps running: `VACUUM INTO` reads one snapshot (WAL lets writers
/// go on) and writes a compact, self-contained database.
pub async fn backup_to(pool: &AnyPool, to: &Path) -> Result<(), BackupError> {
    if is_postgres(pool) {
        return Err(BackupError::Postgres);
    }
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

    #[test]
    fn database_urls_pick_the_engine_and_bad_ones_are_named_without_the_password() {
        let dir = Path::new("/srv/twofold");
        assert_eq!(
            Target::parse(None, dir).expect("default"),
            Target::Sqlite(dir.join("twofold.db"))
        );
        assert_eq!(
            Target::parse(Some("sqlite:///var/lib/a%20b.db?mode=rwc"), dir).expect("sqlite"),
            Target::Sqlite("/var/lib/a b.db".into())
        );
        let pg = "postgres://twofold:s3cret@db.internal:5432/twofold?sslmode=require";
        let target = Target::parse(Some(pg), dir).expect("postgres");
        assert!(target.is_postgres());
        assert_eq!(
            target.redacted(),
            "postgres://twofold:***@db.internal:5432/twofold?sslmode=require"
        );
        assert!(
            Target::parse(Some("postgresql://u@h/d?password=s3cret"), dir)
                .expect("postgresql")
                .redacted()
                .contains("password=***")
        );
        for bad in [
            "mysql://u:s3cret@h/d",
            "postgres://u:s3cret@/d",
            "sqlite://",
            "nonsense s3cret",
        ] {
            let err = Target::parse(Some(bad), dir).expect_err(bad).to_string();
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("--database-url"), "{err}");
        }
    }

    async fn table() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().expect("dir");
        let writer = open_writer(&Target::Sqlite(dir.path().join("t.db")))
            .await
            .expect("open");
        sqlx::query("CREATE TABLE t (a INTEGER, b TEXT)")
            .execute(writer.pool())
            .await
            .expect("create");
        (dir, writer)
    }

    async fn rows(writer: &Writer) -> Vec<(i64, String)> {
        sqlx::query_as("SELECT a, b FROM t ORDER BY rowid")
            .fetch_all(writer.pool())
            .await
            .expect("rows")
    }

    #[tokio::test]
    async fn deferred_writes_run_in_order_with_their_own_parameters() {
        for kind in 0..2 {
            let (_dir, writer) = table().await;
            let mut tx = match kind {
                0 => begin_write(&writer).await.expect("begin"),
                _ => begin_keyed(&writer, &[]).await.expect("begin"),
            };
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
                rows(&writer).await,
                vec![(1, "uno".to_string()), (2, "two".to_string())],
                "kind {kind}"
            );
        }
    }

    #[tokio::test]
    async fn a_failing_deferred_write_rolls_back_the_whole_transaction() {
        for kind in 0..2 {
            let (_dir, writer) = table().await;
            let mut tx = match kind {
                0 => begin_write(&writer).await.expect("begin"),
                _ => begin_keyed(&writer, &[]).await.expect("begin"),
            };
            tx.execute("insert", "INSERT INTO t VALUES (1, 'at once')", &[])
                .await
                .expect("insert");
            tx.later.add("INSERT INTO missing VALUES ($1)").bind(1_i64);
            assert!(tx.commit().await.is_err());
            assert!(rows(&writer).await.is_empty(), "kind {kind}");
        }
    }

    #[tokio::test]
    async fn dropping_the_transaction_drops_every_write() {
        for kind in 0..2 {
            let (_dir, writer) = table().await;
            let mut tx = match kind {
                0 => begin_write(&writer).await.expect("begin"),
                _ => begin_keyed(&writer, &[]).await.expect("begin"),
            };
            let got: Option<(i64,)> = tx
                .row(
                    "insert",
                    "INSERT INTO t VALUES ($1, $2) RETURNING a",
                    &[Arg::Int(7), Arg::Text("now".into())],
                )
                .await
                .expect("insert");
            assert_eq!(got, Some((7,)));
            tx.later
                .add("INSERT INTO t VALUES ($1, $2)")
                .bind(1_i64)
                .bind("never".to_string());
            drop(tx);
            assert!(rows(&writer).await.is_empty(), "kind {kind}");
        }
    }

    #[tokio::test]
    async fn a_direct_transaction_refuses_sqlx_only_code() {
        let (_dir, writer) = table().await;
        let mut tx = begin_keyed(&writer, &[]).await.expect("begin");
        assert!(tx.conn().is_err());
        let mut tx = {
            drop(tx);
            begin_write(&writer).await.expect("begin")
        };
        assert!(tx.conn().is_ok());
    }
}
