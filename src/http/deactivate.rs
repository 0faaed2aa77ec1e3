//! Closing an account.
//!
//! - `POST /_matrix/client/{r0,v3}/account/deactivate` (UIA).

use serde_json::Value;

use super::Handlers;
use crate::accounts::{DeactivateRequest, IdServerUnbindResult};
use crate::api::runtime::{AccessToken, Request};
use crate::api::{Deactivate, types};
use crate::error::Error;

impl Deactivate for Handlers {
    async fn deactivate_account(
        &self,
        request: &Request,
        token: AccessToken,
        body: types::DeactivateAccountRequest,
    ) -> Result<types::DeactivateAccountResponse, Error> {
        use types::DeactivateAccountResponseIdServerUnbindResult as Unbind;
        let session = self.session(request, &token).await?;
        // `erase` has a default in the YAML: only `true` is worth remembering.
        let deactivation = DeactivateRequest { erase: body.erase.then_some(true), id_server: body.id_server };
        let auth = body.auth.map(|auth| Value::Object(auth.0));
        let result = self.accounts.deactivate(&session, deactivation, auth, &self.client(request)).await?;
        let id_server_unbind_result = match result {
            IdServerUnbindResult::Success => Unbind::Success,
            IdServerUnbindResult::NoSupport => Unbind::NoSupport,
        };
        Ok(types::DeactivateAccountResponse { id_server_unbind_result })
    }
}
