//! Reading a Synapse database: users, 3pids, devices and tokens, in the
//! shape [`Store::import_users`](crate::store::Store::import_users) writes.
//!
//! Only SQLite sources, opened read-only: the import never changes the
//! Synapse it moves from. Users are read in batches ordered by user ID
//! (keyset pagination), and each batch's 3pids, devices and tokens by the
//! same user-ID range, which Synapse's indexes on `user_id` serve.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags, Row, params};

use super::report::{Report, Skip};
use crate::accounts::token_hash;
use crate::store::{ImportedAccessToken, ImportedDevice, ImportedRefreshToken, ImportedUser, Millis, ThreepidRecord};

/// Synapse schema versions (its `schema_version` table) whose tables this
/// importer was checked against, with the Synapse release that made them.
/// The tables it reads change rarely, but a version not checked is refused
/// rather than half-understood.
/// Both were checked by running `tests/it/import.rs` on a database the
/// release made (`SYNAPSE_VERSION=… tests/synapse/make_fixture.sh real`);
/// the five tables read are identical in the two.
pub const VERIFIED_SCHEMA_VERSIONS: &[(i64, &str)] = &[(93, "Synapse 1.150.0"), (94, "Synapse 1.163.2")];

pub struct SynapseDb {
    conn: Connection,
    sessions: bool,
    /// Given to devices, which Synapse keeps no creation time for.
    now: Millis,
}

/// A user ID's parts: `@localpart:server_name`.
fn split_user_id(name: &str) -> Option<(&str, &str)> {
    let (localpart, server) = name.strip_prefix('@')?.split_once(':')?;
    (!localpart.is_empty() && !server.is_empty()).then_some((localpart, server))
}

fn parse_user_id<'a>(table: &str, name: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    split_user_id(name)
        .with_context(|| format!("Synapse table {table}: {name:?} is not a user ID (@localpart:server_name)"))
}

impl SynapseDb {
    /// Opens `source`, a Synapse SQLite file (read-only) or a `postgres://`
    /// URL of a Synapse database (its tables copied into memory, see
    /// [`super::postgres_source`]), and checks its schema version. With
    /// `sessions`, batches carry access and refresh tokens.
    pub fn open(source: &str, sessions: bool, now: Millis) -> anyhow::Result<SynapseDb> {
        let conn = if source.starts_with("postgres://") || source.starts_with("postgresql://") {
            super::postgres_source::snapshot(source)?
        } else {
            let path = Path::new(source);
            if !path.is_file() {
                bail!(
                    "no Synapse database at {source}: give the path of Synapse's SQLite file (homeserver.db) \
                     or a postgres:// URL"
                );
            }
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(path, flags).with_context(|| format!("opening the Synapse database {source}"))?
        };
        let db = SynapseDb { conn, sessions, now };
        db.schema_version()?;
        Ok(db)
    }

    /// The schema version, if it is one [`VERIFIED_SCHEMA_VERSIONS`] names.
    pub fn schema_version(&self) -> anyhow::Result<i64> {
        let version: i64 = self
            .conn
            .query_row("SELECT version FROM schema_version", [], |row| row.get(0))
            .context("reading Synapse's schema_version table: is this a Synapse database?")?;
        if !VERIFIED_SCHEMA_VERSIONS.iter().any(|(known, _)| *known == version) {
            let known: Vec<String> =
                VERIFIED_SCHEMA_VERSIONS.iter().map(|(v, release)| format!("{v} ({release})")).collect();
            bail!(
                "the Synapse database has schema version {version}, which this importer has not been checked \
                 against; it knows {}",
                known.join(", ")
            );
        }
        Ok(version)
    }

    /// How many rows `users` has.
    pub fn user_count(&self) -> anyhow::Result<u64> {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM users", [], |row| row.get(0))
            .context("counting Synapse's users")?;
        Ok(count.unsigned_abs())
    }

    /// The server names of the users, each with how many users carry it
    /// (Synapse keeps only local users in `users`: one name, normally). Also
    /// checks every user ID before anything is written.
    pub fn server_names(&self) -> anyhow::Result<HashMap<String, u64>> {
        let mut statement = self.conn.prepare("SELECT name FROM users")?;
        let mut rows = statement.query([])?;
        let mut names = HashMap::new();
        while let Some(row) = rows.next().context("reading Synapse's users")? {
            let name: String = row.get(0).context("Synapse table users: a name that is not text")?;
            let (_, server) = parse_user_id("users", &name)?;
            *names.entry(server.to_owned()).or_default() += 1;
        }
        Ok(names)
    }

    /// Access and refresh tokens in the source, counted when `--sessions`
    /// is not given (the report says they stayed behind).
    pub fn token_count(&self) -> anyhow::Result<u64> {
        let count: i64 = self
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM access_tokens) + (SELECT count(*) FROM refresh_tokens)",
                [],
                |row| row.get(0),
            )
            .context("counting Synapse's access and refresh tokens")?;
        Ok(count.unsigned_abs())
    }

    /// Up to `limit` users whose ID sorts after `after`, with their 3pids,
    /// devices and (with sessions) tokens. Users and rows that do not come
    /// over are counted in `report`. A batch that read no row
    /// ([`Batch::read`] 0): no more users. Its 3pids, devices and tokens are
    /// read over the same user-ID range, `after < user_id <= last`.
    pub fn batch(&self, after: &str, limit: usize, report: &mut Report) -> anyhow::Result<Batch> {
        let mut statement = self.conn.prepare_cached(
            "SELECT name, password_hash, creation_ts, admin, is_guest, deactivated, user_type, appservice_id, \
                    approved, locked, suspended \
             FROM users WHERE name > ?1 ORDER BY name LIMIT ?2",
        )?;
        let mut rows = statement.query(params![after, limit as i64])?;
        let mut batch = Batch::default();
        while let Some(row) = rows.next().context("reading Synapse's users")? {
            let name: String = row.get(0).context("Synapse table users: a name that is not text")?;
            batch.read += 1;
            if let Some(user) =
                self.user(row, &name, report).with_context(|| format!("Synapse table users, user {name}"))?
            {
                batch.index.insert(name.clone(), batch.users.len());
                batch.users.push(user);
            }
            batch.last = name;
        }
        drop(rows);
        if batch.users.is_empty() {
            return Ok(batch);
        }
        self.threepids(&mut batch, after)?;
        self.devices(&mut batch, after, report)?;
        if self.sessions {
            self.tokens(&mut batch, after, report)?;
        }
        Ok(batch)
    }

    /// One `users` row, or `None` (counted) if it does not come over.
    fn user(&self, row: &Row<'_>, name: &str, report: &mut Report) -> anyhow::Result<Option<ImportedUser>> {
        let (localpart, _) = parse_user_id("users", name)?;
        let appservice: Option<String> = row.get(7)?;
        let approved: Option<bool> = row.get(8)?;
        let locked: Option<bool> = row.get(9)?;
        let suspended: Option<bool> = row.get(10)?;
        if appservice.is_some() {
            report.skip(Skip::ApplicationServiceUser, 1);
            return Ok(None);
        }
        if approved == Some(false) || locked == Some(true) || suspended == Some(true) {
            report.skip(Skip::RestrictedUser, 1);
            return Ok(None);
        }
        let created_seconds: Option<i64> = row.get(2)?;
        Ok(Some(ImportedUser {
            localpart: localpart.to_owned(),
            password_hash: row.get::<_, Option<String>>(1)?.filter(|hash| !hash.is_empty()),
            created_at: created_seconds.map_or(self.now, |seconds| seconds.saturating_mul(1000)),
            admin: row.get::<_, Option<bool>>(3)?.unwrap_or(false),
            is_guest: row.get::<_, Option<bool>>(4)?.unwrap_or(false),
            deactivated: row.get::<_, Option<bool>>(5)?.unwrap_or(false),
            user_type: row.get(6)?,
            threepids: Vec::new(),
            devices: Vec::new(),
        }))
    }

    /// Runs `sql` (which selects `user_id` first, and takes the range as
    /// `?1 < user_id <= ?2`) over the batch's range, and hands each row of a
    /// batch user to `f`. Errors name `table` and the row's user.
    fn each_row(
        &self,
        batch: &mut Batch,
        after: &str,
        table: &str,
        sql: &str,
        mut f: impl FnMut(&mut ImportedUser, &Row<'_>) -> rusqlite::Result<()>,
    ) -> anyhow::Result<()> {
        let mut statement = self.conn.prepare_cached(sql).with_context(|| format!("reading Synapse table {table}"))?;
        let mut rows = statement.query(params![after, batch.last])?;
        while let Some(row) = rows.next().with_context(|| format!("reading Synapse table {table}"))? {
            let user_id: String =
                row.get(0).with_context(|| format!("Synapse table {table}: a user_id that is not text"))?;
            let Some(&index) = batch.index.get(&user_id) else {
                continue; // a user that does not come over
            };
            f(&mut batch.users[index], row).with_context(|| format!("Synapse table {table}, a row of {user_id}"))?;
        }
        Ok(())
    }

    fn threepids(&self, batch: &mut Batch, after: &str) -> anyhow::Result<()> {
        self.each_row(
            batch,
            after,
            "user_threepids",
            "SELECT user_id, medium, address, validated_at, added_at FROM user_threepids \
             WHERE user_id > ?1 AND user_id <= ?2 ORDER BY user_id, added_at",
            |user, row| {
                user.threepids.push(ThreepidRecord {
                    medium: row.get(1)?,
                    address: row.get(2)?,
                    validated_at: row.get(3)?,
                    added_at: row.get(4)?,
                    id_server: None,
                });
                Ok(())
            },
        )
    }

    fn devices(&self, batch: &mut Batch, after: &str, report: &mut Report) -> anyhow::Result<()> {
        let now = self.now;
        self.each_row(
            batch,
            after,
            "devices",
            "SELECT user_id, device_id, display_name, hidden FROM devices \
             WHERE user_id > ?1 AND user_id <= ?2 ORDER BY user_id, device_id",
            |user, row| {
                if row.get::<_, Option<bool>>(3)?.unwrap_or(false) {
                    report.skip(Skip::HiddenDevice, 1);
                    return Ok(());
                }
                user.devices.push(ImportedDevice {
                    device_id: row.get(1)?,
                    display_name: row.get(2)?,
                    created_at: now,
                    refresh_tokens: Vec::new(),
                    access_tokens: Vec::new(),
                });
                Ok(())
            },
        )
    }

    /// Refresh tokens first: access tokens name theirs by source ID.
    fn tokens(&self, batch: &mut Batch, after: &str, report: &mut Report) -> anyhow::Result<()> {
        self.each_row(
            batch,
            after,
            "refresh_tokens",
            "SELECT user_id, device_id, id, token, next_token_id, expiry_ts, ultimate_session_expiry_ts \
             FROM refresh_tokens WHERE user_id > ?1 AND user_id <= ?2 ORDER BY user_id, id",
            |user, row| {
                let device_id: String = row.get(1)?;
                let Some(device) = user.devices.iter_mut().find(|device| device.device_id == device_id) else {
                    report.skip(Skip::TokenWithoutImportedDevice, 1);
                    return Ok(());
                };
                if row.get::<_, Option<i64>>(4)?.is_some() {
                    report.skip(Skip::RotatedRefreshToken, 1);
                } else if row.get::<_, Option<i64>>(5)?.is_some() || row.get::<_, Option<i64>>(6)?.is_some() {
                    report.skip(Skip::ExpiringRefreshToken, 1);
                } else {
                    let token: String = row.get(3)?;
                    device
                        .refresh_tokens
                        .push(ImportedRefreshToken { source_id: row.get(2)?, token: token_hash(&token) });
                }
                Ok(())
            },
        )?;
        self.each_row(
            batch,
            after,
            "access_tokens",
            "SELECT user_id, device_id, token, valid_until_ms, refresh_token_id, puppets_user_id \
             FROM access_tokens WHERE user_id > ?1 AND user_id <= ?2 ORDER BY user_id, id",
            |user, row| {
                if row.get::<_, Option<String>>(5)?.is_some() {
                    report.skip(Skip::PuppetToken, 1);
                    return Ok(());
                }
                let device_id: Option<String> = row.get(1)?;
                let Some(device) =
                    device_id.and_then(|id| user.devices.iter_mut().find(|device| device.device_id == id))
                else {
                    report.skip(Skip::TokenWithoutImportedDevice, 1);
                    return Ok(());
                };
                let token: String = row.get(2)?;
                device.access_tokens.push(ImportedAccessToken {
                    token: token_hash(&token),
                    expires_at: row.get(3)?,
                    refresh_source_id: row.get(4)?,
                });
                Ok(())
            },
        )
    }
}

/// Users read in one batch, in user-ID order.
#[derive(Debug, Default)]
pub struct Batch {
    pub users: Vec<ImportedUser>,
    /// Rows read, skipped users included.
    pub read: u64,
    /// The last user ID read: the next batch starts after it.
    pub last: String,
    /// Position in `users` by Synapse user ID.
    index: HashMap<String, usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_split_at_the_first_colon() {
        assert_eq!(split_user_id("@alice:example.org:8448"), Some(("alice", "example.org:8448")));
        assert_eq!(split_user_id("alice:example.org"), None);
        assert_eq!(split_user_id("@:example.org"), None);
        assert_eq!(split_user_id("@alice"), None);
    }

    /// A database with Synapse's `schema_version`, `users`,
    /// `user_threepids` and `devices` tables (as version 94 has them) and
    /// the given rows.
    fn source(users: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("homeserver.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE schema_version (lock CHAR(1) NOT NULL DEFAULT 'X', version INTEGER NOT NULL, \
               upgraded BOOL NOT NULL); INSERT INTO schema_version VALUES ('X', 94, 1); \
             CREATE TABLE users (name TEXT, password_hash TEXT, creation_ts BIGINT, admin SMALLINT DEFAULT 0 NOT NULL, \
               upgrade_ts BIGINT, is_guest SMALLINT DEFAULT 0 NOT NULL, appservice_id TEXT, consent_version TEXT, \
               consent_server_notice_sent TEXT, user_type TEXT DEFAULT NULL, deactivated SMALLINT DEFAULT 0 NOT NULL, \
               shadow_banned BOOLEAN, consent_ts bigint, approved BOOLEAN, locked BOOLEAN DEFAULT FALSE NOT NULL, \
               suspended BOOLEAN DEFAULT FALSE NOT NULL, UNIQUE(name)); \
             CREATE TABLE user_threepids (user_id TEXT NOT NULL, medium TEXT NOT NULL, address TEXT NOT NULL, \
               validated_at BIGINT NOT NULL, added_at BIGINT NOT NULL); \
             CREATE TABLE devices (user_id TEXT NOT NULL, device_id TEXT NOT NULL, display_name TEXT, \
               last_seen BIGINT, ip TEXT, user_agent TEXT, hidden BOOLEAN DEFAULT 0); {users}"
        ))
        .unwrap();
        (dir, path.to_str().unwrap().to_owned())
    }

    #[test]
    fn a_user_id_that_is_not_one_is_named() {
        let (_dir, path) = source("INSERT INTO users (name) VALUES ('@alice:example.org'), ('bob');");
        let error = SynapseDb::open(&path, false, 0).unwrap().server_names().unwrap_err();
        assert!(format!("{error:#}").contains("table users: \"bob\" is not a user ID"), "{error:#}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_table_and_user() {
        let (_dir, path) = source("INSERT INTO users (name, creation_ts) VALUES ('@alice:example.org', 'yesterday');");
        let db = SynapseDb::open(&path, false, 0).unwrap();
        let error = db.batch("", 10, &mut Report::default()).unwrap_err();
        assert!(format!("{error:#}").contains("Synapse table users, user @alice:example.org"), "{error:#}");
    }

    #[test]
    fn restricted_and_application_service_users_stay_behind() {
        let (_dir, path) = source(
            "INSERT INTO users (name, locked) VALUES ('@locked:example.org', 1); \
             INSERT INTO users (name, appservice_id) VALUES ('@bridge:example.org', 'irc'); \
             INSERT INTO users (name, creation_ts, admin) VALUES ('@zoe:example.org', 3, 1);",
        );
        let db = SynapseDb::open(&path, false, 0).unwrap();
        let mut report = Report::default();
        let batch = db.batch("", 10, &mut report).unwrap();
        assert_eq!((batch.read, batch.users.len()), (3, 1));
        assert_eq!(
            (batch.users[0].localpart.as_str(), batch.users[0].created_at, batch.users[0].admin),
            ("zoe", 3000, true)
        );
        assert_eq!(report.skipped.get(&Skip::RestrictedUser), Some(&1));
        assert_eq!(report.skipped.get(&Skip::ApplicationServiceUser), Some(&1));
    }

    #[test]
    fn an_unreachable_postgres_source_is_named() {
        let error = SynapseDb::open("postgres://synapse@127.0.0.1:1/synapse", false, 0).err().unwrap();
        assert!(format!("{error:#}").contains("connecting to the Synapse database"), "{error:#}");
    }
}
