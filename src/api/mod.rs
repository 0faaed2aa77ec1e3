//! The generated layer: everything HTTP-shaped that `api/` describes.
//!
//! `build.rs` runs specgen over `api/` and this module includes what it
//! wrote: the schema types, the `Operations` trait (one method per
//! operation, implemented by hand in [`crate::http`]) and the dropshot `Api`
//! trait that routes every described path to it. [`runtime`] is the small
//! hand-written support the generated code stands on.

pub mod runtime;

#[allow(clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/api.rs"));
}

pub use generated::{Api, Operations, api_description, types};

/// The published OpenAPI 3.0 document, as built from `api/`.
pub const OPENAPI_DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));
