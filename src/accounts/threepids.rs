//! Third-party identifiers on an account: list, add, delete.
//!
//! A 3pid is only ever added once an identity server the operator trusts
//! vouches that the client validated it (see `identity_server`): the seed's
//! `POST /account/3pid` names the identity server in `threePidCreds` and may
//! ask for a `bind`; today's `POST /account/3pid/add` is UIA-protected and
//! names none, so its sessions are checked with the configured
//! `identity.threepid_delegate`. Both end in the same
//! [`Accounts::attach_threepid`]. A 3pid belongs to one account: another
//! account's is 400 `M_THREEPID_IN_USE`, the caller's own is a no-op.
//!
//! Listing is on the hot path (`GET /account/3pid` is benchmarked like
//! whoami), so lists are cached per account and evicted on every change.
//! E-mail addresses are compared lower-cased, as Synapse does.
//!
//! Audit: every addition and removal is logged at `info` with
//! `event = "threepid.added"` / `"threepid.removed"`, the user, the client
//! IP and the medium (not the address, which is personal data).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::identity_server::check_session_token;
use super::rate_limit::{Action, Subject};
use super::uia::{self, PASSWORD, Remember, Resumable, Uia};
use super::{Accounts, ClientInfo, Session, guest_forbidden, now_ms};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{StoreError, ThreepidRecord, UiaOperation};

/// A 3pid as `GET /account/3pid` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threepid {
    pub medium: String,
    pub address: String,
    /// When the identity server validated it (ms since the epoch).
    pub validated_at: i64,
    /// When it was added to the account (ms since the epoch).
    pub added_at: i64,
}

/// The credentials of a validation session at an identity server (seed
/// `threePidCreds`, r0+ `three_pid_creds`).
#[derive(Clone, PartialEq, Eq)]
pub struct ThreepidCredentials {
    /// `host[:port]` of the identity server.
    pub id_server: String,
    pub sid: String,
    pub client_secret: String,
}

impl fmt::Debug for ThreepidCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreepidCredentials")
            .field("id_server", &self.id_server)
            .field("sid", &self.sid)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// `POST /account/3pid/add`: a session validated through the homeserver's
/// identity-server delegate. Optional fields: a UIA follow-up may carry only
/// `auth`. Both are stored in the UIA session's parameters (the
/// `client_secret` as sent) until the session completes or expires.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddThreepidRequest {
    pub sid: Option<String>,
    pub client_secret: Option<String>,
}

impl fmt::Debug for AddThreepidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddThreepidRequest")
            .field("sid", &self.sid)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Resumable for AddThreepidRequest {
    fn or(self, stored: Self) -> Self {
        AddThreepidRequest { sid: self.sid.or(stored.sid), client_secret: self.client_secret.or(stored.client_secret) }
    }
}

/// `id_server_unbind_result` of `POST /account/3pid/delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdServerUnbindResult {
    /// The identity server unbound the 3pid.
    Success,
    /// No unbinding was attempted (this server does not sign requests to
    /// identity servers).
    NoSupport,
}

/// The form in which an address is stored and compared.
pub(crate) fn canonical_address(medium: &str, address: &str) -> String {
    let address = address.trim();
    if medium == "email" { address.to_lowercase() } else { address.to_owned() }
}

impl Accounts {
    /// The caller's 3pids, oldest first (`GET /account/3pid`).
    ///
    /// - Always a list, possibly empty.
    /// - Served from memory after the first call; evicted when a 3pid is
    ///   added or deleted.
    /// - Guests: 403 `M_GUEST_ACCESS_FORBIDDEN`.
    pub async fn threepids(&self, session: &Session) -> Result<Arc<[Threepid]>> {
        if session.is_guest() {
            return Err(guest_forbidden());
        }
        if let Some(list) = self.inner.threepids.get(session.localpart()) {
            return Ok(list);
        }
        let localpart = session.localpart().to_owned();
        let read_at = self.inner.threepids.epoch();
        let records = {
            let localpart = localpart.clone();
            self.db(move |store| store.threepids(&localpart)).await?
        };
        let list: Arc<[Threepid]> = records
            .into_iter()
            .map(|record| Threepid {
                medium: record.medium,
                address: record.address,
                validated_at: record.validated_at,
                added_at: record.added_at,
            })
            .collect();
        self.inner.threepids.fill(read_at, localpart, Arc::clone(&list));
        Ok(list)
    }

    /// Adds a 3pid validated through the configured delegate identity
    /// server (`POST /account/3pid/add`).
    ///
    /// - Guests: 403 `M_GUEST_ACCESS_FORBIDDEN`.
    /// - Before UIA: rate limit per IP and per account (429); missing `sid`
    ///   or `client_secret` 400 `M_MISSING_PARAM`, malformed ones 400
    ///   `M_INVALID_PARAM`.
    /// - UIA `m.login.password` for the caller's own account.
    /// - Then as [`Accounts::bind_threepid`] without `bind`; no delegate
    ///   configured: 400 `M_THREEPID_AUTH_FAILED`.
    /// - Success uses the UIA session up (in the transaction that stores the
    ///   3pid): replaying it is 400 `M_UNKNOWN`. A failure keeps it, so the
    ///   client may retry once the identity server validated the address.
    pub async fn add_threepid(
        &self,
        session: &Session,
        request: AddThreepidRequest,
        auth: Option<serde_json::Value>,
        client: &ClientInfo,
    ) -> Result<()> {
        if session.is_guest() {
            return Err(guest_forbidden());
        }
        self.check_threepid_limits(session, client, false)?;
        let auth = uia::Auth::parse(auth)?;
        let localpart = session.localpart();
        let uia_session = self.uia_session(UiaOperation::AddThreepid, auth.as_ref(), Some(localpart)).await?;
        let request = uia::resume(request, uia_session.as_ref())?;
        let sid = request.sid.clone().ok_or_else(|| Error::missing_param("sid"))?;
        let client_secret = request.client_secret.clone().ok_or_else(|| Error::missing_param("client_secret"))?;
        check_session_token("sid", &sid)?;
        check_session_token("client_secret", &client_secret)?;

        let params = serde_json::to_value(&request).map_err(Error::internal)?;
        let uia = Uia {
            operation: UiaOperation::AddThreepid,
            flows: vec![vec![PASSWORD]],
            user: Some(localpart),
            auth: auth.as_ref(),
            client,
            remember: Remember::Hash, // there is no password to remember
        };
        let passed = self.uia_authenticate(uia, uia_session, params, None).await?;

        let id_server = self.inner.identity.delegate().ok_or_else(|| {
            Error::bad_request(
                ErrorCode::ThreepidAuthFailed,
                "This server has no identity server to validate 3pid sessions",
            )
        })?;
        let credentials = ThreepidCredentials { id_server: id_server.to_owned(), sid, client_secret };
        self.check_threepid_limits(session, client, true)?;
        self.attach_threepid(session, &credentials, false, passed.session_id, client).await
    }

    /// Adds a 3pid validated by the named identity server (seed
    /// `POST /account/3pid`, deprecated today; no UIA).
    ///
    /// - Guests: 403 `M_GUEST_ACCESS_FORBIDDEN`; rate limit per IP and per
    ///   account (429); malformed `sid`/`client_secret` 400 `M_INVALID_PARAM`.
    /// - The identity server must be trusted and vouch for the session
    ///   (`getValidated3pid`); any failure: 400 `M_THREEPID_AUTH_FAILED`.
    /// - Another account's 3pid: 400 `M_THREEPID_IN_USE`; the caller's own:
    ///   nothing changes.
    /// - `bind`: the identity server is also asked to bind the 3pid to the
    ///   user ID (`/3pid/bind`); its refusal is `M_THREEPID_AUTH_FAILED` and
    ///   nothing is stored.
    pub async fn bind_threepid(
        &self,
        session: &Session,
        credentials: ThreepidCredentials,
        bind: bool,
        client: &ClientInfo,
    ) -> Result<()> {
        if session.is_guest() {
            return Err(guest_forbidden());
        }
        check_session_token("sid", &credentials.sid)?;
        check_session_token("client_secret", &credentials.client_secret)?;
        self.check_threepid_limits(session, client, true)?;
        self.attach_threepid(session, &credentials, bind, None, client).await
    }

    /// Removes a 3pid from the caller's account (`POST /account/3pid/delete`).
    ///
    /// - Guests: 403 `M_GUEST_ACCESS_FORBIDDEN`.
    /// - Idempotent: a 3pid the account does not have is not an error (the
    ///   spec lists none; Synapse answers 200 too).
    /// - Always `no-support`: unbinding at an identity server needs signed
    ///   requests, which this server does not make.
    /// - Audit: a removal is logged at `info` as `event = "threepid.removed"`.
    pub async fn delete_threepid(
        &self,
        session: &Session,
        medium: &str,
        address: &str,
        client: &ClientInfo,
    ) -> Result<IdServerUnbindResult> {
        if session.is_guest() {
            return Err(guest_forbidden());
        }
        let localpart = session.localpart().to_owned();
        let (medium, address) = (medium.to_owned(), canonical_address(medium, address));
        let evicted = localpart.clone();
        let logged = medium.clone();
        let deleted = self
            .db_then(
                move |store| store.delete_threepid(&localpart, &medium, &address),
                move |inner, deleted| {
                    if *deleted {
                        inner.threepids.invalidate([&evicted]);
                    }
                },
            )
            .await?;
        if deleted {
            tracing::info!(event = "threepid.removed", user = session.user_id(), ip = %client.ip, medium = %logged);
        }
        Ok(IdServerUnbindResult::NoSupport)
    }

    /// Rate limits for adding 3pids: `consume` uses an attempt, otherwise
    /// only checks one is left.
    fn check_threepid_limits(&self, session: &Session, client: &ClientInfo, consume: bool) -> Result<()> {
        let limits = &self.inner.limits;
        let subjects = [Subject::ip(client.ip), Subject::Account(session.localpart().to_owned())];
        for subject in &subjects {
            if consume {
                limits.consume(Action::Threepid, subject)?;
            } else {
                limits.check(Action::Threepid, subject)?;
            }
        }
        Ok(())
    }

    /// The one path by which a 3pid joins an account: validated by a trusted
    /// identity server, free or already the caller's, optionally bound, then
    /// stored, using up the UIA session that authorised it, if any.
    async fn attach_threepid(
        &self,
        session: &Session,
        credentials: &ThreepidCredentials,
        bind: bool,
        uia_session: Option<String>,
        client: &ClientInfo,
    ) -> Result<()> {
        let ThreepidCredentials { id_server, sid, client_secret } = credentials;
        let identity = &self.inner.identity;
        let validated = identity.validated_threepid(id_server, sid, client_secret).await?;
        let address = canonical_address(&validated.medium, &validated.address);
        let localpart = session.localpart().to_owned();
        let owner = {
            let (medium, address) = (validated.medium.clone(), address.clone());
            self.db(move |store| store.threepid_owner(&medium, &address)).await?
        };
        if owner.as_ref().is_some_and(|owner| *owner != localpart) {
            return Err(StoreError::ThreepidInUse.into());
        }
        if bind {
            identity.bind(id_server, sid, client_secret, session.user_id()).await?;
        }
        // Already the caller's: nothing to store, unless a UIA session is
        // to be used up (the store's add is then a no-op but for that).
        if owner.is_some() && uia_session.is_none() {
            return Ok(());
        }
        let record = ThreepidRecord {
            medium: validated.medium,
            address,
            validated_at: validated.validated_at,
            added_at: now_ms(),
            id_server: Some(id_server.clone()),
        };
        let evicted = localpart.clone();
        let medium = record.medium.clone();
        self.db_then(
            move |store| store.add_threepid(&localpart, &record, uia_session.as_deref()),
            move |inner, ()| inner.threepids.invalidate([&evicted]),
        )
        .await?;
        tracing::info!(event = "threepid.added", user = session.user_id(), ip = %client.ip, %medium, %id_server);
        Ok(())
    }
}
