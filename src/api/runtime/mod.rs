//! Support for the generated layer: extractors, replies, credentials, and
//! the Matrix shape of every error.
//!
//! dropshot knows nothing of Matrix: its body extractor calls every failure
//! a 400 with its own body, it sends no CORS headers, and it has no 405 of
//! the spec's shape. Everything here closes one of those gaps, once, for all
//! generated routes.

mod body;
mod cors;
mod credentials;
mod errors;
mod query;
mod responses;

pub use body::{Body, JsonBody, OptionalJsonBody};
pub use credentials::AccessToken;
pub use errors::{method_not_allowed, not_implemented};
pub use query::QueryParams;
pub use responses::{Reply, reply};
