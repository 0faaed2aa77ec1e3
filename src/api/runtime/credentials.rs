//! The access token a request carries.
//!
//! Clients send it as `Authorization: Bearer <token>`; old clients still use
//! the deprecated `access_token` query parameter. The header wins when both
//! are present.

use std::fmt;

use http::header::AUTHORIZATION;

use super::Request;
use crate::error::Error;

/// An access token as the client sent it (not yet checked).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// The token of an operation that needs one: 401 `M_MISSING_TOKEN` without.
    pub fn required(request: &Request) -> Result<Self, Error> {
        Self::optional(request).ok_or_else(Error::missing_token)
    }

    /// The token of an operation that may be called without one.
    pub fn optional(request: &Request) -> Option<Self> {
        from_header(request).or_else(|| from_query(request)).map(AccessToken)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Tokens are secrets: never in logs.
impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(…)")
    }
}

fn from_header(request: &Request) -> Option<String> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

fn from_query(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "access_token")
        .map(|(_, token)| token.into_owned())
        .filter(|token| !token.is_empty())
}
