//! Registration (seed `POST /v2_alpha/register`, today's `POST /register`)
//! and username availability.
//!
//! The order of checks follows what clients rely on: cheap refusals first
//! and on every request, including the first one without `auth` (registration
//! disabled, rate limit, an invalid, taken or reserved username), then UIA,
//! then the password (required once UIA is done), then one transaction that
//! creates the account, its device and tokens, and marks the UIA session as
//! having registered it. Twenty concurrent registrations of one name meet in
//! that transaction: one creates the account, the others get
//! `M_USER_IN_USE`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::rate_limit::{Action, Subject};
use super::tokens::{Credentials, check_device_id};
use super::uia::{self, DUMMY, REGISTRATION_TOKEN, Resumable, Uia};
use super::{Accounts, ClientInfo, now_ms};
use crate::error::{Error, Result};
use crate::store::{NewLocalpart, NewUser, UiaOperation};

/// A registration request, whatever the era. Every field is optional so
/// that a UIA follow-up may carry only what changed; the session supplies
/// the rest.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The desired localpart (lower-cased); absent: the server picks a
    /// number.
    pub username: Option<String>,
    /// Never stored in a UIA session: hashed there instead.
    #[serde(skip)]
    pub password: Option<String>,
    pub device_id: Option<String>,
    pub initial_device_display_name: Option<String>,
    /// Create the account without a device or tokens.
    pub inhibit_login: Option<bool>,
    /// Issue a refresh token and an expiring access token (the seed era
    /// always asks for this).
    pub refresh_token: Option<bool>,
    /// `kind=guest`: no UIA, no password, a generated numeric user ID; every
    /// field but `initial_device_display_name` is ignored.
    #[serde(skip)]
    pub guest: bool,
}

impl fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("device_id", &self.device_id)
            .field("initial_device_display_name", &self.initial_device_display_name)
            .field("inhibit_login", &self.inhibit_login)
            .field("refresh_token", &self.refresh_token)
            .field("guest", &self.guest)
            .finish()
    }
}

impl Resumable for RegisterRequest {
    fn or(self, stored: Self) -> Self {
        RegisterRequest {
            username: self.username.or(stored.username),
            password: self.password,
            device_id: self.device_id.or(stored.device_id),
            initial_device_display_name: self.initial_device_display_name.or(stored.initial_device_display_name),
            inhibit_login: self.inhibit_login.or(stored.inhibit_login),
            refresh_token: self.refresh_token.or(stored.refresh_token),
            guest: self.guest,
        }
    }
}

/// A registered account; without `access_token`/`device_id` when the
/// request inhibited login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub user_id: String,
    pub access_token: Option<String>,
    pub device_id: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_in_ms: Option<u64>,
}

impl Registered {
    fn new(user_id: String, credentials: Option<Credentials>) -> Self {
        match credentials {
            Some(c) => Registered {
                user_id,
                access_token: Some(c.access_token),
                device_id: Some(c.device_id),
                refresh_token: c.refresh_token,
                expires_in_ms: c.expires_in_ms,
            },
            None => {
                Registered { user_id, access_token: None, device_id: None, refresh_token: None, expires_in_ms: None }
            }
        }
    }
}

impl Accounts {
    /// Registers an account (`guest: false`) or a guest.
    ///
    /// - Registration disabled: 403 `M_FORBIDDEN`; guests when
    ///   `registration.guest_access` is off: 403 `M_FORBIDDEN`.
    /// - Before UIA, on every request: rate limit per IP (429), username
    ///   lower-cased and checked (400 `M_INVALID_USERNAME`, `M_USER_IN_USE`,
    ///   `M_EXCLUSIVE`), `device_id` checked.
    /// - UIA: `m.login.dummy`, or `m.login.registration_token` when tokens
    ///   are configured; without a passed stage, 401 with a session that
    ///   remembers this request (the password only as a hash).
    /// - A replayed session that already registered answers the same user
    ///   with a new device and tokens.
    /// - After UIA: a missing or empty password is 400 `M_MISSING_PARAM`.
    /// - No username: the server picks the next free number.
    /// - `inhibit_login`: only `user_id`; otherwise a device (`device_id`
    ///   echoed or generated) and an access token, plus a refresh token and
    ///   `expires_in_ms` with `refresh_token: true`.
    /// - Errors write nothing; a name taken meanwhile is `M_USER_IN_USE`.
    pub async fn register(
        &self,
        request: RegisterRequest,
        auth: Option<serde_json::Value>,
        client: &ClientInfo,
    ) -> Result<Registered> {
        if request.guest {
            return self.register_guest(request, client).await;
        }
        if !self.inner.config.registration.enabled {
            return Err(Error::forbidden("Registration has been disabled"));
        }
        let ip = Subject::ip(client.ip);
        self.inner.limits.check(Action::Register, &ip)?;
        let auth = uia::auth_object(auth)?;
        let session = self.uia_session(UiaOperation::Register, auth.as_ref(), None).await?;
        let mut request = uia::resume(request, session.as_ref())?;

        if let Some(localpart) = session.as_ref().and_then(|session| session.registered.clone()) {
            return self.sign_in_registered(localpart, request).await;
        }

        let localpart = match &request.username {
            Some(username) => Some(self.available_localpart(username).await?),
            None => None,
        };
        if let Some(device_id) = &request.device_id {
            check_device_id(device_id)?;
        }
        let password = request.password.take().filter(|password| !password.is_empty());

        let flows = if self.inner.config.registration.tokens.is_empty() {
            vec![vec![DUMMY]]
        } else {
            vec![vec![REGISTRATION_TOKEN]]
        };
        let params = serde_json::to_value(&request).map_err(Error::internal)?;
        let uia = Uia { operation: UiaOperation::Register, flows, user: None, auth: auth.as_ref(), client };
        let passed = self.uia_authenticate(uia, session, params, password.as_deref()).await?;

        // The session's first request set the password (hashed when the
        // session began); a completing request that sends it again must not
        // cost a second argon2 hash.
        let password_hash = match (passed.password_hash, password) {
            (Some(stored), _) => stored,
            (None, Some(password)) => self.inner.passwords.hash(password).await?,
            (None, None) => return Err(Error::missing_param("password")),
        };
        self.inner.limits.consume(Action::Register, &ip)?;
        let user = NewUser {
            localpart: localpart.map_or(NewLocalpart::Generated, NewLocalpart::Chosen),
            password_hash: Some(password_hash),
            is_guest: false,
            created_at: now_ms(),
        };
        self.create_account(user, &request, passed.session_id).await
    }

    /// `kind=guest`: a numeric account without password or UIA.
    async fn register_guest(&self, request: RegisterRequest, client: &ClientInfo) -> Result<Registered> {
        if !self.inner.config.registration.guest_access {
            return Err(Error::forbidden("Guest access is disabled"));
        }
        self.inner.limits.consume(Action::Register, &Subject::ip(client.ip))?;
        let user =
            NewUser { localpart: NewLocalpart::Generated, password_hash: None, is_guest: true, created_at: now_ms() };
        let request = RegisterRequest {
            initial_device_display_name: request.initial_device_display_name,
            ..RegisterRequest::default()
        };
        self.create_account(user, &request, None).await
    }

    async fn create_account(
        &self,
        user: NewUser,
        request: &RegisterRequest,
        session: Option<String>,
    ) -> Result<Registered> {
        let login = if request.inhibit_login.unwrap_or(false) {
            None
        } else {
            let minted = self.mint_login(
                request.device_id.clone(),
                request.initial_device_display_name.clone(),
                request.refresh_token.unwrap_or(false),
            )?;
            Some(minted)
        };
        let (new_login, credentials) = login.unzip();
        let localpart = self.db(move |store| store.create_user(&user, new_login.as_ref(), session.as_deref())).await?;
        Ok(Registered::new(self.user_id(&localpart), credentials))
    }

    /// A replayed registration session: the same account, a new device.
    async fn sign_in_registered(&self, localpart: String, request: RegisterRequest) -> Result<Registered> {
        let user_id = self.user_id(&localpart);
        if request.inhibit_login.unwrap_or(false) {
            return Ok(Registered::new(user_id, None));
        }
        let (login, credentials) = self.mint_login(
            request.device_id,
            request.initial_device_display_name,
            request.refresh_token.unwrap_or(false),
        )?;
        let revoked = self.db(move |store| store.create_login(&localpart, &login)).await?;
        self.revoke(&revoked);
        Ok(Registered::new(user_id, Some(credentials)))
    }

    /// Whether `username` could be registered now (`GET /register/available`).
    ///
    /// - The same rules as registration, lower-casing included: 400
    ///   `M_INVALID_USERNAME`, `M_EXCLUSIVE`, `M_USER_IN_USE` (deactivated
    ///   accounts keep their name).
    /// - `Ok(())` means available; it reserves nothing.
    pub async fn check_username_available(&self, username: &str) -> Result<()> {
        self.available_localpart(username).await.map(drop)
    }

    async fn available_localpart(&self, username: &str) -> Result<String> {
        let localpart = self.inner.usernames.validate(username)?;
        let exists = {
            let localpart = localpart.clone();
            self.db(move |store| store.user(&localpart)).await?.is_some()
        };
        if exists {
            return Err(crate::store::StoreError::UserExists.into());
        }
        Ok(localpart)
    }
}
