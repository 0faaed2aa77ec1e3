//! Registration, for each era.
//!
//! - `POST /_matrix/client/api/v2_alpha/register` (the seed): always logs
//!   in, always with a refresh token, and answers `home_server`.
//! - `POST /_matrix/client/{r0,v3}/register`: `kind=guest`, `device_id`,
//!   `inhibit_login`, `refresh_token` as the client asks.
//! - `GET /_matrix/client/{r0,v3}/register/available`.

use serde_json::Value;

use super::Handlers;
use crate::accounts::RegisterRequest;
use crate::api::runtime::Request;
use crate::api::{Registration, RegistrationTokenValidity, types};
use crate::error::Error;

impl Registration for Handlers {
    async fn register_v2_alpha(
        &self,
        request: &Request,
        body: types::RegisterV2AlphaRequest,
    ) -> Result<types::RegisterV2AlphaResponse, Error> {
        // The seed always logs in, with a refresh token: say so explicitly, so
        // that completing a session a v3 request began with `inhibit_login`
        // still answers the seed's shape.
        let registration = RegisterRequest {
            username: body.username,
            password: body.password,
            refresh_token: Some(true),
            inhibit_login: Some(false),
            ..RegisterRequest::default()
        };
        let auth = body.auth.map(|auth| Value::Object(auth.0));
        let registered = self.accounts.register(registration, auth, &self.client(request)).await?;
        Ok(types::RegisterV2AlphaResponse {
            access_token: registered
                .access_token
                .ok_or_else(|| Error::internal("seed registration without a login"))?,
            home_server: self.accounts.server_name().to_owned(),
            refresh_token: registered.refresh_token,
            user_id: registered.user_id,
        })
    }

    async fn register(
        &self,
        request: &Request,
        query: types::RegisterQuery,
        body: types::RegisterRequest,
    ) -> Result<types::RegisterResponse, Error> {
        let registration = RegisterRequest {
            username: body.username,
            password: body.password,
            device_id: body.device_id,
            initial_device_display_name: body.initial_device_display_name,
            // Absent and false read the same here; leaving false out lets a
            // UIA follow-up keep what the session's first request asked for.
            inhibit_login: body.inhibit_login.then_some(true),
            refresh_token: body.refresh_token.then_some(true),
            guest: matches!(query.kind, Some(types::RegisterKind::Guest)),
            ..RegisterRequest::default()
        };
        let auth = body.auth.map(|auth| Value::Object(auth.0));
        let registered = self.accounts.register(registration, auth, &self.client(request)).await?;
        Ok(types::RegisterResponse {
            access_token: registered.access_token,
            device_id: registered.device_id,
            expires_in_ms: registered.expires_in_ms.map(millis),
            home_server: Some(self.accounts.server_name().to_owned()),
            refresh_token: registered.refresh_token,
            user_id: registered.user_id,
        })
    }

    async fn check_username_availability(
        &self,
        request: &Request,
        query: types::CheckUsernameAvailabilityQuery,
    ) -> Result<types::CheckUsernameAvailabilityResponse, Error> {
        self.accounts.check_username_available(&query.username, &self.client(request)).await?;
        Ok(types::CheckUsernameAvailabilityResponse { available: true })
    }
}

impl RegistrationTokenValidity for Handlers {
    /// `GET /_matrix/client/v1/register/m.login.registration_token/validity`.
    async fn registration_token_validity(
        &self,
        request: &Request,
        query: types::RegistrationTokenValidityQuery,
    ) -> Result<types::RegistrationTokenValidityResponse, Error> {
        let valid = self.accounts.registration_token_valid(&query.token, &self.client(request)).await?;
        Ok(types::RegistrationTokenValidityResponse { valid })
    }
}

/// Durations are `u64` in the domain and `int64` in the spec.
pub(super) fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}
