//! The one Matrix error type.
//!
//! Every failure a client can see is an [`Error`]: a standard `errcode`, a
//! human-readable `error`, the HTTP status the spec pairs with it, and the
//! typed payload some errors carry (`retry_after_ms`, `soft_logout`, the UIA
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
    ThreepidMediumNotSupported => "M_THREEPID_MEDIUM_NOT_SUPPORTED",
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
    /// What the error carries beside `errcode` and `error`.
    payload: Payload,
    /// Response headers the error implies beyond the usual ones (`Allow`
    /// on a 405). `Retry-After` is derived from the rate limit instead.
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// The fields an error carries beside `errcode` and `error`, one variant
/// per kind, so that nothing reads them back out of JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    None,
    /// 429 `M_LIMIT_EXCEEDED`: how long to wait, as `retry_after_ms` and,
    /// rounded up to seconds, `Retry-After`.
    RateLimited {
        retry_after_ms: u64,
    },
    /// 401 `M_UNKNOWN_TOKEN`: whether the client may keep its state.
    UnknownToken {
        soft_logout: bool,
    },
    /// 401 of User-Interactive Authentication.
    Challenge(Challenge),
}

/// A UIA challenge: the flows to complete, the session to continue, and the
/// stages done so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Challenge {
    pub session: String,
    pub flows: Vec<Flow>,
    pub params: Map<String, Value>,
    /// Left out of the very first challenge, as Synapse does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<Vec<String>>,
}

/// One way to authenticate: stages in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flow {
    pub stages: Vec<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error(Box::new(Inner {
            status,
            code: Some(code),
            message: message.into(),
            payload: Payload::None,
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
        Error::new(StatusCode::UNAUTHORIZED, ErrorCode::UnknownToken, message)
            .with_payload(Payload::UnknownToken { soft_logout })
    }

    pub fn limit_exceeded(retry_after_ms: u64) -> Self {
        Error::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::LimitExceeded, "Too many requests")
            .with_payload(Payload::RateLimited { retry_after_ms })
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

    /// A User-Interactive Authentication challenge (401). Without an
    /// errcode it means "authenticate to continue"; see
    /// [`Error::with_code`] for a stage that failed.
    pub fn uia(challenge: Challenge) -> Self {
        Error(Box::new(Inner {
            status: StatusCode::UNAUTHORIZED,
            code: None,
            message: Cow::Borrowed(""),
            payload: Payload::Challenge(challenge),
            headers: Vec::new(),
        }))
    }

    /// Marks a UIA challenge as the answer to a failed stage.
    pub fn with_code(mut self, code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        self.0.code = Some(code);
        self.0.message = message.into();
        self
    }

    fn with_payload(mut self, payload: Payload) -> Self {
        self.0.payload = payload;
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

    pub fn payload(&self) -> &Payload {
        &self.0.payload
    }

    /// The UIA challenge this error is, if it is one.
    pub fn challenge(&self) -> Option<&Challenge> {
        match &self.0.payload {
            Payload::Challenge(challenge) => Some(challenge),
            _ => None,
        }
    }

    /// How long a rate-limited client should wait, in milliseconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self.0.payload {
            Payload::RateLimited { retry_after_ms } => Some(retry_after_ms),
            _ => None,
        }
    }

    /// The `Retry-After` header (whole seconds, rounded up) a rate-limited
    /// answer carries beside `retry_after_ms`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_ms().map(|ms| ms.div_ceil(1000).max(1))
    }

    /// Whether an unknown token's client may keep its state.
    pub fn soft_logout(&self) -> Option<bool> {
        match self.0.payload {
            Payload::UnknownToken { soft_logout } => Some(soft_logout),
            _ => None,
        }
    }

    /// The JSON body: the payload's fields, then `errcode` and `error`.
    pub fn body(&self) -> Value {
        let mut body = match &self.0.payload {
            Payload::None => Map::new(),
            Payload::RateLimited { retry_after_ms } => {
                [("retry_after_ms".to_owned(), Value::from(*retry_after_ms))].into_iter().collect()
            }
            Payload::UnknownToken { soft_logout } => {
                [("soft_logout".to_owned(), Value::from(*soft_logout))].into_iter().collect()
            }
            Payload::Challenge(challenge) => match serde_json::to_value(challenge) {
                Ok(Value::Object(fields)) => fields,
                _ => Map::new(),
            },
        };
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
        let challenge = Error::uia(Challenge {
            session: "abc".into(),
            flows: vec![Flow { stages: vec!["m.login.dummy".into()] }],
            params: Map::new(),
            completed: None,
        });
        let state = json!({"session": "abc", "flows": [{"stages": ["m.login.dummy"]}], "params": {}});
        assert_eq!(challenge.body(), state);
        let failed = challenge.with_code(ErrorCode::Forbidden, "Invalid password");
        let mut expected = state;
        expected["errcode"] = json!("M_FORBIDDEN");
        expected["error"] = json!("Invalid password");
        assert_eq!(failed.body(), expected);
        assert_eq!(failed.challenge().map(|c| c.session.as_str()), Some("abc"));
    }

    #[test]
    fn an_unknown_token_says_whether_the_logout_is_soft() {
        let error = Error::unknown_token("expired", true);
        assert_eq!(error.soft_logout(), Some(true));
        assert_eq!(error.body()["soft_logout"], json!(true));
        assert_eq!(error.retry_after_ms(), None);
    }
}
