//! Moving a deployment from SQLite to PostgreSQL: every table, row for
//! row, in one PostgreSQL transaction, then a count per table on both
//! sides.
//!
//! Both schemas are brought to the current version first (opening each
//! store migrates it), so their columns match; each value is converted to
//! the type of its PostgreSQL column (SQLite keeps booleans as integers).
//! Tokens, hashes and sessions are copied as stored: digests stay digests,
//! and clients stay signed in across the move.

use std::path::Path;

use tokio_postgres::types::{ToSql, Type};

use super::postgres::PostgresStore;
use super::{SqliteStore, StoreError, StoreResult, TABLES};

/// The rows of one table on each side after a copy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCount {
    pub table: &'static str,
    pub source: i64,
    pub target: i64,
}

/// Why a copy did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("the target database is not empty ({0} has rows); pass --force to replace its contents")]
    TargetNotEmpty(&'static str),
    #[error("the copy does not match: {0:?}")]
    Mismatch(Vec<TableCount>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the SQLite database: {0}")]
    Source(#[from] rusqlite::Error),
}

/// Copies every table of the SQLite database at `from` into the
/// PostgreSQL database `to`. A target with accounts, sessions or tokens is
/// refused unless `replace`, which empties it first. Answers the counts.
pub fn sqlite_to_postgres(from: &Path, to: &str, replace: bool) -> Result<Vec<TableCount>, TransferError> {
    drop(SqliteStore::open(from)?);
    let source = rusqlite::Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let target = PostgresStore::open(to)?;
    let rows = read_all(&source)?;
    if let Err(table) = target.load(&rows, replace)? {
        return Err(TransferError::TargetNotEmpty(table));
    }
    let target_counts = target.table_counts()?;
    let counts: Vec<TableCount> = TABLES
        .iter()
        .zip(target_counts)
        .map(|(table, (_, target))| {
            let source = rows.iter().find(|(name, _, _)| name == table).map_or(0, |(_, _, rows)| rows.len() as i64);
            TableCount { table, source, target }
        })
        .collect();
    if counts.iter().any(|count| count.source != count.target) {
        return Err(TransferError::Mismatch(counts));
    }
    Ok(counts)
}

/// A table's name, columns and rows, as SQLite holds them.
pub(super) type TableRows = (&'static str, Vec<String>, Vec<Vec<rusqlite::types::Value>>);

fn read_all(source: &rusqlite::Connection) -> Result<Vec<TableRows>, TransferError> {
    let mut tables = Vec::new();
    for table in TABLES {
        let mut statement = source.prepare(&format!("SELECT * FROM {table}"))?;
        let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
        let width = columns.len();
        let rows = statement
            .query_map([], |row| (0..width).map(|i| row.get::<_, rusqlite::types::Value>(i)).collect())?
            .collect::<rusqlite::Result<Vec<Vec<rusqlite::types::Value>>>>()?;
        tables.push((*table, columns, rows));
    }
    Ok(tables)
}

/// A SQLite value as a parameter for a PostgreSQL column of type `to`.
pub(super) fn convert(
    value: &rusqlite::types::Value,
    to: &Type,
    column: &str,
) -> StoreResult<Box<dyn ToSql + Sync + Send>> {
    use rusqlite::types::Value;
    let mismatch = || StoreError::backend(format!("column {column}: cannot store {value:?} as {to}"));
    Ok(match (value, to) {
        (Value::Null, &Type::BOOL) => Box::new(None::<bool>),
        (Value::Null, &Type::INT8) => Box::new(None::<i64>),
        (Value::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
        (Value::Null, _) => Box::new(None::<String>),
        (Value::Integer(i), &Type::BOOL) => Box::new(*i != 0),
        (Value::Integer(i), &Type::INT8) => Box::new(*i),
        (Value::Text(text), &Type::TEXT) => Box::new(text.clone()),
        (Value::Blob(bytes), &Type::BYTEA) => Box::new(bytes.clone()),
        _ => return Err(mismatch()),
    })
}
