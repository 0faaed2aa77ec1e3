//! The hand-written side of the generated layer: `impl Operations`.
//!
//! The one `impl Operations for Handlers` below is the table of contents:
//! each method hands over to the module of its operation group, which
//! serves it for every spec era that has it. A handler is a thin adapter:
//! it turns the era's request type into a call on the domain
//! ([`crate::accounts`]) and the domain's answer into the era's response
//! type. No behaviour lives here.

mod discovery;
mod login;
mod password;
mod register;
mod session;
mod threepids;

use std::net::IpAddr;

use dropshot::RequestInfo;
use serde_json::{Map, Value};

use crate::accounts::{Accounts, ClientInfo, Session};
use crate::api::runtime::AccessToken;
use crate::api::{Operations, types};
use crate::error::Error;

/// What every handler can reach: the dropshot server context.
pub struct Handlers {
    accounts: Accounts,
    /// Proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<IpAddr>,
}

impl Handlers {
    pub fn new(accounts: Accounts, trusted_proxies: Vec<IpAddr>) -> Self {
        Handlers { accounts, trusted_proxies }
    }

    /// What the domain needs to know about the caller: its address, behind
    /// a trusted proxy the one the proxy forwarded for.
    fn client(&self, request: &RequestInfo) -> ClientInfo {
        let peer = request.remote_addr().ip();
        if !self.trusted_proxies.contains(&peer) {
            return ClientInfo { ip: peer };
        }
        // Each proxy appends the address it got the request from: the last
        // one no trusted proxy added is the client's.
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        let ip = forwarded.into_iter().rev().find(|hop| !self.trusted_proxies.contains(hop)).unwrap_or(peer);
        ClientInfo { ip }
    }

    /// The session an access token belongs to (401 when it is unknown).
    async fn session(&self, token: &AccessToken) -> Result<Session, Error> {
        self.accounts.authenticate(token.as_str()).await
    }
}

/// An empty JSON object, the success body of several operations.
fn empty() -> Map<String, Value> {
    Map::new()
}

type Json = Map<String, Value>;

impl Operations for Handlers {
    async fn get_open_api_document(&self, _: &RequestInfo) -> Result<Json, Error> {
        discovery::openapi_document()
    }

    async fn get_versions(&self, _: &RequestInfo) -> Result<types::GetVersionsResponse, Error> {
        Ok(discovery::versions())
    }

    async fn register_v2_alpha(
        &self,
        request: &RequestInfo,
        body: types::RegisterV2AlphaRequest,
    ) -> Result<types::RegisterV2AlphaResponse, Error> {
        register::v2_alpha(self, request, body).await
    }

    async fn register(
        &self,
        request: &RequestInfo,
        query: types::RegisterQuery,
        body: types::RegisterRequest,
    ) -> Result<types::RegisterResponse, Error> {
        register::v3(self, request, query, body).await
    }

    async fn check_username_availability(
        &self,
        request: &RequestInfo,
        query: types::CheckUsernameAvailabilityQuery,
    ) -> Result<types::CheckUsernameAvailabilityResponse, Error> {
        register::availability(self, request, query).await
    }

    async fn login_v1(
        &self,
        request: &RequestInfo,
        body: types::LoginV1Request,
    ) -> Result<types::LoginV1Response, Error> {
        login::v1(self, request, body).await
    }

    async fn get_login_flows(&self, _: &RequestInfo) -> Result<types::GetLoginFlowsResponse, Error> {
        Ok(login::flows(self))
    }

    async fn login(&self, request: &RequestInfo, body: types::LoginRequest) -> Result<types::LoginResponse, Error> {
        login::v3(self, request, body).await
    }

    async fn token_refresh_v2_alpha(
        &self,
        request: &RequestInfo,
        body: types::TokenRefreshV2AlphaRequest,
    ) -> Result<types::TokenRefreshV2AlphaResponse, Error> {
        session::token_refresh_v2_alpha(self, request, body).await
    }

    async fn refresh(
        &self,
        request: &RequestInfo,
        body: types::RefreshRequest,
    ) -> Result<types::RefreshResponse, Error> {
        session::refresh(self, request, body).await
    }

    async fn logout(&self, _: &RequestInfo, token: AccessToken, _: Json) -> Result<Json, Error> {
        session::logout(self, token).await
    }

    async fn logout_all(&self, _: &RequestInfo, token: AccessToken, _: Json) -> Result<Json, Error> {
        session::logout_all(self, token).await
    }

    async fn get_token_owner(
        &self,
        _: &RequestInfo,
        token: AccessToken,
    ) -> Result<types::GetTokenOwnerResponse, Error> {
        session::whoami(self, token).await
    }

    async fn change_password_v2_alpha(
        &self,
        request: &RequestInfo,
        token: Option<AccessToken>,
        body: types::ChangePasswordV2AlphaRequest,
    ) -> Result<Json, Error> {
        password::v2_alpha(self, request, token, body).await
    }

    async fn change_password(
        &self,
        request: &RequestInfo,
        token: Option<AccessToken>,
        body: types::ChangePasswordRequest,
    ) -> Result<Json, Error> {
        password::v3(self, request, token, body).await
    }

    async fn get_three_pids_v2_alpha(
        &self,
        _: &RequestInfo,
        token: AccessToken,
    ) -> Result<types::GetThreePidsV2AlphaResponse, Error> {
        threepids::list_v2_alpha(self, token).await
    }

    async fn get_account_3pids(
        &self,
        _: &RequestInfo,
        token: AccessToken,
    ) -> Result<types::GetAccount3pidsResponse, Error> {
        threepids::list_v3(self, token).await
    }

    async fn add_three_pid_v2_alpha(
        &self,
        request: &RequestInfo,
        token: AccessToken,
        body: types::AddThreePidV2AlphaRequest,
    ) -> Result<Json, Error> {
        threepids::add_v2_alpha(self, request, token, body).await
    }

    async fn post_3pids(
        &self,
        request: &RequestInfo,
        token: AccessToken,
        body: types::Post3pidsRequest,
    ) -> Result<types::Post3pidsResponse, Error> {
        threepids::bind_v3(self, request, token, body).await
    }

    async fn add_3pid(
        &self,
        request: &RequestInfo,
        token: AccessToken,
        body: types::Add3pidRequest,
    ) -> Result<Json, Error> {
        threepids::add_v3(self, request, token, body).await
    }

    async fn delete_3pid_from_account(
        &self,
        request: &RequestInfo,
        token: AccessToken,
        body: types::Delete3pidFromAccountRequest,
    ) -> Result<types::Delete3pidFromAccountResponse, Error> {
        threepids::delete_v3(self, request, token, body).await
    }
}
