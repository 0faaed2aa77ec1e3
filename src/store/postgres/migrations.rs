//! Schema migrations for the PostgreSQL store, tracked in a one-row table.
//!
//! The same technique as the SQLite store's (ordered SQL scripts, the
//! applied count recorded), in one transaction (PostgreSQL's DDL is
//! transactional: a failed script leaves nothing behind), with one addition
//! that several instances need: a transaction-scoped advisory lock around
//! the whole run, so that instances starting together migrate once,
//! one after the other, instead of racing to create the same tables.
//! (`refinery` would do the bookkeeping but not this lock, and its
//! tokio-postgres support trails the driver's releases.) Append-only: never
//! edit a script that has shipped, add the next file here and in
//! `../migrations/sqlite`.

use deadpool_postgres::Client;

use crate::store::{StoreError, StoreResult};

const MIGRATIONS: &[(&str, &str)] = &[("0001_accounts", include_str!("../migrations/postgres/0001_accounts.sql"))];

/// Any number, the same in every instance: the advisory lock's key.
const MIGRATION_LOCK: i64 = 0x6d61_7472_6978; // "matrix" in ASCII

/// Brings the schema up to date; refuses a schema newer than this program.
pub(super) async fn migrate(client: &mut Client) -> StoreResult<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)").await?;
    let applied: Option<i64> =
        tx.query_opt("SELECT version FROM schema_version", &[]).await?.map(|row| row.try_get(0)).transpose()?;
    let applied = applied.unwrap_or(0);
    let known = MIGRATIONS.len() as i64;
    if applied > known {
        return Err(StoreError::backend(format!(
            "the database schema is version {applied}, newer than this program knows ({known})"
        )));
    }
    for (name, sql) in &MIGRATIONS[applied as usize..] {
        tx.batch_execute(sql).await.map_err(|e| StoreError::backend(format!("migration {name} failed: {e}")))?;
    }
    tx.execute("DELETE FROM schema_version", &[]).await?;
    tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&known]).await?;
    tx.commit().await?;
    Ok(())
}
