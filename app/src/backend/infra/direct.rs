//! SQLite without sqlx's thread hand-off, for the hot paths.
//!
//! sqlx gives each SQLite connection a worker thread of its own, and every
//! statement is a round trip to it: a message, a wake-up, the statement,
//! a message back, another wake-up. A statement on one indexed row takes a
//! few microseconds; the round trip takes most of the rest, and with one
//! writer those round trips are what every write transaction queues behind
//! (docs/BENCHMARKS.md). Here the same library sqlx links is called on the
//! caller's thread instead:
//!
//! - [`Reads`]: read-only connections for the reads on every request (the
//!   session behind a cookie). WAL mode keeps them from waiting for the
//!   writer, and each sees the last commit: nothing here is a cache, so a
//!   session ended a moment ago is refused at once.
//! - [`Writer`]: one write connection behind an async lock, where a
//!   second-factor sign-in runs its whole transaction (`db::begin_keyed`);
//!   transactions that queue for it commit together. It meets sqlx's
//!   writer at SQLite's own write lock, which it waits for asleep on the
//!   runtime.
//!
//! A statement here is shorter than the hand-off it replaces, so it holds
//! up the async runtime no more than the hand-off did. PostgreSQL has no
//! such path: a network round trip is what its statements wait on.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::OwnedMutexGuard;

use crate::api::AppError;
use crate::backend::internal;

/// A value bound to a `$N` parameter, for either engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
    Bool(bool),
    /// A NULL of the given kind (PostgreSQL wants NULLs typed).
    Null(Kind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Blob,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}

impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Blob(v)
    }
}

impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::Null(Kind::Int), Arg::Int)
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        v.map_or(Arg::Null(Kind::Text), Arg::Text)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Arg::Null(Kind::Text), |v| Arg::Text(v.to_string()))
    }
}

impl From<Option<Vec<u8>>> for Arg {
    fn from(v: Option<Vec<u8>>) -> Self {
        v.map_or(Arg::Null(Kind::Blob), Arg::Blob)
    }
}

impl Arg {
    /// Adds the value to sqlx's arguments (the next `$N`).
    pub fn add_to(
        &self,
        args: &mut sqlx::any::AnyArguments<'static>,
    ) -> Result<(), sqlx::error::BoxDynError> {
        use sqlx::Arguments;
        match self.clone() {
            Arg::Int(v) => args.add(v),
            Arg::Text(v) => args.add(v),
            Arg::Blob(v) => args.add(v),
            Arg::Bool(v) => args.add(v),
            Arg::Null(Kind::Int) => args.add(None::<i64>),
            Arg::Null(Kind::Text) => args.add(None::<String>),
            Arg::Null(Kind::Blob) => args.add(None::<Vec<u8>>),
        }
    }

    fn bind_direct(
        &self,
        stmt: &mut rusqlite::Statement<'_>,
        index: usize,
    ) -> rusqlite::Result<()> {
        match self {
            Arg::Int(v) => stmt.raw_bind_parameter(index, v),
            Arg::Text(v) => stmt.raw_bind_parameter(index, v.as_str()),
            Arg::Blob(v) => stmt.raw_bind_parameter(index, v.as_slice()),
            Arg::Bool(v) => stmt.raw_bind_parameter(index, v),
            Arg::Null(_) => stmt.raw_bind_parameter(index, rusqlite::types::Null),
        }
    }
}

/// sqlx's arguments for `args`, in order.
pub fn sqlx_args(args: &[Arg]) -> Result<sqlx::any::AnyArguments<'static>, AppError> {
    let mut out = sqlx::any::AnyArguments::default();
    for arg in args {
        arg.add_to(&mut out)
            .map_err(|e| internal("encoding a value", e))?;
    }
    Ok(out)
}

/// A row read back by either engine: a tuple of column values.
pub trait Columns: Sized + Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> {
    fn from_direct(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

macro_rules! tuple_columns {
    ($($t:ident $i:tt),+) => {
        impl<$($t),+> Columns for ($($t,)+)
        where
            $($t: rusqlite::types::FromSql
                + for<'r> sqlx::Decode<'r, sqlx::Any>
                + sqlx::Type<sqlx::Any>
                + Send
                + Unpin),+
        {
            fn from_direct(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(($(row.get::<_, $t>($i)?,)+))
            }
        }
    };
}

tuple_columns!(A 0);
tuple_columns!(A 0, B 1);
tuple_columns!(A 0, B 1, C 2);
tuple_columns!(A 0, B 1, C 2, D 3);
tuple_columns!(A 0, B 1, C 2, D 3, E 4);
tuple_columns!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_columns!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_columns!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// `sql` prepared (and cached) on `conn`, `args[N - 1]` bound to each
/// `$N` by name, so a parameter may appear twice or out of order (as sqlx
/// binds them).
fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    args: &[Arg],
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    for index in 1..=stmt.parameter_count() {
        let arg = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| args.get(n.checked_sub(1)?))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, args.len()))?;
        arg.bind_direct(&mut stmt, index)?;
    }
    Ok(stmt)
}

fn query_row<T: Columns>(
    conn: &Connection,
    sql: &str,
    args: &[Arg],
) -> rusqlite::Result<Option<T>> {
    let mut stmt = prepare(conn, sql, args)?;
    let mut rows = stmt.raw_query();
    match rows.next()? {
        Some(row) => T::from_direct(row).map(Some),
        None => Ok(None),
    }
}

fn query_rows<T: Columns>(conn: &Connection, sql: &str, args: &[Arg]) -> rusqlite::Result<Vec<T>> {
    let mut stmt = prepare(conn, sql, args)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(T::from_direct(row)?);
    }
    Ok(out)
}

fn execute(conn: &Connection, sql: &str, args: &[Arg]) -> rusqlite::Result<u64> {
    let mut stmt = prepare(conn, sql, args)?;
    let changed = stmt.raw_execute()?;
    Ok(changed as u64)
}

/// Statements prepared once per connection; the hot paths use a few dozen.
const STATEMENT_CACHE: usize = 64;

/// Read-only connections to one SQLite file, opened as needed and kept.
/// Each call holds one for the length of a statement, so there are never
/// more than the threads that read at once (the runtime's workers).
pub struct Reads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Reads {
    /// For the SQLite file at `path`, which must exist (the pools have made
    /// it and run its migrations).
    pub fn new(path: &Path) -> Result<Self, rusqlite::Error> {
        let reads = Reads {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        // Fail at start, not at the first request.
        let conn = reads.connect()?;
        reads.put_back(conn);
        Ok(reads)
    }

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        // Read-write at the file level (a WAL reader updates the shared
        // index), read-only by pragma, never created here.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "query_only", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    fn take(&self) -> Result<Connection, rusqlite::Error> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn put_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    /// `read` on an idle connection (a new one if none is).
    fn with<T>(
        &self,
        context: &str,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, AppError> {
        let conn = self.take().map_err(|e| internal(context, e))?;
        let found = read(&conn);
        self.put_back(conn);
        found.map_err(|e| internal(context, e))
    }

    /// The first row `sql` returns, or `None`.
    pub fn row<T: Columns>(
        &self,
        context: &str,
        sql: &str,
        args: &[Arg],
    ) -> Result<Option<T>, AppError> {
        self.with(context, |conn| query_row(conn, sql, args))
    }

    /// Every row `sql` returns.
    pub fn rows<T: Columns>(
        &self,
        context: &str,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<T>, AppError> {
        self.with(context, |conn| query_rows(conn, sql, args))
    }
}

/// The one write connection to a SQLite file, and the order of every write
/// transaction on it (see the module's comment).
///
/// Transactions that queue for it commit together: while others wait, a
/// finished transaction (a savepoint inside one open SQLite transaction)
/// leaves the commit to the next, up to [`GROUP`] of them, and answers
/// only once that commit is done. One commit then writes each page they
/// share once (the ends of the session and audit tables, their indexes)
/// instead of once per sign-in, and each still ends as a whole or not at
/// all: a transaction that fails rolls back to its savepoint alone.
pub struct Writer {
    line: Arc<tokio::sync::Mutex<Line>>,
    /// How many are waiting for the line: a finished transaction leaves the
    /// commit to them only when there are some.
    queued: Arc<AtomicUsize>,
    /// Dropped with the writer: the checkpoint thread then ends.
    _checkpoints: std::sync::mpsc::Sender<()>,
}

/// At most this many transactions commit together, so that the first of
/// them does not wait long for the last.
const GROUP: usize = 32;

/// The longest a transaction waits for the writer, or for the commit of
/// its group, before it fails (as long as sqlx waits for a pooled
/// connection).
const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The write connection and the transactions done on it since the open
/// SQLite transaction began, each waiting to hear how its commit went.
struct Line {
    conn: Connection,
    group: Option<Vec<tokio::sync::oneshot::Sender<Result<(), String>>>>,
    /// Groups committed so far.
    commits: u64,
}

impl Line {
    /// Commits the open group, if any, and tells each of its transactions.
    fn close_group(&mut self) -> Result<(), String> {
        let Some(members) = self.group.take() else {
            return Ok(());
        };
        let result = self.conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        self.commits += 1;
        if result.is_err() {
            // A failed COMMIT can leave the transaction open.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        for member in members {
            let _ = member.send(result.clone());
        }
        result
    }
}

/// Counts one waiting for the line while it waits. Given up before its
/// turn (the request went away), it must not leave a group open that a
/// finished transaction left to it: it closes the group when the line is
/// free.
struct Queued {
    queued: Arc<AtomicUsize>,
    line: Arc<tokio::sync::Mutex<Line>>,
    served: bool,
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
        if !self.served
            && let Ok(mut line) = self.line.try_lock()
            && let Err(e) = line.close_group()
        {
            tracing::error!("committing a group of write transactions: {e}");
        }
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// For the SQLite file at `path`, which must exist.
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // The same settings as sqlx's connections (`db::open_with`), but
        // no checkpoints at commit (see `checkpoints`), and the savepoints
        // of a group keep what they would roll back to in memory, not in a
        // temporary file.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA temp_store = MEMORY;",
        )?;
        // Another process writing (an operator command) is waited for in
        // `begin`, asleep on the runtime rather than blocking its thread.
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let checkpointer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let (stop, stopped) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("twofold-checkpoint".into())
            .spawn(move || checkpoints(&checkpointer, &stopped))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Writer {
            line: Arc::new(tokio::sync::Mutex::new(Line {
                conn,
                group: None,
                commits: 0,
            })),
            queued: Arc::new(AtomicUsize::new(0)),
            _checkpoints: stop,
        })
    }

    /// How many commits the transactions so far took (fewer than the
    /// transactions when they queued).
    pub async fn commits(&self) -> u64 {
        self.line.lock().await.commits
    }

    /// The line, waited for at most [`WAIT`]: a transaction that cannot
    /// get it fails rather than waits for good.
    async fn line(&self) -> Result<OwnedMutexGuard<Line>, AppError> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut queued = Queued {
            queued: self.queued.clone(),
            line: self.line.clone(),
            served: false,
        };
        let line = tokio::time::timeout(WAIT, self.line.clone().lock_owned())
            .await
            .map_err(|_| internal("waiting for the writer", "timed out"))?;
        queued.served = true;
        Ok(line)
    }

    /// A write transaction on this connection: `BEGIN IMMEDIATE` takes the
    /// file's write lock at once (see `db::begin_write`), or the group
    /// that is open already holds it.
    pub async fn begin(&self) -> Result<Tx, AppError> {
        let mut line = self.line().await?;
        if line.group.is_none() {
            begin_immediate(&mut line.conn).await?;
            line.group = Some(Vec::new());
        }
        if let Err(e) = line.conn.execute_batch("SAVEPOINT member") {
            // Nothing of this one to undo; the group goes on.
            return Err(internal("begin", e));
        }
        Ok(Tx {
            line: Some(line),
            queued: self.queued.clone(),
        })
    }
}

/// `BEGIN IMMEDIATE`, waiting (up to 5 s, as sqlx's connections do) while
/// another connection holds the file's write lock: a single statement of
/// this process's pools, or another process. The wait sleeps on the
/// runtime; SQLite's own busy handler would block the thread.
async fn begin_immediate(conn: &mut Connection) -> Result<(), AppError> {
    const STEP: std::time::Duration = std::time::Duration::from_millis(1);
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(5);
    let mut waited = std::time::Duration::ZERO;
    loop {
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && waited < LIMIT =>
            {
                tokio::time::sleep(STEP).await;
                waited += STEP;
            }
            Err(e) => return Err(internal("begin", e)),
        }
    }
}

/// Copies the write-ahead log back into the database file every so often,
/// on a thread of its own. SQLite would otherwise do it inside the commit
/// that crosses 1 000 pages, syncing both files to disk while that
/// transaction (and so every writer queued behind it) waits. A passive
/// checkpoint runs beside the writer and never blocks it; the log starts
/// over once it has been copied. Ends when the writer is dropped.
fn checkpoints(conn: &Connection, stop: &std::sync::mpsc::Receiver<()>) {
    const EVERY: std::time::Duration = std::time::Duration::from_millis(200);
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!("checkpointing the write-ahead log: {e}");
        }
    }
}

/// A write transaction on [`Writer`]'s connection (a savepoint in its
/// group). Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    line: Option<OwnedMutexGuard<Line>>,
    queued: Arc<AtomicUsize>,
}

impl Tx {
    fn conn(&self) -> rusqlite::Result<&Connection> {
        self.line
            .as_ref()
            .map(|line| &line.conn)
            .ok_or(rusqlite::Error::InvalidQuery)
    }

    /// Runs `sql`; the rows it changed.
    pub fn execute(&mut self, sql: &str, args: &[Arg]) -> rusqlite::Result<u64> {
        execute(self.conn()?, sql, args)
    }

    /// The first row `sql` returns (a `SELECT`, or a statement with
    /// `RETURNING`), or `None`.
    pub fn row<T: Columns>(&mut self, sql: &str, args: &[Arg]) -> rusqlite::Result<Option<T>> {
        query_row(self.conn()?, sql, args)
    }

    /// Every row `sql` returns.
    pub fn rows<T: Columns>(&mut self, sql: &str, args: &[Arg]) -> rusqlite::Result<Vec<T>> {
        query_rows(self.conn()?, sql, args)
    }

    /// Keeps this transaction's writes; returns once they are committed
    /// (by this one, or by a later one of its group).
    pub async fn commit(mut self) -> Result<(), String> {
        let Some(mut line) = self.line.take() else {
            return Err("the transaction is gone".into());
        };
        if let Err(e) = line.conn.execute_batch("RELEASE member") {
            undo_member(&mut line, &self.queued);
            return Err(e.to_string());
        }
        let members = line.group.as_ref().map_or(0, Vec::len);
        if self.queued.load(Ordering::SeqCst) > 0 && members + 1 < GROUP {
            let (done, committed) = tokio::sync::oneshot::channel();
            if let Some(group) = line.group.as_mut() {
                group.push(done);
            }
            drop(line);
            return match tokio::time::timeout(WAIT, committed).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err("the writer closed before the commit".into()),
                Err(_) => Err("timed out waiting for the commit of its group".into()),
            };
        }
        line.close_group()
    }
}

/// Rolls back what the member on top of `line` wrote; the group goes on,
/// or is committed when no one is waiting to carry it on.
fn undo_member(line: &mut Line, queued: &AtomicUsize) {
    if let Err(e) = line
        .conn
        .execute_batch("ROLLBACK TO member; RELEASE member")
    {
        tracing::error!("rolling back a write transaction: {e}");
    }
    if queued.load(Ordering::SeqCst) == 0
        && let Err(e) = line.close_group()
    {
        tracing::error!("committing a group of write transactions: {e}");
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(mut line) = self.line.take() {
            undo_member(&mut line, &self.queued);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE t (a INTEGER, b TEXT, c BLOB);
             INSERT INTO t VALUES (1, 'one', x'01'), (2, 'two', x'02');",
        )
        .expect("fill");
        (dir, path)
    }

    fn count(reads: &Reads) -> i64 {
        reads
            .row::<(i64,)>("test", "SELECT COUNT(*) FROM t", &[])
            .expect("count")
            .map_or(-1, |(n,)| n)
    }

    #[test]
    fn parameters_bind_by_their_number_wherever_they_appear() {
        let (_dir, path) = file();
        let reads = Reads::new(&path).expect("open");
        let found = reads
            .row::<(String,)>(
                "test",
                "SELECT b FROM t WHERE c = $2 AND a = $1 AND a < $1 + 1",
                &[Arg::Int(2), Arg::Blob(vec![2])],
            )
            .expect("read");
        assert_eq!(found, Some(("two".to_string(),)));
        let none = reads
            .row::<(String,)>("test", "SELECT b FROM t WHERE a = $1", &[Arg::Int(3)])
            .expect("read");
        assert_eq!(none, None);
    }

    #[test]
    fn a_missing_parameter_is_an_error_not_a_null() {
        let (_dir, path) = file();
        let reads = Reads::new(&path).expect("open");
        let err = reads.row::<(String,)>("test", "SELECT b FROM t WHERE a = $2", &[Arg::Int(1)]);
        assert!(err.is_err());
    }

    #[test]
    fn reads_see_each_commit_at_once_and_cannot_write() {
        let (_dir, path) = file();
        let reads = Reads::new(&path).expect("open");
        assert_eq!(count(&reads), 2);
        let writer = Connection::open(&path).expect("writer");
        writer
            .execute("DELETE FROM t WHERE a = 1", [])
            .expect("delete");
        assert_eq!(count(&reads), 1);
        let write = reads.row::<(i64,)>("test", "DELETE FROM t RETURNING a", &[]);
        assert!(write.is_err());
        assert_eq!(count(&reads), 1);
    }

    #[test]
    fn a_missing_file_is_refused_at_start() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(Reads::new(&dir.path().join("none.db")).is_err());
        assert!(Writer::open(&dir.path().join("none.db")).is_err());
    }

    #[tokio::test]
    async fn a_transaction_keeps_its_writes_only_when_committed() {
        let (_dir, path) = file();
        let reads = Reads::new(&path).expect("open");
        let writer = Writer::open(&path).expect("writer");
        let mut tx = writer.begin().await.expect("begin");
        let changed = tx
            .execute("DELETE FROM t WHERE a = $1", &[Arg::Int(1)])
            .expect("delete");
        assert_eq!(changed, 1);
        // Not seen before the commit, and gone with the drop.
        assert_eq!(count(&reads), 2);
        drop(tx);
        assert_eq!(count(&reads), 2);
        let mut tx = writer.begin().await.expect("begin");
        let back: Option<(i64, Option<String>)> = tx
            .row(
                "INSERT INTO t (a, b) VALUES ($1, $2) RETURNING a, b",
                &[Arg::Int(3), Arg::Null(Kind::Text)],
            )
            .expect("insert");
        assert_eq!(back, Some((3, None)));
        tx.commit().await.expect("commit");
        assert_eq!(count(&reads), 3);
    }

    async fn insert(tx: &mut Tx, a: i64) {
        tx.execute("INSERT INTO t (a) VALUES ($1)", &[Arg::Int(a)])
            .expect("insert");
    }

    /// A file, its reads, its writer, and a first transaction that has
    /// written one row and is not committed yet.
    async fn one_open() -> (tempfile::TempDir, Reads, Arc<Writer>, Tx) {
        let (dir, path) = file();
        let reads = Reads::new(&path).expect("open");
        let writer = Arc::new(Writer::open(&path).expect("writer"));
        let mut first = writer.begin().await.expect("begin");
        insert(&mut first, 10).await;
        (dir, reads, writer, first)
    }

    #[tokio::test]
    async fn transactions_that_queue_commit_together_and_each_hears_of_it() {
        let (_dir, reads, writer, first) = one_open().await;
        let second = tokio::spawn({
            let writer = writer.clone();
            async move {
                let mut tx = writer.begin().await.expect("begin");
                insert(&mut tx, 11).await;
                tx.commit().await
            }
        });
        tokio::task::yield_now().await;
        // Someone waits: the first leaves the commit to it, and answers
        // only once that is done.
        first.commit().await.expect("first");
        second.await.expect("join").expect("second");
        assert_eq!(count(&reads), 4);
        assert_eq!(writer.commits().await, 1);
        // Alone, a transaction commits by itself.
        let mut third = writer.begin().await.expect("begin");
        insert(&mut third, 12).await;
        third.commit().await.expect("third");
        assert_eq!(count(&reads), 5);
        assert_eq!(writer.commits().await, 2);
    }

    #[tokio::test]
    async fn one_that_fails_in_a_group_takes_only_its_own_writes_back() {
        let (_dir, reads, writer, first) = one_open().await;
        let second = tokio::spawn({
            let writer = writer.clone();
            async move {
                let mut tx = writer.begin().await.expect("begin");
                insert(&mut tx, 11).await;
                // Dropped: rolled back.
            }
        });
        tokio::task::yield_now().await;
        first.commit().await.expect("first");
        second.await.expect("join");
        assert_eq!(count(&reads), 3);
        let gone = reads
            .row::<(i64,)>("test", "SELECT COUNT(*) FROM t WHERE a = 11", &[])
            .expect("read");
        assert_eq!(gone, Some((0,)));
    }

    #[tokio::test]
    async fn a_commit_left_to_one_that_gives_up_waiting_still_happens() {
        let (_dir, reads, writer, first) = one_open().await;
        let waiting = tokio::spawn({
            let writer = writer.clone();
            async move { writer.begin().await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        let committing = tokio::spawn(first.commit());
        tokio::task::yield_now().await;
        waiting.abort();
        let done = tokio::time::timeout(std::time::Duration::from_secs(5), committing)
            .await
            .expect("the commit happened")
            .expect("join");
        assert_eq!(done, Ok(()));
        assert_eq!(count(&reads), 3);
    }

    #[tokio::test]
    async fn a_transaction_waits_for_another_writer_without_blocking_the_runtime() {
        let (_dir, path) = file();
        let writer = Writer::open(&path).expect("writer");
        let other = Connection::open(&path).expect("other");
        other.execute_batch("BEGIN IMMEDIATE").expect("lock");
        let begun = tokio::spawn(async move { writer.begin().await.map(|_| ()) });
        // The runtime (one thread here) still runs other tasks meanwhile.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!begun.is_finished());
        other.execute_batch("COMMIT").expect("unlock");
        begun
            .await
            .expect("join")
            .expect("begun once the lock was free");
    }
}
