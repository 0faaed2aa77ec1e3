//! The storage interface: what the accounts domain needs to remember.
//!
//! The domain never sees SQL. It calls the narrow, synchronous [`Store`]
//! trait (from a blocking thread, never from an async worker), and each
//! method is one transaction: it either does all it says or nothing. That
//! keeps the rules that need atomicity ("a username is taken once", "a
//! refresh rotates exactly one pair", "a 3pid belongs to one account") in
//! one place per backend: [`sqlite`] and [`postgres`], held to the same
//! contract by one test suite (`conformance.rs`) that runs on both.
//!
//! Tokens and passwords never reach the store in plain text: access and
//! refresh tokens arrive as SHA-256 digests ([`TokenHash`]), passwords as
//! argon2id PHC strings. A UIA session also keeps a keyed digest of the
//! password it was sent ([`UiaSessionRecord::password_digest`]), useless
//! without the key that only the running process holds.
//!
//! One secret *is* stored as sent: a UIA session remembers the parameters of
//! the request it protects ([`UiaSessionRecord::params`]), and for
//! `POST /account/3pid/add` those are the identity-server session's `sid`
//! and `client_secret`, so that a follow-up carrying only `auth` can finish
//! the request. They stay until the session completes (the operation
//! deletes it) or expires (`tokens.uia_session_lifetime`; expired sessions
//! are swept by the next session write). That secret proves control of an
//! identity-server validation session, not of an account.
//!
//! Times are milliseconds since the Unix epoch.

mod columns;
#[cfg(test)]
mod conformance;
pub mod postgres;
pub mod sqlite;
pub mod transfer;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, ErrorCode};

/// The SHA-256 digest of an access or refresh token: the only form in which
/// a token is stored or used as a key.
pub type TokenHash = [u8; 32];

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The localpart is already registered (including deactivated accounts).
    #[error("the user ID is already taken")]
    UserExists,
    /// The third-party identifier is attached to another account.
    #[error("the third-party identifier is attached to another account")]
    ThreepidInUse,
    /// The UIA session an operation was to consume is gone: another request
    /// completed it first (or it expired). Nothing is written.
    #[error("unknown UIA session {0}")]
    UnknownUiaSession(String),
    /// The registration token is unknown, expired or used up (another
    /// registration took its last use). Nothing is written.
    #[error("the registration token cannot be used")]
    RegistrationTokenUnusable,
    /// The database cannot be reached (a PostgreSQL server restarting, a
    /// network fault): the request may be retried shortly.
    #[error("the database is unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// The database failed; not the client's fault.
    #[error("storage failure: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Backend(cause.into())
    }

    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Unavailable(cause.into())
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UserExists => Error::bad_request(ErrorCode::UserInUse, "User ID already taken."),
            StoreError::ThreepidInUse => {
                Error::bad_request(ErrorCode::ThreepidInUse, "Third-party identifier already in use by another account")
            }
            StoreError::UnknownUiaSession(id) => {
                Error::bad_request(ErrorCode::Unknown, format!("Unknown session ID: {id}"))
            }
            StoreError::RegistrationTokenUnusable => {
                Error::new(http::StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, "Invalid registration token")
            }
            StoreError::Unavailable(cause) => {
                tracing::error!(event = "store.unavailable", error = %cause, "the database is unavailable");
                Error::new(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unknown,
                    "The database is unavailable; try again shortly",
                )
            }
            StoreError::Backend(cause) => Error::internal(cause),
        }
    }
}

/// Where the accounts live: a SQLite file (the default, for one process
/// on one machine) or a PostgreSQL database (for several instances).
///
/// Written as the `--database` flag and the `database` key take it: a
/// `postgres://` (or `postgresql://`) URL, or a file path, optionally
/// prefixed with `sqlite:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    /// Opens (creating and migrating as needed) the store.
    pub fn open(&self) -> StoreResult<Arc<dyn Store>> {
        Ok(match self {
            Database::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
            Database::Postgres(url) => Arc::new(PostgresStore::open(url)?),
        })
    }

    /// The SQLite file, if that is the engine.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }
}

impl FromStr for Database {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Database::Postgres(text.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(text.strip_prefix("sqlite:").unwrap_or(text)))
        })
    }
}

/// As the operator wrote it, but never with a password: this goes to logs
/// and error messages.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => match url.split_once("://").and_then(|(scheme, rest)| {
                let (credentials, host) = rest.split_once('@')?;
                let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
                Some(format!("{scheme}://{user}@{host}"))
            }) {
                Some(redacted) => f.write_str(&redacted),
                None => f.write_str(url),
            },
        }
    }
}

impl serde::Serialize for Database {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Database::Sqlite(path) => path.serialize(serializer),
            Database::Postgres(url) => url.serialize(serializer),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Database {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

/// Every table, in an order that copying them one after the other keeps
/// their foreign keys satisfied.
pub const TABLES: &[&str] = &[
    "users",
    "devices",
    "refresh_tokens",
    "access_tokens",
    "uia_sessions",
    "threepids",
    "counters",
    "registration_tokens",
    "email_sessions",
];

/// The key registration tokens are looked up by: their SHA-256.
fn registration_token_key(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).into()
}

/// Random bytes as hex, e.g. for an instance's name.
fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0; bytes];
    // A weak name is still a name: the OS source failing is not fatal here.
    let _ = getrandom::fill(&mut buffer);
    buffer.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn random_u32() -> u32 {
    getrandom::u32().unwrap_or(0)
}

/// A stored account.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub localpart: String,
    /// argon2id PHC string; `None` for guests.
    pub password_hash: Option<String>,
    pub is_guest: bool,
    pub deactivated: bool,
    /// An administrator of this server (Synapse's admin API).
    pub admin: bool,
    pub created_at: Millis,
}

/// The order of an admin's user list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrder {
    Name,
    Admin,
    Deactivated,
    IsGuest,
    CreationTs,
}

/// Which accounts an admin lists, in which order, which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserListing {
    /// Only localparts containing this (lower-case) text.
    pub name: Option<String>,
    pub guests: bool,
    pub deactivated: bool,
    /// Only admins (`Some(true)`) or only non-admins (`Some(false)`).
    pub admins: Option<bool>,
    pub order_by: UserOrder,
    pub descending: bool,
    /// How many matching accounts to skip.
    pub from: i64,
    pub limit: i64,
}

/// A device of an account, as `GET /devices` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: String,
    pub display_name: Option<String>,
    /// The client address of the device's latest request, as of the last
    /// batch written ([`Store::record_last_seen`]).
    pub last_seen_ip: Option<String>,
    pub last_seen_ts: Option<Millis>,
}

/// One device's latest use, written in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSeen {
    pub localpart: String,
    pub device_id: String,
    pub ip: String,
    pub ts: Millis,
}

/// What deactivating an account removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Deactivated {
    /// Every access token of the account: evict them from caches.
    pub revoked: Vec<TokenHash>,
    /// The 3pids that were attached to it.
    pub threepids: Vec<ThreepidRecord>,
}

/// The localpart of an account about to be created.
#[derive(Debug, Clone, PartialEq)]
pub enum NewLocalpart {
    /// Chosen by the client, already validated.
    Chosen(String),
    /// Picked by the store: the next free number from its counter.
    Generated,
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub localpart: NewLocalpart,
    pub password_hash: Option<String>,
    pub is_guest: bool,
    /// Created as an administrator (shared-secret registration, the admin API).
    pub admin: bool,
    pub created_at: Millis,
    /// The registration token a registration *without* a UIA session
    /// passed: the store takes one use of it (`completed`) in the
    /// transaction that creates the account, if it is still usable at
    /// `created_at`, else writes nothing
    /// ([`StoreError::RegistrationTokenUnusable`]). A session's token was
    /// counted when the session passed the stage (`pending`), and moves to
    /// `completed` when the session registers.
    pub registration_token: Option<String>,
    /// A 3pid the account is created with (an e-mail address validated in
    /// the registration's `m.login.email.identity` stage), in the same
    /// transaction: one attached to another account meanwhile is
    /// [`StoreError::ThreepidInUse`] and nothing is written.
    pub threepid: Option<ThreepidRecord>,
}

/// A registration token, as Synapse models it (and its admin API shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationTokenRecord {
    pub token: String,
    /// How many registrations it allows; `None`: unlimited.
    pub uses_allowed: Option<i64>,
    /// UIA sessions that passed the token stage and have not registered
    /// (nor expired) yet.
    pub pending: i64,
    /// Registrations made with it.
    pub completed: i64,
    /// When it stops working (ms since the epoch); `None`: never.
    pub expiry_time: Option<Millis>,
}

impl RegistrationTokenRecord {
    /// A new, unused token.
    pub fn new(token: impl Into<String>, uses_allowed: Option<i64>, expiry_time: Option<Millis>) -> Self {
        RegistrationTokenRecord { token: token.into(), uses_allowed, pending: 0, completed: 0, expiry_time }
    }

    /// Whether a registration could use it at `now`: not expired, and a
    /// use left (`pending + completed < uses_allowed`).
    pub fn usable(&self, now: Millis) -> bool {
        self.expiry_time.is_none_or(|expiry| now < expiry)
            && self.uses_allowed.is_none_or(|allowed| self.pending + self.completed < allowed)
    }
}

/// What an update changes in a registration token: `None` leaves a field
/// alone, `Some(None)` clears it (unlimited, never expires).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrationTokenUpdate {
    pub uses_allowed: Option<Option<i64>>,
    pub expiry_time: Option<Option<Millis>>,
}

/// An access token, optionally paired with a refresh token.
#[derive(Debug, Clone)]
pub struct NewTokens {
    pub access: TokenHash,
    pub refresh: Option<TokenHash>,
    /// When the access token stops working; `None` never.
    pub expires_at: Option<Millis>,
    pub created_at: Millis,
}

/// A device signing in: created if new; an existing device of the same
/// user keeps its display name and loses its earlier tokens.
#[derive(Debug, Clone)]
pub struct NewLogin {
    pub device_id: String,
    pub display_name: Option<String>,
    pub tokens: NewTokens,
}

/// What an access token stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessTokenRecord {
    pub localpart: String,
    pub device_id: String,
    pub is_guest: bool,
    pub deactivated: bool,
    pub expires_at: Option<Millis>,
    /// The refresh token issued together with this access token.
    pub refresh_token_id: Option<i64>,
    /// Whether the refresh token this pair was rotated from still works;
    /// the first use of this access token retires it
    /// ([`Store::retire_refresh_predecessor`]).
    pub predecessor_alive: bool,
}

/// The outcome of a successful refresh-token rotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotated {
    /// Access tokens that died with the rotation (a pair minted earlier from
    /// the same refresh token and never used, and expired ones): evict them
    /// from caches.
    pub revoked: Vec<TokenHash>,
}

/// The UIA session a registration completes, and what it keeps for a retry.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationCompletion {
    pub session: String,
    /// The keyed digest of the password the account was created with: a
    /// retry of the session must repeat it (see
    /// [`UiaSessionRecord::password_digest`]). `None`: no retry can prove it.
    pub password_digest: Option<Vec<u8>>,
    /// Until when the completed session may be retried.
    pub retry_until: Millis,
}

/// The outcome of [`Store::create_user`].
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The new account's localpart or, when the UIA session had already
    /// registered one, that account's.
    pub localpart: String,
    /// Access tokens revoked by signing in: only when an already registered
    /// session signs in again on a device that exists. Evict them from caches.
    pub revoked: Vec<TokenHash>,
}

/// The operation a UIA session authorises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiaOperation {
    Register,
    ChangePassword,
    AddThreepid,
    DeleteDevices,
    Deactivate,
}

impl UiaOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            UiaOperation::Register => "register",
            UiaOperation::ChangePassword => "change_password",
            UiaOperation::AddThreepid => "add_threepid",
            UiaOperation::DeleteDevices => "delete_devices",
            UiaOperation::Deactivate => "deactivate",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            UiaOperation::Register,
            UiaOperation::ChangePassword,
            UiaOperation::AddThreepid,
            UiaOperation::DeleteDevices,
            UiaOperation::Deactivate,
        ]
        .into_iter()
        .find(|op| op.as_str() == name)
    }
}

/// A User-Interactive Authentication session as stored between requests.
#[derive(Debug, Clone, PartialEq)]
pub struct UiaSessionRecord {
    pub id: String,
    pub operation: UiaOperation,
    /// The account the session is bound to (the access token's owner, or
    /// the user a stage identified); `None` for registration.
    pub user: Option<String>,
    /// The protected request's parameters (merged over the session's
    /// requests, the latest winning), without any password. For 3pid add
    /// they include the identity-server `client_secret`, kept until the
    /// session completes or expires.
    pub params: Value,
    /// argon2id hash of the password the session was sent, if it was
    /// hashed.
    pub password_hash: Option<String>,
    /// `HMAC-SHA256(key, id || 0x00 || password)` of the latest password
    /// the session was sent, with a key drawn at start-up and never stored:
    /// lets a follow-up that repeats the password reuse `password_hash`
    /// without a second argon2 hash. Meaningless after a restart (a new
    /// key), and to anyone who only has the database.
    pub password_digest: Option<Vec<u8>>,
    /// Stage types completed so far.
    pub completed: Vec<String>,
    /// For a completed registration: the localpart it created, so that a
    /// replay of the session answers for the same account.
    pub registered: Option<String>,
    /// The registration token the session passed the token stage with
    /// (set only by [`Store::claim_registration_token`]; a session write
    /// leaves it as it is).
    pub registration_token: Option<String>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// A third-party identifier attached to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreepidRecord {
    pub medium: String,
    pub address: String,
    pub validated_at: Millis,
    pub added_at: Millis,
    /// The identity server that validated it, if any.
    pub id_server: Option<String>,
}

/// What an e-mail validation session is for: it can only be used for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailPurpose {
    Register,
    AddThreepid,
    ResetPassword,
}

impl EmailPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailPurpose::Register => "register",
            EmailPurpose::AddThreepid => "add_threepid",
            EmailPurpose::ResetPassword => "reset_password",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [EmailPurpose::Register, EmailPurpose::AddThreepid, EmailPurpose::ResetPassword]
            .into_iter()
            .find(|purpose| purpose.as_str() == name)
    }
}

/// An e-mail validation session the homeserver runs itself.
///
/// The `client_secret` is stored as sent: it is the client's proof that
/// the session is its own, compared on every use, and it proves control of
/// this session only, never of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSessionRecord {
    pub sid: String,
    pub client_secret: String,
    /// Canonical (lower-cased).
    pub address: String,
    pub purpose: EmailPurpose,
    pub send_attempt: i64,
    /// SHA-256 of the token mailed; `None` once used or voided.
    pub token_hash: Option<TokenHash>,
    pub failed_attempts: i64,
    pub next_link: Option<String>,
    pub created_at: Millis,
    /// The token, and the session once validated, are usable until then.
    pub expires_at: Millis,
    pub validated_at: Option<Millis>,
}

/// The outcome of [`Store::submit_email_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSubmission {
    /// The token was right: the session is validated (and the token used).
    Validated(EmailSessionRecord),
    /// No live session has this `sid` and `client_secret`, or its token was
    /// used, voided or is wrong (counted; the token is voided after
    /// `max_failures`).
    Refused,
}

/// An account brought over from another homeserver (see `crate::import`),
/// written as it was there: its password hash is not made here (bcrypt from
/// Synapse; login replaces it), and it keeps its devices and sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedUser {
    pub localpart: String,
    /// `None`: no password login (deactivated, SSO-only, guest).
    pub password_hash: Option<String>,
    pub is_guest: bool,
    pub deactivated: bool,
    pub admin: bool,
    /// Synapse's `user_type`: `None` for a person, `support`, `bot`.
    pub user_type: Option<String>,
    pub created_at: Millis,
    pub threepids: Vec<ThreepidRecord>,
    pub devices: Vec<ImportedDevice>,
}

/// A device of an [`ImportedUser`], with the sessions that stay signed in.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedDevice {
    pub device_id: String,
    pub display_name: Option<String>,
    pub created_at: Millis,
    pub refresh_tokens: Vec<ImportedRefreshToken>,
    pub access_tokens: Vec<ImportedAccessToken>,
}

/// A refresh token of an imported device; `source_id` is its ID in the
/// source, by which the access tokens issued with it name it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedRefreshToken {
    pub source_id: i64,
    pub token: TokenHash,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportedAccessToken {
    pub token: TokenHash,
    pub expires_at: Option<Millis>,
    /// The [`ImportedRefreshToken::source_id`] of the refresh token it was
    /// issued with, in the same device.
    pub refresh_source_id: Option<i64>,
}

/// What [`Store::import_users`] did with one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The localpart exists here: nothing of this account was written, so
    /// that an import never overwrites, and a second run changes nothing.
    AlreadyPresent,
    Imported(ImportedCounts),
}

/// What came over with one imported account, and what could not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportedCounts {
    pub threepids: u64,
    /// 3pids already attached to another account here (a 3pid belongs to
    /// one account): left out.
    pub threepids_in_use: u64,
    pub devices: u64,
    pub access_tokens: u64,
    pub refresh_tokens: u64,
    /// Tokens whose digest is already stored (for another account): left out.
    pub tokens_in_use: u64,
}

/// The storage the accounts domain runs on. Every method is synchronous
/// and one transaction; call it from a blocking thread.
pub trait Store: Send + Sync + 'static {
    /// The account with this localpart, deactivated or not.
    fn user(&self, localpart: &str) -> StoreResult<Option<UserRecord>>;

    /// Creates an account and, unless `login` is `None`, its first device
    /// and tokens; when `completion` is given, records the new localpart in
    /// that session (with the password digest and the retry deadline, and
    /// without its password hash) so that a retry of it can answer for the
    /// same account. Returns the localpart (picked by the store for
    /// [`NewLocalpart::Generated`]). A taken localpart is
    /// [`StoreError::UserExists`] and nothing is written.
    ///
    /// A session registers one account: if it has already registered one
    /// (or is gone), nothing is written:
    /// [`StoreError::UnknownUiaSession`]. Retries sign in with
    /// [`Store::create_login`] instead.
    fn create_user(
        &self,
        user: &NewUser,
        login: Option<&NewLogin>,
        completion: Option<&RegistrationCompletion>,
    ) -> StoreResult<Created>;

    /// Signs a device in for an existing account: creates the device or,
    /// if it exists, revokes its earlier tokens. Returns the revoked access
    /// tokens.
    fn create_login(&self, localpart: &str, login: &NewLogin) -> StoreResult<Vec<TokenHash>>;

    /// Replaces the password hash. With `revoke_other_devices`, deletes every
    /// device except `keep_device` with their tokens. Returns the revoked
    /// access tokens.
    ///
    /// `uia_session`, the session that authorised the change, is deleted
    /// with it, so that it cannot authorise another; if it is already gone
    /// (a concurrent request used it), nothing is written:
    /// [`StoreError::UnknownUiaSession`].
    fn set_password(
        &self,
        localpart: &str,
        password_hash: &str,
        keep_device: Option<&str>,
        revoke_other_devices: bool,
        uia_session: Option<&str>,
    ) -> StoreResult<Vec<TokenHash>>;

    /// Replaces `localpart`'s password hash by `new` if it is still `old`
    /// (a hash in an outdated format, just verified): a password change
    /// made meanwhile wins. Answers whether the hash was replaced.
    fn upgrade_password_hash(&self, localpart: &str, old: &str, new: &str) -> StoreResult<bool>;

    /// What an access token stands for, if it exists (expired or not).
    fn access_token(&self, token: &TokenHash) -> StoreResult<Option<AccessTokenRecord>>;

    /// Retires the refresh token that `refresh_token_id` was rotated from:
    /// the new pair has been used, so the old refresh token stops working.
    fn retire_refresh_predecessor(&self, refresh_token_id: i64) -> StoreResult<()>;

    /// Rotates a refresh token: mints `new` (which must carry a refresh
    /// token) for the same device, retires the refresh token this one was
    /// rotated from, drops any pair minted earlier from this same token that
    /// was never used, and deletes the device's access tokens that expired
    /// by `new.created_at`. `None` when the refresh token is unknown or
    /// retired; nothing is written then.
    fn rotate_refresh_token(&self, refresh: &TokenHash, new: &NewTokens) -> StoreResult<Option<Rotated>>;

    /// Deletes a device with its tokens. Returns the revoked access tokens.
    fn delete_device(&self, localpart: &str, device_id: &str) -> StoreResult<Vec<TokenHash>>;

    /// Deletes every device of an account. Returns the revoked access tokens.
    fn delete_all_devices(&self, localpart: &str) -> StoreResult<Vec<TokenHash>>;

    /// The devices of an account, by device ID.
    fn devices(&self, localpart: &str) -> StoreResult<Vec<DeviceRecord>>;

    /// One device of an account.
    fn device(&self, localpart: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>>;

    /// Renames a device (`None` clears the name); `false` if the account
    /// has no such device.
    fn set_device_display_name(
        &self,
        localpart: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> StoreResult<bool>;

    /// Deletes these devices of an account (IDs it does not have are
    /// skipped) with their tokens, and uses up `uia_session` as
    /// [`Store::set_password`] does. Returns the revoked access tokens.
    fn delete_devices(
        &self,
        localpart: &str,
        device_ids: &[String],
        uia_session: Option<&str>,
    ) -> StoreResult<Vec<TokenHash>>;

    /// Writes a batch of device uses in one transaction; a device deleted
    /// meanwhile is skipped.
    fn record_last_seen(&self, seen: &[LastSeen]) -> StoreResult<()>;

    /// A number that changes when another process has committed to the
    /// database (the operator's command line, an import, another instance)
    /// since it was last read, so that a running server can drop what it
    /// caches from it. Cheap: the server reads it four times a second
    /// (SQLite: `PRAGMA data_version`; PostgreSQL: a counter its
    /// notification listener moves). The default, for stores no other
    /// process writes to: it never changes.
    fn outside_writes(&self) -> StoreResult<i64> {
        Ok(0)
    }

    /// Deactivates an account for good: marks it deactivated (its localpart
    /// stays taken, so it is never handed out again), deletes its devices,
    /// tokens and 3pids, and uses up `uia_session` as
    /// [`Store::set_password`] does. The password hash is kept, so that a
    /// login with the right password can be told the account is
    /// deactivated while a wrong one learns nothing.
    fn deactivate_user(&self, localpart: &str, uia_session: Option<&str>) -> StoreResult<Deactivated>;

    /// Gives a deactivated account back its use, with a new password hash
    /// (the admin API's `deactivated: false`); `false` if there is no
    /// deactivated account of that name. Its devices, tokens and 3pids
    /// went with the deactivation and do not come back.
    fn reactivate_user(&self, localpart: &str, password_hash: &str) -> StoreResult<bool>;

    /// One page of the accounts an admin lists, and how many match in all.
    fn list_users(&self, listing: &UserListing) -> StoreResult<(Vec<UserRecord>, i64)>;

    /// Grants or takes away the admin flag; `false` if there is no such
    /// account.
    fn set_admin(&self, localpart: &str, admin: bool) -> StoreResult<bool>;

    /// Inserts or replaces a UIA session, and forgets sessions that expired
    /// before `now` (releasing the registration-token use those that never
    /// registered held in `pending`).
    fn put_uia_session(&self, session: &UiaSessionRecord, now: Millis) -> StoreResult<()>;

    /// A UIA session that has not expired at `now`.
    fn uia_session(&self, id: &str, now: Millis) -> StoreResult<Option<UiaSessionRecord>>;

    /// The 3pids of an account, oldest first.
    fn threepids(&self, localpart: &str) -> StoreResult<Vec<ThreepidRecord>>;

    /// The localpart of the account a 3pid is attached to.
    fn threepid_owner(&self, medium: &str, address: &str) -> StoreResult<Option<String>>;

    /// Attaches a 3pid. Attaching one the account already has changes
    /// nothing; one attached to another account is
    /// [`StoreError::ThreepidInUse`].
    ///
    /// `uia_session`, the session that authorised it, is deleted with it,
    /// as for [`Store::set_password`].
    fn add_threepid(&self, localpart: &str, threepid: &ThreepidRecord, uia_session: Option<&str>) -> StoreResult<()>;

    /// Detaches a 3pid; `false` if the account did not have it.
    fn delete_threepid(&self, localpart: &str, medium: &str, address: &str) -> StoreResult<bool>;

    /// Creates a registration token; `false` (and nothing written) if one
    /// with this text exists.
    fn create_registration_token(&self, token: &RegistrationTokenRecord) -> StoreResult<bool>;

    /// The registration token with this text. Backends look it up by a
    /// digest of the text (SQLite: SHA-256), never by comparing the
    /// submitted text with stored ones, whose timing would tell how much
    /// of a guess is right; callers confirm the match in constant time.
    fn registration_token(&self, token: &str) -> StoreResult<Option<RegistrationTokenRecord>>;

    /// Every registration token, by text; with `valid`, only those that
    /// are (`Some(true)`) or are not (`Some(false)`) usable at `now`.
    fn registration_tokens(&self, valid: Option<bool>, now: Millis) -> StoreResult<Vec<RegistrationTokenRecord>>;

    /// Changes a token's `uses_allowed` and/or `expiry_time`; the token as
    /// it is afterwards, `None` if there is none.
    fn update_registration_token(
        &self,
        token: &str,
        update: &RegistrationTokenUpdate,
    ) -> StoreResult<Option<RegistrationTokenRecord>>;

    /// Deletes a registration token; `false` if there was none. Sessions
    /// that passed the stage with it may still register.
    fn delete_registration_token(&self, token: &str) -> StoreResult<bool>;

    /// Writes accounts brought over from another homeserver, in one
    /// transaction: an interrupted import keeps every batch it committed,
    /// and its next run skips them ([`ImportOutcome::AlreadyPresent`]).
    /// One outcome per account, in order.
    fn import_users(&self, users: &[ImportedUser]) -> StoreResult<Vec<ImportOutcome>>;

    /// The UIA session `session` passes the token stage with `token`: if
    /// the token is usable at `now`, one use is reserved for the session
    /// (`pending + 1`, recorded in the session), in one transaction, so
    /// that concurrent sessions can never reserve more uses than allowed.
    /// A session that already holds this token keeps it (no second use).
    /// `false`: not usable (or the session is gone); nothing is written.
    fn claim_registration_token(&self, token: &str, session: &str, now: Millis) -> StoreResult<bool>;

    /// The live (not expired at `now`) e-mail session a request names by
    /// its `client_secret`, address and purpose.
    fn email_session_for(
        &self,
        client_secret: &str,
        address: &str,
        purpose: EmailPurpose,
        now: Millis,
    ) -> StoreResult<Option<EmailSessionRecord>>;

    /// The live e-mail session `sid`.
    fn email_session(&self, sid: &str, now: Millis) -> StoreResult<Option<EmailSessionRecord>>;

    /// Inserts or replaces an e-mail session (by `sid`; an expired session
    /// of the same `client_secret`, address and purpose is replaced too),
    /// and forgets sessions that expired before `now`.
    fn put_email_session(&self, session: &EmailSessionRecord, now: Millis) -> StoreResult<()>;

    /// Checks a submitted token against session `sid`, in one transaction:
    /// right, the session is validated and the token used up; wrong, the
    /// failure is counted and the token voided at `max_failures`, so that a
    /// short code cannot be guessed.
    fn submit_email_token(
        &self,
        sid: &str,
        client_secret: &str,
        token: &TokenHash,
        now: Millis,
        max_failures: i64,
    ) -> StoreResult<TokenSubmission>;

    /// Forgets an e-mail session (it has been used).
    fn delete_email_session(&self, sid: &str) -> StoreResult<()>;
}
