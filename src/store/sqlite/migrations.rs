//! Schema migrations for the SQLite store, tracked in `PRAGMA user_version`.
//!
//! Why not `rusqlite_migration`: its newest release (2.6) is built against
//! rusqlite 0.40 and `refinery` stops at 0.41, while this crate uses rusqlite
//! 0.43; two rusqlite versions cannot link two copies of SQLite into one
//! binary. The technique is the same as `rusqlite_migration`'s (ordered SQL
//! scripts, the applied count in `user_version`, each script in its own
//! transaction), and it is small enough to own. Migrations are append-only:
//! never edit one that has shipped, add the next file.

use rusqlite::{Connection, TransactionBehavior};

/// The migrations in order; `user_version` counts how many were applied.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_accounts", include_str!("../migrations/sqlite/0001_accounts.sql")),
    ("0002_uia_password_digest", include_str!("../migrations/sqlite/0002_uia_password_digest.sql")),
    ("0003_registration_tokens", include_str!("../migrations/sqlite/0003_registration_tokens.sql")),
    ("0004_email_validation", include_str!("../migrations/sqlite/0004_email_validation.sql")),
    ("0005_devices_admin", include_str!("../migrations/sqlite/0005_devices_admin.sql")),
    ("0006_synapse_import", include_str!("../migrations/sqlite/0006_synapse_import.sql")),
];

/// Brings the schema up to date. Refuses a database written by a newer
/// version of this program rather than guessing at its schema.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), MigrationError> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let applied = usize::try_from(applied).map_err(|_| MigrationError::Unknown(applied))?;
    if applied > MIGRATIONS.len() {
        return Err(MigrationError::Unknown(applied as i64));
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let now: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if now > index as i64 {
            continue;
        }
        tx.execute_batch(sql).map_err(|source| MigrationError::Script { name, source })?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("the database schema is version {0}, newer than this program knows ({known})", known = MIGRATIONS.len())]
    Unknown(i64),
    #[error("migration {name} failed: {source}")]
    Script { name: &'static str, source: rusqlite::Error },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let counter: i64 = conn
            .query_row("SELECT value FROM counters WHERE name = 'generated_localpart'", [], |row| row.get(0))
            .unwrap();
        assert_eq!(counter, 0);
    }

    #[test]
    fn a_database_of_the_first_version_is_brought_up_to_date() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0].1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO uia_sessions (id, operation, params, password_hash, completed, created_at, expires_at) \
             VALUES ('old', 'register', '{}', 'hash', '[]', 1, 2)",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let digest: Option<Vec<u8>> =
            conn.query_row("SELECT password_digest FROM uia_sessions WHERE id = 'old'", [], |row| row.get(0)).unwrap();
        assert_eq!(digest, None);
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(migrate(&mut conn), Err(MigrationError::Unknown(99))));
    }
}
