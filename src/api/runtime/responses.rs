//! Every answer: the documented success, or a Matrix error, both with CORS
//! headers.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

use super::cors;
use crate::error::Error;

/// What the server sends back.
pub type Response = http::Response<Full<Bytes>>;

/// An answer rendered once, served as the same bytes every time (an
/// operation marked `x-prerendered` in `api/` answers one).
#[derive(Debug, Clone)]
pub struct Prerendered {
    bytes: Bytes,
    media_type: HeaderValue,
}

impl Prerendered {
    pub const fn json(json: &'static str) -> Self {
        Prerendered { bytes: Bytes::from_static(json.as_bytes()), media_type: JSON }
    }

    pub const fn html(html: &'static str) -> Self {
        Prerendered { bytes: Bytes::from_static(html.as_bytes()), media_type: HTML }
    }

    /// An HTML page rendered for this request (a page that says what
    /// happened, like the e-mail validation page).
    pub fn html_page(html: String) -> Self {
        Prerendered { bytes: Bytes::from(html), media_type: HTML }
    }
}

/// Renders an operation's outcome: its body with the documented `STATUS`
/// (no body for 204), or the error.
pub fn respond<T: IntoBody, const STATUS: u16>(outcome: Result<T, Error>) -> Response {
    let status = StatusCode::from_u16(STATUS).unwrap_or(StatusCode::OK);
    match outcome {
        Ok(_) if status == StatusCode::NO_CONTENT => answer(http::Response::builder(), status, None),
        Ok(body) => match body.into_body() {
            Ok(body) => answer(http::Response::builder(), status, Some(body)),
            Err(error) => error_response(Error::internal(error)),
        },
        Err(error) => error_response(error),
    }
}

/// An operation that documents several success statuses answers one of
/// them: its generated `{Op}Success` enum says which, with that status's
/// body.
pub trait WithStatus {
    fn into_answer(self) -> Answer;
}

/// A success status and its rendered body (none for 204).
pub struct Answer {
    status: StatusCode,
    body: Result<Option<(Bytes, HeaderValue)>, serde_json::Error>,
}

impl Answer {
    pub fn new<T: IntoBody>(status: u16, body: T) -> Answer {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let body = if status == StatusCode::NO_CONTENT { Ok(None) } else { body.into_body().map(Some) };
        Answer { status, body }
    }
}

/// Renders the outcome of an operation whose handler chooses the status
/// ([`WithStatus`]), or the error.
pub fn respond_with_status<T: WithStatus>(outcome: Result<T, Error>) -> Response {
    match outcome.map(WithStatus::into_answer) {
        Ok(Answer { status, body: Ok(body) }) => answer(http::Response::builder(), status, body),
        Ok(Answer { body: Err(error), .. }) => error_response(Error::internal(error)),
        Err(error) => error_response(error),
    }
}

/// A success body and its media type: a value serialized as JSON, or
/// bytes rendered before.
pub trait IntoBody {
    fn into_body(self) -> Result<(Bytes, HeaderValue), serde_json::Error>;
}

impl<T: Serialize> IntoBody for T {
    fn into_body(self) -> Result<(Bytes, HeaderValue), serde_json::Error> {
        serde_json::to_vec(&self).map(|json| (Bytes::from(json), JSON))
    }
}

/// Bytes rendered before are sent as they are.
impl IntoBody for Prerendered {
    fn into_body(self) -> Result<(Bytes, HeaderValue), serde_json::Error> {
        Ok((self.bytes, self.media_type))
    }
}

/// The answer for an error: its status, its JSON body, `Retry-After` when
/// it asks the client to wait, and any header it implies (`Allow`).
pub fn error_response(error: Error) -> Response {
    let mut builder = http::Response::builder();
    if let Some(seconds) = error.retry_after_secs() {
        builder = builder.header(header::RETRY_AFTER, seconds);
    }
    for (name, value) in error.headers() {
        builder = builder.header(name, value);
    }
    // An error body is a few strings: serializing it cannot fail, but if
    // it did the client would still get the status.
    let body = serde_json::to_vec(&error).ok().map(|json| (Bytes::from(json), JSON));
    answer(builder, error.status(), body)
}

/// The answer to a CORS preflight (`OPTIONS` on any path).
pub fn preflight() -> Response {
    answer(http::Response::builder(), StatusCode::NO_CONTENT, None)
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");

/// Every answer is built here: the status, the CORS headers, and the body
/// with its media type if there is one. Should the builder refuse a header
/// (none of ours is invalid), the client still gets the status.
fn answer(builder: http::response::Builder, status: StatusCode, body: Option<(Bytes, HeaderValue)>) -> Response {
    let builder = cors::allow_any_origin(builder).status(status);
    let built = match body {
        Some((bytes, media_type)) => builder.header(header::CONTENT_TYPE, media_type).body(Full::new(bytes)),
        None => builder.body(Full::default()),
    };
    built.unwrap_or_else(|_| {
        let mut response = Response::default();
        *response.status_mut() = status;
        response
    })
}
