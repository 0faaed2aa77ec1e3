//! JSON request bodies, read the way Matrix clients expect.
//!
//! * the `Content-Type` is ignored, as the reference server does (curl sends
//!   form encoding by default);
//! * the body is capped at the configured size with 413 `M_TOO_LARGE`;
//! * what the spec tells apart is told apart: not JSON (or not UTF-8) is
//!   `M_NOT_JSON`, a missing field is `M_MISSING_PARAM` naming it, a value of
//!   the wrong type is `M_BAD_JSON` naming where.
//!
//! A body that cannot be read is kept as the [`Error`] it deserves and
//! answered when the operation asks for its body, after its credentials
//! were checked, like any other error of the operation.

use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

use super::errors::missing_field;
use crate::error::Error;

/// Reads a whole request body, refusing more than `limit` bytes (at once
/// when the declared `Content-Length` says so, without reading any).
pub async fn read_body<B>(headers: &http::HeaderMap, body: B, limit: usize) -> Result<bytes::Bytes, Error>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let too_large = || Error::too_large(limit);
    let declared =
        headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => Err(Error::not_json(format!("Could not read the request body: {error}"))),
    }
}

/// Parses a body into `T`, with the errcode the spec gives each failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::not_json("Content is not valid UTF-8"))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::not_json(format!("Content not JSON: {e}")))?;
    // Every body the API describes is an object; serde would also read a
    // struct from an array, field by field in order (`["mar_x"]` as a
    // refresh request).
    if !value.is_object() {
        return Err(Error::bad_json("Content must be a JSON object."));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        match missing_field(&message) {
            Some(field) if path == "." => Error::missing_param(field),
            Some(field) => Error::missing_param(&format!("{path}.{field}")),
            None if path == "." => Error::bad_json(format!("Invalid JSON body: {message}")),
            None => Error::bad_json(format!("Invalid value for {path}: {message}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        user: String,
        password: String,
        device: Option<Device>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Device {
        id: String,
    }

    fn code(body: &str) -> (ErrorCode, String) {
        let error = parse_json::<Login>(body.as_bytes()).unwrap_err();
        (error.code().unwrap(), error.message().to_owned())
    }

    #[test]
    fn each_failure_has_its_errcode() {
        assert_eq!(code("{not json").0, ErrorCode::NotJson);
        assert_eq!(parse_json::<Login>(b"\xff\xfe").unwrap_err().code(), Some(ErrorCode::NotJson));
        assert_eq!(code("[1, 2]").0, ErrorCode::BadJson);
        assert_eq!(code(r#"["a", "b"]"#), (ErrorCode::BadJson, "Content must be a JSON object.".into()));
        assert_eq!(
            code(r#"{"user": 123, "password": "x"}"#),
            (ErrorCode::BadJson, "Invalid value for user: invalid type: integer `123`, expected a string".into())
        );
        assert_eq!(code(r#"{"user": "a"}"#), (ErrorCode::MissingParam, "Missing parameter: password".into()));
        assert_eq!(
            code(r#"{"user": "a", "password": "b", "device": {}}"#),
            (ErrorCode::MissingParam, "Missing parameter: device.id".into())
        );
    }

    #[test]
    fn a_valid_body_parses() {
        let login: Login = parse_json(br#"{"user": "a", "password": "b", "extra": true}"#).unwrap();
        assert_eq!(login.user, "a");
    }
}
