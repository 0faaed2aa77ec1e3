//! The Matrix error as dropshot sees it, and dropshot's errors as Matrix ones.
//!
//! Generated handlers render their errors through [`super::Reply`]; what is
//! here serves the rare error dropshot raises on its own after routing
//! (e.g. a query string its extractor refuses), so that it too keeps the
//! Matrix shape.

use dropshot::{ErrorStatusCode, HttpError, HttpResponseError};
use http::{HeaderValue, StatusCode, header};
use schemars::JsonSchema;
use schemars::r#gen::SchemaGenerator;
use schemars::schema::Schema;

use crate::error::{Error, ErrorCode};

/// The answer of an operation described in `api/` that has no handler yet.
/// The spec pairs `M_UNRECOGNIZED` with 404 for "endpoint not implemented".
pub fn not_implemented(operation_id: &str) -> Error {
    Error::unrecognized(
        StatusCode::NOT_FOUND,
        format!("{operation_id} is described in this server's API but not implemented yet"),
    )
}

/// The answer to a method a served path does not serve: 405 `M_UNRECOGNIZED`
/// with the `Allow` header RFC 9110 requires.
pub fn method_not_allowed(allow: &'static str) -> Error {
    Error::unrecognized(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed on this path")
        .with_header(header::ALLOW, HeaderValue::from_static(allow))
}

impl From<HttpError> for Error {
    fn from(error: HttpError) -> Self {
        let status = error.status_code.as_status();
        if status.is_server_error() {
            return Error::internal(error.internal_message);
        }
        let message = error.external_message;
        if let Some(field) = missing_field(&message) {
            return Error::missing_param(field);
        }
        let code = error.error_code.as_deref().and_then(ErrorCode::parse).unwrap_or(match status {
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => ErrorCode::Unrecognized,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
            _ => ErrorCode::InvalidParam,
        });
        Error::new(status, code, message)
    }
}

/// The field serde reports missing, from a message containing
/// "missing field `x`".
pub(super) fn missing_field(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("missing field `")?;
    rest.split('`').next()
}

impl HttpResponseError for Error {
    fn status_code(&self) -> ErrorStatusCode {
        ErrorStatusCode::from_u16(self.status().as_u16()).unwrap_or(ErrorStatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// dropshot renders (and describes) error types through their schema.
impl JsonSchema for Error {
    fn schema_name() -> String {
        "Error".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        ErrorBody::json_schema(generator)
    }
}

/// The shape of every error body.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct ErrorBody {
    /// The error code, e.g. `M_FORBIDDEN`.
    errcode: String,
    /// A human-readable message.
    error: String,
}
