//! Third-party identifiers, for each era.
//!
//! - `GET /_matrix/client/api/v2_alpha/account/3pid` and
//!   `GET /_matrix/client/{r0,v3}/account/3pid`: the list, always present.
//! - `POST /_matrix/client/api/v2_alpha/account/3pid` (`threePidCreds`) and
//!   its deprecated r0/v3 form (`three_pid_creds`): add an identifier an
//!   identity server validated, optionally binding it there.
//! - `POST /_matrix/client/{r0,v3}/account/3pid/add` (UIA) and `/delete`.

use dropshot::RequestInfo;
use serde_json::Value;

use super::{Handlers, Json, empty};
use crate::accounts::{AddThreepidRequest, IdServerUnbindResult, ThreepidCredentials};
use crate::api::runtime::AccessToken;
use crate::api::types;
use crate::error::Error;

pub async fn list_v2_alpha(
    handlers: &Handlers,
    token: AccessToken,
) -> Result<types::GetThreePidsV2AlphaResponse, Error> {
    let session = handlers.session(&token).await?;
    let threepids = handlers.accounts.threepids(&session).await?;
    let threepids = threepids.iter().map(|t| types::ThirdPartyIdentifier {
        added_at: t.added_at,
        address: t.address.clone(),
        medium: t.medium.clone(),
        validated_at: t.validated_at,
    });
    Ok(types::GetThreePidsV2AlphaResponse { threepids: threepids.collect() })
}

pub async fn list_v3(handlers: &Handlers, token: AccessToken) -> Result<types::GetAccount3pidsResponse, Error> {
    let session = handlers.session(&token).await?;
    let threepids = handlers.accounts.threepids(&session).await?;
    let threepids = threepids.iter().map(|t| types::Threepid {
        added_at: t.added_at,
        address: t.address.clone(),
        medium: t.medium.clone(),
        validated_at: t.validated_at,
    });
    Ok(types::GetAccount3pidsResponse { threepids: threepids.collect() })
}

pub async fn add_v2_alpha(
    handlers: &Handlers,
    request: &RequestInfo,
    token: AccessToken,
    body: types::AddThreePidV2AlphaRequest,
) -> Result<Json, Error> {
    let creds = body.three_pid_creds;
    let credentials =
        ThreepidCredentials { id_server: creds.id_server, sid: creds.sid, client_secret: creds.client_secret };
    bind(handlers, request, token, credentials, body.bind.unwrap_or(false)).await?;
    Ok(empty())
}

pub async fn bind_v3(
    handlers: &Handlers,
    request: &RequestInfo,
    token: AccessToken,
    body: types::Post3pidsRequest,
) -> Result<types::Post3pidsResponse, Error> {
    let creds = body.three_pid_creds;
    let credentials =
        ThreepidCredentials { id_server: creds.id_server, sid: creds.sid, client_secret: creds.client_secret };
    bind(handlers, request, token, credentials, body.bind).await?;
    Ok(types::Post3pidsResponse { submit_url: None })
}

async fn bind(
    handlers: &Handlers,
    request: &RequestInfo,
    token: AccessToken,
    credentials: ThreepidCredentials,
    bind: bool,
) -> Result<(), Error> {
    let session = handlers.session(&token).await?;
    handlers.accounts.bind_threepid(&session, credentials, bind, &handlers.client(request)).await
}

pub async fn add_v3(
    handlers: &Handlers,
    request: &RequestInfo,
    token: AccessToken,
    body: types::Add3pidRequest,
) -> Result<Json, Error> {
    let session = handlers.session(&token).await?;
    let add = AddThreepidRequest { sid: body.sid, client_secret: body.client_secret };
    let auth = body.auth.map(|auth| Value::Object(auth.0));
    handlers.accounts.add_threepid(&session, add, auth, &handlers.client(request)).await?;
    Ok(empty())
}

pub async fn delete_v3(
    handlers: &Handlers,
    request: &RequestInfo,
    token: AccessToken,
    body: types::Delete3pidFromAccountRequest,
) -> Result<types::Delete3pidFromAccountResponse, Error> {
    use types::Delete3pidFromAccountResponseIdServerUnbindResult as Unbind;
    let session = handlers.session(&token).await?;
    let client = handlers.client(request);
    let result = handlers.accounts.delete_threepid(&session, &body.medium, &body.address, &client).await?;
    let id_server_unbind_result = match result {
        IdServerUnbindResult::Success => Unbind::Success,
        IdServerUnbindResult::NoSupport => Unbind::NoSupport,
    };
    Ok(types::Delete3pidFromAccountResponse { id_server_unbind_result })
}
