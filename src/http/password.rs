//! Changing a password, for each era.
//!
//! - `POST /_matrix/client/api/v2_alpha/account/password` (the seed): every
//!   other device is logged out.
//! - `POST /_matrix/client/{r0,v3}/account/password`: `logout_devices`
//!   chooses.
//!
//! Both take an access token when the client has one (UIA then asks for the
//! current password of that account) and go without for a forgotten
//! password (UIA asks for an e-mail address validated by a trusted identity
//! server, and every device is logged out).

use serde_json::Value;

use super::{Handlers, Json, empty};
use crate::accounts::ChangePasswordRequest;
use crate::api::runtime::{AccessToken, Request};
use crate::api::{Password, types};
use crate::error::Error;

impl Password for Handlers {
    async fn change_password_v2_alpha(
        &self,
        request: &Request,
        token: Option<AccessToken>,
        body: types::ChangePasswordV2AlphaRequest,
    ) -> Result<Json, Error> {
        let request_body = ChangePasswordRequest { new_password: body.new_password, logout_devices: None };
        change(self, request, token, request_body, body.auth.map(|auth| Value::Object(auth.0))).await
    }

    async fn change_password(
        &self,
        request: &Request,
        token: Option<AccessToken>,
        body: types::ChangePasswordRequest,
    ) -> Result<Json, Error> {
        // `logout_devices` defaults to true: only an explicit false is news,
        // and leaving true out lets a UIA follow-up keep the session's choice.
        let logout_devices = (!body.logout_devices).then_some(false);
        let request_body = ChangePasswordRequest { new_password: body.new_password, logout_devices };
        change(self, request, token, request_body, body.auth.map(|auth| Value::Object(auth.0))).await
    }
}

async fn change(
    handlers: &Handlers,
    request: &Request,
    token: Option<AccessToken>,
    change: ChangePasswordRequest,
    auth: Option<Value>,
) -> Result<Json, Error> {
    let session = match token {
        Some(token) => Some(handlers.session(request, &token).await?),
        None => None,
    };
    handlers.accounts.change_password(session.as_ref(), change, auth, &handlers.client(request)).await?;
    Ok(empty())
}
