//! What the server tells clients about itself.

use std::collections::HashMap;

use super::Handlers;
use crate::api::runtime::{Prerendered, Request};
use crate::api::types::GetVersionsResponse;
use crate::api::{Document, OPENAPI_DOCUMENT, REFERENCE_PAGE, Versions};
use crate::error::Error;

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
