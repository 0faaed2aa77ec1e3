//! Logging in, for each era.
//!
//! - `POST /_matrix/client/api/v1/login` (the seed): `user` and `password`;
//!   answers with a refresh token and `home_server`.
//! - `GET /_matrix/client/{r0,v3}/login`: the supported flows.
//! - `POST /_matrix/client/{r0,v3}/login`: an `identifier` object or the
//!   legacy `user` / `medium` + `address`, `device_id`, `refresh_token`.

use serde_json::{Map, Value};

use super::Handlers;
use super::register::millis;
use crate::accounts::{LoginRequest, UserIdentifier};
use crate::api::runtime::Request;
use crate::api::{Login, types};
use crate::error::Error;

impl Login for Handlers {
    async fn login_v1(&self, request: &Request, body: types::LoginV1Request) -> Result<types::LoginV1Response, Error> {
        let login = LoginRequest {
            login_type: body.type_,
            identifier: UserIdentifier::User(body.user),
            password: Some(body.password),
            device_id: None,
            initial_device_display_name: None,
            refresh_token: true,
        };
        let logged_in = self.accounts.login(login, &self.client(request)).await?;
        Ok(types::LoginV1Response {
            access_token: logged_in.access_token,
            home_server: self.accounts.server_name().to_owned(),
            refresh_token: logged_in.refresh_token,
            user_id: logged_in.user_id,
        })
    }

    async fn get_login_flows(&self, _: &Request) -> Result<types::GetLoginFlowsResponse, Error> {
        let flows = self.accounts.login_flows().iter().map(|flow| types::LoginFlow { type_: (*flow).to_owned() });
        Ok(types::GetLoginFlowsResponse { flows: flows.collect() })
    }

    async fn login(&self, request: &Request, body: types::LoginRequest) -> Result<types::LoginResponse, Error> {
        self.accounts.check_login_type(&body.type_)?;
        let login = LoginRequest {
            login_type: body.type_,
            identifier: identifier(body.identifier, body.user, body.medium, body.address)?,
            password: body.password,
            device_id: body.device_id,
            initial_device_display_name: body.initial_device_display_name,
            refresh_token: body.refresh_token,
        };
        let logged_in = self.accounts.login(login, &self.client(request)).await?;
        Ok(types::LoginResponse {
            access_token: logged_in.access_token,
            device_id: logged_in.device_id,
            expires_in_ms: logged_in.expires_in_ms.map(millis),
            home_server: Some(self.accounts.server_name().to_owned()),
            refresh_token: logged_in.refresh_token,
            user_id: logged_in.user_id,
            well_known: self.accounts.well_known().map(super::discovery::well_known_response),
        })
    }
}

/// Who logs in. The domain owns the rules for the spec's several ways of
/// saying it (the same ones UIA's `m.login.password` accepts), so the
/// typed fields are handed over in their JSON form.
fn identifier(
    identifier: Option<types::UserIdentifier>,
    user: Option<String>,
    medium: Option<String>,
    address: Option<String>,
) -> Result<UserIdentifier, Error> {
    let mut fields = Map::new();
    if let Some(identifier) = identifier {
        fields.insert("identifier".into(), serde_json::to_value(identifier).map_err(Error::internal)?);
    }
    for (name, value) in [("user", user), ("medium", medium), ("address", address)] {
        if let Some(value) = value {
            fields.insert(name.into(), Value::String(value));
        }
    }
    UserIdentifier::from_json(&fields)
}
