//! Password change (seed `POST /v2_alpha/account/password`, today's
//! `POST /account/password`).
//!
//! With an access token the caller proves the current password
//! (`m.login.password`, for the token's own account). Without one, as the
//! seed allows, the flow is `m.login.email.identity`: an address validated
//! by a trusted identity server, or by this server's own mail (a session
//! requested through `/account/password/email/requestToken`, used up by the
//! reset), names the account (an unknown address is the seed's 404
//! `M_NOT_FOUND`).
//!
//! A missing `new_password` is refused *before* UIA, on the request merged
//! with its session: the client learns at once, no session is stored for a
//! request that cannot succeed, and no password is verified for nothing.
//! (The reference server verifies the password first and then fails with a
//! 500.) A follow-up that carries only `auth` still works: the session
//! remembers the new password's hash. A follow-up that carries a new
//! password sets that one (see `uia` for how resending the same one costs
//! no second hash).
//!
//! The session is deleted with the change, in the same transaction: it
//! authorises one change, and replaying it is an unknown session.
//!
//! Without an access token anyone may start the flow, so it is limited per
//! IP (the `login` bucket's settings, a bucket of its own) and costs no
//! argon2 hash before it is authorised: its session keeps only the keyed
//! digest of the new password, and the request that completes the e-mail
//! stage must carry the new password, which is hashed then.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::rate_limit::{Action, Subject};
use super::uia::{self, EMAIL_IDENTITY, PASSWORD, Remember, Resumable, Uia};
use super::{Accounts, ClientInfo, Secret, Session, guest_forbidden};
use crate::error::{Error, Result};
use crate::store::UiaOperation;

/// A password change, whatever the era.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePasswordRequest {
    /// Never stored in a UIA session: hashed there instead.
    #[serde(skip)]
    pub new_password: Option<String>,
    /// Log out every other device (default true); the caller's stays.
    pub logout_devices: Option<bool>,
}

impl fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangePasswordRequest")
            .field("new_password", &self.new_password.as_ref().map(|_| "<redacted>"))
            .field("logout_devices", &self.logout_devices)
            .finish()
    }
}

impl Resumable for ChangePasswordRequest {
    fn or(self, stored: Self) -> Self {
        ChangePasswordRequest {
            new_password: self.new_password,
            logout_devices: self.logout_devices.or(stored.logout_devices),
        }
    }
}

impl Accounts {
    /// Changes the password of the caller (`session`), or of the account a
    /// validated e-mail names when there is no access token.
    ///
    /// - Guests: 403 `M_GUEST_ACCESS_FORBIDDEN`. Without an access token:
    ///   every request is limited per IP (429).
    /// - Missing or empty `new_password` (in the request and its session):
    ///   400 `M_MISSING_PARAM`, before UIA.
    /// - UIA `m.login.password` (with a token) or `m.login.email.identity`
    ///   (without): a wrong password is 401 with the flows, `completed` and
    ///   `M_FORBIDDEN`; another account's valid credentials are 403; an
    ///   unknown 3pid is 404 `M_NOT_FOUND`.
    /// - `logout_devices` (default true): every other device and its tokens
    ///   are revoked; the caller's device survives. False keeps them all.
    ///   As every option, and the new password, the follow-up's value wins
    ///   over the session's when it carries one.
    /// - The UIA session is used up: replaying it is 400 `M_UNKNOWN`.
    pub async fn change_password(
        &self,
        session: Option<&Session>,
        request: ChangePasswordRequest,
        auth: Option<serde_json::Value>,
        client: &ClientInfo,
    ) -> Result<()> {
        if session.is_some_and(Session::is_guest) {
            return Err(guest_forbidden());
        }
        let caller = session.map(Session::localpart);
        // Anyone may start a reset: limited per IP, like a login attempt.
        if session.is_none() {
            self.inner.limits.consume(Action::PasswordReset, &Subject::ip(client.ip))?;
        }
        let auth = uia::Auth::parse(auth)?;
        // A reset through one of this server's e-mail sessions uses it up.
        let email_session = match auth.as_ref().and_then(|auth| auth.stage.as_ref()).map(uia::Submitted::stage) {
            Some(Ok(uia::Stage::EmailIdentity { sid, id_server: None, .. })) => Some(sid.clone()),
            _ => None,
        };
        let uia_session = self.uia_session(UiaOperation::ChangePassword, auth.as_ref(), caller).await?;
        let mut request = uia::resume(request, uia_session.as_ref())?;
        let new_password = request.new_password.take().filter(|password| !password.is_empty()).map(Secret::from);
        if !uia::has_password(new_password.as_ref(), uia_session.as_ref()) {
            return Err(Error::missing_param("new_password"));
        }

        let flows = if session.is_some() { vec![vec![PASSWORD]] } else { vec![vec![EMAIL_IDENTITY]] };
        let params = serde_json::to_value(&request).map_err(Error::internal)?;
        // Without an access token nobody is known yet: the new password is
        // not hashed before the e-mail stage has named the account.
        let remember = if session.is_some() { Remember::Hash } else { Remember::DigestOnly };
        let uia =
            Uia { operation: UiaOperation::ChangePassword, flows, user: caller, auth: auth.as_ref(), client, remember };
        let passed = self.uia_authenticate(uia, uia_session, params, new_password.as_ref()).await?;

        let localpart = caller
            .map(str::to_owned)
            .or_else(|| passed.user.clone())
            .ok_or_else(|| Error::internal("UIA passed without naming an account"))?;
        let password_hash =
            self.uia_password_hash(&passed, new_password).await?.ok_or_else(|| Error::missing_param("new_password"))?;
        let keep_device = session.map(|session| session.device_id().to_owned());
        let logout_devices = request.logout_devices.unwrap_or(true);
        let uia_session = passed.session_id;
        let logged = localpart.clone();
        self.db_revoking(move |store| {
            store.set_password(
                &localpart,
                &password_hash,
                keep_device.as_deref(),
                logout_devices,
                uia_session.as_deref(),
            )
        })
        .await?;
        if let Some(sid) = email_session {
            self.forget_email_session(sid).await?;
        }
        let via = if session.is_some() { "password" } else { "email" };
        tracing::info!(event = "password.changed", user = %self.user_id(&logged), ip = %client.ip, via, logout_devices);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use serde_json::json;

    use super::*;
    use crate::config::{Bucket, Config};
    use crate::error::ErrorCode;

    /// The anonymous reset costs no argon2 hash before the e-mail stage has
    /// passed, however many requests (with ever new passwords) come, and
    /// it is limited per IP.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_anonymous_reset_hashes_nothing_before_it_is_authorised() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { passwords: crate::accounts::hashing::tests::fast(), ..Config::default() };
        config.rate_limits.login = Bucket { per_second: 0.001, burst: 4 };
        config.database = crate::store::Database::Sqlite(dir.path().join("accounts.db"));
        let accounts = Accounts::open(&config).unwrap();
        let client = ClientInfo { ip: IpAddr::from([192, 0, 2, 1]) };
        let reset =
            |password: &str| ChangePasswordRequest { new_password: Some(password.into()), logout_devices: None };

        let challenge = accounts.change_password(None, reset("pw-0"), None, &client).await.unwrap_err();
        assert_eq!(challenge.status().as_u16(), 401, "{challenge}");
        let session = challenge.challenge().unwrap().session.clone();
        for attempt in 1..4 {
            let follow_up = json!({"session": session});
            let password = format!("pw-{attempt}");
            let answer = accounts.change_password(None, reset(&password), Some(follow_up), &client).await;
            assert_eq!(answer.unwrap_err().status().as_u16(), 401);
        }
        assert_eq!(accounts.inner.passwords.hashes_made(), 0, "an anonymous request was paid an argon2 hash");

        let limited = accounts.change_password(None, reset("pw-5"), None, &client).await.unwrap_err();
        assert_eq!(limited.code(), Some(ErrorCode::LimitExceeded), "{limited}");
        // Another address has its own bucket.
        let elsewhere = ClientInfo { ip: IpAddr::from([192, 0, 2, 2]) };
        let challenge = accounts.change_password(None, reset("pw-6"), None, &elsewhere).await.unwrap_err();
        assert_eq!(challenge.status().as_u16(), 401);
    }
}
