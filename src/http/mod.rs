//! The hand-written side of the generated layer.
//!
//! The generator makes one trait per operation group (per YAML file name:
//! `login.yaml` → `Login`), and each module here implements its groups'
//! traits on [`Handlers`], for every spec era that has the operation. A
//! handler is a thin adapter: it turns the era's request type into a call
//! on the domain ([`crate::accounts`]) and the domain's answer into the
//! era's response type. No behaviour lives here.
//!
//! - `discovery`: `Document`, `Versions`, `Capabilities`, `Wellknown`;
//! - `login`: `Login`; `register`: `Registration`,
//!   `RegistrationTokenValidity`; `password`: `Password`;
//! - `devices`: `Devices`; `deactivate`: `Deactivate`;
//! - `admin`: `AdminRegister`, `AdminUsers`; `registration_tokens`:
//!   `RegistrationTokens` (Synapse's admin API);
//! - `session`: `Tokenrefresh`, `Refresh`, `Logout`, `Whoami`;
//! - `threepids`: `Threepids`;
//! - `email_validation`: `EmailValidation`; `auth_fallback`: `AuthFallback`
//!   (the UIA fallback pages).

mod admin;
mod auth_fallback;
mod deactivate;
mod devices;
mod discovery;
mod email_validation;
mod login;
mod password;
mod register;
mod registration_tokens;
mod session;
mod threepids;

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::accounts::{Accounts, ClientInfo, Session};
use crate::api::runtime::{AccessToken, Request};
use crate::error::Error;

/// What every handler can reach.
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
    fn client(&self, request: &Request) -> ClientInfo {
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
    /// The use is noted for the device's `last_seen_ip`/`last_seen_ts`
    /// (in memory; see `accounts::last_seen`).
    async fn session(&self, request: &Request, token: &AccessToken) -> Result<Session, Error> {
        let session = self.accounts.authenticate(token.as_str()).await?;
        self.accounts.note_use(&session, &self.client(request));
        Ok(session)
    }

    /// The session of an admin's access token, for the admin API: 401
    /// without a valid token, 403 `M_FORBIDDEN` for a non-admin.
    async fn admin(&self, request: &Request, token: &AccessToken) -> Result<Session, Error> {
        let session = self.session(request, token).await?;
        self.accounts.require_admin(&session).await?;
        Ok(session)
    }
}

/// An empty JSON object, the success body of several operations.
fn empty() -> Map<String, Value> {
    Map::new()
}

type Json = Map<String, Value>;
