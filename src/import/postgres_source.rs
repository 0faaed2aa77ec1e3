//! A Synapse on PostgreSQL as an import source: the tables the importer
//! reads are copied, as they are, into an in-memory SQLite database, which
//! the one reader ([`super::synapse::SynapseDb`]) then reads like a Synapse
//! SQLite file.
//!
//! One reader instead of one per engine: Synapse's schema is the same on
//! both (its SQLite and PostgreSQL tables have the same names and columns;
//! PostgreSQL's booleans and small integers become SQLite's integers, as
//! Synapse itself stores them there). The copy is read in one
//! `REPEATABLE READ` transaction, so it is one consistent snapshot even if
//! Synapse is still running; it costs memory in proportion to those tables
//! (roughly 0.5 KiB per user with a device, a token and an e-mail).

use anyhow::{Context, bail};
use rusqlite::Connection;
use rusqlite::types::Value;
use tokio_postgres::types::Type;
use tokio_postgres::{IsolationLevel, NoTls, Row};

/// The tables the importer reads, and the column each is read in order of.
const TABLES: &[(&str, Option<&str>)] = &[
    ("schema_version", None),
    ("users", Some("name")),
    ("user_threepids", Some("user_id")),
    ("devices", Some("user_id")),
    ("access_tokens", Some("user_id")),
    ("refresh_tokens", Some("user_id")),
];

/// Copies the importer's tables of the Synapse database at `url` into a
/// new in-memory SQLite database.
pub fn snapshot(url: &str) -> anyhow::Result<Connection> {
    let config: tokio_postgres::Config = url.parse().with_context(|| format!("reading the URL {url:?}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let tables = runtime.block_on(async {
        let (mut client, connection) =
            config.connect(NoTls).await.with_context(|| "connecting to the Synapse database".to_owned())?;
        let driving = tokio::spawn(connection);
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let mut tables = Vec::new();
        for (table, _) in TABLES {
            let rows = tx
                .query(&format!("SELECT * FROM {table}"), &[])
                .await
                .with_context(|| format!("reading Synapse table {table}"))?;
            let columns = match rows.first() {
                Some(row) => row.columns().iter().map(|c| c.name().to_owned()).collect(),
                None => columns_of(&tx, table).await?,
            };
            tables.push((*table, columns, rows));
        }
        tx.commit().await?;
        drop(client);
        let _ = driving.await;
        anyhow::Ok(tables)
    })?;

    let mut sqlite = Connection::open_in_memory()?;
    let copy = sqlite.transaction()?;
    for ((table, order), (_, columns, rows)) in TABLES.iter().zip(&tables) {
        copy.execute_batch(&format!("CREATE TABLE {table} ({})", columns.join(", ")))?;
        let placeholders = vec!["?"; columns.len()].join(", ");
        let mut insert = copy.prepare(&format!("INSERT INTO {table} VALUES ({placeholders})"))?;
        for row in rows {
            let values = (0..row.len()).map(|i| value(row, i, table)).collect::<anyhow::Result<Vec<_>>>()?;
            insert.execute(rusqlite::params_from_iter(values))?;
        }
        if let Some(column) = order {
            copy.execute_batch(&format!("CREATE INDEX {table}_by_{column} ON {table} ({column})"))?;
        }
    }
    copy.commit()?;
    Ok(sqlite)
}

/// The columns of an empty table.
async fn columns_of(tx: &tokio_postgres::Transaction<'_>, table: &str) -> anyhow::Result<Vec<String>> {
    let statement = tx.prepare(&format!("SELECT * FROM {table}")).await?;
    Ok(statement.columns().iter().map(|c| c.name().to_owned()).collect())
}

/// Column `i` of a PostgreSQL row as the value Synapse's SQLite schema
/// would hold.
fn value(row: &Row, i: usize, table: &str) -> anyhow::Result<Value> {
    let column = &row.columns()[i];
    let read = || format!("Synapse table {table}, column {}", column.name());
    Ok(match *column.type_() {
        Type::BOOL => row.try_get::<_, Option<bool>>(i).with_context(read)?.map_or(Value::Null, |b| Value::Integer(b.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(i).with_context(read)?.map_or(Value::Null, |n| Value::Integer(n.into())),
        Type::INT4 => row.try_get::<_, Option<i32>>(i).with_context(read)?.map_or(Value::Null, |n| Value::Integer(n.into())),
        Type::INT8 => row.try_get::<_, Option<i64>>(i).with_context(read)?.map_or(Value::Null, Value::Integer),
        Type::FLOAT4 => {
            row.try_get::<_, Option<f32>>(i).with_context(read)?.map_or(Value::Null, |x| Value::Real(x.into()))
        }
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).with_context(read)?.map_or(Value::Null, Value::Real),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            row.try_get::<_, Option<String>>(i).with_context(read)?.map_or(Value::Null, Value::Text)
        }
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i).with_context(read)?.map_or(Value::Null, Value::Blob),
        ref other => bail!("{}: type {other} is not one the importer knows", read()),
    })
}
