//! CORS headers for browser clients.
//!
//! Every response, errors included, carries them: without them a web client
//! such as Element cannot even read a 401 UIA challenge.

use http::HeaderValue;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, HeaderName,
};

const HEADERS: [(HeaderName, HeaderValue); 3] = [
    (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
    (ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS")),
    (ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("X-Requested-With, Content-Type, Authorization")),
];

/// Adds the CORS headers to a response being built.
pub fn allow_any_origin(mut builder: http::response::Builder) -> http::response::Builder {
    if let Some(headers) = builder.headers_mut() {
        for (name, value) in HEADERS {
            headers.insert(name, value);
        }
    }
    builder
}
