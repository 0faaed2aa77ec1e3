//! Third-party identifiers, for each era.
//!
//! - `GET /_matrix/client/api/v2_alpha/account/3pid` and
//!   `GET /_matrix/client/{r0,v3}/account/3pid`: the list, always present.
//! - `POST /_matrix/client/api/v2_alpha/account/3pid` (`threePidCreds`) and
//!   its deprecated r0/v3 form (`three_pid_creds`): add an identifier an
//!   identity server validated, optionally binding it there; r0/v3 without
//!   `id_server`: an address this server validated by mail.
//! - `POST /_matrix/client/{r0,v3}/account/3pid/add` (UIA) and `/delete`.
//! - `POST /_matrix/client/{r0,v3}/account/3pid/bind` (at a trusted identity
//!   server) and `/unbind` (always `no-support`).

use serde_json::Value;

use super::{Handlers, Json, empty};
use crate::accounts::{AddThreepidRequest, IdServerUnbindResult, ThreepidCredentials};
use crate::api::runtime::{AccessToken, Request};
use crate::api::{Threepids, types};
use crate::error::Error;

impl Threepids for Handlers {
    async fn get_three_pids_v2_alpha(
        &self,
        request: &Request,
        token: AccessToken,
    ) -> Result<types::GetThreePidsV2AlphaResponse, Error> {
        Ok(types::GetThreePidsV2AlphaResponse { threepids: listed(self, request, &token).await? })
    }

    async fn get_account_3pids(
        &self,
        request: &Request,
        token: AccessToken,
    ) -> Result<types::GetAccount3pidsResponse, Error> {
        Ok(types::GetAccount3pidsResponse { threepids: listed(self, request, &token).await? })
    }

    async fn add_three_pid_v2_alpha(
        &self,
        request: &Request,
        token: AccessToken,
        body: types::AddThreePidV2AlphaRequest,
    ) -> Result<Json, Error> {
        let creds = body.three_pid_creds;
        let credentials =
            ThreepidCredentials { id_server: creds.id_server, sid: creds.sid, client_secret: creds.client_secret };
        bind(self, request, token, credentials, body.bind.unwrap_or(false)).await?;
        Ok(empty())
    }

    async fn post_3pids(
        &self,
        request: &Request,
        token: AccessToken,
        body: types::Post3pidsRequest,
    ) -> Result<types::Post3pidsResponse, Error> {
        let creds = body.three_pid_creds;
        match creds.id_server {
            Some(id_server) => {
                let credentials = ThreepidCredentials { id_server, sid: creds.sid, client_secret: creds.client_secret };
                bind(self, request, token, credentials, body.bind).await?;
            }
            // No identity server: a session this server validated by mail.
            None => {
                let session = self.session(request, &token).await?;
                let client = self.client(request);
                self.accounts.add_own_email(&session, creds.sid, creds.client_secret, &client).await?;
            }
        }
        Ok(types::Post3pidsResponse { submit_url: None })
    }

    async fn add_3pid(
        &self,
        request: &Request,
        token: AccessToken,
        body: types::Add3pidRequest,
    ) -> Result<Json, Error> {
        let session = self.session(request, &token).await?;
        let add = AddThreepidRequest { sid: body.sid, client_secret: body.client_secret };
        let auth = body.auth.map(|auth| Value::Object(auth.0));
        self.accounts.add_threepid(&session, add, auth, &self.client(request)).await?;
        Ok(empty())
    }

    async fn delete_3pid_from_account(
        &self,
        request: &Request,
        token: AccessToken,
        body: types::Delete3pidFromAccountRequest,
    ) -> Result<types::Delete3pidFromAccountResponse, Error> {
        use types::Delete3pidFromAccountResponseIdServerUnbindResult as Unbind;
        let session = self.session(request, &token).await?;
        let client = self.client(request);
        let result = self.accounts.delete_threepid(&session, &body.medium, &body.address, &client).await?;
        let id_server_unbind_result = match result {
            IdServerUnbindResult::Success => Unbind::Success,
            IdServerUnbindResult::NoSupport => Unbind::NoSupport,
        };
        Ok(types::Delete3pidFromAccountResponse { id_server_unbind_result })
    }

    async fn bind_3pid(
        &self,
        request: &Request,
        token: AccessToken,
        body: types::Bind3pidRequest,
    ) -> Result<Json, Error> {
        let session = self.session(request, &token).await?;
        // `id_access_token` is for the identity server's v2 API; the v1 bind
        // this server calls does not take it.
        let credentials =
            ThreepidCredentials { id_server: body.id_server, sid: body.sid, client_secret: body.client_secret };
        self.accounts.bind_at_identity_server(&session, credentials, &self.client(request)).await?;
        Ok(empty())
    }

    async fn unbind_3pid_from_account(
        &self,
        request: &Request,
        token: AccessToken,
        _body: types::Unbind3pidFromAccountRequest,
    ) -> Result<types::Unbind3pidFromAccountResponse, Error> {
        use types::Unbind3pidFromAccountResponseIdServerUnbindResult as Unbind;
        let session = self.session(request, &token).await?;
        let id_server_unbind_result = match self.accounts.unbind_at_identity_server(&session)? {
            IdServerUnbindResult::Success => Unbind::Success,
            IdServerUnbindResult::NoSupport => Unbind::NoSupport,
        };
        Ok(types::Unbind3pidFromAccountResponse { id_server_unbind_result })
    }
}

async fn bind(
    handlers: &Handlers,
    request: &Request,
    token: AccessToken,
    credentials: ThreepidCredentials,
    bind: bool,
) -> Result<(), Error> {
    let session = handlers.session(request, &token).await?;
    handlers.accounts.bind_threepid(&session, credentials, bind, &handlers.client(request)).await
}

/// The caller's 3pids, in the one shape both eras list them in.
async fn listed(handlers: &Handlers, request: &Request, token: &AccessToken) -> Result<Vec<types::Threepid>, Error> {
    let session = handlers.session(request, token).await?;
    let threepids = handlers.accounts.threepids(&session).await?;
    Ok(threepids
        .iter()
        .map(|t| types::Threepid {
            added_at: t.added_at,
            address: t.address.clone(),
            medium: t.medium.clone(),
            validated_at: t.validated_at,
        })
        .collect())
}
