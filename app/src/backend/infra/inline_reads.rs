//! Hot reads on SQLite, run on the calling thread.
//!
//! sqlx gives each SQLite connection a worker thread of its own, and every
//! statement is a round trip to it: a message, a wake-up, the statement,
//! a message back, another wake-up. For a read by a unique key the
//! statement takes a few microseconds and the round trip most of the rest
//! (docs/BENCHMARKS.md). The reads that run on every request of every
//! protected app (the session behind a cookie) go straight into SQLite
//! here instead: the same library sqlx links, its own read-only
//! connections, no thread in between. A read of one indexed row is shorter
//! than the hand-off it replaces, so it does not hold up the async runtime
//! any more than the hand-off did.
//!
//! WAL mode keeps these reads from waiting for the writer, and every read
//! sees the last committed write: nothing here is a cache, so a session
//! ended a moment ago is refused at once.
//!
//! PostgreSQL has no such path: its reads go through the pool (a network
//! round trip is what they wait on there).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use crate::api::AppError;
use crate::backend::internal;

/// A value bound to a `$N` parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
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

impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Blob(v)
    }
}

/// Read-only connections to one SQLite file, opened as needed and kept.
/// Each call holds one for the length of a statement, so there are never
/// more than the threads that read at once (the runtime's workers).
pub struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for InlineReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReads")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl InlineReads {
    /// For the SQLite file at `path`, which must exist (the pools have made
    /// it and run its migrations).
    pub fn new(path: &Path) -> Result<Self, rusqlite::Error> {
        let reads = InlineReads {
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

    /// The first row `sql` returns, mapped by `map`, or `None`. `sql` uses
    /// the same `$N` parameters as the sqlx queries; `args[N - 1]` binds
    /// `$N` (by name, so a parameter may appear twice or out of order).
    pub fn row<T>(
        &self,
        context: &str,
        sql: &str,
        args: &[Arg],
        map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, AppError> {
        let conn = self.take().map_err(|e| internal(context, e))?;
        let found = query_row(&conn, sql, args, map);
        self.put_back(conn);
        found.map_err(|e| internal(context, e))
    }
}

fn query_row<T>(
    conn: &Connection,
    sql: &str,
    args: &[Arg],
    map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    for index in 1..=stmt.parameter_count() {
        let arg = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| args.get(n.checked_sub(1)?))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, args.len()))?;
        match arg {
            Arg::Int(v) => stmt.raw_bind_parameter(index, v)?,
            Arg::Text(v) => stmt.raw_bind_parameter(index, v.as_str())?,
            Arg::Blob(v) => stmt.raw_bind_parameter(index, v.as_slice())?,
        }
    }
    let mut rows = stmt.raw_query();
    match rows.next()? {
        Some(row) => map(row).map(Some),
        None => Ok(None),
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

    #[test]
    fn parameters_bind_by_their_number_wherever_they_appear() {
        let (_dir, path) = file();
        let reads = InlineReads::new(&path).expect("open");
        let found = reads
            .row(
                "test",
                "SELECT b FROM t WHERE c = $2 AND a = $1 AND a < $1 + 1",
                &[Arg::Int(2), Arg::Blob(vec![2])],
                |r| r.get::<_, String>(0),
            )
            .expect("read");
        assert_eq!(found.as_deref(), Some("two"));
        let none = reads
            .row(
                "test",
                "SELECT b FROM t WHERE a = $1",
                &[Arg::Int(3)],
                |r| r.get::<_, String>(0),
            )
            .expect("read");
        assert_eq!(none, None);
    }

    #[test]
    fn a_missing_parameter_is_an_error_not_a_null() {
        let (_dir, path) = file();
        let reads = InlineReads::new(&path).expect("open");
        let err = reads.row(
            "test",
            "SELECT b FROM t WHERE a = $2",
            &[Arg::Int(1)],
            |r| r.get::<_, String>(0),
        );
        assert!(err.is_err());
    }

    #[test]
    fn reads_see_each_commit_at_once_and_cannot_write() {
        let (_dir, path) = file();
        let reads = InlineReads::new(&path).expect("open");
        let count = |reads: &InlineReads| {
            reads
                .row("test", "SELECT COUNT(*) FROM t", &[], |r| {
                    r.get::<_, i64>(0)
                })
                .expect("count")
        };
        assert_eq!(count(&reads), Some(2));
        let writer = Connection::open(&path).expect("writer");
        writer
            .execute("DELETE FROM t WHERE a = 1", [])
            .expect("delete");
        assert_eq!(count(&reads), Some(1));
        let write = reads.row("test", "DELETE FROM t RETURNING a", &[], |r| {
            r.get::<_, i64>(0)
        });
        assert!(write.is_err());
        assert_eq!(count(&reads), Some(1));
    }

    #[test]
    fn a_missing_file_is_refused_at_start() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(InlineReads::new(&dir.path().join("none.db")).is_err());
    }
}
