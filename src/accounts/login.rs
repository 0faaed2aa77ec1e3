//! Password login (seed `POST /api/v1/login`, today's `POST /login`).
//!
//! Every way a login can fail for the account (unknown user, another
//! server's user, an unknown 3pid, a wrong password, a guest) answers the
//! same 403 `M_FORBIDDEN` "Invalid username or password" after the same
//! work: one argon2 verification, against a dummy
//! hash when there is no real one. The reference server answers unknown users
//! in 3 ms and wrong passwords in 250 ms; this one does not tell them apart.
//! A deactivated account with the *right* password answers 403
//! `M_USER_DEACTIVATED` (the spec's code): only its owner learns it is closed.
//!
//! Limits (see `rate_limit`): every attempt per IP; failures per (named
//! account, IP), checked before the password and charged only by a wrong
//! one; successes per account. A stranger who knows a user ID can therefore
//! lock only their own address out of it, never the owner.
//!
//! Audit: every failure is logged at `warn` with `event = "login.failed"`,
//! every refusal by the failure limit with `event = "login.locked"`, with
//! the name as given and the client IP; never the password.

use std::fmt;

use super::hashing::Verified;
use super::identifier::UserIdentifier;
use super::rate_limit::{Action, Subject};
use super::secret::Secret;
use super::threepids::canonical_address;
use super::{Accounts, ClientInfo};
use crate::error::{Error, ErrorCode, Result};

/// The login type this server offers.
const PASSWORD_LOGIN: &str = "m.login.password";

/// A login attempt, whatever the era of its request.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// The `type` field; only `m.login.password` is supported.
    pub login_type: String,
    /// Who logs in ([`UserIdentifier::from_json`] reads every era's forms).
    pub identifier: UserIdentifier,
    pub password: Option<String>,
    /// Sign in on this device (created if new; an existing one loses its
    /// earlier tokens). Generated when absent.
    pub device_id: Option<String>,
    /// Display name for a newly created device.
    pub initial_device_display_name: Option<String>,
    /// Issue a refresh token, and an access token that expires.
    pub refresh_token: bool,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("login_type", &self.login_type)
            .field("identifier", &self.identifier)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("device_id", &self.device_id)
            .field("initial_device_display_name", &self.initial_device_display_name)
            .field("refresh_token", &self.refresh_token)
            .finish()
    }
}

/// Whom a password is checked for: the local account an identifier names,
/// if any, and the name its failures are counted under (the localpart, else
/// the name as given, so that limits reveal nothing about which accounts
/// exist).
pub(crate) struct Claimant {
    pub(crate) localpart: Option<String>,
    pub(crate) name: String,
}

/// A successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// The canonical (lower-case) user ID.
    pub user_id: String,
    pub device_id: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Lifetime of the access token; present with a refresh token.
    pub expires_in_ms: Option<u64>,
}

impl Accounts {
    /// The login types for `GET /login`.
    pub fn login_flows(&self) -> &'static [&'static str] {
        &[PASSWORD_LOGIN]
    }

    /// 400 `M_UNKNOWN` "Unknown login type" for any `type` but
    /// `m.login.password`. [`Self::login`] checks it first; an adapter that
    /// must read more of the request to build a [`LoginRequest`] (who logs
    /// in) checks it before, so that a login of another type (e.g.
    /// `m.login.token`, which names no user) gets this answer too.
    pub fn check_login_type(&self, login_type: &str) -> Result<()> {
        if login_type != PASSWORD_LOGIN {
            return Err(Error::bad_request(ErrorCode::Unknown, format!("Unknown login type {login_type}")));
        }
        Ok(())
    }

    /// Logs in with a password.
    ///
    /// - `type` other than `m.login.password`: 400 `M_UNKNOWN`; no password:
    ///   400 `M_INVALID_PARAM` "Bad parameter: password" (as Synapse).
    /// - The user is a localpart or a full user ID in any case, or a 3pid;
    ///   the answer carries the canonical user ID.
    /// - Any credential failure: 403 `M_FORBIDDEN` "Invalid username or
    ///   password", in the time a wrong password takes.
    /// - Rate limits (429 `M_LIMIT_EXCEEDED`): every attempt per IP; failed
    ///   attempts per (named account, IP), checked before the password;
    ///   successful ones per account.
    /// - `device_id` is echoed (else generated); `refresh_token: true` adds
    ///   a refresh token and `expires_in_ms`.
    pub async fn login(&self, request: LoginRequest, client: &ClientInfo) -> Result<LoggedIn> {
        self.check_login_type(&request.login_type)?;
        let password = Secret::from(request.password.ok_or_else(|| Error::invalid_param("Bad parameter: password"))?);
        let limits = &self.inner.limits;
        limits.consume(Action::Login, &Subject::ip(client.ip))?;
        // Failures are limited per account, however the request names it
        // (`bob`, `@BOB:localhost`, a 3pid): per localpart, else per name.
        let claimant = self.claimant(&request.identifier).await?;
        let localpart = self
            .verify_password(&claimant, password, client)
            .await?
            .ok_or_else(|| Error::forbidden("Invalid username or password"))?;
        // Only the right password reaches the account's own bucket (Synapse's
        // `rc_login.account`): strangers cannot use it up.
        limits.consume(Action::Login, &Subject::Account(localpart.clone()))?;

        let (login, credentials) =
            self.mint_login(request.device_id, request.initial_device_display_name, request.refresh_token)?;
        {
            let localpart = localpart.clone();
            self.db_revoking(move |store| store.create_login(&localpart, &login)).await?;
        }
        Ok(LoggedIn {
            user_id: self.user_id(&localpart),
            device_id: credentials.device_id,
            access_token: credentials.access_token,
            refresh_token: credentials.refresh_token,
            expires_in_ms: credentials.expires_in_ms,
        })
    }

    /// The localpart of the local account an identifier names, if any.
    pub(crate) async fn resolve_identifier(&self, identifier: &UserIdentifier) -> Result<Option<String>> {
        match identifier {
            UserIdentifier::User(user) => Ok(self.inner.usernames.resolve(user)),
            UserIdentifier::ThirdParty { medium, address } => {
                let (medium, address) = (medium.clone(), canonical_address(medium, address));
                self.db(move |store| store.threepid_owner(&medium, &address)).await
            }
        }
    }

    /// Who `identifier` claims to be, for [`Self::verify_password`].
    pub(crate) async fn claimant(&self, identifier: &UserIdentifier) -> Result<Claimant> {
        let localpart = self.resolve_identifier(identifier).await?;
        let name = localpart.clone().unwrap_or_else(|| identifier.rate_limit_key());
        Ok(Claimant { localpart, name })
    }

    /// The one password check, of login and of the `m.login.password` UIA
    /// stage: 429 when the claimant's failed attempts *from this client's
    /// address* are used up, then always one argon2 verification, whatever
    /// the account (none, guest, deactivated), and a failure charged to the
    /// (claimant, address) pair only when the password was wrong. Answers
    /// the account's localpart when the password is its own.
    pub(crate) async fn verify_password(
        &self,
        claimant: &Claimant,
        password: Secret,
        client: &ClientInfo,
    ) -> Result<Option<String>> {
        let limits = &self.inner.limits;
        let failures = Subject::account_from(&claimant.name, client.ip);
        if let Err(locked) = limits.check(Action::LoginFailed, &failures) {
            tracing::warn!(event = "login.locked", user = %claimant.name, ip = %client.ip, "too many failed logins");
            return Err(locked);
        }
        let user = match claimant.localpart.clone() {
            Some(localpart) => self.db(move |store| store.user(&localpart)).await?,
            None => None,
        };
        let user = user.filter(|user| !user.is_guest);
        let hash = user.as_ref().and_then(|user| user.password_hash.clone());
        let verified = self.inner.passwords.verify(password.clone(), hash.clone()).await?;
        if verified == Verified::No {
            limits.charge(Action::LoginFailed, &failures);
            tracing::warn!(event = "login.failed", user = %claimant.name, ip = %client.ip, "wrong password or unknown user");
            return Ok(None);
        }
        let (Some(user), Some(hash)) = (user, hash) else {
            return Err(Error::internal("a password matched no account"));
        };
        // Only whoever knows the password learns that the account is closed.
        if user.deactivated {
            return Err(Error::new(
                http::StatusCode::FORBIDDEN,
                ErrorCode::UserDeactivated,
                "This account has been deactivated",
            ));
        }
        if verified == Verified::Outdated {
            self.upgrade_password_hash(&user.localpart, hash, password).await;
        }
        Ok(Some(user.localpart))
    }

    /// Replaces a hash in an outdated format (bcrypt imported from Synapse,
    /// argon2 with other parameters) with a current argon2id one, while
    /// the password is at hand. Never fails the check that called it: a
    /// failure leaves the old hash, which still verifies, for next time.
    async fn upgrade_password_hash(&self, localpart: &str, old: String, password: Secret) {
        let new = match self.inner.passwords.hash(password).await {
            Ok(new) => new,
            Err(error) => return tracing::warn!(user = localpart, %error, "could not rehash an outdated password hash"),
        };
        let owner = localpart.to_owned();
        match self.db(move |store| store.upgrade_password_hash(&owner, &old, &new)).await {
            Ok(true) => {
                tracing::info!(event = "password.rehashed", user = localpart, "password hash upgraded to argon2id")
            }
            Ok(false) => {} // the password changed meanwhile: the new hash stays
            Err(error) => tracing::warn!(user = localpart, %error, "could not store an upgraded password hash"),
        }
    }
}
