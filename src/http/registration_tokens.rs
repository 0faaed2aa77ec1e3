//! Registration tokens in Synapse's admin API (admins only).
//!
//! - `GET /_synapse/admin/v1/registration_tokens`, `POST .../new`,
//!   `GET|PUT|DELETE .../{token}`.

use serde_json::Value;

use super::{Handlers, Json, empty};
use crate::accounts::NewRegistrationToken;
use crate::api::runtime::{AccessToken, Request};
use crate::api::{RegistrationTokens, types};
use crate::error::Error;
use crate::store::{RegistrationTokenRecord, RegistrationTokenUpdate};

fn shown(record: RegistrationTokenRecord) -> types::RegistrationToken {
    types::RegistrationToken {
        token: record.token,
        uses_allowed: record.uses_allowed,
        pending: record.pending,
        completed: record.completed,
        expiry_time: record.expiry_time,
    }
}

/// One limit of a `PUT`: absent leaves it, `null` lifts it, an integer
/// sets it; anything else is 400 `M_INVALID_PARAM`.
fn limit(body: &Json, key: &str) -> Result<Option<Option<i64>>, Error> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => value
            .as_i64()
            .map(|n| Some(Some(n)))
            .ok_or_else(|| Error::invalid_param(format!("{key} must be an integer or null"))),
    }
}

impl RegistrationTokens for Handlers {
    async fn list_registration_tokens(
        &self,
        request: &Request,
        token: AccessToken,
        query: types::ListRegistrationTokensQuery,
    ) -> Result<types::ListRegistrationTokensResponse, Error> {
        self.admin(request, &token).await?;
        let tokens = self.accounts.registration_tokens(query.valid).await?;
        Ok(types::ListRegistrationTokensResponse { registration_tokens: tokens.into_iter().map(shown).collect() })
    }

    async fn new_registration_token(
        &self,
        request: &Request,
        token: AccessToken,
        body: types::NewRegistrationTokenRequest,
    ) -> Result<types::RegistrationToken, Error> {
        let admin = self.admin(request, &token).await?;
        let new = NewRegistrationToken {
            token: body.token,
            length: body.length,
            uses_allowed: body.uses_allowed,
            expiry_time: body.expiry_time,
        };
        Ok(shown(self.accounts.create_registration_token(&admin, new).await?))
    }

    async fn get_registration_token(
        &self,
        request: &Request,
        token: AccessToken,
        registration_token: String,
    ) -> Result<types::RegistrationToken, Error> {
        self.admin(request, &token).await?;
        Ok(shown(self.accounts.registration_token(&registration_token).await?))
    }

    async fn update_registration_token(
        &self,
        request: &Request,
        token: AccessToken,
        registration_token: String,
        body: Json,
    ) -> Result<types::RegistrationToken, Error> {
        let admin = self.admin(request, &token).await?;
        let update = RegistrationTokenUpdate {
            uses_allowed: limit(&body, "uses_allowed")?,
            expiry_time: limit(&body, "expiry_time")?,
        };
        Ok(shown(self.accounts.update_registration_token(&admin, &registration_token, update).await?))
    }

    async fn delete_registration_token(
        &self,
        request: &Request,
        token: AccessToken,
        registration_token: String,
    ) -> Result<Json, Error> {
        let admin = self.admin(request, &token).await?;
        self.accounts.delete_registration_token(&admin, &registration_token).await?;
        Ok(empty())
    }
}
