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

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params};

use super::migrations::{self, MigrationError};
use super::{
    AccessTokenRecord, Created, Deactivated, DeviceRecord, EmailPurpose, EmailSessionRecord, ImportOutcome,
    ImportedCounts, ImportedDevice, ImportedUser, LastSeen, Millis, NewLocalpart, NewLogin, NewTokens, NewUser,
    RegistrationCompletion, RegistrationTokenRecord, RegistrationTokenUpdate, Rotated, Store, StoreError, StoreResult,
    ThreepidRecord, TokenHash, TokenSubmission, UiaOperation, UiaSessionRecord, UserListing, UserOrder, UserRecord,
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

const EMAIL_SESSION_COLUMNS: &str = "sid, client_secret, address, purpose, send_attempt, token_hash, \
    failed_attempts, next_link, created_at, expires_at, validated_at";

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

const DEVICE_COLUMNS: &str = "device_id, display_name, last_seen_ip, last_seen_ts";

fn device_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        device_id: row.get(0)?,
        display_name: row.get(1)?,
        last_seen_ip: row.get(2)?,
        last_seen_ts: row.get(3)?,
    })
}

/// A 3pid from `medium, address, validated_at, added_at, id_server`.
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

const TOKEN_COLUMNS: &str = "token, uses_allowed, pending, completed, expiry_time";

fn token_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RegistrationTokenRecord> {
    Ok(RegistrationTokenRecord {
        token: row.get(0)?,
        uses_allowed: row.get(1)?,
        pending: row.get(2)?,
        completed: row.get(3)?,
        expiry_time: row.get(4)?,
    })
}

/// The key registration tokens are looked up by: their SHA-256.
fn registration_token_key(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).into()
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
            conn.prepare_cached(
                "SELECT localpart, password_hash, is_guest, deactivated, admin, created_at \
                 FROM users WHERE localpart = ?1",
            )?
            .query_row([localpart], |row| {
                Ok(UserRecord {
                    localpart: row.get(0)?,
                    password_hash: row.get(1)?,
                    is_guest: row.get(2)?,
                    deactivated: row.get(3)?,
                    admin: row.get(4)?,
                    created_at: row.get(5)?,
                })
            })
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
                let mut statement = tx.prepare_cached(
                    "DELETE FROM threepids WHERE user_id = ?1 \
                     RETURNING medium, address, validated_at, added_at, id_server",
                )?;
                let rows = statement.query_map([localpart], threepid_from_row)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            // Sessions bound to the account can authorise nothing any more.
            tx.prepare_cached("DELETE FROM uia_sessions WHERE user_id = ?1")?.execute([localpart])?;
            Ok(Deactivated { revoked, threepids })
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
                "SELECT localpart, password_hash, is_guest, deactivated, admin, created_at FROM users \
                 WHERE {filter} ORDER BY {column} {dir}, localpart {dir} LIMIT ?5 OFFSET ?6"
            ))?;
            let rows = statement.query_map(
                params![listing.name, listing.guests, listing.deactivated, listing.admins, listing.limit, listing.from],
                |row| {
                    Ok(UserRecord {
                        localpart: row.get(0)?,
                        password_hash: row.get(1)?,
                        is_guest: row.get(2)?,
                        deactivated: row.get(3)?,
                        admin: row.get(4)?,
                        created_at: row.get(5)?,
                    })
                },
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
            let mut statement = conn.prepare_cached(
                "SELECT medium, address, validated_at, added_at, id_server FROM threepids \
                 WHERE user_id = ?1 ORDER BY added_at, medium, address",
            )?;
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
    use serde_json::json;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("test.db")).unwrap();
        (dir, store)
    }

    fn user(localpart: NewLocalpart) -> NewUser {
        NewUser {
            threepid: None,
            localpart,
            password_hash: Some("$argon2id$…".into()),
            is_guest: false,
            admin: false,
            created_at: 1,
            registration_token: None,
        }
    }

    fn tokens(access: u8, refresh: Option<u8>) -> NewTokens {
        NewTokens { access: [access; 32], refresh: refresh.map(|r| [r; 32]), expires_at: None, created_at: 1 }
    }

    fn login(device: &str, access: u8, refresh: Option<u8>) -> NewLogin {
        NewLogin { device_id: device.into(), display_name: None, tokens: tokens(access, refresh) }
    }

    #[test]
    fn a_localpart_is_taken_once() {
        let (_dir, store) = store();
        let created = store.create_user(&user(NewLocalpart::Chosen("alice".into())), None, None).unwrap();
        assert_eq!(created, Created { localpart: "alice".into(), revoked: Vec::new() });
        let again = store.create_user(&user(NewLocalpart::Chosen("alice".into())), Some(&login("D", 1, None)), None);
        assert!(matches!(again, Err(StoreError::UserExists)));
        // Nothing of the failed attempt was written.
        assert_eq!(store.access_token(&[1; 32]).unwrap(), None);
    }

    #[test]
    fn generated_localparts_count_up_and_skip_taken_ones() {
        let (_dir, store) = store();
        store.create_user(&user(NewLocalpart::Chosen("2".into())), None, None).unwrap();
        let first = store.create_user(&user(NewLocalpart::Generated), None, None).unwrap();
        let second = store.create_user(&user(NewLocalpart::Generated), None, None).unwrap();
        assert_eq!((first.localpart.as_str(), second.localpart.as_str()), ("1", "3"));
    }

    #[test]
    fn logging_in_again_on_a_device_replaces_its_tokens() {
        let (_dir, store) = store();
        store.create_user(&user(NewLocalpart::Chosen("bob".into())), Some(&login("D", 1, None)), None).unwrap();
        let revoked = store.create_login("bob", &login("D", 2, None)).unwrap();
        assert_eq!(revoked, vec![[1; 32]]);
        assert_eq!(store.access_token(&[1; 32]).unwrap(), None);
        let record = store.access_token(&[2; 32]).unwrap().unwrap();
        assert_eq!((record.localpart.as_str(), record.device_id.as_str()), ("bob", "D"));
    }

    #[test]
    fn rotation_keeps_the_old_refresh_token_until_the_new_pair_is_used() {
        let (_dir, store) = store();
        store.create_user(&user(NewLocalpart::Chosen("carol".into())), Some(&login("D", 1, Some(11))), None).unwrap();
        // R1 → (A2, R2).
        let rotated = store.rotate_refresh_token(&[11; 32], &tokens(2, Some(12))).unwrap().unwrap();
        assert!(rotated.revoked.is_empty());
        assert!(store.access_token(&[2; 32]).unwrap().unwrap().predecessor_alive);
        // R1 again before A2/R2 were used → (A3, R3); A2 and R2 die.
        let rotated = store.rotate_refresh_token(&[11; 32], &tokens(3, Some(13))).unwrap().unwrap();
        assert_eq!(rotated.revoked, vec![[2; 32]]);
        assert_eq!(store.rotate_refresh_token(&[12; 32], &tokens(9, Some(19))).unwrap(), None);
        // First use of A3 retires R1; A1 lives on.
        let a3 = store.access_token(&[3; 32]).unwrap().unwrap();
        store.retire_refresh_predecessor(a3.refresh_token_id.unwrap()).unwrap();
        assert!(!store.access_token(&[3; 32]).unwrap().unwrap().predecessor_alive);
        assert_eq!(store.rotate_refresh_token(&[11; 32], &tokens(9, Some(19))).unwrap(), None);
        assert!(store.access_token(&[1; 32]).unwrap().is_some());
        // R3 → (A4, R4) → R3 retires when R4 is rotated.
        store.rotate_refresh_token(&[13; 32], &tokens(4, Some(14))).unwrap().unwrap();
        store.rotate_refresh_token(&[14; 32], &tokens(5, Some(15))).unwrap().unwrap();
        assert_eq!(store.rotate_refresh_token(&[13; 32], &tokens(9, Some(19))).unwrap(), None);
    }

    #[test]
    fn rotation_sweeps_the_devices_expired_access_tokens() {
        let (_dir, store) = store();
        let expiring = NewTokens { expires_at: Some(100), ..tokens(1, Some(11)) };
        let login = NewLogin { device_id: "D".into(), display_name: None, tokens: expiring };
        store.create_user(&user(NewLocalpart::Chosen("ida".into())), Some(&login), None).unwrap();
        let later = NewTokens { created_at: 200, expires_at: Some(500), ..tokens(2, Some(12)) };
        let rotated = store.rotate_refresh_token(&[11; 32], &later).unwrap().unwrap();
        assert_eq!(rotated.revoked, vec![[1; 32]]);
        assert_eq!(store.access_token(&[1; 32]).unwrap(), None);
        assert!(store.access_token(&[2; 32]).unwrap().is_some());
    }

    #[test]
    fn password_change_keeps_only_the_callers_device() {
        let (_dir, store) = store();
        store.create_user(&user(NewLocalpart::Chosen("erin".into())), Some(&login("D1", 1, Some(11))), None).unwrap();
        store.create_login("erin", &login("D2", 2, None)).unwrap();
        let revoked = store.set_password("erin", "new", Some("D1"), true, None).unwrap();
        assert_eq!(revoked, vec![[2; 32]]);
        assert!(store.access_token(&[1; 32]).unwrap().is_some());
        assert_eq!(store.user("erin").unwrap().unwrap().password_hash.as_deref(), Some("new"));
        let revoked = store.delete_all_devices("erin").unwrap();
        assert_eq!(revoked, vec![[1; 32]]);
    }

    #[test]
    fn a_threepid_belongs_to_one_account() {
        let (_dir, store) = store();
        for name in ["frank", "gina"] {
            store.create_user(&user(NewLocalpart::Chosen(name.into())), None, None).unwrap();
        }
        let threepid = ThreepidRecord {
            medium: "email".into(),
            address: "f@example.org".into(),
            validated_at: 5,
            added_at: 6,
            id_server: None,
        };
        store.add_threepid("frank", &threepid, None).unwrap();
        store.add_threepid("frank", &threepid, None).unwrap();
        assert!(matches!(store.add_threepid("gina", &threepid, None), Err(StoreError::ThreepidInUse)));
        assert_eq!(store.threepids("frank").unwrap(), vec![threepid]);
        assert_eq!(store.threepid_owner("email", "f@example.org").unwrap().as_deref(), Some("frank"));
        assert!(!store.delete_threepid("gina", "email", "f@example.org").unwrap());
        assert!(store.delete_threepid("frank", "email", "f@example.org").unwrap());
        assert!(store.threepids("frank").unwrap().is_empty());
    }

    fn email_session(sid: &str, token: u8, expires_at: Millis) -> EmailSessionRecord {
        EmailSessionRecord {
            sid: sid.into(),
            client_secret: "secret".into(),
            address: format!("{sid}@example.org"),
            purpose: EmailPurpose::Register,
            send_attempt: 1,
            token_hash: Some([token; 32]),
            failed_attempts: 0,
            next_link: None,
            created_at: 1,
            expires_at,
            validated_at: None,
        }
    }

    #[test]
    fn an_email_token_is_single_use_and_wrong_ones_void_it() {
        let (_dir, store) = store();
        store.put_email_session(&email_session("s1", 1, 100), 10).unwrap();
        let found = store.email_session_for("secret", "s1@example.org", EmailPurpose::Register, 10).unwrap();
        assert_eq!(found.map(|s| s.sid).as_deref(), Some("s1"));
        assert_eq!(store.email_session_for("secret", "s1@example.org", EmailPurpose::AddThreepid, 10).unwrap(), None);
        assert_eq!(store.submit_email_token("s1", "other", &[1; 32], 10, 3).unwrap(), TokenSubmission::Refused);
        let TokenSubmission::Validated(session) = store.submit_email_token("s1", "secret", &[1; 32], 11, 3).unwrap()
        else {
            panic!("the right token")
        };
        assert_eq!((session.validated_at, session.token_hash), (Some(11), None));
        assert_eq!(store.submit_email_token("s1", "secret", &[1; 32], 12, 3).unwrap(), TokenSubmission::Refused);
        assert_eq!(store.email_session("s1", 12).unwrap().unwrap().validated_at, Some(11));

        store.put_email_session(&email_session("s2", 2, 100), 10).unwrap();
        for _ in 0..3 {
            assert_eq!(store.submit_email_token("s2", "secret", &[9; 32], 10, 3).unwrap(), TokenSubmission::Refused);
        }
        assert_eq!(store.submit_email_token("s2", "secret", &[2; 32], 10, 3).unwrap(), TokenSubmission::Refused);
        // Expired: gone for reads, swept by the next write.
        assert_eq!(store.email_session("s2", 100).unwrap(), None);
        store.put_email_session(&email_session("s3", 3, 500), 200).unwrap();
        assert_eq!(store.email_session("s1", 0).unwrap(), None, "expired sessions are swept");
        store.delete_email_session("s3").unwrap();
        assert_eq!(store.email_session("s3", 0).unwrap(), None);
    }

    #[test]
    fn uia_sessions_round_trip_and_expire() {
        let (_dir, store) = store();
        let session = UiaSessionRecord {
            id: "abc".into(),
            operation: UiaOperation::ChangePassword,
            user: Some("erin".into()),
            params: json!({"logout_devices": false}),
            password_hash: Some("hash".into()),
            password_digest: Some(vec![7; 32]),
            completed: vec!["m.login.password".into()],
            registered: None,
            registration_token: None,
            created_at: 10,
            expires_at: 20,
        };
        store.put_uia_session(&session, 10).unwrap();
        assert_eq!(store.uia_session("abc", 15).unwrap(), Some(session.clone()));
        assert_eq!(store.uia_session("abc", 21).unwrap(), None);
        // Storing another session later sweeps the expired one.
        store.put_uia_session(&UiaSessionRecord { id: "def".into(), expires_at: 100, ..session }, 50).unwrap();
        assert_eq!(store.uia_session("abc", 0).unwrap(), None);
    }

    fn session(id: &str, operation: UiaOperation) -> UiaSessionRecord {
        UiaSessionRecord {
            id: id.into(),
            operation,
            user: None,
            params: json!({}),
            password_hash: None,
            password_digest: None,
            completed: vec!["m.login.dummy".into()],
            registered: None,
            registration_token: None,
            created_at: 1,
            expires_at: i64::MAX,
        }
    }

    fn completion(session: &str) -> RegistrationCompletion {
        RegistrationCompletion { session: session.into(), password_digest: Some(vec![9; 32]), retry_until: 500 }
    }

    #[test]
    fn a_uia_session_registers_one_account() {
        let (_dir, store) = store();
        let mut record = session("reg", UiaOperation::Register);
        record.password_hash = Some("hash".into());
        store.put_uia_session(&record, 1).unwrap();
        let first = store
            .create_user(&user(NewLocalpart::Generated), Some(&login("D1", 1, None)), Some(&completion("reg")))
            .unwrap();
        assert_eq!(first, Created { localpart: "1".into(), revoked: Vec::new() });
        let completed = store.uia_session("reg", 0).unwrap().unwrap();
        assert_eq!(completed.registered.as_deref(), Some("1"));
        assert_eq!((completed.password_hash, completed.password_digest), (None, Some(vec![9; 32])));
        assert_eq!(completed.expires_at, 500);
        // A second completion of the same session writes nothing.
        let second =
            store.create_user(&user(NewLocalpart::Generated), Some(&login("D2", 2, None)), Some(&completion("reg")));
        assert!(matches!(second, Err(StoreError::UnknownUiaSession(id)) if id == "reg"));
        assert_eq!(store.user("2").unwrap(), None);
        assert_eq!(store.access_token(&[2; 32]).unwrap(), None);
        // Nor does a completion of a session that is gone.
        let gone = store.create_user(&user(NewLocalpart::Chosen("bob".into())), None, Some(&completion("nope")));
        assert!(matches!(gone, Err(StoreError::UnknownUiaSession(_))));
        assert_eq!(store.user("bob").unwrap(), None);
    }

    #[test]
    fn a_password_change_or_3pid_add_uses_its_uia_session_up() {
        let (_dir, store) = store();
        store.create_user(&user(NewLocalpart::Chosen("jo".into())), Some(&login("D1", 1, None)), None).unwrap();
        store.create_login("jo", &login("D2", 2, None)).unwrap();
        store.put_uia_session(&session("pw", UiaOperation::ChangePassword), 1).unwrap();
        assert_eq!(store.set_password("jo", "new", Some("D1"), true, Some("pw")).unwrap(), vec![[2; 32]]);
        assert_eq!(store.uia_session("pw", 0).unwrap(), None);
        // Used up: a replay changes nothing.
        let replay = store.set_password("jo", "newer", None, true, Some("pw"));
        assert!(matches!(replay, Err(StoreError::UnknownUiaSession(id)) if id == "pw"));
        let jo = store.user("jo").unwrap().unwrap();
        assert_eq!(jo.password_hash.as_deref(), Some("new"));
        assert!(store.access_token(&[1; 32]).unwrap().is_some());

        let threepid = ThreepidRecord {
            medium: "email".into(),
            address: "jo@example.org".into(),
            validated_at: 5,
            added_at: 6,
            id_server: None,
        };
        store.put_uia_session(&session("3pid", UiaOperation::AddThreepid), 1).unwrap();
        store.add_threepid("jo", &threepid, Some("3pid")).unwrap();
        assert_eq!(store.uia_session("3pid", 0).unwrap(), None);
        let other = ThreepidRecord { address: "other@example.org".into(), ..threepid };
        let replay = store.add_threepid("jo", &other, Some("3pid"));
        assert!(matches!(replay, Err(StoreError::UnknownUiaSession(_))));
        assert_eq!(store.threepids("jo").unwrap().len(), 1);
    }

    #[test]
    fn registration_tokens_count_their_uses() {
        let (_dir, store) = store();
        assert!(store.create_registration_token(&RegistrationTokenRecord::new("once", Some(1), None)).unwrap());
        assert!(!store.create_registration_token(&RegistrationTokenRecord::new("once", None, None)).unwrap());
        store.create_registration_token(&RegistrationTokenRecord::new("old", None, Some(10))).unwrap();
        store.create_registration_token(&RegistrationTokenRecord::new("free", None, None)).unwrap();
        let names = |tokens: Vec<RegistrationTokenRecord>| tokens.into_iter().map(|t| t.token).collect::<Vec<_>>();
        assert_eq!(names(store.registration_tokens(None, 20).unwrap()), ["free", "old", "once"]);
        assert_eq!(names(store.registration_tokens(Some(true), 20).unwrap()), ["free", "once"]);
        assert_eq!(names(store.registration_tokens(Some(false), 20).unwrap()), ["old"]);

        // A session reserves the one use; another session cannot, nor can a
        // registration without a session.
        store.put_uia_session(&session("s1", UiaOperation::Register), 1).unwrap();
        store.put_uia_session(&session("s2", UiaOperation::Register), 1).unwrap();
        assert!(store.claim_registration_token("once", "s1", 20).unwrap());
        assert!(store.claim_registration_token("once", "s1", 20).unwrap(), "a session keeps what it holds");
        assert!(!store.claim_registration_token("once", "s2", 20).unwrap());
        let one_shot = NewUser { registration_token: Some("once".into()), ..user(NewLocalpart::Chosen("x".into())) };
        assert!(matches!(store.create_user(&one_shot, None, None), Err(StoreError::RegistrationTokenUnusable)));
        assert_eq!(store.user("x").unwrap(), None);
        assert_eq!(store.registration_token("once").unwrap().unwrap().pending, 1);
        assert_eq!(names(store.registration_tokens(Some(false), 20).unwrap()), ["old", "once"]);

        // The session registers: pending becomes completed.
        store.create_user(&user(NewLocalpart::Chosen("y".into())), None, Some(&completion("s1"))).unwrap();
        let once = store.registration_token("once").unwrap().unwrap();
        assert_eq!((once.pending, once.completed), (0, 1));

        // Raising the limit frees a use; a session that expires gives its back.
        let raised = RegistrationTokenUpdate { uses_allowed: Some(Some(2)), expiry_time: None };
        assert_eq!(store.update_registration_token("once", &raised).unwrap().unwrap().uses_allowed, Some(2));
        let mut short = session("s3", UiaOperation::Register);
        short.expires_at = 30;
        store.put_uia_session(&short, 1).unwrap();
        assert!(store.claim_registration_token("once", "s3", 20).unwrap());
        assert!(!store.claim_registration_token("once", "s2", 20).unwrap());
        store.put_uia_session(&session("s4", UiaOperation::Register), 40).unwrap();
        assert_eq!(store.registration_token("once").unwrap().unwrap().pending, 0);
        assert!(store.claim_registration_token("once", "s2", 50).unwrap());

        // Unlimited, never expiring: by `Some(None)`.
        let cleared = RegistrationTokenUpdate { uses_allowed: None, expiry_time: Some(None) };
        assert_eq!(store.update_registration_token("old", &cleared).unwrap().unwrap().expiry_time, None);
        assert_eq!(store.update_registration_token("nope", &cleared).unwrap(), None);
        assert!(store.delete_registration_token("old").unwrap());
        assert!(!store.delete_registration_token("old").unwrap());
        assert_eq!(store.registration_token("old").unwrap(), None);
    }

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

    fn imported(localpart: &str, email: &str, token: u8) -> ImportedUser {
        ImportedUser {
            localpart: localpart.into(),
            password_hash: Some("$2b$04$…".into()),
            is_guest: false,
            deactivated: false,
            admin: true,
            user_type: Some("bot".into()),
            created_at: 5,
            threepids: vec![ThreepidRecord {
                medium: "email".into(),
                address: email.into(),
                validated_at: 6,
                added_at: 7,
                id_server: None,
            }],
            devices: vec![ImportedDevice {
                device_id: "PHONE".into(),
                display_name: Some("Phone".into()),
                created_at: 8,
                refresh_tokens: vec![super::super::ImportedRefreshToken { source_id: 40, token: [token + 1; 32] }],
                access_tokens: vec![super::super::ImportedAccessToken {
                    token: [token; 32],
                    expires_at: Some(9),
                    refresh_source_id: Some(40),
                }],
            }],
        }
    }

    #[test]
    fn an_import_writes_each_user_once_and_never_overwrites() {
        let (_dir, store) = store();
        // A local account of the same name, made before the import.
        store.create_user(&user(NewLocalpart::Chosen("bob".into())), None, None).unwrap();
        let users = [imported("alice", "a@example.org", 1), imported("bob", "b@example.org", 3)];
        let outcomes = store.import_users(&users).unwrap();
        let counts =
            ImportedCounts { threepids: 1, devices: 1, access_tokens: 1, refresh_tokens: 1, ..Default::default() };
        assert_eq!(outcomes, [ImportOutcome::Imported(counts), ImportOutcome::AlreadyPresent]);
        assert_eq!(store.user("bob").unwrap().unwrap().password_hash.as_deref(), Some("$argon2id$…"));
        assert_eq!(store.threepid_owner("email", "b@example.org").unwrap(), None);

        // The access token works, linked to its refresh token, which rotates.
        let token = store.access_token(&[1; 32]).unwrap().unwrap();
        assert_eq!((token.localpart.as_str(), token.device_id.as_str(), token.expires_at), ("alice", "PHONE", Some(9)));
        assert!(token.refresh_token_id.is_some());
        assert!(store.rotate_refresh_token(&[2; 32], &tokens(20, Some(21))).unwrap().is_some());

        // A second run: nothing new.
        let again = store.import_users(&users).unwrap();
        assert_eq!(again, [ImportOutcome::AlreadyPresent, ImportOutcome::AlreadyPresent]);
    }

    #[test]
    fn an_imported_3pid_or_token_held_here_is_left_out() {
        let (_dir, store) = store();
        store.import_users(&[imported("alice", "shared@example.org", 1)]).unwrap();
        let outcomes = store.import_users(&[imported("carol", "shared@example.org", 1)]).unwrap();
        let counts = ImportedCounts { devices: 1, threepids_in_use: 1, tokens_in_use: 2, ..Default::default() };
        assert_eq!(outcomes, [ImportOutcome::Imported(counts)]);
        assert_eq!(store.threepid_owner("email", "shared@example.org").unwrap().as_deref(), Some("alice"));
    }
}
