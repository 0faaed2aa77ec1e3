//! What an access token is and how long it lives.
//!
//! - `POST /_matrix/client/api/v2_alpha/tokenrefresh` (the seed) and
//!   `POST /_matrix/client/v3/refresh`: rotate a refresh token.
//! - `POST /_matrix/client/{r0,v3}/logout` and `/logout/all`.
//! - `GET /_matrix/client/{r0,v3}/account/whoami`.

use dropshot::RequestInfo;

use super::register::millis;
use super::{Handlers, Json, empty};
use crate::api::runtime::AccessToken;
use crate::api::types;
use crate::error::Error;

pub async fn token_refresh_v2_alpha(
    handlers: &Handlers,
    request: &RequestInfo,
    body: types::TokenRefreshV2AlphaRequest,
) -> Result<types::TokenRefreshV2AlphaResponse, Error> {
    let refreshed = handlers.accounts.refresh(&body.refresh_token, &handlers.client(request)).await?;
    Ok(types::TokenRefreshV2AlphaResponse {
        access_token: refreshed.access_token,
        refresh_token: refreshed.refresh_token,
    })
}

pub async fn refresh(
    handlers: &Handlers,
    request: &RequestInfo,
    body: types::RefreshRequest,
) -> Result<types::RefreshResponse, Error> {
    let refreshed = handlers.accounts.refresh(&body.refresh_token, &handlers.client(request)).await?;
    Ok(types::RefreshResponse {
        access_token: refreshed.access_token,
        expires_in_ms: Some(millis(refreshed.expires_in_ms)),
        refresh_token: Some(refreshed.refresh_token),
    })
}

pub async fn logout(handlers: &Handlers, token: AccessToken) -> Result<Json, Error> {
    let session = handlers.accounts.authenticate_for_logout(token.as_str()).await?;
    handlers.accounts.logout(&session).await?;
    Ok(empty())
}

pub async fn logout_all(handlers: &Handlers, token: AccessToken) -> Result<Json, Error> {
    let session = handlers.accounts.authenticate_for_logout(token.as_str()).await?;
    handlers.accounts.logout_all(&session).await?;
    Ok(empty())
}

pub async fn whoami(handlers: &Handlers, token: AccessToken) -> Result<types::GetTokenOwnerResponse, Error> {
    let session = handlers.session(&token).await?;
    Ok(types::GetTokenOwnerResponse {
        user_id: session.user_id().to_owned(),
        device_id: Some(session.device_id().to_owned()),
        is_guest: Some(session.is_guest()),
    })
}
