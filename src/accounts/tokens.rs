//! Access and refresh tokens: minting, checking, rotating, revoking.
//!
//! Checking a token is the hottest path of the server (every authenticated
//! request, and all of whoami), so it is answered from an in-memory cache
//! keyed by the token's SHA-256: a hit costs a hash and a shard read lock,
//! no SQLite, no thread hand-off. Misses load from the store on a blocking
//! thread and fill the cache; every revocation (logout, logout-all, password
//! change, a rotation that kills an unused pair) evicts what the store
//! revoked, without races (see `cache`), on the thread that made the store
//! write, so that a cancelled request cannot skip the eviction.
//!
//! Refresh tokens rotate (spec `POST /refresh`, seed `POST /tokenrefresh`):
//! refreshing R1 mints (A2, R2); R1 keeps working until the new pair is used
//! (A2 on any request, or R2 refreshed), and a second refresh with R1 before
//! that mints (A2', R2') and kills (A2, R2), as Synapse does. Then R1 answers
//! 401 `M_UNKNOWN_TOKEN`. Recording "A2 was used" is a store write, done once:
//! the cached entry remembers that it is pending and forgets it after.

use std::fmt;
use std::sync::Arc;

use super::last_seen::Noted;
use super::{Accounts, ClientInfo, ids, now_ms};
use crate::error::{Error, Result};
use crate::store::{Millis, NewLogin, NewTokens, TokenHash};

/// The authenticated caller of a request: who, on which device.
///
/// One shared allocation: handing a cached session to a request is a single
/// reference-count increment, the cheapest thing two cores serving the same
/// token can contend on.
#[derive(Clone)]
pub struct Session(Arc<SessionData>);

struct SessionData {
    user_id: Box<str>,
    device_id: Box<str>,
    is_guest: bool,
    /// The device's last use noted for `GET /devices` (see `last_seen`).
    noted: Noted,
}

impl Session {
    /// The full user ID, `@localpart:server`.
    pub fn user_id(&self) -> &str {
        &self.0.user_id
    }

    pub fn device_id(&self) -> &str {
        &self.0.device_id
    }

    pub fn is_guest(&self) -> bool {
        self.0.is_guest
    }

    pub(crate) fn localpart(&self) -> &str {
        let user_id = self.user_id();
        let without_sigil = user_id.strip_prefix('@').unwrap_or(user_id);
        without_sigil.split_once(':').map_or(without_sigil, |(localpart, _)| localpart)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id())
            .field("device_id", &self.device_id())
            .field("is_guest", &self.is_guest())
            .finish()
    }
}

/// What the cache remembers about an access token.
#[derive(Clone)]
pub(crate) struct CachedToken {
    session: Session,
    expires_at: Option<Millis>,
    refresh_token_id: Option<i64>,
    /// The refresh token this pair was rotated from still works: the first
    /// use of this token retires it.
    predecessor_alive: bool,
}

/// The answer to a refresh: a new pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    pub access_token: String,
    pub refresh_token: String,
    /// Lifetime of the new access token.
    pub expires_in_ms: u64,
}

/// Tokens just minted for a device, in the form the client receives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) device_id: String,
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in_ms: Option<u64>,
}

fn unknown_token() -> Error {
    Error::unknown_token("Invalid access token passed.", false)
}

impl Accounts {
    /// Checks an access token (whoami, and the start of every authenticated
    /// request).
    ///
    /// - Answered from memory after the first use of a token; the store is
    ///   read once per token, and written once for the first use of a pair
    ///   minted by a refresh.
    /// - Unknown, revoked, or a deactivated account: 401 `M_UNKNOWN_TOKEN`,
    ///   `soft_logout: false`.
    /// - Expired (tokens issued with a refresh token): 401 `M_UNKNOWN_TOKEN`,
    ///   `soft_logout: true`, so the client refreshes instead of starting over.
    pub async fn authenticate(&self, access_token: &str) -> Result<Session> {
        self.authenticate_token(access_token, false).await
    }

    /// Notes that `session` made a request from `client`, for the device's
    /// `last_seen_ip`/`last_seen_ts`: in memory, at most once a minute per
    /// token and address, written in batches (see `last_seen`).
    pub fn note_use(&self, session: &Session, client: &ClientInfo) {
        let data = &session.0;
        self.inner.last_seen.note(&data.noted, session.localpart(), &data.device_id, client.ip, now_ms());
    }

    /// [`Self::authenticate`] for `POST /logout` and `/logout/all`: an
    /// expired access token is accepted (as the spec allows and Synapse
    /// does), so that a client whose token lapsed can still end its
    /// session. A revoked or unknown token, or a deactivated account, is
    /// still 401.
    pub async fn authenticate_for_logout(&self, access_token: &str) -> Result<Session> {
        self.authenticate_token(access_token, true).await
    }

    async fn authenticate_token(&self, access_token: &str, allow_expired: bool) -> Result<Session> {
        let hash = ids::token_hash(access_token);
        // Read once, before anything is read: whatever this call caches (the
        // loaded token, then its first use) is dropped if a revocation
        // happened at any point since, including while it awaited the store.
        let read_at = self.inner.tokens.epoch();
        let cached = match self.inner.tokens.get(&hash) {
            Some(cached) => cached,
            None => self.load_token(read_at, hash).await?,
        };
        if cached.expires_at.is_some_and(|expires_at| now_ms() >= expires_at) {
            if allow_expired {
                // About to be revoked: its first use retires nothing.
                return Ok(cached.session);
            }
            return Err(Error::unknown_token("Access token has expired", true));
        }
        if cached.predecessor_alive {
            self.record_first_use(read_at, hash, cached.clone()).await?;
        }
        Ok(cached.session)
    }

    /// Loads a token missing from the cache; `read_at` is the cache epoch
    /// read before the cache was.
    async fn load_token(&self, read_at: u64, hash: TokenHash) -> Result<CachedToken> {
        let record = self.db(move |store| store.access_token(&hash)).await?;
        let record = record.filter(|record| !record.deactivated).ok_or_else(unknown_token)?;
        let cached = CachedToken {
            session: Session(Arc::new(SessionData {
                user_id: self.user_id(&record.localpart).into(),
                device_id: record.device_id.into(),
                is_guest: record.is_guest,
                noted: Noted::default(),
            })),
            expires_at: record.expires_at,
            refresh_token_id: record.refresh_token_id,
            predecessor_alive: record.predecessor_alive,
        };
        self.inner.tokens.fill(read_at, hash, cached.clone());
        Ok(cached)
    }

    /// The first use of a refreshed pair retires the refresh token it was
    /// rotated from. `read_at`: the cache epoch read before `cached` was
    /// looked up or loaded (reading it now would let a logout that happened
    /// meanwhile be undone by the fill).
    async fn record_first_use(&self, read_at: u64, hash: TokenHash, mut cached: CachedToken) -> Result<()> {
        let Some(refresh_token_id) = cached.refresh_token_id else {
            return Ok(());
        };
        self.db(move |store| store.retire_refresh_predecessor(refresh_token_id)).await?;
        cached.predecessor_alive = false;
        self.inner.tokens.fill(read_at, hash, cached);
        Ok(())
    }

    /// Rotates a refresh token (spec `POST /refresh`, seed `POST /tokenrefresh`).
    ///
    /// - Answers a new access token (expiring after
    ///   `tokens.access_token_lifetime`) and a new refresh token.
    /// - The old refresh token works until the new pair is used; using it
    ///   again before that mints another pair and kills the previous one.
    /// - Unknown, used up, or not a refresh token: 401 `M_UNKNOWN_TOKEN`,
    ///   `soft_logout: false`.
    /// - Audit: a token of this server's form that no longer rotates (used
    ///   up, or revoked) is logged at `warn` as `event = "refresh.reused"`
    ///   with the client IP: a used-up refresh token coming back is the
    ///   sign of a stolen one. Its owner is not known any more (used-up
    ///   tokens are deleted), and the token itself is never logged.
    pub async fn refresh(&self, refresh_token: &str, client: &ClientInfo) -> Result<Refreshed> {
        let prefixes = [ids::REFRESH_TOKEN_PREFIX, ids::SYNAPSE_REFRESH_TOKEN_PREFIX];
        if !prefixes.iter().any(|prefix| refresh_token.starts_with(prefix)) {
            return Err(Error::unknown_token("Invalid refresh token", false));
        }
        let hash = ids::token_hash(refresh_token);
        let (new, minted) = self.mint_tokens(true)?;
        let rotated = self.db_revoking(move |store| store.rotate_refresh_token(&hash, &new)).await?;
        if rotated.is_none() {
            tracing::warn!(event = "refresh.reused", ip = %client.ip, "a used-up or revoked refresh token was presented");
            return Err(Error::unknown_token("Refresh token does not exist or is no longer valid", false));
        }
        match minted {
            Credentials {
                access_token,
                refresh_token: Some(refresh_token),
                expires_in_ms: Some(expires_in_ms),
                ..
            } => Ok(Refreshed { access_token, refresh_token, expires_in_ms }),
            _ => Err(Error::internal("a rotation minted no refresh token")),
        }
    }

    /// Logs out the caller's device (spec `POST /logout`).
    ///
    /// - The device and all its tokens (access and refresh) are deleted.
    /// - Other devices are untouched.
    pub async fn logout(&self, session: &Session) -> Result<()> {
        let (localpart, device_id) = (session.localpart().to_owned(), session.device_id().to_owned());
        self.db_revoking(move |store| store.delete_device(&localpart, &device_id)).await?;
        Ok(())
    }

    /// Logs out every device of the caller's account (spec `POST /logout/all`),
    /// the caller's included.
    pub async fn logout_all(&self, session: &Session) -> Result<()> {
        let localpart = session.localpart().to_owned();
        self.db_revoking(move |store| store.delete_all_devices(&localpart)).await?;
        Ok(())
    }

    /// Mints an access token, and a refresh token with an expiring access
    /// token when asked; nothing is stored yet.
    fn mint_tokens(&self, with_refresh: bool) -> Result<(NewTokens, Credentials)> {
        let access_token = ids::access_token()?;
        let refresh_token = if with_refresh { Some(ids::refresh_token()?) } else { None };
        let now = now_ms();
        let lifetime = super::millis(self.inner.config.tokens.access_token_lifetime);
        let expires_in_ms = with_refresh.then_some(lifetime.unsigned_abs());
        let new = NewTokens {
            access: ids::token_hash(&access_token),
            refresh: refresh_token.as_deref().map(ids::token_hash),
            expires_at: expires_in_ms.map(|ms| now.saturating_add(ms as Millis)),
            created_at: now,
        };
        Ok((new, Credentials { device_id: String::new(), access_token, refresh_token, expires_in_ms }))
    }

    /// Prepares a device login: the given device ID (checked) or a fresh
    /// one, its display name, and new tokens.
    pub(crate) fn mint_login(
        &self,
        device_id: Option<String>,
        display_name: Option<String>,
        with_refresh: bool,
    ) -> Result<(NewLogin, Credentials)> {
        let device_id = match device_id {
            Some(device_id) => {
                check_device_id(&device_id)?;
                device_id
            }
            None => ids::device_id()?,
        };
        let (tokens, mut credentials) = self.mint_tokens(with_refresh)?;
        credentials.device_id = device_id.clone();
        let display_name = display_name.map(|name| name.chars().take(super::devices::MAX_DISPLAY_NAME_CHARS).collect());
        Ok((NewLogin { device_id, display_name, tokens }, credentials))
    }
}

/// A client-chosen device ID: non-empty, at most 255 bytes.
pub(crate) fn check_device_id(device_id: &str) -> Result<()> {
    if device_id.is_empty() || device_id.len() > 255 {
        return Err(Error::invalid_param("device_id must be 1 to 255 bytes long"));
    }
    Ok(())
}
