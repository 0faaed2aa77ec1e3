//! What the server tells clients about itself.

use serde_json::{Map, Value};

use super::Handlers;
use crate::error::Error;

/// `GET /openapi.json`: the published document, exactly as built from
/// `api/` (the committed copy is `generated/openapi.json`).
pub fn openapi_document(handlers: &Handlers) -> Result<Map<String, Value>, Error> {
    Ok(handlers.document.clone())
}
