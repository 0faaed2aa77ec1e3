//! What an access token is and how long it lives.
//!
//! - `POST /_matrix/client/api/v2_alpha/tokenrefresh` (the seed) and
//!   `POST /_matrix/client/v3/refresh`: rotate a refresh token.
//! - `POST /_matrix/client/{r0,v3}/logout` and `/logout/all`.
//! - `GET /_matrix/client/{r0,v3}/account/whoami`.

use super::register::millis;
use super::{Handlers, Json, empty};
use crate::api::runtime::{AccessToken, Request};
use crate::api::{Logout, Refresh, Tokenrefresh, Whoami, types};
use crate::error::Error;

impl Tokenrefresh for Handlers {
    async fn token_refresh_v2_alpha(
        &self,
        request: &Request,
        body: types::TokenRefreshV2AlphaRequest,
    ) -> Result<types::TokenRefreshV2AlphaResponse, Error> {
        let refreshed = self.accounts.refresh(&body.refresh_token, &self.client(request)).await?;
        Ok(types::TokenRefreshV2AlphaResponse {
            access_token: refreshed.access_token,
            refresh_token: refreshed.refresh_token,
        })
    }
}

impl Refresh for Handlers {
    async fn refresh(&self, request: &Request, body: types::RefreshRequest) -> Result<types::RefreshResponse, Error> {
        let refreshed = self.accounts.refresh(&body.refresh_token, &self.client(request)).await?;
        Ok(types::RefreshResponse {
            access_token: refreshed.access_token,
            expires_in_ms: Some(millis(refreshed.expires_in_ms)),
            refresh_token: Some(refreshed.refresh_token),
        })
    }
}

impl Logout for Handlers {
    async fn logout(&self, _: &Request, token: AccessToken, _: Json) -> Result<Json, Error> {
        let session = self.accounts.authenticate_for_logout(token.as_str()).await?;
        self.accounts.logout(&session).await?;
        Ok(empty())
    }

    async fn logout_all(&self, _: &Request, token: AccessToken, _: Json) -> Result<Json, Error> {
        let session = self.accounts.authenticate_for_logout(token.as_str()).await?;
        self.accounts.logout_all(&session).await?;
        Ok(empty())
    }
}

impl Whoami for Handlers {
    async fn get_token_owner(
        &self,
        request: &Request,
        token: AccessToken,
    ) -> Result<types::GetTokenOwnerResponse, Error> {
        let session = self.session(request, &token).await?;
        Ok(types::GetTokenOwnerResponse {
            user_id: session.user_id().to_owned(),
            device_id: Some(session.device_id().to_owned()),
            is_guest: Some(session.is_guest()),
        })
    }
}
