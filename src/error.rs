//! The one Matrix error type.
//!
//! Every failure a client can see is an [`Error`]: a standard `errcode`, a
//! human-readable `error`, the HTTP status the spec pairs with it, and the
//! extra fields some errors carry (`retry_after_ms`, `soft_logout`, the UIA
//! state of a 401). The domain returns these directly, so the HTTP layer never
//! guesses a status, and a bad request can never turn into a bare 500.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};

/// Declares [`ErrorCode`] with each variant's `errcode` string, once.
macro_rules! error_codes {
    ($($variant:ident => $errcode:literal,)*) => {
        /// The `errcode`s this server sends (spec: "Standard error response").
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, for parsing one back from its string.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $errcode,)*
                }
            }
        }
    };
}

error_codes! {
    Forbidden => "M_FORBIDDEN",
    Unauthorized => "M_UNAUTHORIZED",
    UnknownToken => "M_UNKNOWN_TOKEN",
    MissingToken => "M_MISSING_TOKEN",
    BadJson => "M_BAD_JSON",
    NotJson => "M_NOT_JSON",
    NotFound => "M_NOT_FOUND",
    LimitExceeded => "M_LIMIT_EXCEEDED",
    Unrecognized => "M_UNRECOGNIZED",
    Unknown => "M_UNKNOWN",
    UserInUse => "M_USER_IN_USE",
    InvalidUsername => "M_INVALID_USERNAME",
    Exclusive => "M_EXCLUSIVE",
    ThreepidAuthFailed => "M_THREEPID_AUTH_FAILED",
    ThreepidInUse => "M_THREEPID_IN_USE",
    ThreepidNotFound => "M_THREEPID_NOT_FOUND",
    ThreepidDenied => "M_THREEPID_DENIED",
    ServerNotTrusted => "M_SERVER_NOT_TRUSTED",
    MissingParam => "M_MISSING_PARAM",
    InvalidParam => "M_INVALID_PARAM",
    TooLarge => "M_TOO_LARGE",
    GuestAccessForbidden => "M_GUEST_ACCESS_FORBIDDEN",
    UserDeactivated => "M_USER_DEACTIVATED",
    WeakPassword => "M_WEAK_PASSWORD",
}

impl ErrorCode {
    /// The code whose string is `errcode`, if this server knows it.
    pub fn parse(errcode: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|code| code.as_str() == errcode)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Matrix error response: status, body, and the `Retry-After` it implies.
///
/// Boxed: every fallible call in the server returns it, so `Result`s stay
/// one pointer wide on the success path.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone, PartialEq)]
struct Inner {
    status: StatusCode,
    /// `None` only for a UIA challenge that reports no failed stage.
    code: Option<ErrorCode>,
    message: Cow<'static, str>,
    /// Fields merged into the body beside `errcode` and `error`.
    extra: Map<String, Value>,
    /// Response headers the error implies beyond the usual ones (`Allow`
    /// on a 405). `Retry-After` is derived from `retry_after_ms` instead.
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error(Box::new(Inner {
            status,
            code: Some(code),
            message: message.into(),
            extra: Map::new(),
            headers: Vec::new(),
        }))
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn not_json(message: impl Into<Cow<'static, str>>) -> Self {
        Error::bad_request(ErrorCode::NotJson, message)
    }

    pub fn bad_json(message: impl Into<Cow<'static, str>>) -> Self {
        Error::bad_request(ErrorCode::BadJson, message)
    }

    pub fn missing_param(name: &str) -> Self {
        Error::bad_request(ErrorCode::MissingParam, format!("Missing parameter: {name}"))
    }

    pub fn invalid_param(message: impl Into<Cow<'static, str>>) -> Self {
        Error::bad_request(ErrorCode::InvalidParam, message)
    }

    pub fn missing_token() -> Self {
        Error::new(StatusCode::UNAUTHORIZED, ErrorCode::MissingToken, "Missing access token")
    }

    /// An unknown, revoked or expired token. `soft_logout` tells the client
    /// whether it may keep its local state and log in again (true for an
    /// expired token) or must start afresh.
    pub fn unknown_token(message: impl Into<Cow<'static, str>>, soft_logout: bool) -> Self {
        Error::new(StatusCode::UNAUTHORIZED, ErrorCode::UnknownToken, message).with("soft_logout", soft_logout)
    }

    pub fn limit_exceeded(retry_after_ms: u64) -> Self {
        Error::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::LimitExceeded, "Too many requests")
            .with("retry_after_ms", retry_after_ms)
    }

    pub fn too_large(limit: usize) -> Self {
        Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!("Request body is larger than {limit} bytes"),
        )
    }

    /// A path or method this server does not serve.
    pub fn unrecognized(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(status, ErrorCode::Unrecognized, message)
    }

    /// A failure that is not the client's: logged with its cause, answered
    /// with a 500 that reveals nothing.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Error::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Unknown, "Internal server error")
    }

    /// A User-Interactive Authentication challenge (401): `state` holds
    /// `flows`, `params`, `session` and `completed`. Without an errcode it
    /// means "authenticate to continue"; see [`Error::with_code`] for a
    /// stage that failed.
    pub fn uia(state: Map<String, Value>) -> Self {
        Error(Box::new(Inner {
            status: StatusCode::UNAUTHORIZED,
            code: None,
            message: Cow::Borrowed(""),
            extra: state,
            headers: Vec::new(),
        }))
    }

    /// Marks a UIA challenge as the answer to a failed stage.
    pub fn with_code(mut self, code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        self.0.code = Some(code);
        self.0.message = message.into();
        self
    }

    /// Adds a field to the body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    pub fn headers(&self) -> &[(http::HeaderName, http::HeaderValue)] {
        &self.0.headers
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    pub fn code(&self) -> Option<ErrorCode> {
        self.0.code
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }

    pub fn extra(&self) -> &Map<String, Value> {
        &self.0.extra
    }

    /// The `Retry-After` header (whole seconds, rounded up) a rate-limited
    /// answer carries beside `retry_after_ms`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        let ms = self.0.extra.get("retry_after_ms")?.as_u64()?;
        Some(ms.div_ceil(1000).max(1))
    }

    /// The JSON body: the extra fields, then `errcode` and `error`.
    pub fn body(&self) -> Value {
        let mut body = self.0.extra.clone();
        if let Some(code) = self.0.code {
            body.insert("errcode".into(), code.as_str().into());
            body.insert("error".into(), self.0.message.as_ref().into());
        }
        Value::Object(body)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.code {
            Some(code) => write!(f, "{} {code}: {}", self.0.status.as_u16(), self.0.message),
            None => write!(f, "{} user-interactive authentication required", self.0.status.as_u16()),
        }
    }
}

impl std::error::Error for Error {}

impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.body().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_code_parses_back() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("M_NOPE"), None);
    }

    #[test]
    fn rate_limit_carries_retry_after_in_body_and_header() {
        let error = Error::limit_exceeded(1500);
        assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            error.body(),
            json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 1500})
        );
        assert_eq!(error.retry_after_secs(), Some(2));
    }

    #[test]
    fn uia_challenge_has_no_errcode_until_a_stage_fails() {
        let mut state = Map::new();
        state.insert("session".into(), "abc".into());
        let challenge = Error::uia(state);
        assert_eq!(challenge.body(), json!({"session": "abc"}));
        let failed = challenge.with_code(ErrorCode::Forbidden, "Invalid password");
        assert_eq!(failed.body(), json!({"session": "abc", "errcode": "M_FORBIDDEN", "error": "Invalid password"}));
    }
}
