//! The account behaviour, knowing nothing of HTTP or spec versions.
//!
//! [`Accounts`] is the one service every era's HTTP adapter calls: the seed's
//! `v1`/`v2_alpha` handlers and today's `r0`/`v3` ones turn their requests
//! into the plain structs defined here and turn the results (or the Matrix
//! [`Error`]) back into their response shapes. Each rule therefore exists
//! once: registration and its username rules, User-Interactive
//! Authentication (one engine for register, password change, 3pid add,
//! device deletion and deactivation),
//! login, token rotation, logout, password change, 3pids and rate limits.
//!
//! Blocking work never runs on the async workers: store calls and argon2
//! run on blocking threads (argon2 with bounded concurrency), and the hot
//! path, checking an access token, is served from memory.
//!
//! Requests can be cancelled at any `.await` (the server drops a handler's
//! future when its client disconnects). A store write that must be followed
//! by a cache eviction therefore runs *with* it on one blocking thread
//! ([`Accounts::db_then`], [`Accounts::db_revoking`]): once the write has
//! started, dropping the future cannot skip the eviction and leave a
//! revoked token, or a stale 3pid list, in memory.
//!
//! One module per operation group, each adding its operations to
//! [`Accounts`]:
//! - `register`: `register`, `check_username_available`,
//!   `registration_token_valid`;
//! - `login`: `login`, `login_flows`;
//! - `tokens`: `authenticate` (whoami), `refresh`, `logout`, `logout_all`;
//! - `password`: `change_password`;
//! - `threepids`: `threepids`, `add_threepid`, `bind_threepid`,
//!   `delete_threepid`;
//! - `email`: `request_email_token`, `submit_email_token`,
//!   `open_email_link` (the e-mail validation the server runs itself);
//! - `devices`: `devices`, `device`, `rename_device`, `delete_device`,
//!   `delete_devices`, `flush_last_seen` (with `last_seen`, the batched
//!   last-use times);
//! - `deactivate`: `deactivate`;
//! - `registration_tokens`: their administration;
//! - `admin`: the admin API (`require_admin`, shared-secret registration,
//!   admin flag, deactivation and password reset on an admin's behalf),
//!   which the operator's command line (`cli`) shares as another `Actor`;
//! - `discovery`: `well_known`, `capabilities`;
//! - `uia`: the UIA engine the UIA-protected operations share.

mod admin;
mod cache;
mod deactivate;
mod devices;
mod discovery;
mod email;
mod hashing;
mod identifier;
mod identity_server;
mod ids;
mod last_seen;
mod login;
mod password;
mod rate_limit;
mod register;
mod registration_tokens;
mod secret;
mod threepids;
mod tokens;
mod turns;
mod uia;
mod uia_auth;
mod usernames;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{Created, Millis, RegistrationTokenRecord, Rotated, Store, StoreResult, TokenHash};

pub use admin::{Actor, AdminUserUpdate, AdminUserView, SharedSecretRegistration, Upserted, UserListQuery, UserPage};
pub use deactivate::DeactivateRequest;
pub use devices::Device;
pub use discovery::{Capabilities, WellKnown};
pub use email::{EmailLink, EmailTokenRequest, EmailTokenSent, SUBMIT_PATH, VALIDATION_PATH};
pub use identifier::UserIdentifier;
pub use login::{LoggedIn, LoginRequest};
pub use password::ChangePasswordRequest;
pub use register::{EmailSessionCredentials, RegisterRequest, Registered};
pub use registration_tokens::NewRegistrationToken;
pub use secret::Secret;
pub use threepids::{AddThreepidRequest, IdServerUnbindResult, Threepid, ThreepidCredentials};
pub use tokens::{Refreshed, Session};

/// How tokens are stored: the importer hashes Synapse's plain-text tokens
/// with it, so that they authenticate here as they did there.
pub(crate) use ids::token_hash;

/// The account service. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Arc<dyn Store>,
    usernames: usernames::UsernamePolicy,
    passwords: hashing::PasswordHasher,
    tokens: cache::CoherentCache<TokenHash, tokens::CachedToken>,
    threepids: cache::CoherentCache<String, Arc<[Threepid]>>,
    limits: rate_limit::RateLimiter,
    identity: identity_server::IdentityServers,
    /// The SMTP client, when `[email]` is configured.
    mailer: Option<crate::mail::Mailer>,
    /// Turns per UIA session ID: concurrent completions of one session
    /// run one after the other.
    turns: turns::Turns,
    /// Device uses not written yet.
    last_seen: last_seen::LastSeenTracker,
    /// The shared-registration secret, read at start; `None`: off.
    shared_secret: Option<String>,
    /// Shared-secret registration nonces handed out and not used yet.
    nonces: admin::Nonces,
    /// [`Store::outside_writes`] when last looked at.
    outside_writes: AtomicI64,
}

/// What the domain knows about the client making a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address, for per-IP rate limits.
    pub ip: IpAddr,
}

impl Accounts {
    /// Builds the service over `store`. Fails on configuration the domain
    /// cannot use (argon2 parameters, exclusive-namespace regexes, a 3pid
    /// delegate that is not trusted, e-mail required at registration
    /// without `[email]`).
    pub fn new(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        if config.registration.require_email && config.email.is_none() {
            anyhow::bail!(
                "[registration] require_email = true needs an [email] section: registration would ask for an \
                 address the server cannot send the validation mail to"
            );
        }
        // Tokens from the configuration join the database's, unlimited;
        // one that exists keeps its counts and limits.
        for token in &config.registration.tokens {
            store
                .create_registration_token(&RegistrationTokenRecord::new(token.clone(), None, None))
                .map_err(|e| anyhow::anyhow!("storing registration.tokens: {e}"))?;
        }
        let outside_writes = AtomicI64::new(
            store.outside_writes().map_err(|e| anyhow::anyhow!("reading the database's change counter: {e}"))?,
        );
        Ok(Accounts {
            inner: Arc::new(Inner {
                config: config.clone(),
                store,
                usernames: usernames::UsernamePolicy::new(
                    &config.server_name,
                    &config.registration.exclusive_namespaces,
                )?,
                passwords: hashing::PasswordHasher::new(&config.passwords)?,
                tokens: cache::CoherentCache::new(config.tokens.cache_capacity),
                threepids: cache::CoherentCache::new(config.tokens.cache_capacity),
                limits: rate_limit::RateLimiter::new(&config.rate_limits),
                identity: identity_server::IdentityServers::new(&config.identity)?,
                mailer: config.email.as_ref().map(crate::mail::Mailer::new).transpose()?,
                turns: turns::Turns::default(),
                last_seen: last_seen::LastSeenTracker::default(),
                shared_secret: shared_secret(&config.admin)?,
                nonces: admin::Nonces::default(),
                outside_writes,
            }),
        })
    }

    /// Opens (creating and migrating) the database `config.database` and
    /// builds the service over it.
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        let store = config.database.open().map_err(|e| anyhow::anyhow!("opening database {}: {e}", config.database))?;
        Accounts::new(config, store)
    }

    /// Drops every cached token and 3pid list if another process has written
    /// to the database since the last call: the operator's command line may
    /// have reset a password, deactivated an account or revoked tokens that
    /// would otherwise be served from memory until a restart. Such writes
    /// are rare, so refilling the caches costs nothing noticeable. Answers
    /// whether it did.
    pub async fn notice_outside_writes(&self) -> Result<bool> {
        let now = self.db(|store| store.outside_writes()).await?;
        let changed = self.inner.outside_writes.swap(now, Ordering::SeqCst) != now;
        if changed {
            self.inner.tokens.invalidate_all();
            self.inner.threepids.invalidate_all();
        }
        Ok(changed)
    }

    /// The server name in this server's user IDs (`home_server` in responses).
    pub fn server_name(&self) -> &str {
        self.inner.usernames.server_name()
    }

    fn user_id(&self, localpart: &str) -> String {
        self.inner.usernames.user_id(localpart)
    }

    /// Runs a store call on a blocking thread. For a write that calls for a
    /// cache eviction, use [`Accounts::db_then`] or [`Accounts::db_revoking`].
    async fn db<T, F>(&self, call: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
    {
        self.db_then(call, |_, _| ()).await
    }

    /// Runs a store call and then, if it succeeded, `then` with its result,
    /// both on one blocking thread: `then` is the cache eviction the write
    /// calls for. Dropping the returned future (a cancelled request) after
    /// it started cannot separate them: the blocking task runs to its end.
    async fn db_then<T, F, G>(&self, call: F, then: G) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
        G: FnOnce(&Inner, &T) + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || -> StoreResult<T> {
            let value = call(inner.store.as_ref())?;
            then(&inner, &value);
            Ok(value)
        });
        match task.await {
            Ok(result) => result.map_err(Error::from),
            Err(join) => Err(Error::internal(join)),
        }
    }

    /// [`Accounts::db_then`] for a write that revokes access tokens: they
    /// leave the token cache on the same blocking thread, right after the
    /// commit.
    async fn db_revoking<T, F>(&self, call: F) -> Result<T>
    where
        T: Revokes + Send + 'static,
        F: FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
    {
        self.db_then(call, |inner, value| inner.tokens.invalidate(value.revoked())).await
    }
}

/// The outcome of a store write that may revoke access tokens.
trait Revokes {
    fn revoked(&self) -> &[TokenHash];
}

impl Revokes for Vec<TokenHash> {
    fn revoked(&self) -> &[TokenHash] {
        self
    }
}

impl Revokes for Option<Rotated> {
    fn revoked(&self) -> &[TokenHash] {
        self.as_ref().map_or(&[], |rotated| &rotated.revoked)
    }
}

impl Revokes for Created {
    fn revoked(&self) -> &[TokenHash] {
        &self.revoked
    }
}

/// The shared-registration secret: `registration_shared_secret`, else the
/// contents of `registration_shared_secret_path` (one trailing newline
/// dropped); both set is a mistake, refused at start.
fn shared_secret(config: &crate::config::Admin) -> anyhow::Result<Option<String>> {
    match (&config.registration_shared_secret, &config.registration_shared_secret_path) {
        (Some(_), Some(_)) => {
            anyhow::bail!("set admin.registration_shared_secret or admin.registration_shared_secret_path, not both")
        }
        (Some(secret), None) => Ok(Some(secret.clone())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("reading admin.registration_shared_secret_path {}: {e}", path.display())
            })?;
            let secret = text.strip_suffix('\n').unwrap_or(&text);
            let secret = secret.strip_suffix('\r').unwrap_or(secret);
            anyhow::ensure!(!secret.is_empty(), "{} holds no shared secret", path.display());
            Ok(Some(secret.to_owned()))
        }
        (None, None) => Ok(None),
    }
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// A duration in the milliseconds the store and the spec count in,
/// saturating (no configured duration comes near 292 million years).
fn millis(duration: std::time::Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}

/// The answer for a guest calling what guests may not.
fn guest_forbidden() -> Error {
    Error::new(http::StatusCode::FORBIDDEN, crate::error::ErrorCode::GuestAccessForbidden, "Guest access not allowed")
}

/// Reads a UIA `auth` object the way the UIA engine does, and says whether
/// its stage's fields are usable. For the `uia_auth` fuzz target: any JSON
/// must give an answer or a Matrix error, never a panic.
#[doc(hidden)]
pub fn check_uia_auth(auth: serde_json::Value) -> Result<()> {
    match uia_auth::Auth::parse(Some(auth))? {
        Some(uia_auth::Auth { stage: Some(submitted), .. }) => submitted.stage().map(|_| ()),
        _ => Ok(()),
    }
}
