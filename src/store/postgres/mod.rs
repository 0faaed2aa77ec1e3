//! The PostgreSQL implementation of [`Store`], for several instances of
//! the server on one database.
//!
//! Driver and pool: `tokio-postgres` with `deadpool-postgres`. sqlx was the
//! other candidate; it would bring a second SQL layer (its own pool, type
//! mapping and migration runner) beside rusqlite for no gain here, where
//! every statement is written by hand per engine anyway. tokio-postgres
//! gives `LISTEN/NOTIFY` as a plain stream of messages on a connection
//! (see [`changes`]), and deadpool-postgres adds a pool with timeouts and a
//! statement cache per connection, nothing more.
//!
//! The store owns a small tokio runtime (one worker) that drives the
//! connections and the listener. The [`Store`] trait is synchronous and
//! called from blocking threads, so each call runs its future to the end on
//! the calling thread, inside that runtime's context (for the pool's
//! timers); it works the same from the server and from the command line.
//!
//! Transactions: every write runs at `SERIALIZABLE`, PostgreSQL's
//! equivalent of the SQLite store's one-writer-at-a-time, so that each
//! method keeps exactly the guarantees the trait documents (one account per
//! username, one use per registration-token slot, one successor per refresh
//! token) however instances interleave. A transaction that loses a conflict
//! (`40001`, `40P01`) runs again from the start, a few times. Reads run
//! outside transactions: each is one statement.
//!
//! Faults: when the database cannot be reached, a call fails within
//! [`POOL_TIMEOUT`] with [`StoreError::Unavailable`] (a 503 to the client);
//! broken connections are dropped from the pool, so the store recovers by
//! itself when the database returns.

mod changes;
mod migrations;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{IsolationLevel, NoTls, Row};

use self::changes::{CHANNEL, Changes};
use super::columns::{DEVICE_COLUMNS, EMAIL_SESSION_COLUMNS, THREEPID_COLUMNS, TOKEN_COLUMNS, USER_COLUMNS};
use super::{
    AccessTokenRecord, Created, Deactivated, DeviceRecord, EmailPurpose, EmailSessionRecord, ImportOutcome,
    ImportedCounts, ImportedDevice, ImportedUser, LastSeen, Millis, NewLocalpart, NewLogin, NewTokens, NewUser,
    RegistrationCompletion, RegistrationTokenRecord, RegistrationTokenUpdate, Rotated, Store, StoreError, StoreResult,
    ThreepidRecord, TokenHash, TokenSubmission, UiaOperation, UiaSessionRecord, UserListing, UserOrder, UserRecord,
    registration_token_key,
};

/// How long a call waits for a connection (or to open one) before it
/// answers [`StoreError::Unavailable`].
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per instance. Requests hash passwords far longer than they
/// hold a connection, so a few serve many.
const POOL_SIZE: usize = 16;

/// How often a transaction that lost a serialization conflict is tried.
/// Conflicts need writers of the same rows at the same moment (one
/// username, one registration token, the generated-name counter); with `n`
/// of them, the last one through has lost `n - 1` times.
const ATTEMPTS: u32 = 40;

type Params<'a> = [&'a (dyn ToSql + Sync)];

pub struct PostgresStore {
    pool: Pool,
    changes: Arc<Changes>,
    /// This store's name in the notifications it sends.
    instance: String,
    /// Drives the connections and the listener; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if connection_lost(&error) { StoreError::unavailable(error) } else { StoreError::backend(error) }
    }
}

/// Whether `error` says the database went away (a closed or failed
/// connection, a server shutting down or starting up) rather than that a
/// statement was wrong.
fn connection_lost(error: &tokio_postgres::Error) -> bool {
    let io = std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>());
    let shutting_down = error.code().is_some_and(|code| {
        code.code().starts_with("08")
            || [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW].contains(code)
    });
    error.is_closed() || io || shutting_down
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => StoreError::unavailable(other),
        }
    }
}

/// Whether a failed transaction may simply run again.
fn is_conflict(error: &StoreError) -> bool {
    let StoreError::Backend(cause) = error else { return false };
    cause.downcast_ref::<tokio_postgres::Error>().and_then(|e| e.code()).is_some_and(|code| {
        *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
    })
}

fn is_unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`),
    /// migrates the schema and starts listening for other instances' writes.
    pub fn open(url: &str) -> StoreResult<Self> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(StoreError::backend)?;
        config.connect_timeout(POOL_TIMEOUT).application_name("matrix-accounts");
        if config.get_keepalives_idle() > Duration::from_secs(60) {
            config.keepalives_idle(Duration::from_secs(60));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("postgres")
            .enable_all()
            .build()
            .map_err(StoreError::backend)?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(StoreError::backend)?;
        let changes = Arc::new(Changes::default());
        let instance = super::random_hex(8);
        runtime.spawn(changes::listen(config, instance.clone(), Arc::clone(&changes)));
        let store = PostgresStore { pool, changes, instance, runtime: Some(runtime) };
        store.run(async {
            let mut client = store.pool.get().await?;
            migrations::migrate(&mut client).await
        })?;
        Ok(store)
    }

    /// Runs `work` to its end on this thread, in the store's runtime.
    fn run<T>(&self, work: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        let runtime = self.runtime.as_ref().expect("the runtime lives as long as the store");
        let _context = runtime.enter();
        futures_executor::block_on(work)
    }

    /// Runs `body` in a `SERIALIZABLE` transaction and commits it, running
    /// it again if it lost a conflict with a concurrent one.
    fn write<T>(&self, mut body: impl AsyncFnMut(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let mut attempt = 0;
            loop {
                let tx = client.build_transaction().isolation_level(IsolationLevel::Serializable).start().await?;
                attempt += 1;
                let outcome = match body(&tx).await {
                    Ok(value) => tx.commit().await.map(|()| value).map_err(StoreError::from),
                    Err(error) => Err(error),
                };
                match outcome {
                    Err(error) if attempt < ATTEMPTS && is_conflict(&error) => {
                        // Spread the retries of the transactions that collided.
                        let spread = u64::from(attempt.min(10)) * 4;
                        let pause = 1 + u64::from(super::random_u32()) % spread;
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                    outcome => return outcome,
                }
            }
        })
    }

    /// Runs one read on a pooled connection.
    fn read<T>(&self, body: impl AsyncFnOnce(&deadpool_postgres::Client) -> StoreResult<T>) -> StoreResult<T> {
        self.run(async {
            let client = self.pool.get().await?;
            body(&client).await
        })
    }

    /// Tells the other instances, when `tx` commits, to drop their caches.
    async fn notify(&self, tx: &Transaction<'_>) -> StoreResult<()> {
        execute(tx, "SELECT pg_notify($1, $2)", &[&CHANNEL, &self.instance]).await.map(drop)
    }

    /// The row counts of every table, for `migrate`'s check.
    pub fn table_counts(&self) -> StoreResult<Vec<(&'static str, i64)>> {
        self.read(async |client| {
            let mut counts = Vec::new();
            for table in super::TABLES {
                let row = client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await?;
                counts.push((*table, row.try_get(0)?));
            }
            Ok(counts)
        })
    }
}

impl PostgresStore {
    /// Replaces the contents of every table by `tables` (from
    /// [`super::transfer`]), in one transaction. Unless `replace`, a target
    /// holding any row (besides the counters every new database has) is
    /// left alone: `Ok(Err(table))` names the first such table.
    pub(super) fn load(
        &self,
        tables: &[TableRows],
        replace: bool,
    ) -> StoreResult<Result<(), &'static str>> {
        self.write(async |tx| {
            if !replace {
                for table in super::TABLES.iter().filter(|table| **table != "counters") {
                    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table})");
                    if query_opt(tx, &sql, &[]).await?.is_some_and(|row| row.get::<_, bool>(0)) {
                        return Ok(Err(*table));
                    }
                }
            }
            tx.batch_execute(&format!("TRUNCATE {} RESTART IDENTITY CASCADE", super::TABLES.join(", "))).await?;
            for (table, columns, rows) in tables {
                let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
                let sql =
                    format!("INSERT INTO {table} ({}) VALUES ({})", columns.join(", "), placeholders.join(", "));
                let statement = tx.prepare(&sql).await?;
                for row in rows {
                    let values = row
                        .iter()
                        .zip(statement.params())
                        .zip(columns)
                        .map(|((value, to), column)| convert(value, to, column))
                        .collect::<StoreResult<Vec<_>>>()?;
                    let params: Vec<&(dyn ToSql + Sync)> =
                        values.iter().map(|value| &**value as &(dyn ToSql + Sync)).collect();
                    tx.execute(&statement, &params).await?;
                }
            }
            // New refresh tokens continue after the copied IDs.
            tx.batch_execute(
                "SELECT setval(pg_get_serial_sequence('refresh_tokens', 'id'),                    COALESCE((SELECT max(id) FROM refresh_tokens), 0) + 1, false)",
            )
            .await?;
            self.notify(tx).await?;
            Ok(Ok(()))
        })
    }
}

/// A table's name, columns and rows, as SQLite holds them (what
/// [`PostgresStore::load`] copies in).
pub(super) type TableRows = (&'static str, Vec<String>, Vec<Vec<rusqlite::types::Value>>);

/// A SQLite value as a parameter for a PostgreSQL column of type `to`.
fn convert(
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

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which may not happen on
        // an async thread; the listener never ends by itself.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn execute(client: &impl GenericClient, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, params).await?)
}

async fn query(client: &impl GenericClient, sql: &str, params: &Params<'_>) -> StoreResult<Vec<Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

async fn query_opt(client: &impl GenericClient, sql: &str, params: &Params<'_>) -> StoreResult<Option<Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_opt(&statement, params).await?)
}

fn token_hash(bytes: Vec<u8>) -> StoreResult<TokenHash> {
    let len = bytes.len();
    bytes.try_into().map_err(|_| StoreError::backend(format!("token hash of {len} bytes")))
}

/// Runs a `DELETE … RETURNING token_hash` and collects the hashes.
async fn delete_returning_hashes(tx: &Transaction<'_>, sql: &str, params: &Params<'_>) -> StoreResult<Vec<TokenHash>> {
    query(tx, sql, params).await?.into_iter().map(|row| token_hash(row.try_get(0)?)).collect()
}

async fn user_exists(tx: &Transaction<'_>, localpart: &str) -> StoreResult<bool> {
    Ok(query_opt(tx, "SELECT 1 FROM users WHERE localpart = $1", &[&localpart]).await?.is_some())
}

fn user_from_row(row: &Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        localpart: row.try_get(0)?,
        password_hash: row.try_get(1)?,
        is_guest: row.try_get(2)?,
        deactivated: row.try_get(3)?,
        admin: row.try_get(4)?,
        created_at: row.try_get(5)?,
    })
}

/// Attaches a 3pid no account has yet; taken meanwhile: `ThreepidInUse`.
async fn insert_threepid(tx: &Transaction<'_>, localpart: &str, threepid: &ThreepidRecord) -> StoreResult<()> {
    let inserted = execute(
        tx,
        "INSERT INTO threepids (medium, address, user_id, validated_at, added_at, id_server) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (medium, address) DO NOTHING",
        &[
            &threepid.medium,
            &threepid.address,
            &localpart,
            &threepid.validated_at,
            &threepid.added_at,
            &threepid.id_server,
        ],
    )
    .await?;
    if inserted == 0 {
        return Err(StoreError::ThreepidInUse);
    }
    Ok(())
}

/// Inserts an access token and its refresh token; returns the refresh
/// token's id.
async fn insert_tokens(
    tx: &Transaction<'_>,
    localpart: &str,
    device_id: &str,
    tokens: &NewTokens,
) -> StoreResult<Option<i64>> {
    let refresh_id = match &tokens.refresh {
        Some(refresh) => {
            let row = query_opt(
                tx,
                "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_at) VALUES ($1, $2, $3, $4) \
                 RETURNING id",
                &[&&refresh[..], &localpart, &device_id, &tokens.created_at],
            )
            .await?
            .ok_or_else(|| StoreError::backend("INSERT … RETURNING gave no row"))?;
            Some(row.try_get::<_, i64>(0)?)
        }
        None => None,
    };
    execute(
        tx,
        "INSERT INTO access_tokens (token_hash, user_id, device_id, refresh_token_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&&tokens.access[..], &localpart, &device_id, &refresh_id, &tokens.expires_at, &tokens.created_at],
    )
    .await?;
    Ok(refresh_id)
}

/// Creates the device, or empties an existing one of its tokens, then
/// issues the new tokens. Returns the revoked access tokens.
async fn insert_login(tx: &Transaction<'_>, localpart: &str, login: &NewLogin) -> StoreResult<Vec<TokenHash>> {
    let created = execute(
        tx,
        "INSERT INTO devices (user_id, device_id, display_name, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, device_id) DO NOTHING",
        &[&localpart, &login.device_id, &login.display_name, &login.tokens.created_at],
    )
    .await?;
    let revoked = if created == 0 {
        let revoked = delete_returning_hashes(
            tx,
            "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2 RETURNING token_hash",
            &[&localpart, &login.device_id],
        )
        .await?;
        execute(tx, "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2", &[&localpart, &login.device_id])
            .await?;
        revoked
    } else {
        Vec::new()
    };
    insert_tokens(tx, localpart, &login.device_id, &login.tokens).await?;
    Ok(revoked)
}

fn device_from_row(row: &Row) -> StoreResult<DeviceRecord> {
    Ok(DeviceRecord {
        device_id: row.try_get(0)?,
        display_name: row.try_get(1)?,
        last_seen_ip: row.try_get(2)?,
        last_seen_ts: row.try_get(3)?,
    })
}

fn threepid_from_row(row: &Row) -> StoreResult<ThreepidRecord> {
    Ok(ThreepidRecord {
        medium: row.try_get(0)?,
        address: row.try_get(1)?,
        validated_at: row.try_get(2)?,
        added_at: row.try_get(3)?,
        id_server: row.try_get(4)?,
    })
}

/// The condition under which a registration token (in a statement whose
/// `$2` is now) can be used.
const USABLE: &str = "(expiry_time IS NULL OR expiry_time > $2) \
     AND (uses_allowed IS NULL OR pending + completed < uses_allowed)";

fn token_from_row(row: &Row) -> StoreResult<RegistrationTokenRecord> {
    Ok(RegistrationTokenRecord {
        token: row.try_get(0)?,
        uses_allowed: row.try_get(1)?,
        pending: row.try_get(2)?,
        completed: row.try_get(3)?,
        expiry_time: row.try_get(4)?,
    })
}

fn email_session_from_row(row: &Row) -> StoreResult<EmailSessionRecord> {
    let sid: String = row.try_get(0)?;
    let purpose: String = row.try_get(3)?;
    let purpose = EmailPurpose::parse(&purpose)
        .ok_or_else(|| StoreError::backend(format!("unknown e-mail purpose {purpose:?} in session {sid}")))?;
    Ok(EmailSessionRecord {
        sid,
        client_secret: row.try_get(1)?,
        address: row.try_get(2)?,
        purpose,
        send_attempt: row.try_get(4)?,
        token_hash: row.try_get::<_, Option<Vec<u8>>>(5)?.map(token_hash).transpose()?,
        failed_attempts: row.try_get(6)?,
        next_link: row.try_get(7)?,
        created_at: row.try_get(8)?,
        expires_at: row.try_get(9)?,
        validated_at: row.try_get(10)?,
    })
}

/// Deletes the UIA session an operation used up; if it is already gone,
/// another request used it first and the operation must not happen.
async fn consume_uia_session(tx: &Transaction<'_>, session: Option<&str>) -> StoreResult<()> {
    let Some(session) = session else {
        return Ok(());
    };
    if execute(tx, "DELETE FROM uia_sessions WHERE id = $1", &[&session]).await? == 0 {
        return Err(StoreError::UnknownUiaSession(session.to_owned()));
    }
    Ok(())
}

/// Writes one imported account with its 3pids, devices and tokens, unless
/// its localpart exists (then nothing).
async fn insert_imported_user(tx: &Transaction<'_>, user: &ImportedUser) -> StoreResult<ImportOutcome> {
    let inserted = execute(
        tx,
        "INSERT INTO users (localpart, password_hash, is_guest, deactivated, admin, user_type, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (localpart) DO NOTHING",
        &[
            &user.localpart,
            &user.password_hash,
            &user.is_guest,
            &user.deactivated,
            &user.admin,
            &user.user_type,
            &user.created_at,
        ],
    )
    .await?;
    if inserted == 0 {
        return Ok(ImportOutcome::AlreadyPresent);
    }
    let mut counts = ImportedCounts::default();
    for threepid in &user.threepids {
        match insert_threepid(tx, &user.localpart, threepid).await {
            Ok(()) => counts.threepids += 1,
            Err(StoreError::ThreepidInUse) => counts.threepids_in_use += 1,
            Err(error) => return Err(error),
        }
    }
    for device in &user.devices {
        insert_imported_device(tx, &user.localpart, device, &mut counts).await?;
    }
    Ok(ImportOutcome::Imported(counts))
}

async fn insert_imported_device(
    tx: &Transaction<'_>,
    localpart: &str,
    device: &ImportedDevice,
    counts: &mut ImportedCounts,
) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO devices (user_id, device_id, display_name, created_at) VALUES ($1, $2, $3, $4)",
        &[&localpart, &device.device_id, &device.display_name, &device.created_at],
    )
    .await?;
    counts.devices += 1;
    // The source's refresh-token IDs, as the IDs they get here.
    let mut refresh_ids = Vec::with_capacity(device.refresh_tokens.len());
    for refresh in &device.refresh_tokens {
        let row = query_opt(
            tx,
            "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (token_hash) DO NOTHING RETURNING id",
            &[&&refresh.token[..], &localpart, &device.device_id, &device.created_at],
        )
        .await?;
        match row {
            Some(row) => {
                counts.refresh_tokens += 1;
                refresh_ids.push((refresh.source_id, row.try_get::<_, i64>(0)?));
            }
            None => counts.tokens_in_use += 1,
        }
    }
    for access in &device.access_tokens {
        let refresh_id = access
            .refresh_source_id
            .and_then(|source| refresh_ids.iter().find(|(from, _)| *from == source).map(|(_, id)| *id));
        let added = execute(
            tx,
            "INSERT INTO access_tokens (token_hash, user_id, device_id, refresh_token_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO NOTHING",
            &[&&access.token[..], &localpart, &device.device_id, &refresh_id, &access.expires_at, &device.created_at],
        )
        .await?;
        if added == 1 {
            counts.access_tokens += 1;
        } else {
            counts.tokens_in_use += 1;
        }
    }
    Ok(())
}

impl Store for PostgresStore {
    fn user(&self, localpart: &str) -> StoreResult<Option<UserRecord>> {
        self.read(async |client| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE localpart = $1");
            query_opt(client, &sql, &[&localpart]).await?.as_ref().map(user_from_row).transpose()
        })
    }

    fn create_user(
        &self,
        user: &NewUser,
        login: Option<&NewLogin>,
        completion: Option<&RegistrationCompletion>,
    ) -> StoreResult<Created> {
        self.write(async |tx| {
            // Claim the session first: one registration per session, and
            // none if it expired meanwhile.
            if let Some(completion) = completion {
                let claimed = execute(
                    tx,
                    "UPDATE uia_sessions SET registered = '', password_hash = NULL, password_digest = $1, \
                       expires_at = $2 \
                     WHERE id = $3 AND registered IS NULL",
                    &[&completion.password_digest, &completion.retry_until, &completion.session],
                )
                .await?;
                if claimed == 0 {
                    return Err(StoreError::UnknownUiaSession(completion.session.clone()));
                }
                // The use the session reserved is now spent.
                execute(
                    tx,
                    "UPDATE registration_tokens SET pending = pending - 1, completed = completed + 1 \
                     WHERE token = (SELECT registration_token FROM uia_sessions WHERE id = $1)",
                    &[&completion.session],
                )
                .await?;
            }
            // Without a session: check and take a use in this transaction.
            if let Some(token) = &user.registration_token {
                let sql =
                    format!("UPDATE registration_tokens SET completed = completed + 1 WHERE token = $1 AND {USABLE}");
                if execute(tx, &sql, &[token, &user.created_at]).await? == 0 {
                    return Err(StoreError::RegistrationTokenUnusable);
                }
            }
            let localpart = match &user.localpart {
                NewLocalpart::Chosen(localpart) => {
                    if user_exists(tx, localpart).await? {
                        return Err(StoreError::UserExists);
                    }
                    localpart.clone()
                }
                NewLocalpart::Generated => loop {
                    let row = query_opt(
                        tx,
                        "UPDATE counters SET value = value + 1 WHERE name = 'generated_localpart' RETURNING value",
                        &[],
                    )
                    .await?
                    .ok_or_else(|| StoreError::backend("the generated_localpart counter is missing"))?;
                    let candidate = row.try_get::<_, i64>(0)?.to_string();
                    if !user_exists(tx, &candidate).await? {
                        break candidate;
                    }
                },
            };
            execute(
                tx,
                "INSERT INTO users (localpart, password_hash, is_guest, admin, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&localpart, &user.password_hash, &user.is_guest, &user.admin, &user.created_at],
            )
            .await
            .map_err(|error| match &error {
                StoreError::Backend(cause)
                    if cause.downcast_ref::<tokio_postgres::Error>().is_some_and(is_unique_violation) =>
                {
                    StoreError::UserExists
                }
                _ => error,
            })?;
            if let Some(threepid) = &user.threepid {
                insert_threepid(tx, &localpart, threepid).await?;
            }
            if let Some(login) = login {
                insert_login(tx, &localpart, login).await?;
            }
            if let Some(completion) = completion {
                execute(tx, "UPDATE uia_sessions SET registered = $1 WHERE id = $2", &[&localpart, &completion.session])
                    .await?;
            }
            Ok(Created { localpart, revoked: Vec::new() })
        })
    }

    fn create_login(&self, localpart: &str, login: &NewLogin) -> StoreResult<Vec<TokenHash>> {
        self.write(async |tx| {
            let revoked = insert_login(tx, localpart, login).await?;
            if !revoked.is_empty() {
                self.notify(tx).await?;
            }
            Ok(revoked)
        })
    }

    fn set_password(
        &self,
        localpart: &str,
        password_hash: &str,
        keep_device: Option<&str>,
        revoke_other_devices: bool,
        uia_session: Option<&str>,
    ) -> StoreResult<Vec<TokenHash>> {
        self.write(async |tx| {
            consume_uia_session(tx, uia_session).await?;
            execute(tx, "UPDATE users SET password_hash = $1 WHERE localpart = $2", &[&password_hash, &localpart])
                .await?;
            if !revoke_other_devices {
                return Ok(Vec::new());
            }
            let revoked = delete_returning_hashes(
                tx,
                "DELETE FROM access_tokens WHERE user_id = $1 AND device_id IS DISTINCT FROM $2 RETURNING token_hash",
                &[&localpart, &keep_device],
            )
            .await?;
            execute(
                tx,
                "DELETE FROM devices WHERE user_id = $1 AND device_id IS DISTINCT FROM $2",
                &[&localpart, &keep_device],
            )
            .await?;
            self.notify(tx).await?;
            Ok(revoked)
        })
    }

    fn upgrade_password_hash(&self, localpart: &str, old: &str, new: &str) -> StoreResult<bool> {
        self.write(async |tx| {
            let changed = execute(
                tx,
                "UPDATE users SET password_hash = $1 WHERE localpart = $2 AND password_hash = $3",
                &[&new, &localpart, &old],
            )
            .await?;
            Ok(changed == 1)
        })
    }

    fn access_token(&self, token: &TokenHash) -> StoreResult<Option<AccessTokenRecord>> {
        self.read(async |client| {
            let row = query_opt(
                client,
                "SELECT a.user_id, a.device_id, u.is_guest, u.deactivated, a.expires_at, a.refresh_token_id, \
                        EXISTS (SELECT 1 FROM refresh_tokens p WHERE p.next_id = a.refresh_token_id) \
                 FROM access_tokens a JOIN users u ON u.localpart = a.user_id \
                 WHERE a.token_hash = $1",
                &[&&token[..]],
            )
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(AccessTokenRecord {
                localpart: row.try_get(0)?,
                device_id: row.try_get(1)?,
                is_guest: row.try_get(2)?,
                deactivated: row.try_get(3)?,
                expires_at: row.try_get(4)?,
                refresh_token_id: row.try_get(5)?,
                predecessor_alive: row.try_get(6)?,
            }))
        })
    }

    fn retire_refresh_predecessor(&self, refresh_token_id: i64) -> StoreResult<()> {
        self.write(async |tx| {
            execute(tx, "DELETE FROM refresh_tokens WHERE next_id = $1", &[&refresh_token_id]).await.map(drop)
        })
    }

    fn rotate_refresh_token(&self, refresh: &TokenHash, new: &NewTokens) -> StoreResult<Option<Rotated>> {
        self.write(async |tx| {
            let row = query_opt(
                tx,
                "SELECT id, user_id, device_id, next_id FROM refresh_tokens WHERE token_hash = $1",
                &[&&refresh[..]],
            )
            .await?;
            let Some(row) = row else { return Ok(None) };
            let id: i64 = row.try_get(0)?;
            let localpart: String = row.try_get(1)?;
            let device_id: String = row.try_get(2)?;
            let next_id: Option<i64> = row.try_get(3)?;
            // Using this token proves its pair arrived: the one before it retires.
            execute(tx, "DELETE FROM refresh_tokens WHERE next_id = $1", &[&id]).await?;
            // A pair minted earlier from this token was never used: it dies.
            let mut revoked = match next_id {
                Some(next) => {
                    let revoked = delete_returning_hashes(
                        tx,
                        "DELETE FROM access_tokens WHERE refresh_token_id = $1 RETURNING token_hash",
                        &[&next],
                    )
                    .await?;
                    execute(tx, "DELETE FROM refresh_tokens WHERE id = $1", &[&next]).await?;
                    revoked
                }
                None => Vec::new(),
            };
            // Expired access tokens of the device go too.
            revoked.extend(
                delete_returning_hashes(
                    tx,
                    "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2 AND expires_at <= $3 \
                     RETURNING token_hash",
                    &[&localpart, &device_id, &new.created_at],
                )
                .await?,
            );
            let new_id = insert_tokens(tx, &localpart, &device_id, new)
                .await?
                .ok_or_else(|| StoreError::backend("a rotation must mint a refresh token"))?;
            execute(tx, "UPDATE refresh_tokens SET next_id = $1 WHERE id = $2", &[&new_id, &id]).await?;
            if !revoked.is_empty() {
                self.notify(tx).await?;
            }
            Ok(Some(Rotated { revoked }))
        })
    }

    fn delete_device(&self, localpart: &str, device_id: &str) -> StoreResult<Vec<TokenHash>> {
        self.delete_devices(localpart, &[device_id.to_owned()], None)
    }

    fn delete_all_devices(&self, localpart: &str) -> StoreResult<Vec<TokenHash>> {
        self.write(async |tx| {
            let revoked = delete_returning_hashes(
                tx,
                "DELETE FROM access_tokens WHERE user_id = $1 RETURNING token_hash",
                &[&localpart],
            )
            .await?;
            execute(tx, "DELETE FROM devices WHERE user_id = $1", &[&localpart]).await?;
            self.notify(tx).await?;
            Ok(revoked)
        })
    }

    fn devices(&self, localpart: &str) -> StoreResult<Vec<DeviceRecord>> {
        self.read(async |client| {
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY device_id");
            query(client, &sql, &[&localpart]).await?.iter().map(device_from_row).collect()
        })
    }

    fn device(&self, localpart: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        self.read(async |client| {
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 AND device_id = $2");
            query_opt(client, &sql, &[&localpart, &device_id]).await?.as_ref().map(device_from_row).transpose()
        })
    }

    fn set_device_display_name(
        &self,
        localpart: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> StoreResult<bool> {
        self.write(async |tx| {
            let updated = execute(
                tx,
                "UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2",
                &[&localpart, &device_id, &display_name],
            )
            .await?;
            Ok(updated > 0)
        })
    }

    fn delete_devices(
        &self,
        localpart: &str,
        device_ids: &[String],
        uia_session: Option<&str>,
    ) -> StoreResult<Vec<TokenHash>> {
        self.write(async |tx| {
            consume_uia_session(tx, uia_session).await?;
            let revoked = delete_returning_hashes(
                tx,
                "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = ANY($2) RETURNING token_hash",
                &[&localpart, &device_ids],
            )
            .await?;
            execute(tx, "DELETE FROM devices WHERE user_id = $1 AND device_id = ANY($2)", &[&localpart, &device_ids])
                .await?;
            self.notify(tx).await?;
            Ok(revoked)
        })
    }

    fn record_last_seen(&self, seen: &[LastSeen]) -> StoreResult<()> {
        if seen.is_empty() {
            return Ok(());
        }
        self.write(async |tx| {
            for use_ in seen {
                execute(
                    tx,
                    "UPDATE devices SET last_seen_ip = $3, last_seen_ts = $4 \
                     WHERE user_id = $1 AND device_id = $2 AND (last_seen_ts IS NULL OR last_seen_ts <= $4)",
                    &[&use_.localpart, &use_.device_id, &use_.ip, &use_.ts],
                )
                .await?;
            }
            Ok(())
        })
    }

    /// The count of other instances' cache-invalidating writes (see
    /// [`changes`]); no database round trip.
    fn outside_writes(&self) -> StoreResult<i64> {
        Ok(self.changes.current())
    }

    fn deactivate_user(&self, localpart: &str, uia_session: Option<&str>) -> StoreResult<Deactivated> {
        self.write(async |tx| {
            consume_uia_session(tx, uia_session).await?;
            execute(tx, "UPDATE users SET deactivated = TRUE WHERE localpart = $1", &[&localpart]).await?;
            let revoked = delete_returning_hashes(
                tx,
                "DELETE FROM access_tokens WHERE user_id = $1 RETURNING token_hash",
                &[&localpart],
            )
            .await?;
            execute(tx, "DELETE FROM devices WHERE user_id = $1", &[&localpart]).await?;
            let sql = format!("DELETE FROM threepids WHERE user_id = $1 RETURNING {THREEPID_COLUMNS}");
            let threepids = query(tx, &sql, &[&localpart]).await?.iter().map(threepid_from_row).collect::<Result<_, _>>()?;
            // Sessions bound to the account can authorise nothing any more.
            execute(tx, "DELETE FROM uia_sessions WHERE user_id = $1", &[&localpart]).await?;
            self.notify(tx).await?;
            Ok(Deactivated { revoked, threepids })
        })
    }

    fn reactivate_user(&self, localpart: &str, password_hash: &str) -> StoreResult<bool> {
        self.write(async |tx| {
            let updated = execute(
                tx,
                "UPDATE users SET deactivated = FALSE, password_hash = $2 WHERE localpart = $1 AND deactivated",
                &[&localpart, &password_hash],
            )
            .await?;
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
        let filter = "($1::TEXT IS NULL OR strpos(localpart, $1) > 0) AND ($2 OR NOT is_guest) \
                      AND ($3 OR NOT deactivated) AND ($4::BOOLEAN IS NULL OR admin = $4)";
        self.read(async |client| {
            let filters: [&(dyn ToSql + Sync); 4] =
                [&listing.name, &listing.guests, &listing.deactivated, &listing.admins];
            let total_sql = format!("SELECT count(*) FROM users WHERE {filter}");
            let total: i64 = query_opt(client, &total_sql, &filters)
                .await?
                .ok_or_else(|| StoreError::backend("count(*) gave no row"))?
                .try_get(0)?;
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users \
                 WHERE {filter} ORDER BY {column} {dir}, localpart {dir} LIMIT $5 OFFSET $6"
            );
            let rows = query(
                client,
                &sql,
                &[&listing.name, &listing.guests, &listing.deactivated, &listing.admins, &listing.limit, &listing.from],
            )
            .await?;
            Ok((rows.iter().map(user_from_row).collect::<StoreResult<_>>()?, total))
        })
    }

    fn set_admin(&self, localpart: &str, admin: bool) -> StoreResult<bool> {
        self.write(async |tx| {
            let updated = execute(tx, "UPDATE users SET admin = $2 WHERE localpart = $1", &[&localpart, &admin]).await?;
            Ok(updated > 0)
        })
    }

    fn put_uia_session(&self, session: &UiaSessionRecord, now: Millis) -> StoreResult<()> {
        let params_json = serde_json::to_string(&session.params).map_err(StoreError::backend)?;
        let completed_json = serde_json::to_string(&session.completed).map_err(StoreError::backend)?;
        self.write(async |tx| {
            // Sessions that expire without registering give back the token
            // use they reserved.
            execute(
                tx,
                "UPDATE registration_tokens SET pending = pending - \
                   (SELECT COUNT(*) FROM uia_sessions s WHERE s.registration_token = registration_tokens.token \
                      AND s.expires_at < $1 AND s.registered IS NULL) \
                 WHERE token IN (SELECT registration_token FROM uia_sessions \
                   WHERE expires_at < $1 AND registered IS NULL AND registration_token IS NOT NULL)",
                &[&now],
            )
            .await?;
            execute(tx, "DELETE FROM uia_sessions WHERE expires_at < $1", &[&now]).await?;
            execute(
                tx,
                "INSERT INTO uia_sessions \
                   (id, operation, user_id, params, password_hash, completed, registered, created_at, expires_at, \
                    password_digest) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, params = excluded.params, \
                   password_hash = excluded.password_hash, password_digest = excluded.password_digest, \
                   completed = excluded.completed, \
                   registered = COALESCE(excluded.registered, uia_sessions.registered)",
                &[
                    &session.id,
                    &session.operation.as_str(),
                    &session.user,
                    &params_json,
                    &session.password_hash,
                    &completed_json,
                    &session.registered,
                    &session.created_at,
                    &session.expires_at,
                    &session.password_digest,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn uia_session(&self, id: &str, now: Millis) -> StoreResult<Option<UiaSessionRecord>> {
        self.read(async |client| {
            let row = query_opt(
                client,
                "SELECT operation, user_id, params, password_hash, completed, registered, created_at, expires_at, \
                        password_digest, registration_token \
                 FROM uia_sessions WHERE id = $1 AND expires_at >= $2",
                &[&id, &now],
            )
            .await?;
            let Some(row) = row else { return Ok(None) };
            let operation: String = row.try_get(0)?;
            let params: String = row.try_get(2)?;
            let completed: String = row.try_get(4)?;
            Ok(Some(UiaSessionRecord {
                id: id.to_owned(),
                operation: UiaOperation::parse(&operation)
                    .ok_or_else(|| StoreError::backend(format!("unknown UIA operation {operation:?} in session {id}")))?,
                user: row.try_get(1)?,
                params: serde_json::from_str(&params).map_err(StoreError::backend)?,
                password_hash: row.try_get(3)?,
                completed: serde_json::from_str(&completed).map_err(StoreError::backend)?,
                registered: row.try_get(5)?,
                created_at: row.try_get(6)?,
                expires_at: row.try_get(7)?,
                password_digest: row.try_get(8)?,
                registration_token: row.try_get(9)?,
            }))
        })
    }

    fn threepids(&self, localpart: &str) -> StoreResult<Vec<ThreepidRecord>> {
        self.read(async |client| {
            let sql = format!(
                "SELECT {THREEPID_COLUMNS} FROM threepids WHERE user_id = $1 ORDER BY added_at, medium, address"
            );
            query(client, &sql, &[&localpart]).await?.iter().map(threepid_from_row).collect()
        })
    }

    fn threepid_owner(&self, medium: &str, address: &str) -> StoreResult<Option<String>> {
        self.read(async |client| {
            let row =
                query_opt(client, "SELECT user_id FROM threepids WHERE medium = $1 AND address = $2", &[&medium, &address])
                    .await?;
            Ok(row.map(|row| row.try_get(0)).transpose()?)
        })
    }

    fn add_threepid(&self, localpart: &str, threepid: &ThreepidRecord, uia_session: Option<&str>) -> StoreResult<()> {
        self.write(async |tx| {
            consume_uia_session(tx, uia_session).await?;
            let owner = query_opt(
                tx,
                "SELECT user_id FROM threepids WHERE medium = $1 AND address = $2",
                &[&threepid.medium, &threepid.address],
            )
            .await?
            .map(|row| row.try_get::<_, String>(0))
            .transpose()?;
            match owner {
                Some(owner) if owner == localpart => Ok(()),
                Some(_) => Err(StoreError::ThreepidInUse),
                None => {
                    insert_threepid(tx, localpart, threepid).await?;
                    self.notify(tx).await
                }
            }
        })
    }

    fn delete_threepid(&self, localpart: &str, medium: &str, address: &str) -> StoreResult<bool> {
        self.write(async |tx| {
            let deleted = execute(
                tx,
                "DELETE FROM threepids WHERE user_id = $1 AND medium = $2 AND address = $3",
                &[&localpart, &medium, &address],
            )
            .await?;
            if deleted > 0 {
                self.notify(tx).await?;
            }
            Ok(deleted > 0)
        })
    }

    fn create_registration_token(&self, token: &RegistrationTokenRecord) -> StoreResult<bool> {
        self.write(async |tx| {
            let inserted = execute(
                tx,
                "INSERT INTO registration_tokens (token, token_hash, uses_allowed, pending, completed, expiry_time) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &token.token,
                    &&registration_token_key(&token.token)[..],
                    &token.uses_allowed,
                    &token.pending,
                    &token.completed,
                    &token.expiry_time,
                ],
            )
            .await?;
            Ok(inserted > 0)
        })
    }

    fn registration_token(&self, token: &str) -> StoreResult<Option<RegistrationTokenRecord>> {
        let key = registration_token_key(token);
        self.read(async |client| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM registration_tokens WHERE token_hash = $1");
            query_opt(client, &sql, &[&&key[..]]).await?.as_ref().map(token_from_row).transpose()
        })
    }

    fn registration_tokens(&self, valid: Option<bool>, now: Millis) -> StoreResult<Vec<RegistrationTokenRecord>> {
        let filter = match valid {
            None => String::new(),
            Some(true) => format!("WHERE {}", USABLE.replace("$2", "$1")),
            Some(false) => format!("WHERE NOT ({})", USABLE.replace("$2", "$1")),
        };
        self.read(async |client| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM registration_tokens {filter} ORDER BY token");
            let rows = if valid.is_some() { query(client, &sql, &[&now]).await? } else { query(client, &sql, &[]).await? };
            rows.iter().map(token_from_row).collect()
        })
    }

    fn update_registration_token(
        &self,
        token: &str,
        update: &RegistrationTokenUpdate,
    ) -> StoreResult<Option<RegistrationTokenRecord>> {
        self.write(async |tx| {
            if let Some(uses_allowed) = update.uses_allowed {
                execute(tx, "UPDATE registration_tokens SET uses_allowed = $1 WHERE token = $2", &[&uses_allowed, &token])
                    .await?;
            }
            if let Some(expiry_time) = update.expiry_time {
                execute(tx, "UPDATE registration_tokens SET expiry_time = $1 WHERE token = $2", &[&expiry_time, &token])
                    .await?;
            }
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM registration_tokens WHERE token = $1");
            query_opt(tx, &sql, &[&token]).await?.as_ref().map(token_from_row).transpose()
        })
    }

    fn delete_registration_token(&self, token: &str) -> StoreResult<bool> {
        self.write(async |tx| Ok(execute(tx, "DELETE FROM registration_tokens WHERE token = $1", &[&token]).await? > 0))
    }

    fn claim_registration_token(&self, token: &str, session: &str, now: Millis) -> StoreResult<bool> {
        self.write(async |tx| {
            let row = query_opt(
                tx,
                "SELECT registration_token FROM uia_sessions WHERE id = $1 AND registered IS NULL",
                &[&session],
            )
            .await?;
            let Some(row) = row else { return Ok(false) };
            let held: Option<String> = row.try_get(0)?;
            if held.as_deref() == Some(token) {
                return Ok(true);
            }
            let sql = format!("UPDATE registration_tokens SET pending = pending + 1 WHERE token = $1 AND {USABLE}");
            if execute(tx, &sql, &[&token, &now]).await? == 0 {
                return Ok(false);
            }
            // A session that held another token gives that use back.
            if let Some(previous) = held {
                execute(tx, "UPDATE registration_tokens SET pending = pending - 1 WHERE token = $1", &[&previous])
                    .await?;
            }
            execute(tx, "UPDATE uia_sessions SET registration_token = $1 WHERE id = $2", &[&token, &session]).await?;
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
        self.read(async |client| {
            let sql = format!(
                "SELECT {EMAIL_SESSION_COLUMNS} FROM email_sessions \
                 WHERE client_secret = $1 AND address = $2 AND purpose = $3 AND expires_at > $4"
            );
            query_opt(client, &sql, &[&client_secret, &address, &purpose.as_str(), &now])
                .await?
                .as_ref()
                .map(email_session_from_row)
                .transpose()
        })
    }

    fn email_session(&self, sid: &str, now: Millis) -> StoreResult<Option<EmailSessionRecord>> {
        self.read(async |client| {
            let sql = format!("SELECT {EMAIL_SESSION_COLUMNS} FROM email_sessions WHERE sid = $1 AND expires_at > $2");
            query_opt(client, &sql, &[&sid, &now]).await?.as_ref().map(email_session_from_row).transpose()
        })
    }

    fn put_email_session(&self, session: &EmailSessionRecord, now: Millis) -> StoreResult<()> {
        self.write(async |tx| {
            execute(tx, "DELETE FROM email_sessions WHERE expires_at <= $1", &[&now]).await?;
            // What SQLite's INSERT OR REPLACE does: drop the rows either key
            // of the new one collides with.
            execute(
                tx,
                "DELETE FROM email_sessions \
                 WHERE sid = $1 OR (client_secret = $2 AND address = $3 AND purpose = $4)",
                &[&session.sid, &session.client_secret, &session.address, &session.purpose.as_str()],
            )
            .await?;
            let sql = format!(
                "INSERT INTO email_sessions ({EMAIL_SESSION_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            );
            execute(
                tx,
                &sql,
                &[
                    &session.sid,
                    &session.client_secret,
                    &session.address,
                    &session.purpose.as_str(),
                    &session.send_attempt,
                    &session.token_hash.as_ref().map(|hash| hash.as_slice()),
                    &session.failed_attempts,
                    &session.next_link,
                    &session.created_at,
                    &session.expires_at,
                    &session.validated_at,
                ],
            )
            .await?;
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
        self.write(async |tx| {
            let sql = format!(
                "SELECT {EMAIL_SESSION_COLUMNS} FROM email_sessions \
                 WHERE sid = $1 AND client_secret = $2 AND expires_at > $3"
            );
            let row = query_opt(tx, &sql, &[&sid, &client_secret, &now]).await?;
            let Some(mut session) = row.as_ref().map(email_session_from_row).transpose()? else {
                return Ok(TokenSubmission::Refused);
            };
            let Some(expected) = session.token_hash else { return Ok(TokenSubmission::Refused) };
            if expected != *token {
                execute(
                    tx,
                    "UPDATE email_sessions SET failed_attempts = failed_attempts + 1, \
                       token_hash = CASE WHEN failed_attempts + 1 >= $2 THEN NULL ELSE token_hash END \
                     WHERE sid = $1",
                    &[&sid, &max_failures],
                )
                .await?;
                return Ok(TokenSubmission::Refused);
            }
            execute(tx, "UPDATE email_sessions SET token_hash = NULL, validated_at = $2 WHERE sid = $1", &[&sid, &now])
                .await?;
            session.token_hash = None;
            session.validated_at = Some(now);
            Ok(TokenSubmission::Validated(session))
        })
    }

    fn delete_email_session(&self, sid: &str) -> StoreResult<()> {
        self.write(async |tx| execute(tx, "DELETE FROM email_sessions WHERE sid = $1", &[&sid]).await.map(drop))
    }

    fn import_users(&self, users: &[ImportedUser]) -> StoreResult<Vec<ImportOutcome>> {
        self.write(async |tx| {
            let mut outcomes = Vec::with_capacity(users.len());
            for user in users {
                outcomes.push(insert_imported_user(tx, user).await?);
            }
            self.notify(tx).await?;
            Ok(outcomes)
        })
    }
}

/// The PostgreSQL server tests run against: `MATRIX_ACCOUNTS_TEST_POSTGRES`,
/// a URL whose user may create databases. Unset, tests that need one skip,
/// unless `CI=true`, where a missing server is a failure.
pub fn test_server() -> Option<String> {
    match std::env::var("MATRIX_ACCOUNTS_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but MATRIX_ACCOUNTS_TEST_POSTGRES is not set: the PostgreSQL tests cannot run")
        }
        _ => None,
    }
}

/// Creates an empty database, named after `prefix` and made unique, on the
/// server `url` points to, and answers its URL (for tests and benchmarks,
/// which each want a database of their own).
pub fn create_database(url: &str, prefix: &str) -> StoreResult<String> {
    let mut name: String = prefix
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(40)
        .collect();
    name.push('_');
    name.push_str(&super::random_hex(6));
    let config = tokio_postgres::Config::from_str(url).map_err(StoreError::backend)?;
    let statement = format!("CREATE DATABASE \"{name}\"");
    // On a thread of its own: the caller may be async (a test).
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(StoreError::backend)?;
                runtime.block_on(async {
                    let (client, connection) = config.connect(NoTls).await?;
                    let driving = tokio::spawn(connection);
                    client.batch_execute(&statement).await?;
                    drop(client);
                    let _ = driving.await;
                    StoreResult::Ok(())
                })
            })
            .join()
            .map_err(|_| StoreError::backend("creating the database panicked"))?
    })?;
    // The same URL with the database path replaced.
    let (base, query) = url.split_once('?').map_or((url, None), |(base, query)| (base, Some(query)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    Ok(match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    })
}
