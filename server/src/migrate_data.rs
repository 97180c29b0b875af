//! `twofold migrate-data --from sqlite://... --to postgres://...`: moves an
//! installation from its SQLite file to a PostgreSQL database, row for row
//! (ids kept, so sealed TOTP secrets, which are bound to the account id,
//! still open with the same key), in one transaction, then compares the row
//! counts of every table.
//!
//! Both sides are brought to the current schema first (as starting the
//! server would), so the tables and columns match. The target must hold no
//! accounts: a copy never merges into a live installation.

use std::collections::{BTreeMap, BTreeSet};

use app::backend::infra::db::{self, DbError, Target};
use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::{AnyPool, Row, ValueRef};

#[derive(Debug, thiserror::Error)]
pub enum MigrateDataError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("--from must be the SQLite database (sqlite://PATH), got {0}")]
    FromNotSqlite(String),
    #[error("--from {0}: no such file")]
    NoSource(String),
    #[error("--to must be a PostgreSQL database (postgres://...), got {0}")]
    ToNotPostgres(String),
    #[error(
        "--to {target} already holds {users} account(s); migrate-data only copies into an empty database"
    )]
    NotEmpty { target: String, users: i64 },
    #[error("the schemas differ: table {0} is on one side only")]
    Tables(String),
    #[error("{table}.{column}: cannot copy a {found} value into a {wanted} column")]
    Value {
        table: String,
        column: String,
        found: String,
        wanted: String,
    },
    #[error("{table}: {from} rows in the source but {to} copied; nothing was kept")]
    Count { table: String, from: i64, to: i64 },
    #[error("copying {context}: {source}")]
    Sql {
        context: String,
        source: sqlx::Error,
    },
}

fn sql(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> MigrateDataError {
    let context = context.into();
    move |source| MigrateDataError::Sql { context, source }
}

/// What was copied: rows per table.
pub struct Copied {
    pub tables: BTreeMap<String, i64>,
}

impl Copied {
    pub fn rows(&self) -> i64 {
        self.tables.values().sum()
    }

    pub fn of(&self, table: &str) -> i64 {
        self.tables.get(table).copied().unwrap_or(0)
    }
}

/// One value on its way across.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

impl Cell {
    fn read(row: &AnyRow, i: usize) -> Result<Self, sqlx::Error> {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            return Ok(Cell::Null);
        }
        let kind = raw.type_info().kind();
        Ok(match kind {
            AnyTypeInfoKind::Null => Cell::Null,
            AnyTypeInfoKind::Bool => Cell::Bool(row.try_get(i)?),
            AnyTypeInfoKind::Real | AnyTypeInfoKind::Double => Cell::Real(row.try_get(i)?),
            AnyTypeInfoKind::Text => Cell::Text(row.try_get(i)?),
            AnyTypeInfoKind::Blob => Cell::Bytes(row.try_get(i)?),
            _ => Cell::Int(row.try_get(i)?),
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Int(_) => "integer",
            Cell::Real(_) => "real",
            Cell::Text(_) => "text",
            Cell::Bytes(_) => "blob",
            Cell::Bool(_) => "boolean",
        }
    }
}

/// A PostgreSQL column type, as far as copying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Int,
    Real,
    Text,
    Bytes,
    Bool,
}

impl Wanted {
    fn of(data_type: &str) -> Self {
        match data_type {
            "bigint" | "integer" | "smallint" => Wanted::Int,
            "double precision" | "real" | "numeric" => Wanted::Real,
            "bytea" => Wanted::Bytes,
            "boolean" => Wanted::Bool,
            _ => Wanted::Text,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Wanted::Int => "bigint",
            Wanted::Real => "double precision",
            Wanted::Text => "text",
            Wanted::Bytes => "bytea",
            Wanted::Bool => "boolean",
        }
    }
}

struct Column {
    name: String,
    wanted: Wanted,
}

/// Binds `cell` as the target column wants it; SQLite's 0/1 flags become
/// booleans.
fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    cell: Cell,
    wanted: Wanted,
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>, Cell> {
    Ok(match (wanted, cell) {
        (Wanted::Int, Cell::Null) => query.bind(None::<i64>),
        (Wanted::Real, Cell::Null) => query.bind(None::<f64>),
        (Wanted::Text, Cell::Null) => query.bind(None::<String>),
        (Wanted::Bytes, Cell::Null) => query.bind(None::<Vec<u8>>),
        (Wanted::Bool, Cell::Null) => query.bind(None::<bool>),
        (Wanted::Int, Cell::Int(i)) => query.bind(i),
        (Wanted::Int, Cell::Bool(b)) => query.bind(i64::from(b)),
        (Wanted::Real, Cell::Real(r)) => query.bind(r),
        #[allow(clippy::cast_precision_loss)]
        (Wanted::Real, Cell::Int(i)) => query.bind(i as f64),
        (Wanted::Text, Cell::Text(t)) => query.bind(t),
        (Wanted::Bytes, Cell::Bytes(b)) => query.bind(b),
        (Wanted::Bytes, Cell::Text(t)) => query.bind(t.into_bytes()),
        (Wanted::Bool, Cell::Bool(b)) => query.bind(b),
        (Wanted::Bool, Cell::Int(i)) => query.bind(i != 0),
        (_, other) => return Err(other),
    })
}

/// Rows per `INSERT`: well under PostgreSQL's 65 535 parameters for the
/// widest table, and few enough round trips for an audit trail of millions.
const ROWS_PER_INSERT: usize = 200;

pub async fn run(from: &str, to: &str) -> Result<Copied, MigrateDataError> {
    let source = Target::parse(Some(from), std::path::Path::new("."))?;
    let Target::Sqlite(file) = &source else {
        return Err(MigrateDataError::FromNotSqlite(source.redacted()));
    };
    if !file.is_file() {
        return Err(MigrateDataError::NoSource(source.redacted()));
    }
    let target = Target::parse(Some(to), std::path::Path::new("."))?;
    if !target.is_postgres() {
        return Err(MigrateDataError::ToNotPostgres(target.redacted()));
    }
    let from_pool = db::open(&source).await?;
    let to_writer = db::open_writer(&target).await?;
    let to_pool = to_writer.pool().clone();
    db::migrate(&from_pool).await?;
    db::migrate(&to_pool).await?;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&to_pool)
        .await
        .map_err(sql("counting the target's accounts"))?;
    if users > 0 {
        return Err(MigrateDataError::NotEmpty {
            target: target.redacted(),
            users,
        });
    }
    let tables = tables_in_order(&from_pool, &to_pool).await?;
    let copied = copy(&from_pool, &to_pool, &tables).await?;
    from_pool.close().await;
    to_pool.close().await;
    Ok(copied)
}

/// The tables, parents before children (by the target's foreign keys), and
/// each target column with its type. Both sides must have the same tables.
async fn tables_in_order(
    from: &AnyPool,
    to: &AnyPool,
) -> Result<Vec<(String, Vec<Column>)>, MigrateDataError> {
    let source: BTreeSet<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(from)
    .await
    .map_err(sql("listing the source's tables"))?
    .into_iter()
    .collect();
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text
         FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(to)
    .await
    .map_err(sql("listing the target's columns"))?;
    let mut by_table: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for (table, name, data_type) in columns {
        by_table.entry(table).or_default().push(Column {
            name,
            wanted: Wanted::of(&data_type),
        });
    }
    let target: BTreeSet<String> = by_table.keys().cloned().collect();
    if let Some(odd) = source.symmetric_difference(&target).next() {
        return Err(MigrateDataError::Tables(odd.clone()));
    }
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE c.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(to)
    .await
    .map_err(sql("reading the target's foreign keys"))?;
    // Kahn's algorithm; a table's references to itself do not hold it back.
    let mut parents: BTreeMap<String, BTreeSet<String>> = target
        .iter()
        .map(|t| (t.clone(), BTreeSet::new()))
        .collect();
    for (child, parent) in edges {
        let (child, parent) = (unquote(&child), unquote(&parent));
        if child != parent
            && let Some(set) = parents.get_mut(&child)
        {
            set.insert(parent);
        }
    }
    let mut order = Vec::new();
    while !parents.is_empty() {
        let ready: Vec<String> = parents
            .iter()
            .filter(|(_, p)| p.is_empty())
            .map(|(t, _)| t.clone())
            .collect();
        if ready.is_empty() {
            // A cycle (none in the schema): take the rest as they come.
            order.extend(parents.keys().cloned());
            break;
        }
        for table in &ready {
            parents.remove(table);
        }
        for p in parents.values_mut() {
            for table in &ready {
                p.remove(table);
            }
        }
        order.extend(ready);
    }
    Ok(order
        .into_iter()
        .filter_map(|t| by_table.remove(&t).map(|c| (t, c)))
        .collect())
}

fn unquote(name: &str) -> String {
    name.trim_matches('"').to_string()
}

async fn copy(
    from: &AnyPool,
    to: &AnyPool,
    tables: &[(String, Vec<Column>)],
) -> Result<Copied, MigrateDataError> {
    let mut tx = to.begin().await.map_err(sql("beginning the copy"))?;
    // The target is freshly migrated: only seed rows (the default policy, a
    // first signing key) can be there, and the source's replace them.
    for (table, _) in tables.iter().rev() {
        sqlx::query(&format!("DELETE FROM \"{table}\""))
            .execute(&mut *tx)
            .await
            .map_err(sql(format!("clearing {table}")))?;
    }
    let mut copied = Copied {
        tables: BTreeMap::new(),
    };
    for (table, columns) in tables {
        let names: Vec<String> = columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
        let select = format!("SELECT {} FROM \"{table}\"", names.join(", "));
        let rows = sqlx::query(&select)
            .fetch_all(from)
            .await
            .map_err(sql(format!("reading {table}")))?;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            insert(&mut tx, table, columns, &names, chunk).await?;
        }
        let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        copied.tables.insert(table.clone(), n);
        // Identity columns go on after the highest id copied.
        if columns
            .iter()
            .any(|c| c.name == "id" && c.wanted == Wanted::Int)
        {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'),
                               COALESCE((SELECT MAX(id) FROM \"{table}\"), 0) + 1, false)
                 WHERE pg_get_serial_sequence('\"{table}\"', 'id') IS NOT NULL"
            ))
            .execute(&mut *tx)
            .await
            .map_err(sql(format!("moving {table}'s id sequence on")))?;
        }
    }
    // Verified inside the transaction: a mismatch keeps nothing.
    for (table, _) in tables {
        let to_count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\""))
            .fetch_one(&mut *tx)
            .await
            .map_err(sql(format!("counting {table}")))?;
        let from_count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\""))
            .fetch_one(from)
            .await
            .map_err(sql(format!("counting {table}")))?;
        if to_count != from_count || to_count != copied.of(table) {
            return Err(MigrateDataError::Count {
                table: table.clone(),
                from: from_count,
                to: to_count,
            });
        }
    }
    tx.commit().await.map_err(sql("committing the copy"))?;
    Ok(copied)
}

async fn insert(
    tx: &mut sqlx::AnyConnection,
    table: &str,
    columns: &[Column],
    names: &[String],
    rows: &[AnyRow],
) -> Result<(), MigrateDataError> {
    let width = columns.len();
    let values: Vec<String> = (0..rows.len())
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let statement = format!(
        "INSERT INTO \"{table}\" ({}) VALUES {}",
        names.join(", "),
        values.join(", ")
    );
    let mut query = sqlx::query(&statement);
    for row in rows {
        for (i, column) in columns.iter().enumerate() {
            let cell = Cell::read(row, i).map_err(sql(format!("reading {table}")))?;
            query = bind(query, cell, column.wanted).map_err(|cell| MigrateDataError::Value {
                table: table.to_string(),
                column: column.name.clone(),
                found: cell.name().to_string(),
                wanted: column.wanted.name().to_string(),
            })?;
        }
    }
    query
        .execute(&mut *tx)
        .await
        .map_err(sql(format!("writing {table}")))?;
    Ok(())
}
