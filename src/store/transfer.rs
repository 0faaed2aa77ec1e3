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

use super::postgres::{PostgresStore, TableRows};
use super::{SqliteStore, StoreError, TABLES};

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
