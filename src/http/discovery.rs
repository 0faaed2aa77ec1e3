//! What the server tells clients about itself.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::api::OPENAPI_DOCUMENT;
use crate::api::types::GetVersionsResponse;
use crate::error::Error;

/// The spec releases whose account API this server implements: every r0
/// release, and v1.1 (which introduced `/v3`) up to v1.12. `/refresh`
/// arrived in v1.3, `m.login.registration_token` in v1.2.
const VERSIONS: &[&str] = &[
    "r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4",
    "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12",
];

/// `GET /openapi.json`: the published document, exactly as built from
/// `api/` (the committed copy is `generated/openapi.json`). Parsed per
/// request: it is asked for rarely, and a parsed copy would stay resident.
pub fn openapi_document() -> Result<Map<String, Value>, Error> {
    serde_json::from_str(OPENAPI_DOCUMENT).map_err(Error::internal)
}

/// `GET /_matrix/client/versions`.
pub fn versions() -> GetVersionsResponse {
    GetVersionsResponse {
        versions: VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
        unstable_features: HashMap::new(),
    }
}
