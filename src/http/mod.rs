//! The hand-written side of the generated layer: `impl Operations`.
//!
//! The one `impl Operations for Handlers` below is the table of contents:
//! each method hands over to the module of its operation group, which
//! serves it for every spec era that has it. A handler is a thin adapter:
//! it turns the era's request type into a call on the domain
//! ([`crate::accounts`]) and the domain's answer into the era's response
//! type. No behaviour lives here.

mod discovery;

use std::sync::Arc;

use anyhow::Context;
use dropshot::RequestInfo;
use serde_json::{Map, Value};

use crate::api::{OPENAPI_DOCUMENT, Operations};
use crate::config::Config;
use crate::error::Error;

/// What every handler can reach: the dropshot server context.
pub struct Handlers {
    pub config: Arc<Config>,
    /// The published document, parsed once.
    document: Map<String, Value>,
}

impl Handlers {
    pub fn new(config: Arc<Config>) -> anyhow::Result<Self> {
        let document = serde_json::from_str(OPENAPI_DOCUMENT).context("parsing the embedded OpenAPI document")?;
        Ok(Handlers { config, document })
    }
}

impl Operations for Handlers {
    async fn get_open_api_document(&self, _: &RequestInfo) -> Result<Map<String, Value>, Error> {
        discovery::openapi_document(self)
    }
}
