//! Closing an account for good (`POST /account/deactivate`).
//!
//! The caller proves the password again (UIA `m.login.password`). Then, in
//! one transaction, the account is marked deactivated and loses every
//! device, token and 3pid; the UIA sessions bound to it are dropped. The
//! row itself stays, so the user ID is never handed out again (registering
//! it is `M_USER_IN_USE`), and so does the password hash: a later login
//! with the right password is told `M_USER_DEACTIVATED`, one with a wrong
//! password learns nothing (see `login`).
//!
//! `erase` (forget the user's messages) is accepted and changes nothing
//! more here: this server keeps no messages or profile, and every account
//! datum it keeps (devices, tokens, 3pids) is removed either way.
//!
//! Identity servers: this server does not sign unbind requests to identity
//! servers, so it answers `id_server_unbind_result: "no-support"`, as the
//! spec asks of a server that did not unbind; the 3pids are detached here.

use serde::{Deserialize, Serialize};

use super::threepids::IdServerUnbindResult;
use super::uia::Resumable;
use super::{Accounts, ClientInfo, Session};
use crate::error::Result;
use crate::store::UiaOperation;

/// A deactivation, whatever the era.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeactivateRequest {
    /// Whether the user asked to be forgotten (GDPR erasure).
    pub erase: Option<bool>,
    /// The identity server to unbind 3pids from (never contacted).
    pub id_server: Option<String>,
}

impl Resumable for DeactivateRequest {
    fn or(self, stored: Self) -> Self {
        DeactivateRequest { erase: self.erase.or(stored.erase), id_server: self.id_server.or(stored.id_server) }
    }
}

impl Accounts {
    /// Deactivates the caller's account.
    ///
    /// - Guests: 403 `M_GUEST_ACCESS_FORBIDDEN`.
    /// - UIA `m.login.password` for the caller's own account (401 until it
    ///   passes; another account's credentials are 403).
    /// - Then every token of the account stops working at once (evicted
    ///   from the cache in the same step as the write), its devices and
    ///   3pids are gone, and the session is used up.
    /// - Logged as `event = "account.deactivated"`.
    pub async fn deactivate(
        &self,
        session: &Session,
        request: DeactivateRequest,
        auth: Option<serde_json::Value>,
        client: &ClientInfo,
    ) -> Result<IdServerUnbindResult> {
        let (request, passed) = self.reauthenticate(UiaOperation::Deactivate, session, request, auth, client).await?;
        self.deactivate_account(session.localpart(), passed.session_id).await?;
        let erase = request.erase.unwrap_or(false);
        tracing::info!(event = "account.deactivated", user = session.user_id(), ip = %client.ip, erase);
        Ok(IdServerUnbindResult::NoSupport)
    }

    /// The deactivation itself, for the user's own request and for an
    /// admin's: the store write, then, on the same blocking thread, the
    /// evictions of its tokens and 3pid list. Returns how many 3pids were
    /// detached.
    pub(crate) async fn deactivate_account(&self, localpart: &str, uia_session: Option<String>) -> Result<usize> {
        let owner = localpart.to_owned();
        let evicted = localpart.to_owned();
        let deactivated = self
            .db_then(
                move |store| store.deactivate_user(&owner, uia_session.as_deref()),
                move |inner, deactivated| {
                    inner.tokens.invalidate(&deactivated.revoked);
                    inner.threepids.invalidate([&evicted]);
                },
            )
            .await?;
        Ok(deactivated.threepids.len())
    }
}
