//! The request as an operation sees it: method, URI, headers, the client's
//! address, and what the generated dispatch reads from it (path parameters,
//! query, JSON body), each failure with the errcode the spec gives it.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use serde::de::DeserializeOwned;

use super::body::parse_json;
use super::errors::missing_field;
use crate::error::Error;

/// One request, its body already read (or the error reading it gave).
#[derive(Debug)]
pub struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    remote_addr: SocketAddr,
    body: Result<Bytes, Error>,
    path_parameters: Vec<String>,
}

impl Request {
    pub fn new(
        parts: http::request::Parts,
        remote_addr: SocketAddr,
        body: Result<Bytes, Error>,
        path_parameters: Vec<String>,
    ) -> Self {
        Request { method: parts.method, uri: parts.uri, headers: parts.headers, remote_addr, body, path_parameters }
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The TCP peer (behind a reverse proxy, the proxy).
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// The path parameter at `index` (in path order), percent-decoded.
    pub fn path_parameter(&self, index: usize, name: &str) -> Result<String, Error> {
        let raw = self.path_parameters.get(index).ok_or_else(|| Error::missing_param(name))?;
        decode_path_parameter(raw)
            .map_err(|_| Error::invalid_param(format!("Path parameter {name} is not valid UTF-8")))
    }

    /// The query parameters as `T`: `M_MISSING_PARAM` naming a missing one,
    /// `M_INVALID_PARAM` for a value of the wrong kind.
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let query = self.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query).map_err(|error| form_error(error, "query parameters"))
    }

    /// A form-encoded body (`application/x-www-form-urlencoded`, what an
    /// HTML form posts) as `T`, with the query's errcodes. The generated
    /// dispatch reads only JSON bodies: an operation whose body is a form
    /// reads it itself, with this.
    pub fn form_body<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let bytes = self.body.as_ref().map_err(Clone::clone)?;
        serde_urlencoded::from_bytes(bytes).map_err(|error| form_error(error, "form fields"))
    }

    /// The JSON body as `T`. An operation that may go without a body reads
    /// an empty one as `{}`.
    pub fn json_body<T: DeserializeOwned>(&self, required: bool) -> Result<T, Error> {
        let bytes = self.body.as_ref().map_err(Clone::clone)?;
        let absent = bytes.iter().all(u8::is_ascii_whitespace);
        parse_json(if absent && !required { b"{}" } else { bytes })
    }
}

/// A form that cannot be read as `T`: a missing field is `M_MISSING_PARAM`
/// naming it, a value of the wrong kind `M_INVALID_PARAM`.
fn form_error(error: serde_urlencoded::de::Error, what: &str) -> Error {
    let message = error.to_string();
    match missing_field(&message) {
        Some(field) => Error::missing_param(field),
        None => Error::invalid_param(format!("Invalid {what}: {message}")),
    }
}

/// A path parameter as sent, percent-decoded; an error when the bytes it
/// names are not UTF-8.
pub fn decode_path_parameter(raw: &str) -> Result<String, std::str::Utf8Error> {
    percent_encoding::percent_decode_str(raw).decode_utf8().map(|decoded| decoded.into_owned())
}
