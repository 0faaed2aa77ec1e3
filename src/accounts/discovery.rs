//! What the server tells clients about itself: where it is (server
//! discovery) and what an account may change here (capabilities).

use super::Accounts;

/// Server discovery's answer (`GET /.well-known/matrix/client`, and
/// `well_known` in the login answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WellKnown {
    /// The homeserver's base URL, without a trailing `/`.
    pub homeserver: String,
    pub identity_server: Option<String>,
}

/// What the account may change on this server, as it really behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `POST /account/password` is served.
    pub change_password: bool,
    /// 3pids can be added (through a trusted identity server) and removed.
    pub threepid_changes: bool,
    /// No profile API is served here, so no display name can be set.
    pub set_displayname: bool,
    /// `POST /v1/login/get_token` (optional in the spec) is not offered.
    pub get_login_token: bool,
}

impl Accounts {
    /// Server discovery, from `[well_known] base_url`, else
    /// `public_base_url`; `None` when neither is configured.
    pub fn well_known(&self) -> Option<WellKnown> {
        let config = &self.inner.config;
        let base_url = config.well_known.base_url.as_ref().or(config.public_base_url.as_ref())?;
        Some(WellKnown {
            homeserver: base_url.trim_end_matches('/').to_owned(),
            identity_server: config.well_known.identity_server.clone(),
        })
    }

    pub fn capabilities(&self) -> Capabilities {
        Capabilities { change_password: true, threepid_changes: true, set_displayname: false, get_login_token: false }
    }
}
