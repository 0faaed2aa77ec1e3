//! The SQLite implementation of [`Store`]: one writer, a few readers.
//!
//! SQLite allows one writer at a time, so the store keeps exactly one
//! writing connection behind a mutex and starts every write with
//! `BEGIN IMMEDIATE`: writers queue on the mutex instead of failing with
//! `SQLITE_BUSY` halfway through a transaction, and a check-then-insert
//! (is this username free?) cannot interleave with another. Reads go to a
//! small pool of read-only connections, which WAL lets run beside the
//! writer.
//!
//! Durability: WAL with `synchronous = NORMAL`. A commit is in the WAL file
//! before `COMMIT` returns, so an answered request survives the process
//! being killed (SIGKILL, panic, OOM); only a power loss or kernel crash can
//! lose the last few transactions, which would need `synchronous = FULL`
//! (an fsync per commit) to prevent.

mod migrations;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params};

use self::migrations::MigrationError;
use super::columns::{DEVICE_COLUMNS, EMAIL_SESSION_COLUMNS, THREEPID_COLUMNS, TOKEN_COLUMNS, USER_COLUMNS};
use super::{
    AccessTokenRecord, Created, Deactivated, DeviceRecord, EmailPurpose, EmailSessionRecord, ImportOutcome,
    ImportedCounts, ImportedDevice, ImportedUser, LastSeen, Millis, NewLocalpart, NewLogin, NewTokens, NewUser,
    RegistrationCompletion, RegistrationTokenRecord, RegistrationTokenUpdate, Rotated, Store, StoreError, StoreResult,
    ThreepidRecord, TokenHash, TokenSubmission, UiaOperation, UiaSessionRecord, UserListing, UserOrder, UserRecord,
    registration_token_key,
};

/// How long a connection waits for a lock held by another process before
/// giving up (within this process the mutexes do the queueing).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (SQLite's default is 2000 each); kept
/// small because the whole server aims to stay within a few MiB.
const WRITER_CACHE_KIB: i64 = 2048;
const READER_CACHE_KIB: i64 = 1024;

pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::backend(error)
    }
}

impl From<MigrationError> for StoreError {
    fn from(error: MigrationError) -> Self {
        StoreError::backend(error)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`, with
    /// one reader per available core, at most four.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::open_with_readers(path, cores.clamp(1, 4))
    }

    pub fn open_with_readers(path: &Path, readers: usize) -> StoreResult<Self> {
        let mut writer = Connection::open(path)?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = writer.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::backend(format!("SQLite refused WAL mode (got {mode})")));
        }
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        migrations::migrate(&mut writer)?;

        let readers = (0..readers.max(1))
            .map(|_| {
                let flags =
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
                let reader = Connection::open_with_flags(path, flags)?;
                reader.busy_timeout(BUSY_TIMEOUT)?;
                reader.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
                Ok(Mutex::new(reader))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(SqliteStore { writer: Mutex::new(writer), readers, next_reader: AtomicUsize::new(0) })
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer; commits
    /// if it returns `Ok`, rolls back otherwise.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if !conn.is_autocommit() {
            // A panic left a transaction open on this connection.
            conn.execute_batch("ROLLBACK")?;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` on a free reader, or waits for one.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let count = self.readers.len();
        let conn = (0..count)
            .find_map(|i| self.readers[(start + i) % count].try_lock().ok())
            .unwrap_or_else(|| lock(&self.readers[start % count]));
        Ok(f(&conn)?)
    }
}

/// Attaches a 3pid no account has yet; taken meanwhile: `ThreepidInUse`.
fn insert_threepid(tx: &Transaction<'_>, localpart: &str, threepid: &ThreepidRecord) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO threepids (medium, address, user_id, validated_at, added_at, id_server) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        threepid.medium,
        threepid.address,
        localpart,
        threepid.validated_at,
        threepid.added_at,
        threepid.id_server,
    ])
    .map_err(|error| if is_constraint_violation(&error) { StoreError::ThreepidInUse } else { error.into() })?;
    Ok(())
}

fn email_session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(EmailSessionRecord, String)> {
    let token_hash: Option<Vec<u8>> = row.get(5)?;
    Ok((
        EmailSessionRecord {
            sid: row.get(0)?,
            client_secret: row.get(1)?,
            address: row.get(2)?,
            purpose: EmailPurpose::Register,
            send_attempt: row.get(4)?,
            token_hash: token_hash.map(self::token_hash).transpose()?,
            failed_attempts: row.get(6)?,
            next_link: row.get(7)?,
            created_at: row.get(8)?,
            expires_at: row.get(9)?,
            validated_at: row.get(10)?,
        },
        row.get(3)?,
    ))
}

fn email_session_record(row: Option<(EmailSessionRecord, String)>) -> StoreResult<Option<EmailSessionRecord>> {
    let Some((mut record, purpose)) = row else { return Ok(None) };
    record.purpose = EmailPurpose::parse(&purpose)
        .ok_or_else(|| StoreError::backend(format!("unknown e-mail purpose {purpose:?} in session {}", record.sid)))?;
    Ok(Some(record))
}

fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn token_hash(bytes: Vec<u8>) -> rusqlite::Result<TokenHash> {
    let len = bytes.len();
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            format!("token hash of {len} bytes").into(),
        )
    })
}

/// Runs a `DELETE … RETURNING token_hash` and collects the hashes.
fn delete_returning_hashes(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<TokenHash>> {
    let mut statement = tx.prepare_cached(sql)?;
    let rows = statement.query_map(params, |row| token_hash(row.get(0)?))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn user_exists(tx: &Transaction<'_>, localpart: &str) -> StoreResult<bool> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM users WHERE localpart = ?1")?
        .query_row([localpart], |_| Ok(()))
        .optional()?
        .is_some())
}

fn is_constraint_violation(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

/// Inserts an access token and its refresh token; returns the refresh
/// token's id.
fn insert_tokens(
    tx: &Transaction<'_>,
    localpart: &str,
    device_id: &str,
    tokens: &NewTokens,
) -> StoreResult<Option<i64>> {
    let refresh_id = match &tokens.refresh {
        Some(refresh) => {
            tx.prepare_cached(
                "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&refresh[..], localpart, device_id, tokens.created_at])?;
            Some(tx.last_insert_rowid())
        }
        None => None,
    };
    tx.prepare_cached(
        "INSERT INTO access_tokens (token_hash, user_id, device_id, refresh_token_id, expires_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        &tokens.access[..],
        localpart,
        device_id,
        refresh_id,
        tokens.expires_at,
        tokens.created_at
    ])?;
    Ok(refresh_id)
}

/// Creates the device, or empties an existing one of its tokens, then
/// issues the new tokens. Returns the revoked access tokens.
fn insert_login(tx: &Transaction<'_>, localpart: &str, login: &NewLogin) -> StoreResult<Vec<TokenHash>> {
    let created = tx
        .prepare_cached(
            "INSERT INTO devices (user_id, device_id, display_name, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (user_id, device_id) DO NOTHING",
        )?
        .execute(params![localpart, login.device_id, login.display_name, login.tokens.created_at])?;
    let revoked = if created == 0 {
        let revoked = delete_returning_hashes(
            tx,
            "DELETE FROM access_tokens WHERE user_id = ?1 AND device_id = ?2 RETURNING token_hash",
            params![localpart, login.device_id],
        )?;
        tx.prepare_cached("DELETE FROM refresh_tokens WHERE user_id = ?1 AND device_id = ?2")?
            .execute(params![localpart, login.device_id])?;
        revoked
    } else {
        Vec::new()
    };
    insert_tokens(tx, localpart, &login.device_id, &login.tokens)?;
    Ok(revoked)
}

fn uia_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(UiaSessionRecord, String, String, String)> {
    let record = UiaSessionRecord {
        id: row.get(0)?,
        operation: UiaOperation::Register, // replaced by the caller once parsed
        user: row.get(2)?,
        params: serde_json::Value::Null,
        password_hash: row.get(4)?,
        password_digest: row.get(9)?,
        completed: Vec::new(),
        registered: row.get(6)?,
        registration_token: row.get(10)?,
        created_at: row.get(7)?,
        expires_at: row.get(8)?,
    };
    Ok((record, row.get(1)?, row.get(3)?, row.get(5)?))
}

fn device_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        device_id: row.get(0)?,
        display_name: row.get(1)?,
        last_seen_ip: row.get(2)?,
        last_seen_ts: row.get(3)?,
    })
}

/// An account from [`USER_COLUMNS`].
fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        localpart: row.get(0)?,
        password_hash: row.get(1)?,
        is_guest: row.get(2)?,
        deactivated: row.get(3)?,
        admin: row.get(4)?,
        created_at: row.get(5)?,
    })
}

/// A 3pid from [`THREEPID_COLUMNS`].
fn threepid_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ThreepidRecord> {
    Ok(ThreepidRecord {
        medium: row.get(0)?,
        address: row.get(1)?,
        validated_at: row.get(2)?,
        added_at: row.get(3)?,
        id_server: row.get(4)?,
    })
}

/// The condition under which a registration token (in a statement whose
/// `?2` is now) can be used.
const USABLE: &str = "(expiry_time IS NULL OR expiry_time > ?2) \
     AND (uses_allowed IS NULL OR pending + completed < uses_allowed)";

fn token_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RegistrationTokenRecord> {
    Ok(RegistrationTokenRecord {
        token: row.get(0)?,
        uses_allowed: row.get(1)?,
        pending: row.get(2)?,
        completed: row.get(3)?,
        expiry_time: row.get(4)?,
    })
}

/// Deletes the UIA session an operation used up; if it is already gone,
/// another request used it first and the operation must not happen.
fn consume_uia_session(tx: &Transaction<'_>, session: Option<&str>) -> StoreResult<()> {
    let Some(session) = session else {
        return Ok(());
    };
    let deleted = tx.prepare_cached("DELETE FROM uia_sessions WHERE id = ?1")?.execute([session])?;
    if deleted == 0 {
        return Err(StoreError::UnknownUiaSession(session.to_owned()));
    }
    Ok(())
}

/// Writes one imported account with its 3pids, devices and tokens, unless
/// its localpart exists (then nothing).
fn insert_imported_user(tx: &Transaction<'_>, user: &ImportedUser) -> StoreResult<ImportOutcome> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO users (localpart, password_hash, is_guest, deactivated, admin, user_type, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (localpart) DO NOTHING",
        )?
        .execute(params![
            user.localpart,
            user.password_hash,
            user.is_guest,
            user.deactivated,
            user.admin,
            user.user_type,
            user.created_at
        ])?;
    if inserted == 0 {
        return Ok(ImportOutcome::AlreadyPresent);
    }
    let mut counts = ImportedCounts::default();
    for threepid in &user.threepids {
        let added = tx
            .prepare_cached(
                "INSERT INTO threepids (medium, address, user_id, validated_at, added_at, id_server) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (medium, address) DO NOTHING",
            )?
            .execute(params![
                threepid.medium,
                threepid.address,
                user.localpart,
                threepid.validated_at,
                threepid.added_at,
                threepid.id_server
            ])?;
        if added == 1 {
            counts.threepids += 1;
        } else {
            counts.threepids_in_use += 1;
        }
    }
    for device in &user.devices {
        insert_imported_device(tx, &user.localpart, device, &mut counts)?;
    }
    Ok(ImportOutcome::Imported(counts))
}

fn insert_imported_device(
    tx: &Transaction<'_>,
    localpart: &str,
    device: &ImportedDevice,
    counts: &mut ImportedCounts,
) -> StoreResult<()> {
    tx.prepare_cached("INSERT INTO devices (user_id, device_id, display_name, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![localpart, device.device_id, device.display_name, device.created_at])?;
    counts.devices += 1;
    // The source's refresh-token IDs, as the IDs they get here.
    let mut refresh_ids = Vec::with_capacity(device.refresh_tokens.len());
    for refresh in &device.refresh_tokens {
        let id: Option<i64> = tx
            .prepare_cached(
                "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (token_hash) DO NOTHING RETURNING id",
            )?
            .query_row(params![&refresh.token[..], localpart, device.device_id, device.created_at], |row| row.get(0))
            .optional()?;
        match id {
            Some(id) => {
                counts.refresh_tokens += 1;
                refresh_ids.push((refresh.source_id, id));
            }
            None => counts.tokens_in_use += 1,
        }
    }
    for access in &device.access_tokens {
        let refresh_id = access
            .refresh_source_id
            .and_then(|source| refresh_ids.iter().find(|(from, _)| *from == source).map(|(_, id)| *id));
        let added = tx
            .prepare_cached(
                "INSERT INTO access_tokens (token_hash, user_id, device_id, refresh_token_id, expires_at, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (token_hash) DO NOTHING",
            )?
            .execute(params![
                &access.token[..],
                localpart,
                device.device_id,
                refresh_id,
                access.expires_at,
                device.created_at
            ])?;
        if added == 1 {
            counts.access_tokens += 1;
        } else {
            counts.tokens_in_use += 1;
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    fn user(&self, localpart: &str) -> StoreResult<Option<UserRecord>> {
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE localpart = ?1"))?
                .query_row([localpart], user_from_row)
                .optional()
        })
    }

    fn create_user(
        &self,
        user: &NewUser,
        login: Option<&NewLogin>,
        completion: Option<&RegistrationCompletion>,
    ) -> StoreResult<Created> {
        self.write(|tx| {
            // Claim the session first: one registration per session, and
            // none if it expired meanwhile.
            if let Some(completion) = completion {
                let claimed = tx
                    .prepare_cached(
                        "UPDATE uia_sessions SET registered = '', password_hash = NULL, password_digest = ?1, \
                           expires_at = ?2 \
                         WHERE id = ?3 AND registered IS NULL",
                    )?
                    .execute(params![completion.password_digest, completion.retry_until, completion.session])?;
                if claimed == 0 {
                    return Err(StoreError::UnknownUiaSession(completion.session.clone()));
                }
                // The use the session reserved is now spent.
                tx.prepare_cached(
                    "UPDATE registration_tokens SET pending = pending - 1, completed = completed + 1 \
                     WHERE token = (SELECT registration_token FROM uia_sessions WHERE id = ?1)",
                )?
                .execute([&completion.session])?;
            }
            // Without a session: check and take a use in this transaction.
            if let Some(token) = &user.registration_token {
                let taken = tx
                    .prepare_cached(&format!(
                        "UPDATE registration_tokens SET completed = completed + 1 WHERE token = ?1 AND {USABLE}"
                    ))?
                    .execute(params![token, user.created_at])?;
                if taken == 0 {
                    return Err(StoreError::RegistrationTokenUnusable);
                }
            }
            let localpart = match &user.localpart {
                NewLocalpart::Chosen(localpart) => {
                    if user_exists(tx, localpart)? {
                        return Err(StoreError::UserExists);
                    }
                    localpart.clone()
                }
                NewLocalpart::Generated => loop {
                    let next: i64 = tx
                        .prepare_cached(
                            "UPDATE counters SET value = value + 1 WHERE name = 'generated_localpart' RETURNING value",
                        )?
                        .query_row([], |row| row.get(0))?;
                    let candidate = next.to_string();
                    if !user_exists(tx, &candidate)? {
                        break candidate;
                    }
                },
            };
            tx.prepare_cached(
                "INSERT INTO users (localpart, password_hash, is_guest, admin, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![localpart, user.password_hash, user.is_guest, user.admin, user.created_at])
            .map_err(|error| if is_constraint_violation(&error) { StoreError::UserExists } else { error.into() })?;
            if let Some(threepid) = &user.threepid {
                insert_threepid(tx, &localpart, threepid)?;
            }
            if let Some(login) = login {
                insert_login(tx, &localpart, login)?;
            }
            if let Some(completion) = completion {
                tx.prepare_cached("UPDATE uia_sessions SET registered = ?1 WHERE id = ?2")?
                    .execute(params![localpart, completion.session])?;
            }
            Ok(Created { localpart, revoked: Vec::new() })
        })
    }

    fn create_login(&self, localpart: &str, login: &NewLogin) -> StoreResult<Vec<TokenHash>> {
        self.write(|tx| insert_login(tx, localpart, login))
    }

    fn set_password(
        &self,
        localpart: &str,
        password_hash: &str,
        keep_device: Option<&str>,
        revoke_other_devices: bool,
        uia_session: Option<&str>,
    ) -> StoreResult<Vec<TokenHash>> {
        self.write(|tx| {
            consume_uia_session(tx, uia_session)?;
            tx.prepare_cached("UPDATE users SET password_hash = ?1 WHERE localpart = ?2")?
                .execute(params![password_hash, localpart])?;
            if !revoke_other_devices {
                return Ok(Vec::new());
            }
            let revoked = delete_returning_hashes(
                tx,
                "DELETE FROM access_tokens WHERE user_id = ?1 AND device_id IS NOT ?2 RETURNING token_hash",
                params![localpart, keep_device],
            )?;
            tx.prepare_cached("DELETE FROM devices WHERE user_id = ?1 AND device_id IS NOT ?2")?
                .execute(params![localpart, keep_device])?;
            Ok(revoked)
        })
    }

    fn upgrade_password_hash(&self, localpart: &str, old: &str, new: &str) -> StoreResult<bool> {
        self.write(|tx| {
            let changed = tx
                .prepare_cached("UPDATE users SET password_hash = ?1 WHERE localpart = ?2 AND password_hash = ?3")?
                .execute(params![new, localpart, old])?;
            Ok(changed == 1)
        })
    }

    fn access_token(&self, token: &TokenHash) -> StoreResult<Option<AccessTokenRecord>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT a.user_id, a.device_id, u.is_guest, u.deactivated, a.expires_at, a.refresh_token_id, \
                        EXISTS (SELECT 1 FROM refresh_tokens p WHERE p.next_id = a.refresh_token_id) \
                 FROM access_tokens a JOIN users u ON u.localpart = a.user_id \
                 WHERE a.token_hash = ?1",
            )?
            .query_row([&token[..]], |row| {
                Ok(AccessTokenRecord {
                    localpart: row.get(0)?,
                    device_id: row.get(1)?,
                    is_guest: row.get(2)?,
                    deactivated: row.get(3)?,
                    expires_at: row.get(4)?,
                    refresh_token_id: row.get(5)?,
                    predecessor_alive: row.get(6)?,
                })
            })
            .optional()
        })
    }

    fn retire_refresh_predecessor(&self, refresh_token_id: i64) -> StoreResult<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM refresh_tokens WHERE next_id = ?1")?.execute([refresh_token_id])?;
            Ok(())
        })
    }

    fn rotate_refresh_token(&self, refresh: &TokenHash, new: &NewTokens) -> StoreResult<Option<Rotated>> {
        self.write(|tx| {
            let Some((id, localpart, device_id, next_id)) = tx
                .prepare_cached("SELECT id, user_id, device_id, next_id FROM refresh_tokens WHERE token_hash = ?1")?
                .query_row([&refresh[..]], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                    ))
                })
                .optional()?
            else {
                return Ok(None);
            };
            // Using this token proves its pair arrived: the one before it retires.
            tx.prepare_cached("DELETE FROM refresh_tokens WHERE next_id = ?1")?.execute([id])?;
            // A pair minted earlier from this token was never used: it dies.
            let mut revoked = match next_id {
                Some(next) => {
                    let revoked = delete_returning_hashes(
                        tx,
                        "DELETE FROM access_tokens WHERE refresh_token_id = ?1 RETURNING token_hash",
                        [next],
                    )?;
                    tx.prepare_cached("DELETE FROM refresh_tokens WHERE id = ?1")?.execute([next])?;
                    revoked
                }
                None => Vec::new(),
            };
            // Expired access tokens of the device go too: without this, a
            // device refreshing every few minutes would pile them up forever.
            revoked.extend(delete_returning_hashes(
                tx,
                "DELETE FROM access_tokens WHERE user_id = ?1 AND device_id = ?2 AND expires_at <= ?3 \
                 RETURNING token_hash",
                params![localpart, device_id, new.created_at],
            )?);
            let new_id = insert_tokens(tx, &localpart, &device_id, new)?
                .ok_or_else(|| StoreError::backend("a rotation must mint a refresh token"))?;
            tx.prepare_cached("UPDATE refresh_tokens SET next_id = ?1 WHERE id = ?2")?.execute([new_id, id])?;
            Ok(Some(Rotated { revoked }))
        })
    }

    fn delete_device(&self, localpart: &str, device_id: &str) -> StoreResult<Vec<TokenHash>> {
        self.write(|tx| {
            let revoked = delete_returning_hashes(
                tx,
                "DELETE FROM access_tokens WHERE user_id = ?1 AND device_id = ?2 RETURNING token_hash",
                params![localpart, device_id],
            )?;
            tx.prepare_cached("DELETE FROM devices WHERE user_id = ?1 AND device_id = ?2")?
                .execute(params![localpart, device_id])?;
            Ok(revoked)
        })
    }

    fn delete_all_devices(&self, localpart: &str) -> StoreResult<Vec<TokenHash>> {
        self.write(|tx| {
            let revoked = delete_returning_hashes(
                tx,
                "DELETE FROM access_tokens WHERE user_id = ?1 RETURNING token_hash",
                [localpart],
            )?;
            tx.prepare_cached("DELETE FROM devices WHERE user_id = ?1")?.execute([localpart])?;
            Ok(revoked)
        })
    }

    fn devices(&self, localpart: &str) -> StoreResult<Vec<DeviceRecord>> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = ?1 ORDER BY device_id"
            ))?;
            let rows = statement.query_map([localpart], device_from_row)?;
            rows.collect()
        })
    }

    fn device(&self, localpart: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = ?1 AND device_id = ?2"))?
                .query_row([localpart, device_id], device_from_row)
                .optional()
        })
    }

    fn set_device_display_name(
        &self,
        localpart: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> StoreResult<bool> {
        self.write(|tx| {
            let updated = tx
                .prepare_cached("UPDATE devices SET display_name = ?3 WHERE user_id = ?1 AND device_id = ?2")?
                .execute(params![localpart, device_id, display_name])?;
            Ok(updated > 0)
        })
    }

    fn delete_devices(
        &self,
        localpart: &str,
        device_ids: &[String],
        uia_session: Option<&str>,
    ) -> StoreResult<Vec<TokenHash>> {
        self.write(|tx| {
            consume_uia_session(tx, uia_session)?;
            let mut revoked = Vec::new();
            for device_id in device_ids {
                revoked.extend(delete_returning_hashes(
                    tx,
                    "DELETE FROM access_tokens WHERE user_id = ?1 AND device_id = ?2 RETURNING token_hash",
                    params![localpart, device_id],
                )?);
                tx.prepare_cached("DELETE FROM devices WHERE user_id = ?1 AND device_id = ?2")?
                    .execute(params![localpart, device_id])?;
            }
            Ok(revoked)
        })
    }

    fn record_last_seen(&self, seen: &[LastSeen]) -> StoreResult<()> {
        if seen.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let mut statement = tx.prepare_cached(
                "UPDATE devices SET last_seen_ip = ?3, last_seen_ts = ?4 \
                 WHERE user_id = ?1 AND device_id = ?2 AND (last_seen_ts IS NULL OR last_seen_ts <= ?4)",
            )?;
            for use_ in seen {
                statement.execute(params![use_.localpart, use_.device_id, use_.ip, use_.ts])?;
            }
            Ok(())
        })
    }

    /// SQLite's `data_version` on the writer: it moves with every commit
    /// made through another connection. The readers never write, so here
    /// that means another process.
    fn outside_writes(&self) -> StoreResult<i64> {
        let conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(conn.query_row("PRAGMA data_version", [], |row| row.get(0))?)
    }

    fn deactivate_user(&self, localpart: &str, uia_session: Option<&str>) -> StoreResult<Deactivated> {
        self.write(|tx| {
            consume_uia_session(tx, uia_session)?;
            tx.prepare_cached("UPDATE users SET deactivated = 1 WHERE localpart = ?1")?.execute([localpart])?;
            let revoked = delete_returning_hashes(
                tx,
                "DELETE FROM access_tokens WHERE user_id = ?1 RETURNING token_hash",
                [localpart],
            )?;
            tx.prepare_cached("DELETE FROM devices WHERE user_id = ?1")?.execute([localpart])?;
            let threepids = {
                let mut statement = tx.prepare_cached(&format!(
                    "DELETE FROM threepids WHERE user_id = ?1 \
                     RETURNING {THREEPID_COLUMNS}",
                ))?;
                let rows = statement.query_map([localpart], threepid_from_row)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            // Sessions bound to the account can authorise nothing any more.
            tx.prepare_cached("DELETE FROM uia_sessions WHERE user_id = ?1")?.execute([localpart])?;
            Ok(Deactivated { revoked, threepids })
        })
    }

    fn reactivate_user(&self, localpart: &str, password_hash: &str) -> StoreResult<bool> {
        self.write(|tx| {
            let updated = tx
                .prepare_cached(
                    "UPDATE users SET deactivated = 0, password_hash = ?2 WHERE localpart = ?1 AND deactivated = 1",
                )?
                .execute(params![localpart, password_hash])?;
            Ok(updated > 0)
        })
    }

    fn list_users(&self, listing: &UserListing) -> StoreResult<(Vec<UserRecord>, i64)> {
        // Columns come from the enum, never from the request.
        let column = match listing.order_by {
            UserOrder::Name => "localpart",
            UserOrder::Admin => "admin",
            UserOrder::Deactivated => "deactivated",
            UserOrder::IsGuest => "is_guest",
            UserOrder::CreationTs => "created_at",
        };
        let dir = if listing.descending { "DESC" } else { "ASC" };
        let filter = "(?1 IS NULL OR instr(localpart, ?1) > 0) AND (?2 OR is_guest = 0) \
                      AND (?3 OR deactivated = 0) AND (?4 IS NULL OR admin = ?4)";
        self.read(|conn| {
            let total: i64 = conn
                .prepare_cached(&format!("SELECT count(*) FROM users WHERE {filter}"))?
                .query_row(params![listing.name, listing.guests, listing.deactivated, listing.admins], |row| {
                    row.get(0)
                })?;
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users \
                 WHERE {filter} ORDER BY {column} {dir}, localpart {dir} LIMIT ?5 OFFSET ?6"
            ))?;
            let rows = statement.query_map(
                params![listing.name, listing.guests, listing.deactivated, listing.admins, listing.limit, listing.from],
                user_from_row,
            )?;
            Ok((rows.collect::<rusqlite::Result<Vec<_>>>()?, total))
        })
    }

    fn set_admin(&self, localpart: &str, admin: bool) -> StoreResult<bool> {
        self.write(|tx| {
            let updated = tx
                .prepare_cached("UPDATE users SET admin = ?2 WHERE localpart = ?1")?
                .execute(params![localpart, admin])?;
            Ok(updated > 0)
        })
    }

    fn put_uia_session(&self, session: &UiaSessionRecord, now: Millis) -> StoreResult<()> {
        let params_json = serde_json::to_string(&session.params).map_err(StoreError::backend)?;
        let completed_json = serde_json::to_string(&session.completed).map_err(StoreError::backend)?;
        self.write(|tx| {
            // Sessions that expire without registering give back the token
            // use they reserved.
            tx.prepare_cached(
                "UPDATE registration_tokens SET pending = pending - \
                   (SELECT COUNT(*) FROM uia_sessions s WHERE s.registration_token = registration_tokens.token \
                      AND s.expires_at < ?1 AND s.registered IS NULL) \
                 WHERE token IN (SELECT registration_token FROM uia_sessions \
                   WHERE expires_at < ?1 AND registered IS NULL AND registration_token IS NOT NULL)",
            )?
            .execute([now])?;
            tx.prepare_cached("DELETE FROM uia_sessions WHERE expires_at < ?1")?.execute([now])?;
            tx.prepare_cached(
                "INSERT INTO uia_sessions \
                   (id, operation, user_id, params, password_hash, completed, registered, created_at, expires_at, \
                    password_digest) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, params = excluded.params, \
                   password_hash = excluded.password_hash, password_digest = excluded.password_digest, \
                   completed = excluded.completed, registered = COALESCE(excluded.registered, registered)",
            )?
            .execute(params![
                session.id,
                session.operation.as_str(),
                session.user,
                params_json,
                session.password_hash,
                completed_json,
                session.registered,
                session.created_at,
                session.expires_at,
                session.password_digest,
            ])?;
            Ok(())
        })
    }

    fn uia_session(&self, id: &str, now: Millis) -> StoreResult<Option<UiaSessionRecord>> {
        let row = self.read(|conn| {
            conn.prepare_cached(
                "SELECT id, operation, user_id, params, password_hash, completed, registered, created_at, expires_at, \
                        password_digest, registration_token \
                 FROM uia_sessions WHERE id = ?1 AND expires_at >= ?2",
            )?
            .query_row(params![id, now], uia_from_row)
            .optional()
        })?;
        let Some((mut record, operation, params_json, completed_json)) = row else {
            return Ok(None);
        };
        record.operation = UiaOperation::parse(&operation)
            .ok_or_else(|| StoreError::backend(format!("unknown UIA operation {operation:?} in session {id}")))?;
        record.params = serde_json::from_str(&params_json).map_err(StoreError::backend)?;
        record.completed = serde_json::from_str(&completed_json).map_err(StoreError::backend)?;
        Ok(Some(record))
    }

    fn threepids(&self, localpart: &str) -> StoreResult<Vec<ThreepidRecord>> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {THREEPID_COLUMNS} FROM threepids WHERE user_id = ?1 ORDER BY added_at, medium, address"
            ))?;
            let rows = statement.query_map([localpart], threepid_from_row)?;
            rows.collect()
        })
    }

    fn threepid_owner(&self, medium: &str, address: &str) -> StoreResult<Option<String>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT user_id FROM threepids WHERE medium = ?1 AND address = ?2")?
                .query_row([medium, address], |row| row.get(0))
                .optional()
        })
    }

    fn add_threepid(&self, localpart: &str, threepid: &ThreepidRecord, uia_session: Option<&str>) -> StoreResult<()> {
        self.write(|tx| {
            consume_uia_session(tx, uia_session)?;
            let owner: Option<String> = tx
                .prepare_cached("SELECT user_id FROM threepids WHERE medium = ?1 AND address = ?2")?
                .query_row([&threepid.medium, &threepid.address], |row| row.get(0))
                .optional()?;
            match owner {
                Some(owner) if owner == localpart => Ok(()),
                Some(_) => Err(StoreError::ThreepidInUse),
                None => insert_threepid(tx, localpart, threepid),
            }
        })
    }

    fn delete_threepid(&self, localpart: &str, medium: &str, address: &str) -> StoreResult<bool> {
        self.write(|tx| {
            let deleted = tx
                .prepare_cached("DELETE FROM threepids WHERE user_id = ?1 AND medium = ?2 AND address = ?3")?
                .execute([localpart, medium, address])?;
            Ok(deleted > 0)
        })
    }

    fn create_registration_token(&self, token: &RegistrationTokenRecord) -> StoreResult<bool> {
        self.write(|tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO registration_tokens \
                       (token, token_hash, uses_allowed, pending, completed, expiry_time) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    token.token,
                    &registration_token_key(&token.token)[..],
                    token.uses_allowed,
                    token.pending,
                    token.completed,
                    token.expiry_time,
                ])?;
            Ok(inserted > 0)
        })
    }

    fn registration_token(&self, token: &str) -> StoreResult<Option<RegistrationTokenRecord>> {
        let key = registration_token_key(token);
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM registration_tokens WHERE token_hash = ?1"))?
                .query_row([&key[..]], token_from_row)
                .optional()
        })
    }

    fn registration_tokens(&self, valid: Option<bool>, now: Millis) -> StoreResult<Vec<RegistrationTokenRecord>> {
        let filter = match valid {
            None => String::new(),
            Some(true) => format!("WHERE {}", USABLE.replace("?2", "?1")),
            Some(false) => format!("WHERE NOT ({})", USABLE.replace("?2", "?1")),
        };
        self.read(|conn| {
            let mut statement = conn
                .prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM registration_tokens {filter} ORDER BY token"))?;
            if valid.is_some() {
                statement.query_map([now], token_from_row)?.collect()
            } else {
                statement.query_map([], token_from_row)?.collect()
            }
        })
    }

    fn update_registration_token(
        &self,
        token: &str,
        update: &RegistrationTokenUpdate,
    ) -> StoreResult<Option<RegistrationTokenRecord>> {
        self.write(|tx| {
            if let Some(uses_allowed) = update.uses_allowed {
                tx.prepare_cached("UPDATE registration_tokens SET uses_allowed = ?1 WHERE token = ?2")?
                    .execute(params![uses_allowed, token])?;
            }
            if let Some(expiry_time) = update.expiry_time {
                tx.prepare_cached("UPDATE registration_tokens SET expiry_time = ?1 WHERE token = ?2")?
                    .execute(params![expiry_time, token])?;
            }
            Ok(tx
                .prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM registration_tokens WHERE token = ?1"))?
                .query_row([token], token_from_row)
                .optional()?)
        })
    }

    fn delete_registration_token(&self, token: &str) -> StoreResult<bool> {
        self.write(
            |tx| Ok(tx.prepare_cached("DELETE FROM registration_tokens WHERE token = ?1")?.execute([token])? > 0),
        )
    }

    fn claim_registration_token(&self, token: &str, session: &str, now: Millis) -> StoreResult<bool> {
        self.write(|tx| {
            let held: Option<Option<String>> = tx
                .prepare_cached("SELECT registration_token FROM uia_sessions WHERE id = ?1 AND registered IS NULL")?
                .query_row([session], |row| row.get(0))
                .optional()?;
            let Some(held) = held else {
                return Ok(false);
            };
            if held.as_deref() == Some(token) {
                return Ok(true);
            }
            let taken = tx
                .prepare_cached(&format!(
                    "UPDATE registration_tokens SET pending = pending + 1 WHERE token = ?1 AND {USABLE}"
                ))?
                .execute(params![token, now])?;
            if taken == 0 {
                return Ok(false);
            }
            // A session that held another token gives that use back.
            if let Some(previous) = held {
                tx.prepare_cached("UPDATE registration_tokens SET pending = pending - 1 WHERE token = ?1")?
                    .execute([previous])?;
            }
            tx.prepare_cached("UPDATE uia_sessions SET registration_token = ?1 WHERE id = ?2")?
                .execute([token, session])?;
            Ok(true)
        })
    }

    fn email_session_for(
        &self,
        client_secret: &str,
        address: &str,
        purpose: EmailPurpose,
        now: Millis,
    ) -> StoreResult<Option<EmailSessionRecord>> {
        self.email_session_where(
            "client_secret = ?1 AND address = ?2 AND purpose = ?3 AND expires_at > ?4",
            params![client_secret, address, purpose.as_str(), now],
        )
    }

    fn email_session(&self, sid: &str, now: Millis) -> StoreResult<Option<EmailSessionRecord>> {
        self.email_session_where("sid = ?1 AND expires_at > ?2", params![sid, now])
    }

    fn put_email_session(&self, session: &EmailSessionRecord, now: Millis) -> StoreResult<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM email_sessions WHERE expires_at <= ?1")?.execute([now])?;
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO email_sessions ({EMAIL_SESSION_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))?
            .execute(params![
                session.sid,
                session.client_secret,
                session.address,
                session.purpose.as_str(),
                session.send_attempt,
                session.token_hash.as_ref().map(|hash| hash.as_slice()),
                session.failed_attempts,
                session.next_link,
                session.created_at,
                session.expires_at,
                session.validated_at,
            ])?;
            Ok(())
        })
    }

    fn submit_email_token(
        &self,
        sid: &str,
        client_secret: &str,
        token: &TokenHash,
        now: Millis,
        max_failures: i64,
    ) -> StoreResult<TokenSubmission> {
        self.write(|tx| {
            let sql = format!(
                "SELECT {EMAIL_SESSION_COLUMNS} FROM email_sessions \
                 WHERE sid = ?1 AND client_secret = ?2 AND expires_at > ?3"
            );
            let row = tx.prepare_cached(&sql)?.query_row(params![sid, client_secret, now], email_session_from_row);
            let Some(mut session) = email_session_record(row.optional()?)? else {
                return Ok(TokenSubmission::Refused);
            };
            let Some(expected) = session.token_hash else { return Ok(TokenSubmission::Refused) };
            if expected != *token {
                tx.prepare_cached(
                    "UPDATE email_sessions SET failed_attempts = failed_attempts + 1, \
                       token_hash = CASE WHEN failed_attempts + 1 >= ?2 THEN NULL ELSE token_hash END \
                     WHERE sid = ?1",
                )?
                .execute(params![sid, max_failures])?;
                return Ok(TokenSubmission::Refused);
            }
            tx.prepare_cached("UPDATE email_sessions SET token_hash = NULL, validated_at = ?2 WHERE sid = ?1")?
                .execute(params![sid, now])?;
            session.token_hash = None;
            session.validated_at = Some(now);
            Ok(TokenSubmission::Validated(session))
        })
    }

    fn delete_email_session(&self, sid: &str) -> StoreResult<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM email_sessions WHERE sid = ?1")?.execute([sid])?;
            Ok(())
        })
    }

    fn import_users(&self, users: &[ImportedUser]) -> StoreResult<Vec<ImportOutcome>> {
        self.write(|tx| users.iter().map(|user| insert_imported_user(tx, user)).collect())
    }
}

impl SqliteStore {
    fn email_session_where(
        &self,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> StoreResult<Option<EmailSessionRecord>> {
        let sql = format!("SELECT {EMAIL_SESSION_COLUMNS} FROM email_sessions WHERE {condition}");
        let row = self.read(|conn| conn.prepare_cached(&sql)?.query_row(params, email_session_from_row).optional())?;
        email_session_record(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{login, user};

    #[test]
    fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store.create_user(&user(NewLocalpart::Chosen("hank".into())), Some(&login("D", 1, None)), None).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.user("hank").unwrap().is_some());
        assert!(store.access_token(&[1; 32]).unwrap().is_some());
    }
}
