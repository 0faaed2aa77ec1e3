//! The errors the generated layer itself answers.

use http::{HeaderValue, StatusCode, header};

use crate::error::Error;

/// The answer of an operation described in `api/` that has no handler yet.
/// The spec pairs `M_UNRECOGNIZED` with 404 for "endpoint not implemented".
pub fn not_implemented(operation_id: &str) -> Error {
    Error::unrecognized(
        StatusCode::NOT_FOUND,
        format!("{operation_id} is described in this server's API but not implemented yet"),
    )
}

/// The answer to a path no operation describes.
pub fn not_found() -> Error {
    Error::unrecognized(StatusCode::NOT_FOUND, "Unrecognized request")
}

/// The answer to a method a served path does not serve: 405 `M_UNRECOGNIZED`
/// with the `Allow` header RFC 9110 requires.
pub fn method_not_allowed(allow: &'static str) -> Error {
    Error::unrecognized(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed on this path")
        .with_header(header::ALLOW, HeaderValue::from_static(allow))
}

/// The field serde reports missing, from a message containing
/// "missing field `x`".
pub(super) fn missing_field(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("missing field `")?;
    rest.split('`').next()
}
