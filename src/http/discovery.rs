//! What the server tells clients about itself.
//!
//! - `GET /openapi.json`, `GET /docs`, `GET /_matrix/client/versions`;
//! - `GET /_matrix/client/{r0,v3}/capabilities`;
//! - `GET /.well-known/matrix/client`.

use std::collections::HashMap;

use super::Handlers;
use crate::accounts::WellKnown;
use crate::api::runtime::{AccessToken, Prerendered, Request};
use crate::api::types::GetVersionsResponse;
use crate::api::{Capabilities, Document, OPENAPI_DOCUMENT, REFERENCE_PAGE, Versions, Wellknown, types};
use crate::error::{Error, ErrorCode};

/// The spec releases whose account API this server implements: every r0
/// release, and v1.1 (which introduced `/v3`) up to v1.12. `/refresh`
/// arrived in v1.3, `m.login.registration_token` in v1.2.
const VERSIONS: &[&str] = &[
    "r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4",
    "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12",
];

impl Document for Handlers {
    /// `GET /openapi.json`: the published document, exactly as built from
    /// `api/` (the committed copy is `generated/openapi.json`), sent as the
    /// bytes compiled into the binary.
    async fn get_open_api_document(&self, _: &Request) -> Result<Prerendered, Error> {
        Ok(Prerendered::json(OPENAPI_DOCUMENT))
    }

    /// `GET /docs`: the reference page (the committed copy is
    /// `generated/docs.html`).
    async fn get_reference_page(&self, _: &Request) -> Result<Prerendered, Error> {
        Ok(Prerendered::html(REFERENCE_PAGE))
    }
}

impl Versions for Handlers {
    /// `GET /_matrix/client/versions`.
    async fn get_versions(&self, _: &Request) -> Result<GetVersionsResponse, Error> {
        Ok(GetVersionsResponse {
            versions: VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
            unstable_features: HashMap::new(),
        })
    }
}

impl Capabilities for Handlers {
    /// `GET /capabilities`: what the account may change here, as the
    /// server really behaves.
    async fn get_capabilities(
        &self,
        request: &Request,
        token: AccessToken,
    ) -> Result<types::GetCapabilitiesResponse, Error> {
        self.session(request, &token).await?;
        let capabilities = self.accounts.capabilities();
        let capability = |enabled| Some(types::Capability { enabled });
        Ok(types::GetCapabilitiesResponse {
            capabilities: types::Capabilities {
                m_change_password: capability(capabilities.change_password),
                m_3pid_changes: capability(capabilities.threepid_changes),
                m_set_displayname: capability(capabilities.set_displayname),
                m_get_login_token: capability(capabilities.get_login_token),
            },
        })
    }
}

impl Wellknown for Handlers {
    /// `GET /.well-known/matrix/client`: 404 `M_NOT_FOUND` when no base URL
    /// is configured.
    async fn get_wellknown(&self, _: &Request) -> Result<types::DiscoveryInformation, Error> {
        let well_known = self.accounts.well_known().ok_or_else(|| {
            Error::new(
                http::StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "No server discovery information is configured",
            )
        })?;
        Ok(well_known_response(well_known))
    }
}

/// Server discovery in the spec's shape, for `/.well-known/matrix/client`
/// and the login answer.
pub(super) fn well_known_response(well_known: WellKnown) -> types::DiscoveryInformation {
    types::DiscoveryInformation {
        m_homeserver: types::HomeserverInformation { base_url: well_known.homeserver },
        m_identity_server: well_known.identity_server.map(|base_url| types::IdentityServerInformation { base_url }),
    }
}
