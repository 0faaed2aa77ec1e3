//! Third-party identifiers on an account: list, add, delete; and binding
//! them at an identity server (bind; unbind, which answers `no-support`).
//!
//! A 3pid is only ever added once an identity server the operator trusts
//! vouches that the client validated it (see `identity_server`), or once
//! this server validated it by mail itself (see `email`): the seed's
//! `POST /account/3pid` names the identity server in `threePidCreds` and may
//! ask for a `bind`; today's `POST /account/3pid/add` is UIA-protected and
//! names none, so its sessions are this server's own e-mail sessions or,
//! failing that, the configured `identity.threepid_delegate`'s. All end in
//! the same
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

use super::identity_server::{Validated, check_session_token};
use super::rate_limit::{Action, Subject};
use super::uia::{self, PASSWORD, Remember, Resumable, Uia};
use super::{Accounts, ClientInfo, Session, guest_forbidden, now_ms};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{EmailPurpose, StoreError, ThreepidRecord, UiaOperation};

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

        self.check_threepid_limits(session, client, true)?;
        // A session this server mailed itself, else the delegate's.
        let proof = if self.is_own_email_session(&sid).await? {
            Proof::Homeserver { sid, client_secret }
        } else {
            let id_server = self.inner.identity.delegate().ok_or_else(|| {
                Error::bad_request(
                    ErrorCode::ThreepidAuthFailed,
                    "This server has no identity server to validate 3pid sessions",
                )
            })?;
            Proof::IdentityServer {
                credentials: ThreepidCredentials { id_server: id_server.to_owned(), sid, client_secret },
                bind: false,
            }
        };
        self.attach_threepid(session, proof, passed.session_id, client).await
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
        self.attach_threepid(session, Proof::IdentityServer { credentials, bind }, None, client).await
    }

    /// Asks a trusted identity server to publish a 3pid it validated as the
    /// caller's (`POST /account/3pid/bind`); nothing is stored here.
    ///
    /// - As [`Accounts::bind_threepid`]: guests 403, limits 429 (the same
    ///   as for adding a 3pid), malformed credentials 400 `M_INVALID_PARAM`.
    /// - An untrusted or unreachable identity server, or its refusal: 400
    ///   `M_THREEPID_AUTH_FAILED`, as when adding.
    pub async fn bind_at_identity_server(
        &self,
        session: &Session,
        credentials: ThreepidCredentials,
        client: &ClientInfo,
    ) -> Result<()> {
        if session.is_guest() {
            return Err(guest_forbidden());
        }
        let ThreepidCredentials { id_server, sid, client_secret } = credentials;
        check_session_token("sid", &sid)?;
        check_session_token("client_secret", &client_secret)?;
        self.check_threepid_limits(session, client, true)?;
        self.inner.identity.bind(&id_server, &sid, &client_secret, session.user_id()).await?;
        tracing::info!(event = "threepid.bound", user = session.user_id(), ip = %client.ip, id_server);
        Ok(())
    }

    /// Unpublishes a 3pid from an identity server
    /// (`POST /account/3pid/unbind`): always `no-support`, as for
    /// [`Accounts::delete_threepid`] (unbinding needs signed requests, which
    /// this server does not make). The 3pid stays attached to the account.
    ///
    /// - Guests: 403 `M_GUEST_ACCESS_FORBIDDEN`.
    pub fn unbind_at_identity_server(&self, session: &Session) -> Result<IdServerUnbindResult> {
        if session.is_guest() {
            return Err(guest_forbidden());
        }
        Ok(IdServerUnbindResult::NoSupport)
    }

    /// Adds an e-mail address this server validated itself, in a session
    /// requested through `/account/3pid/email/requestToken` (the
    /// deprecated `POST /account/3pid` without `id_server`; no UIA).
    ///
    /// - As [`Accounts::bind_threepid`]: guests 403, limits 429, malformed
    ///   credentials 400 `M_INVALID_PARAM`.
    /// - A session that is unknown, another client's, for another purpose
    ///   or not validated: 400 `M_THREEPID_AUTH_FAILED`.
    pub async fn add_own_email(
        &self,
        session: &Session,
        sid: String,
        client_secret: String,
        client: &ClientInfo,
    ) -> Result<()> {
        if session.is_guest() {
            return Err(guest_forbidden());
        }
        check_session_token("sid", &sid)?;
        check_session_token("client_secret", &client_secret)?;
        self.check_threepid_limits(session, client, true)?;
        self.attach_threepid(session, Proof::Homeserver { sid, client_secret }, None, client).await
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
    /// identity server or by this server's own mail, free or already the
    /// caller's, optionally bound, then stored, using up the UIA session
    /// that authorised it, if any (and this server's e-mail session).
    async fn attach_threepid(
        &self,
        session: &Session,
        proof: Proof,
        uia_session: Option<String>,
        client: &ClientInfo,
    ) -> Result<()> {
        let identity = &self.inner.identity;
        let validated = match &proof {
            Proof::IdentityServer { credentials: ThreepidCredentials { id_server, sid, client_secret }, .. } => {
                identity.validated_threepid(id_server, sid, client_secret).await?
            }
            Proof::Homeserver { sid, client_secret } => {
                let own = self.validated_email(sid, client_secret, EmailPurpose::AddThreepid).await?;
                let own = own.ok_or_else(|| {
                    Error::bad_request(ErrorCode::ThreepidAuthFailed, "No validated 3pid session found")
                })?;
                Validated {
                    medium: "email".into(),
                    validated_at: own.validated_at.unwrap_or_else(now_ms),
                    address: own.address,
                }
            }
        };
        let address = canonical_address(&validated.medium, &validated.address);
        let localpart = session.localpart().to_owned();
        let owner = {
            let (medium, address) = (validated.medium.clone(), address.clone());
            self.db(move |store| store.threepid_owner(&medium, &address)).await?
        };
        if owner.as_ref().is_some_and(|owner| *owner != localpart) {
            return Err(StoreError::ThreepidInUse.into());
        }
        if let Proof::IdentityServer {
            credentials: ThreepidCredentials { id_server, sid, client_secret },
            bind: true,
        } = &proof
        {
            identity.bind(id_server, sid, client_secret, session.user_id()).await?;
        }
        let (id_server, email_session) = match proof {
            Proof::IdentityServer { credentials, .. } => (Some(credentials.id_server), None),
            Proof::Homeserver { sid, .. } => (None, Some(sid)),
        };
        // Already the caller's: nothing to store, unless a UIA session is
        // to be used up (the store's add is then a no-op but for that).
        if owner.is_none() || uia_session.is_some() {
            let record = ThreepidRecord {
                medium: validated.medium,
                address,
                validated_at: validated.validated_at,
                added_at: now_ms(),
                id_server: id_server.clone(),
            };
            let evicted = localpart.clone();
            let medium = record.medium.clone();
            self.db_then(
                move |store| store.add_threepid(&localpart, &record, uia_session.as_deref()),
                move |inner, ()| inner.threepids.invalidate([&evicted]),
            )
            .await?;
            let via = id_server.as_deref().unwrap_or("email");
            tracing::info!(event = "threepid.added", user = session.user_id(), ip = %client.ip, %medium, via);
        }
        if let Some(sid) = email_session {
            self.forget_email_session(sid).await?;
        }
        Ok(())
    }
}

/// Who vouches that the caller controls a 3pid being added.
enum Proof {
    /// A trusted identity server's session; `bind`: publish it there too.
    IdentityServer { credentials: ThreepidCredentials, bind: bool },
    /// One of this server's e-mail sessions (`accounts::email`).
    Homeserver { sid: String, client_secret: String },
}
