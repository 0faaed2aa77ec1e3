//! The generated layer: everything HTTP-shaped that `api/` describes.
//!
//! `build.rs` runs specgen over `api/` and this module includes what it
//! wrote: the schema types, one trait per operation group (implemented by
//! hand in [`crate::http`]), the router and the dispatch. [`runtime`] is the
//! small hand-written support the generated code stands on.

pub mod runtime;

#[allow(clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/api.rs"));
}

pub use generated::*;

/// The published OpenAPI 3.0 document, as built from `api/`.
pub const OPENAPI_DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The reference page rendered from the published document.
pub const REFERENCE_PAGE: &str = include_str!(concat!(env!("OUT_DIR"), "/docs.html"));
