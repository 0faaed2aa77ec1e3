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
//! `M_USER_IN_USE`. Concurrent completions of one UIA session do not get
//! that far together: they take turns on the session (see `turns`), the
//! first registers, and each later one is a retry of a completed session.
//!
//! A completed session can be retried, as the spec allows a client that lost
//! the answer, but briefly (`tokens.completed_registration_retry`) and only
//! by the client that completed it: the retry must repeat the password,
//! which the session keeps as a keyed digest (HMAC-SHA256 under a key that
//! lives in this process only; after a restart no retry can prove itself),
//! and may not name another user. A retry costs no argon2 hash; it signs in
//! a new device on the same account.
//!
//! Rate limit: every request is checked against the per-IP bucket before
//! UIA, and a request that starts a flow (no UIA session: a one-shot, or a
//! first step that stores a new session and hashes its password) uses up an
//! attempt; follow-ups of a session do not, so a two-step registration
//! costs one attempt.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::rate_limit::{Action, Subject};
use super::secret::Secret;
use super::tokens::{Credentials, check_device_id};
use super::uia::{self, DUMMY, EMAIL_IDENTITY, REGISTRATION_TOKEN, Remember, Resumable, Stage, Submitted, Uia};
use super::{Accounts, ClientInfo, now_ms};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{
    EmailPurpose, NewLocalpart, NewUser, RegistrationCompletion, ThreepidRecord, UiaOperation, UiaSessionRecord,
};

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
    /// The e-mail session (this server's own) of the latest
    /// `m.login.email.identity` stage submitted. [`Accounts::register`]
    /// sets it from `auth` (callers leave it `None`) and the UIA session
    /// remembers it with the request, so that the account created at the
    /// end of the flow gets the address, whichever request passed the
    /// stage. It counts only once that stage is completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_session: Option<EmailSessionCredentials>,
}

/// `threepid_creds` of an `m.login.email.identity` stage without
/// `id_server`. The `client_secret` stays in the UIA session's parameters
/// until the session completes or expires, as 3pid add's does.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailSessionCredentials {
    pub sid: String,
    pub client_secret: String,
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
            .field("email_session", &self.email_session.as_ref().map(|creds| &creds.sid))
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
            email_session: self.email_session.or(stored.email_session),
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
    /// - Registration disabled: 403 `M_FORBIDDEN`, guests included; guests
    ///   when `registration.guest_access` is off: 403 `M_FORBIDDEN`.
    /// - Before UIA, on every request: rate limit per IP (429; a request
    ///   without a UIA session, which starts a flow, uses an attempt), username
    ///   lower-cased and checked (400 `M_INVALID_USERNAME`, `M_USER_IN_USE`,
    ///   `M_EXCLUSIVE`), `device_id` checked.
    /// - UIA: `m.login.dummy`, or `m.login.registration_token` when
    ///   `registration.requires_token` is set or `registration.tokens` is
    ///   not empty (an unusable token: 401 `M_UNAUTHORIZED`; a token with
    ///   `uses_allowed` registers that many accounts, however many requests
    ///   race); without a passed stage, 401 with a session that remembers
    ///   this request (the password only as a hash).
    /// - Completions of one session take turns; one registers. A retry of
    ///   a session that registered (within
    ///   `tokens.completed_registration_retry`, with the same password and
    ///   username) answers the same user with a new device and tokens; any
    ///   other request on it is 403 `M_FORBIDDEN`.
    /// - After UIA: a missing or empty password is 400 `M_MISSING_PARAM`.
    ///   The follow-up's values win over the session's, the password
    ///   included; one carrying no password uses the session's.
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
        if !self.inner.config.registration.enabled {
            return Err(Error::forbidden("Registration has been disabled"));
        }
        if request.guest {
            return self.register_guest(request, client).await;
        }
        let ip = Subject::ip(client.ip);
        self.inner.limits.check(Action::Register, &ip)?;
        let auth = uia::Auth::parse(auth)?;
        // Completions of one session take turns, so that exactly one of
        // them registers (and hashes), and every other one is judged as a
        // retry of it, with the session read after the winner's commit.
        let _turn = match auth.as_ref().and_then(|auth| auth.session.as_deref()) {
            Some(id) => Some(self.inner.turns.take(id).await),
            None => None,
        };
        let session = self.uia_session(UiaOperation::Register, auth.as_ref(), None).await?;
        let starts_flow = session.is_none();
        if let Some(session) = &session
            && let Some(localpart) = session.registered.clone()
        {
            return self.retry_registration(session, localpart, request, client).await;
        }
        let mut request = request;
        if let Some(Ok(Stage::EmailIdentity { sid, client_secret, id_server: None })) =
            auth.as_ref().and_then(|auth| auth.stage.as_ref()).map(Submitted::stage)
        {
            let client_secret = client_secret.expose().to_owned();
            request.email_session = Some(EmailSessionCredentials { sid: sid.clone(), client_secret });
        }
        let mut request = uia::resume(request, session.as_ref())?;

        let localpart = match &request.username {
            Some(username) => Some(self.available_localpart(username).await?),
            None => None,
        };
        if let Some(device_id) = &request.device_id {
            check_device_id(device_id)?;
        }
        let password = request.password.take().filter(|password| !password.is_empty()).map(Secret::from);

        let flows = self.registration_flows();
        let params = serde_json::to_value(&request).map_err(Error::internal)?;
        // Starting a flow costs an attempt, before it can cost a stored
        // session and an argon2 hash.
        if starts_flow {
            self.inner.limits.consume(Action::Register, &ip)?;
        }
        let uia = Uia {
            operation: UiaOperation::Register,
            flows,
            user: None,
            auth: auth.as_ref(),
            client,
            remember: Remember::Hash,
        };
        let passed = self.uia_authenticate(uia, session, params, password.as_ref()).await?;
        let email = self.registration_email(&passed, request.email_session.as_ref()).await?;

        // What a retry of this session will have to repeat: the password
        // the account is created with, as a keyed digest.
        let password_digest = match (&password, &passed.session_id) {
            (Some(password), Some(id)) => Some(self.inner.passwords.digest(id, password.expose())),
            _ => passed.password_digest.clone(),
        };
        let password_hash =
            self.uia_password_hash(&passed, password).await?.ok_or_else(|| Error::missing_param("password"))?;
        let now = now_ms();
        let retry = super::millis(self.inner.config.tokens.completed_registration_retry);
        let completion = passed.session_id.map(|session| RegistrationCompletion {
            session,
            password_digest,
            retry_until: now.saturating_add(retry),
        });
        let user = NewUser {
            localpart: localpart.map_or(NewLocalpart::Generated, NewLocalpart::Chosen),
            password_hash: Some(password_hash),
            is_guest: false,
            admin: false,
            created_at: now,
            registration_token: passed.registration_token,
            threepid: email.as_ref().map(|(_, threepid)| threepid.clone()),
        };
        let registered = self.create_account(user, &request, completion).await?;
        if let Some((sid, _)) = email {
            self.forget_email_session(sid).await?;
        }
        Ok(registered)
    }

    /// The UIA flows registration offers: `m.login.dummy`, or
    /// `m.login.registration_token` when tokens are required; with e-mail
    /// configured, also (or, under `require_email`, only) a flow with
    /// `m.login.email.identity`.
    fn registration_flows(&self) -> Vec<Vec<&'static str>> {
        let registration = &self.inner.config.registration;
        let base = if registration.requires_token || !registration.tokens.is_empty() {
            vec![REGISTRATION_TOKEN]
        } else {
            vec![DUMMY]
        };
        // With e-mail configured, registering with an address is offered
        // beside the flow without one, or is the only flow under
        // `require_email` (which cannot be set without e-mail).
        let with_email = || base.iter().copied().filter(|stage| *stage != DUMMY).chain([EMAIL_IDENTITY]).collect();
        if registration.require_email {
            vec![with_email()]
        } else if self.inner.mailer.is_some() {
            vec![base.clone(), with_email()]
        } else {
            vec![base]
        }
    }

    /// Whether the UIA fallback page serves `stage`: a stage a person
    /// completes in a browser, and that registration offers here. Only
    /// `m.login.registration_token` qualifies (Synapse's other browser
    /// stages, reCAPTCHA, terms and SSO, are not offered by this server).
    pub fn fallback_serves(&self, stage: &str) -> bool {
        stage == REGISTRATION_TOKEN
            && self.inner.config.registration.enabled
            && self.registration_flows().iter().flatten().any(|offered| *offered == stage)
    }

    /// The UIA fallback's form: completes `m.login.registration_token` in
    /// the registration session `session` with `token`, through the very
    /// stage the JSON API runs ([`Accounts::uia_complete_stage`]): one use
    /// reserved for the session (`pending`), wrong tokens limited per IP.
    /// The registration itself is then finished by the client with the
    /// session. A wrong or used-up token: 401 `M_UNAUTHORIZED`, which the
    /// page shows; an unknown or expired session: 400 `M_UNKNOWN`; a
    /// session of another operation: 403.
    pub async fn complete_registration_token_stage(
        &self,
        session: &str,
        token: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        if !self.inner.config.registration.enabled {
            return Err(Error::forbidden("Registration has been disabled"));
        }
        let auth = uia::Auth::parse(Some(serde_json::json!({
            "type": REGISTRATION_TOKEN,
            "session": session,
            "token": token,
        })))?
        .ok_or_else(|| Error::missing_param("session"))?;
        self.uia_complete_stage(UiaOperation::Register, self.registration_flows(), &auth, client).await
    }

    /// The address a registration that passed `m.login.email.identity`
    /// with one of this server's sessions gives the account (`None` when
    /// the flow completed had no e-mail stage), and that session's `sid`.
    /// Its session must still be validated: 401 `M_UNAUTHORIZED` if it
    /// expired since the stage passed.
    async fn registration_email(
        &self,
        passed: &uia::Passed,
        creds: Option<&EmailSessionCredentials>,
    ) -> Result<Option<(String, ThreepidRecord)>> {
        let Some(creds) = creds.filter(|_| passed.completed.iter().any(|stage| stage == EMAIL_IDENTITY)) else {
            return Ok(None);
        };
        let session = self.validated_email(&creds.sid, &creds.client_secret, EmailPurpose::Register).await?;
        let session = session.ok_or_else(|| {
            Error::new(http::StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, super::email::NOT_VALIDATED)
        })?;
        let threepid = ThreepidRecord {
            medium: "email".into(),
            address: session.address,
            validated_at: session.validated_at.unwrap_or_else(now_ms),
            added_at: now_ms(),
            id_server: None,
        };
        Ok(Some((session.sid, threepid)))
    }

    /// A request on a session that has already registered an account: the
    /// spec lets a client that lost the answer repeat its request and get
    /// the account again (on a new device). Only the client that completed
    /// it can: the retry must carry the same password (checked against the
    /// session's keyed digest, never a new argon2 hash) and no other
    /// username, within `tokens.completed_registration_retry`. Anything
    /// else is 403 `M_FORBIDDEN`; a session past its retry time is unknown.
    async fn retry_registration(
        &self,
        session: &UiaSessionRecord,
        localpart: String,
        request: RegisterRequest,
        client: &ClientInfo,
    ) -> Result<Registered> {
        let same_password = match (&request.password, &session.password_digest) {
            (Some(password), Some(digest)) => self.inner.passwords.digest_matches(&session.id, password, digest),
            _ => false,
        };
        let same_name = request
            .username
            .as_deref()
            .is_none_or(|username| self.inner.usernames.validate(username).is_ok_and(|name| name == localpart));
        if !(same_password && same_name) {
            tracing::warn!(
                event = "registration.retry.refused",
                user = %self.user_id(&localpart),
                ip = %client.ip,
                "a retry of a completed registration did not repeat its request"
            );
            return Err(Error::forbidden(
                "This registration session has completed; only a retry with the same username and password is answered",
            ));
        }
        let request = uia::resume(request, Some(session))?;
        self.sign_in_registered(localpart, request).await
    }

    /// `kind=guest`: a numeric account without password or UIA.
    async fn register_guest(&self, request: RegisterRequest, client: &ClientInfo) -> Result<Registered> {
        if !self.inner.config.registration.guest_access {
            return Err(Error::forbidden("Guest access is disabled"));
        }
        self.inner.limits.consume(Action::Register, &Subject::ip(client.ip))?;
        let user = NewUser {
            localpart: NewLocalpart::Generated,
            password_hash: None,
            is_guest: true,
            admin: false,
            created_at: now_ms(),
            registration_token: None,
            threepid: None,
        };
        let request = RegisterRequest {
            initial_device_display_name: request.initial_device_display_name,
            ..RegisterRequest::default()
        };
        self.create_account(user, &request, None).await
    }

    pub(crate) async fn create_account(
        &self,
        user: NewUser,
        request: &RegisterRequest,
        completion: Option<RegistrationCompletion>,
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
        let created =
            self.db_revoking(move |store| store.create_user(&user, new_login.as_ref(), completion.as_ref())).await?;
        Ok(Registered::new(self.user_id(&created.localpart), credentials))
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
        self.db_revoking(move |store| store.create_login(&localpart, &login)).await?;
        Ok(Registered::new(user_id, Some(credentials)))
    }

    /// Whether `username` could be registered now (`GET /register/available`).
    ///
    /// - The same rules as registration, lower-casing included: 400
    ///   `M_INVALID_USERNAME`, `M_EXCLUSIVE`, `M_USER_IN_USE` (deactivated
    ///   accounts keep their name).
    /// - `Ok(())` means available; it reserves nothing.
    /// - It tells anyone which names exist, so it is limited per IP
    ///   (`rate_limits.available`, 429).
    pub async fn check_username_available(&self, username: &str, client: &ClientInfo) -> Result<()> {
        self.inner.limits.consume(Action::Available, &Subject::ip(client.ip))?;
        self.available_localpart(username).await.map(drop)
    }

    /// Whether `token` could be used to register now (for
    /// `GET /register/m.login.registration_token/validity`): known, not
    /// expired, a use left. It reserves nothing. Like the availability
    /// check it tells a stranger what exists, so it shares its per-IP
    /// limit (`rate_limits.available`, 429).
    pub async fn registration_token_valid(&self, token: &str, client: &ClientInfo) -> Result<bool> {
        self.inner.limits.consume(Action::Available, &Subject::ip(client.ip))?;
        Ok(self.usable_registration_token(token).await?.is_some())
    }

    pub(crate) async fn available_localpart(&self, username: &str) -> Result<String> {
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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use serde_json::json;

    use super::*;
    use crate::config::Config;
    use crate::error::ErrorCode;

    fn accounts() -> (tempfile::TempDir, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { passwords: crate::accounts::hashing::tests::fast(), ..Config::default() };
        config.rate_limits.enabled = false;
        config.database = crate::store::Database::Sqlite(dir.path().join("accounts.db"));
        let accounts = Accounts::open(&config).unwrap();
        (dir, accounts)
    }

    fn request(username: &str, password: Option<&str>) -> RegisterRequest {
        RegisterRequest {
            username: Some(username.into()),
            password: password.map(str::to_owned),
            ..RegisterRequest::default()
        }
    }

    fn session_of(challenge: &Error) -> String {
        challenge.challenge().expect("a UIA challenge").session.clone()
    }

    /// Fifty clients complete one session at once, each with its own
    /// password: one registers, with one more hash; the other 49 are refused
    /// as retries that do not repeat its password, and cost no hash.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_completions_of_one_session_register_once() {
        let (_dir, accounts) = accounts();
        let client = ClientInfo { ip: IpAddr::from([127, 0, 0, 1]) };
        let challenge = accounts.register(request("pia", Some("pw-start")), None, &client).await.unwrap_err();
        let session = session_of(&challenge);
        assert_eq!(accounts.inner.passwords.hashes_made(), 1);
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(50));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let (accounts, start) = (accounts.clone(), start.clone());
                let auth = json!({"type": "m.login.dummy", "session": session});
                tokio::spawn(async move {
                    start.wait().await;
                    let password = format!("pw-{i}");
                    let answer = accounts.register(request("pia", Some(&password)), Some(auth), &client).await;
                    (password, answer)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (password, answer) = task.await.unwrap();
            match answer {
                Ok(registered) => {
                    assert_eq!(registered.user_id, "@pia:localhost");
                    winners.push(password);
                }
                Err(error) => assert_eq!((error.status().as_u16(), error.code()), (403, Some(ErrorCode::Forbidden))),
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        assert_eq!(accounts.inner.passwords.hashes_made(), 2);

        // The winner may retry (no hash), with the same username or none;
        // not with another one.
        let auth = json!({"type": "m.login.dummy", "session": session});
        let retry = accounts.register(request("pia", Some(&winners[0])), Some(auth.clone()), &client).await;
        assert_eq!(retry.unwrap().user_id, "@pia:localhost");
        let unnamed = RegisterRequest { password: Some(winners[0].clone()), ..RegisterRequest::default() };
        accounts.register(unnamed, Some(auth.clone()), &client).await.unwrap();
        let renamed = accounts.register(request("pib", Some(&winners[0])), Some(auth), &client).await;
        assert_eq!(renamed.unwrap_err().code(), Some(ErrorCode::Forbidden));
        assert_eq!(accounts.inner.passwords.hashes_made(), 2);
        let login = crate::accounts::LoginRequest {
            login_type: "m.login.password".into(),
            identifier: crate::accounts::UserIdentifier::User("pia".into()),
            password: Some(winners[0].clone()),
            device_id: None,
            initial_device_display_name: None,
            refresh_token: false,
        };
        accounts.login(login, &client).await.unwrap();
    }

    /// What a real client does: the whole body twice, the second time with
    /// `auth`. The benchmark target: one argon2 hash in all.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_two_step_registration_costs_one_hash() {
        let (_dir, accounts) = accounts();
        let client = ClientInfo { ip: IpAddr::from([127, 0, 0, 1]) };
        let hashes = || accounts.inner.passwords.hashes_made();

        let challenge = accounts.register(request("ann", Some("pw-1")), None, &client).await.unwrap_err();
        assert_eq!(hashes(), 1);
        let auth = json!({"type": "m.login.dummy", "session": session_of(&challenge)});
        accounts.register(request("ann", Some("pw-1")), Some(auth), &client).await.unwrap();
        assert_eq!(hashes(), 1, "resending the same password hashed it again");

        // Another password on the follow-up: that one, hashed.
        let challenge = accounts.register(request("bea", Some("pw-1")), None, &client).await.unwrap_err();
        assert_eq!(hashes(), 2);
        let auth = json!({"type": "m.login.dummy", "session": session_of(&challenge)});
        accounts.register(request("bea", Some("pw-2")), Some(auth), &client).await.unwrap();
        assert_eq!(hashes(), 3);

        // Follow-ups that do not complete, each with a new password, cost
        // nothing more: a session is hashed at most once before it completes.
        let challenge = accounts.register(request("cid", Some("pw-1")), None, &client).await.unwrap_err();
        let session = session_of(&challenge);
        for attempt in 0..5 {
            let incomplete = json!({"session": session});
            let password = format!("pw-{attempt}");
            accounts.register(request("cid", Some(&password)), Some(incomplete), &client).await.unwrap_err();
        }
        assert_eq!(hashes(), 4);
    }
}
